//! SIGHUP behaviour: configuration reload (added, removed, changed, untouched
//! consoles) and log reopen after a rename (logrotate) without losing a line.

mod common;

use common::*;
use conmand_core::config::{Config, LogOpts, ServerOpts};

fn cat(name: &str) -> conmand_core::config::ConsoleDef {
    process_console(name, &["/bin/cat"], None, LogOpts::default())
}

#[tokio::test]
async fn reload_adds_removes_restarts_and_keeps_untouched_clients() {
    let srv = TestServer::start(vec![cat("a"), cat("b"), cat("c")], ServerOpts::default()).await;
    srv.wait_up(&["a", "b", "c"]).await;
    let (mut ca, _) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='a'").await;
    let (mut cb, _) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='b'").await;
    let (mut cc, _) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='c'").await;
    ca.send(b"before\r").await;
    ca.expect(b"before\r").await;

    let mut changed = process_console("c", &["/bin/cat", "-u"], None, LogOpts::default());
    changed.line = 7;
    let new = Config {
        origin: "test.conf".into(),
        server: ServerOpts::default(),
        consoles: vec![cat("a"), changed, cat("d")],
    };
    let summary = srv.daemon.as_ref().unwrap().reload(new).await;
    assert!(summary.contains(&"removed b".to_string()), "{summary:?}");
    assert!(summary.contains(&"changed c".to_string()), "{summary:?}");
    assert!(summary.contains(&"added d".to_string()), "{summary:?}");
    assert_eq!(summary.len(), 3, "{summary:?}");

    let rest_b = cb.until_eof().await;
    assert!(find(&rest_b, b"Console [b] removed from the configuration").is_some());
    let rest_c = cc.until_eof().await;
    assert!(find(&rest_c, b"Console [c] restarted: configuration changed").is_some());
    // The untouched console kept its connection and its client.
    ca.send(b"after\r").await;
    ca.expect(b"after\r").await;
    let (_q, rsp) = Raw::open(srv.addr, "u", None, "QUERY").await;
    assert_eq!(rsp, "OK CONSOLE='a' CONSOLE='c' CONSOLE='d'");
    srv.wait_up(&["c", "d"]).await;
    srv.stop().await;
}

fn numbered_lines(text: &[u8]) -> Vec<u32> {
    text.split(|&b| b == b'\n')
        .filter_map(|l| {
            let i = find(l, b"line ")?;
            let digits: Vec<u8> = l[i + 5..]
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            std::str::from_utf8(&digits).ok()?.parse().ok()
        })
        .collect()
}

#[tokio::test]
async fn rename_and_reopen_loses_no_line() {
    const N: u32 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("seq.log");
    let script = format!(
        "i=0; while [ $i -lt {N} ]; do echo \"line $i\"; i=$((i+1)); \
         [ $((i % 100)) -eq 0 ] && sleep 0.05; done; exec sleep 600"
    );
    let opts = LogOpts {
        lock: true,
        sanitize: false,
        timestamp: true,
    };
    let srv = TestServer::start_in(
        dir,
        vec![process_console(
            "seq",
            &["/bin/sh", "-c", &script],
            Some(log.clone()),
            opts,
        )],
        ServerOpts::default(),
    )
    .await;
    // Rotate while the console is writing: after line 300 is on disk.
    eventually("line 300 in the log", || {
        numbered_lines(&std::fs::read(&log).unwrap_or_default()).contains(&300)
    })
    .await;
    let rotated = log.with_extension("log.1");
    std::fs::rename(&log, &rotated).unwrap();
    srv.daemon.as_ref().unwrap().reopen_logs().await;
    eventually("the last line in the new log", || {
        numbered_lines(&std::fs::read(&log).unwrap_or_default()).contains(&(N - 1))
    })
    .await;
    let old = numbered_lines(&std::fs::read(&rotated).unwrap());
    let new_text = std::fs::read(&log).unwrap();
    assert!(new_text.starts_with(b"\r\n<ConMan> Console [seq] log opened at "));
    let new = numbered_lines(&new_text);
    assert!(
        !new.is_empty() && new.len() < N as usize,
        "rotation was not mid-stream"
    );
    let all: Vec<u32> = old.into_iter().chain(new).collect();
    assert_eq!(all, (0..N).collect::<Vec<_>>());
    srv.stop().await;
}
