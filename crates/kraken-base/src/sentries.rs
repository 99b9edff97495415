//! The sentries connected to this base: which connections speak for which GUID, the
//! `kraken-sentry` session the base calls a sentry through, and its log channel.
//!
//! A connection is bound to one GUID at `hello`, after the base checked that the connection's
//! client certificate names that GUID ([`crate::access`], BUG-1); from then on the connection may only
//! speak for that GUID (BUG-2). A second connection for a GUID whose connection is still open is
//! refused (the caller replaces it only once it failed a ping). Everything about a sentry is
//! dropped when its connection closes, so a reconnect always starts clean (BUG-4).
//!
//! The **log channel** is the sentry's second connection. The base asks for it with a nonce
//! that is good once and only for a while (BUG-11); `setLogChannel` on a new connection whose
//! certificate names the same sentry presents it. The log channel belongs to the command
//! connection it was asked for: a later request or a new command connection never reuses it
//! (BUG-8), and the two are closed together.
//!
//! Whoever waits for a sentry to get somewhere (its session opened, its log channel set) waits
//! with [`SentryRegistry::wait_for`], woken each time that sentry's entry changes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kraken_rpc::{RpcConnection, RpcSession};
use tokio::sync::watch;

/// One connected sentry.
#[derive(Clone)]
pub struct ConnectedSentry {
    pub guid: String,
    pub connection: RpcConnection,
    /// The base's session on the sentry's `kraken-sentry` service, once opened.
    pub session: Option<RpcSession>,
    /// The sentry's log channel, once set.
    pub log_connection: Option<RpcConnection>,
    /// The log channel nonce waiting to be presented.
    nonce: Option<(String, Instant)>,
    /// Told each time this entry changes (session, log channel) or leaves the registry.
    changes: watch::Sender<()>,
}

/// GUID ↔ connection bindings.
#[derive(Default)]
pub struct SentryRegistry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_guid: HashMap<String, ConnectedSentry>,
    /// Command and log connections alike.
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

/// Why a `setLogChannel` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogChannelError {
    #[error("sentry {0} is not connected")]
    NotConnected(String),
    #[error("no log channel was requested from sentry {0}")]
    NotRequested(String),
    #[error("the log channel nonce has expired")]
    Expired,
    #[error("nonce does not match")]
    Mismatch,
    #[error("this connection already speaks for sentry {0}")]
    ConnectionBound(String),
}

/// What [`SentryRegistry::unbind`] let go of.
pub struct Unbound {
    pub guid: String,
    /// Whether it was the sentry's command connection (else its log channel).
    pub command: bool,
    /// The log channel that went with a command connection; the caller closes it.
    pub log_connection: Option<RpcConnection>,
}

impl SentryRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Binds `connection` to `guid` as its command connection; `false` if it already was.
    pub fn bind(&self, guid: &str, connection: &RpcConnection) -> Result<bool, BindError> {
        let mut inner = self.lock();
        if let Some(bound) = inner.guid_of_connection.get(&connection.id()) {
            // Saying hello again on the command connection is harmless; on a log channel, or
            // for another GUID, it is refused.
            let is_command = inner.by_guid.get(bound).is_some_and(|s| s.connection.id() == connection.id());
            return if bound == guid && is_command {
                Ok(false)
            } else {
                Err(BindError::ConnectionBound(bound.clone()))
            };
        }
        if let Some(existing) = inner.by_guid.get(guid) {
            if !existing.connection.is_closed() {
                return Err(BindError::AlreadyConnected(guid.to_owned()));
            }
            let stale =
                [Some(existing.connection.id()), existing.log_connection.as_ref().map(RpcConnection::id)];
            existing.changes.send_replace(());
            for id in stale.into_iter().flatten() {
                inner.guid_of_connection.remove(&id);
            }
        }
        inner.guid_of_connection.insert(connection.id(), guid.to_owned());
        inner.by_guid.insert(
            guid.to_owned(),
            ConnectedSentry {
                guid: guid.to_owned(),
                connection: connection.clone(),
                session: None,
                log_connection: None,
                nonce: None,
                changes: watch::Sender::new(()),
            },
        );
        Ok(true)
    }

    /// The GUID `connection` speaks for (its command connection or its log channel).
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
            sentry.changes.send_replace(());
        }
    }

    /// A fresh one-shot nonce for the log channel of `guid`'s command connection `connection`,
    /// good for `lifetime`; it replaces any earlier one. `None` if that connection is no longer
    /// the sentry's.
    pub fn request_log_channel(
        &self,
        guid: &str,
        connection: &RpcConnection,
        lifetime: Duration,
    ) -> Option<String> {
        let mut inner = self.lock();
        let sentry = inner.by_guid.get_mut(guid).filter(|s| s.connection.id() == connection.id())?;
        let nonce = random_nonce();
        sentry.nonce = Some((nonce.clone(), Instant::now() + lifetime));
        Some(nonce)
    }

    /// Makes `log_connection` the log channel of `guid` if `nonce` is the one requested and
    /// still good; the nonce is used up either way. Returns the command connection it belongs
    /// to and the log channel it replaces, if any (the caller closes that one).
    pub fn set_log_channel(
        &self,
        guid: &str,
        nonce: &str,
        log_connection: &RpcConnection,
    ) -> Result<(RpcConnection, Option<RpcConnection>), LogChannelError> {
        let mut inner = self.lock();
        if let Some(bound) = inner.guid_of_connection.get(&log_connection.id()) {
            return Err(LogChannelError::ConnectionBound(bound.clone()));
        }
        let sentry = inner
            .by_guid
            .get_mut(guid)
            .filter(|s| !s.connection.is_closed())
            .ok_or_else(|| LogChannelError::NotConnected(guid.to_owned()))?;
        let (expected, expires) =
            sentry.nonce.take().ok_or_else(|| LogChannelError::NotRequested(guid.to_owned()))?;
        if Instant::now() > expires {
            return Err(LogChannelError::Expired);
        }
        if !constant_time_eq(expected.as_bytes(), nonce.as_bytes()) {
            return Err(LogChannelError::Mismatch);
        }
        let replaced = sentry.log_connection.replace(log_connection.clone());
        let command = sentry.connection.clone();
        sentry.changes.send_replace(());
        if let Some(old) = &replaced {
            inner.guid_of_connection.remove(&old.id());
        }
        inner.guid_of_connection.insert(log_connection.id(), guid.to_owned());
        Ok((command, replaced))
    }

    /// Whether `guid`'s command connection `connection` has its log channel.
    pub fn has_log_channel(&self, guid: &str, connection: &RpcConnection) -> bool {
        self.lock()
            .by_guid
            .get(guid)
            .is_some_and(|s| s.connection.id() == connection.id() && s.log_connection.is_some())
    }

    /// Forgets `connection` (closed or being replaced). A command connection takes the sentry
    /// with it; a log channel only itself.
    pub fn unbind(&self, connection: &RpcConnection) -> Option<Unbound> {
        let mut inner = self.lock();
        let guid = inner.guid_of_connection.remove(&connection.id())?;
        let Some(sentry) = inner.by_guid.get_mut(&guid) else {
            return Some(Unbound { guid, command: false, log_connection: None });
        };
        if sentry.connection.id() == connection.id() {
            sentry.changes.send_replace(());
            let log_connection = inner.by_guid.remove(&guid).and_then(|s| s.log_connection);
            if let Some(log) = &log_connection {
                inner.guid_of_connection.remove(&log.id());
            }
            return Some(Unbound { guid, command: true, log_connection });
        }
        if sentry.log_connection.as_ref().is_some_and(|l| l.id() == connection.id()) {
            sentry.log_connection = None;
            sentry.changes.send_replace(());
        }
        Some(Unbound { guid, command: false, log_connection: None })
    }

    /// Waits up to `limit` until `ready` finds what the caller waits for in the entry of `guid`,
    /// looking again each time that entry changes (its session opened, its log channel set or
    /// gone, the entry dropped or replaced by a new connection for the GUID); no polling.
    /// `None`: the time is up, or `guid` is not (or no longer) connected.
    pub async fn wait_for<T>(
        &self,
        guid: &str,
        limit: Duration,
        mut ready: impl FnMut(&ConnectedSentry) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Subscribed under the lock every change is made under: no change is missed.
            let mut changes = {
                let inner = self.lock();
                let sentry = inner.by_guid.get(guid)?;
                if let Some(found) = ready(sentry) {
                    return Some(found);
                }
                sentry.changes.subscribe()
            };
            // An error (the entry and its sender gone) is a change too: look again.
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                return None;
            }
        }
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

/// A random UUID-shaped string (version 4), as the original's nonces.
fn random_nonce() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("the system random source works");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Compares two secrets without leaking where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_uuid_shaped_and_differ() {
        let (a, b) = (random_nonce(), random_nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4', "version 4: {a}");
        assert!(a.split('-').map(str::len).eq([8, 4, 4, 4, 12]), "{a}");
    }

    /// A connection over an in-memory stream, and the stream's other end (kept open).
    fn connection() -> (RpcConnection, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let config = std::sync::Arc::new(kraken_rpc::RpcConfig::new("base"));
        let peer = kraken_rpc::PeerInfo::default();
        let services = kraken_rpc::ServiceTable::new();
        (RpcConnection::start(ours, kraken_rpc::Role::Acceptor, config, services, peer, false), theirs)
    }

    fn log_channel_id(sentry: &ConnectedSentry) -> Option<u64> {
        sentry.log_connection.as_ref().map(RpcConnection::id)
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_the_log_channel_is_set() {
        let registry = std::sync::Arc::new(SentryRegistry::default());
        let ((command, _a), (log, _b)) = (connection(), connection());
        registry.bind("s1", &command).unwrap();
        let waiter = tokio::spawn({
            let registry = registry.clone();
            async move { registry.wait_for("s1", Duration::from_secs(600), log_channel_id).await }
        });
        // The waiter runs until it waits (one thread: it runs when this test yields).
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "nothing to find yet");
        let nonce = registry.request_log_channel("s1", &command, Duration::from_secs(600)).unwrap();
        registry.set_log_channel("s1", &nonce, &log).unwrap();
        let found = tokio::time::timeout(Duration::from_secs(30), waiter).await.expect("not woken").unwrap();
        assert_eq!(found, Some(log.id()));
    }

    #[tokio::test]
    async fn a_waiter_gives_up_when_the_sentry_goes_or_the_time_is_up() {
        let registry = std::sync::Arc::new(SentryRegistry::default());
        let (command, _a) = connection();
        registry.bind("s1", &command).unwrap();
        let waiter = tokio::spawn({
            let registry = registry.clone();
            async move { registry.wait_for("s1", Duration::from_secs(600), |s| s.session.clone()).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "no session yet");
        assert!(registry.unbind(&command).is_some_and(|u| u.command));
        let found = tokio::time::timeout(Duration::from_secs(30), waiter).await.expect("not woken").unwrap();
        assert!(found.is_none());

        registry.bind("s2", &command).unwrap();
        let waited = registry.wait_for("s2", Duration::from_millis(50), log_channel_id).await;
        assert_eq!(waited, None, "no log channel came in time");
        assert_eq!(registry.wait_for("s3", Duration::from_secs(600), log_channel_id).await, None, "unknown");
    }

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
