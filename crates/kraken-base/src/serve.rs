//! `kraken-base serve`, the composition root: from the configuration it checks the secrets,
//! makes the data directory private, builds the storage, the sentry listener ([`Base`]), the
//! admin API and the retention task, runs them until Ctrl-C or SIGTERM ([`StopSignals`]), then
//! stops in order: the admin API stops accepting (requests in progress get a grace period,
//! and may still call sentries), retention ends its current step, and the base stops
//! listening, closes the sentries' connections and commits the records it received. Then it
//! returns, and the process exits 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use kraken_rpc::tls::{CrlWatch, TlsIdentity, TrustedCas};

use crate::access::SentryAccess;

use crate::admin::{AdminLimits, AdminServer, AdminState, AdminToken, router};
use crate::config::{BaseConfig, StorageConfig};
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
    private_files::private_dir(&config.data_dir)
        .with_context(|| format!("cannot set up the data directory {}", config.data_dir.display()))?;
    let token = Arc::new(AdminToken::load_or_create(&config.token_path())?);
    let storage: Arc<dyn Storage> = match &config.storage {
        StorageConfig::Sqlite {} => Arc::new(SqliteStorage::open(&config.storage_path())?),
        StorageConfig::Clickhouse(settings) => {
            let storage = ClickHouseStorage::open(settings)
                .with_context(|| format!("cannot use ClickHouse at {}", settings.url))?;
            tracing::info!(url = %settings.url, node = storage.node(), "records are kept in ClickHouse");
            Arc::new(storage)
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
    let admin_tls = match config.admin.tls {
        true => Some(kraken_rpc::tls::server_config_without_client_auth(&TlsIdentity::from_pem_files(
            &config.certificate,
            &config.key,
        )?)?),
        false => None,
    };
    let admin = AdminServer::bind(
        config.admin.listen,
        router(Arc::new(AdminState { base: base.clone() }), token),
        AdminLimits::default(),
        admin_tls,
    )
    .await
    .with_context(|| format!("cannot listen on {} for the admin API", config.admin.listen))?;
    let retention = Retention::spawn(base.storage.clone(), config.retention.clone());
    tracing::info!(admin = %config.admin.listen, sentries = %base.local_addr(), "base running");
    admin
        .run(async {
            let signal = stop.recv().await;
            tracing::info!(signal, "stopping");
        })
        .await;
    retention.stop().await;
    base.shutdown(SHUTDOWN_LIMIT).await;
    tracing::info!("stopped");
    Ok(())
}
