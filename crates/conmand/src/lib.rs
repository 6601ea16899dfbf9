//! # conmand
//!
//! The console-manager daemon. `main.rs` only parses arguments and calls into this
//! library, so every behaviour can be driven in-process by tests on port 0.
//!
//! ## Layout
//!
//! - [`cli`]: the command line (ConMan's options plus `-t`, `--json`, `--pswd`).
//! - [`check`]: `conmand -t`, the configuration check.
//! - [`fsprobe`]: the real-file-system [`FsProbe`](conmand_core::config::FsProbe)
//!   used to validate configurations.
//! - [`console`]: a console is an actor task that owns its backend connection,
//!   reconnect backoff and client fan-out; [`console::backend`] defines the one
//!   backend interface and holds one module per transport.

pub mod check;
pub mod cli;
pub mod console;
pub mod fsprobe;
