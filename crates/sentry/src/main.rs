//! `kraken-sentry`: the endpoint agent's command-line entry point.
fn main() {}
