//! Interactive sessions on a real pty: exact wire bytes of every escape (against a fake
//! daemon), local escapes, suspend, signals, terminal restore, and end-to-end sessions
//! against the stock `conmand` (typing and echo, busy/join/force, broadcast, `-l`).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, FakeDaemon, Proc, Pty, UnixConsole, WAIT, find, ours, peer};
use rustix::termios::LocalModes;

const OPENED_X: &[u8] = b"\r\n<ConMan> Connection to console [x] opened.\r\n";
const CLOSED_X: &[u8] = b"&.\r\n<ConMan> Connection to console [x] closed.\r\n";
const TERMINATED_X: &[u8] = b"\r\n<ConMan> Connection to console [x] terminated by server.\r\n";

/// Start our client on a fresh pty with `args`, wait for `opened`.
fn start(args: &[&str], opened: &[u8]) -> (Pty, Proc) {
    let mut pty = Pty::open();
    let mut cmd = pty.command(&ours());
    cmd.args(args);
    let p = Proc::spawn(cmd);
    pty.expect(opened);
    (pty, p)
}

#[test]
fn escape_wire_bytes_are_exact() {
    let fake = FakeDaemon::start("OK OPTION=RESET CONSOLE='x'\n", b"", false);
    let mut pty = Pty::open();
    let before = pty.stty();
    let mut cmd = pty.command(&ours());
    cmd.args(["-d", &fake.dest(), "x"]);
    let p = Proc::spawn(cmd);
    pty.expect(OPENED_X);
    // Reference §4.5; the spaces there only separate keystrokes.
    pty.type_bytes(b"&B&D&R&L&Qabc\xffdef&&&x&Mzz&F&J&M&J\r&.");
    let rec = fake.recording();
    assert_eq!(pty.wait_exit(&p), 0);
    let want: &[u8] = b"\xffB\xffD\xffR\xffL\xffQabc\xff\xffdef&&x\xffM\xffF\xffM\xffJ\r";
    assert_eq!(rec.session, want);
    assert_eq!(
        rec.greeting,
        format!(
            "HELLO USER='{}' TTY='{}'\n",
            user_from(&rec.greeting),
            pty.short_name()
        )
        .as_bytes()
    );
    assert_eq!(rec.request, b"CONNECT CONSOLE='x'\n");
    pty.expect(CLOSED_X);
    assert!(find(&pty.seen, b"terminated by server").is_none());
    assert_eq!(pty.stty(), before, "terminal settings not restored");
}

/// The USER value of a greeting line.
fn user_from(greeting: &[u8]) -> String {
    let s = String::from_utf8_lossy(greeting);
    let start = s.find("USER='").expect("USER") + 6;
    let end = s[start..].find('\'').expect("quote") + start;
    s[start..end].to_string()
}

#[test]
fn monitor_sends_only_escape_commands() {
    let fake = FakeDaemon::start("OK CONSOLE='x'\n", b"", false);
    let (mut pty, p) = start(&["-d", &fake.dest(), "-m", "x", "-Q"], OPENED_X);
    pty.type_bytes(b"abc\xff&&&x&B&D&R&M&E&Q&L&.");
    let rec = fake.recording();
    assert_eq!(pty.wait_exit(&p), 0);
    assert_eq!(rec.request, b"MONITOR OPTION=QUIET CONSOLE='x'\n");
    assert_eq!(rec.session, b"\xffQ\xffL");
}

#[test]
fn broadcast_wire_and_status_lines() {
    let fake = FakeDaemon::start("OK OPTION=RESET CONSOLE='a' CONSOLE='b'\n", b"", false);
    let opened = b"\r\n<ConMan> Broadcast to 2 consoles opened.\r\n";
    let (mut pty, p) = start(&["-d", &fake.dest(), "-b", "-j", "a,b"], opened);
    pty.type_bytes(b"&I");
    pty.expect(
        format!(
            "\r\n<ConMan> Broadcasting to 2 consoles on <localhost:{}>.\r\n",
            fake.port
        )
        .as_bytes(),
    );
    pty.type_bytes(b"&?");
    let at = pty.expect(b"  &Z  -  Suspend the client.\r\n");
    let help = String::from_utf8_lossy(&pty.seen[..at]).into_owned();
    assert!(help.contains("   &R  -  Reset nodes associated with this console.\r\n"));
    assert!(!help.contains("&L") && !help.contains("&M"));
    pty.type_bytes(b"hi\xff&L&M&F&R&.");
    let rec = fake.recording();
    assert_eq!(pty.wait_exit(&p), 0);
    assert_eq!(
        rec.request,
        b"CONNECT OPTION=JOIN OPTION=BROADCAST CONSOLE='a' CONSOLE='b'\n"
    );
    assert_eq!(rec.session, b"hi\xff\xff\xffR");
    pty.expect(b"&.\r\n<ConMan> Broadcast to 2 consoles closed.\r\n");
}

#[test]
fn local_escapes_help_info_echo() {
    let fake = FakeDaemon::start("OK OPTION=RESET CONSOLE='x'\n", b"", false);
    let (mut pty, p) = start(&["-d", &fake.dest(), "x"], OPENED_X);
    // Raw mode while the session runs.
    let raw = pty.termios();
    assert!(
        !raw.local_modes
            .intersects(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG)
    );
    pty.type_bytes(b"&?");
    let help = concat!(
        "\r\nSupported ConMan Escape Sequences:\r\n",
        "   &?  -  Display this help message.\r\n",
        "   &.  -  Terminate the connection.\r\n",
        "   &&  -  Send the escape character.\r\n",
        "   &B  -  Transmit a serial-break.\r\n",
        "   &D  -  Transmit a DEL character.\r\n",
        "   &E  -  Enable echoing of client input.\r\n",
        "   &I  -  Display connection information.\r\n",
        "   &L  -  Replay up to the last 4096 bytes of the log.\r\n",
        "   &M  -  Monitor without write-privileges (read-only).\r\n",
        "   &Q  -  Enable quiet-mode (suppress info msgs).\r\n",
        "   &R  -  Reset node associated with this console.\r\n",
        "   &Z  -  Suspend the client.\r\n",
    );
    let at = pty.expect(help.as_bytes());
    // &E turns local echo on; the info line proves it has been handled.
    pty.type_bytes(b"&E&I");
    let info = format!(
        "\r\n<ConMan> Connected R/W to console [x] on <localhost:{}>.\r\n",
        fake.port
    );
    let at = pty.expect_from(at, info.as_bytes());
    assert!(pty.termios().local_modes.contains(LocalModes::ECHO));
    pty.type_bytes(b"&?");
    pty.expect_from(at, b"   &E  -  Disable echoing of client input.\r\n");
    pty.type_bytes(b"&E&M&I");
    let info = format!(
        "\r\n<ConMan> Connected R/O to console [x] on <localhost:{}>.\r\n",
        fake.port
    );
    pty.expect_from(at, info.as_bytes());
    assert!(!pty.termios().local_modes.contains(LocalModes::ECHO));
    pty.type_bytes(b"&.");
    let rec = fake.recording();
    assert_eq!(pty.wait_exit(&p), 0);
    assert_eq!(rec.session, b"\xffM");
}

/// The state letter of a process from `/proc/PID/stat`.
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rfind(')')?;
    stat[after + 1..].trim_start().chars().next()
}

#[test]
fn suspend_restores_terminal_and_resumes() {
    let fake = FakeDaemon::start("OK CONSOLE='x'\n", b"", false);
    let mut pty = Pty::open();
    let before = pty.stty();
    let mut cmd = pty.command(&ours());
    cmd.args(["-d", &fake.dest(), "x"]);
    let p = Proc::spawn(cmd);
    pty.expect(OPENED_X);
    pty.type_bytes(b"&Z");
    let at = pty.expect(b"&Z\r\n<ConMan> Connection to console [x] suspended.\r\n");
    // Wait (bounded) for the kernel to report the process stopped.
    let deadline = Instant::now() + WAIT;
    while proc_state(p.pid) != Some('T') {
        assert!(Instant::now() < deadline, "client did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pty.stty(), before, "settings not restored while suspended");
    p.signal(rustix::process::Signal::CONT);
    let at = pty.expect_from(at, b"\r\n<ConMan> Connection to console [x] resumed.\r\n");
    assert!(!pty.termios().local_modes.contains(LocalModes::ICANON));
    pty.type_bytes(b"&.");
    pty.expect_from(at, CLOSED_X);
    let rec = fake.recording();
    assert_eq!(pty.wait_exit(&p), 0);
    assert_eq!(rec.session, b"\xffZ\xffZ");
    assert_eq!(pty.stty(), before);
}

#[test]
fn server_going_away_ends_session_and_restores_terminal() {
    let fake = FakeDaemon::start("OK CONSOLE='x'\n", b"hello from x", true);
    let mut pty = Pty::open();
    let before = pty.stty();
    let mut cmd = pty.command(&ours());
    cmd.args(["-d", &fake.dest(), "x"]);
    let p = Proc::spawn(cmd);
    assert_eq!(pty.wait_exit(&p), 0);
    let mut want = OPENED_X.to_vec();
    want.extend_from_slice(b"hello from x");
    want.extend_from_slice(TERMINATED_X);
    assert_eq!(
        String::from_utf8_lossy(&pty.seen),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(pty.stty(), before);
}

#[test]
fn sigint_ignored_sigterm_ends_cleanly() {
    let fake = FakeDaemon::start("OK CONSOLE='x'\n", b"", false);
    let mut pty = Pty::open();
    let before = pty.stty();
    let mut cmd = pty.command(&ours());
    cmd.args(["-d", &fake.dest(), "x"]);
    let p = Proc::spawn(cmd);
    pty.expect(OPENED_X);
    for sig in [
        rustix::process::Signal::INT,
        rustix::process::Signal::HUP,
        rustix::process::Signal::QUIT,
    ] {
        p.signal(sig);
    }
    pty.type_bytes(b"&I");
    pty.expect(b"Connected R/W to console [x]");
    assert_eq!(p.exited(), None);
    p.signal(rustix::process::Signal::TERM);
    assert_eq!(pty.wait_exit(&p), 0);
    pty.expect(TERMINATED_X);
    assert_eq!(pty.stty(), before);
    drop(fake);
}

/// Config for the stock daemon: the test's unix console `uds` and a ticker.
fn stock_consoles(console: &UnixConsole) -> String {
    format!(
        "console name=\"uds\" dev=\"unix:{}\"\n\
         console name=\"tick\" dev=\"/bin/sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 1; done'\"\n",
        console.path.display()
    )
}

#[test]
fn stock_daemon_connect_type_and_echo() {
    connect_type_and_echo(Daemon::start);
}

/// The same session against our own daemon.
#[test]
fn our_daemon_connect_type_and_echo() {
    connect_type_and_echo(Daemon::start_ours);
}

type Starter = fn(tempfile::TempDir, &str) -> Option<Daemon>;

fn connect_type_and_echo(start_daemon: Starter) {
    let dir = tempfile::tempdir().expect("tmp");
    let console = UnixConsole::listen(dir.path(), "uds");
    let conf = stock_consoles(&console);
    let Some(d) = start_daemon(dir, &conf) else {
        return;
    };
    let mut pty = Pty::open();
    let before = pty.stty();
    let mut cmd = pty.command(&ours());
    cmd.args(["-d", &d.dest(), "uds"]);
    let p = Proc::spawn(cmd);
    let at = pty.expect(b"\r\n<ConMan> Connection to console [uds] opened.\r\n");
    pty.type_bytes(b"hello \xff world\r");
    console.expect(b"hello \xff world\r");
    pty.expect_from(at, b"hello \xff world\r");
    pty.type_bytes(b"&.");
    assert_eq!(pty.wait_exit(&p), 0);
    pty.expect(b"&.\r\n<ConMan> Connection to console [uds] closed.\r\n");
    assert_eq!(pty.stty(), before);
}

/// Replace the number in every `(idle <n>s)` with `N`.
fn normalize_idle(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("(idle ") {
        out.push_str(&rest[..i + 6]);
        rest = &rest[i + 6..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        out.push('N');
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn stock_daemon_busy_join_force() {
    busy_join_force(Daemon::start);
}

/// The same session against our own daemon.
#[test]
fn our_daemon_busy_join_force() {
    busy_join_force(Daemon::start_ours);
}

fn busy_join_force(start_daemon: Starter) {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let console = UnixConsole::listen(dir.path(), "uds");
    let conf = stock_consoles(&console);
    let Some(d) = start_daemon(dir, &conf) else {
        return;
    };
    let dest = d.dest();
    let (mut a, pa) = start(
        &["-d", &dest, "uds"],
        b"\r\n<ConMan> Connection to console [uds] opened.\r\n",
    );

    // Busy: our error text and status equal the stock client's (idle time aside).
    let busy = |bin: &std::path::Path| {
        Command::new(bin)
            .args(["-d", &dest, "uds"])
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    let ours_out = busy(&ours());
    let stock_out = busy(&stock);
    assert_eq!(ours_out.status.code(), Some(2));
    assert_eq!(stock_out.status.code(), Some(2));
    let ours_err = normalize_idle(&String::from_utf8_lossy(&ours_out.stderr));
    assert_eq!(
        ours_err,
        normalize_idle(&String::from_utf8_lossy(&stock_out.stderr))
    );
    assert!(
        ours_err.starts_with("ERROR: Found console already in use.\n\nConsole [uds] open R/W by <")
    );
    assert!(ours_err.contains(&format!("> on {} (idle N", a.short_name())));
    assert!(ours_err.ends_with("\nDo you want to force (-f) or join (-j) the connection?\n\n"));

    // Join: both sides are told.
    let (mut b, pb) = start(
        &["-d", &dest, "-j", "uds"],
        b"\r\n<ConMan> Connection to console [uds] opened.\r\n",
    );
    b.expect(b"joined with <");
    b.expect(format!("on {} at ", a.short_name()).as_bytes());
    a.expect(b"Console [uds] joined by <");
    a.expect(format!("on {} at ", b.short_name()).as_bytes());

    // Force: the previous writers are thrown out and see "terminated by server".
    let (mut c, pc) = start(
        &["-d", &dest, "-f", "uds"],
        b"\r\n<ConMan> Connection to console [uds] opened.\r\n",
    );
    c.expect(b"stolen from <");
    a.expect(b"Console [uds] stolen by <");
    assert_eq!(a.wait_exit(&pa), 0);
    a.expect(b"\r\n<ConMan> Connection to console [uds] terminated by server.\r\n");
    assert_eq!(b.wait_exit(&pb), 0);
    c.type_bytes(b"&.");
    assert_eq!(c.wait_exit(&pc), 0);
}

#[test]
fn stock_daemon_broadcast_and_session_log() {
    broadcast_and_session_log(Daemon::start);
}

/// The same session against our own daemon.
#[test]
fn our_daemon_broadcast_and_session_log() {
    broadcast_and_session_log(Daemon::start_ours);
}

fn broadcast_and_session_log(start_daemon: Starter) {
    let dir = tempfile::tempdir().expect("tmp");
    let console = UnixConsole::listen(dir.path(), "uds");
    let conf = stock_consoles(&console);
    let Some(d) = start_daemon(dir, &conf) else {
        return;
    };
    let dest = d.dest();
    let (mut pty, p) = start(
        &["-d", &dest, "-b", "uds", "tick"],
        b"\r\n<ConMan> Broadcast to 2 consoles opened.\r\n",
    );
    pty.type_bytes(b"to all\r");
    console.expect(b"to all\r");
    pty.type_bytes(b"&.");
    assert_eq!(pty.wait_exit(&p), 0);

    // -l: everything from the daemon between "started" and "finished" lines.
    let log = d.dir.path().join("session.log");
    let logs = log.to_str().expect("utf8");
    let (mut pty, p) = start(
        &["-d", &dest, "-m", "-l", logs, "tick"],
        b"\r\n<ConMan> Connection to console [tick] opened.\r\n",
    );
    pty.expect(b"tick ");
    pty.type_bytes(b"&.");
    assert_eq!(pty.wait_exit(&p), 0);
    let text = String::from_utf8_lossy(&std::fs::read(&log).expect("log")).into_owned();
    assert!(text.starts_with("\r\n<ConMan> Log started at "), "{text:?}");
    assert!(text.contains("tick "), "{text:?}");
    assert!(
        !text.contains("opened"),
        "status lines are not logged: {text:?}"
    );
    let finished = text
        .find("\r\n<ConMan> Log finished at ")
        .expect("finished");
    assert!(text[finished..].ends_with(".\r\n"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// Wait (bounded) until the slave's ECHO flag is `on`.
fn wait_echo(pty: &Pty, on: bool) {
    let deadline = Instant::now() + WAIT;
    while pty.termios().local_modes.contains(LocalModes::ECHO) != on {
        assert!(Instant::now() < deadline, "ECHO never became {on}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run `bin` on a pty against a fake daemon, type the key groups once `banner` is shown
/// (each group but the last ends with `&E`; the next is typed once the echo flag has
/// flipped, because ConMan's TCSAFLUSH drops typeahead), and return (wire bytes
/// recorded by the daemon, terminal output with the port replaced).
fn typed_session(bin: &std::path::Path, args: &[&str], groups: &[&[u8]]) -> (Vec<u8>, String) {
    let fake = FakeDaemon::start("OK OPTION=RESET CONSOLE='x'\n", b"banner\r\n", false);
    let mut pty = Pty::open();
    let mut cmd = pty.command(bin);
    cmd.args(["-d", &fake.dest(), "x"]).args(args);
    let p = Proc::spawn(cmd);
    pty.expect(b"banner\r\n");
    let mut echo = false;
    for (i, keys) in groups.iter().enumerate() {
        pty.type_bytes(keys);
        if i + 1 < groups.len() {
            echo = !echo;
            wait_echo(&pty, echo);
        }
    }
    let rec = fake.recording();
    assert_eq!(pty.wait_exit(&p), 0);
    let shown = String::from_utf8_lossy(&pty.seen).replace(&fake.port.to_string(), "PORT");
    (rec.session, shown)
}

#[test]
fn same_screen_and_wire_as_stock_client() {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    let keys: &[&[u8]] = &[b"&?&I&Bab\xffc&&&x&E", b"&?&E", b"&Mzz&?&I&F&Q&?&R&D&L&."];
    let (ours_wire, ours_screen) = typed_session(&ours(), &[], keys);
    let (stock_wire, stock_screen) = typed_session(&stock, &[], keys);
    assert_eq!(ours_screen, stock_screen);
    assert_eq!(ours_wire, stock_wire);
    assert_eq!(
        ours_wire,
        b"\xffBab\xff\xffc&&x\xffM\xffF\xffQ\xffR\xffD\xffL".to_vec()
    );
}

#[test]
fn same_screen_and_wire_as_stock_client_monitor_custom_escape() {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    let keys: &[&[u8]] = &[b"%?%Iab%%%B%F%?%I%Q%D%?%M%I%&%."];
    let args = ["-m", "-e", "%", "-Q"];
    let (ours_wire, ours_screen) = typed_session(&ours(), &args, keys);
    let (stock_wire, stock_screen) = typed_session(&stock, &args, keys);
    assert_eq!(ours_screen, stock_screen);
    assert_eq!(ours_wire, stock_wire);
    assert_eq!(ours_wire, b"\xffF\xffQ\xffD\xffM".to_vec());
}

#[test]
fn session_log_matches_stock() {
    let Some(stock) = peer("/usr/bin/conman") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut logs = Vec::new();
    for (i, bin) in [ours(), stock].iter().enumerate() {
        let log = dir.path().join(format!("log{i}"));
        let logs_arg = log.to_str().expect("utf8").to_string();
        typed_session(bin, &["-l", &logs_arg], &[b"&?&I&."]);
        logs.push(common::normalize_log_times(&String::from_utf8_lossy(
            &std::fs::read(&log).expect("log"),
        )));
    }
    assert_eq!(logs[0], logs[1]);
    assert_eq!(
        logs[0],
        "\r\n<ConMan> Log started at T.\r\nbanner\r\n\r\n<ConMan> Log finished at T.\r\n"
    );
}

#[test]
fn key_after_close_ends_wait_for_a_daemon_that_never_closes() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    // Capacity 1, one message: never blocks.
    let (eof_tx, eof_rx) = std::sync::mpsc::sync_channel(1);
    let (release_tx, release_rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut r = std::io::BufReader::new(s.try_clone().expect("clone"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut r, &mut line).expect("greeting");
        s.write_all(b"OK\n").expect("write");
        line.clear();
        std::io::BufRead::read_line(&mut r, &mut line).expect("request");
        s.write_all(b"OK CONSOLE='x'\n").expect("write");
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        let _ = eof_tx.send(());
        // Keep the socket open until the test is done.
        let _ = release_rx.recv_timeout(WAIT);
        drop(s);
    });
    let dest = format!("127.0.0.1:{port}");
    let (mut pty, p) = start(&["-d", &dest, "x"], OPENED_X);
    pty.type_bytes(b"&.");
    pty.expect(CLOSED_X);
    eof_rx.recv_timeout(WAIT).expect("daemon saw EOF");
    assert_eq!(p.exited(), None, "client must wait for the daemon to close");
    pty.type_bytes(b"q");
    assert_eq!(pty.wait_exit(&p), 0);
    assert!(find(&pty.seen, b"terminated by server").is_none());
    let _ = release_tx.send(());
}

#[test]
fn broadcast_matching_one_console_is_read_write() {
    let fake = FakeDaemon::start("OK CONSOLE='x'\n", b"", false);
    let (mut pty, p) = start(&["-d", &fake.dest(), "-b", "x*"], OPENED_X);
    pty.type_bytes(b"&?");
    pty.expect(b"   &M  -  Monitor without write-privileges (read-only).\r\n");
    pty.type_bytes(b"a&M&.");
    let rec = fake.recording();
    assert_eq!(pty.wait_exit(&p), 0);
    assert_eq!(rec.request, b"CONNECT OPTION=BROADCAST CONSOLE='x*'\n");
    assert_eq!(rec.session, b"a\xffM");
}
