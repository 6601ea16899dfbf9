//! Console regexes: POSIX extended regular expressions read the way glibc's
//! `regcomp(REG_EXTENDED|REG_ICASE)` reads them in the C locale, translated into
//! `regex` crate syntax (reference §3.6). Errors carry glibc's `regerror` texts;
//! the tests compare with the system's glibc on many random patterns.

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::ast::ErrorKind;

use super::{MatchError, class_fn, find_close};

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::matching::select;
    use crate::protocol::RequestError;

    const NAMES: [&str; 5] = ["node10", "cat", "node2", "date", "node1"];

    #[test]
    fn regex_errors_use_glibc_texts() {
        let err = |p: &[&str]| select(p, true, &NAMES).unwrap_err().to_string();
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
        fn regex_agrees_with_glibc_on_random_patterns(
            pat in "([abcAB12.*+?|()^$\\[\\]{},\\\\w-]|\\[:digit:\\]|\\[:upper:\\]){1,8}",
        ) {
            let names = ["", "a", "b", "ab", "ba", "abc", "aab", "c1", "a-b", "a.b", "B", "aB", "12", "{", "[", "a,", "\\", "w"];
            let ours = RegexSet::new(&[&pat])
                .map(|set| names.iter().map(|n| set.is_match(n)).collect::<Vec<_>>())
                .map_err(|e| e.message);
            prop_assert_eq!(ours, glibc_regex(&pat, &names), "pattern {:?}", pat);
        }
    }
}
