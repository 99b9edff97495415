//! Each base's link as the metrics show it: connected or not, and how many attempts failed or
//! connections were lost, kept from the links' own reports ([`LinkEvent`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::link::LinkEvent;

/// One base's link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkState {
    pub connected: bool,
    /// Failed attempts and lost connections.
    pub failures: u64,
}

/// Every configured base's link.
#[derive(Debug, Clone, Default)]
pub struct LinkStates(Arc<Mutex<BTreeMap<String, LinkState>>>);

impl LinkStates {
    /// Every base in `bases`, not connected yet.
    pub fn new(bases: impl IntoIterator<Item = String>) -> LinkStates {
        LinkStates(Arc::new(Mutex::new(bases.into_iter().map(|base| (base, LinkState::default())).collect())))
    }

    /// Takes one report.
    pub fn apply(&self, event: &LinkEvent) {
        let mut states = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            LinkEvent::Connected { base, .. } => states.entry(base.clone()).or_default().connected = true,
            LinkEvent::Disconnected { base, .. } | LinkEvent::Failed { base, .. } => {
                let state = states.entry(base.clone()).or_default();
                state.connected = false;
                state.failures += 1;
            }
        }
    }

    /// Applies every report `events` brings, until its senders are gone.
    pub async fn follow(self, mut events: UnboundedReceiver<LinkEvent>) {
        while let Some(event) = events.recv().await {
            self.apply(&event);
        }
    }

    /// (base, state) of each base.
    pub fn snapshot(&self) -> Vec<(String, LinkState)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(b, s)| (b.clone(), *s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_set_the_state_and_count_failures() {
        let states = LinkStates::new(["central".to_owned()]);
        assert_eq!(states.snapshot(), [("central".into(), LinkState::default())]);
        let base = || "central".to_owned();
        states.apply(&LinkEvent::Failed { base: base(), error: "refused".into() });
        states.apply(&LinkEvent::Connected { base: base(), hello: kraken_codec::Value::Null });
        assert_eq!(states.snapshot()[0].1, LinkState { connected: true, failures: 1 });
        states.apply(&LinkEvent::Disconnected { base: base(), reason: "closed".into() });
        assert_eq!(states.snapshot()[0].1, LinkState { connected: false, failures: 2 });
    }
}
