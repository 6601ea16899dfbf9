//! The telnet backend against an in-process fake terminal server (negotiation edge
//! cases) and against a real ser2net in telnet mode in front of a socat pty pair.

#![allow(clippy::unwrap_used)]

mod backend_peers;

use backend_peers::{PtyPair, Ser2net, free_port, peer, read_exactly, within};
use conmand::console::backend::serial::SerialBackend;
use conmand::console::backend::telnet::TelnetBackend;
use conmand::console::backend::{Backend, Connection, OpenError};
use conmand_core::config::{SerialOpts, SerialSpec, TelnetSpec};
use conmand_core::telnet::OPENING;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn backend(host: &str, port: u16) -> TelnetBackend {
    TelnetBackend::new(
        &TelnetSpec {
            host: host.into(),
            port,
        },
        "ts",
        true,
    )
}

/// Opens a backend to `listener` and accepts the server side; checks the opening.
async fn connect(listener: &TcpListener) -> (Connection, TcpStream) {
    let addr = listener.local_addr().unwrap();
    let be = backend(&addr.ip().to_string(), addr.port());
    let (conn, accepted) = within("connect", async {
        tokio::join!(be.open(), listener.accept())
    })
    .await;
    let (mut server, _) = accepted.unwrap();
    read_exactly(&mut server, &OPENING).await;
    (conn.expect("open"), server)
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test]
async fn sends_the_opening_and_describes_conman_style() {
    let l = listener().await;
    let port = l.local_addr().unwrap().port();
    let (conn, mut server) = connect(&l).await;
    assert_eq!(
        conn.connected_target.as_deref(),
        Some(format!("<127.0.0.1:{port}>").as_str())
    );
    // Exactly the opening: nothing else follows while nobody writes.
    drop(conn);
    let mut rest = Vec::new();
    within("EOF after drop", server.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(rest.is_empty(), "unexpected bytes {rest:x?}");
}

#[tokio::test]
async fn answers_unknown_options_without_any_client_input() {
    let l = listener().await;
    let (mut conn, mut server) = connect(&l).await;
    // Commands only, no data: the reader must still consume them and send replies.
    server
        .write_all(&[0xFF, 0xFD, 24, 0xFF, 0xFB, 5, 0xFF, 0xFD, 0, 0xFF, 0xFB, 1])
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let reading = conn.reader.read(&mut buf);
    tokio::pin!(reading);
    let mut got = [0u8; 6];
    tokio::select! {
        r = &mut reading => panic!("reader returned {r:?} with no data sent"),
        r = within("replies", server.read_exact(&mut got)) => { r.unwrap(); }
    }
    assert_eq!(got, [0xFF, 0xFC, 24, 0xFF, 0xFE, 5]);
    // Then data flows.
    server.write_all(b"ok").await.unwrap();
    let n = within("data", reading).await.unwrap();
    assert_eq!(&buf[..n], b"ok");
}

#[tokio::test]
async fn split_sequences_and_escaped_iac_in_subnegotiation() {
    let l = listener().await;
    let (mut conn, mut server) = connect(&l).await;
    server.set_nodelay(true).unwrap();
    let stream: Vec<u8> = [
        &b"a"[..],
        &[0xFF, 0xFD, 24],                               // DO TTYPE
        &[0xFF, 0xFA, 24, 1, 0xFF, 0xFF, 7, 0xFF, 0xF0], // SB with IAC IAC inside
        &[0xFF, 0xFF],                                   // data 0xFF
        &[0xFF, 0xF1],                                   // NOP
        b"b",
    ]
    .concat();
    let server_task = tokio::spawn(async move {
        for byte in stream {
            server.write_all(&[byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        let mut reply = [0u8; 3];
        server.read_exact(&mut reply).await.unwrap();
        server.shutdown().await.unwrap();
        reply
    });
    let mut data = Vec::new();
    within("all data to EOF", conn.reader.read_to_end(&mut data))
        .await
        .unwrap();
    assert_eq!(data, b"a\xffb");
    assert_eq!(server_task.await.unwrap(), [0xFF, 0xFC, 24]);
}

#[tokio::test]
async fn client_ff_is_doubled_and_break_is_iac_brk() {
    let l = listener().await;
    let (mut conn, mut server) = connect(&l).await;
    conn.writer.write_all(b"a\xffb").await.unwrap();
    conn.writer.send_break().await.unwrap();
    conn.writer.write_all(b"\xff").await.unwrap();
    read_exactly(&mut server, b"a\xff\xffb\xff\xf3\xff\xff").await;
}

#[tokio::test]
async fn server_closing_mid_negotiation_is_eof() {
    let l = listener().await;
    let (mut conn, mut server) = connect(&l).await;
    server.write_all(&[b'x', 0xFF, 0xFD]).await.unwrap(); // IAC DO, option never comes
    drop(server);
    let mut data = Vec::new();
    within("EOF", conn.reader.read_to_end(&mut data))
        .await
        .unwrap();
    assert_eq!(data, b"x");
}

#[tokio::test]
async fn refused_connection_is_retry() {
    let port = free_port();
    match within("open", backend("127.0.0.1", port).open()).await {
        Err(OpenError::Retry(msg)) => assert_eq!(
            msg,
            format!("Unable to connect to <127.0.0.1:{port}> for [ts]: Connection refused")
        ),
        other => panic!("expected Retry, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn ipv6_loopback() {
    let Ok(l) = TcpListener::bind("[::1]:0").await else {
        eprintln!("SKIPPED: no IPv6 loopback");
        return;
    };
    let port = l.local_addr().unwrap().port();
    let be = backend("::1", port);
    assert_eq!(be.describe(), format!("<[::1]:{port}>"));
    let (conn, accepted) = within("connect", async { tokio::join!(be.open(), l.accept()) }).await;
    let (mut server, _) = accepted.unwrap();
    let mut conn = conn.unwrap();
    read_exactly(&mut server, &OPENING).await;
    server.write_all(b"v6").await.unwrap();
    read_exactly(&mut conn.reader, b"v6").await;
}

/// ser2net in telnet mode on a socat pty: data and 0xFF both ways, then ser2net dies
/// and comes back and a new open works.
#[tokio::test]
async fn ser2net_round_trip_and_restart() {
    let Some(socat) = peer("socat") else { return };
    let Some(ser2net) = peer("ser2net") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = PtyPair::start(&socat, dir.path().join("dev"), dir.path().join("host")).await;
    let port = free_port();
    let mut server = Ser2net::start(&ser2net, dir.path(), &pair.a, port).await;
    // The far side of the cable, driven with our own serial backend.
    let far = SerialBackend::new(
        &SerialSpec {
            path: pair.b.clone(),
            opts: SerialOpts::default(),
        },
        "far",
    );
    let mut far = within("open far end", far.open()).await.unwrap();

    let be = backend("127.0.0.1", port);
    let mut conn = within("open telnet", be.open()).await.expect("open");
    conn.writer.write_all(b"ping\xff\r").await.unwrap();
    read_exactly(&mut far.reader, b"ping\xff\r").await;
    far.writer.write_all(b"pong\xff\x00!").await.unwrap();
    read_exactly(&mut conn.reader, b"pong\xff\x00!").await;

    server.stop();
    let mut buf = [0u8; 64];
    match within("reader end after ser2net died", conn.reader.read(&mut buf)).await {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("read {n} bytes after ser2net died: {:?}", &buf[..n]),
    }
    drop(conn);

    let _server = Ser2net::start(&ser2net, dir.path(), &pair.a, port).await;
    let mut conn = within("reopen telnet", be.open()).await.expect("reopen");
    conn.writer.write_all(b"again").await.unwrap();
    read_exactly(&mut far.reader, b"again").await;
    far.writer.write_all(b"\xff\xffback").await.unwrap();
    read_exactly(&mut conn.reader, b"\xff\xffback").await;
}

/// Measurement, not a check (`cargo test -p conmand --test telnet_backend -- --ignored
/// --nocapture`): 1,000 telnet opens against a server that accepts and never sends,
/// while another console's echo round trips keep going on a single-threaded runtime.
/// Prints timings; asserts only that everything opened and the echo kept flowing.
/// Runs once on a current-thread runtime and once on a 2-worker multi-thread runtime.
#[test]
#[ignore = "measurement; run by hand with --nocapture"]
fn measure_many_opens_do_not_block_the_runtime() {
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    current.block_on(measure_opens("current_thread"));
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    multi.block_on(measure_opens("multi_thread(2)"));
}

async fn measure_opens(flavor: &str) {
    use std::time::{Duration, Instant};
    const N: usize = 1000;
    println!("--- {flavor} runtime");

    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let need = 2 * N as u64 + 256;
    if nofile.current.is_some_and(|c| c < need) {
        let raised = rustix::process::Rlimit {
            current: nofile.maximum,
            maximum: nofile.maximum,
        };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).unwrap();
    }

    // The slow terminal server: accepts, holds the socket, never sends or reads. Its
    // backlog is raised from std's 128 so the kernel does not drop SYNs (which would
    // measure TCP's 1 s SYN retransmit, not us).
    let slow = tokio::net::TcpSocket::new_v4().unwrap();
    slow.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let slow = slow.listen(4096).unwrap();
    let slow_port = slow.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut held = Vec::with_capacity(N);
        while held.len() < N {
            held.push(slow.accept().await.unwrap().0);
        }
        held
    });

    // The busy console: an echo server behind a telnet backend.
    let echo = listener().await;
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = echo.accept().await.unwrap();
        let mut opening = [0u8; OPENING.len()];
        s.read_exact(&mut opening).await.unwrap();
        let mut buf = [0u8; 256];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            s.write_all(&buf[..n]).await.unwrap();
        }
    });
    let mut busy = backend("127.0.0.1", echo_port).open().await.unwrap();
    // Baseline round trips.
    let mut baseline = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        busy.writer.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        busy.reader.read_exact(&mut b).await.unwrap();
        baseline.push(t.elapsed());
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = tokio::spawn({
        let stop = std::sync::Arc::clone(&stop);
        async move {
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                busy.writer.write_all(b"y").await.unwrap();
                let mut b = [0u8; 1];
                busy.reader.read_exact(&mut b).await.unwrap();
                samples.push(t.elapsed());
            }
            samples
        }
    });

    let started = Instant::now();
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..N {
        opens.spawn(async move {
            let t = Instant::now();
            let be = backend("127.0.0.1", slow_port);
            let (conn, longest_poll) = timed_polls(be.open()).await;
            (conn.expect("open"), t.elapsed(), longest_poll)
        });
    }
    let mut conns = Vec::with_capacity(N);
    let mut open_times = Vec::with_capacity(N);
    let mut polls = Vec::with_capacity(N);
    while let Some(r) = opens.join_next().await {
        let (conn, t, longest_poll) = r.unwrap();
        conns.push(conn);
        open_times.push(t);
        polls.push(longest_poll);
    }
    let all_open = started.elapsed();
    // Every connection now has a reader parked, as console actors would.
    let readers: Vec<_> = conns
        .into_iter()
        .map(|mut c| tokio::spawn(async move { c.reader.read(&mut [0u8; 64]).await.map(|_| c) }))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await; // measurement window, not sync
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = prober.await.unwrap();
    let held = held.await.unwrap();
    assert_eq!(held.len(), N);
    assert!(!samples.is_empty());
    for r in readers {
        r.abort();
    }

    let stats = |v: &mut Vec<Duration>| {
        v.sort();
        let p = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
        let over = |ms| v.iter().filter(|d| **d > Duration::from_millis(ms)).count();
        format!(
            "n={} p50={:?} p99={:?} max={:?} >1ms={} >10ms={}",
            v.len(),
            p(0.5),
            p(0.99),
            v[v.len() - 1],
            over(1),
            over(10)
        )
    };
    let mut samples = samples;
    println!("baseline echo RTT (idle):        {}", stats(&mut baseline));
    println!(
        "echo RTT during {N} opens + 300 ms: {}",
        stats(&mut samples)
    );
    println!(
        "{N} opens: all done in {all_open:?}; per open {}",
        stats(&mut open_times)
    );
    println!("longest single poll of each open(): {}", stats(&mut polls));
}

/// Runs `fut`, returning its output and the longest time any single `poll` took: the
/// time it held the runtime thread.
async fn timed_polls<F: std::future::Future>(fut: F) -> (F::Output, std::time::Duration) {
    let mut fut = std::pin::pin!(fut);
    let mut longest = std::time::Duration::ZERO;
    let out = std::future::poll_fn(|cx| {
        let t = std::time::Instant::now();
        let r = fut.as_mut().poll(cx);
        longest = longest.max(t.elapsed());
        r
    })
    .await;
    (out, longest)
}

/// A server whose accept queue is full drops our SYN, so the connect hangs: the open
/// gives up after `CONNECT_TIMEOUT` (virtual time here).
#[tokio::test(start_paused = true)]
async fn hanging_connect_times_out() {
    use conmand::console::backend::telnet::CONNECT_TIMEOUT;
    use std::time::Duration;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let l = sock.listen(0).unwrap();
    let addr = l.local_addr().unwrap();
    // Fill the accept queue until a connect no longer completes.
    let mut filled = Vec::new();
    loop {
        assert!(filled.len() < 64, "accept queue never filled");
        match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
            Ok(s) => filled.push(s.unwrap()),
            Err(_) => break,
        }
    }
    let start = tokio::time::Instant::now();
    match backend("127.0.0.1", addr.port()).open().await {
        Err(OpenError::Retry(msg)) => assert_eq!(
            msg,
            format!(
                "Unable to connect to <127.0.0.1:{}> for [ts]: Connection timed out",
                addr.port()
            )
        ),
        other => panic!("expected Retry, got {:?}", other.map(|_| ())),
    }
    assert_eq!(start.elapsed(), CONNECT_TIMEOUT);
}

/// After the server goes away the writer starts failing too (the flusher stops), so
/// the console notices on either side.
#[tokio::test]
async fn writer_fails_after_the_server_is_gone() {
    let l = listener().await;
    let (mut conn, server) = connect(&l).await;
    drop(server);
    let mut data = Vec::new();
    within("EOF", conn.reader.read_to_end(&mut data))
        .await
        .unwrap();
    let failed = within("a write error", async {
        loop {
            if let Err(e) = conn.writer.write_all(b"still there?").await {
                return e;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(failed.kind(), std::io::ErrorKind::BrokenPipe);
}
