//! The `conmand` binary end to end: foreground and daemonized start, `-q`, `-r`
//! (SIGHUP: log reopen and configuration reload), `-k`, pidfile, exit statuses.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_conmand");

#[allow(clippy::unwrap_used)]
fn write_conf(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let conf = dir.join("conman.conf");
    std::fs::write(
        &conf,
        format!(
            "server logdir=\"{}\"\nserver logfile=\"daemon.log\"\nserver port=0\n\
             global log=\"%N.log\"\n\
             console name=\"c1\" dev=\"/bin/cat\"\n{extra}",
            dir.display()
        ),
    )
    .unwrap();
    conf
}

/// The port from the daemon log's `Listening on TCP port N` line.
async fn port_from_log(log: &std::path::Path) -> u16 {
    let mut port = 0;
    eventually("the Listening line", || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        port = text
            .lines()
            .find_map(|l| {
                l.split("Listening on TCP port ")
                    .nth(1)
                    .and_then(|p| p.trim().parse().ok())
            })
            .unwrap_or(0);
        port != 0
    })
    .await;
    port
}

#[tokio::test]
async fn foreground_start_reports_port_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "");
    let mut child = Command::new(BIN)
        .args(["-F", "-c"])
        .arg(&conf)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("NOTICE:    Starting ConMan daemon "),
        "{first}"
    );
    let second = lines.next().unwrap().unwrap();
    let port: u16 = second
        .strip_prefix("INFO:      Listening on TCP port ")
        .unwrap()
        .parse()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (_r, rsp) = Raw::open(addr, "u", None, "QUERY").await;
    assert_eq!(rsp, "OK CONSOLE='c1'");
    // A second daemon on the same configuration refuses to start.
    let out = Command::new(BIN)
        .args(["-F", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("in use by pid {}", child.id())),
        "{err}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l == "NOTICE:    Exiting on signal=15"),
        "{rest:?}"
    );
    assert!(
        rest.last()
            .unwrap()
            .starts_with("NOTICE:    Stopping ConMan daemon "),
        "{rest:?}"
    );
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn daemonized_control_with_q_r_k_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "");
    let pidfile = dir.path().join("run/conmand.pid");
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("-P")
        .arg(&pidfile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = port_from_log(&dir.path().join("daemon.log")).await;
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let q = Command::new(BIN)
        .arg("-q")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&q.stdout).trim(), pid.to_string());
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (mut c1, _) = Raw::open(addr, "u", None, "CONNECT CONSOLE='c1'").await;

    // Reload: add a console by editing the file and sending SIGHUP with -r.
    write_conf(dir.path(), "console name=\"c2\" dev=\"/bin/cat\"\n");
    let r = Command::new(BIN)
        .arg("-r")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(r.status.success());
    let mut names = String::new();
    for _ in 0..200 {
        let (_q, rsp) = Raw::open(addr, "u", None, "QUERY").await;
        names = rsp;
        if names.contains("c2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(names, "OK CONSOLE='c1' CONSOLE='c2'");
    // The untouched console kept its client.
    c1.send(b"still-here\r").await;
    c1.expect(b"still-here\r").await;
    // An invalid new file is reported and the running configuration stays.
    std::fs::write(&conf, "console name=\"c9\" dev=\n").unwrap();
    let r = Command::new(BIN)
        .arg("-r")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(r.status.success());
    eventually("the reload error in the daemon log", || {
        std::fs::read_to_string(dir.path().join("daemon.log"))
            .unwrap_or_default()
            .contains("keeping the running configuration")
    })
    .await;
    let (_q, rsp) = Raw::open(addr, "u", None, "QUERY").await;
    assert_eq!(rsp, "OK CONSOLE='c1' CONSOLE='c2'");

    let k = Command::new(BIN)
        .arg("-k")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(k.status.success());
    c1.until_eof().await;
    eventually("the pidfile to go", || !pidfile.exists()).await;
    let q = Command::new(BIN)
        .arg("-q")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(q.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&q.stderr).contains("does not appear to be active"));
}

#[tokio::test]
async fn config_without_consoles_fails_with_conman_message() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "server port=0\nconsole name=\"x\"\n").unwrap();
    let out = Command::new(BIN).arg("-c").arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("incomplete CONSOLE directive"), "{err}");
    assert!(
        err.contains(&format!(
            "Configuration \"{}\" has no consoles defined",
            conf.display()
        )),
        "{err}"
    );
}

/// Issue 12: a `conman.pswd` readable by group or others is reported when the
/// daemon starts and again at every SIGHUP, naming the file and its mode.
#[tokio::test]
async fn exposed_pswd_file_is_warned_about_at_start_and_on_sighup() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "");
    let pswd = dir.path().join("conman.pswd");
    std::fs::write(&pswd, "bmc.* : admin : pw\n").unwrap();
    std::fs::set_permissions(&pswd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("--pswd")
        .arg(&pswd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.path().join("daemon.log");
    let want = format!(
        "\"{}\" is mode 0644 (readable by group, readable by others)",
        pswd.display()
    );
    let count = |want: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARNING:") && l.contains(want))
            .count()
    };
    eventually("the warning at start", || count(&want) == 1).await;
    std::fs::set_permissions(&pswd, std::fs::Permissions::from_mode(0o660)).unwrap();
    let r = Command::new(BIN)
        .arg("-r")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(r.status.success());
    let again = format!(
        "\"{}\" is mode 0660 (readable and writable by group)",
        pswd.display()
    );
    eventually("the warning after SIGHUP", || count(&again) == 1).await;
    let k = Command::new(BIN)
        .arg("-k")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(k.status.success());
}
