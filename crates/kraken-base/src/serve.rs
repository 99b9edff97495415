//! `kraken-base serve`, the composition root: from the configuration it builds the storage, the
//! sentry listener ([`Base`]), the admin API and the retention task, runs them until Ctrl-C or
//! SIGTERM ([`StopSignals`]), then shuts the base down.

use std::sync::Arc;

use anyhow::Context;
use kraken_rpc::tls::{CrlWatch, TlsIdentity, TrustedCas};

use crate::access::SentryAccess;

use crate::admin::{AdminState, load_or_create_token, router};
use crate::config::BaseConfig;
use crate::server::{Base, BaseSettings};
use crate::stop_signals::StopSignals;
use crate::storage::{SqliteStorage, Storage, retention};

/// The base's own RPC GUID, presented when connections are peered (as the original base's).
const BASE_RPC_GUID: &str = "kraken-base";

/// How long shutdown waits for the records already received to be committed.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the base until Ctrl-C or SIGTERM.
pub fn serve(config: &BaseConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let mut stop = StopSignals::listen().context("cannot listen for the stop signals")?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&config.storage_path())?);
        let token = load_or_create_token(&config.token_path())?;
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
                handshake_timeout: std::time::Duration::from_millis(config.handshake_timeout_ms),
            })
            .await?,
        );
        let listener = tokio::net::TcpListener::bind(config.admin.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the admin API", config.admin.listen))?;
        tracing::info!(admin = %config.admin.listen, sentries = %base.local_addr(), "base running");
        let app = router(Arc::new(AdminState { base: base.clone(), token }));
        retention::spawn(base.storage.clone(), config.retention.clone());
        tokio::select! {
            served = axum::serve(listener, app) => served.context("the admin API stopped")?,
            signal = stop.recv() => tracing::info!(signal, "stopping"),
        }
        base.shutdown(SHUTDOWN_LIMIT).await;
        Ok(())
    })
}
