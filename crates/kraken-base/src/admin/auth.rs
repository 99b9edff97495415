//! The admin API's one gate: a layer in front of every route (and of the reply to an unknown
//! one) that answers 401 unless the request carries `Authorization: Bearer TOKEN`. It looks at
//! that header only: an anonymous request's path parameters, query and body are never parsed,
//! so whatever they hold, it gets the same 401.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::token::AdminToken;

/// Passes the request on if it carries the token; else 401.
pub async fn require_token(State(token): State<Arc<AdminToken>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    if given.is_some_and(|given| token.matches(given)) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(json!({ "error": "missing or wrong admin token" })),
    )
        .into_response()
}
