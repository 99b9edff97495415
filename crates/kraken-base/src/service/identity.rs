//! Who a connection speaks for. At `hello` and `setLogChannel` the connection's certificate
//! must name the GUID the sentry claims (CN or SAN, BUG-1) and, with an allow-list, the GUID
//! must be on it; once bound, a connection speaks only for its own GUID (BUG-2).

use kraken_rpc::{RpcConnection, RpcFault};

use super::state::{BaseService, close_after_reply, fault};

/// The GUID `connection` may speak for; `claimed` must be it (BUG-2).
pub(super) fn own_guid(
    service: &BaseService,
    connection: &RpcConnection,
    claimed: &str,
) -> Result<String, RpcFault> {
    match service.sentries.guid_of(connection) {
        Some(guid) if guid == claimed => Ok(guid),
        Some(guid) => Err(fault(format!("this connection speaks for sentry {guid}, not {claimed}"))),
        None => Err(fault("hello first")),
    }
}

/// Refuses (and soon closes) a connection whose certificate does not name `guid`, or whose
/// `guid` is not allowed here.
pub(super) fn check_identity(
    service: &BaseService,
    connection: &RpcConnection,
    guid: &str,
) -> Result<(), RpcFault> {
    let certificate = connection.peer().certificate.as_ref();
    if !certificate.is_some_and(|c| c.names(guid)) {
        let shown =
            certificate.and_then(|c| c.common_name.clone()).unwrap_or_else(|| "(no certificate)".into());
        tracing::warn!(claimed = guid, certificate = %shown, "refused: the certificate names another sentry");
        close_after_reply(connection, format!("certificate {shown} does not name sentry {guid}"));
        return Err(fault(format!("certificate does not name sentry {guid}")));
    }
    if let Some(allowed) = &service.allowed
        && !allowed.contains(guid)
    {
        close_after_reply(connection, format!("sentry {guid} is not allowed"));
        return Err(fault(format!("sentry {guid} is not allowed on this base")));
    }
    Ok(())
}
