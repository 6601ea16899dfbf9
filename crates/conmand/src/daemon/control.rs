//! `conmand -k`, `-r` and `-q`: signal or query the daemon running a configuration
//! (ConMan `signal_daemon`, reference §5.3); also `--reopen-logs` (SIGUSR1, ours).
//!
//! The pid comes from the configuration file's lock, else from the `-P` pidfile
//! (see [`crate::daemon::lock`]). Messages and exit codes are ConMan's:
//!
//! | situation | output | exit |
//! |---|---|---|
//! | no pid found, or `kill` gives ESRCH | stderr `ERROR:     Configuration "<f>" does not appear to be active` | 1 |
//! | other `kill` error (EPERM ignored for `-q`) | stderr `ERROR:     Configuration "<f>" (pid N) cannot be sent signal=S: <err>` | 1 |
//! | `-q` | stdout `N` | 0 |
//! | `-k`/`-r` with `-v` | stderr `Configuration "<f>" (pid N) terminated on signal=15` / `reconfigured on signal=1` | 0 |
//!
//! These modes never delete the pidfile. ConMan runs them after its daemonize fork;
//! the visible result (text and exit status) is the same when the caller runs
//! [`signal_daemon`] directly without daemonizing, which is simpler and recommended.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use conmand_core::config::Priority;
use conmand_core::oserror::strerror;
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

use crate::daemon::lock::lock_holder;
use crate::daemon::pidfile::read_pidfile;
use crate::daemonlog::format_line;

/// What to do to the running daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `-k`: SIGTERM.
    Kill,
    /// `-r`: SIGHUP (reopen logs).
    Reconfig,
    /// `-q`: print the pid (signal 0: existence check only).
    Query,
    /// `--reopen-logs`: SIGUSR1 (reopen the logs only; not in ConMan).
    ReopenLogs,
}

impl Control {
    /// The signal number sent (15, 1 or 0).
    pub fn signal_number(self) -> i32 {
        match self {
            Control::Kill => libc::SIGTERM,
            Control::Reconfig => libc::SIGHUP,
            Control::Query => 0,
            Control::ReopenLogs => libc::SIGUSR1,
        }
    }
}

/// Signals (or queries) the daemon running `config_path`; writes ConMan's messages to
/// `out` (stdout) and `err` (stderr) and returns the process exit code.
///
/// `pidfile` is the `-P` pidfile, already made absolute by the caller.
pub fn signal_daemon(
    config_path: &Path,
    pidfile: Option<&Path>,
    action: Control,
    verbose: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    match run(config_path, pidfile, action, verbose, out, err) {
        Ok(()) => 0,
        Err(message) => {
            let _ = err.write_all(format_line(Priority::Err, &message).as_bytes());
            let _ = err.flush();
            1
        }
    }
}

fn run(
    config_path: &Path,
    pidfile: Option<&Path>,
    action: Control,
    verbose: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let name = config_path.display();
    let not_active = || format!("Configuration \"{name}\" does not appear to be active");
    let file = File::open(config_path)
        .map_err(|e| format!("Unable to open \"{name}\": {}", strerror(&e)))?;
    let pid = lock_holder(&file)
        .ok()
        .flatten()
        .or_else(|| pidfile.and_then(read_pidfile))
        .ok_or_else(not_active)?;
    drop(file);
    let target = Pid::from_raw(pid).ok_or_else(not_active)?;
    let sent = match action {
        Control::Kill => rustix::process::kill_process(target, Signal::TERM),
        Control::Reconfig => rustix::process::kill_process(target, Signal::HUP),
        Control::Query => rustix::process::test_kill_process(target),
        Control::ReopenLogs => rustix::process::kill_process(target, Signal::USR1),
    };
    match sent {
        Ok(()) => {}
        Err(Errno::PERM) if action == Control::Query => {}
        Err(Errno::SRCH) => return Err(not_active()),
        Err(e) => {
            return Err(format!(
                "Configuration \"{name}\" (pid {pid}) cannot be sent signal={}: {}",
                action.signal_number(),
                strerror(&io::Error::from(e))
            ));
        }
    }
    let written = match action {
        Control::Query => writeln!(out, "{pid}").and_then(|()| out.flush()),
        _ if verbose => {
            let what = match action {
                Control::Kill => "terminated on",
                Control::ReopenLogs => "reopened its logs on",
                _ => "reconfigured on",
            };
            writeln!(
                err,
                "Configuration \"{name}\" (pid {pid}) {what} signal={}",
                action.signal_number()
            )
        }
        _ => Ok(()),
    };
    // The signal went out; a closed stdout/stderr does not change the exit status.
    let _ = written;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(conf: &Path, pidfile: Option<&Path>, action: Control) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let rc = signal_daemon(conf, pidfile, action, true, &mut out, &mut err);
        (
            rc,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn signal_numbers() {
        assert_eq!(Control::Kill.signal_number(), 15);
        assert_eq!(Control::Reconfig.signal_number(), 1);
        assert_eq!(Control::Query.signal_number(), 0);
    }

    #[test]
    fn inactive_configuration_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conman.conf");
        std::fs::write(&conf, "").unwrap();
        for action in [Control::Kill, Control::Reconfig, Control::Query] {
            let (rc, out, err) = call(&conf, None, action);
            assert_eq!(rc, 1);
            assert_eq!(out, "");
            assert_eq!(
                err,
                format!(
                    "ERROR:     Configuration \"{}\" does not appear to be active\n",
                    conf.display()
                )
            );
        }
    }

    #[test]
    fn missing_configuration_is_unable_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("missing.conf");
        let (rc, _, err) = call(&conf, None, Control::Query);
        assert_eq!(rc, 1);
        assert_eq!(
            err,
            format!(
                "ERROR:     Unable to open \"{}\": No such file or directory\n",
                conf.display()
            )
        );
    }

    #[test]
    fn query_via_pidfile_prints_pid_of_a_live_process() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conman.conf");
        std::fs::write(&conf, "").unwrap();
        let pidfile = dir.path().join("conmand.pid");
        // Our own pid: alive, and signal 0 harms nothing.
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        let (rc, out, err) = call(&conf, Some(&pidfile), Control::Query);
        assert_eq!((rc, err.as_str()), (0, ""));
        assert_eq!(out, format!("{}\n", std::process::id()));
    }
}
