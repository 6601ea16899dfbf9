//! The `conman` client's keyboard escape sequences (`&.`, `&?`, `&B`, …) as a pure state
//! machine.
//!
//! The client feeds every byte typed on the terminal into [`EscapeParser::feed`] and gets
//! back [`Action`]s: bytes to send to the daemon (already 0xFF-stuffed), or local things to
//! do (print the help, close, toggle echo, show info, suspend). This module does no I/O;
//! the session loop in the `conman` crate performs the actions.
//!
//! Rules (ConMan's `client-tty.c`, reference §4.5):
//! - the escape character (default `&`) is recognised anywhere in the input, not only
//!   after a newline; the key after it is matched case-sensitively;
//! - an escape used where it is not allowed does nothing and sends nothing;
//! - `&<other>` sends both bytes as data, `&&` sends one escape character;
//! - typed data (and `&<other>`) is sent only while the session writes (R/W or B/C);
//!   a read-only (monitor) session sends nothing but escape commands;
//! - every literal 0xFF in data is doubled on the wire.

/// The in-band escape byte on the client → daemon stream (ConMan's `ESC_CHAR`).
pub const WIRE_ESCAPE: u8 = 0xFF;

/// The default client escape character.
pub const DEFAULT_ESCAPE_CHAR: u8 = b'&';

/// The bytes sent for `&Z`, once when suspending and once when resuming.
pub const SUSPEND_SEQUENCE: [u8; 2] = [WIRE_ESCAPE, b'Z'];

/// How many bytes of the log `&L` replays (ConMan's `LOG_REPLAY_LEN`), shown in the help.
const LOG_REPLAY_LEN: usize = 4096;

/// ConMan builds the help in a 4 KiB buffer (`MAX_BUF_SIZE`); longer output is cut.
const HELP_BUF_SIZE: usize = 4096;

/// The session's access mode, which decides which escapes are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Monitor (`-m`, or after `&M`): reads only; typed data is not sent.
    ReadOnly,
    /// Connected to one console with write access.
    ReadWrite,
    /// Broadcast (write-only) to more than one console. Never changes.
    Broadcast,
}

impl Mode {
    /// True when typed data goes to the daemon (ConMan's `command == CONNECT`).
    pub fn writes(self) -> bool {
        !matches!(self, Mode::ReadOnly)
    }
}

/// What the client must do in response to typed input, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the daemon socket (0xFF already doubled where it is data).
    Send(Vec<u8>),
    /// Print this help text on the terminal (not into the `-l` log).
    Help(Vec<u8>),
    /// `&.`: echo [`EscapeParser::echo`]`(b'.')`, print the "closed" status line,
    /// half-close the socket and keep showing output until the daemon closes.
    Close,
    /// `&E`: toggle the terminal's local ECHO flag.
    ToggleEcho,
    /// `&I`: print the connection information line ([`info_line`]) for this mode (the
    /// mode when `&I` was typed, not after later keys of the same input).
    Info(Mode),
    /// `&Z`: echo [`EscapeParser::echo`]`(b'Z')`, send [`SUSPEND_SEQUENCE`], print
    /// "suspended", restore the tty, stop with SIGTSTP; on resume re-raw the tty, print
    /// "resumed" and send [`SUSPEND_SEQUENCE`] again.
    Suspend,
}

/// The escape state machine for one session.
#[derive(Clone, Debug)]
pub struct EscapeParser {
    /// The escape character (first byte of `-e` / `CONMAN_ESCAPE`).
    esc: u8,
    /// Current access mode; `&F`/`&J` turn R/O into R/W, `&M` turns R/W into R/O.
    mode: Mode,
    /// The daemon sent `OPTION=RESET`, so `&R` is offered and allowed.
    reset_allowed: bool,
    /// Number of consoles in the session ("node" vs "nodes" in the help).
    consoles: usize,
    /// Quiet mode as the client believes it to be (`-Q`, toggled by `&Q`).
    quiet: bool,
    /// Local echo as toggled by `&E` (starts off).
    echo: bool,
    /// The previous byte was the escape character.
    pending: bool,
}

impl EscapeParser {
    /// A parser for a session in `mode` with escape character `esc`. `reset_allowed` is
    /// whether the daemon's OK carried `OPTION=RESET`; `consoles` is how many consoles the
    /// daemon matched; `quiet` is whether `-Q` was given.
    pub fn new(esc: u8, mode: Mode, reset_allowed: bool, consoles: usize, quiet: bool) -> Self {
        Self {
            esc,
            mode,
            reset_allowed,
            consoles,
            quiet,
            echo: false,
            pending: false,
        }
    }

    /// The current access mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether local echo is on (toggled by `&E`).
    pub fn echo_enabled(&self) -> bool {
        self.echo
    }

    /// Whether quiet mode is on (from `-Q`, toggled by `&Q`).
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Feed typed bytes; returns the actions in order. Consecutive sends are merged.
    pub fn feed(&mut self, input: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        for &b in input {
            self.feed_byte(b, &mut out);
        }
        out
    }

    /// Process one typed byte, appending its actions to `out`.
    fn feed_byte(&mut self, c: u8, out: &mut Vec<Action>) {
        if !self.pending && c == self.esc {
            self.pending = true;
            return;
        }
        let mut data: Vec<u8> = Vec::with_capacity(2);
        if self.pending {
            self.pending = false;
            if self.command(c, out) {
                return;
            }
            // `&<other>` sends both; `&&` sends just one escape character.
            if c != self.esc {
                data.push(self.esc);
            }
        }
        data.push(c);
        if self.mode.writes() {
            let mut wire = Vec::with_capacity(4);
            for b in data {
                wire.push(b);
                if b == WIRE_ESCAPE {
                    wire.push(WIRE_ESCAPE);
                }
            }
            push_send(out, &wire);
        }
    }

    /// Handle the key after the escape character. Returns false if `c` is not a command
    /// key (then it is data).
    fn command(&mut self, c: u8, out: &mut Vec<Action>) -> bool {
        let writes = self.mode.writes();
        match c {
            b'B' | b'D' => {
                if writes {
                    push_send(out, &[WIRE_ESCAPE, c]);
                }
            }
            b'.' => out.push(Action::Close),
            b'E' => {
                if writes {
                    self.echo = !self.echo;
                    out.push(Action::ToggleEcho);
                }
            }
            b'F' | b'J' => {
                if self.mode == Mode::ReadOnly {
                    self.mode = Mode::ReadWrite;
                    push_send(out, &[WIRE_ESCAPE, c]);
                }
            }
            b'?' => out.push(Action::Help(self.help_text())),
            b'I' => out.push(Action::Info(self.mode)),
            b'L' => {
                if self.mode != Mode::Broadcast {
                    push_send(out, &[WIRE_ESCAPE, c]);
                }
            }
            b'M' => {
                if self.mode == Mode::ReadWrite {
                    self.mode = Mode::ReadOnly;
                    push_send(out, &[WIRE_ESCAPE, c]);
                }
            }
            b'Q' => {
                self.quiet = !self.quiet;
                push_send(out, &[WIRE_ESCAPE, c]);
            }
            b'R' => {
                if writes && self.reset_allowed {
                    push_send(out, &[WIRE_ESCAPE, c]);
                }
            }
            b'Z' => out.push(Action::Suspend),
            _ => return false,
        }
        true
    }

    /// The local echo of an escape sequence (`&.`, `&Z`), control characters as `^X`.
    pub fn echo(&self, key: u8) -> Vec<u8> {
        let mut v = render_esc_char(self.esc);
        v.extend(render_esc_char(key));
        v
    }

    /// The dynamic escape help for the current state, byte-identical to ConMan's.
    pub fn help_text(&self) -> Vec<u8> {
        let esc = render_esc_char(self.esc);
        let mut buf = b"\r\nSupported ConMan Escape Sequences:\r\n".to_vec();
        let mut line = |key: &[u8], text: &str| {
            buf.extend_from_slice(b"  ");
            buf.extend(std::iter::repeat_n(b' ', 2usize.saturating_sub(esc.len())));
            buf.extend_from_slice(&esc);
            buf.extend_from_slice(key);
            buf.extend(std::iter::repeat_n(b' ', 2usize.saturating_sub(key.len())));
            buf.extend_from_slice(b" -  ");
            buf.extend_from_slice(text.as_bytes());
            buf.extend_from_slice(b"\r\n");
        };
        let key = |c: u8| render_esc_char(c);
        let writes = self.mode.writes();
        let ro = self.mode == Mode::ReadOnly;
        line(&key(b'?'), "Display this help message.");
        line(&key(b'.'), "Terminate the connection.");
        line(&esc, "Send the escape character.");
        if writes {
            line(&key(b'B'), "Transmit a serial-break.");
            line(&key(b'D'), "Transmit a DEL character.");
            let verb = if self.echo { "Disable" } else { "Enable" };
            line(&key(b'E'), &format!("{verb} echoing of client input."));
        }
        if ro {
            line(&key(b'F'), "Force write-privileges (console-stealing).");
        }
        line(&key(b'I'), "Display connection information.");
        if ro {
            line(&key(b'J'), "Join write-privileges (console-sharing).");
        }
        if self.mode != Mode::Broadcast {
            line(
                &key(b'L'),
                &format!("Replay up to the last {LOG_REPLAY_LEN} bytes of the log."),
            );
        }
        if self.mode == Mode::ReadWrite {
            line(&key(b'M'), "Monitor without write-privileges (read-only).");
        }
        if self.quiet {
            line(&key(b'Q'), "Disable quiet-mode (display info msgs).");
        } else {
            line(&key(b'Q'), "Enable quiet-mode (suppress info msgs).");
        }
        if writes && self.reset_allowed {
            let s = if self.consoles == 1 { "" } else { "s" };
            line(
                &key(b'R'),
                &format!("Reset node{s} associated with this console."),
            );
        }
        line(&key(b'Z'), "Suspend the client.");
        if buf.len() >= HELP_BUF_SIZE {
            // ConMan keeps what fits in its buffer and ends it with "+\r\n".
            buf.truncate(HELP_BUF_SIZE - 4);
            buf.extend_from_slice(b"+\r\n");
        }
        buf
    }
}

/// Append `bytes` to the last action if it is a send, else push a new send.
fn push_send(out: &mut Vec<Action>, bytes: &[u8]) {
    if let Some(Action::Send(v)) = out.last_mut() {
        v.extend_from_slice(bytes);
    } else {
        out.push(Action::Send(bytes.to_vec()));
    }
}

/// Render an escape character the way ConMan shows it: the high bit is stripped, control
/// characters become `^X` and DEL becomes `^?`.
pub fn render_esc_char(c: u8) -> Vec<u8> {
    let c = c & 0x7F;
    match c {
        0..=0x1F => vec![b'^', c + b'@'],
        0x7F => b"^?".to_vec(),
        _ => vec![c],
    }
}

/// `\r\n<ConMan> ` + `text` + `.\r\n`: the frame of every client status line.
pub fn status_frame(text: &str) -> Vec<u8> {
    format!("\r\n<ConMan> {text}.\r\n").into_bytes()
}

/// A session status line: `Connection to console [<name>] <what>` for one console, or
/// `Broadcast to <N> consoles <what>` for several (`what` is `opened`, `closed`,
/// `terminated by server`, `suspended`, `resumed`).
pub fn status_line(consoles: &[String], what: &str) -> Vec<u8> {
    match consoles {
        [one] => status_frame(&format!("Connection to console [{one}] {what}")),
        many => status_frame(&format!("Broadcast to {} consoles {what}", many.len())),
    }
}

/// The `&I` line: `Connected R/O|R/W to console [<n>] on <host:port>` or
/// `Broadcasting to <N> consoles on <host:port>`.
pub fn info_line(consoles: &[String], mode: Mode, host: &str, port: u32) -> Vec<u8> {
    match consoles {
        [one] => {
            let rw = if mode == Mode::ReadOnly { "R/O" } else { "R/W" };
            status_frame(&format!(
                "Connected {rw} to console [{one}] on <{host}:{port}>"
            ))
        }
        many => status_frame(&format!(
            "Broadcasting to {} consoles on <{host}:{port}>",
            many.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sends(actions: &[Action]) -> Vec<u8> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(v) => Some(v.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn reference_wire_transcript() {
        // Reference §4.5, one R/W session with reset available.
        let mut p = EscapeParser::new(b'&', Mode::ReadWrite, true, 1, false);
        let input = b"&B &D &R &L &Q abc\xffdef && &x &M zz &F &J &M &J \r &.";
        // The spaces in the reference transcript separate keystrokes; they are not typed.
        let typed: Vec<u8> = input.iter().copied().filter(|&b| b != b' ').collect();
        let actions = p.feed(&typed);
        let mut want = Vec::new();
        for part in [
            &b"\xffB\xffD\xffR\xffL\xffQ"[..],
            b"abc\xff\xffdef",
            b"&",
            b"&x",
            b"\xffM",
            b"\xffF",
            b"\xffM",
            b"\xffJ",
            b"\r",
        ] {
            want.extend_from_slice(part);
        }
        assert_eq!(sends(&actions), want);
        assert_eq!(actions.last(), Some(&Action::Close));
        assert_eq!(p.mode(), Mode::ReadWrite);
    }

    #[test]
    fn escapes_are_case_sensitive_and_found_mid_line() {
        let mut p = EscapeParser::new(b'&', Mode::ReadWrite, false, 1, false);
        assert_eq!(sends(&p.feed(b"zz&b")), b"zz&b");
        assert_eq!(sends(&p.feed(b"zz&B")), b"zz\xffB");
    }

    #[test]
    fn escape_split_across_reads() {
        let mut p = EscapeParser::new(b'&', Mode::ReadWrite, false, 1, false);
        assert!(p.feed(b"&").is_empty());
        assert_eq!(p.feed(b"D"), vec![Action::Send(vec![0xFF, b'D'])]);
    }

    #[test]
    fn read_only_sends_only_commands() {
        let mut p = EscapeParser::new(b'&', Mode::ReadOnly, true, 1, false);
        let a = p.feed(b"hello\xff&&&x&B&D&E&R&M");
        assert!(sends(&a).is_empty(), "{a:?}");
        assert!(!a.contains(&Action::ToggleEcho));
        assert_eq!(sends(&p.feed(b"&Q&L")), b"\xffQ\xffL");
        assert!(p.quiet());
    }

    #[test]
    fn broadcast_rules() {
        let mut p = EscapeParser::new(b'&', Mode::Broadcast, true, 3, false);
        assert_eq!(
            sends(&p.feed(b"&L&M&F&J&B&D&R\xff")),
            b"\xffB\xffD\xffR\xff\xff"
        );
        assert_eq!(p.mode(), Mode::Broadcast);
        assert_eq!(p.feed(b"&E"), vec![Action::ToggleEcho]);
    }

    #[test]
    fn reset_needs_server_permission() {
        let mut p = EscapeParser::new(b'&', Mode::ReadWrite, false, 1, false);
        assert!(p.feed(b"&R").is_empty());
    }

    #[test]
    fn local_actions() {
        let mut p = EscapeParser::new(b'&', Mode::ReadOnly, false, 1, false);
        assert_eq!(p.feed(b"&I"), vec![Action::Info(Mode::ReadOnly)]);
        assert_eq!(
            p.feed(b"&J&I&M&I"),
            vec![
                Action::Send(vec![0xFF, b'J']),
                Action::Info(Mode::ReadWrite),
                Action::Send(vec![0xFF, b'M']),
                Action::Info(Mode::ReadOnly),
            ]
        );
        assert_eq!(p.feed(b"&Z"), vec![Action::Suspend]);
        assert_eq!(p.feed(b"&."), vec![Action::Close]);
        assert!(matches!(p.feed(b"&?").as_slice(), [Action::Help(_)]));
        assert_eq!(p.echo(b'.'), b"&.");
    }

    #[test]
    fn custom_and_control_escape_chars() {
        let mut p = EscapeParser::new(0x01, Mode::ReadWrite, false, 1, false);
        assert_eq!(sends(&p.feed(b"&B\x01B\x01\x01")), b"&B\xffB\x01");
        assert_eq!(p.echo(b'.'), b"^A.");
        assert_eq!(render_esc_char(0x7F), b"^?");
        assert_eq!(render_esc_char(0x00), b"^@");
        assert_eq!(render_esc_char(0xA6), b"&");
        assert_eq!(render_esc_char(b'%'), b"%");
    }

    #[test]
    fn escape_char_0xff_is_doubled_as_data() {
        let mut p = EscapeParser::new(0xFF, Mode::ReadWrite, false, 1, false);
        assert_eq!(sends(&p.feed(b"\xff\xff")), b"\xff\xff");
    }

    #[test]
    fn help_read_write_with_reset() {
        let p = EscapeParser::new(b'&', Mode::ReadWrite, true, 1, false);
        let want = concat!(
            "\r\nSupported ConMan Escape Sequences:\r\n",
            "   &?  -  Display this help message.\r\n",
            "   &.  -  Terminate the connection.\r\n",
            "   &&  -  Send the escape character.\r\n",
            "   &B  -  Transmit a serial-break.\r\n",
            "   &D  -  Transmit a DEL character.\r\n",
            "   &E  -  Enable echoing of client input.\r\n",
            "   &I  -  Display connection information.\r\n",
            "   &L  -  Replay up to the last 4096 bytes of the log.\r\n",
            "   &M  -  Monitor without write-privileges (read-only).\r\n",
            "   &Q  -  Enable quiet-mode (suppress info msgs).\r\n",
            "   &R  -  Reset node associated with this console.\r\n",
            "   &Z  -  Suspend the client.\r\n",
        );
        assert_eq!(String::from_utf8(p.help_text()).unwrap(), want);
    }

    #[test]
    fn help_read_only() {
        let p = EscapeParser::new(b'&', Mode::ReadOnly, true, 1, false);
        let want = concat!(
            "\r\nSupported ConMan Escape Sequences:\r\n",
            "   &?  -  Display this help message.\r\n",
            "   &.  -  Terminate the connection.\r\n",
            "   &&  -  Send the escape character.\r\n",
            "   &F  -  Force write-privileges (console-stealing).\r\n",
            "   &I  -  Display connection information.\r\n",
            "   &J  -  Join write-privileges (console-sharing).\r\n",
            "   &L  -  Replay up to the last 4096 bytes of the log.\r\n",
            "   &Q  -  Enable quiet-mode (suppress info msgs).\r\n",
            "   &Z  -  Suspend the client.\r\n",
        );
        assert_eq!(String::from_utf8(p.help_text()).unwrap(), want);
    }

    #[test]
    fn help_broadcast_percent_after_toggles() {
        let mut p = EscapeParser::new(b'%', Mode::Broadcast, true, 2, false);
        p.feed(b"%E%Q");
        let want = concat!(
            "\r\nSupported ConMan Escape Sequences:\r\n",
            "   %?  -  Display this help message.\r\n",
            "   %.  -  Terminate the connection.\r\n",
            "   %%  -  Send the escape character.\r\n",
            "   %B  -  Transmit a serial-break.\r\n",
            "   %D  -  Transmit a DEL character.\r\n",
            "   %E  -  Disable echoing of client input.\r\n",
            "   %I  -  Display connection information.\r\n",
            "   %Q  -  Disable quiet-mode (display info msgs).\r\n",
            "   %R  -  Reset nodes associated with this console.\r\n",
            "   %Z  -  Suspend the client.\r\n",
        );
        assert_eq!(String::from_utf8(p.help_text()).unwrap(), want);
    }

    #[test]
    fn help_control_escape_is_rendered_caret() {
        let p = EscapeParser::new(0x1D, Mode::ReadOnly, false, 1, false);
        let text = String::from_utf8(p.help_text()).unwrap();
        assert!(text.contains("\r\n  ^]?  -  Display this help message.\r\n"));
        assert!(text.contains("\r\n  ^]^] -  Send the escape character.\r\n"));
    }

    #[test]
    fn status_and_info_lines() {
        let one = vec!["node1".to_string()];
        let two = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            status_line(&one, "opened"),
            b"\r\n<ConMan> Connection to console [node1] opened.\r\n"
        );
        assert_eq!(
            status_line(&two, "terminated by server"),
            b"\r\n<ConMan> Broadcast to 2 consoles terminated by server.\r\n"
        );
        assert_eq!(
            info_line(&one, Mode::ReadWrite, "localhost", 7890),
            b"\r\n<ConMan> Connected R/W to console [node1] on <localhost:7890>.\r\n"
        );
        assert_eq!(
            info_line(&two, Mode::Broadcast, "localhost", 7890),
            b"\r\n<ConMan> Broadcasting to 2 consoles on <localhost:7890>.\r\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn chunking_does_not_matter(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            cut in 0usize..200,
        ) {
            let mut whole = EscapeParser::new(b'&', Mode::ReadWrite, true, 1, false);
            let mut split = whole.clone();
            let cut = cut.min(input.len());
            let a = sends(&whole.feed(&input));
            let mut b = sends(&split.feed(&input[..cut]));
            b.extend(sends(&split.feed(&input[cut..])));
            proptest::prop_assert_eq!(a, b);
        }

        #[test]
        fn plain_data_is_sent_with_0xff_doubled(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let input: Vec<u8> = input.into_iter().filter(|&b| b != b'&').collect();
            let mut p = EscapeParser::new(b'&', Mode::ReadWrite, false, 1, false);
            let want: Vec<u8> = input
                .iter()
                .flat_map(|&b| if b == 0xFF { vec![0xFF, 0xFF] } else { vec![b] })
                .collect();
            proptest::prop_assert_eq!(sends(&p.feed(&input)), want);
        }
    }
}
