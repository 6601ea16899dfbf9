//! The text of an OS error as ConMan prints it (C's `strerror`).
//!
//! Rust's `io::Error` shows an OS error as `No such file or directory (os error 2)`;
//! ConMan's messages (and therefore ours, byte for byte) end at the C library's text.
//! This is the one place that turns an `io::Error` into that text, for the daemon and
//! the client alike. It only formats a value it is given: no I/O.

use std::io;

/// `strerror`-style text of an error: an OS error without std's ` (os error N)`
/// suffix (`No such file or directory`); any other error as it displays.
pub fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => match text.strip_suffix(&format!(" (os error {code})")) {
            Some(bare) => bare.to_owned(),
            None => text,
        },
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_lose_the_rust_suffix() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(strerror(&e), "Connection refused");
        let e = io::Error::from_raw_os_error(libc::ELOOP);
        assert_eq!(strerror(&e), "Too many levels of symbolic links");
    }

    #[test]
    fn other_errors_print_as_they_are() {
        assert_eq!(strerror(&io::Error::other("plain")), "plain");
        let simple = io::Error::from(io::ErrorKind::WriteZero);
        assert_eq!(strerror(&simple), simple.to_string());
    }
}
