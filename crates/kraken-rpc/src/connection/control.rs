//! Session 0, `rpc-control`, both ways: answering the peer's peering request, authentication,
//! session requests and pings, and this side's own peering exchange (its `peering-request`,
//! then `authenticate` when the peer challenges it), which grants our calls their trust level.

use std::sync::atomic::Ordering;

use kraken_codec::Value;
use tracing::info;

use super::handle::{CONTROL_SESSION, RpcConnection, SessionEntry};
use super::locks::{lock, read};
use crate::auth::{TrustLevel, password_hash};
use crate::error::{RpcError, RpcFault};

impl RpcConnection {
    /// Session 0: the `rpc-control` methods.
    pub(super) fn control(&self, method: &str, params: Vec<Value>) -> Result<Value, RpcFault> {
        match method {
            "peering-request" => self.answer_peering_request(params),
            "authenticate" => self.answer_authenticate(params),
            "session-request" => self.answer_session_request(params),
            "ping" => match params.into_iter().next() {
                Some(value @ Value::I32(_)) => Ok(value),
                _ => Err(RpcFault::bad_arguments("ping", "expects one int")),
            },
            other => Err(RpcFault::method_not_found(other)),
        }
    }

    fn answer_peering_request(&self, params: Vec<Value>) -> Result<Value, RpcFault> {
        let Some(Value::Str(peer_guid)) = params.into_iter().next() else {
            return Err(RpcFault::bad_arguments("peering-request", "expects the peer's guid as a string"));
        };
        let config = &self.inner.config;
        let own_guid = Value::from(config.guid.as_str());
        let mut granted = lock(&self.inner.granted);
        if let Some(known) = granted.peer_guid.as_deref().filter(|known| *known != peer_guid.as_str()) {
            // A peer cannot change its identity (and keep the trust granted to the old one).
            return Err(RpcFault::new(format!("already peered as {known}")));
        }
        granted.peer_guid = Some(peer_guid.to_string());
        if self.inner.authenticated_transport {
            let level = config.peers.get(peer_guid.as_str()).map_or(TrustLevel::Low, |p| p.trust);
            granted.level = Some(level);
            Ok(Value::Array(vec!["success".into(), own_guid, Value::I32(level.code())]))
        } else {
            let nonce = uuid::Uuid::new_v4().to_string();
            granted.nonce = Some(nonce.clone());
            Ok(Value::Array(vec!["challenge".into(), own_guid, Value::from(nonce)]))
        }
    }

    fn answer_authenticate(&self, params: Vec<Value>) -> Result<Value, RpcFault> {
        let mut granted = lock(&self.inner.granted);
        let (Some(peer_guid), Some(nonce)) = (granted.peer_guid.clone(), granted.nonce.clone()) else {
            return Err(RpcFault::new("peer request first"));
        };
        let hash = params.get(1).and_then(Value::as_str);
        let accepted = self.inner.config.peers.get(&peer_guid).filter(|peer| {
            let expected = password_hash(Some(&peer.password), &nonce);
            hash.is_some() && expected.as_deref() == hash
        });
        match accepted {
            Some(peer) => {
                granted.level = Some(peer.trust);
                Ok(Value::Array(vec![Value::Bool(true), Value::I32(peer.trust.code())]))
            }
            None => {
                info!(peer = ?self.inner.peer.address, %peer_guid, "rpc authentication refused");
                Ok(Value::Array(vec![Value::Bool(false), Value::I32(TrustLevel::Low.code())]))
            }
        }
    }

    fn answer_session_request(&self, params: Vec<Value>) -> Result<Value, RpcFault> {
        let Some(Value::Str(name)) = params.into_iter().next() else {
            return Err(RpcFault::bad_arguments("session-request", "expects a service name"));
        };
        let level = lock(&self.inner.granted).level;
        if level.is_none_or(|l| l <= TrustLevel::Untrusted) {
            return Err(RpcFault::new(format!(
                "[{name}] session request not allowed, establish peering first"
            )));
        }
        let service = read(&self.inner.services)
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| RpcFault::new(format!("service binding not found: {name}")))?;
        if lock(&self.inner.sessions).len() >= self.inner.config.max_sessions {
            return Err(RpcFault::new(format!("too many sessions ({})", self.inner.config.max_sessions)));
        }
        let id = self
            .inner
            .next_session
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| id.checked_add(2))
            .map_err(|_| RpcFault::new("no session ids left on this connection"))?;
        service.session_opened(self, id)?;
        lock(&self.inner.sessions).insert(id, SessionEntry { service: service.clone(), post_backlog: None });
        // A close that ran meanwhile did not see this session: end it here.
        if self.is_closed() && lock(&self.inner.sessions).remove(&id).is_some() {
            service.session_closed(self, id);
            return Err(RpcFault::new("connection closed"));
        }
        Ok(Value::I32(id))
    }

    /// Sends this side's peering request and, when challenged, authenticates.
    pub(super) async fn request_peering(self) {
        let config = self.inner.config.clone();
        let timeout = config.peering_timeout;
        let params = vec![Value::from(config.guid.as_str())];
        let reply = match self.call(CONTROL_SESSION, "peering-request", params, timeout).await {
            Ok(reply) => reply,
            Err(RpcError::Closed(_)) => return,
            Err(err) => return self.close(format!("peering failed: {err}")),
        };
        let items = reply.as_array().unwrap_or_default();
        let level = match items.first().and_then(Value::as_str) {
            Some("success") => items.get(2).and_then(Value::as_i32).map(TrustLevel::from_code),
            Some("challenge") => {
                let Some(nonce) = items.get(2).and_then(Value::as_str) else {
                    return self.close("peering failed: challenge without a nonce");
                };
                let hash = Value::from(password_hash(config.password.as_deref(), nonce));
                let params = vec![Value::from(config.guid.as_str()), hash];
                match self.call(CONTROL_SESSION, "authenticate", params, timeout).await {
                    Ok(answer) => {
                        let answer = answer.as_array().unwrap_or_default();
                        match (answer.first().and_then(Value::as_bool), answer.get(1).and_then(Value::as_i32))
                        {
                            (Some(true), Some(code)) => Some(TrustLevel::from_code(code)),
                            _ => return self.close("authentication refused by the peer"),
                        }
                    }
                    Err(err) => return self.close(format!("authentication failed: {err}")),
                }
            }
            _ => None,
        };
        match level {
            Some(level) => {
                self.inner.trusted.send_replace(Some(level));
            }
            None => self.close(format!("peering failed: unexpected answer {}", reply.kind_name())),
        }
    }
}
