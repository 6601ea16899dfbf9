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
//!   [`config::ConsoleSpec`], …), the parser and the validator, `%` expansion, the
//!   reload diff and the printer.
//! - [`pswd`]: the `/etc/conman.pswd` IPMI password database.
//! - [`admission`]: client counts against `maxclients` and the per-host share;
//!   [`ratelimit`]: a token bucket (escape notices per client).
//! - [`client_escape`]: the `conman` client's keyboard escapes (`&.`, `&?`, `&B`, …) as a
//!   pure state machine, plus its help and status texts.
//! - [`protocol`]: the client ↔ daemon handshake: tokenizer, greeting, request and
//!   response codecs, line framing, the error 6/7 trailer lines.
//! - [`escape`]: the 0xFF in-band escapes of the client → daemon stream: the
//!   daemon's [`escape::EscapeDecoder`] and the client's [`escape::escape_data`].
//! - [`logline`]: the console log line processor (CR/LF normalization, line
//!   timestamps, sanitizing) of `write_log_data`.
//! - [`matching`]: which consoles a request selects (glob like `fnmatch`, or one
//!   anchored case-insensitive regex) and ConMan's natural name order.
//! - [`telnet`]: the client side of the telnet protocol for terminal-server consoles
//!   (IAC stripping, ConMan's option answers, 0xFF escaping) as a sans-IO parser.
//! - [`notice`]: every `\r\n<ConMan> ....\r\n` message the daemon sends to
//!   clients and logs, with its quiet-mode "info" flag; [`notice::time_delta`].
//! - [`oserror`]: an `io::Error` as C's `strerror` prints it, for every message that
//!   quotes an OS error.
//! - [`hostsaccess`]: TCP-wrappers `hosts.allow`/`hosts.deny` rules (hosts_access(5))
//!   parsed and evaluated for `server tcpwrappers=on`, never more open than libwrap.
//! - [`alerts`]: kernel-incident and operator alert rules, the combined line matcher
//!   and the per-console scanner (lines, context, multi-line incidents, de-duplication).
//! - [`ipmi`]: native IPMI v2.0 / RMCP+ Serial-over-LAN: packet codecs, crypto,
//!   the session and SOL state machines (bytes and time in, bytes and events out).
#![warn(missing_docs)]

pub mod access;
pub mod admission;
pub mod alerts;
pub mod client_escape;
pub mod cluster;
pub mod config;
pub mod escape;
pub mod hostsaccess;
pub mod ipmi;
pub mod logline;
pub mod matching;
pub mod notice;
pub mod oserror;
pub mod protocol;
pub mod pswd;
pub mod ratelimit;
pub mod sshcmd;
pub mod telnet;
