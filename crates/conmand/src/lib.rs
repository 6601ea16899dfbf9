//! # conmand
//!
//! The console-manager daemon. `main.rs` only parses arguments and calls into this
//! library, so every behaviour can be driven in-process by tests on port 0.
//!
//! ## Layout
//!
//! - [`engine`]: the running daemon: consoles, listeners, reload, shutdown.
//! - [`server`], [`client`], [`session`]: accept loop, handshake, attached sessions;
//!   [`frontend`]: what they share (console selection, admission);
//!   [`resolver`]: reverse DNS of client addresses (cached, made printable);
//!   [`tcpwrap`]: `server tcpwrappers=on`, hosts.allow / hosts.deny screening.
//! - [`registry`]: name → console handle; [`settings`]: what a reload changes, as one
//!   [`snapshot`].
//! - [`pswdfile`]: `conman.pswd` on disk: its mode/owner check and `--pswd-set`.
//! - [`cli`]: the command line (ConMan's options plus `-t`, `--json`, `--pswd`,
//!   `--pswd-set`).
//! - [`check`]: `conmand -t`, the configuration check.
//! - [`fsprobe`]: the real-file-system [`FsProbe`](conmand_core::config::FsProbe)
//!   used to validate configurations.
//! - [`console`]: a console is an actor task that owns its backend connection,
//!   reconnect backoff and client fan-out; [`console::backend`] defines the one
//!   backend interface and holds one module per transport.
//! - [`alerts`]: console alerts: loading the rules, the per-console
//!   [`alerts::Watch`] and the [`alerts::AlertHub`] (event ids, history, counts,
//!   event log, daemon-log lines).
//! - [`http`]: `server http=`: Prometheus metrics and the JSON API (consoles, log
//!   tails, alert events and their live stream).
//! - [`logfile`]: the pool of log writer threads (lossless, batched, bounded).
//! - [`run`]: the process life cycle behind `main` (daemonize, lock, signals).
//! - [`reset`]: the `&R` reset command.
//! - [`timefmt`]: ConMan's local-time strings (the daemon's only clock formatting).
//! - [`outfile`]: how console logs, the daemon log and the pidfile are opened
//!   (append-only, `O_NOFOLLOW`, lock, `-z` truncation through the descriptor).
//! - [`daemon`]: process-level plumbing run before and around the tokio runtime:
//!   daemonizing, the config-file lock, `-k`/`-r`/`-q`, the pidfile, the cleaned
//!   child environment and resource limits.
//! - [`daemonlog`]: the daemon's own log (stderr, log file, syslog) in ConMan's format,
//!   as a `tracing` layer, plus the [`notice!`] macro.

pub mod access;
pub mod alerts;
pub mod check;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod console;
pub mod daemon;
pub mod daemonlog;
pub mod engine;
pub mod frontend;
pub mod fsprobe;
pub mod http;
pub mod jsonlog;
pub mod logfile;
pub mod outfile;
pub mod pswdfile;
pub mod registry;
pub mod reset;
pub mod resolver;
pub mod run;
pub mod server;
pub mod session;
pub mod settings;
pub mod snapshot;
pub mod ssh;
pub mod tcpwrap;
pub mod timefmt;
