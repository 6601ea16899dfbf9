//! Throughput of the console log line processor.
//!
//! Run with `cargo run --release -p conmand-core --example logline_bench`.
//! Prints MB/s for each logopts combination over typical console output (80-byte
//! CR LF lines with an occasional control or 8-bit byte), fed in 4 KiB reads like
//! a console task would. Not a test: timings never gate anything.

use std::hint::black_box;
use std::time::Instant;

use conmand_core::logline::{LineProcessor, timestamp};

fn main() {
    let mut sample = Vec::new();
    let mut n = 0u32;
    while sample.len() < 1 << 20 {
        sample.extend_from_slice(
            b"[  123.456789] eth0: link up, 1000 Mbps, full duplex, flow control rx/tx ",
        );
        sample.extend_from_slice(format!("{n:05}").as_bytes());
        if n.is_multiple_of(16) {
            sample.extend_from_slice(b"\x1b[0m\t\xe9");
        }
        sample.extend_from_slice(b"\r\n");
        n += 1;
    }
    let ts = timestamp(2026, 11, 25, 7, 43, 20);
    let rounds = 64;
    for (sanitize, stamp) in [(false, true), (true, false), (true, true)] {
        let mut p = LineProcessor::new(sanitize, stamp);
        let mut out = Vec::with_capacity(8192);
        let start = Instant::now();
        let mut produced = 0usize;
        for _ in 0..rounds {
            for chunk in sample.chunks(4096) {
                out.clear();
                p.process(black_box(chunk), &ts, &mut out);
                produced += black_box(&out).len();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let mb = (sample.len() * rounds) as f64 / 1e6;
        println!(
            "sanitize={sanitize:<5} timestamp={stamp:<5} {:>8.0} MB/s input ({produced} bytes out)",
            mb / secs
        );
    }
}
