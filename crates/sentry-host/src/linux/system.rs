//! Host name and OS identity: `uname(2)` and `/etc/os-release`.

use std::fs;

use crate::{HostResult, OsInfo};

pub(crate) fn host_name() -> HostResult<String> {
    Ok(rustix::system::uname().nodename().to_string_lossy().into_owned())
}

pub(crate) fn os_info() -> HostResult<OsInfo> {
    let uname = rustix::system::uname();
    let release =
        fs::read_to_string("/etc/os-release").or_else(|_| fs::read_to_string("/usr/lib/os-release"));
    let name = release.ok().and_then(|text| pretty_name(&text)).unwrap_or_else(|| "Linux".to_owned());
    Ok(OsInfo {
        name,
        version: uname.release().to_string_lossy().into_owned(),
        arch: uname.machine().to_string_lossy().into_owned(),
    })
}

/// `PRETTY_NAME` (else `NAME`) of an os-release file, unquoted.
fn pretty_name(os_release: &str) -> Option<String> {
    let value = |key: &str| {
        os_release.lines().find_map(|line| {
            let raw = line.strip_prefix(key)?.strip_prefix('=')?;
            Some(raw.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
        })
    };
    value("PRETTY_NAME").or_else(|| value("NAME")).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_name_is_unquoted_and_falls_back_to_name() {
        let debian = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(pretty_name(debian).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(pretty_name("NAME=Alpine\n").as_deref(), Some("Alpine"));
        assert_eq!(pretty_name("ID=x\n"), None);
    }
}
