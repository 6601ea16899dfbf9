//! Alert rules: the model and the rules file format (`server alerts="FILE"`).
//!
//! ```text
//! # A comment. Blank lines are ignored.
//! [rule raid-degraded]          # a rule id: [a-z0-9][a-z0-9._-]*, at most 64 bytes
//! match     = md/raid\d+:\S+: Disk failure on    # a regex (Rust syntax), required
//! severity  = error             # critical | error | warning | notice | info
//! before    = 5                 # lines of context kept before the matching line (0..=50)
//! after     = 10                # lines collected after it (0..=200)
//! end       = ^\s*$             # optional: the block ends at a line matching this
//! unless    = ^\s*#             # optional: a line matching this never counts for the rule
//! dedup     = 5m                # a repeat within this window is counted, not raised
//! resetmute = 0                 # after an operator's &R, ignore this rule this long
//! actions   = eventlog webhook exec syslog   # or `all` (default) or `none`
//! enabled   = yes               # `no` turns a rule (e.g. a built-in one) off
//! ```
//!
//! A section naming a built-in rule changes only the keys it gives (`enabled = no`
//! alone turns it off). Values run to the end of the line; a ` #` starts a comment
//! only in the `[rule …]` header and in keys other than `match`, `end` and `unless` (regexes
//! may contain `#`). Durations are seconds, or a number with `s`, `m`, `h` or `d`.

use std::fmt;
use std::time::Duration;

/// How serious an alert is; maps to a syslog priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The machine is down or about to be (panic, lockup, uncorrectable error).
    Critical,
    /// Something broke (oops, filesystem error, OOM kill).
    Error,
    /// Something needs a look (WARNING, hung task, correctable memory error).
    Warning,
    /// Worth knowing (the machine rebooted).
    Notice,
    /// For the record.
    Info,
}

impl Severity {
    /// The name used in rules files, JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
        }
    }

    /// Parses a severity name (`err` and `crit` are accepted too, as syslog spells them).
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "critical" | "crit" => Severity::Critical,
            "error" | "err" => Severity::Error,
            "warning" | "warn" => Severity::Warning,
            "notice" => Severity::Notice,
            "info" => Severity::Info,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an alert goes besides the API, the metrics and the event history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions {
    /// `server eventlog=`.
    pub eventlog: bool,
    /// `server alertwebhook=`.
    pub webhook: bool,
    /// `server alertexec=`.
    pub exec: bool,
    /// The daemon log (syslog when configured) at the rule's severity.
    pub syslog: bool,
}

impl Actions {
    /// Every action.
    pub const ALL: Actions = Actions {
        eventlog: true,
        webhook: true,
        exec: true,
        syslog: true,
    };
}

/// Most lines of context before a match.
pub const MAX_BEFORE: usize = 50;
/// Most lines collected after a match.
pub const MAX_AFTER: usize = 200;

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its id (`kernel-panic`, `raid-degraded`, …).
    pub id: String,
    /// The regex a line must match (Rust `regex` syntax, unanchored).
    pub pattern: String,
    /// How serious.
    pub severity: Severity,
    /// Lines of context kept before the matching line.
    pub before: usize,
    /// Lines collected after it (with `end`: at most this many).
    pub after: usize,
    /// A line matching this ends the block (it is included).
    pub end: Option<String>,
    /// A line matching this is not a match of the rule (a known look-alike).
    pub unless: Option<String>,
    /// A match within this long of the rule's last event on the same console is
    /// counted, not raised.
    pub dedup: Duration,
    /// After an operator's `&R`, matches are ignored this long (`boot`).
    pub reset_mute: Duration,
    /// Where its events go.
    pub actions: Actions,
    /// Off rules are parsed and kept (so a later file can turn them on) but never match.
    pub enabled: bool,
}

impl Rule {
    /// A rule with the defaults for everything but its id and pattern.
    pub fn new(id: &str, pattern: &str) -> Rule {
        Rule {
            id: id.to_string(),
            pattern: pattern.to_string(),
            severity: Severity::Warning,
            before: 5,
            after: 10,
            end: None,
            unless: None,
            dedup: Duration::from_secs(60),
            reset_mute: Duration::ZERO,
            actions: Actions::ALL,
            enabled: true,
        }
    }
}

/// A mistake in a rules file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RulesError {
    /// The file's name as given.
    pub file: String,
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One `[rule …]` section as written: only the keys given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Section {
    id: String,
    line: usize,
    pattern: Option<String>,
    severity: Option<Severity>,
    before: Option<usize>,
    after: Option<usize>,
    end: Option<Option<String>>,
    unless: Option<Option<String>>,
    dedup: Option<Duration>,
    reset_mute: Option<Duration>,
    actions: Option<Actions>,
    enabled: Option<bool>,
}

/// Parses a duration: `90`, `90s`, `5m`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    if num.is_empty() || num.len() > 9 {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    Some(Duration::from_secs(n * mult))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Strips a ` #` comment (for keys whose values are not regexes).
fn uncomment(v: &str) -> &str {
    match v.find(" #").or_else(|| v.find("\t#")) {
        Some(i) => v[..i].trim_end(),
        None => v,
    }
}

fn parse_sections(file: &str, text: &str) -> Result<Vec<Section>, Vec<RulesError>> {
    let mut out: Vec<Section> = Vec::new();
    let mut errors = Vec::new();
    let err = |line: usize, message: String| RulesError {
        file: file.to_string(),
        line,
        message,
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            let head = uncomment(line);
            let Some(inner) = head.strip_prefix('[').and_then(|h| h.strip_suffix(']')) else {
                errors.push(err(
                    n,
                    format!("expected `[rule ID]`, found \"{}\"", printable(head)),
                ));
                continue;
            };
            let mut words = inner.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("rule"), Some(id), None) if valid_id(id) => {
                    if out.iter().any(|s| s.id == id) {
                        errors.push(err(n, format!("rule \"{id}\" is defined twice in this file")));
                    }
                    out.push(Section {
                        id: id.to_string(),
                        line: n,
                        ..Section::default()
                    });
                }
                (Some("rule"), Some(id), None) => errors.push(err(
                    n,
                    format!(
                        "invalid rule id \"{}\" (use a-z, 0-9, '.', '_', '-', starting with a letter or digit, at most 64)",
                        printable(id)
                    ),
                )),
                _ => errors.push(err(n, format!("expected `[rule ID]`, found \"{}\"", printable(head)))),
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            errors.push(err(
                n,
                format!("expected `key = value`, found \"{}\"", printable(line)),
            ));
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        let Some(sec) = out.last_mut() else {
            errors.push(err(n, format!("\"{key}\" outside a [rule ID] section")));
            continue;
        };
        let plain = uncomment(value);
        let lines = |max: usize| -> Result<usize, String> {
            plain
                .parse::<usize>()
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(|| {
                    format!(
                        "{key} must be a number of lines from 0 to {max}, not \"{}\"",
                        printable(plain)
                    )
                })
        };
        let duration = || -> Result<Duration, String> {
            parse_duration(plain).ok_or_else(|| {
                format!(
                    "{key} must be a duration (e.g. 30, 30s, 5m, 1h), not \"{}\"",
                    printable(plain)
                )
            })
        };
        let res: Result<(), String> = match key.as_str() {
            "match" => {
                if value.is_empty() {
                    Err("match needs a regex".to_string())
                } else {
                    check_regex(value).map(|()| sec.pattern = Some(value.to_string()))
                }
            }
            "end" => {
                if value.is_empty() {
                    sec.end = Some(None);
                    Ok(())
                } else {
                    check_regex(value).map(|()| sec.end = Some(Some(value.to_string())))
                }
            }
            "unless" => {
                if value.is_empty() {
                    sec.unless = Some(None);
                    Ok(())
                } else {
                    check_regex(value).map(|()| sec.unless = Some(Some(value.to_string())))
                }
            }
            "severity" => Severity::parse(plain)
                .map(|s| sec.severity = Some(s))
                .ok_or_else(|| {
                    format!(
                        "unknown severity \"{}\" (critical, error, warning, notice, info)",
                        printable(plain)
                    )
                }),
            "before" => lines(MAX_BEFORE).map(|v| sec.before = Some(v)),
            "after" => lines(MAX_AFTER).map(|v| sec.after = Some(v)),
            "dedup" => duration().map(|d| sec.dedup = Some(d)),
            "resetmute" => duration().map(|d| sec.reset_mute = Some(d)),
            "enabled" => match plain.to_ascii_lowercase().as_str() {
                "yes" | "on" | "true" => {
                    sec.enabled = Some(true);
                    Ok(())
                }
                "no" | "off" | "false" => {
                    sec.enabled = Some(false);
                    Ok(())
                }
                _ => Err(format!(
                    "enabled must be yes or no, not \"{}\"",
                    printable(plain)
                )),
            },
            "actions" => parse_actions(plain).map(|a| sec.actions = Some(a)),
            _ => Err(format!(
                "unknown key \"{}\" (match, severity, before, after, end, unless, dedup, resetmute, actions, enabled)",
                printable(&key)
            )),
        };
        if let Err(m) = res {
            errors.push(err(n, m));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn parse_actions(v: &str) -> Result<Actions, String> {
    let mut a = Actions::default();
    for w in v
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        match w.to_ascii_lowercase().as_str() {
            "all" => a = Actions::ALL,
            "none" => {}
            "eventlog" => a.eventlog = true,
            "webhook" => a.webhook = true,
            "exec" => a.exec = true,
            "syslog" => a.syslog = true,
            other => {
                return Err(format!(
                    "unknown action \"{}\" (all, none, eventlog, webhook, exec, syslog)",
                    printable(other)
                ));
            }
        }
    }
    Ok(a)
}

/// A regex's size limit: rules are compiled into one set for every console.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn check_regex(re: &str) -> Result<(), String> {
    regex::RegexBuilder::new(re)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(|_| ())
        .map_err(|e| format!("invalid regex: {}", one_line(&e.to_string())))
}

fn one_line(s: &str) -> String {
    s.split('\n')
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A value as it may be quoted in a message: control characters escaped, cut at 80.
fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// Parses a rules file and applies it on top of `base` (the built-in pack, or
/// nothing): a section with a new id adds a rule (it needs `match`), one with a
/// known id changes the keys it gives. Every mistake is reported, each with its line.
pub fn apply(base: Vec<Rule>, file: &str, text: &str) -> Result<Vec<Rule>, Vec<RulesError>> {
    let sections = parse_sections(file, text)?;
    let mut rules = base;
    let mut errors = Vec::new();
    for s in sections {
        let idx = match rules.iter().position(|r| r.id == s.id) {
            Some(i) => i,
            None => match &s.pattern {
                Some(p) => {
                    rules.push(Rule::new(&s.id, p));
                    rules.len() - 1
                }
                None => {
                    errors.push(RulesError {
                        file: file.to_string(),
                        line: s.line,
                        message: format!(
                            "rule \"{}\" has no `match` (only built-in rules may omit it)",
                            s.id
                        ),
                    });
                    continue;
                }
            },
        };
        let r = &mut rules[idx];
        // A section changes only the keys it names.
        macro_rules! overlay {
            ($($field:ident),*) => {$(
                if let Some(v) = s.$field {
                    r.$field = v;
                }
            )*};
        }
        overlay!(
            pattern, severity, before, after, end, unless, dedup, reset_mute, actions, enabled
        );
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// The built-in rule pack's text (`server alertpack="builtin"`), in the rules file
/// format; `conmand --print-alert-pack` prints it.
pub const BUILTIN_PACK: &str = include_str!("builtin.rules");

/// The built-in rules.
pub fn builtin() -> Vec<Rule> {
    // The pack is tested to parse (`tests::the_builtin_pack_parses`).
    apply(Vec::new(), "builtin.rules", BUILTIN_PACK).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_pack_parses() {
        let rules = apply(Vec::new(), "builtin.rules", BUILTIN_PACK).expect("pack parses");
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        for id in [
            "kernel-panic",
            "oops",
            "kernel-bug",
            "call-trace",
            "soft-lockup",
            "hard-lockup",
            "rcu-stall",
            "hung-task",
            "oom",
            "mce",
            "edac",
            "nvidia-xid",
            "lustre-lbug",
            "fs-error",
            "boot",
        ] {
            assert!(ids.contains(&id), "{id} missing from the pack");
        }
    }

    #[test]
    fn a_file_adds_changes_and_disables() {
        let text = "# site rules\n\
                    [rule raid-degraded]\n\
                    match = md/raid\\d+:\\S+: Disk failure # not a comment\n\
                    severity = error   # a comment\n\
                    before = 3\n\
                    dedup = 5m\n\
                    actions = eventlog, syslog\n\
                    [rule oom]\n\
                    enabled = no\n\
                    [rule boot]\n\
                    resetmute = 10m\n";
        let rules = apply(builtin(), "site.rules", text).expect("valid");
        let raid = rules
            .iter()
            .find(|r| r.id == "raid-degraded")
            .expect("added");
        assert_eq!(
            raid.pattern,
            "md/raid\\d+:\\S+: Disk failure # not a comment"
        );
        assert_eq!(raid.severity, Severity::Error);
        assert_eq!(raid.before, 3);
        assert_eq!(raid.after, 10);
        assert_eq!(raid.dedup, Duration::from_secs(300));
        assert_eq!(
            raid.actions,
            Actions {
                eventlog: true,
                syslog: true,
                ..Actions::default()
            }
        );
        assert!(!rules.iter().find(|r| r.id == "oom").expect("kept").enabled);
        let boot = rules.iter().find(|r| r.id == "boot").expect("kept");
        assert_eq!(boot.reset_mute, Duration::from_secs(600));
        assert_eq!(
            boot.pattern,
            builtin()
                .iter()
                .find(|r| r.id == "boot")
                .expect("b")
                .pattern
        );
    }

    #[test]
    fn every_mistake_is_reported_with_its_line() {
        let text = "severity = error\n\
                    [rule Bad!]\n\
                    [rule ok]\n\
                    match = (unclosed\n\
                    before = 51\n\
                    dedup = 5x\n\
                    colour = red\n\
                    severity = loud\n\
                    just words\n\
                    [rule nomatch]\n\
                    severity = info\n";
        let errs = apply(Vec::new(), "x.rules", text).expect_err("invalid");
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 2, 4, 5, 6, 7, 8, 9], "{errs:#?}");
        assert!(
            errs[0].to_string().starts_with("x.rules:1: "),
            "{}",
            errs[0]
        );
        assert!(errs[2].message.contains("invalid regex"), "{}", errs[2]);
        // Only once the sections parse are missing patterns reported.
        let errs = apply(Vec::new(), "y.rules", "[rule nomatch]\nseverity = info\n")
            .expect_err("no match");
        assert_eq!(
            errs[0].to_string(),
            "y.rules:1: rule \"nomatch\" has no `match` (only built-in rules may omit it)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "m", "5 m", "-1", "1.5m", "99999999999"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
