//! Calls for a sentry connected to another base node: where several nodes share one storage,
//! the node a call reaches looks up which live node holds the sentry (the storage knows), and
//! passes the call to that node's admin API with the same token (the nodes of one base share
//! their admin token), marked so that it is never passed on twice.

use std::path::PathBuf;

use serde_json::Value as Json;

use super::client::AdminClient;
use crate::storage::PeerNode;

/// Whether the token may be sent to `url`, an address read from the shared storage (which
/// anyone able to write there could change): HTTPS, whose certificate the admin CA must have
/// signed for that host, or plain HTTP to this machine only.
pub fn may_receive_token(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What this node needs to call the others' admin APIs.
#[derive(Debug, Clone)]
pub struct Peers {
    /// This node's name (sent with a passed call).
    pub node: String,
    /// The admin token, the same on every node.
    pub token: String,
    /// The CA the other nodes' admin certificates are checked with.
    pub ca: PathBuf,
}

impl Peers {
    /// Passes `method(params)` for `guid` to `peer`; its reply's status and body (blocking:
    /// call it off the runtime's threads).
    pub fn pass(
        &self,
        peer: &PeerNode,
        guid: &str,
        method: &str,
        params: Vec<Json>,
    ) -> anyhow::Result<(u16, Json)> {
        let client = AdminClient::for_url(peer.admin_url.clone(), self.token.clone(), &self.ca)?;
        client.call_as(guid, method, params, Some(&self.node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_only_to_https_or_to_this_machine() {
        for good in [
            "https://base-2.example.org:7141",
            "http://127.0.0.1:7141",
            "http://[::1]:7141/",
            "http://localhost:7141",
        ] {
            assert!(may_receive_token(good), "{good}");
        }
        for bad in [
            "http://base-2.example.org:7141",
            "http://10.0.0.2:7141",
            "http://127.0.0.1.evil.example:7141",
            "http://127.0.0.1@evil.example:7141",
            "ftp://127.0.0.1",
            "127.0.0.1:7141",
        ] {
            assert!(!may_receive_token(bad), "{bad}");
        }
    }
}
