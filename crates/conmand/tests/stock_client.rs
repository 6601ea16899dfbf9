//! The stock Debian `conman` client (0.2.7) against our daemon: what operators type
//! all day must behave exactly as with ConMan's daemon.

mod common;

use common::pty::{PtyProc, peer};
use common::*;
use conmand_core::config::{LogOpts, ServerOpts};

const CONMAN: &str = "/usr/bin/conman";

fn dest(srv: &TestServer) -> String {
    format!("127.0.0.1:{}", srv.addr.port())
}

fn cat(name: &str) -> conmand_core::config::ConsoleDef {
    process_console(name, &["/bin/cat"], None, LogOpts::default())
}

#[tokio::test]
async fn stock_query_lists_sorted_names() {
    let Some(conman) = peer(CONMAN) else { return };
    let srv = TestServer::start(
        vec![
            test_console("node10"),
            test_console("node2"),
            test_console("cat"),
            test_console("node1"),
        ],
        ServerOpts::default(),
    )
    .await;
    let out = tokio::process::Command::new(&conman)
        .args(["-d", &dest(&srv), "-q"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "cat\nnode1\nnode2\nnode10\n"
    );
    assert!(out.status.success());
    let out = tokio::process::Command::new(&conman)
        .args(["-d", &dest(&srv), "-q", "nosuch"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: Found no matching consoles.\n\n"
    );
    assert_eq!(out.status.code(), Some(2));
    let out = tokio::process::Command::new(&conman)
        .args(["-d", &dest(&srv), "-q", "-r", "NODE[0-9]"])
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "node1\nnode2\n");
    srv.stop().await;
}

#[tokio::test]
async fn stock_connect_type_escapes_and_close() {
    let Some(conman) = peer(CONMAN) else { return };
    let srv = TestServer::start(vec![cat("echo1")], ServerOpts::default()).await;
    srv.wait_up(&["echo1"]).await;
    let d = dest(&srv);
    let mut c = PtyProc::spawn(&conman, &["-d", &d, "echo1"]);
    c.expect(b"\r\n<ConMan> Connection to console [echo1] opened.\r\n")
        .await;
    c.send(b"hello\r").await;
    c.expect(b"hello").await;
    // &? shows the R/W help; &I shows the connection.
    c.send(b"&?").await;
    c.expect(b"   &B  -  Transmit a serial-break.\r\n").await;
    c.send(b"&I").await;
    c.expect(b"<ConMan> Connected R/W to console [echo1] on <")
        .await;
    // &B on a process console reaches the program as "&B".
    c.send(b"&B").await;
    c.expect(b"&B").await;
    // A second stock client: busy, then join.
    let mut busy = PtyProc::spawn(&conman, &["-d", &d, "echo1"]);
    busy.expect(b"ERROR: Found console already in use.").await;
    busy.expect(b"Console [echo1] open R/W by <").await;
    busy.expect(b"Do you want to force (-f) or join (-j) the connection?")
        .await;
    let (_, code) = busy.finish().await;
    assert_eq!(code, 2);
    let mut j = PtyProc::spawn(&conman, &["-d", &d, "-j", "echo1"]);
    j.expect(b"<ConMan> Connection to console [echo1] opened.")
        .await;
    j.expect(b"joined with <").await;
    c.expect(b"joined by <").await;
    j.send(b"&.").await;
    j.expect(b"<ConMan> Connection to console [echo1] closed.")
        .await;
    let (_, code) = j.finish().await;
    assert_eq!(code, 0);
    c.expect(b"departed by <").await;
    // Force from a third client terminates the first.
    let mut f = PtyProc::spawn(&conman, &["-d", &d, "-f", "echo1"]);
    f.expect(b"stolen from <").await;
    c.expect(b"stolen by <").await;
    c.expect(b"<ConMan> Connection to console [echo1] terminated by server.")
        .await;
    let (_, code) = c.finish().await;
    assert_eq!(code, 0);
    f.send(b"&.").await;
    let (_, code) = f.finish().await;
    assert_eq!(code, 0);
    srv.stop().await;
}

#[tokio::test]
async fn stock_monitor_replay_and_quiet() {
    let Some(conman) = peer(CONMAN) else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ticker.log");
    let ticker = process_console(
        "ticker",
        &[
            "/bin/sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done",
        ],
        Some(log),
        LogOpts::default(),
    );
    let srv = TestServer::start_in(dir, vec![ticker], ServerOpts::default()).await;
    let d = dest(&srv);
    let mut m = PtyProc::spawn(&conman, &["-d", &d, "-m", "ticker"]);
    m.expect(b"\r\n<ConMan> Connection to console [ticker] opened.\r\n")
        .await;
    m.expect(b"tick 3").await;
    m.send(b"&L").await;
    m.expect(b"<ConMan> Begin log replay of console [ticker].")
        .await;
    m.expect(b"<ConMan> End log replay of console [ticker].")
        .await;
    m.send(b"&Q").await;
    m.expect(b"<ConMan> Quiet-mode enabled -- info msgs will be suppressed.")
        .await;
    m.send(b"&.").await;
    m.expect(b"<ConMan> Connection to console [ticker] closed.")
        .await;
    let (_, code) = m.finish().await;
    assert_eq!(code, 0);
    srv.stop().await;
}

#[tokio::test]
async fn stock_broadcast_reaches_all() {
    let Some(conman) = peer(CONMAN) else { return };
    let srv = TestServer::start(vec![cat("b1"), cat("b2")], ServerOpts::default()).await;
    srv.wait_up(&["b1", "b2"]).await;
    let d = dest(&srv);
    let mut m1 = PtyProc::spawn(&conman, &["-d", &d, "-m", "b1"]);
    m1.expect(b"opened.").await;
    let mut m2 = PtyProc::spawn(&conman, &["-d", &d, "-m", "b2"]);
    m2.expect(b"opened.").await;
    let mut b = PtyProc::spawn(&conman, &["-d", &d, "-b", "b1", "b2"]);
    b.expect(b"\r\n<ConMan> Broadcast to 2 consoles opened.\r\n")
        .await;
    m1.expect(b"joined for B/C by <").await;
    b.send(b"to-all\r").await;
    m1.expect(b"to-all").await;
    m2.expect(b"to-all").await;
    b.send(b"&.").await;
    let (_, code) = b.finish().await;
    assert_eq!(code, 0);
    srv.stop().await;
}
