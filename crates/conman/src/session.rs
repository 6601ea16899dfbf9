//! The session after a successful MONITOR or CONNECT (ConMan's `connect_console`).
//!
//! A synchronous loop polls stdin, the socket and a signalfd: no async runtime, so a
//! blocking stdin read can never keep the process alive after the session is over.
//! Keystrokes go through [`EscapeParser`]; daemon bytes go to stdout and the `-l` log
//! unchanged.
//!
//! Signals: SIGHUP, SIGINT, SIGQUIT and SIGPIPE are blocked (ConMan ignores them; this
//! process never unblocks them, so a blocked signal has the same effect), SIGTERM is
//! blocked and read from a signalfd, which ends the loop cleanly. SIGTSTP keeps its
//! default action and is raised by `&Z` after the terminal has been restored.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};

use conmand_core::client_escape::{
    Action, EscapeParser, Mode, SUSPEND_SEQUENCE, info_line, status_line,
};
use conmand_core::oserror::strerror;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::event::{PollFd, PollFlags, poll};

use crate::sessionlog::SessionLog;
use crate::tty::RawTty;

/// How much is read from the socket at once (ConMan's `MAX_BUF_SIZE`).
const SOCK_READ: usize = 4096;
/// How much typed input is taken at once; each byte is still parsed in order.
const STDIN_READ: usize = 1024;

/// Why a session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A fatal error: printed as `ERROR:     <msg>`, exit status 1.
    #[error("{0}")]
    Fatal(String),
    /// Standard output went away (a closed pipe in streaming mode): the reader is gone,
    /// so the client just stops.
    #[error("standard output closed")]
    StdoutClosed,
}

/// Shorthand for a fatal session error.
fn fatal(msg: String) -> SessionError {
    SessionError::Fatal(msg)
}

/// What the session needs to know from the handshake.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Consoles the daemon matched (names from the OK response).
    pub consoles: Vec<String>,
    /// R/O, R/W or broadcast.
    pub mode: Mode,
    /// The daemon offered reset (`OPTION=RESET`).
    pub reset: bool,
    /// `-Q` was given.
    pub quiet: bool,
    /// Escape character.
    pub escape: u8,
    /// Short daemon host name for `&I`.
    pub host: String,
    /// Daemon port for `&I`.
    pub port: u32,
}

/// Write all of `data` to a file descriptor, retrying on EINTR.
fn write_fd(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Write to stdout, fatal on failure.
fn out(data: &[u8]) -> Result<(), SessionError> {
    write_fd(rustix::stdio::stdout(), data).map_err(|e| {
        if e.kind() == io::ErrorKind::BrokenPipe {
            SessionError::StdoutClosed
        } else {
            fatal(format!("Unable to write to stdout: {}", strerror(&e)))
        }
    })
}

/// Block the session's signals and return a signalfd that reports the ones that end it.
fn setup_signals(ending: &[Signal]) -> Result<SignalFd, SessionError> {
    let fail = |e: nix::Error| fatal(format!("Unable to set up signals: {e}"));
    let mut all = SigSet::empty();
    for s in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
        Signal::SIGTERM,
    ] {
        all.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None).map_err(fail)?;
    let mut end = SigSet::empty();
    for &s in ending {
        end.add(s);
    }
    SignalFd::with_flags(&end, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(fail)
}

/// The socket side of a session.
struct Link<'a> {
    /// The daemon connection.
    stream: TcpStream,
    /// The `-l` log, if any.
    log: Option<&'a mut SessionLog>,
    /// `<host:port>` for error messages.
    peer: String,
}

impl Link<'_> {
    /// Show daemon bytes on stdout and in the log.
    fn show(&mut self, data: &[u8]) -> Result<(), SessionError> {
        out(data)?;
        if let Some(log) = self.log.as_mut() {
            log.write(data).map_err(|e| {
                fatal(format!(
                    "Unable to write to \"{}\": {}",
                    log.path().display(),
                    strerror(&e)
                ))
            })?;
        }
        Ok(())
    }

    /// Send bytes to the daemon. `Ok(false)` means the daemon is gone (EPIPE and
    /// friends): the session ends.
    fn send(&mut self, data: &[u8]) -> Result<bool, SessionError> {
        match self.stream.write_all(data) {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::NotConnected
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(fatal(format!(
                "Unable to write to <{}>: {}",
                self.peer,
                strerror(&e)
            ))),
        }
    }

    /// Read what the daemon sent and show it. `Ok(false)` on EOF (or reset).
    fn pump(&mut self) -> Result<bool, SessionError> {
        let mut buf = [0u8; SOCK_READ];
        match self.stream.read(&mut buf) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.show(&buf[..n])?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(false),
            Err(e) => Err(fatal(format!(
                "Unable to read from <{}>: {}",
                self.peer,
                strerror(&e)
            ))),
        }
    }
}

/// Poll `fds`, retrying on EINTR.
fn poll_retry(fds: &mut [PollFd<'_>]) -> Result<(), SessionError> {
    loop {
        match poll(fds, None) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                return Err(fatal(format!(
                    "Unable to multiplex I/O: {}",
                    strerror(&e.into())
                )));
            }
        }
    }
}

/// True if a poll entry reported readiness (data, hang-up or error).
fn ready(fd: &PollFd<'_>) -> bool {
    fd.revents()
        .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
}

/// The interactive session on a terminal. `pending` holds bytes already read past the
/// OK response; they are shown right after the "opened" line.
pub fn interactive(
    stream: TcpStream,
    pending: &[u8],
    info: &SessionInfo,
    log: Option<&mut SessionLog>,
) -> Result<(), SessionError> {
    let sigfd = setup_signals(&[Signal::SIGTERM])?;
    let tty = RawTty::enter()
        .map_err(|e| fatal(format!("Unable to set terminal mode: {}", strerror(&e))))?;
    let mut link = Link {
        stream,
        log,
        peer: format!("{}:{}", info.host, info.port),
    };
    let mut parser = EscapeParser::new(
        info.escape,
        info.mode,
        info.reset,
        info.consoles.len(),
        info.quiet,
    );
    out(&status_line(&info.consoles, "opened"))?;
    if !pending.is_empty() {
        link.show(pending)?;
    }
    let stdin = rustix::stdio::stdin();
    let mut closed_by_client = false;
    'session: loop {
        let mut fds = [
            PollFd::new(&sigfd, PollFlags::IN),
            PollFd::from_borrowed_fd(link.stream.as_fd(), PollFlags::IN),
            PollFd::from_borrowed_fd(stdin, PollFlags::IN),
        ];
        poll_retry(&mut fds)?;
        let (sig_ready, sock_ready, stdin_ready) = (ready(&fds[0]), ready(&fds[1]), ready(&fds[2]));
        if sig_ready && matches!(sigfd.read_signal(), Ok(Some(_))) {
            break;
        }
        if stdin_ready {
            let mut buf = [0u8; STDIN_READ];
            let n = match rustix::io::read(stdin, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => 0,
                // EIO: the terminal hung up.
                Err(rustix::io::Errno::IO) => break,
                Err(e) => {
                    return Err(fatal(format!(
                        "Unable to read from stdin: {}",
                        strerror(&e.into())
                    )));
                }
            };
            // After `&.` the output drains until the daemon closes; a further key ends
            // the wait (in ConMan the next key hits the half-closed socket and ends it).
            if closed_by_client && n > 0 {
                break;
            }
            for action in parser.feed(&buf[..n]) {
                match action {
                    Action::Send(bytes) => {
                        if !link.send(&bytes)? {
                            break 'session;
                        }
                    }
                    Action::Help(text) => out(&text)?,
                    Action::Info(mode) => {
                        out(&info_line(&info.consoles, mode, &info.host, info.port))?
                    }
                    Action::ToggleEcho => tty.toggle_echo().map_err(|e| {
                        fatal(format!("Unable to set terminal mode: {}", strerror(&e)))
                    })?,
                    Action::Close => {
                        out(&parser.echo(b'.'))?;
                        out(&status_line(&info.consoles, "closed"))?;
                        if let Err(e) = link.stream.shutdown(Shutdown::Write)
                            && e.kind() != io::ErrorKind::NotConnected
                        {
                            return Err(fatal(format!(
                                "Unable to shutdown connection to <{}>: {}",
                                link.peer,
                                strerror(&e)
                            )));
                        }
                        closed_by_client = true;
                        break;
                    }
                    Action::Suspend => {
                        out(&parser.echo(b'Z'))?;
                        if !link.send(&SUSPEND_SEQUENCE)? {
                            break 'session;
                        }
                        out(&status_line(&info.consoles, "suspended"))?;
                        let _ = tty.restore();
                        nix::sys::signal::raise(Signal::SIGTSTP)
                            .map_err(|e| fatal(format!("Unable to suspend client: {e}")))?;
                        // Execution continues here after SIGCONT.
                        tty.reenter().map_err(|e| {
                            fatal(format!("Unable to set terminal mode: {}", strerror(&e)))
                        })?;
                        out(&status_line(&info.consoles, "resumed"))?;
                        if !link.send(&SUSPEND_SEQUENCE)? {
                            break 'session;
                        }
                    }
                }
            }
        }
        if sock_ready && !link.pump()? {
            break;
        }
    }
    drop(link);
    if !closed_by_client {
        out(&status_line(&info.consoles, "terminated by server"))?;
    }
    drop(tty);
    Ok(())
}

/// A monitor session whose stdout is not a terminal (a pipe or a file): the console's
/// output is streamed with the same status lines, the keyboard is not read, and
/// SIGTERM, SIGINT or SIGHUP end it. ConMan refuses this case; it is an improvement.
pub fn stream(
    stream: TcpStream,
    pending: &[u8],
    info: &SessionInfo,
    log: Option<&mut SessionLog>,
) -> Result<(), SessionError> {
    let sigfd = setup_signals(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
    let mut link = Link {
        stream,
        log,
        peer: format!("{}:{}", info.host, info.port),
    };
    out(&status_line(&info.consoles, "opened"))?;
    if !pending.is_empty() {
        link.show(pending)?;
    }
    loop {
        let mut fds = [
            PollFd::new(&sigfd, PollFlags::IN),
            PollFd::from_borrowed_fd(link.stream.as_fd(), PollFlags::IN),
        ];
        poll_retry(&mut fds)?;
        let (sig_ready, sock_ready) = (ready(&fds[0]), ready(&fds[1]));
        if sig_ready && matches!(sigfd.read_signal(), Ok(Some(_))) {
            break;
        }
        if sock_ready && !link.pump()? {
            break;
        }
    }
    drop(link);
    out(&status_line(&info.consoles, "terminated by server"))
}
