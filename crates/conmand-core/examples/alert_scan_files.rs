//! Runs the built-in alert rules over console captures, one scanner per file (as
//! one console each), and prints every incident with its context: the tool behind
//! the false-alert measurement in docs/alerts.md.
//!
//!     cargo run --release -p conmand-core --example alert_scan_files -- FILE... > report.txt
//!
//! Files are fed in 317-byte chunks one (simulated) millisecond apart, as the
//! corpus test does. The last line is a summary: files, bytes, incidents per rule.

use std::collections::BTreeMap;
use std::sync::Arc;

use conmand_core::alerts::{RuleSet, Scanner, rules};

fn main() {
    let set = Arc::new(RuleSet::compile(&rules::builtin()).expect("builtin rules compile"));
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    for path in std::env::args().skip(1) {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        files += 1;
        bytes += data.len() as u64;
        let mut sc = Scanner::new(set.clone());
        let mut out = Vec::new();
        let mut now = 1_000;
        for chunk in data.chunks(317) {
            sc.feed(chunk, now, &mut out);
            now += 1;
        }
        sc.finish(now, &mut out);
        for inc in out {
            let id = &set.rules()[inc.rule].id;
            *per_rule.entry(id.clone()).or_default() += 1;
            println!("== {path} @{} {id} (repeats {})", inc.offset, inc.repeats);
            for l in &inc.before {
                println!("   {l}");
            }
            println!(">> {}", inc.line);
            for l in inc.after.iter().take(12) {
                println!("   {l}");
            }
        }
    }
    let rules: Vec<String> = per_rule.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "## files={files} bytes={bytes} incidents: {}",
        rules.join(" ")
    );
}
