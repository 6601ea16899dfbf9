//! The server's answers, `OK ...` and `ERROR CODE=n MESSAGE='...'`, encoded and
//! decoded exactly as ConMan does (reference §3.5), plus the reasons a server
//! rejects a request ([`RequestError`]).
//!
//! The decoder replays ConMan's client token loops (`recv_rsp`, `parse_rsp_ok`,
//! `parse_rsp_err`): tokens before `OK`/`ERROR` are skipped and the last value
//! of a key wins.

use bytes::BufMut;
use thiserror::Error;

use super::lexer::{Keyword, Lexer, Token};
use super::{
    assigned_int, assigned_keyword, assigned_str, atoi, decode_value, put_option, put_pair,
};

/// ConMan's error codes (`enum err_type`, reference §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: a client-side error (connect, resolve, I/O); never sent by a server.
    Local,
    /// 2: bad request; the greeting had no user.
    BadRequest,
    /// 3: the combined regex did not compile.
    BadRegex,
    /// 4: authentication; reserved, never sent.
    Authenticate,
    /// 5: no console matched.
    NoConsoles,
    /// 6: MONITOR, or CONNECT without BROADCAST, matched several consoles.
    TooManyConsoles,
    /// 7: CONNECT without FORCE or JOIN found a console with writers.
    BusyConsoles,
    /// Any other non-zero code a peer sent.
    Other(i32),
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub const fn value(self) -> i32 {
        match self {
            ErrorCode::Local => 1,
            ErrorCode::BadRequest => 2,
            ErrorCode::BadRegex => 3,
            ErrorCode::Authenticate => 4,
            ErrorCode::NoConsoles => 5,
            ErrorCode::TooManyConsoles => 6,
            ErrorCode::BusyConsoles => 7,
            ErrorCode::Other(n) => n,
        }
    }

    /// The code for a wire value; `None` for 0, which means "no error".
    pub const fn from_value(n: i32) -> Option<ErrorCode> {
        Some(match n {
            0 => return None,
            1 => ErrorCode::Local,
            2 => ErrorCode::BadRequest,
            3 => ErrorCode::BadRegex,
            4 => ErrorCode::Authenticate,
            5 => ErrorCode::NoConsoles,
            6 => ErrorCode::TooManyConsoles,
            7 => ErrorCode::BusyConsoles,
            n => ErrorCode::Other(n),
        })
    }
}

/// The server's answer to the greeting or to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `OK[ OPTION=RESET]( CONSOLE='x')*`. The greeting's reply is a bare `OK`
    /// ([`Response::ok`]).
    Ok {
        /// The daemon has a `resetcmd`, so the client may offer `&R`.
        reset: bool,
        /// Matched console names, already sorted by the server.
        consoles: Vec<String>,
    },
    /// `ERROR CODE=n MESSAGE='text'`, possibly followed by trailing plain-text
    /// lines (see [`super::trailer`]) before the server closes.
    Error {
        /// The error code.
        code: ErrorCode,
        /// The message; empty if the server sent none (ConMan's client then
        /// shows `Unspecified`).
        message: String,
    },
}

impl Response {
    /// The bare `OK` that answers a valid greeting.
    pub fn ok() -> Response {
        Response::Ok {
            reset: false,
            consoles: Vec::new(),
        }
    }

    /// Appends the wire form: `OK[ OPTION=RESET]( CONSOLE='x')*\n` or
    /// `ERROR CODE=n MESSAGE='text'\n`, with quotes in values lex-encoded.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            Response::Ok { reset, consoles } => {
                out.put_slice(Keyword::Ok.as_str().as_bytes());
                if *reset {
                    put_option(out, Keyword::Reset);
                }
                for c in consoles {
                    put_pair(out, Keyword::Console, c);
                }
            }
            Response::Error { code, message } => {
                out.put_slice(Keyword::Error.as_str().as_bytes());
                out.put_u8(b' ');
                out.put_slice(Keyword::Code.as_str().as_bytes());
                out.put_u8(b'=');
                out.put_slice(code.value().to_string().as_bytes());
                put_pair(out, Keyword::Message, message);
            }
        }
        out.put_u8(b'\n');
    }

    /// The wire form as a new vector (see [`Response::encode`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes a response line the way ConMan's client does (`recv_rsp`).
    ///
    /// The first `OK` or `ERROR` keyword decides; tokens before it are skipped.
    /// After `OK`, `CONSOLE=` values (even empty ones) are collected and
    /// `OPTION=RESET` is noted. After `ERROR`, the last `CODE=<int>` and
    /// `MESSAGE=<str>` win.
    ///
    /// # Errors
    /// [`ResponseError::Invalid`] when the line has neither keyword, or an
    /// `ERROR` without a non-zero code.
    pub fn parse(line: &[u8]) -> Result<Response, ResponseError> {
        let mut l = Lexer::new(line);
        loop {
            match l.next_token() {
                Token::Keyword(Keyword::Ok) => return Ok(Response::decode_ok(&mut l)),
                Token::Keyword(Keyword::Error) => return Response::decode_error(&mut l),
                Token::Eof | Token::Eol => return Err(ResponseError::Invalid),
                _ => {}
            }
        }
    }

    /// `parse_rsp_ok`.
    fn decode_ok(l: &mut Lexer<'_>) -> Response {
        let mut reset = false;
        let mut consoles = Vec::new();
        loop {
            match l.next_token() {
                Token::Keyword(Keyword::Console) => {
                    if let Some(v) = assigned_str(l) {
                        consoles.push(decode_value(v));
                    }
                }
                Token::Keyword(Keyword::Option) => {
                    reset |= assigned_keyword(l) == Some(Keyword::Reset);
                }
                Token::Eof | Token::Eol => return Response::Ok { reset, consoles },
                _ => {}
            }
        }
    }

    /// `parse_rsp_err`.
    fn decode_error(l: &mut Lexer<'_>) -> Result<Response, ResponseError> {
        let mut code = 0;
        let mut message: &[u8] = b"";
        loop {
            match l.next_token() {
                Token::Keyword(Keyword::Code) => {
                    if let Some(digits) = assigned_int(l) {
                        code = atoi(digits);
                    }
                }
                Token::Keyword(Keyword::Message) => {
                    if let Some(v) = assigned_str(l) {
                        message = v;
                    }
                }
                Token::Eof | Token::Eol => break,
                _ => {}
            }
        }
        let code = ErrorCode::from_value(code).ok_or(ResponseError::Invalid)?;
        Ok(Response::Error {
            code,
            message: decode_value(message),
        })
    }
}

/// Why the server rejects a greeting or request. `Display` is the exact message
/// text ConMan sends; [`RequestError::to_response`] builds the `ERROR` line.
/// Errors 6 and 7 are followed by trailing lines (see [`super::trailer`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Error 2: the greeting named no user.
    #[error("Invalid greeting: no user specified")]
    NoUser,
    /// Error 3: the combined regex did not compile; the text is the
    /// `regerror`-style reason.
    #[error("{0}")]
    BadRegex(String),
    /// Error 5: nothing matched (or MONITOR/CONNECT gave no pattern, or the
    /// request had no command).
    #[error("Found no matching consoles")]
    NoConsoles,
    /// Error 6: this many consoles matched a single-console command.
    #[error("Found {0} matching consoles")]
    TooManyConsoles(usize),
    /// Error 7: this many matched consoles already have writers.
    #[error("{}", busy_message(*.0))]
    BusyConsoles(usize),
    /// Error 2 (not in ConMan): matching the request's patterns would cost more
    /// than the daemon allows one request; the text says how much.
    #[error("{0}")]
    TooComplex(String),
}

/// The message of error 7, singular for one console.
fn busy_message(n: usize) -> String {
    if n == 1 {
        "Found console already in use".to_owned()
    } else {
        format!("Found {n} consoles already in use")
    }
}

impl RequestError {
    /// The wire error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            RequestError::NoUser => ErrorCode::BadRequest,
            RequestError::BadRegex(_) => ErrorCode::BadRegex,
            RequestError::NoConsoles => ErrorCode::NoConsoles,
            RequestError::TooManyConsoles(_) => ErrorCode::TooManyConsoles,
            RequestError::BusyConsoles(_) => ErrorCode::BusyConsoles,
            RequestError::TooComplex(_) => ErrorCode::BadRequest,
        }
    }

    /// The `ERROR CODE=n MESSAGE='text'` response for this rejection.
    pub fn to_response(&self) -> Response {
        Response::Error {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

impl Response {
    /// This response, or, when its line would be longer than
    /// [`super::MAX_WIRE_LINE`], error 2 saying so (never a cut list). The second
    /// value is the length of the line that was not sent.
    pub fn within_wire_limit(self) -> (Response, Option<usize>) {
        let mut probe = bytes::BytesMut::new();
        self.encode(&mut probe);
        if probe.len() <= super::MAX_WIRE_LINE {
            return (self, None);
        }
        let n = match &self {
            Response::Ok { consoles, .. } => consoles.len(),
            Response::Error { .. } => 0,
        };
        let rsp = Response::Error {
            code: ErrorCode::BadRequest,
            message: format!(
                "Response of {} bytes for {n} consoles exceeds the {}-byte line maximum; \
                 name fewer consoles",
                probe.len(),
                super::MAX_WIRE_LINE
            ),
        };
        (rsp, Some(probe.len()))
    }
}

/// Why a response line could not be decoded (client side). ConMan's client
/// reports it as `Received invalid response from <host:port>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// No `OK`/`ERROR` keyword, or an `ERROR` without a non-zero `CODE`.
    #[error("Received invalid response")]
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_past_the_wire_limit_become_an_error() {
        let names: Vec<String> = (0..20_000)
            .map(|i| format!("rack42-node-{i:05}.cluster.example.com"))
            .collect();
        let ok = Response::Ok {
            reset: false,
            consoles: names.clone(),
        };
        let (same, cut) = ok.clone().within_wire_limit();
        assert_eq!((same, cut), (ok, None));
        let many: Vec<String> = (0..200_000).map(|i| format!("{i:060}")).collect();
        let (rsp, cut) = Response::Ok {
            reset: true,
            consoles: many,
        }
        .within_wire_limit();
        assert!(cut.unwrap() > super::super::MAX_WIRE_LINE);
        match rsp {
            Response::Error { code, message } => {
                assert_eq!(code, ErrorCode::BadRequest);
                assert!(
                    message.contains("200000 consoles exceeds the 8388608-byte"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    // ---- response ----

    #[test]
    fn ok_responses_encode_like_the_observed_server() {
        assert_eq!(Response::ok().to_bytes(), b"OK\n");
        let r = Response::Ok {
            reset: true,
            consoles: strings(&["cat", "date", "node1", "node2", "node10"]),
        };
        assert_eq!(
            r.to_bytes(),
            b"OK OPTION=RESET CONSOLE='cat' CONSOLE='date' CONSOLE='node1' CONSOLE='node2' CONSOLE='node10'\n"
                .to_vec()
        );
        let r = Response::Ok {
            reset: false,
            consoles: strings(&["na'me"]),
        };
        assert_eq!(r.to_bytes(), b"OK CONSOLE='na\xa7me'\n");
    }

    #[test]
    fn error_responses_encode_exactly() {
        assert_eq!(
            RequestError::TooManyConsoles(3).to_response().to_bytes(),
            b"ERROR CODE=6 MESSAGE='Found 3 matching consoles'\n"
        );
        assert_eq!(
            RequestError::BusyConsoles(1).to_response().to_bytes(),
            b"ERROR CODE=7 MESSAGE='Found console already in use'\n"
        );
        assert_eq!(
            RequestError::BusyConsoles(2).to_response().to_bytes(),
            b"ERROR CODE=7 MESSAGE='Found 2 consoles already in use'\n"
        );
        assert_eq!(
            RequestError::BadRegex("Unmatched ( or \\(".into())
                .to_response()
                .to_bytes(),
            b"ERROR CODE=3 MESSAGE='Unmatched ( or \\('\n"
        );
    }

    #[test]
    fn client_decodes_ok_with_reset_and_consoles() {
        let r = Response::parse(b"OK OPTION=RESET CONSOLE='echo1' CONSOLE='na\xa7me'\n").unwrap();
        assert_eq!(
            r,
            Response::Ok {
                reset: true,
                consoles: strings(&["echo1", "na'me"])
            }
        );
        assert_eq!(Response::parse(b"OK\n"), Ok(Response::ok()));
        // Empty console values are kept on the client side.
        let r = Response::parse(b"junk OK CONSOLE='' OPTION=QUIET\n").unwrap();
        assert_eq!(
            r,
            Response::Ok {
                reset: false,
                consoles: strings(&[""])
            }
        );
    }

    #[test]
    fn client_decodes_errors() {
        assert_eq!(
            Response::parse(b"ERROR CODE=5 MESSAGE='Found no matching consoles'\n"),
            Ok(Response::Error {
                code: ErrorCode::NoConsoles,
                message: "Found no matching consoles".into()
            })
        );
        assert_eq!(
            Response::parse(b"ERROR MESSAGE='x' CODE=+42\n"),
            Ok(Response::Error {
                code: ErrorCode::Other(42),
                message: "x".into()
            })
        );
        assert_eq!(
            Response::parse(b"ERROR CODE=7\n"),
            Ok(Response::Error {
                code: ErrorCode::BusyConsoles,
                message: String::new()
            })
        );
    }

    #[test]
    fn client_rejects_invalid_responses() {
        assert_eq!(Response::parse(b"HELLO\n"), Err(ResponseError::Invalid));
        assert_eq!(Response::parse(b""), Err(ResponseError::Invalid));
        assert_eq!(
            Response::parse(b"ERROR CODE=0 MESSAGE='x'\n"),
            Err(ResponseError::Invalid)
        );
        assert_eq!(
            Response::parse(b"ERROR MESSAGE='x'\n"),
            Err(ResponseError::Invalid)
        );
        assert_eq!(
            Response::parse(b"ERROR CODE='5'\n"),
            Err(ResponseError::Invalid)
        );
    }

    #[test]
    fn error_code_values() {
        for n in 1..=7 {
            let c = ErrorCode::from_value(n).unwrap();
            assert_eq!(c.value(), n);
            assert!(!matches!(c, ErrorCode::Other(_)));
        }
        assert_eq!(ErrorCode::from_value(0), None);
        assert_eq!(ErrorCode::from_value(-1), Some(ErrorCode::Other(-1)));
    }

    #[test]
    fn atoi_saturates() {
        assert_eq!(atoi(b"-7"), -7);
        assert_eq!(atoi(b"99999999999999999999"), i32::MAX);
        assert_eq!(atoi(b"-99999999999999999999"), i32::MIN);
    }

    #[test]
    fn response_roundtrip() {
        for r in [
            Response::ok(),
            Response::Ok {
                reset: true,
                consoles: strings(&["a\"b", "c"]),
            },
            RequestError::BusyConsoles(4).to_response(),
        ] {
            assert_eq!(Response::parse(&r.to_bytes()), Ok(r));
        }
    }
}
