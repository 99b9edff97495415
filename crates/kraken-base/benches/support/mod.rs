//! What the benches that drive a real base share: a base on a loopback port with SQLite
//! storage, and a sentry link to it (mutual TLS, log channel) sending what waits in a spool.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kraken_base::pki::PkiFiles;
use kraken_base::server::{Base, BaseSettings};
use kraken_base::storage::{SqliteStorage, Storage};
use kraken_rpc::tls::{TlsIdentity, TrustedCas};
use sentry::commands::{CommandContext, MethodTable, SentryService};
use sentry::config::BaseEndpoint;
use sentry::link::{LinkEvent, LinkSettings, run_link};
use sentry::spool::SpoolAccess;
use sentry::store::Store;
use tokio::sync::{Notify, mpsc};

/// The sentry's GUID (its certificate is issued by the caller).
pub const SENTRY: &str = "bench-sentry";

/// A base listening on a free loopback port, storing in `dir/base.sqlite3`.
pub async fn start_base(dir: &Path, files: &PkiFiles, connect_all_loggers: bool) -> (Base, Arc<dyn Storage>) {
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.join("base.sqlite3")).unwrap());
    let base = Base::start(BaseSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        identity: TlsIdentity::from_pem_files(&files.base_cert, &files.base_key).unwrap(),
        sentry_ca: TrustedCas::from_pem_file(&files.ca_cert).unwrap(),
        rpc_guid: "base".into(),
        access: Default::default(),
        connections: Default::default(),
        // The benches measure how fast one sentry's records can go: no records/s quota.
        intake: kraken_base::intake::IntakeLimits { records_per_second: 0, ..Default::default() },
        storage: storage.clone(),
        connect_all_loggers,
        handshake_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    (base, storage)
}

/// Links the sentry whose state is `store` to `base` (as the base named `local`), sending its
/// spool and waking on `wake`; returns the link task and the instant it connected.
pub async fn link(
    base: &Base,
    pki: &Path,
    store: Arc<Store>,
    wake: Arc<Notify>,
) -> (tokio::task::JoinHandle<()>, Instant) {
    let settings = LinkSettings {
        base: BaseEndpoint {
            name: "local".into(),
            address: "127.0.0.1".into(),
            port: base.local_addr().port(),
            certificate: pki.join(format!("{SENTRY}.pem")),
            key: pki.join(format!("{SENTRY}.key")),
            ca: pki.join("ca.pem"),
            alternates: Vec::new(),
        },
        guid: SENTRY.into(),
        max_backoff: Duration::from_millis(200),
        setup_timeout: Duration::from_secs(10),
        spool: Some(SpoolAccess { store, wake }),
        loggers: None,
    };
    // No host commands: only the log channel's methods, which a link needs to get its channel.
    let mut table = MethodTable::new();
    table.register(&[], sentry::commands::log_channel::METHODS);
    let service = SentryService::new(Arc::new(table), Arc::new(CommandContext::for_this_host()));
    let (tx, mut events) = mpsc::unbounded_channel();
    let task = tokio::spawn(run_link(settings, service, Some(tx)));
    loop {
        if let Some(LinkEvent::Connected { .. }) = events.recv().await {
            return (task, Instant::now());
        }
    }
}

/// The median of `values`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
