//! Run a real terminal program (the stock `conman` client) on a pty.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{WAIT, find};

/// Where a real peer binary is, or `None` (test skipped) when it is missing and we
/// are not under CI. Under `CI=true` a missing peer fails the test.
pub fn peer(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("peer {path} is missing under CI (run scripts/install-peers.sh)");
    }
    eprintln!("SKIPPED: peer {path} is not installed");
    None
}

/// A program running on a pty.
pub struct PtyProc {
    pub pty: pty_process::Pty,
    pub child: tokio::process::Child,
    pub seen: Vec<u8>,
}

impl PtyProc {
    pub fn spawn(prog: &std::path::Path, args: &[&str]) -> PtyProc {
        let (pty, pts) = pty_process::open().unwrap();
        pty.resize(pty_process::Size::new(24, 80)).unwrap();
        let child = pty_process::Command::new(prog)
            .args(args)
            .env("USER", "tester")
            .kill_on_drop(true)
            .spawn(pts)
            .unwrap();
        PtyProc {
            pty,
            child,
            seen: Vec::new(),
        }
    }

    pub async fn send(&mut self, b: &[u8]) {
        self.pty.write_all(b).await.unwrap();
    }

    async fn fill(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(WAIT, self.pty.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                self.seen.extend_from_slice(&buf[..n]);
                true
            }
            Ok(_) => false,
            Err(_) => panic!("timed out; have {:?}", String::from_utf8_lossy(&self.seen)),
        }
    }

    pub async fn expect(&mut self, needle: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = find(&self.seen, needle) {
                return self.seen.drain(..i + needle.len()).collect();
            }
            assert!(
                self.fill().await,
                "EOF before {:?}; have {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.seen)
            );
        }
    }

    /// Everything until the program exits, and its exit code.
    pub async fn finish(mut self) -> (Vec<u8>, i32) {
        while self.fill().await {}
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        (self.seen, status.code().unwrap_or(-1))
    }
}
