//! IPMI v2.0 Serial-over-LAN consoles (`dev="ipmi:host[:port]"`), natively on tokio.
//!
//! All protocol logic lives in [`conmand_core::ipmi`] (sans-IO). This module owns
//! the I/O: one connected [`UdpSocket`] per console, a deadline timer and two
//! bounded channels. [`IpmiBackend::open`] runs the session set-up and SOL
//! activation under an overall watchdog; after that one spawned task per console
//! (no thread) drives acks, retransmissions and the keepalive, and ends when the
//! session dies (the reader then sees EOF, so the console actor reconnects) or
//! when the connection is dropped (then it deactivates SOL and closes the
//! session politely).
//!
//! Channels and their full-policies:
//! - output (task → reader), capacity [`OUTPUT_CHANNEL`] chunks: the task keeps
//!   reading the socket (it must keep acking and keepalive-ing) and buffers up to
//!   [`OUTPUT_BUFFER_LIMIT`] bytes for a slow reader; beyond that it drops the
//!   newest console output and logs how much.
//! - input (writer → task), capacity [`INPUT_CHANNEL`] chunks: the writer waits
//!   (backpressure) while the SOL transmit queue toward the BMC is full.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use conmand_core::config::IpmiSpec;
use conmand_core::ipmi::session::{Event, Session, SessionError};
use conmand_core::ipmi::{IpmiCredentials, OptionsError, SessionOptions, wire};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::PollSender;

use super::{Backend, Backoff, BoxFuture, Connection, ConsoleWriter, OpenError};

/// Output chunks queued toward the reader.
pub const OUTPUT_CHANNEL: usize = 16;
/// Console output buffered in the task while the reader is slow.
pub const OUTPUT_BUFFER_LIMIT: usize = 64 * 1024;
/// Input chunks queued toward the task.
pub const INPUT_CHANNEL: usize = 16;
/// Receive buffer: a full datagram (SOL packets are ≤ ~350 bytes).
const RECV_BUFFER: usize = 2048;
/// ConMan's `IPMI_CONNECT_TIMEOUT`: the whole set-up must finish within this.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(300);

/// One IPMI SOL console target.
#[derive(Debug, Clone)]
pub struct IpmiBackend {
    /// BMC host name or address (IPv6 without brackets).
    host: String,
    /// UDP port if configured (default 623).
    port: Option<u16>,
    /// User, password, K_g (redacted in `Debug`).
    creds: IpmiCredentials,
    /// Cipher suite, privilege, workarounds, timers.
    opts: SessionOptions,
    /// Watchdog over the whole set-up.
    connect_timeout: Duration,
    /// Where the per-session driver task is spawned, so daemon shutdown can wait
    /// for sessions to deactivate SOL and close (BMCs have few session slots).
    tasks: tokio_util::task::TaskTracker,
}

impl IpmiBackend {
    /// A backend for `spec`, with credentials the daemon resolved from
    /// `ipmiopts` or `conman.pswd`.
    pub fn new(spec: &IpmiSpec, creds: IpmiCredentials) -> Result<IpmiBackend, OptionsError> {
        let opts = SessionOptions::from_ipmi_opts(&spec.opts)?;
        IpmiBackend::with_options(spec.host.clone(), spec.port, creds, opts)
    }

    /// A backend with explicit session options (tests, tuning).
    pub fn with_options(
        host: String,
        port: Option<u16>,
        creds: IpmiCredentials,
        opts: SessionOptions,
    ) -> Result<IpmiBackend, OptionsError> {
        creds.validate()?;
        Ok(IpmiBackend {
            host,
            port,
            creds,
            opts,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            tasks: tokio_util::task::TaskTracker::new(),
        })
    }

    /// Spawn session drivers on `tasks` (the daemon waits for it at shutdown;
    /// without this call they go on a tracker of the backend's own).
    pub fn set_tracker(&mut self, tasks: tokio_util::task::TaskTracker) {
        self.tasks = tasks;
    }

    /// Change the overall set-up watchdog.
    pub fn set_connect_timeout(&mut self, d: Duration) {
        self.connect_timeout = d;
    }

    async fn resolve(&self) -> Result<SocketAddr, OpenError> {
        let port = self.port.unwrap_or(wire::RMCP_PORT);
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), port))
            .await
            .map_err(|e| OpenError::Resolve(format!("unable to resolve \"{}\": {e}", self.host)))?;
        addrs
            .next()
            .ok_or_else(|| OpenError::Resolve(format!("unable to resolve \"{}\"", self.host)))
    }

    async fn open_inner(&self) -> Result<Connection, OpenError> {
        let mut addr = self.resolve().await?;
        let describe = self.describe();
        let mut moved = false;
        let (sock, session, early) = loop {
            let sock = bind_connected(addr).await?;
            match tokio::time::timeout(self.connect_timeout, self.establish(&sock, addr.port()))
                .await
            {
                Err(_) => return Err(OpenError::Failed("connection timeout".into())),
                Ok(Ok((session, early))) => break (sock, session, early),
                Ok(Err(SessionError::PortMoved(p))) if !moved => {
                    tracing::info!(target = %describe, port = p, "BMC moved SOL to another port");
                    moved = true;
                    addr.set_port(p);
                }
                Ok(Err(e)) => return Err(OpenError::Failed(e.to_string())),
            }
        };
        let (out_tx, out_rx) = mpsc::channel(OUTPUT_CHANNEL);
        let (in_tx, in_rx) = mpsc::channel(INPUT_CHANNEL);
        let driver = Driver {
            sock,
            session,
            out_tx,
            in_rx,
            out_buf: early,
            stash: None,
            target: describe.clone(),
            dropped_output: 0,
        };
        self.tasks.spawn(driver.run());
        Ok(Connection {
            reader: Box::new(SolReader {
                rx: out_rx,
                cur: Bytes::new(),
            }),
            writer: Box::new(SolWriter {
                tx: PollSender::new(in_tx.clone()),
                break_tx: in_tx,
            }),
            connected_target: Some(describe),
            report_uptime: false,
            guard: None,
        })
    }

    /// Run the set-up on `sock` until SOL is active.
    async fn establish(
        &self,
        sock: &UdpSocket,
        port: u16,
    ) -> Result<(Session, BytesMut), SessionError> {
        let rng = Box::new(|b: &mut [u8]| {
            // Invariant: the OS random source is available on every supported
            // platform; without it no session key can be safe.
            getrandom::fill(b).expect("OS random source");
        });
        let now = Instant::now().into_std();
        let mut session = Session::new(self.creds.clone(), self.opts, port, rng, now);
        session.start(now);
        let mut early = BytesMut::new();
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            flush(sock, &mut session).await;
            while let Some(ev) = session.poll_event() {
                match ev {
                    Event::Established { max_chars } => {
                        tracing::debug!(target = %self.describe(), max_chars, "SOL established");
                    }
                    Event::Data(d) => early.extend_from_slice(&d),
                    Event::Notice(n) => tracing::info!(target = %self.describe(), "{n}"),
                    Event::Closed(r) => {
                        return Err(r.unwrap_or(SessionError::BmcImplementation("closed")));
                    }
                }
            }
            if session.is_established() {
                return Ok((session, early));
            }
            let deadline = session.poll_timeout().map(Instant::from_std);
            tokio::select! {
                r = sock.recv(&mut buf) => {
                    // Errors (e.g. ICMP port unreachable) count as packet loss.
                    if let Ok(n) = r {
                        session.handle_datagram(Instant::now().into_std(), &buf[..n]);
                    }
                }
                () = sleep_until_opt(deadline) => {
                    session.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }
}

impl Backend for IpmiBackend {
    /// ConMan's form: `<host>`, or `<host:port>` when a port was configured
    /// (`<[v6addr]:port>` for IPv6).
    fn describe(&self) -> String {
        match self.port {
            Some(p) if self.host.contains(':') => format!("<[{}]:{p}>", self.host),
            Some(p) => format!("<{}:{p}>", self.host),
            None => format!("<{}>", self.host),
        }
    }

    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>> {
        Box::pin(self.open_inner())
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            min: Duration::from_secs(60),
            max: Duration::from_secs(1800),
            reset_after: Duration::from_secs(60),
        }
    }
}

async fn bind_connected(addr: SocketAddr) -> Result<UdpSocket, OpenError> {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(|e| OpenError::Retry(format!("cannot create UDP socket: {e}")))?;
    sock.connect(addr)
        .await
        .map_err(|e| OpenError::Failed(format!("BMC unreachable: {e}")))?;
    Ok(sock)
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Send everything the session has queued. Send errors count as loss.
async fn flush(sock: &UdpSocket, session: &mut Session) {
    while let Some(d) = session.poll_transmit() {
        if let Err(e) = sock.send(&d).await {
            tracing::trace!("IPMI send failed: {e}");
        }
    }
}

/// Input from the writer.
#[derive(Debug)]
enum Input {
    Data(Bytes),
    Break,
}

/// The per-console task after SOL activation.
struct Driver {
    sock: UdpSocket,
    session: Session,
    out_tx: mpsc::Sender<Bytes>,
    in_rx: mpsc::Receiver<Input>,
    /// Console output not yet handed to the reader (≤ OUTPUT_BUFFER_LIMIT).
    out_buf: BytesMut,
    /// Input the session had no room for yet.
    stash: Option<Bytes>,
    /// For log lines.
    target: String,
    /// Console output dropped because the reader fell behind.
    dropped_output: u64,
}

impl Driver {
    async fn run(mut self) {
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut closing = false;
        let mut input_open = true;
        loop {
            self.feed_stash();
            flush(&self.sock, &mut self.session).await;
            self.drain_events();
            if self.session.is_closed() {
                break;
            }
            let deadline = self.session.poll_timeout().map(Instant::from_std);
            let want_input =
                input_open && !closing && self.stash.is_none() && self.session.input_space() > 0;
            tokio::select! {
                r = self.sock.recv(&mut buf) => {
                    if let Ok(n) = r {
                        self.session.handle_datagram(Instant::now().into_std(), &buf[..n]);
                    }
                }
                () = sleep_until_opt(deadline) => {
                    self.session.handle_timeout(Instant::now().into_std());
                }
                permit = self.out_tx.reserve(), if !self.out_buf.is_empty() && !closing => {
                    if let Ok(p) = permit {
                        p.send(self.out_buf.split().freeze());
                    }
                }
                input = self.in_rx.recv(), if want_input => {
                    let now = Instant::now().into_std();
                    match input {
                        Some(Input::Data(b)) => self.stash = Some(b),
                        Some(Input::Break) => self.session.send_break(now),
                        None => input_open = false,
                    }
                }
                () = self.out_tx.closed(), if !closing => {
                    // The connection was dropped: leave politely. Nobody
                    // reads output any more.
                    closing = true;
                    self.out_buf.clear();
                    self.session.close(Instant::now().into_std());
                }
            }
        }
        // Hand over the rest of the output, then EOF (dropping out_tx).
        if !self.out_buf.is_empty() && !closing {
            let _ = self.out_tx.send(self.out_buf.split().freeze()).await;
        }
    }

    fn feed_stash(&mut self) {
        if let Some(b) = self.stash.take() {
            let n = self.session.send_input(Instant::now().into_std(), &b);
            if n < b.len() {
                self.stash = Some(b.slice(n..));
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::Data(d) => {
                    let room = OUTPUT_BUFFER_LIMIT.saturating_sub(self.out_buf.len());
                    let n = d.len().min(room);
                    self.out_buf.extend_from_slice(&d[..n]);
                    if n < d.len() {
                        self.dropped_output += (d.len() - n) as u64;
                        tracing::warn!(
                            target = %self.target,
                            dropped = self.dropped_output,
                            "SOL output dropped: reader too slow"
                        );
                    }
                }
                Event::Notice(n) => tracing::info!(target = %self.target, "{n}"),
                Event::Established { .. } => {}
                Event::Closed(None) => {
                    tracing::debug!(target = %self.target, "IPMI session closed");
                }
                Event::Closed(Some(e)) => {
                    tracing::info!(target = %self.target, "IPMI SOL session lost: {e}");
                }
            }
        }
    }
}

/// Console output: chunks from the driver; EOF when the session is gone.
struct SolReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl AsyncRead for SolReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.cur.is_empty() {
            match ready!(self.rx.poll_recv(cx)) {
                Some(b) => self.cur = b,
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.cur.len().min(buf.remaining());
        let chunk = self.cur.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

/// Console input and break toward the BMC.
struct SolWriter {
    tx: PollSender<Input>,
    /// Same channel, for `send_break` (ordered after earlier writes).
    break_tx: mpsc::Sender<Input>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "IPMI SOL session closed")
}

impl AsyncWrite for SolWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(self.tx.poll_reserve(cx)).map_err(|_| gone())?;
        self.tx
            .send_item(Input::Data(Bytes::copy_from_slice(buf)))
            .map_err(|_| gone())?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tx.close();
        Poll::Ready(Ok(()))
    }
}

impl ConsoleWriter for SolWriter {
    fn send_break(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move { self.break_tx.send(Input::Break).await.map_err(|_| gone()) })
    }
}

/// Bytes of per-console state held by the driver task (excluding the output
/// buffer, which is empty when the reader keeps up).
pub fn per_session_state_bytes() -> usize {
    std::mem::size_of::<Driver>()
        + std::mem::size_of::<conmand_core::ipmi::sol::SolEngine>()
        + RECV_BUFFER
}
