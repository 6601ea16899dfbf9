//! Per-console rights for authenticated users: the ACL file (`server acl="FILE"`)
//! and its evaluation. Pure logic; the daemon reads the file and asks
//! [`Acl::rights`] before every action an identified user takes.
//!
//! ```text
//! # Comments start with `#`; blank lines are ignored.
//! group ops     = alice bob          # a group: user names, whitespace-separated
//! group oncall  = carol @ops         # a group may include another group
//!
//! # allow|deny SUBJECTS RIGHTS on CONSOLES
//! allow @ops          all                  on *
//! allow carol         monitor,query        on server-* login-?
//! allow dave          write,break          on regex:gpu[0-9]+
//! deny  *             reset                on db-*
//! ```
//!
//! - SUBJECTS: comma-separated user names, `@group`s, or `*` (any authenticated
//!   user).
//! - RIGHTS: comma-separated, from `monitor` (read-only attach), `write` (attach
//!   read-write and join), `force` (steal a console from its writer), `break`
//!   (`&B`), `reset` (`&R`), `broadcast` (write to several consoles at once, `-b`),
//!   `query` (see the console in `-q` and the HTTP API), and `all`.
//!   Granting a right grants the rights it needs: `force` gives `write`, `write`
//!   gives `monitor`, `monitor` gives `query`. Denying a right denies the rights
//!   that need it: `deny monitor` also takes `write` and `force`.
//! - CONSOLES: whitespace-separated, each a glob as the client's default (`*`,
//!   `?`, `[...]`, case-sensitive) or `regex:ERE`, a POSIX extended regex as the
//!   client's `-r` (case-insensitive, must match the whole name).
//!
//! A user's rights on a console are everything the `allow` lines that apply give,
//! less everything the `deny` lines that apply take; the order of lines does not
//! matter. A user no line applies to has no rights at all.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::matching::{RegexSet, glob_match};

#[cfg(test)]
mod tests;

/// One right (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Right {
    /// See the console in a query and the HTTP API.
    Query,
    /// Attach read-only.
    Monitor,
    /// Attach read-write, and join a console someone else writes to.
    Write,
    /// Take a console over from its writer (`-f`).
    Force,
    /// Send a serial break (`&B`).
    Break,
    /// Run the reset command (`&R`).
    Reset,
    /// Write to several consoles at once (`-b`).
    Broadcast,
}

impl Right {
    /// Every right, in a fixed order.
    pub const ALL: [Right; 7] = [
        Right::Query,
        Right::Monitor,
        Right::Write,
        Right::Force,
        Right::Break,
        Right::Reset,
        Right::Broadcast,
    ];

    /// The name used in ACL files, messages and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Right::Query => "query",
            Right::Monitor => "monitor",
            Right::Write => "write",
            Right::Force => "force",
            Right::Break => "break",
            Right::Reset => "reset",
            Right::Broadcast => "broadcast",
        }
    }

    /// Parses a right's name (lower case).
    pub fn parse(s: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The right this one needs, if any.
    fn needs(self) -> Option<Right> {
        match self {
            Right::Force => Some(Right::Write),
            Right::Write => Some(Right::Monitor),
            Right::Monitor => Some(Right::Query),
            _ => None,
        }
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rights(u8);

impl Rights {
    /// No rights.
    pub const NONE: Rights = Rights(0);

    /// Every right.
    pub fn all() -> Rights {
        Right::ALL.into_iter().collect()
    }

    /// Whether `r` is in the set.
    pub fn has(self, r: Right) -> bool {
        self.0 & r.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set with `r` added.
    pub fn with(self, r: Right) -> Rights {
        Rights(self.0 | r.bit())
    }

    /// Both sets together.
    pub fn union(self, o: Rights) -> Rights {
        Rights(self.0 | o.0)
    }

    /// What is in `self` and not in `o`.
    pub fn minus(self, o: Rights) -> Rights {
        Rights(self.0 & !o.0)
    }

    /// The rights in the set, in [`Right::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Right> {
        Right::ALL.into_iter().filter(move |r| self.has(*r))
    }

    /// The set plus every right its members need (what an `allow` grants).
    pub fn with_needed(self) -> Rights {
        let mut out = self;
        loop {
            let next = out.iter().filter_map(Right::needs).fold(out, Rights::with);
            if next == out {
                return out;
            }
            out = next;
        }
    }

    /// The set plus every right that needs one of its members (what a `deny`
    /// takes).
    pub fn with_dependents(self) -> Rights {
        let mut out = self;
        loop {
            let next = Right::ALL
                .into_iter()
                .filter(|r| r.needs().is_some_and(|n| out.has(n)))
                .fold(out, Rights::with);
            if next == out {
                return out;
            }
            out = next;
        }
    }
}

impl FromIterator<Right> for Rights {
    fn from_iter<I: IntoIterator<Item = Right>>(iter: I) -> Rights {
        iter.into_iter().fold(Rights::NONE, Rights::with)
    }
}

impl fmt::Display for Rights {
    /// Comma-separated names, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(Right::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// A mistake in an ACL file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct AclError {
    /// The file's name as given.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Who a line applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    /// Any authenticated user.
    Anyone,
    /// One user.
    User(String),
    /// The members of a group (resolved, nested groups included).
    Group(String),
}

/// Which consoles a line applies to.
#[derive(Debug, Clone)]
enum ConsolePattern {
    Glob(String),
    Regex(RegexSet),
}

impl ConsolePattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            ConsolePattern::Glob(g) => glob_match(g, name),
            ConsolePattern::Regex(r) => r.is_match(name),
        }
    }
}

/// One `allow` or `deny` line.
#[derive(Debug, Clone)]
struct Entry {
    allow: bool,
    subjects: Vec<Subject>,
    /// As written (allow: with what it needs; deny: with what needs it).
    rights: Rights,
    consoles: Vec<ConsolePattern>,
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    /// Group name → every user in it (nested groups flattened).
    groups: BTreeMap<String, BTreeSet<String>>,
    entries: Vec<Entry>,
}

/// Names of users and groups: what a file name in `sshusers` can be.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with(['-', '.'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl Acl {
    /// Parses an ACL file's text; `file` names it in errors.
    ///
    /// # Errors
    /// The first mistake, with its line.
    pub fn parse(file: &str, text: &str) -> Result<Acl, AclError> {
        let err = |line: usize, message: String| AclError {
            file: file.to_string(),
            line,
            message,
        };
        // Group lines first (they may come after their use), raw members kept.
        let mut raw_groups: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
        let mut rules: Vec<(usize, &str)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.split_once('#').map_or(line, |(a, _)| a).trim();
            if line.is_empty() {
                continue;
            }
            let (word, rest) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(w, r)| (w, r.trim()));
            match word {
                "group" => {
                    let Some((name, members)) = rest.split_once('=') else {
                        return Err(err(n, "expected `group NAME = MEMBERS`".into()));
                    };
                    let name = name.trim();
                    if !valid_name(name) || name.contains('@') {
                        return Err(err(n, format!("invalid group name \"{name}\"")));
                    }
                    let members: Vec<String> =
                        members.split_whitespace().map(str::to_string).collect();
                    for m in &members {
                        let bare = m.strip_prefix('@').unwrap_or(m);
                        if !valid_name(bare) || bare.contains('@') {
                            return Err(err(n, format!("invalid group member \"{m}\"")));
                        }
                    }
                    if let Some((first, _)) = raw_groups.get(name) {
                        return Err(err(
                            n,
                            format!("group \"{name}\" is already defined at line {first}"),
                        ));
                    }
                    raw_groups.insert(name.to_string(), (n, members));
                }
                "allow" | "deny" => rules.push((n, line)),
                other => {
                    return Err(err(
                        n,
                        format!("unknown keyword \"{other}\" (expected allow, deny or group)"),
                    ));
                }
            }
        }
        let groups = flatten_groups(&raw_groups).map_err(|(n, m)| err(n, m))?;
        let mut entries = Vec::with_capacity(rules.len());
        for (n, line) in rules {
            entries.push(parse_entry(line, &groups).map_err(|m| err(n, m))?);
        }
        Ok(Acl { groups, entries })
    }

    /// What `user` may do on `console`.
    pub fn rights(&self, user: &str, console: &str) -> Rights {
        let mut allowed = Rights::NONE;
        let mut denied = Rights::NONE;
        for e in &self.entries {
            let applies = e.subjects.iter().any(|s| self.subject_has(s, user))
                && e.consoles.iter().any(|c| c.matches(console));
            if !applies {
                continue;
            }
            if e.allow {
                allowed = allowed.union(e.rights);
            } else {
                denied = denied.union(e.rights);
            }
        }
        allowed.minus(denied)
    }

    /// Whether `user` may do `right` on `console`.
    pub fn allows(&self, user: &str, console: &str, right: Right) -> bool {
        self.rights(user, console).has(right)
    }

    /// Whether some line names `user` (directly, through a group, or `*`): a user
    /// no line names has no rights anywhere.
    pub fn mentions(&self, user: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.allow && e.subjects.iter().any(|s| self.subject_has(s, user)))
    }

    /// The groups `user` belongs to, sorted.
    pub fn groups_of(&self, user: &str) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|(_, m)| m.contains(user))
            .map(|(g, _)| g.as_str())
            .collect()
    }

    /// Number of `allow`/`deny` lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no `allow`/`deny` lines (nobody may do anything).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn subject_has(&self, s: &Subject, user: &str) -> bool {
        match s {
            Subject::Anyone => true,
            Subject::User(u) => u == user,
            Subject::Group(g) => self.groups.get(g).is_some_and(|m| m.contains(user)),
        }
    }
}

/// Resolves nested groups; a cycle or an unknown group is an error at the line
/// that names it.
fn flatten_groups(
    raw: &BTreeMap<String, (usize, Vec<String>)>,
) -> Result<BTreeMap<String, BTreeSet<String>>, (usize, String)> {
    fn visit(
        name: &str,
        raw: &BTreeMap<String, (usize, Vec<String>)>,
        done: &mut BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
    ) -> Result<BTreeSet<String>, (usize, String)> {
        if let Some(m) = done.get(name) {
            return Ok(m.clone());
        }
        let (line, members) = &raw[name];
        path.push(name.to_string());
        let mut out = BTreeSet::new();
        for m in members {
            match m.strip_prefix('@') {
                None => {
                    out.insert(m.clone());
                }
                Some(g) => {
                    if !raw.contains_key(g) {
                        return Err((*line, format!("unknown group \"@{g}\"")));
                    }
                    if path.iter().any(|p| p == g) {
                        return Err((
                            *line,
                            format!("group \"{name}\" includes itself through \"@{g}\""),
                        ));
                    }
                    out.extend(visit(g, raw, done, path)?);
                }
            }
        }
        path.pop();
        done.insert(name.to_string(), out.clone());
        Ok(out)
    }
    let mut done = BTreeMap::new();
    for name in raw.keys() {
        visit(name, raw, &mut done, &mut Vec::new())?;
    }
    Ok(done)
}

/// Parses `allow|deny SUBJECTS RIGHTS on CONSOLES`.
fn parse_entry(line: &str, groups: &BTreeMap<String, BTreeSet<String>>) -> Result<Entry, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let allow = words[0] == "allow";
    let shape = || format!("expected `{} SUBJECTS RIGHTS on CONSOLES`", words[0]);
    if words.len() < 5 || words[3] != "on" {
        return Err(shape());
    }
    let mut subjects = Vec::new();
    for s in words[1].split(',') {
        subjects.push(match s {
            "*" => Subject::Anyone,
            _ => match s.strip_prefix('@') {
                Some(g) if groups.contains_key(g) => Subject::Group(g.to_string()),
                Some(g) => return Err(format!("unknown group \"@{g}\"")),
                None if valid_name(s) => Subject::User(s.to_string()),
                None => return Err(format!("invalid user name \"{s}\"")),
            },
        });
    }
    let mut rights = Rights::NONE;
    for r in words[2].split(',') {
        rights = match r {
            "all" => Rights::all(),
            _ => rights.with(Right::parse(r).ok_or_else(|| {
                format!(
                    "unknown right \"{r}\" (expected monitor, write, force, break, reset, \
                     broadcast, query or all)"
                )
            })?),
        };
    }
    let rights = if allow {
        rights.with_needed()
    } else {
        rights.with_dependents()
    };
    let mut consoles = Vec::new();
    for p in &words[4..] {
        consoles.push(match p.strip_prefix("regex:") {
            Some(ere) => ConsolePattern::Regex(
                RegexSet::new(&[ere]).map_err(|e| format!("invalid regex \"{ere}\": {e}"))?,
            ),
            None => ConsolePattern::Glob((*p).to_string()),
        });
    }
    Ok(Entry {
        allow,
        subjects,
        rights,
        consoles,
    })
}
