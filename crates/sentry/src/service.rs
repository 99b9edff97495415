//! The `kraken-sentry` RPC service: what a base reaches with `run(methodName, params)`.
//!
//! The service has one RPC method, `run`, as the original (§4.1 of the protocol spec). Its first
//! argument names a sentry method, its second is that method's argument list (or null); the
//! [`MethodTable`] does the rest. Handlers read the host synchronously (a process list samples
//! for 100 ms), so each call runs on tokio's blocking pool and never stalls the connection.

use std::sync::Arc;

use kraken_codec::Value;
use kraken_rpc::service::BoxFuture;
use kraken_rpc::{CallContext, RpcFault, RpcService};

use crate::commands::{CommandContext, MethodTable};

/// The service name bases open sessions on.
pub const SERVICE_NAME: &str = "kraken-sentry";

/// Answers `run` calls from a method table.
pub struct SentryService {
    table: Arc<MethodTable>,
    context: Arc<CommandContext>,
    /// The base this service answers (a link's base name), passed to handlers as the caller.
    base: Option<String>,
}

impl SentryService {
    pub fn new(table: Arc<MethodTable>, context: Arc<CommandContext>) -> Arc<Self> {
        Arc::new(SentryService { table, context, base: None })
    }

    /// A service answering the base named `base` (one per base link).
    pub fn for_base(table: Arc<MethodTable>, context: Arc<CommandContext>, base: &str) -> Arc<Self> {
        Arc::new(SentryService { table, context, base: Some(base.to_owned()) })
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
        let base = self.base.clone();
        Box::pin(async move {
            if method != "run" {
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
                table.dispatch_from(&context, base.as_deref(), &name, &arguments)
            })
            .await
            .map_err(|e| RpcFault::new(format!("sentry method panicked: {e}")))?;
            reply.map_err(|e| RpcFault::new(e.to_string()))
        })
    }
}
