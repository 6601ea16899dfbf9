//! Parses a configuration file with an in-memory probe that says every path under
//! `/dev/` is a serial device and every other absolute path an executable, then prints
//! the diagnostics, the console count and the time taken. Used to measure the parser:
//! `cargo run --release -p conmand-core --example parse_conf -- FILE`
//! (with `--generate N FILE` it first writes a file with N test consoles).

use std::time::Instant;

use conmand_core::config::{Config, FileKind, FsProbe};

struct Permissive;

impl FsProbe for Permissive {
    fn file_kind(&self, p: &std::path::Path) -> FileKind {
        if p.starts_with("/dev") {
            FileKind::CharDevice
        } else {
            FileKind::Regular
        }
    }
    fn is_executable(&self, _: &std::path::Path) -> bool {
        true
    }
    fn is_read_writable(&self, _: &std::path::Path) -> bool {
        true
    }
    fn cwd(&self) -> std::path::PathBuf {
        "/tmp".into()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = if args.first().map(String::as_str) == Some("--generate") {
        let n: usize = args.get(1).ok_or("N")?.parse()?;
        let path = args.get(2).ok_or("FILE")?.clone();
        let mut s = String::from("server logdir=\"/var/log/conman\"\nglobal log=\"%N.log\"\n");
        for i in 0..n {
            s.push_str(&format!(
                "console name=\"c{i}\" dev=\"test:\" testopts=\"B:{}\"\n",
                i % 100 + 1
            ));
        }
        std::fs::write(&path, s)?;
        path
    } else {
        args.first().ok_or("usage: parse_conf FILE")?.clone()
    };
    let bytes = std::fs::read(&path)?;
    let t = Instant::now();
    let parsed = Config::parse_bytes(&bytes, &path, &Permissive);
    let dt = t.elapsed();
    for e in parsed.errors.iter().take(usize::MAX) {
        println!("error: {e}");
    }
    for w in parsed.warnings.iter().take(usize::MAX) {
        println!("warning: {w}");
    }
    println!(
        "{} consoles, {} errors, {} warnings, {} bytes parsed in {:.3} s",
        parsed.config.consoles.len(),
        parsed.errors.len(),
        parsed.warnings.len(),
        bytes.len(),
        dt.as_secs_f64()
    );
    Ok(())
}
