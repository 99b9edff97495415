//! The admin listener's one gate: a layer in front of every route (and of the reply to an
//! unknown one). It looks at headers only: an anonymous request's path parameters, query and
//! body are never parsed, so whatever they hold, it gets the same answer.
//!
//! * `Authorization: Bearer TOKEN` with the admin token: through (the CLI, scripts, other
//!   nodes).
//! * `GET /metrics` with the metrics token (`data_dir/metrics.token`): through. It reads the
//!   metrics and nothing else, so a scraper never holds the token that runs commands on every
//!   sentry.
//! * The console's session cookie ([`crate::console::sessions`]) of a live session: through
//!   for `GET` and `HEAD`; any other method must also carry the session's CSRF token in
//!   `X-CSRF-Token` (403 otherwise). The logout form carries it in its body and is checked
//!   there.
//! * Neither: the login page and its style sheet are served; a console page (`GET
//!   /console/...`) is redirected to the login page; anything else gets 401.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::token::AdminToken;
use crate::console::SessionCsrf;
use crate::console::assets::PUBLIC;
use crate::console::sessions::{self, CSRF_HEADER, Sessions};

/// What the gate checks requests against.
pub struct Gate {
    pub token: Arc<AdminToken>,
    /// Good for `GET /metrics` only.
    pub metrics_token: Arc<AdminToken>,
    pub sessions: Arc<Sessions>,
}

/// Passes the request on if it carries the token or a live session (see the module
/// documentation); else 401, 403 or a redirect to the login page.
pub async fn require_token(State(gate): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    if given.is_some_and(|given| gate.token.matches(given)) {
        return next.run(request).await;
    }
    let path = request.uri().path();
    let method = request.method().clone();
    if method == Method::GET
        && path == "/metrics"
        && given.is_some_and(|given| gate.metrics_token.matches(given))
    {
        return next.run(request).await;
    }
    let public =
        matches!((&method, path), (&Method::GET | &Method::POST, "/console/login") | (&Method::GET, PUBLIC));
    if public {
        return next.run(request).await;
    }
    let session = request
        .headers()
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(sessions::session_id)
        .and_then(|id| gate.sessions.csrf_of(id));
    if let Some(csrf) = session {
        let reads = method == Method::GET || method == Method::HEAD;
        let logout = method == Method::POST && path == "/console/logout";
        let carried = request.headers().get(CSRF_HEADER).map(|value| value.as_bytes());
        if reads || logout || carried.is_some_and(|carried| sessions::same(carried, csrf.as_bytes())) {
            request.extensions_mut().insert(SessionCsrf(csrf));
            return next.run(request).await;
        }
        return (StatusCode::FORBIDDEN, axum::Json(json!({ "error": "missing or wrong CSRF token" })))
            .into_response();
    }
    if method == Method::GET && (path == "/console" || path.starts_with("/console/")) {
        return Redirect::to("/console/login").into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(json!({ "error": "missing or wrong admin token" })),
    )
        .into_response()
}
