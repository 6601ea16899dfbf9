//! Seed inputs for every target, built from the codecs' own encoders and from
//! the protocol and file examples in the reference, so each campaign starts
//! from inputs that reach deep states (an IPMI session that gets established,
//! a request that selects consoles, a sealed RMCP+ packet for every suite).
//!
//! `fuzz/examples/seeds.rs` writes these (plus the configuration fixtures read
//! from the repository) into a corpus directory; the regression test replays
//! them too, so the harnesses are known to run on valid input.

use conmand_core::escape::EscapeCommand;
use conmand_core::ipmi::CipherSuite;
use conmand_core::ipmi::crypto::{RakpParams, SessionKeys};
use conmand_core::ipmi::wire::{self, IpmiRequest, OpenSessionRequest, Rakp1, SolHeader, payload};
use conmand_core::protocol::{Command, Greeting, Request};
use conmand_core::telnet::{self, IAC, SB, SE, WILL, WONT};

use super::ipmi_wire::SUITES;

/// One seed: target name, file name, bytes.
pub type Seed = (&'static str, String, Vec<u8>);

fn push(out: &mut Vec<Seed>, target: &'static str, name: &str, bytes: Vec<u8>) {
    out.push((target, name.to_owned(), bytes));
}

/// Every generated seed.
pub fn generated() -> Vec<Seed> {
    let mut out = Vec::new();
    config(&mut out);
    pswd(&mut out);
    handshake(&mut out);
    client_escape(&mut out);
    telnet_seeds(&mut out);
    logline(&mut out);
    ipmi_wire(&mut out);
    sol(&mut out);
    ipmi_session(&mut out);
    access(&mut out);
    out
}

fn access(out: &mut Vec<Seed>) {
    let acl = "group ops = alice @night\ngroup night = carol\n\
               allow @ops all on *\n\
               allow bob monitor,break on server-* regex:gpu[0-9]+\n\
               deny * reset on db-?\n";
    let mut v = vec![0u8];
    v.extend_from_slice(acl.as_bytes());
    push(out, "access", "gen-acl", v);
    for (i, cmd) in [
        "-q -r 'gpu[0-9]+'",
        "-fj -e ^ server-0 -- -b",
        "-m \"a b\" c",
    ]
    .iter()
    .enumerate()
    {
        let mut v = vec![1u8];
        v.extend_from_slice(cmd.as_bytes());
        push(out, "access", &format!("gen-exec-{i}"), v);
    }
}

fn config(out: &mut Vec<Seed>) {
    let texts = [
        "server keepalive=on logdir=\"/var/log/conman\" port=7890\n\
         global log=\"%N.log\" logopts=\"sanitize,timestamp\"\n\
         console name=\"a\" dev=\"test:\"\n",
        "console name=\"s\" dev=\"/dev/ttyS0\" seropts=\"115200,8n1\"\n\
         console name=\"t\" dev=\"ts1:7001\"\n\
         console name=\"u\" dev=\"unix:/run/u.sock\"\n\
         console name=\"i\" dev=\"ipmi:bmc1\" ipmiopts=\"U:admin,P:secret,C:17,L:op,W:solpayloadsize\"\n\
         console name=\"p\" dev=\"/bin/sh -c 'echo %N'\"\n",
        "server timestamp=1h resetcmd=\"reset %N\" syslog=\"local0\"\n\
         console name='x\"y' dev='test:' testopts='B:10,P:50,M:200,N:10'\n",
    ];
    for (i, t) in texts.iter().enumerate() {
        push(out, "config", &format!("gen-{i}"), t.as_bytes().to_vec());
    }
}

fn pswd(out: &mut Vec<Seed>) {
    let file = "# BMC passwords\n\
                192\\.168\\.1\\.10 : admin : password0\n\
                node[0-9]+-bmc : root : rootpw : 0x0102ff\r\n\
                 : admin : fallback : plainkey\n";
    for (host, user) in [("192.168.1.10", "admin"), ("node7-bmc", "root"), ("x", "")] {
        let mut v = format!("{host}\0{user}\0").into_bytes();
        v.extend_from_slice(file.as_bytes());
        push(out, "pswd", &format!("gen-{host}"), v);
    }
}

fn handshake(out: &mut Vec<Seed>) {
    let hello = Greeting::new("alice", Some("pts/3".into())).to_bytes();
    let mut reqs: Vec<Request> = Vec::new();
    for (cmd, pats, regex, broadcast) in [
        (Command::Query, &[][..], false, false),
        (
            Command::Query,
            &["node1*", "rack?-node-00[0-4]?.*"][..],
            false,
            false,
        ),
        (Command::Connect, &["node42"][..], false, false),
        (Command::Connect, &["rack[12]-*"][..], false, true),
        (Command::Monitor, &["node.*"][..], true, false),
        (
            Command::Query,
            &["(node|rack)[0-9]+.*", "bmc-0[a-f]"][..],
            true,
            false,
        ),
        (
            Command::Connect,
            &["([[:alpha:]]+)-[0-9]{2}"][..],
            true,
            true,
        ),
    ] {
        let mut r = Request::new(cmd);
        r.consoles = pats.iter().map(|p| (*p).to_owned()).collect();
        r.regex = regex;
        r.broadcast = broadcast;
        r.join = broadcast;
        reqs.push(r);
    }
    for (i, r) in reqs.iter().enumerate() {
        let mut v = hello.clone();
        v.extend(r.to_bytes());
        push(out, "handshake", &format!("gen-{i}"), v);
    }
    push(
        out,
        "handshake",
        "gen-pipelined",
        b"junk HELLO user=bob\r\nQUERY OPTION=QUIET CONSOLE=\"n*\"\n\xffBdata".to_vec(),
    );
}

fn client_escape(out: &mut Vec<Seed>) {
    let mut text = b"ls -l\r\n&?&.&&&B&D&E&F&I&J&L&M&Q&R&Z&x".to_vec();
    text.extend_from_slice(&[0xff, b'a', 0xff, 0xff]);
    for c in [
        EscapeCommand::Break,
        EscapeCommand::LogReplay,
        EscapeCommand::Suspend,
    ] {
        text.extend_from_slice(&c.to_bytes());
    }
    for (mode, esc) in [(0u8, b'&'), (1, b'&'), (2, b'~'), (5, 0xff)] {
        let mut v = vec![esc, mode, 1, 7];
        v.extend_from_slice(&text);
        push(out, "client_escape", &format!("gen-{mode}"), v);
    }
}

fn telnet_seeds(out: &mut Vec<Seed>) {
    let mut v = vec![3];
    v.extend_from_slice(&telnet::OPENING);
    v.extend_from_slice(b"login: ");
    v.extend_from_slice(&[
        IAC, IAC, IAC, WONT, 1, IAC, WILL, 24, IAC, SB, 24, 1, IAC, IAC, IAC, SE,
    ]);
    v.extend_from_slice(&[IAC, 241, IAC, 243, IAC, 7, b'x']);
    v.extend_from_slice(&telnet::BREAK);
    push(out, "telnet", "gen-0", v);
}

fn logline(out: &mut Vec<Seed>) {
    let text = b"boot\r\n\n\rline\r\r\n\0ctrl\x01\x1b[0m\x7f\xe9\xff end\n\r\0x";
    for flags in 0..4u8 {
        let mut v = vec![flags, 5, 0xe9, 0x07, 4, 30, 23, 59, 58];
        v.extend_from_slice(&86_000u32.to_le_bytes());
        v.extend_from_slice(&60u32.to_le_bytes());
        v.extend_from_slice(text);
        push(out, "logline", &format!("gen-{flags}"), v);
    }
}

/// The `ipmi_wire` header (everything before the datagram) and the keys it
/// derives, for suite index `si`.
fn wire_header(si: u8) -> (Vec<u8>, SessionKeys, u32) {
    let suite = CipherSuite::from_id(SUITES[usize::from(si)]).expect("listed");
    let (pw, user) = (b"secret".to_vec(), b"admin".to_vec());
    let (sid_m, sid_c) = (0xa0a0_0001u32, 0x1122_3345u32);
    let (rm, rc, guid) = ([0x11u8; 16], [0x22u8; 16], [0x33u8; 16]);
    let role = 0x14;
    let mut h = vec![si, pw.len() as u8];
    h.extend_from_slice(&pw);
    h.push(0); // no K_g
    h.extend_from_slice(&sid_m.to_le_bytes());
    h.extend_from_slice(&sid_c.to_le_bytes());
    h.extend_from_slice(&rm);
    h.extend_from_slice(&rc);
    h.extend_from_slice(&guid);
    h.push(role);
    h.push(user.len() as u8);
    h.extend_from_slice(&user);
    h.extend_from_slice(&7u32.to_le_bytes()); // seq
    h.extend_from_slice(&[0x5a; 16]); // iv
    h.extend_from_slice(&0x1234u16.to_le_bytes()); // tamper
    h.push(payload::IPMI);
    let params = RakpParams {
        sid_m,
        sid_c,
        rm,
        rc,
        guid,
        role,
        username: &user,
    };
    let keys = SessionKeys::derive(suite, &params, &pw, None);
    (h, keys, sid_c)
}

fn ipmi_wire(out: &mut Vec<Seed>) {
    let req = IpmiRequest {
        netfn: 0x06,
        cmd: 0x01,
        rq_seq: 5,
        data: vec![],
    };
    for si in 0..SUITES.len() as u8 {
        let (mut v, keys, sid_c) = wire_header(si);
        v.extend(wire::encode_v20(
            payload::IPMI,
            sid_c,
            9,
            &req.encode(),
            Some(&keys),
            [7; 16],
        ));
        push(
            out,
            "ipmi_wire",
            &format!("gen-suite{}", SUITES[usize::from(si)]),
            v,
        );
    }
    let (h, _, _) = wire_header(3);
    let osr = OpenSessionRequest {
        tag: 1,
        max_priv: 4,
        sid_m: 0xa0a0_0001,
        auth: 1,
        integrity: 1,
        conf: 1,
    };
    let r1 = Rakp1 {
        tag: 2,
        sid_c: 0x1122_3345,
        rm: [0x11; 16],
        role: 0x14,
        username: b"admin".to_vec(),
    };
    let sol = SolHeader {
        seq: 3,
        ack_seq: 2,
        accepted: 4,
        flags: 0,
    };
    for (name, d) in [
        ("v15", wire::encode_v15(0, 0, &req.encode())),
        ("asf", wire::encode_asf_ping(9)),
        (
            "open",
            wire::encode_v20(
                payload::OPEN_SESSION_REQUEST,
                0,
                0,
                &osr.encode(),
                None,
                [0; 16],
            ),
        ),
        (
            "rakp1",
            wire::encode_v20(payload::RAKP1, 0, 0, &r1.encode(), None, [0; 16]),
        ),
        (
            "sol",
            wire::encode_v20(payload::SOL, 0, 0, &sol.encode(b"data"), None, [0; 16]),
        ),
    ] {
        let mut v = h.clone();
        v.extend(d);
        push(out, "ipmi_wire", &format!("gen-{name}"), v);
    }
}

fn sol(out: &mut Vec<Seed>) {
    // Input, send, ack half, time out, retransmit, ack rest, BMC data, break.
    let mut v = vec![8, 1];
    v.extend_from_slice(&[0, 20]);
    v.extend_from_slice(b"hello world, twenty!");
    v.extend_from_slice(&[3, 1, 0, 4, 0, 0]); // ack in-flight, 4 accepted, no data
    v.extend_from_slice(&[4, 0xe8, 0x03]); // 1 s
    v.extend_from_slice(&[5]);
    v.extend_from_slice(&[3, 1, 0, 8, 0, 0]);
    v.extend_from_slice(&[3, 0, 5, 0, 0, 3, b'a', b'b', b'c']); // BMC data seq 5
    v.extend_from_slice(&[3, 0, 5, 0, 0, 4, b'a', b'b', b'c', b'd']); // repeat, longer
    v.extend_from_slice(&[1, 0, 2, b'x', b'y', 3, 1, 0, 8, 0x40, 0]);
    v.extend_from_slice(&[4, 0xff, 0xff, 3, 1, 0, 255, 0, 0, 5, 5, 5]);
    push(out, "sol", "gen-0", v);
}

fn ipmi_session(out: &mut Vec<Seed>) {
    for (i, &suite) in SUITES.iter().enumerate() {
        for (variant, flags, faults) in [
            ("ok", 0u8, 0u16),
            ("noprobe", 0x10, 1 << 2),
            ("wrongpw", 4, 0),
        ] {
            let mut v = vec![i as u8, flags];
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&faults.to_le_bytes());
            v.extend_from_slice(&0x1234_5678u32.to_le_bytes());
            // Deliver everything for a while: reaches Established.
            for _ in 0..12 {
                v.extend_from_slice(&[0, 31]);
            }
            // Host output, typed input and a break, time passing, then close.
            v.extend_from_slice(&[12, 5]);
            v.extend_from_slice(b"login");
            v.extend_from_slice(&[0, 31, 9, 3]);
            v.extend_from_slice(b"ls\r");
            v.extend_from_slice(&[10, 0, 31, 7, 0x10, 0x27, 0, 31, 8, 0, 31]);
            v.extend_from_slice(&[2, 1, 8, 1, 0, 0, 0, b'h', b'i', b'!', b'!']);
            v.extend_from_slice(&[11, 0, 31, 0, 31]);
            push(
                out,
                "ipmi_session",
                &format!("gen-suite{suite}-{variant}"),
                v,
            );
        }
    }
}
