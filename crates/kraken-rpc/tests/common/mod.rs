//! Shared test fixtures: a throw-away PKI made with rcgen (a CA, certificates it signs, and a
//! second, untrusted CA) and helpers to start TLS or plain peers on loopback.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use kraken_rpc::tls::{self, ServerPin, TlsIdentity, TrustedCas};
use kraken_rpc::{Connector, RpcConfig, RpcConnection, RpcServer, ServiceTable};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A certificate authority that signs leaf certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn trusted(&self) -> TrustedCas {
        TrustedCas::from_pem(self.pem().as_bytes()).unwrap()
    }

    /// A leaf certificate with this common name and these DNS/IP alternative names.
    pub fn leaf(&self, common_name: &str, alt_names: &[&str]) -> TlsIdentity {
        let (cert, key) = self.leaf_pem(common_name, alt_names);
        TlsIdentity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap()
    }

    pub fn leaf_pem(&self, common_name: &str, alt_names: &[&str]) -> (String, String) {
        let names: Vec<String> = alt_names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Settings for fast tests: short timers so failures show quickly.
pub fn config(guid: &str) -> RpcConfig {
    let mut config = RpcConfig::new(guid);
    config.call_timeout = Duration::from_secs(10);
    config.ping_interval = None;
    config
}

/// A TLS server on loopback with certificate `base` from `ca`, requiring client certificates
/// from `ca`.
pub async fn tls_server(ca: &TestCa, config: RpcConfig, services: ServiceTable) -> RpcServer {
    let identity = ca.leaf("kraken-base", &["localhost", "127.0.0.1"]);
    let server_tls = tls::server_config(&identity, &ca.trusted()).unwrap();
    RpcServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(config), Some(server_tls), services)
        .await
        .unwrap()
}

/// A TLS client with a certificate for `guid` from `client_ca`, trusting `server_ca`.
pub fn tls_connector(client_ca: &TestCa, server_ca: &TestCa, config: RpcConfig, pin: ServerPin) -> Connector {
    let identity = client_ca.leaf(&config.guid.clone(), &[]);
    let client_tls = tls::client_config(&identity, &server_ca.trusted(), pin.clone()).unwrap();
    Connector::tls(Arc::new(config), client_tls, pin)
}

/// Connects a client to a server and returns both ends, peered.
pub async fn tls_pair(
    ca: &TestCa,
    server_config: RpcConfig,
    server_services: ServiceTable,
    client_config: RpcConfig,
    client_services: ServiceTable,
) -> (RpcServer, RpcConnection, RpcConnection) {
    let mut server = tls_server(ca, server_config, server_services).await;
    let connector = tls_connector(ca, ca, client_config, ServerPin::None);
    let client = connector.connect(server.local_addr(), client_services).await.unwrap();
    let accepted = tokio::time::timeout(Duration::from_secs(5), server.accept()).await.unwrap().unwrap();
    client.peered(Duration::from_secs(5)).await.unwrap();
    accepted.peered(Duration::from_secs(5)).await.unwrap();
    (server, client, accepted)
}
