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

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use conmand_core::escape::{EscapeCommand, EscapeDecoder, Event};
use conmand_core::notice::{self, Notice};

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

/// One attached client.
pub struct Session {
    client: Arc<ClientInfo>,
    consoles: Vec<ConsoleHandle>,
    kind: SessionKind,
    quiet: bool,
    suspended: bool,
}

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
    ) -> Self {
        Session {
            client,
            consoles,
            kind,
            quiet,
            suspended: false,
        }
    }

    /// Attach, run until either side closes or the client is removed, then detach.
    /// `pending` holds bytes the client pipelined after its request.
    pub async fn run<S>(mut self, stream: S, pending: BytesMut, mode: AttachMode)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (tx, mut rx) = mpsc::channel(CLIENT_QUEUE);
        let shared = Arc::new(SinkShared::default());
        let sink = ClientSink::new(tx, shared.clone());
        for c in &self.consoles {
            c.send(Command::Attach {
                client: self.client.clone(),
                sink: sink.clone(),
                mode,
            })
            .await;
        }
        drop(sink);
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut decoder = EscapeDecoder::new();
        let mut inbuf = BytesMut::with_capacity(1024);
        let mut read_open = true;
        if !pending.is_empty()
            && let Some(r) = self.on_input(&mut decoder, &pending).await
        {
            let _ = wr.write_all(&r).await;
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
                                && wr.write_all(&r).await.is_err() {
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
                    if !out.is_empty() && wr.write_all(&out).await.is_err() {
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
                Action::Invalid(c) => tracing::warn!(
                    "Received invalid escape '{}' from <{}@{}>",
                    c.escape_ascii(),
                    self.client.user,
                    self.client.host
                ),
            }
        }
        replies
    }

    /// Returns a reply for the client itself (the quiet-mode toggle), if any.
    async fn on_escape(&mut self, c: EscapeCommand) -> Option<Bytes> {
        let id = self.client.id;
        match c {
            EscapeCommand::Break => self.to_written(|id| Command::Break { client_id: id }).await,
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
                if self.kind != SessionKind::Broadcast {
                    for con in &self.consoles {
                        con.send(Command::Toggle {
                            client_id: id,
                            force: c == EscapeCommand::Force,
                        })
                        .await;
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
            EscapeCommand::Reset => self.to_written(|id| Command::Reset { client_id: id }).await,
            EscapeCommand::Suspend => {
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

    /// Send a command to every console this client writes to.
    async fn to_written(&self, mk: impl Fn(u64) -> Command) {
        for con in &self.consoles {
            con.send(mk(self.client.id)).await;
        }
    }

    async fn detach_all(&mut self) {
        for con in self.consoles.drain(..) {
            con.send(Command::Detach {
                client_id: self.client.id,
            })
            .await;
        }
    }
}
