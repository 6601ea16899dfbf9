//! The configuration-file lock: one running daemon per configuration.
//!
//! A running `conmand` holds a POSIX `fcntl` **read** lock (`F_RDLCK`, whole file) on
//! its configuration file for its whole life, through an fd kept open and
//! close-on-exec. A second daemon, and `conmand -k/-r/-q`, find it by asking
//! `F_GETLK` whether a **write** lock could be taken: the answer names the
//! read-lock holder's pid. These are classic process-associated POSIX locks (not
//! `flock`, not OFD locks), so C ConMan and conman-rs see each other's locks and pids.
//!
//! Two properties of POSIX locks shape how this module must be used:
//!
//! * They are **not inherited across `fork`**: take the lock after daemonizing, in
//!   the process that will run as the daemon.
//! * They are **released when the process closes *any* fd of the file**. While a
//!   [`ConfigLock`] is held, never open and close the configuration file by other
//!   means in this process (for example `std::fs::read_to_string` of the same path,
//!   or [`find_daemon_pid`]); read it through [`ConfigLock::read_contents`].

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use conmand_core::oserror::strerror;
use rustix::fs::FlockOperation;
use rustix::process::{Flock, FlockType};

use crate::daemon::pidfile::read_pidfile;

/// Errors taking the configuration lock; `Display` is ConMan's message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The configuration file could not be opened.
    #[error("Unable to open \"{}\": {}", path.display(), strerror(source))]
    Open {
        /// The configuration file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process holds a lock on the configuration file.
    #[error("Configuration \"{}\" in use by pid {pid}", path.display())]
    InUse {
        /// The configuration file.
        path: PathBuf,
        /// The process holding the lock.
        pid: i32,
    },
    /// The lock could not be taken for another reason.
    #[error("Unable to lock configuration \"{}\"", path.display())]
    Lock {
        /// The configuration file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The daemon's read lock on its configuration file; held until dropped.
#[derive(Debug)]
pub struct ConfigLock {
    /// Open read-only and close-on-exec. The lock lives exactly as long as this fd.
    file: File,
    path: PathBuf,
}

impl ConfigLock {
    /// Opens `path` and takes a read lock on the whole file, failing with
    /// [`LockError::InUse`] when another process (a running daemon) holds one.
    pub fn acquire(path: &Path) -> Result<ConfigLock, LockError> {
        let file = File::open(path).map_err(|source| LockError::Open {
            path: path.to_owned(),
            source,
        })?;
        if let Err(errno) = rustix::fs::fcntl_lock(&file, FlockOperation::NonBlockingLockShared) {
            // Someone holds a write lock (EAGAIN/EACCES): name them if we can.
            if let Ok(Some(pid)) = lock_holder(&file) {
                return Err(LockError::InUse {
                    path: path.to_owned(),
                    pid,
                });
            }
            return Err(LockError::Lock {
                path: path.to_owned(),
                source: errno.into(),
            });
        }
        // Our own read lock never conflicts with us; another daemon's read lock
        // blocks a write lock, which is how exclusivity is ensured.
        match lock_holder(&file) {
            Ok(Some(pid)) => Err(LockError::InUse {
                path: path.to_owned(),
                pid,
            }),
            Ok(None) => Ok(ConfigLock {
                file,
                path: path.to_owned(),
            }),
            Err(source) => Err(LockError::Lock {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The configuration file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the path still names the locked file (an editor may have replaced it
    /// with a new inode, which leaves the lock on the old one).
    pub fn is_current(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(&self.path), self.file.metadata()) {
            (Ok(p), Ok(f)) => p.dev() == f.dev() && p.ino() == f.ino(),
            _ => false,
        }
    }

    /// Reads the whole configuration file through the locked fd, from offset 0
    /// (reading it any other way and closing that fd would drop the lock).
    pub fn read_contents(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = match self.file.read_at(&mut buf, out.len() as u64) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }
}

/// The pid of a process whose lock would block a write lock on `file` (`F_GETLK`
/// with `F_WRLCK`), i.e. the running daemon's pid. Locks of the calling process never
/// count. `None` for an unlocked file or a lock without a pid (OFD locks).
pub fn lock_holder(file: &File) -> io::Result<Option<i32>> {
    let probe = Flock::from(FlockType::WriteLock);
    let found = rustix::process::fcntl_getlk(file, &probe)?;
    Ok(found
        .and_then(|lock| lock.pid)
        .map(|pid| pid.as_raw_nonzero().get())
        .filter(|pid| *pid > 0))
}

/// Finds the pid of the daemon running `config_path`: first the holder of its lock
/// (`F_GETLK`), then the pid in `pidfile` (the `-P` option; the configuration is not
/// parsed on this path, as in ConMan). `None` if neither names a process.
///
/// For `-k`/`-r`/`-q` only: it opens and closes the configuration file, which would
/// release a [`ConfigLock`] held by the calling process.
pub fn find_daemon_pid(config_path: &Path, pidfile: Option<&Path>) -> Option<i32> {
    let from_lock = File::open(config_path)
        .ok()
        .and_then(|f| lock_holder(&f).ok().flatten());
    from_lock.or_else(|| pidfile.and_then(read_pidfile))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_in_one_process_succeeds_and_reads_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conman.conf");
        std::fs::write(&path, "server port=0\n").unwrap();
        let lock = ConfigLock::acquire(&path).unwrap();
        assert_eq!(lock.read_contents().unwrap(), b"server port=0\n");
        // Our own lock is invisible to us: no holder, and taking it again works.
        assert_eq!(lock_holder(&lock.file).unwrap(), None);
        let again = ConfigLock::acquire(&path).unwrap();
        drop(again);
        assert_eq!(lock.path(), path.as_path());
    }

    #[test]
    fn missing_config_is_an_open_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.conf");
        let err = ConfigLock::acquire(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Unable to open \"{}\": No such file or directory",
                path.display()
            )
        );
    }

    #[test]
    fn find_daemon_pid_falls_back_to_pidfile() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conman.conf");
        std::fs::write(&conf, "").unwrap();
        let pidfile = dir.path().join("conmand.pid");
        assert_eq!(find_daemon_pid(&conf, None), None);
        assert_eq!(find_daemon_pid(&conf, Some(&pidfile)), None);
        std::fs::write(&pidfile, "31337\n").unwrap();
        assert_eq!(find_daemon_pid(&conf, Some(&pidfile)), Some(31337));
        // A missing config file still allows the pidfile fallback.
        assert_eq!(
            find_daemon_pid(&dir.path().join("gone.conf"), Some(&pidfile)),
            Some(31337)
        );
    }
}
