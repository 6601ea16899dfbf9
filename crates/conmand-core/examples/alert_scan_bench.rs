//! Throughput of alert matching: a [`Scanner`] over the built-in rules, fed the
//! flood benchmark's lines (`cNNNN seq NNNNNNNN xxx…`, 100 bytes) and kernel-style
//! healthy lines, in 64 KiB reads like a console under flood.
//!
//! Run with `cargo run --release -p conmand-core --example alert_scan_bench`.
//! Prints MB/s per sample. Not a test: timings never gate anything.

use std::hint::black_box;
use std::time::Instant;

use conmand_core::alerts::{RuleSet, Scanner, rules};

fn sample(f: impl Fn(u32) -> String) -> Vec<u8> {
    let mut s = Vec::new();
    let mut n = 0;
    while s.len() < 4 << 20 {
        s.extend_from_slice(f(n).as_bytes());
        n += 1;
    }
    s
}

fn main() {
    let set = std::sync::Arc::new(RuleSet::compile(&rules::builtin()).expect("built-in rules"));
    let flood = sample(|n| format!("c0001 seq {n:08} {}\r\n", "x".repeat(80)));
    let kernel = sample(|n| {
        format!(
            "[ {n:5}.123456] eth0: link up, 1000 Mbps, full duplex, flow control rx/tx {n:05}\r\n"
        )
    });
    for (name, data) in [("flood lines", &flood), ("kernel-style lines", &kernel)] {
        let mut sc = Scanner::new(set.clone());
        let mut out = Vec::new();
        let rounds = 8;
        let t = Instant::now();
        for r in 0..rounds {
            for chunk in data.chunks(64 * 1024) {
                sc.feed(black_box(chunk), r, &mut out);
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{name:20} {:7.1} MB/s  ({} incidents)",
            (data.len() * rounds as usize) as f64 / secs / 1e6,
            out.len()
        );
    }
}
