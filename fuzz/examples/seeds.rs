//! Writes the seed corpus: `cargo run --example seeds -- <corpus-dir>` creates
//! `<corpus-dir>/<target>/` for every target and fills it with the generated
//! seeds (`harness/seeds.rs`) plus, for `config` and `pswd`, the repository's
//! example files and configuration fixtures.

use std::path::{Path, PathBuf};
use std::{env, fs, io};

/// Files under `dir` (recursively) whose name ends with `suffix`.
fn files(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            files(&p, suffix, out)?;
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let Some(dir) = env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: seeds <corpus-dir>");
        std::process::exit(2);
    };
    for (target, _) in conman_fuzz::TARGETS {
        fs::create_dir_all(dir.join(target))?;
    }
    let mut n = 0;
    for (target, name, bytes) in conman_fuzz::seeds::generated() {
        fs::write(dir.join(target).join(name), bytes)?;
        n += 1;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut confs = Vec::new();
    files(&root.join("etc"), ".conf", &mut confs)?;
    files(
        &root.join("crates/conmand-core/tests/fixtures"),
        ".conf",
        &mut confs,
    )?;
    for p in confs {
        let name = p
            .file_name()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        fs::copy(&p, dir.join("config").join(format!("file-{name}")))?;
        n += 1;
    }
    println!("{n} seeds in {}", dir.display());
    Ok(())
}
