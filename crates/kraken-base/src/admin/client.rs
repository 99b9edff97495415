//! A client of a running base's admin API ([`super::api`]), as the command line uses it: the
//! address and the token come from the base's configuration file. With `[admin] tls = true`
//! it speaks HTTPS and checks the base's certificate against `[admin] ca` (default
//! `sentry_ca`) and the address it dials (a wildcard listen address is dialled on loopback).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value as Json, json};

use crate::config::BaseConfig;

/// A client of a running base's admin API.
pub struct AdminClient {
    base_url: String,
    token: String,
    agent: ureq::Agent,
}

impl AdminClient {
    /// The client of the base configured in `config` (which must have made its token).
    pub fn new(config: &Path) -> anyhow::Result<AdminClient> {
        let config = BaseConfig::load(config)?;
        let token = std::fs::read_to_string(config.token_path()).with_context(|| {
            format!("cannot read the admin token {} (is the base running?)", config.token_path().display())
        })?;
        AdminClient::for_url(own_url(&config), token.trim().to_owned(), config.admin_ca())
    }

    /// A client of the admin API at `url` (an `https://` one checked against `ca`).
    pub fn for_url(url: String, token: String, ca: &Path) -> anyhow::Result<AdminClient> {
        let agent =
            if url.starts_with("https://") { https_agent(ca)? } else { agent_config().build().new_agent() };
        Ok(AdminClient { base_url: url.trim_end_matches('/').to_owned(), token, agent })
    }

    /// `GET path` (with its query); the reply's JSON body.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Json> {
        let response = self
            .agent
            .get(&format!("{}{path}", self.base_url))
            .query_pairs(query.iter().map(|(key, value)| (*key, value.as_str())))
            .header("Authorization", &format!("Bearer {}", self.token))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .with_context(|| format!("cannot reach the base at {}", self.base_url))?;
        Self::body(response)
    }

    /// Runs `method` on sentry `guid`; its result.
    pub fn call(&self, guid: &str, method: &str, params: Vec<Json>) -> anyhow::Result<Json> {
        let (status, body) = self.call_as(guid, method, params, None)?;
        if !(200..300).contains(&status) {
            bail!("{}", body["error"].as_str().unwrap_or("request failed"));
        }
        Ok(body["result"].clone())
    }

    /// The same call, passed on by another node (marked with `forwarded_by`, so it is not
    /// passed on again): the reply's status and JSON body as they are.
    pub fn call_as(
        &self,
        guid: &str,
        method: &str,
        params: Vec<Json>,
        forwarded_by: Option<&str>,
    ) -> anyhow::Result<(u16, Json)> {
        let mut request = self
            .agent
            .post(&format!("{}/api/sentries/{}/call", self.base_url, encode_path_segment(guid)))
            .header("Authorization", &format!("Bearer {}", self.token));
        if let Some(node) = forwarded_by {
            request = request.header(FORWARDED_BY, node);
        }
        let mut response = request
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(json!({ "method": method, "params": params }))
            .with_context(|| format!("cannot reach the base at {}", self.base_url))?;
        let status = response.status().as_u16();
        let body: Json = response.body_mut().read_json().context("the base's reply is not JSON")?;
        Ok((status, body))
    }

    fn body(mut response: ureq::http::Response<ureq::Body>) -> anyhow::Result<Json> {
        let status = response.status();
        let body: Json = response.body_mut().read_json().context("the base's reply is not JSON")?;
        if !status.is_success() {
            bail!("{}", body["error"].as_str().unwrap_or("request failed"));
        }
        Ok(body)
    }
}

/// The header naming the node that passed a call on.
pub const FORWARDED_BY: &str = "x-kraken-forwarded-by";

/// Where this base's admin API is reached: `[admin] url`, or the scheme and the listen address.
pub fn own_url(config: &BaseConfig) -> String {
    if let Some(url) = &config.admin.url {
        return url.clone();
    }
    let scheme = if config.admin.tls { "https" } else { "http" };
    format!("{scheme}://{}", dialled(config.admin.listen))
}

/// `segment` with every byte but unreserved ones percent-encoded (RFC 3986).
fn encode_path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The address to dial for a listen address: a wildcard one is reached on loopback.
fn dialled(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port()),
        _ => listen,
    }
}

/// An HTTPS agent that trusts the CA certificates in the PEM file `ca` (and nothing else).
fn https_agent(ca: &Path) -> anyhow::Result<ureq::Agent> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let pem = std::fs::read(ca).with_context(|| format!("cannot read the admin CA {}", ca.display()))?;
    let certificates = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(Ok(certificate)),
            Ok(_) => None,
            Err(error) => Some(Err(error)),
        })
        .collect::<Result<Vec<Certificate<'static>>, _>>()
        .with_context(|| format!("{}: unreadable PEM", ca.display()))?;
    if certificates.is_empty() {
        bail!("{}: no certificate in the PEM", ca.display());
    }
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::new_with_certs(&certificates))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    Ok(agent_config().tls_config(tls).build().new_agent())
}

/// What every agent of the admin API shares: no proxy from the environment (the token must
/// go nowhere else), and a limit on the whole request (a call waits for its sentry up to
/// 35 s; the API gives up at 60 s).
fn agent_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .proxy(None)
        .timeout_connect(Some(std::time::Duration::from_secs(5)))
        .timeout_global(Some(std::time::Duration::from_secs(55)))
}
