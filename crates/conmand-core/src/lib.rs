//! # conmand-core
//!
//! Pure logic shared by the `conmand` daemon and the `conman` client. Nothing in this
//! crate opens a file, a socket or a device, spawns a task or reads a clock: callers pass
//! bytes and time in and get bytes and events out. That keeps every rule of ConMan's
//! behaviour unit-testable on literals.
//!
//! ## Layout
//!
//! - [`config`]: the `conman.conf` language: model types ([`config::Config`],
//!   [`config::ConsoleSpec`], …), the parser and the validator.
//! - [`ipmi`]: native IPMI v2.0 / RMCP+ Serial-over-LAN: packet codecs, crypto,
//!   the session and SOL state machines (bytes and time in, bytes and events out).
#![warn(missing_docs)]

pub mod config;
pub mod ipmi;
