//! Who a connection speaks for. At `hello` and `setLogChannel` the GUID the sentry claims must
//! be the one its certificate names ([`crate::access`], BUG-1), allowed and not revoked (the
//! TLS handshake checked that already; a revocation may have come since); once bound, a
//! connection speaks only for its own GUID (BUG-2).

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
/// certificate is not (or no longer) let in.
pub(super) fn check_identity(
    service: &BaseService,
    connection: &RpcConnection,
    guid: &str,
) -> Result<(), RpcFault> {
    let checked = match connection.peer().certificate.as_ref() {
        Some(certificate) => service.access.check(certificate),
        None => Err("no certificate".to_owned()),
    };
    let refusal = match checked {
        Ok(named) if named == guid => return Ok(()),
        Ok(named) => format!("the certificate names sentry {named}, not {guid}"),
        Err(why) => why,
    };
    tracing::warn!(claimed = guid, reason = %refusal, "sentry refused");
    close_after_reply(connection, refusal.clone());
    Err(fault(refusal))
}
