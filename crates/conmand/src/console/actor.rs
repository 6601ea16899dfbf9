//! The console actor: one task per console that owns its connection ([`Connector`]),
//! its members ([`Members`]), its log handle and its few pieces of per-console state
//! (a running reset command, a log replay in flight, the last break), and reacts to
//! client commands and link events one at a time.
//!
//! Policies (see `docs/architecture.md`):
//! - **Log output is lossless**: the actor awaits the bounded log queue before reading
//!   the device again, so a slow disk slows the reads, never drops bytes.
//! - **Clients are lossy**: output to a client is `try_send` on its bounded channel; a
//!   client that cannot keep up loses output and is told how many bytes it missed. It
//!   never delays the console, the log or other clients.
//! - **Client input is bounded**: at most [`MAX_PENDING_INPUT`](super::MAX_PENDING_INPUT) bytes wait for a slow
//!   device; more is dropped with a warning in the daemon log.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use conmand_core::config::ConsoleDef;
use conmand_core::notice::{self, Notice};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::backend::OpenError;
use super::link::{Connector, InputRefused, LinkEvent, Lost};
use super::members::{LogNotices, Members, Role};
use super::sink::{ClientInfo, ClientSink, Output};
use super::{AttachMode, Command, ConsoleCtx, Ended};
use crate::logfile::LogHandle;

/// A break or a flush before it may take at most this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Breaks closer together than this are merged into one.
const BREAK_GAP: Duration = Duration::from_secs(1);
/// How long a reset command may run before its process group is killed.
const RESET_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) struct Actor {
    pub(super) name: Arc<str>,
    pub(super) def: Arc<ConsoleDef>,
    pub(super) link: Connector,
    pub(super) members: Members,
    pub(super) log: Option<LogHandle>,
    /// Alert matching on the output (`None`: the daemon has no alert hub).
    pub(super) alerts: Option<Box<crate::alerts::Watch>>,
    /// The pid of the running reset command, if any.
    pub(super) reset_pid: Option<u32>,
    /// While the log's tail is being read for `&L`: who gets it. Requests arriving
    /// meanwhile join this one, so a console has at most one tail read queued on
    /// its log writer however fast clients ask.
    pub(super) replay: Option<Vec<(u64, ClientSink)>>,
    /// When the last break was sent (bursts are merged).
    pub(super) last_break: Option<Instant>,
    pub(super) rx: mpsc::Receiver<Command>,
    pub(super) self_tx: mpsc::WeakSender<Command>,
    pub(super) ctx: Arc<ConsoleCtx>,
    /// The daemon's stop signal for this console (reset commands watch it too).
    pub(super) cancel: CancellationToken,
    /// Fires when the daemon stops. Kept across events: a fresh `cancelled()` per
    /// event would register with (and unregister from) the token's `Notify` each time.
    pub(super) cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Marks the console ended when the actor is dropped.
    pub(super) _ended: Ended,
}

enum Event {
    Cancelled,
    Command(Option<Command>),
    Link(LinkEvent),
    AlertTimer,
}

impl Actor {
    pub(super) async fn run(mut self) {
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
        loop {
            let alert_timer = self.alerts.as_deref_mut().and_then(|w| w.timer());
            let armed = alert_timer.is_some();
            let ev = tokio::select! {
                _ = self.cancelled.as_mut() => Event::Cancelled,
                cmd = self.rx.recv() => Event::Command(cmd),
                ev = self.link.next() => Event::Link(ev),
                _ = async { if let Some(t) = alert_timer { t.await } }, if armed => Event::AlertTimer,
            };
            match ev {
                Event::Cancelled | Event::Command(None) => break,
                Event::Command(Some(Command::Stop { reason })) => {
                    self.members.stop(&reason);
                    break;
                }
                // Input and device output are the hot paths and stay inline; the
                // rest is rare and boxed, which keeps this task's future (the
                // per-console memory floor) small.
                Event::Command(Some(Command::Input { client_id, data })) => {
                    self.on_input(client_id, data)
                }
                Event::Link(LinkEvent::Output(bytes)) => self.on_output(bytes).await,
                Event::AlertTimer => {
                    if let Some(w) = &mut self.alerts {
                        w.expired(&self.name, self.log.as_ref());
                    }
                }
                Event::Command(Some(cmd)) => {
                    Box::pin(self.on_command(cmd)).await;
                    self.publish_members();
                }
                Event::Link(ev) => Box::pin(self.on_link(ev)).await,
            }
        }
        drop(self.link);
        if let Some(w) = &mut self.alerts {
            w.finish(&self.name, self.log.as_ref());
        }
        if let Some(log) = self.log.take() {
            Box::pin(log.close()).await;
        }
    }

    async fn on_output(&mut self, bytes: Bytes) {
        if let Some(log) = &self.log {
            log.data(bytes.clone()).await;
        }
        if let Some(w) = &mut self.alerts {
            w.output(&self.name, &bytes, self.log.as_ref());
        }
        self._ended.0.output(bytes.len());
        if !self.members.output(&bytes) {
            Box::pin(self.prune_closed()).await;
            self.publish_members();
        }
    }

    async fn on_link(&mut self, ev: LinkEvent) {
        match ev {
            LinkEvent::Up { target: Some(t) } => {
                let n = Notice::info(format!("Console [{}] connected to {t}", self.name));
                self.announce(n).await;
            }
            LinkEvent::Up { target: None } => {}
            LinkEvent::OpenFailed(OpenError::Retry(msg)) => tracing::info!("{msg}"),
            LinkEvent::OpenFailed(OpenError::Failed(msg)) => {
                let n = notice::connection_failed(&self.name, &msg);
                tracing::warn!("{}", n.text());
                self.notify_all(n).await;
            }
            LinkEvent::OpenFailed(OpenError::Resolve(msg)) => tracing::warn!("{msg}"),
            LinkEvent::Output(bytes) => self.on_output(bytes).await,
            LinkEvent::Down(lost) => self.on_lost(lost).await,
        }
    }

    async fn on_lost(&mut self, lost: Lost) {
        if let Some(e) = &lost.error {
            tracing::info!(
                "Unable to read from [{}]: {}",
                self.name,
                conmand_core::oserror::strerror(e)
            );
        }
        if let Some(t) = &lost.target {
            let mut text = format!("Console [{}] disconnected from {t}", self.name);
            if lost.report_uptime {
                text.push_str(&format!(
                    " after {}",
                    notice::time_delta(lost.uptime.as_secs())
                ));
            }
            self.announce(Notice::info(text)).await;
        }
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Attach(a) => {
                let super::Attach {
                    client,
                    sink,
                    mode,
                    done,
                } = *a;
                self.attach(client, sink, mode).await;
                let _ = done.send(());
            }
            Command::Detach { client_id } => {
                let mut log = LogNotices::new();
                self.members.detach(client_id, &mut log);
                self.log_notices(log).await;
            }
            Command::Input { client_id, data } => self.on_input(client_id, data),
            Command::Break { client_id } => self.send_break(client_id).await,
            Command::Toggle { client_id, force } => {
                let mut log = LogNotices::new();
                self.members.toggle(client_id, force, &mut log);
                self.log_notices(log).await;
            }
            Command::Replay { client_id } => self.replay(client_id),
            Command::ReplayDone { tail } => self.replay_done(tail),
            Command::Reset { client_id } => self.reset(client_id).await,
            Command::ResetDone => self.reset_pid = None,
            Command::Writers { reply } => {
                let _ = reply.send(self.members.writers());
            }
            Command::Log { reply } => {
                let _ = reply.send(self.log.clone());
            }
            Command::Members { reply } => {
                let _ = reply.send(self.members.list());
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
            // Handled by the loop.
            Command::Stop { .. } => {}
        }
    }

    /// Publish the member count (for metrics and the API).
    fn publish_members(&self) {
        let n = u32::try_from(self.members.len()).unwrap_or(u32::MAX);
        self._ended
            .0
            .clients
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Queue a client's bytes for the device (writers only, while connected).
    fn on_input(&mut self, client_id: u64, data: Arc<[u8]>) {
        if self.members.writer(client_id).is_none() {
            return;
        }
        let len = data.len();
        if let Err(InputRefused::Full) = self.link.queue_input(Bytes::from_owner(data)) {
            tracing::warn!(
                "Dropped {len} bytes of input for [{}]: device not accepting data",
                self.name
            );
        }
    }

    async fn attach(&mut self, client: Arc<ClientInfo>, sink: ClientSink, mode: AttachMode) {
        let id = client.id;
        let mut log = LogNotices::new();
        self.members.attach(client, sink, mode, &mut log);
        self.log_notices(log).await;
        if !self.link.is_up() {
            let text = format!(
                "Console [{}] is currently disconnected from {}",
                self.name,
                self.link.describe()
            );
            self.members.tell(id, Notice::info(text).into());
            // An attaching client is a reason to try right away (ConMan does too).
            self.link.try_now();
        }
    }

    async fn send_break(&mut self, client_id: u64) {
        if self.members.writer(client_id).is_none() {
            return;
        }
        // A break holds the line for a moment (250 ms on serial lines) while the
        // device is not read; a burst of breaks is one break.
        let now = Instant::now();
        if self
            .last_break
            .is_some_and(|t| now.duration_since(t) < BREAK_GAP)
        {
            return;
        }
        self.last_break = Some(now);
        match tokio::time::timeout(WRITE_TIMEOUT, self.link.send_break()).await {
            Ok(Ok(())) => {}
            Ok(Err(lost)) => self.on_lost(lost).await,
            Err(_) => tracing::warn!("Timed out sending break to [{}]", self.name),
        }
    }

    /// `&L`: the log's tail comes from its writer thread after everything queued
    /// before it has been written; the actor goes on meanwhile.
    fn replay(&mut self, client_id: u64) {
        let Some(m) = self.members.get(client_id) else {
            return;
        };
        if m.role == Role::Broadcast {
            return;
        }
        let sink = m.sink.clone();
        let Some(log) = self.log.clone() else {
            sink.deliver(notice::not_logged(&self.name).into());
            return;
        };
        match &mut self.replay {
            Some(waiters) => {
                if !waiters.iter().any(|(id, _)| *id == client_id) {
                    waiters.push((client_id, sink));
                }
            }
            None => {
                self.replay = Some(vec![(client_id, sink)]);
                let tx = self.self_tx.clone();
                self.ctx.tasks.spawn(async move {
                    let tail = log.tail().await;
                    if let Some(tx) = tx.upgrade() {
                        let tail = tail.map(Box::new);
                        let _ = tx.send(Command::ReplayDone { tail }).await;
                    }
                });
            }
        }
    }

    fn replay_done(&mut self, tail: Option<Box<Bytes>>) {
        for (_, sink) in self.replay.take().unwrap_or_default() {
            match &tail {
                Some(tail) => {
                    sink.deliver(notice::begin_replay(&self.name).into());
                    sink.deliver(Output::Data(Bytes::clone(tail)));
                    sink.deliver(notice::end_replay(&self.name).into());
                }
                None => {
                    sink.deliver(notice::not_logged(&self.name).into());
                }
            }
        }
    }

    async fn reset(&mut self, client_id: u64) {
        let Some(m) = self.members.writer(client_id) else {
            return;
        };
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
                if let Some(w) = &mut self.alerts {
                    // The reboot that follows is expected: `resetmute` rules hush.
                    w.reset_started();
                }
                let n = notice::reset_by(&self.name, &client.user, &client.host, pid);
                crate::notice!("{}", n.text());
                self.notify_all(n).await;
                let tx = self.self_tx.clone();
                let name = self.name.clone();
                let cancel = self.cancel.clone();
                self.ctx.tasks.spawn(async move {
                    crate::reset::supervise(&mut child, pid, &name, RESET_TIMEOUT, cancel).await;
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
        let mut log = LogNotices::new();
        self.members.notify_all(&n, &mut log);
        self.log_notices(log).await;
    }

    async fn prune_closed(&mut self) {
        let mut log = LogNotices::new();
        self.members.prune_closed(&mut log);
        self.log_notices(log).await;
    }

    /// Write notices to the console's log, in order.
    async fn log_notices(&mut self, notices: LogNotices) {
        let Some(log) = &self.log else { return };
        for n in notices {
            log.notice(n).await;
        }
    }
}
