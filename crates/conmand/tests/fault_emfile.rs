//! Fault injection (issue 12): the daemon runs out of file descriptors (EMFILE)
//! while a client connects and while a console reconnects. It says so (once, not
//! per retry), keeps serving what it has, and recovers both by itself once
//! descriptors are free again.
//!
//! The daemon runs in this test process, so the test takes the descriptors itself
//! (under a lowered soft limit). This file holds one test: its own process, so no
//! other test shares the exhausted table.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;

use common::*;
use conmand_core::config::ServerOpts;
use tokio::net::{TcpStream, UnixListener};

/// Open `/dev/null` until the table is full.
fn hog(into: &mut Vec<File>) {
    loop {
        match File::open("/dev/null") {
            Ok(f) => into.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return;
            }
        }
    }
}

#[tokio::test]
async fn out_of_descriptors_at_accept_and_reconnect_is_ridden_out() {
    let (_, hard) = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .map_or((0, 4096), |h| (0, h));
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(512.min(hard)),
            maximum: Some(hard),
        },
    )
    .unwrap();
    let capture = LogCapture::default();
    let _guard = capture.install();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("u.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let srv =
        TestServer::start_in(dir, vec![unix_console("u", &sock)], ServerOpts::default()).await;
    let (dev, _) = within("the console to connect", listener.accept())
        .await
        .unwrap();
    srv.wait_up(&["u"]).await;
    let (mut watcher, _) = Raw::open(srv.addr, "w", None, "MONITOR CONSOLE='u'").await;
    let handle = srv.daemon.as_ref().unwrap().registry().get("u").unwrap();

    // The console's device hangs up; once the daemon has closed its end, take every
    // free descriptor, so its reconnect fails.
    let mut held = Vec::new();
    drop(dev);
    eventually("the console to go down", || !handle.is_up()).await;
    hog(&mut held);
    eventually("the reconnect failure", || {
        capture
            .text()
            .contains("Console [u] cannot connect to device")
            && capture.text().contains("Too many open files\n")
    })
    .await;

    // A client connects (this end takes the one descriptor we give back); the
    // daemon's accept fails.
    held.pop();
    let mut late = TcpStream::connect(srv.addr).await.unwrap();
    eventually("the accept failure", || {
        capture
            .text()
            .contains("Unable to accept new connection: Too many open files")
    })
    .await;
    // Said once, however often the accept is retried meanwhile.
    assert_eq!(
        capture
            .text()
            .matches("Unable to accept new connection")
            .count(),
        1,
        "{}",
        capture.text()
    );

    // Descriptors free again: both recover by themselves.
    drop(held);
    let (mut dev, _) = within("the console to reconnect", listener.accept())
        .await
        .unwrap();
    srv.wait_up(&["u"]).await;
    tokio::io::AsyncWriteExt::write_all(&mut dev, b"after the fault\n")
        .await
        .unwrap();
    watcher.expect(b"after the fault").await;
    tokio::io::AsyncWriteExt::write_all(&mut late, b"HELLO USER='late'\n")
        .await
        .unwrap();
    let mut late = Raw {
        stream: late,
        seen: Vec::new(),
    };
    assert_eq!(late.line().await, "OK");
    eventually("the recovery notice", || {
        capture.text().contains("Accepting connections again after")
    })
    .await;
    drop(late);
    drop(watcher);
    srv.stop().await;
}
