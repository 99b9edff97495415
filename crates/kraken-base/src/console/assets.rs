//! The console's static files, built into the binary: its script and style, and uPlot
//! (vendored, `assets/vendor/uplot/`, MIT) for the charts. Nothing is fetched from elsewhere.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::pages::protect;

/// (name, content type, bytes) of every file.
const FILES: &[(&str, &str, &[u8])] = &[
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("assets/console.js")),
    ("console.css", "text/css; charset=utf-8", include_bytes!("assets/console.css")),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    ("uPlot.min.css", "text/css; charset=utf-8", include_bytes!("assets/vendor/uplot/uPlot.min.css")),
];

/// The file the login page needs, served without a session.
pub const PUBLIC: &str = "/console/assets/console.css";

/// `GET /console/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(file, _, _)| *file == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let headers = response.headers_mut();
    protect(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Built into this binary: a new base may change them, so they are checked again each hour.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    response
}
