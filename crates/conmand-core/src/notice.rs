//! Texts the daemon sends to clients and writes into console logs (reference
//! §3.8, §2.2, §5.6, §5.7, §5.9).
//!
//! Every message is framed as `"\r\n<ConMan> " + text + ".\r\n"` ([`PREFIX`],
//! [`SUFFIX`]). A [`Notice`] carries the text and whether it is an *info*
//! message: info messages are not queued for a client in quiet mode (ConMan's
//! `isInfo`), and writing one into a log resets the log's line state
//! ([`crate::logline::LineProcessor::reset`]).
//!
//! Constructors take plain values; the caller supplies times already formatted:
//! `t` is the short local time `MM-DD HH:MM` (strftime `%m-%d %H:%M`), `long` the
//! long local time `YYYY-MM-DD HH:MM:SS ZONE` (`%Y-%m-%d %H:%M:%S %Z`).
//!
//! Version note: HEAD ConMan writes console state messages (connected,
//! disconnected) without a time, 0.2.7 appended ` at <t>`. Those constructors
//! take `at: Option<&str>` so the daemon can choose; joined/stolen/departed
//! always carry ` at <t>` in both versions.
//!
//! [`time_delta`] is ConMan's duration format (`create_time_delta_string`).

use std::fmt;

use bytes::BufMut;

/// What goes before the text of every info message.
pub const PREFIX: &str = "\r\n<ConMan> ";
/// What goes after the text of every info message.
pub const SUFFIX: &str = ".\r\n";

/// One daemon message, unframed, with its quiet-mode class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text between [`PREFIX`] and [`SUFFIX`].
    text: String,
    /// Suppressed for quiet clients, and resets the log line state.
    info: bool,
}

impl Notice {
    /// An info message (suppressed in quiet mode).
    pub fn info(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            info: true,
        }
    }

    /// A message always delivered, even in quiet mode.
    pub fn always(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            info: false,
        }
    }

    /// The text without framing.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is an info message: not sent to clients in quiet mode.
    pub fn is_info(&self) -> bool {
        self.info
    }

    /// Appends the framed bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(PREFIX.as_bytes());
        out.put_slice(self.text.as_bytes());
        out.put_slice(SUFFIX.as_bytes());
    }

    /// The framed bytes, `"\r\n<ConMan> " + text + ".\r\n"`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(PREFIX.len() + self.text.len() + SUFFIX.len());
        self.encode(&mut v);
        v
    }
}

/// A client as named in messages: `<user@host>[ on <tty>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who<'a> {
    /// The user name from the greeting.
    pub user: &'a str,
    /// The client's short host name (or IP address).
    pub host: &'a str,
    /// The client's tty, if it sent one.
    pub tty: Option<&'a str>,
}

impl fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}@{}>", self.user, self.host)?;
        if let Some(tty) = self.tty {
            write!(f, " on {tty}")?;
        }
        Ok(())
    }
}

/// What a console is connected to, as written in state messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// A serial device or unix socket path: `"<path>"`.
    Path(&'a str),
    /// A process console: `"<prog>" (pid <pid>)`; `prog` is argv\[0\]'s basename.
    Process {
        /// The program name.
        prog: &'a str,
        /// The child's process id.
        pid: u32,
    },
    /// A telnet console: `<host:port>`.
    Telnet {
        /// Host as configured.
        host: &'a str,
        /// TCP port.
        port: u16,
    },
    /// An IPMI console: `<host>` (the configured host string, which may carry
    /// a `:port`).
    Ipmi(&'a str),
}

impl fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Path(p) => write!(f, "\"{p}\""),
            Endpoint::Process { prog, pid } => write!(f, "\"{prog}\" (pid {pid})"),
            Endpoint::Telnet { host, port } => write!(f, "<{host}:{port}>"),
            Endpoint::Ipmi(h) => write!(f, "<{h}>"),
        }
    }
}

/// Appends ` at <t>` when a time is given.
fn at_suffix(at: Option<&str>) -> String {
    at.map(|t| format!(" at {t}")).unwrap_or_default()
}

/// `Console [<n>] connected to <endpoint>[ at <t>]` (info).
pub fn connected(console: &str, to: &Endpoint<'_>, at: Option<&str>) -> Notice {
    Notice::info(format!(
        "Console [{console}] connected to {to}{}",
        at_suffix(at)
    ))
}

/// `Console [<n>] disconnected from <endpoint>[ after <delta>][ at <t>]` (info).
/// ConMan gives `after` (the up time, see [`time_delta`]) for process consoles.
pub fn disconnected(
    console: &str,
    from: &Endpoint<'_>,
    after_secs: Option<u64>,
    at: Option<&str>,
) -> Notice {
    let after = after_secs
        .map(|s| format!(" after {}", time_delta(s)))
        .unwrap_or_default();
    Notice::info(format!(
        "Console [{console}] disconnected from {from}{after}{}",
        at_suffix(at)
    ))
}

/// `Console [<n>] is currently disconnected from <endpoint>` (info), sent only
/// to a client attaching to a down console. For a process console ConMan names
/// the program without a pid, so the pid of [`Endpoint::Process`] is ignored.
pub fn currently_disconnected(console: &str, from: &Endpoint<'_>) -> Notice {
    let from = match from {
        Endpoint::Process { prog, .. } => format!("\"{prog}\""),
        other => other.to_string(),
    };
    Notice::info(format!(
        "Console [{console}] is currently disconnected from {from}"
    ))
}

/// `Console [<n>] connection failed: <detail>` (info), e.g. with detail
/// `"prog" not executable`.
pub fn connection_failed(console: &str, detail: &str) -> Notice {
    Notice::info(format!("Console [{console}] connection failed: {detail}"))
}

/// Announces a new writer to the console's readers and writers (info):
/// `Console [<n>] joined[ for B/C] by <u@h>[ on <tty>] at <t>`, or `stolen`
/// instead of `joined` when `stolen` (FORCE and the console had writers).
pub fn writer_arrived(
    console: &str,
    who: &Who<'_>,
    broadcast: bool,
    stolen: bool,
    t: &str,
) -> Notice {
    Notice::info(format!(
        "Console [{console}] {}{} by {who} at {t}",
        if stolen { "stolen" } else { "joined" },
        if broadcast { " for B/C" } else { "" },
    ))
}

/// Tells an arriving writer about one existing writer (info):
/// `Console [<n>] joined with <u@h>[ on <tty>] at <t>`, or `stolen from`.
pub fn existing_writer(console: &str, other: &Who<'_>, stolen: bool, t: &str) -> Notice {
    Notice::info(format!(
        "Console [{console}] {} {other} at {t}",
        if stolen { "stolen from" } else { "joined with" },
    ))
}

/// `Console [<n>] departed by <u@h>[ on <tty>] at <t>` (info).
pub fn departed(console: &str, who: &Who<'_>, t: &str) -> Notice {
    Notice::info(format!("Console [{console}] departed by {who} at {t}"))
}

/// The reply to `&Q` (always delivered):
/// `Quiet-mode enabled -- info msgs will be suppressed` or
/// `Quiet-mode disabled -- info msgs will be displayed`.
pub fn quiet_mode(enabled: bool) -> Notice {
    Notice::always(if enabled {
        "Quiet-mode enabled -- info msgs will be suppressed"
    } else {
        "Quiet-mode disabled -- info msgs will be displayed"
    })
}

/// `Begin log replay of console [<n>]` (always delivered).
pub fn begin_replay(console: &str) -> Notice {
    Notice::always(format!("Begin log replay of console [{console}]"))
}

/// `End log replay of console [<n>]` (always delivered).
pub fn end_replay(console: &str) -> Notice {
    Notice::always(format!("End log replay of console [{console}]"))
}

/// The whole `&L` reply as one block: begin notice, `tail` (the last bytes of
/// the processed log, at most 4096, chosen by the caller), end notice.
pub fn replay_block(console: &str, tail: &[u8]) -> Vec<u8> {
    let mut out = begin_replay(console).to_bytes();
    out.extend_from_slice(tail);
    end_replay(console).encode(&mut out);
    out
}

/// `Console [<n>] is not being logged -- cannot replay` (always delivered).
pub fn not_logged(console: &str) -> Notice {
    Notice::always(format!(
        "Console [{console}] is not being logged -- cannot replay"
    ))
}

/// `Console [<n>] reset by <u@h> (pid <pid>)` (info; HEAD text).
pub fn reset_by(console: &str, user: &str, host: &str, pid: u32) -> Notice {
    Notice::info(format!(
        "Console [{console}] reset by <{user}@{host}> (pid {pid})"
    ))
}

/// `Ignoring reset of console [<n>]: pid <pid> still active` (info).
pub fn reset_ignored(console: &str, pid: u32) -> Notice {
    Notice::info(format!(
        "Ignoring reset of console [{console}]: pid {pid} still active"
    ))
}

/// `Unable to reset console [<n>]: <reason>` (info), e.g. `command too long`
/// or `fork failed: <err>`.
pub fn reset_failed(console: &str, reason: &str) -> Notice {
    Notice::info(format!("Unable to reset console [{console}]: {reason}"))
}

/// `Unable to create timer for reset of console [<n>]: <err>` (info).
pub fn reset_timer_failed(console: &str, err: &str) -> Notice {
    Notice::info(format!(
        "Unable to create timer for reset of console [{console}]: {err}"
    ))
}

/// `Console [<n>] log opened at <long>`: the header written to a log file each
/// time it is opened. Not marked info in ConMan, so the caller resets the line
/// state explicitly afterwards.
pub fn log_opened(console: &str, long: &str) -> Notice {
    Notice::always(format!("Console [{console}] log opened at {long}"))
}

/// `Console [<n>] log at <long>`: the periodic timestamp mark (info).
pub fn log_at(console: &str, long: &str) -> Notice {
    Notice::info(format!("Console [{console}] log at {long}"))
}

/// Longest client-supplied label [`printable_label`] keeps, in characters: more than
/// any login name, tty or DNS name (253) needs.
pub const MAX_LABEL_CHARS: usize = 255;

/// What [`printable_label`] puts in place of a control character or sequence.
pub const LABEL_PLACEHOLDER: char = '?';

/// Makes a string a client or the network supplied (`USER=`, `TTY=`, a reverse-DNS
/// name) safe to show on other operators' terminals and to write into logs.
///
/// Every control character (C0, DEL, C1) becomes [`LABEL_PLACEHOLDER`]; an escape
/// sequence (ESC followed by a CSI `ESC [ … final`, an OSC/DCS/PM/APC string up to
/// BEL or `ESC \`, or one more character) becomes one placeholder, so no part of it
/// reaches a terminal. Unicode bidirectional and zero-width format characters, which
/// can make a name display as another, are replaced too. The result is cut to
/// [`MAX_LABEL_CHARS`] characters. Printable text is returned unchanged.
pub fn printable_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_LABEL_CHARS));
    let mut kept = 0;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if kept == MAX_LABEL_CHARS {
            break;
        }
        let shown = if c == '\u{1b}' {
            skip_escape_sequence(&mut chars);
            LABEL_PLACEHOLDER
        } else if c.is_control() || is_format_control(c) {
            LABEL_PLACEHOLDER
        } else {
            c
        };
        out.push(shown);
        kept += 1;
    }
    out
}

/// Consumes the rest of an escape sequence after ESC (ECMA-48 shapes).
fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        // CSI: parameter and intermediate bytes, then one final byte.
        Some('[') => {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) || !(' '..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \\).
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        _ => {}
    }
}

/// Bidirectional overrides and isolates, zero-width characters and the BOM.
fn is_format_control(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Formats a duration like ConMan's `create_time_delta_string`: only the
/// largest non-zero unit and everything below it are shown, with years of 52
/// weeks: `0s`, `2m5s`, `1h0m3s`, `1d0h0m0s`, `1w…`, `1y0w0d0h0m0s`.
pub fn time_delta(secs: u64) -> String {
    let seconds = secs % 60;
    let n = secs / 60;
    let minutes = n % 60;
    let n = n / 60;
    let hours = n % 24;
    let n = n / 24;
    let days = n % 7;
    let n = n / 7;
    let weeks = n % 52;
    let years = n / 52;
    if years > 0 {
        format!("{years}y{weeks}w{days}d{hours}h{minutes}m{seconds}s")
    } else if weeks > 0 {
        format!("{weeks}w{days}d{hours}h{minutes}m{seconds}s")
    } else if days > 0 {
        format!("{days}d{hours}h{minutes}m{seconds}s")
    } else if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "11-25 07:43";
    const ALICE: Who<'static> = Who {
        user: "alice",
        host: "localhost",
        tty: Some("pts/1"),
    };
    const BOB: Who<'static> = Who {
        user: "bob",
        host: "localhost",
        tty: None,
    };

    fn framed(n: &Notice) -> String {
        String::from_utf8(n.to_bytes()).unwrap()
    }

    #[test]
    fn printable_label_keeps_ordinary_names() {
        for s in ["alice", "pts/3", "node-1.example.com", "Zoë", "", "a b"] {
            assert_eq!(printable_label(s), s);
        }
    }

    #[test]
    fn printable_label_replaces_controls_and_whole_escape_sequences() {
        let cases = [
            ("\x1b[2J", "?"),
            ("a\x1b[2Jb", "a?b"),
            ("\x1b[1;31mred\x1b[0m", "?red?"),
            ("\x1b]0;pwned\x07x", "?x"),
            ("\x1b]0;pwned\x1b\\x", "?x"),
            ("\x1bcx", "?x"),
            ("\x1b", "?"),
            ("tab\there", "tab?here"),
            ("nl\r\nx", "nl??x"),
            ("del\x7f", "del?"),
            ("c1\u{9b}2J", "c1?2J"),
            ("bidi\u{202e}txt", "bidi?txt"),
            ("zw\u{200b}j", "zw?j"),
        ];
        for (raw, want) in cases {
            let got = printable_label(raw);
            assert_eq!(got, want, "{raw:?}");
            assert!(!got.chars().any(|c| c.is_control()), "{got:?}");
        }
    }

    #[test]
    fn printable_label_is_bounded() {
        let long = "x".repeat(5000);
        assert_eq!(printable_label(&long).chars().count(), MAX_LABEL_CHARS);
        let controls = "\x01".repeat(5000);
        assert_eq!(printable_label(&controls), "?".repeat(MAX_LABEL_CHARS));
    }

    proptest::proptest! {
        /// Whatever comes in, nothing that a terminal interprets comes out.
        #[test]
        fn printable_label_output_has_no_controls(s in "\\PC*|[\\x00-\\x7f\\u{80}-\\u{9f}\\u{202a}-\\u{202e}]{0,400}") {
            let out = printable_label(&s);
            proptest::prop_assert!(!out.chars().any(|c| c.is_control() || is_format_control(c)));
            proptest::prop_assert!(out.chars().count() <= MAX_LABEL_CHARS);
        }
    }

    #[test]
    fn framing() {
        assert_eq!(framed(&Notice::info("x")), "\r\n<ConMan> x.\r\n");
    }

    #[test]
    fn time_delta_units() {
        assert_eq!(time_delta(0), "0s");
        assert_eq!(time_delta(59), "59s");
        assert_eq!(time_delta(60), "1m0s");
        assert_eq!(time_delta(125), "2m5s");
        assert_eq!(time_delta(3603), "1h0m3s");
        assert_eq!(time_delta(86_400), "1d0h0m0s");
        assert_eq!(time_delta(7 * 86_400 + 61), "1w0d0h1m1s");
        assert_eq!(time_delta(52 * 7 * 86_400), "1y0w0d0h0m0s");
        assert_eq!(
            time_delta(2 * 52 * 7 * 86_400 + 3 * 7 * 86_400 + 4 * 86_400 + 5 * 3600 + 6 * 60 + 7),
            "2y3w4d5h6m7s"
        );
    }

    #[test]
    fn writer_messages_match_observed_texts() {
        // Observed in client-multi-join-force-busy.txt and the §3.9 transcript.
        let pts12 = Who {
            user: "root",
            host: "localhost",
            tty: Some("pts/12"),
        };
        assert_eq!(
            framed(&writer_arrived("echo1", &pts12, false, false, T)),
            "\r\n<ConMan> Console [echo1] joined by <root@localhost> on pts/12 at 11-25 07:43.\r\n"
        );
        assert_eq!(
            framed(&existing_writer("echo1", &pts12, false, T)),
            "\r\n<ConMan> Console [echo1] joined with <root@localhost> on pts/12 at 11-25 07:43.\r\n"
        );
        assert_eq!(
            existing_writer("echo1", &pts12, true, T).text(),
            "Console [echo1] stolen from <root@localhost> on pts/12 at 11-25 07:43"
        );
        assert_eq!(
            writer_arrived("node2", &ALICE, true, false, T).text(),
            "Console [node2] joined for B/C by <alice@localhost> on pts/1 at 11-25 07:43"
        );
        assert_eq!(
            writer_arrived("node2", &BOB, true, true, T).text(),
            "Console [node2] stolen for B/C by <bob@localhost> at 11-25 07:43"
        );
        assert_eq!(
            departed("echo1", &pts12, T).text(),
            "Console [echo1] departed by <root@localhost> on pts/12 at 11-25 07:43"
        );
        for n in [
            writer_arrived("x", &BOB, false, false, T),
            existing_writer("x", &BOB, false, T),
            departed("x", &BOB, T),
        ] {
            assert!(n.is_info());
        }
    }

    #[test]
    fn console_state_messages() {
        let sh = Endpoint::Process {
            prog: "sh",
            pid: 11849,
        };
        assert_eq!(
            connected("loop", &sh, None).text(),
            "Console [loop] connected to \"sh\" (pid 11849)"
        );
        // 0.2.7 form, as in log-process-loop.log.
        assert_eq!(
            framed(&connected("loop", &sh, Some("11-25 07:42"))),
            "\r\n<ConMan> Console [loop] connected to \"sh\" (pid 11849) at 11-25 07:42.\r\n"
        );
        assert_eq!(
            disconnected("loop", &sh, Some(125), None).text(),
            "Console [loop] disconnected from \"sh\" (pid 11849) after 2m5s"
        );
        assert_eq!(
            connected(
                "s2n1",
                &Endpoint::Telnet {
                    host: "localhost",
                    port: 7302
                },
                None
            )
            .text(),
            "Console [s2n1] connected to <localhost:7302>"
        );
        assert_eq!(
            disconnected("bmc1", &Endpoint::Ipmi("127.0.0.1:9001"), None, None).text(),
            "Console [bmc1] disconnected from <127.0.0.1:9001>"
        );
        assert_eq!(
            connected("serA", &Endpoint::Path("/dev/ttyS0"), None).text(),
            "Console [serA] connected to \"/dev/ttyS0\""
        );
        assert_eq!(
            currently_disconnected("cat", &sh).text(),
            "Console [cat] is currently disconnected from \"sh\""
        );
        assert_eq!(
            currently_disconnected(
                "t",
                &Endpoint::Telnet {
                    host: "h",
                    port: 23
                }
            )
            .text(),
            "Console [t] is currently disconnected from <h:23>"
        );
        assert_eq!(
            connection_failed("p", "\"prog\" not executable").text(),
            "Console [p] connection failed: \"prog\" not executable"
        );
        assert!(currently_disconnected("cat", &sh).is_info());
    }

    #[test]
    fn escape_replies_are_not_info() {
        let q = quiet_mode(true);
        assert_eq!(
            q.text(),
            "Quiet-mode enabled -- info msgs will be suppressed"
        );
        assert!(!q.is_info());
        assert_eq!(
            quiet_mode(false).text(),
            "Quiet-mode disabled -- info msgs will be displayed"
        );
        assert!(!not_logged("x").is_info());
        assert_eq!(
            not_logged("x").text(),
            "Console [x] is not being logged -- cannot replay"
        );
        assert_eq!(
            replay_block("c", b"tail"),
            b"\r\n<ConMan> Begin log replay of console [c].\r\ntail\
\r\n<ConMan> End log replay of console [c].\r\n"
                .to_vec()
        );
        assert!(!begin_replay("c").is_info() && !end_replay("c").is_info());
    }

    #[test]
    fn reset_messages() {
        assert_eq!(
            reset_by("n1", "alice", "localhost", 4242).text(),
            "Console [n1] reset by <alice@localhost> (pid 4242)"
        );
        assert_eq!(
            reset_ignored("n1", 4242).text(),
            "Ignoring reset of console [n1]: pid 4242 still active"
        );
        assert_eq!(
            reset_failed("n1", "command too long").text(),
            "Unable to reset console [n1]: command too long"
        );
        assert_eq!(
            reset_timer_failed("n1", "oops").text(),
            "Unable to create timer for reset of console [n1]: oops"
        );
        assert!(reset_by("n1", "a", "h", 1).is_info());
    }

    #[test]
    fn log_headers_match_the_sample_logs() {
        assert_eq!(
            framed(&log_opened("bmc623b", "2026-11-25 07:39:23 UTC")),
            "\r\n<ConMan> Console [bmc623b] log opened at 2026-11-25 07:39:23 UTC.\r\n"
        );
        assert_eq!(
            framed(&log_at("bmc623b", "2026-11-25 07:39:59 UTC")),
            "\r\n<ConMan> Console [bmc623b] log at 2026-11-25 07:39:59 UTC.\r\n"
        );
        assert!(!log_opened("x", "t").is_info());
        assert!(log_at("x", "t").is_info());
    }
}
