//! `handshake`: what the daemon does with a new connection's first bytes: frame
//! the greeting line (cut at ConMan's 131,071 bytes), parse it, frame the request
//! line (whole, up to `MAX_WIRE_LINE`), parse it, then `matching::resolve` the
//! patterns against a fixed list of a few hundred console names and encode the
//! answer. A request over the matching work budget (`RequestError::TooComplex`)
//! is an accepted answer, like any other error.
//!
//! Invariants: nothing panics; decoded values re-encode to lines that decode to
//! the same greeting and request (when they hold no CR, LF or NUL, which the
//! protocol cannot carry); a selection is sorted in ConMan's order, without
//! duplicates, and every selected name matches a pattern; the OK response
//! parses back to the same names. Slow inputs are found by libFuzzer's
//! `-timeout` (set by `scripts/fuzz.sh`) and by the time bound of the
//! regression test.

use std::cmp::Ordering;
use std::sync::OnceLock;

use bytes::BytesMut;
use conmand_core::matching::{RegexSet, compare_names, glob_match, resolve};
use conmand_core::protocol::{
    Command, Greeting, MAX_WIRE_LINE, Request, RequestError, Response, encode_match_list,
    take_final_line, take_line_within,
};

/// The console names every request is matched against (a few hundred, in
/// configuration order, shaped like real sites' names plus some awkward ones).
pub fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut v: Vec<String> = (1..=100).rev().map(|i| format!("node{i}")).collect();
        for rack in 1..=4 {
            for n in 1..=45 {
                v.push(format!("rack{rack}-node-{n:04}.cluster.example.com"));
            }
        }
        for n in 0..16 {
            v.push(format!("bmc-{n:02x}"));
            v.push(format!("SW{n}_Mgmt.Lab"));
        }
        for s in [
            "cat",
            "date",
            "na'me",
            "foo10a",
            "foo2a",
            "x",
            "a-b-c",
            "bmc[1]",
            "star*name",
            "q?mark",
            "back\\slash",
            "n007",
            "n7",
            "UPPER",
            "lower",
            "a.b.c",
            "e\u{e9}",
        ] {
            v.push(s.to_owned());
        }
        v
    })
}

/// Whether `s` can travel in a protocol value (no line end, no NUL).
fn wire_safe(s: &str) -> bool {
    !s.contains(['\r', '\n', '\0'])
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let Some(line) = take_final_line(&mut buf) else {
        return;
    };
    let greeting = match Greeting::parse(&line) {
        Ok(g) => g,
        Err(e) => {
            let _ = e.to_response().to_bytes();
            return;
        }
    };
    if [&greeting.user, &greeting.tty]
        .into_iter()
        .flatten()
        .all(|v| wire_safe(v))
    {
        assert_eq!(Greeting::parse(&greeting.to_bytes()), Ok(greeting.clone()));
    }
    let _ = Response::ok().to_bytes();

    // As the daemon reads the request: whole up to MAX_WIRE_LINE; at EOF the
    // partial line is the line.
    let line = match take_line_within(&mut buf, &mut 0, MAX_WIRE_LINE) {
        Ok(Some(line)) => line,
        Ok(None) if !buf.is_empty() => buf.split(),
        Ok(None) => return,
        Err(e) => {
            assert!(buf.len() >= MAX_WIRE_LINE, "{e}");
            return;
        }
    };
    let req = match Request::parse(&line) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_response().to_bytes();
            return;
        }
    };
    if req.consoles.iter().all(|c| wire_safe(c)) {
        let mut want = req.clone();
        if want.command != Command::Connect {
            // Only CONNECT carries these on the wire (as in ConMan's client).
            want.force = false;
            want.join = false;
            want.broadcast = false;
        }
        assert_eq!(Request::parse(&want.to_bytes()), Ok(want));
    }

    let names = names();
    match resolve(&req, names) {
        Ok(sel) => {
            assert!(!sel.consoles.is_empty());
            assert!(sel.consoles.iter().all(|&i| i < names.len()));
            assert!(
                sel.consoles
                    .windows(2)
                    .all(
                        |w| compare_names(&names[w[0]], &names[w[1]]) != Ordering::Greater
                            && w[0] != w[1]
                    ),
                "selection not sorted or has duplicates"
            );
            let mut seen = sel.consoles.clone();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), sel.consoles.len(), "duplicate console");
            if !req.consoles.is_empty() {
                let set = if req.regex {
                    Some(RegexSet::new(&req.consoles).expect("resolve compiled it"))
                } else {
                    None
                };
                // Spot-check a few: every selected name matches some pattern.
                for &i in sel.consoles.iter().take(4) {
                    let hit = match &set {
                        Some(s) => s.is_match(&names[i]),
                        None => req.consoles.iter().any(|p| glob_match(p, &names[i])),
                    };
                    assert!(hit, "{:?} selected but matches no pattern", names[i]);
                }
            }
            if req.command != Command::Query {
                assert!(sel.consoles.len() == 1 || sel.broadcast);
            }
            let ok = Response::Ok {
                reset: false,
                consoles: sel.consoles.iter().map(|&i| names[i].clone()).collect(),
            };
            if let Response::Ok { consoles, .. } = &ok
                && consoles.iter().all(|c| c.is_ascii() && wire_safe(c))
            {
                // Values are 7-bit on the wire: only ASCII names come back as sent.
                assert_eq!(Response::parse(&ok.to_bytes()), Ok(ok.clone()));
            }
        }
        Err(e) => {
            let mut out = e.to_response().to_bytes();
            if let RequestError::TooComplex(_) = e {
                assert!(!req.consoles.is_empty(), "no patterns cost no matching");
            }
            if let RequestError::TooManyConsoles(n) = e {
                assert!(n > 1 && n <= names.len());
                assert_ne!(req.command, Command::Query);
                // The daemon follows error 6 with the matched names.
                encode_match_list(names.iter().take(n).map(String::as_str), &mut out);
            }
        }
    }
}
