//! The one backend interface, and the one place that maps a console kind to a backend.
//!
//! A backend knows how to reach one console device (a serial line, a telnet port, a
//! unix socket, a BMC, a program on a pty, the test generator). The console actor owns
//! it, calls [`Backend::open`] when it wants a connection, reads from the returned
//! [`Connection::reader`] and writes client input and breaks through
//! [`Connection::writer`]. Reconnect timing is the actor's job, driven by the
//! [`Backoff`] the backend reports.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

pub mod ipmi;

/// A boxed, sendable future (the trait is used as `Box<dyn Backend>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How one transport reaches its console.
pub trait Backend: Send + Sync {
    /// The target as ConMan prints it after `connected to` / `disconnected from` /
    /// `is currently disconnected from`: `"/dev/ttyS0"` (quoted) for serial and unix,
    /// `host:port` for telnet, `host` for IPMI, `"prog"` for a process.
    fn describe(&self) -> String;

    /// Try once to connect. On success the console is up.
    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>>;

    /// Reconnect policy for this transport.
    fn backoff(&self) -> Backoff;
}

/// A live connection to a console device.
pub struct Connection {
    /// Console output. EOF or an error means the connection is gone.
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// Client input, and serial break.
    pub writer: Box<dyn ConsoleWriter>,
    /// What follows `Console [x] connected to ` (e.g. `"prog" (pid 42)`), or `None`
    /// for consoles that announce nothing (the test console).
    pub connected_target: Option<String>,
    /// Process consoles append ` after <uptime>` to their disconnect message.
    pub report_uptime: bool,
    /// Dropped when the connection closes (e.g. kills a child's process group).
    pub guard: Option<Box<dyn Send + Sync>>,
}

/// The write side of a console connection.
pub trait ConsoleWriter: AsyncWrite + Send + Unpin {
    /// Send a serial break the transport's way (tcsendbreak-like pulse, `IAC BRK`,
    /// the bytes `&B` for process consoles, the SOL break bit, or nothing).
    /// Must not block a runtime thread.
    fn send_break(&mut self) -> BoxFuture<'_, io::Result<()>>;
}

/// Why [`Backend::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Transient: try again after the backoff delay. The message is for the daemon
    /// log (e.g. `cannot connect to device "/x": Connection refused`).
    #[error("{0}")]
    Retry(String),
    /// Transient, and clients should be told: ConMan's
    /// `Console [x] connection failed: <msg>` notification.
    #[error("connection failed: {0}")]
    Failed(String),
    /// Name resolution failed: retry after the long DNS delay.
    #[error("{0}")]
    Resolve(String),
}

/// Reconnect policy: delay starts at `min`, doubles after each retry up to `max`, and
/// resets once a connection has stayed up for `reset_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First retry delay.
    pub min: Duration,
    /// Largest retry delay.
    pub max: Duration,
    /// Uptime after which the delay goes back to `min` (and the next retry is
    /// immediate).
    pub reset_after: Duration,
}
