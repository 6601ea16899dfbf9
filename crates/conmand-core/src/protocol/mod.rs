//! ConMan's client ↔ daemon handshake (reference §3.1–§3.5), sans-IO.
//!
//! A session starts with two line exchanges over TCP:
//!
//! ```text
//! C: HELLO USER='alice' TTY='pts/9'\n          Greeting      (client → server)
//! S: OK\n                                      Response::ok()
//! C: CONNECT OPTION=JOIN CONSOLE='node2'\n     Request
//! S: OK OPTION=RESET CONSOLE='node2'\n         Response::Ok
//!    or ERROR CODE=7 MESSAGE='...'\n + trailer lines, then close
//! ```
//!
//! After an `OK` to MONITOR or CONNECT the connection is a raw byte stream with
//! in-band 0xFF escapes from the client (reference §3.7).
//!
//! Who calls what:
//! - the **daemon** frames input with [`take_line`], decodes with
//!   [`Greeting::parse`] and [`Request::parse`], answers with
//!   [`Response::encode`] (or [`RequestError::to_response`]) and, for errors 6 and
//!   7, writes [`encode_match_list`] / [`BusyWriter::encode`] lines;
//! - the **client** sends [`Greeting::encode`] and [`Request::encode`] and decodes
//!   each answer with [`Response::parse`].
//!
//! Values travel in single quotes with no escapes. Before sending, `'` and `"`
//! get their high bit set ([`encode_value`]); the receiver clears the high bit of
//! every byte ([`decode_value`]), so decoded values are always 7-bit ASCII (§3.2).
//! A value containing CR or LF cannot be represented; like ConMan, the encoders
//! send it anyway and the receiver's lexer will misread it, so callers should
//! not pass such values.
//!
//! Modules: [`lexer`] (tokens), [`message`] (greeting and request), [`response`]
//! (answers and rejection reasons), [`frame`] (line framing), [`trailer`] (error
//! 6/7 lines). The useful items are re-exported here.

pub mod frame;
pub mod lexer;
pub mod message;
pub mod response;
pub mod trailer;

use bytes::BufMut;

pub use frame::{
    LineTooLong, MAX_LINE_LEN, MAX_WIRE_LINE, take_final_line, take_line, take_line_within,
};
pub use lexer::{Keyword, Lexer, MAX_TOKEN_LEN, Token};
pub use message::{Command, Greeting, Request};
pub use response::{ErrorCode, RequestError, Response, ResponseError};
pub use trailer::{BusyWriter, encode_match_list};

/// Appends `value` lex-encoded (`lex_encode`): `'` becomes 0xA7 and `"` becomes
/// 0xA2, every other byte is copied as is.
pub fn encode_value(value: &str, out: &mut impl BufMut) {
    for &b in value.as_bytes() {
        out.put_u8(match b {
            b'\'' | b'"' => b | 0x80,
            _ => b,
        });
    }
}

/// Decodes a received value (`lex_decode`): clears the high bit of every byte.
/// The result is therefore always ASCII.
pub fn decode_value(raw: &[u8]) -> String {
    raw.iter().map(|&b| char::from(b & 0x7F)).collect()
}

/// Reads `= <string>` after a key, consuming tokens like ConMan's
/// `lex_next(l) == '=' && lex_next(l) == LEX_STR` (short-circuit included).
fn assigned_str<'a>(l: &mut Lexer<'a>) -> Option<&'a [u8]> {
    if l.next_token() != Token::Char(b'=') {
        return None;
    }
    match l.next_token() {
        Token::Str(s) => Some(s),
        _ => None,
    }
}

/// Reads `= <integer>` after `CODE`, consuming tokens like ConMan.
fn assigned_int<'a>(l: &mut Lexer<'a>) -> Option<&'a [u8]> {
    if l.next_token() != Token::Char(b'=') {
        return None;
    }
    match l.next_token() {
        Token::Int(s) => Some(s),
        _ => None,
    }
}

/// Reads `= <keyword>` after `OPTION`, consuming tokens like ConMan.
fn assigned_keyword(l: &mut Lexer<'_>) -> Option<Keyword> {
    if l.next_token() != Token::Char(b'=') {
        return None;
    }
    match l.next_token() {
        Token::Keyword(k) => Some(k),
        _ => None,
    }
}

/// C `atoi` on an integer token (`[-+]?[0-9]+`), saturating instead of overflowing.
fn atoi(digits: &[u8]) -> i32 {
    let (neg, body) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, digits),
    };
    let mag = body
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |acc, b| {
            (acc * 10 + i64::from(b - b'0')).min(i64::from(i32::MAX) + 1)
        });
    let v = if neg { -mag } else { mag };
    i32::try_from(v).unwrap_or(if neg { i32::MIN } else { i32::MAX })
}

/// Appends ` KEY='value'` with the value lex-encoded.
fn put_pair(out: &mut impl BufMut, key: Keyword, value: &str) {
    out.put_u8(b' ');
    out.put_slice(key.as_str().as_bytes());
    out.put_slice(b"='");
    encode_value(value, out);
    out.put_u8(b'\'');
}

/// Appends ` OPTION=<opt>`.
fn put_option(out: &mut impl BufMut, opt: Keyword) {
    out.put_slice(b" OPTION=");
    out.put_slice(opt.as_str().as_bytes());
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn quote_encoding_matches_conman() {
        let mut out = Vec::new();
        encode_value(r#"na'me "x""#, &mut out);
        assert_eq!(out, b"na\xa7me \xa2x\xa2");
        assert_eq!(decode_value(&out), r#"na'me "x""#);
    }

    #[test]
    fn decode_clears_every_high_bit() {
        assert_eq!(decode_value("é".as_bytes()), "C)");
        assert_eq!(decode_value(b"\xff\x80a"), "\x7f\x00a");
    }

    proptest! {
        #[test]
        fn quote_roundtrip_on_7_bit_strings(s in "[\\x00-\\x7f]*") {
            let mut out = Vec::new();
            encode_value(&s, &mut out);
            prop_assert!(!out.contains(&b'\'') && !out.contains(&b'"'));
            prop_assert_eq!(decode_value(&out), s);
        }

        #[test]
        fn console_names_roundtrip_through_a_response(
            names in proptest::collection::vec("[ -~]{1,40}", 0..6),
            reset: bool,
        ) {
            let r = Response::Ok { reset, consoles: names };
            prop_assert_eq!(Response::parse(&r.to_bytes()), Ok(r));
        }

        #[test]
        fn greeting_roundtrips(user in "[ -~]{1,30}", tty in proptest::option::of("[ -~]{1,30}")) {
            let g = Greeting::new(user, tty);
            prop_assert_eq!(Greeting::parse(&g.to_bytes()), Ok(g));
        }

        #[test]
        fn decoders_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Greeting::decode(&line);
            let _ = Request::parse(&line);
            let _ = Response::parse(&line);
        }
    }
}
