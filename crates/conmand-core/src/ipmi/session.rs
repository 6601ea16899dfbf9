//! The RMCP+ session state machine: set-up, SOL activation, keepalive, teardown.
//!
//! ```text
//! AuthCaps (IPMI 1.5 framing)
//!  → OpenSession → Rakp1 → Rakp3          (a timeout restarts from OpenSession
//!                                           with a fresh session ID and Rm)
//!  → SetPrivilege
//!  → ActivationStatus ─ our instance active → Deactivate ┐
//!  → Activate ← ─────────────────────────────────────────┘
//!      0x80 "already active" → ActivationStatus again (≤ 17 rounds: steal)
//!      other port (from 623) → Deactivate, Close, `PortMoved`
//!  → Calibrate: does Get Payload Instance Info name our session?
//!  → Established: SOL data/acks; a keepalive every interval whatever the SOL
//!    traffic (ipmi_sim drops sessions that send only SOL): Get Payload
//!    Instance Info when calibrated (a different owner = silent steal), else
//!    Get Device ID
//!  → close(): Deactivate → CloseSession → Closed
//! ```
//!
//! Sans-IO: the caller passes datagrams ([`Session::handle_datagram`]), input
//! ([`Session::send_input`], [`Session::send_break`]) and timer expiries
//! ([`Session::handle_timeout`] at [`Session::poll_timeout`]), then drains
//! [`Session::poll_transmit`] and [`Session::poll_event`].

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use super::crypto::{AuthAlg, ConfAlg, IntegrityAlg, RakpParams, SessionKeys, codes_equal};
use super::sol::SolEngine;
use super::wire::{
    self, IpmiRequest, IpmiResponse, OpenSessionRequest, OpenSessionResponse, Packet, Rakp1, Rakp2,
    RakpCodeMsg, payload,
};
use super::{IpmiCredentials, SessionOptions, Workarounds};

mod setup;

/// IPMI App network function.
pub const NETFN_APP: u8 = 0x06;

/// App commands used by the session.
pub mod cmd {
    /// Get Device ID (our keepalive).
    pub const GET_DEVICE_ID: u8 = 0x01;
    /// Get Channel Authentication Capabilities.
    pub const GET_CHANNEL_AUTH_CAPS: u8 = 0x38;
    /// Set Session Privilege Level.
    pub const SET_SESSION_PRIVILEGE: u8 = 0x3b;
    /// Close Session.
    pub const CLOSE_SESSION: u8 = 0x3c;
    /// Activate Payload.
    pub const ACTIVATE_PAYLOAD: u8 = 0x48;
    /// Deactivate Payload.
    pub const DEACTIVATE_PAYLOAD: u8 = 0x49;
    /// Get Payload Activation Status.
    pub const GET_PAYLOAD_ACTIVATION_STATUS: u8 = 0x4a;
    /// Get Payload Instance Info (our SOL ownership probe).
    pub const GET_PAYLOAD_INSTANCE_INFO: u8 = 0x4b;
}

/// Whether the keepalive can double as a SOL ownership check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Not tried yet: the first answer must name our own session.
    Unknown,
    /// The BMC reports the owning session ID faithfully: a different owner
    /// means SOL was stolen silently (ipmi_sim sends no "deactivating").
    Enabled,
    /// Unsupported or not trustworthy here: keepalive with Get Device ID.
    Disabled,
}

/// Most activate / deactivate rounds in the steal loop (FreeIPMI: 17).
const MAX_STEAL_ROUNDS: u32 = 17;

/// Why a session failed or ended. The `Display` texts are what operators see
/// after `connection failed:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No answer to Get Channel Authentication Capabilities.
    #[error("BMC unreachable")]
    Unreachable,
    /// The BMC does not support IPMI v2.0 / RMCP+.
    #[error("IPMI 2.0 unavailable")]
    Ipmi20Unavailable,
    /// The BMC stopped answering during the RAKP handshake.
    #[error("connection timeout")]
    ConnectionTimeout,
    /// The BMC does not know the user name.
    #[error("username invalid")]
    UsernameInvalid,
    /// RAKP 2 did not verify: wrong password (or a vendor quirk).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// RAKP 4 did not verify: wrong K_g.
    #[error("k_g invalid")]
    KgInvalid,
    /// The requested privilege was refused.
    #[error("privilege level cannot be obtained for this user")]
    PrivilegeUnavailable,
    /// The BMC refused the proposed algorithms.
    #[error("cipher suite {0} not supported by BMC")]
    CipherSuiteUnsupported(u8),
    /// The BMC has no room for another session or activation.
    #[error("BMC busy")]
    BmcBusy,
    /// SOL stayed active on another session after the steal attempts.
    #[error("SOL payload in use")]
    SolInUse,
    /// SOL is disabled on the BMC.
    #[error("SOL unavailable")]
    SolUnavailable,
    /// The BMC insists on an encrypted SOL payload.
    #[error("SOL requires encryption")]
    SolRequiresEncryption,
    /// The BMC refuses an encrypted SOL payload.
    #[error("SOL requires no encryption")]
    SolRequiresNoEncryption,
    /// An unexpected RMCP+ status or completion code.
    #[error("BMC error: {0}")]
    BmcError(String),
    /// The BMC broke the protocol in a way no workaround covers.
    #[error("BMC implementation error: {0}")]
    BmcImplementation(&'static str),
    /// Nothing valid received for the session timeout.
    #[error("session timeout")]
    SessionTimeout,
    /// A request or SOL packet was never answered.
    #[error("excess retransmissions sent")]
    ExcessRetransmissions,
    /// The BMC deactivated SOL (stolen by another session, or shut down).
    #[error("SOL deactivated by BMC")]
    SolDeactivated,
    /// The BMC wants SOL on another UDP port: redo the session there.
    #[error("SOL payload moved to port {0}")]
    PortMoved(u16),
}

/// Something the caller should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// SOL is active; console data flows from now on.
    Established {
        /// Characters per SOL packet toward the BMC.
        max_chars: usize,
    },
    /// Console output from the host.
    Data(Vec<u8>),
    /// Something worth a log line (no secrets in it).
    Notice(String),
    /// The session is over; `None` after a requested [`Session::close`].
    Closed(Option<SessionError>),
}

/// Counters for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams dropped because they did not parse, verify or fit the state.
    pub bad_packets: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams accepted.
    pub received: u64,
    /// Keepalives sent.
    pub keepalives: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AuthCaps,
    OpenSession,
    Rakp1,
    Rakp3,
    SetPrivilege,
    ActivationStatus,
    Deactivate,
    Activate,
    /// SOL is ours; asking Get Payload Instance Info once to see whether the
    /// BMC names our session (then it can serve as the ownership probe).
    Calibrate,
    Established,
    /// Teardown: deactivating (if we own SOL), then closing.
    ClosingDeactivate,
    ClosingSession,
    Closed,
}

/// The one request we are waiting for.
#[derive(Debug, Clone)]
struct Outstanding {
    /// For IPMI requests: netfn/cmd/data (rq_seq is renewed per send).
    req: Option<IpmiRequest>,
    /// Retransmissions so far.
    retransmits: u32,
    /// When it times out.
    deadline: Instant,
}

/// Handshake values kept between RAKP messages.
#[derive(Clone, Default)]
struct Handshake {
    sid_m: u32,
    sid_c: u32,
    rm: [u8; 16],
    rc: [u8; 16],
    guid: [u8; 16],
    tag: u8,
    restarts: u32,
}

/// Source of random bytes (the daemon passes `getrandom::fill`).
pub type RandomSource = Box<dyn FnMut(&mut [u8]) + Send>;

/// One RMCP+ session with one BMC, carrying one SOL payload.
pub struct Session {
    creds: IpmiCredentials,
    opts: SessionOptions,
    /// UDP port in use (to recognise an Activate "port move").
    port: u16,
    rng: RandomSource,
    state: State,
    hs: Handshake,
    keys: Option<SessionKeys>,
    /// Last outbound session sequence number (0 before the first).
    out_seq: u32,
    /// Highest inbound session sequence number and a 32-bit window behind it.
    in_high: u32,
    in_window: u32,
    rq_seq: u8,
    outstanding: Option<Outstanding>,
    sol: Option<SolEngine>,
    /// We may own SOL (activation sent): deactivate on close.
    sol_maybe_ours: bool,
    steal_rounds: u32,
    probe: Probe,
    /// Characters per SOL packet, decided at activation.
    max_chars: usize,
    next_keepalive: Option<Instant>,
    last_rx: Instant,
    /// The error to report once teardown finishes (port moves).
    close_reason: Option<SessionError>,
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("suite", &self.opts.suite.id)
            .field("sid_m", &format_args!("{:#010x}", self.hs.sid_m))
            .field("sid_c", &format_args!("{:#010x}", self.hs.sid_c))
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session toward a BMC reached on UDP `port`. Call
    /// [`Session::start`] to send the first packet.
    pub fn new(
        creds: IpmiCredentials,
        opts: SessionOptions,
        port: u16,
        mut rng: RandomSource,
        now: Instant,
    ) -> Session {
        let mut b = [0u8; 2];
        rng(&mut b);
        Session {
            creds,
            opts,
            port,
            rng,
            state: State::AuthCaps,
            hs: Handshake {
                tag: b[0],
                ..Handshake::default()
            },
            keys: None,
            out_seq: 0,
            in_high: 0,
            in_window: 0,
            rq_seq: b[1] & 0x3f,
            outstanding: None,
            sol: None,
            sol_maybe_ours: false,
            steal_rounds: 0,
            probe: if opts.ownership_probe {
                Probe::Unknown
            } else {
                Probe::Disabled
            },
            max_chars: 32,
            next_keepalive: None,
            last_rx: now,
            close_reason: None,
            tx: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Send Get Channel Authentication Capabilities.
    pub fn start(&mut self, now: Instant) {
        self.last_rx = now;
        self.send_auth_caps(now, 0);
    }

    /// Whether SOL is active.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// Next event for the caller.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// How much console input [`Session::send_input`] would take now.
    pub fn input_space(&self) -> usize {
        match (&self.sol, self.state) {
            (Some(s), State::Established) => s.input_space(),
            _ => 0,
        }
    }

    /// Queue console input toward the host; returns how many bytes were taken.
    pub fn send_input(&mut self, now: Instant, data: &[u8]) -> usize {
        if self.state != State::Established {
            return 0;
        }
        let n = self.sol.as_mut().map_or(0, |s| s.queue_input(data));
        self.flush_sol(now);
        n
    }

    /// Queue a serial break after the input queued so far.
    pub fn send_break(&mut self, now: Instant) {
        if self.state != State::Established {
            return;
        }
        if let Some(s) = &mut self.sol {
            s.queue_break();
        }
        self.flush_sol(now);
    }

    /// Begin an orderly teardown (Deactivate Payload if ours, Close Session).
    pub fn close(&mut self, now: Instant) {
        self.begin_close(now, None);
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let mut t = self.outstanding.as_ref().map(|o| o.deadline);
        let mut take = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        if self.state == State::Established {
            take(self.sol.as_ref().and_then(|s| s.poll_timeout()));
            take(self.next_keepalive);
            take(Some(self.last_rx + self.opts.timing.session_timeout));
        }
        t
    }

    /// Run the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.state == State::Established {
            if now >= self.last_rx + self.opts.timing.session_timeout {
                self.fail_quietly(now, SessionError::SessionTimeout);
                return;
            }
            if let Some(s) = &mut self.sol
                && s.on_timeout(now).is_err()
            {
                // Assume SOL was stolen: never deactivate (it would kill the
                // new owner).
                self.fail_quietly(now, SessionError::ExcessRetransmissions);
                return;
            }
            if self.next_keepalive.is_some_and(|t| t <= now) {
                self.next_keepalive = Some(now + self.opts.timing.keepalive_interval);
                if self.outstanding.is_none() {
                    self.stats.keepalives += 1;
                    if self.probe == Probe::Disabled {
                        self.send_request(now, cmd::GET_DEVICE_ID, vec![]);
                    } else {
                        let inst = self.opts.sol_instance;
                        self.send_request(
                            now,
                            cmd::GET_PAYLOAD_INSTANCE_INFO,
                            vec![payload::SOL, inst],
                        );
                    }
                }
            }
        }
        if let Some(o) = &self.outstanding
            && o.deadline <= now
        {
            self.on_request_timeout(now);
        }
        self.flush_sol(now);
    }

    fn on_request_timeout(&mut self, now: Instant) {
        let Some(o) = self.outstanding.take() else {
            return;
        };
        let exhausted = o.retransmits >= self.opts.timing.max_retransmits;
        match self.state {
            State::AuthCaps if exhausted => self.fail(SessionError::Unreachable),
            State::AuthCaps => self.send_auth_caps(now, o.retransmits + 1),
            State::OpenSession | State::Rakp1 | State::Rakp3 => {
                self.hs.restarts += 1;
                if self.hs.restarts > self.opts.timing.max_retransmits {
                    self.fail(SessionError::ConnectionTimeout);
                } else {
                    let n = self.hs.restarts;
                    self.send_open_session(now, n);
                }
            }
            State::ClosingDeactivate if exhausted || o.retransmits >= 1 => {
                self.send_close_session(now)
            }
            State::ClosingSession if exhausted || o.retransmits >= 1 => self.finish_close(),
            _ if exhausted => {
                if self.state == State::Established {
                    self.fail_quietly(now, SessionError::ExcessRetransmissions);
                } else {
                    self.fail(SessionError::ExcessRetransmissions);
                }
            }
            _ => {
                if let Some(req) = o.req {
                    self.transmit_request(now, req, o.retransmits + 1);
                }
            }
        }
    }

    /// Process one received datagram. Garbage is counted and ignored.
    pub fn handle_datagram(&mut self, now: Instant, buf: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        let ok = match wire::parse(buf) {
            Ok(Packet::V15 { msg, .. }) if self.state == State::AuthCaps => {
                self.on_auth_caps(now, msg)
            }
            Ok(Packet::V20(p)) if is_setup_payload(p.payload_type) => {
                if p.encrypted || p.authenticated || p.sid != 0 {
                    false
                } else {
                    self.on_setup_payload(now, p.payload_type, p.payload)
                }
            }
            Ok(Packet::V20(p)) => match &self.keys {
                Some(keys) if p.sid == self.hs.sid_m => match p.open(keys) {
                    Ok(plain) if self.accept_seq(p.seq) => {
                        self.on_session_payload(now, p.payload_type, &plain)
                    }
                    _ => false,
                },
                _ => false,
            },
            _ => false,
        };
        if ok {
            self.stats.received += 1;
            self.last_rx = now;
        } else {
            self.stats.bad_packets += 1;
        }
        self.flush_sol(now);
    }

    // ---- sending -------------------------------------------------------------

    fn next_rq_seq(&mut self) -> u8 {
        self.rq_seq = (self.rq_seq + 1) & 0x3f;
        self.rq_seq
    }

    fn next_out_seq(&mut self) -> u32 {
        self.out_seq = self.out_seq.wrapping_add(1);
        if self.out_seq == 0 {
            self.out_seq = 1;
        }
        self.out_seq
    }

    fn random_iv(&mut self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        if self
            .keys
            .as_ref()
            .is_some_and(|k| k.suite.conf != ConfAlg::None)
        {
            (self.rng)(&mut iv);
        }
        iv
    }

    fn arm(&mut self, now: Instant, req: Option<IpmiRequest>, retransmits: u32) {
        self.outstanding = Some(Outstanding {
            req,
            retransmits,
            deadline: now + self.opts.timing.retransmit_delay(retransmits),
        });
    }

    fn push(&mut self, dgram: Vec<u8>) {
        self.stats.sent += 1;
        self.tx.push_back(dgram);
    }

    /// Send an in-session IPMI request (App netfn) and wait for its answer.
    fn send_request(&mut self, now: Instant, command: u8, data: Vec<u8>) {
        let req = IpmiRequest {
            netfn: NETFN_APP,
            cmd: command,
            rq_seq: 0,
            data,
        };
        self.transmit_request(now, req, 0);
    }

    fn transmit_request(&mut self, now: Instant, mut req: IpmiRequest, retransmits: u32) {
        if self.state == State::AuthCaps {
            self.send_auth_caps(now, retransmits);
            return;
        }
        // Every (re)transmission gets a new rqSeq; only the newest answer counts.
        req.rq_seq = self.next_rq_seq();
        let seq = self.next_out_seq();
        let iv = self.random_iv();
        let dgram = wire::encode_v20(
            payload::IPMI,
            self.hs.sid_c,
            seq,
            &req.encode(),
            self.keys.as_ref(),
            iv,
        );
        self.push(dgram);
        self.arm(now, Some(req), retransmits);
    }

    fn flush_sol(&mut self, now: Instant) {
        if self.state != State::Established {
            return;
        }
        while let Some(p) = self.sol.as_mut().and_then(|s| s.poll_transmit(now)) {
            let seq = self.next_out_seq();
            let iv = self.random_iv();
            let d = wire::encode_v20(payload::SOL, self.hs.sid_c, seq, &p, self.keys.as_ref(), iv);
            self.push(d);
        }
    }

    fn send_close_session(&mut self, now: Instant) {
        self.state = State::ClosingSession;
        let sid = self.hs.sid_c.to_le_bytes().to_vec();
        self.send_request(now, cmd::CLOSE_SESSION, sid);
    }

    fn deactivate_data(&self) -> Vec<u8> {
        vec![payload::SOL, self.opts.sol_instance, 0, 0, 0, 0]
    }

    // ---- state changes --------------------------------------------------------

    fn fail(&mut self, err: SessionError) {
        self.outstanding = None;
        self.state = State::Closed;
        self.events.push_back(Event::Closed(Some(err)));
    }

    /// End an established session without deactivating SOL: send one Close
    /// Session so the BMC can free it, but do not wait for the answer.
    fn fail_quietly(&mut self, now: Instant, err: SessionError) {
        if self.keys.is_some() {
            let sid = self.hs.sid_c.to_le_bytes().to_vec();
            self.send_request(now, cmd::CLOSE_SESSION, sid);
        }
        self.fail(err);
    }

    fn begin_close(&mut self, now: Instant, reason: Option<SessionError>) {
        self.close_reason = reason;
        match self.state {
            State::Closed | State::ClosingDeactivate | State::ClosingSession => {}
            State::AuthCaps | State::OpenSession | State::Rakp1 | State::Rakp3 => {
                self.finish_close()
            }
            _ if self.sol_maybe_ours => {
                self.state = State::ClosingDeactivate;
                let d = self.deactivate_data();
                self.send_request(now, cmd::DEACTIVATE_PAYLOAD, d);
            }
            _ => self.send_close_session(now),
        }
    }

    fn finish_close(&mut self) {
        self.outstanding = None;
        self.state = State::Closed;
        let r = self.close_reason.take();
        self.events.push_back(Event::Closed(r));
    }

    fn accept_seq(&mut self, seq: u32) -> bool {
        if seq == 0 {
            return false;
        }
        if self.in_high == 0 {
            self.in_high = seq;
            self.in_window = 1;
            return true;
        }
        let ahead = seq.wrapping_sub(self.in_high);
        if ahead != 0 && ahead < 0x8000_0000 {
            let integrity = self.opts.suite.integrity != IntegrityAlg::None;
            if !integrity && ahead > 16 {
                return false;
            }
            self.in_window = if ahead >= 32 {
                1
            } else {
                (self.in_window << ahead) | 1
            };
            self.in_high = seq;
            return true;
        }
        let back = self.in_high.wrapping_sub(seq);
        if back >= 32 || self.in_window & (1 << back) != 0 {
            return false;
        }
        self.in_window |= 1 << back;
        true
    }

    // ---- receiving -----------------------------------------------------------

    fn match_response(&mut self, msg: &[u8]) -> Option<IpmiResponse> {
        let check = !self.opts.workarounds.has(Workarounds::NOCHECKSUMCHECK);
        let rsp = IpmiResponse::decode(msg, check).ok()?;
        let req = self.outstanding.as_ref()?.req.as_ref()?;
        if rsp.netfn != req.netfn || rsp.cmd != req.cmd || rsp.rq_seq != req.rq_seq {
            return None;
        }
        // 0xCF answers an earlier copy of a retransmitted request.
        if rsp.completion == 0xcf {
            return None;
        }
        self.outstanding = None;
        Some(rsp)
    }

    fn on_session_payload(&mut self, now: Instant, ptype: u8, plain: &[u8]) -> bool {
        match ptype {
            payload::IPMI => {
                let Some(rsp) = self.match_response(plain) else {
                    return false;
                };
                self.on_response(now, rsp);
                true
            }
            payload::SOL if self.state == State::Established => {
                let Some(sol) = &mut self.sol else {
                    return false;
                };
                let Ok(rx) = sol.on_packet(now, plain) else {
                    return false;
                };
                if !rx.data.is_empty() {
                    self.events.push_back(Event::Data(rx.data));
                }
                if rx.overrun {
                    self.events
                        .push_back(Event::Notice("BMC reports SOL characters lost".into()));
                }
                if rx.deactivating {
                    self.fail_quietly(now, SessionError::SolDeactivated);
                }
                true
            }
            // SOL before activation completes: drop, the BMC retransmits.
            payload::SOL => true,
            _ => false,
        }
    }

    fn on_response(&mut self, now: Instant, rsp: IpmiResponse) {
        match (self.state, rsp.cmd) {
            (State::SetPrivilege, cmd::SET_SESSION_PRIVILEGE) => {
                if rsp.completion != 0 {
                    self.fail(SessionError::PrivilegeUnavailable);
                } else {
                    self.query_activation(now);
                }
            }
            (State::ActivationStatus, cmd::GET_PAYLOAD_ACTIVATION_STATUS) => {
                self.on_activation_status(now, &rsp)
            }
            (State::Deactivate, cmd::DEACTIVATE_PAYLOAD) => {
                // 0x80 (already inactive) and 0x81 (disabled) count as success.
                self.send_activate(now);
            }
            (State::Activate, cmd::ACTIVATE_PAYLOAD) => self.on_activate(now, &rsp),
            (State::ClosingDeactivate, cmd::DEACTIVATE_PAYLOAD) => self.send_close_session(now),
            (State::ClosingSession, cmd::CLOSE_SESSION) => self.finish_close(),
            (State::Established, cmd::GET_PAYLOAD_INSTANCE_INFO) => {
                self.on_instance_info(now, &rsp)
            }
            (State::Calibrate, cmd::GET_PAYLOAD_INSTANCE_INFO) => {
                self.on_instance_info(now, &rsp);
                self.become_established(now);
            }
            // Keepalive answers: any completion code proves the session is alive.
            _ => {}
        }
    }
}

fn is_setup_payload(t: u8) -> bool {
    (payload::OPEN_SESSION_REQUEST..=payload::RAKP4).contains(&t)
}

/// Map an RMCP+ status code to something an operator can act on.
fn rmcpplus_status_error(status: u8, suite: u8) -> SessionError {
    match status {
        0x01 | 0x0b => SessionError::BmcBusy,
        0x0d => SessionError::UsernameInvalid,
        0x09 | 0x0a => SessionError::PrivilegeUnavailable,
        0x04..=0x07 | 0x10 | 0x11 => SessionError::CipherSuiteUnsupported(suite),
        0x0f => SessionError::AuthenticationFailed,
        s => SessionError::BmcError(format!("RMCP+ status {s:#04x}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(suite: u8) -> Session {
        let opts = SessionOptions {
            suite: super::super::CipherSuite::from_id(suite).unwrap(),
            ..SessionOptions::default()
        };
        Session::new(
            IpmiCredentials::default(),
            opts,
            623,
            Box::new(|b: &mut [u8]| b.fill(7)),
            Instant::now(),
        )
    }

    #[test]
    fn inbound_window_drops_zero_duplicates_and_old_accepts_jumps_with_integrity() {
        let mut s = session(3);
        assert!(!s.accept_seq(0));
        assert!(s.accept_seq(10));
        assert!(!s.accept_seq(10), "duplicate");
        assert!(s.accept_seq(12));
        assert!(s.accept_seq(11), "late but unseen");
        assert!(!s.accept_seq(11));
        assert!(s.accept_seq(1000), "large authentic jump (network boot)");
        assert!(!s.accept_seq(1000 - 40), "too old");
        assert!(s.accept_seq(1000 - 5));
    }

    #[test]
    fn inbound_window_limits_jumps_without_integrity() {
        let mut s = session(0);
        assert!(s.accept_seq(5));
        assert!(!s.accept_seq(5 + 17));
        assert!(s.accept_seq(5 + 16));
    }

    #[test]
    fn outbound_sequence_skips_zero_on_wrap() {
        let mut s = session(3);
        s.out_seq = u32::MAX - 1;
        assert_eq!(s.next_out_seq(), u32::MAX);
        assert_eq!(s.next_out_seq(), 1);
    }

    #[test]
    fn status_codes_map_to_actionable_errors() {
        assert_eq!(
            rmcpplus_status_error(0x0d, 3),
            SessionError::UsernameInvalid
        );
        assert_eq!(
            rmcpplus_status_error(0x11, 17),
            SessionError::CipherSuiteUnsupported(17)
        );
        assert_eq!(rmcpplus_status_error(0x01, 3), SessionError::BmcBusy);
        assert_eq!(
            rmcpplus_status_error(0x0a, 3),
            SessionError::PrivilegeUnavailable
        );
        assert_eq!(SessionError::Unreachable.to_string(), "BMC unreachable");
    }
}
