//! The `&R` reset command: `/bin/sh -c <resetcmd>` in its own process group, output
//! discarded, killed with its group if it runs longer than a minute, or longer than
//! 5 s once the daemon is stopping (shutdown waits for it).

use std::ffi::OsString;
use std::io;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// How long a running reset command may still take once the daemon is stopping.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Start the expanded reset command.
pub fn spawn(cmd: &str, env: &[(OsString, OsString)]) -> io::Result<Child> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

/// Wait for the command; after `limit`, or when the daemon stops (`cancel`), kill its
/// whole process group (and reap it).
pub async fn supervise(
    child: &mut Child,
    pid: u32,
    console: &str,
    limit: Duration,
    cancel: CancellationToken,
) {
    let timed_out = tokio::select! {
        _ = child.wait() => return,
        _ = tokio::time::sleep(limit) => true,
        _ = cancel.cancelled() => false,
    };
    // Stopping: a power-cycle command half done is worse than a short wait.
    if !timed_out
        && tokio::time::timeout(SHUTDOWN_GRACE, child.wait())
            .await
            .is_ok()
    {
        return;
    }
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
    if timed_out {
        crate::notice!(
            "Console [{console}] reset terminated after {}s (pid {pid})",
            limit.as_secs()
        );
    }
    let _ = child.wait().await;
}
