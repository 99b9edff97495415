//! Services: what a connection dispatches calls and posts to, bound by name (`kraken-sentry`,
//! `kraken-base`), one per session.
//!
//! A service is an object with one async entry point, [`RpcService::call`], taking the method
//! name and positional parameters (or, for a service that reads them in encoded form,
//! [`RpcService::call_encoded`]). Handlers run on their own task, so a slow one delays only its
//! own caller; they may call back to the peer through the [`CallContext`]'s connection while
//! their own caller waits (the base calls into the sentry inside `hello`).
//!
//! The trait itself and [`CallContext`] are defined with the connection they name (in
//! [`crate::connection`], which holds its services in turn) and re-exported here; this module
//! adds services made of closures ([`service_fn`]). It depends on the connection, never the
//! other way round.

use std::future::Future;
use std::sync::Arc;

use kraken_codec::Value;

pub use crate::connection::{BoxFuture, CallContext, RpcService, ServiceTable, call_decoded};
use crate::error::RpcFault;

/// A service made of one async closure `(context, method, params) -> result`.
pub struct FnService<F>(pub F);

impl<F, Fut> RpcService for FnService<F>
where
    F: Fn(CallContext, String, Vec<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, RpcFault>> + Send + 'static,
{
    fn call(
        &self,
        ctx: CallContext,
        method: String,
        params: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        Box::pin((self.0)(ctx, method, params))
    }
}

/// Wraps an async closure as a shareable service.
pub fn service_fn<F, Fut>(f: F) -> Arc<dyn RpcService>
where
    F: Fn(CallContext, String, Vec<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, RpcFault>> + Send + 'static,
{
    Arc::new(FnService(f))
}
