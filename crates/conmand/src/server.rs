//! The TCP accept loop: one task per client connection, errors stop at the task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use conmand_core::protocol::{Request, RequestError};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::client::{self, Resolver};
use crate::console::ConsoleHandle;
use crate::registry::Registry;

/// What every client task needs.
pub struct Shared {
    /// The running consoles.
    pub registry: Arc<Registry>,
    /// Reverse-DNS cache for client addresses.
    pub resolver: Resolver,
    /// The daemon has a `resetcmd` (`OK OPTION=RESET`).
    pub reset: Arc<std::sync::atomic::AtomicBool>,
    /// SO_KEEPALIVE on client sockets.
    pub keepalive: bool,
    /// How long a client may take to complete its handshake.
    pub handshake_timeout: Duration,
    /// `server tcpwrappers`: hosts.allow / hosts.deny screening.
    pub tcpwrap: Arc<crate::tcpwrap::TcpWrappers>,
}

impl Shared {
    /// The consoles a request names, deduplicated and sorted in ConMan's natural
    /// order, after ConMan's checks (errors 3, 5, 6: `matching::resolve`), and
    /// whether the session is a broadcast. QUERY with no pattern means all consoles.
    pub fn resolve(
        &self,
        consoles: &[ConsoleHandle],
        req: &Request,
    ) -> Result<(Vec<ConsoleHandle>, bool), RequestError> {
        let names: Vec<&str> = consoles.iter().map(|c| c.name()).collect();
        let sel = conmand_core::matching::resolve(req, &names)?;
        let list = sel
            .consoles
            .into_iter()
            .map(|i| consoles[i].clone())
            .collect();
        Ok((list, sel.broadcast))
    }

    /// The names a request matched, for the trailer of error 6.
    pub fn matched_names(&self, consoles: &[ConsoleHandle], req: &Request) -> Vec<String> {
        let names: Vec<&str> = consoles.iter().map(|c| c.name()).collect();
        conmand_core::matching::select(&req.consoles, req.regex, &names)
            .unwrap_or_default()
            .into_iter()
            .map(|i| names[i].to_string())
            .collect()
    }
}

/// Accept clients on `listener` until `cancel` fires.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                let shared = shared.clone();
                let cancel = cancel.clone();
                tracker.spawn(async move {
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = serve(stream, peer, shared) => {}
                    }
                });
            }
            Err(e) => {
                // Out of descriptors, typically: wait and try again; never exit.
                tracing::warn!("Unable to accept new connection: {e}");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    if shared.keepalive {
        let _ = socket2::SockRef::from(&stream).set_keepalive(true);
    }
    client::handle(stream, peer, shared).await;
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

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
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
