//! Client-supplied strings that reach other operators (issue 12): a `USER=` or
//! `TTY=` carrying terminal escape sequences must not reach another member's
//! terminal, the console log or the daemon log with its control bytes intact.
#![allow(clippy::unwrap_used)]

mod common;

use common::{LogCapture, Raw, TestServer, WAIT, def};
use conmand_core::config::{ConsoleSpec, LogOpts, ServerOpts, TestOpts};

const ESC: u8 = 0x1b;

/// `Raw::expect` keeps reading while the console streams; bound the whole wait.
async fn expect(r: &mut Raw, needle: &[u8]) -> Vec<u8> {
    tokio::time::timeout(WAIT, r.expect(needle))
        .await
        .unwrap_or_else(|_| panic!("never saw {:?}", String::from_utf8_lossy(needle)))
}

#[tokio::test(flavor = "current_thread")]
async fn escape_sequences_in_user_and_tty_are_neutralised() {
    let daemon_log = LogCapture::default();
    let _guard = daemon_log.install();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("c.log");
    let opts = TestOpts {
        burst_bytes: 8,
        max_ms: 200,
        min_ms: -1,
        probability: 100,
    };
    let console = def(
        "c",
        ConsoleSpec::Test(opts),
        Some(log.clone()),
        LogOpts::default(),
    );
    let srv = TestServer::start_in(dir, vec![console], ServerOpts::default()).await;
    srv.wait_up(&["c"]).await;

    let (mut alice, rsp) = Raw::open(srv.addr, "alice", Some("pts/1"), "CONNECT CONSOLE='c'").await;
    assert!(rsp.starts_with("OK"), "{rsp}");
    let (evil, rsp) = Raw::open(
        srv.addr,
        "\x1b[2J",
        Some("\x1b]0;owned\x07pts/9\x1b[31m"),
        "CONNECT OPTION=JOIN CONSOLE='c'",
    )
    .await;
    assert!(rsp.starts_with("OK"), "{rsp}");

    // Alice is told who joined, with the escape sequences replaced.
    let seen = expect(&mut alice, b" joined by <?@").await;
    let rest = expect(&mut alice, b" on ?pts/9? at ").await;
    assert!(
        !seen.contains(&ESC) && !rest.contains(&ESC),
        "ESC reached alice"
    );

    // The newcomer leaves: the departure notice is clean too.
    drop(evil);
    let more = expect(&mut alice, b" departed by <?@").await;
    assert!(!more.contains(&ESC));
    let more = expect(&mut alice, b"\r\n").await;
    assert!(!more.contains(&ESC));

    // The console log has the same notices, without ESC.
    srv.daemon.as_ref().unwrap().flush_logs().await;
    let logged = std::fs::read(&log).unwrap();
    assert!(common::find(&logged, b" departed by <?@").is_some());
    assert!(common::find(&logged, b" joined by <?@").is_some());
    assert!(!logged.contains(&ESC), "ESC in the console log");

    // And the daemon's own log names the client without control bytes.
    let text = daemon_log.text();
    assert!(text.contains("Client <?@"), "{text}");
    assert!(
        !text.bytes().any(|b| b == ESC || (b < 0x20 && b != b'\n')),
        "{text:?}"
    );
    tokio::time::timeout(WAIT, srv.stop()).await.unwrap();
}
