//! Whether an admin call fits in what a sentry reads. The base sends it as the RPC call
//! `run(method, [params...])` ([`crate::server::Base::call`]), and a sentry checks each frame
//! it receives against kraken-codec's [`DecodeLimits`] (64 levels of nesting, counting the
//! frame's own) and the RPC frame size; a frame outside them is not an error reply but a broken
//! peer: the sentry drops the connection, and its log channel with it. So the admin API encodes
//! the call as it would travel and checks it with the same decoder first; a call that does not
//! fit is refused with a 400 and never reaches the sentry.

use kraken_codec::encode::open_array;
use kraken_codec::{DecodeError, DecodeLimits, Value, encode_into, validate_prefix};
use kraken_rpc::frame::DEFAULT_MAX_FRAME_LEN;
use kraken_rpc::message::{MessageKind, encode_request_with};
use sentry_protocol::names::sentry_method;

/// The limits a sentry reads frames with.
fn sentry_limits() -> DecodeLimits {
    DecodeLimits { max_input: DEFAULT_MAX_FRAME_LEN, ..DecodeLimits::default() }
}

/// The frame of `run(method, [params...])`, as [`crate::server::Base::call`] sends it.
fn call_frame(method: &str, params: &[Value]) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_request_with(&mut frame, i32::MAX, i32::MAX, MessageKind::Call, sentry_method::RUN, |out| {
        encode_into(&Value::from(method), out);
        let array = open_array(out);
        for param in params {
            encode_into(param, out);
        }
        array.close(out);
    });
    frame
}

/// How many levels of arrays and objects one param may have: the decoder's limit less the
/// levels of the call around it (found by decoding a call whose param is `[]`).
pub fn max_param_depth() -> usize {
    let limits = sentry_limits();
    let frame = call_frame("m", &[Value::Array(Vec::new())]);
    let needed = (1..=limits.max_depth)
        .find(|&depth| validate_prefix(&frame, &DecodeLimits { max_depth: depth, ..limits }).is_ok())
        .unwrap_or(limits.max_depth);
    limits.max_depth - needed + 1
}

/// What a call with params nested too deeply is told.
pub fn too_deep() -> String {
    format!(
        "params nested too deeply: a sentry reads at most {} levels of arrays and objects in one param",
        max_param_depth()
    )
}

/// `Ok` when the call `method(params)` is one a sentry reads; else why not, for the operator.
pub fn check(method: &str, params: &[Value]) -> Result<(), String> {
    let frame = call_frame(method, params);
    match validate_prefix(&frame, &sentry_limits()) {
        Ok(_) => Ok(()),
        Err(DecodeError::TooDeep { .. }) => Err(too_deep()),
        Err(DecodeError::InputTooLarge { length, limit }) => {
            Err(format!("the call is too large: {length} bytes encoded, a sentry reads at most {limit}"))
        }
        Err(DecodeError::TooManyValues { limit, .. }) => {
            Err(format!("the call has too many values: a sentry reads at most {limit}"))
        }
        Err(other) => Err(format!("the call cannot be encoded for a sentry: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A param `[[[...]]]` of `depth` levels (0: a number).
    fn nested(depth: usize) -> Value {
        (0..depth).fold(Value::I32(1), |inner, _| Value::Array(vec![inner]))
    }

    #[test]
    fn a_param_may_nest_as_deep_as_the_sentry_reads_and_no_deeper() {
        let max = max_param_depth();
        // The frame, its body, the call's params and the run's params array: four levels.
        assert_eq!(max, DecodeLimits::default().max_depth - 4);
        assert_eq!(check("getLoggers", &[nested(max)]), Ok(()));
        let error = check("getLoggers", &[Value::from("x"), nested(max + 1)]).unwrap_err();
        assert!(error.contains(&format!("at most {max} levels")), "{error}");
        // What passes is what the sentry's reader accepts, and what fails it refuses.
        let limits = sentry_limits();
        assert!(kraken_rpc::message::Message::parse(call_frame("m", &[nested(max)]).into(), &limits).is_ok());
        assert!(
            kraken_rpc::message::Message::parse(call_frame("m", &[nested(max + 1)]).into(), &limits).is_err()
        );
    }

    #[test]
    fn a_call_over_the_frame_size_is_refused() {
        let big = Value::from("x".repeat(DEFAULT_MAX_FRAME_LEN));
        let error = check("m", &[big]).unwrap_err();
        assert!(error.starts_with("the call is too large"), "{error}");
    }
}
