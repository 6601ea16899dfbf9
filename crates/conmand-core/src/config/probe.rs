//! The file-system questions the validator asks while classifying `dev=` strings.
//!
//! `conmand-core` does no I/O, so [`FsProbe`] is how the validator learns whether a path
//! is a character device, a directory or an executable. The daemon implements it with
//! real `stat(2)`/`access(2)` calls (`conmand::fsprobe`); tests and tools use the
//! in-memory [`MemProbe`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What `stat(2)` (following symlinks) says a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// Nothing there (or `stat` failed).
    Missing,
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A character device (a tty, for instance).
    CharDevice,
    /// A unix-domain socket.
    Socket,
    /// Anything else (fifo, block device, ...).
    Other,
}

/// File-system queries needed to validate a configuration.
///
/// Implementations must not open devices or connect anywhere: these are metadata
/// questions only.
pub trait FsProbe {
    /// `stat(2)` of `path`, following symlinks.
    fn file_kind(&self, path: &Path) -> FileKind;
    /// `access(path, X_OK)` succeeds.
    fn is_executable(&self, path: &Path) -> bool;
    /// `access(path, R_OK | W_OK)` succeeds.
    fn is_read_writable(&self, path: &Path) -> bool;
    /// The daemon's working directory at startup (absolute). Relative names in the
    /// configuration are joined to it.
    fn cwd(&self) -> PathBuf;
}

/// One entry of a [`MemProbe`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    kind: FileKind,
    executable: bool,
    read_writable: bool,
}

/// An in-memory [`FsProbe`]: a map from absolute path to file kind and permissions.
///
/// Used by tests and property tests; paths not added are [`FileKind::Missing`].
#[derive(Debug, Clone)]
pub struct MemProbe {
    cwd: PathBuf,
    entries: HashMap<PathBuf, Entry>,
}

impl MemProbe {
    /// An empty probe whose working directory is `cwd`.
    pub fn new(cwd: impl Into<PathBuf>) -> Self {
        MemProbe {
            cwd: cwd.into(),
            entries: HashMap::new(),
        }
    }

    fn add(mut self, path: impl Into<PathBuf>, kind: FileKind, x: bool, rw: bool) -> Self {
        self.entries.insert(
            path.into(),
            Entry {
                kind,
                executable: x,
                read_writable: rw,
            },
        );
        self
    }

    /// Adds a readable, writable character device.
    pub fn char_device(self, path: impl Into<PathBuf>) -> Self {
        self.add(path, FileKind::CharDevice, false, true)
    }

    /// Adds a character device the daemon may not open for reading and writing.
    pub fn char_device_no_access(self, path: impl Into<PathBuf>) -> Self {
        self.add(path, FileKind::CharDevice, false, false)
    }

    /// Adds a directory (searchable, so `X_OK` succeeds on it).
    pub fn dir(self, path: impl Into<PathBuf>) -> Self {
        self.add(path, FileKind::Directory, true, true)
    }

    /// Adds an executable regular file.
    pub fn executable(self, path: impl Into<PathBuf>) -> Self {
        self.add(path, FileKind::Regular, true, true)
    }

    /// Adds a regular file without execute permission.
    pub fn file(self, path: impl Into<PathBuf>) -> Self {
        self.add(path, FileKind::Regular, false, true)
    }

    fn get(&self, path: &Path) -> Option<&Entry> {
        self.entries.get(path)
    }
}

impl FsProbe for MemProbe {
    fn file_kind(&self, path: &Path) -> FileKind {
        self.get(path).map_or(FileKind::Missing, |e| e.kind)
    }

    fn is_executable(&self, path: &Path) -> bool {
        self.get(path).is_some_and(|e| e.executable)
    }

    fn is_read_writable(&self, path: &Path) -> bool {
        self.get(path).is_some_and(|e| e.read_writable)
    }

    fn cwd(&self) -> PathBuf {
        self.cwd.clone()
    }
}
