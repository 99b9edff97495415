//! `kraken-base serve`, the composition root: from the configuration it checks the secrets,
//! makes the data directory private, builds the storage, the sentry listener ([`Base`]), the
//! admin API, the retention task and the forward outputs, runs them until Ctrl-C or SIGTERM ([`StopSignals`]), then
//! stops in order: the admin API stops accepting (requests in progress get a grace period,
//! and may still call sentries), retention ends its current step, the forward outputs save
//! what was delivered, and the base stops
//! listening, closes the sentries' connections and commits the records it received. Then it
//! returns, and the process exits 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use kraken_rpc::tls::{CrlWatch, TlsIdentity, TrustedCas};

use crate::access::SentryAccess;

use crate::admin::auth::Gate;
use crate::admin::client::own_url;
use crate::admin::forward::Peers;
use crate::admin::{AdminLimits, AdminServer, AdminState, AdminToken, router};
use crate::config::{BaseConfig, StorageConfig};
use crate::console::{Login, Sessions};
use crate::forward::Forwarders;
use crate::open_files;
use crate::private_files;
use crate::server::{Base, BaseSettings};
use crate::stop_signals::StopSignals;
use crate::storage::retention::Retention;
use crate::storage::{ClickHouseStorage, SqliteStorage, Storage};

/// The base's own RPC GUID, presented when connections are peered (as the original base's).
const BASE_RPC_GUID: &str = "kraken-base";

/// How long shutdown waits for the records already received to be committed.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);
/// How long tasks still running when the base has stopped (an admin request past its grace)
/// are given before the runtime drops them.
const STRAGGLER_LIMIT: Duration = Duration::from_secs(1);

/// How often a node announces itself to the others sharing its storage.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);

/// Announces this node (and its admin API's `url`) every [`ANNOUNCE_EVERY`], for as long as
/// the base runs. Once the storage is back after an outage, the sentries that connected
/// meanwhile (their connection could not be recorded) are recorded, so other nodes find them.
async fn announce_node(base: Arc<Base>, url: String) {
    let mut failing = false;
    loop {
        let (storage, url) = (base.storage.clone(), url.clone());
        match tokio::task::spawn_blocking(move || storage.announce_node(&url)).await {
            Ok(Ok(())) if failing => {
                failing = false;
                let (storage, held) = (base.storage.clone(), base.connected_sentries());
                let recorded = tokio::task::spawn_blocking(move || {
                    held.iter().try_for_each(|sentry| {
                        storage.sentry_connected(&sentry.guid, sentry.address.as_deref().unwrap_or_default())
                    })
                });
                if let Ok(Err(error)) = recorded.await {
                    tracing::warn!(%error, "cannot record this node's sentries again");
                    failing = true;
                }
            }
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                if !failing {
                    tracing::warn!(%error, "cannot announce this node to the others");
                }
                failing = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(ANNOUNCE_EVERY).await;
    }
}

/// Runs the base until Ctrl-C or SIGTERM.
pub fn serve(config: &BaseConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let outcome = runtime.block_on(run(config));
    runtime.shutdown_timeout(STRAGGLER_LIMIT);
    outcome
}

async fn run(config: &BaseConfig) -> anyhow::Result<()> {
    let mut stop = StopSignals::listen().context("cannot listen for the stop signals")?;
    if let Some(problem) = private_files::exposed_secret(&config.key, "the base's private key (`key`)") {
        bail!("refusing to start: {problem}");
    }
    open_files::ensure_for(config.connections.max_total);
    private_files::private_dir(&config.data_dir)
        .with_context(|| format!("cannot set up the data directory {}", config.data_dir.display()))?;
    let token = Arc::new(AdminToken::load_or_create(&config.token_path())?);
    // The storage, and this node's name where other nodes may share it.
    let (storage, node): (Arc<dyn Storage>, Option<String>) = match &config.storage {
        StorageConfig::Sqlite {} => (Arc::new(SqliteStorage::open(&config.storage_path())?), None),
        StorageConfig::Clickhouse(settings) => {
            // Off the runtime's threads: opening waits for ClickHouse.
            let opening = (**settings).clone();
            let storage = tokio::task::spawn_blocking(move || ClickHouseStorage::open(&opening))
                .await?
                .with_context(|| format!("cannot use ClickHouse at {}", settings.url))?;
            tracing::info!(url = %settings.url, node = storage.node(), "records are kept in ClickHouse");
            let node = storage.node().to_owned();
            (Arc::new(storage), Some(node))
        }
    };
    let base = Arc::new(
        Base::start(BaseSettings {
            listen: config.listen,
            identity: TlsIdentity::from_pem_files(&config.certificate, &config.key)?,
            sentry_ca: TrustedCas::from_pem_file(&config.sentry_ca)?,
            rpc_guid: BASE_RPC_GUID.into(),
            access: SentryAccess {
                guid_from: config.sentry_guid_from,
                allowed: config.allowed_sentries.clone().map(|list| Arc::new(list.into_iter().collect())),
                revocations: config.sentry_crl.as_deref().map(CrlWatch::load).transpose()?,
            },
            connections: config.connections,
            intake: config.intake,
            storage,
            connect_all_loggers: config.connect_all_loggers,
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms),
        })
        .await?,
    );
    // With a storage other nodes may share, this node announces itself (and where its admin
    // API is) every few seconds, and passes them calls for the sentries they hold.
    let peers = node.map(|node| {
        if config.admin.url.is_none() && !config.admin.listen.ip().is_loopback() {
            tracing::warn!("[admin] url is not set: other nodes will be told {}", own_url(config));
        }
        tokio::spawn(announce_node(base.clone(), own_url(config)));
        Peers { node, token: token.secret().to_owned(), ca: config.admin_ca().to_owned() }
    });
    let admin_tls = match config.admin.tls {
        true => Some(kraken_rpc::tls::server_config_without_client_auth(&TlsIdentity::from_pem_files(
            &config.certificate,
            &config.key,
        )?)?),
        false => None,
    };
    let sessions = Arc::new(Sessions::default());
    let metrics_token = Arc::new(AdminToken::load_or_create(&config.metrics_token_path())?);
    let gate = Arc::new(Gate { token: token.clone(), metrics_token, sessions: sessions.clone() });
    let login = Arc::new(Login::new(token.clone(), sessions, config.admin.tls));
    let admin = AdminServer::bind(
        config.admin.listen,
        router(Arc::new(AdminState { base: base.clone(), peers }), gate, login),
        AdminLimits::default(),
        admin_tls,
    )
    .await
    .with_context(|| format!("cannot listen on {} for the admin API", config.admin.listen))?;
    let retention = Retention::spawn(base.storage.clone(), config.retention.clone());
    let forwarders =
        Forwarders::start(&config.forward, base.storage.clone(), &config.data_dir, &base.metrics).await?;
    tracing::info!(admin = %config.admin.listen, sentries = %base.local_addr(), "base running");
    admin
        .run(async {
            let signal = stop.recv().await;
            tracing::info!(signal, "stopping");
        })
        .await;
    retention.stop().await;
    forwarders.stop().await;
    base.shutdown(SHUTDOWN_LIMIT).await;
    tracing::info!("stopped");
    Ok(())
}
