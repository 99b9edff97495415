//! The open-files limit a base needs: every sentry connection is a descriptor, and a default
//! soft limit (1,024 under systemd) would run out long before `[connections] max_total`, after
//! which accepts, the admin API, CRL reloads and storage sockets all fail. At start the soft
//! limit is raised to the hard one (as Go's runtime does), and a limit still below what the
//! configured connections need is said in the log with how to raise it.

/// Descriptors beyond the connections: the admin API's, the storage's, forward outputs',
/// the CRL and the log files.
const SPARE: u64 = 512;

/// Raises the soft open-files limit to the hard one; warns when it stays below `connections`
/// (plus spare descriptors).
pub fn ensure_for(connections: usize) {
    let wanted = connections as u64 + SPARE;
    match raise_soft_limit() {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            wanted,
            "the open-files limit is below what [connections] max_total needs: \
             raise it (LimitNOFILE= in the systemd unit, or ulimit -n) or lower those limits"
        ),
        Ok(limit) => tracing::debug!(limit, "open-files limit"),
        Err(error) => tracing::warn!(%error, "cannot read or raise the open-files limit"),
    }
}

/// The soft limit after raising it to the hard limit.
#[cfg(target_os = "linux")]
fn raise_soft_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given, which lives on this stack frame.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit reads the struct it is given, which lives on this stack frame.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(limit.rlim_cur)
}

/// Elsewhere descriptors (handles) are not limited this way.
#[cfg(not(target_os = "linux"))]
fn raise_soft_limit() -> std::io::Result<u64> {
    Ok(u64::MAX)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let soft = raise_soft_limit().unwrap();
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        assert_eq!((soft, limit.rlim_cur), (limit.rlim_max, limit.rlim_max));
    }
}
