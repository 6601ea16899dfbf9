//! Unit tests on string literals: each lexical rule (`lexical.rs`), each keyword and
//! each error of reference §1.9 that a configuration can reach (`keywords.rs`).

mod consoles;
mod keywords;
mod lexical;

use super::*;

pub(super) fn probe() -> MemProbe {
    MemProbe::new("/work")
        .char_device("/dev/ttyS0")
        .char_device("/dev/ttyS1")
        .char_device_no_access("/dev/ttyS9")
        .char_device("/work/ttyLocal")
        .dir("/var/log/conman")
        .dir("/etc/conman/exec")
        .dir("/work/scripts")
        .dir("/work")
        .executable("/etc/conman/exec/ssh.exp")
        .executable("/work/scripts/run.sh")
        .executable("/bin/sh")
        .executable("/bin/cat")
        .file("/etc/passwd")
}

pub(super) fn parse(src: &str) -> Parsed {
    Config::parse_str(src, "t.conf", &probe())
}

/// Errors other than the whole-file "no consoles" one, as (line, message).
pub(super) fn errs(src: &str) -> Vec<(u32, String)> {
    parse(src)
        .errors
        .into_iter()
        .filter(|d| d.line > 0)
        .map(|d| (d.line, d.message))
        .collect()
}

/// The single error of `src` (which must have exactly one).
pub(super) fn err1(src: &str) -> String {
    let e = errs(src);
    assert_eq!(e.len(), 1, "{src:?} gave {e:?}");
    e[0].1.clone()
}

/// `src` must be clean; returns its config.
pub(super) fn ok(src: &str) -> Config {
    let p = parse(src);
    assert!(p.errors.is_empty(), "{src:?} gave {:?}", p.errors);
    p.config
}

pub(super) const T: &str = "console name=\"t\" dev=\"test:\"\n";

pub(super) fn server(line: &str) -> ServerOpts {
    ok(&format!("{line}\n{T}")).server
}

pub(super) fn console(line: &str) -> ConsoleDef {
    let c = ok(line);
    assert_eq!(c.consoles.len(), 1);
    c.consoles[0].clone()
}
