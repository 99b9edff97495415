//! The `kraken-sentry` RPC service: what a base reaches with `run(methodName, params)`.
//!
//! The service has one RPC method, `run`, as the original (§4.1 of the protocol spec). Its first
//! argument names a sentry method, its second is that method's argument list (or null); the
//! [`MethodTable`] does the rest. Each base link serves its command connection with its own
//! [`SentryService::for_caller`], so handlers know which base calls and which connection's log
//! channel a request is for. Handlers read the host synchronously (a process list samples for
//! 100 ms), so each call runs on tokio's blocking pool and never stalls the connection.

use std::sync::Arc;

use kraken_codec::Value;
use kraken_rpc::service::BoxFuture;
use kraken_rpc::{CallContext, RpcFault, RpcService};
use sentry_protocol::names::sentry_method;

use super::context::{Caller, CommandContext};
use super::table::MethodTable;

/// Answers `run` calls from a method table.
pub struct SentryService {
    table: Arc<MethodTable>,
    context: Arc<CommandContext>,
    /// The base on the other end of the connection this service answers, if any.
    caller: Option<Arc<Caller>>,
}

impl SentryService {
    /// A service with no caller (a test, or a connection that is not a base link).
    pub fn new(table: Arc<MethodTable>, context: Arc<CommandContext>) -> Arc<Self> {
        Arc::new(SentryService { table, context, caller: None })
    }

    /// Whether the table has a method called `name`.
    pub fn answers(&self, name: &str) -> bool {
        self.table.has(name)
    }

    /// The same table and context, answering `caller` (one per command connection).
    pub fn for_caller(&self, caller: Caller) -> Arc<Self> {
        Arc::new(SentryService {
            table: self.table.clone(),
            context: self.context.clone(),
            caller: Some(Arc::new(caller)),
        })
    }
}

impl RpcService for SentryService {
    fn call(
        &self,
        _: CallContext,
        method: String,
        params: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        let table = self.table.clone();
        let context = self.context.clone();
        let caller = self.caller.clone();
        Box::pin(async move {
            if method != sentry_method::RUN {
                return Err(RpcFault::method_not_found(&method));
            }
            let mut params = params.into_iter();
            let (Some(Value::Str(name)), arguments, None) = (params.next(), params.next(), params.next())
            else {
                return Err(RpcFault::new(
                    "illegal argument: run takes (methodName: str, params: list or null)",
                ));
            };
            let arguments = arguments.unwrap_or(Value::Null);
            let reply = tokio::task::spawn_blocking(move || {
                table.dispatch_from(&context, caller.as_deref(), &name, &arguments)
            })
            .await
            .map_err(|e| RpcFault::new(format!("sentry method panicked: {e}")))?;
            reply.map_err(|e| RpcFault::new(e.to_string()))
        })
    }
}
