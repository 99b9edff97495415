//! Services: what a connection dispatches calls and posts to, bound by name (`kraken-sentry`,
//! `kraken-base`), one per session.
//!
//! A service is an object with one async entry point, [`RpcService::call`], taking the method
//! name and positional parameters (or, for a service that reads them in encoded form,
//! [`RpcService::call_encoded`]). Handlers run on their own task, so a slow one delays only its
//! own caller; they may call back to the peer through the [`CallContext`]'s connection while
//! their own caller waits (the base calls into the sentry inside `hello`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kraken_codec::Value;

use crate::connection::RpcConnection;
use crate::error::RpcFault;
use crate::params::Params;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a call or post came from.
#[derive(Clone)]
pub struct CallContext {
    /// The connection it arrived on; use it to call back.
    pub connection: RpcConnection,
    /// The session id it arrived on.
    pub session: i32,
    /// True for a post (its result is discarded).
    pub is_post: bool,
}

/// A named RPC service.
pub trait RpcService: Send + Sync + 'static {
    /// Runs `method(params...)`. The value is returned to a caller; a post's is dropped.
    fn call(
        &self,
        ctx: CallContext,
        method: String,
        params: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcFault>>;

    /// Runs a call or post as it arrived, its parameters still encoded. By default they are
    /// decoded and [`RpcService::call`] runs; a service that can use the encoded form (to pass
    /// records on without building them, say) overrides this for the methods that gain from it.
    fn call_encoded(
        &self,
        ctx: CallContext,
        method: String,
        params: Params,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        call_decoded(self, ctx, method, params)
    }

    /// A peer opens a session on this service; an error refuses it, with that cause.
    fn session_opened(&self, _connection: &RpcConnection, _session: i32) -> Result<(), RpcFault> {
        Ok(())
    }

    /// A session on this service ended (its connection closed).
    fn session_closed(&self, _connection: &RpcConnection, _session: i32) {}
}

/// Decodes `params` and runs [`RpcService::call`]: what [`RpcService::call_encoded`] does by
/// default, for overriding services to fall back on for the methods they leave alone.
pub fn call_decoded<S: RpcService + ?Sized>(
    service: &S,
    ctx: CallContext,
    method: String,
    params: Params,
) -> BoxFuture<'static, Result<Value, RpcFault>> {
    match params.decode() {
        Ok(params) => service.call(ctx, method, params),
        Err(fault) => Box::pin(std::future::ready(Err(fault))),
    }
}

/// Services by name, as bound on a connection.
pub type ServiceTable = HashMap<String, Arc<dyn RpcService>>;

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
