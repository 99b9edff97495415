//! An output's connection to its receiver: TCP, or TLS over it (rustls with the ring provider,
//! the receiver's CA, its name checked, an optional client certificate), and what a syslog
//! sender can learn from a receiver that never answers: whether it closed and, on Linux,
//! whether its TCP has acknowledged every byte sent (`SIOCOUTQ`). On Linux, data left
//! unacknowledged for [`UNACKNOWLEDGED_LIMIT`] ends the connection (`TCP_USER_TIMEOUT`), so a
//! receiver whose host died is noticed even with nothing more to send.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::settings::ForwardConfig;
use crate::private_files;

/// How long connecting (TCP and TLS) may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// How long sent data may stay unacknowledged before the connection is given up (Linux).
pub const UNACKNOWLEDGED_LIMIT: Duration = Duration::from_secs(30);

/// A byte stream to a receiver.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How to reach one receiver.
pub struct Dialer {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Dialer {
    /// From a checked `[[forward]]` output; reads its CA and client certificate now, so a bad
    /// file stops the base at start rather than at the first connection.
    pub fn new(config: &ForwardConfig) -> anyhow::Result<Dialer> {
        let (host, port) = config.host_port();
        let tls = match (&config.ca, config.tls) {
            (Some(ca), true) => {
                let name = config.server_name.clone().unwrap_or_else(|| host.clone());
                let server_name = ServerName::try_from(name.clone())
                    .map_err(|_| anyhow!("[[forward]] {:?}: {name:?} is not a server name", config.name))?;
                if let Some(problem) = config.key.as_deref().and_then(|key| {
                    private_files::exposed_secret(key, "the forward output's client key (`key`)")
                }) {
                    bail!("[[forward]] {:?}: {problem}", config.name);
                }
                let client = client_config(ca, config.certificate.as_deref().zip(config.key.as_deref()))
                    .with_context(|| format!("[[forward]] {:?}", config.name))?;
                Some((TlsConnector::from(client), server_name))
            }
            _ => None,
        };
        Ok(Dialer { host, port, tls })
    }

    /// A new connection.
    pub async fn connect(&self) -> anyhow::Result<Link> {
        let connecting = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
            tcp.set_nodelay(true)?;
            let socket = SocketWatch::of(&tcp);
            let stream = match &self.tls {
                None => Box::new(tcp) as Box<dyn Stream>,
                Some((connector, name)) => Box::new(connector.connect(name.clone(), tcp).await?),
            };
            Ok::<_, anyhow::Error>(Link { stream, socket })
        };
        tokio::time::timeout(CONNECT_LIMIT, connecting)
            .await
            .map_err(|_| anyhow!("no connection within {CONNECT_LIMIT:?}"))?
    }
}

/// A connection to a receiver.
pub struct Link {
    pub stream: Box<dyn Stream>,
    socket: SocketWatch,
}

impl Link {
    /// Whether the receiver's TCP has acknowledged every byte sent (always true where the
    /// system cannot tell).
    pub fn all_acknowledged(&self) -> bool {
        self.socket.unacknowledged() == 0
    }
}

/// The TCP socket under a link, as the system sees it.
struct SocketWatch {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
}

impl SocketWatch {
    #[cfg(target_os = "linux")]
    fn of(tcp: &TcpStream) -> SocketWatch {
        use std::os::fd::AsRawFd;
        let fd = tcp.as_raw_fd();
        let limit = libc::c_uint::try_from(UNACKNOWLEDGED_LIMIT.as_millis()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: `fd` is the open socket `tcp` owns, and the option's value is a c_uint of
        // the size given.
        let set = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_USER_TIMEOUT,
                (&limit as *const libc::c_uint).cast(),
                std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
            )
        };
        if set != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "forwarding: TCP_USER_TIMEOUT not set");
        }
        SocketWatch { fd }
    }

    #[cfg(not(target_os = "linux"))]
    fn of(_tcp: &TcpStream) -> SocketWatch {
        SocketWatch {}
    }

    /// Bytes sent and not yet acknowledged by the receiver's TCP (0 where the system cannot
    /// tell, or the socket is gone).
    #[cfg(target_os = "linux")]
    fn unacknowledged(&self) -> usize {
        let mut queued: libc::c_int = 0;
        // SAFETY: the socket lives as long as the link's stream, which owns it; SIOCOUTQ (the
        // same request as TIOCOUTQ) writes one c_int.
        let asked = unsafe { libc::ioctl(self.fd, libc::TIOCOUTQ, &mut queued) };
        if asked != 0 { 0 } else { usize::try_from(queued).unwrap_or(0) }
    }

    #[cfg(not(target_os = "linux"))]
    fn unacknowledged(&self) -> usize {
        0
    }
}

/// Whether the receiver is still there: syslog receivers send nothing, so anything but "no
/// data yet" (end of stream, an error, or a TLS close) means the connection is gone.
pub async fn still_open(stream: &mut Box<dyn Stream>) -> bool {
    let mut byte = [0u8; 512];
    match tokio::time::timeout(Duration::ZERO, stream.read(&mut byte)).await {
        Err(_) => true,     // nothing to read: open
        Ok(Ok(0)) => false, // end of stream
        Ok(Ok(_)) => true,  // the receiver said something; syslog has nothing to say
        Ok(Err(_)) => false,
    }
}

fn client_config(ca: &Path, identity: Option<(&Path, &Path)>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("cannot read the CA {}", ca.display()))?
    {
        let certificate = certificate.with_context(|| format!("{}: unreadable PEM", ca.display()))?;
        roots.add(certificate).with_context(|| format!("{}: not a usable CA certificate", ca.display()))?;
    }
    if roots.is_empty() {
        bail!("{}: no CA certificate in it", ca.display());
    }
    let builder =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((certificate, key)) => {
            let chain = CertificateDer::pem_file_iter(certificate)
                .and_then(|chain| chain.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("cannot read the client certificate {}", certificate.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("cannot read the client key {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("the client certificate and key do not match")?
        }
    };
    Ok(Arc::new(config))
}
