//! `client_escape`: the client's keyboard escape parser
//! (`client_escape::EscapeParser`) and the daemon's 0xFF stream decoder
//! (`escape::EscapeDecoder`), each fed the same bytes whole, byte by byte and
//! in an arbitrary split.
//!
//! Input: escape character, mode/flag bits, console count, split seed, then the
//! stream.
//!
//! Invariants, client side: the split does not change what is sent or done; a
//! read-only session sends nothing but the escapes it allows; everything sent
//! decodes on the daemon side without an invalid escape or a dangling 0xFF;
//! typed text without the escape character arrives unchanged. Daemon side: the
//! events re-encode to exactly the input (0xFF doubled in data, `FF c` for
//! commands and invalid escapes, a trailing 0xFF left pending), the split does
//! not change them, and `escape_data` output decodes back to its input.

use conmand_core::client_escape::{Action, EscapeParser, Mode};
use conmand_core::escape::{ESC_CHAR, EscapeCommand, EscapeDecoder, Event, escape_data};

use super::{Input, split};

/// What the client did for a whole stream: all bytes sent, in order, and the
/// other actions in order.
#[derive(Debug, PartialEq, Eq)]
struct ClientRun {
    sent: Vec<u8>,
    other: Vec<Action>,
    mode: Mode,
    echo: bool,
    quiet: bool,
}

fn client_run(mut p: EscapeParser, chunks: &[&[u8]]) -> ClientRun {
    let mut sent = Vec::new();
    let mut other = Vec::new();
    for c in chunks {
        for a in p.feed(c) {
            match a {
                Action::Send(b) => {
                    assert!(!b.is_empty(), "empty send");
                    sent.extend(b);
                }
                Action::Help(h) => {
                    assert!(h.len() <= 4096, "help longer than ConMan's buffer");
                    other.push(Action::Help(h));
                }
                a => other.push(a),
            }
        }
    }
    ClientRun {
        sent,
        other,
        mode: p.mode(),
        echo: p.echo_enabled(),
        quiet: p.quiet(),
    }
}

/// The daemon's view of a stream: events with data runs merged, and whether an
/// 0xFF is left pending.
#[derive(Debug, PartialEq, Eq, Default)]
struct DaemonRun {
    events: Vec<DaemonEvent>,
    pending: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum DaemonEvent {
    Data(Vec<u8>),
    Command(EscapeCommand),
    Invalid(u8),
}

fn daemon_run(chunks: &[&[u8]]) -> DaemonRun {
    let mut d = EscapeDecoder::new();
    let mut run = DaemonRun::default();
    for c in chunks {
        d.feed(c, &mut |e| match e {
            Event::Data(b) => {
                assert!(!b.is_empty(), "empty data event");
                match run.events.last_mut() {
                    Some(DaemonEvent::Data(v)) => v.extend_from_slice(b),
                    _ => run.events.push(DaemonEvent::Data(b.to_vec())),
                }
            }
            Event::Command(c) => run.events.push(DaemonEvent::Command(c)),
            Event::Invalid(c) => {
                assert!(c != ESC_CHAR && EscapeCommand::from_byte(c).is_none());
                run.events.push(DaemonEvent::Invalid(c));
            }
        });
    }
    run.pending = d.is_pending();
    run
}

/// Re-encodes decoded events as a client would have sent them.
fn reencode(run: &DaemonRun) -> Vec<u8> {
    let mut out = Vec::new();
    for e in &run.events {
        match e {
            DaemonEvent::Data(b) => escape_data(b, &mut out),
            DaemonEvent::Command(c) => out.extend_from_slice(&c.to_bytes()),
            DaemonEvent::Invalid(c) => out.extend_from_slice(&[ESC_CHAR, *c]),
        }
    }
    if run.pending {
        out.push(ESC_CHAR);
    }
    out
}

fn client_side(
    esc: u8,
    mode: Mode,
    reset: bool,
    consoles: usize,
    quiet: bool,
    stream: &[u8],
    seed: u8,
) {
    let parser = EscapeParser::new(esc, mode, reset, consoles, quiet);
    let _ = parser.help_text();
    let _ = parser.echo(b'.');
    let whole = client_run(parser.clone(), &[stream]);
    assert_eq!(whole, client_run(parser.clone(), &split(stream, seed)));

    // Byte by byte: a read-only session sends only the escapes allowed there.
    let mut p = parser;
    for &b in stream {
        let before = p.mode();
        for a in p.feed(&[b]) {
            if let Action::Send(bytes) = a
                && before == Mode::ReadOnly
            {
                assert!(
                    matches!(bytes.as_slice(), [ESC_CHAR, b'F' | b'J' | b'L' | b'Q']),
                    "read-only session sent {bytes:?}"
                );
            }
        }
    }

    let daemon = daemon_run(&[&whole.sent]);
    assert!(!daemon.pending, "client left a dangling 0xFF");
    for e in &daemon.events {
        match e {
            DaemonEvent::Invalid(c) => panic!("client sent invalid escape {c:#04x}"),
            // `&Z` is sent by the session loop, not by the parser.
            DaemonEvent::Command(EscapeCommand::Suspend) => panic!("parser sent FF Z"),
            _ => {}
        }
    }
    if mode.writes() && !stream.contains(&esc) {
        let want = if stream.is_empty() {
            vec![]
        } else {
            vec![DaemonEvent::Data(stream.to_vec())]
        };
        assert_eq!(daemon.events, want, "typed text changed on the way");
    }
}

fn daemon_side(stream: &[u8], seed: u8) {
    let whole = daemon_run(&[stream]);
    assert_eq!(
        reencode(&whole),
        stream,
        "events do not re-encode to the input"
    );
    assert_eq!(whole, daemon_run(&split(stream, seed)));
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, daemon_run(&bytewise));

    let mut wire = Vec::new();
    escape_data(stream, &mut wire);
    let back = daemon_run(&[&wire]);
    assert!(!back.pending);
    let want = if stream.is_empty() {
        vec![]
    } else {
        vec![DaemonEvent::Data(stream.to_vec())]
    };
    assert_eq!(back.events, want, "escape_data does not round-trip");
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let esc = input.u8();
    let flags = input.u8();
    let consoles = usize::from(input.u8());
    let seed = input.u8();
    let stream = input.rest();
    let mode = match flags % 3 {
        0 => Mode::ReadOnly,
        1 => Mode::ReadWrite,
        _ => Mode::Broadcast,
    };
    client_side(
        esc,
        mode,
        flags & 4 != 0,
        consoles,
        flags & 8 != 0,
        stream,
        seed,
    );
    daemon_side(stream, seed);
}
