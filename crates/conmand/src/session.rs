//! An attached client session: monitor, read-write or broadcast.
//!
//! The session task reads the client's bytes, decodes ConMan's 0xFF in-band escapes
//! (reference §3.7) and turns them into console [`Command`]s; it writes the console
//! output and notices it receives on its own bounded channel to the socket, batching
//! what is queued into one write. A client that stops reading only stalls its own
//! task; the consoles then drop its output and count it, and it is told how many
//! bytes it missed when it catches up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use conmand_core::escape::{EscapeCommand, EscapeDecoder, Event};
use conmand_core::notice::{self, Notice};
use conmand_core::ratelimit::{TokenBucket, Verdict};

use conmand_core::access::{Right, Rights};
use conmand_core::protocol::Request;

use crate::access::{Access, Identity, Record};
use crate::console::{
    AttachMode, ClientInfo, ClientSink, Command, ConsoleHandle, Output, SinkShared,
};

/// Output messages queued per client before consoles start dropping (and counting).
pub const CLIENT_QUEUE: usize = 256;
/// Most bytes gathered into one socket write.
const WRITE_BATCH: usize = 64 * 1024;

/// What kind of session the request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// MONITOR: read-only, one console.
    Monitor,
    /// CONNECT: read-write, one console.
    ReadWrite,
    /// CONNECT with BROADCAST: write-only to several consoles.
    Broadcast,
}

/// A client whose socket accepts no byte for this long is dropped (default).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Escapes that reach other members or the logs (toggles, `&Z`, invalid escapes):
/// a client may send this many at once …
const ESCAPE_BURST: u32 = 10;
/// … and this many a second after that; the rest are ignored (and counted in the
/// daemon log).
const ESCAPE_RATE: u32 = 2;

/// What an attached client may do on each of its consoles (fixed when it
/// attaches: an ACL reload applies to sessions that start later), and its audit
/// trail.
pub struct Guard {
    who: Arc<Identity>,
    access: Arc<Access>,
    /// Per console, in the session's order.
    rights: Vec<Rights>,
    names: Vec<String>,
}

impl Guard {
    /// The guard for `who` attached to `consoles`.
    pub fn new(who: Arc<Identity>, access: Arc<Access>, consoles: &[ConsoleHandle]) -> Guard {
        let rights = consoles
            .iter()
            .map(|c| access.rights(&who, c.name()))
            .collect();
        let names = consoles.iter().map(|c| c.name().to_string()).collect();
        Guard {
            who,
            access,
            rights,
            names,
        }
    }

    /// Record the attach (and a forced or joined one) on every console.
    pub fn attached(&self, consoles: &[ConsoleHandle], kind: SessionKind, req: &Request) {
        for c in consoles {
            let (action, mode) = match kind {
                SessionKind::Monitor => ("attach", "ro"),
                SessionKind::ReadWrite => ("attach", "rw"),
                SessionKind::Broadcast => ("broadcast", "wo"),
            };
            self.record(c.name(), action, Some(mode), None);
            if kind != SessionKind::Monitor && req.force {
                self.record(c.name(), "force", None, None);
            } else if kind != SessionKind::Monitor && req.join {
                self.record(c.name(), "join", None, None);
            }
        }
    }

    fn record(&self, console: &str, action: &str, mode: Option<&str>, denied: Option<String>) {
        let outcome = if denied.is_some() { "denied" } else { "ok" };
        self.access.audit(
            &self.who,
            Record {
                console: Some(console),
                action,
                mode,
                outcome,
                reason: denied,
            },
        );
    }

    /// Whether console `i` allows `right`; a refusal is recorded and its notice
    /// appended to `reply`.
    fn check(&self, i: usize, right: Right, reply: &mut BytesMut) -> bool {
        if self.rights.get(i).is_some_and(|r| r.has(right)) {
            return true;
        }
        let name = self.names.get(i).map_or("", String::as_str);
        let message = crate::access::denial(&self.who, right, name);
        tracing::info!("Client <{}> escape denied: {message}", self.who.user);
        reply.extend_from_slice(&Notice::always(message.clone()).to_bytes());
        self.record(name, "denied", Some(right.as_str()), Some(message));
        false
    }
}

/// One attached client.
pub struct Session {
    client: Arc<ClientInfo>,
    consoles: Vec<ConsoleHandle>,
    kind: SessionKind,
    quiet: bool,
    suspended: bool,
    /// How long a write to the client may make no progress before it is dropped.
    stall_timeout: Duration,
    /// Budget for escapes that notify others.
    escapes: TokenBucket,
    started: Instant,
    guard: Guard,
}

/// The client stopped reading for the whole stall timeout.
#[derive(Debug)]
struct Stalled;

enum Action {
    Data(Arc<[u8]>),
    Escape(EscapeCommand),
    Invalid(u8),
}

impl Session {
    /// A session for `client` on `consoles`.
    pub fn new(
        client: Arc<ClientInfo>,
        consoles: Vec<ConsoleHandle>,
        kind: SessionKind,
        quiet: bool,
        stall_timeout: Duration,
        guard: Guard,
    ) -> Self {
        Session {
            guard,
            client,
            consoles,
            kind,
            quiet,
            suspended: false,
            stall_timeout,
            escapes: TokenBucket::new(ESCAPE_BURST, ESCAPE_RATE, 0),
            started: Instant::now(),
        }
    }

    /// Attach, send `ok` (the request's answer), run until either side closes or the
    /// client is removed, then detach. `pending` holds bytes the client pipelined
    /// after its request.
    ///
    /// The answer goes out once every console has the client attached, so whatever
    /// a console prints after the client has read its `OK` reaches the client
    /// (ConMan answers first and attaches after, and loses what falls between).
    pub async fn run<S>(mut self, stream: S, pending: BytesMut, mode: AttachMode, ok: &[u8])
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (tx, mut rx) = mpsc::channel(CLIENT_QUEUE);
        let shared = Arc::new(SinkShared::default());
        let sink = ClientSink::new(tx, shared.clone());
        let mut pending_attach = Vec::with_capacity(self.consoles.len());
        for c in &self.consoles {
            pending_attach.push(
                c.attach_begin(self.client.clone(), sink.clone(), mode)
                    .await,
            );
        }
        drop(sink);
        for done in pending_attach {
            // An error: that console stopped; the session learns it as it goes.
            let _ = done.await;
        }
        let (mut rd, mut wr) = tokio::io::split(stream);
        if self.write(&mut wr, ok).await.is_err() {
            self.detach_all().await;
            return;
        }
        let mut decoder = EscapeDecoder::new();
        let mut inbuf = BytesMut::with_capacity(1024);
        let mut read_open = true;
        if !pending.is_empty()
            && let Some(r) = self.on_input(&mut decoder, &pending).await
            && self.write(&mut wr, &r).await.is_err()
        {
            self.detach_all().await;
            return;
        }
        let mut out = BytesMut::new();
        loop {
            tokio::select! {
                n = rd.read_buf(&mut inbuf), if read_open => {
                    match n {
                        Ok(0) | Err(_) => {
                            // EOF (`&.` half-closes): detach, then flush what is queued.
                            read_open = false;
                            self.detach_all().await;
                        }
                        Ok(_) => {
                            let data = inbuf.split();
                            self.client.touch();
                            if let Some(r) = self.on_input(&mut decoder, &data).await
                                && self.write(&mut wr, &r).await.is_err() {
                                    break;
                                }
                            inbuf.reserve(1024);
                        }
                    }
                }
                msg = rx.recv(), if !self.suspended || !read_open => {
                    let Some(msg) = msg else { break };
                    let mut kicked = self.render(msg, &mut out, &shared);
                    while out.len() < WRITE_BATCH && !kicked {
                        match rx.try_recv() {
                            Ok(m) => kicked = self.render(m, &mut out, &shared),
                            Err(_) => break,
                        }
                    }
                    if !out.is_empty() && self.write(&mut wr, &out).await.is_err() {
                        break;
                    }
                    out.clear();
                    if kicked || (!read_open || shared.is_kicked()) && rx.is_empty() {
                        break;
                    }
                }
            }
        }
        self.detach_all().await;
        let _ = wr.shutdown().await;
    }

    /// Write to the client. A client whose socket takes no byte for the whole stall
    /// timeout is dropped (logged); the consoles and their other clients only see
    /// it leave.
    async fn write<W: AsyncWrite + Unpin>(
        &self,
        wr: &mut W,
        mut buf: &[u8],
    ) -> Result<(), Stalled> {
        while !buf.is_empty() {
            match tokio::time::timeout(self.stall_timeout, wr.write(buf)).await {
                Ok(Ok(n)) if n > 0 => buf = &buf[n..],
                Ok(_) => return Err(Stalled),
                Err(_) => {
                    tracing::info!(
                        "Client <{}@{}> dropped: not reading for {}s",
                        self.client.user,
                        self.client.host,
                        self.stall_timeout.as_secs()
                    );
                    return Err(Stalled);
                }
            }
        }
        Ok(())
    }

    /// Spend one escape token; false when the client is over its budget.
    fn escape_allowed(&mut self) -> bool {
        let now = self.started.elapsed().as_millis() as u64;
        match self.escapes.take(now) {
            Verdict::Allowed { refused_before: 0 } => true,
            Verdict::Allowed { refused_before } => {
                tracing::info!(
                    "Client <{}@{}> had {refused_before} escapes ignored (too fast)",
                    self.client.user,
                    self.client.host
                );
                true
            }
            Verdict::Refused { first } => {
                if first {
                    tracing::warn!(
                        "Client <{}@{}> sends escapes too fast; ignoring some",
                        self.client.user,
                        self.client.host
                    );
                }
                false
            }
        }
    }

    /// Append one message to the outgoing batch; true when the client was removed.
    fn render(&self, msg: Output, out: &mut BytesMut, shared: &SinkShared) -> bool {
        shared.taken(&msg);
        let lost = shared.missed.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let n = Notice::always(format!("Skipped {lost} bytes of output (client too slow)"));
            out.extend_from_slice(&n.to_bytes());
        }
        match msg {
            Output::Data(b) => out.extend_from_slice(&b),
            Output::Notice { text, info } => {
                if !(info && self.quiet) {
                    out.extend_from_slice(&text);
                }
            }
            Output::Kicked => return true,
        }
        false
    }

    /// Decode client bytes and act on them; returns replies for the client itself.
    async fn on_input(&mut self, decoder: &mut EscapeDecoder, data: &[u8]) -> Option<BytesMut> {
        let mut actions = Vec::new();
        decoder.feed(data, &mut |ev| match ev {
            Event::Data(d) => actions.push(Action::Data(Arc::from(d))),
            Event::Command(c) => actions.push(Action::Escape(c)),
            Event::Invalid(c) => actions.push(Action::Invalid(c)),
        });
        let mut replies = None;
        for a in actions {
            match a {
                Action::Data(d) => {
                    self.to_written(|id| Command::Input {
                        client_id: id,
                        data: d.clone(),
                    })
                    .await;
                }
                Action::Escape(c) => {
                    if let Some(r) = self.on_escape(c).await {
                        replies
                            .get_or_insert_with(BytesMut::new)
                            .extend_from_slice(&r);
                    }
                }
                Action::Invalid(c) => {
                    if self.escape_allowed() {
                        tracing::warn!(
                            "Received invalid escape '{}' from <{}@{}>",
                            c.escape_ascii(),
                            self.client.user,
                            self.client.host
                        )
                    }
                }
            }
        }
        replies
    }

    /// Returns a reply for the client itself (the quiet-mode toggle), if any.
    async fn on_escape(&mut self, c: EscapeCommand) -> Option<Bytes> {
        let id = self.client.id;
        match c {
            EscapeCommand::Break => {
                return self
                    .guarded(Right::Break, "break", |id| Command::Break { client_id: id })
                    .await;
            }
            EscapeCommand::Del => {
                self.to_written(|id| Command::Input {
                    client_id: id,
                    data: Arc::from(&b"\x7f"[..]),
                })
                .await
            }
            EscapeCommand::Force | EscapeCommand::Join | EscapeCommand::Monitor => {
                // ConMan toggles R/O <-> R/W for all three; the actor applies it (and
                // ignores input from a client that is not a writer).
                if self.kind != SessionKind::Broadcast && self.escape_allowed() {
                    // Only a user who may write can toggle (a toggle may make it a
                    // writer); `&F` takes the console over and needs `force`.
                    let force = c == EscapeCommand::Force;
                    let right = if force { Right::Force } else { Right::Write };
                    let mut reply = BytesMut::new();
                    for (i, con) in self.consoles.iter().enumerate() {
                        if !self.guard.check(i, right, &mut reply) {
                            continue;
                        }
                        con.send(Command::Toggle {
                            client_id: id,
                            force,
                        })
                        .await;
                        let action = match c {
                            EscapeCommand::Force => "force",
                            EscapeCommand::Join => "join",
                            _ => "toggle",
                        };
                        self.guard.record(con.name(), action, None, None);
                    }
                    if !reply.is_empty() {
                        return Some(reply.freeze());
                    }
                }
            }
            EscapeCommand::LogReplay => {
                if self.kind != SessionKind::Broadcast {
                    for con in &self.consoles {
                        con.send(Command::Replay { client_id: id }).await;
                    }
                }
            }
            EscapeCommand::Quiet => {
                self.quiet = !self.quiet;
                return Some(Bytes::from(notice::quiet_mode(self.quiet).to_bytes()));
            }
            EscapeCommand::Reset => {
                return self
                    .guarded(Right::Reset, "reset", |id| Command::Reset { client_id: id })
                    .await;
            }
            EscapeCommand::Suspend => {
                if !self.escape_allowed() {
                    return None;
                }
                self.suspended = !self.suspended;
                let who = format!("{}@{}", self.client.user, self.client.host);
                if self.suspended {
                    tracing::info!("Client <{who}> suspended");
                } else {
                    tracing::info!("Client <{who}> resumed");
                }
            }
        }
        None
    }

    /// Send a command needing `right` to every console that allows it; the others
    /// refuse (a notice for the client, an audit record).
    async fn guarded(
        &self,
        right: Right,
        action: &str,
        mk: impl Fn(u64) -> Command,
    ) -> Option<Bytes> {
        let mut reply = BytesMut::new();
        for (i, con) in self.consoles.iter().enumerate() {
            if self.guard.check(i, right, &mut reply) {
                con.send(mk(self.client.id)).await;
                self.guard.record(con.name(), action, None, None);
            }
        }
        (!reply.is_empty()).then(|| reply.freeze())
    }

    /// Send a command to every console this client writes to.
    async fn to_written(&self, mk: impl Fn(u64) -> Command) {
        for con in &self.consoles {
            con.send(mk(self.client.id)).await;
        }
    }

    async fn detach_all(&mut self) {
        for con in self.consoles.drain(..) {
            self.guard.record(con.name(), "detach", None, None);
            con.send(Command::Detach {
                client_id: self.client.id,
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conmand_core::config::{ConsoleDef, ConsoleSpec, LogOpts, TestOpts};
    use futures_util::FutureExt;

    /// The request's `OK` goes out only once the console has attached the client,
    /// so nothing the console prints after the client reads it can be missed.
    #[tokio::test]
    async fn the_answer_waits_for_the_attach() {
        let def = ConsoleDef {
            name: "c".into(),
            dev: "fake".into(),
            spec: ConsoleSpec::Test(TestOpts::default()),
            log: None,
            logopts: LogOpts::default(),
            line: 1,
        };
        let (console, mut commands) = ConsoleHandle::detached(def);
        let who = Arc::new(Identity::claimed("u", "127.0.0.1:1".parse().unwrap()));
        let guard = Guard::new(who, Access::new(None, None), std::slice::from_ref(&console));
        let client = Arc::new(ClientInfo::new(1, "u".into(), "h".into(), None));
        let session = Session::new(
            client,
            vec![console],
            SessionKind::Monitor,
            false,
            Duration::from_secs(5),
            guard,
        );
        let (mut ours, theirs) = tokio::io::duplex(4096);
        let task = tokio::spawn(session.run(theirs, BytesMut::new(), AttachMode::Monitor, b"OK\n"));
        let Some(Command::Attach(attach)) = commands.recv().await else {
            panic!("no attach");
        };
        // Only the answer is kept: the sink goes, so the session can end.
        let crate::console::Attach { done, sink, .. } = *attach;
        drop(sink);
        let mut buf = [0u8; 16];
        assert!(
            ours.read(&mut buf).now_or_never().is_none(),
            "answered before the console attached the client"
        );
        done.send(()).unwrap();
        let n = ours.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"OK\n");
        drop(ours);
        drop(commands);
        task.await.unwrap();
    }
}
