//! The console's sessions: made when someone logs in with the admin token, kept in memory
//! (a restart logs everyone out), each with its own CSRF token.
//!
//! The browser holds the session's id in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//! when the admin listener speaks TLS); state-changing requests must also carry the CSRF token
//! in `X-CSRF-Token`, which only the console's own pages can read. A session lasts
//! [`IDLE_LIMIT`] without use and [`LIFE_LIMIT`] at most; at most [`MAX_SESSIONS`] live at once
//! (the least recently used goes first).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "kraken_console";
/// The header state-changing requests carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const IDLE_LIMIT: Duration = Duration::from_secs(60 * 60);
pub const LIFE_LIMIT: Duration = Duration::from_secs(12 * 60 * 60);
pub const MAX_SESSIONS: usize = 256;

struct Session {
    csrf: String,
    made: Instant,
    used: Instant,
}

/// Every live session, by id.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

/// A new session's id (for the cookie) and CSRF token.
pub struct NewSession {
    pub id: String,
    pub csrf: String,
}

impl Sessions {
    /// Makes a session.
    pub fn open(&self) -> NewSession {
        let (id, csrf) = (random_hex(), random_hex());
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, session| alive(session, now));
        if live.len() >= MAX_SESSIONS {
            let oldest = live.iter().min_by_key(|(_, s)| s.used).map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                live.remove(&oldest);
            }
        }
        live.insert(id.clone(), Session { csrf: csrf.clone(), made: now, used: now });
        NewSession { id, csrf }
    }

    /// The CSRF token of live session `id` (marking it used), if there is one.
    pub fn csrf_of(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up by every id in turn, compared in constant time: the map's own lookup would
        // stop at the first differing byte of a guessed id.
        let found = live.iter_mut().find(|(known, _)| same(known.as_bytes(), id.as_bytes()))?.1;
        if !alive(found, now) {
            return None;
        }
        found.used = now;
        Some(found.csrf.clone())
    }

    /// Ends session `id`.
    pub fn close(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|known, _| !same(known.as_bytes(), id.as_bytes()));
    }
}

fn alive(session: &Session, now: Instant) -> bool {
    now.duration_since(session.used) < IDLE_LIMIT && now.duration_since(session.made) < LIFE_LIMIT
}

/// Equal, compared in time that does not depend on where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes as 64 hex digits.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something to go on without.
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the OS random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session id in a `Cookie` header, if any.
pub fn session_id(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| value.len() == 64)
}

/// The `Set-Cookie` value for session `id`.
pub fn cookie_for(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", LIFE_LIMIT.as_secs())
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_gives_its_csrf_token_until_closed() {
        let sessions = Sessions::default();
        let session = sessions.open();
        assert_eq!(session.id.len(), 64);
        assert_eq!(sessions.csrf_of(&session.id), Some(session.csrf.clone()));
        assert_eq!(sessions.csrf_of(&"0".repeat(64)), None);
        sessions.close(&session.id);
        assert_eq!(sessions.csrf_of(&session.id), None);
    }

    #[test]
    fn the_least_recently_used_session_goes_when_there_are_too_many() {
        let sessions = Sessions::default();
        let first = sessions.open();
        let second = sessions.open();
        for _ in 2..MAX_SESSIONS {
            sessions.open();
        }
        assert!(sessions.csrf_of(&first.id).is_some(), "first used again: second is now the oldest");
        sessions.open();
        assert!(sessions.csrf_of(&second.id).is_none());
        assert!(sessions.csrf_of(&first.id).is_some());
    }

    #[test]
    fn the_cookie_is_http_only_same_site_strict_and_read_back() {
        let cookie = cookie_for(&"a".repeat(64), true);
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.ends_with("; Secure")
        );
        let header = format!("other=1; {COOKIE}={}; x=y", "a".repeat(64));
        assert_eq!(session_id(&header), Some("a".repeat(64).as_str()));
        assert_eq!(session_id(&format!("{COOKIE}=short")), None);
    }
}
