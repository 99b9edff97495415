//! The `kraken-base` RPC service: what sentries call on the base.
//!
//! * `hello(guid)`: `guid` must be the one sentry the connection's certificate names
//!   ([`crate::access`]; allowed and unrevoked, as the TLS handshake checked); then the
//!   connection is bound to `guid` and the reply comes at once: a map announcing this base's
//!   extensions (an original base replies null). A GUID already connected is refused, unless its connection no longer answers a ping: then
//!   the dead connection is closed and replaced. Everything else happens afterwards, in the
//!   background, each step with a time limit (BUG-12, BUG-13): the base opens its session on
//!   the sentry, asks for the log channel, reads the sentry's factories and loggers, and
//!   connects the loggers it wants (again after every reconnection: BUG-7).
//! * `setLogChannel(guid, nonce)`: the sentry's second connection presents the nonce the base
//!   sent in `connectLogChannel`; the certificate must name `guid`, the nonce must be the one
//!   requested and unexpired, and it is good once (BUG-11). The two connections then live and
//!   die together (BUG-8).
//! * `onLog(guid, loggerName, record)`: a post; the record `{date, msg, params}` is stored.
//!   The GUID must be the connection's own (BUG-2), on either of its connections.
//! * `onLogBatch(guid, records[, epoch])`: the acknowledged batch of this base (an
//!   extension): a list of `{logger, date, msg, params, seq}`, committed before the reply (the
//!   count) acknowledges it. With the sender's spool epoch, records already stored (a resend
//!   after a crash, by `seq`) are skipped.
//! * `loggerAdded`/`Removed`/`Started`/`Stopped`, `factoryAdded`/`Removed`: stored as events
//!   of that sentry.
//!
//! This module is the entry (the [`RpcService`] implementation) and dispatches each method to
//! the module of its job: `hello` (binding), `identity` (who a connection speaks for),
//! `log_channel`, `inventory` (what follows hello) and `events`; records are read by
//! [`crate::records`]. They share `state`. Their imports go one way (`hello` uses `inventory`,
//! which uses `log_channel`; all of them use `identity` or `state`), and none imports this
//! module.

pub mod event_budget;
mod events;
mod hello;
mod identity;
mod inventory;
mod log_channel;
mod record_intake;
mod state;

use kraken_codec::Value;
use kraken_rpc::service::{BoxFuture, call_decoded};
use kraken_rpc::{CallContext, Params, RpcFault, RpcService};

pub use crate::records::MAX_BATCH;
pub use hello::EXTENSIONS;
pub use log_channel::NONCE_LIFETIME;
use sentry_protocol::names::base_method;
pub use state::BaseService;

use crate::records;
use crate::storage::StoredRecord;
use identity::own_guid;
use state::fault;

impl RpcService for BaseService {
    fn call(
        &self,
        ctx: CallContext,
        method: String,
        params: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        respond(dispatch(self, &ctx, &method, params).unwrap_or_else(|error| Handled::Now(Err(error))))
    }

    /// Records (`onLog`, `onLogBatch`) are read from their encoded form ([`crate::records`]);
    /// every other method gets its parameters decoded.
    fn call_encoded(
        &self,
        ctx: CallContext,
        method: String,
        params: Params,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        let own_guid = |claimed: &str| own_guid(self, &ctx.connection, claimed);
        // The intake counts what the records hold in memory, or their encoded size if more.
        let held = |records: &[StoredRecord]| {
            records.iter().map(StoredRecord::held_bytes).sum::<usize>().max(params.encoded_len())
        };
        let read = match method.as_str() {
            base_method::ON_LOG => records::on_log(&params, own_guid).map(|records| {
                let bytes = held(&records);
                record_intake::post(self, &ctx.connection, records, bytes)
            }),
            base_method::ON_LOG_BATCH => records::on_log_batch(&params, own_guid).map(|records| {
                let bytes = held(&records);
                record_intake::batch(self, &ctx.connection, records, bytes)
            }),
            _ => return call_decoded(self, ctx, method, params),
        };
        read.unwrap_or_else(|error| Box::pin(std::future::ready(Err(error))))
    }
}

/// What a call needs: an answer now, or more work.
enum Handled {
    Now(Result<Value, RpcFault>),
    Later(BoxFuture<'static, Result<Value, RpcFault>>),
}

/// The reply to a handled call: at once or later.
fn respond(handled: Handled) -> BoxFuture<'static, Result<Value, RpcFault>> {
    match handled {
        Handled::Now(outcome) => Box::pin(async move { outcome }),
        Handled::Later(future) => future,
    }
}

/// Sends a decoded call to the module of its job.
fn dispatch(
    service: &BaseService,
    ctx: &CallContext,
    method: &str,
    params: Vec<Value>,
) -> Result<Handled, RpcFault> {
    let connection = &ctx.connection;
    let guid_arg = |params: &[Value]| -> Result<String, RpcFault> {
        params
            .first()
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| fault(format!("{method}: the first argument must be the sentry GUID")))
    };
    match method {
        base_method::HELLO => {
            let guid = guid_arg(&params)?;
            let (service, connection) = (service.clone(), connection.clone());
            Ok(Handled::Later(Box::pin(async move { hello::hello(&service, &connection, &guid).await })))
        }
        base_method::SET_LOG_CHANNEL => {
            let guid = guid_arg(&params)?;
            let nonce = params.get(1).and_then(Value::as_str).ok_or_else(|| {
                fault(format!("{}: the nonce must be a string", base_method::SET_LOG_CHANNEL))
            })?;
            Ok(Handled::Now(log_channel::set_log_channel(service, connection, &guid, nonce)))
        }
        base_method::LOGGER_ADDED
        | base_method::LOGGER_REMOVED
        | base_method::LOGGER_STARTED
        | base_method::LOGGER_STOPPED
        | base_method::FACTORY_ADDED
        | base_method::FACTORY_REMOVED => {
            let guid = own_guid(service, connection, &guid_arg(&params)?)?;
            Ok(Handled::Later(events::store_event(service, guid, method, &params)?))
        }
        other => Err(RpcFault::method_not_found(other)),
    }
}
