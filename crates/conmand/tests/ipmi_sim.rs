//! The IPMI SOL backend against the real OpenIPMI `ipmi_sim` on loopback.
//!
//! Each test writes its own lan.conf/emu into a temp dir, picks a free UDP
//! port, and plays the host's serial port itself: ipmi_sim's `sol "tcp:…"`
//! connects out to a TCP listener owned by the test. Skipped (with a message)
//! when ipmi_sim is not installed, unless CI=true.

#![allow(clippy::unwrap_used)]

mod ipmi_common;

use std::path::Path;
use std::time::Duration;

use conmand::console::backend::ipmi::IpmiBackend;
use conmand::console::backend::{Backend, OpenError};
use conmand_core::ipmi::{CipherSuite, IpmiCredentials, SessionOptions, Timing};
use ipmi_common::{peer, read_to_eof, read_until};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const T: Duration = Duration::from_secs(20);

/// One running ipmi_sim plus the host side of its SOL port.
struct Sim {
    child: Child,
    udp_port: u16,
    host: TcpStream,
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

async fn start_sim(bin: &Path, dir: &Path, udp_port: u16) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sol_port = listener.local_addr().unwrap().port();
    let state = dir.join(format!("state-{udp_port}-{sol_port}"));
    std::fs::create_dir_all(&state).unwrap();
    let lan = dir.join("lan.conf");
    std::fs::write(
        &lan,
        format!(
            "name \"rsbmc\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {udp_port}\n    priv_limit admin\n    allowed_auths_callback none md2 md5 straight\n    allowed_auths_user none md2 md5 straight\n    allowed_auths_operator none md2 md5 straight\n    allowed_auths_admin none md2 md5 straight\n    guid a123456789abcdefa123456789abcdef\n  endlan\n  user 1 true  \"\"      \"test\"   user  10 none md2 md5 straight\n  user 2 true  \"admin\" \"secret\" admin 10 none md2 md5 straight\n  sol \"tcp:127.0.0.1:{sol_port}\" 115200\n"
        ),
    )
    .unwrap();
    let emu = dir.join("bmc.emu");
    std::fs::write(
        &emu,
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n",
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("-n")
        .arg("-c")
        .arg(&lan)
        .arg("-f")
        .arg(&emu)
        .arg("-s")
        .arg(&state)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // ipmi_sim connects its SOL port at start-up: that is our "ready" signal.
    let (host, _) = tokio::time::timeout(T, listener.accept())
        .await
        .expect("ipmi_sim did not connect its SOL port")
        .unwrap();
    Sim {
        child,
        udp_port,
        host,
    }
}

fn creds(pw: &str) -> IpmiCredentials {
    IpmiCredentials {
        username: "admin".into(),
        password: pw.as_bytes().to_vec(),
        k_g: None,
    }
}

fn backend(port: u16, suite: u8, pw: &str, timing: Timing) -> IpmiBackend {
    let opts = SessionOptions {
        suite: CipherSuite::from_id(suite).unwrap(),
        timing,
        ..SessionOptions::default()
    };
    IpmiBackend::with_options("127.0.0.1".into(), Some(port), creds(pw), opts).unwrap()
}

/// Fast timers so failures surface quickly on loopback.
fn quick() -> Timing {
    Timing {
        retransmit_base: Duration::from_millis(200),
        retransmit_step: Duration::from_millis(100),
        max_retransmits: 5,
        keepalive_interval: Duration::from_secs(1),
        session_timeout: Duration::from_secs(4),
        ..Timing::default()
    }
}

#[tokio::test]
async fn bytes_both_ways_and_break_on_every_interoperable_suite() {
    let Some(bin) = peer("ipmi_sim") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut sim = start_sim(&bin, dir.path(), free_udp_port()).await;
    for suite in [3u8, 0, 1, 2, 6, 11] {
        let b = backend(sim.udp_port, suite, "secret", Timing::default());
        assert_eq!(b.describe(), format!("<127.0.0.1:{}>", sim.udp_port));
        let mut conn = tokio::time::timeout(T, b.open())
            .await
            .expect("open timed out")
            .unwrap_or_else(|e| panic!("suite {suite}: {e}"));
        // Host → console.
        let line = format!("host says hi on suite {suite}\r\n");
        sim.host.write_all(line.as_bytes()).await.unwrap();
        let mut got = vec![];
        read_until(&mut conn.reader, &mut got, line.as_bytes(), T).await;
        // Console → host, longer than one SOL packet (ipmi_sim takes 28).
        let typed = format!("typed-{suite}-{}", "x".repeat(100));
        conn.writer.write_all(typed.as_bytes()).await.unwrap();
        let mut at_host = vec![];
        read_until(&mut sim.host, &mut at_host, typed.as_bytes(), T).await;
        // Break: ipmi_sim's tcp: host side shows IAC BRK (FF F3), flushed with
        // the next byte.
        conn.writer.send_break().await.unwrap();
        conn.writer.write_all(b"!").await.unwrap();
        let mut brk = vec![];
        read_until(&mut sim.host, &mut brk, b"\xff\xf3", T).await;
        read_until(&mut sim.host, &mut brk, b"!", T).await;
        let pos_brk = brk.windows(2).position(|w| w == b"\xff\xf3").unwrap();
        let pos_bang = brk.iter().position(|c| *c == b'!').unwrap();
        assert!(pos_brk < pos_bang, "break after later input: {brk:?}");
        drop(conn);
    }
}

#[tokio::test]
async fn wrong_password_is_a_clear_error() {
    let Some(bin) = peer("ipmi_sim") else { return };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(&bin, dir.path(), free_udp_port()).await;
    let b = backend(sim.udp_port, 3, "not-the-password", Timing::default());
    match tokio::time::timeout(T, b.open())
        .await
        .expect("open timed out")
    {
        Err(OpenError::Failed(msg)) => assert_eq!(msg, "authentication failed"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("wrong password accepted"),
    }
}

#[tokio::test]
async fn second_console_steals_an_active_payload() {
    let Some(bin) = peer("ipmi_sim") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut sim = start_sim(&bin, dir.path(), free_udp_port()).await;
    let b = backend(sim.udp_port, 3, "secret", quick());
    let mut first = tokio::time::timeout(T, b.open()).await.unwrap().unwrap();
    sim.host.write_all(b"to the owner\r\n").await.unwrap();
    let mut got = vec![];
    read_until(&mut first.reader, &mut got, b"owner\r\n", T).await;
    // ipmi_sim answers a second Activate with 0x80: we deactivate and retake.
    let mut second = tokio::time::timeout(T, b.open()).await.unwrap().unwrap();
    sim.host.write_all(b"to the thief\r\n").await.unwrap();
    let mut got = vec![];
    read_until(&mut second.reader, &mut got, b"thief\r\n", T).await;
    // ipmi_sim tells the old owner nothing; its ownership probe notices.
    read_to_eof(&mut first.reader, T).await;
}

#[tokio::test]
async fn killed_bmc_ends_the_reader_and_a_restarted_one_reconnects() {
    let Some(bin) = peer("ipmi_sim") else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut sim = start_sim(&bin, dir.path(), port).await;
    let b = backend(port, 3, "secret", quick());
    let mut conn = tokio::time::timeout(T, b.open()).await.unwrap().unwrap();
    sim.host.write_all(b"before\r\n").await.unwrap();
    let mut got = vec![];
    read_until(&mut conn.reader, &mut got, b"before\r\n", T).await;
    // Kill by PID (never by name: other sessions run their own ipmi_sim).
    sim.child.start_kill().unwrap();
    sim.child.wait().await.unwrap();
    read_to_eof(&mut conn.reader, T).await;
    drop(conn);
    // Restart on the same UDP port; a new open works.
    let mut sim = start_sim(&bin, dir.path(), port).await;
    let mut conn = tokio::time::timeout(T, b.open()).await.unwrap().unwrap();
    sim.host.write_all(b"after\r\n").await.unwrap();
    let mut got = vec![];
    read_until(&mut conn.reader, &mut got, b"after\r\n", T).await;
}

#[tokio::test]
async fn busy_session_outlives_ipmi_sims_30s_idle_timeout() {
    // ipmi_sim drops a session 30 s after its last *IPMI* message; SOL traffic
    // does not count (its timeout is not configurable, so this test needs ~36 s).
    // Our keepalive runs every 10 s whatever the SOL traffic.
    let Some(bin) = peer("ipmi_sim") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut sim = start_sim(&bin, dir.path(), free_udp_port()).await;
    let timing = Timing {
        keepalive_interval: keepalive_for_busy_test(),
        ..Timing::default()
    };
    let b = backend(sim.udp_port, 3, "secret", timing);
    let mut conn = tokio::time::timeout(T, b.open()).await.unwrap().unwrap();
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut got = vec![];
    let mut i = 0u32;
    while start.elapsed() < Duration::from_secs(36) {
        tick.tick().await;
        i += 1;
        let line = format!("tick {i}\r\n");
        sim.host.write_all(line.as_bytes()).await.unwrap();
        read_until(
            &mut conn.reader,
            &mut got,
            line.as_bytes(),
            Duration::from_secs(5),
        )
        .await;
    }
    // And input still reaches the host at the end.
    conn.writer.write_all(b"still here").await.unwrap();
    let mut at_host = vec![];
    read_until(&mut sim.host, &mut at_host, b"still here", T).await;
}

/// The keepalive interval for the busy-session test. `IPMI_TEST_KEEPALIVE_SECS`
/// lets a developer check that the test fails without a keepalive (set it to
/// e.g. 1000: ipmi_sim then drops the session at ~30 s and output stops).
fn keepalive_for_busy_test() -> Duration {
    std::env::var("IPMI_TEST_KEEPALIVE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Timing::default().keepalive_interval, Duration::from_secs)
}
