//! # conmand
//!
//! The console-manager daemon. `main.rs` only parses arguments and calls into this
//! library, so every behaviour can be driven in-process by tests on port 0.
//!
//! ## Layout
//!
//! - [`console`]: a console is an actor task that owns its backend connection,
//!   reconnect backoff and client fan-out; [`console::backend`] defines the one
//!   backend interface and holds one module per transport.
//! - [`daemon`]: process-level plumbing run before and around the tokio runtime:
//!   daemonizing, the config-file lock, `-k`/`-r`/`-q`, the pidfile, the cleaned
//!   child environment and resource limits.
//! - [`daemonlog`]: the daemon's own log (stderr, log file, syslog) in ConMan's format,
//!   as a `tracing` layer, plus the [`notice!`] macro.

pub mod console;
pub mod daemon;
pub mod daemonlog;
