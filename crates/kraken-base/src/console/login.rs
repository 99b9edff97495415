//! Logging in and out of the console: the admin token, given once in a form, opens a session
//! (a cookie); logging out closes it. A client that keeps giving wrong tokens is refused for a
//! while ([`super::throttle`]); the others are not.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, Extension, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages;
use super::sessions::{self, Sessions};
use super::throttle::LoginThrottle;
use crate::admin::token::AdminToken;

/// What logging in needs.
pub struct Login {
    pub token: std::sync::Arc<AdminToken>,
    pub sessions: std::sync::Arc<Sessions>,
    /// Whether the admin listener speaks TLS (the cookie is then `Secure`).
    pub tls: bool,
    throttle: LoginThrottle,
}

impl Login {
    pub fn new(token: std::sync::Arc<AdminToken>, sessions: std::sync::Arc<Sessions>, tls: bool) -> Login {
        Login { token, sessions, tls, throttle: LoginThrottle::default() }
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `GET /console/login`.
pub async fn login_page() -> Response {
    pages::login(None)
}

/// `POST /console/login`: a session for the right token, then the fleet page.
pub async fn log_in(
    State(login): State<std::sync::Arc<Login>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    // The admin listener names every connection's peer; a router served otherwise (no peer
    // known) counts all its clients as one.
    let client = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(ConnectInfo(peer))| peer.ip());
    if login.throttle.refuses(client, Instant::now()) {
        let mut response = pages::login(Some("Too many wrong tokens: wait a minute and try again."));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return response;
    }
    if !login.token.matches(form.token.trim().as_bytes()) {
        login.throttle.failed(client, Instant::now());
        tracing::warn!(%client, "console: a login with a wrong token");
        return pages::login(Some("That is not the admin token."));
    }
    let session = login.sessions.open();
    let mut response = Redirect::to("/console/").into_response();
    set_cookie(response.headers_mut(), &sessions::cookie_for(&session.id, login.tls));
    response
}

/// `POST /console/logout` (the form carries the CSRF token): the session ends.
pub async fn log_out(
    State(login): State<std::sync::Arc<Login>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let id = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(sessions::session_id);
    let Some(id) = id else { return Redirect::to("/console/login").into_response() };
    match login.sessions.csrf_of(id) {
        Some(csrf) if sessions::same(csrf.as_bytes(), form.csrf.as_bytes()) => {
            login.sessions.close(id);
            let mut response = Redirect::to("/console/login").into_response();
            set_cookie(response.headers_mut(), &sessions::cleared_cookie(login.tls));
            response
        }
        _ => (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response(),
    }
}

fn set_cookie(headers: &mut HeaderMap, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    pages::protect(headers);
}
