//! Which queries a live source takes. A source reads one channel: an XPath filter of it, or a
//! structured query (`<QueryList>`) every path of which is that channel. The structured query
//! is parsed as XML and only the documented shape is taken (`QueryList` of `Query` elements
//! with `Id` and `Path`, each holding at least one `Select` and any `Suppress` elements with
//! `Path` and text only), so that no spelling the event log service would read as another
//! channel gets past.

/// Why `query` is refused for a source of `channel`, if it is.
pub fn query_refusal(channel: &str, query: &str) -> Option<String> {
    let structured = match structured(query) {
        Err(first) => {
            return Some(format!(
                "the query starts with {first:?}: it must start with < (a structured query) or with \
                 its XPath, after spaces at most"
            ));
        }
        Ok(None) => return None,
        Ok(Some(structured)) => structured,
    };
    let document = match roxmltree::Document::parse(structured) {
        Ok(document) => document,
        Err(error) => return Some(format!("the structured query is not well-formed XML: {error}")),
    };
    let paths = match paths(&document) {
        Ok(paths) => paths,
        Err(what) => return Some(format!("{what}; a structured query is {SHAPE}")),
    };
    let other = paths.into_iter().find(|path| !path.eq_ignore_ascii_case(channel))?;
    Some(format!(
        "the query reads channel {other:?}, but a logger reads one channel ({channel:?}): make one \
         logger per channel"
    ))
}

/// The channels a structured query in the documented shape names (each once, in order); none
/// for an XPath filter or a query that is refused.
pub fn query_channels(query: &str) -> Vec<String> {
    let Ok(Some(structured)) = structured(query) else { return Vec::new() };
    let Ok(document) = roxmltree::Document::parse(structured) else { return Vec::new() };
    let mut channels: Vec<String> = Vec::new();
    for path in paths(&document).unwrap_or_default() {
        if !channels.iter().any(|c| c.eq_ignore_ascii_case(path)) {
            channels.push(path.to_owned());
        }
    }
    channels
}

/// A structured query without what comes before its `<` (XML's whitespace, a BOM); `None` for
/// an XPath filter; the first character when it is not a printable ASCII one (how the service
/// would take a query starting with another space-like or control character is not documented).
fn structured(query: &str) -> Result<Option<&str>, char> {
    let rest = query.trim_start_matches(|c: char| is_xml_space(c) || c == '\u{feff}');
    match rest.chars().next() {
        Some('<') => Ok(Some(rest)),
        Some(first) if !first.is_ascii_graphic() => Err(first),
        _ => Ok(None),
    }
}

/// XML's whitespace: space, tab, CR, LF.
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Every path of a structured query (each `Query`'s, each filter's own or else its `Query`'s),
/// or what in it is not the documented shape.
fn paths<'a>(document: &'a roxmltree::Document<'_>) -> Result<Vec<&'a str>, String> {
    let list = document.root_element();
    if !is_plain(list, "QueryList") || list.attributes().len() != 0 {
        return Err(format!("its root is <{}>", list.tag_name().name()));
    }
    no_text(list, "QueryList")?;
    let mut paths = Vec::new();
    for query in list.children().filter(roxmltree::Node::is_element) {
        if !is_plain(query, "Query") {
            return Err(format!("<QueryList> holds <{}>", query.tag_name().name()));
        }
        if let Some(other) = other_attribute(query, &["Id", "Path"]) {
            return Err(format!("<Query> has an attribute {other:?}"));
        }
        no_text(query, "Query")?;
        let query_path = query.attribute("Path");
        paths.extend(query_path);
        let mut selects = 0;
        for filter in query.children().filter(roxmltree::Node::is_element) {
            let name = filter.tag_name().name();
            if !is_plain(filter, "Select") && !is_plain(filter, "Suppress") {
                return Err(format!("<Query> holds <{name}>"));
            }
            if let Some(other) = other_attribute(filter, &["Path"]) {
                return Err(format!("<{name}> has an attribute {other:?}"));
            }
            if filter.children().any(|child| child.is_element()) {
                return Err(format!("<{name}> holds an element"));
            }
            paths
                .push(filter.attribute("Path").or(query_path).ok_or(format!("a <{name}> names no channel"))?);
            selects += usize::from(name == "Select");
        }
        if selects == 0 {
            return Err("a <Query> has no <Select>".to_owned());
        }
    }
    if paths.is_empty() {
        return Err("it has no <Query>".to_owned());
    }
    Ok(paths)
}

/// Refuses text other than whitespace directly in `node`.
fn no_text(node: roxmltree::Node<'_, '_>, name: &str) -> Result<(), String> {
    let mut text = node.children().filter(roxmltree::Node::is_text).filter_map(|t| t.text());
    if text.any(|t| !t.trim_matches(is_xml_space).is_empty()) {
        Err(format!("<{name}> holds text"))
    } else {
        Ok(())
    }
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
        // As Event Viewer exports a filter.
        let exported = "<QueryList>\n  <Query Id=\"0\" Path=\"Security\">\n    <Select Path=\"Security\">\
                        *[System[(EventID=4624)]]</Select>\n  </Query>\n</QueryList>";
        assert_eq!(query_refusal("Security", exported), None);
    }

    #[test]
    fn the_channels_of_a_query_are_each_named_once() {
        let two = "<QueryList><Query Id='0' Path='Security'><Select Path='Security'>*</Select>\
                   <Select Path='System'>*</Select><Suppress Path='security'>*</Suppress></Query></QueryList>";
        assert_eq!(query_channels(two), ["Security", "System"]);
        assert!(query_channels("*[System[(EventID=4624)]]").is_empty());
        assert!(query_channels("<QueryList/>").is_empty());
    }

    #[test]
    fn a_structured_query_of_another_channel_is_refused_however_it_is_spelled() {
        let refused = [
            "<QueryList><Query Id='0' Path='Security'><Select Path='System'>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0' Path='Security'><Select\nPath='System'>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0' Path='Security'><Select\tPath='System'>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0'\r\nPath='System'><Select>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0' Path='Security'><Select Path = \"System\">*</Select></Query></QueryList>",
            "<QueryList><Query Path='Security'><Select>*</Select></Query><Query Path='System'><Select>*</Select></Query></QueryList>",
            "<QueryList><Query Id='0' Path='System'><Select Path='Security'>*</Select></Query></QueryList>",
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
            ("<QueryList/>", "it has no <Query>"),
            ("<QueryList><Query Id='0' Path='Security'/></QueryList>", "has no <Select>"),
            (
                "<QueryList><Query Id='0' Path='Security'><Suppress>*</Suppress></Query></QueryList>",
                "has no <Select>",
            ),
            (
                "<QueryList><Query Id='0' Path='Security'><Select><Select Path='System'/>*</Select></Query></QueryList>",
                "<Select> holds an element",
            ),
            (
                "<QueryList><Query Id='0' Path='Security'>System<Select>*</Select></Query></QueryList>",
                "holds text",
            ),
            ("\u{200b}<QueryList/>", "starts with '\\u{200b}'"),
            (
                "\u{b}<QueryList><Query Path='System'><Select>*</Select></Query></QueryList>",
                "starts with '\\u{b}'",
            ),
            ("\u{3000}*[System[(EventID=4624)]]", "starts with '\\u{3000}'"),
            ("<QueryList>\u{a0}<Query Path='Security'><Select>*</Select></Query></QueryList>", "holds text"),
        ];
        for (query, expected) in refused {
            let why = query_refusal("Security", query).unwrap_or_else(|| panic!("taken: {query}"));
            assert!(why.contains(expected), "{query}: {why}");
        }
    }
}
