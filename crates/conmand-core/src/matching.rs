//! Console name selection for a request: globs, regexes and ConMan's natural
//! sort order (reference §3.6).
//!
//! The daemon calls [`resolve`] with the decoded request and the configured
//! console names (in configuration order): it gets back the indices of the
//! matched consoles, without duplicates, sorted by [`compare_names`], or the
//! error ConMan would send (3, 5 or 6; error 7 needs live state and stays with the
//! daemon). [`select`] is the matching step alone.
//!
//! - **Glob** (the default) is [`glob_match`], which behaves like glibc's
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
//! A QUERY with no patterns selects every console (glob `*`, regex `.*`);
//! [`select`] does that when `patterns` is empty. MONITOR and CONNECT with no
//! pattern are answered with error 5 by the daemon before it gets here.

use std::cmp::Ordering;

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::ast::ErrorKind;
use thiserror::Error;

use crate::protocol::{Command, Request, RequestError};

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

/// Selects the consoles that match `patterns`.
///
/// `names` are the console names in configuration order. Returns indices into
/// `names`, each at most once, sorted by [`compare_names`] of the names. With no
/// patterns every console is selected.
///
/// # Errors
/// With `regex`, a [`MatchError`] when the combined expression does not compile.
pub fn select<P, N>(patterns: &[P], regex: bool, names: &[N]) -> Result<Vec<usize>, MatchError>
where
    P: AsRef<str>,
    N: AsRef<str>,
{
    let mut picked: Vec<usize> = if patterns.is_empty() {
        (0..names.len()).collect()
    } else if regex {
        let set = RegexSet::new(patterns)?;
        (0..names.len())
            .filter(|&i| set.is_match(names[i].as_ref()))
            .collect()
    } else {
        (0..names.len())
            .filter(|&i| {
                patterns
                    .iter()
                    .any(|p| glob_match(p.as_ref(), names[i].as_ref()))
            })
            .collect()
    };
    picked.sort_by(|&a, &b| compare_names(names[a].as_ref(), names[b].as_ref()));
    Ok(picked)
}

/// Patterns joined into one case-insensitive regex that must match whole names.
#[derive(Debug, Clone)]
pub struct RegexSet {
    /// `^(?:p1|p2|…)$`, case-insensitive, bytes, no Unicode.
    anchored: Regex,
}

impl RegexSet {
    /// Joins `patterns` with `|` and compiles them.
    ///
    /// # Errors
    /// A [`MatchError`] with a glibc-like reason when the joined text is not a
    /// valid expression (checked before anchoring, so unbalanced parentheses in
    /// one pattern are judged together with the others, as in ConMan).
    pub fn new<P: AsRef<str>>(patterns: &[P]) -> Result<RegexSet, MatchError> {
        let joined = patterns
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join("|");
        let err = |m: &str| MatchError {
            message: m.to_owned(),
        };
        let translated = posix_to_rust(&joined).map_err(err)?;
        // Validate the joined text on its own first: wrapping it in a group
        // could otherwise "balance" a stray parenthesis.
        if let Err(e) = regex_syntax::ast::parse::Parser::new().parse(&translated) {
            return Err(err(regerror_text(e.kind())));
        }
        build(&translated)?;
        let anchored = build(&format!("^(?:{translated})$"))?;
        Ok(RegexSet { anchored })
    }

    /// Whether the whole `name` matches one of the patterns.
    pub fn is_match(&self, name: &str) -> bool {
        self.anchored.is_match(name.as_bytes())
    }
}

/// An atom that matches no byte (an empty class).
const NEVER: &str = "[^\\x00-\\xFF]";

/// glibc's text for a repetition operator with nothing to repeat.
const BADRPT: &str = "Invalid preceding regular expression";

/// What the previous piece of a POSIX ERE was, for repetition rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of the pattern, or just after `(` or `|`.
    Start,
    /// Just after `^` or `$`.
    Anchor,
    /// An atom (character, `.`, bracket, group, escape).
    Atom,
    /// A repetition operator.
    Repeat,
}

/// Translates a POSIX extended regular expression, read the way glibc's
/// `regcomp(REG_EXTENDED)` reads it, into equivalent `regex` crate syntax, or
/// returns glibc's `regerror` text for it.
///
/// Handled differences: a repetition after nothing, `(`, `|`, `^` or `$` is an
/// error; stacked repetitions (`a**`, `a+?`) repeat the repetition; intervals
/// `{n}`, `{n,}`, `{,m}`, `{n,m}` are checked like glibc; a `)` with no open
/// group is an ordinary character; bracket expressions follow POSIX (see
/// [`bracket_to_rust`]); outside brackets `\w \W \s \S \b \B \< \>` keep their GNU
/// meaning, `` \` `` and `\'` are the text anchors, `\1`–`\9` (back references)
/// are rejected, an escaped lower-case letter never matches (a glibc
/// `REG_ICASE` quirk) and any other escaped character stands for itself.
fn posix_to_rust(pat: &str) -> Result<String, &'static str> {
    let b = pat.as_bytes();
    let mut out = String::with_capacity(pat.len() + 8);
    let mut prev = Prev::Start;
    // Offset in `out` where the last atom starts (for wrapping stacked repeats).
    let mut atom_start = 0;
    // Offsets in `out` of the currently open groups.
    let mut groups: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'*' | b'+' | b'?' | b'{' => {
                if matches!(prev, Prev::Start | Prev::Anchor) {
                    return Err(BADRPT);
                }
                let op = if c == b'{' {
                    interval(b, &mut i)?
                } else {
                    i += 1;
                    char::from(c).to_string()
                };
                if prev == Prev::Repeat {
                    out.insert_str(atom_start, "(?:");
                    out.push(')');
                }
                out.push_str(&op);
                prev = Prev::Repeat;
                continue;
            }
            b'(' => {
                groups.push(out.len());
                out.push('(');
                prev = Prev::Start;
            }
            b')' => {
                match groups.pop() {
                    Some(open) => {
                        atom_start = open;
                        out.push(')');
                    }
                    None => {
                        atom_start = out.len();
                        out.push_str("\\)");
                    }
                }
                prev = Prev::Atom;
            }
            b'|' => {
                out.push('|');
                prev = Prev::Start;
            }
            b'^' | b'$' => {
                out.push(char::from(c));
                prev = Prev::Anchor;
            }
            b'[' => {
                atom_start = out.len();
                i = bracket_to_rust(b, i, &mut out)?;
                prev = Prev::Atom;
                continue;
            }
            b'\\' => {
                let Some(&e) = b.get(i + 1) else {
                    return Err("Trailing backslash");
                };
                atom_start = out.len();
                prev = Prev::Atom;
                match e {
                    b'w' | b'W' | b's' | b'S' => {
                        out.push('\\');
                        out.push(char::from(e));
                    }
                    // Assertions: like `^`, nothing for a repetition to repeat.
                    b'b' | b'B' | b'<' | b'>' => {
                        out.push('\\');
                        out.push(char::from(e));
                        prev = Prev::Anchor;
                    }
                    b'`' => {
                        out.push_str("\\A");
                        prev = Prev::Anchor;
                    }
                    b'\'' => {
                        out.push_str("\\z");
                        prev = Prev::Anchor;
                    }
                    b'1'..=b'9' => return Err("Invalid back reference"),
                    // glibc's REG_ICASE folds the subject to upper case but not
                    // an escaped pattern character: `\a` can never match.
                    b'a'..=b'z' => out.push_str(NEVER),
                    _ => push_literal(e, &mut out),
                }
                i += 2;
                continue;
            }
            b'.' => {
                atom_start = out.len();
                out.push('.');
                prev = Prev::Atom;
            }
            _ => {
                atom_start = out.len();
                push_literal(c, &mut out);
                prev = Prev::Atom;
            }
        }
        i += 1;
    }
    if !groups.is_empty() {
        return Err("Unmatched ( or \\(");
    }
    Ok(out)
}

/// What ended a number inside an interval.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IntervalStop {
    /// End of the pattern.
    End,
    /// `,`
    Comma,
    /// `}`
    Close,
}

/// glibc's `RE_DUP_MAX`.
const DUP_MAX: i64 = 0x7FFF;

/// Reads one interval number at `b[*i]` like glibc's `fetch_number`: `-1` when
/// no digit came, `-2` when something else did (it still scans on to `,` or `}`),
/// capped at `DUP_MAX + 1`.
fn fetch_number(b: &[u8], i: &mut usize) -> (i64, IntervalStop) {
    let mut num: i64 = -1;
    loop {
        let Some(&c) = b.get(*i) else {
            return (-2, IntervalStop::End);
        };
        *i += 1;
        match c {
            b'}' => return (num, IntervalStop::Close),
            b',' => return (num, IntervalStop::Comma),
            b'\\' if *i < b.len() => {
                *i += 1;
                num = -2;
            }
            b'0'..=b'9' if num != -2 => {
                let d = i64::from(c - b'0');
                num = if num == -1 {
                    d
                } else {
                    (num * 10 + d).min(DUP_MAX + 1)
                };
            }
            _ => num = -2,
        }
    }
}

/// Parses the interval `{...}` at `b[*i]`, advancing past it, and returns it in
/// canonical `{n}` / `{n,}` / `{n,m}` form; errors as glibc's `parse_dup_op`.
fn interval(b: &[u8], i: &mut usize) -> Result<String, &'static str> {
    const BADBR: &str = "Invalid content of \\{\\}";
    *i += 1; // the '{'
    let (mut start, stop) = fetch_number(b, i);
    if start == -1 {
        if stop != IntervalStop::Comma {
            return Err(BADBR); // `{}`
        }
        start = 0; // `{,m}` is `{0,m}`
    }
    let (end, last) = if start == -2 {
        (-2, stop)
    } else if stop == IntervalStop::Close {
        (start, stop)
    } else if stop == IntervalStop::Comma {
        fetch_number(b, i)
    } else {
        (-2, stop)
    };
    if start == -2 || end == -2 {
        return Err(if last == IntervalStop::End {
            "Unmatched \\{"
        } else {
            BADBR
        });
    }
    if (end != -1 && start > end) || last != IntervalStop::Close {
        return Err(BADBR);
    }
    if (if end == -1 { start } else { end }) > DUP_MAX {
        return Err("Regular expression too big");
    }
    Ok(match end {
        -1 => format!("{{{start},}}"),
        e if e == start => format!("{{{start}}}"),
        e => format!("{{{start},{e}}}"),
    })
}

/// One element of a POSIX bracket expression.
enum Elem<'p> {
    /// A single byte (also from `[.c.]`).
    Byte(u8),
    /// `[:name:]`.
    Class(&'p [u8]),
    /// `[=c=]`: an equivalence class, one byte in the C locale.
    Equiv(u8),
}

/// Reads one bracket element at `b[*i]` (`*i` is in bounds). Errors follow glibc.
fn bracket_elem<'p>(b: &'p [u8], i: &mut usize) -> Result<Elem<'p>, &'static str> {
    let c = b[*i];
    if c == b'[' && matches!(b.get(*i + 1), Some(b':' | b'.' | b'=')) {
        let kind = b[*i + 1];
        let len = find_close(&b[*i + 2..], kind).ok_or("Unmatched [, [^, [:, [., or [=")?;
        let inner = &b[*i + 2..*i + 2 + len];
        *i += len + 4;
        return match (kind, inner) {
            (b':', name) if class_fn(name).is_some() => Ok(Elem::Class(name)),
            (b':', _) => Err("Invalid character class name"),
            (b'.', [one]) => Ok(Elem::Byte(*one)),
            (b'=', [one]) => Ok(Elem::Equiv(*one)),
            _ => Err("Invalid collation character"),
        };
    }
    *i += 1;
    Ok(Elem::Byte(c))
}

/// Translates the bracket expression starting at `b[start] == b'['` into an
/// explicit Rust class; returns the offset after its closing `]`.
///
/// Follows glibc's rules: a `]` first in the list and a `-` first or last are
/// ordinary; a backslash is ordinary; a `-` elsewhere must form a range; a
/// class or equivalence class cannot be a range end point; a range must not
/// run backwards. Range end points are folded to upper case as glibc does
/// under `REG_ICASE`.
fn bracket_to_rust(b: &[u8], start: usize, out: &mut String) -> Result<usize, &'static str> {
    const UNMATCHED: &str = "Unmatched [, [^, [:, [., or [=";
    const RANGE: &str = "Invalid range end";
    let mut i = start + 1;
    out.push('[');
    if b.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    if i == b.len() {
        // glibc: nothing at all after `[` or `[^`.
        return Err("Invalid regular expression");
    }
    let mut first = true;
    loop {
        let Some(&c) = b.get(i) else {
            return Err(UNMATCHED);
        };
        if c == b']' && !first {
            out.push(']');
            return Ok(i + 1);
        }
        if c == b'-' && !first && b.get(i + 1) != Some(&b']') {
            return Err(RANGE);
        }
        first = false;
        let lo = bracket_elem(b, &mut i)?;
        let is_range = b.get(i) == Some(&b'-') && b.get(i + 1) != Some(&b']');
        if !is_range {
            match lo {
                Elem::Byte(x) | Elem::Equiv(x) => push_class_literal(x, out),
                Elem::Class(name) => {
                    out.push_str("[:");
                    out.extend(name.iter().map(|&x| char::from(x)));
                    out.push_str(":]");
                }
            }
            continue;
        }
        i += 1; // the '-'
        let Elem::Byte(lo) = lo else {
            return Err(RANGE);
        };
        if i >= b.len() {
            return Err(UNMATCHED);
        }
        let Elem::Byte(hi) = bracket_elem(b, &mut i)? else {
            return Err(RANGE);
        };
        // Under REG_ICASE glibc folds range end points to upper case, so
        // `[--a]` is `[--A]` (plus case variants), not every byte up to `a`.
        let (lo, hi) = (lo.to_ascii_uppercase(), hi.to_ascii_uppercase());
        if lo > hi {
            return Err(RANGE);
        }
        push_class_literal(lo, out);
        out.push('-');
        push_class_literal(hi, out);
    }
}

/// Appends one literal byte inside a Rust character class, escaped if Rust
/// could give it a meaning there.
fn push_class_literal(c: u8, out: &mut String) {
    if !c.is_ascii() {
        out.push_str(&format!("\\x{c:02X}"));
        return;
    }
    if matches!(c, b'\\' | b'[' | b']' | b'&' | b'~' | b'^' | b'-') {
        out.push('\\');
    }
    out.push(char::from(c));
}

/// Appends one literal byte outside a class, escaped as needed. Bytes ≥ 0x80
/// become `\xNN`, which in byte mode without Unicode matches that raw byte.
fn push_literal(c: u8, out: &mut String) {
    if c.is_ascii() {
        out.push_str(&regex_syntax::escape(&char::from(c).to_string()));
    } else {
        out.push_str(&format!("\\x{c:02X}"));
    }
}

/// Compiles `pattern` the way console regexes are compiled.
fn build(pattern: &str) -> Result<Regex, MatchError> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .unicode(false)
        .build()
        .map_err(|e| MatchError {
            message: match e {
                regex::Error::CompiledTooBig(_) => "Regular expression too big",
                _ => "Invalid regular expression",
            }
            .to_owned(),
        })
}

/// The glibc `regerror` text closest to a syntax error kind.
fn regerror_text(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ClassUnclosed => "Unmatched [, [^, [:, [., or [=",
        ErrorKind::GroupUnclosed => "Unmatched ( or \\(",
        ErrorKind::GroupUnopened => "Unmatched ) or \\)",
        ErrorKind::RepetitionMissing => "Invalid preceding regular expression",
        ErrorKind::RepetitionCountUnclosed => "Unmatched \\{",
        ErrorKind::RepetitionCountInvalid
        | ErrorKind::RepetitionCountDecimalEmpty
        | ErrorKind::DecimalEmpty
        | ErrorKind::DecimalInvalid => "Invalid content of \\{\\}",
        ErrorKind::ClassRangeInvalid | ErrorKind::ClassRangeLiteral => "Invalid range end",
        ErrorKind::EscapeUnexpectedEof => "Trailing backslash",
        ErrorKind::UnsupportedBackreference => "Invalid back reference",
        ErrorKind::CaptureLimitExceeded | ErrorKind::NestLimitExceeded(_) => {
            "Regular expression too big"
        }
        _ => "Invalid regular expression",
    }
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

/// Whether `name` matches the shell glob `pattern`, like `fnmatch(pattern,
/// name, 0)` in the C locale (bytes, case-sensitive, no special `/` or `.`).
///
/// A `[` without a closing `]` matches a literal `[`. An unknown class name
/// (`[[:foo:]]`) or a trailing lone backslash never matches.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    glob_bytes(pattern.as_bytes(), name.as_bytes())
}

/// One pattern element that consumes exactly one name byte.
enum Step {
    /// The byte matched; the pattern goes on at this offset.
    Next(usize),
    /// The byte cannot match here.
    Fail,
}

/// Glob matching on bytes. Every element except `*` consumes exactly one byte,
/// so the classic "remember the last star" backtracking is exact and runs in
/// O(pattern × name) time even for hostile patterns.
fn glob_bytes(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // (pattern offset after the star, name offset the star is tried up to)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pat.len() && pat[p] == b'*' {
            while p < pat.len() && pat[p] == b'*' {
                p += 1;
            }
            star = Some((p, n));
            continue;
        }
        if p == pat.len() && n == name.len() {
            return true;
        }
        let step = match (pat.get(p), name.get(n)) {
            (Some(_), Some(&c)) => step_one(pat, p, c),
            _ => Step::Fail,
        };
        match step {
            Step::Next(np) => {
                p = np;
                n += 1;
            }
            Step::Fail => match star {
                Some((sp, sn)) if sn < name.len() => {
                    star = Some((sp, sn + 1));
                    p = sp;
                    n = sn + 1;
                }
                _ => return false,
            },
        }
    }
}

/// Matches the element at `pat[p]` (not `*`) against byte `c`.
fn step_one(pat: &[u8], p: usize, c: u8) -> Step {
    match pat[p] {
        b'?' => Step::Next(p + 1),
        b'\\' => match pat.get(p + 1) {
            Some(&e) if e == c => Step::Next(p + 2),
            _ => Step::Fail,
        },
        b'[' => bracket_step(pat, p, c),
        lit => {
            if lit == c {
                Step::Next(p + 1)
            } else {
                Step::Fail
            }
        }
    }
}

/// glibc's limit on a class name inside a bracket expression.
const CHAR_CLASS_MAX_LENGTH: usize = 256;

/// Outcome of reading one bracket item in the matching pass.
enum Item {
    /// The item matches the name byte; the bracket goes on at this offset.
    Hit(usize),
    /// It does not; the next item starts at this offset.
    Miss(usize),
    /// The pattern is ill-formed here: the whole match fails.
    Invalid,
}

/// Matches the bracket expression whose `[` is at `pat[p]` against byte `c`.
///
/// Mirrors glibc's two passes: items are tried in order until one matches;
/// then the rest is skipped with simpler rules to find the closing `]`. If
/// either pass runs off the end of the pattern, the `[` is an ordinary
/// character instead (glibc ≥ 2.3x behaviour, checked against the system's
/// `fnmatch` in the tests).
fn bracket_step(pat: &[u8], p: usize, c: u8) -> Step {
    let literal_bracket = || {
        if c == b'[' {
            Step::Next(p + 1)
        } else {
            Step::Fail
        }
    };
    let mut i = p + 1;
    let negated = matches!(pat.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut first = true;
    let hit_end = loop {
        let Some(&b) = pat.get(i) else {
            return literal_bracket();
        };
        if b == b']' && !first {
            // No item matched.
            return if negated {
                Step::Next(i + 1)
            } else {
                Step::Fail
            };
        }
        first = false;
        match bracket_item(pat, i, c) {
            Item::Hit(next) => break next,
            Item::Miss(next) => i = next,
            Item::Invalid => return Step::Fail,
        }
    };
    match skip_bracket(pat, hit_end) {
        Some(Some(end)) => {
            if negated {
                Step::Fail
            } else {
                Step::Next(end)
            }
        }
        Some(None) => literal_bracket(),
        None => Step::Fail,
    }
}

/// Reads the bracket item at `pat[i]` (in bounds) and tests byte `c` against it.
fn bracket_item(pat: &[u8], i: usize, c: u8) -> Item {
    let b = pat[i];
    // `[:class:]`: a name made of `a`..`y` only, else `[` is an ordinary byte.
    if b == b'[' && pat.get(i + 1) == Some(&b':') {
        let name_start = i + 2;
        let mut j = name_start;
        loop {
            if j - name_start == CHAR_CLASS_MAX_LENGTH {
                return Item::Invalid;
            }
            match (pat.get(j), pat.get(j + 1)) {
                (Some(b':'), Some(b']')) => {
                    return match class_fn(&pat[name_start..j]) {
                        Some(f) if f(&c) => Item::Hit(j + 2),
                        Some(_) => Item::Miss(j + 2),
                        None => Item::Invalid,
                    };
                }
                (Some(&x), _) if (b'a'..b'z').contains(&x) => j += 1,
                _ => return single_or_range(pat, i + 1, b'[', c),
            }
        }
    }
    // `[=x=]`: exactly one byte, else `[` is an ordinary byte.
    if b == b'[' && pat.get(i + 1) == Some(&b'=') {
        return match (pat.get(i + 2), pat.get(i + 3), pat.get(i + 4)) {
            (Some(&x), Some(b'='), Some(b']')) => {
                if x == c {
                    Item::Hit(i + 5)
                } else {
                    Item::Miss(i + 5)
                }
            }
            _ => single_or_range(pat, i + 1, b'[', c),
        };
    }
    // `[.x.]`: a one-byte collating symbol; may start a range.
    if b == b'[' && pat.get(i + 1) == Some(&b'.') {
        return match collating_symbol(pat, i) {
            Some((x, next)) => single_or_range(pat, next, x, c),
            None => Item::Invalid,
        };
    }
    if b == b'\\' {
        return match pat.get(i + 1) {
            Some(&x) => single_or_range(pat, i + 2, x, c),
            None => Item::Invalid,
        };
    }
    single_or_range(pat, i + 1, b, c)
}

/// Reads `[.x.]` at `pat[i]`: its byte and the offset after it. `None` when
/// it is unterminated or names more than one byte (glibc then fails).
fn collating_symbol(pat: &[u8], i: usize) -> Option<(u8, usize)> {
    let len = find_close(pat.get(i + 2..)?, b'.')?;
    match &pat[i + 2..i + 2 + len] {
        [x] => Some((*x, i + 2 + len + 2)),
        _ => None,
    }
}

/// Byte `lo` was read and the pattern continues at `pat[i]`: tests `c`
/// against `lo` alone, or against the range `lo-hi` if a `-` follows that is
/// not right before the closing `]`.
fn single_or_range(pat: &[u8], i: usize, lo: u8, c: u8) -> Item {
    if pat.get(i) != Some(&b'-') || pat.get(i + 1) == Some(&b']') {
        return if lo == c { Item::Hit(i) } else { Item::Miss(i) };
    }
    let (hi, next) = match pat.get(i + 1) {
        None => return Item::Invalid,
        Some(b'\\') => match pat.get(i + 2) {
            Some(&x) => (x, i + 3),
            None => return Item::Invalid,
        },
        Some(b'[') if pat.get(i + 2) == Some(&b'.') => match collating_symbol(pat, i + 1) {
            Some(found) => found,
            None => return Item::Invalid,
        },
        Some(&x) => (x, i + 2),
    };
    if (lo..=hi).contains(&c) {
        Item::Hit(next)
    } else {
        Item::Miss(next)
    }
}

/// Skips the rest of a bracket expression after a matching item, from
/// `pat[i]`. Returns `Some(Some(end))` with the offset after the closing `]`,
/// `Some(None)` if the pattern ends first (the `[` is then ordinary), or
/// `None` if glibc gives up on an ill-formed item.
fn skip_bracket(pat: &[u8], mut i: usize) -> Option<Option<usize>> {
    loop {
        let Some(&b) = pat.get(i) else {
            return Some(None);
        };
        i += 1;
        match b {
            b']' => return Some(Some(i)),
            b'\\' => {
                pat.get(i)?;
                i += 1;
            }
            b'[' if pat.get(i) == Some(&b':') => {
                // A class name runs to `:]` over `a`..`y`; anything else makes
                // the `[` ordinary and skipping goes on after it.
                let name_start = i + 1;
                let mut j = name_start;
                loop {
                    if j - name_start + 1 >= CHAR_CLASS_MAX_LENGTH {
                        return None;
                    }
                    match (pat.get(j), pat.get(j + 1)) {
                        (Some(b':'), Some(b']')) => {
                            i = j + 2;
                            break;
                        }
                        (Some(&x), _) if (b'a'..b'z').contains(&x) => j += 1,
                        _ => break,
                    }
                }
            }
            b'[' if pat.get(i) == Some(&b'=') => {
                pat.get(i + 1)?;
                if pat.get(i + 2) != Some(&b'=') || pat.get(i + 3) != Some(&b']') {
                    return None;
                }
                i += 4;
            }
            b'[' if pat.get(i) == Some(&b'.') => {
                let len = find_close(&pat[i + 1..], b'.')?;
                i += 1 + len + 2;
            }
            _ => {}
        }
    }
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
    fn regex_patterns_combine_across_the_join() {
        // "(node" + "|" + "cat)" is one balanced group, as in ConMan.
        assert_eq!(picked(&["(node1", "cat)"], true), ["cat", "node1"]);
    }

    #[test]
    fn regex_errors_use_glibc_texts() {
        let err = |p: &[&str]| select(p, true, &NAMES).unwrap_err().message;
        assert_eq!(err(&["node[0-9"]), "Unmatched [, [^, [:, [., or [=");
        assert_eq!(err(&["(node"]), "Unmatched ( or \\(");
        assert_eq!(err(&["[[:foo:]]"]), "Invalid character class name");
        assert_eq!(err(&["[[.ab.]]"]), "Invalid collation character");
        assert_eq!(err(&["(?i)x"]), "Invalid preceding regular expression");
        // glibc reads an unopened `)` as an ordinary character.
        assert_eq!(select(&["node)"], true, &["node)", "node"]), Ok(vec![0]));
        assert_eq!(err(&["*x"]), "Invalid preceding regular expression");
        assert_eq!(err(&["a\\"]), "Trailing backslash");
        assert_eq!(err(&["[z-a]"]), "Invalid range end");
        assert_eq!(err(&["(a)\\1"]), "Invalid back reference");
        let e: RequestError = select(&["("], true, &NAMES).unwrap_err().into();
        assert_eq!(
            e.to_response().to_bytes(),
            b"ERROR CODE=3 MESSAGE='Unmatched ( or \\('\n"
        );
    }

    #[test]
    fn glob_basics() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "a/b"));
        assert!(glob_match("*", ".hidden"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("**a", "a"));
        assert!(!glob_match("abc", "ABC"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
    }

    #[test]
    fn glob_escapes() {
        assert!(glob_match("a\\*", "a*"));
        assert!(!glob_match("a\\*", "ab"));
        assert!(glob_match("\\a", "a"));
        assert!(
            !glob_match("a\\", "a\\"),
            "a trailing backslash never matches"
        );
        assert!(glob_match("[\\]]", "]"));
    }

    #[test]
    fn glob_brackets() {
        assert!(glob_match("n[0-9]", "n5"));
        assert!(!glob_match("n[0-9]", "n10"));
        assert!(glob_match("n[!0-9]", "nx"));
        assert!(glob_match("n[^0-9]", "nx"));
        assert!(!glob_match("n[^0-9]", "n1"));
        assert!(glob_match("[]a]", "]"));
        assert!(glob_match("[!]a]", "b"));
        assert!(!glob_match("[!]a]", "]"));
        assert!(glob_match("[a-]", "-"));
        assert!(glob_match("[[:digit:]x]", "7"));
        assert!(glob_match("[[:digit:]x]", "x"));
        assert!(!glob_match("[[:digit:]x]", "y"));
        assert!(glob_match("[[:upper:][:space:]]", " "));
        assert!(!glob_match("[[:bogus:]]", "b"));
        assert!(glob_match("[[=a=]]", "a"));
        assert!(glob_match("[[.-.]]", "-"));
        assert!(!glob_match("[z-a]", "m"), "a reversed range is empty");
    }

    #[test]
    fn glob_unterminated_bracket_is_literal() {
        assert!(glob_match("[ab", "[ab"));
        assert!(!glob_match("[ab", "a"));
        assert!(glob_match("x[", "x["));
    }

    #[test]
    fn glob_is_linear_on_hostile_patterns() {
        let pat = "*a".repeat(300) + "b";
        let name = "a".repeat(1000);
        assert!(!glob_match(&pat, &name));
    }

    /// glibc's `fnmatch(pattern, name, 0)` as the reference implementation.
    #[allow(unsafe_code)]
    fn libc_fnmatch(pattern: &str, name: &str) -> Option<bool> {
        let p = std::ffi::CString::new(pattern).ok()?;
        let n = std::ffi::CString::new(name).ok()?;
        // SAFETY: both pointers are valid NUL-terminated strings that outlive the
        // call; fnmatch only reads them.
        let rc = unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), 0) };
        Some(rc == 0)
    }

    #[test]
    fn glob_agrees_with_libc_on_samples() {
        let cases = [
            ("node*", "node10"),
            ("n[0-9][0-9]", "n10"),
            ("[!a]*", "abc"),
            ("[]]", "]"),
            ("[a-c-e]", "-"),
            ("[a-c-e]", "d"),
            ("[[:alpha:]-]", "-"),
            ("[\\!]", "!"),
            ("[!\\]]", "]"),
            ("*[", "x["),
            ("[", "["),
            ("\\", "\\"),
            ("[[:x", "[[:x"),
            ("[[", "[["),
            ("[ab", "[ab"),
            ("[ab", "a"),
            ("[a-", "[a-"),
            ("[!", "[!"),
            ("[a-\\", "[a-\\"),
            ("[a-\\]", "b"),
            ("[a-]", "-"),
            ("[a[:Zx]", "a"),
            ("[a[:zx:]]", "a"),
            ("[a[=ab=]]", "a"),
            ("[a[.x]", "a"),
            ("[a[.x.]]", "a"),
            ("[a[=x]", "a"),
            ("[[:alpha:]=-[:digit:]", "a"),
            ("[[:alpha:]=-[:digit:]", "["),
            ("[[:Foo:]]", ":]"),
            ("[[=ab=]]", "=]"),
            ("[[.ab.]]", "a"),
            ("[[.a", "["),
            ("[[=a", "["),
            ("[b-[.d.]]", "c"),
            ("[[.a.]-c]", "b"),
            ("[[=a=]-c]", "b"),
            ("[[=a=]-c]", "-"),
            ("[\\", "[\\"),
            ("[a[:digit:]]", "5"),
        ];
        for (p, n) in cases {
            assert_eq!(
                Some(glob_match(p, n)),
                libc_fnmatch(p, n),
                "pattern {p:?} name {n:?}"
            );
        }
    }

    /// glibc's `regcomp(REG_EXTENDED|REG_ICASE)` + whole-name `regexec`, as
    /// ConMan uses them: the reference for [`RegexSet`].
    #[allow(unsafe_code)]
    fn glibc_regex(pattern: &str, names: &[&str]) -> Result<Vec<bool>, String> {
        let pat = std::ffi::CString::new(pattern).map_err(|e| e.to_string())?;
        // SAFETY: `rex` is zero-initialized like ConMan does and only used
        // between a successful regcomp and regfree (or passed to regerror and
        // regfree after a failed one, which glibc allows); every string passed
        // is NUL-terminated and outlives the calls; buffers are sized as given.
        unsafe {
            let mut rex: libc::regex_t = std::mem::zeroed();
            let rc = libc::regcomp(&mut rex, pat.as_ptr(), libc::REG_EXTENDED | libc::REG_ICASE);
            if rc != 0 {
                let mut buf = [0u8; 256];
                libc::regerror(rc, &rex, buf.as_mut_ptr().cast(), buf.len());
                libc::regfree(&mut rex);
                let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
                return Err(String::from_utf8_lossy(&buf[..end]).into_owned());
            }
            let mut out = Vec::new();
            for name in names {
                let n = std::ffi::CString::new(*name).map_err(|e| e.to_string())?;
                let mut m = [libc::regmatch_t { rm_so: 0, rm_eo: 0 }];
                let hit = libc::regexec(&rex, n.as_ptr(), 1, m.as_mut_ptr(), 0) == 0;
                out.push(hit && m[0].rm_so == 0 && m[0].rm_eo as usize == name.len());
            }
            libc::regfree(&mut rex);
            Ok(out)
        }
    }

    #[test]
    fn regex_agrees_with_glibc() {
        let names = [
            "cat", "date", "node1", "node2", "node10", "NODE3", "a.b", "x-y", "s1", "sq", "", "ab",
            "aab", "abab",
        ];
        let patterns = [
            "node[0-9]",
            "DATE",
            "node.*",
            ".*",
            "n(o|x)de1",
            "node[[:digit:]]+",
            "(a|ab)(c|bcd)?",
            "a.b",
            "a\\.b",
            "x-y",
            "[a-c]+",
            "^cat$",
            "cat|date",
            "(ab)+",
            "a{2}b",
            "a?a?b",
            "[^n].*",
            "s[0-9q]",
            "node1|node10",
            "(node)1",
            "[[:alpha:]]+",
            "NoDe[12]",
            "node[0-9",
            "(node",
            "node)",
            "*x",
            "a\\",
            "[z-a]",
            "a{2",
            "[[:foo:]]",
            "a{1,2}",
            "|cat",
            "()",
            "a||b",
        ];
        let mut diverged = Vec::new();
        for p in patterns {
            let ours = RegexSet::new(&[p])
                .map(|set| names.iter().map(|n| set.is_match(n)).collect::<Vec<_>>())
                .map_err(|e| e.message);
            let theirs = glibc_regex(p, &names);
            if ours != theirs {
                diverged.push((p, ours, theirs));
            }
        }
        assert!(diverged.is_empty(), "{diverged:#?}");
    }

    proptest! {
        #[test]
        fn glob_agrees_with_libc(
            pat in "([abcZz*?\\-\\]!^\\\\:=.]|\\[|\\[:|\\[=|\\[\\.|:\\]|\\[:digit:\\]|\\[:alpha:\\]|\\[=a=\\]|\\[\\.-\\.\\]){0,8}",
            name in "[abc\\-\\]!^\\[1:=.\\\\]{0,6}",
        ) {
            prop_assert_eq!(Some(glob_match(&pat, &name)), libc_fnmatch(&pat, &name),
                "pattern {:?} name {:?}", pat, name);
        }

        #[test]
        fn regex_agrees_with_glibc_on_random_patterns(
            pat in "([abcAB12.*+?|()^$\\[\\]{},\\\\w-]|\\[:digit:\\]|\\[:upper:\\]){1,8}",
        ) {
            let names = ["", "a", "b", "ab", "ba", "abc", "aab", "c1", "a-b", "a.b", "B", "aB", "12", "{", "[", "a,", "\\", "w"];
            let ours = RegexSet::new(&[&pat])
                .map(|set| names.iter().map(|n| set.is_match(n)).collect::<Vec<_>>())
                .map_err(|e| e.message);
            prop_assert_eq!(ours, glibc_regex(&pat, &names), "pattern {:?}", pat);
        }

        #[test]
        fn select_output_is_sorted_and_unique(
            names in proptest::collection::hash_set("[a-c]{0,2}[0-9]{0,2}", 0..12),
            pats in proptest::collection::vec("[a-c*?0-9]{1,3}", 0..4),
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
