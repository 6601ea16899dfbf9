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
/// `%Y-%m-%d %H:%M:%S %Z`, with the zone abbreviation (`UTC`, `CET`) from the same
/// rules the C library reads (`TZ`, `/etc/localtime`). The client's only clock read;
/// jiff, as in the daemon's `timefmt` (chrono's `%Z` prints an offset instead).
pub fn long_time_now() -> String {
    long_time(&jiff::ZonedDateTime::now())
}

fn long_time(t: &jiff::ZonedDateTime) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn long_time_shape() {
        let epoch = jiff::Timestamp::from_second(0).unwrap();
        let s = long_time(&epoch.in_tz("Europe/Berlin").unwrap());
        assert_eq!(s, "1970-01-01 01:00:00 CET");
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
