//! The pidfile (`server pidfile=` or `-P`): written by the daemon after
//! daemonizing, read by `-k`/`-r`/`-q` as a fallback, removed at exit.
//!
//! Writing follows ConMan's `write_pidfile`: the name must be absolute (the daemon
//! `chdir`s to `/`), any old file is unlinked first, intermediate directories are
//! created, group/other write permission is withheld, and the content is `"<pid>\n"`.
//! Unlike ConMan, a symbolic link at the name is neither followed nor removed: the
//! open refuses it (`Unable to open pidfile "<f>": Is a symbolic link (not
//! followed)`), see [`crate::outfile`].
//! A write failure is an error the caller logs at ERROR priority before continuing
//! without a pidfile, as ConMan does.
//!
//! The [`Pidfile`] guard removes the file when dropped, but only from the process that
//! wrote it and only while the file still names that process, so a forked child or a
//! newer daemon's pidfile is never removed by mistake.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use conmand_core::oserror::strerror;

use crate::outfile::{AppendFile, OutfileError, open_append};

/// Errors writing the pidfile; `Display` is ConMan's message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PidfileError {
    /// The name is not absolute.
    #[error("Unable to create relative-path pidfile \"{}\"", path.display())]
    Relative {
        /// The pidfile name.
        path: PathBuf,
    },
    /// Creating the file failed.
    #[error("Unable to open pidfile \"{}\": {source}", path.display())]
    Open {
        /// The pidfile name.
        path: PathBuf,
        /// Why (an OS error, or a symbolic link at the name).
        source: OutfileError,
    },
    /// Writing the pid failed.
    #[error("Unable to write to pidfile \"{}\": {}", path.display(), strerror(source))]
    Write {
        /// The pidfile name.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Removing the file failed (other than it being gone already).
    #[error("Unable to delete pid file \"{}\": {}", path.display(), strerror(source))]
    Remove {
        /// The pidfile name.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// A pidfile written by this process; removed on [`Pidfile::remove`] or drop.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    /// The pid written, i.e. the writer's pid. Removal happens only in that process.
    pid: u32,
    /// Cleared once removed, so drop does nothing more.
    armed: bool,
}

impl Pidfile {
    /// Writes `"<pid>\n"` for the calling process to `path`. Call it after
    /// daemonizing, so the file holds the daemon's pid.
    pub fn create(path: &Path) -> Result<Pidfile, PidfileError> {
        if !path.is_absolute() {
            return Err(PidfileError::Relative {
                path: path.to_owned(),
            });
        }
        let pid = std::process::id();
        // A symbolic link stays, so that the open below refuses it and says so.
        if !std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = std::fs::remove_file(path);
        }
        let how = AppendFile {
            // 0666 minus group/other write: ConMan's `umask |= 022`.
            mode: 0o644,
            read: false,
            lock: false,
            // Nothing should be there after the unlink; if a file reappeared, empty it.
            truncate: true,
        };
        let mut file = open_append(path, how).map_err(|source| PidfileError::Open {
            path: path.to_owned(),
            source,
        })?;
        let guard = Pidfile {
            path: path.to_owned(),
            pid,
            armed: true,
        };
        // On a write error the guard's drop unlinks the partial file (as ConMan does).
        file.write_all(format!("{pid}\n").as_bytes())
            .map_err(|source| PidfileError::Write {
                path: path.to_owned(),
                source,
            })?;
        Ok(guard)
    }

    /// The pidfile's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the pidfile now (clean exit), reporting a failure ConMan logs as
    /// `Unable to delete pid file "<f>": <err>`. A file already gone, or one that no
    /// longer holds our pid, is left alone and is not an error.
    pub fn remove(mut self) -> Result<(), PidfileError> {
        self.remove_inner()
    }

    fn remove_inner(&mut self) -> Result<(), PidfileError> {
        if !std::mem::replace(&mut self.armed, false) || std::process::id() != self.pid {
            return Ok(());
        }
        if read_pidfile(&self.path).is_some_and(|p| u32::try_from(p).ok() != Some(self.pid)) {
            return Ok(());
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(PidfileError::Remove {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        // Best effort: an explicit `remove` reports errors.
        let _ = self.remove_inner();
    }
}

/// Reads a pid from a pidfile the way ConMan's `read_pidfile` does (`fscanf("%d")`):
/// leading blanks skipped, an optional sign, digits, anything after ignored. `None`
/// when the file is missing or unreadable, holds no number, or the number is ≤ 1.
/// Unreadable or garbled files are logged as warnings, as ConMan does.
pub fn read_pidfile(path: &Path) -> Option<i32> {
    let text = std::fs::read(path).ok()?;
    match parse_pid(&text) {
        Some(pid) if pid > 1 => Some(pid),
        Some(_) => None,
        None => {
            tracing::warn!("Unable to obtain pid from pidfile \"{}\"", path.display());
            None
        }
    }
}

/// `fscanf("%d")` on bytes: `None` if no integer starts the (blank-trimmed) text.
fn parse_pid(text: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(text).ok().unwrap_or("");
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (sign, digits) = match s.as_bytes().first() {
        Some(b'-') => (-1i64, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let end = digits
        .as_bytes()
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let value: i64 = digits[..end].parse().ok()?;
    i32::try_from(sign * value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_pid_is_like_fscanf_d() {
        assert_eq!(parse_pid(b"13241\n"), Some(13241));
        assert_eq!(parse_pid(b"  \n42 trailing"), Some(42));
        assert_eq!(parse_pid(b"+7"), Some(7));
        assert_eq!(parse_pid(b"-3"), Some(-3));
        assert_eq!(parse_pid(b"abc"), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"99999999999"), None);
    }

    #[test]
    fn create_writes_pid_newline_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/sub/conmand.pid");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "stale\n").unwrap();
        let guard = Pidfile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "{mode:o}");
        assert_eq!(read_pidfile(&path), i32::try_from(std::process::id()).ok());
        drop(guard);
        assert!(!path.exists());
    }

    #[test]
    fn create_makes_intermediate_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.pid");
        let guard = Pidfile::create(&path).unwrap();
        assert!(path.exists());
        guard.remove().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn relative_and_unwritable_paths_are_errors() {
        let err = Pidfile::create(Path::new("rel.pid")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to create relative-path pidfile \"rel.pid\""
        );
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let err = Pidfile::create(&blocker.join("x.pid")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Unable to open pidfile \"{}\": Not a directory",
                blocker.join("x.pid").display()
            )
        );
    }

    /// Issue 12: a symbolic link at the pidfile name is refused, not followed and not
    /// removed; its target keeps its content.
    #[test]
    fn a_symlink_at_the_name_is_refused() {
        use crate::outfile::testutil::{assert_untouched, plant_link};
        let dir = tempfile::tempdir().unwrap();
        let (path, target) = plant_link(dir.path(), "conmand.pid");
        let err = Pidfile::create(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Unable to open pidfile \"{}\": Is a symbolic link (not followed)",
                path.display()
            )
        );
        assert_untouched(&target);
        assert!(
            std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn a_replaced_pidfile_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.pid");
        let guard = Pidfile::create(&path).unwrap();
        // Another daemon took over the name.
        std::fs::write(&path, "424242\n").unwrap();
        drop(guard);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "424242\n");
    }

    #[test]
    fn read_pidfile_rejects_missing_small_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        assert_eq!(read_pidfile(&path), None);
        std::fs::write(&path, "1\n").unwrap();
        assert_eq!(read_pidfile(&path), None);
        std::fs::write(&path, "junk\n").unwrap();
        assert_eq!(read_pidfile(&path), None);
        std::fs::write(&path, "12345\n").unwrap();
        assert_eq!(read_pidfile(&path), Some(12345));
    }
}
