//! Unit tests and properties of the hosts_access evaluator. The expected verdicts of
//! the table-driven cases were observed with Debian's `tcpdmatch -d conmand ADDR`
//! (tcpd 7.6.q-32); the daemon crate's differential test compares many more.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

fn client(addr: &str) -> Client<'static> {
    Client {
        addr: addr.parse().unwrap(),
        name: HostName::Unknown,
    }
}

fn decide(allow: &str, deny: &str, c: &Client<'_>) -> Decision {
    let a = AccessTable::parse(TableKind::Allow, allow.as_bytes());
    let d = AccessTable::parse(TableKind::Deny, deny.as_bytes());
    check(&a, &d, c)
}

fn verdict(allow: &str, deny: &str, addr: &str) -> Verdict {
    decide(allow, deny, &client(addr)).verdict
}

use Verdict::{Allow as G, Deny as D};

/// (hosts.allow, hosts.deny, client address, tcpdmatch's verdict).
const OBSERVED: &[(&str, &str, &str, Verdict)] = &[
    ("conmand: 127.0.0.5\n", "ALL: ALL\n", "127.0.0.5", G),
    ("conmand: 127.0.0.5\n", "ALL: ALL\n", "127.0.0.6", D),
    ("", "", "10.1.2.3", G),
    ("conmand: ALL: deny\n", "", "127.0.0.5", D),
    ("conmand: UNKNOWN\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: KNOWN\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 127.0.0.0/8\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: 127.0.0.1/8\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 127.\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: 127.0.0.*\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: [::1]\n", "ALL:ALL\n", "::1", G),
    ("conmand: [::]/0\n", "ALL:ALL\n", "::1", G),
    ("conmand: ALL", "ALL:ALL\n", "127.0.0.5", D),
    ("", "ALL:ALL", "127.0.0.5", D),
    ("CONMAND: all\n", "ALL:ALL\n", "127.0.0.5", G),
    ("ALL EXCEPT conmand: all\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: all except 127.0.0.5\n", "", "127.0.0.5", G),
    ("conmand: ALL", "", "127.0.0.5", G),
    ("", "conmand: 10.0.0.1", "127.0.0.5", D),
    ("", "conmand: 10.0.0.1\n", "127.0.0.5", G),
    ("garbage\nconmand: ALL\n", "ALL:ALL\n", "127.0.0.5", G),
    ("", "garbage\nconmand: 10.0.0.1\n", "127.0.0.5", G),
    ("conmand: ALL: bogusopt\n", "", "127.0.0.5", D),
    ("conmand: ALL: allow\n", "ALL:ALL\n", "127.0.0.5", G),
    ("", "conmand: ALL: allow\n", "127.0.0.5", G),
    (
        "conmand: 10.0.0.1: deny\nconmand: ALL\n",
        "ALL:ALL\n",
        "127.0.0.5",
        G,
    ),
    ("conmand: ALL: deny: spawn foo\n", "", "127.0.0.5", D),
    (
        "conmand: 127.0.0.5/255.255.255.255\n",
        "ALL:ALL\n",
        "127.0.0.5",
        D,
    ),
    ("conmand: 127.0.0.5/32\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: 127.0.0.5/33\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: [::1]/128\n", "ALL:ALL\n", "::1", G),
    ("conmand: [::1]/129\n", "ALL:ALL\n", "::1", D),
    ("conmand: ::1\n", "ALL:ALL\n", "::1", D),
    ("conmand: [0:0::1]\n", "ALL:ALL\n", "::1", G),
    ("conmand: [::ffff:127.0.0.5]\n", "ALL:ALL\n", "127.0.0.5", D),
    (
        "conmand: 127.0.0.5 \\\n 127.0.0.6\n",
        "ALL:ALL\n",
        "127.0.0.6",
        G,
    ),
    ("conmand@ALL: ALL\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand@unknown: ALL\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: unknown@ALL\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: KNOWN@ALL\n", "ALL:ALL\n", "127.0.0.5", D),
    ("", "#x", "127.0.0.5", D),
    ("", "   ", "127.0.0.5", D),
    ("", "conmand: 10.0.0.1 \\", "127.0.0.5", D),
    ("", "conmand: 10.0.0.1 \\\n", "127.0.0.5", D),
    (
        "conmand: 127.0.0.6\nconmand: 127.0.0.5 \\\n",
        "ALL:ALL\n",
        "127.0.0.5",
        D,
    ),
    ("conmand: 127.0.0.5 \\\n\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: 127.0.0.5\r\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand,sshd: 127.0.0.5\n", "ALL:ALL\n", "127.0.0.5", G),
    ("sshd conmand: 127.0.0.5\n", "ALL:ALL\n", "127.0.0.5", G),
    (
        "ALL EXCEPT sshd EXCEPT conmand: 127.0.0.5\n",
        "ALL:ALL\n",
        "127.0.0.5",
        G,
    ),
    (
        "conmand: ALL EXCEPT 127.0.0.0/8 EXCEPT 127.0.0.5\n",
        "ALL:ALL\n",
        "127.0.0.5",
        G,
    ),
    (
        "conmand: ALL EXCEPT 127.0.0.0/8 EXCEPT 127.0.0.4\n",
        "ALL:ALL\n",
        "127.0.0.5",
        D,
    ),
    ("conmand: EXCEPT 127.0.0.4\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 127.0.0.5 EXCEPT\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand:\n", "ALL:ALL\n", "127.0.0.5", D),
    (": ALL\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: ALL:\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: ALL: \n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: ALL: allow: deny\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: ALL: ALLOW\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: ALL: allow extra\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 127.0.0.?\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: 127.*.5\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: *.0.0.\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 127.0.0.5*\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: [127.0.0.5]\n", "ALL:ALL\n", "127.0.0.5", D),
    (
        "conmand: 127.0.0.0/255.0.0.0\n",
        "ALL:ALL\n",
        "127.0.0.5",
        G,
    ),
    ("conmand: 127.0.0.0/0.0.0.0\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 0.0.0.0/0.0.0.0\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: 127.0.0.4/31\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: 127.0.0/8\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: [::]/0\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 127.0.0.0/8\n", "ALL:ALL\n", "::1", D),
    ("conmand: [::1]/64\n", "ALL:ALL\n", "::1", G),
    ("conmand: [::2]/127\n", "ALL:ALL\n", "::3", G),
    ("conmand: [::2]/127\n", "ALL:ALL\n", "::1", D),
    ("conmand: conmand@ALL\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 0.0.0.0/1\n", "ALL:ALL\n", "127.0.0.5", G),
    ("conmand: 0.0.0.0/2\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: 127.0.0.5/ 32\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: [::1]/-1\n", "ALL:ALL\n", "::1", D),
    ("conmand: [::1]x\n", "ALL:ALL\n", "::1", D),
    ("conmand: [::g]\n", "ALL:ALL\n", "::1", D),
    ("conmand: [0::1]/128\n", "ALL:ALL\n", "::1", G),
    ("conmand: [127.0.0.5]/128\n", "ALL:ALL\n", "127.0.0.5", D),
    ("conmand: UNKNOWN\n", "ALL:ALL\n", "::1", G),
    ("conmand: paranoid\n", "ALL:ALL\n", "127.0.0.5", D),
];

#[test]
fn verdicts_observed_with_tcpdmatch() {
    assert!(OBSERVED.len() > 80);
    for (allow, deny, addr, want) in OBSERVED {
        assert_eq!(
            verdict(allow, deny, addr),
            *want,
            "allow={allow:?} deny={deny:?} client={addr}"
        );
    }
}

/// Where libwrap reads a pattern in a way conmand does not reproduce, conmand may
/// only be stricter: these grant under tcpdmatch and deny here.
#[test]
fn unreproduced_forms_are_stricter_than_libwrap() {
    for (allow, addr) in [
        // libwrap: `/0` acts as /32, `/8x` reads as /8, `/+32` as /32, an empty
        // IPv6 prefix as /0, octal parts as octal.
        ("conmand: 0.0.0.0/0\n", "127.0.0.5"),
        ("conmand: 127.0.0.0/8x\n", "127.0.0.5"),
        ("conmand: 127.0.0.5/+32\n", "127.0.0.5"),
        ("conmand: [::1]/\n", "::1"),
        ("conmand: [::1]/128x\n", "::1"),
        ("conmand: [::1]/0x10\n", "::1"),
        ("conmand: 127.0.0.010/32\n", "127.0.0.8"),
        ("conmand: 127.0.0.4/030\n", "127.0.0.5"),
        // spawn runs a command and grants in libwrap; conmand denies.
        ("conmand: ALL: spawn echo hi\n", "127.0.0.5"),
        ("conmand: ALL: severity auth.info\n", "127.0.0.5"),
    ] {
        let d = decide(allow, "ALL: ALL\n", &client(addr));
        assert_eq!(d.verdict, D, "{allow:?} {addr}");
    }
    // An unsupported rule in the deny table denies even though libwrap might not.
    let d = decide("", "conmand: @trusted\n", &client("127.0.0.5"));
    assert_eq!(d.verdict, D);
    assert!(d.uncertain);
    // ...and in the allow table it never grants, but the search goes on.
    let d = decide(
        "conmand: @trusted\nconmand: 127.0.0.5\n",
        "ALL:ALL\n",
        &client("127.0.0.5"),
    );
    assert_eq!(
        (d.verdict, d.reason),
        (
            G,
            Reason::Rule {
                table: TableKind::Allow,
                line: 2
            }
        )
    );
    let d = decide("conmand: /etc/trusted\n", "ALL:ALL\n", &client("127.0.0.5"));
    assert_eq!(d.verdict, D);
}

#[test]
fn names_local_known_suffix_and_paranoid() {
    let named = |name| Client {
        addr: "10.1.2.3".parse().unwrap(),
        name: HostName::Known(name),
    };
    let v = |allow: &str, c: &Client<'_>| decide(allow, "ALL: ALL\n", c).verdict;
    assert_eq!(v("conmand: LOCAL\n", &named("localhost")), G);
    assert_eq!(v("conmand: LOCAL\n", &named("ws1.example.com")), D);
    assert_eq!(v("conmand: KNOWN\n", &named("ws1.example.com")), G);
    assert_eq!(v("conmand: UNKNOWN\n", &named("ws1.example.com")), D);
    assert_eq!(v("conmand: .example.com\n", &named("ws1.EXAMPLE.com")), G);
    assert_eq!(v("conmand: .example.com\n", &named("example.com")), D);
    assert_eq!(v("conmand: ws1.\n", &named("ws1.example.com")), G);
    assert_eq!(v("conmand: WS?.example.*\n", &named("ws1.example.com")), G);
    assert_eq!(
        v(
            "conmand: .example.com EXCEPT bad.example.com\n",
            &named("bad.example.com")
        ),
        D
    );
    assert_eq!(
        v("conmand: ws1.example.com\n", &named("ws1.example.com")),
        G
    );
    // A host name pattern made only of digits and dots is an address pattern.
    assert_eq!(v("conmand: 10.1.2.3\n", &named("10.1.2.3")), G);
    let paranoid = Client {
        addr: "10.1.2.3".parse().unwrap(),
        name: HostName::Paranoid,
    };
    assert_eq!(v("conmand: PARANOID\n", &paranoid), G);
    assert_eq!(v("conmand: KNOWN\n", &paranoid), D);
    assert_eq!(v("conmand: UNKNOWN\n", &paranoid), D);
    assert_eq!(v("conmand: LOCAL\n", &paranoid), D);
}

#[test]
fn reasons_and_line_numbers() {
    let c = client("10.0.0.9");
    let d = decide("# c\n\nsshd: ALL\nconmand: \\\n 10.0.0.9\n", "", &c);
    assert_eq!(
        d.reason,
        Reason::Rule {
            table: TableKind::Allow,
            line: 4
        }
    );
    let d = decide("", "sshd: ALL\n\nconmand: 10.0.0.9", &c);
    assert_eq!(
        d.reason,
        Reason::TableError {
            table: TableKind::Deny,
            line: 3
        }
    );
    assert_eq!(decide("", "", &c).reason, Reason::NoMatch);
    assert!(!decide("", "", &c).uncertain);
}

#[test]
fn warnings_name_the_line_and_the_effect() {
    let t = AccessTable::parse(
        TableKind::Deny,
        b"conmand: ALL: spawn /bin/echo %a\nnocolon\nALL: @ng 10.0.0.0/33 10.0.0.1/8 [::g]\nALL: ALL",
    );
    let w: Vec<(u32, &str)> = t
        .warnings()
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(w.len(), 7, "{w:?}");
    assert!(w[0].1.contains("\"spawn\" is not supported") && w[0].1.contains("denies"));
    assert_eq!(w[1].0, 2);
    assert!(w[1].1.contains("missing \":\""));
    assert!(w[2].1.contains("netgroup"));
    assert!(w[3].1.contains("bad net/mask"));
    assert!(w[4].1.contains("host bits"));
    assert!(w[5].1.contains("IPv6"));
    assert_eq!(w[6].0, 4);
    assert!(w[6].1.contains("missing newline") && w[6].1.contains("denied"));
    assert_eq!(t.len(), 2);
    let long = format!("conmand: {}\n", "a ".repeat(MAX_RULE_LEN));
    let t = AccessTable::parse(TableKind::Allow, long.as_bytes());
    assert!(t.warnings()[0].message.contains("too long"));
}

#[test]
fn options_are_split_at_unescaped_colons() {
    assert_eq!(
        option_fields(r" spawn a\:b : deny"),
        vec![" spawn a:b ".to_string(), " deny".to_string()]
    );
    assert_eq!(options_action(" deny "), Ok(Some(Action::Deny)));
    assert_eq!(options_action("Allow"), Ok(Some(Action::Grant)));
    assert!(options_action("twist /bin/echo").is_err());
    assert!(options_action("deny=1").is_err());
    assert!(options_action("").is_err());
}

/// Tokens the random tables are made of: supported forms, unsupported ones, and
/// the separators that make lists and rules.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ALL".to_string()),
        Just("EXCEPT".to_string()),
        Just("LOCAL".to_string()),
        Just("KNOWN".to_string()),
        Just("UNKNOWN".to_string()),
        Just("conmand".to_string()),
        Just("sshd".to_string()),
        Just("@netgroup".to_string()),
        Just("/etc/some.list".to_string()),
        Just(".example.com".to_string()),
        Just("10.0.0.0/33".to_string()),
        (0u8..4, 0u8..4).prop_map(|(a, b)| format!("10.{a}.{b}.")),
        (0u8..4, 0u8..4, 0u8..8).prop_map(|(a, b, c)| format!("10.{a}.{b}.{c}")),
        (0u8..4, 0u8..4, 0u32..33).prop_map(|(a, b, l)| format!("10.{a}.{b}.0/{l}")),
        (0u8..4).prop_map(|a| format!("[::{a}]")),
        (0u8..4, 120u32..129).prop_map(|(a, l)| format!("[::{a}]/{l}")),
    ]
}

/// One generated rule: daemon tokens, client tokens, option field.
#[derive(Debug, Clone)]
struct GenRule {
    daemons: Vec<String>,
    clients: Vec<String>,
    opts: &'static str,
}

fn rules() -> impl Strategy<Value = Vec<GenRule>> {
    let list = || prop::collection::vec(token(), 1..5);
    let opt = prop_oneof![
        Just(""),
        Just(": allow"),
        Just(": deny"),
        Just(": spawn /bin/true")
    ];
    let rule = (list(), list(), opt).prop_map(|(daemons, clients, opts)| GenRule {
        daemons,
        clients,
        opts,
    });
    prop::collection::vec(rule, 0..5)
}

/// Whether conmand cannot evaluate this client token.
fn unsupported(tok: &str) -> bool {
    let probe = Endpoint {
        name: "h.example.com",
        addr: Some(IpAddr::from([10, 0, 0, 1])),
    };
    host_match(tok, &probe) == Tri::Unknown
}

/// The table text; with `choices`, every unsupported client token is replaced by
/// `ALL` (true) or an address no client has (false).
fn render(rules: &[GenRule], choices: Option<&[bool]>) -> String {
    let mut i = 0;
    let mut out = String::new();
    for r in rules {
        let clients: Vec<&str> = r
            .clients
            .iter()
            .map(|t| match choices {
                Some(ch) if unsupported(t) => {
                    let c = ch.get(i).copied().unwrap_or(false);
                    i += 1;
                    if c { "ALL" } else { "192.0.2.1" }
                }
                _ => t.as_str(),
            })
            .collect();
        out.push_str(&format!(
            "{}: {}{}\n",
            r.daemons.join(" "),
            clients.join(" "),
            r.opts
        ));
    }
    out
}

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..4, 0u8..4, 0u8..8).prop_map(|(a, b, c)| IpAddr::from([10, a, b, c])),
        (0u16..4).prop_map(|a| IpAddr::from([0, 0, 0, 0, 0, 0, 0, a])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic the parser or the evaluator.
    #[test]
    fn any_bytes_parse_and_evaluate(a in prop::collection::vec(any::<u8>(), 0..300),
                                    d in prop::collection::vec(any::<u8>(), 0..300),
                                    ip in addr()) {
        let allow = AccessTable::parse(TableKind::Allow, &a);
        let deny = AccessTable::parse(TableKind::Deny, &d);
        let _ = check(&allow, &deny, &Client { addr: ip, name: HostName::Known("h.example.com") });
    }

    /// `net/len` and `net/mask` select exactly the addresses whose first `len`
    /// bits equal `net`'s.
    #[test]
    fn cidr_is_prefix_equality(a in any::<u32>(), n in any::<u32>(), len in 1u32..=32) {
        let mask = u32::MAX << (32 - len);
        let net = std::net::Ipv4Addr::from(n & mask);
        let want = if a & mask == n & mask { G } else { D };
        let addr = std::net::Ipv4Addr::from(a).to_string();
        prop_assert_eq!(verdict(&format!("conmand: {net}/{len}\n"), "ALL: ALL\n", &addr), want);
        let m = std::net::Ipv4Addr::from(mask);
        if len < 32 {
            prop_assert_eq!(verdict(&format!("conmand: {net}/{m}\n"), "ALL: ALL\n", &addr), want);
        }
    }

    /// IPv6 `[net]/len` is prefix equality too.
    #[test]
    fn v6_prefix_is_prefix_equality(a in any::<u128>(), n in any::<u128>(), len in 0u32..=128) {
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
        let want = if a & mask == n & mask { G } else { D };
        let addr = std::net::Ipv6Addr::from(a).to_string();
        let net = std::net::Ipv6Addr::from(n);
        prop_assert_eq!(verdict(&format!("conmand: [{net}]/{len}\n"), "ALL: ALL\n", &addr), want);
    }

    /// Never fail open: whenever conmand grants, libwrap grants too, whatever the
    /// unsupported patterns would have matched; with none, the answer is exact.
    #[test]
    fn unsupported_forms_never_grant_more(allow in rules(), deny in rules(), ip in addr(),
                                          choices in prop::collection::vec(any::<bool>(), 50)) {
        let c = Client { addr: ip, name: HostName::Unknown };
        let ours = decide(&render(&allow, None), &render(&deny, None), &c);
        let flipped: Vec<bool> = choices.iter().map(|b| !b).collect();
        for ch in [&choices, &flipped] {
            let (ra, rd) = (render(&allow, Some(ch)), render(&deny, Some(ch)));
            let exact = decide(&ra, &rd, &c);
            prop_assert!(!exact.uncertain, "{:?} {:?}", ra, rd);
            if ours.verdict == G {
                prop_assert_eq!(exact.verdict, G, "resolved {:?} / {:?}", ra, rd);
            }
            if !ours.uncertain {
                prop_assert_eq!(exact.verdict, ours.verdict);
            }
        }
    }

    /// Adding `ALL: ALL` to the end of the deny table never grants anyone new.
    #[test]
    fn closing_the_deny_table_only_denies(allow in rules(), deny in rules(), ip in addr()) {
        let c = Client { addr: ip, name: HostName::Unknown };
        let (allow, deny) = (render(&allow, None), render(&deny, None));
        let before = decide(&allow, &deny, &c).verdict;
        let after = decide(&allow, &format!("{deny}ALL: ALL\n"), &c).verdict;
        prop_assert!(!(before == D && after == G));
    }
}
