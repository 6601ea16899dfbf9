//! The in-band 0xFF escapes of the client → daemon byte stream (reference §3.7).
//!
//! After the handshake the client sends raw keystrokes. 0xFF ([`ESC_CHAR`]) is
//! the escape byte: `FF FF` is one literal 0xFF, `FF c` is a command for the
//! daemon (`B D F J L M Q R Z`); any other `c` is invalid, dropped together with
//! the 0xFF, and logged by the daemon as a warning.
//!
//! - The **daemon** runs one [`EscapeDecoder`] per client connection and feeds it
//!   every read. The decoder remembers an 0xFF at the end of one read, so `FF`
//!   and `c` may arrive in different reads. Data comes out as slices of the
//!   input (no copying): a literal 0xFF from `FF FF` is the second 0xFF byte of
//!   the input, so runs stay contiguous.
//! - The **client** uses [`escape_data`] on user data and
//!   [`EscapeCommand::to_bytes`] for commands.
//!
//! The direction daemon → client carries no escapes.

use bytes::BufMut;

/// ConMan's in-band escape byte (`ESC_CHAR`).
pub const ESC_CHAR: u8 = 0xFF;

/// A command a client sends as `FF <c>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscapeCommand {
    /// `B`: send a serial break to every console the client writes to.
    Break,
    /// `D`: write one DEL (0x7F) to every console the client writes to.
    Del,
    /// `F`: set force, clear join, toggle read-only ↔ read-write.
    Force,
    /// `J`: clear force, set join, toggle read-only ↔ read-write.
    Join,
    /// `L`: replay the last part of the console log.
    LogReplay,
    /// `M`: clear force and join, toggle read-only ↔ read-write.
    Monitor,
    /// `Q`: toggle quiet mode.
    Quiet,
    /// `R`: run the reset command for the consoles the client writes to.
    Reset,
    /// `Z`: toggle suspend (stop sending to this client).
    Suspend,
}

impl EscapeCommand {
    /// The command for the byte after 0xFF, if it is one (case-sensitive).
    pub const fn from_byte(c: u8) -> Option<EscapeCommand> {
        Some(match c {
            b'B' => EscapeCommand::Break,
            b'D' => EscapeCommand::Del,
            b'F' => EscapeCommand::Force,
            b'J' => EscapeCommand::Join,
            b'L' => EscapeCommand::LogReplay,
            b'M' => EscapeCommand::Monitor,
            b'Q' => EscapeCommand::Quiet,
            b'R' => EscapeCommand::Reset,
            b'Z' => EscapeCommand::Suspend,
            _ => return None,
        })
    }

    /// The byte that follows 0xFF for this command.
    pub const fn byte(self) -> u8 {
        match self {
            EscapeCommand::Break => b'B',
            EscapeCommand::Del => b'D',
            EscapeCommand::Force => b'F',
            EscapeCommand::Join => b'J',
            EscapeCommand::LogReplay => b'L',
            EscapeCommand::Monitor => b'M',
            EscapeCommand::Quiet => b'Q',
            EscapeCommand::Reset => b'R',
            EscapeCommand::Suspend => b'Z',
        }
    }

    /// The two bytes a client sends: `[0xFF, c]`.
    pub const fn to_bytes(self) -> [u8; 2] {
        [ESC_CHAR, self.byte()]
    }
}

/// What the daemon gets out of the client stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Console input, never empty; 0xFF bytes in it are literal data.
    Data(&'a [u8]),
    /// An escape command.
    Command(EscapeCommand),
    /// `FF c` with an unknown `c`; both bytes are dropped. ConMan logs
    /// `Received invalid escape '<c>' from <user@host:port>`.
    Invalid(u8),
}

/// Server-side decoder of the client byte stream; one per connection.
#[derive(Debug, Clone, Default)]
pub struct EscapeDecoder {
    /// The previous input ended with an unpaired 0xFF.
    pending: bool,
}

impl EscapeDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an 0xFF is waiting for its second byte.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// Decodes one read, calling `out` for each event in order. Data events are
    /// slices of `input`. An 0xFF at the end is remembered for the next call.
    pub fn feed<'a>(&mut self, input: &'a [u8], out: &mut impl FnMut(Event<'a>)) {
        // `start` is where the current data run begins; `i` where to look next.
        let mut start = 0;
        let mut i = 0;
        if self.pending && !input.is_empty() {
            self.pending = false;
            if input[0] == ESC_CHAR {
                i = 1; // the 0xFF itself is data: the run starts at 0
            } else {
                emit_escape(input[0], out);
                start = 1;
                i = 1;
            }
        }
        while let Some(off) = input[i..].iter().position(|&b| b == ESC_CHAR) {
            let pos = i + off;
            if pos > start {
                out(Event::Data(&input[start..pos]));
            }
            match input.get(pos + 1) {
                None => {
                    self.pending = true;
                    return;
                }
                Some(&ESC_CHAR) => {
                    // Literal 0xFF: keep the second one as the start of the next run.
                    start = pos + 1;
                    i = pos + 2;
                }
                Some(&c) => {
                    emit_escape(c, out);
                    start = pos + 2;
                    i = pos + 2;
                }
            }
        }
        if start < input.len() {
            out(Event::Data(&input[start..]));
        }
    }
}

/// Emits the event for `FF c` where `c != 0xFF`.
fn emit_escape<'a>(c: u8, out: &mut impl FnMut(Event<'a>)) {
    out(match EscapeCommand::from_byte(c) {
        Some(cmd) => Event::Command(cmd),
        None => Event::Invalid(c),
    });
}

/// Client side: appends `input` with every 0xFF doubled.
pub fn escape_data(input: &[u8], out: &mut impl BufMut) {
    let mut rest = input;
    while let Some(pos) = rest.iter().position(|&b| b == ESC_CHAR) {
        out.put_slice(&rest[..=pos]);
        out.put_u8(ESC_CHAR);
        rest = &rest[pos + 1..];
    }
    out.put_slice(rest);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// An owned event list with adjacent data merged, for comparisons.
    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Data(Vec<u8>),
        Command(EscapeCommand),
        Invalid(u8),
    }

    fn push(v: &mut Vec<Owned>, e: Event<'_>) {
        match e {
            Event::Data(d) => {
                assert!(!d.is_empty(), "empty data event");
                if let Some(Owned::Data(last)) = v.last_mut() {
                    last.extend_from_slice(d);
                } else {
                    v.push(Owned::Data(d.to_vec()));
                }
            }
            Event::Command(c) => v.push(Owned::Command(c)),
            Event::Invalid(c) => v.push(Owned::Invalid(c)),
        }
    }

    fn decode_chunks(chunks: &[&[u8]]) -> (Vec<Owned>, bool) {
        let mut d = EscapeDecoder::new();
        let mut v = Vec::new();
        for c in chunks {
            d.feed(c, &mut |e| push(&mut v, e));
        }
        (v, d.is_pending())
    }

    #[test]
    fn plain_data_is_one_zero_copy_slice() {
        let input = b"hello";
        let mut d = EscapeDecoder::new();
        let mut events = Vec::new();
        d.feed(input, &mut |e| events.push(e));
        assert_eq!(events, [Event::Data(&input[..])]);
        let Event::Data(s) = events[0] else { panic!() };
        assert!(std::ptr::eq(s.as_ptr(), input.as_ptr()));
    }

    #[test]
    fn doubled_ff_is_literal_and_runs_stay_contiguous() {
        let input = b"a\xff\xffb";
        let mut d = EscapeDecoder::new();
        let mut events = Vec::new();
        d.feed(input, &mut |e| events.push(e));
        assert_eq!(events, [Event::Data(b"a"), Event::Data(b"\xffb")]);
    }

    #[test]
    fn every_command_letter() {
        for (c, cmd) in [
            (b'B', EscapeCommand::Break),
            (b'D', EscapeCommand::Del),
            (b'F', EscapeCommand::Force),
            (b'J', EscapeCommand::Join),
            (b'L', EscapeCommand::LogReplay),
            (b'M', EscapeCommand::Monitor),
            (b'Q', EscapeCommand::Quiet),
            (b'R', EscapeCommand::Reset),
            (b'Z', EscapeCommand::Suspend),
        ] {
            assert_eq!(
                decode_chunks(&[&[b'x', 0xFF, c, b'y']]).0,
                [
                    Owned::Data(b"x".to_vec()),
                    Owned::Command(cmd),
                    Owned::Data(b"y".to_vec())
                ]
            );
            assert_eq!(cmd.to_bytes(), [0xFF, c]);
        }
    }

    #[test]
    fn unknown_escape_is_invalid_and_dropped() {
        assert_eq!(
            decode_chunks(&[b"a\xffxb\xff."]).0,
            [
                Owned::Data(b"a".to_vec()),
                Owned::Invalid(b'x'),
                Owned::Data(b"b".to_vec()),
                Owned::Invalid(b'.'),
            ]
        );
        assert_eq!(decode_chunks(&[b"\xffb"]).0, [Owned::Invalid(b'b')]);
    }

    #[test]
    fn escape_split_across_reads() {
        let (v, pending) = decode_chunks(&[b"ab\xff"]);
        assert_eq!(v, [Owned::Data(b"ab".to_vec())]);
        assert!(pending);
        assert_eq!(
            decode_chunks(&[b"ab\xff", b"Bc"]).0,
            [
                Owned::Data(b"ab".to_vec()),
                Owned::Command(EscapeCommand::Break),
                Owned::Data(b"c".to_vec())
            ]
        );
        assert_eq!(
            decode_chunks(&[b"\xff", b"", b"\xff", b"\xff", b"\xff"]),
            (vec![Owned::Data(vec![0xFF, 0xFF])], false)
        );
    }

    #[test]
    fn escape_data_doubles_ff() {
        let mut out = Vec::new();
        escape_data(b"a\xffb\xff\xff", &mut out);
        assert_eq!(out, b"a\xff\xffb\xff\xff\xff\xff");
        let mut out = Vec::new();
        escape_data(b"", &mut out);
        assert!(out.is_empty());
    }

    proptest! {
        #[test]
        fn split_anywhere_gives_the_same_events(
            input in proptest::collection::vec(
                prop_oneof![Just(0xFFu8), Just(b'B'), Just(b'x'), any::<u8>()], 0..64),
        ) {
            let whole = decode_chunks(&[&input]);
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                prop_assert_eq!(&decode_chunks(&[a, b]), &whole, "cut at {}", cut);
            }
            let bytewise: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(&decode_chunks(&bytewise), &whole);
        }

        #[test]
        fn escaped_data_decodes_to_itself(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut wire = Vec::new();
            escape_data(&data, &mut wire);
            let (events, pending) = decode_chunks(&[&wire]);
            prop_assert!(!pending);
            if data.is_empty() {
                prop_assert!(events.is_empty());
            } else {
                prop_assert_eq!(events, vec![Owned::Data(data)]);
            }
        }
    }
}
