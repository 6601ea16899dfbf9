//! Console name selection for a request: globs, regexes and ConMan's natural
//! sort order (reference §3.6).
//!
//! The daemon calls [`resolve`] with the decoded request and the configured
//! console names (in configuration order): it gets back the indices of the
//! matched consoles, without duplicates, sorted by [`compare_names`], or the
//! error ConMan would send (3, 5 or 6; error 7 needs live state and stays with the
//! daemon). [`select`] is the matching step alone.
//!
//! - **Glob** (the default) is [`glob_match`] (prepared once per request as a
//!   [`Glob`]), which behaves like glibc's
//!   `fnmatch(pattern, name, 0)` in the C locale: case-sensitive, `*` matches
//!   `/` and leading dots too, `?`, bracket expressions with `!`/`^` negation,
//!   ranges and POSIX classes, and backslash escapes.
//! - **Regex** (`OPTION=REGEX`): all patterns are joined with `|` into one
//!   case-insensitive POSIX extended regular expression (glibc `regcomp` with
//!   `REG_EXTENDED|REG_ICASE`, C locale), which must match the *whole* name.
//!   The expression is translated into `regex` crate syntax (bytes, no Unicode)
//!   by a small POSIX ERE reader that reproduces glibc's reading and its error
//!   texts; a pattern that does not compile gives a [`MatchError`] carrying
//!   glibc's `regerror` text (sent to the client as error 3). The tests check
//!   this against the system's glibc on thousands of random patterns. Back
//!   references (`\1`) are the one ERE feature not supported: they are
//!   refused with `Invalid back reference`.
//!
//! Submodules: [`glob`] (fnmatch), [`ere`] (POSIX ERE → `regex` translation).
//!
//! A QUERY with no patterns selects every console (glob `*`, regex `.*`);
//! [`select`] does that when `patterns` is empty, and [`resolve`] answers a
//! MONITOR or CONNECT without patterns with error 5.

use std::cmp::Ordering;

use thiserror::Error;

use crate::protocol::{Command, Request, RequestError};

pub mod ere;
pub mod glob;

pub use ere::RegexSet;
pub use glob::{Glob, glob_match};

/// A regex pattern set that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct MatchError {
    /// The `regerror`-style reason, e.g. `Unmatched ( or \(`.
    pub message: String,
}

impl From<MatchError> for RequestError {
    /// Error 3 carrying the reason as its message.
    fn from(e: MatchError) -> Self {
        RequestError::BadRegex(e.message)
    }
}

/// The consoles a request resolved to (see [`resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Indices into the configured names, sorted by [`compare_names`].
    pub consoles: Vec<usize>,
    /// The session is a broadcast (write-only to several consoles). ConMan
    /// clears the request's BROADCAST when exactly one console matched, making
    /// it an ordinary read-write connect.
    pub broadcast: bool,
}

/// Resolves a request's patterns against the configured console names and runs
/// the checks ConMan makes before looking at writers (`query_consoles`, then the
/// first steps of `validate_req`), in ConMan's order:
///
/// 1. MONITOR/CONNECT without patterns: [`RequestError::NoConsoles`];
/// 2. a regex that does not compile: [`RequestError::BadRegex`];
/// 3. nothing matched: [`RequestError::NoConsoles`];
/// 4. MONITOR, or CONNECT without BROADCAST, matching several consoles:
///    [`RequestError::TooManyConsoles`] (the daemon then writes the names with
///    [`crate::protocol::encode_match_list`]).
///
/// The busy check (error 7) needs live writer state and stays with the daemon:
/// it applies to a CONNECT without FORCE or JOIN.
///
/// # Errors
/// The [`RequestError`] to send back, as listed above.
pub fn resolve<N: AsRef<str>>(req: &Request, names: &[N]) -> Result<Selection, RequestError> {
    if req.consoles.is_empty() && req.command != Command::Query {
        return Err(RequestError::NoConsoles);
    }
    let consoles = select(&req.consoles, req.regex, names)?;
    if consoles.is_empty() {
        return Err(RequestError::NoConsoles);
    }
    let broadcast = req.broadcast && consoles.len() != 1;
    let single_only = match req.command {
        Command::Query => false,
        Command::Monitor => true,
        Command::Connect => !broadcast,
    };
    if single_only && consoles.len() > 1 {
        return Err(RequestError::TooManyConsoles(consoles.len()));
    }
    Ok(Selection {
        consoles,
        broadcast,
    })
}

/// The most matching work one request may ask for: for every wildcard glob (or
/// the whole regex), its length in bytes times the total length of the console
/// names it is tested against — an upper bound of the steps [`glob_match`] takes.
/// `rack42-*` against 100,000 forty-byte names is 3.2·10⁷; a request of 126
/// hostile 1,023-byte patterns against 10,000 consoles would be 5·10¹⁰ and is
/// refused instead of stalling a thread for minutes. Patterns without wildcards
/// cost nothing (they are looked up by name).
pub const MAX_MATCH_WORK: u64 = 400_000_000;

/// Why [`select`] selected nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectError {
    /// The combined regex does not compile (error 3).
    #[error(transparent)]
    BadRegex(#[from] MatchError),
    /// Matching would cost more than [`MAX_MATCH_WORK`].
    #[error("Request too complex: matching would take {work} steps (limit {limit})")]
    TooComplex {
        /// The estimated work.
        work: u64,
        /// The limit.
        limit: u64,
    },
}

impl From<SelectError> for RequestError {
    fn from(e: SelectError) -> Self {
        match e {
            SelectError::BadRegex(m) => m.into(),
            SelectError::TooComplex { .. } => RequestError::TooComplex(e.to_string()),
        }
    }
}

/// Whether a glob pattern has no special characters (it matches only itself).
fn is_literal(pattern: &str) -> bool {
    !pattern
        .bytes()
        .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
}

/// Selects the consoles that match `patterns`.
///
/// `names` are the console names in configuration order. Returns indices into
/// `names`, each at most once, sorted by [`compare_names`] of the names. With no
/// patterns every console is selected. Globs without wildcards are looked up by
/// name; the rest is tested name by name within [`MAX_MATCH_WORK`].
///
/// # Errors
/// With `regex`, [`SelectError::BadRegex`] when the combined expression does not
/// compile; [`SelectError::TooComplex`] past the work limit.
pub fn select<P, N>(patterns: &[P], regex: bool, names: &[N]) -> Result<Vec<usize>, SelectError>
where
    P: AsRef<str>,
    N: AsRef<str>,
{
    select_within(patterns, regex, names, MAX_MATCH_WORK)
}

/// [`select`] with another work limit.
///
/// # Errors
/// As [`select`].
pub fn select_within<P, N>(
    patterns: &[P],
    regex: bool,
    names: &[N],
    limit: u64,
) -> Result<Vec<usize>, SelectError>
where
    P: AsRef<str>,
    N: AsRef<str>,
{
    let name_bytes: u64 = names.iter().map(|n| n.as_ref().len() as u64 + 1).sum();
    let check = |pattern_bytes: u64| {
        let work = pattern_bytes.saturating_mul(name_bytes);
        if work > limit {
            Err(SelectError::TooComplex { work, limit })
        } else {
            Ok(())
        }
    };
    let mut picked: Vec<usize> = if patterns.is_empty() {
        (0..names.len()).collect()
    } else if regex {
        check(patterns.iter().map(|p| p.as_ref().len() as u64 + 1).sum())?;
        let set = RegexSet::new(patterns)?;
        (0..names.len())
            .filter(|&i| set.is_match(names[i].as_ref()))
            .collect()
    } else {
        let (literal, wild): (Vec<&str>, Vec<&str>) = patterns
            .iter()
            .map(AsRef::as_ref)
            .partition(|p| is_literal(p));
        check(wild.iter().map(|p| p.len() as u64 + 1).sum())?;
        let literal: std::collections::HashSet<&str> = literal.into_iter().collect();
        let mut globs: Vec<Glob<'_>> = wild.into_iter().map(Glob::new).collect();
        (0..names.len())
            .filter(|&i| {
                let name = names[i].as_ref();
                literal.contains(name) || globs.iter_mut().any(|g| g.is_match(name))
            })
            .collect()
    };
    picked.sort_by(|&a, &b| compare_names(names[a].as_ref(), names[b].as_ref()));
    Ok(picked)
}

/// ConMan's natural order of console names (`compare_objs`).
///
/// Names are compared byte by byte. When both reach the start of their trailing
/// all-digit suffix at the same offset, the suffixes are compared as integers;
/// otherwise the first differing byte decides, compared as a C `signed char`
/// (so bytes ≥ 0x80 sort *before* ASCII). Gives `cat date node1 node2 node10`;
/// `foo2a` sorts after `foo10a` because neither has a trailing number.
pub fn compare_names(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (ia, ib) = (trailing_int_start(a), trailing_int_start(b));
    let mut i = 0;
    while i < a.len() {
        if ia == Some(i) && ib == Some(i) {
            return compare_decimal(&a[i..], &b[i..]);
        }
        if b.get(i) != Some(&a[i]) {
            break;
        }
        i += 1;
    }
    let signed = |s: &[u8]| s.get(i).map_or(0, |&c| i32::from(c as i8));
    signed(a).cmp(&signed(b))
}

/// Offset of the trailing run of ASCII digits, if the name ends in one.
fn trailing_int_start(s: &[u8]) -> Option<usize> {
    let digits = s.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    (digits > 0).then_some(s.len() - digits)
}

/// Compares two all-digit strings by numeric value, without overflow.
fn compare_decimal(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| {
        let zeros = s.iter().take_while(|&&c| c == b'0').count();
        s[zeros..].to_vec()
    };
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

/// Length of the text before `<kind>]` in `s`, if present.
fn find_close(s: &[u8], kind: u8) -> Option<usize> {
    s.windows(2).position(|w| w[0] == kind && w[1] == b']')
}

/// The byte predicate of a POSIX class name (C locale).
fn class_fn(name: &[u8]) -> Option<fn(&u8) -> bool> {
    Some(match name {
        b"alnum" => u8::is_ascii_alphanumeric,
        b"alpha" => u8::is_ascii_alphabetic,
        b"blank" => |b: &u8| matches!(b, b' ' | b'\t'),
        b"cntrl" => u8::is_ascii_control,
        b"digit" => u8::is_ascii_digit,
        b"graph" => u8::is_ascii_graphic,
        b"lower" => u8::is_ascii_lowercase,
        b"print" => |b: &u8| b.is_ascii_graphic() || *b == b' ',
        b"punct" => u8::is_ascii_punctuation,
        b"space" => |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r'),
        b"upper" => u8::is_ascii_uppercase,
        b"xdigit" => u8::is_ascii_hexdigit,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NAMES: [&str; 5] = ["node10", "cat", "node2", "date", "node1"];

    fn picked(pats: &[&str], regex: bool) -> Vec<&'static str> {
        select(pats, regex, &NAMES)
            .unwrap()
            .into_iter()
            .map(|i| NAMES[i])
            .collect()
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["node10", "date", "node2", "cat", "node1"];
        v.sort_by(|a, b| compare_names(a, b));
        assert_eq!(v, ["cat", "date", "node1", "node2", "node10"]);
        let mut v = vec!["we", "s4", "sq", "s1", "s3", "s2"];
        v.sort_by(|a, b| compare_names(a, b));
        assert_eq!(v, ["s1", "s2", "s3", "s4", "sq", "we"]);
        assert_eq!(compare_names("foo2a", "foo10a"), Ordering::Greater);
        // Order returned by Debian conmand 0.2.7 for `QUERY` on these names.
        let mut v = vec![
            "node10", "cat", "node2", "date", "node1", "na'me", "foo10a", "foo2a",
        ];
        v.sort_by(|a, b| compare_names(a, b));
        assert_eq!(
            v,
            [
                "cat", "date", "foo10a", "foo2a", "na'me", "node1", "node2", "node10"
            ]
        );
        assert_eq!(compare_names("n", "n1"), Ordering::Less);
        assert_eq!(compare_names("n1", "n"), Ordering::Greater);
        assert_eq!(compare_names("n007", "n7"), Ordering::Equal);
        assert_eq!(
            compare_names("n99999999999999999999", "n100000000000000000000"),
            Ordering::Less
        );
        // Different prefix lengths: plain byte comparison.
        assert_eq!(compare_names("ab10", "a9"), Ordering::Greater);
        // signed char: high bytes sort first.
        assert_eq!(compare_names("a\u{e9}", "az"), Ordering::Less);
        assert_eq!(compare_names("a", "a\u{e9}"), Ordering::Greater);
    }

    #[test]
    fn glob_selects_sorted_and_deduplicated() {
        assert_eq!(picked(&["node*"], false), ["node1", "node2", "node10"]);
        assert_eq!(
            picked(&["node1*", "*1", "cat"], false),
            ["cat", "node1", "node10"]
        );
        assert_eq!(
            picked(&[], false),
            ["cat", "date", "node1", "node2", "node10"]
        );
        assert!(
            picked(&["NODE*"], false).is_empty(),
            "globs are case-sensitive"
        );
    }

    fn req(command: Command, pats: &[&str]) -> Request {
        let mut r = Request::new(command);
        r.consoles = pats.iter().map(|p| (*p).to_owned()).collect();
        r
    }

    #[test]
    fn resolve_runs_conman_checks_in_order() {
        let n = |sel: Selection| sel.consoles.iter().map(|&i| NAMES[i]).collect::<Vec<_>>();
        assert_eq!(
            n(resolve(&req(Command::Query, &[]), &NAMES).unwrap()),
            ["cat", "date", "node1", "node2", "node10"]
        );
        assert_eq!(
            resolve(&req(Command::Monitor, &[]), &NAMES),
            Err(RequestError::NoConsoles)
        );
        assert_eq!(
            resolve(&req(Command::Connect, &["zz*"]), &NAMES),
            Err(RequestError::NoConsoles)
        );
        assert_eq!(
            resolve(&req(Command::Monitor, &["node*"]), &NAMES),
            Err(RequestError::TooManyConsoles(3))
        );
        assert_eq!(
            resolve(&req(Command::Connect, &["node*"]), &NAMES),
            Err(RequestError::TooManyConsoles(3))
        );
        let mut r = req(Command::Query, &["("]);
        r.regex = true;
        assert_eq!(
            resolve(&r, &NAMES),
            Err(RequestError::BadRegex("Unmatched ( or \\(".into()))
        );
        // A regex error wins over "no consoles", as in ConMan.
        let mut r = req(Command::Query, &["zz", "("]);
        r.regex = true;
        assert!(matches!(
            resolve(&r, &NAMES),
            Err(RequestError::BadRegex(_))
        ));
    }

    #[test]
    fn resolve_broadcast() {
        let mut r = req(Command::Connect, &["node*"]);
        r.broadcast = true;
        let sel = resolve(&r, &NAMES).unwrap();
        assert!(sel.broadcast);
        assert_eq!(sel.consoles.len(), 3);
        // One match turns a broadcast into a plain R/W connect.
        let mut r = req(Command::Connect, &["cat"]);
        r.broadcast = true;
        let sel = resolve(&r, &NAMES).unwrap();
        assert!(!sel.broadcast);
        assert_eq!(sel.consoles, [1]);
        // QUERY may match many.
        assert_eq!(
            resolve(&req(Command::Query, &["node*"]), &NAMES)
                .unwrap()
                .consoles
                .len(),
            3
        );
    }

    #[test]
    fn regex_is_case_insensitive_and_anchored() {
        assert_eq!(picked(&["node[0-9]"], true), ["node1", "node2"]);
        assert_eq!(picked(&["DATE"], true), ["date"]);
        assert_eq!(picked(&["at"], true), Vec::<&str>::new());
        assert_eq!(
            picked(&["c.t", "node1.*"], true),
            ["cat", "node1", "node10"]
        );
        assert_eq!(
            picked(&[], true),
            ["cat", "date", "node1", "node2", "node10"]
        );
        assert_eq!(picked(&["[[:alpha:]]+"], true), ["cat", "date"]);
    }

    #[test]
    fn regex_non_ascii_bytes_match_themselves() {
        // C-locale semantics: a bracket matches one byte, so the two-byte "é"
        // needs `[é]{2}`; high bytes sort first (signed char).
        assert_eq!(
            select(
                &["n\u{e9}.", "[\u{e9}]{2}"],
                true,
                &["n\u{e9}1", "\u{e9}", "ne1"]
            ),
            Ok(vec![1, 0])
        );
    }

    #[test]
    fn literal_names_are_looked_up_and_wildcards_are_budgeted() {
        let names: Vec<String> = (0..2000)
            .map(|i| format!("rack{}-node-{i:04}", i % 7))
            .collect();
        // Thousands of exact names cost nothing and select exactly themselves.
        let asked: Vec<&str> = names.iter().step_by(3).map(String::as_str).collect();
        let got = select_within(&asked, false, &names, 0).unwrap();
        assert_eq!(got.len(), asked.len());
        // An escaped or bracketed pattern is not taken as a literal: it goes through
        // fnmatch (where `\1` is `1`).
        assert_eq!(select(&["rack1-node-000\\1"], false, &names).unwrap(), [1]);
        assert_eq!(
            select(&["rack1-node-000[1]"], false, &names).unwrap().len(),
            1
        );
        // Wildcards pay for pattern bytes times name bytes.
        let bomb: Vec<String> = (0..126).map(|_| "*a".repeat(511)).collect();
        let err = select(&bomb, false, &names).unwrap_err();
        assert!(matches!(err, SelectError::TooComplex { .. }), "{err:?}");
        assert_eq!(
            RequestError::from(err).code(),
            crate::protocol::ErrorCode::BadRequest
        );
        assert!(matches!(
            select(&bomb, true, &names),
            Err(SelectError::TooComplex { .. })
        ));
        assert!(select(&["rack3-*"], false, &names).is_ok());
    }

    #[test]
    fn regex_patterns_combine_across_the_join() {
        // "(node" + "|" + "cat)" is one balanced group, as in ConMan.
        assert_eq!(picked(&["(node1", "cat)"], true), ["cat", "node1"]);
    }

    proptest! {
        #[test]
        fn matching_never_panics(
            pats in proptest::collection::vec(prop_oneof![any::<String>(), "[ -~]{0,16}"], 0..3),
            names in proptest::collection::vec(any::<String>(), 0..4),
            regex: bool,
        ) {
            let _ = select(&pats, regex, &names);
        }

        #[test]
        fn select_output_is_sorted_and_unique(
            names in proptest::collection::hash_set("[a-c]{0,2}[0-9]{0,2}", 0..12),
            pats in proptest::collection::vec("[a-c*?0-9\\[\\]\\\\!-]{1,3}", 0..4),
        ) {
            let names: Vec<String> = names.into_iter().collect();
            let got = select(&pats, false, &names).unwrap();
            let mut seen = std::collections::HashSet::new();
            prop_assert!(got.iter().all(|i| seen.insert(*i)));
            prop_assert!(got.windows(2).all(|w| compare_names(&names[w[0]], &names[w[1]]) != Ordering::Greater));
            for (i, n) in names.iter().enumerate() {
                let want = pats.is_empty() || pats.iter().any(|p| glob_match(p, n));
                prop_assert_eq!(got.contains(&i), want);
            }
        }
    }
}
