//! The `-l FILE` session log: everything received from the daemon (and an error display),
//! framed by `Log started at …` / `Log finished at …` lines (ConMan's `open_client_log`,
//! `close_client_log`).
//!
//! The file is opened `O_WRONLY|O_CREAT|O_APPEND` with mode 0600. The client's own status
//! lines and the escape help are not logged.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use conmand_core::client_escape::status_frame;

/// An open session log.
#[derive(Debug)]
pub struct SessionLog {
    /// The path as given, for error messages.
    path: PathBuf,
    /// The open file (append mode).
    file: File,
}

impl SessionLog {
    /// Open (or create, mode 0600) `path` for appending and write the "started" line.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        let mut log = Self {
            path: path.to_path_buf(),
            file,
        };
        let line = status_frame(&format!("Log started at {}", long_time_now()));
        log.write(&line)?;
        Ok(log)
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append bytes received from the daemon (or an error display).
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)
    }

    /// Write the "finished" line and close.
    pub fn finish(mut self) -> io::Result<()> {
        let line = status_frame(&format!("Log finished at {}", long_time_now()));
        self.write(&line)
    }
}

/// The current local time as ConMan's `create_long_time_string`:
/// `%Y-%m-%d %H:%M:%S %Z` (zone abbreviation from the C library, e.g. `UTC`, `CET`).
pub fn long_time_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    strftime_local(i64::try_from(now).unwrap_or(0), c"%Y-%m-%d %H:%M:%S %Z")
}

/// Format `secs` since the epoch in local time with C `strftime`. Only the C library
/// knows the zone abbreviation (`%Z`) for the local zone rules (TZ, /etc/localtime).
#[allow(unsafe_code)]
fn strftime_local(secs: i64, fmt: &std::ffi::CStr) -> String {
    let t: libc::time_t = secs;
    let mut buf = [0u8; 128];
    // SAFETY: `tm` is plain old data, fully written by `localtime_r` before use (checked
    // by its non-null return). `strftime` writes at most `buf.len()` bytes into `buf`,
    // `fmt` is a valid NUL-terminated string, and the returned length is within `buf`.
    let n = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm)
    };
    String::from_utf8_lossy(&buf[..n.min(buf.len())]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn long_time_shape() {
        let s = strftime_local(0, c"%Y-%m-%d %H:%M:%S");
        assert_eq!(s.len(), 19, "{s}");
        let now = long_time_now();
        assert!(now.len() > 20, "{now}");
        assert_eq!(&now[4..5], "-");
        assert_eq!(&now[19..20], " ");
    }

    #[test]
    fn log_lines_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.log");
        let mut log = SessionLog::open(&p).unwrap();
        log.write(b"data").unwrap();
        log.finish().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("\r\n<ConMan> Log started at "), "{text:?}");
        assert!(
            text.contains(".\r\ndata\r\n<ConMan> Log finished at "),
            "{text:?}"
        );
        assert!(text.ends_with(".\r\n"));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Appends, never truncates.
        SessionLog::open(&p).unwrap().finish().unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().starts_with(&text));
    }
}
