//! The fixture corpus: `tests/fixtures/config/{valid,invalid}/*.conf`.
//!
//! Expectations live in the fixtures themselves, in comment lines the parser ignores:
//!
//! ```text
//! #! consoles 3                  number of consoles that must survive
//! #! error 12: substring         an error on line 12 whose message contains substring
//! #! warning 4: substring        likewise for a warning
//! ```
//!
//! Errors and warnings must match the expectations exactly (same count, same order).
//! Valid fixtures must have no error; invalid ones at least one.

mod common;

use std::path::{Path, PathBuf};

use conmand_core::config::{Config, Diagnostic};

#[derive(Debug, Default)]
struct Expect {
    consoles: Option<usize>,
    errors: Vec<(u32, String)>,
    warnings: Vec<(u32, String)>,
}

fn expectations(src: &str) -> Expect {
    let mut e = Expect::default();
    for line in src.lines() {
        let Some(rest) = line.strip_prefix("#! ") else {
            continue;
        };
        let (what, arg) = rest.split_once(' ').expect("#! kind arg");
        match what {
            "consoles" => e.consoles = Some(arg.trim().parse().expect("console count")),
            "error" | "warning" => {
                let (n, msg) = arg.split_once(": ").expect("#! error LINE: text");
                let item = (n.parse().expect("line number"), msg.to_string());
                if what == "error" {
                    e.errors.push(item)
                } else {
                    e.warnings.push(item)
                }
            }
            other => panic!("unknown expectation {other:?}"),
        }
    }
    e
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    v
}

fn matches(found: &[Diagnostic], want: &[(u32, String)]) -> Result<(), String> {
    let f: Vec<(u32, &str)> = found.iter().map(|d| (d.line, d.message.as_str())).collect();
    if f.len() != want.len()
        || f.iter()
            .zip(want)
            .any(|((fl, fm), (wl, wm))| fl != wl || !fm.contains(wm.as_str()))
    {
        return Err(format!("found {f:#?}\nwanted {want:#?}"));
    }
    Ok(())
}

fn check(path: &Path, valid: bool) -> Result<(), String> {
    let src = std::fs::read(path).expect("read fixture");
    let text = String::from_utf8_lossy(&src);
    let want = expectations(&text);
    let name = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let parsed = Config::parse_bytes(&src, &name, &common::fixture_probe());
    if valid && !want.errors.is_empty() {
        return Err(format!("{name}: a valid fixture cannot expect errors"));
    }
    if !valid && want.errors.is_empty() {
        return Err(format!("{name}: an invalid fixture must expect an error"));
    }
    matches(&parsed.errors, &want.errors).map_err(|e| format!("{name}: errors differ:\n{e}"))?;
    matches(&parsed.warnings, &want.warnings)
        .map_err(|e| format!("{name}: warnings differ:\n{e}"))?;
    let n = parsed.config.consoles.len();
    if want.consoles.is_some_and(|w| w != n) {
        return Err(format!("{name}: {n} consoles, wanted {:?}", want.consoles));
    }
    Ok(())
}

fn check_all(kind: &str) {
    let failures: Vec<String> = fixtures(kind)
        .iter()
        .filter_map(|f| check(f, kind == "valid").err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn corpus_is_not_empty() {
    assert!(fixtures("valid").len() >= 8, "valid fixtures missing");
    assert!(fixtures("invalid").len() >= 8, "invalid fixtures missing");
}

#[test]
fn valid_fixtures_parse_clean() {
    check_all("valid");
}

#[test]
fn invalid_fixtures_give_the_expected_errors() {
    check_all("invalid");
}

#[test]
fn seed_configs_are_understood() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/valid");
    let load = |n: &str| {
        let src = std::fs::read_to_string(dir.join(n)).expect("seed fixture");
        Config::parse_str(&src, n, &common::fixture_probe()).config
    };
    use conmand_core::config::ConsoleSpec;
    let c = load("seed-ipmitool-exp.conf");
    assert_eq!(c.server.timestamp_minutes, 60);
    assert!(c.server.coredump);
    assert_eq!(
        c.server.logfile.as_ref().map(|l| l.name.as_str()),
        Some("/var/log/conman/info")
    );
    assert_eq!(c.consoles[0].log.as_deref(), Some("/var/log/conman/%N.log"));
    assert!(c.consoles[0].logopts.timestamp);
    match &c.consoles[0].spec {
        ConsoleSpec::Process(p) => {
            assert_eq!(
                p.argv,
                [
                    "/usr/share/conman/exec/ipmitool.exp",
                    "192.168.1.10",
                    "admin"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    let c = load("seed-ipmi-batch.conf");
    match &c.consoles[1].spec {
        ConsoleSpec::Ipmi(i) => {
            assert_eq!(i.host, "192.168.1.162");
            assert_eq!(i.opts.username.as_deref(), Some("admin"));
            assert_eq!(i.opts.password.as_deref(), Some(&b"test_pass"[..]));
        }
        other => panic!("{other:?}"),
    }
    match &c.consoles[0].spec {
        ConsoleSpec::Ipmi(i) => assert_eq!(i.opts.password.as_deref(), Some(&b"password"[..])),
        other => panic!("{other:?}"),
    }
    let c = load("seed-simple.conf");
    assert_eq!(
        c.consoles[0].log.as_deref(),
        Some("/var/log/conman/console-%N.log")
    );
}
