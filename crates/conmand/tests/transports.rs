//! Serial and telnet consoles through the whole daemon: the console actor, its
//! messages (exact texts, in client and log) and data both ways.

mod backend_peers;
mod common;

use std::io::{Read, Write};

use common::*;
use conmand_core::config::{ConsoleSpec, LogOpts, SerialOpts, SerialSpec, ServerOpts, TelnetSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn telnet_console_through_the_daemon() {
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("t.log");
    let spec = ConsoleSpec::Telnet(TelnetSpec {
        host: "127.0.0.1".into(),
        port,
    });
    let srv = TestServer::start_in(
        dir,
        vec![def("t", spec, Some(log.clone()), LogOpts::default())],
        ServerOpts::default(),
    )
    .await;
    let (mut dev, _) = server.accept().await.unwrap();
    // ConMan HEAD's opening negotiation.
    let mut opening = [0u8; 15];
    dev.read_exact(&mut opening).await.unwrap();
    assert_eq!(
        opening,
        [
            0xff, 0xfd, 0, 0xff, 0xfd, 1, 0xff, 0xfd, 3, 0xff, 0xfb, 0, 0xff, 0xfb, 3
        ]
    );
    srv.wait_up(&["t"]).await;
    let (mut a, _) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='t'").await;
    // Console data with an escaped 0xFF and a negotiation in the middle.
    dev.write_all(b"login: \xff\xff\xff\xfd\x18ok")
        .await
        .unwrap();
    a.expect(b"login: \xffok").await;
    let mut reply = [0u8; 3];
    dev.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, [0xff, 0xfc, 0x18], "WONT TTYPE");
    a.send(b"root\r\xff\xff").await;
    let mut got = [0u8; 7];
    dev.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"root\r\xff\xff", "0xFF doubled on the telnet side");
    a.send(b"\xffB").await;
    let mut brk = [0u8; 2];
    dev.read_exact(&mut brk).await.unwrap();
    assert_eq!(brk, [0xff, 0xf3], "IAC BRK");
    drop(dev);
    a.expect(
        format!("\r\n<ConMan> Console [t] disconnected from <127.0.0.1:{port}>.\r\n").as_bytes(),
    )
    .await;
    let text = std::fs::read(&log).unwrap();
    assert!(
        find(
            &text,
            format!("<ConMan> Console [t] connected to <127.0.0.1:{port}>.").as_bytes()
        )
        .is_some()
    );
    srv.stop().await;
}

#[tokio::test]
async fn serial_console_through_the_daemon() {
    let Some(socat) = backend_peers::peer("socat") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair =
        backend_peers::PtyPair::start(&socat, dir.path().join("ttyA"), dir.path().join("ttyB"))
            .await;
    let spec = ConsoleSpec::Serial(SerialSpec {
        path: pair.a.clone(),
        opts: SerialOpts {
            bps: 115_200,
            ..Default::default()
        },
    });
    let srv = TestServer::start_in(
        dir,
        vec![def("s", spec, None, LogOpts::default())],
        ServerOpts::default(),
    )
    .await;
    srv.wait_up(&["s"]).await;
    let (mut a, _) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='s'").await;
    let mut far = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&pair.b)
        .unwrap();
    far.write_all(b"boot message\r\n").unwrap();
    a.expect(b"boot message\r\n").await;
    a.send(b"typed").await;
    let mut buf = [0u8; 5];
    let b = pair.b.clone();
    let got = tokio::task::spawn_blocking(move || {
        let _keep = &b;
        far.read_exact(&mut buf).unwrap();
        buf
    })
    .await
    .unwrap();
    assert_eq!(&got, b"typed");
    drop(pair);
    a.expect(b"Console [s] disconnected from \"").await;
    srv.stop().await;
}
