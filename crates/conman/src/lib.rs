//! # conman
//!
//! The ConMan client: `conman [OPTIONS] [CONSOLES]`. `main.rs` is thin; the behaviour
//! lives here so tests can drive it.
//!
//! ## Layout
//!
//! - [`args`]: options and environment, help/version texts.
//! - [`connection`]: resolve, connect, greeting, request, response.
//! - [`session`]: the interactive poll loop and the streaming monitor.
//! - [`tty`]: raw mode with guaranteed restore.
//! - [`sessionlog`]: the `-l FILE` log.
//!
//! Exit statuses follow ConMan: 0 success (also when the daemon ends a session), 1 for
//! usage and local fatal errors (`ERROR:     <msg>`), 2 for connection and protocol
//! errors (`ERROR: <msg>.` plus the daemon's trailing lines and a hint).
//!
//! ## Differences from ConMan's client (all deliberate)
//!
//! - The handshake (connect, greeting, request) gives up after 30 s, or after
//!   `CONMAN_HANDSHAKE_TIMEOUT` seconds (fractions allowed) if that variable is set;
//!   ConMan has no limit and hangs on a daemon that accepts but never answers.
//! - `-m` with stdout not a terminal streams the console output (status lines
//!   included) instead of failing; SIGTERM, SIGINT or SIGHUP end it, and a closed pipe
//!   ends it quietly. CONNECT still requires a terminal, with ConMan's error.
//! - IPv6 daemons work: `-d [::1]:7890` (ConMan is IPv4 only).
//! - After `&.`, a further key ends the wait for the daemon to close.
//! - `&E` does not discard keys typed ahead of it (ConMan's TCSAFLUSH does).
//! - The greeting's user comes from `$USER`/`$LOGNAME` (if that account has our uid)
//!   or the uid's name; ConMan asks `getlogin()` first, which differs only when several
//!   accounts share a uid.
//! - `-V` prints `conman-<this crate's version>`; `-L` prints this project's licence.

pub mod args;
pub mod connection;
pub mod session;
pub mod sessionlog;
pub mod tty;

use std::ffi::OsString;
use std::io::Write;

use conmand_core::client_escape::Mode;
use conmand_core::oserror::strerror;

use crate::args::{Command, Invocation, Options};
use crate::connection::{ERR_BUSY_CONSOLES, ERR_LOCAL, ERR_TOO_MANY_CONSOLES, ProtocolError};
use crate::session::SessionInfo;
use crate::sessionlog::SessionLog;
use conmand_core::protocol::{Command as RequestCommand, Request};

/// Print a local fatal error the way ConMan's `log_err` does.
fn fatal(msg: &str) -> i32 {
    let _ = writeln!(std::io::stderr(), "ERROR:     {msg}");
    1
}

/// Print bytes on stdout and flush (for help, version, query results).
fn print_stdout(data: &[u8]) -> bool {
    let mut o = std::io::stdout().lock();
    o.write_all(data).and_then(|()| o.flush()).is_ok()
}

/// The login name for the greeting: `$USER` or `$LOGNAME` if that account has our uid,
/// else the name of our uid (ConMan also tries `getlogin()` first; see the crate docs).
fn user_name(env: &dyn Fn(&str) -> Option<OsString>) -> Result<String, String> {
    let uid = nix::unistd::getuid();
    for var in ["USER", "LOGNAME"] {
        if let Some(name) = env(var).and_then(|v| v.into_string().ok()) {
            if let Ok(Some(u)) = nix::unistd::User::from_name(&name)
                && u.uid == uid
            {
                return Ok(u.name);
            }
            break;
        }
    }
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) if !u.name.is_empty() => Ok(u.name),
        Ok(_) => Err(format!("Unable to lookup user name for UID={uid}")),
        Err(e) => Err(format!("Unable to lookup user name for UID={uid}: {e}")),
    }
}

/// Show a protocol error (ConMan's `display_error`) and return exit status 2.
fn display_error(
    err: &ProtocolError,
    conn: Option<&mut connection::Connection>,
    opts: &Options,
    mut log: Option<&mut SessionLog>,
) -> i32 {
    let mut stderr = std::io::stderr().lock();
    let mut emit = |data: &[u8]| {
        let _ = stderr.write_all(data);
        if let Some(l) = log.as_deref_mut() {
            let _ = l.write(data);
        }
    };
    emit(format!("ERROR: {err}.\n\n").as_bytes());
    if err.code != ERR_LOCAL
        && let Some(c) = conn
    {
        c.drain_trailing(&mut |d| emit(d));
    }
    if err.code == ERR_TOO_MANY_CONSOLES && !opts.broadcast {
        emit(b"\nDo you want to broadcast (-b) to multiple consoles?\n\n");
    } else if err.code == ERR_BUSY_CONSOLES && !opts.force && !opts.join {
        emit(b"\nDo you want to force (-f) or join (-j) the connection?\n\n");
    }
    2
}

/// Run the client with `argv` (including `argv[0]`) and an environment lookup; returns
/// the process exit status.
pub fn run(argv: &[OsString], env: &dyn Fn(&str) -> Option<OsString>) -> i32 {
    let opts = match args::parse(argv, env) {
        Ok(Invocation::Run(o)) => o,
        Ok(Invocation::Help(t) | Invocation::Version(t) | Invocation::License(t)) => {
            return if print_stdout(t.as_bytes()) { 0 } else { 1 };
        }
        Err(e) => return fatal(&e.to_string()),
    };
    let user = match user_name(env) {
        Ok(u) => u,
        Err(e) => return fatal(&e),
    };
    let tty_name = tty::tty_name();
    let mut log = match &opts.log {
        Some(p) => match SessionLog::open(p) {
            Ok(l) => Some(l),
            Err(e) => {
                return fatal(&format!(
                    "Unable to open \"{}\": {}",
                    p.display(),
                    strerror(&e)
                ));
            }
        },
        None => None,
    };
    let status = talk(&opts, &user, tty_name.as_deref(), env, log.as_mut());
    // ConMan exits straight from its error display, so the log only gets its
    // "finished" line after a normal end.
    if status == 0
        && let Some(l) = log
        && let Err(e) = l.finish()
    {
        return fatal(&format!("Unable to write to log: {}", strerror(&e)));
    }
    status
}

/// Connect, handshake and run the query or session. Returns the exit status.
fn talk(
    opts: &Options,
    user: &str,
    tty_name: Option<&str>,
    env: &dyn Fn(&str) -> Option<OsString>,
    mut log: Option<&mut SessionLog>,
) -> i32 {
    let timeout = connection::handshake_timeout(env);
    let mut conn = match connection::connect(&opts.host, opts.port, timeout) {
        Ok(c) => c,
        Err(e) => return display_error(&e, None, opts, log),
    };
    let command = match opts.command {
        Command::Connect => RequestCommand::Connect,
        Command::Monitor => RequestCommand::Monitor,
        Command::Query => RequestCommand::Query,
    };
    let req = Request {
        command,
        quiet: opts.quiet,
        regex: opts.regex,
        force: opts.force,
        join: opts.join,
        broadcast: opts.broadcast,
        consoles: opts.consoles.clone(),
    };
    let (reset, consoles) = match conn.handshake(user, tty_name, &req) {
        Ok(r) => r,
        Err(e) => return display_error(&e, Some(&mut conn), opts, log),
    };
    if opts.command == Command::Query {
        let mut text = Vec::new();
        for c in &consoles {
            text.extend_from_slice(c.as_bytes());
            text.push(b'\n');
        }
        if let Some(l) = log.as_deref_mut() {
            let _ = l.write(&text);
        }
        return if print_stdout(&text) { 0 } else { 1 };
    }
    if consoles.is_empty() {
        // ConMan asserts this never happens; a daemon that answers OK with no console
        // gets the generic invalid-response error instead of a crash.
        let e = ProtocolError {
            code: ERR_LOCAL,
            message: Some(format!(
                "Received invalid response from <{}:{}>",
                conn.host(),
                conn.port()
            )),
        };
        return display_error(&e, None, opts, log);
    }
    let mode = match opts.command {
        Command::Monitor => Mode::ReadOnly,
        _ if opts.broadcast && consoles.len() > 1 => Mode::Broadcast,
        _ => Mode::ReadWrite,
    };
    let info = SessionInfo {
        consoles,
        mode,
        reset,
        quiet: opts.quiet,
        escape: opts.escape,
        host: conn.host().to_string(),
        port: conn.port(),
    };
    let streaming = opts.command == Command::Monitor && !tty::stdout_is_tty();
    if !streaming {
        if !tty::stdin_is_tty() {
            return fatal("Standard Input is not a terminal device");
        }
        if !tty::stdout_is_tty() {
            return fatal("Standard Output is not a terminal device");
        }
    }
    let (stream, pending) = match conn.into_parts() {
        Ok(p) => p,
        Err(e) => return fatal(&format!("Unable to configure socket: {}", strerror(&e))),
    };
    let result = if streaming {
        session::stream(stream, &pending, &info, log)
    } else {
        session::interactive(stream, &pending, &info, log)
    };
    match result {
        Ok(()) | Err(session::SessionError::StdoutClosed) => 0,
        Err(e) => fatal(&e.to_string()),
    }
}
