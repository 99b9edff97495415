//! Printing command replies for people: plain JSON (one document, keys in reply order) or an
//! aligned text table like `netstat -ano` prints.
//!
//! The JSON is plain, not the codec's typed JSON: integers are numbers, dates are ISO-8601 UTC
//! strings, IP addresses are strings, blobs are hex. Tables come from a list of maps (columns
//! from the keys of the first row), a map of lists (the map key becomes the first column, e.g.
//! `proto` for netstat), a map of maps (e.g. `root` for disk partitions) or a map of scalars
//! (two columns, `key` and `value`).

use kraken_codec::{Map, Value};

pub use kraken_codec::plain_json::to_json;

/// A reply as an aligned table. `group_column` names the first column when the reply is a map
/// of lists or a map of maps.
pub fn to_table(value: &Value, group_column: &str) -> String {
    let (headers, rows) = match value {
        Value::Array(items) => rows_of(items.iter().map(|item| (None, item))),
        Value::Map(map) if map.values().all(|v| matches!(v, Value::Array(_))) => {
            rows_of(map.iter().flat_map(|(group, list)| {
                list.as_array().unwrap_or_default().iter().map(move |item| (Some(group.as_str()), item))
            }))
            .with_group(group_column)
        }
        Value::Map(map) if map.values().all(|v| matches!(v, Value::Map(_))) => {
            rows_of(map.iter().map(|(group, item)| (Some(group.as_str()), item))).with_group(group_column)
        }
        Value::Map(map) => key_value_rows(map),
        scalar => (vec!["value".to_owned()], vec![vec![cell(scalar)]]),
    };
    align(&headers, &rows)
}

type Rows = (Vec<String>, Vec<Vec<String>>);

trait WithGroup {
    fn with_group(self, name: &str) -> Rows;
}

impl WithGroup for Rows {
    /// Names the group column (the first one, left empty by [`rows_of`]).
    fn with_group(mut self, name: &str) -> Rows {
        if let Some(first) = self.0.first_mut() {
            *first = name.to_owned();
        }
        self
    }
}

/// Rows from maps; when a group is given it becomes the first column.
fn rows_of<'a>(items: impl Iterator<Item = (Option<&'a str>, &'a Value)>) -> Rows {
    let mut headers: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut grouped = false;
    for (group, item) in items {
        grouped |= group.is_some();
        let Some(map) = item.as_map() else {
            rows.push(group.map(str::to_owned).into_iter().chain([cell(item)]).collect());
            continue;
        };
        for key in map.keys() {
            if !headers.iter().any(|h| h == key.as_str()) {
                headers.push(key.to_string());
            }
        }
        let mut row: Vec<String> = group.map(str::to_owned).into_iter().collect();
        row.extend(headers.iter().map(|h| map.get(h).map(cell).unwrap_or_default()));
        rows.push(row);
    }
    if grouped {
        headers.insert(0, String::new());
    }
    (headers, rows)
}

fn key_value_rows(map: &Map) -> Rows {
    let rows = map.iter().map(|(k, v)| vec![k.to_string(), cell(v)]).collect();
    (vec!["key".to_owned(), "value".to_owned()], rows)
}

/// One cell's text.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::Str(s) => s.to_string(),
        Value::Array(_) | Value::Map(_) => to_json(value).to_string(),
        other => match to_json(other) {
            serde_json::Value::String(s) => s,
            json => json.to_string(),
        },
    }
}

/// Left-aligned columns separated by two spaces, headers upper-cased; no trailing spaces.
fn align(headers: &[String], rows: &[Vec<String>]) -> String {
    let columns = headers.len().max(rows.iter().map(Vec::len).max().unwrap_or(0));
    let mut widths = vec![0; columns];
    let upper: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    for row in std::iter::once(&upper).chain(rows) {
        for (i, text) in row.iter().enumerate() {
            widths[i] = widths[i].max(text.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&upper).chain(rows) {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let text = row.get(i).map_or("", String::as_str);
            line.push_str(text);
            if i + 1 < columns {
                line.extend(std::iter::repeat_n(' ', width - text.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraken_codec::map;

    #[test]
    fn json_is_plain_and_keeps_key_order() {
        let value = map! { "pid" => 4i32, "name" => "System", "at" => Value::Date(0), "ip" => Value::Ipv4([10, 0, 0, 1].into()) };
        assert_eq!(
            to_json(&value).to_string(),
            r#"{"pid":4,"name":"System","at":"1970-01-01T00:00:00Z","ip":"10.0.0.1"}"#
        );
    }

    #[test]
    fn lists_of_maps_become_aligned_tables() {
        let value = Value::Array(vec![
            map! { "pid" => 1i32, "name" => "init" },
            map! { "pid" => 1234i32, "name" => "x" },
        ]);
        assert_eq!(to_table(&value, ""), "PID   NAME\n1     init\n1234  x\n");
    }

    #[test]
    fn maps_of_lists_get_a_group_column() {
        let value = map! {
            "tcp" => Value::Array(vec![map! { "local_port" => 80i32 }]),
            "udp" => Value::Array(vec![map! { "local_port" => 53i32 }]),
        };
        assert_eq!(to_table(&value, "proto"), "PROTO  LOCAL_PORT\ntcp    80\nudp    53\n");
    }

    #[test]
    fn maps_of_scalars_become_key_value_rows() {
        let value = map! { "os.name" => "Linux", "host.name" => "h" };
        assert_eq!(to_table(&value, ""), "KEY        VALUE\nos.name    Linux\nhost.name  h\n");
    }
}
