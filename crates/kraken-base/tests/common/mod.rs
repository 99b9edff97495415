//! What the in-process base tests share: a base on loopback with a fresh PKI, sentry link
//! settings for it, and raw sentry-side connections.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kraken_base::access::SentryAccess;
use kraken_base::config::ConnectionLimits;
use kraken_base::server::{Base, BaseSettings};
use kraken_base::storage::{SqliteStorage, Storage};
use kraken_rpc::tls::{self, ServerPin, TlsIdentity, TrustedCas};
use kraken_rpc::{Connector, RpcConfig, RpcConnection, ServiceTable};
use sentry::commands::{CommandContext, SentryService, sentry_methods};
use sentry::config::BaseEndpoint;
use sentry::link::{LinkEvent, LinkSettings, run_link};
use tokio::sync::mpsc;

pub struct Fixture {
    pub dir: PathBuf,
    pub base: Base,
}

/// Starts a base on `listen` with the PKI and storage file of `dir`.
pub async fn start_base(dir: &Path, listen: std::net::SocketAddr) -> Base {
    start_base_with(dir, listen, Default::default(), Default::default(), Duration::from_secs(5)).await
}

/// [`start_base`] with these access rules, connection limits and handshake time limit.
pub async fn start_base_with(
    dir: &Path,
    listen: std::net::SocketAddr,
    access: SentryAccess,
    connections: ConnectionLimits,
    handshake_timeout: Duration,
) -> Base {
    let files = kraken_base::pki::PkiFiles::in_dir(&dir.join("pki"));
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.join("base.sqlite3")).unwrap());
    Base::start(BaseSettings {
        listen,
        identity: TlsIdentity::from_pem_files(&files.base_cert, &files.base_key).unwrap(),
        sentry_ca: TrustedCas::from_pem_file(&files.ca_cert).unwrap(),
        rpc_guid: "base".into(),
        access,
        connections,
        intake: Default::default(),
        connect_all_loggers: false,
        handshake_timeout,
        storage,
    })
    .await
    .unwrap()
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("kraken-base-link-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki = dir.join("pki");
    kraken_base::pki::init(&pki, &[]).unwrap();
    for guid in ["sentry-1", "sentry-2"] {
        kraken_base::pki::issue(&pki, guid, kraken_base::pki::SENTRY_VALIDITY_DAYS).unwrap();
    }
    let base = start_base(&dir, "127.0.0.1:0".parse().unwrap()).await;
    Fixture { dir, base }
}

pub fn base_config(fixture: &Fixture, cert_of: &str, pki: &Path) -> BaseEndpoint {
    BaseEndpoint {
        name: "local".into(),
        address: "127.0.0.1".into(),
        port: fixture.base.local_addr().port(),
        certificate: pki.join(format!("{cert_of}.pem")),
        key: pki.join(format!("{cert_of}.key")),
        ca: pki.join("ca.pem"),
        alternates: Vec::new(),
    }
}

/// Starts a link for `guid` using `cert_of`'s certificate; returns its events.
pub fn link(fixture: &Fixture, guid: &str, cert_of: &str, pki: &Path) -> mpsc::UnboundedReceiver<LinkEvent> {
    let mut context = CommandContext::for_this_host();
    context.sampling_window = Duration::from_millis(20);
    let service = SentryService::new(Arc::new(sentry_methods()), Arc::new(context));
    let settings = LinkSettings {
        base: base_config(fixture, cert_of, pki),
        guid: guid.into(),
        max_backoff: Duration::from_millis(500),
        setup_timeout: Duration::from_secs(10),
        spool: None,
        loggers: None,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run_link(settings, service, Some(tx)));
    rx
}

pub async fn next_event(events: &mut mpsc::UnboundedReceiver<LinkEvent>) -> LinkEvent {
    tokio::time::timeout(Duration::from_secs(15), events.recv()).await.expect("no link event").unwrap()
}

/// A raw connection to `address` with `cert_of`'s certificate, serving `services`, peered.
pub async fn raw_connection(
    pki: &Path,
    cert_of: &str,
    address: std::net::SocketAddr,
    services: ServiceTable,
) -> RpcConnection {
    let identity =
        TlsIdentity::from_pem_files(&pki.join(format!("{cert_of}.pem")), &pki.join(format!("{cert_of}.key")))
            .unwrap();
    let ca = TrustedCas::from_pem_file(&pki.join("ca.pem")).unwrap();
    let pin = ServerPin::Name("127.0.0.1".into());
    let client = tls::client_config(&identity, &ca, pin.clone()).unwrap();
    let connection = Connector::tls(Arc::new(RpcConfig::new(cert_of)), client, pin)
        .connect(address, services)
        .await
        .unwrap();
    connection.peered(Duration::from_secs(5)).await.unwrap();
    connection
}

/// Polls `check` every 20 ms for up to `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
