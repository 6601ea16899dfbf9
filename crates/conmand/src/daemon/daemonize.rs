//! Daemonizing with a status pipe, ConMan's `begin_daemonize` / `end_daemonize`
//! (reference §5.2 step 3 and step 13).
//!
//! [`begin`] must run while the process is still single-threaded, i.e. **before the
//! tokio runtime (or any other thread) exists**; it refuses otherwise. It sets the
//! umask to [`DAEMON_UMASK`] (022), makes a pipe and forks. The original parent blocks reading the pipe;
//! the child calls `setsid`, ignores SIGHUP (until the daemon installs its own
//! handler) and forks again; only the grandchild returns from [`begin`], holding a
//! [`Daemonizing`]. Stdin, stdout and stderr are still the invoker's, so warnings
//! printed during startup (for example non-fatal config errors) reach the terminal.
//!
//! The grandchild then ends the startup phase with exactly one of:
//!
//! * [`Daemonizing::finish`]: `chdir("/")`, stdin/stdout/stderr onto `/dev/null`, and
//!   a success byte down the pipe: the parent exits 0.
//! * [`Daemonizing::fail`]: the fatal message goes down the pipe and the grandchild
//!   exits 1; the parent prints it on stderr as `ERROR:     <message>` and exits 1.
//!
//! If the grandchild dies (or drops the [`Daemonizing`]) without either, the parent
//! prints `ERROR:     Daemon exited before completing its startup` and exits 1
//! (ConMan would exit 0 here).
//!
//! Under systemd `Type=notify` (`NOTIFY_SOCKET` set) the daemon must not fork at
//! all: see [`should_daemonize`].
//!
//! Pipe protocol (private to this module): one byte, `K` (success) or `E` (failure),
//! then for `E` the message text up to end of file.

use std::ffi::OsStr;
use std::io::{self, PipeWriter, Read, Write};
use std::process;

use conmand_core::config::Priority;
use conmand_core::oserror::strerror;
use nix::unistd::ForkResult;
use rustix::fs::Mode;

use crate::daemonlog::{DaemonLogHandle, format_line};

const STATUS_OK: u8 = b'K';

/// The daemon's umask. ConMan sets 0 and keeps it, so every file its process consoles
/// and `resetcmd` create is world-writable. The daemon's own files do not depend on it
/// (each is created with an explicit mode: logs 0600, daemon log and pidfile 0644,
/// directories 0755), so 022 changes nothing for them and gives children the usual
/// default.
pub const DAEMON_UMASK: u32 = 0o022;
const STATUS_ERR: u8 = b'E';

/// Errors detected in the original process, before any fork succeeded. After the
/// first fork, errors travel down the pipe instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// Other threads exist, so forking is not safe.
    #[error("Unable to daemonize: the process already runs {threads} threads")]
    Threaded {
        /// How many threads `/proc/self/task` lists.
        threads: usize,
    },
    /// `pipe` failed.
    #[error("Unable to create daemon pipe: {}", strerror(.0))]
    Pipe(#[source] io::Error),
    /// The first `fork` failed.
    #[error("Unable to create child process: {}", strerror(.0))]
    Fork(#[source] io::Error),
    /// [`terminate_process_group`] failed (ConMan logs this as a warning).
    #[error("Unable to terminate process group ID {pgid}: {}", strerror(source))]
    ProcessGroup {
        /// The process group.
        pgid: i32,
        /// The OS error.
        source: io::Error,
    },
}

/// Sends SIGTERM to the daemon's whole process group at exit, which also ends
/// process-console children left behind (ConMan does this in daemon mode only, with
/// the pgid from [`Daemonizing::pgid`]).
///
/// The calling process is in the group and gets the SIGTERM too: call it last,
/// while a SIGTERM handler is installed (tokio's stays installed once registered)
/// or with SIGTERM blocked.
pub fn terminate_process_group(pgid: i32) -> Result<(), DaemonError> {
    // Never let a bogus value become kill(0, ...) or kill(-1, ...) (every process).
    let group = (pgid > 1)
        .then(|| rustix::process::Pid::from_raw(pgid))
        .flatten()
        .ok_or_else(|| DaemonError::ProcessGroup {
            pgid,
            source: io::Error::from_raw_os_error(libc::EINVAL),
        })?;
    rustix::process::kill_process_group(group, rustix::process::Signal::TERM).map_err(|e| {
        DaemonError::ProcessGroup {
            pgid,
            source: e.into(),
        }
    })
}

/// Whether `conmand` should daemonize: not with `-F`, and not under systemd
/// `Type=notify` (when `NOTIFY_SOCKET` is set and non-empty), where the service
/// manager tracks the process it started and expects `READY=1` from it.
pub fn should_daemonize(foreground: bool) -> bool {
    should_daemonize_with(foreground, std::env::var_os("NOTIFY_SOCKET").as_deref())
}

/// Pure form of [`should_daemonize`] with the `NOTIFY_SOCKET` value passed in.
pub fn should_daemonize_with(foreground: bool, notify_socket: Option<&OsStr>) -> bool {
    !foreground && notify_socket.is_none_or(OsStr::is_empty)
}

/// The daemon between [`begin`] and [`Daemonizing::finish`] / [`Daemonizing::fail`]:
/// owns the write end of the status pipe.
#[derive(Debug)]
pub struct Daemonizing {
    /// Write end of the status pipe (close-on-exec).
    pipe: PipeWriter,
    /// The session and process group made by `setsid` (the intermediate child's pid).
    /// The daemon's processes share it; ConMan sends SIGTERM to `-pgid` at exit.
    pgid: i32,
}

/// Detaches from the terminal; returns only in the grandchild (the daemon).
///
/// In the original process this function never returns: it waits for the daemon's
/// status and exits 0 or 1. Must be called before any thread is started.
pub fn begin() -> Result<Daemonizing, DaemonError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(DaemonError::Threaded { threads });
    }
    rustix::process::umask(Mode::from_raw_mode(DAEMON_UMASK));
    let (reader, writer) = io::pipe().map_err(DaemonError::Pipe)?;
    match fork_process().map_err(DaemonError::Fork)? {
        ForkResult::Parent { child } => {
            drop(writer);
            let code = wait_for_daemon(reader, &mut io::stderr());
            // Reap the intermediate child; it exits right after its fork.
            let _ = nix::sys::wait::waitpid(child, None);
            process::exit(code);
        }
        ForkResult::Child => {}
    }
    drop(reader);
    let mut writer = writer;
    let pgid = match rustix::process::setsid() {
        Ok(pid) => pid.as_raw_nonzero().get(),
        Err(e) => report_and_exit(
            &mut writer,
            &format!(
                "Unable to disassociate controlling tty: {}",
                strerror(&e.into())
            ),
        ),
    };
    ignore_sighup();
    match fork_process() {
        Ok(ForkResult::Parent { .. }) => process::exit(0),
        Ok(ForkResult::Child) => {}
        Err(e) => report_and_exit(
            &mut writer,
            &format!("Unable to create grandchild process: {}", strerror(&e)),
        ),
    }
    Ok(Daemonizing { pipe: writer, pgid })
}

impl Daemonizing {
    /// The daemon's session / process group id.
    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// Reports a fatal startup error to the invoking shell and exits 1. The parent
    /// prints each line of `message` as `ERROR:     <line>` on its stderr.
    ///
    /// `message` is not logged here: log it yourself when stderr is no longer
    /// active (daemon mode), or the invoker would see it twice.
    pub fn fail(mut self, message: &str) -> ! {
        report_and_exit(&mut self.pipe, message)
    }

    /// ConMan's `log_err` while daemonizing: when stderr is no longer active (daemon
    /// mode), first writes `message` at ERROR to the daemon log file and syslog, then
    /// [`Daemonizing::fail`]s. While stderr is active the parent's copy is the only
    /// one, so the invoker sees the message exactly once either way.
    pub fn fail_logged(self, log: &DaemonLogHandle, message: &str) -> ! {
        if !log.stderr_active() {
            log.log(Priority::Err, message);
        }
        self.fail(message)
    }

    /// Completes daemonizing: `chdir("/")`, stdin/stdout/stderr onto `/dev/null`,
    /// then tells the parent to exit 0. A failure here is reported like
    /// [`Daemonizing::fail`].
    pub fn finish(mut self) {
        if let Err(message) = detach_stdio() {
            report_and_exit(&mut self.pipe, &message);
        }
        // If the parent is gone there is nobody left to tell.
        let _ = self.pipe.write_all(&[STATUS_OK]);
    }
}

fn detach_stdio() -> Result<(), String> {
    rustix::process::chdir("/").map_err(|e| {
        format!(
            "Unable to change to root directory: {}",
            strerror(&e.into())
        )
    })?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("Unable to open \"/dev/null\": {}", strerror(&e)))?;
    let dup = |r: rustix::io::Result<()>, what: &str| {
        r.map_err(|e| {
            format!(
                "Unable to dup \"/dev/null\" onto {what}: {}",
                strerror(&e.into())
            )
        })
    };
    dup(rustix::stdio::dup2_stdin(&null), "stdin")?;
    dup(rustix::stdio::dup2_stdout(&null), "stdout")?;
    dup(rustix::stdio::dup2_stderr(&null), "stderr")?;
    Ok(())
}

fn report_and_exit(pipe: &mut PipeWriter, message: &str) -> ! {
    let mut frame = Vec::with_capacity(message.len() + 1);
    frame.push(STATUS_ERR);
    frame.extend_from_slice(message.as_bytes());
    // If the parent is gone there is nobody left to tell.
    let _ = pipe.write_all(&frame);
    process::exit(1)
}

/// The original parent: reads the daemon's status and returns the exit code,
/// printing any fatal message to `stderr`.
fn wait_for_daemon(mut reader: impl Read, stderr: &mut dyn Write) -> i32 {
    let mut data = Vec::new();
    let read = reader.read_to_end(&mut data);
    let (code, message) = match (read, data.split_first()) {
        (_, Some((&STATUS_OK, _))) => (0, None),
        (_, Some((&STATUS_ERR, text))) => (1, Some(String::from_utf8_lossy(text).into_owned())),
        (Err(e), _) => (
            1,
            Some(format!(
                "Unable to read status from grandchild process: {}",
                strerror(&e)
            )),
        ),
        _ => (
            1,
            Some("Daemon exited before completing its startup".to_owned()),
        ),
    };
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        let _ = stderr.write_all(format_line(Priority::Err, &message).as_bytes());
        let _ = stderr.flush();
    }
    code
}

/// Threads of this process per `/proc/self/task` (1 when `/proc` is unavailable).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |dir| dir.count())
}

#[allow(unsafe_code)]
fn fork_process() -> io::Result<ForkResult> {
    // SAFETY: `begin` checked that this process has a single thread, so no other
    // thread can hold a lock (e.g. the allocator's) that the child would inherit
    // locked; the child carries on as an ordinary single-threaded process.
    unsafe { nix::unistd::fork() }.map_err(io::Error::from)
}

#[allow(unsafe_code)]
fn ignore_sighup() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: installing SIG_IGN runs no Rust code in signal context; there is no
    // handler whose async-signal-safety could be violated.
    let _ = unsafe { signal(Signal::SIGHUP, SigHandler::SigIgn) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent_sees(bytes: &[u8]) -> (i32, String) {
        let mut err = Vec::new();
        let code = wait_for_daemon(bytes, &mut err);
        (code, String::from_utf8(err).unwrap())
    }

    #[test]
    fn parent_exit_status_and_message() {
        assert_eq!(parent_sees(b"K"), (0, String::new()));
        assert_eq!(
            parent_sees(b"EConfiguration \"/c\" in use by pid 7"),
            (
                1,
                "ERROR:     Configuration \"/c\" in use by pid 7\n".to_owned()
            )
        );
        assert_eq!(
            parent_sees(b"Eone\ntwo"),
            (1, "ERROR:     one\nERROR:     two\n".to_owned())
        );
        assert_eq!(
            parent_sees(b""),
            (
                1,
                "ERROR:     Daemon exited before completing its startup\n".to_owned()
            )
        );
    }

    #[test]
    fn process_group_refuses_bogus_ids() {
        for pgid in [-1, 0, 1] {
            let err = terminate_process_group(pgid).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("Unable to terminate process group ID {pgid}: Invalid argument")
            );
        }
    }

    #[test]
    fn notify_socket_disables_daemonizing() {
        assert!(should_daemonize_with(false, None));
        assert!(!should_daemonize_with(true, None));
        assert!(!should_daemonize_with(
            false,
            Some(OsStr::new("/run/systemd/notify"))
        ));
        assert!(should_daemonize_with(false, Some(OsStr::new(""))));
    }

    #[test]
    fn refuses_when_threads_exist() {
        // The test harness runs tests on threads, so this process has several.
        let _keep = std::thread::spawn(std::thread::park);
        match begin() {
            Err(DaemonError::Threaded { threads }) => assert!(threads > 1),
            other => panic!("expected Threaded, got {other:?}"),
        }
    }
}
