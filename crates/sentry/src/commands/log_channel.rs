//! `connectLogChannel(nonce)` and `disconnectLogChannel()`: a base asks for (or drops) the log
//! channel of the command connection it calls on (protocol spec §3.4).
//!
//! The handlers only queue the request for that connection's link, which dials the base again
//! and presents the nonce (`link::log_channel`); the base's post gets its answer at once. A
//! call that did not come over a base link (`kraken-sentry exec`) has no log channel to ask for.

use kraken_codec::Value;
use sentry_protocol::names::sentry_method;

use super::context::{Caller, CommandContext, LogChannelRequest};
use super::table::{ArgKind, Args, CommandError, Method, Param};

/// The longest nonce accepted (the original's are UUID strings, 36 characters).
pub const MAX_NONCE_CHARS: usize = 256;

pub const METHODS: &[Method] = &[
    Method {
        name: sentry_method::CONNECT_LOG_CHANNEL,
        params: &[Param { name: "nonce", kind: ArgKind::Str }],
        handler: connect_log_channel,
    },
    Method { name: sentry_method::DISCONNECT_LOG_CHANNEL, params: &[], handler: disconnect_log_channel },
];

fn connect_log_channel(_: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    let nonce = args.str(0);
    if nonce.is_empty() || nonce.chars().count() > MAX_NONCE_CHARS {
        return Err(CommandError::failed(format!(
            "illegal argument: connectLogChannel nonce must be 1 to {MAX_NONCE_CHARS} characters"
        )));
    }
    request(args, LogChannelRequest::Connect(nonce.to_owned()))
}

fn disconnect_log_channel(_: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    request(args, LogChannelRequest::Disconnect)
}

/// Queues `request` for the calling connection's link; a full queue is refused, not awaited.
fn request(args: &Args<'_>, request: LogChannelRequest) -> Result<Value, CommandError> {
    let caller: &Caller = args
        .caller()
        .ok_or_else(|| CommandError::failed("no log channel here: not called over a base link"))?;
    caller
        .log_channel
        .try_send(request)
        .map_err(|_| CommandError::failed("the log channel is busy; ask again later"))?;
    Ok(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{MethodTable, sentry_methods};
    use tokio::sync::mpsc;

    fn run(
        table: &MethodTable,
        caller: Option<&Caller>,
        name: &str,
        params: Value,
    ) -> Result<Value, CommandError> {
        table.dispatch_from(&CommandContext::for_this_host(), caller, name, &params)
    }

    #[test]
    fn requests_reach_the_calling_connection_and_bad_ones_are_refused() {
        let table = sentry_methods();
        let (log_channel, mut queued) = mpsc::channel(1);
        let caller = Caller { base: "central".into(), log_channel };
        let nonce = Value::Array(vec![Value::from("3f2b")]);
        assert_eq!(run(&table, Some(&caller), "connectLogChannel", nonce.clone()), Ok(Value::Null));
        assert_eq!(queued.try_recv(), Ok(LogChannelRequest::Connect("3f2b".into())));
        assert_eq!(run(&table, Some(&caller), "disconnectLogChannel", Value::Null), Ok(Value::Null));
        // The queue holds one: a second request before the first is served is refused.
        let busy = run(&table, Some(&caller), "connectLogChannel", nonce.clone()).unwrap_err();
        assert_eq!(busy.to_string(), "the log channel is busy; ask again later");
        assert_eq!(queued.try_recv(), Ok(LogChannelRequest::Disconnect));

        let wrong_kind = run(&table, Some(&caller), "connectLogChannel", Value::Array(vec![Value::I32(7)]));
        assert_eq!(
            wrong_kind.unwrap_err().to_string(),
            "illegal argument: connectLogChannel parameter 1 (nonce) must be str, got i32"
        );
        let too_long = Value::Array(vec![Value::from("n".repeat(MAX_NONCE_CHARS + 1))]);
        let refused = run(&table, Some(&caller), "connectLogChannel", too_long).unwrap_err();
        assert!(refused.to_string().contains("must be 1 to 256 characters"), "{refused}");
        let empty = run(&table, Some(&caller), "connectLogChannel", Value::Array(vec![Value::from("")]));
        assert!(empty.is_err());
        assert!(queued.try_recv().is_err(), "nothing queued for refused requests");

        let local = run(&table, None, "connectLogChannel", nonce).unwrap_err();
        assert_eq!(local.to_string(), "no log channel here: not called over a base link");
    }
}
