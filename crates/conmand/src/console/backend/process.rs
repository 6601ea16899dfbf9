//! Process consoles: a program run on a pseudo-terminal.
//!
//! ConMan runs the program over a non-blocking socketpair, which breaks ordinary
//! programs (reference §2.5). We give the child a real pty as its controlling terminal,
//! in its own session, with the pty in raw mode so the bytes are the ones ConMan's
//! socketpair would carry (no echo, no CR/LF translation). When the connection closes,
//! the child's whole process group is terminated (expect scripts start grandchildren).

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use conmand_core::oserror::strerror;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use super::{Backend, Backoff, BoxFuture, Connection, ConsoleWriter, OpenError};

/// A console whose device is a program on a pty.
pub struct ProcessBackend {
    argv: Vec<String>,
    env: Vec<(OsString, OsString)>,
    /// Where the delayed SIGKILL of a stopped child's group runs (daemon shutdown
    /// waits for it).
    tasks: tokio_util::task::TaskTracker,
}

impl ProcessBackend {
    /// `argv` is the resolved argument vector (`argv[0]` absolute, `%N` substituted);
    /// `env` is the complete environment the child gets.
    pub fn new(argv: Vec<String>, env: Vec<(OsString, OsString)>) -> Self {
        Self::with_tracker(argv, env, tokio_util::task::TaskTracker::new())
    }

    /// As [`ProcessBackend::new`], with the tracker the daemon waits for at shutdown.
    pub fn with_tracker(
        argv: Vec<String>,
        env: Vec<(OsString, OsString)>,
        tasks: tokio_util::task::TaskTracker,
    ) -> Self {
        ProcessBackend { argv, env, tasks }
    }

    fn prog_name(&self) -> String {
        let arg0 = self.argv.first().map(String::as_str).unwrap_or("");
        Path::new(arg0)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg0.to_string())
    }

    fn check_prog(&self) -> Result<(), OpenError> {
        let prog = self.argv.first().map(String::as_str).unwrap_or("");
        let meta = std::fs::metadata(prog)
            .map_err(|e| OpenError::Failed(format!("\"{prog}\" stat error: {}", strerror(&e))))?;
        if !meta.is_file() {
            return Err(OpenError::Failed(format!("\"{prog}\" not a regular file")));
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(OpenError::Failed(format!("\"{prog}\" not executable")));
        }
        Ok(())
    }

    fn spawn(&self) -> Result<Connection, OpenError> {
        self.check_prog()?;
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            OpenError::Failed(format!(
                "unable to {what} for \"{}\": {e}",
                self.prog_name()
            ))
        };
        let (pty, pts) = open_pty().map_err(|e| fail("allocate a pty", &e))?;
        make_raw(&pts).map_err(|e| fail("set raw mode on the pty", &e))?;
        let mut child = pty_process::Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .spawn(pts)
            .map_err(|e| fail("spawn the program", &e))?;
        let pid = child.id().unwrap_or(0);
        let exited = Arc::new(AtomicBool::new(false));
        let (exit_tx, exit_rx) = oneshot::channel();
        let exited2 = exited.clone();
        // The waiter owns the child: it reaps it and tells the reader it is gone.
        self.tasks.spawn(async move {
            let _ = child.wait().await;
            exited2.store(true, Ordering::SeqCst);
            let _ = exit_tx.send(());
        });
        let (r, w) = pty.into_split();
        Ok(Connection {
            reader: Box::new(PtyReader {
                inner: r,
                child_exit: Some(exit_rx),
            }),
            writer: Box::new(PtyWriter { inner: w }),
            connected_target: Some(format!("\"{}\" (pid {pid})", self.prog_name())),
            report_uptime: true,
            guard: Some(Box::new(ProcessGuard {
                pid,
                exited,
                tasks: self.tasks.clone(),
            })),
        })
    }
}

impl Backend for ProcessBackend {
    fn describe(&self) -> String {
        format!("\"{}\"", self.prog_name())
    }

    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>> {
        Box::pin(async move { self.spawn() })
    }

    fn descriptors(&self) -> usize {
        // The pty master and the child's exit notification.
        2
    }

    fn backoff(&self) -> Backoff {
        // ConMan's PROCESS_MIN_TIMEOUT / PROCESS_MAX_TIMEOUT (reference §2.2).
        Backoff {
            min: Duration::from_secs(60),
            max: Duration::from_secs(1800),
            reset_after: Duration::from_secs(60),
        }
    }
}

/// How the pty master is opened: close-on-exec *at* open (Linux's `posix_openpt`
/// takes `O_CLOEXEC`), so a program another thread of the daemon starts at the same
/// moment (another console, a `resetcmd`) can never inherit it. pty-process sets the
/// flag with `fcntl` after opening, which leaves that window.
const MASTER_FLAGS: rustix::pty::OpenptFlags = rustix::pty::OpenptFlags::RDWR
    .union(rustix::pty::OpenptFlags::NOCTTY)
    .union(rustix::pty::OpenptFlags::CLOEXEC);

/// Allocates a pty: the master (non-blocking, registered with the runtime) and the
/// terminal the program gets, both close-on-exec from the moment they exist.
fn open_pty() -> io::Result<(pty_process::Pty, pty_process::Pts)> {
    use rustix::fs::{Mode, OFlags};
    let master = rustix::pty::openpt(MASTER_FLAGS)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let pts = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let flags = rustix::fs::fcntl_getfl(&master)?;
    rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK)?;
    adopt_pty(master, pts)
}

/// Hands a pty pair opened by [`open_pty`] to pty-process, which owns the I/O from
/// then on.
#[allow(unsafe_code)]
fn adopt_pty(
    master: std::os::fd::OwnedFd,
    pts: std::os::fd::OwnedFd,
) -> io::Result<(pty_process::Pty, pty_process::Pts)> {
    // SAFETY: `master` is a valid, open pty master in non-blocking mode and `pts` is
    // a valid, open descriptor of its terminal (both just opened by `open_pty`, owned
    // here and moved in), which is all `Pty::from_fd` and `Pts::from_fd` require.
    let pty = unsafe { pty_process::Pty::from_fd(master) }.map_err(io::Error::other)?;
    // SAFETY: see above.
    let pts = unsafe { pty_process::Pts::from_fd(pts) };
    Ok((pty, pts))
}

/// Put the child's side of the pty in raw mode: the same bytes ConMan's socketpair
/// would carry.
fn make_raw(pts: &pty_process::Pts) -> io::Result<()> {
    use rustix::termios::{self, OptionalActions};
    let mut t = termios::tcgetattr(pts)?;
    t.make_raw();
    termios::tcsetattr(pts, OptionalActions::Now, &t)?;
    Ok(())
}

/// Kills the child's process group when the connection is dropped.
struct ProcessGuard {
    pid: u32,
    exited: Arc<AtomicBool>,
    tasks: tokio_util::task::TaskTracker,
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) else {
            return;
        };
        // The child is a session leader (setsid), so its pgid is its pid. Terminate the
        // group politely first (expect scripts tear down ipmitool/ssh), then make sure.
        // Linux does not hand out a pid that is still in use as a process group id,
        // so while any member of the group lives the id is still ours.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
        let exited = self.exited.clone();
        let kill = move || {
            let alive = rustix::process::test_kill_process_group(pid).is_ok();
            if alive || !exited.load(Ordering::SeqCst) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            self.tasks.spawn(async move {
                tokio::time::sleep(KILL_AFTER).await;
                kill();
            });
        } else {
            kill();
        }
    }
}

/// How long a stopped program's process group gets between SIGTERM and SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(1);

struct PtyReader {
    inner: pty_process::OwnedReadPty,
    child_exit: Option<oneshot::Receiver<()>>,
}

impl AsyncRead for PtyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            // Reading the master after the last slave fd closed gives EIO: that is EOF.
            Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::EIO) => Poll::Ready(Ok(())),
            Poll::Pending => {
                // The child exited but a grandchild may still hold the pty open: the
                // console is gone when the program we started is gone.
                if let Some(rx) = self.child_exit.as_mut()
                    && Pin::new(rx).poll(cx).is_ready()
                {
                    self.child_exit = None;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

use std::future::Future as _;

struct PtyWriter {
    inner: pty_process::OwnedWritePty,
}

impl AsyncWrite for PtyWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl ConsoleWriter for PtyWriter {
    fn send_break(&mut self) -> BoxFuture<'_, io::Result<()>> {
        // ConMan sends the two bytes "&B" to process consoles whatever the client's
        // escape character; the shipped expect scripts turn them into the tool's break.
        Box::pin(async move {
            use tokio::io::AsyncWriteExt;
            self.write_all(b"&B").await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::fd::AsFd;

    use rustix::io::FdFlags;

    /// Issue 12: the master is close-on-exec from the `open` itself (the flag is part
    /// of the open, not set afterwards), and so is the terminal's descriptor.
    #[tokio::test]
    async fn pty_descriptors_are_close_on_exec_from_the_open() {
        assert!(MASTER_FLAGS.contains(rustix::pty::OpenptFlags::CLOEXEC));
        let (pty, pts) = open_pty().unwrap();
        for fd in [pty.as_fd(), pts.as_fd()] {
            assert!(
                rustix::io::fcntl_getfd(fd)
                    .unwrap()
                    .contains(FdFlags::CLOEXEC)
            );
        }
        let fl = rustix::fs::fcntl_getfl(&pty).unwrap();
        assert!(fl.contains(rustix::fs::OFlags::NONBLOCK));
    }
}
