//! The agent in the foreground: open the state, start the loggers, run until told to stop.
//!
//! [`Agent::start`] opens the state store in the configured data directory (kept from other
//! accounts: `store::private_files`), keeps and names in a warning the spool of a base no
//! longer configured, creates the
//! default loggers on the very first start (cpu, memory, network, disk, and on Windows the
//! event loggers security, system and application; running at the configured interval), and
//! starts every logger the store marks running. Records go, for the
//! loggers a base connected, to that base's durable spool, and to the local JSON-lines sink
//! (standard output when no base is configured, or the `[output]` file that rotates).
//! [`Agent::run_until_signalled`] links to every configured base (one task each, serving the
//! base's commands), applies operators' changes from the store every second
//! and returns on Ctrl-C (or SIGTERM), after stopping the loggers cleanly; their running flags
//! stay set so the same loggers start next time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use kraken_codec::Map;
use tokio::sync::mpsc::UnboundedSender;

use crate::commands::{CommandContext, FileRoots, SentryService, sentry_methods};
use crate::config::{Config, LocalOutput};
use crate::link::{LinkEvent, LinkSettings, run_link};
use crate::loggers::{FactoryContext, JsonLinesSink, LoggerRegistry, SinkSet, standard_factories};
use crate::metrics::{LinkStates, MetricsSource};
use crate::spool::{SpoolAccess, SpoolPressure, SpoolSink};
use crate::store::Store;

/// The loggers made on the first start: (name, factory).
pub const DEFAULT_LOGGERS: &[(&str, &str)] =
    &[("cpu", "cpu-usage"), ("memory", "memory-usage"), ("network", "network-usage"), ("disk", "disk-usage")];

/// The event loggers made on the first start on Windows: (name, channel). They start after the
/// newest event of their channel (`start_at = now`): nothing old is replayed (BUG-40).
pub const DEFAULT_EVENT_LOGGERS: &[(&str, &str)] =
    &[("security", "Security"), ("system", "System"), ("application", "Application")];

/// How long shutdown waits for each logger's run in progress.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// A started agent.
pub struct Agent {
    pub config: Config,
    pub store: Arc<Store>,
    pub registry: Arc<LoggerRegistry>,
    pub commands: Arc<CommandContext>,
    output: Option<Arc<JsonLinesSink>>,
    spool: Arc<SpoolSink>,
}

impl Agent {
    /// Opens the state and starts the loggers marked running. `output` overrides the
    /// configured record file.
    pub fn start(config: Config) -> anyhow::Result<Agent> {
        let store = Arc::new(Store::open(&config.data_dir)?);
        report_removed_bases(&store, &config)?;
        let host: Arc<dyn sentry_host::HostFacts> = Arc::new(sentry_host::SystemHost);
        let sinks = Arc::new(SinkSet::default());
        // The spool first: a record shown in the local output is already safe for the bases.
        let factories = standard_factories();
        let spool = Arc::new(
            SpoolSink::new(store.clone(), config.spool.max_bytes, &factories)
                .with_bases_configured(!config.bases.is_empty()),
        );
        sinks.add(spool.clone());
        let output = local_sink(&config)?;
        if let Some(output) = &output {
            sinks.add(output.clone());
        }
        let bases = config.bases.iter().map(|base| base.name.clone()).collect();
        let delivery = SpoolPressure::new(store.clone(), spool.clone(), bases, config.spool.max_bytes)
            .away_after(Duration::from_millis(config.spool.away_after_ms));
        let context =
            FactoryContext { host: host.clone(), store: store.clone(), delivery: Some(Arc::new(delivery)) };
        let registry =
            Arc::new(LoggerRegistry::new(factories, context, sinks, config.loggers.min_interval_ms));
        if config.loggers.create_defaults && !store.has_meta("default_loggers_created")? {
            create_default_loggers(&store, &registry, config.loggers.default_interval_ms)?;
            // Marked only once all four exist, so a crash in between creates the rest next time.
            store.set_once("default_loggers_created", "1")?;
        }
        // Its own mark: installs made before the event logger existed get them too.
        if cfg!(windows)
            && config.loggers.create_defaults
            && !store.has_meta("default_event_loggers_created")?
        {
            create_default_event_loggers(&store, &registry, config.loggers.default_interval_ms)?;
            store.set_once("default_event_loggers_created", "1")?;
        }
        let started = registry
            .boot()
            .with_context(|| format!("cannot load the loggers from {}", store.path().display()))?;
        tracing::info!(store = %store.path().display(), started, "agent started");
        let commands = Arc::new(CommandContext {
            host,
            sampling_window: Duration::from_millis(config.commands.process_sample_ms),
            file_roots: FileRoots::from_settings(
                config.commands.list_files,
                config.commands.list_files_roots.as_deref(),
            ),
            loggers: Some(registry.clone()),
        });
        Ok(Agent { config, store, registry, commands, output, spool })
    }

    /// Runs until Ctrl-C or SIGTERM (or until standard output is closed), then stops the
    /// loggers.
    pub fn run_until_signalled(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal())
    }

    /// Runs until `stop` resolves (to the reason, for the log) or standard output is closed,
    /// then stops the loggers: their last runs commit what they read, so the spool and the
    /// cursors are committed when this returns. A separate thread applies operators' changes
    /// from the store every second, so a slow change never delays the response to a stop.
    pub fn run_until(self, stop: impl std::future::Future<Output = &'static str>) -> anyhow::Result<()> {
        let stopping = Arc::new(AtomicBool::new(false));
        let reconciler = {
            let (registry, stopping) = (self.registry.clone(), stopping.clone());
            std::thread::Builder::new().name("reconcile".into()).spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_secs(1));
                    if let Err(error) = registry.reconcile() {
                        tracing::warn!(%error, "applying changes from the state store failed");
                    }
                }
            })?
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let output_closed: anyhow::Result<bool> = runtime.block_on(async {
            let links_state = LinkStates::new(self.config.bases.iter().map(|base| base.name.clone()));
            let (link_events, reports) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(links_state.clone().follow(reports));
            let mut links = self.spawn_links(link_events);
            if let Some(listen) = self.config.metrics.listen {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("[metrics] listen: cannot listen on {listen}"))?;
                tracing::info!(%listen, "metrics served at /metrics");
                let source = MetricsSource::new(self.registry.clone(), self.store.clone(), links_state);
                links.push(tokio::spawn(crate::metrics::http::serve(listener, source)));
            }
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let shutdown = stop;
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    reason = &mut shutdown => {
                        tracing::info!(reason, "stopping");
                        links.iter().for_each(tokio::task::JoinHandle::abort);
                        return Ok(false);
                    }
                    _ = tick.tick() => {
                        if self.output.as_ref().is_some_and(|output| output.is_closed()) {
                            tracing::error!("standard output was closed; stopping");
                            links.iter().for_each(tokio::task::JoinHandle::abort);
                            return Ok(true);
                        }
                    }
                }
            }
        });
        stopping.store(true, Ordering::Relaxed);
        let _ = reconciler.join();
        self.registry.shutdown(SHUTDOWN_WAIT);
        let output_closed = output_closed?;
        tracing::info!("agent stopped");
        if output_closed {
            anyhow::bail!("standard output was closed");
        }
        Ok(())
    }
}

impl Agent {
    /// One task per configured base (inside the agent's runtime).
    fn spawn_links(&self, events: UnboundedSender<LinkEvent>) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(guid) = self.config.guid.clone() else { return Vec::new() };
        let service = SentryService::new(Arc::new(sentry_methods()), self.commands.clone());
        let spool = SpoolAccess { store: self.store.clone(), wake: self.spool.wake.clone() };
        self.config
            .bases
            .iter()
            .map(|base| {
                let settings = LinkSettings {
                    base: base.clone(),
                    guid: guid.clone(),
                    max_backoff: Duration::from_millis(self.config.links.max_backoff_ms),
                    setup_timeout: Duration::from_millis(self.config.links.setup_timeout_ms),
                    spool: Some(spool.clone()),
                    loggers: Some(self.registry.clone()),
                };
                tokio::spawn(run_link(settings, service.clone(), Some(events.clone())))
            })
            .collect()
    }
}

/// Bases no longer configured (removed or renamed): their subscriptions are dropped, so their
/// spools stop growing, and each spool that still holds records is kept and named in a warning
/// with what to do (`kraken-sentry spool forget` deletes it).
fn report_removed_bases(store: &Store, config: &Config) -> anyhow::Result<()> {
    let configured: Vec<&str> = config.bases.iter().map(|base| base.name.as_str()).collect();
    for base in store.unsubscribe_bases_except(&configured)? {
        tracing::info!(%base, "base no longer configured: its logger subscriptions are dropped");
    }
    for spool in store.spools()? {
        if spool.records > 0 && !configured.contains(&spool.base.as_str()) {
            tracing::warn!(
                base = %spool.base,
                records = spool.records,
                bytes = spool.bytes,
                "a spool is kept for a base no longer configured: configure a [[base]] named {:?} again \
                 to deliver its records, or delete them with `kraken-sentry spool forget {:?}`",
                spool.base,
                spool.base
            );
        }
    }
    Ok(())
}

/// The local record sink, if records are written locally ([`Config::local_output`]).
fn local_sink(config: &Config) -> anyhow::Result<Option<Arc<JsonLinesSink>>> {
    Ok(match config.local_output() {
        LocalOutput::None => None,
        LocalOutput::Stdout => Some(Arc::new(JsonLinesSink::stdout())),
        LocalOutput::File(path) => Some(Arc::new(
            JsonLinesSink::file(path, config.output.max_bytes, config.output.keep)
                .with_context(|| format!("cannot open the record file {}", path.display()))?,
        )),
    })
}

fn create_default_loggers(store: &Store, registry: &LoggerRegistry, interval_ms: u32) -> anyhow::Result<()> {
    for (name, factory) in DEFAULT_LOGGERS {
        if store.logger(name)?.is_some() {
            continue; // made before a crash, or by an operator
        }
        registry.create(factory, name, Some("created at first start"), &Map::new())?;
        store.set_logger_running(name, true, Some(interval_ms))?;
    }
    Ok(())
}

fn create_default_event_loggers(
    store: &Store,
    registry: &LoggerRegistry,
    interval_ms: u32,
) -> anyhow::Result<()> {
    for (name, channel) in DEFAULT_EVENT_LOGGERS {
        if store.logger(name)?.is_some() {
            continue;
        }
        let props = kraken_codec::map! { "event_source" => *channel, "start_at" => "now" };
        let props = props.as_map().cloned().unwrap_or_default();
        registry.create(
            crate::loggers::windows_event::FACTORY_NAME,
            name,
            Some("created at first start"),
            &props,
        )?;
        store.set_logger_running(name, true, Some(interval_ms))?;
    }
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one; gives the signal's name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return ctrl_c().await,
        };
        tokio::select! {
            name = ctrl_c() => name,
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        ctrl_c().await
    }
}

async fn ctrl_c() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "Ctrl-C",
        Err(_) => std::future::pending().await,
    }
}
