//! The shipped example configurations parse cleanly.

mod common;

use std::path::Path;

use conmand_core::config::{Config, ConsoleSpec, MemProbe};

fn load(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../etc")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn annotated_example_covers_every_kind_and_parses_clean() {
    let parsed = Config::parse_str(
        &load("conman.conf"),
        "conman.conf",
        &common::fixture_probe(),
    );
    assert!(parsed.errors.is_empty(), "{:#?}", parsed.errors);
    assert!(parsed.warnings.is_empty(), "{:#?}", parsed.warnings);
    let mut kinds: Vec<&str> = parsed
        .config
        .consoles
        .iter()
        .map(|c| c.spec.kind())
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        ["ipmi", "process", "serial", "telnet", "test", "unix"]
    );
    let s = &parsed.config.server;
    assert!(
        s.logfile.is_some() && s.syslog.is_some() && s.resetcmd.is_some() && s.pidfile.is_some()
    );
    assert!(s.coredumpdir.is_some() && !s.execpath.is_empty() && s.timestamp_minutes == 60);
}

#[test]
fn annotated_example_uses_every_keyword() {
    let text = load("conman.conf").to_ascii_lowercase();
    let live: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for kw in conmand_core::config::syntax::Keyword::ALL {
        let k = kw.as_str().to_ascii_lowercase();
        assert!(live.contains(&k), "etc/conman.conf does not use {k}");
    }
}

#[test]
fn demo_parses_clean() {
    let probe = MemProbe::new("/home/demo")
        .executable("/bin/sh")
        .executable("/bin/cat");
    let parsed = Config::parse_str(&load("demo.conf"), "demo.conf", &probe);
    assert!(parsed.errors.is_empty(), "{:#?}", parsed.errors);
    assert!(parsed.warnings.is_empty(), "{:#?}", parsed.warnings);
    let c = parsed.config;
    assert_eq!(
        (c.server.port, c.server.loopback, c.server.timestamp_minutes),
        (Some(7890), true, 1)
    );
    assert_eq!(
        c.server.logdir.as_deref(),
        Some(Path::new("/home/demo/demo-logs"))
    );
    assert!(
        c.consoles
            .iter()
            .any(|c| matches!(c.spec, ConsoleSpec::Test(_)))
    );
    let hello = c
        .consoles
        .iter()
        .find(|c| c.name == "hello")
        .expect("hello console");
    match &hello.spec {
        ConsoleSpec::Process(p) => assert_eq!(
            p.argv,
            ["/bin/sh", "-c", "echo Hello from hello; exec /bin/cat"]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.consoles[0].log.as_deref(),
        Some("/home/demo/demo-logs/%N.log")
    );
}
