//! `kraken-sentry`: the endpoint agent's command-line entry point. Parsing and dispatch live in
//! [`sentry::cli`]; this file only maps the outcome to an exit code.

use std::process::ExitCode;

/// The static musl build allocates with dlmalloc, which keeps freed memory for reuse (up to its
/// trim threshold) where musl's allocator unmaps it at once (see `Cargo.toml`).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    sentry::cli::main()
}
