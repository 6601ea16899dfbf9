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
//! - [`client_escape`]: the `conman` client's keyboard escapes (`&.`, `&?`, `&B`, …) as a
//!   pure state machine, plus its help and status texts.
//! - [`protocol`]: the client ↔ daemon handshake: tokenizer, greeting, request and
//!   response codecs, line framing, the error 6/7 trailer lines.
//! - [`notice`]: texts the daemon sends to clients and logs; [`notice::time_delta`].
#![warn(missing_docs)]

pub mod client_escape;
pub mod config;
pub mod notice;
pub mod protocol;
