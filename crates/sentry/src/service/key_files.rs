//! BUG-47: the sentry's private keys must be readable by the service's account and the
//! administrators only. Before the agent starts as a service (and before `run` on Linux), every
//! configured key file is checked: on Windows its DACL must grant no read access to Everyone,
//! Users or Authenticated Users (`windows::acl`); on Linux its mode must give group and others
//! nothing (`linux::key_mode`). A key that fails stops the start, with the fix in the message.

use std::path::Path;

use crate::config::Config;

/// What is wrong with the configured key files, one message each (empty: nothing).
pub fn exposed_keys(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    for base in &config.bases {
        if let Some(problem) = exposure(&base.key) {
            problems.push(format!("base {}: {problem}", base.name));
        }
    }
    problems
}

/// An error naming every exposed key and how to fix it, if any is.
pub fn check(config: &Config) -> anyhow::Result<()> {
    let problems = exposed_keys(config);
    if problems.is_empty() {
        return Ok(());
    }
    anyhow::bail!("refusing to start with private keys other accounts can read: {}", problems.join("; "))
}

/// Why `key` is exposed, with the fix; `None` when it is not (a missing file is the link's
/// error to report, not this check's).
fn exposure(key: &Path) -> Option<String> {
    #[cfg(windows)]
    return super::windows::acl::key_exposure(key);
    #[cfg(target_os = "linux")]
    return super::linux::key_mode::key_exposure(key);
    #[cfg(not(any(windows, target_os = "linux")))]
    {
        let _ = key;
        None
    }
}
