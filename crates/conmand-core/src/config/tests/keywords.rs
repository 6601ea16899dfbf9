//! Directive structure and every SERVER and GLOBAL keyword (reference §1.2–§1.4).

use std::path::PathBuf;

use super::*;

// ---- directive structure -------------------------------------------------------------

#[test]
fn unknown_directive_skips_the_line() {
    let e = errs("bogus port=1 dev=\"x\"\nserver port=2\n");
    assert_eq!(e, vec![(1, "unrecognized token 'bogus'".to_string())]);
    assert_eq!(err1("port=1\n"), "unrecognized token 'port'");
}

#[test]
fn keyword_in_wrong_directive() {
    assert_eq!(err1("server name=\"x\"\n"), "unrecognized token 'name'");
    assert_eq!(err1("global port=1\n"), "unrecognized token 'port'");
    assert_eq!(
        err1("console name=\"a\" port=1\n"),
        "unrecognized token 'port'"
    );
}

#[test]
fn server_keeps_pairs_before_an_error() {
    let p = parse(&format!("server keepalive=off port=x loopback=off\n{T}"));
    assert_eq!(p.errors.len(), 1);
    assert!(!p.config.server.keepalive);
    assert!(
        p.config.server.loopback,
        "pair after the error must not apply"
    );
}

#[test]
fn all_errors_are_collected() {
    let e = errs(
        "server port=x\nglobal log=\"x\"\nconsole name=\"a\" dev=\"nope\"\nserver keepalive=maybe\n",
    );
    let lines: Vec<u32> = e.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![1, 2, 3, 4]);
}

#[test]
fn no_consoles_is_a_whole_file_error() {
    let p = parse("server port=1\n");
    assert_eq!(p.errors.len(), 1);
    assert_eq!(
        p.errors[0].message,
        "Configuration \"t.conf\" has no consoles defined"
    );
    assert_eq!(
        p.errors[0].to_string(),
        "t.conf: Configuration \"t.conf\" has no consoles defined"
    );
}

#[test]
fn diagnostic_formats() {
    let p = parse(&format!("server port=x\n{T}"));
    assert_eq!(
        p.errors[0].conman_format(),
        "CONFIG[t.conf:1]: expected INTEGER for PORT value"
    );
    assert_eq!(
        p.errors[0].to_string(),
        "t.conf:1:13: expected INTEGER for PORT value"
    );
}

// ---- SERVER keywords -----------------------------------------------------------------

#[test]
fn server_defaults() {
    assert_eq!(ok(T).server, ServerOpts::default());
    let d = ServerOpts::default();
    assert!(!d.coredump && d.keepalive && d.loopback && !d.tcpwrappers);
    assert_eq!((d.port, d.nofile, d.timestamp_minutes), (None, 0, 0));
}

#[test]
fn server_on_off_keywords() {
    let s = server("server coredump=on keepalive=off loopback=off tcpwrappers=on");
    assert!(s.coredump && !s.keepalive && !s.loopback && s.tcpwrappers);
    for kw in ["coredump", "keepalive", "loopback", "tcpwrappers"] {
        assert_eq!(
            err1(&format!("server {kw}=yes\n")),
            format!("expected ON or OFF for {} value", kw.to_uppercase())
        );
        assert_eq!(
            err1(&format!("server {kw} on\n")),
            format!("expected '=' after {} keyword", kw.to_uppercase())
        );
    }
    // Enforced since issue 12 (hosts.allow / hosts.deny), so no longer a warning.
    let p = parse(&format!("server tcpwrappers=on\n{T}"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert!(p.config.server.tcpwrappers);
}

#[test]
fn server_coredumpdir() {
    assert_eq!(
        server("server coredumpdir=\"/var/log/conman//\"").coredumpdir,
        Some("/var/log/conman".into())
    );
    assert_eq!(
        server("server coredumpdir=\"scripts\"").coredumpdir,
        Some("/work/scripts".into())
    );
    assert_eq!(
        server("server coredumpdir=\"/var/log/conman\"\nserver coredumpdir=\"\"").coredumpdir,
        None
    );
    assert_eq!(
        err1("server coredumpdir=\"/nope\"\n"),
        "cannot stat COREDUMPDIR \"/nope\""
    );
    assert_eq!(
        err1("server coredumpdir=\"/etc/passwd\"\n"),
        "invalid COREDUMPDIR \"/etc/passwd\" not a directory"
    );
}

#[test]
fn server_execpath() {
    let s = server("server execpath=\"/a::/b:\"");
    assert_eq!(s.execpath, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    assert!(
        server("server execpath=\"/a\"\nserver execpath=\"\"")
            .execpath
            .is_empty()
    );
    let long = "a".repeat(4096);
    // Strings are cut to 1023 bytes first, so the PATH_MAX limit cannot be reached from
    // a file; 4096 bytes of 'a' becomes 1023 and is accepted.
    assert!(
        errs(&format!("server execpath=\"{long}\"\n"))
            .iter()
            .all(|(_, m)| !m.contains("EXECPATH"))
    );
}

#[test]
fn server_logdir_applies_to_later_lines_only() {
    let c = ok("console name=\"a\" dev=\"test:\" log=\"a.log\"\n\
                server logdir=\"/var/log/conman\"\n\
                console name=\"b\" dev=\"test:\" log=\"b.log\"\n\
                console name=\"c\" dev=\"test:\" log=\"/abs/c.log\"\n\
                server logdir=\"rel\"\n\
                console name=\"d\" dev=\"test:\" log=\"d.log\"\n\
                server logdir=\"\"\n\
                console name=\"e\" dev=\"test:\" log=\"e.log\"\n");
    let logs: Vec<_> = c.consoles.iter().map(|c| c.log.clone().unwrap()).collect();
    assert_eq!(
        logs,
        [
            "/work/a.log",
            "/var/log/conman/b.log",
            "/abs/c.log",
            "/work/rel/d.log",
            "/work/e.log"
        ]
    );
    assert_eq!(c.server.logdir, None);
    assert_eq!(
        server("server logdir=\"logs\"").logdir,
        Some("/work/logs".into())
    );
}

#[test]
fn server_logfile() {
    let l = server("server logdir=\"/var/log/conman\" logfile=\"conmand.log, WARN\"")
        .logfile
        .unwrap();
    assert_eq!(l.priority, Priority::Warning);
    assert_eq!(l.name, "/var/log/conman/conmand.log");
    assert_eq!(
        server("server logfile=\"/x/d.log\"")
            .logfile
            .unwrap()
            .priority,
        Priority::Info
    );
    for (name, p) in [
        ("emerg", Priority::Emerg),
        ("panic", Priority::Emerg),
        ("emergency", Priority::Emerg),
        ("alert", Priority::Alert),
        ("crit", Priority::Crit),
        ("critical", Priority::Crit),
        ("err", Priority::Err),
        ("error", Priority::Err),
        ("warn", Priority::Warning),
        ("warning", Priority::Warning),
        ("notice", Priority::Notice),
        ("info", Priority::Info),
        ("debug", Priority::Debug),
    ] {
        assert_eq!(
            server(&format!("server logfile=\"/x,y/d.log,{name}\""))
                .logfile
                .unwrap()
                .priority,
            p
        );
    }
    assert_eq!(
        err1("server logfile=\"/x/d.log,loud\"\n"),
        "invalid LOGFILE priority \"loud\""
    );
    assert_eq!(
        err1("server logfile=\"\"\n"),
        "expected STRING for LOGFILE value"
    );
    assert_eq!(
        err1("server logfile=\"  \"\n"),
        "expected STRING for LOGFILE value"
    );
    let p = parse(&format!("server logfile=\"/x/%N-%Y.log\"\n{T}"));
    assert!(p.warnings.iter().any(|w| w.message.contains("'%N'")));
}

#[test]
fn server_nofile() {
    assert_eq!(server("server nofile=20000").nofile, 20000);
    assert_eq!(
        err1("server nofile=lots\n"),
        "expected INTEGER for NOFILE value"
    );
}

#[test]
fn server_maxclients() {
    assert_eq!(server("server maxclients=64").maxclients, 64);
    assert_eq!(server("server port=7890").maxclients, 4096);
    assert_eq!(
        err1("server maxclients=0\n"),
        "invalid MAXCLIENTS value 0 (1 to 1000000)"
    );
    assert_eq!(
        err1("server maxclients=many\n"),
        "expected INTEGER for MAXCLIENTS value"
    );
    assert_eq!(
        err1("global maxclients=5\n"),
        "unrecognized token 'maxclients'"
    );
}

#[test]
fn server_alerts_and_eventlog() {
    let s = server("server alertpack=\"OFF\" alerts=\"site.rules\" eventlog=\"/var/log/e.jsonl\"");
    assert_eq!(s.alertpack, AlertPack::Off);
    assert_eq!(s.alerts, Some(PathBuf::from("/work/site.rules")));
    assert_eq!(s.eventlog, Some(PathBuf::from("/var/log/e.jsonl")));
    let s = server("server port=7890");
    assert_eq!(
        (s.alertpack, s.alerts, s.eventlog),
        (AlertPack::Builtin, None, None)
    );
    assert_eq!(
        err1("server alertpack=\"kernel\"\n"),
        "invalid ALERTPACK value \"kernel\" (builtin or off)"
    );
    assert_eq!(err1("global alerts=\"x\"\n"), "unrecognized token 'alerts'");
}

#[test]
fn server_alert_webhook_and_exec() {
    let s = server(
        "server alertwebhook=\"HTTP://127.0.0.1:9000/hook\" alertexec=\" /usr/local/bin/page --team hpc \"",
    );
    assert_eq!(
        s.alertwebhook.as_deref(),
        Some("http://127.0.0.1:9000/hook")
    );
    assert_eq!(
        s.alertexec.as_deref(),
        Some("/usr/local/bin/page --team hpc")
    );
    let s = server("server alertwebhook=\"\" alertexec=\"\"");
    assert_eq!((s.alertwebhook, s.alertexec), (None, None));
    assert_eq!(
        err1("server alertwebhook=\"https://hooks.example/x\"\n"),
        "invalid ALERTWEBHOOK value \"https://hooks.example/x\": https is not supported: use an http:// URL (a local relay can forward to https)"
    );
    assert_eq!(
        err1("server alertwebhook=\"127.0.0.1:9000\"\n"),
        "invalid ALERTWEBHOOK value \"127.0.0.1:9000\": expected http://HOST[:PORT][/PATH]"
    );
    assert_eq!(
        err1("console name=\"c\" dev=\"/bin/cat\" alertexec=\"x\"\n"),
        "unrecognized token 'alertexec'"
    );
}

#[test]
fn server_http_needs_tokens_off_loopback() {
    let s = server("server http=\"127.0.0.1:9780\"");
    assert_eq!(s.http, Some("127.0.0.1:9780".parse().unwrap()));
    assert_eq!(s.httptokens, None);
    let s = server("server http=\"[::1]:0\" httptokens=\"t\"");
    assert_eq!(s.http, Some("[::1]:0".parse().unwrap()));
    assert_eq!(s.httptokens, Some(PathBuf::from("/work/t")));
    assert_eq!(
        err1("server http=\"localhost\"\n"),
        "invalid HTTP value \"localhost\" (ADDR:PORT, e.g. 127.0.0.1:9780 or [::1]:9780)"
    );
    let e = errs(&format!(
        "server loopback=on\nserver http=\"0.0.0.0:9780\"\n{T}"
    ));
    assert_eq!(
        e,
        vec![(
            2,
            "HTTP on 0.0.0.0:9780 is reachable from other hosts: set server httptokens=\"FILE\" (or use a loopback address)".to_string()
        )]
    );
    // The daemon starts despite errors: the unauthenticated listener is gone.
    let p = parse(&format!("server http=\"0.0.0.0:9780\"\n{T}"));
    assert_eq!(p.config.server.http, None);
    // Tokens given later in the file count too.
    let p = parse(&format!(
        "server http=\"0.0.0.0:9780\"\nserver httptokens=\"/etc/conman/http.tokens\"\n{T}"
    ));
    assert!(p.errors.is_empty(), "{:?}", p.errors);
}

#[test]
fn server_pidfile_first_line_wins() {
    assert_eq!(
        server("server pidfile=\"run/c.pid\"").pidfile,
        Some("/work/run/c.pid".into())
    );
    // Relative to the cwd, not the logdir.
    assert_eq!(
        server("server logdir=\"/var/log/conman\" pidfile=\"c.pid\"").pidfile,
        Some("/work/c.pid".into())
    );
    let p = parse(&format!(
        "server pidfile=\"/a.pid\"\nserver pidfile=\"/b.pid\"\n{T}"
    ));
    assert_eq!(p.config.server.pidfile, Some("/a.pid".into()));
    assert!(p.warnings.iter().any(|w| w.line == 2));
    assert_eq!(
        server("server pidfile=\"/a.pid\" pidfile=\"/b.pid\"").pidfile,
        Some("/b.pid".into())
    );
    assert_eq!(
        err1("server pidfile=\"\"\n"),
        "expected STRING for PIDFILE value"
    );
}

#[test]
fn server_port_first_line_wins() {
    assert_eq!(server("server port=1\nserver port=2").port, Some(1));
    assert_eq!(server("server port=1 port=2").port, Some(2));
    assert_eq!(server("server port=0").port, Some(0));
    assert_eq!(err1("server port=65536\n"), "invalid PORT value 65536");
    assert_eq!(
        err1("server port=99999999999999999999999\n"),
        format!("invalid PORT value {}", i64::MAX)
    );
}

#[test]
fn server_resetcmd() {
    assert_eq!(
        server("server resetcmd=\"reset %N\"").resetcmd.as_deref(),
        Some("reset %N")
    );
    assert_eq!(
        err1("server resetcmd=\"a && b\"\n"),
        "ignoring SERVER RESETCMD value with deprecated '&' -- use '%N'"
    );
    assert_eq!(
        err1("server resetcmd=\"\"\n"),
        "expected STRING for RESETCMD value"
    );
}

#[test]
fn server_syslog() {
    use SyslogFacility::*;
    for (n, f) in [
        ("auth", Auth),
        ("authpriv", Authpriv),
        ("cron", Cron),
        ("daemon", Daemon),
        ("kern", Kern),
        ("lpr", Lpr),
        ("mail", Mail),
        ("news", News),
        ("user", User),
        ("uucp", Uucp),
        ("local0", Local0),
        ("local1", Local1),
        ("local2", Local2),
        ("LOCAL3", Local3),
        ("local4", Local4),
        ("local5", Local5),
        ("local6", Local6),
        ("local7", Local7),
    ] {
        assert_eq!(server(&format!("server syslog=\"{n}\"")).syslog, Some(f));
    }
    assert_eq!(
        err1("server syslog=\"local9\"\n"),
        "invalid SYSLOG facility \"local9\""
    );
    assert_eq!(
        err1("server syslog=\"\"\n"),
        "expected STRING for SYSLOG value"
    );
}

#[test]
fn server_timestamp_units() {
    assert_eq!(server("server timestamp=5m").timestamp_minutes, 5);
    assert_eq!(server("server timestamp=5M").timestamp_minutes, 5);
    assert_eq!(server("server timestamp=1h").timestamp_minutes, 60);
    assert_eq!(server("server timestamp=1 h").timestamp_minutes, 60);
    assert_eq!(server("server timestamp=2d").timestamp_minutes, 2880);
    assert_eq!(server("server timestamp=7").timestamp_minutes, 7);
    assert_eq!(server("server timestamp=5m port=9").port, Some(9));
    assert_eq!(
        err1("server timestamp=\"1h\"\n"),
        "expected INTEGER for TIMESTAMP value"
    );
    assert_eq!(err1("server timestamp=-5m\n"), "invalid TIMESTAMP value -5");
    assert_eq!(
        err1("server timestamp=5x\n"),
        "expected (m|d|h) qualifier for TIMESTAMP value"
    );
    assert_eq!(
        err1("server timestamp=5 min\n"),
        "expected (m|d|h) qualifier for TIMESTAMP value"
    );
    assert_eq!(
        err1("server timestamp=99999999999d\n"),
        "invalid TIMESTAMP value 99999999999"
    );
}

#[test]
fn server_timestamp_quirks() {
    // A unit-less value followed by another pair: the pair is read as the unit.
    let p = parse(&format!("server keepalive=off timestamp=5 port=7890\n{T}"));
    assert_eq!(
        p.errors[0].message,
        "expected (m|d|h) qualifier for TIMESTAMP value"
    );
    assert_eq!(
        (p.config.server.timestamp_minutes, p.config.server.port),
        (0, None)
    );
    assert!(!p.config.server.keepalive);
    // At the end of a line: minutes, and (unlike ConMan) the next line still parses,
    // with a warning that ConMan would misread it.
    let p = parse(&format!("server timestamp=5\nserver port=3\n{T}"));
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        (p.config.server.timestamp_minutes, p.config.server.port),
        (5, Some(3))
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("misread the next line"))
    );
    assert!(
        parse(&format!("server timestamp=5\n\n{T}"))
            .warnings
            .is_empty()
    );
}

// ---- GLOBAL keywords -----------------------------------------------------------------

#[test]
fn global_log() {
    let c = ok(
        "server logdir=\"/var/log/conman\"\nglobal log=\"%N.log\"\nconsole name=\"a\" dev=\"test:\"\n",
    );
    assert_eq!(c.consoles[0].log.as_deref(), Some("/var/log/conman/%N.log"));
    // The logdir prefix is applied when each console is read.
    let c = ok(
        "global log=\"%N.log\"\nconsole name=\"a\" dev=\"test:\"\nserver logdir=\"/l\"\nconsole name=\"b\" dev=\"test:\"\n",
    );
    assert_eq!(c.consoles[0].log.as_deref(), Some("/work/%N.log"));
    assert_eq!(c.consoles[1].log.as_deref(), Some("/l/%N.log"));
    assert_eq!(
        err1("global log=\"x.log\"\n"),
        "ignoring GLOBAL LOG value without '%N' or '%D'"
    );
    assert_eq!(
        err1("global log=\"&.log\"\n"),
        "ignoring GLOBAL LOG value with deprecated '&' -- use '%N'"
    );
    let c = ok("global log=\"%D.log\"\nglobal log=\"\"\nconsole name=\"a\" dev=\"test:\"\n");
    assert_eq!(c.consoles[0].log, None);
}

#[test]
fn global_options_apply_to_later_consoles_only() {
    let c = ok("console name=\"a\" dev=\"/dev/ttyS0\"\n\
                global seropts=\"115200,7e1\" logopts=\"nolock,sanitize\" testopts=\"B:7\" ipmiopts=\"U:root\"\n\
                console name=\"b\" dev=\"/dev/ttyS1\"\n\
                console name=\"c\" dev=\"test:\"\n\
                console name=\"d\" dev=\"ipmi:bmc\"\n");
    let ser = |i: usize| match &c.consoles[i].spec {
        ConsoleSpec::Serial(s) => s.opts,
        other => panic!("{other:?}"),
    };
    assert_eq!(ser(0), SerialOpts::default());
    assert_eq!(
        (ser(1).bps, ser(1).databits, ser(1).parity),
        (115200, 7, Parity::Even)
    );
    assert_eq!(c.consoles[0].logopts, LogOpts::default());
    assert_eq!(
        c.consoles[1].logopts,
        LogOpts {
            lock: false,
            sanitize: true,
            timestamp: false
        }
    );
    assert_eq!(
        c.consoles[2].spec,
        ConsoleSpec::Test(TestOpts {
            burst_bytes: 7,
            ..TestOpts::default()
        })
    );
    match &c.consoles[3].spec {
        ConsoleSpec::Ipmi(i) => assert_eq!(i.opts.username.as_deref(), Some("root")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn global_option_errors() {
    assert_eq!(
        err1("global seropts=\"9600,9n1\"\n"),
        "expected INTEGER 5-8 for databits setting"
    );
    assert_eq!(
        err1("global seropts=\"\"\n"),
        "expected STRING for SEROPTS value"
    );
    assert_eq!(
        err1("global logopts=\"\"\n"),
        "expected STRING for LOGOPTS value"
    );
    assert_eq!(
        err1("global ipmiopts=\"\"\n"),
        "expected STRING for IPMIOPTS value"
    );
    assert_eq!(
        err1("global testopts=\"\"\n"),
        "expected STRING for TESTOPTS value"
    );
    assert_eq!(
        err1("global ipmiopts=\"C:5\"\n"),
        "invalid IPMI cipher suite 5"
    );
    assert_eq!(
        err1("global testopts=\"Q:1\"\n"),
        "invalid testopts value \"Q:1\""
    );
    assert_eq!(
        err1("global ipmiopts \"U:x\"\n"),
        "expected '=' after IPMIOPTS keyword"
    );
    let p = parse(&format!("global logopts=\"lock,fancy\"\n{T}"));
    assert_eq!(p.warnings[0].message, "ignoring unrecognized token 'fancy'");
    let p = parse(&format!("global seropts=\"1152000,8n1\"\n{T}"));
    assert!(p.errors.is_empty() && p.warnings[0].message.contains("1152000"));
}

#[test]
fn global_keeps_pairs_before_an_error() {
    let c = parse(
        "global logopts=\"sanitize\" seropts=\"9600,9n1\" testopts=\"B:5\"\nconsole name=\"a\" dev=\"test:\"\n",
    );
    assert_eq!(c.errors.len(), 1);
    assert!(
        c.config.consoles[0].logopts.sanitize,
        "pair before the error applies"
    );
    assert_eq!(
        c.config.consoles[0].spec,
        ConsoleSpec::Test(TestOpts::default()),
        "pair after it does not"
    );
}

#[test]
fn diagnostics_are_in_file_order() {
    let p = parse(
        "console name=\"a\" dev=\"x\"\nserver port=x\n\0\nconsole name=\"b\" dev=\"test:\" log=\"%q\"\nglobal logopts=\"odd\"\n",
    );
    let lines: Vec<u32> = p.errors.iter().map(|d| d.line).collect();
    assert_eq!(lines, [1, 2, 3]);
    let wlines: Vec<u32> = p.warnings.iter().map(|d| d.line).collect();
    assert_eq!(wlines, [4, 5]);
}
