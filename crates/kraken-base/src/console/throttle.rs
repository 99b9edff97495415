//! Failed console logins counted per client (an IPv4 address or an IPv6 /64, as the sentry
//! endpoint counts sources): after [`FREE_FAILURES`] wrong tokens within [`FAILURE_WINDOW`],
//! that client's logins are refused (429) until its window ends. Other clients keep logging in:
//! one flood no longer holds off everybody's logins.
//!
//! At most [`MAX_CLIENTS`] clients are remembered; when that many have failed within their
//! windows, the one whose window started first is forgotten. A client with more addresses than
//! that can keep trying, at the pace of its addresses: the admin token (at least 32 characters,
//! 256 bits when the base makes it) is what stands against guessing, the throttle only spares
//! the base and its log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kraken_rpc::source_limits::Source;

/// Failed logins allowed to one client within one window.
pub const FREE_FAILURES: u32 = 20;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Clients remembered at once.
pub const MAX_CLIENTS: usize = 4096;

/// One client's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl Window {
    fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) < FAILURE_WINDOW
    }
}

/// Failed logins per client.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<Source, Window>>,
}

impl LoginThrottle {
    /// Whether `client`'s logins are refused for now.
    pub fn refuses(&self, client: IpAddr, now: Instant) -> bool {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows
            .get(&Source::from(client))
            .is_some_and(|window| window.live(now) && window.failures >= FREE_FAILURES)
    }

    /// Counts a wrong token from `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let source = Source::from(client);
        if !windows.contains_key(&source) && windows.len() >= MAX_CLIENTS {
            windows.retain(|_, window| window.live(now));
            if windows.len() >= MAX_CLIENTS {
                let oldest = windows.iter().min_by_key(|(_, window)| window.started).map(|(key, _)| *key);
                if let Some(oldest) = oldest {
                    windows.remove(&oldest);
                }
            }
        }
        let window = windows.entry(source).or_insert(Window { started: now, failures: 0 });
        if !window.live(now) {
            *window = Window { started: now, failures: 0 };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_client_over_its_allowance_is_refused_and_the_others_are_not() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed(ip("192.0.2.7"), now);
        }
        assert!(!throttle.refuses(ip("192.0.2.7"), now), "within its allowance");
        throttle.failed(ip("192.0.2.7"), now);
        assert!(throttle.refuses(ip("192.0.2.7"), now));
        assert!(throttle.refuses(ip("::ffff:192.0.2.7"), now), "the same address, IPv4-mapped");
        assert!(!throttle.refuses(ip("192.0.2.8"), now), "another client still logs in");
        let later = now + FAILURE_WINDOW;
        assert!(!throttle.refuses(ip("192.0.2.7"), later), "the window ended");
        throttle.failed(ip("192.0.2.7"), later);
        assert!(!throttle.refuses(ip("192.0.2.7"), later), "a new window counts from one");
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..FREE_FAILURES {
            throttle.failed(ip(&format!("2001:db8:1:2::{i:x}")), now);
        }
        assert!(throttle.refuses(ip("2001:db8:1:2::ffff"), now));
        assert!(!throttle.refuses(ip("2001:db8:1:3::1"), now));
    }

    #[test]
    fn the_clients_remembered_stay_bounded() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            throttle.failed(ip("198.51.100.1"), now);
        }
        for i in 0..MAX_CLIENTS as u32 + 10 {
            throttle.failed(IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()), now + Duration::from_millis(1));
        }
        assert!(throttle.windows.lock().unwrap().len() <= MAX_CLIENTS);
        assert!(!throttle.refuses(ip("198.51.100.1"), now), "the oldest window was forgotten first");
    }
}
