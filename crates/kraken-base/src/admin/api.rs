//! The base's administration API: HTTP with JSON bodies, on 127.0.0.1 by default, every
//! request carrying `Authorization: Bearer <token>` (the token is made at first start in
//! `data_dir/admin.token`, readable by the base's user only).
//!
//! * `GET  /api/sentries`: every sentry seen, connected or not.
//! * `POST /api/sentries/{guid}/call` `{"method": "getNetStat", "params": [...]}`: runs a
//!   sentry method and returns `{"result": ...}` (plain JSON both ways).
//! * `GET  /api/logs?sentry=G&logger=L&after=ID&limit=N`: stored records, oldest first, with
//!   their ids (`after` the last id seen, to follow).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use kraken_codec::plain_json::{from_json, to_json};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::server::Base;
use crate::storage::RecordFilter;

/// What handlers share.
pub struct AdminState {
    pub base: Arc<Base>,
    pub token: String,
}

type Reply = Result<Json<Json_>, (StatusCode, Json<Json_>)>;

fn failure(status: StatusCode, message: impl std::fmt::Display) -> (StatusCode, Json<Json_>) {
    (status, Json(json!({ "error": message.to_string() })))
}

fn authorize(state: &AdminState, headers: &HeaderMap) -> Result<(), (StatusCode, Json<Json_>)> {
    let given =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Constant-time enough for a local token: compare every byte.
    let ok = given.is_some_and(|g| {
        g.len() == state.token.len()
            && g.bytes().zip(state.token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if ok { Ok(()) } else { Err(failure(StatusCode::UNAUTHORIZED, "missing or wrong admin token")) }
}

/// The router.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/api/sentries", get(sentries))
        .route("/api/sentries/{guid}/call", post(call))
        .route("/api/logs", get(logs))
        .with_state(state)
}

async fn sentries(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> Reply {
    authorize(&state, &headers)?;
    let rows = state.base.storage.sentries().map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let list: Vec<Json_> = rows
        .into_iter()
        .map(|s| json!({ "guid": s.guid, "connected": s.connected, "address": s.address, "last_seen_ms": s.last_seen_ms }))
        .collect();
    Ok(Json(json!({ "sentries": list })))
}

#[derive(Deserialize)]
struct CallBody {
    method: String,
    #[serde(default)]
    params: Vec<Json_>,
}

async fn call(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    Path(guid): Path<String>,
    Json(body): Json<CallBody>,
) -> Reply {
    authorize(&state, &headers)?;
    let params = body.params.iter().map(from_json).collect();
    match state.base.call(&guid, &body.method, params).await {
        Ok(result) => Ok(Json(json!({ "result": to_json(&result) }))),
        Err(crate::server::CallError::NotConnected(_)) => {
            Err(failure(StatusCode::NOT_FOUND, format!("sentry {guid} is not connected")))
        }
        Err(error) => Err(failure(StatusCode::BAD_GATEWAY, error)),
    }
}

#[derive(Deserialize)]
struct LogsQuery {
    sentry: Option<String>,
    logger: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

async fn logs(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    Query(query): Query<LogsQuery>,
) -> Reply {
    authorize(&state, &headers)?;
    let filter = RecordFilter {
        guid: query.sentry,
        logger: query.logger,
        after_id: query.after,
        limit: query.limit.unwrap_or(1000).min(10_000),
    };
    let rows =
        state.base.storage.records(&filter).map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e))?;
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

/// Reads the admin token, making one (32 random bytes, hex) at first start.
pub fn load_or_create_token(path: &std::path::Path) -> anyhow::Result<String> {
    if let Ok(token) = std::fs::read_to_string(path) {
        return Ok(token.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path)?.write_all(token.as_bytes())?;
    Ok(token)
}
