//! The `dev=` string: splitting it into arguments with `%N` substituted (reference
//! §1.7) and reading the address forms of telnet and IPMI devices (§2.1).
//!
//! Pure string work; `validate.rs` decides what the arguments are.

use super::syntax::MAX_STR_BYTES;

/// Why `dev=` could not be split into arguments.
pub(super) enum SplitError {
    /// An argument's opening quote is never closed.
    Parse,
    /// `%N` substitution made an argument longer than 1023 bytes.
    Substitution,
}

/// Splits `dev` into arguments (ConMan `parse_string`) and substitutes `%N` in every
/// argument that was not single-quoted (`substitute_string`).
pub(super) fn split_dev(dev: &str, name: &str) -> Result<Vec<String>, SplitError> {
    let b = dev.as_bytes();
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut args = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if ws(b[i]) {
            i += 1;
            continue;
        }
        let (arg, quote, next) = if b[i] == b'"' || b[i] == b'\'' {
            let q = b[i];
            let close = (i + 1..b.len()).find(|&k| b[k] == q && (k + 1 == b.len() || ws(b[k + 1])));
            let Some(k) = close else {
                return Err(SplitError::Parse);
            };
            (&dev[i + 1..k], Some(q), k + 1)
        } else {
            let k = (i..b.len()).find(|&k| ws(b[k])).unwrap_or(b.len());
            (&dev[i..k], None, k)
        };
        if quote == Some(b'\'') {
            args.push(arg.to_string());
        } else {
            let s = arg.replace("%N", name);
            if s.len() > MAX_STR_BYTES {
                return Err(SplitError::Substitution);
            }
            args.push(s);
        }
        i = next;
    }
    Ok(args)
}

/// `host:port` with digits to the end (ConMan `is_telnet_dev`), or `[v6addr]:port`.
pub(super) fn split_telnet(arg: &str) -> Option<(&str, &str)> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if let Some(rest) = arg.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        let port = tail.strip_prefix(':')?;
        return digits(port).then_some((host, port));
    }
    let (host, port) = arg.split_once(':')?;
    digits(port).then_some((host, port))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address after `ipmi:`.
pub(super) fn split_ipmi_host(rest: &str) -> Result<(String, Option<&str>), ()> {
    if let Some(r) = rest.strip_prefix('[') {
        let (host, tail) = r.split_once(']').ok_or(())?;
        return match tail {
            "" => Ok((host.to_string(), None)),
            t => t
                .strip_prefix(':')
                .map(|p| (host.to_string(), Some(p)))
                .ok_or(()),
        };
    }
    match rest.matches(':').count() {
        0 => Ok((rest.to_string(), None)),
        1 => {
            let (h, p) = rest.split_once(':').ok_or(())?;
            Ok((h.to_string(), Some(p)))
        }
        // A bare IPv6 address: no port.
        _ => Ok((rest.to_string(), None)),
    }
}

pub(super) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}
