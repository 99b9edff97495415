//! A link's loop: connect to one base, run the connection's tasks until it closes, back off,
//! connect again. A base of several nodes (`alternates`) is one link: each round dials its
//! nodes in turn, from the one after the node last failed or lost, and backs off only when
//! none answered.
//!
//! Each configured base gets its own task, so bases are independent and reached in parallel.
//! While a command connection lives, the link serves the base's calls (the method table, bound
//! by [`dial::connect`]), serves the base's log channel requests, forwards logger events and
//! drives the spool's sender on the log channel (or the command connection). When the
//! connection closes, everything about it is dropped and the next connection starts from the
//! beginning (BUG-7, BUG-8). Reconnection waits grow exponentially with full jitter up to a
//! cap, after a random first delay, so a fleet of sentries does not return in step when a base
//! restarts (BUG-12).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use kraken_rpc::ServiceTable;
use sentry_protocol::names::sentry_method;
use tokio::sync::mpsc::UnboundedSender;

use super::dial::{self, Connected};
use super::log_channel::{self, LogChannel};
use super::logger_events::forward_logger_events;
use super::settings::{LinkEvent, LinkSettings};
use crate::commands::SentryService;
use crate::config::BaseNode;
use crate::spool::sender::send_spooled;

/// The first wait before reconnecting; it doubles up to the cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// The ceiling of the random wait before the first connection.
const FIRST_DELAY: Duration = Duration::from_secs(2);

/// Runs the link until the task is dropped. `service` answers the base's calls (each command
/// connection gets its own, knowing its caller); `events` receives what happens (for tests and
/// diagnostics); a closed receiver is ignored.
pub async fn run_link(
    settings: LinkSettings,
    service: Arc<SentryService>,
    events: Option<UnboundedSender<LinkEvent>>,
) {
    let settings = Arc::new(settings);
    let name = settings.base.name.clone();
    let report = |event: LinkEvent| {
        if let Some(events) = &events {
            let _ = events.send(event);
        }
    };
    if !service.answers(sentry_method::CONNECT_LOG_CHANNEL) {
        tracing::warn!(base = %name, "the method table has no connectLogChannel: records will wait for the log channel's grace, then take the command connection");
    }
    tokio::time::sleep(jitter(FIRST_DELAY)).await;
    let nodes = settings.base.nodes();
    // The node tried first in the next round: the one in use, until it fails or is lost.
    let mut first = 0;
    let mut attempt: u32 = 0;
    loop {
        let start = first;
        for offset in 0..nodes.len() {
            let index = (start + offset) % nodes.len();
            let node = &nodes[index];
            let started = Instant::now();
            match dial::connect(&settings, node, &service).await {
                Ok(connected) => {
                    tracing::info!(base = %name, %node, "connected to the base");
                    report(LinkEvent::Connected { base: name.clone(), hello: connected.hello.clone() });
                    let reason = serve_connection(&settings, node, connected).await;
                    tracing::warn!(base = %name, %node, %reason, "connection to the base lost");
                    report(LinkEvent::Disconnected { base: name.clone(), reason });
                    if started.elapsed() >= STABLE_AFTER {
                        attempt = 0;
                    }
                    // A lost node is tried last next time: another may have its sentries now.
                    first = index + 1;
                    break;
                }
                Err(error) => {
                    tracing::warn!(base = %name, %node, error = %format!("{error:#}"), "cannot link to the base");
                    report(LinkEvent::Failed { base: name.clone(), error: format!("{error:#}") });
                    first = index + 1;
                }
            }
        }
        tokio::time::sleep(jitter(backoff_ceiling(attempt, settings.max_backoff))).await;
        attempt = attempt.saturating_add(1);
    }
}

/// Runs one command connection's tasks until it closes; returns why it closed.
async fn serve_connection(settings: &Arc<LinkSettings>, node: &BaseNode, connected: Connected) -> String {
    let batched = connected.acknowledges_batches();
    let Connected { connection, session, log_requests, .. } = connected;
    let log_channel = Arc::new(LogChannel::default());
    let log_task = tokio::spawn(log_channel::serve_requests(
        log_requests,
        log_channel.clone(),
        connection.clone(),
        settings.guid.clone(),
        settings.setup_timeout,
        {
            // The log channel goes to the node the command connection is on.
            let (settings, node) = (settings.clone(), node.clone());
            move || {
                let (settings, node) = (settings.clone(), node.clone());
                async move { dial::dial(&settings, &node, ServiceTable::new()).await }
            }
        },
    ));
    let events = settings.loggers.as_ref().map(|registry| {
        // Subscribed before the snapshot is taken: a change in between is told twice rather
        // than missed.
        let changes = registry.event_sender().subscribe();
        let present = registry.announcements();
        tokio::spawn(forward_logger_events(session.clone(), present, changes, settings.guid.clone()))
    });
    let name = &settings.base.name;
    let reason = match &settings.spool {
        Some(spool) => tokio::select! {
            reason = connection.closed() => reason,
            sent = send_spooled(&session, log_channel.watch(), spool, name, &settings.guid, batched) => {
                let reason = format!("{:#}", sent.err().unwrap_or_else(|| anyhow!("sender ended")));
                connection.close(reason.clone());
                reason
            }
        },
        None => connection.closed().await,
    };
    log_task.abort();
    log_channel.close(&format!("the command connection closed: {reason}"));
    if let Some(events) = events {
        events.abort();
    }
    reason
}

/// The longest wait before attempt `attempt + 1`: [`FIRST_BACKOFF`] doubled per attempt, up to
/// `max`.
fn backoff_ceiling(attempt: u32, max: Duration) -> Duration {
    FIRST_BACKOFF.saturating_mul(1 << attempt.min(16)).min(max)
}

/// A uniformly random duration in `[0, ceiling]` ("full jitter").
fn jitter(ceiling: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(if nanos == 0 { 0 } else { random % (nanos + 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_ceiling_and_varies() {
        let ceiling = Duration::from_millis(500);
        let samples: Vec<Duration> = (0..50).map(|_| jitter(ceiling)).collect();
        assert!(samples.iter().all(|d| *d <= ceiling));
        assert!(samples.iter().any(|d| *d != samples[0]), "no variation: {samples:?}");
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let max = Duration::from_secs(60);
        let ceilings: Vec<u64> = (0..10).map(|n| backoff_ceiling(n, max).as_millis() as u64).collect();
        assert_eq!(ceilings, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
        assert_eq!(backoff_ceiling(u32::MAX, max), max, "no overflow however many attempts");
    }
}
