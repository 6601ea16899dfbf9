//! What consoles and client sessions share: who a client is ([`ClientInfo`]), what a
//! console sends it ([`Output`]) and the bounded, lossy queue it goes through
//! ([`ClientSink`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use conmand_core::notice::{Notice, Who};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// A connected client, as consoles see it.
#[derive(Debug)]
pub struct ClientInfo {
    /// Process-unique id.
    pub id: u64,
    /// `USER=` from the greeting.
    pub user: String,
    /// The peer's short host name (or address).
    pub host: String,
    /// `TTY=` from the greeting, if any.
    pub tty: Option<String>,
    /// When the client last sent a byte (ms since the epoch): the busy list's idle.
    pub last_activity_ms: AtomicU64,
}

impl ClientInfo {
    /// A new client record, active now.
    pub fn new(id: u64, user: String, host: String, tty: Option<String>) -> Self {
        ClientInfo {
            id,
            user,
            host,
            tty,
            last_activity_ms: AtomicU64::new(now_ms()),
        }
    }

    /// The client as ConMan's messages show it: `<user@host>[ on tty]`.
    pub fn who(&self) -> Who<'_> {
        Who {
            user: &self.user,
            host: &self.host,
            tty: self.tty.as_deref(),
        }
    }

    /// Record activity (any byte received, escapes included).
    pub fn touch(&self) {
        self.last_activity_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Seconds since the last activity.
    pub fn idle_secs(&self) -> u64 {
        now_ms().saturating_sub(self.last_activity_ms.load(Ordering::Relaxed)) / 1000
    }
}

/// Wall-clock milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Output bytes dropped for clients that could not keep up, daemon-wide, since the
/// process started (`conman_client_dropped_bytes_total`).
pub static DROPPED_BYTES: AtomicU64 = AtomicU64::new(0);

/// What a console sends a client.
#[derive(Debug, Clone)]
pub enum Output {
    /// Console output.
    Data(Bytes),
    /// A framed message; `info` ones are suppressed in quiet mode.
    Notice {
        /// The framed bytes (`\r\n<ConMan> ….\r\n`).
        text: Bytes,
        /// Suppressed by quiet mode.
        info: bool,
    },
    /// The client was removed from the console (stolen, or the console stopped):
    /// finish writing what is queued, then close.
    Kicked,
}

impl From<Notice> for Output {
    fn from(n: Notice) -> Output {
        Output::Notice {
            text: Bytes::from(n.to_bytes()),
            info: n.is_info(),
        }
    }
}

impl Output {
    fn len(&self) -> usize {
        match self {
            Output::Data(b) => b.len(),
            Output::Notice { text, .. } => text.len(),
            Output::Kicked => 0,
        }
    }
}

/// Most bytes of output that may wait for one client; past that, output for it is
/// dropped and counted.
pub const CLIENT_QUEUE_BYTES: usize = 256 * 1024;

/// Accounting shared by a client's sink (in every console it is attached to) and its
/// session task.
#[derive(Debug, Default)]
pub struct SinkShared {
    /// Bytes dropped since the session last reported them.
    pub missed: AtomicU64,
    /// Bytes queued and not yet taken by the session.
    pub queued: AtomicUsize,
    /// A console removed the client while its queue was full: once the session has
    /// written what is queued, it closes (as if it had received [`Output::Kicked`]).
    pub kicked: AtomicBool,
}

impl SinkShared {
    /// The session took `out` off its queue.
    pub fn taken(&self, out: &Output) {
        self.queued.fetch_sub(out.len(), Ordering::Relaxed);
    }

    /// Whether a console removed the client while its queue was full.
    pub fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }
}

/// Where a client's output goes: its bounded channel, plus a count of what it missed.
///
/// Full policy: drop and count. At most [`CLIENT_QUEUE_BYTES`] (and the channel's
/// message capacity) wait for a client; a client that cannot keep up never blocks a
/// console and costs a bounded amount of memory.
#[derive(Debug, Clone)]
pub struct ClientSink {
    tx: mpsc::Sender<Output>,
    shared: Arc<SinkShared>,
}

impl ClientSink {
    /// A sink over `tx`; `shared` is also held by the client task, which reports and
    /// releases what it takes.
    pub fn new(tx: mpsc::Sender<Output>, shared: Arc<SinkShared>) -> Self {
        ClientSink { tx, shared }
    }

    /// Deliver without waiting. Returns false when the client has gone.
    pub fn deliver(&self, out: Output) -> bool {
        let len = out.len();
        let kicked = matches!(out, Output::Kicked);
        if !kicked && self.shared.queued.load(Ordering::Relaxed) + len > CLIENT_QUEUE_BYTES {
            if self.tx.is_closed() {
                return false;
            }
            self.shared.missed.fetch_add(len as u64, Ordering::Relaxed);
            DROPPED_BYTES.fetch_add(len as u64, Ordering::Relaxed);
            return true;
        }
        self.shared.queued.fetch_add(len, Ordering::Relaxed);
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(TrySendError::Full(out)) => {
                self.shared.queued.fetch_sub(len, Ordering::Relaxed);
                if kicked {
                    // Must arrive, and the queue is full: the session reads the flag
                    // once it has drained what is queued (at least one message, so
                    // it cannot miss it).
                    drop(out);
                    self.shared.kicked.store(true, Ordering::Release);
                } else {
                    self.shared.missed.fetch_add(len as u64, Ordering::Relaxed);
                    DROPPED_BYTES.fetch_add(len as u64, Ordering::Relaxed);
                }
                true
            }
            Err(TrySendError::Closed(_)) => {
                self.shared.queued.fetch_sub(len, Ordering::Relaxed);
                false
            }
        }
    }

    /// Whether the client has gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A writer of a console, for the busy check (`ERROR CODE=7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterInfo {
    /// User name.
    pub user: String,
    /// Host name.
    pub host: String,
    /// Terminal, if known.
    pub tty: Option<String>,
    /// A broadcast (`B/C`) writer rather than `R/W`.
    pub broadcast: bool,
    /// Seconds since it last sent a byte.
    pub idle_secs: u64,
}
