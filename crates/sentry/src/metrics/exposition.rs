//! One scrape's text: the metrics read now from the logger registry, the store's spool totals
//! and the link states, in the Prometheus text format (OpenMetrics, by `prometheus-client`).
//! A scrape's text is kept for [`KEEP_FOR`], so scrapes cost the store at most one read of its
//! totals a second however often they come.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::links::LinkStates;
use crate::loggers::LoggerRegistry;
use crate::store::Store;

/// How long one scrape's text is served again.
pub const KEEP_FOR: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoggerLabel {
    logger: String,
    factory: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BaseLabel {
    base: String,
}

/// A label value as the exposition format writes it: `\`, `"` and line feeds escaped
/// (prometheus-client 0.24 writes label values as they are given, and a logger's name is
/// chosen by whoever creates it).
fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Where the metrics are read from.
#[derive(Clone)]
pub struct MetricsSource {
    pub registry: Arc<LoggerRegistry>,
    pub store: Arc<Store>,
    pub links: LinkStates,
    kept: Arc<Mutex<Option<(Instant, String)>>>,
}

impl MetricsSource {
    pub fn new(registry: Arc<LoggerRegistry>, store: Arc<Store>, links: LinkStates) -> MetricsSource {
        MetricsSource { registry, store, links, kept: Arc::default() }
    }

    /// The text of a scrape now (or of one less than [`KEEP_FOR`] ago).
    pub fn text(&self) -> String {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, text)) = kept.as_ref().filter(|(at, _)| at.elapsed() < KEEP_FOR) {
            let _ = at;
            return text.clone();
        }
        let text = self.render();
        *kept = Some((Instant::now(), text.clone()));
        text
    }

    fn render(&self) -> String {
        let mut registry = Registry::with_prefix("kraken_sentry");
        let made = Family::<LoggerLabel, Counter>::default();
        let runs = Family::<LoggerLabel, Counter>::default();
        let failures = Family::<LoggerLabel, Counter>::default();
        let running = Family::<LoggerLabel, Gauge>::default();
        for (logger, factory, is_running, stats) in self.registry.run_stats() {
            let label = LoggerLabel { logger: label_value(&logger), factory: label_value(&factory) };
            made.get_or_create(&label).inc_by(stats.log_count);
            runs.get_or_create(&label).inc_by(stats.runs);
            failures.get_or_create(&label).inc_by(stats.failed_runs);
            running.get_or_create(&label).set(i64::from(is_running));
        }
        registry.register("records_made", "Records a logger made since the agent started", made);
        registry.register("logger_runs", "Runs of a logger since the agent started", runs);
        registry.register("logger_failures", "Failed runs of a logger since the agent started", failures);
        registry.register("logger_running", "1 while a logger runs", running);

        let spool_bytes = Family::<BaseLabel, Gauge>::default();
        let spool_dropped = Family::<BaseLabel, Counter>::default();
        let spool_age = Family::<BaseLabel, Gauge>::default();
        let connected = Family::<BaseLabel, Gauge>::default();
        let link_failures = Family::<BaseLabel, Counter>::default();
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        for (base, link) in self.links.snapshot() {
            let label = BaseLabel { base: label_value(&base) };
            connected.get_or_create(&label).set(i64::from(link.connected));
            link_failures.get_or_create(&label).inc_by(link.failures);
            match self.store.spool_gauges(&base) {
                Ok((bytes, dropped, oldest_ms)) => {
                    spool_bytes.get_or_create(&label).set(i64::try_from(bytes).unwrap_or(i64::MAX));
                    spool_dropped.get_or_create(&label).inc_by(dropped);
                    let age = oldest_ms.map_or(0, |oldest| (now_ms - oldest).max(0) / 1000);
                    spool_age.get_or_create(&label).set(age);
                }
                Err(error) => tracing::debug!(%error, %base, "metrics: cannot read the spool"),
            }
        }
        registry.register("spool_bytes", "Bytes of records waiting in a base's spool", spool_bytes);
        registry.register(
            "spool_dropped",
            "Records dropped from a base's full spool, all time",
            spool_dropped,
        );
        registry.register(
            "spool_oldest_age_seconds",
            "Age (by its date) of the oldest record waiting for a base; 0 when none waits",
            spool_age,
        );
        registry.register("link_connected", "1 while the agent is linked to a base", connected);
        registry.register("link_failures", "Failed attempts and lost connections to a base", link_failures);
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\",factory=\"x\\\n"), "a\\\",factory=\\\"x\\\\\\n");
        assert_eq!(label_value("cpu"), "cpu");
    }
}
