//! The base's own metrics, in the Prometheus exposition format on the admin listener's
//! `/metrics`, behind the metrics token (`data_dir/metrics.token`, good for nothing else) or
//! the admin token: Prometheus sends it with `authorization: { credentials_file: ... }`.
//!
//! Counted as things happen: records received and stored, how long a batch took from
//! submission to commit, failed appends, spool drops sentries reported (the writer's
//! [`WriterMetrics`]), and each forward output's records sent, dropped and failures
//! ([`OutputStats`]), each output's connection, and its backlog as the output last measured it
//! (every 5 s). Read when scraped: sentries connected, storage available.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::forward::OutputStats;
use crate::storage::WriterMetrics;

/// The labels of a forward output's metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutputLabel {
    pub output: String,
}

/// Every metric of one base process.
pub struct BaseMetrics {
    registry: Registry,
    pub writer: WriterMetrics,
    pub sentries_connected: Gauge,
    pub storage_available: Gauge,
    forward_sent: Family<OutputLabel, Counter>,
    forward_sent_bytes: Family<OutputLabel, Counter>,
    forward_dropped: Family<OutputLabel, Counter>,
    forward_failures: Family<OutputLabel, Counter>,
    forward_backlog: Family<OutputLabel, Gauge>,
    forward_connected: Family<OutputLabel, Gauge>,
}

impl Default for BaseMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl BaseMetrics {
    pub fn new() -> BaseMetrics {
        let mut registry = Registry::with_prefix("kraken_base");
        let writer = WriterMetrics::default();
        registry.register("records_received", "Records received from sentries", writer.received.clone());
        registry.register(
            "records_stored",
            "Records committed to storage (resends it skipped included)",
            writer.stored.clone(),
        );
        registry.register(
            "batch_store_seconds",
            "Time from a batch's arrival to its commit",
            writer.store_seconds.clone(),
        );
        registry.register("storage_errors", "Appends the storage failed", writer.storage_errors.clone());
        registry.register(
            "spool_drops_reported",
            "Records sentries reported dropping from a full spool",
            writer.spool_drops_reported.clone(),
        );
        let sentries_connected = Gauge::default();
        registry.register(
            "sentries_connected",
            "Sentries connected to this node",
            sentries_connected.clone(),
        );
        let storage_available = Gauge::default();
        registry.register("storage_available", "1 when the storage takes records", storage_available.clone());
        let metrics = BaseMetrics {
            writer,
            sentries_connected,
            storage_available,
            forward_sent: Family::default(),
            forward_sent_bytes: Family::default(),
            forward_dropped: Family::default(),
            forward_failures: Family::default(),
            forward_backlog: Family::default(),
            forward_connected: Family::default(),
            registry,
        };
        let mut metrics = metrics;
        let families = [
            ("forward_sent", "Records written to a forward output's receiver", metrics.forward_sent.clone()),
            (
                "forward_sent_bytes",
                "Bytes written to a forward output's receiver",
                metrics.forward_sent_bytes.clone(),
            ),
            (
                "forward_dropped",
                "Records a forward output skipped, its backlog over max_backlog",
                metrics.forward_dropped.clone(),
            ),
            (
                "forward_failures",
                "Failed or lost connections of a forward output",
                metrics.forward_failures.clone(),
            ),
        ];
        for (name, help, family) in families {
            metrics.registry.register(name, help, family);
        }
        metrics.registry.register(
            "forward_backlog_records",
            "Records stored and not yet written to a forward output (its queue)",
            metrics.forward_backlog.clone(),
        );
        metrics.registry.register(
            "forward_connected",
            "1 while a forward output is connected",
            metrics.forward_connected.clone(),
        );
        metrics
    }

    /// The counters of forward output `name`, registered.
    pub fn output(&self, name: &str) -> Arc<OutputStats> {
        let label = OutputLabel { output: name.to_owned() };
        Arc::new(OutputStats {
            sent: self.forward_sent.get_or_create(&label).clone(),
            sent_bytes: self.forward_sent_bytes.get_or_create(&label).clone(),
            dropped: self.forward_dropped.get_or_create(&label).clone(),
            failures: self.forward_failures.get_or_create(&label).clone(),
            backlog: self.forward_backlog.get_or_create(&label).clone(),
            connected: self.forward_connected.get_or_create(&label).clone(),
        })
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
