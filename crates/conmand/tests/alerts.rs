//! Console alerts end to end, in-process: a device prints a kernel incident, the
//! daemon raises an event with its context and log offset, appends it to `server
//! eventlog=`, and says so in the daemon log; unlogged consoles alert too; `&R`
//! mutes `boot`; a reload changes the rules of running consoles, and a rules file
//! with mistakes keeps the rules in force.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use conmand_core::config::{Config, LogOpts, ServerOpts};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;

const PANIC: &[u8] = b"[  101.000001] sd 0:0:0:0: [sda] Synchronize Cache\r\n\
[  101.200000] Kernel panic - not syncing: Fatal exception in interrupt\r\n\
[  101.200001] CPU: 3 PID: 0 Comm: swapper/3 Tainted: G      D           6.1.0 #1\r\n\
[  101.200002] Call Trace:\r\n\
[  101.200003]  <IRQ>\r\n\
[  101.200004] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---\r\n";

fn logged_unix(name: &str, sock: &Path, log: &Path) -> conmand_core::config::ConsoleDef {
    let mut d = unix_console(name, sock);
    d.log = Some(log.display().to_string());
    d.logopts = LogOpts::default();
    d
}

fn hub(srv: &TestServer) -> Arc<conmand::alerts::AlertHub> {
    srv.daemon.as_ref().unwrap().alerts().clone()
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_on_a_logged_and_an_unlogged_console_raises_events() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let dir = tempfile::tempdir().unwrap();
    let (sa, sb) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let (la, lb) = (
        UnixListener::bind(&sa).unwrap(),
        UnixListener::bind(&sb).unwrap(),
    );
    let log = dir.path().join("a.log");
    let events = dir.path().join("events.jsonl");
    let server = ServerOpts {
        eventlog: Some(events.clone()),
        ..ServerOpts::default()
    };
    let consoles = vec![logged_unix("a", &sa, &log), unix_console("b", &sb)];
    let srv = TestServer::start_in(dir, consoles, server).await;
    let mut da = unix_device(&srv, &la, "a").await;
    let mut db = unix_device(&srv, &lb, "b").await;
    // Some ordinary output first, so the offset is not simply 0.
    da.write_all(b"login: \r\nWelcome to node a\r\n")
        .await
        .unwrap();
    da.write_all(PANIC).await.unwrap();
    db.write_all(PANIC).await.unwrap();
    let h = hub(&srv);
    eventually("both panics raised", || h.events_since(0).len() >= 2).await;
    let evs = h.events_since(0);
    assert_eq!(evs.len(), 2, "{evs:#?}");
    let a = evs.iter().find(|e| &*e.console == "a").expect("event on a");
    let b = evs.iter().find(|e| &*e.console == "b").expect("event on b");
    for e in [a, b] {
        assert_eq!(&*e.rule, "kernel-panic");
        assert_eq!(
            e.line,
            "[  101.200000] Kernel panic - not syncing: Fatal exception in interrupt"
        );
        assert_eq!(e.after.len(), 4, "{:?}", e.after);
        assert!(e.after[3].contains("---[ end Kernel panic"));
    }
    // Context is per console: b never saw a's login lines.
    let sd = "[  101.000001] sd 0:0:0:0: [sda] Synchronize Cache";
    assert_eq!(a.before, ["login: ", "Welcome to node a", sd]);
    assert_eq!(b.before, [sd]);
    assert_eq!(b.log_offset, None, "b has no log");
    // a's offset is where the line starts in its log file.
    srv.daemon.as_ref().unwrap().flush_logs().await;
    let text = std::fs::read(&log).unwrap();
    let off = a.log_offset.expect("a is logged") as usize;
    assert!(
        text[off..].starts_with(b"[  101.200000] Kernel panic"),
        "offset {off} in {:?}",
        String::from_utf8_lossy(&text)
    );
    // The event log has both, as JSON lines with the same ids and fields.
    eventually("event log written", || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.lines().count() == 2)
    })
    .await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ja = lines.iter().find(|j| j["console"] == "a").unwrap();
    assert_eq!(ja["id"], a.id);
    assert_eq!(ja["rule"], "kernel-panic");
    assert_eq!(ja["severity"], "critical");
    assert_eq!(ja["log_offset"], off as u64);
    assert_eq!(ja["context"]["before"][0], a.before[0]);
    assert!(ja["time"].as_str().unwrap().ends_with('Z'));
    assert!(
        capture
            .text()
            .contains("Alert 1 [kernel-panic] on console [")
    );
    assert_eq!(h.counts().len(), 2);
    srv.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_operator_reset_mutes_the_boot_banner_that_follows() {
    let dir = tempfile::tempdir().unwrap();
    let (sa, sb) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let (la, lb) = (
        UnixListener::bind(&sa).unwrap(),
        UnixListener::bind(&sb).unwrap(),
    );
    let server = ServerOpts {
        resetcmd: Some("true".into()),
        ..ServerOpts::default()
    };
    let consoles = vec![unix_console("a", &sa), unix_console("b", &sb)];
    let srv = TestServer::start_in(dir, consoles, server).await;
    let mut da = unix_device(&srv, &la, "a").await;
    let mut db = unix_device(&srv, &lb, "b").await;
    let (mut c, rsp) = Raw::open(srv.addr, "op", None, "CONNECT CONSOLE='a'").await;
    assert!(rsp.starts_with("OK"), "{rsp}");
    c.send(b"\xffR").await;
    c.expect(b"reset by <op@").await;
    let banner = b"[    0.000000] Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP\r\n";
    da.write_all(banner).await.unwrap();
    db.write_all(banner).await.unwrap();
    // A panic after the banner on a: later events prove a's banner was seen.
    da.write_all(PANIC).await.unwrap();
    let h = hub(&srv);
    eventually("b's boot and a's panic", || h.events_since(0).len() >= 2).await;
    let got: Vec<(String, String)> = h
        .events_since(0)
        .iter()
        .map(|e| (e.console.to_string(), e.rule.to_string()))
        .collect();
    assert!(got.contains(&("b".into(), "boot".into())), "{got:?}");
    assert!(
        got.contains(&("a".into(), "kernel-panic".into())),
        "{got:?}"
    );
    assert!(!got.contains(&("a".into(), "boot".into())), "{got:?}");
    srv.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_reload_changes_the_rules_of_running_consoles_and_a_bad_file_keeps_them() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("a.sock");
    let la = UnixListener::bind(&sa).unwrap();
    let rules = dir.path().join("site.rules");
    std::fs::write(&rules, "[rule raid]\nmatch = md/raid\\S*: Disk failure\n").unwrap();
    let server = ServerOpts {
        alerts: Some(rules.clone()),
        alertpack: conmand_core::config::AlertPack::Off,
        ..ServerOpts::default()
    };
    let consoles = vec![unix_console("a", &sa)];
    let config = Config {
        origin: "test.conf".into(),
        server: server.clone(),
        consoles: consoles.clone(),
    };
    let srv = TestServer::start_in(dir, consoles, server).await;
    let mut da = unix_device(&srv, &la, "a").await;
    let h = hub(&srv);
    // The pack is off: a panic says nothing; the site rule fires.
    da.write_all(PANIC).await.unwrap();
    da.write_all(b"md/raid1:md0: Disk failure on sdb1, disabling device.\r\n")
        .await
        .unwrap();
    eventually("raid event", || !h.events_since(0).is_empty()).await;
    assert_eq!(&*h.events_since(0)[0].rule, "raid");
    // A mistake in the file: the reload keeps the rules, and says where.
    std::fs::write(&rules, "[rule raid]\nmatch = (unclosed\n").unwrap();
    let engine = srv.daemon.as_ref().unwrap();
    engine.reload(config.clone()).await;
    let said = capture.text();
    assert!(
        said.contains(&format!("{}:2:", rules.display()))
            && said.contains("keeping the alert rules in use"),
        "{said}"
    );
    let (_, generation) = h.rules();
    // Turning the pack on applies to the running console, no restart.
    let mut on = config.clone();
    on.server.alertpack = conmand_core::config::AlertPack::Builtin;
    std::fs::write(&rules, "[rule raid]\nenabled = no\nmatch = x\n").unwrap();
    let changes = engine.reload(on).await;
    assert!(h.rules().1 > generation);
    assert!(
        changes.iter().all(|c| !c.contains("changed a")),
        "console restarted: {changes:?}"
    );
    da.write_all(PANIC).await.unwrap();
    eventually("panic event after reload", || {
        h.events_since(0).iter().any(|e| &*e.rule == "kernel-panic")
    })
    .await;
    // A reload that changes nothing in the rules (logrotate's nightly SIGHUP)
    // keeps them, and with them the consoles' de-dup windows: the same panic
    // again is held back, not raised.
    let (_, generation) = h.rules();
    let mut same = config.clone();
    same.server.alertpack = conmand_core::config::AlertPack::Builtin;
    engine.reload(same).await;
    assert_eq!(h.rules().1, generation, "unchanged rules were replaced");
    da.write_all(PANIC).await.unwrap();
    da.write_all(b"md/raid1:md0: Disk failure on sdc1\r\n")
        .await
        .unwrap();
    // The raid rule is off now; a marker rule fires instead: use an oops as the
    // sentinel that output after the panic was scanned.
    da.write_all(b"[  55.1] BUG: kernel NULL pointer dereference, address: 0000000000000008\r\n")
        .await
        .unwrap();
    eventually("the oops after the repeated panic", || {
        h.events_since(0).iter().any(|e| &*e.rule == "oops")
    })
    .await;
    let panics = h
        .events_since(0)
        .iter()
        .filter(|e| &*e.rule == "kernel-panic")
        .count();
    assert_eq!(panics, 1, "the repeat inside the de-dup window was raised");
    srv.stop().await;
}

/// A rules file with a mistake stops the daemon before it detaches: the shell that
/// started it gets the message and a failure status (not 0 and a line in a log).
#[test]
fn a_bad_rules_file_fails_the_start_where_the_operator_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("site.rules");
    std::fs::write(&rules, "[rule raid]\nmatch = (unclosed\n").unwrap();
    let conf = dir.path().join("conman.conf");
    std::fs::write(
        &conf,
        format!(
            "server port=0\nserver pidfile=\"{}\"\nserver alerts=\"{}\"\nconsole name=\"c\" dev=\"/bin/cat\"\n",
            dir.path().join("conmand.pid").display(),
            rules.display()
        ),
    )
    .unwrap();
    // Daemonizing (no -F): the parent reports the grandchild's failure.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_conmand"))
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Unable to load alert rules")
            && err.contains(&format!("{}:2:", rules.display())),
        "{err}"
    );
}
