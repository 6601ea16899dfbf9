//! `telnet`: the client-side telnet parser (`telnet::Parser`) fed a terminal
//! server's byte stream whole, byte by byte and in an arbitrary split.
//!
//! Input: split seed, then the stream.
//!
//! Invariants: the split changes nothing (data, replies, events); data is never
//! longer than the input; every reply is a 3-byte `IAC WONT x` / `IAC DONT x`;
//! every event formats; console data escaped with `escape_into` parses back to
//! itself with no reply and no event.

use conmand_core::telnet::{DONT, IAC, Parsed, Parser, WONT, escape_into};

use super::{Input, split};

fn parse(chunks: &[&[u8]]) -> Parsed {
    let mut p = Parser::new();
    let mut out = Parsed::default();
    for c in chunks {
        p.feed(c, &mut out);
    }
    out
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let seed = input.u8();
    let stream = input.rest();

    let whole = parse(&[stream]);
    assert!(whole.data.len() <= stream.len());
    assert_eq!(whole.replies.len() % 3, 0, "replies are 3-byte commands");
    for r in whole.replies.chunks(3) {
        assert!(
            r[0] == IAC && (r[1] == WONT || r[1] == DONT),
            "unexpected reply {r:?}"
        );
    }
    for e in &whole.events {
        let _ = e.priority();
        assert!(!e.message("c").is_empty());
    }
    assert_eq!(
        whole,
        parse(&split(stream, seed)),
        "split changed the result"
    );
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, parse(&bytewise), "byte-by-byte changed the result");

    // Our own escaping of console data is read back unchanged.
    let mut escaped = Vec::new();
    escape_into(stream, &mut escaped);
    let back = parse(&[&escaped]);
    assert_eq!(back.data, stream, "escape_into does not round-trip");
    assert!(back.replies.is_empty() && back.events.is_empty());

    let mut reuse = whole.clone();
    reuse.clear();
    assert_eq!(reuse, Parsed::default());
}
