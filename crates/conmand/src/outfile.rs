//! Opening the files the daemon writes: console logs (`logfile.rs`), its own log
//! (`daemonlog.rs`) and the pidfile (`daemon/pidfile.rs`). One function,
//! [`open_append`], does it the same way for all three:
//!
//! 1. Missing intermediate directories are created (mode 0755), as ConMan's
//!    `create_dirs`; a failure there shows up as the open error.
//! 2. The file is opened append-only, created with the caller's mode if missing, with
//!    `O_NOFOLLOW` and `O_CLOEXEC`. A symbolic link at the path is refused
//!    ([`OutfileError::Symlink`]), never followed: whoever can write the log
//!    directory must not be able to make the daemon (often root) append to, or
//!    truncate, a file elsewhere.
//! 3. If asked, a POSIX `fcntl` write lock is taken without waiting
//!    ([`OutfileError::Locked`] when another process holds one).
//! 4. If asked (`conmand -z`), the file is truncated through the descriptor just
//!    opened and locked (`ftruncate`), so what is emptied is exactly the file that
//!    will be written, and never one another process holds locked.
//!
//! The modes are ConMan's: console logs 0600 (`S_IRUSR|S_IWUSR`), the daemon log and
//! the pidfile 0644 (ConMan's `umask |= 022` around `fopen`, here without touching
//! the process-wide umask).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use conmand_core::oserror::strerror;
use rustix::fs::FlockOperation;

/// How [`open_append`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendFile {
    /// Permission bits of a file that has to be created (the umask still applies).
    pub mode: u32,
    /// Open for reading as well (console logs: `&L` replay reads the tail back).
    pub read: bool,
    /// Take a non-blocking exclusive POSIX `fcntl` lock on the whole file.
    pub lock: bool,
    /// Empty the file once it is open (and locked, if `lock`).
    pub truncate: bool,
}

/// Why [`open_append`] failed. `Display` is the reason part of ConMan's messages
/// (`Unable to open logfile "<path>": <reason>`): the caller names the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutfileError {
    /// The path's last component is a symbolic link; it was not followed.
    #[error("Is a symbolic link (not followed)")]
    Symlink,
    /// Another process holds a lock on the file.
    #[error("Locked by another process")]
    Locked,
    /// Opening or truncating failed.
    #[error("{}", strerror(.0))]
    Io(#[source] io::Error),
}

/// Opens `path` for appending as [`AppendFile`] says (see the module docs).
pub fn open_append(path: &Path, how: AppendFile) -> Result<File, OutfileError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        // As ConMan: a directory that cannot be made shows up as the open error.
        let _ = DirBuilder::new().recursive(true).mode(0o755).create(dir);
    }
    let file = OpenOptions::new()
        .read(how.read)
        .append(true)
        .create(true)
        .mode(how.mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            // ELOOP is also what a loop in a directory component gives: only a link
            // in the last component is reported as such.
            let last_is_link = e.raw_os_error() == Some(libc::ELOOP)
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if last_is_link {
                OutfileError::Symlink
            } else {
                OutfileError::Io(e)
            }
        })?;
    if how.lock && rustix::fs::fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive).is_err()
    {
        return Err(OutfileError::Locked);
    }
    if how.truncate {
        file.set_len(0).map_err(OutfileError::Io)?;
    }
    Ok(file)
}

/// Fixtures for the symbolic-link tests of every file the daemon writes.
#[cfg(test)]
pub(crate) mod testutil {
    use std::path::{Path, PathBuf};

    /// What the planted link's target holds; it must still hold it afterwards.
    pub(crate) const PRECIOUS: &str = "keep me\n";

    /// Plants a symbolic link `dir/name` → `dir/precious` (a file holding
    /// [`PRECIOUS`]); returns `(link, target)`.
    pub(crate) fn plant_link(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let target = dir.join("precious");
        std::fs::write(&target, PRECIOUS).unwrap();
        let link = dir.join(name);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        (link, target)
    }

    /// The link's target was neither written nor truncated.
    pub(crate) fn assert_untouched(target: &Path) {
        assert_eq!(std::fs::read_to_string(target).unwrap(), PRECIOUS);
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{assert_untouched, plant_link};
    use super::*;

    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    const LOG: AppendFile = AppendFile {
        mode: 0o600,
        read: true,
        lock: true,
        truncate: false,
    };

    #[test]
    fn creates_directories_and_the_file_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.log");
        let mut f = open_append(&path, LOG).unwrap();
        f.write_all(b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let dmode = std::fs::metadata(dir.path().join("a/b"))
            .unwrap()
            .permissions();
        assert_eq!(dmode.mode() & 0o022, 0);
    }

    #[test]
    fn appends_to_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        std::fs::write(&path, "old\n").unwrap();
        open_append(&path, LOG)
            .unwrap()
            .write_all(b"new\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\nnew\n");
    }

    /// Issue 12: a symbolic link at the path is refused; its target is untouched (and
    /// a dangling link does not create one).
    #[test]
    fn a_symlink_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (link, target) = plant_link(dir.path(), "c.log");
        for how in [
            LOG,
            AppendFile {
                truncate: true,
                ..LOG
            },
        ] {
            let err = open_append(&link, how).unwrap_err();
            assert!(matches!(err, OutfileError::Symlink), "{err:?}");
            assert_eq!(err.to_string(), "Is a symbolic link (not followed)");
        }
        assert_untouched(&target);
        let dangling = dir.path().join("d.log");
        let absent = dir.path().join("absent");
        std::os::unix::fs::symlink(&absent, &dangling).unwrap();
        assert!(matches!(
            open_append(&dangling, LOG),
            Err(OutfileError::Symlink)
        ));
        assert!(!absent.exists());
    }

    /// Issue 12: `-z` empties the very file it opened (same inode), and later writes
    /// start at its beginning.
    #[test]
    fn truncate_empties_the_opened_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        std::fs::write(&path, "old content\n").unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();
        let mut f = open_append(
            &path,
            AppendFile {
                truncate: true,
                ..LOG
            },
        )
        .unwrap();
        assert_eq!(f.metadata().unwrap().ino(), ino);
        assert_eq!(f.metadata().unwrap().len(), 0);
        f.write_all(b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    }

    #[test]
    fn other_errors_carry_the_os_text() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_append(dir.path(), LOG).unwrap_err();
        assert_eq!(err.to_string(), "Is a directory");
    }
}
