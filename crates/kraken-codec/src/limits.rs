//! [`DecodeLimits`]: the bounds on depth, value count and input size that every reading of
//! untrusted bytes (the full decoder, its allocation-free check and the quick pass for exact
//! values) applies. It has a module of its own so that those readers share it without importing
//! one another.

/// Bounds applied while decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Deepest nesting of maps and arrays (the top-level container is depth 1).
    pub max_depth: usize,
    /// Most values (scalars and containers) in one decoded value.
    pub max_values: usize,
    /// Longest input accepted, in bytes.
    pub max_input: usize,
}

impl Default for DecodeLimits {
    /// 64 levels, 4 Mi values, 64 MiB of input: far beyond any real sentry message, small enough
    /// that a hostile one cannot exhaust memory or the stack.
    fn default() -> Self {
        DecodeLimits { max_depth: 64, max_values: 4 << 20, max_input: 64 << 20 }
    }
}
