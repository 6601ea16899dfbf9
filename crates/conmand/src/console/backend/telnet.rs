//! Telnet terminal-server consoles (`dev="host:port"`), ConMan's `server-telnet.c` on
//! tokio, with the protocol itself in [`conmand_core::telnet`].
//!
//! Connecting: the host is resolved on every attempt (tokio's `lookup_host`, so IPv4
//! and IPv6; ConMan did IPv4 only), each address is tried in turn within one
//! [`CONNECT_TIMEOUT`], the socket gets `SO_OOBINLINE` and, per `server keepalive`,
//! `SO_KEEPALIVE`, and the opening negotiation ([`telnet::OPENING`]) is written.
//!
//! Once up, the socket is split:
//!
//! - the **reader** runs every byte through a [`telnet::Parser`] and returns only
//!   console data; replies to the server's negotiation go onto the outgoing queue, and
//!   parser events are logged with ConMan's text and priority;
//! - the **writer** doubles 0xFF in client data (ConMan sent it bare, a bug) and puts
//!   it on the same queue; a break is `IAC BRK`;
//! - a small **flusher task** owns the socket's write half and writes the queue out in
//!   order, so replies reach the server even if no client ever types, and a reply can
//!   never land inside a client's escaped `IAC IAC`.
//!
//! The outgoing queue is a bounded `mpsc` of [`OUT_QUEUE`] chunks. Full-policy: block.
//! The writer returns `Pending` until there is room (backpressure to client input); the
//! reader keeps the replies of its last read and reads nothing more from the server
//! until they are queued (backpressure to the server). Nothing is dropped here; the
//! console actor bounds what client input may wait for a slow server (64 KiB).
//! The flusher is aborted when the connection is dropped, so a stalled server cannot
//! keep the socket alive.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use conmand_core::config::{Priority, TelnetSpec};
use conmand_core::oserror::strerror;
use conmand_core::telnet::{self, Parsed, Parser};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::PollSender;
use tokio_util::task::AbortOnDropHandle;

use super::{Backend, Backoff, BoxFuture, Connection, ConsoleWriter, OpenError};

/// ConMan's telnet reconnect policy (`TELNET_MIN_TIMEOUT`, `TELNET_MAX_TIMEOUT`).
pub const BACKOFF: Backoff = Backoff {
    min: Duration::from_secs(15),
    max: Duration::from_secs(1800),
    reset_after: Duration::from_secs(15),
};

/// Limit on one whole connect attempt (all addresses plus the opening negotiation).
/// ConMan has none (a pending connect waits for the kernel's timeout).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Capacity, in chunks, of the queue of bytes going to the server.
pub const OUT_QUEUE: usize = 32;

/// Most bytes read from the socket per `poll_read`.
const READ_CHUNK: usize = 4096;

/// A console on a telnet terminal server.
#[derive(Debug, Clone)]
pub struct TelnetBackend {
    /// Console name, for messages.
    name: Arc<str>,
    /// Host name or address (IPv6 without brackets).
    host: String,
    /// TCP port.
    port: u16,
    /// Set `SO_KEEPALIVE` (`server keepalive=on`).
    keepalive: bool,
}

impl TelnetBackend {
    /// A backend for console `name` at `spec`'s host and port; `keepalive` is the
    /// `SERVER keepalive=` setting.
    pub fn new(spec: &TelnetSpec, name: impl Into<String>, keepalive: bool) -> Self {
        TelnetBackend {
            name: Arc::from(name.into()),
            host: spec.host.clone(),
            port: spec.port,
            keepalive,
        }
    }

    /// `host:port`, with an IPv6 address in brackets.
    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Resolves the host (on tokio's blocking pool).
    async fn resolve(&self) -> Result<Vec<SocketAddr>, OpenError> {
        let unresolved = || {
            OpenError::Resolve(format!(
                "Unable to resolve hostname \"{}\" for [{}]",
                self.host, self.name
            ))
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|_| unresolved())?
            .collect();
        if addrs.is_empty() {
            Err(unresolved())
        } else {
            Ok(addrs)
        }
    }

    /// Connects to the first address that answers, sets the socket options and sends
    /// the opening negotiation, all before `deadline`.
    async fn connect(&self, addrs: &[SocketAddr], deadline: Instant) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::TimedOut, "Connection timed out");
        for addr in addrs {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(mut stream)) => {
                    let sock = socket2::SockRef::from(&stream);
                    sock.set_out_of_band_inline(true)?;
                    sock.set_keepalive(self.keepalive)?;
                    tokio::time::timeout_at(deadline, stream.write_all(&telnet::OPENING))
                        .await
                        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                    return Ok(stream);
                }
                Ok(Err(e)) => last = e,
                Err(_) => break,
            }
        }
        Err(last)
    }
}

impl Backend for TelnetBackend {
    /// ConMan prints telnet targets in angle brackets: `<host:port>`.
    fn describe(&self) -> String {
        format!("<{}>", self.host_port())
    }

    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>> {
        Box::pin(async move {
            let deadline = Instant::now() + CONNECT_TIMEOUT;
            let addrs = self.resolve().await?;
            let stream = self.connect(&addrs, deadline).await.map_err(|e| {
                OpenError::Retry(format!(
                    "Unable to connect to {} for [{}]: {}",
                    self.describe(),
                    self.name,
                    strerror(&e)
                ))
            })?;
            let (read_half, write_half) = stream.into_split();
            let (tx, rx) = mpsc::channel(OUT_QUEUE);
            let flusher = AbortOnDropHandle::new(tokio::spawn(run_flusher(write_half, rx)));
            Ok(Connection {
                reader: Box::new(TelnetReader {
                    socket: read_half,
                    parser: Parser::new(),
                    parsed: Parsed::default(),
                    pending: None,
                    out: PollSender::new(tx.clone()),
                    name: Arc::clone(&self.name),
                    raw: vec![0; READ_CHUNK].into_boxed_slice(),
                }),
                writer: Box::new(TelnetWriter {
                    out: PollSender::new(tx),
                    escaped: Vec::new(),
                }),
                connected_target: Some(self.describe()),
                report_uptime: false,
                guard: Some(Box::new(flusher)),
            })
        })
    }

    fn backoff(&self) -> Backoff {
        BACKOFF
    }
}

/// Writes queued chunks to the server in order until the queue closes (every sender
/// dropped) or a write fails. Exiting drops the receiver, so later sends fail and the
/// writer reports `BrokenPipe`.
async fn run_flusher(mut socket: OwnedWriteHalf, mut queue: mpsc::Receiver<Bytes>) {
    while let Some(chunk) = queue.recv().await {
        if socket.write_all(&chunk).await.is_err() {
            return;
        }
    }
}

fn broken_pipe() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "telnet connection closed")
}

/// Console output: socket bytes with telnet commands removed.
struct TelnetReader {
    /// Read half of the connection.
    socket: OwnedReadHalf,
    /// Protocol state, kept across reads.
    parser: Parser,
    /// Reused output of the parser.
    parsed: Parsed,
    /// Replies from the last read not yet queued. While set, nothing more is read.
    pending: Option<Bytes>,
    /// The outgoing queue (shared with the writer).
    out: PollSender<Bytes>,
    /// Console name, for log messages.
    name: Arc<str>,
    /// Raw read buffer.
    raw: Box<[u8]>,
}

impl TelnetReader {
    /// Moves pending replies onto the outgoing queue. `Pending` while the queue is full.
    fn poll_queue_replies(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_some() {
            ready!(self.out.poll_reserve(cx)).map_err(|_| broken_pipe())?;
            if let Some(replies) = self.pending.take() {
                self.out.send_item(replies).map_err(|_| broken_pipe())?;
            }
        }
        Poll::Ready(Ok(()))
    }

    fn log_events(&self) {
        for event in &self.parsed.events {
            let msg = event.message(&self.name);
            match event.priority() {
                Priority::Debug => tracing::debug!(console = %self.name, "{msg}"),
                Priority::Info => tracing::info!(console = %self.name, "{msg}"),
                _ => tracing::info!(console = %self.name, priority = "notice", "{msg}"),
            }
        }
    }
}

impl AsyncRead for TelnetReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.poll_queue_replies(cx))?;
            let max = buf.remaining().min(this.raw.len());
            if max == 0 {
                return Poll::Ready(Ok(()));
            }
            let mut raw = ReadBuf::new(&mut this.raw[..max]);
            ready!(Pin::new(&mut this.socket).poll_read(cx, &mut raw))?;
            if raw.filled().is_empty() {
                return Poll::Ready(Ok(())); // EOF
            }
            this.parsed.clear();
            this.parser.feed(raw.filled(), &mut this.parsed);
            this.log_events();
            if !this.parsed.replies.is_empty() {
                this.pending = Some(Bytes::copy_from_slice(&this.parsed.replies));
            }
            if !this.parsed.data.is_empty() {
                // Data never outgrows the raw bytes it came from, so it fits.
                buf.put_slice(&this.parsed.data);
                // Queue the replies now if there is room; otherwise the next read does.
                if let Poll::Ready(Err(e)) = this.poll_queue_replies(cx) {
                    tracing::debug!(console = %this.name, "telnet reply not queued: {e}");
                }
                return Poll::Ready(Ok(()));
            }
            // Only commands: queue their replies and read on (an empty read is EOF).
        }
    }
}

/// Client input (0xFF doubled) and `IAC BRK`, onto the outgoing queue.
struct TelnetWriter {
    /// The outgoing queue (shared with the reader's replies).
    out: PollSender<Bytes>,
    /// Reused escape buffer.
    escaped: Vec<u8>,
}

impl AsyncWrite for TelnetWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.out.poll_reserve(cx)).map_err(|_| broken_pipe())?;
        this.escaped.clear();
        telnet::escape_into(buf, &mut this.escaped);
        this.out
            .send_item(Bytes::copy_from_slice(&this.escaped))
            .map_err(|_| broken_pipe())?;
        Poll::Ready(Ok(buf.len()))
    }

    /// Bytes are handed to the flusher task in order; there is no further buffering to
    /// wait for here.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().out.close();
        Poll::Ready(Ok(()))
    }
}

impl ConsoleWriter for TelnetWriter {
    fn send_break(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            std::future::poll_fn(|cx| self.out.poll_reserve(cx))
                .await
                .map_err(|_| broken_pipe())?;
            self.out
                .send_item(Bytes::from_static(&telnet::BREAK))
                .map_err(|_| broken_pipe())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(host: &str, port: u16) -> TelnetBackend {
        TelnetBackend::new(
            &TelnetSpec {
                host: host.into(),
                port,
            },
            "t",
            true,
        )
    }

    #[test]
    fn describe_is_conman_style() {
        assert_eq!(backend("127.0.0.1", 7301).describe(), "<127.0.0.1:7301>");
        assert_eq!(backend("ts1", 23).describe(), "<ts1:23>");
        assert_eq!(backend("::1", 7302).describe(), "<[::1]:7302>");
        assert_eq!(backend("ts1", 23).backoff(), BACKOFF);
    }

    #[tokio::test]
    async fn socket_gets_oobinline_and_keepalive_per_config() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for keepalive in [true, false] {
            let be = TelnetBackend::new(
                &TelnetSpec {
                    host: "127.0.0.1".into(),
                    port: addr.port(),
                },
                "t",
                keepalive,
            );
            let deadline = Instant::now() + CONNECT_TIMEOUT;
            let stream = be.connect(&[addr], deadline).await.unwrap();
            let sock = socket2::SockRef::from(&stream);
            assert_eq!(sock.keepalive().unwrap(), keepalive);
            assert!(sock.out_of_band_inline().unwrap());
            let _ = listener.accept().await.unwrap();
        }
    }

    /// A 70-byte label is rejected by the resolver library itself (labels are at most
    /// 63 bytes), so this never sends a DNS query off the machine.
    #[tokio::test]
    async fn unresolvable_host_is_a_resolve_error() {
        let host = format!("{}.invalid", "a".repeat(70));
        let err = backend(&host, 23).open().await.err().unwrap();
        match err {
            OpenError::Resolve(msg) => {
                assert_eq!(
                    msg,
                    format!("Unable to resolve hostname \"{host}\" for [t]")
                )
            }
            other => panic!("expected Resolve, got {other:?}"),
        }
    }
}
