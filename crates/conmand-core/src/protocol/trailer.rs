//! The plain-text lines that follow errors 6 and 7 (reference §3.5).
//!
//! After `ERROR CODE=6 ...` the server writes each matched console name on its
//! own line; after `ERROR CODE=7 ...` one line per writer of each busy console.
//! Then it closes. These lines are *not* lex-encoded: names go out as they are.
//! ConMan's client simply copies everything after the error line to stderr.

use bytes::BufMut;

use crate::notice::time_delta;

/// Appends the error-6 trailer: `name\n` for each matched console, in the order
/// given (the server passes them sorted).
pub fn encode_match_list<'a>(names: impl IntoIterator<Item = &'a str>, out: &mut impl BufMut) {
    for name in names {
        out.put_slice(name.as_bytes());
        out.put_u8(b'\n');
    }
}

/// One writer of a busy console, for the error-7 trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyWriter<'a> {
    /// The console's name.
    pub console: &'a str,
    /// The writer is a broadcast client (shown as `B/C` instead of `R/W`).
    pub broadcast: bool,
    /// The writer's user name from its greeting.
    pub user: &'a str,
    /// The writer's short host name (or IP).
    pub host: &'a str,
    /// The writer's tty, if it sent one.
    pub tty: Option<&'a str>,
    /// Seconds since the writer last sent any byte (escapes included).
    pub idle_secs: u64,
}

impl BusyWriter<'_> {
    /// Appends
    /// `Console [<name>] open R/W|B/C by <user@host>[ on <tty>] (idle <delta>).\n`.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(b"Console [");
        out.put_slice(self.console.as_bytes());
        out.put_slice(if self.broadcast {
            b"] open B/C by <"
        } else {
            b"] open R/W by <"
        });
        out.put_slice(self.user.as_bytes());
        out.put_u8(b'@');
        out.put_slice(self.host.as_bytes());
        out.put_u8(b'>');
        if let Some(tty) = self.tty {
            out.put_slice(b" on ");
            out.put_slice(tty.as_bytes());
        }
        out.put_slice(b" (idle ");
        out.put_slice(time_delta(self.idle_secs).as_bytes());
        out.put_slice(b").\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_list_is_one_name_per_line() {
        let mut out = Vec::new();
        encode_match_list(["node1", "node2", "node10"], &mut out);
        assert_eq!(out, b"node1\nnode2\nnode10\n");
    }

    #[test]
    fn busy_line_matches_the_observed_text() {
        let mut out = Vec::new();
        BusyWriter {
            console: "node2",
            broadcast: false,
            user: "alice",
            host: "localhost",
            tty: Some("pts/1"),
            idle_secs: 3,
        }
        .encode(&mut out);
        assert_eq!(
            out,
            b"Console [node2] open R/W by <alice@localhost> on pts/1 (idle 3s).\n"
        );
    }

    #[test]
    fn busy_line_broadcast_without_tty() {
        let mut out = Vec::new();
        BusyWriter {
            console: "n'2",
            broadcast: true,
            user: "dave",
            host: "10.0.0.1",
            tty: None,
            idle_secs: 125,
        }
        .encode(&mut out);
        assert_eq!(
            out,
            b"Console [n'2] open B/C by <dave@10.0.0.1> (idle 2m5s).\n"
        );
    }
}
