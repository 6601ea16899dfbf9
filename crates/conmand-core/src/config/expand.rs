//! `%` conversion specifiers in log file names, the daemon log name and `resetcmd`
//! (reference §1.8).
//!
//! [`expand`] is pure: the caller passes the console name, the `%D` device text, the
//! daemon PID and a callback that formats one `strftime` conversion from its clock.
//! [`check_template`] finds specifiers that ConMan would leave as they are, so the
//! validator can warn about them at parse time.

use thiserror::Error;

use super::model::ConsoleSpec;
use super::syntax::MAX_STR_BYTES;

/// The `strftime` conversions ConMan passes through (one character each).
pub const TIME_SPECIFIERS: &str = "dgGHjmMsSuUVwWyY";

/// What an expansion needs to know.
pub struct ExpandCtx<'a> {
    /// The console name for `%N` (sanitised here), or `None` for the daemon's own log
    /// file, where `%N` stays literal.
    pub name: Option<&'a str>,
    /// The device text for `%D` (see [`device_text`]; sanitised here), or `None` for the
    /// daemon's own log file, where `%D` stays literal.
    pub dev: Option<&'a str>,
    /// The daemon's PID for `%P`.
    pub pid: u32,
    /// Formats one `strftime` conversion (one of [`TIME_SPECIFIERS`]) at the current
    /// local time.
    pub strftime: &'a dyn Fn(char) -> String,
}

/// Why an expansion failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// The result is longer than ConMan's 1023-byte buffer.
    #[error("expansion is {len} bytes, longer than the {max}-byte maximum")]
    TooLong {
        /// Length of the full expansion.
        len: usize,
        /// The limit (1023).
        max: usize,
    },
}

/// Replaces every byte that is not a printable, non-space ASCII character, and every
/// `/`, with `_` (one `_` per byte, as ConMan does with `isgraph`).
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_graphic() && c != '/' {
            out.push(c);
        } else {
            for _ in 0..c.len_utf8() {
                out.push('_');
            }
        }
    }
    out
}

/// The text `%D` stands for: the basename of a serial or unix-socket path,
/// `host:port` for telnet, and nothing for process, IPMI and test consoles.
pub fn device_text(spec: &ConsoleSpec) -> String {
    let base = |p: &std::path::Path| {
        p.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match spec {
        ConsoleSpec::Serial(s) => base(&s.path),
        ConsoleSpec::Unix(u) => base(&u.path),
        ConsoleSpec::Telnet(t) if t.host.contains(':') => format!("[{}]:{}", t.host, t.port),
        ConsoleSpec::Telnet(t) => format!("{}:{}", t.host, t.port),
        ConsoleSpec::Process(_) | ConsoleSpec::Ipmi(_) | ConsoleSpec::Test(_) => String::new(),
    }
}

/// Expands the `%` specifiers of `template`.
///
/// `%N` name, `%D` device, `%P` pid, `%%` a `%`, the [`TIME_SPECIFIERS`] through the
/// callback; anything else (and a `%` at the very end) stays as written.
pub fn expand(template: &str, ctx: &ExpandCtx<'_>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push('%'),
            Some('%') => out.push('%'),
            Some('N') => match ctx.name {
                Some(n) => out.push_str(&sanitize(n)),
                None => out.push_str("%N"),
            },
            Some('D') => match ctx.dev {
                Some(d) => out.push_str(&sanitize(d)),
                None => out.push_str("%D"),
            },
            Some('P') => out.push_str(&ctx.pid.to_string()),
            Some(t) if TIME_SPECIFIERS.contains(t) => out.push_str(&(ctx.strftime)(t)),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
        }
    }
    if out.len() > MAX_STR_BYTES {
        return Err(ExpandError::TooLong {
            len: out.len(),
            max: MAX_STR_BYTES,
        });
    }
    Ok(out)
}

/// Warnings for specifiers in `template` that are kept literally.
///
/// `console_context` is false for the daemon's own log file, where `%N` and `%D` have
/// nothing to stand for.
pub fn check_template(template: &str, console_context: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            None => warnings.push("'%' at the end is kept as a literal '%'".to_string()),
            Some('%' | 'P') => {}
            Some(t) if TIME_SPECIFIERS.contains(t) => {}
            Some(s @ ('N' | 'D')) => {
                if !console_context {
                    warnings.push(format!("'%{s}' has no console here and is kept as is"));
                }
            }
            Some(other) => {
                warnings.push(format!(
                    "unknown conversion specifier '%{other}' is kept as is"
                ));
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(c: char) -> String {
        match c {
            'Y' => "2026".into(),
            'm' => "11".into(),
            'd' => "25".into(),
            other => format!("<{other}>"),
        }
    }

    fn ctx<'a>(name: Option<&'a str>, dev: Option<&'a str>) -> ExpandCtx<'a> {
        ExpandCtx {
            name,
            dev,
            pid: 4242,
            strftime: &clock,
        }
    }

    #[test]
    fn every_specifier() {
        let c = ctx(Some("we ird/na'me"), Some("ttyS0"));
        assert_eq!(expand("%N.log", &c).unwrap(), "we_ird_na'me.log");
        assert_eq!(expand("%D-%P-%Y%m%d", &c).unwrap(), "ttyS0-4242-20261125");
        assert_eq!(expand("100%% %q %", &c).unwrap(), "100% %q %");
        for t in TIME_SPECIFIERS.chars() {
            assert_eq!(expand(&format!("%{t}"), &c).unwrap(), clock(t));
        }
    }

    #[test]
    fn daemon_log_keeps_name_and_dev() {
        let c = ctx(None, None);
        assert_eq!(
            expand("/var/log/%N-%D-%P", &c).unwrap(),
            "/var/log/%N-%D-4242"
        );
    }

    #[test]
    fn sanitizes_per_byte() {
        assert_eq!(sanitize("a b\tc/ä"), "a_b_c___");
    }

    #[test]
    fn too_long() {
        let c = ctx(Some("n"), None);
        let t = "x".repeat(1020) + "%N%N%N%N";
        assert_eq!(
            expand(&t, &c),
            Err(ExpandError::TooLong {
                len: 1024,
                max: 1023
            })
        );
        assert!(expand(&"x".repeat(1023), &c).is_ok());
    }

    #[test]
    fn template_checks() {
        assert!(check_template("%N-%D-%Y-%P-%%", true).is_empty());
        assert_eq!(
            check_template("%T", true),
            vec!["unknown conversion specifier '%T' is kept as is"]
        );
        assert_eq!(check_template("a%", true).len(), 1);
        assert_eq!(check_template("%N", false).len(), 1);
    }
}
