//! Fuzz target for the Kraken decoder: any input must decode or fail with an error, never panic,
//! within a time limit proportional to its size; the allocation-free check (with its quick pass
//! for exact values) and the borrowed decoder must accept and refuse exactly what the decoder
//! does, with the same length, error and value; and whatever decodes must survive
//! encode → decode unchanged (compared as bytes, since NaN is not equal to itself).
#![no_main]

#[path = "common/time_limit.rs"]
mod time_limit;

use kraken_codec::{DecodeLimits, decode_borrowed_prefix, decode_prefix, encode, validate_prefix};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    // Three decodes and a re-encoding take about 1.5 s per MiB of a large map under the
    // sanitizers (measured): linear work stays well inside 4.
    time_limit::within_limit(data, Duration::from_secs(4), || {
        let limits = DecodeLimits { max_depth: 32, max_values: 1 << 20, max_input: 4 << 20 };
        let decoded = decode_prefix(data, &limits);
        assert_eq!(
            validate_prefix(data, &limits),
            decoded.as_ref().map(|(_, consumed)| *consumed).map_err(Clone::clone)
        );
        let borrowed = decode_borrowed_prefix(data, &limits);
        assert_eq!(
            borrowed.map(|(value, consumed)| (encode(&value.into_owned()), consumed)),
            decoded.as_ref().map(|(value, consumed)| (encode(value), *consumed)).map_err(Clone::clone)
        );
        if let Ok((value, consumed)) = decoded {
            assert!(consumed <= data.len());
            let bytes = encode(&value);
            let (again, again_consumed) =
                decode_prefix(&bytes, &DecodeLimits::default()).expect("our own encoding decodes");
            assert_eq!(again_consumed, bytes.len());
            assert_eq!(encode(&again), bytes);
        }
    })
});
