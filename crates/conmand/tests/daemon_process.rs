//! Process-level tests of `conmand::daemon` and `conmand::daemonlog`.
//!
//! POSIX locks never conflict inside one process, and `daemonize::begin` forks and
//! refuses to run with threads around, so these tests need other processes. This is
//! a `harness = false` test binary: its `main` either runs the test list
//! sequentially on the main thread, or — when `CONMAND_TEST_ROLE` is set — plays a
//! helper role in a fresh, single-threaded child process spawned by a test:
//!
//! * `holder`: takes a lock (config read lock, a log-file write lock, or none),
//!   reports `ready <pid>` on a Unix control socket, then reports every SIGHUP /
//!   SIGTERM it receives (`signal N`) and exits 0 after SIGTERM.
//! * `daemon`: daemonizes with `daemonize::begin` and then succeeds, fails,
//!   vanishes or takes the config lock, reporting facts from the grandchild on the
//!   control socket.
//! * `limits`: applies coredump/nofile settings and prints the resulting limits.
//!
//! Every helper process is either reaped by its test or ends on its own (the
//! daemonized grandchildren exit when told to, or when the control socket closes).
//! No test sleeps: each waits for a specific line under a timeout.

// Test code: a failed unwrap is a failed test. (`harness = false` compiles this file
// without `cfg(test)`, so clippy's allow-unwrap-in-tests does not apply.)
#![allow(clippy::unwrap_used)]

use std::env;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use conmand::daemon::control::{Control, signal_daemon};
use conmand::daemon::daemonize;
use conmand::daemon::limits::{set_coredump, set_nofile};
use conmand::daemon::lock::{ConfigLock, LockError, find_daemon_pid};
use conmand::daemon::pidfile::Pidfile;
use conmand::daemonlog::{self, LogInit, LogfileSpec};
use conmand_core::config::Priority;
use tracing_subscriber::layer::SubscriberExt;

const ROLE_VAR: &str = "CONMAND_TEST_ROLE";
const TIMEOUT: Duration = Duration::from_secs(20);

type TestFn = fn();

/// `(name, fn)` pairs from function names.
macro_rules! test_list {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name as TestFn)),*]
    };
}

const TESTS: &[(&str, TestFn)] = test_list![
    lock_conflict_names_the_holder_pid,
    control_k_r_q_via_lock,
    control_via_pidfile_fallback,
    daemonize_success_exits_0_and_detaches,
    daemonize_fail_returns_message_and_exit_1,
    daemonize_fail_after_switch_is_logged_and_printed_once,
    daemonize_vanished_daemon_exits_1,
    daemonize_then_config_in_use_exits_1,
    daemon_logfile_locked_elsewhere_warns,
    interop_debian_conmand_sees_our_lock,
    interop_our_tools_see_debian_conmand,
    limits_in_a_child_process,
];

fn main() -> ExitCode {
    if let Ok(role) = env::var(ROLE_VAR) {
        return roles::run(&role);
    }
    let args: Vec<String> = env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected = TESTS.iter().filter(|(name, _)| {
        filters.is_empty()
            || filters.iter().any(|f| {
                if exact {
                    *name == f.as_str()
                } else {
                    name.contains(f.as_str())
                }
            })
    });
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in selected {
        let ok = catch_unwind(AssertUnwindSafe(test)).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if ok {
            passed += 1;
        } else {
            failed.push(*name);
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed",
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failures: {failed:?}");
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------
// Harness helpers

/// A control socket the helper processes connect to.
struct Ctl {
    listener: UnixListener,
    path: PathBuf,
}

impl Ctl {
    fn new(dir: &Path) -> Ctl {
        let path = dir.join("ctl.sock");
        let listener = UnixListener::bind(&path).unwrap();
        Ctl { listener, path }
    }

    /// Accepts the next helper connection, failing after [`TIMEOUT`].
    fn accept(&self) -> Conn {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let ts = Timespec {
            tv_sec: i64::try_from(TIMEOUT.as_secs()).unwrap(),
            tv_nsec: 0,
        };
        let mut fds = [PollFd::new(&self.listener, PollFlags::IN)];
        let n = poll(&mut fds, Some(&ts)).unwrap();
        assert_eq!(n, 1, "no helper connected within {TIMEOUT:?}");
        let (stream, _) = self.listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }
}

struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn line(&mut self) -> String {
        let mut s = String::new();
        let n = self
            .reader
            .read_line(&mut s)
            .expect("helper line within timeout");
        assert!(n > 0, "helper closed the control socket");
        s.trim_end_matches('\n').to_owned()
    }

    fn send(&mut self, s: &str) {
        self.writer.write_all(format!("{s}\n").as_bytes()).unwrap();
    }
}

/// A helper process we started; killed (by its own pid) and reaped if a test
/// fails before it ends.
struct Helper {
    child: Child,
}

impl Helper {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    fn wait_exit_code(&mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn role_command(role: &str, envs: &[(&str, OsString)]) -> Command {
    let mut cmd = Command::new(env::current_exe().unwrap());
    cmd.env(ROLE_VAR, role);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Starts a `holder` and waits for its `ready <pid>`.
fn start_holder(ctl: &Ctl, conf: &Path, lock: &str) -> (Helper, Conn) {
    let child = role_command(
        "holder",
        &[
            ("CTL", ctl.path.clone().into()),
            ("CONF", conf.into()),
            ("LOCK", lock.into()),
        ],
    )
    .stdin(Stdio::null())
    .spawn()
    .unwrap();
    let helper = Helper { child };
    let mut conn = ctl.accept();
    assert_eq!(conn.line(), format!("ready {}", helper.pid()));
    (helper, conn)
}

fn signal(
    conf: &Path,
    pidfile: Option<&Path>,
    action: Control,
    verbose: bool,
) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let rc = signal_daemon(conf, pidfile, action, verbose, &mut out, &mut err);
    (
        rc,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn conf_in(dir: &Path) -> PathBuf {
    let conf = dir.join("conman.conf");
    std::fs::write(&conf, "server port=0\n").unwrap();
    conf
}

// ---------------------------------------------------------------------------------
// Tests

fn lock_conflict_names_the_holder_pid() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    let (mut holder, mut conn) = start_holder(&ctl, &conf, "config");

    match ConfigLock::acquire(&conf) {
        Err(LockError::InUse { pid, .. }) => assert_eq!(pid, holder.pid()),
        other => panic!("expected InUse, got {other:?}"),
    }
    let err = ConfigLock::acquire(&conf).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Configuration \"{}\" in use by pid {}",
            conf.display(),
            holder.pid()
        )
    );
    assert_eq!(find_daemon_pid(&conf, None), Some(holder.pid()));
    // The lock wins over a pidfile naming someone else.
    let pidfile = dir.path().join("other.pid");
    std::fs::write(&pidfile, "4242\n").unwrap();
    assert_eq!(find_daemon_pid(&conf, Some(&pidfile)), Some(holder.pid()));

    rustix::process::kill_process(
        rustix::process::Pid::from_raw(holder.pid()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(conn.line(), "signal 15");
    assert_eq!(holder.wait_exit_code(), Some(0));
    // The holder is gone, and its lock with it.
    assert_eq!(find_daemon_pid(&conf, None), None);
    let lock = ConfigLock::acquire(&conf).unwrap();
    drop(lock);
}

fn control_k_r_q_via_lock() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    let (mut holder, mut conn) = start_holder(&ctl, &conf, "config");
    let pid = holder.pid();
    let name = conf.display();

    assert_eq!(
        signal(&conf, None, Control::Query, false),
        (0, format!("{pid}\n"), String::new())
    );

    let (rc, out, err) = signal(&conf, None, Control::Reconfig, true);
    assert_eq!((rc, out.as_str()), (0, ""));
    assert_eq!(
        err,
        format!("Configuration \"{name}\" (pid {pid}) reconfigured on signal=1\n")
    );
    assert_eq!(conn.line(), "signal 1");

    // Without -v, -r is silent.
    assert_eq!(
        signal(&conf, None, Control::Reconfig, false),
        (0, String::new(), String::new())
    );
    assert_eq!(conn.line(), "signal 1");

    let (rc, out, err) = signal(&conf, None, Control::Kill, true);
    assert_eq!((rc, out.as_str()), (0, ""));
    assert_eq!(
        err,
        format!("Configuration \"{name}\" (pid {pid}) terminated on signal=15\n")
    );
    assert_eq!(conn.line(), "signal 15");
    assert_eq!(holder.wait_exit_code(), Some(0));

    for action in [Control::Query, Control::Kill, Control::Reconfig] {
        assert_eq!(
            signal(&conf, None, action, true),
            (
                1,
                String::new(),
                format!("ERROR:     Configuration \"{name}\" does not appear to be active\n")
            )
        );
    }
}

fn control_via_pidfile_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    // No lock: only the pidfile can name this process.
    let (mut holder, mut conn) = start_holder(&ctl, &conf, "none");
    let pid = holder.pid();
    let pidfile = dir.path().join("run/conmand.pid");
    std::fs::create_dir_all(pidfile.parent().unwrap()).unwrap();
    std::fs::write(&pidfile, format!("{pid}\n")).unwrap();

    assert_eq!(find_daemon_pid(&conf, None), None);
    assert_eq!(find_daemon_pid(&conf, Some(&pidfile)), Some(pid));
    assert_eq!(
        signal(&conf, Some(&pidfile), Control::Query, false),
        (0, format!("{pid}\n"), String::new())
    );
    assert_eq!(signal(&conf, Some(&pidfile), Control::Reconfig, false).0, 0);
    assert_eq!(conn.line(), "signal 1");
    assert_eq!(signal(&conf, Some(&pidfile), Control::Kill, false).0, 0);
    assert_eq!(conn.line(), "signal 15");
    assert_eq!(holder.wait_exit_code(), Some(0));
    // -k/-r/-q never delete the pidfile.
    assert!(pidfile.exists());
    // The pid in the file is dead now: ESRCH gives "not active".
    let (rc, _, err) = signal(&conf, Some(&pidfile), Control::Query, false);
    assert_eq!(rc, 1);
    assert!(err.ends_with("does not appear to be active\n"), "{err}");
}

/// Runs the `daemon` role to completion of the original parent process.
fn run_daemon_role(ctl: &Ctl, dir: &Path, mode: &str, conf: &Path) -> std::process::Output {
    role_command(
        "daemon",
        &[
            ("CTL", ctl.path.clone().into()),
            ("MODE", mode.into()),
            ("CONF", conf.into()),
            ("PIDFILE", dir.join("pid/conmand.pid").into()),
            ("LOGFILE", dir.join("log/conmand.log").into()),
        ],
    )
    .stdin(Stdio::null())
    .output()
    .unwrap()
}

fn daemonize_success_exits_0_and_detaches() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    // output() returns once the parent exited and the grandchild let go of the
    // stdout/stderr pipes, i.e. after `finish`.
    let out = run_daemon_role(&ctl, dir.path(), "ok", &conf);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    // Non-fatal messages before daemon mode reach the invoker's terminal directly;
    // the NOTICE logged after switching to daemon mode does not.
    assert_eq!(stderr, "ERROR:     CONFIG[test.conf:1]: nonfatal\n");

    let mut conn = ctl.accept();
    let hello = conn.line();
    let fields: Vec<i32> = hello
        .strip_prefix("grandchild ")
        .unwrap()
        .split(' ')
        .map(|kv| kv.split_once('=').unwrap().1.parse().unwrap())
        .collect();
    let (gpid, pgid, sid) = (fields[0], fields[1], fields[2]);
    assert_eq!(sid, pgid, "setsid made a new session and group");
    assert_ne!(gpid, pgid, "the daemon is not the session leader");
    let pidfile = dir.path().join("pid/conmand.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{gpid}\n")
    );
    assert_eq!(
        conn.line(),
        "finished cwd=/ stdin=/dev/null stdout=/dev/null stderr=/dev/null"
    );

    // Exit-time SIGTERM to the daemon's process group reaches its children.
    conn.send("spawn-holder");
    let mut child_conn = ctl.accept();
    let ready = child_conn.line();
    assert!(ready.starts_with("ready "), "{ready}");
    conn.send("killpg");
    assert_eq!(child_conn.line(), "signal 15");
    assert_eq!(conn.line(), "holder-exit Some(Some(0))");

    conn.send("exit");
    assert_eq!(conn.line(), "bye");
    assert!(!pidfile.exists(), "pidfile removed by its guard");
    let log = std::fs::read_to_string(dir.path().join("log/conmand.log")).unwrap();
    assert!(
        log.contains(&format!(
            " NOTICE:    Starting ConMan daemon test (pid {gpid})\n"
        )),
        "{log}"
    );
    assert!(log.contains(" INFO:      after finish\n"), "{log}");
    assert!(!log.contains("nonfatal"), "{log}");
}

fn daemonize_fail_returns_message_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    let out = run_daemon_role(&ctl, dir.path(), "fail", &conf);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "ERROR:     Configuration \"x\" in use by pid 42\n"
    );
    let mut conn = ctl.accept();
    assert!(conn.line().starts_with("grandchild "));
}

fn daemonize_fail_after_switch_is_logged_and_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    let out = run_daemon_role(&ctl, dir.path(), "fail-logged", &conf);
    assert_eq!(out.status.code(), Some(1));
    let msg = "Unable to bind to port 7890: Address already in use";
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("ERROR:     {msg}\n")
    );
    let mut conn = ctl.accept();
    assert!(conn.line().starts_with("grandchild "));
    let log = std::fs::read_to_string(dir.path().join("log/conmand.log")).unwrap();
    assert!(log.ends_with(&format!(" ERROR:     {msg}\n")), "{log}");
}

fn daemonize_vanished_daemon_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    let out = run_daemon_role(&ctl, dir.path(), "vanish", &conf);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "ERROR:     Daemon exited before completing its startup\n"
    );
}

fn daemonize_then_config_in_use_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    let (mut holder, mut conn) = start_holder(&ctl, &conf, "config");
    let out = run_daemon_role(&ctl, dir.path(), "lock", &conf);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "ERROR:     Configuration \"{}\" in use by pid {}\n",
            conf.display(),
            holder.pid()
        )
    );
    let mut daemon_conn = ctl.accept();
    assert!(daemon_conn.line().starts_with("grandchild "));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(holder.pid()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(conn.line(), "signal 15");
    assert_eq!(holder.wait_exit_code(), Some(0));
}

#[derive(Clone, Default)]
struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn daemon_logfile_locked_elsewhere_warns() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let logfile = dir.path().join("conmand.log");
    std::fs::write(&logfile, "").unwrap();
    let ctl = Ctl::new(dir.path());
    let lock = format!("write:{}", logfile.display());
    let (mut holder, mut conn) = start_holder(&ctl, &conf, &lock);

    let buf = Buf::default();
    let (layer, handle) = daemonlog::layer(LogInit {
        stderr: Some(Box::new(buf.clone())),
        ..LogInit::default()
    });
    let spec = LogfileSpec {
        template: logfile.to_str().unwrap().to_owned(),
        priority: Priority::Info,
        truncate: false,
        expand: Arc::new(|t: &str| Ok(PathBuf::from(t))),
    };
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        handle.switch_to_daemon_mode(Some(spec.clone()), None);
        tracing::info!("lost");
    });
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text,
        format!(
            "WARNING:   Unable to lock daemon logfile \"{}\"\n",
            logfile.display()
        )
    );
    assert!(handle.logfile_path().is_none());
    assert_eq!(std::fs::read_to_string(&logfile).unwrap(), "");

    rustix::process::kill_process(
        rustix::process::Pid::from_raw(holder.pid()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(conn.line(), "signal 15");
    assert_eq!(holder.wait_exit_code(), Some(0));
    // With the other process gone, a reopen (SIGHUP) gets the file back.
    handle.reopen();
    assert_eq!(handle.logfile_path().as_deref(), Some(logfile.as_path()));
}

/// The real peer binary at `path`, or `None` (test skipped) when it is not installed;
/// a missing peer fails the test when `CI=true`.
fn peer(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        return Some(p);
    }
    assert!(
        env::var("CI").as_deref() != Ok("true"),
        "peer {path} is missing and CI=true"
    );
    println!("skipped: peer {path} is not installed");
    None
}

/// Debian's C `conmand -q/-r/-k` and its own start-up lock check find the pid of a
/// process holding our `ConfigLock`, and print the same messages we do.
fn interop_debian_conmand_sees_our_lock() {
    let Some(conmand) = peer("/usr/sbin/conmand") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    let ctl = Ctl::new(dir.path());
    let (mut holder, mut conn) = start_holder(&ctl, &conf, "config");
    let pid = holder.pid();
    let c = |extra: &[&str]| {
        let out = Command::new(&conmand)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().map(|c| u8::try_from(c).unwrap()),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };

    assert_eq!(c(&["-q"]), (Some(0), format!("{pid}\n"), String::new()));

    // A second daemon on the same configuration is refused with our exact text.
    let ours = ConfigLock::acquire(&conf).unwrap_err().to_string();
    let (code, _, err) = c(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(err, daemonlog::format_line(Priority::Err, &ours));

    let (code, _, err) = c(&["-r", "-v"]);
    assert_eq!(code, Some(0));
    assert_eq!(conn.line(), "signal 1");
    assert_eq!(
        signal(&conf, None, Control::Reconfig, true),
        (0, String::new(), err)
    );
    assert_eq!(conn.line(), "signal 1");

    let (code, _, err) = c(&["-k", "-v"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        err,
        format!(
            "Configuration \"{}\" (pid {pid}) terminated on signal=15\n",
            conf.display()
        )
    );
    assert_eq!(conn.line(), "signal 15");
    assert_eq!(holder.wait_exit_code(), Some(0));

    // Nobody home: the same message and status from both.
    let (code, out, err) = c(&["-q"]);
    assert_eq!(code, Some(1));
    assert!(err.ends_with("does not appear to be active\n"), "{err}");
    assert_eq!(
        (1, out, err),
        signal(&conf, None, Control::Query, false),
        "C and Rust agree"
    );
}

/// Our `find_daemon_pid`, `ConfigLock` and `-q/-r/-k` against a running Debian
/// `conmand -F` (which binds a free loopback port and has one idle unix console).
fn interop_our_tools_see_debian_conmand() {
    let Some(conmand) = peer("/usr/sbin/conmand") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("conman.conf");
    std::fs::write(
        &conf,
        format!(
            "server loopback=on port={port}\nconsole name=\"u\" dev=\"unix:{}\"\n",
            dir.path().join("nosuch.sock").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(&conmand)
        .arg("-F")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut daemon = Helper { child };
    let pid = daemon.pid();
    // Lines of the daemon's stderr. Bounded; when full the reader thread blocks,
    // which only slows the daemon's logging (a handful of lines here).
    let (tx, rx) = std::sync::mpsc::sync_channel::<String>(64);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |want: &str| {
        loop {
            let line = rx
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|e| panic!("no {want:?} from conmand: {e}"));
            if line == want {
                break;
            }
        }
    };
    wait_for(&format!(
        "NOTICE:    Starting ConMan daemon 0.2.7 (pid {pid})"
    ));

    assert_eq!(find_daemon_pid(&conf, None), Some(pid));
    match ConfigLock::acquire(&conf) {
        Err(LockError::InUse { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(
        signal(&conf, None, Control::Query, false),
        (0, format!("{pid}\n"), String::new())
    );
    assert_eq!(signal(&conf, None, Control::Reconfig, false).0, 0);
    wait_for("NOTICE:    Performing reconfig on signal=1");
    assert_eq!(signal(&conf, None, Control::Kill, false).0, 0);
    wait_for("NOTICE:    Exiting on signal=15");
    assert_eq!(daemon.wait_exit_code(), Some(0));
}

fn limits_in_a_child_process() {
    let out = role_command("limits", &[])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    // coredump=on: soft == hard (unlimited with privilege, else the hard limit).
    let on: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(on[0], "core-on");
    assert_eq!(on[1], on[2], "{stdout}");
    assert_eq!(lines[1], "core-off Some(0) Some(0)");
    // nofile: keep, lower to 512 (within limits), then raise soft to hard.
    let keep: Vec<&str> = lines[2].split(' ').collect();
    assert_eq!(keep[0], "nofile-keep");
    assert_eq!(
        keep[1], keep[2],
        "returned value is the soft limit: {stdout}"
    );
    assert_eq!(lines[3], "nofile-512 Some(512) Some(512)");
    let hard: Vec<&str> = lines[4].split(' ').collect();
    assert_eq!(hard[0], "nofile-hard");
    assert_eq!(hard[1], hard[2], "soft raised to hard: {stdout}");
}

// ---------------------------------------------------------------------------------
// Helper roles (each runs in its own single-threaded process)

mod roles {
    use super::*;

    use nix::sys::signal::{SigSet, Signal};

    pub(super) fn run(role: &str) -> ExitCode {
        match role {
            "holder" => holder(),
            "daemon" => daemon(),
            "limits" => limits(),
            other => {
                eprintln!("unknown role {other}");
                ExitCode::from(2)
            }
        }
    }

    fn var(name: &str) -> PathBuf {
        env::var_os(name).map(PathBuf::from).unwrap_or_default()
    }

    fn connect() -> UnixStream {
        UnixStream::connect(var("CTL")).unwrap()
    }

    fn holder() -> ExitCode {
        // Block the signals first so that they queue for `wait` instead of killing us.
        let mut set = SigSet::empty();
        set.add(Signal::SIGHUP);
        set.add(Signal::SIGTERM);
        set.thread_block().unwrap();
        let lock_spec = env::var("LOCK").unwrap_or_default();
        let _config_lock =
            (lock_spec == "config").then(|| ConfigLock::acquire(&var("CONF")).unwrap());
        let _file_lock = lock_spec.strip_prefix("write:").map(|path| {
            let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                .unwrap();
            f
        });
        let mut ctl = connect();
        writeln!(ctl, "ready {}", std::process::id()).unwrap();
        loop {
            let sig = set.wait().unwrap();
            writeln!(ctl, "signal {}", sig as i32).unwrap();
            if sig == Signal::SIGTERM {
                return ExitCode::SUCCESS;
            }
        }
    }

    fn daemon() -> ExitCode {
        let log = daemonlog::init(LogInit::default()).unwrap();
        let d = match daemonize::begin() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(3);
            }
        };
        // Only the grandchild gets here.
        let mut ctl = connect();
        let sid = rustix::process::getsid(None)
            .unwrap()
            .as_raw_nonzero()
            .get();
        writeln!(
            ctl,
            "grandchild pid={} pgid={} sid={sid}",
            std::process::id(),
            d.pgid()
        )
        .unwrap();
        let mode = env::var("MODE").unwrap_or_default();
        let pgid = d.pgid();
        let logfile_spec = || LogfileSpec {
            template: var("LOGFILE").to_str().unwrap().to_owned(),
            priority: Priority::Info,
            truncate: false,
            expand: Arc::new(|t: &str| Ok(PathBuf::from(t))),
        };
        match mode.as_str() {
            "fail" => d.fail("Configuration \"x\" in use by pid 42"),
            "vanish" => std::process::exit(3),
            "lock" => {
                if let Err(e) = ConfigLock::acquire(&var("CONF")) {
                    d.fail(&e.to_string());
                }
                d.fail("expected the config to be in use");
            }
            "fail-logged" => {
                log.switch_to_daemon_mode(Some(logfile_spec()), None);
                d.fail_logged(&log, "Unable to bind to port 7890: Address already in use");
            }
            _ => {}
        }
        tracing::error!("CONFIG[test.conf:1]: nonfatal");
        let pidfile = Pidfile::create(&var("PIDFILE")).unwrap();
        log.switch_to_daemon_mode(Some(logfile_spec()), None);
        conmand::notice!("Starting ConMan daemon test (pid {})", std::process::id());
        d.finish();
        let link = |fd: u8| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let cwd = env::current_dir().unwrap();
        writeln!(
            ctl,
            "finished cwd={} stdin={} stdout={} stderr={}",
            cwd.display(),
            link(0),
            link(1),
            link(2)
        )
        .unwrap();
        tracing::info!("after finish");
        let mut reader = BufReader::new(ctl.try_clone().unwrap());
        let mut spawned: Option<Child> = None;
        loop {
            let mut line = String::new();
            // EOF or an error (the test died) ends us too.
            if !matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                break;
            }
            match line.trim_end() {
                // A child left in our process group, like a process console.
                "spawn-holder" => {
                    let child = role_command(
                        "holder",
                        &[("CTL", var("CTL").into()), ("LOCK", "none".into())],
                    )
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap();
                    spawned = Some(child);
                }
                "killpg" => {
                    // We are in the group too: keep our own SIGTERM pending.
                    let mut set = SigSet::empty();
                    set.add(Signal::SIGTERM);
                    set.thread_block().unwrap();
                    daemonize::terminate_process_group(pgid).unwrap();
                    let status = spawned.take().map(|mut c| c.wait().unwrap().code());
                    writeln!(ctl, "holder-exit {status:?}").unwrap();
                }
                _ => break,
            }
        }
        drop(pidfile);
        let _ = writeln!(ctl, "bye");
        ExitCode::SUCCESS
    }

    fn limits() -> ExitCode {
        use rustix::process::{Resource, getrlimit};
        let core = |tag: &str| {
            let l = getrlimit(Resource::Core);
            println!("{tag} {:?} {:?}", l.current, l.maximum);
        };
        set_coredump(true).unwrap();
        core("core-on");
        set_coredump(false).unwrap();
        core("core-off");
        let got = set_nofile(0).unwrap();
        println!(
            "nofile-keep {:?} {:?}",
            got,
            getrlimit(Resource::Nofile).current
        );
        let got = set_nofile(512).unwrap();
        println!(
            "nofile-512 {:?} {:?}",
            got,
            getrlimit(Resource::Nofile).current
        );
        let got = set_nofile(-1).unwrap();
        let now = getrlimit(Resource::Nofile);
        assert_eq!(got, now.current);
        println!("nofile-hard {:?} {:?}", now.current, now.maximum);
        ExitCode::SUCCESS
    }
}
