//! Shell glob matching exactly like glibc's `fnmatch(pattern, name, 0)` in the
//! C locale (reference §3.6): bytes, case-sensitive, no special treatment of
//! `/` or leading dots, bracket expressions with classes, equivalence classes
//! and collating symbols, backslash escapes. Ill-formed brackets behave as in
//! glibc, including its separate "skip the rest" pass; the tests compare with
//! the system's `fnmatch` on many random patterns.

use super::{class_fn, find_close};

/// Whether `name` matches the shell glob `pattern`, like `fnmatch(pattern,
/// name, 0)` in the C locale (bytes, case-sensitive, no special `/` or `.`).
///
/// A `[` without a closing `]` matches a literal `[`. An unknown class name
/// (`[[:foo:]]`) or a trailing lone backslash never matches. To match one
/// pattern against many names, build a [`Glob`] once.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    Glob::new(pattern).is_match(name)
}

/// Most bracket expressions one [`Glob`] keeps a table for (1 KiB each).
const TABLE_LIMIT: usize = 64;

/// A glob pattern prepared for matching many names (the rules are
/// [`glob_match`]'s).
///
/// Reading a bracket expression costs its length, and every `*` makes the
/// matcher try the rest of the pattern again at each later name offset, so a
/// long bracket after a star used to be read once per attempt: a request of
/// long-bracket patterns kept the daemon matching for seconds (found with the
/// `handshake` fuzz target). A `Glob` remembers each bracket's outcome per name
/// byte, across names, so a bracket is read at most once per distinct byte and
/// a step costs one table look-up. Tables are kept for the first
/// `TABLE_LIMIT` brackets reached; later ones are read afresh, as before.
#[derive(Debug, Clone)]
pub struct Glob<'p> {
    pat: &'p [u8],
    /// Per pattern offset: 1 + the index in `tables` of the bracket starting
    /// there, or 0. Empty until the first bracket is reached.
    slot: Vec<u32>,
    /// Per bracket, per name byte: 0 not known yet, 1 [`Step::Fail`], `n + 2`
    /// [`Step::Next`]`(n)`.
    tables: Vec<[u32; 256]>,
}

impl<'p> Glob<'p> {
    /// Prepares `pattern`.
    pub fn new(pattern: &'p str) -> Self {
        Glob {
            pat: pattern.as_bytes(),
            slot: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Whether `name` matches (see [`glob_match`]).
    pub fn is_match(&mut self, name: &str) -> bool {
        self.match_bytes(name.as_bytes())
    }

    /// Glob matching on bytes. Every element except `*` consumes exactly one
    /// byte, so the classic "remember the last star" backtracking is exact and
    /// runs in O(pattern × name) steps even for hostile patterns.
    fn match_bytes(&mut self, name: &[u8]) -> bool {
        let pat = self.pat;
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
                (Some(b'['), Some(&c)) => self.bracket(p, c),
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

    /// [`step_one`] for the bracket at `pat[p]`, remembering its outcomes.
    fn bracket(&mut self, p: usize, c: u8) -> Step {
        if self.slot.is_empty() {
            self.slot = vec![0; self.pat.len()];
        }
        let table = match self.slot[p] {
            0 if self.tables.len() < TABLE_LIMIT => {
                self.tables.push([0; 256]);
                self.slot[p] = u32::try_from(self.tables.len()).unwrap_or(u32::MAX);
                self.tables.len() - 1
            }
            0 => return step_one(self.pat, p, c),
            t => t as usize - 1,
        };
        match self.tables[table][usize::from(c)] {
            0 => {
                let s = step_one(self.pat, p, c);
                self.tables[table][usize::from(c)] = match s {
                    Step::Fail => 1,
                    Step::Next(n) => u32::try_from(n + 2).unwrap_or(u32::MAX),
                };
                s
            }
            1 => Step::Fail,
            n => Step::Next(n as usize - 2),
        }
    }
}

/// One pattern element that consumes exactly one name byte.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The byte matched; the pattern goes on at this offset.
    Next(usize),
    /// The byte cannot match here.
    Fail,
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
                (Some(&x), _) if (b'a'..=b'y').contains(&x) => j += 1,
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
                        (Some(&x), _) if (b'a'..=b'y').contains(&x) => j += 1,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

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
        fn one_glob_for_many_names_agrees_with_libc(
            pat in r"(\*|[ab\[\]!-]|\[:alpha:\]){0,10}",
            names in proptest::collection::vec(r"[ab\[\]!-]{0,6}", 1..12),
        ) {
            // The bracket tables filled for earlier names must give later
            // names the same answers as a fresh evaluation.
            let mut g = Glob::new(&pat);
            for name in &names {
                prop_assert_eq!(Some(g.is_match(name)), libc_fnmatch(&pat, name),
                    "pattern {:?} name {:?}", pat, name);
            }
        }
    }

    #[test]
    fn bracket_tables_are_bounded_and_brackets_past_the_limit_still_match() {
        // More brackets than TABLE_LIMIT: the later ones are read afresh.
        let pat = "[ab]".repeat(TABLE_LIMIT + 10);
        let mut g = Glob::new(&pat);
        assert!(g.is_match(&"ab".repeat((TABLE_LIMIT + 10) / 2)));
        assert!(!g.is_match(&"a".repeat(TABLE_LIMIT + 9)));
        assert!(!g.is_match(&format!("{}c", "a".repeat(TABLE_LIMIT + 9))));
        assert_eq!(g.tables.len(), TABLE_LIMIT);
    }
}
