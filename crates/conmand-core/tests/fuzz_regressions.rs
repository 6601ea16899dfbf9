//! Replays every input the fuzzing campaign ever saved (`fuzz/regressions/<target>/`),
//! and the generated seeds, through the same harness bodies the libFuzzer targets run
//! (`fuzz/harness/`, included here with `#[path]`), on stable Rust and without a fuzzer.
//!
//! A saved input is a crash, panic, timeout or out-of-memory case that was fixed; the
//! test fails if any of them panics again or runs longer than a generous time bound
//! (the timeouts were pattern bombs taking seconds to minutes). Every target directory
//! must exist and hold either regression inputs or an `EMPTY` marker saying the
//! campaign found nothing there, so the test cannot pass by finding no files.
//! See docs/reliability.md.

#[path = "../../../fuzz/harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use std::{fs, panic};

/// Longest one replay may take (unoptimised build, noisy shared machine). The
/// fixed slow inputs took far longer before their fixes.
const TIME_BOUND: Duration = Duration::from_secs(10);

/// The marker file of a target with no regression inputs.
const EMPTY_MARKER: &str = "EMPTY";

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

/// Runs `f(data)`, returning a failure description if it panics or is too slow.
fn replay(f: harness::Body, data: &[u8]) -> Option<String> {
    let start = Instant::now();
    let result = panic::catch_unwind(|| f(data));
    let took = start.elapsed();
    match result {
        Err(e) => Some(
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".to_owned()),
        ),
        Ok(()) if took > TIME_BOUND => Some(format!("took {took:?} (bound {TIME_BOUND:?})")),
        Ok(()) => None,
    }
}

/// The regression inputs of `target`, after checking the directory is accounted for.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = regressions_dir().join(target);
    assert!(
        dir.is_dir(),
        "{} is missing: every fuzz target needs a regressions directory",
        dir.display()
    );
    let mut files = Vec::new();
    let mut marker = false;
    for e in fs::read_dir(&dir).expect("readable regressions directory") {
        let p = e.expect("directory entry").path();
        match p.file_name().and_then(|n| n.to_str()) {
            Some(EMPTY_MARKER) => marker = true,
            Some(n) if n.starts_with('.') => {}
            _ => files.push(p),
        }
    }
    assert!(
        marker == files.is_empty(),
        "{}: needs regression inputs or an {EMPTY_MARKER} marker, not both and not neither",
        dir.display()
    );
    files.sort();
    files
}

#[test]
fn every_target_has_an_accounted_regressions_directory() {
    let dir = regressions_dir();
    let mut on_disk: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !n.starts_with('.'))
        .collect();
    on_disk.sort();
    let mut targets: Vec<String> = harness::TARGETS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    targets.sort();
    assert_eq!(on_disk, targets, "regressions directories vs fuzz targets");
    for t in &targets {
        inputs(t);
    }
}

#[test]
fn saved_crashes_stay_fixed() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (target, f) in harness::TARGETS {
        for path in inputs(target) {
            let data = fs::read(&path).expect("readable regression input");
            if let Some(why) = replay(f, &data) {
                failures.push(format!("{}: {why}", path.display()));
            }
            replayed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} regressions fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn generated_seeds_run_clean() {
    let seeds = harness::seeds::generated();
    for (target, _) in harness::TARGETS {
        assert!(
            seeds.iter().any(|(t, _, _)| *t == target),
            "no seed for {target}"
        );
    }
    let mut failures = Vec::new();
    for (target, name, data) in &seeds {
        let f = harness::target(target).expect("seed for a known target");
        if let Some(why) = replay(f, data) {
            failures.push(format!("{target}/{name}: {why}"));
        }
    }
    assert!(failures.is_empty(), "seeds fail:\n{}", failures.join("\n"));
}

#[test]
fn session_seeds_reach_established_for_every_suite() {
    // The `ipmi_session` campaign starts from these: each must get SOL going, so
    // the fuzzer explores the established state and teardown, not only set-up.
    for (target, name, data) in harness::seeds::generated() {
        if target != "ipmi_session" {
            continue;
        }
        let got = harness::ipmi_session::drive(&data);
        // Suite 0 authenticates nothing, so a wrong password still gets in.
        if name.ends_with("-ok") || name.ends_with("-noprobe") || name.starts_with("gen-suite0-") {
            assert!(got.established && got.closed, "{name}: {got:?}");
        } else {
            assert!(!got.established && got.closed, "{name}: {got:?}");
        }
    }
}
