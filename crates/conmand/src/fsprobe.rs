//! The daemon's [`FsProbe`]: real `stat(2)` and `access(2)` calls.
//!
//! Used when the configuration is validated (startup, SIGHUP, `conmand -t`). It only
//! looks at metadata: it never opens a device or connects anywhere.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use conmand_core::config::{FileKind, FsProbe};
use rustix::fs::Access;

/// [`FsProbe`] backed by the real file system, with the working directory captured
/// once at construction (ConMan joins relative names to its startup cwd).
#[derive(Debug, Clone)]
pub struct RealProbe {
    cwd: PathBuf,
}

impl RealProbe {
    /// A probe for the current working directory (`/` if it cannot be read).
    pub fn new() -> Self {
        RealProbe {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    /// A probe that joins relative names to `cwd`.
    pub fn with_cwd(cwd: impl Into<PathBuf>) -> Self {
        RealProbe { cwd: cwd.into() }
    }
}

impl Default for RealProbe {
    fn default() -> Self {
        RealProbe::new()
    }
}

impl FsProbe for RealProbe {
    fn file_kind(&self, path: &Path) -> FileKind {
        match std::fs::metadata(path) {
            Err(_) => FileKind::Missing,
            Ok(m) => {
                let t = m.file_type();
                if t.is_file() {
                    FileKind::Regular
                } else if t.is_dir() {
                    FileKind::Directory
                } else if t.is_char_device() {
                    FileKind::CharDevice
                } else if t.is_socket() {
                    FileKind::Socket
                } else {
                    FileKind::Other
                }
            }
        }
    }

    fn is_executable(&self, path: &Path) -> bool {
        rustix::fs::access(path, Access::EXEC_OK).is_ok()
    }

    fn is_read_writable(&self, path: &Path) -> bool {
        rustix::fs::access(path, Access::READ_OK | Access::WRITE_OK).is_ok()
    }

    fn cwd(&self) -> PathBuf {
        self.cwd.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_from_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let p = RealProbe::with_cwd(dir.path());
        assert_eq!(p.file_kind(dir.path()), FileKind::Directory);
        assert_eq!(p.file_kind(&dir.path().join("none")), FileKind::Missing);
        assert_eq!(p.file_kind(Path::new("/dev/null")), FileKind::CharDevice);
        assert!(p.is_read_writable(Path::new("/dev/null")));
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        assert_eq!(p.file_kind(&f), FileKind::Regular);
        assert!(!p.is_executable(&f) || rustix::process::geteuid().is_root());
        assert!(p.is_executable(Path::new("/bin/sh")));
        assert_eq!(p.cwd(), dir.path());
    }
}
