//! The console's pages: HTML shells the base serves, each naming its page and carrying the
//! session's CSRF token; `console.js` fills them from the API. Every response says to run
//! nothing but the base's own scripts (Content-Security-Policy), to be framed by no one, and
//! not to be cached.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What the console's responses are allowed to do.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Fleet,
    Host,
    Commands,
    Events,
}

impl Page {
    fn name(self) -> &'static str {
        match self {
            Page::Fleet => "fleet",
            Page::Host => "host",
            Page::Commands => "commands",
            Page::Events => "events",
        }
    }
}

/// Text safe in HTML content and in a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment for a URL (RFC 3986 unreserved characters kept, the rest %-encoded).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `page` (for `sentry`, where it is about one), for the session whose CSRF token is `csrf`.
pub fn render(page: Page, sentry: Option<&str>, csrf: &str) -> Response {
    let sentry_attr = sentry.map(|g| format!(" data-sentry=\"{}\"", escape(g))).unwrap_or_default();
    let sentry_nav = sentry
        .map(|g| {
            let (path, name) = (segment(g), escape(g));
            format!(
                "<a href=\"/console/sentry/{path}\">{name}</a><a href=\"/console/sentry/{path}/commands\">commands</a>\
                 <a href=\"/console/sentry/{path}/events\">events</a>"
            )
        })
        .unwrap_or_default();
    let (title, body, charts) = match (page, sentry) {
        (Page::Host, Some(g)) => (escape(g), host_body(&escape(g)), true),
        (Page::Commands, Some(g)) => (format!("{} · commands", escape(g)), commands_body(&escape(g)), false),
        (Page::Events, Some(g)) => (format!("{} · events", escape(g)), events_body(&escape(g)), false),
        _ => ("fleet".to_owned(), FLEET_BODY.to_owned(), false),
    };
    let chart_head = if charts {
        "<link rel=\"stylesheet\" href=\"/console/assets/uPlot.min.css\">\
         <script src=\"/console/assets/uPlot.iife.min.js\" defer></script>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf-token\" content=\"{csrf}\"><title>{title} · kraken-base</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">{chart_head}\
         <script src=\"/console/assets/console.js\" defer></script></head>\
         <body data-page=\"{page}\"{sentry_attr}><header><span class=\"brand\">kraken-base</span>\
         <a href=\"/console/\">fleet</a>{sentry_nav}\
         <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">log out</button></form></header><main>{body}</main></body></html>",
        csrf = escape(csrf),
        page = page.name(),
    );
    html_response(StatusCode::OK, html)
}

/// The login page (`failed`: the token given was wrong).
pub fn login(failed: Option<&str>) -> Response {
    let message = failed.map(|why| format!("<p class=\"error\">{}</p>", escape(why))).unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>log in · kraken-base</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head>\
         <body data-page=\"login\"><form class=\"login\" method=\"post\" action=\"/console/login\">\
         <h1>kraken-base</h1>{message}<label for=\"token\">Admin token (<code>data_dir/admin.token</code>)</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required autofocus>\
         <button type=\"submit\">log in</button></form></body></html>"
    );
    let status = if failed.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    html_response(status, html)
}

/// An HTML response with the console's headers.
pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    protect(headers);
    response
}

/// The headers every console response carries.
pub fn protect(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

const FLEET_BODY: &str = "<h1>Fleet</h1><div class=\"toolbar\">\
    <input id=\"search\" type=\"search\" placeholder=\"sentry, address or node\" aria-label=\"search\">\
    <select id=\"state\" aria-label=\"state\"><option value=\"\">all</option>\
    <option value=\"connected\">connected</option><option value=\"disconnected\">disconnected</option></select>\
    <span id=\"storage\"></span></div><section class=\"card\" id=\"fleet\"><p>loading...</p></section>\
    <div id=\"pager\"></div>";

fn host_body(sentry: &str) -> String {
    format!(
        "<h1>{sentry}</h1><div class=\"toolbar\"><label for=\"range\">range</label><select id=\"range\">\
         <option>15 min</option><option selected>1 h</option><option>6 h</option><option>24 h</option></select>\
         <button type=\"button\" id=\"refresh-charts\">refresh</button></div>\
         <div class=\"grid\"><section class=\"card chart\" id=\"chart-cpu\"></section>\
         <section class=\"card chart\" id=\"chart-memory\"></section>\
         <section class=\"card chart\" id=\"chart-network\"></section></div>\
         <h2>Loggers</h2><section class=\"card\" id=\"loggers\"><p>loading...</p></section>\
         <h2>Latest records</h2><section class=\"card\" id=\"tail\"><p>loading...</p></section>\
         <h2>System</h2><section class=\"card\" id=\"system\"><p>loading...</p></section>\
         <div class=\"grid\"><section class=\"card\"><h2>Disks</h2><div id=\"disks\"></div></section>\
         <section class=\"card\"><h2>Interfaces</h2><div id=\"interfaces\"></div></section></div>"
    )
}

fn commands_body(sentry: &str) -> String {
    let buttons: String =
        ["getProcesses", "getNetStat", "getRoutingTable", "getArpCache", "getRoutingTable6", "getArpCache6"]
            .iter()
            .map(|method| format!("<button type=\"button\" data-method=\"{method}\">{method}</button>"))
            .collect();
    format!(
        "<h1>{sentry}: commands</h1><div class=\"toolbar\">{buttons}</div>\
         <section class=\"card\" id=\"command-result\"><p class=\"note\">Run a command: its result shows here \
         as a table (click a column to sort).</p></section>"
    )
}

fn events_body(sentry: &str) -> String {
    format!(
        "<h1>{sentry}: events</h1><h2>Connections and logger changes</h2>\
         <section class=\"card\" id=\"events\"><p>loading...</p></section>\
         <h2>Spool drops the sentry reported</h2><section class=\"card\" id=\"drops\"></section>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentry_name_is_escaped_in_text_and_links() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(segment("a b/c?"), "a%20b%2Fc%3F");
    }
}
