//! A small BMC responder (the managed-system side of RMCP+ and SOL), sans-IO.
//!
//! It exists to test the client without hardware: it speaks the same codecs in
//! the BMC role, supports every cipher suite the client does (ipmi_sim lacks
//! SHA-256), and has knobs for the faults real BMCs show (partial acceptance,
//! NACK, "payload already active", steal notification). It is deliberately
//! simple: one SOL instance, no user table beyond one account, no 1.5 sessions.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::crypto::{AuthAlg, CipherSuite, RakpParams, SessionKeys, codes_equal};
use super::session::{NETFN_APP, cmd};
use super::wire::{
    self, IpmiRequest, IpmiResponse, OpenSessionRequest, OpenSessionResponse, Packet, Rakp1, Rakp2,
    RakpCodeMsg, SolHeader, payload, sol_op, sol_status,
};

/// Get Channel Payload Support (App 0x4E): FreeIPMI asks it before activating
/// SOL unless told not to (`solchannelsupport`).
const GET_CHANNEL_PAYLOAD_SUPPORT: u8 = 0x4e;
/// Get Channel Payload Version (App 0x4F): FreeIPMI's keepalive.
const GET_CHANNEL_PAYLOAD_VERSION: u8 = 0x4f;

/// Behaviour switches for fault tests.
#[derive(Debug, Clone, Default)]
pub struct BmcFaults {
    /// Accept at most this many characters of each console SOL packet.
    pub partial_accept: Option<u8>,
    /// Set NACK on acks while a partial acceptance is pending, then send a
    /// NACK-free ack when "drained" (like ipmi_sim's full input buffer).
    pub nack_when_partial: bool,
    /// Tell the previous owner "SOL deactivating" when another session
    /// deactivates its payload (what a compliant BMC does on a steal).
    pub notify_steal: bool,
    /// Answer Activate Payload with this port instead of the configured one.
    pub activate_port: Option<u16>,
    /// Ignore all IPMI requests of this command (e.g. keepalives).
    pub ignore_cmd: Option<u8>,
    /// Activate Payload always answers 0x80 "already active".
    pub activate_in_use: bool,
    /// Get Payload Instance Info is not implemented (answers 0xC1).
    pub no_instance_info: bool,
    /// Append one junk byte to the RAKP 2 code (Supermicro's 21-byte SHA1 code).
    pub rakp2_extra_byte: bool,
    /// Drop the last byte of the RAKP 2 code.
    pub rakp2_short: bool,
}

/// Configuration of the one account and the BMC's identity.
#[derive(Debug, Clone)]
pub struct BmcConfig {
    /// User name.
    pub username: Vec<u8>,
    /// Password.
    pub password: Vec<u8>,
    /// K_g, if the BMC has one.
    pub k_g: Option<Vec<u8>>,
    /// GUID sent in RAKP 2.
    pub guid: [u8; 16],
    /// Port reported by Activate Payload (the port the BMC listens on).
    pub port: u16,
    /// Inbound payload size reported by Activate Payload.
    pub inbound_size: u16,
    /// SOL retransmission interval toward the console.
    pub sol_retry: Duration,
    /// Faults.
    pub faults: BmcFaults,
}

#[derive(Debug)]
struct BmcSession<P> {
    peer: P,
    sid_m: u32,
    sid_c: u32,
    suite: CipherSuite,
    rm: [u8; 16],
    rc: [u8; 16],
    role: u8,
    username: Vec<u8>,
    keys: Option<SessionKeys>,
    active: bool,
    out_seq: u32,
    /// BMC → console SOL: sequence, in-flight chars, retries, deadline.
    tx_seq: u8,
    in_flight: Option<(u8, Vec<u8>, u32, Instant)>,
    /// Console → BMC SOL: last accepted sequence number and count.
    last_rx: Option<(u8, u8)>,
    nack_pending: Option<(u8, u8)>,
}

/// The BMC.
#[derive(Debug)]
pub struct Bmc<P> {
    cfg: BmcConfig,
    sessions: Vec<BmcSession<P>>,
    /// SID (ours) of the session owning SOL instance 1.
    sol_owner: Option<u32>,
    next_sid: u32,
    nonce: u64,
    /// Host serial output not yet sent to the console.
    host_out: VecDeque<u8>,
    /// Everything consoles typed, in order, with a `None` per break.
    host_in: Vec<Option<u8>>,
    /// Datagrams that failed to parse or authenticate.
    pub bad_packets: u64,
    /// Keepalives (Get Device ID, Get Payload Instance Info or Get Channel
    /// Payload Version) answered.
    pub keepalives: u64,
}

impl<P: Clone + PartialEq> Bmc<P> {
    /// A BMC with no sessions.
    pub fn new(cfg: BmcConfig) -> Bmc<P> {
        Bmc {
            cfg,
            sessions: Vec::new(),
            sol_owner: None,
            next_sid: 0x1122_3344,
            nonce: 0x0123_4567_89ab_cdef,
            host_out: VecDeque::new(),
            host_in: Vec::new(),
            bad_packets: 0,
            keepalives: 0,
        }
    }

    /// Mutable access to the faults.
    pub fn faults_mut(&mut self) -> &mut BmcFaults {
        &mut self.cfg.faults
    }

    /// Queue host serial output toward the active SOL console.
    pub fn host_write(&mut self, data: &[u8]) {
        self.host_out.extend(data);
    }

    /// Drain what consoles typed; a break shows as `None`.
    pub fn take_host_input(&mut self) -> Vec<Option<u8>> {
        std::mem::take(&mut self.host_in)
    }

    /// Whether a session owns SOL.
    pub fn sol_active(&self) -> bool {
        self.sol_owner.is_some()
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn rand16(&mut self) -> [u8; 16] {
        // Deterministic, non-cryptographic: this is a test responder.
        let mut out = [0u8; 16];
        for c in out.chunks_mut(8) {
            self.nonce = self
                .nonce
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            c.copy_from_slice(&self.nonce.to_le_bytes());
        }
        out
    }

    /// Handle one datagram from `peer`; returns datagrams to send.
    pub fn handle(&mut self, now: Instant, peer: P, buf: &[u8]) -> Vec<(P, Vec<u8>)> {
        let mut out = Vec::new();
        let ok = match wire::parse(buf) {
            Ok(Packet::V15 { msg, .. }) => self.on_v15(&peer, msg, &mut out),
            Ok(Packet::V20(p)) if (0x10..=0x15).contains(&p.payload_type) => {
                self.on_setup(&peer, p.payload_type, p.payload, &mut out)
            }
            Ok(Packet::V20(p)) => {
                let idx = self
                    .sessions
                    .iter()
                    .position(|s| s.sid_c == p.sid && s.keys.is_some());
                match idx.and_then(|i| {
                    let keys = self.sessions[i].keys.as_ref()?;
                    p.open(keys).ok().map(|plain| (i, plain))
                }) {
                    Some((i, plain)) => {
                        self.sessions[i].peer = peer.clone();
                        self.on_session(now, i, p.payload_type, &plain, &mut out)
                    }
                    None => false,
                }
            }
            _ => false,
        };
        if !ok {
            self.bad_packets += 1;
        }
        self.pump(now, &mut out);
        out
    }

    /// Wraps `plain` as a payload of type `ptype` the way this BMC sends on its
    /// newest session that finished RAKP (same keys, next sequence number), or
    /// `None` if no session has. Lets tests and fuzzers put arbitrary but
    /// authentic payloads in front of a client; changes no other state.
    pub fn seal(&mut self, ptype: u8, plain: &[u8]) -> Option<Vec<u8>> {
        let i = self.sessions.iter().rposition(|s| s.keys.is_some())?;
        let mut out = Vec::with_capacity(1);
        self.send(i, ptype, plain, &mut out);
        out.pop().map(|(_, d)| d)
    }

    /// Run timers (SOL retransmission) and send queued host output.
    pub fn tick(&mut self, now: Instant) -> Vec<(P, Vec<u8>)> {
        let mut out = Vec::new();
        self.pump(now, &mut out);
        out
    }

    fn on_v15(&mut self, peer: &P, msg: &[u8], out: &mut Vec<(P, Vec<u8>)>) -> bool {
        let Ok(req) = IpmiRequest::decode(msg) else {
            return false;
        };
        if req.cmd != cmd::GET_CHANNEL_AUTH_CAPS {
            return false;
        }
        let kg = if self.cfg.k_g.is_some() { 0x20 } else { 0 };
        let rsp = IpmiResponse {
            netfn: req.netfn,
            cmd: req.cmd,
            rq_seq: req.rq_seq,
            completion: 0,
            data: vec![0x01, 0x80 | 0x17, 0x04 | kg, 0x03, 0, 0, 0, 0],
        };
        out.push((peer.clone(), wire::encode_v15(0, 0, &rsp.encode())));
        true
    }

    fn setup_reply(peer: &P, ptype: u8, body: Vec<u8>, out: &mut Vec<(P, Vec<u8>)>) {
        out.push((
            peer.clone(),
            wire::encode_v20(ptype, 0, 0, &body, None, [0; 16]),
        ));
    }

    fn on_setup(&mut self, peer: &P, ptype: u8, p: &[u8], out: &mut Vec<(P, Vec<u8>)>) -> bool {
        match ptype {
            payload::OPEN_SESSION_REQUEST => {
                let Ok(r) = OpenSessionRequest::decode(p) else {
                    return false;
                };
                let suite = (0u8..=19).filter_map(CipherSuite::from_id).find(|s| {
                    (s.auth.wire(), s.integrity.wire(), s.conf.wire())
                        == (r.auth, r.integrity, r.conf)
                });
                let Some(suite) = suite else {
                    let rsp = OpenSessionResponse {
                        tag: r.tag,
                        status: 0x11,
                        max_priv: 0,
                        sid_m: r.sid_m,
                        sid_c: 0,
                        auth: 0,
                        integrity: 0,
                        conf: 0,
                    };
                    Self::setup_reply(peer, payload::OPEN_SESSION_RESPONSE, rsp.encode(), out);
                    return true;
                };
                self.next_sid = self.next_sid.wrapping_add(1);
                let sid_c = self.next_sid;
                self.sessions.push(BmcSession {
                    peer: peer.clone(),
                    sid_m: r.sid_m,
                    sid_c,
                    suite,
                    rm: [0; 16],
                    rc: [0; 16],
                    role: 0,
                    username: Vec::new(),
                    keys: None,
                    active: false,
                    out_seq: 0,
                    tx_seq: 0,
                    in_flight: None,
                    last_rx: None,
                    nack_pending: None,
                });
                let rsp = OpenSessionResponse {
                    tag: r.tag,
                    status: 0,
                    // 0 asks for "the highest level": the account is admin.
                    max_priv: if r.max_priv == 0 { 4 } else { r.max_priv },
                    sid_m: r.sid_m,
                    sid_c,
                    auth: r.auth,
                    integrity: r.integrity,
                    conf: r.conf,
                };
                Self::setup_reply(peer, payload::OPEN_SESSION_RESPONSE, rsp.encode(), out);
                true
            }
            payload::RAKP1 => {
                let Ok(r) = Rakp1::decode(p) else {
                    return false;
                };
                let rc = self.rand16();
                let guid = self.cfg.guid;
                let Some(s) = self.sessions.iter_mut().find(|s| s.sid_c == r.sid_c) else {
                    return false;
                };
                if r.username != self.cfg.username {
                    let rsp = Rakp2 {
                        tag: r.tag,
                        status: 0x0d,
                        sid_m: s.sid_m,
                        rc,
                        guid,
                        code: vec![],
                    };
                    Self::setup_reply(peer, payload::RAKP2, rsp.encode(), out);
                    return true;
                }
                s.rm = r.rm;
                s.rc = rc;
                s.role = r.role;
                s.username = r.username.clone();
                let params = RakpParams {
                    sid_m: s.sid_m,
                    sid_c: s.sid_c,
                    rm: s.rm,
                    rc,
                    guid,
                    role: s.role,
                    username: &s.username,
                };
                let mut code = params.rakp2_code(s.suite.auth, &self.cfg.password);
                if self.cfg.faults.rakp2_extra_byte {
                    code.push(0x5a);
                }
                if self.cfg.faults.rakp2_short {
                    code.pop();
                }
                let rsp = Rakp2 {
                    tag: r.tag,
                    status: 0,
                    sid_m: s.sid_m,
                    rc,
                    guid,
                    code,
                };
                Self::setup_reply(peer, payload::RAKP2, rsp.encode(), out);
                true
            }
            payload::RAKP3 => {
                let Ok(r) = RakpCodeMsg::decode(p) else {
                    return false;
                };
                let guid = self.cfg.guid;
                let Some(s) = self.sessions.iter_mut().find(|s| s.sid_c == r.sid) else {
                    return false;
                };
                let params = RakpParams {
                    sid_m: s.sid_m,
                    sid_c: s.sid_c,
                    rm: s.rm,
                    rc: s.rc,
                    guid,
                    role: s.role,
                    username: &s.username,
                };
                let want = params.rakp3_code(s.suite.auth, &self.cfg.password, s.role);
                if r.status != 0 || !codes_equal(&want, &r.code) {
                    let rsp = RakpCodeMsg {
                        tag: r.tag,
                        status: 0x0f,
                        sid: s.sid_m,
                        code: vec![],
                    };
                    Self::setup_reply(peer, payload::RAKP4, rsp.encode(), out);
                    return true;
                }
                let keys = SessionKeys::derive(
                    s.suite,
                    &params,
                    &self.cfg.password,
                    self.cfg.k_g.as_deref(),
                );
                let icv = if s.suite.auth == AuthAlg::None {
                    vec![]
                } else {
                    params.rakp4_icv(s.suite.auth, &keys.sik)
                };
                s.keys = Some(keys);
                let rsp = RakpCodeMsg {
                    tag: r.tag,
                    status: 0,
                    sid: s.sid_m,
                    code: icv,
                };
                Self::setup_reply(peer, payload::RAKP4, rsp.encode(), out);
                true
            }
            _ => false,
        }
    }

    fn send(&mut self, i: usize, ptype: u8, plain: &[u8], out: &mut Vec<(P, Vec<u8>)>) {
        let iv = self.rand16();
        let s = &mut self.sessions[i];
        s.out_seq = s.out_seq.wrapping_add(1).max(1);
        let d = wire::encode_v20(ptype, s.sid_m, s.out_seq, plain, s.keys.as_ref(), iv);
        out.push((s.peer.clone(), d));
    }

    fn on_session(
        &mut self,
        now: Instant,
        i: usize,
        ptype: u8,
        plain: &[u8],
        out: &mut Vec<(P, Vec<u8>)>,
    ) -> bool {
        match ptype {
            payload::IPMI => {
                let Ok(req) = IpmiRequest::decode(plain) else {
                    return false;
                };
                if self.cfg.faults.ignore_cmd == Some(req.cmd) {
                    return true;
                }
                let (cc, data, close) = if req.netfn == NETFN_APP {
                    self.command(now, i, &req, out)
                } else {
                    // Other network functions (ipmitool probes DCMI/PICMG): 0xC1.
                    (0xc1, vec![], false)
                };
                let rsp = IpmiResponse {
                    netfn: req.netfn,
                    cmd: req.cmd,
                    rq_seq: req.rq_seq,
                    completion: cc,
                    data,
                };
                self.send(i, payload::IPMI, &rsp.encode(), out);
                if close {
                    let sid = self.sessions[i].sid_c;
                    if self.sol_owner == Some(sid) {
                        self.sol_owner = None;
                    }
                    self.sessions.remove(i);
                }
                true
            }
            payload::SOL => self.on_sol(i, plain, out),
            _ => false,
        }
    }

    fn command(
        &mut self,
        _now: Instant,
        i: usize,
        req: &IpmiRequest,
        out: &mut Vec<(P, Vec<u8>)>,
    ) -> (u8, Vec<u8>, bool) {
        let sid = self.sessions[i].sid_c;
        match req.cmd {
            cmd::GET_DEVICE_ID => {
                self.keepalives += 1;
                (
                    0,
                    vec![
                        0x20, 0x01, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f,
                    ],
                    false,
                )
            }
            cmd::SET_SESSION_PRIVILEGE => {
                let p = req.data.first().copied().unwrap_or(0) & 0x0f;
                (0, vec![if p == 0 { 4 } else { p }], false)
            }
            cmd::GET_PAYLOAD_ACTIVATION_STATUS => {
                let bit = u8::from(self.sol_owner.is_some());
                (0, vec![0x01, bit, 0x00], false)
            }
            cmd::ACTIVATE_PAYLOAD => {
                if self.sol_owner.is_some() || self.cfg.faults.activate_in_use {
                    return (0x80, vec![], false);
                }
                self.sol_owner = Some(sid);
                let s = &mut self.sessions[i];
                s.active = true;
                s.tx_seq = 0;
                s.in_flight = None;
                s.last_rx = None;
                let port = self.cfg.faults.activate_port.unwrap_or(self.cfg.port);
                let mut d = vec![0, 0, 0, 0];
                d.extend_from_slice(&self.cfg.inbound_size.to_le_bytes());
                // Outbound: we send at most 200 characters (+ 4-byte header).
                d.extend_from_slice(&204u16.to_le_bytes());
                d.extend_from_slice(&port.to_le_bytes());
                d.extend_from_slice(&0xffffu16.to_le_bytes());
                (0, d, false)
            }
            cmd::DEACTIVATE_PAYLOAD => {
                let Some(owner) = self.sol_owner.take() else {
                    return (0x80, vec![], false);
                };
                if let Some(j) = self.sessions.iter().position(|s| s.sid_c == owner) {
                    self.sessions[j].active = false;
                    // Nothing is retransmitted to a deactivated session.
                    self.sessions[j].in_flight = None;
                    if owner != sid && self.cfg.faults.notify_steal {
                        let h = SolHeader {
                            flags: sol_status::DEACTIVATING,
                            ..SolHeader::default()
                        };
                        self.send(j, payload::SOL, &h.encode(&[]), out);
                    }
                }
                (0, vec![], false)
            }
            cmd::GET_PAYLOAD_INSTANCE_INFO if self.cfg.faults.no_instance_info => {
                (0xc1, vec![], false)
            }
            cmd::GET_PAYLOAD_INSTANCE_INFO => {
                self.keepalives += 1;
                let mut d = self.sol_owner.unwrap_or(0).to_le_bytes().to_vec();
                d.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
                (0, d, false)
            }
            GET_CHANNEL_PAYLOAD_SUPPORT => {
                // Standard payloads IPMI (0) and SOL (1); session set-up
                // payloads 0x10-0x15; no OEM payloads.
                (0, vec![0x03, 0x00, 0x3f, 0x00, 0, 0, 0, 0], false)
            }
            GET_CHANNEL_PAYLOAD_VERSION => {
                // FreeIPMI's keepalive. Version 1.0 for IPMI and SOL.
                self.keepalives += 1;
                match req.data.get(1) {
                    Some(0 | 1) => (0, vec![0x10], false),
                    _ => (0x80, vec![], false),
                }
            }
            cmd::CLOSE_SESSION => (0, vec![], true),
            _ => (0xc1, vec![], false),
        }
    }

    fn on_sol(&mut self, i: usize, plain: &[u8], out: &mut Vec<(P, Vec<u8>)>) -> bool {
        let Ok((h, data)) = SolHeader::decode(plain) else {
            return false;
        };
        if !self.sessions[i].active {
            return true;
        }
        // Acks for our data.
        if h.ack_seq != 0 {
            let s = &mut self.sessions[i];
            if let Some((seq, chars, _, _)) = &s.in_flight
                && *seq == h.ack_seq
            {
                let rest = chars[usize::from(h.accepted).min(chars.len())..].to_vec();
                s.in_flight = None;
                for b in rest.into_iter().rev() {
                    self.host_out.push_front(b);
                }
            }
        }
        if h.seq == 0 {
            return true;
        }
        let faults = self.cfg.faults.clone();
        let s = &mut self.sessions[i];
        let accepted = if s.last_rx.is_some_and(|(q, _)| q == h.seq) {
            // Duplicate: re-ack what we took the first time.
            s.last_rx.map_or(0, |(_, a)| a)
        } else {
            let n = data
                .len()
                .min(usize::from(faults.partial_accept.unwrap_or(255)));
            self.host_in.extend(data[..n].iter().map(|b| Some(*b)));
            if h.flags & sol_op::BREAK != 0 {
                self.host_in.push(None);
            }
            n as u8
        };
        let s = &mut self.sessions[i];
        s.last_rx = Some((h.seq, accepted));
        let partial = usize::from(accepted) < data.len();
        let mut flags = 0;
        if partial && faults.nack_when_partial {
            flags |= sol_status::NACK;
            s.nack_pending = Some((h.seq, accepted));
        }
        let ack = SolHeader {
            seq: 0,
            ack_seq: h.seq,
            accepted,
            flags,
        };
        self.send(i, payload::SOL, &ack.encode(&[]), out);
        true
    }

    fn pump(&mut self, now: Instant, out: &mut Vec<(P, Vec<u8>)>) {
        let Some(owner) = self.sol_owner else {
            return;
        };
        let Some(i) = self.sessions.iter().position(|s| s.sid_c == owner) else {
            return;
        };
        // "Drained": clear a pending NACK with a fresh ack.
        if let Some((seq, acc)) = self.sessions[i].nack_pending.take() {
            let ack = SolHeader {
                seq: 0,
                ack_seq: seq,
                accepted: acc,
                flags: 0,
            };
            self.send(i, payload::SOL, &ack.encode(&[]), out);
        }
        let retry = self.cfg.sol_retry;
        let s = &mut self.sessions[i];
        match &mut s.in_flight {
            Some((seq, chars, tries, deadline)) if *deadline <= now => {
                if *tries >= 4 {
                    s.in_flight = None;
                } else {
                    *tries += 1;
                    *deadline = now + retry;
                    let p = SolHeader {
                        seq: *seq,
                        ..SolHeader::default()
                    }
                    .encode(chars);
                    self.send(i, payload::SOL, &p, out);
                }
            }
            Some(_) => {}
            None if !self.host_out.is_empty() => {
                let n = self.host_out.len().min(200);
                let chars: Vec<u8> = self.host_out.drain(..n).collect();
                s.tx_seq = if s.tx_seq >= 15 { 1 } else { s.tx_seq + 1 };
                let seq = s.tx_seq;
                s.in_flight = Some((seq, chars.clone(), 0, now + retry));
                let p = SolHeader {
                    seq,
                    ..SolHeader::default()
                }
                .encode(&chars);
                self.send(i, payload::SOL, &p, out);
            }
            None => {}
        }
    }

    /// The next time [`Bmc::tick`] has work (a SOL retransmission to the
    /// session that owns SOL).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let owner = self.sol_owner?;
        self.sessions
            .iter()
            .find(|s| s.sid_c == owner)
            .and_then(|s| s.in_flight.as_ref().map(|f| f.3))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cfg() -> BmcConfig {
        BmcConfig {
            username: b"admin".to_vec(),
            password: b"secret".to_vec(),
            k_g: None,
            guid: [0x33; 16],
            port: 623,
            inbound_size: 32,
            sol_retry: Duration::from_secs(1),
            faults: BmcFaults::default(),
        }
    }

    fn one(out: Vec<(u8, Vec<u8>)>) -> Vec<u8> {
        assert_eq!(out.len(), 1, "expected exactly one reply");
        out.into_iter().next().unwrap().1
    }

    fn setup_payload(d: &[u8]) -> Vec<u8> {
        match wire::parse(d).unwrap() {
            Packet::V20(p) => p.payload.to_vec(),
            other => panic!("not an RMCP+ reply: {other:?}"),
        }
    }

    /// Open an RMCP+ session with cipher suite 3 the way a client does.
    fn open(b: &mut Bmc<u8>, now: Instant) -> (u32, SessionKeys) {
        let suite = CipherSuite::from_id(3).unwrap();
        let sid_m = 0xa0a0_0001;
        let req = OpenSessionRequest {
            tag: 1,
            max_priv: 4,
            sid_m,
            auth: suite.auth.wire(),
            integrity: suite.integrity.wire(),
            conf: suite.conf.wire(),
        };
        let d = wire::encode_v20(
            payload::OPEN_SESSION_REQUEST,
            0,
            0,
            &req.encode(),
            None,
            [0; 16],
        );
        let rsp = OpenSessionResponse::decode(&setup_payload(&one(b.handle(now, 0, &d)))).unwrap();
        assert_eq!(rsp.status, 0);
        let rm = [0x11; 16];
        let r1 = Rakp1 {
            tag: 2,
            sid_c: rsp.sid_c,
            rm,
            role: 0x14,
            username: b"admin".to_vec(),
        };
        let d = wire::encode_v20(payload::RAKP1, 0, 0, &r1.encode(), None, [0; 16]);
        let r2 = Rakp2::decode(&setup_payload(&one(b.handle(now, 0, &d)))).unwrap();
        assert_eq!(r2.status, 0);
        let params = RakpParams {
            sid_m,
            sid_c: rsp.sid_c,
            rm,
            rc: r2.rc,
            guid: r2.guid,
            role: 0x14,
            username: b"admin",
        };
        let r3 = RakpCodeMsg {
            tag: 3,
            status: 0,
            sid: rsp.sid_c,
            code: params.rakp3_code(suite.auth, b"secret", 0x14),
        };
        let d = wire::encode_v20(payload::RAKP3, 0, 0, &r3.encode(), None, [0; 16]);
        let r4 = RakpCodeMsg::decode(&setup_payload(&one(b.handle(now, 0, &d)))).unwrap();
        assert_eq!(r4.status, 0);
        (
            rsp.sid_c,
            SessionKeys::derive(suite, &params, b"secret", None),
        )
    }

    fn request(
        b: &mut Bmc<u8>,
        now: Instant,
        sid_c: u32,
        keys: &SessionKeys,
        cmd: u8,
        data: Vec<u8>,
    ) -> IpmiResponse {
        let req = IpmiRequest {
            netfn: NETFN_APP,
            cmd,
            rq_seq: 5,
            data,
        };
        let d = wire::encode_v20(payload::IPMI, sid_c, 1, &req.encode(), Some(keys), [7; 16]);
        let reply = one(b.handle(now, 0, &d));
        let Packet::V20(p) = wire::parse(&reply).unwrap() else {
            panic!("not an RMCP+ reply");
        };
        let rsp = IpmiResponse::decode(&p.open(keys).unwrap(), true).unwrap();
        assert_eq!((rsp.cmd, rsp.rq_seq), (cmd, 5));
        rsp
    }

    #[test]
    fn deactivated_session_leaves_no_retransmission_deadline() {
        let now = Instant::now();
        let mut b = Bmc::new(cfg());
        let (sid, keys) = open(&mut b, now);
        let act = vec![1, 1, 0xc0, 0, 0, 0];
        assert_eq!(
            request(&mut b, now, sid, &keys, cmd::ACTIVATE_PAYLOAD, act).completion,
            0
        );
        b.host_write(b"host output");
        assert_eq!(b.tick(now).len(), 1, "one SOL data packet");
        assert!(b.poll_timeout().is_some(), "unacked data is retransmitted");
        let deact = vec![1, 1, 0, 0, 0, 0];
        assert_eq!(
            request(&mut b, now, sid, &keys, cmd::DEACTIVATE_PAYLOAD, deact).completion,
            0
        );
        // A stale deadline in the past would make every caller's timer spin.
        assert_eq!(b.poll_timeout(), None);
        assert!(b.tick(now + Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn channel_payload_support_reports_ipmi_and_sol() {
        let now = Instant::now();
        let mut b = Bmc::new(cfg());
        let (sid, keys) = open(&mut b, now);
        let rsp = request(
            &mut b,
            now,
            sid,
            &keys,
            GET_CHANNEL_PAYLOAD_SUPPORT,
            vec![0x0e],
        );
        assert_eq!(rsp.completion, 0);
        assert_eq!(rsp.data.len(), 8);
        assert_eq!(rsp.data[0] & 0x03, 0x03, "IPMI and SOL payload bits");
        assert_eq!(b.bad_packets, 0);
    }

    #[test]
    fn channel_payload_version_is_a_keepalive_for_known_payloads() {
        let now = Instant::now();
        let mut b = Bmc::new(cfg());
        let (sid, keys) = open(&mut b, now);
        let rsp = request(
            &mut b,
            now,
            sid,
            &keys,
            GET_CHANNEL_PAYLOAD_VERSION,
            vec![0x0e, 1],
        );
        assert_eq!((rsp.completion, rsp.data.as_slice()), (0, &[0x10][..]));
        assert_eq!(b.keepalives, 1);
        let rsp = request(
            &mut b,
            now,
            sid,
            &keys,
            GET_CHANNEL_PAYLOAD_VERSION,
            vec![0x0e, 7],
        );
        assert_eq!(rsp.completion, 0x80, "payload type not available");
    }
}
