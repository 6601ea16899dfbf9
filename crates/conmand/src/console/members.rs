//! A console's members (attached clients) and writer arbitration: join, force,
//! toggles and departures, with ConMan's messages in ConMan's order (`link_objs` and
//! `unlink_objs`, reference §3.8).
//!
//! Everything here is synchronous: output goes to each member's [`ClientSink`]
//! without waiting, and every notice that also belongs in the console's log is
//! appended, framed, to a caller-supplied list, which the actor then writes in order.

use std::sync::Arc;

use bytes::Bytes;
use conmand_core::notice::{self, Notice};

use super::AttachMode;
use super::sink::{ClientInfo, ClientSink, Output, WriterInfo};

/// What a member does on its console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Receives output, writes nothing (a monitor, or a writer that toggled off).
    Monitor,
    /// Receives output and writes (`R/W`).
    ReadWrite,
    /// Writes, receives no output (`B/C`, part of a broadcast). Never toggles.
    Broadcast,
}

impl Role {
    /// Receives console output.
    pub(super) fn reads(self) -> bool {
        self != Role::Broadcast
    }

    /// Writes to the console.
    pub(super) fn writes(self) -> bool {
        self != Role::Monitor
    }
}

/// One attached client.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) client: Arc<ClientInfo>,
    pub(super) sink: ClientSink,
    pub(super) role: Role,
}

impl Member {
    fn writer_info(&self) -> WriterInfo {
        WriterInfo {
            user: self.client.user.clone(),
            host: self.client.host.clone(),
            tty: self.client.tty.clone(),
            broadcast: self.role == Role::Broadcast,
            idle_secs: self.client.idle_secs(),
        }
    }
}

/// Framed notices for the console's log, in the order they were sent to members.
pub(super) type LogNotices = Vec<Bytes>;

/// The members of one console.
pub(super) struct Members {
    console: Arc<str>,
    list: Vec<Member>,
}

impl Members {
    /// No members yet.
    pub(super) fn new(console: Arc<str>) -> Self {
        Members {
            console,
            list: Vec::new(),
        }
    }

    /// The member with this client id.
    pub(super) fn get(&self, id: u64) -> Option<&Member> {
        self.list.iter().find(|m| m.client.id == id)
    }

    /// The member with this client id, if it may write.
    pub(super) fn writer(&self, id: u64) -> Option<&Member> {
        self.get(id).filter(|m| m.role.writes())
    }

    /// The number of members.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Everyone attached, for the API: (user, host, `ro` | `rw` | `wo`).
    pub(super) fn list(&self) -> Vec<(String, String, &'static str)> {
        self.list
            .iter()
            .map(|m| {
                let mode = match m.role {
                    Role::Monitor => "ro",
                    Role::ReadWrite => "rw",
                    Role::Broadcast => "wo",
                };
                (m.client.user.clone(), m.client.host.clone(), mode)
            })
            .collect()
    }

    /// The console's writers, for the busy check.
    pub(super) fn writers(&self) -> Vec<WriterInfo> {
        self.list
            .iter()
            .filter(|m| m.role.writes())
            .map(Member::writer_info)
            .collect()
    }

    /// Add a client. Writers arrive with ConMan's join/steal messages; a monitor
    /// arrives silently.
    pub(super) fn attach(
        &mut self,
        client: Arc<ClientInfo>,
        sink: ClientSink,
        mode: AttachMode,
        log: &mut LogNotices,
    ) {
        let role = match mode {
            AttachMode::Monitor => Role::Monitor,
            AttachMode::Connect { .. } => Role::ReadWrite,
            AttachMode::Broadcast { .. } => Role::Broadcast,
        };
        let member = Member { client, sink, role };
        match mode {
            AttachMode::Monitor => self.list.push(member),
            AttachMode::Connect { force } | AttachMode::Broadcast { force } => {
                self.link_writer(member, force, log)
            }
        }
    }

    /// Deliver a message to the member with this client id only.
    pub(super) fn tell(&self, id: u64, out: Output) {
        if let Some(m) = self.get(id) {
            m.sink.deliver(out);
        }
    }

    /// Remove a client (it left); a writer's departure is announced.
    pub(super) fn detach(&mut self, id: u64, log: &mut LogNotices) {
        let Some(pos) = self.list.iter().position(|m| m.client.id == id) else {
            return;
        };
        let m = self.list.remove(pos);
        if m.role.writes() {
            self.departed(&m, log);
        }
    }

    /// `&F`, `&J`, `&M`: a writer becomes a monitor (and departs), a monitor becomes
    /// a writer (joining, or stealing with `force`). Broadcast members never toggle.
    pub(super) fn toggle(&mut self, id: u64, force: bool, log: &mut LogNotices) {
        let Some(pos) = self.list.iter().position(|m| m.client.id == id) else {
            return;
        };
        match self.list[pos].role {
            Role::Broadcast => {}
            Role::ReadWrite => {
                self.list[pos].role = Role::Monitor;
                let m = self.list[pos].clone();
                self.departed(&m, log);
            }
            Role::Monitor => {
                let m = self.list[pos].clone();
                self.link_writer(m, force, log);
            }
        }
    }

    /// Make `member` a writer, with ConMan's `link_objs` messages: every member (and
    /// the log) hears of the new writer, the new writer hears of each existing one,
    /// and with `force` the existing writers are removed and their departure
    /// announced.
    fn link_writer(&mut self, mut member: Member, force: bool, log: &mut LogNotices) {
        let id = member.client.id;
        let others: Vec<usize> = (0..self.list.len())
            .filter(|&i| self.list[i].role.writes() && self.list[i].client.id != id)
            .collect();
        let stolen = force && !others.is_empty();
        let t = crate::timefmt::short_now();
        let broadcast = member.role == Role::Broadcast;
        let n = notice::writer_arrived(&self.console, &member.client.who(), broadcast, stolen, &t);
        self.notify_all(&n, log);
        for &i in &others {
            let n = notice::existing_writer(&self.console, &self.list[i].client.who(), stolen, &t);
            member.sink.deliver(n.into());
        }
        if stolen {
            let victims: Vec<u64> = others.iter().map(|&i| self.list[i].client.id).collect();
            for victim_id in victims {
                if let Some(pos) = self.list.iter().position(|m| m.client.id == victim_id) {
                    let victim = self.list.remove(pos);
                    victim.sink.deliver(Output::Kicked);
                    self.departed(&victim, log);
                }
            }
        }
        if member.role == Role::Monitor {
            member.role = Role::ReadWrite;
        }
        match self.list.iter_mut().find(|m| m.client.id == id) {
            Some(existing) => existing.role = member.role,
            None => self.list.push(member),
        }
    }

    fn departed(&mut self, m: &Member, log: &mut LogNotices) {
        let t = crate::timefmt::short_now();
        let n = notice::departed(&self.console, &m.client.who(), &t);
        self.notify_all(&n, log);
    }

    /// Send a notice to every member and (framed) to the log; members whose client
    /// has gone are removed, and departing writers announced.
    pub(super) fn notify_all(&mut self, n: &Notice, log: &mut LogNotices) {
        let framed = Bytes::from(n.to_bytes());
        let info = n.is_info();
        let mut gone = false;
        for m in &self.list {
            gone |= !m.sink.deliver(Output::Notice {
                text: framed.clone(),
                info,
            });
        }
        log.push(framed);
        if gone {
            self.prune_closed(log);
        }
    }

    /// Console output to every reader. Returns false when some member's client has
    /// gone (call [`Members::prune_closed`]). The hot path: no allocation.
    pub(super) fn output(&self, bytes: &Bytes) -> bool {
        let mut all_there = true;
        for m in self.list.iter().filter(|m| m.role.reads()) {
            all_there &= m.sink.deliver(Output::Data(bytes.clone()));
        }
        all_there
    }

    /// Remove members whose client has gone without detaching.
    pub(super) fn prune_closed(&mut self, log: &mut LogNotices) {
        let (closed, open): (Vec<Member>, Vec<Member>) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|m| m.sink.is_closed());
        self.list = open;
        for m in closed.iter().filter(|m| m.role.writes()) {
            self.departed(m, log);
        }
    }

    /// The console stops: tell every member why, then remove them all.
    pub(super) fn stop(&mut self, reason: &str) {
        for m in self.list.drain(..) {
            m.sink.deliver(Notice::always(reason).into());
            m.sink.deliver(Output::Kicked);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::sink::SinkShared;
    use tokio::sync::mpsc;

    struct Client {
        info: Arc<ClientInfo>,
        rx: mpsc::Receiver<Output>,
        sink: ClientSink,
    }

    fn client(id: u64, user: &str) -> Client {
        let (tx, rx) = mpsc::channel(64);
        Client {
            info: Arc::new(ClientInfo::new(id, user.into(), "h".into(), None)),
            rx,
            sink: ClientSink::new(tx, Arc::new(SinkShared::default())),
        }
    }

    /// What a client received, as text (notices without framing).
    fn drain(c: &mut Client) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(o) = c.rx.try_recv() {
            out.push(match o {
                Output::Data(b) => format!("data:{}", String::from_utf8_lossy(&b)),
                Output::Notice { text, .. } => strip(&text),
                Output::Kicked => "KICKED".into(),
            });
        }
        out
    }

    /// A framed notice without `\r\n<ConMan> ` and the time.
    fn strip(text: &[u8]) -> String {
        let s = String::from_utf8_lossy(text);
        let s = s
            .trim()
            .trim_start_matches("<ConMan> ")
            .trim_end_matches('.');
        match s.find(" at ") {
            Some(i) => s[..i].to_string(),
            None => s.to_string(),
        }
    }

    fn attach(ms: &mut Members, c: &Client, mode: AttachMode) -> Vec<String> {
        let mut log = Vec::new();
        ms.attach(c.info.clone(), c.sink.clone(), mode, &mut log);
        log.iter().map(|b| strip(b)).collect()
    }

    #[test]
    fn join_tells_everyone_and_the_newcomer_about_existing_writers() {
        let mut ms = Members::new("c".into());
        let (mut a, mut b, mut m) = (client(1, "a"), client(2, "b"), client(3, "m"));
        assert!(attach(&mut ms, &m, AttachMode::Monitor).is_empty());
        let log = attach(&mut ms, &a, AttachMode::Connect { force: false });
        assert_eq!(log, ["Console [c] joined by <a@h>"]);
        let log = attach(&mut ms, &b, AttachMode::Connect { force: false });
        assert_eq!(log, ["Console [c] joined by <b@h>"]);
        assert_eq!(
            drain(&mut m),
            ["Console [c] joined by <a@h>", "Console [c] joined by <b@h>"]
        );
        assert_eq!(drain(&mut a), ["Console [c] joined by <b@h>"]);
        assert_eq!(drain(&mut b), ["Console [c] joined with <a@h>"]);
        assert_eq!(ms.writers().len(), 2);
    }

    #[test]
    fn force_steals_in_conman_order() {
        let mut ms = Members::new("c".into());
        let (mut a, mut b, mut m) = (client(1, "a"), client(2, "b"), client(3, "m"));
        attach(&mut ms, &m, AttachMode::Monitor);
        attach(&mut ms, &a, AttachMode::Connect { force: false });
        drain(&mut m);
        drain(&mut a);
        let log = attach(&mut ms, &b, AttachMode::Connect { force: true });
        // Everyone (the victim too) hears of the theft first, then the departure;
        // the thief hears whom it stole from, and not of the victim's departure.
        assert_eq!(
            log,
            [
                "Console [c] stolen by <b@h>",
                "Console [c] departed by <a@h>"
            ]
        );
        assert_eq!(drain(&mut a), ["Console [c] stolen by <b@h>", "KICKED"]);
        assert_eq!(
            drain(&mut m),
            [
                "Console [c] stolen by <b@h>",
                "Console [c] departed by <a@h>"
            ]
        );
        assert_eq!(drain(&mut b), ["Console [c] stolen from <a@h>"]);
        assert!(ms.get(1).is_none());
        assert_eq!(ms.writer(2).map(|w| w.role), Some(Role::ReadWrite));
    }

    #[test]
    fn force_without_writers_is_a_join() {
        let mut ms = Members::new("c".into());
        let b = client(2, "b");
        let log = attach(&mut ms, &b, AttachMode::Connect { force: true });
        assert_eq!(log, ["Console [c] joined by <b@h>"]);
    }

    #[test]
    fn toggle_round_trip_and_broadcast_never_toggles() {
        let mut ms = Members::new("c".into());
        let (mut a, mut bc) = (client(1, "a"), client(2, "bc"));
        attach(&mut ms, &a, AttachMode::Connect { force: false });
        let log = attach(&mut ms, &bc, AttachMode::Broadcast { force: false });
        assert_eq!(log, ["Console [c] joined for B/C by <bc@h>"]);
        let mut log = Vec::new();
        ms.toggle(1, false, &mut log);
        assert_eq!(ms.get(1).map(|m| m.role), Some(Role::Monitor));
        ms.toggle(1, false, &mut log);
        assert_eq!(ms.get(1).map(|m| m.role), Some(Role::ReadWrite));
        ms.toggle(2, false, &mut log);
        assert_eq!(ms.get(2).map(|m| m.role), Some(Role::Broadcast));
        let log: Vec<String> = log.iter().map(|b| strip(b)).collect();
        assert_eq!(
            log,
            [
                "Console [c] departed by <a@h>",
                "Console [c] joined by <a@h>"
            ]
        );
        // The toggling member hears of its own re-join and of the broadcast writer.
        let got = drain(&mut a);
        assert_eq!(
            got[got.len() - 2..],
            [
                "Console [c] joined by <a@h>",
                "Console [c] joined with <bc@h>"
            ]
        );
        // A broadcast member gets notices but never output.
        assert!(ms.output(&Bytes::from_static(b"x")));
        assert!(!drain(&mut bc).iter().any(|s| s.starts_with("data:")));
        assert_eq!(drain(&mut a), ["data:x"]);
    }

    #[test]
    fn a_vanished_writer_is_pruned_and_its_departure_announced() {
        let mut ms = Members::new("c".into());
        let (a, mut m) = (client(1, "a"), client(2, "m"));
        attach(&mut ms, &a, AttachMode::Connect { force: false });
        attach(&mut ms, &m, AttachMode::Monitor);
        drop(a);
        assert!(!ms.output(&Bytes::from_static(b"x")));
        let mut log = Vec::new();
        ms.prune_closed(&mut log);
        assert_eq!(ms.len(), 1);
        assert_eq!(drain(&mut m), ["data:x", "Console [c] departed by <a@h>"]);
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn stop_tells_why_then_kicks() {
        let mut ms = Members::new("c".into());
        let mut a = client(1, "a");
        attach(&mut ms, &a, AttachMode::Monitor);
        ms.stop("Console [c] removed from the configuration");
        assert_eq!(
            drain(&mut a),
            ["Console [c] removed from the configuration", "KICKED"]
        );
        assert_eq!(ms.len(), 0);
    }
}
