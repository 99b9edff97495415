//! Connection accounting of a listening endpoint, by source address: how many connections are
//! live in all and per source, and how many of them are still *pending* (handshaking, or not yet
//! admitted by the application). A new connection over any limit is refused at once, so that
//! idle or hostile sockets from one source can neither delay nor crowd out other clients.
//!
//! When every pending place is taken, a newcomer from a source holding fewer pending
//! connections than the source holding the most takes the place of that source's oldest
//! pending connection, which is told to close ([`SourceSlot::evicted`]). So a few addresses
//! filling the pending places with sockets that never finish cannot keep a sentry from
//! another address out: each newcomer costs them a socket.
//!
//! IPv6 sources are counted by /64 prefix (one host usually holds a whole /64), IPv4-mapped
//! IPv6 addresses as the IPv4 address they carry.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// The limits, from the endpoint's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceCaps {
    /// Live connections in all.
    pub total: usize,
    /// Live connections from one source.
    pub per_source: usize,
    /// Pending connections in all.
    pub pending_total: usize,
    /// Pending connections from one source.
    pub pending_per_source: usize,
}

/// Why a new connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Total(usize),
    PerSource(usize),
    PendingTotal(usize),
    PendingPerSource(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Total(n) => write!(f, "{n} connections are open (the limit)"),
            Refusal::PerSource(n) => write!(f, "the source has {n} connections open (the limit)"),
            Refusal::PendingTotal(n) => write!(f, "{n} connections are not yet admitted (the limit)"),
            Refusal::PendingPerSource(n) => {
                write!(f, "the source has {n} connections not yet admitted (the limit)")
            }
        }
    }
}

/// Where connections are counted from: an IPv4 address, or an IPv6 /64 (IPv4-mapped addresses
/// count as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    V4(Ipv4Addr),
    V6Prefix(u64),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4),
                None => Source::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    live: usize,
    /// The source's pending connections, oldest first, each with the signal that evicts it:
    /// a connection is counted pending while it is in here.
    pending: VecDeque<(u64, Arc<Notify>)>,
}

#[derive(Debug, Default)]
struct State {
    by_source: HashMap<Source, Counts>,
    live: usize,
    pending: usize,
    next_id: u64,
}

impl State {
    /// Evicts the oldest pending connection of the source holding the most, if that source
    /// holds more than `than` (after which the newcomer's source would hold as many): true if
    /// one was evicted.
    fn evict_from_busiest(&mut self, than: usize) -> bool {
        let busiest = self.by_source.values_mut().max_by_key(|counts| counts.pending.len());
        let Some(busiest) = busiest.filter(|counts| counts.pending.len() > than + 1) else {
            return false;
        };
        let Some((_, eviction)) = busiest.pending.pop_front() else { return false };
        eviction.notify_one();
        self.pending -= 1;
        true
    }
}

/// The counters of one endpoint.
#[derive(Debug)]
pub struct SourceLimits {
    caps: SourceCaps,
    state: Mutex<State>,
}

impl SourceLimits {
    pub fn new(caps: SourceCaps) -> Arc<SourceLimits> {
        Arc::new(SourceLimits { caps, state: Mutex::new(State::default()) })
    }

    /// Counts a new connection from `ip` as live and pending, or refuses it.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Result<SourceSlot, Refusal> {
        let source = Source::from(ip);
        let caps = self.caps;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (live, pending) =
            state.by_source.get(&source).map_or((0, 0), |counts| (counts.live, counts.pending.len()));
        if state.live >= caps.total {
            return Err(Refusal::Total(caps.total));
        }
        if live >= caps.per_source {
            return Err(Refusal::PerSource(caps.per_source));
        }
        if pending >= caps.pending_per_source {
            return Err(Refusal::PendingPerSource(caps.pending_per_source));
        }
        if state.pending >= caps.pending_total && !state.evict_from_busiest(pending) {
            return Err(Refusal::PendingTotal(caps.pending_total));
        }
        let (id, eviction) = (state.next_id, Arc::new(Notify::new()));
        state.next_id += 1;
        state.live += 1;
        state.pending += 1;
        let entry = state.by_source.entry(source).or_default();
        entry.live += 1;
        entry.pending.push_back((id, eviction.clone()));
        Ok(SourceSlot { limits: self.clone(), source, id, eviction })
    }

    /// Live and pending connections counted now.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (state.live, state.pending)
    }

    /// Stops counting connection `id` as pending (if it still is: an evicted one is not), and
    /// as live too when `live`.
    fn release(&self, source: Source, id: u64, live: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(counts) = state.by_source.get_mut(&source) else { return };
        let was_pending = match counts.pending.iter().position(|(pending, _)| *pending == id) {
            Some(at) => counts.pending.remove(at).is_some(),
            None => false,
        };
        counts.live -= usize::from(live);
        if counts.live == 0 {
            state.by_source.remove(&source);
        }
        state.live -= usize::from(live);
        state.pending -= usize::from(was_pending);
    }
}

/// One counted connection: pending until [`SourceSlot::settle`] (or its eviction), live until
/// dropped.
#[derive(Debug)]
pub struct SourceSlot {
    limits: Arc<SourceLimits>,
    source: Source,
    id: u64,
    eviction: Arc<Notify>,
}

impl SourceSlot {
    /// The connection is no longer pending (it was admitted).
    pub fn settle(&mut self) {
        self.limits.release(self.source, self.id, false);
    }

    /// Signalled (`notified()` resolves) when the connection, still pending, gave its place to
    /// a newcomer from a less busy source: it should close. Never once settled.
    pub fn evicted(&self) -> Arc<Notify> {
        self.eviction.clone()
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        self.limits.release(self.source, self.id, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> SourceCaps {
        SourceCaps { total: 5, per_source: 3, pending_total: 4, pending_per_source: 2 }
    }

    #[test]
    fn pending_per_source_then_settling_frees_a_pending_place() {
        let limits = SourceLimits::new(caps());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mut first = limits.open(a).unwrap();
        let _second = limits.open(a).unwrap();
        assert_eq!(limits.open(a).unwrap_err(), Refusal::PendingPerSource(2));
        first.settle();
        let _third = limits.open(a).unwrap();
        assert_eq!(limits.open(a).unwrap_err(), Refusal::PerSource(3));
        // Another source is not affected by this one's limits.
        let _other = limits.open("10.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(limits.counts(), (4, 3));
    }

    #[test]
    fn totals_bound_every_source_together() {
        let limits = SourceLimits::new(caps());
        let slots: Vec<_> =
            (1..=4).map(|i| limits.open(format!("10.0.0.{i}").parse().unwrap()).unwrap()).collect();
        assert_eq!(limits.open("10.0.0.9".parse().unwrap()).unwrap_err(), Refusal::PendingTotal(4));
        let mut slots = slots;
        for slot in &mut slots {
            slot.settle();
        }
        let _fifth = limits.open("10.0.0.9".parse().unwrap()).unwrap();
        assert_eq!(limits.open("10.0.0.10".parse().unwrap()).unwrap_err(), Refusal::Total(5));
        drop(slots);
        assert_eq!(limits.counts(), (1, 1));
    }

    #[test]
    fn ipv6_counts_by_prefix_and_mapped_ipv4_as_ipv4() {
        let limits = SourceLimits::new(SourceCaps {
            total: 10,
            per_source: 10,
            pending_total: 10,
            pending_per_source: 2,
        });
        let _a = limits.open("2001:db8::1".parse().unwrap()).unwrap();
        let _b = limits.open("2001:db8::ffff:2".parse().unwrap()).unwrap();
        assert_eq!(limits.open("2001:db8::3".parse().unwrap()).unwrap_err(), Refusal::PendingPerSource(2));
        let _c = limits.open("2001:db8:0:1::1".parse().unwrap()).unwrap();
        let _d = limits.open("::ffff:10.0.0.1".parse().unwrap()).unwrap();
        let _e = limits.open("10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(limits.open("10.0.0.1".parse().unwrap()).unwrap_err(), Refusal::PendingPerSource(2));
    }

    #[tokio::test]
    async fn with_every_pending_place_taken_a_newcomer_evicts_the_busiest_sources_oldest() {
        let limits = SourceLimits::new(SourceCaps {
            total: 100,
            per_source: 100,
            pending_total: 4,
            pending_per_source: 3,
        });
        let ip = |last: u8| IpAddr::from([10, 0, 0, last]);
        let busy: Vec<SourceSlot> = (0..3).map(|_| limits.open(ip(1)).unwrap()).collect();
        let _other = limits.open(ip(2)).unwrap();
        let evicted = busy[0].evicted();
        let newcomer = limits.open(ip(3)).expect("takes the place of the busiest source's oldest");
        assert_eq!(limits.counts(), (5, 4), "the evicted one is live until it closes, not pending");
        let signalled = tokio::time::timeout(std::time::Duration::from_secs(1), evicted.notified()).await;
        assert!(signalled.is_ok(), "the oldest of the busiest source is told to close");
        // The busiest source now holds two, as many as a newcomer's would after joining:
        // sources hold 2, 1, 1, and a fourth source may still take one of the two.
        let _fourth = limits.open(ip(4)).unwrap();
        assert_eq!(limits.open(ip(5)).unwrap_err(), Refusal::PendingTotal(4), "every source holds one");
        assert_eq!(limits.open(ip(1)).unwrap_err(), Refusal::PendingTotal(4), "the busy source gains none");
        drop(busy);
        drop(newcomer);
        assert_eq!(limits.counts(), (2, 2));
    }

    #[test]
    fn a_dropped_slot_releases_everything_it_held() {
        let limits = SourceLimits::new(caps());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let slot = limits.open(a).unwrap();
        let mut settled = limits.open(a).unwrap();
        settled.settle();
        drop(slot);
        drop(settled);
        assert_eq!(limits.counts(), (0, 0));
        assert!(limits.state.lock().unwrap().by_source.is_empty());
    }
}
