//! Consoles: one actor task per console, and the handle clients use to reach it.
//!
//! The actor owns everything about its console: the backend and its live connection,
//! the reconnect backoff, the members (attached clients: readers, writers, broadcast
//! writers) and the console's log. Clients never share locks with it; they send
//! [`Command`]s and receive [`Output`] on their own bounded channel.
//!
//! Policies (see `docs/architecture.md`):
//! - **Log output is lossless**: the actor awaits the bounded log queue before reading
//!   the device again, so a slow disk slows the reads, never drops bytes.
//! - **Clients are lossy**: output to a client is `try_send` on its bounded channel; a
//!   client that cannot keep up loses output and is told how many bytes it missed. It
//!   never delays the console, the log or other clients.
//! - **Client input is bounded**: at most [`MAX_PENDING_INPUT`] bytes wait for a slow
//!   device; more is dropped with a warning in the daemon log.

pub mod backend;
mod member;

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conmand_core::config::ConsoleDef;
use conmand_core::notice::{self, Notice};
use conmand_core::oserror::strerror;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

use crate::logfile::{LogHandle, LogService};
use backend::{Backend, BoxFuture, Connection, OpenError};
use member::Member;
pub use member::{CLIENT_QUEUE_BYTES, ClientInfo, ClientSink, Output, SinkShared, WriterInfo};

/// Most client input bytes queued for a device that is not accepting them.
pub const MAX_PENDING_INPUT: usize = 64 * 1024;
/// Commands queued to one console actor before senders wait.
const COMMAND_DEPTH: usize = 64;
/// DNS failures are retried after this long (ConMan's `RESOLVE_RETRY_TIMEOUT`).
const RESOLVE_RETRY: Duration = Duration::from_secs(1800);
/// A break or a flush before it may take at most this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Breaks closer together than this are merged into one.
const BREAK_GAP: Duration = Duration::from_secs(1);
/// How long a reset command may run before its process group is killed.
const RESET_TIMEOUT: Duration = Duration::from_secs(60);

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

/// A request to a console actor.
pub enum Command {
    /// Attach a client.
    Attach {
        /// Who.
        client: Arc<ClientInfo>,
        /// Where its output goes.
        sink: ClientSink,
        /// How.
        mode: AttachMode,
    },
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
    /// `&R`: run the reset command.
    Reset {
        /// Which client.
        client_id: u64,
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
}

/// The cloneable handle through which clients and the registry reach a console.
#[derive(Clone)]
pub struct ConsoleHandle {
    /// The console's configuration.
    pub def: Arc<ConsoleDef>,
    tx: mpsc::Sender<Command>,
    up: Arc<UpState>,
}

/// A console's published connection state. Lighter than a `watch` channel, whose
/// shared part (eight `Notify`s) costs ~340 bytes per console.
#[derive(Default)]
struct UpState {
    /// Connected to the device now.
    up: AtomicBool,
    /// The actor has ended (its [`UpPublisher`] was dropped).
    ended: AtomicBool,
    /// Signalled on every change of either flag.
    changed: Notify,
}

/// The actor's side of [`UpState`]; dropping it (the actor ends or its task is
/// dropped) marks the state ended and wakes every waiter.
struct UpPublisher(Arc<UpState>);

impl UpPublisher {
    fn set(&self, up: bool) {
        self.0.up.store(up, Ordering::Release);
        self.0.changed.notify_waiters();
    }
}

impl Drop for UpPublisher {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
        self.0.changed.notify_waiters();
    }
}

impl ConsoleHandle {
    /// The console's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Send a command; false if the console has stopped.
    pub async fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).await.is_ok()
    }

    /// The console's current writers.
    pub async fn writers(&self) -> Vec<WriterInfo> {
        let (reply, rx) = oneshot::channel();
        if !self.send(Command::Writers { reply }).await {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Whether the actor has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Wait until the actor has ended (its device closed, its log flushed and closed).
    pub async fn stopped(&self) {
        self.tx.closed().await;
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
/// [`Command::Stop`].
pub fn spawn(
    def: Arc<ConsoleDef>,
    backend: Box<dyn Backend>,
    ctx: Arc<ConsoleCtx>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> ConsoleHandle {
    let (tx, rx) = mpsc::channel(COMMAND_DEPTH);
    let up = Arc::new(UpState::default());
    let backend: Arc<dyn Backend> = Arc::from(backend);
    let actor = Actor {
        delay: backend.backoff().min,
        name: Arc::from(def.name.as_str()),
        def: def.clone(),
        backend,
        members: Vec::new(),
        log: None,
        live: None,
        opening: None,
        retry: None,
        retry_armed: false,
        hint: None,
        pending: VecDeque::new(),
        pending_len: 0,
        reset_pid: None,
        last_break: None,
        rx,
        self_tx: tx.downgrade(),
        up: UpPublisher(up.clone()),
        ctx,
        cancelled: Box::pin(cancel.cancelled_owned()),
    };
    tracker.spawn(actor.run());
    ConsoleHandle { def, tx, up }
}

struct Live {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    writer: Box<dyn backend::ConsoleWriter>,
    target: Option<String>,
    report_uptime: bool,
    up_since: Instant,
    _guard: Option<Box<dyn Send + Sync>>,
}

struct Actor {
    name: Arc<str>,
    def: Arc<ConsoleDef>,
    backend: Arc<dyn Backend>,
    members: Vec<Member>,
    log: Option<LogHandle>,
    live: Option<Live>,
    opening: Option<BoxFuture<'static, Result<Connection, OpenError>>>,
    /// The reconnect timer, allocated the first time it is needed: a console that
    /// connects at once never holds one.
    retry: Option<Pin<Box<Sleep>>>,
    retry_armed: bool,
    /// While a retry is armed: the backend's "worth trying now" signal, if any.
    hint: Option<BoxFuture<'static, ()>>,
    /// The next reconnect delay.
    delay: Duration,
    pending: VecDeque<Bytes>,
    pending_len: usize,
    reset_pid: Option<u32>,
    /// When the last break was sent (bursts are merged).
    last_break: Option<Instant>,
    rx: mpsc::Receiver<Command>,
    self_tx: mpsc::WeakSender<Command>,
    /// Published connection state (for status queries and tests).
    up: UpPublisher,
    ctx: Arc<ConsoleCtx>,
    /// Fires when the daemon stops. Kept across events: a fresh `cancelled()` per
    /// event would register with (and unregister from) the token's `Notify` each time.
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

enum Event {
    Cancelled,
    Command(Option<Command>),
    Opened(Result<Connection, OpenError>),
    RetryDue,
    Hinted,
    Read(io::Result<Option<Bytes>>),
    Wrote(io::Result<usize>),
}

impl Actor {
    async fn run(mut self) {
        if let Some(path) = (self.ctx.log_path)(&self.def) {
            // Boxed, like every once-per-life step: see the comment in the loop.
            let log = Box::pin(
                self.ctx
                    .logs
                    .open(self.name.clone(), path, self.def.logopts),
            )
            .await;
            self.log = Some(log);
        }
        self.start_open();
        loop {
            let ev = self.next_event().await;
            match ev {
                Event::Cancelled | Event::Command(None) => break,
                Event::Command(Some(Command::Stop { reason })) => {
                    self.stop_members(&reason);
                    break;
                }
                // Input and device output are the hot paths and stay inline; the
                // rest is rare and boxed, which keeps this task's future (the
                // per-console memory floor) small.
                Event::Command(Some(Command::Input { client_id, data })) => {
                    self.on_input(client_id, data)
                }
                Event::Command(Some(cmd)) => Box::pin(self.on_command(cmd)).await,
                Event::Opened(res) => Box::pin(self.on_opened(res)).await,
                Event::RetryDue => {
                    self.retry_armed = false;
                    self.hint = None;
                    self.start_open();
                }
                Event::Hinted => {
                    // ConMan (#28): a socket may appear at bind() before listen(); if
                    // this early try fails, the next one comes after the shortest delay.
                    self.retry_armed = false;
                    self.hint = None;
                    self.delay = self.backend.backoff().min;
                    self.start_open();
                }
                Event::Read(Ok(Some(bytes))) => self.on_output(bytes).await,
                Event::Read(Ok(None)) => Box::pin(self.on_down(None)).await,
                Event::Read(Err(e)) => Box::pin(self.on_down(Some(e))).await,
                Event::Wrote(Ok(n)) => self.consume_pending(n),
                Event::Wrote(Err(e)) => Box::pin(self.on_down(Some(e))).await,
            }
        }
        self.live = None;
        if let Some(log) = self.log.take() {
            Box::pin(log.close()).await;
        }
    }

    async fn next_event(&mut self) -> Event {
        let Actor {
            rx,
            opening,
            retry,
            retry_armed,
            hint,
            live,
            pending,
            cancelled,
            ..
        } = self;
        let (reader, writer) = match live {
            Some(l) => (Some(&mut l.reader), Some(&mut l.writer)),
            None => (None, None),
        };
        let front = pending.front().cloned();
        tokio::select! {
            _ = cancelled.as_mut() => Event::Cancelled,
            cmd = rx.recv() => Event::Command(cmd),
            res = async { match opening.as_mut() {
                Some(f) => f.await,
                None => std::future::pending().await,
            } } => {
                *opening = None;
                Event::Opened(res)
            }
            _ = async { match retry.as_mut() {
                Some(r) => r.as_mut().await,
                None => std::future::pending().await,
            } }, if *retry_armed => Event::RetryDue,
            _ = async { match hint.as_mut() {
                Some(h) => h.await,
                None => std::future::pending().await,
            } }, if *retry_armed => Event::Hinted,
            res = async move { match reader {
                Some(r) => poll_fn(|cx| read_chunk(cx, r)).await,
                None => std::future::pending().await,
            } } => Event::Read(res),
            res = async move { match (writer, front) {
                (Some(w), Some(data)) => poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, &data)).await,
                _ => std::future::pending().await,
            } } => Event::Wrote(res),
        }
    }

    fn start_open(&mut self) {
        if self.opening.is_some() || self.live.is_some() {
            return;
        }
        let backend = self.backend.clone();
        self.opening = Some(Box::pin(async move { backend.open().await }));
    }

    fn schedule_retry(&mut self, after: Duration) {
        let at = tokio::time::Instant::now() + after;
        match self.retry.as_mut() {
            Some(r) => r.as_mut().reset(at),
            None => self.retry = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        self.retry_armed = true;
    }

    /// Schedule the next attempt with the current delay (plus up to 10 % jitter, so a
    /// thousand consoles behind one restarted server do not retry in the same
    /// millisecond), then double the delay.
    fn backoff_retry(&mut self) {
        let policy = self.backend.backoff();
        let d = self.delay;
        self.schedule_retry(d + jitter(d / 10));
        self.hint = self.backend.ready_hint();
        self.delay = (d * 2).min(policy.max);
    }

    async fn on_opened(&mut self, res: Result<Connection, OpenError>) {
        match res {
            Ok(conn) => {
                let live = Live {
                    reader: conn.reader,
                    writer: conn.writer,
                    target: conn.connected_target,
                    report_uptime: conn.report_uptime,
                    up_since: Instant::now(),
                    _guard: conn.guard,
                };
                let target = live.target.clone();
                self.live = Some(live);
                self.up.set(true);
                if let Some(t) = target {
                    let n = Notice::info(format!("Console [{}] connected to {t}", self.name));
                    self.announce(n).await;
                }
            }
            Err(OpenError::Retry(msg)) => {
                tracing::info!("{msg}");
                self.backoff_retry();
            }
            Err(OpenError::Failed(msg)) => {
                let n = notice::connection_failed(&self.name, &msg);
                tracing::warn!("{}", n.text());
                self.notify_all(n).await;
                self.backoff_retry();
            }
            Err(OpenError::Resolve(msg)) => {
                tracing::warn!("{msg}");
                self.schedule_retry(RESOLVE_RETRY);
            }
        }
    }

    async fn on_down(&mut self, err: Option<io::Error>) {
        let Some(live) = self.live.take() else { return };
        self.up.set(false);
        if let Some(e) = err {
            tracing::info!("Unable to read from [{}]: {}", self.name, strerror(&e));
        }
        let uptime = live.up_since.elapsed();
        if let Some(t) = &live.target {
            let mut text = format!("Console [{}] disconnected from {t}", self.name);
            if live.report_uptime {
                text.push_str(&format!(" after {}", notice::time_delta(uptime.as_secs())));
            }
            self.announce(Notice::info(text)).await;
        }
        drop(live);
        self.pending.clear();
        self.pending_len = 0;
        let policy = self.backend.backoff();
        if uptime >= policy.reset_after {
            self.delay = policy.min;
            self.start_open();
        } else {
            self.backoff_retry();
        }
    }

    async fn on_output(&mut self, bytes: Bytes) {
        if let Some(log) = &self.log {
            log.data(bytes.clone()).await;
        }
        let mut gone = false;
        for m in self.members.iter().filter(|m| m.reads) {
            gone |= !m.sink.deliver(Output::Data(bytes.clone()));
        }
        if gone {
            Box::pin(self.prune_closed()).await;
        }
    }

    fn consume_pending(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            if n >= front.len() {
                n -= front.len();
                self.pending_len -= front.len();
                self.pending.pop_front();
            } else {
                let _ = front.split_to(n);
                self.pending_len -= n;
                n = 0;
            }
        }
    }

    /// Write all queued input before a break, so `&B` then `c` keeps its order.
    async fn flush_pending(&mut self) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        // Consume only what was written, so a timeout part-way loses nothing.
        while let Some(front) = self.pending.front().cloned() {
            let Some(live) = self.live.as_mut() else {
                return Ok(());
            };
            let n = live.writer.write(&front).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.consume_pending(n);
        }
        Ok(())
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Attach { client, sink, mode } => self.attach(client, sink, mode).await,
            Command::Detach { client_id } => self.detach(client_id).await,
            Command::Input { client_id, data } => self.on_input(client_id, data),
            Command::Break { client_id } => {
                if !self.member(client_id).is_some_and(|m| m.writes) {
                    return;
                }
                // A break holds the line for a moment (250 ms on serial lines) while
                // the device is not read; a burst of breaks is one break.
                let now = Instant::now();
                if self
                    .last_break
                    .is_some_and(|t| now.duration_since(t) < BREAK_GAP)
                {
                    return;
                }
                self.last_break = Some(now);
                let res = tokio::time::timeout(WRITE_TIMEOUT, async {
                    self.flush_pending().await?;
                    match self.live.as_mut() {
                        Some(live) => live.writer.send_break().await,
                        None => Ok(()),
                    }
                })
                .await;
                match res {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => self.on_down(Some(e)).await,
                    Err(_) => tracing::warn!("Timed out sending break to [{}]", self.name),
                }
            }
            Command::Toggle { client_id, force } => self.toggle(client_id, force).await,
            Command::Replay { client_id } => self.replay(client_id),
            Command::Reset { client_id } => self.reset(client_id).await,
            Command::Writers { reply } => {
                let list = self
                    .members
                    .iter()
                    .filter(|m| m.writes)
                    .map(Member::writer_info)
                    .collect();
                let _ = reply.send(list);
            }
            Command::ReopenLog => {
                if let Some(log) = &self.log {
                    log.reopen().await;
                }
            }
            Command::Mark => {
                if let Some(log) = &self.log {
                    log.mark().await;
                }
            }
            Command::ResetDone => self.reset_pid = None,
            Command::Stop { .. } => {}
        }
    }

    /// Queue a client's bytes for the device (writers only, while connected).
    fn on_input(&mut self, client_id: u64, data: Arc<[u8]>) {
        let Some(m) = self.member(client_id) else {
            return;
        };
        if !m.writes || self.live.is_none() {
            return;
        }
        if self.pending_len + data.len() > MAX_PENDING_INPUT {
            tracing::warn!(
                "Dropped {} bytes of input for [{}]: device not accepting data",
                data.len(),
                self.name
            );
            return;
        }
        self.pending_len += data.len();
        self.pending.push_back(Bytes::from_owner(data));
    }

    fn member(&self, id: u64) -> Option<&Member> {
        self.members.iter().find(|m| m.client.id == id)
    }

    async fn attach(&mut self, client: Arc<ClientInfo>, sink: ClientSink, mode: AttachMode) {
        let down = self.live.is_none();
        let member = Member {
            client,
            sink,
            reads: !matches!(mode, AttachMode::Broadcast { .. }),
            writes: false,
            broadcast: matches!(mode, AttachMode::Broadcast { .. }),
        };
        match mode {
            AttachMode::Monitor => self.members.push(member),
            AttachMode::Connect { force } | AttachMode::Broadcast { force } => {
                self.link_writer(member, force).await;
            }
        }
        if down {
            let text = format!(
                "Console [{}] is currently disconnected from {}",
                self.name,
                self.backend.describe()
            );
            if let Some(m) = self.members.last() {
                m.sink.deliver(Notice::info(text).into());
            }
            // An attaching client is a reason to try right away (ConMan does too).
            if self.opening.is_none() {
                self.retry_armed = false;
                self.start_open();
            }
        }
    }

    /// Make `member` a writer: ConMan's `link_objs` messages (reference §3.8).
    async fn link_writer(&mut self, mut member: Member, force: bool) {
        let others: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].writes && self.members[i].client.id != member.client.id)
            .collect();
        let stolen = force && !others.is_empty();
        let t = crate::timefmt::short_now();
        let who = member.client.who();
        let n = notice::writer_arrived(&self.name, &who, member.broadcast, stolen, &t);
        self.notify_all(n).await;
        for &i in &others {
            let other = self.members[i].client.who();
            let n = notice::existing_writer(&self.name, &other, stolen, &t);
            member.sink.deliver(n.into());
        }
        if stolen {
            let victims: Vec<u64> = others.iter().map(|&i| self.members[i].client.id).collect();
            for id in victims {
                if let Some(pos) = self.members.iter().position(|m| m.client.id == id) {
                    let victim = self.members.remove(pos);
                    victim.sink.deliver(Output::Kicked);
                    self.departed(&victim).await;
                }
            }
        }
        member.writes = true;
        match self
            .members
            .iter_mut()
            .find(|m| m.client.id == member.client.id)
        {
            Some(existing) => existing.writes = true,
            None => self.members.push(member),
        }
    }

    async fn detach(&mut self, client_id: u64) {
        let Some(pos) = self.members.iter().position(|m| m.client.id == client_id) else {
            return;
        };
        let m = self.members.remove(pos);
        if m.writes {
            self.departed(&m).await;
        }
    }

    async fn departed(&mut self, m: &Member) {
        let t = crate::timefmt::short_now();
        let n = notice::departed(&self.name, &m.client.who(), &t);
        self.notify_all(n).await;
    }

    async fn toggle(&mut self, client_id: u64, force: bool) {
        let Some(pos) = self.members.iter().position(|m| m.client.id == client_id) else {
            return;
        };
        if self.members[pos].broadcast {
            return;
        }
        if self.members[pos].writes {
            self.members[pos].writes = false;
            let m = self.members[pos].clone();
            self.departed(&m).await;
        } else {
            let m = self.members[pos].clone();
            self.link_writer(m, force).await;
        }
    }

    fn replay(&mut self, client_id: u64) {
        let Some(m) = self.member(client_id) else {
            return;
        };
        if m.broadcast {
            return;
        }
        let sink = m.sink.clone();
        let name = self.name.clone();
        let Some(log) = self.log.clone() else {
            sink.deliver(notice::not_logged(&name).into());
            return;
        };
        // The tail comes from the writer thread after everything queued before it has
        // been written; don't hold the actor while it is read.
        tokio::spawn(async move {
            match log.tail().await {
                Some(tail) => {
                    sink.deliver(notice::begin_replay(&name).into());
                    sink.deliver(Output::Data(tail));
                    sink.deliver(notice::end_replay(&name).into());
                }
                None => {
                    sink.deliver(notice::not_logged(&name).into());
                }
            }
        });
    }

    async fn reset(&mut self, client_id: u64) {
        let Some(m) = self.member(client_id) else {
            return;
        };
        if !m.writes {
            return;
        }
        let Some(expand) = self.ctx.reset_cmd.clone() else {
            return;
        };
        let client = m.client.clone();
        let sink = m.sink.clone();
        if let Some(pid) = self.reset_pid {
            let n = notice::reset_ignored(&self.name, pid);
            tracing::info!("{}", n.text());
            sink.deliver(n.into());
            return;
        }
        let cmd = match expand(&self.def) {
            Ok(c) => c,
            Err(e) => {
                let n = notice::reset_failed(&self.name, &e);
                tracing::warn!("{}", n.text());
                sink.deliver(n.into());
                return;
            }
        };
        match crate::reset::spawn(&cmd, &self.ctx.child_env) {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                self.reset_pid = Some(pid);
                let n = notice::reset_by(&self.name, &client.user, &client.host, pid);
                crate::notice!("{}", n.text());
                self.notify_all(n).await;
                let tx = self.self_tx.clone();
                let name = self.name.clone();
                tokio::spawn(async move {
                    crate::reset::supervise(&mut child, pid, &name, RESET_TIMEOUT).await;
                    if let Some(tx) = tx.upgrade() {
                        let _ = tx.send(Command::ResetDone).await;
                    }
                });
            }
            Err(e) => {
                let n = notice::reset_failed(&self.name, &format!("fork failed: {e}"));
                tracing::warn!("{}", n.text());
                sink.deliver(n.into());
            }
        }
    }

    /// Log a state change in the daemon log, then tell every member and the log.
    async fn announce(&mut self, n: Notice) {
        tracing::info!("{}", n.text());
        self.notify_all(n).await;
    }

    /// Send a message to every member and the log.
    async fn notify_all(&mut self, n: Notice) {
        let framed = Bytes::from(n.to_bytes());
        let info = n.is_info();
        let mut gone = false;
        for m in &self.members {
            gone |= !m.sink.deliver(Output::Notice {
                text: framed.clone(),
                info,
            });
        }
        if let Some(log) = &self.log {
            log.notice(framed).await;
        }
        if gone {
            self.prune_closed().await;
        }
    }

    /// Remove members whose client has gone away without detaching.
    async fn prune_closed(&mut self) {
        let (closed, open): (Vec<Member>, Vec<Member>) = std::mem::take(&mut self.members)
            .into_iter()
            .partition(|m| m.sink.is_closed());
        self.members = open;
        for m in closed.iter().filter(|m| m.writes) {
            Box::pin(self.departed(m)).await;
        }
    }

    fn stop_members(&mut self, reason: &str) {
        for m in self.members.drain(..) {
            m.sink.deliver(Notice::always(reason).into());
            m.sink.deliver(Output::Kicked);
        }
    }
}

fn jitter(max: Duration) -> Duration {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() || max.is_zero() {
        return Duration::ZERO;
    }
    let frac = u32::from_le_bytes(b) as f64 / u32::MAX as f64;
    max.mul_f64(frac)
}

thread_local! {
    /// One read buffer per runtime thread, shared by every console on it: an idle
    /// console holds no read buffer at all.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0u8; 64 * 1024].into_boxed_slice());
}

/// Read whatever the device has into the thread's scratch buffer and return it as
/// one right-sized chunk. `Ok(None)` is EOF.
fn read_chunk(
    cx: &mut Context<'_>,
    reader: &mut Box<dyn AsyncRead + Send + Unpin>,
) -> Poll<io::Result<Option<Bytes>>> {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let mut rb = ReadBuf::new(&mut s[..]);
        match Pin::new(&mut **reader).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let filled = rb.filled();
                if filled.is_empty() {
                    Poll::Ready(Ok(None))
                } else {
                    Poll::Ready(Ok(Some(Bytes::copy_from_slice(filled))))
                }
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
}

/// Counter for client ids.
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh, process-unique client id.
pub fn next_client_id() -> u64 {
    NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed)
}
