//! The base's administration API: HTTP with JSON bodies, on 127.0.0.1 by default, every
//! request carrying `Authorization: Bearer <token>` ([`super::token`]), checked by one layer in
//! front of every route ([`super::auth`]) before anything else is read.
//!
//! * `GET  /api/sentries?q=TEXT&state=connected&offset=N&limit=N`: every sentry seen,
//!   connected or not (filtered and paged when asked), with `total`, the count that matched.
//! * `POST /api/sentries/{guid}/call` `{"method": "getNetStat", "params": [...]}`: runs a
//!   sentry method and returns `{"result": ...}` (plain JSON both ways). The body is at most
//!   [`MAX_BODY`] bytes; a call a sentry could not read (params nested deeper than it reads:
//!   [`super::frame_fit`]) is refused with 400 before it is sent.
//! * `GET  /api/logs?sentry=G&logger=L&after=ID&limit=N`: stored records, oldest first, with
//!   their ids (`after` the last id seen, to follow); `order=newest&before=ID` reads back from
//!   the newest.
//! * `GET  /api/sentries/{guid}/events?limit=N`: its latest events (connections, logger
//!   changes, sequence rollbacks...), newest first.
//! * `GET  /api/sentries/{guid}/wanted-loggers`: the loggers the base connects at every hello.
//! * `GET  /metrics`: the base's own metrics for Prometheus ([`crate::metrics`]).
//! * `/console/...`: the web console ([`crate::console`]), with a session instead of the token.
//!
//! A request (its body included) must be done within [`REQUEST_TIME_LIMIT`]; errors are
//! `{"error": "..."}` with a 4xx or 5xx status.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kraken_codec::plain_json::{from_json, to_json};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::auth::{Gate, require_token};
use super::client::FORWARDED_BY;
use super::forward::Peers;
use super::frame_fit;
use crate::console::{self, Login};
use crate::server::Base;
use crate::storage::{RecordFilter, Storage, StorageError};

/// The most sentries one page of `/api/sentries` holds when a limit is asked for.
pub const MAX_SENTRIES_PAGE: usize = 1000;
/// A `/api/logs` page ends once its records' params and messages reach this many bytes.
pub const LOGS_PAGE_BYTES: usize = 16 << 20;
/// The largest request body read.
pub const MAX_BODY: usize = 1024 * 1024;
/// How long one request may take, reading its body included (a call waits for its sentry up
/// to 35 s).
pub const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(60);

/// What handlers share.
pub struct AdminState {
    pub base: Arc<Base>,
    /// How to reach the other nodes sharing the storage (none: calls are for this node only).
    pub peers: Option<Peers>,
}

type Reply = Result<Json<Json_>, (StatusCode, Json<Json_>)>;

fn failure(status: StatusCode, message: impl std::fmt::Display) -> (StatusCode, Json<Json_>) {
    (status, Json(json!({ "error": message.to_string() })))
}

/// The router: every route (the API's and the console's), and the reply to unknown ones,
/// behind the gate.
pub fn router(state: Arc<AdminState>, gate: Arc<Gate>, login: Arc<Login>) -> Router {
    Router::new()
        .route("/api/sentries", get(sentries))
        .route("/api/sentries/{guid}/call", post(call))
        .route("/api/sentries/{guid}/events", get(events))
        .route("/api/sentries/{guid}/wanted-loggers", get(wanted_loggers))
        .route("/api/logs", get(logs))
        .route("/metrics", get(metrics))
        .merge(console::routes(login))
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "no such API") })
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(time_limit))
        .layer(middleware::from_fn_with_state(gate, require_token))
        // Outermost: every answer, the gate's refusals included.
        .layer(middleware::map_response(no_sniffing))
}

/// Tells browsers to take every answer as the type it says (a JSON reply holding a sentry's
/// text is never run as a script or a page).
async fn no_sniffing(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    response
}

/// 408 for a request not done within [`REQUEST_TIME_LIMIT`] (a body sent byte by byte).
async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIME_LIMIT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => failure(StatusCode::REQUEST_TIMEOUT, "the request took too long").into_response(),
    }
}

/// Runs a storage read on the blocking pool (it may wait for the record writer's transaction).
async fn read<T: Send + 'static>(
    state: &AdminState,
    work: impl FnOnce(&dyn Storage) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, (StatusCode, Json<Json_>)> {
    let storage = state.base.storage.clone();
    tokio::task::spawn_blocking(move || work(storage.as_ref()))
        .await
        .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e))?
        .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// `/api/sentries` paging and filters (none given: every sentry).
#[derive(Deserialize, Default)]
struct SentriesQuery {
    /// Text the GUID, address or node contains (case ignored).
    q: Option<String>,
    /// `connected` or `disconnected`.
    state: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn sentries(
    State(state): State<Arc<AdminState>>,
    query: Result<Query<SentriesQuery>, QueryRejection>,
) -> Reply {
    let Query(query) = query.map_err(|rejection| failure(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let wanted_state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some("connected") => Some(true),
        Some("disconnected") => Some(false),
        Some(other) => {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                format!("state {other:?}: connected or disconnected"),
            ));
        }
    };
    let health = state.base.storage.health();
    let rows = match read(&state, |storage| storage.sentries()).await {
        Ok(rows) => rows,
        // With the storage down, what this node holds now is still worth showing.
        Err(_) if !health.available => state.base.connected_sentries(),
        Err(failure) => return Err(failure),
    };
    let needle = query.q.as_deref().unwrap_or_default().to_lowercase();
    let contains = |text: Option<&str>| text.is_some_and(|text| text.to_lowercase().contains(&needle));
    let matching: Vec<_> = rows
        .into_iter()
        .filter(|s| wanted_state.is_none_or(|connected| s.connected == connected))
        .filter(|s| {
            needle.is_empty()
                || contains(Some(&s.guid))
                || contains(s.address.as_deref())
                || contains(s.node.as_deref())
        })
        .collect();
    let total = matching.len();
    // Without a limit, every sentry (what the CLI asks for); with one, a page.
    let limit = query.limit.map_or(usize::MAX, |limit| limit.min(MAX_SENTRIES_PAGE));
    let list: Vec<Json_> = matching
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(limit)
        .map(|s| {
            json!({
                "guid": s.guid,
                "connected": s.connected,
                "address": s.address,
                "last_seen_ms": s.last_seen_ms,
                "node": s.node,
            })
        })
        .collect();
    let storage = json!({
        "kind": state.base.storage.kind(),
        "available": health.available,
        "unavailable_since_ms": health.since_ms,
        "error": health.error,
    });
    Ok(Json(json!({ "sentries": list, "total": total, "storage": storage })))
}

#[derive(Deserialize)]
struct CallBody {
    method: String,
    #[serde(default)]
    params: Vec<Json_>,
}

async fn call(
    State(state): State<Arc<AdminState>>,
    Path(guid): Path<String>,
    headers: HeaderMap,
    body: Result<Json<CallBody>, JsonRejection>,
) -> Reply {
    let Json(body) = body.map_err(|rejection| {
        let text = rejection.body_text();
        let status = match rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::BytesRejection(ref bytes) => bytes.status(),
            _ => StatusCode::BAD_REQUEST,
        };
        // Nested past what the JSON parser reads (128 levels): as deep params, one message.
        if text.contains("recursion limit exceeded") {
            return failure(status, frame_fit::too_deep());
        }
        failure(status, format!("the body must be {{\"method\": ..., \"params\": [...]}}: {text}"))
    })?;
    let params: Vec<_> = body.params.iter().map(from_json).collect();
    frame_fit::check(&body.method, &params).map_err(|why| failure(StatusCode::BAD_REQUEST, why))?;
    match state.base.call(&guid, &body.method, params).await {
        Ok(result) => Ok(Json(json!({ "result": to_json(&result) }))),
        Err(crate::server::CallError::NotConnected(_)) => {
            let passed_on = headers.contains_key(FORWARDED_BY);
            match state.peers.clone().filter(|_| !passed_on) {
                Some(peers) => pass_to_peer(&state, peers, guid, body).await,
                None => Err(failure(StatusCode::NOT_FOUND, format!("sentry {guid} is not connected"))),
            }
        }
        Err(error) => Err(failure(StatusCode::BAD_GATEWAY, error)),
    }
}

/// A call for a sentry this node does not hold, passed to the live node that does (if any).
async fn pass_to_peer(state: &AdminState, peers: Peers, guid: String, body: CallBody) -> Reply {
    let storage = state.base.storage.clone();
    let passed = tokio::task::spawn_blocking(move || {
        let Some(peer) = storage.peer_holding(&guid).map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        else {
            return Err((StatusCode::NOT_FOUND, format!("sentry {guid} is not connected")));
        };
        tracing::debug!(%guid, node = %peer.node, method = %body.method, "call passed to the node holding the sentry");
        peers
            .pass(&peer, &guid, &body.method, body.params)
            .map_err(|e| (StatusCode::BAD_GATEWAY, format!("node {} holds sentry {guid}: {e:#}", peer.node)))
    })
    .await
    .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    match passed {
        Ok((status, reply)) if (200..300).contains(&status) => Ok(Json(reply)),
        Ok((status, reply)) => {
            Err((StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), Json(reply)))
        }
        Err((status, message)) => Err(failure(status, message)),
    }
}

/// `GET /api/sentries/{guid}/events?limit=N`: its latest events, newest first.
async fn events(
    State(state): State<Arc<AdminState>>,
    Path(guid): Path<String>,
    query: Result<Query<LimitQuery>, QueryRejection>,
) -> Reply {
    let Query(query) = query.map_err(|rejection| failure(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let limit = query.limit.unwrap_or(100).min(10_000);
    let rows = read(&state, move |storage| storage.events(&guid, limit)).await?;
    let events: Vec<Json_> = rows
        .into_iter()
        .map(|e| json!({ "kind": e.kind, "logger": e.logger, "detail": e.detail, "received_ms": e.received_ms }))
        .collect();
    Ok(Json(json!({ "events": events })))
}

/// `GET /api/sentries/{guid}/wanted-loggers`: the loggers the base connects at every hello.
async fn wanted_loggers(State(state): State<Arc<AdminState>>, Path(guid): Path<String>) -> Reply {
    let loggers = read(&state, move |storage| storage.wanted_loggers(&guid)).await?;
    Ok(Json(json!({ "loggers": loggers })))
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<usize>,
}

/// The base's metrics in the Prometheus text format (OpenMetrics), the scrape-time values
/// read now.
async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let base = &state.base;
    base.metrics.sentries_connected.set(base.sentries.connected().len() as i64);
    base.metrics.storage_available.set(i64::from(base.storage.health().available));
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        base.metrics.encode(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LogsQuery {
    sentry: Option<String>,
    logger: Option<String>,
    after: Option<i64>,
    /// Records stored before this id (with `order=newest`, to read further back).
    before: Option<i64>,
    /// `newest`: the newest first; else the oldest first.
    order: Option<String>,
    /// Record dates, Unix ms: at or after `since`, before `until`.
    since: Option<i64>,
    until: Option<i64>,
    /// Text the message or params contain.
    text: Option<String>,
    limit: Option<usize>,
}

async fn logs(
    State(state): State<Arc<AdminState>>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Reply {
    let Query(query) = query.map_err(|rejection| failure(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let newest_first = match query.order.as_deref() {
        None | Some("" | "oldest") => false,
        Some("newest") => true,
        Some(other) => {
            return Err(failure(StatusCode::BAD_REQUEST, format!("order {other:?}: oldest or newest")));
        }
    };
    let filter = RecordFilter {
        guid: query.sentry,
        logger: query.logger,
        after_id: query.after,
        before_id: query.before,
        newest_first,
        since_ms: query.since,
        until_ms: query.until,
        text: query.text,
        own_node_only: false,
        limit: query.limit.unwrap_or(1000).min(10_000),
        max_bytes: Some(LOGS_PAGE_BYTES),
    };
    let rows = read(&state, move |storage| storage.records(&filter)).await?;
    let records: Vec<Json_> = rows
        .into_iter()
        .map(|(id, r)| {
            json!({
                "id": id,
                "sentry": r.guid,
                "logger": r.logger,
                "date": kraken_codec::java_text::instant_to_string(r.date_ms),
                "logtype": r.logtype,
                "msg": r.msg,
                "params": r.params_json(),
                "seq": r.seq,
            })
        })
        .collect();
    Ok(Json(json!({ "records": records })))
}
