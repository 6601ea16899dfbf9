//! The `conman.conf` configuration: model types, parser and validator.
//!
//! The model ([`Config`] and friends, in `model.rs`) is what the daemon consumes. It is
//! immutable once built; the daemon diffs two of them on SIGHUP ([`diff()`]).
//!
//! Parsing runs in two stages, both on `&str`: [`syntax`] turns text into directives
//! (grammar only, with line:col spans) and `validate.rs` turns directives into a
//! [`Config`], asking an [`FsProbe`] the file-system questions ConMan answers with
//! `stat`/`access`. Every problem is collected as a [`Diagnostic`]; nothing stops at the
//! first one. [`print()`] writes a [`Config`] back out as `conman.conf` text, and
//! [`expand()`] expands `%` specifiers in log names and `resetcmd`.

use std::fmt;

mod devstr;
mod diff;
mod expand;
mod model;
mod names;
pub mod opts;
mod print;
mod probe;
pub mod secrets;
pub mod syntax;
#[cfg(test)]
mod tests;
mod validate;

pub use diff::{ConsoleChange, diff};
pub use expand::{
    ExpandCtx, ExpandError, TIME_SPECIFIERS, check_template, device_text, expand, sanitize,
};
pub use model::*;
pub use names::{facility_name, priority_name};
pub use opts::{CIPHER_SUITES, WORKAROUND_DEFAULT, WORKAROUND_MASK, WORKAROUND_NAMES, parse_key};
pub use print::print;
pub use probe::{FileKind, FsProbe, MemProbe};
pub use secrets::{masked_argv, masked_dev};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// The file name as given (`-c`), printed as is.
    pub file: String,
    /// 1-based line; 0 for problems about the whole file.
    pub line: u32,
    /// 1-based column in characters; 0 for problems about the whole file.
    pub col: u32,
    /// The message, in ConMan's words where ConMan has one.
    pub message: String,
}

impl Diagnostic {
    /// ConMan's format: `CONFIG[file:line]: message` (whole-file problems: the message
    /// alone, as ConMan logs them).
    pub fn conman_format(&self) -> String {
        if self.line == 0 {
            self.message.clone()
        } else {
            format!("CONFIG[{}:{}]: {}", self.file, self.line, self.message)
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: message` (whole-file problems: `file: message`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// The outcome of parsing a configuration: the consoles that survived and every
/// problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The configuration (bad directives skipped as ConMan skips them).
    pub config: Config,
    /// Errors, in file order. A file with no consoles gets a final whole-file error.
    pub errors: Vec<Diagnostic>,
    /// Warnings, in file order.
    pub warnings: Vec<Diagnostic>,
}

impl Config {
    /// Parses and validates `src`. `origin` is the file name used in messages.
    pub fn parse_str(src: &str, origin: &str, probe: &dyn FsProbe) -> Parsed {
        validate::validate(syntax::parse(src), origin, probe)
    }

    /// Parses raw file bytes. Invalid UTF-8 is replaced by U+FFFD (with a warning at the
    /// first bad byte), so it shows up as an "unrecognized token" outside strings and as
    /// U+FFFD inside them.
    pub fn parse_bytes(src: &[u8], origin: &str, probe: &dyn FsProbe) -> Parsed {
        match std::str::from_utf8(src) {
            Ok(s) => Config::parse_str(s, origin, probe),
            Err(e) => {
                let text = String::from_utf8_lossy(src);
                let mut parsed = Config::parse_str(&text, origin, probe);
                let valid = &src[..e.valid_up_to()];
                let line_start = valid
                    .iter()
                    .rposition(|&b| b == b'\n' || b == b'\r')
                    .map_or(0, |i| i + 1);
                let line = 1 + valid
                    .iter()
                    .enumerate()
                    .filter(|&(i, &b)| {
                        b == b'\n' || (b == b'\r' && valid.get(i + 1) != Some(&b'\n'))
                    })
                    .count();
                let col = 1 + String::from_utf8_lossy(&valid[line_start..])
                    .chars()
                    .count();
                parsed.warnings.insert(
                    0,
                    Diagnostic {
                        file: origin.to_string(),
                        line: u32::try_from(line).unwrap_or(u32::MAX),
                        col: u32::try_from(col).unwrap_or(u32::MAX),
                        message: "invalid UTF-8 replaced by U+FFFD".to_string(),
                    },
                );
                parsed.warnings.sort_by_key(|d| (d.line, d.col));
                parsed
            }
        }
    }
}
