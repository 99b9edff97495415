//! What any storage keeps of a sentry event: its subject up to [`MAX_EVENT_SUBJECT`] bytes,
//! its details up to [`MAX_EVENT_DETAIL`] (beyond, a note of their size and their beginning).

/// The longest detail text kept with an event (a sentry's whole inventory, 256 loggers with
/// their factories, is well under it); a longer one is replaced by a note of its size and its
/// first [`TRUNCATED_HEAD`] bytes.
pub const MAX_EVENT_DETAIL: usize = 256 * 1024;
/// How much of an over-long event detail is kept.
const TRUNCATED_HEAD: usize = 1024;
/// The longest subject (logger or factory name) kept with an event.
pub const MAX_EVENT_SUBJECT: usize = 1024;

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An event's detail as stored: its JSON text, or, over [`MAX_EVENT_DETAIL`] bytes, a note of
/// its size with the text's beginning.
pub fn capped_detail(detail: &serde_json::Value) -> String {
    let text = detail.to_string();
    if text.len() <= MAX_EVENT_DETAIL {
        return text;
    }
    over_long_note(&text).to_string()
}

/// An event's detail as it will be stored ([`capped_detail`] of it is its own text), and the
/// length of its JSON text as received: for trimming a detail before it waits to be stored.
pub fn bounded_detail(detail: serde_json::Value) -> (serde_json::Value, usize) {
    let text = detail.to_string();
    if text.len() <= MAX_EVENT_DETAIL {
        return (detail, text.len());
    }
    (over_long_note(&text), text.len())
}

/// What stands for a detail text over [`MAX_EVENT_DETAIL`] bytes.
fn over_long_note(text: &str) -> serde_json::Value {
    serde_json::json!({ "truncated": true, "bytes": text.len(), "head": truncated(text, TRUNCATED_HEAD) })
}
