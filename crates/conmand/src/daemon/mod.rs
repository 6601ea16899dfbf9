//! Process-level plumbing of `conmand`, most of it run before the tokio runtime
//! exists (ConMan `server.c:main` steps 3–6, 15 and 18; reference §5.2–§5.4).
//!
//! - [`daemonize`]: the double fork with a status pipe back to the invoking shell.
//! - [`lock`]: the POSIX `fcntl` read lock on the configuration file that marks a
//!   running daemon, and the `F_GETLK` lookup of its pid.
//! - [`control`]: `conmand -k` / `-r` / `-q`.
//! - [`pidfile`]: writing, reading and removing the pidfile.
//! - [`env`](mod@env): the cleaned environment handed to child processes.
//! - [`limits`]: `nofile` and `coredump` resource limits.
//!
//! Nothing here logs through `tracing` except where ConMan logs a warning itself
//! (pidfile read problems); errors are typed and their `Display` is ConMan's message,
//! so the caller decides between a fatal error and a warning.

pub mod control;
pub mod daemonize;
pub mod env;
pub mod limits;
pub mod lock;
pub mod pidfile;
