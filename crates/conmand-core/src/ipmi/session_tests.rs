//! Session + SOL state machine scenarios, driven against the in-memory
//! [`super::bmc::Bmc`] with a virtual clock.

use std::time::{Duration, Instant};

use super::bmc::{Bmc, BmcConfig, BmcFaults};
use super::session::{Event, Session, SessionError};
use super::*;

fn bmc_cfg() -> BmcConfig {
    BmcConfig {
        username: b"admin".to_vec(),
        password: b"secret".to_vec(),
        k_g: None,
        guid: [0xa1; 16],
        port: 9000,
        inbound_size: 32,
        sol_retry: Duration::from_secs(1),
        faults: BmcFaults::default(),
    }
}

fn creds(pw: &str) -> IpmiCredentials {
    IpmiCredentials {
        username: "admin".into(),
        password: pw.as_bytes().to_vec(),
        k_g: None,
    }
}

fn counter_rng() -> session::RandomSource {
    let mut n: u8 = 1;
    Box::new(move |b: &mut [u8]| {
        for x in b {
            n = n.wrapping_mul(29).wrapping_add(7);
            *x = n;
        }
    })
}

/// Link filter: called per datagram (true = console → BMC); false drops it.
type Link = Box<dyn FnMut(bool, &[u8]) -> bool>;

/// A client session and a BMC joined by a lossy in-memory link.
struct Net {
    s: Session,
    b: Bmc<u8>,
    now: Instant,
    events: Vec<Event>,
    output: Vec<u8>,
    /// Called for every datagram (true = console → BMC); return false to drop.
    link: Link,
}

impl Net {
    fn new(suite: u8, pw: &str, bmc: BmcConfig) -> Net {
        let now = Instant::now();
        let opts = SessionOptions {
            suite: CipherSuite::from_id(suite).unwrap(),
            ..SessionOptions::default()
        };
        let mut s = Session::new(creds(pw), opts, bmc.port, counter_rng(), now);
        s.start(now);
        Net {
            s,
            b: Bmc::new(bmc),
            now,
            events: vec![],
            output: vec![],
            link: Box::new(|_, _| true),
        }
    }

    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(d) = self.s.poll_transmit() {
                moved = true;
                if !(self.link)(true, &d) {
                    continue;
                }
                for (_, r) in self.b.handle(self.now, 0, &d) {
                    if (self.link)(false, &r) {
                        self.s.handle_datagram(self.now, &r);
                    }
                }
            }
            for (_, r) in self.b.tick(self.now) {
                moved = true;
                if (self.link)(false, &r) {
                    self.s.handle_datagram(self.now, &r);
                }
            }
            while let Some(e) = self.s.poll_event() {
                if let Event::Data(d) = &e {
                    self.output.extend_from_slice(d);
                }
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("livelock");
    }

    /// Run until `done` or until virtual `limit` has passed.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Net) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.pump();
            if done(self) {
                return true;
            }
            let next = [self.s.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.s.handle_timeout(self.now);
                }
                _ => return false,
            }
        }
    }

    fn established(&mut self) {
        assert!(
            self.run_until(Duration::from_secs(30), |n| n.s.is_established()),
            "not established: {:?}",
            self.events
        );
    }

    fn closed_with(&self) -> Option<Option<SessionError>> {
        self.events.iter().find_map(|e| match e {
            Event::Closed(r) => Some(r.clone()),
            _ => None,
        })
    }

    fn host_bytes(&mut self) -> Vec<u8> {
        self.b.take_host_input().into_iter().flatten().collect()
    }
}

#[test]
fn every_suite_establishes_and_moves_bytes_both_ways() {
    for suite in [0u8, 1, 2, 3, 6, 7, 8, 11, 12, 15, 16, 17] {
        let mut n = Net::new(suite, "secret", bmc_cfg());
        n.established();
        assert!(n.b.sol_active(), "suite {suite}");
        n.b.host_write(b"hello from the host\r\n");
        assert!(
            n.run_until(Duration::from_secs(5), |n| n.output.ends_with(b"host\r\n")),
            "suite {suite}"
        );
        let t = n.now;
        assert_eq!(n.s.send_input(t, b"typed by user"), 13);
        n.run_until(Duration::from_secs(5), |n| {
            n.s.stats().sent > 0 && n.b.sol_active()
        });
        n.pump();
        assert_eq!(n.host_bytes(), b"typed by user", "suite {suite}");
        assert_eq!(n.b.bad_packets, 0, "suite {suite}");
        assert_eq!(n.s.stats().bad_packets, 0, "suite {suite}");
        n.s.close(t);
        assert!(n.run_until(Duration::from_secs(5), |n| n.s.is_closed()));
        assert_eq!(n.closed_with(), Some(None));
        assert!(
            !n.b.sol_active() && n.b.session_count() == 0,
            "deactivated and closed"
        );
    }
}

#[test]
fn wrong_password_and_user_give_clear_errors() {
    let mut n = Net::new(3, "wrong", bmc_cfg());
    n.run_until(Duration::from_secs(30), |n| n.s.is_closed());
    assert_eq!(
        n.closed_with(),
        Some(Some(SessionError::AuthenticationFailed))
    );
    assert_eq!(
        SessionError::AuthenticationFailed.to_string(),
        "authentication failed"
    );
    let mut cfg = bmc_cfg();
    cfg.username = b"root".to_vec();
    let mut n = Net::new(17, "secret", cfg);
    n.run_until(Duration::from_secs(30), |n| n.s.is_closed());
    assert_eq!(n.closed_with(), Some(Some(SessionError::UsernameInvalid)));
}

#[test]
fn unreachable_bmc_times_out() {
    let mut n = Net::new(3, "secret", bmc_cfg());
    n.link = Box::new(|_, _| false);
    assert!(n.run_until(Duration::from_secs(120), |n| n.s.is_closed()));
    assert_eq!(n.closed_with(), Some(Some(SessionError::Unreachable)));
}

#[test]
fn lost_rakp2_restarts_from_open_session() {
    let mut n = Net::new(3, "secret", bmc_cfg());
    let mut dropped = false;
    n.link = Box::new(move |to_bmc, d| {
        if !to_bmc && !dropped && d.len() > 5 && d[5] == 0x13 {
            dropped = true;
            return false;
        }
        true
    });
    n.established();
    // The abandoned half-open session is still on the BMC.
    assert_eq!(n.b.session_count(), 2);
}

#[test]
fn keepalive_is_sent_under_continuous_sol_traffic() {
    let mut n = Net::new(3, "secret", bmc_cfg());
    n.established();
    let start = n.now;
    // Host output every 500 ms for 40 s: the session never goes quiet.
    let mut next = start;
    while n.now < start + Duration::from_secs(40) {
        n.b.host_write(b"tick\r\n");
        next += Duration::from_millis(500);
        n.run_until(next - n.now, |_| false);
        n.now = next;
        n.s.handle_timeout(next);
    }
    assert!(n.output.len() >= 6 * 79, "{}", n.output.len());
    // Every 10 s regardless of traffic.
    assert!(
        (3..=5).contains(&n.b.keepalives),
        "keepalives {}",
        n.b.keepalives
    );
    assert!(n.s.is_established());
}

#[test]
fn already_active_payload_is_stolen_and_the_old_owner_told() {
    let mut cfg = bmc_cfg();
    cfg.faults.notify_steal = true;
    let mut first = Net::new(3, "secret", cfg);
    first.established();
    // A second console on the same BMC: move the BMC over.
    let now = first.now;
    let opts = SessionOptions::default();
    let mut second = Session::new(creds("secret"), opts, 9000, counter_rng(), now);
    second.start(now);
    let mut to_first = vec![];
    for _ in 0..100 {
        while let Some(d) = second.poll_transmit() {
            for (peer, r) in first.b.handle(now, 1, &d) {
                if peer == 1 {
                    second.handle_datagram(now, &r);
                } else {
                    to_first.push(r);
                }
            }
        }
        if second.is_established() {
            break;
        }
    }
    assert!(second.is_established());
    for d in to_first {
        first.s.handle_datagram(now, &d);
    }
    first.pump();
    assert_eq!(
        first.closed_with(),
        Some(Some(SessionError::SolDeactivated))
    );
}

#[test]
fn activation_gives_up_when_payload_stays_in_use() {
    // Status says inactive but Activate says active (an Intel bug): the steal
    // loop is bounded.
    let mut cfg = bmc_cfg();
    cfg.faults.activate_in_use = true;
    let mut n = Net::new(3, "secret", cfg);
    assert!(n.run_until(Duration::from_secs(60), |n| n.s.is_closed()));
    assert_eq!(n.closed_with(), Some(Some(SessionError::SolInUse)));
    assert_eq!(SessionError::SolInUse.to_string(), "SOL payload in use");
}

#[test]
fn partial_acceptance_and_nack_deliver_everything_in_order() {
    let mut cfg = bmc_cfg();
    cfg.faults.partial_accept = Some(5);
    cfg.faults.nack_when_partial = true;
    let mut n = Net::new(3, "secret", cfg);
    n.established();
    let msg: Vec<u8> = (0..200u8).collect();
    let t = n.now;
    assert_eq!(n.s.send_input(t, &msg), 200);
    let mut got = vec![];
    n.run_until(Duration::from_secs(60), |n| {
        got.extend(n.host_bytes());
        got.len() >= 200
    });
    assert_eq!(got, msg);
}

#[test]
fn break_arrives_after_earlier_bytes_and_before_later_ones() {
    let mut n = Net::new(17, "secret", bmc_cfg());
    n.established();
    let t = n.now;
    n.s.send_input(t, b"ab");
    n.s.send_break(t);
    n.s.send_input(t, b"cd");
    let mut got = vec![];
    n.run_until(Duration::from_secs(10), |n| {
        got.extend(n.b.take_host_input());
        got.len() >= 5
    });
    assert_eq!(
        got,
        vec![Some(b'a'), Some(b'b'), None, Some(b'c'), Some(b'd')]
    );
}

#[test]
fn lossy_link_still_delivers_in_order() {
    let mut n = Net::new(3, "secret", bmc_cfg());
    n.established();
    let mut k = 0u32;
    n.link = Box::new(move |_, _| {
        k += 1;
        !k.is_multiple_of(4)
    });
    let msg: Vec<u8> = (0..=255u8).cycle().take(600).collect();
    let mut sent = 0;
    let mut got = vec![];
    let mut out_ok = false;
    n.b.host_write(&msg);
    for _ in 0..200 {
        let t = n.now;
        sent += n.s.send_input(t, &msg[sent..]);
        n.run_until(Duration::from_secs(2), |n| {
            got.extend(n.host_bytes());
            got.len() >= msg.len() && n.output.len() >= msg.len()
        });
        if got.len() >= msg.len() && n.output.len() >= msg.len() {
            out_ok = true;
            break;
        }
    }
    assert!(out_ok, "got {} out {}", got.len(), n.output.len());
    assert_eq!(got, msg);
    // BMC → console loses packets too: the BMC gives up after 4 resends, so
    // output may have gaps but never duplicates or reordering.
    assert_eq!(&n.output[..], &msg[..n.output.len()]);
    assert!(n.s.is_established());
}

#[test]
fn unanswered_keepalive_ends_the_session() {
    let mut n = Net::new(3, "secret", bmc_cfg());
    n.established();
    n.b.faults_mut().ignore_cmd = Some(0x4b);
    assert!(n.run_until(Duration::from_secs(120), |n| n.s.is_closed()));
    assert_eq!(
        n.closed_with(),
        Some(Some(SessionError::ExcessRetransmissions))
    );
}

#[test]
fn silent_bmc_ends_the_session_with_timeout() {
    let mut n = Net::new(3, "secret", bmc_cfg());
    n.established();
    n.link = Box::new(|to_bmc, _| to_bmc);
    assert!(n.run_until(Duration::from_secs(120), |n| n.s.is_closed()));
    let r = n.closed_with().unwrap().unwrap();
    assert!(
        matches!(
            r,
            SessionError::ExcessRetransmissions | SessionError::SessionTimeout
        ),
        "{r:?}"
    );
}

#[test]
fn port_move_from_623_is_reported() {
    let mut cfg = bmc_cfg();
    cfg.port = 623;
    cfg.faults.activate_port = Some(9623);
    let mut n = Net::new(3, "secret", cfg);
    assert!(n.run_until(Duration::from_secs(30), |n| n.s.is_closed()));
    assert_eq!(n.closed_with(), Some(Some(SessionError::PortMoved(9623))));
    assert!(!n.b.sol_active(), "deactivated before moving");
    // A byte-swapped 623 is not a move.
    let mut cfg = bmc_cfg();
    cfg.port = 623;
    cfg.faults.activate_port = Some(623u16.swap_bytes());
    let mut n = Net::new(3, "secret", cfg);
    n.established();
}

#[test]
fn garbage_datagrams_are_counted_and_ignored() {
    let mut n = Net::new(3, "secret", bmc_cfg());
    n.established();
    let t = n.now;
    let mut junk: Vec<Vec<u8>> = vec![vec![], vec![6], vec![6, 0, 0xff, 7], vec![0xff; 64]];
    // Valid-looking RMCP+ headers with random tails.
    for i in 0..64u8 {
        let mut d = vec![6, 0, 0xff, 7, 6, 0xc1];
        d.extend((0..i).map(|x| x.wrapping_mul(37)));
        junk.push(d);
    }
    for j in &junk {
        n.s.handle_datagram(t, j);
    }
    assert_eq!(n.s.stats().bad_packets, junk.len() as u64);
    assert!(n.s.is_established());
    n.b.host_write(b"still alive");
    assert!(n.run_until(Duration::from_secs(5), |n| n.output.ends_with(b"alive")));
}

#[test]
fn session_state_is_small() {
    let size = std::mem::size_of::<Session>() + std::mem::size_of::<sol::SolEngine>();
    assert!(size < 2048, "{size}");
}

#[test]
fn silent_steal_is_noticed_by_the_ownership_probe() {
    // No "deactivating" packet (like ipmi_sim): the keepalive's Get Payload
    // Instance Info names another session.
    let mut first = Net::new(3, "secret", bmc_cfg());
    first.established();
    let now = first.now;
    let mut thief = Session::new(
        creds("secret"),
        SessionOptions::default(),
        9000,
        counter_rng(),
        now,
    );
    thief.start(now);
    for _ in 0..100 {
        while let Some(d) = thief.poll_transmit() {
            for (peer, r) in first.b.handle(now, 1, &d) {
                if peer == 1 {
                    thief.handle_datagram(now, &r);
                }
            }
        }
    }
    assert!(thief.is_established());
    assert!(first.run_until(Duration::from_secs(30), |n| n.s.is_closed()));
    assert_eq!(
        first.closed_with(),
        Some(Some(SessionError::SolDeactivated))
    );
}

#[test]
fn keepalive_falls_back_to_get_device_id_without_instance_info() {
    let mut cfg = bmc_cfg();
    cfg.faults.no_instance_info = true;
    let mut n = Net::new(3, "secret", cfg);
    n.established();
    n.b.faults_mut().ignore_cmd = Some(0x01);
    // The first keepalive (instance info) is refused, so the probe turns off;
    // later keepalives are Get Device ID, which this BMC now ignores.
    assert!(n.run_until(Duration::from_secs(120), |n| n.s.is_closed()));
    assert_eq!(
        n.closed_with(),
        Some(Some(SessionError::ExcessRetransmissions))
    );
}

#[test]
fn k_g_keys_the_sik_and_a_wrong_one_is_reported() {
    let mut cfg = bmc_cfg();
    cfg.k_g = Some(b"bmc-key-0123".to_vec());
    let now = Instant::now();
    let with_kg = IpmiCredentials {
        k_g: Some(b"bmc-key-0123".to_vec()),
        ..creds("secret")
    };
    for (c, want) in [
        (with_kg, None),
        (creds("secret"), Some(SessionError::KgInvalid)),
    ] {
        let mut n = Net::new(3, "secret", cfg.clone());
        n.s = Session::new(c, SessionOptions::default(), 9000, counter_rng(), now);
        n.s.start(now);
        n.run_until(Duration::from_secs(30), |n| {
            n.s.is_established() || n.s.is_closed()
        });
        match want {
            None => assert!(n.s.is_established(), "{:?}", n.events),
            Some(e) => assert_eq!(n.closed_with(), Some(Some(e))),
        }
    }
}

#[test]
fn rakp2_code_length_quirks() {
    let now = Instant::now();
    let run = |faults: BmcFaults, w: u32| {
        let mut cfg = bmc_cfg();
        cfg.faults = faults;
        let mut n = Net::new(3, "secret", cfg);
        let opts = SessionOptions {
            workarounds: Workarounds(w),
            ..SessionOptions::default()
        };
        n.s = Session::new(creds("secret"), opts, 9000, counter_rng(), now);
        n.s.start(now);
        n.run_until(Duration::from_secs(30), |n| {
            n.s.is_established() || n.s.is_closed()
        });
        n
    };
    let long = BmcFaults {
        rakp2_extra_byte: true,
        ..BmcFaults::default()
    };
    let n = run(long.clone(), 0);
    assert_eq!(
        n.closed_with(),
        Some(Some(SessionError::AuthenticationFailed))
    );
    assert!(
        run(long.clone(), Workarounds::SUPERMICRO20)
            .s
            .is_established()
    );
    assert!(run(long, Workarounds::SUN20).s.is_established());
    let short = BmcFaults {
        rakp2_short: true,
        ..BmcFaults::default()
    };
    let n = run(short, Workarounds::SUPERMICRO20);
    assert_eq!(
        n.closed_with(),
        Some(Some(SessionError::AuthenticationFailed))
    );
}
