//! Unit tests on string literals: each lexical rule, each keyword, each error of
//! reference §1.9 that a configuration can reach.

use std::path::PathBuf;

use super::*;

fn probe() -> MemProbe {
    MemProbe::new("/work")
        .char_device("/dev/ttyS0")
        .char_device("/dev/ttyS1")
        .char_device_no_access("/dev/ttyS9")
        .char_device("/work/ttyLocal")
        .dir("/var/log/conman")
        .dir("/etc/conman/exec")
        .dir("/work/scripts")
        .dir("/work")
        .executable("/etc/conman/exec/ssh.exp")
        .executable("/work/scripts/run.sh")
        .executable("/bin/sh")
        .executable("/bin/cat")
        .file("/etc/passwd")
}

fn parse(src: &str) -> Parsed {
    Config::parse_str(src, "t.conf", &probe())
}

/// Errors other than the whole-file "no consoles" one, as (line, message).
fn errs(src: &str) -> Vec<(u32, String)> {
    parse(src)
        .errors
        .into_iter()
        .filter(|d| d.line > 0)
        .map(|d| (d.line, d.message))
        .collect()
}

/// The single error of `src` (which must have exactly one).
fn err1(src: &str) -> String {
    let e = errs(src);
    assert_eq!(e.len(), 1, "{src:?} gave {e:?}");
    e[0].1.clone()
}

/// `src` must be clean; returns its config.
fn ok(src: &str) -> Config {
    let p = parse(src);
    assert!(p.errors.is_empty(), "{src:?} gave {:?}", p.errors);
    p.config
}

const T: &str = "console name=\"t\" dev=\"test:\"\n";

fn server(line: &str) -> ServerOpts {
    ok(&format!("{line}\n{T}")).server
}

fn console(line: &str) -> ConsoleDef {
    let c = ok(line);
    assert_eq!(c.consoles.len(), 1);
    c.consoles[0].clone()
}

// ---- lexical rules -------------------------------------------------------------------

#[test]
fn comments_and_hash_in_strings() {
    let c = ok(
        "# leading comment\nserver port=1 # trailing\n  # indented\nconsole name=\"a#b\" dev=\"test:\" # x\n",
    );
    assert_eq!(c.server.port, Some(1));
    assert_eq!(c.consoles[0].name, "a#b");
}

#[test]
fn both_quote_kinds_no_escapes() {
    assert_eq!(console("console name='x\"y' dev=\"test:\"").name, "x\"y");
    assert_eq!(console("console name=\"it's\" dev='test:'").name, "it's");
    assert_eq!(console("console name=\"a\\b\" dev=\"test:\"").name, "a\\b");
}

#[test]
fn continuation_lf_and_crlf() {
    let c = ok("console name=\"a\" \\\n  dev=\"test:\"\nconsole name=\"b\" \\\r\n dev=\"test:\"\n");
    assert_eq!(c.consoles.len(), 2);
    assert_eq!((c.consoles[0].line, c.consoles[1].line), (1, 3));
    // The line counter still counts continued lines.
    assert_eq!(errs("console name=\"a\" \\\n dev=\"nowhere\"\n")[0].0, 2);
}

#[test]
fn backslash_without_newline_is_a_token() {
    assert_eq!(err1("server \\ port=1\n"), "unrecognized token '\\'");
    assert_eq!(
        err1("server port=1 \\\r\nserver\n"),
        "unrecognized token 'server'"
    );
    // A backslash before a lone CR is not a continuation.
    assert_eq!(
        errs("server keepalive=off \\\rport=1\n"),
        [
            (1, "unrecognized token '\\'".to_string()),
            (2, "unrecognized token 'port'".to_string())
        ]
    );
    // A backslash in a comment does nothing.
    assert_eq!(
        ok("# comment \\\nconsole name=\"a\" dev=\"test:\"\n")
            .consoles
            .len(),
        1
    );
}

#[test]
fn cr_lf_crlf_line_ends() {
    let src = "server port=1\rserver keepalive=off\r\nserver loopback=off\nserver bogus\r\n";
    let e = errs(src);
    assert_eq!(e, vec![(4, "unrecognized token 'bogus'".to_string())]);
    let s = parse(&format!("{src}{T}")).config.server;
    assert_eq!((s.port, s.keepalive, s.loopback), (Some(1), false, false));
}

#[test]
fn keywords_are_case_insensitive_values_keep_case() {
    let c = ok("SeRvEr PoRt=5 LOOPBACK=On\nCONSOLE NAME=\"MiXed\" Dev=\"TEST:\"\n");
    assert_eq!(c.server.port, Some(5));
    assert_eq!(c.consoles[0].name, "MiXed");
}

#[test]
fn integers_and_signs() {
    assert_eq!(server("server port=+5").port, Some(5));
    assert_eq!(server("server nofile=-1").nofile, -1);
    assert_eq!(err1("server port=-5\n"), "invalid PORT value -5");
    assert_eq!(err1("server port=+x\n"), "expected INTEGER for PORT value");
    assert_eq!(
        err1("server port=\"5\"\n"),
        "expected INTEGER for PORT value"
    );
}

#[test]
fn words_are_strings_unless_keywords() {
    assert_eq!(console("console name=abc dev=\"test:\"").name, "abc");
    assert_eq!(
        err1("console name=on dev=\"test:\"\n"),
        "expected STRING for NAME value"
    );
    let s = server("server logfile=info");
    assert_eq!(s.logfile.unwrap().name, "/work/info");
}

#[test]
fn one_char_tokens() {
    assert_eq!(err1("server port:5\n"), "expected '=' after PORT keyword");
    assert_eq!(err1("% junk here\n"), "unrecognized token '%'");
    assert_eq!(err1("server é\n"), "unrecognized token 'é'");
}

#[test]
fn strings_are_cut_to_1023_bytes() {
    let long = "x".repeat(1100);
    let p = parse(&format!("console name=\"{long}\" dev=\"test:\"\n"));
    assert!(p.errors.is_empty());
    assert_eq!(p.config.consoles[0].name.len(), 1023);
    assert!(p.warnings.iter().any(|w| w.message.contains("cut to 1023")));
    // Never inside a multi-byte character.
    let p = parse(&format!(
        "console name=\"x{}\" dev=\"test:\"\n",
        "é".repeat(600)
    ));
    assert_eq!(p.config.consoles[0].name.len(), 1023);
}

#[test]
fn unmatched_quote() {
    assert_eq!(err1("\"abc\n"), "unmatched quote");
    assert_eq!(err1("server \"abc\n"), "unmatched quote");
    assert_eq!(
        err1("console name=\"abc\n"),
        "expected STRING for NAME value"
    );
    // The next line is parsed normally.
    assert_eq!(
        parse("console name=\"a\n".to_string().as_str())
            .errors
            .len(),
        2
    );
    assert_eq!(parse(&format!("\"abc\n{T}")).config.consoles.len(), 1);
}

#[test]
fn nul_bytes_are_errors() {
    let p = parse(&format!("server\0 port=3\n{T}"));
    assert_eq!(p.errors.len(), 1);
    assert_eq!((p.errors[0].line, p.errors[0].col), (1, 7));
    assert!(p.errors[0].message.contains("NUL"));
}

#[test]
fn columns_are_reported() {
    let p = parse(&format!("server  port=x\n{T}"));
    assert_eq!((p.errors[0].line, p.errors[0].col), (1, 14));
}

#[test]
fn invalid_utf8_is_replaced_with_a_warning() {
    let mut src = b"console name=\"a".to_vec();
    src.push(0xff);
    src.extend_from_slice(b"\" dev=\"test:\"\n");
    let p = Config::parse_bytes(&src, "t.conf", &probe());
    assert!(p.errors.is_empty());
    assert_eq!(p.config.consoles[0].name, "a\u{fffd}");
    assert_eq!((p.warnings[0].line, p.warnings[0].col), (1, 16));
    let p = Config::parse_bytes(b"\xfe\n", "t.conf", &probe());
    assert_eq!(p.errors[0].message, "unrecognized token '\u{fffd}'");
}

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
    let p = parse(&format!("server tcpwrappers=on\n{T}"));
    assert!(p.warnings.iter().any(|w| w.message.contains("TCPWRAPPERS")));
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
