//! The metrics listener: answers `GET /metrics` with the current text and anything else with
//! 404, one request per connection. A small responder rather than an HTTP library: one route,
//! no body to read, and the agent's footprint is measured. Bounded: at most
//! [`MAX_CONNECTIONS`] at once (one more is closed as soon as it is accepted), a request head
//! of at most [`MAX_HEAD`] bytes read within [`HEAD_TIME_LIMIT`].

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::exposition::MetricsSource;

pub const MAX_CONNECTIONS: usize = 8;
pub const MAX_HEAD: usize = 8192;
pub const HEAD_TIME_LIMIT: Duration = Duration::from_secs(5);

/// Serves `source` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, source: MetricsSource) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        // Every slot taken (idle clients holding them): this one is closed at once rather
        // than queued behind them.
        let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
        let source = source.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(HEAD_TIME_LIMIT * 2, answer(stream, source)).await;
            drop(slot);
        });
    }
}

async fn answer(mut stream: TcpStream, source: MetricsSource) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let complete = tokio::time::timeout(HEAD_TIME_LIMIT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok(head.windows(4).any(|w| w == b"\r\n\r\n"))
    })
    .await;
    let reply = match complete {
        Ok(Ok(true)) if is_metrics_request(&head) => {
            let text = tokio::task::spawn_blocking(move || source.text()).await.unwrap_or_default();
            response("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", &text)
        }
        Ok(Ok(true)) => response("404 Not Found", "text/plain", "only GET /metrics is served\n"),
        Ok(Ok(false)) | Ok(Err(_)) => return Ok(()),
        Err(_) => response("408 Request Timeout", "text/plain", "the request took too long\n"),
    };
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

/// `GET /metrics` (with or without a query), HTTP/1.x.
fn is_metrics_request(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    method == Some(b"GET")
        && target.is_some_and(|t| t == b"/metrics" || t.starts_with(b"/metrics?"))
        && version.is_some_and(|v| v.starts_with(b"HTTP/1."))
}

fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_a_metrics_request() {
        assert!(is_metrics_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(is_metrics_request(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"));
        for other in [
            &b"POST /metrics HTTP/1.1\r\n\r\n"[..],
            b"GET /metricsx HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET /metrics\r\n\r\n",
        ] {
            assert!(!is_metrics_request(other), "{}", String::from_utf8_lossy(other));
        }
    }
}
