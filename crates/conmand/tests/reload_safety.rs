//! Reload safety (issue 12): a console never has two actors on one device or log, a
//! stuck old actor does not hold up the reload (or SIGTERM), a `conman.pswd` that
//! cannot be read at SIGHUP keeps the passwords in use, and logrotate's
//! `--reopen-logs` reopens logs without applying the configuration.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use conmand::engine::EngineOpts;
use conmand_core::config::{Config, LogOpts, ServerOpts};
use tokio::io::AsyncReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_conmand");

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// A console program that, once it reads a line, prints 200 KB and `END-MARK`, then
/// echoes.
fn chatty(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("chatty.sh");
    std::fs::write(
        &script,
        "#!/bin/sh
read go
head -c 200000 /dev/zero | tr '\\000' x
echo END-MARK
exec cat
",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A console logged to a FIFO nobody reads fills the pipe, and its log writer then
/// blocks in write(2): the console cannot close its log, so its actor is stuck when
/// a reload stops it.
#[tokio::test]
async fn a_stuck_old_actor_delays_only_its_own_restart_and_never_overlaps() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.fifo");
    mkfifo(&fifo);
    let prog = chatty(dir.path());
    let x = process_console(
        "x",
        &[prog.to_str().unwrap()],
        Some(fifo.clone()),
        LogOpts::default(),
    );
    let opts = EngineOpts {
        reload_wait: Duration::from_secs(1),
        log_threads: 2,
        ..EngineOpts::default()
    };
    let srv = TestServer::start_with(
        dir,
        vec![x.clone(), test_console("y")],
        ServerOpts::default(),
        opts,
    )
    .await;
    srv.wait_up(&["x", "y"]).await;
    let daemon = srv.daemon.as_ref().unwrap();
    let old = daemon.registry().get("x").unwrap();
    // Make x print 200 KB: once its actor has passed it all on (the client sees the
    // end), the log writer holds it and blocks on the full pipe; the actor's close
    // then waits behind it.
    let (mut c, _) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='x'").await;
    c.send(b"go\r\n").await;
    c.expect(b"END-MARK").await;
    drop(c);

    // Change x (its log options), add z.
    let mut x2 = x.clone();
    x2.logopts.timestamp = true;
    let new = Config {
        origin: "test.conf".into(),
        server: ServerOpts::default(),
        consoles: vec![x2, test_console("y"), test_console("z")],
    };
    let started = Instant::now();
    let summary = daemon.reload(new).await;
    let took = started.elapsed();
    assert!(summary.contains(&"changed x".to_string()), "{summary:?}");
    assert!(took < Duration::from_secs(10), "the reload took {took:?}");
    assert!(
        capture.text().contains("still closing after 1s"),
        "{}",
        capture.text()
    );
    // The rest of the reload applied: z is there; x is still the old actor.
    let (_q, rsp) = Raw::open(srv.addr, "u", None, "QUERY").await;
    assert_eq!(rsp, "OK CONSOLE='x' CONSOLE='y' CONSOLE='z'");
    assert!(daemon.registry().get("x").unwrap().same(&old));
    assert!(!old.is_closed(), "the old actor should still be closing");

    // Let the log writer through: the old actor finishes closing, then (and only
    // then) the new one starts.
    let reader = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&fifo).unwrap();
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut f, &mut sink);
    });
    eventually("the new x", || {
        let now = daemon.registry().get("x").unwrap();
        if now.same(&old) {
            return false;
        }
        assert!(old.is_closed(), "a new actor while the old one still runs");
        true
    })
    .await;
    srv.wait_up(&["x"]).await;
    let (mut c, _) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='x'").await;
    // The new actor runs the program afresh: it prints again, now to a read FIFO.
    c.send(b"again\r\n").await;
    c.expect(b"END-MARK").await;
    assert!(
        capture
            .text()
            .contains("Console [x] restarted: its old connection is closed")
    );
    drop(c);
    srv.stop().await;
    reader.await.unwrap();
}

fn write_conf(dir: &Path, consoles: &str) -> PathBuf {
    let conf = dir.join("conman.conf");
    std::fs::write(
        &conf,
        format!(
            "server logdir=\"{}\"\nserver logfile=\"daemon.log\"\nserver port=0\n{consoles}",
            dir.display()
        ),
    )
    .unwrap();
    conf
}

fn daemon_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
}

fn ctl(flag: &str, conf: &Path) {
    let out = Command::new(BIN)
        .arg(flag)
        .arg("-c")
        .arg(conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start the daemonized binary; returns its TCP port.
async fn start(conf: &Path, extra: &[&str]) -> u16 {
    let out = Command::new(BIN)
        .arg("-c")
        .arg(conf)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = conf.parent().unwrap();
    let mut port = 0;
    eventually("the Listening line", || {
        port = daemon_log(dir)
            .lines()
            .find_map(|l| {
                l.split("Listening on TCP port ")
                    .nth(1)?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        port != 0
    })
    .await;
    port
}

#[tokio::test]
async fn a_pswd_file_unreadable_at_sighup_keeps_the_passwords_in_use() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        "console name=\"bmc\" dev=\"ipmi:127.0.0.1:9\"\n",
    );
    let pswd = dir.path().join("conman.pswd");
    std::fs::write(&pswd, "127\\.0\\.0\\.1 : admin : first\n").unwrap();
    std::fs::set_permissions(&pswd, std::fs::Permissions::from_mode(0o600)).unwrap();
    start(&conf, &["--pswd", pswd.to_str().unwrap()]).await;
    let count = |what: &str| daemon_log(dir.path()).matches(what).count();

    // Mid-rewrite: the file is briefly gone.
    let aside = dir.path().join("conman.pswd.tmp");
    std::fs::rename(&pswd, &aside).unwrap();
    ctl("-r", &conf);
    eventually("the first reload", || {
        count("keeping the IPMI passwords in use") == 1
    })
    .await;
    // A half-written file (a line cut short) is not taken either.
    std::fs::write(&pswd, "127\\.0\\.0\\.1 : admin\n").unwrap();
    std::fs::set_permissions(&pswd, std::fs::Permissions::from_mode(0o600)).unwrap();
    ctl("-r", &conf);
    eventually("the second reload", || {
        count("keeping the IPMI passwords in use") == 2
    })
    .await;
    assert_eq!(
        count("Reconfig: console changed bmc"),
        0,
        "{}",
        daemon_log(dir.path())
    );
    // A good new password restarts the console.
    std::fs::write(&pswd, "127\\.0\\.0\\.1 : admin : second\n").unwrap();
    ctl("-r", &conf);
    eventually("the restart", || {
        count("Reconfig: console changed bmc") == 1
    })
    .await;
    ctl("-k", &conf);
}

#[tokio::test]
async fn reopen_logs_reopens_without_applying_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        "console name=\"c1\" dev=\"/bin/cat\" log=\"c1.log\"\n",
    );
    let port = start(&conf, &[]).await;
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (mut c, _) = Raw::open(addr, "u", None, "CONNECT CONSOLE='c1'").await;
    c.send(b"before\r").await;
    c.expect(b"before").await;
    // logrotate renames, the configuration has meanwhile an unreviewed edit.
    let log = dir.path().join("c1.log");
    std::fs::rename(&log, dir.path().join("c1.log.1")).unwrap();
    write_conf(
        dir.path(),
        "console name=\"c1\" dev=\"/bin/cat\" log=\"c1.log\"\nconsole name=\"c2\" dev=\"/bin/cat\"\n",
    );
    ctl("--reopen-logs", &conf);
    eventually("the reopened log", || log.exists()).await;
    c.send(b"after\r").await;
    c.expect(b"after").await;
    eventually("the new line in the new log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("after")
    })
    .await;
    let rotated = std::fs::read_to_string(dir.path().join("c1.log.1")).unwrap();
    assert!(rotated.contains("before") && !rotated.contains("after"));
    assert!(daemon_log(dir.path()).contains("Reopening logs on signal=10"));
    // Not applied: no c2, and the client kept its session.
    let (_q, rsp) = Raw::open(addr, "u", None, "QUERY").await;
    assert_eq!(rsp, "OK CONSOLE='c1'");
    // The shipped logrotate rules use this path, not SIGHUP.
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/logrotate/conman"),
    )
    .unwrap();
    assert!(
        rules.contains("--reopen-logs") && rules.contains("--signal=USR1"),
        "{rules}"
    );
    assert!(
        !rules.contains("--signal=HUP") && !rules.contains(" -r "),
        "{rules}"
    );
    ctl("-k", &conf);
    c.until_eof().await;
}

#[tokio::test]
async fn sigterm_is_served_during_a_stuck_reload() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.fifo");
    mkfifo(&fifo);
    let prog = chatty(dir.path());
    let conf = write_conf(
        dir.path(),
        &format!(
            "console name=\"x\" dev=\"{}\" log=\"{}\"\n",
            prog.display(),
            fifo.display()
        ),
    );
    let mut child = tokio::process::Command::new(BIN)
        .arg("-F")
        .arg("-c")
        .arg(&conf)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("Listening on TCP port") {
        let n = within("the daemon to start", err.read(&mut buf))
            .await
            .unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    let port: u16 = text
        .split("Listening on TCP port ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.trim_end_matches('.').parse().ok())
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (mut c, _) = Raw::open(addr, "u", None, "CONNECT CONSOLE='x'").await;
    c.send(b"go\r\n").await;
    c.expect(b"END-MARK").await;
    // Change x: its old actor cannot close its log (the FIFO has no reader).
    write_conf(
        dir.path(),
        &format!(
            "console name=\"x\" dev=\"{}\" log=\"{}\" logopts=\"timestamp\"\n",
            prog.display(),
            fifo.display()
        ),
    );
    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    // The reload is stuck on x (it warns every 5 s while it waits).
    while !String::from_utf8_lossy(&seen).contains("Reload: waiting for 1 console(s) to close: [x]")
    {
        let n = tokio::time::timeout(Duration::from_secs(30), err.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("not stuck: {}", String::from_utf8_lossy(&seen)))
            .unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    // Shutdown gives the stuck console its bounded grace (10 s for tasks, 10 s for
    // the log writers), then exits.
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("conmand did not exit on SIGTERM during a stuck reload")
        .unwrap();
    assert!(status.success());
    let mut rest = Vec::new();
    let _ = err.read_to_end(&mut rest).await;
    seen.extend_from_slice(&rest);
    assert!(String::from_utf8_lossy(&seen).contains("Exiting on signal=15"));
}
