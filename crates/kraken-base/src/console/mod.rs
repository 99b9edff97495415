//! The web console, served by the base on its admin listener under `/console/`: a fleet page
//! (every sentry, its state and node, searched and paged), a host page (charts of cpu, memory
//! and network from the stored records, loggers with start/stop/interval and
//! connect/disconnect, the latest records, system facts), a command page (processes, sockets,
//! routes, ARP, as sortable tables with the raw JSON a click away) and an events page.
//!
//! The pages are shells; `assets/console.js` fills them with `fetch` from the base's own admin
//! API, through the same gate as every other client ([`crate::admin::auth`]): a session
//! cookie instead of the bearer token, and the session's CSRF token on every state-changing
//! request.
//!
//! Modules: `sessions` (sessions and their CSRF tokens), `login` (logging in and out),
//! `throttle` (wrong tokens counted per client),
//! `pages` (the HTML shells and the headers every response carries), `assets` (the script,
//! the style and the vendored uPlot, built into the binary).

pub mod assets;
pub mod login;
pub mod pages;
pub mod sessions;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Path};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

pub use login::Login;
pub use sessions::Sessions;

use pages::Page;

/// The CSRF token of the request's session, put there by the gate.
#[derive(Debug, Clone)]
pub struct SessionCsrf(pub String);

/// The console's routes, with `login` for logging in and out.
pub fn routes<S: Clone + Send + Sync + 'static>(login: Arc<Login>) -> Router<S> {
    let logins = Router::new()
        .route("/console/login", get(login::login_page).post(login::log_in))
        .route("/console/logout", axum::routing::post(login::log_out))
        .with_state(login);
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route(
            "/console/",
            get(|csrf: Option<Extension<SessionCsrf>>| async move { page(Page::Fleet, None, csrf) }),
        )
        .route(
            "/console/sentry/{guid}",
            get(|Path(guid): Path<String>, csrf: Option<Extension<SessionCsrf>>| async move {
                page(Page::Host, Some(guid), csrf)
            }),
        )
        .route(
            "/console/sentry/{guid}/commands",
            get(|Path(guid): Path<String>, csrf: Option<Extension<SessionCsrf>>| async move {
                page(Page::Commands, Some(guid), csrf)
            }),
        )
        .route(
            "/console/sentry/{guid}/events",
            get(|Path(guid): Path<String>, csrf: Option<Extension<SessionCsrf>>| async move {
                page(Page::Events, Some(guid), csrf)
            }),
        )
        .route("/console/assets/{name}", get(assets::asset))
        .merge(logins)
}

/// A page for a session (a bearer-token client has no CSRF token to give: none is needed).
fn page(page: Page, sentry: Option<String>, csrf: Option<Extension<SessionCsrf>>) -> Response {
    let csrf = csrf.map(|Extension(SessionCsrf(token))| token).unwrap_or_default();
    pages::render(page, sentry.as_deref(), &csrf).into_response()
}
