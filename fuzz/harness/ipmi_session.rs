//! `ipmi_session`: the RMCP+ session state machine (`ipmi::session::Session`)
//! against the in-memory BMC (`ipmi::bmc::Bmc`), with the link between them
//! under fuzz control.
//!
//! Input: cipher suite, credential and workaround choices, BMC faults, an RNG
//! seed, then operations: deliver some queued datagrams (so the session reaches
//! every state: auth caps, open session, RAKP, privilege, activation, steal,
//! calibration, established, closing), hand the session an arbitrary datagram,
//! an arbitrary payload sealed with the BMC's real session keys, a set-up
//! payload, a replayed or bit-flipped BMC datagram; drop a datagram; let time
//! pass; type console input, send a break, close, or make the host print.
//!
//! Invariants: nothing panics; every datagram handed to an open session counts
//! as received or bad, exactly once; one call produces a bounded number of
//! datagrams; `Established` comes at most once and `Closed` exactly once at the
//! end; a closed session stays closed, silent and timer-free; after
//! `handle_timeout(now)` no timer is still due (no busy loop).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use conmand_core::config::IpmiOpts;
use conmand_core::ipmi::bmc::{Bmc, BmcConfig, BmcFaults};
use conmand_core::ipmi::session::{Event, RandomSource, Session, cmd};
use conmand_core::ipmi::wire::{self, payload};
use conmand_core::ipmi::{CipherSuite, IpmiCredentials, SessionOptions, Workarounds};

use super::Input;
use super::ipmi_wire::SUITES;

/// Most datagrams one call may make the session queue.
const MAX_TX_PER_CALL: usize = 32;

/// Every workaround flag the session knows.
const WORKAROUNDS: u32 = Workarounds::AUTHCAP
    | Workarounds::INTEL20
    | Workarounds::SUPERMICRO20
    | Workarounds::SUN20
    | Workarounds::OPENSESSPRIV
    | Workarounds::INTEGRITYCHECKVALUE
    | Workarounds::NOCHECKSUMCHECK
    | Workarounds::SERIALALERTSDEFERRED
    | Workarounds::SOLPACKETSEQ
    | Workarounds::SOLPAYLOADSIZE
    | Workarounds::SOLPORT
    | Workarounds::SOLSTATUS
    | Workarounds::SOLCHANNELSUPPORT;

/// A deterministic, never-all-zero byte source (xorshift32).
fn rng(seed: u32) -> RandomSource {
    let mut x = seed | 1;
    Box::new(move |b: &mut [u8]| {
        for v in b {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *v = x as u8;
        }
    })
}

/// The session, the BMC and the datagrams in flight between them.
struct Link {
    s: Session,
    b: Bmc<u8>,
    now: Instant,
    to_bmc: VecDeque<Vec<u8>>,
    to_session: VecDeque<Vec<u8>>,
    /// The last datagram handed to the session, for replays.
    last: Vec<u8>,
    established: u32,
    closed: u32,
}

impl Link {
    /// Checks the session after a call and collects what it sent and said.
    fn collect(&mut self) {
        let mut n = 0;
        while let Some(d) = self.s.poll_transmit() {
            n += 1;
            assert!(
                n <= MAX_TX_PER_CALL,
                "one call queued over {MAX_TX_PER_CALL} datagrams"
            );
            self.to_bmc.push_back(d);
        }
        while let Some(e) = self.s.poll_event() {
            assert_eq!(self.closed, 0, "event after Closed: {e:?}");
            match e {
                Event::Established { max_chars } => {
                    assert!((1..=255).contains(&max_chars));
                    self.established += 1;
                    assert_eq!(self.established, 1, "established twice");
                }
                Event::Closed(reason) => {
                    if let Some(r) = reason {
                        assert!(!r.to_string().is_empty());
                    }
                    self.closed += 1;
                }
                Event::Data(d) => assert!(!d.is_empty(), "empty data event"),
                Event::Notice(t) => assert!(!t.is_empty()),
            }
        }
        assert_eq!(
            self.s.is_closed(),
            self.closed == 1,
            "Closed event vs state"
        );
        if self.s.is_closed() {
            assert!(!self.s.is_established());
            assert_eq!(self.s.poll_timeout(), None, "closed session keeps a timer");
            assert_eq!(self.s.input_space(), 0);
        }
    }

    /// Hands one datagram to the session.
    fn deliver(&mut self, d: &[u8]) {
        let open = !self.s.is_closed();
        let before = self.s.stats();
        self.s.handle_datagram(self.now, d);
        let after = self.s.stats();
        let counted = (after.received - before.received) + (after.bad_packets - before.bad_packets);
        assert_eq!(
            counted,
            u64::from(open),
            "datagram not counted exactly once"
        );
        self.last = d.to_vec();
        self.collect();
    }

    /// Hands one datagram to the BMC and queues its answers.
    fn deliver_to_bmc(&mut self, d: &[u8]) {
        for (_, r) in self.b.handle(self.now, 0, d) {
            self.to_session.push_back(r);
        }
    }

    /// Delivers the next datagram in flight (BMC → session first).
    fn step(&mut self) -> bool {
        if let Some(d) = self.to_session.pop_front() {
            self.deliver(&d);
        } else if let Some(d) = self.to_bmc.pop_front() {
            self.deliver_to_bmc(&d);
        } else {
            return false;
        }
        true
    }

    /// Lets `by` pass and runs every timer that is due.
    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.s.handle_timeout(self.now);
        self.collect();
        if let Some(t) = self.s.poll_timeout() {
            assert!(t > self.now, "timer still due after handle_timeout");
        }
        for (_, r) in self.b.tick(self.now) {
            self.to_session.push_back(r);
        }
    }
}

fn faults(input: &mut Input<'_>) -> BmcFaults {
    let bits = input.u16();
    let on = |b: u16| bits & (1 << b) != 0;
    let ignore = [
        cmd::GET_DEVICE_ID,
        cmd::GET_PAYLOAD_INSTANCE_INFO,
        cmd::ACTIVATE_PAYLOAD,
        cmd::DEACTIVATE_PAYLOAD,
        cmd::CLOSE_SESSION,
        cmd::SET_SESSION_PRIVILEGE,
        cmd::GET_PAYLOAD_ACTIVATION_STATUS,
    ];
    BmcFaults {
        partial_accept: on(0).then(|| input.u8() % 8),
        nack_when_partial: on(1),
        notify_steal: on(2),
        activate_port: on(3).then_some(624),
        ignore_cmd: on(4).then(|| ignore[usize::from(input.u8()) % ignore.len()]),
        activate_in_use: on(5),
        no_instance_info: on(6),
        rakp2_extra_byte: on(7),
        rakp2_short: on(8),
    }
}

/// What a run reached, for the regression test's check that the seeds get
/// the session established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The session reported `Established`.
    pub established: bool,
    /// The session reported `Closed`.
    pub closed: bool,
}

/// The target body.
pub fn run(data: &[u8]) {
    drive(data);
}

/// Runs the input and says how far the session got.
pub fn drive(data: &[u8]) -> Outcome {
    let mut input = Input::new(data);
    let suite = SUITES[usize::from(input.u8()) % SUITES.len()];
    let flags = input.u8();
    let workarounds = input.u32() & WORKAROUNDS;
    let faults = faults(&mut input);
    let seed = input.u32();

    let bmc_kg = (flags & 2 != 0).then(|| b"bmc-kg-key".to_vec());
    let creds = IpmiCredentials {
        username: if flags & 1 != 0 { "root" } else { "admin" }.to_owned(),
        password: if flags & 4 != 0 {
            b"wrong".to_vec()
        } else {
            b"secret".to_vec()
        },
        k_g: if flags & 8 != 0 {
            Some(b"other-kg".to_vec())
        } else {
            bmc_kg.clone()
        },
    };
    let level = [None, Some(conmand_core::config::PrivilegeLevel::User)][usize::from(flags >> 7)];
    let mut opts = SessionOptions::from_ipmi_opts(&IpmiOpts {
        cipher_suite: Some(suite),
        privilege: level,
        workarounds: Some(workarounds),
        ..IpmiOpts::default()
    })
    .expect("supported suite");
    opts.ownership_probe = flags & 16 == 0;
    assert_eq!(opts.suite, CipherSuite::from_id(suite).expect("listed"));
    let cfg = BmcConfig {
        username: b"admin".to_vec(),
        password: b"secret".to_vec(),
        k_g: bmc_kg,
        guid: [0xa1; 16],
        port: 623,
        inbound_size: [32, 0, 1, 300][usize::from(flags >> 5) & 3],
        sol_retry: Duration::from_secs(1),
        faults,
    };

    let now = Instant::now();
    let mut l = Link {
        s: Session::new(creds, opts, 623, rng(seed), now),
        b: Bmc::new(cfg),
        now,
        to_bmc: VecDeque::new(),
        to_session: VecDeque::new(),
        last: Vec::new(),
        established: 0,
        closed: 0,
    };
    l.s.start(now);
    l.collect();

    while !input.is_empty() {
        match input.u8() % 13 {
            0 => {
                for _ in 0..=input.u8() % 32 {
                    if !l.step() {
                        break;
                    }
                }
            }
            1 => {
                let d = input.bytes(255).to_vec();
                l.deliver(&d);
            }
            2 => {
                let t = input.u8();
                let ptype = match t % 4 {
                    0 => payload::IPMI,
                    1 => payload::SOL,
                    _ => t & 0x3f,
                };
                let plain = input.bytes(255).to_vec();
                if let Some(d) = l.b.seal(ptype, &plain) {
                    l.deliver(&d);
                }
            }
            3 => {
                let ptype = payload::OPEN_SESSION_RESPONSE + input.u8() % 5;
                let body = input.bytes(255).to_vec();
                let d = wire::encode_v20(ptype, 0, 0, &body, None, [0; 16]);
                l.deliver(&d);
            }
            4 => {
                let at = usize::from(input.u16());
                let bit = input.u8() % 8;
                if let Some(mut d) = l.to_session.pop_front() {
                    let i = at % d.len().max(1);
                    if let Some(b) = d.get_mut(i) {
                        *b ^= 1 << bit;
                    }
                    l.deliver(&d);
                }
            }
            5 => {
                let d = l.last.clone();
                l.deliver(&d);
            }
            6 => {
                if input.bool() {
                    l.to_session.pop_front();
                } else {
                    l.to_bmc.pop_front();
                }
            }
            7 => {
                let ms = u64::from(input.u16());
                l.advance(Duration::from_millis(ms));
            }
            8 => {
                let next = [l.s.poll_timeout(), l.b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(t) = next {
                    l.advance(t.saturating_duration_since(l.now));
                }
            }
            9 => {
                let bytes = input.bytes(64);
                let space = l.s.input_space();
                let n = l.s.send_input(l.now, bytes);
                assert!(n <= bytes.len() && n <= space);
                l.collect();
            }
            10 => {
                l.s.send_break(l.now);
                l.collect();
            }
            11 => {
                l.s.close(l.now);
                l.collect();
            }
            _ => {
                let bytes = input.bytes(64).to_vec();
                l.b.host_write(&bytes);
                for (_, r) in l.b.tick(l.now) {
                    l.to_session.push_back(r);
                }
            }
        }
    }
    Outcome {
        established: l.established == 1,
        closed: l.closed == 1,
    }
}
