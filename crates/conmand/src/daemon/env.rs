//! The cleaned environment given to every child process (process consoles, the
//! reset command), ConMan's `get_sane_env` (reference §2.5):
//!
//! `IFS=" \t\n"`, `PATH=/usr/bin:/bin:/usr/sbin:/sbin`, `TERM=dumb`, plus `DEBUG` and
//! `TZ` copied from the daemon's own environment when set, in that order.
//!
//! ConMan replaces its own `environ`; in Rust (2024) changing the process environment
//! is `unsafe` and racy, so the daemon keeps its environment and applies this list
//! to each child instead: `command.env_clear().envs(cleaned_env())` (works for
//! `std::process::Command` and `tokio::process::Command`).

use std::ffi::{OsStr, OsString};

/// `_PATH_STDPATH` from glibc's `<paths.h>`.
pub const STD_PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin";

/// Variables copied from the daemon's environment when set.
pub const PRESERVED: [&str; 2] = ["DEBUG", "TZ"];

/// The cleaned environment built from the current process environment.
pub fn cleaned_env() -> Vec<(OsString, OsString)> {
    cleaned_env_from(|name| std::env::var_os(name))
}

/// The cleaned environment, reading preserved variables through `lookup`
/// (pure: tests pass a closure over a map).
pub fn cleaned_env_from(lookup: impl Fn(&str) -> Option<OsString>) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> =
        [("IFS", " \t\n"), ("PATH", STD_PATH), ("TERM", "dumb")]
            .into_iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect();
    for name in PRESERVED {
        if let Some(value) = lookup(name) {
            env.push((OsString::from(name), value));
        }
    }
    env
}

/// Looks a variable up in a cleaned environment (for callers that need `PATH`).
pub fn lookup<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
    env.iter()
        .find(|(k, _)| k.as_os_str() == OsStr::new(name))
        .map(|(_, v)| v.as_os_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;

    fn from_map(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        cleaned_env_from(|name| map.get(name).cloned())
    }

    fn as_strings(env: &[(OsString, OsString)]) -> Vec<(String, String)> {
        env.iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn fixed_variables_only_when_nothing_preserved() {
        let env = from_map(&[("HOME", "/root"), ("LD_PRELOAD", "evil.so"), ("PATH", "/x")]);
        assert_eq!(
            as_strings(&env),
            vec![
                ("IFS".into(), " \t\n".into()),
                ("PATH".into(), "/usr/bin:/bin:/usr/sbin:/sbin".into()),
                ("TERM".into(), "dumb".into()),
            ]
        );
    }

    #[test]
    fn debug_and_tz_are_copied_in_order() {
        let env = from_map(&[("TZ", "UTC"), ("DEBUG", "3"), ("TERM", "xterm")]);
        let s = as_strings(&env);
        assert_eq!(s.len(), 5);
        assert_eq!(s[3], ("DEBUG".into(), "3".into()));
        assert_eq!(s[4], ("TZ".into(), "UTC".into()));
        assert_eq!(lookup(&env, "TERM"), Some(OsStr::new("dumb")));
        assert_eq!(lookup(&env, "HOME"), None);
    }

    #[test]
    fn empty_values_are_preserved_as_set() {
        let env = from_map(&[("TZ", "")]);
        assert_eq!(lookup(&env, "TZ"), Some(OsStr::new("")));
    }

    #[test]
    fn applies_to_a_child_process() {
        let env = from_map(&[("TZ", "UTC")]);
        let out = std::process::Command::new("/usr/bin/env")
            .arg("-0")
            .env_clear()
            .envs(env)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines: Vec<&str> = text.split_terminator('\0').collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            vec![
                "IFS= \t\n",
                "PATH=/usr/bin:/bin:/usr/sbin:/sbin",
                "TERM=dumb",
                "TZ=UTC"
            ]
        );
    }
}
