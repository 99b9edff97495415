//! A client of a running base's admin API ([`super::api`]), as the command line uses it: the
//! address and the token come from the base's configuration file.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value as Json, json};

use crate::config::BaseConfig;

/// A client of a running base's admin API.
pub struct AdminClient {
    base_url: String,
    token: String,
}

impl AdminClient {
    /// The client of the base configured in `config` (which must have made its token).
    pub fn new(config: &Path) -> anyhow::Result<AdminClient> {
        let config = BaseConfig::load(config)?;
        let token = std::fs::read_to_string(config.token_path()).with_context(|| {
            format!("cannot read the admin token {} (is the base running?)", config.token_path().display())
        })?;
        Ok(AdminClient {
            base_url: format!("http://{}", config.admin.listen),
            token: token.trim().to_owned(),
        })
    }

    /// `GET path` (with its query); the reply's JSON body.
    pub fn get(&self, path: &str) -> anyhow::Result<Json> {
        let response = ureq::get(&format!("{}{path}", self.base_url))
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
        let response = ureq::post(&format!("{}/api/sentries/{guid}/call", self.base_url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(json!({ "method": method, "params": params }))
            .with_context(|| format!("cannot reach the base at {}", self.base_url))?;
        Ok(Self::body(response)?["result"].clone())
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
