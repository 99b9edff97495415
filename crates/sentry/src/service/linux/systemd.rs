//! systemd behind [`ServiceManager`], for an agent installed by hand (the `.deb` ships the same
//! unit in `/lib/systemd/system`): `service install` writes the packaged unit
//! (`packaging/linux/kraken-sentry.service`) to `/etc/systemd/system` with `ExecStart` naming
//! this executable and configuration, reloads systemd and enables it; the other commands are
//! `systemctl`'s.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::service::manager::{InstallOptions, ServiceManager};

/// The unit the Debian package installs.
pub const PACKAGED_UNIT: &str = include_str!("../../../../../packaging/linux/kraken-sentry.service");
/// The unit's name.
pub const UNIT: &str = "kraken-sentry.service";

/// Where `service install` writes the unit.
fn unit_path() -> PathBuf {
    Path::new("/etc/systemd/system").join(UNIT)
}

/// The packaged unit, starting `executable` with `config`.
pub fn unit_for(executable: &Path, config: &Path) -> String {
    let exec_start = format!(
        "ExecStart={} run --config {}",
        systemd_quote(&executable.to_string_lossy()),
        systemd_quote(&config.to_string_lossy())
    );
    let mut unit: String = PACKAGED_UNIT
        .lines()
        .map(|line| if line.starts_with("ExecStart=") { exec_start.as_str() } else { line })
        .collect::<Vec<_>>()
        .join("\n");
    unit.push('\n');
    unit
}

/// A word for a systemd command line: `%` doubled (systemd expands specifiers), and quoted
/// when it has spaces or quotes.
fn systemd_quote(word: &str) -> String {
    let word = word.replace('%', "%%");
    if word.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\') {
        format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        word
    }
}

fn systemctl(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("systemctl").args(args).output().context("cannot run systemctl")?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() {
        let error = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        anyhow::bail!(
            "systemctl {} failed: {}",
            args.join(" "),
            if error.is_empty() { &text } else { &error }
        );
    }
    Ok(text)
}

/// The host's systemd.
pub struct Systemd;

impl ServiceManager for Systemd {
    fn install(&self, options: &InstallOptions) -> anyhow::Result<()> {
        let path = unit_path();
        std::fs::write(&path, unit_for(&options.executable, &options.config))
            .with_context(|| format!("cannot write {} (run this as root)", path.display()))?;
        systemctl(&["daemon-reload"])?;
        if options.start {
            systemctl(&["enable", "--now", UNIT])?;
        } else {
            systemctl(&["enable", UNIT])?;
        }
        Ok(())
    }

    fn uninstall(&self) -> anyhow::Result<()> {
        let path = unit_path();
        if !path.exists() {
            anyhow::bail!(
                "{} does not exist: the service was not installed by `service install` \
                 (a package's unit is removed with the package)",
                path.display()
            );
        }
        systemctl(&["disable", "--now", UNIT])?;
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        systemctl(&["daemon-reload"]).map(drop)
    }

    fn start(&self) -> anyhow::Result<()> {
        systemctl(&["start", UNIT]).map(drop)
    }

    fn stop(&self) -> anyhow::Result<()> {
        systemctl(&["stop", UNIT]).map(drop)
    }

    fn status(&self) -> anyhow::Result<String> {
        // `is-active` exits non-zero for every state but active: its word is the answer.
        let output =
            Command::new("systemctl").args(["is-active", UNIT]).output().context("cannot run systemctl")?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_unit_is_the_packaged_one_starting_this_executable() {
        let unit =
            unit_for(Path::new("/opt/kraken sentry/kraken-sentry"), Path::new("/etc/k/100%/sentry.toml"));
        let exec: Vec<&str> = unit.lines().filter(|l| l.starts_with("ExecStart=")).collect();
        assert_eq!(
            exec,
            [r#"ExecStart="/opt/kraken sentry/kraken-sentry" run --config /etc/k/100%%/sentry.toml"#]
        );
        let others = |text: &str| -> Vec<String> {
            text.lines().filter(|l| !l.starts_with("ExecStart=")).map(str::to_owned).collect()
        };
        assert_eq!(others(&unit), others(PACKAGED_UNIT), "everything else is the package's unit");
        for hardening in ["Restart=on-failure", "ProtectSystem=strict", "NoNewPrivileges=yes"] {
            assert!(unit.lines().any(|l| l == hardening), "{hardening} is missing");
        }
    }
}
