//! Property test: any generated [`Config`] printed with [`print`] and parsed again gives
//! the same [`Config`] (console line numbers aside).

use std::path::PathBuf;

use conmand_core::config::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn probe() -> MemProbe {
    let mut p = MemProbe::new("/srv")
        .dir("/var/lib/conman")
        .dir("/var/log/conman")
        .executable("/bin/sh");
    for i in 0..16 {
        p = p.char_device(format!("/dev/ttyS{i}"));
    }
    p
}

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::Emerg),
        Just(Priority::Alert),
        Just(Priority::Crit),
        Just(Priority::Err),
        Just(Priority::Warning),
        Just(Priority::Notice),
        Just(Priority::Info),
        Just(Priority::Debug),
    ]
}

fn facility() -> impl Strategy<Value = SyslogFacility> {
    use SyslogFacility::*;
    prop::sample::select(vec![
        Auth, Authpriv, Cron, Daemon, Kern, Lpr, Mail, News, User, Uucp, Local0, Local1, Local2,
        Local3, Local4, Local5, Local6, Local7,
    ])
}

fn server() -> impl Strategy<Value = ServerOpts> {
    (
        (
            any::<bool>(),
            option::of(prop::sample::select(vec![
                "/var/lib/conman",
                "/var/log/conman",
            ])),
        ),
        vec(
            prop::sample::select(vec!["/etc/conman/exec", "/usr/share/conman/exec", "/opt/x"]),
            0..3,
        ),
        (
            any::<bool>(),
            option::of(prop::sample::select(vec!["/var/log/conman", "/srv/logs"])),
        ),
        option::of(("[a-z]{1,8}(-%Y%m%d)?\\.log", priority())),
        (
            any::<bool>(),
            -1i64..100_000,
            option::of("/run/[a-z]{1,8}\\.pid"),
            option::of(any::<u16>()),
        ),
        (
            option::of("[a-z]{1,6}( %N)?( [a-z0-9]{1,5}){0,3}"),
            option::of(facility()),
        ),
        (any::<bool>(), 0u32..100_000, 1usize..=1_000_000),
        (
            any::<bool>(),
            option::of("/etc/conman/[a-z]{1,8}\\.rules"),
            option::of("/var/log/conman/[a-z]{1,8}\\.jsonl"),
            option::of((
                prop::sample::select(vec!["127.0.0.1", "[::1]", "10.1.2.3", "[fe80::1]"]),
                any::<u16>(),
            )),
            option::of("/etc/conman/[a-z]{1,8}\\.tokens"),
            option::of("http://(127\\.0\\.0\\.1|\\[::1\\]|[a-z]{1,8}\\.example)(:[1-9][0-9]{0,3})?/[a-z/?=&]{0,12}"),
            option::of("/usr/local/bin/[a-z]{1,8}( -[a-z]| '[a-z %]{1,6}'){0,3}"),
        ),
        (
            option::of("/etc/conman/[a-z]{1,8}\\.acl"),
            option::of("/var/log/conman/[a-z]{1,8}\\.audit"),
            any::<u16>(),
            option::of(prop::sample::select(vec!["127.0.0.1", "::1", "0.0.0.0", "::"])),
            option::of("/etc/conman/[a-z]{1,8}_key"),
            option::of("/etc/conman/[a-z]{1,8}\\.d"),
            option::of("/etc/conman/[a-z]{1,8}\\.ca"),
        ),
        (
            prop::collection::vec("http://127\\.0\\.0\\.[1-9]:[1-9][0-9]{3}", 0..3),
            option::of("[a-z][a-z0-9-]{0,10}"),
            option::of("/[a-z]{1,8}(/[a-z]{1,4})?"),
            2u32..=300,
            option::of("[a-z]{1,8}\\.example:[1-9][0-9]{2,3}"),
        ),
    )
        .prop_map(
            |(
                (cd, cdd),
                ep,
                (ka, ld),
                lf,
                (lb, nofile, pid, port),
                (rc, sl),
                (tw, ts, mc),
                (pack, al, ev, http, tokens, hook, exec),
                (acl, audit, sshport, sshaddr, hostkey, users, ca),
                (cluster, nodename, cprefix, cttl, advertise),
            )| {
                // SSH needs a way to authenticate.
                let users = users.or_else(|| {
                    (sshport != 0 && ca.is_none()).then(|| "/etc/conman/users.d".to_string())
                });
                let http: Option<std::net::SocketAddr> =
                    http.map(|(a, p)| format!("{a}:{p}").parse().expect("address"));
                // A non-loopback listener needs tokens.
                let tokens = tokens.or_else(|| {
                    http.filter(|a| !a.ip().is_loopback())
                        .map(|_| "/etc/conman/http.tokens".to_string())
                });
                ServerOpts {
                    alertpack: if pack {
                        AlertPack::Builtin
                    } else {
                        AlertPack::Off
                    },
                    alerts: al.map(PathBuf::from),
                    eventlog: ev.map(PathBuf::from),
                    // Stored as the parser writes it back (no ":80", lower-case scheme).
                    alertwebhook: hook.map(|u| {
                        conmand_core::alerts::url::HttpUrl::parse(&u)
                            .expect("generated URL")
                            .to_string()
                    }),
                    alertexec: exec,
                    http,
                    httptokens: tokens.map(PathBuf::from),
                    acl: acl.map(PathBuf::from),
                    auditlog: audit.map(PathBuf::from),
                    sshport,
                    sshaddr: sshaddr.map(|a| a.parse().expect("address")),
                    sshhostkey: hostkey.map(PathBuf::from),
                    sshusers: users.map(PathBuf::from),
                    sshca: ca.map(PathBuf::from),
                    cluster,
                    nodename,
                    clusterprefix: cprefix
                        .unwrap_or_else(|| conmand_core::config::DEFAULT_CLUSTER_PREFIX.into()),
                    clusterttl: cttl,
                    advertise,
                    coredump: cd,
                    coredumpdir: cdd.map(PathBuf::from),
                    execpath: ep.into_iter().map(PathBuf::from).collect(),
                    keepalive: ka,
                    logdir: ld.map(PathBuf::from),
                    logfile: lf.map(|(n, p)| DaemonLogfile {
                        name: format!("/var/log/{n}"),
                        priority: p,
                    }),
                    loopback: lb,
                    maxclients: mc,
                    nofile,
                    pidfile: pid.map(PathBuf::from),
                    port,
                    resetcmd: rc,
                    syslog: sl,
                    tcpwrappers: tw,
                    timestamp_minutes: ts,
                }
            },
        )
}

fn seropts() -> impl Strategy<Value = SerialOpts> {
    let mut rates: Vec<u32> = conmand_core::config::opts::STANDARD_BPS.to_vec();
    rates.extend([921_600, 1_000_000, 1_152_000]);
    (prop::sample::select(rates), 5u8..=8, 0..3u8, 1u8..=2).prop_map(
        |(bps, databits, p, stopbits)| {
            let parity = [Parity::None, Parity::Odd, Parity::Even][usize::from(p)];
            SerialOpts {
                bps,
                databits,
                parity,
                stopbits,
            }
        },
    )
}

fn ipmiopts() -> impl Strategy<Value = IpmiOpts> {
    let workaround = prop_oneof![
        Just(None),
        Just(Some(0u32)),
        (1u32..=WORKAROUND_MASK)
            .prop_map(|w| Some(w & WORKAROUND_MASK))
            .prop_filter("some bit", |w| *w != Some(0)),
    ];
    let level = prop::sample::select(vec![
        PrivilegeLevel::User,
        PrivilegeLevel::Operator,
        PrivilegeLevel::Admin,
    ]);
    (
        option::of("[A-Za-z0-9_.@-]{1,16}"),
        option::of(vec(any::<u8>(), 1..=20)),
        option::of(vec(any::<u8>(), 1..=20)),
        option::of(prop::sample::select(CIPHER_SUITES.to_vec())),
        option::of(level),
        workaround,
    )
        .prop_map(
            |(username, password, k_g, cipher_suite, privilege, workarounds)| IpmiOpts {
                username,
                password,
                k_g,
                cipher_suite,
                privilege,
                workarounds,
            },
        )
}

fn testopts() -> impl Strategy<Value = TestOpts> {
    (
        0u32..=i32::MAX as u32,
        -1i32..100_000,
        -1i32..100_000,
        0u8..=100,
    )
        .prop_map(|(burst_bytes, max_ms, min_ms, probability)| TestOpts {
            burst_bytes,
            max_ms,
            min_ms,
            probability,
        })
}

/// A console kind with its parameters; the name and index are filled in later.
#[derive(Debug, Clone)]
enum Kind {
    Serial(bool, SerialOpts),
    Telnet(String, u16),
    Unix,
    Ipmi(bool, Option<u16>, IpmiOpts),
    Process(Vec<String>),
    Test(TestOpts),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (any::<bool>(), seropts()).prop_map(|(usb, o)| Kind::Serial(usb, o)),
        (
            prop::sample::select(vec!["ts1", "127.0.0.1", "::1", "fd00::7"]),
            1u16..
        )
            .prop_map(|(h, p)| Kind::Telnet(h.into(), p)),
        Just(Kind::Unix),
        (any::<bool>(), option::of(1u16..), ipmiopts()).prop_map(|(v6, p, o)| Kind::Ipmi(v6, p, o)),
        vec(prop_oneof![Just("%N".to_string()), "[a-z0-9=.]{1,6}"], 0..4).prop_map(Kind::Process),
        testopts().prop_map(Kind::Test),
    ]
}

fn console(i: usize, kind: Kind, log: u8, logopts: (bool, bool, bool)) -> ConsoleDef {
    let name = format!("c{i}");
    let (dev, spec) = match kind {
        Kind::Serial(usb, opts) => {
            let path = if usb {
                format!("/dev/ttyUSB{i}")
            } else {
                format!("/dev/ttyS{i}")
            };
            (
                path.clone(),
                ConsoleSpec::Serial(SerialSpec {
                    path: path.into(),
                    opts,
                }),
            )
        }
        Kind::Telnet(host, port) => {
            let dev = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            (dev, ConsoleSpec::Telnet(TelnetSpec { host, port }))
        }
        Kind::Unix => {
            let path = format!("/run/c{i}.sock");
            (
                format!("unix:{path}"),
                ConsoleSpec::Unix(UnixSpec { path: path.into() }),
            )
        }
        Kind::Ipmi(v6, port, opts) => {
            let host = if v6 {
                format!("fd00::{i:x}")
            } else {
                format!("bmc{i}.example")
            };
            let shown = if v6 {
                format!("[{host}]")
            } else {
                host.clone()
            };
            let dev = match port {
                Some(p) => format!("ipmi:{shown}:{p}"),
                None => format!("ipmi:{shown}"),
            };
            (dev, ConsoleSpec::Ipmi(IpmiSpec { host, port, opts }))
        }
        Kind::Process(args) => {
            let mut dev = "/bin/sh".to_string();
            let mut argv = vec!["/bin/sh".to_string()];
            for a in args {
                dev.push(' ');
                dev.push_str(&a);
                argv.push(a.replace("%N", &name));
            }
            (dev, ConsoleSpec::Process(ProcessSpec { argv }))
        }
        Kind::Test(o) => ("test:".to_string(), ConsoleSpec::Test(o)),
    };
    let log = match log % 3 {
        0 => None,
        1 => Some(format!("/var/log/conman/{name}.log")),
        _ => Some(format!("/var/log/conman/%N-%Y%m%d-{i}.log")),
    };
    let (lock, sanitize, timestamp) = logopts;
    ConsoleDef {
        name,
        dev,
        spec,
        log,
        logopts: LogOpts {
            lock,
            sanitize,
            timestamp,
        },
        line: 0,
    }
}

fn config() -> impl Strategy<Value = Config> {
    (
        server(),
        vec((kind(), any::<u8>(), any::<(bool, bool, bool)>()), 1..8),
    )
        .prop_map(|(server, cs)| Config {
            origin: "rt.conf".to_string(),
            server,
            consoles: cs
                .into_iter()
                .enumerate()
                .map(|(i, (k, l, o))| console(i, k, l, o))
                .collect(),
        })
}

fn without_lines(mut c: Config) -> Config {
    for d in &mut c.consoles {
        d.line = 0;
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_then_parse_is_identity(cfg in config()) {
        let text = print(&cfg);
        let parsed = Config::parse_str(&text, "rt.conf", &probe());
        prop_assert!(parsed.errors.is_empty(), "errors {:?} in\n{}", parsed.errors, text);
        prop_assert_eq!(without_lines(parsed.config), cfg, "text:\n{}", text);
    }
}

#[test]
fn printed_text_is_readable() {
    let src =
        "server port=7001 timestamp=1h\nglobal log=\"%N.log\"\nconsole name=\"a\" dev=\"test:\"\n";
    let c = Config::parse_str(src, "x", &probe()).config;
    assert_eq!(
        print(&c),
        "server port=7001\nserver timestamp=60m\nconsole name=\"a\" dev=\"test:\" log=\"/srv/%N.log\"\n"
    );
}

#[test]
fn programs_found_through_an_execpath_changed_later_keep_their_directory() {
    // Found by the `config` fuzz target (fuzz/regressions/config/crash-2cbd32b2-execpath-changed-midfile):
    // each console's program is looked up in the execpath in effect at its line,
    // but only the final execpath was printed, so "prog" re-parsed as /b/prog.
    let probe = MemProbe::new("/srv")
        .dir("/a")
        .dir("/b")
        .executable("/a/prog")
        .executable("/b/prog")
        .executable("/b/other");
    let src = "server execpath=\"/a\"\n\
               console name=\"p\" dev=\"prog x\"\n\
               server execpath=\"/b:/a\"\n\
               console name=\"q\" dev=\"prog y\"\n\
               console name=\"r\" dev=\"other\"\n\
               console name=\"s\" dev=\"/b/prog\"\n";
    let parsed = Config::parse_str(src, "x", &probe);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let text = print(&parsed.config);
    assert_eq!(
        text,
        "server execpath=\"/b:/a\"\n\
         server execpath=\"/a\"\n\
         console name=\"p\" dev=\"prog x\"\n\
         server execpath=\"/b:/a\"\n\
         console name=\"q\" dev=\"prog y\"\n\
         console name=\"r\" dev=\"other\"\n\
         console name=\"s\" dev=\"/b/prog\"\n"
    );
    let again = Config::parse_str(&text, "x", &probe);
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(without_lines(again.config), without_lines(parsed.config));
}

#[test]
fn logs_under_logdir_are_printed_relative_to_it() {
    // Found by the `config` fuzz target
    // (fuzz/regressions/config/crash-eae26a1c-ampersand-in-logdir): a log= value may
    // not hold '&', but a logdir may, so printing the joined path made the console
    // disappear on re-parse.
    let probe = MemProbe::new("/srv").dir("/var/log/a&b");
    let src = "server logdir=\"/var/log/a&b\"\n\
               console name=\"a\" dev=\"test:\" log=\"%N.log\"\n\
               console name=\"b\" dev=\"test:\" log=\"/elsewhere/%N.log\"\n";
    let parsed = Config::parse_str(src, "x", &probe);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(
        parsed.config.consoles[0].log.as_deref(),
        Some("/var/log/a&b/%N.log")
    );
    let text = print(&parsed.config);
    assert_eq!(
        text,
        "server logdir=\"/var/log/a&b\"\n\
         console name=\"a\" dev=\"test:\" log=\"%N.log\"\n\
         console name=\"b\" dev=\"test:\" log=\"/elsewhere/%N.log\"\n"
    );
    let again = Config::parse_str(&text, "x", &probe);
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(without_lines(again.config), without_lines(parsed.config));
}

#[test]
fn a_daemon_logfile_near_the_string_limit_is_printed_short_enough_to_read_back() {
    // Found by the `config` fuzz target
    // (fuzz/regressions/config/crash-206e7607-logfile-near-string-limit): a
    // 1020-byte logfile name printed as "NAME,info" went past the 1023-byte
    // string limit, was cut to "NAME,i" and re-parsed as an invalid priority.
    let probe = MemProbe::new("/srv").dir("/var/log/conman");
    let long = format!("/var/log/conman/{}", "x".repeat(1004));
    assert_eq!(long.len(), 1020);
    let src = format!(
        "server logdir=\"/var/log/conman\"\n\
         server logfile=\"{long}\"\n\
         server logfile=\"d.log,debug\"\n\
         console name=\"a\" dev=\"test:\"\n"
    );
    for (first_only, want) in [
        (true, format!("server logfile=\"{}\"", &long[16..])),
        (false, "server logfile=\"d.log,debug\"".to_string()),
    ] {
        let src = if first_only {
            src.replace("server logfile=\"d.log,debug\"\n", "")
        } else {
            src.clone()
        };
        let parsed = Config::parse_str(&src, "x", &probe);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let text = print(&parsed.config);
        assert!(text.lines().any(|l| l == want), "{text}");
        let again = Config::parse_str(&text, "x", &probe);
        assert!(again.errors.is_empty(), "{:?}", again.errors);
        assert!(again.warnings.is_empty(), "{:?}", again.warnings);
        assert_eq!(without_lines(again.config), without_lines(parsed.config));
    }
    // A name with a comma of its own keeps its priority, so it splits back the
    // same way.
    let parsed = Config::parse_str(
        "server logfile=\"/tmp/a,b,info\"\nconsole name=\"a\" dev=\"test:\"\n",
        "x",
        &probe,
    );
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert!(print(&parsed.config).contains("server logfile=\"/tmp/a,b,info\""));
    // So does a name whose logdir has one (fuzz/regressions/config/
    // crash-1cf5a5a1-logdir-with-comma): ConMan, too, splits after joining.
    let probe = MemProbe::new("/srv").dir("/v,P/log");
    let src = "server logdir=\"/v,P/log\"\nserver logfile=\"conmand.log,info\"\n\
               console name=\"a\" dev=\"test:\"\n";
    let parsed = Config::parse_str(src, "x", &probe);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let text = print(&parsed.config);
    assert!(
        text.contains("server logfile=\"conmand.log,info\""),
        "{text}"
    );
    let again = Config::parse_str(&text, "x", &probe);
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(without_lines(again.config), without_lines(parsed.config));
    // A name that is only a blank under logdir is written in full: a blank value
    // would mean "no log file" (fuzz/regressions/config/
    // crash-3f4e022c-logfile-priority-only).
    let probe = MemProbe::new("/srv").dir("/var/log/conman");
    let src = "server logdir=\"/var/log/conman\"\nserver logfile=\"\u{c},info\"\n\
               console name=\"a\" dev=\"test:\"\n";
    let parsed = Config::parse_str(src, "x", &probe);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let text = print(&parsed.config);
    assert!(
        text.contains("server logfile=\"/var/log/conman/\u{c}\""),
        "{text:?}"
    );
    let again = Config::parse_str(&text, "x", &probe);
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(without_lines(again.config), without_lines(parsed.config));
}
