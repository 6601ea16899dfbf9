use proptest::prelude::*;

use super::*;

const SAMPLE: &str = "\
# sample
group ops    = alice bob
group oncall = carol @ops

allow @ops   all            on *
allow carol  monitor        on server-* login-?
allow dave   write,break    on regex:gpu[0-9]+
deny  *      reset          on db-*
deny  bob    monitor        on secret-*
";

fn sample() -> Acl {
    Acl::parse("acl", SAMPLE).unwrap()
}

#[test]
fn allow_lines_give_rights_and_what_they_need() {
    let acl = sample();
    assert_eq!(acl.rights("alice", "web-1"), Rights::all());
    assert_eq!(acl.rights("carol", "server-0").to_string(), "query,monitor");
    assert_eq!(acl.rights("carol", "login-1").to_string(), "query,monitor");
    assert_eq!(acl.rights("carol", "login-10"), Rights::NONE);
    assert_eq!(
        acl.rights("dave", "GPU17").to_string(),
        "query,monitor,write,break",
        "regex is case-insensitive like the client's -r"
    );
    assert_eq!(acl.rights("dave", "gpu17x"), Rights::NONE, "whole name");
}

#[test]
fn nobody_has_anything_by_default() {
    let acl = sample();
    assert_eq!(acl.rights("mallory", "server-0"), Rights::NONE);
    assert!(!acl.mentions("mallory"));
    assert!(acl.mentions("carol"));
    assert_eq!(
        Acl::parse("a", "").unwrap().rights("alice", "x"),
        Rights::NONE
    );
}

#[test]
fn deny_lines_take_rights_and_what_needs_them() {
    let acl = sample();
    let on_db = acl.rights("alice", "db-1");
    assert!(!on_db.has(Right::Reset));
    assert!(on_db.has(Right::Force));
    let secret = acl.rights("bob", "secret-1");
    assert_eq!(secret.to_string(), "query,break,reset,broadcast");
    assert!(
        acl.rights("alice", "secret-1").has(Right::Force),
        "alice is not bob"
    );
}

#[test]
fn nested_groups_are_flattened() {
    let acl = sample();
    assert_eq!(acl.groups_of("alice"), ["oncall", "ops"]);
    assert_eq!(acl.groups_of("carol"), ["oncall"]);
}

#[test]
fn groups_may_be_defined_after_use() {
    let acl = Acl::parse("a", "allow @late monitor on *\ngroup late = zoe\n").unwrap();
    assert!(acl.allows("zoe", "x", Right::Monitor));
}

fn parse_err(text: &str) -> String {
    Acl::parse("/etc/conman.acl", text).unwrap_err().to_string()
}

#[test]
fn mistakes_name_file_and_line() {
    assert_eq!(
        parse_err("\n\nallow alice monitr on *\n"),
        "/etc/conman.acl:3: unknown right \"monitr\" (expected monitor, write, force, \
         break, reset, broadcast, query or all)"
    );
    assert_eq!(
        parse_err("permit alice monitor on *"),
        "/etc/conman.acl:1: unknown keyword \"permit\" (expected allow, deny or group)"
    );
    assert_eq!(
        parse_err("allow alice monitor *"),
        "/etc/conman.acl:1: expected `allow SUBJECTS RIGHTS on CONSOLES`"
    );
    assert_eq!(
        parse_err("deny @nobody monitor on *"),
        "/etc/conman.acl:1: unknown group \"@nobody\""
    );
    assert_eq!(
        parse_err("group a = @b\ngroup b = @a\n"),
        "/etc/conman.acl:2: group \"b\" includes itself through \"@a\""
    );
    assert_eq!(
        parse_err("group a = x\ngroup a = y\n"),
        "/etc/conman.acl:2: group \"a\" is already defined at line 1"
    );
    assert_eq!(
        parse_err("allow al/ice monitor on *"),
        "/etc/conman.acl:1: invalid user name \"al/ice\""
    );
    assert_eq!(
        parse_err("allow alice monitor on regex:(a"),
        "/etc/conman.acl:1: invalid regex \"(a\": Unmatched ( or \\("
    );
    assert_eq!(
        parse_err("group = x"),
        "/etc/conman.acl:1: invalid group name \"\""
    );
}

fn arb_rights() -> impl Strategy<Value = Rights> {
    any::<u8>().prop_map(|b| {
        Right::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| b & (1 << i) != 0)
            .map(|(_, r)| r)
            .collect()
    })
}

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const CONSOLES: [&str; 4] = ["server-0", "server-1", "db-1", "gpu7"];
const PATTERNS: [&str; 5] = ["*", "server-*", "db-?", "regex:gpu[0-9]", "server-1"];

fn arb_line() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::sample::select(vec!["alice", "bob", "carol", "*", "@g"]),
        arb_rights().prop_filter("some right", |r| !r.is_empty()),
        prop::sample::select(PATTERNS.to_vec()),
    )
        .prop_map(|(allow, who, rights, on)| {
            format!(
                "{} {who} {} on {on}",
                if allow { "allow" } else { "deny" },
                rights
            )
        })
}

fn acl_of(lines: &[String]) -> Acl {
    let text = format!("group g = alice carol\n{}\n", lines.join("\n"));
    Acl::parse("p", &text).unwrap()
}

proptest! {
    /// The order of lines never matters.
    #[test]
    fn order_does_not_matter(mut lines in prop::collection::vec(arb_line(), 0..8)) {
        let a = acl_of(&lines);
        lines.reverse();
        let b = acl_of(&lines);
        for u in USERS {
            for c in CONSOLES {
                prop_assert_eq!(a.rights(u, c), b.rights(u, c));
            }
        }
    }

    /// An allow line never takes a right away; a deny line never gives one.
    #[test]
    fn allow_only_adds_and_deny_only_removes(
        lines in prop::collection::vec(arb_line(), 0..8),
        extra in arb_line(),
    ) {
        let before = acl_of(&lines);
        let mut more = lines.clone();
        more.push(extra.clone());
        let after = acl_of(&more);
        for u in USERS {
            for c in CONSOLES {
                let (b, a) = (before.rights(u, c), after.rights(u, c));
                if extra.starts_with("allow") {
                    prop_assert_eq!(b.minus(a), Rights::NONE);
                } else {
                    prop_assert_eq!(a.minus(b), Rights::NONE);
                }
            }
        }
    }

    /// Whatever the lines, a user's rights include everything they need: nobody
    /// may write without monitoring, or monitor without seeing the console.
    #[test]
    fn rights_are_closed_under_needs(lines in prop::collection::vec(arb_line(), 0..8)) {
        let acl = acl_of(&lines);
        for u in USERS {
            for c in CONSOLES {
                let r = acl.rights(u, c);
                prop_assert_eq!(r, r.with_needed());
            }
        }
    }

    /// A deny of a right on `*` for a user wins over every allow.
    #[test]
    fn deny_everywhere_wins(
        lines in prop::collection::vec(arb_line(), 0..8),
        right in prop::sample::select(Right::ALL.to_vec()),
    ) {
        let mut with_deny = lines.clone();
        with_deny.push(format!("deny alice {right} on *"));
        let acl = acl_of(&with_deny);
        for c in CONSOLES {
            prop_assert!(!acl.allows("alice", c, right));
        }
    }
}
