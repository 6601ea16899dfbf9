//! The one backend interface, and the one place that maps a console kind to a backend.
//!
//! A backend knows how to reach one console device (a serial line, a telnet port, a
//! unix socket, a BMC, a program on a pty, the test generator). The console actor owns
//! it, calls [`Backend::open`] when it wants a connection, reads from the returned
//! [`Connection::reader`] and writes client input and breaks through
//! [`Connection::writer`]. Reconnect timing is the actor's job, driven by the
//! [`Backoff`] the backend reports. [`for_console`] and [`needs_restart`] are the only
//! places that look at a console's kind.

use std::ffi::OsString;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use conmand_core::config::{ConsoleDef, ConsoleSpec, IpmiSpec};
use conmand_core::ipmi::IpmiCredentials;
use conmand_core::pswd::PasswordDb;
use tokio::io::{AsyncRead, AsyncWrite};

pub mod dirwatch;
pub mod ipmi;
pub mod process;
pub mod serial;
pub mod telnet;
pub mod test;
pub mod unixsock;

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

    /// After a failed open: a future that resolves when trying again before the
    /// backoff timer is worthwhile (a unix socket appeared). `None`: the timer only.
    fn ready_hint(&self) -> Option<BoxFuture<'static, ()>> {
        None
    }

    /// File descriptors a live connection holds (the daemon keeps this many per
    /// console in reserve, so clients cannot starve reconnects).
    fn descriptors(&self) -> usize {
        1
    }
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

/// What backends need from the daemon (fixed for the daemon's life; what a reload
/// changes is passed to [`for_console`] and [`needs_restart`]).
#[derive(Clone, Default)]
pub struct BackendCtx {
    /// The cleaned environment for programs the daemon starts.
    pub child_env: Arc<Vec<(OsString, OsString)>>,
    /// `server keepalive=`: SO_KEEPALIVE on network consoles.
    pub keepalive: bool,
    /// Background tasks of backends (IPMI session drivers, process reapers) that
    /// shutdown waits for.
    pub background: tokio_util::task::TaskTracker,
    /// Wakes `unix:` consoles when their socket appears.
    pub dirwatch: dirwatch::DirWatch,
}

/// The one place that maps a console kind to its backend. `pswd` is the current
/// `conman.pswd` database.
pub fn for_console(
    def: &ConsoleDef,
    ctx: &BackendCtx,
    pswd: Option<&PasswordDb>,
) -> Box<dyn Backend> {
    match &def.spec {
        ConsoleSpec::Process(p) => Box::new(process::ProcessBackend::with_tracker(
            p.argv.clone(),
            ctx.child_env.to_vec(),
            ctx.background.clone(),
        )),
        ConsoleSpec::Unix(u) => Box::new(
            unixsock::UnixBackend::new(&def.name, u.path.clone()).with_watch(ctx.dirwatch.clone()),
        ),
        ConsoleSpec::Test(t) => Box::new(test::TestBackend::new(*t)),
        ConsoleSpec::Serial(s) => Box::new(serial::SerialBackend::new(s, def.name.clone())),
        ConsoleSpec::Telnet(t) => Box::new(telnet::TelnetBackend::new(
            t,
            def.name.clone(),
            ctx.keepalive,
        )),
        ConsoleSpec::Ipmi(spec) => match ipmi::IpmiBackend::new(spec, credentials(spec, pswd)) {
            Ok(mut b) => {
                b.set_tracker(ctx.background.clone());
                Box::new(b)
            }
            Err(e) => Box::new(Misconfigured {
                target: format!("<{}>", spec.host),
                reason: e.to_string(),
            }),
        },
    }
}

/// Whether a console whose definition did not change must restart anyway because
/// what its backend took from the daemon's settings did: an IPMI console whose
/// `conman.pswd` credentials changed.
pub fn needs_restart(
    def: &ConsoleDef,
    old_pswd: Option<&PasswordDb>,
    new_pswd: Option<&PasswordDb>,
) -> bool {
    match &def.spec {
        ConsoleSpec::Ipmi(spec) => credentials(spec, old_pswd) != credentials(spec, new_pswd),
        _ => false,
    }
}

/// An IPMI console's credentials: `ipmiopts`, completed from `conman.pswd`.
fn credentials(spec: &IpmiSpec, pswd: Option<&PasswordDb>) -> IpmiCredentials {
    IpmiCredentials::for_console(&spec.host, &spec.opts, pswd)
}

/// A console whose options cannot work (e.g. an IPMI password over 20 bytes): it
/// stays down, says why, and retries rarely (a SIGHUP with a fixed file replaces it).
struct Misconfigured {
    target: String,
    reason: String,
}

impl Backend for Misconfigured {
    fn describe(&self) -> String {
        self.target.clone()
    }
    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>> {
        Box::pin(async move { Err(OpenError::Failed(self.reason.clone())) })
    }
    fn backoff(&self) -> Backoff {
        Backoff {
            min: Duration::from_secs(1800),
            max: Duration::from_secs(1800),
            reset_after: Duration::from_secs(1800),
        }
    }
}
