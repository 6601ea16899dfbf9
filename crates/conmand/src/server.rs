//! The TCP accept loop: one task per client connection (in a `client` tracing span
//! named by the peer address), errors stop at the task. A connection over
//! `maxclients` (or its host's share, or the descriptors left beside the consoles)
//! is answered with an error and closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use conmand_core::admission::Refusal;
use conmand_core::protocol::{ErrorCode, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::client;
use crate::frontend::Frontend;

/// Accept clients on `listener` until `cancel` fires.
pub async fn accept_loop(
    listener: TcpListener,
    front: Arc<Frontend>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(10);
    let started = tokio::time::Instant::now();
    // Accept failures in a row, and when one was last reported.
    let mut failures: u64 = 0;
    let mut reported = started;
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                if failures > 0 {
                    tracing::info!(
                        "Accepting connections again after {failures} failed attempt(s)"
                    );
                    failures = 0;
                }
                let ticket = match front.admit(peer.ip()) {
                    Ok(t) => t,
                    Err(why) => {
                        front.log_refusal(peer, &why, started.elapsed().as_millis() as u64);
                        // Answer a bounded number at a time; past that, just close.
                        if let Ok(permit) = front.refusing.clone().try_acquire_owned() {
                            tracker.spawn(async move {
                                refuse(stream, &why).await;
                                drop(permit);
                            });
                        }
                        continue;
                    }
                };
                let front = front.clone();
                let cancel = cancel.clone();
                let span = tracing::debug_span!("client", %peer);
                tracker.spawn(
                    async move {
                        tokio::select! {
                            _ = cancel.cancelled() => {}
                            _ = serve(stream, peer, front) => {}
                        }
                        drop(ticket);
                    }
                    .instrument(span),
                );
            }
            Err(e) => {
                // Out of descriptors, typically: wait and try again; never exit. Said
                // once, then once a minute while it lasts.
                failures += 1;
                let now = tokio::time::Instant::now();
                if failures == 1 || now.duration_since(reported) >= ACCEPT_REPORT_EVERY {
                    reported = now;
                    tracing::warn!(
                        "Unable to accept new connection: {}{}",
                        conmand_core::oserror::strerror(&e),
                        if failures > 1 {
                            format!(" ({failures} attempts so far; retrying)")
                        } else {
                            "; retrying".to_string()
                        }
                    );
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// How often a lasting accept failure (EMFILE) is reported again.
const ACCEPT_REPORT_EVERY: Duration = Duration::from_secs(60);

/// How long a refused connection may take to send its greeting, take the answer
/// and close.
const REFUSE_WAIT: Duration = Duration::from_secs(2);

/// Answer a connection over the limits as ConMan answers a bad greeting (`ERROR
/// CODE=2 MESSAGE='…'`), then close. The greeting is read first (briefly), so the
/// client, which reads the reply after sending it, gets the message rather than a
/// reset connection.
async fn refuse(mut stream: TcpStream, why: &Refusal) {
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(REFUSE_WAIT, stream.read(&mut buf)).await;
    let rsp = Response::Error {
        code: ErrorCode::BadRequest,
        message: why.to_string(),
    };
    let _ = tokio::time::timeout(REFUSE_WAIT, stream.write_all(&rsp.to_bytes())).await;
    let _ = stream.shutdown().await;
    // Read until the client closes, so our close sends FIN rather than RST.
    let _ = tokio::time::timeout(REFUSE_WAIT, async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

async fn serve(stream: TcpStream, peer: SocketAddr, front: Arc<Frontend>) {
    let _ = stream.set_nodelay(true);
    if front.keepalive {
        let _ = socket2::SockRef::from(&stream).set_keepalive(true);
    }
    client::handle(stream, peer, front).await;
}

/// Bind the listening sockets: 127.0.0.1 and ::1 with `loopback`, otherwise every
/// IPv4 and IPv6 address. A missing IPv6 stack is not an error.
pub fn bind(port: u16, loopback: bool) -> std::io::Result<Vec<TcpListener>> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let (v4, v6) = if loopback {
        (
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        )
    };
    let first = listen(SocketAddr::new(v4, port))?;
    let port = first.local_addr()?.port();
    let mut out = vec![first];
    match listen(SocketAddr::new(v6, port)) {
        Ok(l) => out.push(l),
        Err(e) => tracing::debug!("No IPv6 listener on port {port}: {e}"),
    }
    Ok(out)
}

pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.set_cloexec(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    TcpListener::from_std(sock.into())
}
