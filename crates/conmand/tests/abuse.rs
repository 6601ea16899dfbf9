//! Hostile and broken clients (issue 12): connection limits, clients that stop
//! reading, `&L` and escape floods, pattern bombs. Each test fails when the bound it
//! checks is removed. Timing bounds are generous (this machine is shared and noisy).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use conmand::engine::EngineOpts;
use conmand_core::config::{ConsoleSpec, LogOpts, ServerOpts, TestOpts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw client connecting from a chosen loopback address.
async fn connect_from(src: &str, addr: SocketAddr) -> Raw {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{src}:0").parse().unwrap()).unwrap();
    Raw {
        stream: sock.connect(addr).await.unwrap(),
        seen: Vec::new(),
    }
}

/// Greeting: the reply line.
async fn hello(r: &mut Raw) -> String {
    r.send(b"HELLO USER='u'\n").await;
    r.line().await
}

#[tokio::test]
async fn connections_over_maxclients_or_the_host_share_are_refused() {
    let server = ServerOpts {
        maxclients: 3,
        ..ServerOpts::default()
    };
    let srv = TestServer::start(vec![test_console("t")], server).await;
    let daemon = srv.daemon.as_ref().unwrap();
    // 127.0.0.1 may hold two of the three slots.
    let mut a1 = connect_from("127.0.0.1", srv.addr).await;
    assert_eq!(hello(&mut a1).await, "OK");
    let mut a2 = connect_from("127.0.0.1", srv.addr).await;
    assert_eq!(hello(&mut a2).await, "OK");
    let mut a3 = connect_from("127.0.0.1", srv.addr).await;
    assert_eq!(
        hello(&mut a3).await,
        "ERROR CODE=2 MESSAGE='Too many clients from this host (limit 2)'"
    );
    assert!(a3.until_eof().await.is_empty());
    let mut b1 = connect_from("127.0.0.2", srv.addr).await;
    assert_eq!(hello(&mut b1).await, "OK");
    let mut c1 = connect_from("127.0.0.3", srv.addr).await;
    assert_eq!(
        hello(&mut c1).await,
        "ERROR CODE=2 MESSAGE='Too many clients connected (limit 3)'"
    );
    assert_eq!(daemon.clients(), 3);
    // The stock client shows the reason.
    if let Some(conman) = common::pty::peer("/usr/bin/conman") {
        let out = tokio::process::Command::new(conman)
            .args(["-d", &srv.addr.to_string(), "-q"])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Too many clients"), "{err}");
    }
    // A slot that frees is available again.
    drop(a1);
    eventually("the slot to free", || daemon.clients() == 2).await;
    let (_q, rsp) = Raw::open(srv.addr, "u", None, "QUERY").await;
    assert_eq!(rsp, "OK CONSOLE='t'");
    drop((a2, b1));
    srv.stop().await;
}

/// A fast test console: 60 KB bursts every millisecond.
fn flood_console(name: &str, log: Option<std::path::PathBuf>) -> conmand_core::config::ConsoleDef {
    let opts = TestOpts {
        burst_bytes: 60_000,
        max_ms: 1,
        min_ms: -1,
        probability: 100,
    };
    def(name, ConsoleSpec::Test(opts), log, LogOpts::default())
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_nobody_else_notices() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("flood.log");
    let opts = EngineOpts {
        stall_timeout: Duration::from_secs(1),
        ..EngineOpts::default()
    };
    let srv = TestServer::start_with(
        dir,
        vec![flood_console("flood", Some(log.clone()))],
        ServerOpts::default(),
        opts,
    )
    .await;
    let daemon = srv.daemon.as_ref().unwrap();
    let mut stalled = Raw::connect_small(srv.addr).await;
    stalled
        .send(b"HELLO USER='slow'\nMONITOR CONSOLE='flood'\n")
        .await;
    assert_eq!(stalled.line().await, "OK");
    assert_eq!(stalled.line().await, "OK CONSOLE='flood'");
    let (mut live, _) = Raw::open(srv.addr, "fast", None, "MONITOR CONSOLE='flood'").await;
    assert_eq!(daemon.clients(), 2);
    // The live client keeps reading the whole time; the stalled one never reads
    // until the daemon has let it go.
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + WAIT;
    while daemon.clients() != 1 {
        assert!(
            Instant::now() < deadline,
            "the stalled client was never dropped"
        );
        let n = tokio::time::timeout(WAIT, live.stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the live client was cut off");
    }
    // Still live, and the log still grows.
    let before = std::fs::metadata(&log).unwrap().len();
    let mut got = 0;
    while got < 1 << 20 {
        got += live.stream.read(&mut buf).await.unwrap();
    }
    eventually("the log to grow", || {
        std::fs::metadata(&log).unwrap().len() > before
    })
    .await;
    // The stalled socket ends (after what the kernel had buffered).
    stalled.until_eof().await;
    srv.stop().await;
}

#[tokio::test]
async fn a_replay_flood_gets_merged_replays_and_stalls_no_console() {
    let dir = tempfile::tempdir().unwrap();
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    // One log writer thread for both consoles: the flood's tail reads share it
    // with the other console's output.
    let opts = EngineOpts {
        log_threads: 1,
        ..EngineOpts::default()
    };
    let ticking = TestOpts {
        burst_bytes: 100,
        max_ms: 5,
        min_ms: -1,
        probability: 100,
    };
    let srv = TestServer::start_with(
        dir,
        vec![
            process_console("a", &["/bin/cat"], Some(log_a.clone()), LogOpts::default()),
            def(
                "b",
                ConsoleSpec::Test(ticking),
                Some(log_b.clone()),
                LogOpts::default(),
            ),
        ],
        ServerOpts::default(),
        opts,
    )
    .await;
    srv.wait_up(&["a", "b"]).await;
    let (mut r, _) = Raw::open(srv.addr, "flood", None, "CONNECT CONSOLE='a'").await;
    r.send(b"hello\r").await;
    r.expect(b"hello").await;
    const REQUESTS: usize = 50_000;
    let flood = [0xffu8, b'L'].repeat(REQUESTS);
    let (mut rd, mut wr) = r.stream.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&flood).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    // Read everything until the daemon closes (the client half-closed), counting
    // replays.
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        rd.read_to_end(&mut all).await.unwrap();
        all
    });
    // Meanwhile the other console keeps being logged.
    let start = std::fs::metadata(&log_b).map(|m| m.len()).unwrap_or(0);
    eventually("console b to keep being logged during the flood", || {
        std::fs::metadata(&log_b).map(|m| m.len()).unwrap_or(0) > start + 20_000
    })
    .await;
    within("the flood to be written", writer).await.unwrap();
    let all = within("the flooding client to finish", reader)
        .await
        .unwrap();
    let replays = all
        .windows(b"Begin log replay".len())
        .filter(|w| *w == b"Begin log replay")
        .count();
    assert!(replays >= 1, "no replay at all");
    assert!(
        replays < REQUESTS / 10,
        "{replays} replays for {REQUESTS} requests: not merged"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_toggle_flood_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("c.log");
    let srv = TestServer::start_in(
        dir,
        vec![process_console(
            "c",
            &["/bin/cat"],
            Some(log.clone()),
            LogOpts::default(),
        )],
        ServerOpts::default(),
    )
    .await;
    srv.wait_up(&["c"]).await;
    let (mut watcher, _) = Raw::open(srv.addr, "watcher", None, "MONITOR CONSOLE='c'").await;
    let started = Instant::now();
    let (mut t, _) = Raw::open(srv.addr, "toggler", None, "MONITOR CONSOLE='c'").await;
    // 2,000 toggles in one write, then a marker through the console.
    t.send(&[0xffu8, b'F'].repeat(1000)).await;
    t.send(&[0xffu8, b'M'].repeat(1000)).await;
    drop(t);
    let (mut w, _) = Raw::open(srv.addr, "w", None, "CONNECT OPTION=JOIN CONSOLE='c'").await;
    w.send(b"marker\r").await;
    let seen = watcher.expect(b"marker").await;
    let elapsed = started.elapsed().as_secs();
    let text = String::from_utf8_lossy(&seen);
    let notices = text.matches("by <toggler@").count();
    // Burst of 10, 2 a second after that; the last departure is not a toggle.
    let allowed = 10 + 2 * (elapsed as usize + 1) + 1;
    assert!(
        notices <= allowed,
        "{notices} toggle notices in {elapsed}s (allowed {allowed})"
    );
    assert!(notices >= 2, "toggles stopped working: {notices}");
    srv.stop().await;
}

/// Test consoles that say nothing for a long while (their names are what counts).
fn quiet_consoles(n: usize) -> Vec<conmand_core::config::ConsoleDef> {
    let opts = TestOpts {
        burst_bytes: 1,
        max_ms: 3_600_000,
        min_ms: 3_600_000,
        probability: 0,
    };
    (0..n)
        .map(|i| {
            def(
                &format!("rack{:02}-node-{i:05}.cluster.example.com", i % 50),
                ConsoleSpec::Test(opts),
                None,
                LogOpts::default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn pattern_bombs_are_refused() {
    let srv = TestServer::start(quiet_consoles(5000), ServerOpts::default()).await;
    // ~126 patterns of 1,023 bytes: refused at once with a reason.
    let bomb: Vec<String> = (0..126)
        .map(|_| format!("CONSOLE='{}'", "*a".repeat(511)))
        .collect();
    let (mut r, rsp) = Raw::open(
        srv.addr,
        "bomber",
        None,
        &format!("CONNECT OPTION=BROADCAST {}", bomb.join(" ")),
    )
    .await;
    assert!(
        rsp.starts_with("ERROR CODE=2 MESSAGE='Request too complex:"),
        "{rsp}"
    );
    r.until_eof().await;
    // Thousands of exact names are cheap and all found.
    let names: Vec<String> = quiet_consoles(5000)
        .into_iter()
        .step_by(2)
        .map(|d| format!("CONSOLE='{}'", d.name))
        .collect();
    let (_q, rsp) = Raw::open(srv.addr, "u", None, &format!("QUERY {}", names.join(" "))).await;
    assert_eq!(rsp.matches("CONSOLE=").count(), 2500);
    srv.stop().await;
}

#[tokio::test]
async fn heavy_matching_stalls_no_console() {
    // Names and patterns picked so that each request is just within the work
    // limit and takes real time: `*aaa…ab` against long runs of `a`.
    let opts = TestOpts {
        burst_bytes: 1,
        max_ms: 3_600_000,
        min_ms: 3_600_000,
        probability: 0,
    };
    let mut consoles: Vec<_> = (0..2000)
        .map(|i| {
            let name = format!("{}{i:04}", "a".repeat(200));
            def(&name, ConsoleSpec::Test(opts), None, LogOpts::default())
        })
        .collect();
    consoles.push(cat("echo"));
    let srv = TestServer::start(consoles, ServerOpts::default()).await;
    srv.wait_up(&["echo"]).await;
    let heavy = format!(
        "QUERY {}",
        (0..2)
            .map(|_| format!("CONSOLE='*{}b'", "a".repeat(450)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let addr = srv.addr;
    let hogs: Vec<_> = (0..3)
        .map(|_| {
            let heavy = heavy.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let (_r, rsp) = Raw::open(addr, "hog", None, &heavy).await;
                (rsp, t.elapsed())
            })
        })
        .collect();
    let (mut echo, _) = Raw::open(srv.addr, "e", None, "CONNECT CONSOLE='echo'").await;
    let mut worst = Duration::ZERO;
    for i in 0..40 {
        let t = Instant::now();
        let ping = format!("ping{i}\r");
        echo.send(ping.as_bytes()).await;
        echo.expect(ping.as_bytes()).await;
        worst = worst.max(t.elapsed());
        // Pacing, so the pings span the matching.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut slowest = Duration::ZERO;
    for h in hogs {
        let (rsp, took) = h.await.unwrap();
        assert_eq!(rsp, "ERROR CODE=5 MESSAGE='Found no matching consoles'");
        slowest = slowest.max(took);
    }
    assert!(
        worst < Duration::from_millis(250),
        "echo took {worst:?} while matching ran (slowest request {slowest:?})"
    );
    eprintln!("worst echo {worst:?}, slowest request {slowest:?}");
    srv.stop().await;
}

fn cat(name: &str) -> conmand_core::config::ConsoleDef {
    process_console(name, &["/bin/cat"], None, LogOpts::default())
}
