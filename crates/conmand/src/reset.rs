//! The `&R` reset command: `/bin/sh -c <resetcmd>` in its own process group, output
//! discarded, killed with its group if it runs longer than a minute.

use std::ffi::OsString;
use std::io;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

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

/// Wait for the command; after `limit`, kill its whole process group.
pub async fn supervise(child: &mut Child, pid: u32, console: &str, limit: Duration) {
    if tokio::time::timeout(limit, child.wait()).await.is_ok() {
        return;
    }
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
    crate::notice!(
        "Console [{console}] reset terminated after {}s (pid {pid})",
        limit.as_secs()
    );
    let _ = child.wait().await;
}
