//! CONSOLE keywords and `dev=` classification (reference §1.5, §1.7, §2.1).

use super::*;

// ---- CONSOLE keywords ----------------------------------------------------------------

#[test]
fn console_required_keywords() {
    assert_eq!(err1("console name=\"a\"\n"), "incomplete CONSOLE directive");
    assert_eq!(
        err1("console dev=\"test:\"\n"),
        "incomplete CONSOLE directive"
    );
    assert_eq!(
        err1("console name=\"\" dev=\"test:\"\n"),
        "expected STRING for NAME value"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\" \"\n"),
        "expected STRING for DEV value"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"test:\" logopts=\"\"\n"),
        "expected STRING for LOGOPTS value"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"/dev/ttyS0\" seropts=\"\"\n"),
        "expected STRING for SEROPTS value"
    );
    assert_eq!(
        err1("console name \"a\" dev=\"test:\"\n"),
        "expected '=' after NAME keyword"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"test:\" ipmiopts \"U:x\"\n"),
        "unexpected '=' after IPMIOPTS keyword"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"test:\" testopts \"B:1\"\n"),
        "unexpected '=' after TESTOPTS keyword"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"test:\" log=5\n"),
        "expected STRING for LOG value"
    );
}

#[test]
fn console_with_an_error_is_dropped_others_kept() {
    let p = parse("console name=\"a\" dev=\"test:\" bogus\nconsole name=\"b\" dev=\"test:\"\n");
    assert_eq!(p.errors.len(), 1);
    let names: Vec<_> = p.config.consoles.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["b"]);
}

#[test]
fn console_duplicate_name() {
    let p = parse("console name=\"a\" dev=\"test:\"\nconsole name=\"a\" dev=\"/bin/cat\"\n");
    assert_eq!(
        p.errors[0].message,
        "console [a] specifies duplicate console name"
    );
    assert_eq!(p.errors[0].line, 2);
    assert_eq!(p.config.consoles.len(), 1);
}

#[test]
fn console_log() {
    let g = "global log=\"/l/%N.log\"\n";
    assert_eq!(
        ok(&format!("{g}console name=\"a\" dev=\"test:\" log=\"\"\n")).consoles[0].log,
        None
    );
    assert_eq!(
        ok(&format!(
            "{g}console name=\"a\" dev=\"test:\" log=\"own.log\"\n"
        ))
        .consoles[0]
            .log
            .as_deref(),
        Some("/work/own.log")
    );
    assert_eq!(console("console name=\"a\" dev=\"test:\"").log, None);
    assert_eq!(
        err1("console name=\"a\" dev=\"test:\" log=\"a&b\"\n"),
        "ignoring CONSOLE LOG value with deprecated '&' -- use '%N'"
    );
    let c = console("console name=\"a\" dev=\"test:\" log=\"/l/a\" logopts=\"timestamp\"");
    assert_eq!(
        c.logopts,
        LogOpts {
            lock: true,
            sanitize: false,
            timestamp: true
        }
    );
}

#[test]
fn console_duplicate_log_files() {
    let p = parse(
        "console name=\"a\" dev=\"test:\" log=\"/l/x.log\"\nconsole name=\"b\" dev=\"test:\" log=\"/l/x.log\"\n",
    );
    assert_eq!(
        p.errors[0].message,
        "console [a] already logging to \"/l/x.log\""
    );
    // Specifiers are expanded first: %N differs, %D of two test consoles does not.
    assert!(ok("global log=\"/l/%N.log\"\nconsole name=\"a\" dev=\"test:\"\nconsole name=\"b\" dev=\"test:\"\n").consoles.len() == 2);
    let p = parse(
        "global log=\"/l/%D-%Y.log\"\nconsole name=\"a\" dev=\"test:\"\nconsole name=\"b\" dev=\"test:\"\n",
    );
    assert_eq!(
        p.errors[0].message,
        "console [a] already logging to \"/l/-%Y.log\""
    );
    // Console names are sanitised in file names: "a b" and "a/b" both become "a_b".
    let p = parse(
        "global log=\"/l/%N.log\"\nconsole name=\"a b\" dev=\"test:\"\nconsole name=\"a/b\" dev=\"test:\"\n",
    );
    assert_eq!(
        p.errors[0].message,
        "console [a b] already logging to \"/l/a_b.log\""
    );
}

// ---- dev= classification -------------------------------------------------------------

fn spec(dev: &str) -> ConsoleSpec {
    console(&format!("console name=\"n1\" dev={dev}")).spec
}

#[test]
fn dev_unix_socket() {
    assert_eq!(
        spec("\"unix:/run/c.sock\""),
        ConsoleSpec::Unix(UnixSpec {
            path: "/run/c.sock".into()
        })
    );
    assert_eq!(
        spec("\"UNIX:rel.sock\""),
        ConsoleSpec::Unix(UnixSpec {
            path: "/work/rel.sock".into()
        })
    );
    let long = format!("unix:/{}", "s".repeat(107));
    assert_eq!(
        err1(&format!("console name=\"a\" dev=\"{long}\"\n")),
        "console [a] exceeds maximum device length of 107 bytes"
    );
    assert!(
        ok(&format!(
            "console name=\"a\" dev=\"unix:/{}\"\n",
            "s".repeat(106)
        ))
        .consoles
        .len()
            == 1
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"unix:/x y\"\n"),
        "console [a] dev string has too many args"
    );
    let p = parse("console name=\"a\" dev=\"unix:/s\"\nconsole name=\"b\" dev=\"unix:/s\"\n");
    assert_eq!(
        p.errors[0].message,
        "console [b] specifies duplicate device \"/s\""
    );
}

#[test]
fn dev_telnet() {
    assert_eq!(
        spec("\"ts1:7001\""),
        ConsoleSpec::Telnet(TelnetSpec {
            host: "ts1".into(),
            port: 7001
        })
    );
    assert_eq!(
        spec("\"[::1]:23\""),
        ConsoleSpec::Telnet(TelnetSpec {
            host: "::1".into(),
            port: 23
        })
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"ts:0\"\n"),
        "console [a] specifies invalid port \"0\""
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"ts:70000\"\n"),
        "console [a] specifies invalid port \"70000\""
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"ts:23 x\"\n"),
        "console [a] dev string has too many args"
    );
    // Several consoles may share a terminal server port (ConMan does not check).
    assert_eq!(
        ok("console name=\"a\" dev=\"ts:1\"\nconsole name=\"b\" dev=\"ts:1\"\n")
            .consoles
            .len(),
        2
    );
    // Not digits to the end: not telnet.
    assert_eq!(
        err1("console name=\"a\" dev=\"ts:23x\"\n"),
        "console [a] device \"ts:23x\" type unrecognized"
    );
}

#[test]
fn dev_serial() {
    let s = spec("\"/dev/ttyS0\" seropts=\"19200,8n1\"");
    assert_eq!(
        s,
        ConsoleSpec::Serial(SerialSpec {
            path: "/dev/ttyS0".into(),
            opts: SerialOpts {
                bps: 19200,
                ..SerialOpts::default()
            },
        })
    );
    assert_eq!(
        spec("\"ttyLocal\""),
        ConsoleSpec::Serial(SerialSpec {
            path: "/work/ttyLocal".into(),
            opts: SerialOpts::default()
        })
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"/dev/ttyS9\"\n"),
        "console [a] device \"/dev/ttyS9\" is not readable/writable"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"/dev/ttyS0\" seropts=\"9600,8q1\"\n"),
        "expected (N|O|E) for parity setting"
    );
    let p = parse("console name=\"a\" dev=\"/dev/ttyS0\"\nconsole name=\"b\" dev=\"/dev/ttyS0\"\n");
    assert_eq!(
        p.errors[0].message,
        "console [b] specifies duplicate device \"/dev/ttyS0\""
    );
    // A missing device under /dev/ is a serial console the daemon waits for.
    let p = parse("console name=\"u\" dev=\"/dev/ttyUSB3\"\n");
    assert!(p.errors.is_empty());
    assert!(matches!(p.config.consoles[0].spec, ConsoleSpec::Serial(_)));
    assert!(p.warnings[0].message.contains("does not exist yet"));
    // seropts of a non-serial console are not looked at (as in ConMan).
    assert!(
        ok("console name=\"a\" dev=\"test:\" seropts=\"9600,8q1\"\n")
            .consoles
            .len()
            == 1
    );
}

#[test]
fn dev_process() {
    let argv = |dev: &str| match spec(dev) {
        ConsoleSpec::Process(p) => p.argv,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        argv("\"/bin/sh -c 'echo %N' 'x %N'\""),
        ["/bin/sh", "-c", "echo %N", "x %N"]
    );
    assert_eq!(
        argv("'/bin/sh -c \"echo %N\" %N %%N'"),
        ["/bin/sh", "-c", "echo n1", "n1", "%n1"]
    );
    let c = ok(
        "server execpath=\"/nope:/etc/conman/exec\"\nconsole name=\"a\" dev=\"ssh.exp %N 22\"\n",
    );
    match &c.consoles[0].spec {
        ConsoleSpec::Process(p) => assert_eq!(p.argv, ["/etc/conman/exec/ssh.exp", "a", "22"]),
        other => panic!("{other:?}"),
    }
    // Relative names join the cwd; execpath is not the system PATH.
    assert_eq!(argv("\"scripts/run.sh\""), ["/work/scripts/run.sh"]);
    assert_eq!(
        err1("console name=\"a\" dev=\"sh -c x\"\n"),
        "console [a] device \"sh\" type unrecognized"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"/etc/passwd\"\n"),
        "console [a] device \"/etc/passwd\" type unrecognized"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"/bin/sh -c 'oops\"\n"),
        "console [a] dev string parse error"
    );
    let big = format!(
        "console name=\"{}\" dev=\"/bin/sh %N%N\"\n",
        "n".repeat(600)
    );
    assert_eq!(
        err1(&big),
        format!(
            "console [{}] dev string substitution failed",
            "n".repeat(600)
        )
    );
}

#[test]
fn dev_ipmi() {
    let ipmi = |dev: &str| match spec(dev) {
        ConsoleSpec::Ipmi(i) => (i.host, i.port),
        other => panic!("{other:?}"),
    };
    assert_eq!(ipmi("\"ipmi:bmc1\""), ("bmc1".to_string(), None));
    assert_eq!(
        ipmi("\"IPMI:127.0.0.1:9001\""),
        ("127.0.0.1".to_string(), Some(9001))
    );
    assert_eq!(ipmi("\"ipmi:[::1]:623\""), ("::1".to_string(), Some(623)));
    assert_eq!(ipmi("\"ipmi:[::1]\""), ("::1".to_string(), None));
    assert_eq!(ipmi("\"ipmi:fe80::1\""), ("fe80::1".to_string(), None));
    assert_eq!(
        err1("console name=\"a\" dev=\"ipmi:h:0\"\n"),
        "console [a] specifies invalid port \"0\""
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"ipmi:h x\"\n"),
        "console [a] dev string has too many args"
    );
    let p = parse("console name=\"a\" dev=\"ipmi:h\"\nconsole name=\"b\" dev=\"ipmi:h\"\n");
    assert_eq!(
        p.errors[0].message,
        "console [b] specifies duplicate hostname \"h\""
    );
    let c = console("console name=\"a\" dev=\"ipmi:h\" ipmiopts=\"U:u,P:p,W:solport\"");
    match c.spec {
        ConsoleSpec::Ipmi(i) => {
            assert_eq!(i.opts.workarounds, Some(0x0200_0000));
            let shown = format!("{:?}", i.opts);
            assert!(shown.contains("***") && !shown.contains("112"), "{shown}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err1("console name=\"a\" dev=\"ipmi:h\" ipmiopts=\"L:root\"\n"),
        "invalid IPMI privilege level \"root\""
    );
}

#[test]
fn dev_test_and_unrecognized() {
    assert_eq!(
        spec("\"TEST:\" testopts=\"P:50\""),
        ConsoleSpec::Test(TestOpts {
            probability: 50,
            ..TestOpts::default()
        })
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"test: x\"\n"),
        "console [a] dev string has too many args"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"test:\" testopts=\"B:x\"\n"),
        "invalid testopts value \"B:x\""
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"/dev/nothing/here x\"\n"),
        "console [a] dev string has too many args"
    );
    assert_eq!(
        err1("console name=\"a\" dev=\"bogus\"\n"),
        "console [a] device \"bogus\" type unrecognized"
    );
}
