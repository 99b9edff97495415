//! Running one service handler: start it, poll it once without a task (most finish there), or
//! run it to its end on a task. A panic anywhere along the way becomes a fault, answered like
//! any other.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;
use kraken_codec::Value;
use tracing::{debug, warn};

use super::handle::{BoxFuture, CallContext, RpcService};
use crate::error::RpcFault;
use crate::params::Params;

/// A handler's result, to come.
pub(super) type Handler = BoxFuture<'static, Result<Value, RpcFault>>;

/// Starts a handler; a panic while starting it becomes a fault.
pub(super) fn start_handler(
    service: &Arc<dyn RpcService>,
    ctx: CallContext,
    method: String,
    params: Params,
) -> Handler {
    match std::panic::catch_unwind(AssertUnwindSafe(|| service.call_encoded(ctx, method, params))) {
        Ok(handler) => handler,
        Err(panic) => Box::pin(std::future::ready(Err(panic_fault(panic)))),
    }
}

/// Polls a handler once, without a task: `Ready` if it finished without waiting (a panic is a
/// fault). A `Pending` handler then moves to a task, whose first poll registers its real waker.
pub(super) fn poll_once(handler: &mut Handler) -> Poll<Result<Value, RpcFault>> {
    let poll = std::panic::catch_unwind(AssertUnwindSafe(|| {
        handler.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }));
    poll.unwrap_or_else(|panic| Poll::Ready(Err(panic_fault(panic))))
}

/// Runs a handler to its end; a panic is a fault, answered like any other.
pub(super) async fn finish_handler(handler: Handler) -> Result<Value, RpcFault> {
    AssertUnwindSafe(handler).catch_unwind().await.unwrap_or_else(|panic| Err(panic_fault(panic)))
}

fn panic_fault(panic: Box<dyn std::any::Any + Send>) -> RpcFault {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    warn!(panic = %text, "rpc handler panicked");
    RpcFault::new(format!("internal error in the handler: {text}"))
}

/// A post's result goes nowhere: a failure is only logged.
pub(super) fn log_post_failure(result: Result<Value, RpcFault>) {
    if let Err(fault) = result {
        debug!(%fault, "post failed");
    }
}
