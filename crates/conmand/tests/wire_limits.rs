//! The daemon's side of the line bound (issue 12): a request line longer than
//! `MAX_WIRE_LINE` is answered with a clear error instead of being cut, the daemon
//! buffers no more than the bound for it, and a client that never ends its line is
//! dropped at the handshake timeout.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{LogCapture, Raw, TestServer, WAIT, test_console};
use conmand::engine::EngineOpts;
use conmand_core::config::ServerOpts;
use conmand_core::protocol::MAX_WIRE_LINE;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "current_thread")]
async fn an_overlong_request_line_gets_error_2_and_is_logged() {
    let log = LogCapture::default();
    let _guard = log.install();
    let srv = TestServer::start(vec![test_console("c1")], ServerOpts::default()).await;
    let mut r = Raw::connect(srv.addr).await;
    r.send(b"HELLO USER='big'\n").await;
    assert_eq!(r.line().await, "OK");
    // One byte more than the bound, no newline, then more: the daemon must stop
    // reading at the bound and answer.
    let (mut rd, mut wr) = r.stream.into_split();
    let writer = tokio::spawn(async move {
        let mut sent = 0usize;
        let chunk = vec![b'a'; 64 * 1024];
        wr.write_all(b"QUERY CONSOLE='").await.ok();
        while sent <= MAX_WIRE_LINE + 4 * 1024 * 1024 {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut got = Vec::new();
    tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut got),
    )
    .await
    .expect("the daemon neither answered nor closed")
    .ok();
    assert_eq!(
        String::from_utf8_lossy(&got),
        format!("ERROR CODE=2 MESSAGE='Request line exceeds the {MAX_WIRE_LINE}-byte maximum'\n")
    );
    let sent = writer.await.unwrap();
    assert!(
        sent < MAX_WIRE_LINE + 4 * 1024 * 1024,
        "the daemon kept reading ({sent} bytes accepted)"
    );
    assert!(
        log.text().contains("Client <big@localhost:")
            || log.text().contains("Client <big@127.0.0.1:"),
        "{}",
        log.text()
    );
    assert!(
        log.text()
            .contains("request failed: Request line exceeds the 8388608-byte maximum")
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_request_line_between_conmans_limit_and_ours_is_read_whole() {
    let consoles: Vec<_> = (0..3).map(|i| test_console(&format!("c{i}"))).collect();
    let srv = TestServer::start(consoles, ServerOpts::default()).await;
    // 200,000 bytes of patterns (ConMan would cut at 131,071 and lose the end).
    let mut req = String::from("QUERY");
    for i in 0..20_000 {
        req.push_str(&format!(" CONSOLE='nomatch{i:03}'"));
    }
    req.push_str(" CONSOLE='c2'");
    assert!(req.len() > 200_000);
    let (_r, rsp) = Raw::open(srv.addr, "u", None, &req).await;
    assert_eq!(rsp, "OK CONSOLE='c2'");
    srv.stop().await;
}

#[tokio::test]
async fn a_line_that_never_ends_is_dropped_at_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOpts {
        handshake_timeout: Duration::from_millis(500),
        ..EngineOpts::default()
    };
    let srv =
        TestServer::start_with(dir, vec![test_console("c1")], ServerOpts::default(), opts).await;
    let mut r = Raw::connect(srv.addr).await;
    r.send(b"HELLO USER='slow'\nQUERY CONSOLE='c").await;
    assert_eq!(r.line().await, "OK");
    let rest = tokio::time::timeout(WAIT, r.until_eof()).await.unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    srv.stop().await;
}
