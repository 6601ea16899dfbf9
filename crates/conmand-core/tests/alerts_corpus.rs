//! The built-in alert rules against real console captures
//! (`tests/alerts-corpus/`, sources in its README): every incident capture raises
//! exactly the rules its `.expect` file lists, and the healthy captures raise
//! nothing but `boot` where a kernel banner shows a reboot.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use conmand_core::alerts::{Incident, RuleSet, Scanner, rules};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/alerts-corpus")
}

/// `(capture, expected rule ids)` for every `.log` under `dir`, recursively.
fn captures(dir: &Path) -> Vec<(PathBuf, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(captures(&p));
        } else if p.extension().is_some_and(|e| e == "log") {
            let expect = fs::read_to_string(p.with_extension("expect"))
                .unwrap_or_else(|e| panic!("{}: no .expect: {e}", p.display()));
            let ids = expect
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect();
            out.push((p, ids));
        }
    }
    out
}

/// The rule ids a capture raises, fed in odd-sized chunks one millisecond apart
/// (so line ends fall inside chunks and across them).
fn raised(set: &Arc<RuleSet>, data: &[u8]) -> (BTreeSet<String>, Vec<Incident>) {
    let mut sc = Scanner::new(set.clone());
    let mut out = Vec::new();
    let mut now = 1_000;
    for chunk in data.chunks(317) {
        sc.feed(chunk, now, &mut out);
        now += 1;
    }
    sc.finish(now, &mut out);
    let ids = out.iter().map(|i| set.rules()[i.rule].id.clone()).collect();
    (ids, out)
}

#[test]
fn builtin_rules_on_the_corpus() {
    let set = Arc::new(RuleSet::compile(&rules::builtin()).expect("builtin compiles"));
    let mut wrong = Vec::new();
    let (mut files, mut bytes, mut healthy_bytes, mut false_alerts) = (0, 0, 0, 0);
    for (path, want) in captures(&corpus()) {
        let data = fs::read(&path).expect("capture");
        let (got, incidents) = raised(&set, &data);
        files += 1;
        bytes += data.len();
        let rel = path
            .strip_prefix(corpus())
            .unwrap_or(&path)
            .display()
            .to_string();
        if rel.starts_with("healthy") {
            healthy_bytes += data.len();
            false_alerts += incidents
                .iter()
                .filter(|i| !want.contains(&set.rules()[i.rule].id))
                .count();
        }
        if got != want {
            let missed: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want).collect();
            let lines: Vec<_> = incidents
                .iter()
                .filter(|i| !want.contains(&set.rules()[i.rule].id))
                .map(|i| format!("      {}: {}", set.rules()[i.rule].id, i.line))
                .collect();
            wrong.push(format!(
                "  {rel}: missed {missed:?}, extra {extra:?}\n{}",
                lines.join("\n")
            ));
        }
    }
    eprintln!(
        "corpus: {files} captures, {bytes} bytes; healthy {healthy_bytes} bytes with \
         {false_alerts} false alerts"
    );
    assert!(files >= 80, "corpus shrank to {files} captures");
    assert!(
        wrong.is_empty(),
        "{} of {files} captures raise other rules than expected:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
