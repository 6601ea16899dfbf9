//! The IPMI SOL backend against an in-process fake BMC: a tokio UDP socket on
//! loopback port 0 running `conmand_core::ipmi::bmc::Bmc` (our codecs in the BMC
//! role), with a lossy/reordering link and fault knobs. This covers what
//! ipmi_sim cannot: SHA-256 suites, loss, reordering, partial acceptance, NACK,
//! steal notification, garbage datagrams, silent BMCs.

#![allow(clippy::unwrap_used)]

mod common;
mod ipmi_common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conmand::console::backend::ipmi::IpmiBackend;
use conmand::console::backend::{Backend, Connection, OpenError};
use conmand_core::ipmi::bmc::{Bmc, BmcConfig, BmcFaults};
use conmand_core::ipmi::{CipherSuite, IpmiCredentials, SessionOptions, Timing};
use ipmi_common::{read_to_eof, read_until};
use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;
use tokio::sync::Notify;

const T: Duration = Duration::from_secs(20);

/// Link faults applied to datagrams the BMC sends and receives.
#[derive(Default)]
struct Link {
    /// Drop every n-th datagram (both directions).
    drop_every: Option<u32>,
    /// Hold every n-th outgoing datagram and send it after the next one.
    reorder_every: Option<u32>,
    count: u32,
}

struct Shared {
    bmc: Mutex<Bmc<SocketAddr>>,
    link: Mutex<Link>,
    /// Signalled whenever the BMC handled something (tests wait on it).
    changed: Notify,
    /// Signalled to make the BMC task look at queued host output.
    poke: Notify,
    /// Garbage to send to the last peer.
    garbage: Mutex<Vec<Vec<u8>>>,
}

struct FakeBmc {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBmc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bmc_config(port: u16) -> BmcConfig {
    BmcConfig {
        username: b"admin".to_vec(),
        password: b"secret".to_vec(),
        k_g: None,
        guid: [0x5a; 16],
        port,
        inbound_size: 32,
        sol_retry: Duration::from_millis(300),
        faults: BmcFaults::default(),
    }
}

impl FakeBmc {
    async fn start(bind: &str) -> FakeBmc {
        let sock = UdpSocket::bind(bind).await.unwrap();
        let addr = sock.local_addr().unwrap();
        let shared = Arc::new(Shared {
            bmc: Mutex::new(Bmc::new(bmc_config(addr.port()))),
            link: Mutex::new(Link::default()),
            changed: Notify::new(),
            poke: Notify::new(),
            garbage: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(run_bmc(sock, shared.clone()));
        FakeBmc { addr, shared, task }
    }

    fn faults(&self, f: impl FnOnce(&mut BmcFaults)) {
        f(self.shared.bmc.lock().unwrap().faults_mut());
    }

    fn link(&self, f: impl FnOnce(&mut Link)) {
        f(&mut self.shared.link.lock().unwrap());
    }

    fn host_write(&self, data: &[u8]) {
        self.shared.bmc.lock().unwrap().host_write(data);
        self.shared.poke.notify_one();
    }

    fn send_garbage(&self, g: Vec<Vec<u8>>) {
        *self.shared.garbage.lock().unwrap() = g;
        self.shared.poke.notify_one();
    }

    /// Wait until what consoles typed (breaks as `None`) satisfies `done`.
    async fn wait_host_input(
        &self,
        mut done: impl FnMut(&[Option<u8>]) -> bool,
    ) -> Vec<Option<u8>> {
        let mut acc = vec![];
        let fut = async {
            loop {
                let notified = self.shared.changed.notified();
                acc.extend(self.shared.bmc.lock().unwrap().take_host_input());
                if done(&acc) {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(T, fut).await.is_err() {
            panic!("host input incomplete: {acc:?}");
        }
        acc
    }
}

async fn run_bmc(sock: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 4096];
    let mut held: Option<(SocketAddr, Vec<u8>)> = None;
    let mut last_peer: Option<SocketAddr> = None;
    loop {
        let next = shared.bmc.lock().unwrap().poll_timeout();
        let sleep_to = match (&held, next) {
            (Some(_), _) => Some(Instant::now() + Duration::from_millis(30)),
            (None, n) => n,
        };
        let out = tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, peer)) = r else { continue };
                last_peer = Some(peer);
                if link_drops(&shared) {
                    continue;
                }
                shared.bmc.lock().unwrap().handle(Instant::now(), peer, &buf[..n])
            }
            () = async {
                match sleep_to {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some((a, d)) = held.take() {
                    let _ = sock.send_to(&d, a).await;
                }
                shared.bmc.lock().unwrap().tick(Instant::now())
            }
            () = shared.poke.notified() => {
                let g = std::mem::take(&mut *shared.garbage.lock().unwrap());
                if let Some(p) = last_peer {
                    for d in g {
                        let _ = sock.send_to(&d, p).await;
                    }
                }
                shared.bmc.lock().unwrap().tick(Instant::now())
            }
        };
        for (peer, d) in out {
            if link_drops(&shared) {
                continue;
            }
            let reorder = {
                let l = shared.link.lock().unwrap();
                l.reorder_every.is_some_and(|n| l.count.is_multiple_of(n))
            };
            if reorder && held.is_none() {
                held = Some((peer, d));
                continue;
            }
            let _ = sock.send_to(&d, peer).await;
            if let Some((a, h)) = held.take() {
                let _ = sock.send_to(&h, a).await;
            }
        }
        shared.changed.notify_waiters();
    }
}

fn link_drops(shared: &Shared) -> bool {
    let mut l = shared.link.lock().unwrap();
    l.count += 1;
    l.drop_every.is_some_and(|n| l.count.is_multiple_of(n))
}

fn creds(pw: &str) -> IpmiCredentials {
    IpmiCredentials {
        username: "admin".into(),
        password: pw.as_bytes().to_vec(),
        k_g: None,
    }
}

fn quick() -> Timing {
    Timing {
        retransmit_base: Duration::from_millis(150),
        retransmit_step: Duration::from_millis(50),
        max_retransmits: 8,
        keepalive_interval: Duration::from_secs(1),
        session_timeout: Duration::from_secs(5),
        ..Timing::default()
    }
}

fn backend_at(host: &str, port: u16, suite: u8, pw: &str, timing: Timing) -> IpmiBackend {
    let opts = SessionOptions {
        suite: CipherSuite::from_id(suite).unwrap(),
        timing,
        ..SessionOptions::default()
    };
    IpmiBackend::with_options(host.into(), Some(port), creds(pw), opts).unwrap()
}

async fn open(b: &IpmiBackend) -> Connection {
    tokio::time::timeout(T, b.open())
        .await
        .expect("open timed out")
        .unwrap_or_else(|e| panic!("open failed: {e}"))
}

async fn round_trip(fake: &FakeBmc, conn: &mut Connection, tag: &str) {
    let line = format!("out-{tag}\r\n");
    fake.host_write(line.as_bytes());
    let mut got = vec![];
    read_until(&mut conn.reader, &mut got, line.as_bytes(), T).await;
    let typed = format!("in-{tag}-{}", "y".repeat(70));
    conn.writer.write_all(typed.as_bytes()).await.unwrap();
    let want: Vec<Option<u8>> = typed.bytes().map(Some).collect();
    let got = fake.wait_host_input(|a| a.len() >= want.len()).await;
    assert_eq!(got, want, "{tag}");
}

#[tokio::test]
async fn sha256_suites_and_break_end_to_end() {
    let fake = FakeBmc::start("127.0.0.1:0").await;
    for suite in [15u8, 16, 17] {
        let b = backend_at(
            "127.0.0.1",
            fake.addr.port(),
            suite,
            "secret",
            Timing::default(),
        );
        let mut conn = open(&b).await;
        round_trip(&fake, &mut conn, &format!("suite{suite}")).await;
        conn.writer.write_all(b"ab").await.unwrap();
        conn.writer.send_break().await.unwrap();
        conn.writer.write_all(b"cd").await.unwrap();
        let got = fake.wait_host_input(|a| a.len() >= 5).await;
        assert_eq!(
            got,
            vec![Some(b'a'), Some(b'b'), None, Some(b'c'), Some(b'd')]
        );
        drop(conn);
        // Dropping the connection deactivates SOL and closes the session.
        let shared = fake.shared.clone();
        tokio::time::timeout(T, async {
            loop {
                let n = shared.changed.notified();
                {
                    let b = shared.bmc.lock().unwrap();
                    if !b.sol_active() && b.session_count() == 0 {
                        return;
                    }
                }
                n.await;
            }
        })
        .await
        .expect("session not closed after drop");
    }
}

#[tokio::test]
async fn loss_and_reordering_are_survived() {
    let fake = FakeBmc::start("127.0.0.1:0").await;
    fake.link(|l| {
        l.drop_every = Some(7);
        l.reorder_every = Some(5);
    });
    let b = backend_at("127.0.0.1", fake.addr.port(), 3, "secret", quick());
    let mut conn = open(&b).await;
    // Console → host must be exact (our retransmission is unbounded enough).
    let msg: Vec<u8> = (0..400u32).map(|i| b'a' + (i % 26) as u8).collect();
    conn.writer.write_all(&msg).await.unwrap();
    let got = fake.wait_host_input(|a| a.len() >= msg.len()).await;
    assert_eq!(got, msg.iter().map(|b| Some(*b)).collect::<Vec<_>>());
    // Host → console: a marker line gets through in order.
    fake.host_write(b"marker-line\r\n");
    let mut out = vec![];
    read_until(&mut conn.reader, &mut out, b"marker-line\r\n", T).await;
}

#[tokio::test]
async fn partial_acceptance_with_nack_delivers_everything() {
    let fake = FakeBmc::start("127.0.0.1:0").await;
    fake.faults(|f| {
        f.partial_accept = Some(3);
        f.nack_when_partial = true;
    });
    let b = backend_at("127.0.0.1", fake.addr.port(), 17, "secret", quick());
    let mut conn = open(&b).await;
    let msg: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    conn.writer.write_all(&msg).await.unwrap();
    let got = fake.wait_host_input(|a| a.len() >= msg.len()).await;
    assert_eq!(got, msg.iter().map(|b| Some(*b)).collect::<Vec<_>>());
}

#[tokio::test]
async fn stolen_payload_ends_the_old_reader() {
    let fake = FakeBmc::start("127.0.0.1:0").await;
    fake.faults(|f| f.notify_steal = true);
    let b = backend_at("127.0.0.1", fake.addr.port(), 3, "secret", quick());
    let mut first = open(&b).await;
    // The second open finds SOL active, deactivates it and takes it over.
    let mut second = open(&b).await;
    read_to_eof(&mut first.reader, T).await;
    round_trip(&fake, &mut second, "thief").await;
}

#[tokio::test]
async fn garbage_datagrams_are_ignored() {
    let fake = FakeBmc::start("127.0.0.1:0").await;
    let b = backend_at("127.0.0.1", fake.addr.port(), 3, "secret", quick());
    let mut conn = open(&b).await;
    let mut junk: Vec<Vec<u8>> = vec![vec![], vec![6], vec![0xff; 1500], vec![6, 0, 0xff, 7, 0]];
    for i in 0..200u32 {
        let mut d = vec![6, 0, 0xff, 7, 6, (i % 256) as u8];
        d.extend((0..i % 90).map(|x| (x * 31 + i) as u8));
        junk.push(d);
    }
    fake.send_garbage(junk);
    round_trip(&fake, &mut conn, "after-garbage").await;
}

#[tokio::test]
async fn unanswered_keepalive_ends_the_reader() {
    let fake = FakeBmc::start("127.0.0.1:0").await;
    let b = backend_at("127.0.0.1", fake.addr.port(), 3, "secret", quick());
    let mut conn = open(&b).await;
    fake.faults(|f| f.ignore_cmd = Some(0x4b));
    read_to_eof(&mut conn.reader, T).await;
}

#[tokio::test]
async fn wrong_password_and_unreachable_and_watchdog_errors() {
    let fake = FakeBmc::start("127.0.0.1:0").await;
    let b = backend_at("127.0.0.1", fake.addr.port(), 17, "nope", quick());
    match tokio::time::timeout(T, b.open()).await.unwrap() {
        Err(OpenError::Failed(m)) => assert_eq!(m, "authentication failed"),
        other => panic!("{:?}", other.err()),
    }
    // Nothing listens on this port.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let b = backend_at("127.0.0.1", port, 3, "secret", quick());
    match tokio::time::timeout(T, b.open()).await.unwrap() {
        Err(OpenError::Failed(m)) => assert_eq!(m, "BMC unreachable"),
        other => panic!("{:?}", other.err()),
    }
    // A black hole with default (slow) timers: the connect watchdog fires.
    let hole = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut b = backend_at(
        "127.0.0.1",
        hole.local_addr().unwrap().port(),
        3,
        "secret",
        Timing::default(),
    );
    b.set_connect_timeout(Duration::from_millis(700));
    match tokio::time::timeout(T, b.open()).await.unwrap() {
        Err(OpenError::Failed(m)) => assert_eq!(m, "connection timeout"),
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test]
async fn names_and_ipv6_loopback_work() {
    let fake = FakeBmc::start("127.0.0.1:0").await;
    let b = backend_at("localhost", fake.addr.port(), 3, "secret", quick());
    // "localhost" may resolve to ::1 first; only test it when it maps to v4.
    let v4_first = tokio::net::lookup_host(("localhost", 1))
        .await
        .map(|mut a| a.next().is_some_and(|a| a.is_ipv4()))
        .unwrap_or(false);
    if v4_first {
        let mut conn = open(&b).await;
        round_trip(&fake, &mut conn, "by-name").await;
    }
    let Ok(sock6) = std::net::UdpSocket::bind("[::1]:0") else {
        eprintln!("SKIPPED: no IPv6 loopback");
        return;
    };
    drop(sock6);
    let fake6 = FakeBmc::start("[::1]:0").await;
    let b = backend_at("::1", fake6.addr.port(), 17, "secret", quick());
    assert_eq!(b.describe(), format!("<[::1]:{}>", fake6.addr.port()));
    let mut conn = open(&b).await;
    round_trip(&fake6, &mut conn, "v6").await;
}

#[tokio::test]
async fn backoff_matches_conman() {
    let b = backend_at("127.0.0.1", 623, 3, "x", Timing::default());
    let bo = b.backoff();
    assert_eq!(
        (bo.min, bo.max, bo.reset_after),
        (
            Duration::from_secs(60),
            Duration::from_secs(1800),
            Duration::from_secs(60)
        )
    );
    let b = IpmiBackend::with_options("bmc1".into(), None, creds("x"), SessionOptions::default())
        .unwrap();
    assert_eq!(b.describe(), "<bmc1>");
    let long = IpmiCredentials {
        password: vec![b'p'; 21],
        ..creds("x")
    };
    assert!(IpmiBackend::with_options("h".into(), None, long, SessionOptions::default()).is_err());
    let b = IpmiBackend::with_options(
        "h".into(),
        None,
        creds("hunter2"),
        SessionOptions::default(),
    )
    .unwrap();
    let dbg = format!("{b:?}");
    assert!(
        dbg.contains("<redacted>") && !dbg.contains("hunter2") && !dbg.contains("104, 117"),
        "{dbg}"
    );
}

#[test]
fn per_session_state_is_small() {
    // Fixed state per console: the driver (socket handle, session state
    // machine, channel ends) plus the SOL engine and the receive buffer.
    let n = conmand::console::backend::ipmi::per_session_state_bytes();
    eprintln!("IPMI per-session fixed state: {n} bytes");
    assert!(n < 8 * 1024, "{n}");
}

/// Interop oracle: real ipmitool must complete RAKP, Set Session Privilege and
/// a raw Get Device ID against the fake BMC, which validates the BMC side of our
/// codecs (and so the SHA-256 suites) against a third-party stack.
#[tokio::test]
async fn ipmitool_accepts_the_fake_bmc() {
    let Some(bin) = ipmi_common::peer("ipmitool") else {
        return;
    };
    let fake = FakeBmc::start("127.0.0.1:0").await;
    for suite in ["3", "17", "0", "16"] {
        let out = tokio::time::timeout(
            T,
            tokio::process::Command::new(&bin)
                .args(["-I", "lanplus", "-H", "127.0.0.1", "-p"])
                .arg(fake.addr.port().to_string())
                .args([
                    "-U", "admin", "-P", "secret", "-C", suite, "-N", "1", "-R", "2",
                ])
                .args(["raw", "6", "1"])
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("ipmitool timed out")
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("20 01 09 08 02 9f 91 12 00 02 0f"),
            "suite {suite}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An `ipmi:` console through the whole daemon, its password taken from a
/// conman.pswd database (ipmiopts name only the user).
#[tokio::test]
async fn ipmi_console_through_the_daemon_with_conman_pswd() {
    use conmand_core::config::{ConsoleSpec, IpmiOpts, IpmiSpec, LogOpts, ServerOpts};
    let fake = FakeBmc::start("127.0.0.1:0").await;
    let (db, problems) = conmand_core::pswd::PasswordDb::parse(
        "# near misses first\n10\\.0\\.0\\.1 : admin : wrong\n127\\.0\\.0\\.1 : root : wrong\n127\\.0\\.0\\.[0-9]+ : admin : secret\n",
        "test.pswd",
    );
    assert!(problems.is_empty(), "{problems:?}");
    let spec = ConsoleSpec::Ipmi(IpmiSpec {
        host: "127.0.0.1".into(),
        port: Some(fake.addr.port()),
        opts: IpmiOpts {
            username: Some("admin".into()),
            ..Default::default()
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bmc.log");
    let opts = conmand::engine::EngineOpts {
        pswd: Some(Arc::new(db)),
        ..Default::default()
    };
    let srv = common::TestServer::start_with(
        dir,
        vec![common::def(
            "bmc",
            spec,
            Some(log.clone()),
            LogOpts::default(),
        )],
        ServerOpts::default(),
        opts,
    )
    .await;
    srv.wait_up(&["bmc"]).await;
    let (mut a, rsp) = common::Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='bmc'").await;
    assert_eq!(rsp, "OK CONSOLE='bmc'");
    fake.host_write(b"kernel: hello from the host\r\n");
    a.expect(b"kernel: hello from the host\r\n").await;
    a.send(b"typed\xffB").await;
    let got = fake.wait_host_input(|v| v.len() >= 6).await;
    assert_eq!(
        &got[..6],
        &[
            Some(b't'),
            Some(b'y'),
            Some(b'p'),
            Some(b'e'),
            Some(b'd'),
            None
        ]
    );
    let want = format!(
        "<ConMan> Console [bmc] connected to <127.0.0.1:{}>.",
        fake.addr.port()
    );
    // The log writer is another thread: wait until it has written what the console
    // queued.
    srv.daemon.as_ref().unwrap().flush_logs().await;
    assert!(common::find(&std::fs::read(&log).unwrap(), want.as_bytes()).is_some());
    srv.stop().await;
}

/// A SIGHUP that brings a corrected conman.pswd restarts the IPMI consoles whose
/// credentials changed (and only those).
#[tokio::test]
async fn new_conman_pswd_on_reload_restarts_affected_ipmi_consoles() {
    use conmand_core::config::{Config, ConsoleSpec, IpmiOpts, IpmiSpec, LogOpts, ServerOpts};
    let fake = FakeBmc::start("127.0.0.1:0").await;
    let db = |pw: &str| {
        let (db, problems) =
            conmand_core::pswd::PasswordDb::parse(&format!(".* : admin : {pw}\n"), "p");
        assert!(problems.is_empty());
        Some(Arc::new(db))
    };
    let spec = ConsoleSpec::Ipmi(IpmiSpec {
        host: "127.0.0.1".into(),
        port: Some(fake.addr.port()),
        opts: IpmiOpts {
            username: Some("admin".into()),
            ..Default::default()
        },
    });
    let consoles = vec![
        common::def("bmc", spec, None, LogOpts::default()),
        common::test_console("other"),
    ];
    let opts = conmand::engine::EngineOpts {
        pswd: db("wrong"),
        ..Default::default()
    };
    let srv = common::TestServer::start_with(
        tempfile::tempdir().unwrap(),
        consoles.clone(),
        ServerOpts::default(),
        opts,
    )
    .await;
    let (mut m, _) = common::Raw::open(srv.addr, "u", None, "MONITOR CONSOLE='bmc'").await;
    m.expect(b"Console [bmc] connection failed: authentication failed")
        .await;
    let (mut other, _) = common::Raw::open(srv.addr, "u", None, "MONITOR CONSOLE='other'").await;
    let config = Config {
        origin: "test.conf".into(),
        server: ServerOpts::default(),
        consoles,
    };
    let summary = srv
        .daemon
        .as_ref()
        .unwrap()
        .reload_with_pswd(config, db("secret"))
        .await;
    assert_eq!(summary, vec!["changed bmc".to_string()]);
    m.expect(b"Console [bmc] restarted: configuration changed")
        .await;
    srv.wait_up(&["bmc"]).await;
    // The untouched console kept its client.
    other.expect(b"!").await;
    srv.stop().await;
}

/// Daemon shutdown (engine stopped, runtime dropped, as `conmand` exits) leaves no
/// session open on the BMC: BMCs have few session slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_ipmi_sessions_before_the_runtime_goes() {
    use conmand_core::config::{Config, ConsoleSpec, IpmiOpts, IpmiSpec, LogOpts, ServerOpts};
    const N: usize = 100;
    let mut fakes = Vec::new();
    for _ in 0..N {
        fakes.push(FakeBmc::start("127.0.0.1:0").await);
    }
    let consoles = fakes
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let spec = ConsoleSpec::Ipmi(IpmiSpec {
                host: "127.0.0.1".into(),
                port: Some(f.addr.port()),
                opts: IpmiOpts {
                    username: Some("admin".into()),
                    password: Some(b"secret".to_vec()),
                    ..Default::default()
                },
            });
            common::def(&format!("bmc{i}"), spec, None, LogOpts::default())
        })
        .collect();
    let config = Config {
        origin: "t".into(),
        server: ServerOpts::default(),
        consoles,
    };
    let daemon = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let engine = conmand::engine::Engine::start(config, Default::default())
                .await
                .unwrap();
            for h in engine.registry().snapshot().iter() {
                assert!(tokio::time::timeout(T, h.wait_up()).await.unwrap());
            }
            engine.shutdown().await;
        });
        drop(rt);
    });
    tokio::task::spawn_blocking(move || daemon.join().unwrap())
        .await
        .unwrap();
    let open: usize = fakes
        .iter()
        .map(|f| f.shared.bmc.lock().unwrap().session_count())
        .sum();
    let active = fakes
        .iter()
        .filter(|f| f.shared.bmc.lock().unwrap().sol_active())
        .count();
    assert_eq!(
        (open, active),
        (0, 0),
        "sessions / SOL left open on the BMCs"
    );
}
