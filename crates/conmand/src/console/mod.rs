//! Consoles: one actor task per console, and the handle clients use to reach it.
//!
//! The module is split by the state each part owns:
//! - `link`: the connection life cycle (waiting, opening, up), the
//!   reconnect backoff and the client input waiting for the device;
//! - `members`: the attached clients and writer arbitration (join,
//!   force, toggles, departures, in ConMan's message order);
//! - [`sink`]: what clients and consoles share (client identity, output, the bounded
//!   per-client queue);
//! - `actor`: the task that owns one of each plus the log handle and reacts to
//!   commands and link events;
//! - this file: the public face ([`spawn`], [`ConsoleHandle`], [`Command`]).
//!
//! Clients never share locks with a console; they send [`Command`]s and receive
//! [`Output`] on their own bounded channel.

mod actor;
pub mod backend;
mod link;
mod members;
pub mod sink;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use bytes::Bytes;
use conmand_core::config::ConsoleDef;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::logfile::LogService;
use backend::Backend;
pub use link::MAX_PENDING_INPUT;
pub use sink::{CLIENT_QUEUE_BYTES, ClientInfo, ClientSink, Output, SinkShared, WriterInfo};

/// Commands queued to one console actor before senders wait.
const COMMAND_DEPTH: usize = 64;

/// How a client attaches to a console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Read-only monitor (arrives silently).
    Monitor,
    /// Read-write; `force` steals write access from existing writers.
    Connect {
        /// Steal (true) or join (false).
        force: bool,
    },
    /// Write-only member of a broadcast to several consoles.
    Broadcast {
        /// Steal (true) or join (false).
        force: bool,
    },
}

/// A client to attach, and who waits for it.
pub struct Attach {
    /// Who.
    pub client: Arc<ClientInfo>,
    /// Where its output goes.
    pub sink: ClientSink,
    /// How.
    pub mode: AttachMode,
    /// Answered once the client is attached (output read after that reaches it).
    pub done: oneshot::Sender<()>,
}

/// A request to a console actor.
pub enum Command {
    /// Attach a client (rare: boxed, so every command stays small).
    Attach(Box<Attach>),
    /// Detach a client (it closed, or the session ended).
    Detach {
        /// Which client.
        client_id: u64,
    },
    /// Bytes typed by a client, for the device.
    Input {
        /// Which client.
        client_id: u64,
        /// The bytes (escapes already decoded), shared by every console a
        /// broadcast writes to. An `Arc<[u8]>` (16 bytes) rather than `Bytes` (32)
        /// keeps `Command` at 32 bytes: every console's command channel allocates
        /// a block of 32 commands up front.
        data: Arc<[u8]>,
    },
    /// A serial break (`&B`).
    Break {
        /// Which client.
        client_id: u64,
    },
    /// `&F`, `&J`, `&M`: toggle between read-only and read-write.
    Toggle {
        /// Which client.
        client_id: u64,
        /// `&F` (steal) when becoming a writer.
        force: bool,
    },
    /// `&L`: replay the log's tail to this client.
    Replay {
        /// Which client.
        client_id: u64,
    },
    /// Internal: the log's tail for the replays in flight (`None`: not logged).
    ReplayDone {
        /// The last bytes of the log (boxed: `Bytes` would make every `Command`,
        /// and so every console's channel block, bigger; see `Input`).
        tail: Option<Box<Bytes>>,
    },
    /// `&R`: run the reset command.
    Reset {
        /// Which client.
        client_id: u64,
    },
    /// The console's log, if it has one (for the API's log tail).
    Log {
        /// Reply channel.
        reply: oneshot::Sender<Option<crate::logfile::LogHandle>>,
    },
    /// Who is attached, for the API: (user, host, mode).
    Members {
        /// Reply channel.
        reply: oneshot::Sender<Vec<(String, String, &'static str)>>,
    },
    /// Who writes to this console (for the busy check).
    Writers {
        /// Reply channel.
        reply: oneshot::Sender<Vec<WriterInfo>>,
    },
    /// SIGHUP: re-expand the log name and reopen it.
    ReopenLog,
    /// `server timestamp=`: write a `log at` mark.
    Mark,
    /// Stop this console (removed or changed by a reload); members are told why.
    Stop {
        /// The text sent to members before they are disconnected.
        reason: String,
    },
    /// Internal: the reset command finished.
    ResetDone,
}

/// Builds a console's log path function (`None`: the console is not logged).
pub type LogPathFn = Arc<dyn Fn(&ConsoleDef) -> Option<crate::logfile::PathFn> + Send + Sync>;
/// Expands the reset command for a console.
pub type ResetFn = Arc<dyn Fn(&ConsoleDef) -> Result<String, String> + Send + Sync>;

/// Context shared by every console actor.
pub struct ConsoleCtx {
    /// The log writer pool.
    pub logs: LogService,
    /// Builds a console's log path each time it is opened.
    pub log_path: LogPathFn,
    /// Expands the reset command for a console (`None` when no resetcmd).
    pub reset_cmd: Option<ResetFn>,
    /// Environment for reset commands.
    pub child_env: Arc<Vec<(std::ffi::OsString, std::ffi::OsString)>>,
    /// The alert hub consoles hand incidents to (`None`: no alerting, e.g. tests
    /// that build a context by hand).
    pub alerts: Option<Arc<crate::alerts::AlertHub>>,
    /// Where consoles start their helper tasks (log replays, reset supervisors), so
    /// shutdown waits for them.
    pub tasks: TaskTracker,
}

/// The cloneable handle through which clients and the registry reach a console.
#[derive(Clone)]
pub struct ConsoleHandle {
    /// The console's configuration.
    pub def: Arc<ConsoleDef>,
    tx: mpsc::Sender<Command>,
    up: Arc<UpState>,
    /// Descriptors the console holds when connected and logged.
    descriptors: usize,
}

/// A console's published connection state and counters. Lighter than a `watch`
/// channel, whose shared part (eight `Notify`s) costs ~340 bytes per console.
#[derive(Default)]
struct UpState {
    /// Connected to the device now.
    up: AtomicBool,
    /// The actor has ended (its `Ended` guard was dropped).
    ended: AtomicBool,
    /// Signalled on every change of either flag.
    changed: Notify,
    /// [`LinkState`] as a number.
    state: AtomicU8,
    /// When `state` last changed (ms since the epoch).
    since_ms: AtomicU64,
    /// Connections made after the first.
    reconnects: AtomicU64,
    /// Bytes read from the device.
    bytes: AtomicU64,
    /// When the device last sent something (ms since the epoch; 0: never).
    last_output_ms: AtomicU64,
    /// Clients attached now.
    clients: AtomicU32,
    /// Whether it was ever up (so the next connection is a reconnect).
    was_up: AtomicBool,
}

impl UpState {
    /// `n` bytes read from the device just now.
    fn output(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.last_output_ms.store(sink::now_ms(), Ordering::Relaxed);
    }

    fn set_state(&self, s: LinkState) {
        if self.state.swap(s as u8, Ordering::AcqRel) != s as u8 {
            self.since_ms.store(sink::now_ms(), Ordering::Release);
        }
        if s == LinkState::Up && self.was_up.swap(true, Ordering::AcqRel) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where a console's connection stands, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Opening the device.
    Connecting = 0,
    /// Connected.
    Up = 1,
    /// Not connected; waiting to try again.
    Down = 2,
}

impl LinkState {
    /// `up`, `down` or `connecting`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Up => "up",
            LinkState::Down => "down",
        }
    }
}

/// A console's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleStats {
    /// Connection state.
    pub state: LinkState,
    /// When it entered that state (ms since the epoch).
    pub since_ms: u64,
    /// Connections made after the first.
    pub reconnects: u64,
    /// Bytes read from the device.
    pub bytes: u64,
    /// When the device last sent something (ms since the epoch), if ever.
    pub last_output_ms: Option<u64>,
    /// Clients attached.
    pub clients: u32,
}

/// Held by the actor: dropping it (the actor ends or its task is dropped) marks the
/// console ended and wakes every waiter.
struct Ended(Arc<UpState>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
        self.0.changed.notify_waiters();
    }
}

impl ConsoleHandle {
    /// A handle with no actor behind it: its commands arrive on the returned
    /// receiver, for tests that play the console.
    #[cfg(test)]
    pub(crate) fn detached(def: ConsoleDef) -> (ConsoleHandle, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(COMMAND_DEPTH);
        let handle = ConsoleHandle {
            def: Arc::new(def),
            tx,
            up: Arc::default(),
            descriptors: 0,
        };
        (handle, rx)
    }

    /// The console's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Send a command; false if the console has stopped.
    pub async fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).await.is_ok()
    }

    /// Attach a client and wait until the actor has done it: output the console
    /// reads from then on reaches `sink`. False if the console has stopped.
    pub async fn attach(
        &self,
        client: Arc<ClientInfo>,
        sink: ClientSink,
        mode: AttachMode,
    ) -> bool {
        self.attach_begin(client, sink, mode).await.await.is_ok()
    }

    /// Queue an attach; the returned receiver is answered once it is done (an error:
    /// the console stopped first). Lets a session attach to many consoles at once.
    pub async fn attach_begin(
        &self,
        client: Arc<ClientInfo>,
        sink: ClientSink,
        mode: AttachMode,
    ) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Attach(Box::new(Attach {
            client,
            sink,
            mode,
            done,
        })))
        .await;
        rx
    }

    /// The console's current writers.
    pub async fn writers(&self) -> Vec<WriterInfo> {
        let (reply, rx) = oneshot::channel();
        if !self.send(Command::Writers { reply }).await {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// File descriptors the console holds when it is connected and logged.
    pub fn descriptors(&self) -> usize {
        self.descriptors
    }

    /// Whether both handles reach the same actor.
    pub fn same(&self, other: &ConsoleHandle) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// Whether the actor has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Wait until the actor has ended (its device closed, its log flushed and closed).
    pub async fn stopped(&self) {
        self.tx.closed().await;
    }

    /// The console's state and counters now (a few atomic loads).
    pub fn stats(&self) -> ConsoleStats {
        let u = &self.up;
        ConsoleStats {
            state: match u.state.load(Ordering::Acquire) {
                1 => LinkState::Up,
                2 => LinkState::Down,
                _ => LinkState::Connecting,
            },
            since_ms: u.since_ms.load(Ordering::Acquire),
            reconnects: u.reconnects.load(Ordering::Relaxed),
            bytes: u.bytes.load(Ordering::Relaxed),
            last_output_ms: Some(u.last_output_ms.load(Ordering::Relaxed)).filter(|&t| t > 0),
            clients: u.clients.load(Ordering::Relaxed),
        }
    }

    /// Who is attached now: (user, host, mode), mode `ro`, `rw` or `wo`
    /// (broadcast). Asks the actor, so only for consoles that have clients.
    pub async fn members(&self) -> Vec<(String, String, &'static str)> {
        if self.up.clients.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        let (reply, rx) = oneshot::channel();
        if !self.send(Command::Members { reply }).await {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// The console's log handle, if it is logged.
    pub async fn log(&self) -> Option<crate::logfile::LogHandle> {
        let (reply, rx) = oneshot::channel();
        if !self.send(Command::Log { reply }).await {
            return None;
        }
        rx.await.ok().flatten()
    }

    /// Whether the console is connected to its device right now.
    pub fn is_up(&self) -> bool {
        self.up.up.load(Ordering::Acquire)
    }

    /// Wait until the console is connected (or the actor ends: false).
    pub async fn wait_up(&self) -> bool {
        loop {
            // Register before checking, so a change between the check and the
            // wait is not missed.
            let changed = self.up.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.up.up.load(Ordering::Acquire) {
                return true;
            }
            if self.up.ended.load(Ordering::Acquire) {
                return false;
            }
            changed.await;
        }
    }
}

/// Start a console actor on the tracker. It runs until `cancel` fires or it is sent
/// [`Command::Stop`]. Its debug lines in the daemon log carry a `console` span with
/// its name; the span is debug-level, so it costs nothing (no registry entry) unless
/// the daemon log is at debug (at info, 9,000 spans were 1.8 MB of resident memory).
pub fn spawn(
    def: Arc<ConsoleDef>,
    backend: Box<dyn Backend>,
    ctx: Arc<ConsoleCtx>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> ConsoleHandle {
    let (tx, rx) = mpsc::channel(COMMAND_DEPTH);
    let up = Arc::new(UpState::default());
    up.since_ms.store(sink::now_ms(), Ordering::Release);
    let descriptors = backend.descriptors() + usize::from(def.log.is_some());
    let name: Arc<str> = Arc::from(def.name.as_str());
    let span = tracing::debug_span!("console", name = %name);
    let actor = actor::Actor {
        link: link::Connector::new(Arc::from(backend), up.clone()),
        members: members::Members::new(name.clone()),
        name,
        def: def.clone(),
        log: None,
        alerts: ctx.alerts.clone().map(crate::alerts::Watch::new),
        reset_pid: None,
        replay: None,
        last_break: None,
        rx,
        self_tx: tx.downgrade(),
        ctx,
        cancelled: Box::pin(cancel.clone().cancelled_owned()),
        cancel,
        _ended: Ended(up.clone()),
    };
    tracker.spawn(actor.run().instrument(span));
    ConsoleHandle {
        def,
        tx,
        up,
        descriptors,
    }
}

/// Counter for client ids.
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh, process-unique client id.
pub fn next_client_id() -> u64 {
    NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed)
}
