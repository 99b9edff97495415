//! What an output has done, shared with the metrics ([`crate::metrics`]): handles it counts
//! into, read at every scrape.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// One output's counters.
#[derive(Debug, Default)]
pub struct OutputStats {
    /// Records written to the receiver (a record sent again counts again).
    pub sent: Counter,
    pub sent_bytes: Counter,
    /// Records skipped because the backlog was over `max_backlog`.
    pub dropped: Counter,
    /// Failed connections and connections lost.
    pub failures: Counter,
    /// Records stored and not yet written, as last measured.
    pub backlog: Gauge,
    /// 1 while connected.
    pub connected: Gauge,
}
