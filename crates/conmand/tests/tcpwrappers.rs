//! `server tcpwrappers=on` (issue 12): an in-process daemon screening loopback
//! clients with test-injected hosts.allow / hosts.deny, and a differential test of
//! the rule evaluator against the real libwrap (`tcpdmatch -d`, Debian's `tcpd`).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use common::{TestServer, WAIT, test_console};
use conmand::engine::EngineOpts;
use conmand::tcpwrap::Files;
use conmand_core::config::{Config, ServerOpts};
use conmand_core::hostsaccess::{AccessTable, Client, HostName, TableKind, Verdict, check};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connect from `source` (any 127/8 address works on Linux), send a greeting and
/// return what the daemon answered before closing or within `WAIT`, plus the local
/// port.
async fn greet_from(source: &str, daemon: SocketAddr) -> (Vec<u8>, u16) {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    let mut s = sock.connect(daemon).await.unwrap();
    let port = s.local_addr().unwrap().port();
    // The daemon may already have closed: a failed write is part of the answer.
    let _ = s.write_all(b"HELLO USER='tester'\n").await;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if got.ends_with(b"\n") {
                    break;
                }
            }
            Err(_) => panic!("the daemon neither answered nor closed"),
        }
    }
    (got, port)
}

fn server(tcpwrappers: bool) -> ServerOpts {
    ServerOpts {
        tcpwrappers,
        ..ServerOpts::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn deny_rule_closes_silently_and_logs_a_notice() {
    let log = common::LogCapture::default();
    let _guard = log.install();

    let dir = tempfile::tempdir().unwrap();
    let files = Files {
        allow: dir.path().join("hosts.allow"),
        deny: dir.path().join("hosts.deny"),
    };
    std::fs::write(&files.allow, "conmand: 127.0.0.1\n").unwrap();
    std::fs::write(&files.deny, "# only .1 may connect\nconmand: 127.0.0.0/8\n").unwrap();
    let opts = EngineOpts {
        tcpwrap_files: files.clone(),
        ..EngineOpts::default()
    };
    let srv = TestServer::start_with(dir, vec![test_console("c1")], server(true), opts).await;

    let (answer, _) = greet_from("127.0.0.1", srv.addr).await;
    assert_eq!(answer, b"OK\n", "an allowed client gets the greeting reply");
    let (answer, port) = greet_from("127.0.0.2", srv.addr).await;
    assert_eq!(answer, b"", "a denied client is closed without a word");
    let want = format!("TCP-Wrappers rejected connection from <127.0.0.2:{port}>");
    common::eventually("the rejection notice", || {
        log.text()
            .lines()
            .any(|l| l.starts_with("NOTICE:") && l.ends_with(&want))
    })
    .await;

    // The tables are read again when they change.
    std::fs::write(&files.allow, "conmand: 127.0.0.1 127.0.0.2\n").unwrap();
    let (answer, _) = greet_from("127.0.0.2", srv.addr).await;
    assert_eq!(answer, b"OK\n");
    std::fs::write(&files.allow, "conmand: 127.0.0.1 : deny\n").unwrap();
    let (answer, _) = greet_from("127.0.0.1", srv.addr).await;
    assert_eq!(answer, b"", "an allow-table rule with `: deny` denies");

    // A reload that turns tcpwrappers off lets everyone in again.
    let daemon = srv.daemon.as_ref().unwrap();
    let config = |on| Config {
        origin: "test.conf".into(),
        server: server(on),
        consoles: vec![test_console("c1")],
    };
    daemon.reload(config(false)).await;
    let (answer, _) = greet_from("127.0.0.1", srv.addr).await;
    assert_eq!(answer, b"OK\n");
    daemon.reload(config(true)).await;
    let (answer, _) = greet_from("127.0.0.1", srv.addr).await;
    assert_eq!(answer, b"", "on again after the next reload");
    srv.stop().await;
}

#[tokio::test]
async fn tcpwrappers_off_ignores_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files {
        allow: dir.path().join("hosts.allow"),
        deny: dir.path().join("hosts.deny"),
    };
    std::fs::write(&files.deny, "ALL: ALL\n").unwrap();
    let opts = EngineOpts {
        tcpwrap_files: files,
        ..EngineOpts::default()
    };
    let srv = TestServer::start_with(dir, vec![test_console("c1")], server(false), opts).await;
    let (answer, _) = greet_from("127.0.0.3", srv.addr).await;
    assert_eq!(answer, b"OK\n");
    srv.stop().await;
}

// ------------------------------------------------------- differential: tcpdmatch --

/// A small deterministic generator (xorshift64*), so a failure can be replayed
/// from the seed it prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const DAEMONS: &[&str] = &[
    "conmand",
    "CONMAND",
    "sshd",
    "ALL",
    "KNOWN",
    "conm*",
    "con?and",
    ".mand",
    "conmand@ALL",
    "conmand@unknown",
    "conmand@127.0.0.1",
    "in.telnetd",
    "EXCEPT",
];

const CLIENTS: &[&str] = &[
    "ALL",
    "ALL",
    "EXCEPT",
    "EXCEPT",
    "LOCAL",
    "KNOWN",
    "UNKNOWN",
    "PARANOID",
    "localhost",
    "LOCALHOST",
    "local*",
    "localhos?",
    ".localdomain",
    "ws1.example.com",
    ".example.com",
    "127.",
    "127.0.0.",
    "10.",
    "10.1.2.",
    "127.0.0.1",
    "127.0.0.2",
    "127.0.0.5",
    "10.0.0.1",
    "10.1.2.3",
    "127.0.0.?",
    "127.*",
    "*.5",
    "127.0.0.0/8",
    "127.0.0.0/255.0.0.0",
    "127.0.0.4/30",
    "127.0.0.4/255.255.255.252",
    "127.0.0.1/8",
    "10.0.0.0/255.0.0.0",
    "10.1.0.0/16",
    "0.0.0.0/0.0.0.0",
    "0.0.0.0/1",
    "192.0.2.0/24",
    "[::1]",
    "[0:0::1]",
    "[::1]/128",
    "[::]/0",
    "[::2]/127",
    "[2001:db8::]/32",
    "[::ffff:127.0.0.1]",
    "unknown@ALL",
    "KNOWN@ALL",
    "ALL@127.0.0.1",
    "@netgroup",
    "/nonexistent/conman-test-list",
    "10.0.0.0/33",
    "127.0.0.1/0",
    "127.0.0.010",
];

const OPTIONS: &[&str] = &[
    ": allow",
    ": deny",
    ": ALLOW",
    ": allow: deny",
    ": deny extra",
    ": bogus",
    ":",
    ": spawn /bin/true",
    ": twist /bin/true",
    ": severity auth.info",
];

/// Options conmand deliberately refuses (libwrap runs or honours them).
const REFUSED: &[&str] = &["spawn", "twist", "severity"];

fn list(rng: &mut Rng, pool: &[&str]) -> String {
    let n = 1 + rng.below(4);
    let mut out = String::new();
    for i in 0..n {
        if i > 0 {
            out.push_str(rng.pick(&[" ", ", ", ",", "\t", " \\\n  "]));
        }
        out.push_str(rng.pick(pool));
    }
    out
}

fn table(rng: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..rng.below(5) {
        match rng.below(20) {
            0 => out.push_str("# a comment: with a colon\n"),
            1 => out.push('\n'),
            2 => out.push_str("no separator here\n"),
            3 => out.push_str("  # indented: not a comment for libwrap\n"),
            _ => {
                out.push_str(&list(rng, DAEMONS));
                out.push_str(rng.pick(&[": ", ":", " : "]));
                out.push_str(&list(rng, CLIENTS));
                if rng.chance(20) {
                    out.push_str(rng.pick(OPTIONS));
                }
                out.push_str(if rng.chance(5) { "\r\n" } else { "\n" });
            }
        }
    }
    if rng.chance(4) {
        out.pop();
    }
    out
}

/// The clients asked about: addresses (tcpdmatch then assumes the name lookup
/// failed) and `localhost` (name and address from /etc/hosts).
const ADDRS: &[&str] = &[
    "127.0.0.1",
    "127.0.0.2",
    "127.0.0.5",
    "10.0.0.1",
    "10.1.2.3",
    "192.0.2.200",
    "::1",
    "::2",
    "::3",
    "2001:db8::1",
];

fn tcpdmatch(bin: &Path, dir: &Path, client: &str) -> Verdict {
    let out = std::process::Command::new(bin)
        .args(["-d", "conmand", client])
        .current_dir(dir)
        .output()
        .expect("run tcpdmatch");
    let text = String::from_utf8_lossy(&out.stdout);
    let access = text
        .lines()
        .filter_map(|l| l.strip_prefix("access:"))
        .map(str::trim)
        .next_back()
        .unwrap_or_else(|| panic!("no verdict from tcpdmatch for {client}: {text}"));
    if access == "granted" {
        Verdict::Allow
    } else {
        Verdict::Deny
    }
}

#[test]
fn evaluator_agrees_with_libwrap_tcpdmatch() {
    let Some(bin) = common::pty::peer("/usr/sbin/tcpdmatch") else {
        return;
    };
    let localhost: Option<IpAddr> = dns_lookup::lookup_host("localhost")
        .ok()
        .and_then(|mut a| a.find(IpAddr::is_ipv4));
    let seed = std::env::var("TCPWRAP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de_2026_0012_u64);
    let files: usize = std::env::var("TCPWRAP_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let (mut exact, mut stricter, mut denied, mut compared) = (0, 0, 0, 0);
    for round in 0..files {
        let (allow, deny) = (table(&mut rng), table(&mut rng));
        std::fs::write(dir.path().join("hosts.allow"), &allow).unwrap();
        std::fs::write(dir.path().join("hosts.deny"), &deny).unwrap();
        let a = AccessTable::parse(TableKind::Allow, allow.as_bytes());
        let d = AccessTable::parse(TableKind::Deny, deny.as_bytes());
        let refused = REFUSED
            .iter()
            .any(|o| allow.contains(o) || deny.contains(o));
        let mut clients: Vec<(String, Client<'_>)> = ADDRS
            .iter()
            .map(|s| {
                let c = Client {
                    addr: s.parse().unwrap(),
                    name: HostName::Unknown,
                };
                (s.to_string(), c)
            })
            .collect();
        if let Some(ip) = localhost {
            let c = Client {
                addr: ip,
                name: HostName::Known("localhost"),
            };
            clients.push(("localhost".to_string(), c));
        }
        for (arg, c) in &clients {
            let ours = check(&a, &d, c);
            let theirs = tcpdmatch(&bin, dir.path(), arg);
            compared += 1;
            let ctx = || {
                format!(
                    "seed {seed:#x} round {round}, client {arg}\n--- hosts.allow\n{allow}\n--- \
                     hosts.deny\n{deny}\n--- ours {ours:?}, tcpdmatch {theirs:?}"
                )
            };
            if ours.verdict == Verdict::Allow {
                assert_eq!(theirs, Verdict::Allow, "conmand is more open: {}", ctx());
            }
            if ours.uncertain || refused {
                if ours.verdict != theirs {
                    stricter += 1;
                }
            } else {
                assert_eq!(ours.verdict, theirs, "{}", ctx());
                exact += 1;
            }
            if theirs == Verdict::Deny {
                denied += 1;
            }
        }
    }
    eprintln!(
        "tcpdmatch differential: {compared} verdicts ({files} table pairs), {exact} compared \
         exactly, {stricter} stricter on purpose, {denied} denials"
    );
    assert!(exact > compared / 2, "too few exact comparisons: {exact}");
    assert!(
        denied > compared / 10 && denied < compared * 9 / 10,
        "unbalanced sample"
    );
}
