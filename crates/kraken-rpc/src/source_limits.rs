//! Connection accounting of a listening endpoint, by source address: how many connections are
//! live in all and per source, and how many of them are still *pending* (handshaking, or not yet
//! admitted by the application). A new connection over any limit is refused at once, so that
//! idle or hostile sockets from one source can neither delay nor crowd out other clients.
//!
//! IPv6 sources are counted by /64 prefix (one host usually holds a whole /64), IPv4-mapped
//! IPv6 addresses as the IPv4 address they carry.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};

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

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    live: usize,
    pending: usize,
}

#[derive(Debug, Default)]
struct State {
    by_source: HashMap<Source, Counts>,
    live: usize,
    pending: usize,
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
        let counts = state.by_source.get(&source).copied().unwrap_or_default();
        if state.live >= caps.total {
            return Err(Refusal::Total(caps.total));
        }
        if counts.live >= caps.per_source {
            return Err(Refusal::PerSource(caps.per_source));
        }
        if state.pending >= caps.pending_total {
            return Err(Refusal::PendingTotal(caps.pending_total));
        }
        if counts.pending >= caps.pending_per_source {
            return Err(Refusal::PendingPerSource(caps.pending_per_source));
        }
        state.live += 1;
        state.pending += 1;
        let entry = state.by_source.entry(source).or_default();
        entry.live += 1;
        entry.pending += 1;
        Ok(SourceSlot { limits: self.clone(), source, pending: true })
    }

    /// Live and pending connections counted now.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (state.live, state.pending)
    }

    fn release(&self, source: Source, live: bool, pending: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.live -= usize::from(live);
        state.pending -= usize::from(pending);
        if let Some(counts) = state.by_source.get_mut(&source) {
            counts.live -= usize::from(live);
            counts.pending -= usize::from(pending);
            if counts.live == 0 {
                state.by_source.remove(&source);
            }
        }
    }
}

/// One counted connection: pending until [`SourceSlot::settle`], live until dropped.
#[derive(Debug)]
pub struct SourceSlot {
    limits: Arc<SourceLimits>,
    source: Source,
    pending: bool,
}

impl SourceSlot {
    /// The connection is no longer pending (it was admitted).
    pub fn settle(&mut self) {
        if std::mem::take(&mut self.pending) {
            self.limits.release(self.source, false, true);
        }
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        self.limits.release(self.source, true, self.pending);
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
