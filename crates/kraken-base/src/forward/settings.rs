//! `[[forward]]` in `base.toml`: where stored records are passed on as syslog, and how.
//!
//! ```toml
//! [[forward]]
//! name = "siem"                        # names the output's cursor file and its metrics
//! address = "siem.example.org:6514"    # host:port, RFC 5424 over TCP, octet-counted
//! tls = true                           # default; false sends in the clear
//! ca = "/etc/kraken-base/siem-ca.pem"  # required with TLS: the receiver's CA
//! server_name = "siem.example.org"     # checked in its certificate (default: the host)
//! certificate = "/etc/kraken-base/pki/forward.pem"   # optional client certificate
//! key = "/etc/kraken-base/pki/forward.key"           # and its key (both or neither)
//! facility = "local0"                  # kern user mail daemon auth syslog lpr news uucp
//!                                      # cron authpriv ftp local0..local7 (default user)
//! severity = "info"                    # for records that carry none (default info)
//! app_name = "kraken-sentry"
//! sd_id = "kraken@32473"               # the structured data element's id
//! max_message_bytes = 65536            # larger messages leave params out (480..=1048576)
//! max_backlog = 1000000                # records not yet sent kept for it; beyond, the
//!                                      # oldest are skipped and counted as dropped
//! start = "end"                        # a new output (no cursor yet) sends what is stored
//!                                      # from now on; "beginning": every record kept
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::syslog::SyslogFormat;

/// One `[[forward]]` output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    pub name: String,
    pub address: String,
    #[serde(default = "default_tls")]
    pub tls: bool,
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    #[serde(default = "default_facility")]
    pub facility: String,
    #[serde(default = "default_severity")]
    pub severity: String,
    #[serde(default = "default_app_name")]
    pub app_name: String,
    #[serde(default = "default_sd_id")]
    pub sd_id: String,
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    #[serde(default = "default_max_backlog")]
    pub max_backlog: u64,
    #[serde(default)]
    pub start: StartAt,
}

/// Where an output with no cursor yet starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// With the records stored after it starts.
    #[default]
    End,
    /// With the oldest record kept.
    Beginning,
}

fn default_tls() -> bool {
    true
}
fn default_facility() -> String {
    "user".into()
}
fn default_severity() -> String {
    "info".into()
}
fn default_app_name() -> String {
    "kraken-sentry".into()
}
fn default_sd_id() -> String {
    // 32473 is the private enterprise number RFC 5612 sets aside for examples: an
    // organisation with its own number puts it here.
    "kraken@32473".into()
}
fn default_max_message_bytes() -> usize {
    65_536
}
fn default_max_backlog() -> u64 {
    1_000_000
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

impl ForwardConfig {
    /// Checks the output on its own; `Err` says what is wrong, naming the output.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.name;
        let fail = |what: String| Err(format!("[[forward]] {name:?}: {what}"));
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "[[forward]] name {name:?}: 1-64 letters, digits, '-' or '_' (it names a file)"
            ));
        }
        if split_host_port(&self.address).is_none() {
            return fail(format!("address {:?} is not host:port", self.address));
        }
        if self.tls && self.ca.is_none() {
            return fail("tls needs `ca`, the receiver's CA certificate (PEM)".into());
        }
        if !self.tls && (self.ca.is_some() || self.certificate.is_some() || self.server_name.is_some()) {
            return fail("`ca`, `certificate` and `server_name` need tls = true".into());
        }
        if self.certificate.is_some() != self.key.is_some() {
            return fail("`certificate` and `key` go together".into());
        }
        if !FACILITIES.contains(&self.facility.as_str()) {
            return fail(format!("facility {:?} is not one of {}", self.facility, FACILITIES.join(" ")));
        }
        if !SEVERITIES.contains(&self.severity.as_str()) {
            return fail(format!("severity {:?} is not one of {}", self.severity, SEVERITIES.join(" ")));
        }
        if self.app_name.is_empty()
            || self.app_name.len() > 48
            || !self.app_name.bytes().all(|b| b.is_ascii_graphic())
        {
            return fail("app_name: 1-48 printable ASCII characters".into());
        }
        if !valid_sd_id(&self.sd_id) {
            return fail(format!("sd_id {:?}: name@number, at most 32 printable characters", self.sd_id));
        }
        if !(480..=1 << 20).contains(&self.max_message_bytes) {
            return fail("max_message_bytes: from 480 to 1048576".into());
        }
        if self.max_backlog == 0 {
            return fail("max_backlog: at least 1".into());
        }
        Ok(())
    }

    /// How its messages are written (after [`ForwardConfig::check`]).
    pub fn format(&self) -> SyslogFormat {
        let position = |list: &[&str], item: &str| list.iter().position(|x| *x == item).unwrap_or(0) as u8;
        SyslogFormat {
            facility: position(&FACILITIES, &self.facility),
            severity: position(&SEVERITIES, &self.severity),
            app_name: self.app_name.clone(),
            sd_id: self.sd_id.clone(),
            max_message_bytes: self.max_message_bytes,
        }
    }

    /// The host to connect to and check the certificate for, and the port.
    pub fn host_port(&self) -> (String, u16) {
        split_host_port(&self.address).unwrap_or_default()
    }
}

/// `host:port` or `[v6]:port`.
fn split_host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok().filter(|p| *p > 0)?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// An SD-ID: SD-NAME characters (printable ASCII but `=`, space, `]`, `"`), at most 32, and
/// `name@digits` unless IANA registered it (RFC 5424 7: the registered ones are the
/// protocol's own, so a custom one always has an `@`).
fn valid_sd_id(id: &str) -> bool {
    let chars_ok = id.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'=' | b']' | b'"'));
    let shape_ok = match id.split_once('@') {
        Some((name, number)) => {
            !name.is_empty()
                && !number.is_empty()
                && !number.contains('@')
                && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        }
        None => false,
    };
    !id.is_empty() && id.len() <= 32 && chars_ok && shape_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ForwardConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_defaults_are_tls_user_info_and_a_checked_output() {
        let config = parse("name = \"siem\"\naddress = \"siem.example.org:6514\"\nca = \"/ca.pem\"");
        assert!(config.tls);
        config.check().unwrap();
        let format = config.format();
        assert_eq!((format.facility, format.severity), (1, 6));
        assert_eq!(config.host_port(), ("siem.example.org".into(), 6514));
    }

    #[test]
    fn bad_outputs_are_refused_with_the_reason() {
        let base = "name = \"siem\"\naddress = \"127.0.0.1:6514\"\n";
        for (extra, expected) in [
            ("", "tls needs `ca`"),
            ("tls = false\nca = \"/ca.pem\"", "need tls = true"),
            ("ca = \"/ca.pem\"\ncertificate = \"/c.pem\"", "go together"),
            ("ca = \"/ca.pem\"\nfacility = \"local9\"", "facility"),
            ("ca = \"/ca.pem\"\nseverity = \"loud\"", "severity"),
            ("ca = \"/ca.pem\"\nsd_id = \"kraken\"", "sd_id"),
            ("ca = \"/ca.pem\"\nsd_id = \"a b@1\"", "sd_id"),
            ("ca = \"/ca.pem\"\nmax_message_bytes = 100", "max_message_bytes"),
            ("ca = \"/ca.pem\"\nmax_backlog = 0", "max_backlog"),
            ("ca = \"/ca.pem\"\napp_name = \"two words\"", "app_name"),
        ] {
            let error = parse(&format!("{base}{extra}")).check().unwrap_err();
            assert!(error.contains(expected), "{extra:?}: {error}");
        }
        let error = parse("name = \"../x\"\naddress = \"h:1\"\ntls = false").check().unwrap_err();
        assert!(error.contains("names a file"), "{error}");
        for address in ["host", "host:0", ":514", "::1:514", "[::1]"] {
            let error = parse(&format!("name = \"a\"\naddress = \"{address}\"\ntls = false")).check();
            assert!(error.unwrap_err().contains("host:port"), "{address}");
        }
        let v6 = parse("name = \"a\"\naddress = \"[::1]:514\"\ntls = false");
        v6.check().unwrap();
        assert_eq!(v6.host_port(), ("::1".into(), 514));
    }
}
