//! The `conman.pswd` file on disk: the mode and owner check the daemon and
//! `conmand -t` make, and `conmand --pswd-set HOST-REGEX USER [--pswd FILE]`, which
//! puts a BMC password into the file without it passing through argv, shell history
//! or the terminal's echo.
//!
//! `--pswd-set` reads the password from the terminal (`/dev/tty`) with echo turned
//! off *before* the prompt is shown, twice, or, when standard input is not a
//! terminal, one line from standard input (for scripts; nothing is echoed or
//! printed). The text is edited by [`conmand_core::pswd::set_password`] (comments,
//! blank lines and other entries kept byte for byte) and written atomically: a new
//! file with mode 0600 in the same directory, `fsync`, `rename` over the old one,
//! `fsync` of the directory. A symbolic link as the target is refused.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use conmand_core::pswd::{SetOutcome, exposure_warnings, set_password, validate_entry};

use crate::cli::Cli;

/// Longest line read from a non-terminal standard input.
const MAX_STDIN_LINE: u64 = 4096;

/// Warnings about `path`'s mode and owner (group/other access, an owner other than
/// this process's effective user); empty when it is fine or cannot be examined.
pub fn exposure(path: &Path) -> Vec<String> {
    match std::fs::metadata(path) {
        Ok(m) => exposure_warnings(
            &path.display().to_string(),
            m.mode(),
            m.uid(),
            rustix::process::geteuid().as_raw(),
        ),
        Err(_) => Vec::new(),
    }
}

/// Why `--pswd-set` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// The entry cannot be written in the file's format.
    #[error("{0}")]
    Entry(#[from] conmand_core::pswd::EntryError),
    /// The target is a symbolic link.
    #[error("refusing to write through the symbolic link \"{0}\"")]
    Symlink(PathBuf),
    /// The target exists but is not a regular file.
    #[error("\"{0}\" is not a regular file")]
    NotAFile(PathBuf),
    /// The two passwords typed differ.
    #[error("the passwords do not match")]
    Mismatch,
    /// Reading the password or the file, or writing the file.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SetError {
    let what = what.into();
    move |source| SetError::Io { what, source }
}

/// `conmand --pswd-set`: returns the exit code (0 done, 1 refused or failed).
pub fn run_set_cli(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some([host, user]) = cli.pswd_set.as_deref() else {
        return 1;
    };
    let path = cli
        .pswd
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::run::DEFAULT_PSWD));
    match set(&path, host, user, &mut read_password) {
        Ok(how) => {
            let what = match how {
                SetOutcome::Replaced(1) => "replaced the password of 1 entry".to_string(),
                SetOutcome::Replaced(n) => format!("replaced the password of {n} entries"),
                SetOutcome::Appended => "added an entry".to_string(),
            };
            let _ = writeln!(
                out,
                "conmand: {what} for host regex \"{host}\" user \"{user}\" in \"{}\" (mode \
                 0600); \"conmand -r\" makes a running daemon read it",
                path.display()
            );
            0
        }
        Err(e) => {
            let _ = writeln!(err, "conmand: {}: {e}", path.display());
            1
        }
    }
}

/// Validates, asks `password` for the secret, edits and writes `path`.
///
/// # Errors
/// See [`SetError`]; the file is unchanged on any error.
pub fn set(
    path: &Path,
    host: &str,
    user: &str,
    password: &mut dyn FnMut(&str, &str) -> Result<String, SetError>,
) -> Result<SetOutcome, SetError> {
    // Refuse what can be refused before anyone types a secret.
    validate_entry(host, user, "x")?;
    let old = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(SetError::Symlink(path.into())),
        Ok(m) if !m.is_file() => return Err(SetError::NotAFile(path.into())),
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("unable to examine the file")(e)),
    };
    let text = match &old {
        Some(_) => read_nofollow(path).map_err(io_err("unable to read the file"))?,
        None => String::new(),
    };
    let secret = password(host, user)?;
    let (new, how) = set_password(&text, host, user, &secret)?;
    let owner = old.map(|m| (m.uid(), m.gid()));
    write_atomically(path, new.as_bytes(), owner).map_err(io_err("unable to write the file"))?;
    Ok(how)
}

fn read_nofollow(path: &Path) -> io::Result<String> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let mut b = Vec::new();
    f.read_to_end(&mut b)?;
    String::from_utf8(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// Write `data` to a new 0600 file next to `path`, flush it to disk and rename it
/// over `path`; `owner` (uid, gid) is kept when this process may set it.
fn write_atomically(path: &Path, data: &[u8], owner: Option<(u32, u32)>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
        .to_string_lossy()
        .into_owned();
    let (tmp_path, mut tmp) = (0..100)
        .find_map(|n| {
            let p = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
            let f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&p);
            match f {
                Ok(f) => Some(Ok((p, f))),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| Err(io::Error::from(io::ErrorKind::AlreadyExists)))?;
    let result = (|| {
        if let Some((uid, gid)) = owner {
            // Only root may give a file away; anyone else keeps their own.
            let _ = std::os::unix::fs::fchown(&tmp, Some(uid), Some(gid));
        }
        tmp.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        tmp.write_all(data)?;
        tmp.sync_all()?;
        std::fs::rename(&tmp_path, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

/// The interactive or piped password source of [`run_set_cli`].
fn read_password(host: &str, user: &str) -> Result<String, SetError> {
    if !rustix::termios::isatty(io::stdin()) {
        let mut line = String::new();
        io::stdin()
            .lock()
            .take(MAX_STDIN_LINE)
            .read_line(&mut line)
            .map_err(io_err("unable to read the password from standard input"))?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        return Ok(line.strip_suffix('\r').unwrap_or(line).to_string());
    }
    let first = prompt(&format!(
        "Password for user \"{user}\" on hosts \"{host}\": "
    ))?;
    let again = prompt("Retype the password: ")?;
    if first != again {
        return Err(SetError::Mismatch);
    }
    Ok(first)
}

/// Show `text` on the terminal with echo already off, and read one password.
fn prompt(text: &str) -> Result<String, SetError> {
    let mut tty = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
        .open("/dev/tty")
        .map_err(io_err("unable to open the terminal"))?;
    let _quiet = EchoOff::new(&tty).map_err(io_err("unable to turn the terminal's echo off"))?;
    tty.write_all(text.as_bytes())
        .and_then(|()| tty.flush())
        .map_err(io_err("unable to write to the terminal"))?;
    let pw = rpassword::read_password().map_err(io_err("unable to read the password"));
    let _ = tty.write_all(b"\n");
    pw
}

/// Terminal echo off for as long as this lives (typed-ahead input discarded).
struct EchoOff {
    tty: File,
    saved: rustix::termios::Termios,
}

impl EchoOff {
    fn new(tty: &File) -> io::Result<EchoOff> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let saved = tcgetattr(tty)?;
        let mut quiet = saved.clone();
        quiet.local_modes -= LocalModes::ECHO | LocalModes::ECHOE | LocalModes::ECHOK;
        quiet.local_modes |= LocalModes::ECHONL;
        tcsetattr(tty, OptionalActions::Flush, &quiet)?;
        Ok(EchoOff {
            tty: tty.try_clone()?,
            saved,
        })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            &self.tty,
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pw: &'static str) -> impl FnMut(&str, &str) -> Result<String, SetError> {
        move |_, _| Ok(pw.to_string())
    }

    #[test]
    fn creates_edits_and_keeps_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("conman.pswd");
        assert_eq!(
            set(&p, "bmc.*", "admin", &mut given("s3cret")).unwrap(),
            SetOutcome::Appended
        );
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "bmc.* : admin : s3cret\n"
        );
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        std::fs::write(&p, "# keep\nbmc.* : admin : s3cret : 0x01\nx:y:z\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            set(&p, "bmc.*", "admin", &mut given("n3w")).unwrap(),
            SetOutcome::Replaced(1)
        );
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "# keep\nbmc.* : admin : n3w : 0x01\nx:y:z\n"
        );
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn refuses_symlinks_bad_entries_and_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "h : u : old\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(
            set(&link, "h", "u", &mut given("pw")),
            Err(SetError::Symlink(_))
        ));
        let mut asked = false;
        let r = set(&real, "h", "a user", &mut |_, _| {
            asked = true;
            Ok("pw".into())
        });
        assert!(matches!(r, Err(SetError::Entry(_))));
        assert!(!asked, "a bad user is refused before the password is asked");
        let r = set(&real, "h", "u", &mut given("0123456789abcdefghijk"));
        assert!(r.unwrap_err().to_string().contains("at most 20"));
        assert!(matches!(
            set(dir.path(), "h", "u", &mut given("pw")),
            Err(SetError::NotAFile(_))
        ));
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "h : u : old\n");
    }

    #[test]
    fn exposure_reports_group_and_other_access() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("conman.pswd");
        std::fs::write(&p, "").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let w = exposure(&p);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains(&p.display().to_string()) && w[0].contains("mode 0640"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(exposure(&p).is_empty());
        assert!(exposure(&dir.path().join("missing")).is_empty());
    }
}
