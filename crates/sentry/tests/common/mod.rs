//! Running the real `kraken-sentry` binary from integration tests.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// The binary under test: this build's, or the one `KRAKEN_SENTRY_BIN` names (the static agent
/// to ship, which `scripts/test-linux-agent.sh` puts through these tests).
pub fn bin() -> PathBuf {
    std::env::var_os("KRAKEN_SENTRY_BIN")
        .map_or_else(|| env!("CARGO_BIN_EXE_kraken-sentry").into(), PathBuf::from)
}

/// Runs `kraken-sentry args...` to completion, with `stdin` as its input (none if `None`).
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = spawn(args);
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Starts `kraken-sentry args...` with piped stdin, stdout and stderr.
pub fn spawn(args: &[&str]) -> Child {
    // Wine occasionally fails to create a process (ERROR_INTERNAL_ERROR) when a test starts
    // hundreds of them; starting again is enough. Only the start is retried, never a result.
    let mut attempts = 0;
    loop {
        let spawned = Command::new(bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            Ok(child) => return child,
            Err(err) if attempts < 3 => {
                attempts += 1;
                eprintln!("starting kraken-sentry failed ({err}); retrying");
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(err) => panic!("kraken-sentry does not start: {err}"),
        }
    }
}
