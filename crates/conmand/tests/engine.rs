//! The daemon engine over raw protocol sockets: handshake, selection, sessions,
//! escapes, writer arbitration, logs, replay, reload. Bytes are asserted exactly.

mod common;

use std::time::Duration;

use common::*;
use conmand_core::config::{LogOpts, ServerOpts};

fn cat(name: &str) -> conmand_core::config::ConsoleDef {
    process_console(name, &["/bin/cat"], None, LogOpts::default())
}

#[tokio::test]
async fn query_is_sorted_naturally_and_filtered() {
    let srv = TestServer::start(
        vec![
            test_console("node10"),
            test_console("node2"),
            test_console("date"),
            test_console("node1"),
        ],
        ServerOpts::default(),
    )
    .await;
    let (_r, rsp) = Raw::open(srv.addr, "alice", None, "QUERY").await;
    assert_eq!(
        rsp,
        "OK CONSOLE='date' CONSOLE='node1' CONSOLE='node2' CONSOLE='node10'"
    );
    let (_r, rsp) = Raw::open(srv.addr, "alice", None, "QUERY CONSOLE='node?'").await;
    assert_eq!(rsp, "OK CONSOLE='node1' CONSOLE='node2'");
    let (_r, rsp) = Raw::open(
        srv.addr,
        "alice",
        None,
        "QUERY OPTION=REGEX CONSOLE='NODE[0-9]+'",
    )
    .await;
    assert_eq!(rsp, "OK CONSOLE='node1' CONSOLE='node2' CONSOLE='node10'");
    let (_r, rsp) = Raw::open(srv.addr, "alice", None, "QUERY CONSOLE='zz*'").await;
    assert_eq!(rsp, "ERROR CODE=5 MESSAGE='Found no matching consoles'");
    srv.stop().await;
}

#[tokio::test]
async fn greeting_without_user_is_error_2() {
    let srv = TestServer::start(vec![test_console("a")], ServerOpts::default()).await;
    let mut r = Raw::connect(srv.addr).await;
    r.send(b"HELLO TTY='pts/1'\n").await;
    assert_eq!(
        r.line().await,
        "ERROR CODE=2 MESSAGE='Invalid greeting: no user specified'"
    );
    assert!(r.until_eof().await.is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn monitor_of_several_is_error_6_with_names() {
    let srv = TestServer::start(
        vec![test_console("n2"), test_console("n1")],
        ServerOpts::default(),
    )
    .await;
    let (mut r, rsp) = Raw::open(srv.addr, "bob", None, "MONITOR CONSOLE='n*'").await;
    assert_eq!(rsp, "ERROR CODE=6 MESSAGE='Found 2 matching consoles'");
    assert_eq!(r.until_eof().await, b"n1\nn2\n");
    srv.stop().await;
}

#[tokio::test]
async fn connect_echo_busy_join_force() {
    let srv = TestServer::start(vec![cat("echo1")], ServerOpts::default()).await;
    srv.wait_up(&["echo1"]).await;
    let (mut a, rsp) = Raw::open(srv.addr, "alice", Some("pts/1"), "CONNECT CONSOLE='echo1'").await;
    assert_eq!(rsp, "OK CONSOLE='echo1'");
    a.send(b"hello\r").await;
    a.expect(b"hello\r").await;

    // Busy without -j/-f.
    let (mut d, rsp) = Raw::open(srv.addr, "dave", None, "CONNECT CONSOLE='echo1'").await;
    assert_eq!(rsp, "ERROR CODE=7 MESSAGE='Found console already in use'");
    let trailer = String::from_utf8(d.until_eof().await).unwrap();
    assert!(
        trailer.starts_with("Console [echo1] open R/W by <alice@localhost> on pts/1 (idle "),
        "{trailer}"
    );
    assert!(trailer.ends_with("s).\n"), "{trailer}");

    // Join: the joiner is told who is there; the others are told who joined.
    let (mut b, rsp) = Raw::open(
        srv.addr,
        "bob",
        Some("pts/2"),
        "CONNECT OPTION=JOIN CONSOLE='echo1'",
    )
    .await;
    assert_eq!(rsp, "OK CONSOLE='echo1'");
    b.expect(b"\r\n<ConMan> Console [echo1] joined with <alice@localhost> on pts/1 at ")
        .await;
    a.expect(b"\r\n<ConMan> Console [echo1] joined by <bob@localhost> on pts/2 at ")
        .await;
    b.send(b"from-b\r").await;
    a.expect(b"from-b\r").await;
    b.expect(b"from-b\r").await;

    // Force: both writers are stolen from and disconnected.
    let (mut c, rsp) = Raw::open(
        srv.addr,
        "carol",
        Some("pts/3"),
        "CONNECT OPTION=FORCE CONSOLE='echo1'",
    )
    .await;
    assert_eq!(rsp, "OK CONSOLE='echo1'");
    c.expect(b"stolen from <alice@localhost> on pts/1 at ")
        .await;
    c.expect(b"stolen from <bob@localhost> on pts/2 at ").await;
    let rest_a = a.until_eof().await;
    assert!(
        find(
            &rest_a,
            b"Console [echo1] stolen by <carol@localhost> on pts/3 at "
        )
        .is_some()
    );
    let rest_b = b.until_eof().await;
    assert!(find(&rest_b, b"stolen by <carol@localhost>").is_some());
    assert!(find(&rest_b, b"departed by <alice@localhost> on pts/1").is_some());
    c.send(b"mine\r").await;
    c.expect(b"mine\r").await;
    srv.stop().await;
}

#[tokio::test]
async fn monitor_reads_but_cannot_write_and_escapes_toggle() {
    let srv = TestServer::start(vec![cat("e")], ServerOpts::default()).await;
    srv.wait_up(&["e"]).await;
    let (mut m, rsp) = Raw::open(srv.addr, "mon", None, "MONITOR CONSOLE='e'").await;
    assert_eq!(rsp, "OK CONSOLE='e'");
    let (mut w, _) = Raw::open(srv.addr, "wr", None, "CONNECT OPTION=JOIN CONSOLE='e'").await;
    m.expect(b"joined by <wr@localhost>").await;
    m.send(b"ignored\r").await;
    w.send(b"typed\r").await;
    let seen = m.expect(b"typed\r").await;
    assert!(find(&seen, b"ignored").is_none());
    // &J split across two packets: the monitor becomes a writer.
    m.send(b"\xff").await;
    m.send(b"J").await;
    w.expect(b"joined by <mon@localhost>").await;
    m.send(b"now-rw\r").await;
    w.expect(b"now-rw\r").await;
    // &M: back to read-only, everyone is told.
    m.send(b"\xffM").await;
    w.expect(b"departed by <mon@localhost>").await;
    srv.stop().await;
}

#[tokio::test]
async fn break_on_process_console_sends_amp_b_and_ff_is_unstuffed() {
    let srv = TestServer::start(vec![cat("p")], ServerOpts::default()).await;
    srv.wait_up(&["p"]).await;
    let (mut a, _) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='p'").await;
    a.send(b"x\xffBy\xff\xffz\r").await;
    a.expect(b"x&By\xffz\r").await;
    srv.stop().await;
}

#[tokio::test]
async fn broadcast_writes_to_every_console() {
    let srv = TestServer::start(vec![cat("b1"), cat("b2")], ServerOpts::default()).await;
    srv.wait_up(&["b1", "b2"]).await;
    let (mut m1, _) = Raw::open(srv.addr, "m", None, "MONITOR CONSOLE='b1'").await;
    let (mut m2, _) = Raw::open(srv.addr, "m", None, "MONITOR CONSOLE='b2'").await;
    let (mut bc, rsp) = Raw::open(
        srv.addr,
        "dave",
        Some("pts/4"),
        "CONNECT OPTION=BROADCAST CONSOLE='b*'",
    )
    .await;
    assert_eq!(rsp, "OK CONSOLE='b1' CONSOLE='b2'");
    m1.expect(b"Console [b1] joined for B/C by <dave@localhost> on pts/4 at ")
        .await;
    m2.expect(b"Console [b2] joined for B/C by <dave@localhost> on pts/4 at ")
        .await;
    bc.send(b"all\r").await;
    m1.expect(b"all\r").await;
    m2.expect(b"all\r").await;
    // The broadcast client gets no console output.
    let (mut e, rsp) = Raw::open(srv.addr, "erin", None, "CONNECT CONSOLE='b2'").await;
    assert_eq!(rsp, "ERROR CODE=7 MESSAGE='Found console already in use'");
    let t = e.until_eof().await;
    assert!(
        find(
            &t,
            b"Console [b2] open B/C by <dave@localhost> on pts/4 (idle "
        )
        .is_some()
    );
    drop(bc);
    srv.stop().await;
}

#[tokio::test]
async fn log_file_gets_header_notices_and_timestamps_and_replay_works() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sub/dir/e.log");
    let opts = LogOpts {
        lock: true,
        sanitize: true,
        timestamp: true,
    };
    let srv = TestServer::start_in(
        dir,
        vec![process_console("e", &["/bin/cat"], Some(log.clone()), opts)],
        ServerOpts::default(),
    )
    .await;
    srv.wait_up(&["e"]).await;
    let (mut a, _) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='e'").await;
    a.send(b"one\ttab\r").await;
    a.expect(b"one\ttab\r").await;
    // Replay goes through the log writer, so it also proves the log has the line.
    a.send(b"\xffL").await;
    a.expect(b"\r\n<ConMan> Begin log replay of console [e].\r\n")
        .await;
    let replay = a
        .expect(b"\r\n<ConMan> End log replay of console [e].\r\n")
        .await;
    assert!(
        find(&replay, b"one^Itab").is_some(),
        "{}",
        String::from_utf8_lossy(&replay)
    );
    let text = std::fs::read(&log).unwrap();
    assert!(text.starts_with(b"\r\n<ConMan> Console [e] log opened at "));
    assert!(find(&text, b"<ConMan> Console [e] connected to \"cat\" (pid ").is_some());
    assert!(find(&text, b"joined by <alice@localhost> at ").is_some());
    let line = text
        .split(|&b| b == b'\n')
        .find(|l| find(l, b"one^Itab").is_some())
        .unwrap();
    // `YYYY-MM-DD HH:MM:SS one^Itab` (the CR is held until the next byte decides
    // whether it ends the line, as in ConMan).
    assert_eq!(line[4], b'-');
    assert_eq!(line[13], b':');
    assert_eq!(&line[19..], b" one^Itab");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    srv.stop().await;
}

#[tokio::test]
async fn replay_without_log_says_not_logged() {
    let srv = TestServer::start(vec![cat("n")], ServerOpts::default()).await;
    let (mut a, _) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='n'").await;
    a.send(b"\xffL").await;
    a.expect(b"\r\n<ConMan> Console [n] is not being logged -- cannot replay.\r\n")
        .await;
    srv.stop().await;
}

#[tokio::test]
async fn garbage_and_half_handshakes_do_not_hurt_anyone() {
    let srv = TestServer::start(vec![test_console("t")], ServerOpts::default()).await;
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(Raw::connect(srv.addr).await);
    }
    let mut g = Raw::connect(srv.addr).await;
    g.send(&[0u8, 0xff, 0xfe, b'\n', 0x80, b'x', b'\n']).await;
    assert!(g.line().await.starts_with("ERROR CODE=2"));
    let mut g2 = Raw::connect(srv.addr).await;
    g2.send(b"HELLO USER='x'\nCONNECT CONSOLE='t' OPTION=\x01\x02 '''\n")
        .await;
    assert_eq!(g2.line().await, "OK");
    assert_eq!(g2.line().await, "OK CONSOLE='t'");
    let (_q, rsp) = Raw::open(srv.addr, "alice", None, "QUERY").await;
    assert_eq!(rsp, "OK CONSOLE='t'");
    drop(silent);
    srv.stop().await;
}

#[tokio::test]
async fn thousand_concurrent_clients() {
    let srv = TestServer::start(
        vec![test_console("t1"), test_console("t2")],
        ServerOpts::default(),
    )
    .await;
    let addr = srv.addr;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let (_r, rsp) = Raw::open(addr, "u", None, "QUERY").await;
                rsp == "OK CONSOLE='t1' CONSOLE='t2'"
            } else {
                let (mut r, rsp) = Raw::open(addr, "u", None, "MONITOR CONSOLE='t1'").await;
                r.expect(b"!").await;
                rsp == "OK CONSOLE='t1'"
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1000);
    srv.stop().await;
}

#[tokio::test]
async fn stalled_client_does_not_slow_others() {
    // A fast test console with a log; one client never reads (like a SIGSTOPped
    // `conman`), another must keep getting data and the log must keep growing.
    let opts = conmand_core::config::TestOpts {
        burst_bytes: 60_000,
        max_ms: 1,
        min_ms: -1,
        probability: 100,
    };
    let spec = conmand_core::config::ConsoleSpec::Test(opts);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("flood.log");
    let srv = TestServer::start_in(
        dir,
        vec![def("flood", spec, Some(log.clone()), LogOpts::default())],
        ServerOpts::default(),
    )
    .await;
    let mut stalled = Raw::connect_small(srv.addr).await;
    stalled
        .send(b"HELLO USER='slow'\nMONITOR CONSOLE='flood'\n")
        .await;
    assert_eq!(stalled.line().await, "OK");
    assert_eq!(stalled.line().await, "OK CONSOLE='flood'");
    let (mut live, _) = Raw::open(srv.addr, "fast", None, "MONITOR CONSOLE='flood'").await;
    // Far more than the socket buffers and the client queue can hold for the
    // stalled client: the daemon must drop its output, not wait for it.
    let mut total = 0usize;
    let mut buf = vec![0u8; 65536];
    while total < 6 << 20 {
        use tokio::io::AsyncReadExt;
        let n = tokio::time::timeout(WAIT, live.stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the live client was cut off");
        total += n;
    }
    let logged = std::fs::metadata(&log).unwrap().len();
    assert!(logged > 3 << 20, "log only has {logged} bytes");
    // When the stalled client reads again it is told what it missed.
    stalled.expect(b"<ConMan> Skipped ").await;
    stalled
        .expect(b" bytes of output (client too slow).\r\n")
        .await;
    srv.stop().await;
}

#[tokio::test]
async fn unix_console_connects_when_socket_appears() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("c.sock");
    let srv = TestServer::start(vec![unix_console("u", &sock)], ServerOpts::default()).await;
    let (mut a, _) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='u'").await;
    a.expect(
        format!(
            "Console [u] is currently disconnected from \"{}\"",
            sock.display()
        )
        .as_bytes(),
    )
    .await;
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let (mut dev, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
        .await
        .unwrap()
        .unwrap();
    a.expect(format!("Console [u] connected to \"{}\"", sock.display()).as_bytes())
        .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    dev.write_all(b"from-device").await.unwrap();
    a.expect(b"from-device").await;
    a.send(b"to-device").await;
    let mut buf = [0u8; 9];
    dev.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"to-device");
    drop(dev);
    a.expect(format!("Console [u] disconnected from \"{}\"", sock.display()).as_bytes())
        .await;
    srv.stop().await;
}

/// Reference §5.6's worked example, through a real process console and the log.
#[tokio::test]
async fn log_line_processing_matches_conman_worked_example() {
    let input = r"a\r\nb\n\rc\rd\r\000e\n\000f\tg\001h\177i\200j\377k\233l\n\n\nz";
    let script = format!("printf '{input}'; exec sleep 600");
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("both.log");
    let san = dir.path().join("san.log");
    let raw = dir.path().join("raw.log");
    let mk = |name: &str, log: &std::path::Path, sanitize: bool, timestamp: bool| {
        process_console(
            name,
            &["/bin/sh", "-c", &script],
            Some(log.to_path_buf()),
            LogOpts {
                lock: true,
                sanitize,
                timestamp,
            },
        )
    };
    let consoles = vec![
        mk("both", &both, true, true),
        mk("san", &san, true, false),
        mk("raw", &raw, false, false),
    ];
    let srv = TestServer::start_in(dir, consoles, ServerOpts::default()).await;
    let body = |path: &std::path::Path| -> Option<Vec<u8>> {
        let text = std::fs::read(path).ok()?;
        let i = find(&text, b"(pid ")?;
        let j = i + find(&text[i..], b".\r\n")? + 3;
        Some(text[j..].to_vec())
    };
    eventually("all three logs complete", || {
        body(&both).is_some_and(|b| b.ends_with(b"z"))
            && body(&san).is_some_and(|b| b.ends_with(b"z"))
            && body(&raw).is_some_and(|b| b.ends_with(b"z"))
    })
    .await;
    let ts = regex::bytes::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ").unwrap();
    let masked = ts
        .replace_all(&body(&both).unwrap(), &b"<TS> "[..])
        .into_owned();
    assert_eq!(
        String::from_utf8_lossy(&masked),
        "<TS> a\r\n<TS> b\r\n<TS> c\r\n<TS> d\r\n<TS> e\r\n<TS> f^Ig^Ah^?i~@j~?k~[l\r\n<TS> \r\n<TS> \r\n<TS> z"
    );
    assert_eq!(
        String::from_utf8_lossy(&body(&san).unwrap()),
        "a\r\nb\r\nc\r\nd\r\ne\r\nf^Ig^Ah^?i~@j~?k~[l\r\n\r\n\r\nz"
    );
    assert_eq!(
        body(&raw).unwrap(),
        b"a\r\nb\n\rc\rd\r\0e\n\0f\tg\x01h\x7fi\x80j\xffk\x9bl\n\n\nz".to_vec()
    );
    srv.stop().await;
}

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_timeout() {
    let opts = conmand::engine::EngineOpts {
        handshake_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let srv = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        vec![test_console("t")],
        ServerOpts::default(),
        opts,
    )
    .await;
    let mut silent = Raw::connect(srv.addr).await;
    silent.send(b"HELLO USER='slow'\n").await;
    assert_eq!(silent.line().await, "OK");
    // No request: the daemon closes the connection by itself.
    assert!(silent.until_eof().await.is_empty());
    let (_q, rsp) = Raw::open(srv.addr, "u", None, "QUERY").await;
    assert_eq!(rsp, "OK CONSOLE='t'");
    srv.stop().await;
}

/// A log file another process has locked cannot be opened; the console's output is
/// kept and written once the lock goes (no byte is lost).
#[tokio::test]
async fn output_is_kept_while_the_log_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("locked.log");
    std::fs::write(&log, b"").unwrap();
    // Another process holds a write lock (POSIX locks of our own process never conflict).
    let mut holder = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import fcntl,sys; f=open('{}','r+'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
            log.display()
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(holder.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let opts = conmand::engine::EngineOpts {
        log_retry: Duration::from_millis(100),
        ..Default::default()
    };
    let script = "for i in 1 2 3; do echo early $i; done; read x; echo late $x; exec sleep 600";
    let srv = TestServer::start_with(
        dir,
        vec![process_console(
            "k",
            &["/bin/sh", "-c", script],
            Some(log.clone()),
            LogOpts::default(),
        )],
        ServerOpts::default(),
        opts,
    )
    .await;
    srv.wait_up(&["k"]).await;
    let (mut a, _) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='k'").await;
    a.send(b"\xffL").await;
    a.expect(b"Console [k] is not being logged -- cannot replay")
        .await;
    a.send(b"go\n").await;
    a.expect(b"late go").await;
    drop(holder.stdin.take());
    holder.wait().unwrap();
    eventually("the kept output in the log", || {
        let t = std::fs::read(&log).unwrap_or_default();
        find(&t, b"late go").is_some()
    })
    .await;
    let t = std::fs::read(&log).unwrap();
    for l in [&b"early 1"[..], b"early 2", b"early 3", b"late go"] {
        assert!(
            find(&t, l).is_some(),
            "{} missing from {:?}",
            String::from_utf8_lossy(l),
            String::from_utf8_lossy(&t)
        );
    }
    srv.stop().await;
}

#[tokio::test]
async fn reset_runs_the_command_once_per_console_and_refuses_while_active() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("reset-%N.txt");
    let server = ServerOpts {
        resetcmd: Some(format!("echo reset >> {}; sleep 600", marker.display())),
        ..ServerOpts::default()
    };
    let done = dir.path().join("reset-r1.txt");
    let srv = TestServer::start_in(dir, vec![cat("r1")], server).await;
    srv.wait_up(&["r1"]).await;
    let (mut a, rsp) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='r1'").await;
    assert_eq!(rsp, "OK OPTION=RESET CONSOLE='r1'");
    a.send(b"\xffR").await;
    a.expect(b"\r\n<ConMan> Console [r1] reset by <alice@localhost> (pid ")
        .await;
    eventually("the reset command to run", || {
        std::fs::read(&done).is_ok_and(|t| t == b"reset\n")
    })
    .await;
    a.send(b"\xffR").await;
    a.expect(b"Ignoring reset of console [r1]: pid ").await;
    srv.stop().await;
}

#[tokio::test]
async fn listens_on_ipv6_loopback_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = conmand_core::config::Config {
        origin: "t".into(),
        server: ServerOpts::default(),
        consoles: vec![test_console("six")],
    };
    let engine = conmand::engine::Engine::start(config, Default::default())
        .await
        .unwrap();
    let listeners = conmand::server::bind(0, true).unwrap();
    let ports: Vec<std::net::SocketAddr> =
        listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    for l in listeners {
        engine.serve(l);
    }
    assert!(ports[0].ip().is_loopback() && ports[0].is_ipv4());
    if let Some(v6) = ports.iter().find(|a| a.is_ipv6()) {
        let (_r, rsp) = Raw::open(*v6, "u", None, "QUERY").await;
        assert_eq!(rsp, "OK CONSOLE='six'");
    } else {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
    }
    drop(dir);
    engine.shutdown().await;
}

/// Everything a console printed before the daemon stopped is in its log afterwards.
#[tokio::test]
async fn shutdown_loses_no_log_byte() {
    // The log lives outside the server's temp dir, which stop() removes.
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("last.log");
    let dir = tempfile::tempdir().unwrap();
    let script = "read x; i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done; echo LAST; exec sleep 600";
    let srv = TestServer::start_in(
        dir,
        vec![process_console(
            "last",
            &["/bin/sh", "-c", script],
            Some(log.clone()),
            LogOpts::default(),
        )],
        ServerOpts::default(),
    )
    .await;
    srv.wait_up(&["last"]).await;
    let (mut m, _) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='last'").await;
    m.send(b"go\n").await;
    m.expect(b"LAST").await;
    srv.stop().await;
    let text = std::fs::read(&log).unwrap();
    assert!(
        find(&text, b"line 299\nLAST").is_some(),
        "{}",
        String::from_utf8_lossy(&text[text.len().saturating_sub(200)..])
    );
}

/// Whatever a console prints once the client has read its `OK` reaches the client:
/// the daemon attaches before it answers (ConMan answers first, and output that
/// falls between is lost to the client). Each round writes the device's output the
/// moment the `OK` is read, monitor, read-write and broadcast alike. The window it
/// guards is narrow (a loaded CI machine hit it): the unit test
/// `session::tests::the_answer_waits_for_the_attach` pins the order exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_right_after_ok_reaches_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("c.sock");
    let l = tokio::net::UnixListener::bind(&sock).unwrap();
    let srv =
        TestServer::start_in(dir, vec![unix_console("c", &sock)], ServerOpts::default()).await;
    let mut dev = unix_device(&srv, &l, "c").await;
    use tokio::io::AsyncWriteExt;
    for round in 0..150 {
        let request = match round % 3 {
            0 => "MONITOR CONSOLE='c'",
            1 => "CONNECT CONSOLE='c'",
            _ => "CONNECT OPTION=BROADCAST CONSOLE='c'",
        };
        let (mut client, rsp) = Raw::open(srv.addr, "u", None, request).await;
        assert!(rsp.starts_with("OK"), "{rsp}");
        let marker = format!("ROUND-{round}-END");
        let mut out = vec![b'.'; 16 * 1024];
        out.extend_from_slice(marker.as_bytes());
        dev.write_all(&out).await.unwrap();
        client.expect(marker.as_bytes()).await;
        drop(client);
        let daemon = srv.daemon.as_ref().unwrap();
        eventually("the client to leave", || daemon.clients() == 0).await;
    }
    srv.stop().await;
}
