//! Fuzz target for the Kraken decoder: any input must decode or fail with an error, never panic;
//! the allocation-free check (with its quick pass for exact values) must accept and refuse
//! exactly what the decoder does, with the same length and error; and whatever decodes must
//! survive encode → decode unchanged (compared as bytes, since NaN is not equal to itself).
#![no_main]

use kraken_codec::{DecodeLimits, decode_prefix, encode, validate_prefix};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_depth: 32, max_values: 1 << 16, max_input: 1 << 20 };
    let decoded = decode_prefix(data, &limits);
    assert_eq!(validate_prefix(data, &limits), decoded.as_ref().map(|(_, consumed)| *consumed).map_err(Clone::clone));
    if let Ok((value, consumed)) = decoded {
        assert!(consumed <= data.len());
        let bytes = encode(&value);
        let (again, again_consumed) = decode_prefix(&bytes, &DecodeLimits::default()).expect("our own encoding decodes");
        assert_eq!(again_consumed, bytes.len());
        assert_eq!(encode(&again), bytes);
    }
});
