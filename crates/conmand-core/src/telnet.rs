//! Telnet client-side protocol for terminal-server consoles, as a sans-IO state machine.
//!
//! The daemon's telnet backend feeds every byte it reads from the terminal server into a
//! [`Parser`] and gets back the console data with all telnet commands removed, the
//! replies to send back, and [`Event`]s to log. Nothing here touches a socket.
//!
//! Negotiation follows ConMan HEAD (`server-telnet.c`), which does no RFC 1143 Q-method
//! state tracking:
//!
//! - on connect the client sends [`OPENING`]: `DO BINARY, DO ECHO, DO SGA, WILL BINARY,
//!   WILL SGA`;
//! - `DO x` for x other than BINARY or SGA is answered `WONT x`;
//! - `WILL x` for x other than BINARY, ECHO or SGA is answered `DONT x`;
//! - `DONT x` is ignored silently, and so is `WONT x` for other options;
//! - `WONT` BINARY, ECHO or SGA gives a NOTICE ([`Event::Refused`]);
//! - any other command (NOP, BRK, AYT, ...) gives an INFO ([`Event::Ignored`]);
//! - a byte after IAC that is not a telnet command (< 236) gives a DEBUG
//!   ([`Event::Invalid`]).
//!
//! Two ConMan bugs are fixed here: `IAC IAC` inside a subnegotiation no longer leaks a
//! 0xFF into the console data (it is part of the discarded subnegotiation), and data
//! sent to the console has its 0xFF bytes doubled ([`escape_into`]).
//!
//! The parser keeps its state between calls, so a command split across reads (even one
//! byte at a time) is handled the same as one that arrives whole.

use crate::config::Priority;

/// Interpret As Command.
pub const IAC: u8 = 255;
/// `DONT` (254).
pub const DONT: u8 = 254;
/// `DO` (253).
pub const DO: u8 = 253;
/// `WONT` (252).
pub const WONT: u8 = 252;
/// `WILL` (251).
pub const WILL: u8 = 251;
/// Subnegotiation begin (250).
pub const SB: u8 = 250;
/// Break (243).
pub const BRK: u8 = 243;
/// Subnegotiation end (240).
pub const SE: u8 = 240;
/// The lowest telnet command code (`xEOF`, 236); smaller bytes after IAC are invalid.
pub const FIRST_COMMAND: u8 = 236;

/// Option BINARY (transmit binary, RFC 856).
pub const OPT_BINARY: u8 = 0;
/// Option ECHO (RFC 857).
pub const OPT_ECHO: u8 = 1;
/// Option SGA (suppress go-ahead, RFC 858).
pub const OPT_SGA: u8 = 3;

/// The bytes sent right after the TCP connect completes:
/// `IAC DO BINARY, IAC DO ECHO, IAC DO SGA, IAC WILL BINARY, IAC WILL SGA`.
pub const OPENING: [u8; 15] = [
    IAC, DO, OPT_BINARY, IAC, DO, OPT_ECHO, IAC, DO, OPT_SGA, IAC, WILL, OPT_BINARY, IAC, WILL,
    OPT_SGA,
];

/// The serial break as sent to a terminal server: `IAC BRK`.
pub const BREAK: [u8; 2] = [IAC, BRK];

/// Appends `data` to `out` with every 0xFF doubled, so the terminal server passes it
/// through as data rather than reading it as a command.
pub fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len());
    for chunk in data.split_inclusive(|&b| b == IAC) {
        out.extend_from_slice(chunk);
        if chunk.last() == Some(&IAC) {
            out.push(IAC);
        }
    }
}

/// Something the remote did that the daemon should log (ConMan's wording via
/// [`Event::message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The remote sent `WONT` for BINARY, ECHO or SGA (NOTICE).
    Refused {
        /// The option refused.
        option: u8,
    },
    /// A telnet command the client does not act on (INFO).
    Ignored {
        /// The command byte (NOP, BRK, AYT, ...).
        command: u8,
        /// Its option, for option commands; `None` for the others.
        option: Option<u8>,
    },
    /// A byte after IAC that is not a telnet command (DEBUG).
    Invalid {
        /// The byte that followed IAC.
        command: u8,
    },
}

impl Event {
    /// The daemon-log priority ConMan uses for this event.
    pub fn priority(&self) -> Priority {
        match self {
            Event::Refused { .. } => Priority::Notice,
            Event::Ignored { .. } => Priority::Info,
            Event::Invalid { .. } => Priority::Debug,
        }
    }

    /// ConMan's daemon-log text for this event on console `console`, e.g.
    /// `Ignoring telnet cmd NOP OPT:-1 from console [x]`.
    pub fn message(&self, console: &str) -> String {
        match *self {
            Event::Refused { option } => format!(
                "Received telnet cmd WONT {} from console [{console}]",
                option_name(Some(option))
            ),
            Event::Ignored { command, option } => format!(
                "Ignoring telnet cmd {} {} from console [{console}]",
                command_name(command),
                option_name(option)
            ),
            Event::Invalid { command } => {
                format!("Received invalid telnet cmd {command:#04x} from console [{console}]")
            }
        }
    }
}

/// The `arpa/telnet.h` name of a command byte (236..=255), or `CMD:<n>` for others.
pub fn command_name(command: u8) -> String {
    const NAMES: [&str; 20] = [
        "EOF", "SUSP", "ABORT", "EOR", "SE", "NOP", "DMARK", "BRK", "IP", "AO", "AYT", "EC", "EL",
        "GA", "SB", "WILL", "WONT", "DO", "DONT", "IAC",
    ];
    match command.checked_sub(FIRST_COMMAND) {
        Some(i) => NAMES[usize::from(i)].to_owned(),
        None => format!("CMD:{command}"),
    }
}

/// The `arpa/telnet.h` name of an option (0..=39), `OPT:<n>` for others, and `OPT:-1`
/// for a command without an option (ConMan's `opt2str`).
pub fn option_name(option: Option<u8>) -> String {
    const NAMES: [&str; 40] = [
        "BINARY",
        "ECHO",
        "RCP",
        "SUPPRESS GO AHEAD",
        "NAME",
        "STATUS",
        "TIMING MARK",
        "RCTE",
        "NAOL",
        "NAOP",
        "NAOCRD",
        "NAOHTS",
        "NAOHTD",
        "NAOFFD",
        "NAOVTS",
        "NAOVTD",
        "NAOLFD",
        "EXTEND ASCII",
        "LOGOUT",
        "BYTE MACRO",
        "DATA ENTRY TERMINAL",
        "SUPDUP",
        "SUPDUP OUTPUT",
        "SEND LOCATION",
        "TERMINAL TYPE",
        "END OF RECORD",
        "TACACS UID",
        "OUTPUT MARKING",
        "TTYLOC",
        "3270 REGIME",
        "X.3 PAD",
        "NAWS",
        "TSPEED",
        "LFLOW",
        "LINEMODE",
        "XDISPLOC",
        "OLD-ENVIRON",
        "AUTHENTICATION",
        "ENCRYPT",
        "NEW-ENVIRON",
    ];
    match option {
        None => "OPT:-1".to_owned(),
        Some(o) => match NAMES.get(usize::from(o)) {
            Some(name) => (*name).to_owned(),
            None => format!("OPT:{o}"),
        },
    }
}

/// What one [`Parser::feed`] call produced. Reuse one value across calls ([`clear`]
/// it in between) to avoid allocating.
///
/// [`clear`]: Parsed::clear
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Console data with every telnet command removed and `IAC IAC` turned into 0xFF.
    /// Never longer than the input fed.
    pub data: Vec<u8>,
    /// Bytes to send back to the terminal server (`WONT x` / `DONT x` replies).
    pub replies: Vec<u8>,
    /// Things to log.
    pub events: Vec<Event>,
}

impl Parsed {
    /// Empties all three parts, keeping their allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.replies.clear();
        self.events.clear();
    }
}

/// Where the parser is inside the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Plain console data.
    #[default]
    Data,
    /// Just saw IAC.
    Iac,
    /// Saw `IAC DO/DONT/WILL/WONT`; the next byte is the option.
    Option(u8),
    /// Inside `IAC SB ...`: bytes are discarded.
    Sub,
    /// Saw IAC inside a subnegotiation.
    SubIac,
}

/// Incremental telnet stream parser (client side). See the module docs for the rules.
#[derive(Debug, Default, Clone)]
pub struct Parser {
    state: State,
}

impl Parser {
    /// A parser at the start of a connection.
    pub fn new() -> Self {
        Parser::default()
    }

    /// Parses `input`, appending console data, replies and events to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Parsed) {
        let mut rest = input;
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            match self.state {
                State::Data if b == IAC => self.state = State::Iac,
                State::Data => {
                    // Fast path: copy the whole run of plain data up to the next IAC.
                    let run = rest.iter().position(|&x| x == IAC).unwrap_or(rest.len());
                    out.data.push(b);
                    out.data.extend_from_slice(&rest[..run]);
                    rest = &rest[run..];
                }
                State::Iac => self.command(b, out),
                State::Option(command) => {
                    negotiate(command, b, out);
                    self.state = State::Data;
                }
                State::Sub => {
                    if b == IAC {
                        self.state = State::SubIac;
                    }
                }
                State::SubIac => match b {
                    SE => self.state = State::Data,
                    // An escaped 0xFF is subnegotiation payload, not console data.
                    IAC => self.state = State::Sub,
                    // A malformed subnegotiation: treat it as ended and this byte as
                    // the command after IAC, as ConMan does.
                    _ => self.command(b, out),
                },
            }
        }
    }

    /// Handles the byte that follows an IAC outside a subnegotiation.
    fn command(&mut self, b: u8, out: &mut Parsed) {
        self.state = State::Data;
        match b {
            IAC => out.data.push(IAC),
            DO | DONT | WILL | WONT => self.state = State::Option(b),
            SB => self.state = State::Sub,
            SE => {}
            c if c >= FIRST_COMMAND => out.events.push(Event::Ignored {
                command: c,
                option: None,
            }),
            c => out.events.push(Event::Invalid { command: c }),
        }
    }
}

/// ConMan HEAD's answer to an option command (no Q-method).
fn negotiate(command: u8, option: u8, out: &mut Parsed) {
    let ours = matches!(option, OPT_BINARY | OPT_ECHO | OPT_SGA);
    match command {
        DO if option != OPT_BINARY && option != OPT_SGA => {
            out.replies.extend_from_slice(&[IAC, WONT, option]);
        }
        WILL if !ours => out.replies.extend_from_slice(&[IAC, DONT, option]),
        WONT if ours => out.events.push(Event::Refused { option }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(chunks: &[&[u8]]) -> Parsed {
        let mut p = Parser::new();
        let mut out = Parsed::default();
        for c in chunks {
            p.feed(c, &mut out);
        }
        out
    }

    fn parse_bytewise(input: &[u8]) -> Parsed {
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        parse(&chunks)
    }

    #[test]
    fn opening_bytes_are_conman_heads() {
        assert_eq!(
            OPENING,
            [
                0xFF, 0xFD, 0x00, 0xFF, 0xFD, 0x01, 0xFF, 0xFD, 0x03, 0xFF, 0xFB, 0x00, 0xFF, 0xFB,
                0x03
            ]
        );
        assert_eq!(BREAK, [0xFF, 0xF3]);
    }

    #[test]
    fn plain_data_passes_through() {
        let out = parse(&[b"hello", b" world\r\n"]);
        assert_eq!(out.data, b"hello world\r\n");
        assert!(out.replies.is_empty() && out.events.is_empty());
    }

    #[test]
    fn iac_iac_is_one_ff() {
        let out = parse(&[b"hello \xff\xff world"]);
        assert_eq!(out.data, b"hello \xff world");
    }

    #[test]
    fn do_unknown_is_refused_with_wont() {
        // DO TTYPE, DO BINARY (ours), DO SGA (ours), DO ECHO (not ours to do).
        let out = parse(&[&[IAC, DO, 24, IAC, DO, 0, IAC, DO, 3, IAC, DO, 1]]);
        assert_eq!(out.replies, [IAC, WONT, 24, IAC, WONT, 1]);
        assert!(out.data.is_empty());
    }

    #[test]
    fn will_unknown_is_refused_with_dont() {
        // WILL STATUS, WILL ECHO/BINARY/SGA are fine.
        let out = parse(&[&[IAC, WILL, 5, IAC, WILL, 1, IAC, WILL, 0, IAC, WILL, 3]]);
        assert_eq!(out.replies, [IAC, DONT, 5]);
    }

    #[test]
    fn conman_observed_ttype_status_exchange() {
        let out = parse(&[&[IAC, DO, 24, IAC, WILL, 5]]);
        assert_eq!(out.replies, [0xFF, 0xFC, 0x18, 0xFF, 0xFE, 0x05]);
    }

    #[test]
    fn dont_and_wont_other_are_silent() {
        let out = parse(&[&[IAC, DONT, 0, IAC, DONT, 24, IAC, WONT, 24]]);
        assert!(out.replies.is_empty() && out.events.is_empty() && out.data.is_empty());
    }

    #[test]
    fn wont_of_our_options_is_a_notice() {
        let out = parse(&[&[IAC, WONT, 3, IAC, WONT, 1, IAC, WONT, 0]]);
        assert!(out.replies.is_empty());
        assert_eq!(
            out.events,
            [
                Event::Refused { option: 3 },
                Event::Refused { option: 1 },
                Event::Refused { option: 0 }
            ]
        );
        assert_eq!(out.events[0].priority(), Priority::Notice);
        assert_eq!(
            out.events[0].message("s2n"),
            "Received telnet cmd WONT SUPPRESS GO AHEAD from console [s2n]"
        );
    }

    #[test]
    fn other_commands_are_ignored_with_conman_text() {
        let out = parse(&[b"a", &[IAC, 241], b"b", &[IAC, BRK, IAC, 246], b"c"]);
        assert_eq!(out.data, b"abc");
        assert_eq!(out.events.len(), 3);
        assert_eq!(
            out.events[0].message("x"),
            "Ignoring telnet cmd NOP OPT:-1 from console [x]"
        );
        assert_eq!(
            out.events[1].message("x"),
            "Ignoring telnet cmd BRK OPT:-1 from console [x]"
        );
        assert_eq!(
            out.events[2].message("x"),
            "Ignoring telnet cmd AYT OPT:-1 from console [x]"
        );
        assert_eq!(out.events[0].priority(), Priority::Info);
    }

    #[test]
    fn byte_below_commands_after_iac_is_invalid_and_dropped() {
        let out = parse(&[&[b'a', IAC, 0x41, b'b']]);
        assert_eq!(out.data, b"ab");
        assert_eq!(out.events, [Event::Invalid { command: 0x41 }]);
        assert_eq!(out.events[0].priority(), Priority::Debug);
    }

    #[test]
    fn subnegotiation_is_stripped_including_escaped_iac() {
        // IAC SB TTYPE SEND IAC IAC x IAC SE: ConMan would leak one 0xFF and an 'x'.
        let input = [b'a', IAC, SB, 24, 1, IAC, IAC, b'x', IAC, SE, b'b'];
        assert_eq!(parse(&[&input]).data, b"ab");
        assert_eq!(parse_bytewise(&input).data, b"ab");
    }

    #[test]
    fn lone_se_is_ignored() {
        let out = parse(&[&[b'a', IAC, SE, b'b']]);
        assert_eq!(out.data, b"ab");
        assert!(out.events.is_empty());
    }

    #[test]
    fn malformed_subnegotiation_ends_at_the_next_command() {
        // IAC SB ... IAC DO TTYPE: the DO is processed and data resumes.
        let out = parse(&[&[IAC, SB, 24, IAC, DO, 24, b'z']]);
        assert_eq!(out.data, b"z");
        assert_eq!(out.replies, [IAC, WONT, 24]);
    }

    #[test]
    fn split_sequences_bytewise_match_whole() {
        let input: Vec<u8> = [
            &b"x"[..],
            &[IAC, DO, 24],
            b"y",
            &[IAC, WILL, 5, IAC, IAC],
            &[IAC, SB, 31, 0, 80, IAC, IAC, 0, 24, IAC, SE],
            &[IAC, 241],
            b"z",
        ]
        .concat();
        let whole = parse(&[&input]);
        let bytewise = parse_bytewise(&input);
        assert_eq!(whole, bytewise);
        assert_eq!(whole.data, b"xy\xffz");
        assert_eq!(whole.replies, [IAC, WONT, 24, IAC, DONT, 5]);
    }

    #[test]
    fn escape_doubles_iac_only() {
        let mut out = Vec::new();
        escape_into(b"a\xffb\xff\xff", &mut out);
        assert_eq!(out, b"a\xff\xffb\xff\xff\xff\xff");
        out.clear();
        escape_into(b"", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(command_name(255), "IAC");
        assert_eq!(command_name(236), "EOF");
        assert_eq!(command_name(10), "CMD:10");
        assert_eq!(option_name(Some(24)), "TERMINAL TYPE");
        assert_eq!(option_name(Some(39)), "NEW-ENVIRON");
        assert_eq!(option_name(Some(44)), "OPT:44");
        assert_eq!(option_name(None), "OPT:-1");
    }

    /// Splits `bytes` at the given cut points (taken modulo the length).
    fn split_at_points(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts
            .iter()
            .map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() })
            .collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        points.dedup();
        points
            .windows(2)
            .map(|w| bytes[w[0]..w[1]].to_vec())
            .collect()
    }

    /// A piece of a telnet stream: data, or a command that must vanish from the data.
    #[derive(Debug, Clone)]
    enum Piece {
        Data(Vec<u8>),
        Option(u8, u8),
        Simple(u8),
        Sub(Vec<u8>),
    }

    fn piece() -> impl Strategy<Value = Piece> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Piece::Data),
            (
                prop_oneof![Just(DO), Just(DONT), Just(WILL), Just(WONT)],
                any::<u8>()
            )
                .prop_map(|(c, o)| Piece::Option(c, o)),
            (FIRST_COMMAND..SB).prop_map(Piece::Simple),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Piece::Sub),
        ]
    }

    proptest! {
        #[test]
        fn escaped_data_round_trips_in_any_split(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut wire = Vec::new();
            escape_into(&data, &mut wire);
            let chunks = split_at_points(&wire, &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
            let out = parse(&refs);
            prop_assert_eq!(out.data, data);
            prop_assert!(out.replies.is_empty());
            prop_assert!(out.events.is_empty());
        }

        #[test]
        fn commands_never_leak_into_data(
            pieces in proptest::collection::vec(piece(), 0..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for p in &pieces {
                match p {
                    Piece::Data(d) => {
                        escape_into(d, &mut wire);
                        expected.extend_from_slice(d);
                    }
                    Piece::Option(c, o) => wire.extend_from_slice(&[IAC, *c, *o]),
                    Piece::Simple(c) => wire.extend_from_slice(&[IAC, *c]),
                    Piece::Sub(payload) => {
                        wire.extend_from_slice(&[IAC, SB]);
                        escape_into(payload, &mut wire);
                        wire.extend_from_slice(&[IAC, SE]);
                    }
                }
            }
            let chunks = split_at_points(&wire, &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
            let split = parse(&refs);
            let whole = parse(&[&wire]);
            prop_assert_eq!(&split, &whole);
            prop_assert_eq!(split.data, expected);
        }
    }
}
