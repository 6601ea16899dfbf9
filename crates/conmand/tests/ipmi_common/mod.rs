//! Shared helpers for the IPMI backend tests: finding peer binaries, and
//! reading/writing with timeouts (tests never sleep to synchronise).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Locate a peer binary on `PATH`. When it is missing, print that the test is
/// skipped and return `None` — unless `CI=true`, where a missing peer fails.
pub fn peer(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("peer binary {name} is missing and CI=true");
        }
        eprintln!("SKIPPED: peer binary {name} not installed");
    }
    found
}

/// Read from `r` into `acc` until `acc` contains `needle`; panics after `limit`.
pub async fn read_until<R: AsyncRead + Unpin>(
    r: &mut R,
    acc: &mut Vec<u8>,
    needle: &[u8],
    limit: Duration,
) {
    let fut = async {
        let mut buf = [0u8; 1024];
        while !contains(acc, needle) {
            let n = r.read(&mut buf).await.expect("read");
            assert!(
                n > 0,
                "EOF before {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(acc)
            );
            acc.extend_from_slice(&buf[..n]);
        }
    };
    if tokio::time::timeout(limit, fut).await.is_err() {
        panic!(
            "timeout waiting for {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(acc)
        );
    }
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Read until EOF (or error); panics after `limit`.
pub async fn read_to_eof<R: AsyncRead + Unpin>(r: &mut R, limit: Duration) {
    let fut = async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    };
    tokio::time::timeout(limit, fut)
        .await
        .expect("reader did not reach EOF in time");
}
