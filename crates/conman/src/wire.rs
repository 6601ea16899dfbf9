//! Client-side handshake encoding: the greeting and request lines the client sends and the
//! response line it reads (reference §3.2–3.5).
//!
//! This is a minimal private codec written while `conmand_core::protocol` was not yet
//! available to this branch; it should be replaced by that module once merged.
//!
//! Lines are tokenised like ConMan's lexer: blanks are skipped, `'…'`/`"…"` are strings
//! (no escapes), `[-+]?[0-9]+` are integers, identifiers are matched case-insensitively
//! against the keywords, anything else is a one-character token, `#` starts a comment.
//! Quote encoding: `'` and `"` inside a value travel as 0xA7/0xA2; the receiver clears
//! the high bit of every byte of a decoded value.

/// Strings are cut to this many bytes (ConMan's `LEX_MAX_STR` - 1).
const MAX_STR: usize = 1023;

/// The command of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestCommand {
    /// `QUERY`
    Query,
    /// `MONITOR`
    Monitor,
    /// `CONNECT`
    Connect,
}

/// A request as the client sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The command.
    pub command: RequestCommand,
    /// `OPTION=QUIET`.
    pub quiet: bool,
    /// `OPTION=REGEX`.
    pub regex: bool,
    /// `OPTION=FORCE` (CONNECT only).
    pub force: bool,
    /// `OPTION=JOIN` (CONNECT only).
    pub join: bool,
    /// `OPTION=BROADCAST` (CONNECT only).
    pub broadcast: bool,
    /// Console names or patterns.
    pub consoles: Vec<String>,
}

/// A parsed response line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `OK[ OPTION=RESET]( CONSOLE='…')*`.
    Ok {
        /// The daemon offers `&R`.
        reset: bool,
        /// Matched consoles, decoded.
        consoles: Vec<String>,
    },
    /// `ERROR CODE=<n> MESSAGE='…'`.
    Error {
        /// The code (0 if absent).
        code: i64,
        /// The message, decoded; `None` if absent or empty.
        message: Option<String>,
    },
    /// Neither `OK` nor `ERROR` before the end of the line.
    Invalid,
}

/// Quote-encode a value: `'` → 0xA7, `"` → 0xA2.
fn encode(s: &str) -> Vec<u8> {
    s.bytes()
        .map(|b| match b {
            b'\'' | b'"' => b | 0x80,
            other => other,
        })
        .collect()
}

/// Decode a received value: clear the high bit of every byte.
fn decode(s: &[u8]) -> String {
    s.iter().map(|&b| char::from(b & 0x7F)).collect()
}

/// `HELLO USER='<user>'[ TTY='<tty>']\n`.
pub fn greeting(user: &str, tty: Option<&str>) -> Vec<u8> {
    let mut v = b"HELLO USER='".to_vec();
    v.extend(encode(user));
    v.push(b'\'');
    if let Some(t) = tty {
        v.extend_from_slice(b" TTY='");
        v.extend(encode(t));
        v.push(b'\'');
    }
    v.push(b'\n');
    v
}

/// The request line, options in ConMan's order, FORCE/JOIN/BROADCAST only with CONNECT.
pub fn request(r: &Request) -> Vec<u8> {
    let mut v: Vec<u8> = match r.command {
        RequestCommand::Query => b"QUERY".to_vec(),
        RequestCommand::Monitor => b"MONITOR".to_vec(),
        RequestCommand::Connect => b"CONNECT".to_vec(),
    };
    let connect = r.command == RequestCommand::Connect;
    for (on, name) in [
        (r.quiet, "QUIET"),
        (r.regex, "REGEX"),
        (connect && r.force, "FORCE"),
        (connect && r.join, "JOIN"),
        (connect && r.broadcast, "BROADCAST"),
    ] {
        if on {
            v.extend_from_slice(b" OPTION=");
            v.extend_from_slice(name.as_bytes());
        }
    }
    for c in &r.consoles {
        v.extend_from_slice(b" CONSOLE='");
        v.extend(encode(c));
        v.push(b'\'');
    }
    v.push(b'\n');
    v
}

/// One lexer token of a response line.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// Identifier, upper-cased for keyword comparison.
    Word(String),
    /// Quoted string, raw bytes.
    Str(Vec<u8>),
    /// Integer.
    Int(i64),
    /// Any other single character.
    Char(u8),
}

/// Tokenise one line (without its `\n`). An unmatched quote ends the line.
fn tokens(line: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        match c {
            b' ' | b'\t' | 0x0B | 0x0C => i += 1,
            b'\r' | b'\n' | b'#' => break,
            b'\'' | b'"' => match line[i + 1..].iter().position(|&b| b == c) {
                Some(len) => {
                    let s = &line[i + 1..i + 1 + len];
                    out.push(Tok::Str(s[..s.len().min(MAX_STR)].to_vec()));
                    i += len + 2;
                }
                None => break,
            },
            b'0'..=b'9' | b'-' | b'+'
                if c.is_ascii_digit() || line.get(i + 1).is_some_and(u8::is_ascii_digit) =>
            {
                let start = i;
                i += 1;
                while i < line.len() && line[i].is_ascii_digit() {
                    i += 1;
                }
                let text = String::from_utf8_lossy(&line[start..i]);
                out.push(Tok::Int(text.parse().unwrap_or(0)));
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                let start = i;
                while i < line.len() && (line[i].is_ascii_alphanumeric() || line[i] == b'_') {
                    i += 1;
                }
                let w = String::from_utf8_lossy(&line[start..i]).to_ascii_uppercase();
                out.push(Tok::Word(w));
            }
            other => {
                out.push(Tok::Char(other));
                i += 1;
            }
        }
    }
    out
}

/// Parse a response line (with or without its `\n`), like ConMan's `recv_rsp`.
pub fn parse_response(line: &[u8]) -> Response {
    let toks = tokens(line);
    let word = |t: Option<&Tok>, w: &str| matches!(t, Some(Tok::Word(x)) if x == w);
    let mut it = toks.iter().peekable();
    while let Some(t) = it.next() {
        if word(Some(t), "OK") {
            let (mut reset, mut consoles) = (false, Vec::new());
            while let Some(t) = it.next() {
                if word(Some(t), "CONSOLE") {
                    if it.next_if(|t| **t == Tok::Char(b'=')).is_some()
                        && let Some(Tok::Str(s)) = it.next_if(|t| matches!(t, Tok::Str(_)))
                    {
                        consoles.push(decode(s));
                    }
                } else if word(Some(t), "OPTION")
                    && it.next_if(|t| **t == Tok::Char(b'=')).is_some()
                    && word(it.peek().copied(), "RESET")
                {
                    it.next();
                    reset = true;
                }
            }
            return Response::Ok { reset, consoles };
        }
        if word(Some(t), "ERROR") {
            let (mut code, mut message) = (0, None);
            while let Some(t) = it.next() {
                if word(Some(t), "CODE") {
                    if it.next_if(|t| **t == Tok::Char(b'=')).is_some()
                        && let Some(Tok::Int(n)) = it.next_if(|t| matches!(t, Tok::Int(_)))
                    {
                        code = *n;
                    }
                } else if word(Some(t), "MESSAGE")
                    && it.next_if(|t| **t == Tok::Char(b'=')).is_some()
                    && let Some(Tok::Str(s)) = it.next_if(|t| matches!(t, Tok::Str(_)))
                {
                    message = (!s.is_empty()).then(|| decode(s));
                }
            }
            return Response::Error { code, message };
        }
    }
    Response::Invalid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_bytes() {
        assert_eq!(
            greeting("alice", Some("pts/9")),
            b"HELLO USER='alice' TTY='pts/9'\n"
        );
        assert_eq!(greeting("bob", None), b"HELLO USER='bob'\n");
        assert_eq!(greeting("o'k", None), b"HELLO USER='o\xa7k'\n");
    }

    #[test]
    fn request_bytes() {
        let r = Request {
            command: RequestCommand::Connect,
            quiet: false,
            regex: false,
            force: false,
            join: true,
            broadcast: true,
            consoles: vec!["n1".into(), "n2".into()],
        };
        assert_eq!(
            request(&r),
            b"CONNECT OPTION=JOIN OPTION=BROADCAST CONSOLE='n1' CONSOLE='n2'\n"
        );
        let q = Request {
            command: RequestCommand::Query,
            quiet: true,
            regex: true,
            force: true,
            join: true,
            broadcast: true,
            consoles: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(
            request(&q),
            b"QUERY OPTION=QUIET OPTION=REGEX CONSOLE='a' CONSOLE='b' CONSOLE='c'\n"
        );
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response(b"OK OPTION=RESET CONSOLE='cat' CONSOLE=\"na\xa7me\"\n"),
            Response::Ok {
                reset: true,
                consoles: vec!["cat".into(), "na'me".into()]
            }
        );
        assert_eq!(
            parse_response(b"OK\n"),
            Response::Ok {
                reset: false,
                consoles: vec![]
            }
        );
        assert_eq!(
            parse_response(b"ERROR CODE=7 MESSAGE='Found console already in use'\n"),
            Response::Error {
                code: 7,
                message: Some("Found console already in use".into())
            }
        );
        assert_eq!(
            parse_response(b"error code=2\n"),
            Response::Error {
                code: 2,
                message: None
            }
        );
        assert_eq!(parse_response(b"HELLO\n"), Response::Invalid);
        assert_eq!(parse_response(b"# OK\n"), Response::Invalid);
    }
}
