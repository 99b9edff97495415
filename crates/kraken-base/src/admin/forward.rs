//! Calls for a sentry connected to another base node: where several nodes share one storage,
//! the node a call reaches looks up which live node holds the sentry (the storage knows), and
//! passes the call to that node's admin API with the same token (the nodes of one base share
//! their admin token), marked so that it is never passed on twice.

use std::path::PathBuf;

use serde_json::Value as Json;

use super::client::AdminClient;
use crate::storage::PeerNode;

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
