//! Shared helpers for the serial and telnet backend tests: finding peer binaries,
//! socat pty pairs, ser2net, and bounded waits.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Upper bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// The peer binary `name`, or `None` (after printing that the test is skipped) when
/// it is not installed. With `CI=true` a missing peer fails the test instead.
pub fn peer(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("peer binary {name} is missing and CI=true");
        }
        eprintln!("SKIPPED: peer binary {name} not installed");
    }
    found
}

/// Polls `cond` every 10 ms until it holds; panics after [`WAIT`].
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `fut` under [`WAIT`], panicking with `what` on timeout.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Reads from `reader` until exactly `want.len()` bytes arrived, under [`WAIT`].
pub async fn read_exactly(reader: &mut (impl AsyncRead + Unpin), want: &[u8]) {
    let mut got = vec![0; want.len()];
    within("reading expected bytes", reader.read_exact(&mut got))
        .await
        .expect("read");
    assert_eq!(got, want, "got {:?}", String::from_utf8_lossy(&got));
}

/// Sends SIGTERM to a child we started and reaps it.
pub fn terminate(child: &mut Child) {
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let _ = child.wait();
}

/// A socat pty pair: bytes written to one end come out of the other.
pub struct PtyPair {
    child: Child,
    /// One end (the "device" a backend opens).
    pub a: PathBuf,
    /// The other end (the far side of the cable).
    pub b: PathBuf,
}

impl PtyPair {
    /// Starts socat with links `a` and `b` and waits for both to exist.
    pub async fn start(socat: &Path, a: PathBuf, b: PathBuf) -> PtyPair {
        // Stale links (socat killed hard) would satisfy the wait below too early.
        let _ = std::fs::remove_file(&a);
        let _ = std::fs::remove_file(&b);
        let child = Command::new(socat)
            .arg("-d")
            .arg("-d")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn socat");
        let pair = PtyPair { child, a, b };
        wait_until("socat pty links", || pair.a.exists() && pair.b.exists()).await;
        pair
    }

    /// Kills socat (SIGTERM, which also removes its links) and waits for it.
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A ser2net daemon serving one device in telnet mode on 127.0.0.1:`port`.
pub struct Ser2net {
    child: Child,
}

impl Ser2net {
    /// Writes the config into `dir` and starts ser2net; returns once the port accepts.
    pub async fn start(ser2net: &Path, dir: &Path, device: &Path, port: u16) -> Ser2net {
        let config = dir.join("ser2net.yaml");
        std::fs::write(
            &config,
            format!(
                "%YAML 1.1\n---\nconnection: &con1\n    accepter: telnet,tcp,127.0.0.1,{port}\n    \
                 connector: serialdev,{},115200n81,local\n    enable: on\n    options:\n      \
                 kickolduser: true\n",
                device.display()
            ),
        )
        .expect("write ser2net config");
        let child = Command::new(ser2net)
            .arg("-n")
            .arg("-d")
            .arg("-u")
            .arg("-c")
            .arg(&config)
            .arg("-P")
            .arg(dir.join("ser2net.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ser2net");
        let s = Ser2net { child };
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "ser2net never listened"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        s
    }

    /// Kills ser2net and waits for it.
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for Ser2net {
    fn drop(&mut self) {
        self.stop();
    }
}
