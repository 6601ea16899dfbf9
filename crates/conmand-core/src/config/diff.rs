//! Reload is a pure diff: which consoles a SIGHUP adds, removes or changes.
//!
//! The daemon parses the new file, calls [`diff`] against the running [`Config`] and
//! applies the changes; the console line number does not count as a change.

use std::collections::HashMap;

use super::model::{Config, ConsoleDef};

/// One difference between two configurations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConsoleChange {
    /// A console only the new configuration has.
    Added(String),
    /// A console only the old configuration has.
    Removed(String),
    /// A console in both whose definition differs (other than its line number).
    Changed(String),
    /// The `SERVER` options differ.
    ServerChanged,
}

fn same_console(a: &ConsoleDef, b: &ConsoleDef) -> bool {
    a.name == b.name
        && a.dev == b.dev
        && a.spec == b.spec
        && a.log == b.log
        && a.logopts == b.logopts
}

/// The changes that turn `old` into `new`: `ServerChanged` first (if any), then
/// `Removed`/`Changed` in the old order, then `Added` in the new order.
pub fn diff(old: &Config, new: &Config) -> Vec<ConsoleChange> {
    let mut out = Vec::new();
    if old.server != new.server {
        out.push(ConsoleChange::ServerChanged);
    }
    let new_by_name: HashMap<&str, &ConsoleDef> =
        new.consoles.iter().map(|c| (c.name.as_str(), c)).collect();
    let old_by_name: HashMap<&str, &ConsoleDef> =
        old.consoles.iter().map(|c| (c.name.as_str(), c)).collect();
    for c in &old.consoles {
        match new_by_name.get(c.name.as_str()) {
            None => out.push(ConsoleChange::Removed(c.name.clone())),
            Some(n) if !same_console(c, n) => out.push(ConsoleChange::Changed(c.name.clone())),
            Some(_) => {}
        }
    }
    for c in &new.consoles {
        if !old_by_name.contains_key(c.name.as_str()) {
            out.push(ConsoleChange::Added(c.name.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, MemProbe};

    fn cfg(src: &str) -> Config {
        let p = Config::parse_str(src, "t.conf", &MemProbe::new("/w").executable("/bin/cat"));
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        p.config
    }

    #[test]
    fn identical_is_empty_even_when_lines_move() {
        let a = cfg("console name=\"a\" dev=\"test:\"\nconsole name=\"b\" dev=\"test:\"\n");
        let b = cfg("\n\nconsole name=\"a\" dev=\"test:\"\n\nconsole name=\"b\" dev=\"test:\"\n");
        assert_ne!(a.consoles[1].line, b.consoles[1].line);
        assert_eq!(diff(&a, &b), vec![]);
    }

    #[test]
    fn added_removed_changed_server() {
        let a = cfg(
            "console name=\"a\" dev=\"test:\"\nconsole name=\"b\" dev=\"test:\"\nconsole name=\"c\" dev=\"test:\"\n",
        );
        let b = cfg(
            "server port=1\nconsole name=\"b\" dev=\"test:\" testopts=\"B:1\"\nconsole name=\"c\" dev=\"test:\"\nconsole name=\"d\" dev=\"/bin/cat\"\n",
        );
        assert_eq!(
            diff(&a, &b),
            vec![
                ConsoleChange::ServerChanged,
                ConsoleChange::Removed("a".into()),
                ConsoleChange::Changed("b".into()),
                ConsoleChange::Added("d".into()),
            ]
        );
    }

    #[test]
    fn log_and_logopts_changes_count() {
        let a = cfg("console name=\"a\" dev=\"test:\" log=\"/l/a.log\"\n");
        let b = cfg("console name=\"a\" dev=\"test:\" log=\"/l/b.log\"\n");
        let c = cfg("console name=\"a\" dev=\"test:\" log=\"/l/a.log\" logopts=\"sanitize\"\n");
        assert_eq!(diff(&a, &b), vec![ConsoleChange::Changed("a".into())]);
        assert_eq!(diff(&a, &c), vec![ConsoleChange::Changed("a".into())]);
        assert_eq!(diff(&c, &c), vec![]);
    }
}
