//! Command-line behaviour without a terminal: help, version, option errors, exit codes,
//! queries compared byte for byte with the stock client, connection errors, the
//! handshake timeout and streaming monitor output.

mod common;

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use common::{Daemon, FakeDaemon, WAIT, ours, peer};

/// Run a client binary with stdin from /dev/null and capture everything.
fn run(bin: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin);
    c.args(args)
        .stdin(Stdio::null())
        .env_remove("CONMAN_HOST")
        .env_remove("CONMAN_PORT")
        .env_remove("CONMAN_ESCAPE");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run client")
}

/// Assert that our client and the stock one behave identically for `args`.
fn same_as_stock(stock: &std::path::Path, args: &[&str]) -> Output {
    let a = run(&ours(), args, &[]);
    let b = run(stock, args, &[]);
    assert_eq!(
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout),
        "stdout for {args:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr),
        "stderr for {args:?}"
    );
    assert_eq!(a.status.code(), b.status.code(), "status for {args:?}");
    a
}

const HELP: &str = "Usage: conman [OPTIONS] [CONSOLES]

  -b        Broadcast to multiple consoles (write-only).
  -d HOST   Specify server destination. [127.0.0.1:17890]
  -e CHAR   Specify escape character. [%]
  -f        Force connection (console-stealing).
  -F FILE   Read console names from file.
  -h        Display this help.
  -j        Join connection (console-sharing).
  -l FILE   Log connection output to file.
  -L        Display license information.
  -m        Monitor connection (read-only).
  -q        Query server about specified console(s).
  -Q        Be quiet and suppress informational messages.
  -r        Match console names via regex instead of globbing.
  -v        Be verbose.
  -V        Display version information.

  Once a connection is established, enter \"%.\" to close the session,
    or \"%?\" to see a list of currently available escape sequences.

";

#[test]
fn help_text_with_effective_destination() {
    // argv[0] is what the usage line shows, as in ConMan.
    let out = Command::new(ours())
        .arg0("conman")
        .env("CONMAN_HOST", "127.0.0.1:17890")
        .env("CONMAN_ESCAPE", "%")
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout), HELP);
    assert_eq!(out.status.code(), Some(0));
}

use std::os::unix::process::CommandExt;

#[test]
fn help_identical_to_stock() {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    for args in [&["-h"][..], &[], &["-e", "\x1d", "-d", "h:99", "-h"]] {
        let a = Command::new(ours())
            .arg0("conman")
            .args(args)
            .output()
            .expect("run");
        let b = Command::new(&stock)
            .arg0("conman")
            .args(args)
            .output()
            .expect("run");
        assert_eq!(a.stdout, b.stdout, "{args:?}");
        assert_eq!(a.status.code(), b.status.code());
    }
}

#[test]
fn version_and_invalid_options() {
    let out = run(&ours(), &["-V"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("conman-{}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(out.status.code(), Some(0));
    let out = run(&ours(), &["x", "-Z"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR:     CMDLINE: invalid option \"Z\"\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(&ours(), &["-L"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.is_empty());
}

#[test]
fn option_errors_identical_to_stock() {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    for args in [
        &["-x"][..],
        &["a", "-d"],
        &["--help"],
        &["-F", "/nonexistent/list", "a"],
        &["-d", "nosuchhost.invalid", "-q"],
        &["-l", "/nonexistent/dir/log", "-q"],
    ] {
        same_as_stock(&stock, args);
    }
}

#[test]
fn connection_refused_identical_to_stock() {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    // A port that nobody listens on: bind it, then close it.
    let port = common::free_port();
    let dest = format!("127.0.0.1:{port}");
    let out = same_as_stock(&stock, &["-d", &dest, "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("ERROR: Unable to connect to <localhost:{port}>: Connection refused.\n\n")
    );
}

#[test]
fn silent_daemon_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    // Accept and hold the connection without ever answering.
    let holder = std::thread::spawn(move || l.accept().map(|(s, _)| s));
    let dest = format!("127.0.0.1:{port}");
    let out = run(
        &ours(),
        &["-d", &dest, "-q"],
        &[("CONMAN_HANDSHAKE_TIMEOUT", "0.5")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ERROR: Unable to read response from <localhost:{port}>:\n  \
             Connection timed out (blocked by TCP-Wrappers?).\n\n"
        )
    );
    drop(holder.join());
}

/// A daemon config with two ticking process consoles and some extra names.
const CONSOLES: &str = "\
console name=\"tick\" dev=\"/bin/sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 1; done'\"
console name=\"node10\" dev=\"/bin/sh -c 'exec sleep 1000'\"
console name=\"node2\" dev=\"/bin/sh -c 'exec sleep 1000'\"
console name=\"na'me\" dev=\"/bin/sh -c 'exec sleep 1000'\"
";

#[test]
fn queries_identical_to_stock() {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    let Some(d) = Daemon::start(tempfile::tempdir().expect("tmp"), CONSOLES) else {
        return;
    };
    let dest = d.dest();
    let list = d.dir.path().join("list");
    std::fs::write(&list, "  # comment\n\n  node2  \ntick\n").expect("write list");
    let list = list.to_str().expect("utf8");
    let cases: &[&[&str]] = &[
        &["-d", &dest, "-q", "-F", list, "na*"],
        &["-d", &dest, "-q"],
        &["-d", &dest, "-q", "node*"],
        &["-d", &dest, "node*,tick", "-q"],
        &["-d", &dest, "-q", "-r", "NODE[0-9]"],
        &["-d", &dest, "-q", "-r", "("],
        &["-d", &dest, "-q", "nosuch"],
        &["-d", &dest, "-q", "na'me"],
        &["-d", &dest, "-m", "node*"],
        &["-d", &dest, "-j", "nosuch"],
        &["-d", &dest, "-q", "--", "-x"],
    ];
    for args in cases {
        same_as_stock(&stock, args);
    }
    let out = run(&ours(), &["-d", &dest, "-q"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "na'me\nnode2\nnode10\ntick\n"
    );
    let out = run(&ours(), &["-d", &dest, "-m", "node*"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: Found 2 matching consoles.\n\nnode2\nnode10\n\n\
         Do you want to broadcast (-b) to multiple consoles?\n\n"
    );
}

#[test]
fn env_destination_is_used() {
    let Some(d) = Daemon::start(tempfile::tempdir().expect("tmp"), CONSOLES) else {
        return;
    };
    let port = d.port.to_string();
    let out = run(
        &ours(),
        &["-q", "tick"],
        &[("CONMAN_HOST", "127.0.0.1:1"), ("CONMAN_PORT", &port)],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tick\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn connect_without_terminal_is_refused_after_ok() {
    let fake = FakeDaemon::start("OK CONSOLE='x'\n", b"", false);
    let out = run(&ours(), &["-d", &fake.dest(), "x"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR:     Standard Input is not a terminal device\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let rec = fake.recording();
    assert_eq!(rec.request, b"CONNECT CONSOLE='x'\n");
    // No TTY= when stdin is not a terminal.
    assert!(rec.greeting.starts_with(b"HELLO USER='"));
    assert!(common::find(&rec.greeting, b"TTY=").is_none());
}

#[test]
fn invalid_and_error_responses() {
    let fake = FakeDaemon::start("HUH\n", b"", true);
    let out = run(&ours(), &["-d", &fake.dest(), "-q"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ERROR: Received invalid response from <localhost:{}>.\n\n",
            fake.port
        )
    );
    assert_eq!(out.status.code(), Some(2));
    let fake = FakeDaemon::start(
        "ERROR CODE=7 MESSAGE='Found console already in use'\n",
        b"Console [x] open R/W by <a@b> (idle 1s).\n",
        true,
    );
    let out = run(&ours(), &["-d", &fake.dest(), "-j", "x"], &[]);
    // With -j there is no hint.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: Found console already in use.\n\nConsole [x] open R/W by <a@b> (idle 1s).\n"
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn monitor_streams_when_stdout_is_not_a_terminal() {
    let Some(d) = Daemon::start(tempfile::tempdir().expect("tmp"), CONSOLES) else {
        return;
    };
    let mut c = Command::new(ours());
    c.args(["-d", &d.dest(), "-m", "tick"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while common::find(&seen, b"tick ").is_none() {
        assert!(std::time::Instant::now() < deadline, "no output");
        let mut buf = [0u8; 1024];
        let n = std::io::Read::read(&mut stdout, &mut buf).expect("read");
        assert!(
            n > 0,
            "EOF before output: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(seen.starts_with(b"\r\n<ConMan> Connection to console [tick] opened.\r\n"));
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).expect("read");
    assert!(rest.ends_with(b"\r\n<ConMan> Connection to console [tick] terminated by server.\r\n"));
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn ipv6_destination() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED: no IPv6 loopback here");
        return;
    };
    let port = l.local_addr().expect("addr").port();
    let fake = FakeDaemon::serve(l, "OK CONSOLE='v6'\n", b"", false);
    let dest = format!("[::1]:{port}");
    let out = run(&ours(), &["-d", &dest, "-q"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v6\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.recording().request, b"QUERY\n");
}

#[test]
fn monitor_stream_stops_quietly_when_reader_goes_away() {
    let Some(d) = Daemon::start(tempfile::tempdir().expect("tmp"), CONSOLES) else {
        return;
    };
    let mut child = Command::new(ours())
        .args(["-d", &d.dest(), "-m", "tick"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut stdout, &mut buf).expect("read");
    assert!(n > 0);
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn error_display_goes_to_session_log_like_stock() {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    let dest = format!("127.0.0.1:{port}");
    let mut logs = Vec::new();
    for (i, bin) in [ours(), stock].iter().enumerate() {
        let log = dir.path().join(format!("log{i}"));
        let out = run(
            bin,
            &["-d", &dest, "-l", log.to_str().expect("utf8"), "-q"],
            &[],
        );
        assert_eq!(out.status.code(), Some(2));
        logs.push(common::normalize_log_times(&String::from_utf8_lossy(
            &std::fs::read(&log).expect("log"),
        )));
    }
    assert_eq!(logs[0], logs[1]);
    assert_eq!(
        logs[0],
        format!(
            "\r\n<ConMan> Log started at T.\r\n\
             ERROR: Unable to connect to <localhost:{port}>: Connection refused.\n\n"
        )
    );
}
