//! The sentries connected to this base: which connection speaks for which GUID, and the
//! `kraken-sentry` session the base calls them through.
//!
//! A connection is bound to one GUID at `hello`, after the base checked that the connection's
//! client certificate names that GUID (CN or SAN, BUG-1); from then on the connection may only
//! speak for that GUID (BUG-2). A second connection for a GUID whose connection is still open is
//! refused; one whose connection has closed is replaced. Everything about a sentry is dropped
//! when its connection closes, so a reconnect always starts clean (BUG-4).

use std::collections::HashMap;
use std::sync::Mutex;

use kraken_rpc::{RpcConnection, RpcSession};

/// One connected sentry.
#[derive(Clone)]
pub struct ConnectedSentry {
    pub guid: String,
    pub connection: RpcConnection,
    /// The base's session on the sentry's `kraken-sentry` service, once opened.
    pub session: Option<RpcSession>,
}

/// GUID ↔ connection bindings.
#[derive(Default)]
pub struct SentryRegistry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_guid: HashMap<String, ConnectedSentry>,
    guid_of_connection: HashMap<u64, String>,
}

/// Why a `hello` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("sentry {0} is already connected")]
    AlreadyConnected(String),
    #[error("this connection already speaks for sentry {0}")]
    ConnectionBound(String),
}

impl SentryRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Binds `connection` to `guid`.
    pub fn bind(&self, guid: &str, connection: &RpcConnection) -> Result<(), BindError> {
        let mut inner = self.lock();
        if let Some(bound) = inner.guid_of_connection.get(&connection.id()) {
            return if bound == guid { Ok(()) } else { Err(BindError::ConnectionBound(bound.clone())) };
        }
        if let Some(existing) = inner.by_guid.get(guid) {
            if !existing.connection.is_closed() {
                return Err(BindError::AlreadyConnected(guid.to_owned()));
            }
            let stale = existing.connection.id();
            inner.guid_of_connection.remove(&stale);
        }
        inner.guid_of_connection.insert(connection.id(), guid.to_owned());
        inner.by_guid.insert(
            guid.to_owned(),
            ConnectedSentry { guid: guid.to_owned(), connection: connection.clone(), session: None },
        );
        Ok(())
    }

    /// The GUID `connection` speaks for, if it said hello.
    pub fn guid_of(&self, connection: &RpcConnection) -> Option<String> {
        self.lock().guid_of_connection.get(&connection.id()).cloned()
    }

    /// Records the session the base opened on the sentry.
    pub fn set_session(&self, guid: &str, connection: &RpcConnection, session: RpcSession) {
        let mut inner = self.lock();
        if let Some(sentry) = inner.by_guid.get_mut(guid)
            && sentry.connection.id() == connection.id()
        {
            sentry.session = Some(session);
        }
    }

    /// Forgets `connection` (closed); true if it was a sentry's current connection.
    pub fn unbind(&self, connection: &RpcConnection) -> Option<String> {
        let mut inner = self.lock();
        let guid = inner.guid_of_connection.remove(&connection.id())?;
        if inner.by_guid.get(&guid).is_some_and(|s| s.connection.id() == connection.id()) {
            inner.by_guid.remove(&guid);
        }
        Some(guid)
    }

    /// A connected sentry.
    pub fn get(&self, guid: &str) -> Option<ConnectedSentry> {
        self.lock().by_guid.get(guid).cloned()
    }

    /// GUIDs of the connected sentries.
    pub fn connected(&self) -> Vec<String> {
        let mut guids: Vec<String> = self.lock().by_guid.keys().cloned().collect();
        guids.sort();
        guids
    }
}
