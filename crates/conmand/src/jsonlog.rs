//! JSON-lines files the daemon appends to: the alert event log (`server
//! eventlog=`) and the audit log (`server auditlog=`).
//!
//! A file is opened on first use like every file the daemon writes (directories
//! made, no symlink followed at its name: [`crate::outfile`]), and opened again
//! after a write failure, after [`JsonLines::reopen`] (SIGHUP, `--reopen-logs`), or
//! when the file at its name is no longer the open one (logrotate moved it). A
//! failure is logged once until a write succeeds again.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One JSON-lines file (or none).
#[derive(Debug)]
pub struct JsonLines {
    path: Option<PathBuf>,
    file: Option<File>,
    failing: bool,
    /// Permission bits for a file this creates.
    mode: u32,
    /// What the file is, for error messages (`event log`, `audit log`).
    what: &'static str,
}

impl JsonLines {
    /// Lines for `path` (`None`: written nowhere), created with `mode`.
    pub fn new(path: Option<PathBuf>, mode: u32, what: &'static str) -> JsonLines {
        JsonLines {
            path,
            file: None,
            failing: false,
            mode,
            what,
        }
    }

    /// Point it somewhere else (reload); the same path keeps the open file.
    pub fn set_path(&mut self, path: Option<PathBuf>) {
        if self.path != path {
            self.path = path;
            self.file = None;
            self.failing = false;
        }
    }

    /// Close the file; the next line opens it again.
    pub fn reopen(&mut self) {
        self.file = None;
    }

    /// Append one line (a newline is added). Blocking I/O: call it off the
    /// runtime's workers.
    pub fn append(&mut self, line: &str) {
        let Some(path) = self.path.clone() else {
            return;
        };
        if self.file.is_some() && moved(&path, self.file.as_ref()) {
            self.file = None;
        }
        if self.file.is_none() {
            let how = crate::outfile::AppendFile {
                mode: self.mode,
                read: false,
                lock: false,
                truncate: false,
            };
            match crate::outfile::open_append(&path, how) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.fail(&path, &e);
                    return;
                }
            }
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if let Some(f) = &mut self.file {
            match f.write_all(&buf) {
                Ok(()) => self.failing = false,
                Err(e) => {
                    self.file = None;
                    self.fail(&path, &crate::outfile::OutfileError::Io(e));
                }
            }
        }
    }

    fn fail(&mut self, path: &Path, e: &crate::outfile::OutfileError) {
        if !self.failing {
            tracing::error!("Unable to write {} \"{}\": {e}", self.what, path.display());
        }
        self.failing = true;
    }
}

/// Whether the open file is no longer the one at `path` (rotated or removed).
fn moved(path: &Path, file: Option<&File>) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Some(f) = file else { return false };
    match (std::fs::metadata(path), f.metadata()) {
        (Ok(a), Ok(b)) => a.ino() != b.ino() || a.dev() != b.dev(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jsonl_file_follows_a_rotation_and_survives_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut log = JsonLines::new(Some(path.clone()), 0o644, "event log");
        log.append("{\"id\":1}");
        std::fs::rename(&path, dir.path().join("events.jsonl.1")).unwrap();
        log.append("{\"id\":2}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"id\":2}\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("events.jsonl.1")).unwrap(),
            "{\"id\":1}\n"
        );
        // A missing directory is made, as for console logs.
        let deep = dir.path().join("new/dir/e.jsonl");
        let mut made = JsonLines::new(Some(deep.clone()), 0o644, "event log");
        made.append("{}");
        assert_eq!(std::fs::read_to_string(&deep).unwrap(), "{}\n");
        // One that cannot be made (a file is in the way) fails, said once, no panic.
        std::fs::write(dir.path().join("plain"), "").unwrap();
        let mut bad = JsonLines::new(
            Some(dir.path().join("plain/dir/e.jsonl")),
            0o644,
            "event log",
        );
        bad.append("{}");
        bad.append("{}");
        assert!(bad.failing && bad.file.is_none());
        // A symbolic link at the name is not followed.
        let target = dir.path().join("elsewhere");
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut linked = JsonLines::new(Some(link), 0o644, "event log");
        linked.append("{}");
        assert!(linked.failing && !target.exists());
    }
}
