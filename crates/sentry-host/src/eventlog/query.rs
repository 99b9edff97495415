//! Which queries a live source takes. A source reads one channel: an XPath filter of it, or a
//! structured query (`<QueryList>`) every `Select` and `Suppress` of which reads that channel.
//! The structured query is parsed as XML and only the documented shape is taken (`QueryList`
//! of `Query` elements with `Id` and `Path`, of `Select` and `Suppress` elements with `Path`),
//! so that no spelling the event log service would read as another channel gets past.

/// Why `query` is refused for a source of `channel`, if it is.
pub fn query_refusal(channel: &str, query: &str) -> Option<String> {
    let structured = query.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if !structured.starts_with('<') {
        return None;
    }
    let document = match roxmltree::Document::parse(structured) {
        Ok(document) => document,
        Err(error) => return Some(format!("the structured query is not well-formed XML: {error}")),
    };
    let shape = |what: String| Some(format!("{what}; a structured query is {SHAPE}"));
    let list = document.root_element();
    if !is_plain(list, "QueryList") || list.attributes().len() != 0 {
        return shape(format!("its root is <{}>", list.tag_name().name()));
    }
    for query in list.children().filter(roxmltree::Node::is_element) {
        if !is_plain(query, "Query") {
            return shape(format!("<QueryList> holds <{}>", query.tag_name().name()));
        }
        if let Some(other) = other_attribute(query, &["Id", "Path"]) {
            return shape(format!("<Query> has an attribute {other:?}"));
        }
        let query_path = query.attribute("Path");
        for filter in query.children().filter(roxmltree::Node::is_element) {
            if !is_plain(filter, "Select") && !is_plain(filter, "Suppress") {
                return shape(format!("<Query> holds <{}>", filter.tag_name().name()));
            }
            if let Some(other) = other_attribute(filter, &["Path"]) {
                return shape(format!("<{}> has an attribute {other:?}", filter.tag_name().name()));
            }
            let Some(path) = filter.attribute("Path").or(query_path) else {
                return shape(format!("a <{}> names no channel", filter.tag_name().name()));
            };
            if !path.eq_ignore_ascii_case(channel) {
                return Some(format!(
                    "the query reads channel {path:?}, but a logger reads one channel ({channel:?}): \
                     make one logger per channel"
                ));
            }
        }
    }
    None
}

/// The shape taken, for messages.
const SHAPE: &str = "<QueryList><Query Id=.. Path=..><Select Path=..>..</Select><Suppress Path=..>..\
                     </Suppress></Query></QueryList>";

/// Whether `node` is the element `name`, in no namespace.
fn is_plain(node: roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.tag_name().name() == name && node.tag_name().namespace().is_none()
}

/// An attribute of `node` other than `allowed` (namespaced ones included).
fn other_attribute(node: roxmltree::Node<'_, '_>, allowed: &[&str]) -> Option<String> {
    node.attributes()
        .find(|a| a.namespace().is_some() || !allowed.contains(&a.name()))
        .map(|a| a.name().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_filters_and_structured_queries_of_the_channel_are_taken() {
        assert_eq!(query_refusal("Security", "*"), None);
        assert_eq!(query_refusal("Security", "*[System[(EventID=4624)]]"), None);
        let own = "<QueryList><Query Id='0' Path='Security'><Select Path='security'>*</Select>\
                   <Suppress Path='Security'>*[System[(EventID=4662)]]</Suppress></Query></QueryList>";
        assert_eq!(query_refusal("Security", own), None);
        // A Select without a path reads its Query's; spacing, entities and a BOM are XML's.
        let inherited = "\u{feff}\n<QueryList>\n <Query Id=\"0\"\r\n  Path=\"Kraken &amp; Co&apos;s\">\n\
                         \t<Select>*</Select>\n </Query>\n</QueryList>";
        assert_eq!(query_refusal("Kraken & Co's", inherited), None);
    }

    #[test]
    fn a_structured_query_of_another_channel_is_refused_however_it_is_spelled() {
        let refused = [
            "<QueryList><Query Id='0' Path='Security'><Select Path='System'>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0' Path='Security'><Select\nPath='System'>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0' Path='Security'><Select\tPath='System'>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0'\r\nPath='System'><Select>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0' Path='Security'><Select Path = \"System\">*</Select></Query></QueryList>",
            "<QueryList><Query Path='Security'/><Query Path='System'><Select>*</Select></Query></QueryList>",
        ];
        for query in refused {
            let why = query_refusal("Security", query).unwrap_or_else(|| panic!("taken: {query}"));
            assert!(
                why.contains("reads channel \"System\"") && why.contains("one logger per channel"),
                "{why}"
            );
        }
    }

    #[test]
    fn anything_but_the_documented_shape_is_refused() {
        let refused = [
            (
                "<QueryList><Query Id='0' Path='Security'><Select X=\" Path='Security'\" Path='System'>*</Select>\
              </Query></QueryList>",
                "has an attribute \"X\"",
            ),
            (
                "<QueryList><Query Id='0' Path='Security'><select Path='System'>*</select></Query></QueryList>",
                "holds <select>",
            ),
            ("<QueryList><q:Query xmlns:q='urn:x' Path='Security'/></QueryList>", "holds <Query>"),
            ("<QueryList><Query Id='0'><Select>*</Select></Query></QueryList>", "names no channel"),
            ("<Query Path='Security'><Select>*</Select></Query>", "its root is <Query>"),
            (
                "<QueryList><Query Path='Security'><Select Path='Security'>*</Select></Query>",
                "not well-formed",
            ),
            ("<!DOCTYPE x [<!ENTITY e 'System'>]><QueryList/>", "not well-formed"),
        ];
        for (query, expected) in refused {
            let why = query_refusal("Security", query).unwrap_or_else(|| panic!("taken: {query}"));
            assert!(why.contains(expected), "{query}: {why}");
        }
    }
}
