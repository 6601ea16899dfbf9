//! TCP-wrappers access control: the `hosts.allow` / `hosts.deny` language of
//! hosts_access(5), as libwrap's `hosts_ctl("conmand", name, addr, "unknown")`
//! evaluates it for ConMan (reference §3.3).
//!
//! The daemon reads the two files and calls [`check`] with the client's address and
//! name; this module only parses text and decides.
//!
//! **Order.** The allow table is searched first, then the deny table; the first rule
//! whose daemon list and client list both match decides (an allow-table rule grants, a
//! deny-table rule denies, unless its options say otherwise). No match at all grants.
//!
//! **What is understood**, as Debian's libwrap 7.6 reads it (checked against
//! `tcpdmatch` by the daemon's differential test):
//! - lines: `#` in the first column starts a comment, blank lines are skipped, a
//!   backslash before the newline continues the line, a line without `:` is skipped
//!   with a warning. A last line without a newline, or a line longer than 8190
//!   bytes, is an error: it ends the allow table and, in the deny table, denies.
//! - lists separated by blanks and commas; `EXCEPT` (right-nested:
//!   `a EXCEPT b EXCEPT c` = `a EXCEPT (b EXCEPT c)`); matching ignores ASCII case.
//! - daemon patterns: `ALL`, `KNOWN`, names, `.suffix`, `prefix.`, `*`/`?`
//!   wildcards, `daemon@host` (the server endpoint is unknown, as for ConMan).
//! - client patterns: `ALL`, `KNOWN`, `UNKNOWN`, `LOCAL`, `PARANOID`, exact
//!   addresses and names, `n.n.n.` prefixes, `.domain` suffixes, `*`/`?`
//!   wildcards, `n.n.n.n/m.m.m.m` and `n.n.n.n/len` (the address must equal `net`
//!   after masking, as in libwrap: host bits in `net` never match), `[v6]` and
//!   `[v6]/len`, and `user@host` (the user is always `unknown`).
//! - options (hosts_options(5)): a final `allow` or `deny` decides the verdict.
//!
//! **Never fail open.** What is not implemented can only make conmand stricter
//! than libwrap:
//! - a rule with any other option (`spawn`, `twist`, `banners`, `severity`, …, and
//!   so any `%` expansion) or a malformed option field **denies** when it matches;
//! - a pattern that cannot be evaluated (`@netgroup`, `/file`, a malformed
//!   net/mask or `[v6]` pattern, a `/0` IPv4 prefix, octal or hex address parts)
//!   matches *unknown*: evaluation uses three values, and a rule whose match is
//!   unknown denies if its verdict would be deny and is skipped if it would grant.
//!
//! Every such case is reported by [`AccessTable::warnings`] when the table is parsed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ConMan's daemon name in the tables.
pub const DAEMON_NAME: &str = "conmand";

/// libwrap reads rules into a `BUFSIZ` (8192) buffer: a logical line (continuations
/// joined) of more bytes than this, newline excluded, is an error.
pub const MAX_RULE_LEN: usize = 8190;

/// The two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// `hosts.allow`: a matching rule grants.
    Allow,
    /// `hosts.deny`: a matching rule denies.
    Deny,
}

/// Access granted or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the client.
    Allow,
    /// Close the connection.
    Deny,
}

/// What a client is known as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostName<'a> {
    /// No name (reverse lookup failed): libwrap's `unknown`.
    Unknown,
    /// The name does not map back to the address: libwrap's `paranoid`.
    Paranoid,
    /// The host's (fully qualified) name.
    Known(&'a str),
}

impl HostName<'_> {
    fn text(&self) -> &str {
        match self {
            HostName::Unknown => UNKNOWN,
            HostName::Paranoid => PARANOID,
            HostName::Known(n) => n,
        }
    }
}

/// The request being checked: always daemon `conmand`, user `unknown` and an unknown
/// server endpoint, as in ConMan's `hosts_ctl` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client<'a> {
    /// The peer address (IPv4-mapped IPv6 addresses should be given as IPv4).
    pub addr: IpAddr,
    /// The peer's name.
    pub name: HostName<'a>,
}

/// Why [`check`] decided as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The rule starting at `line` of `table` matched.
    Rule {
        /// Which table.
        table: TableKind,
        /// First line of the rule (1-based).
        line: u32,
    },
    /// The table has an error at `line` that libwrap treats as "no grant" (allow
    /// table) or "deny" (deny table).
    TableError {
        /// Which table.
        table: TableKind,
        /// Line of the error (1-based).
        line: u32,
    },
    /// No rule matched: access is granted.
    NoMatch,
}

/// The result of [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Grant or deny.
    pub verdict: Verdict,
    /// What decided.
    pub reason: Reason,
    /// Some rule could not be evaluated exactly (an unsupported pattern or option);
    /// the verdict is then at least as strict as libwrap's.
    pub uncertain: bool,
}

/// A problem found while parsing a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableWarning {
    /// Line (1-based).
    pub line: u32,
    /// What is wrong and what conmand does about it.
    pub message: String,
}

/// How a matching rule acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Grant (an allow-table rule, or the `allow` option).
    Grant,
    /// Deny (a deny-table rule, the `deny` option, or options conmand refuses).
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    line: u32,
    daemons: String,
    clients: String,
    action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Rule(Rule),
    /// libwrap's `ERR`: the table stops here.
    Error(u32),
}

/// One parsed `hosts.allow` or `hosts.deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTable {
    kind: TableKind,
    entries: Vec<Entry>,
    warnings: Vec<TableWarning>,
}

const UNKNOWN: &str = "unknown";
const PARANOID: &str = "paranoid";
/// libwrap's list separators.
const SEP: &[u8] = b", \t\r\n";
/// hosts_options(5) names libwrap knows; all but `allow` and `deny` make a rule deny.
const KNOWN_OPTIONS: [&str; 14] = [
    "allow",
    "deny",
    "spawn",
    "twist",
    "severity",
    "rfc931",
    "keepalive",
    "linger",
    "nice",
    "umask",
    "user",
    "group",
    "setenv",
    "banners",
];

impl AccessTable {
    /// An empty (or missing) table.
    pub fn empty(kind: TableKind) -> AccessTable {
        AccessTable {
            kind,
            entries: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Parses the text of a table.
    pub fn parse(kind: TableKind, text: &[u8]) -> AccessTable {
        let mut t = AccessTable::empty(kind);
        let mut pos = 0;
        let mut lineno: u32 = 0;
        while pos < text.len() {
            let first = lineno + 1;
            let mut logical: Vec<u8> = Vec::new();
            let mut terminated = false;
            while pos < text.len() {
                let rest = &text[pos..];
                match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        pos += i + 1;
                        lineno += 1;
                        match rest[..i].strip_suffix(b"\\") {
                            Some(body) => logical.extend_from_slice(body),
                            None => {
                                logical.extend_from_slice(&rest[..i]);
                                terminated = true;
                                break;
                            }
                        }
                    }
                    None => {
                        logical.extend_from_slice(rest);
                        pos = text.len();
                    }
                }
            }
            if !terminated && logical.is_empty() {
                break;
            }
            if !terminated || logical.len() > MAX_RULE_LEN {
                let what = if terminated {
                    "line too long"
                } else {
                    "missing newline at the end of the file"
                };
                t.warn(first, format!("{what}: {}", t.error_effect()));
                t.entries.push(Entry::Error(first));
                break;
            }
            t.parse_line(first, &logical);
        }
        t
    }

    /// Which table this is.
    pub fn kind(&self) -> TableKind {
        self.kind
    }

    /// Problems found while parsing, in line order.
    pub fn warnings(&self) -> &[TableWarning] {
        &self.warnings
    }

    /// Number of rules (error entries excluded).
    pub fn len(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::Rule(_)))
            .count()
    }

    /// Whether the table has no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn error_effect(&self) -> &'static str {
        match self.kind {
            TableKind::Allow => "the rest of the allow table is ignored (as libwrap does)",
            TableKind::Deny => "clients not matched earlier are denied (as libwrap does)",
        }
    }

    fn warn(&mut self, line: u32, message: String) {
        self.warnings.push(TableWarning { line, message });
    }

    fn parse_line(&mut self, line: u32, raw: &[u8]) {
        if raw.first() == Some(&b'#') || raw.iter().all(|b| b" \t\r\n".contains(b)) {
            return;
        }
        let text = String::from_utf8_lossy(raw);
        let Some((daemons, rest)) = split_at(&text, ':') else {
            self.warn(
                line,
                "missing \":\" separator: the line is ignored".to_string(),
            );
            return;
        };
        let (clients, options) = match split_at(rest, ':') {
            Some((c, o)) => (c, Some(o)),
            None => (rest, None),
        };
        let default = match self.kind {
            TableKind::Allow => Action::Grant,
            TableKind::Deny => Action::Deny,
        };
        let action = match options {
            None => default,
            Some(o) => match options_action(o) {
                Ok(Some(a)) => a,
                Ok(None) => default,
                Err(why) => {
                    self.warn(line, format!("{why}: this rule denies when it matches"));
                    Action::Deny
                }
            },
        };
        for tok in tokens(daemons) {
            if let Some(w) = pattern_warning(tok, true) {
                self.warn(line, w);
            }
        }
        for tok in tokens(clients) {
            if let Some(w) = pattern_warning(tok, false) {
                self.warn(line, w);
            }
        }
        self.entries.push(Entry::Rule(Rule {
            line,
            daemons: daemons.to_string(),
            clients: clients.to_string(),
            action,
        }));
    }

    /// libwrap's `table_match`: `Some(decision)` when the table decides.
    fn decide(&self, client: &Client<'_>, uncertain: &mut bool) -> Option<Decision> {
        for e in &self.entries {
            let rule = match e {
                Entry::Rule(r) => r,
                Entry::Error(line) => {
                    let reason = Reason::TableError {
                        table: self.kind,
                        line: *line,
                    };
                    return match self.kind {
                        TableKind::Allow => None,
                        TableKind::Deny => Some(Decision {
                            verdict: Verdict::Deny,
                            reason,
                            uncertain: *uncertain,
                        }),
                    };
                }
            };
            let m = list_match(&tokens(&rule.daemons), &|t| server_match(t))
                .and(|| list_match(&tokens(&rule.clients), &|t| client_match(t, client)));
            let hit = match (m, rule.action) {
                (Tri::Yes, _) => true,
                (Tri::No, _) => false,
                (Tri::Unknown, a) => {
                    *uncertain = true;
                    a == Action::Deny
                }
            };
            if hit {
                return Some(Decision {
                    verdict: match rule.action {
                        Action::Grant => Verdict::Allow,
                        Action::Deny => Verdict::Deny,
                    },
                    reason: Reason::Rule {
                        table: self.kind,
                        line: rule.line,
                    },
                    uncertain: *uncertain,
                });
            }
        }
        None
    }
}

/// Decides whether `client` may use `conmand`: libwrap's `hosts_access` over the
/// allow table, then the deny table, else grant.
pub fn check(allow: &AccessTable, deny: &AccessTable, client: &Client<'_>) -> Decision {
    let mut uncertain = false;
    if let Some(d) = allow.decide(client, &mut uncertain) {
        return d;
    }
    if let Some(d) = deny.decide(client, &mut uncertain) {
        return d;
    }
    Decision {
        verdict: Verdict::Allow,
        reason: Reason::NoMatch,
        uncertain,
    }
}

/// Three-valued match result (Kleene logic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Unknown,
}

impl Tri {
    fn from_bool(b: bool) -> Tri {
        if b { Tri::Yes } else { Tri::No }
    }

    fn and(self, other: impl FnOnce() -> Tri) -> Tri {
        match self {
            Tri::No => Tri::No,
            Tri::Yes => other(),
            Tri::Unknown => match other() {
                Tri::No => Tri::No,
                _ => Tri::Unknown,
            },
        }
    }

    fn or(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
            (Tri::No, Tri::No) => Tri::No,
            _ => Tri::Unknown,
        }
    }

    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

/// Splits at the first `delim` outside `[...]` (libwrap's IPv6-aware `split_at`).
fn split_at(s: &str, delim: char) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 && c == delim => return Some((&s[..i], &s[i + c.len_utf8()..])),
            _ => {}
        }
    }
    None
}

/// The list's tokens (`strtok` on blanks and commas).
fn tokens(list: &str) -> Vec<&str> {
    list.split(|c: char| c.is_ascii() && SEP.contains(&(c as u8)))
        .filter(|t| !t.is_empty())
        .collect()
}

/// libwrap's `list_match`: `a b EXCEPT c d EXCEPT e` = `(a|b) & !((c|d) & !e)`.
fn list_match(toks: &[&str], each: &dyn Fn(&str) -> Tri) -> Tri {
    let cut = toks
        .iter()
        .position(|t| t.eq_ignore_ascii_case("EXCEPT"))
        .unwrap_or(toks.len());
    let head = toks[..cut].iter().fold(Tri::No, |acc, t| acc.or(each(t)));
    if cut == toks.len() {
        return head;
    }
    head.and(|| list_match(&toks[cut + 1..], each).not())
}

/// A daemon-list token against daemon `conmand` at an unknown server endpoint.
fn server_match(tok: &str) -> Tri {
    match split_after_first(tok, '@') {
        None => string_match(tok, DAEMON_NAME),
        Some((daemon, host)) => {
            let server = Endpoint {
                name: UNKNOWN,
                addr: None,
            };
            string_match(daemon, DAEMON_NAME).and(|| host_match(host, &server))
        }
    }
}

/// A client-list token against the client (user `unknown`).
fn client_match(tok: &str, client: &Client<'_>) -> Tri {
    let host = Endpoint {
        name: client.name.text(),
        addr: Some(client.addr),
    };
    match split_after_first(tok, '@') {
        None => host_match(tok, &host),
        Some((user, h)) => host_match(h, &host).and(|| string_match(user, UNKNOWN)),
    }
}

/// libwrap splits `user@host` and `daemon@host` from the token's second character
/// on, so `@netgroup` stays whole.
fn split_after_first(tok: &str, delim: char) -> Option<(&str, &str)> {
    let first = tok.chars().next()?.len_utf8();
    split_at(&tok[first..], delim).map(|(a, b)| (&tok[..first + a.len()], b))
}

/// A host as libwrap sees it: name (or `unknown`/`paranoid`) and address.
struct Endpoint<'a> {
    name: &'a str,
    addr: Option<IpAddr>,
}

impl Endpoint<'_> {
    fn addr_text(&self) -> String {
        self.addr
            .map_or_else(|| UNKNOWN.to_string(), |a| a.to_string())
    }

    fn name_known(&self) -> bool {
        !self.name.eq_ignore_ascii_case(UNKNOWN) && !self.name.eq_ignore_ascii_case(PARANOID)
    }
}

/// libwrap's `host_match`.
fn host_match(tok: &str, host: &Endpoint<'_>) -> Tri {
    if tok.starts_with('@') || tok.starts_with('/') {
        return Tri::Unknown;
    }
    if tok.eq_ignore_ascii_case("KNOWN") {
        return Tri::from_bool(host.addr.is_some() && host.name_known());
    }
    if tok.eq_ignore_ascii_case("LOCAL") {
        return Tri::from_bool(host.name_known() && !host.name.contains('.'));
    }
    if let Some((net, mask)) = split_at(tok, '/') {
        return masked_match(net, mask, host.addr);
    }
    let by_addr = string_match(tok, &host.addr_text());
    let not_inaddr = tok.bytes().any(|b| !b"0123456789./".contains(&b));
    if not_inaddr {
        by_addr.or(string_match(tok, host.name))
    } else {
        by_addr
    }
}

/// libwrap's `string_match` (case-insensitive, Debian's `*`/`?` wildcards).
fn string_match(tok: &str, s: &str) -> Tri {
    if tok.starts_with('.') {
        return Tri::from_bool(s.len() > tok.len() && ends_with_ci(s, tok));
    }
    if tok.eq_ignore_ascii_case("ALL") {
        return Tri::Yes;
    }
    if tok.eq_ignore_ascii_case("KNOWN") {
        return Tri::from_bool(!s.eq_ignore_ascii_case(UNKNOWN));
    }
    if tok.ends_with('.') {
        return Tri::from_bool(starts_with_ci(s, tok));
    }
    if tok.contains(['*', '?']) {
        return Tri::from_bool(wildcard(tok.as_bytes(), s.as_bytes()));
    }
    if let Some(inner) = tok.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let Ok(want) = inner.parse::<Ipv6Addr>() else {
            return Tri::Unknown;
        };
        return Tri::from_bool(s.parse::<Ipv6Addr>().is_ok_and(|a| a == want));
    }
    if looks_octal_or_hex(tok) {
        return Tri::Unknown;
    }
    Tri::from_bool(tok.eq_ignore_ascii_case(s))
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `*` (any run) and `?` (one byte), ASCII case ignored.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&s[si])) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A dotted quad whose parts libwrap would read as octal or hex (`010`, `0x1`).
fn looks_octal_or_hex(tok: &str) -> bool {
    let parts: Vec<&str> = tok.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b'x' || b == b'X')
        })
        && parts
            .iter()
            .any(|p| (p.len() > 1 && p.starts_with('0')) || p.bytes().any(|b| !b.is_ascii_digit()))
        && parts.iter().all(|p| p.as_bytes()[0].is_ascii_digit())
}

/// A plain dotted quad: four decimal parts 0-255 without leading zeros.
fn dotted_quad(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if p.len() > 1 && p.starts_with('0') {
            return None;
        }
        b[i] = p.parse().ok()?;
    }
    Some(Ipv4Addr::from(b))
}

/// A plain decimal prefix length in `lo..=hi`.
fn prefix_len(s: &str, lo: u32, hi: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok().filter(|n| (lo..=hi).contains(n))
}

/// A net/mask pattern parsed: `Ok(None)` is well-formed but never matching.
enum NetMask {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

fn parse_netmask(net: &str, mask: &str) -> Option<NetMask> {
    if let Some(inner) = net.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let a = inner.parse::<Ipv6Addr>().ok()?;
        let len = prefix_len(mask, 0, 128)?;
        let m = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        return Some(NetMask::V6 {
            net: u128::from(a) & m,
            mask: m,
        });
    }
    let n = u32::from(dotted_quad(net)?);
    let m = match dotted_quad(mask) {
        Some(m) if m != Ipv4Addr::BROADCAST => u32::from(m),
        Some(_) => return None,
        None => {
            let len = prefix_len(mask, 1, 32)?;
            u32::MAX << (32 - len)
        }
    };
    Some(NetMask::V4 { net: n, mask: m })
}

/// libwrap's `masked_match`: IPv4 `(addr & mask) == net` (host bits in `net` never
/// match), IPv6 prefix comparison.
fn masked_match(net: &str, mask: &str, addr: Option<IpAddr>) -> Tri {
    match (parse_netmask(net, mask), addr) {
        (None, _) => Tri::Unknown,
        (Some(NetMask::V4 { net, mask }), Some(IpAddr::V4(a))) => {
            Tri::from_bool(u32::from(a) & mask == net)
        }
        (Some(NetMask::V6 { net, mask }), Some(IpAddr::V6(a))) => {
            Tri::from_bool(u128::from(a) & mask == net)
        }
        _ => Tri::No,
    }
}

/// What [`AccessTable::warnings`] says about one token, if anything.
fn pattern_warning(tok: &str, daemon_list: bool) -> Option<String> {
    let host = if daemon_list {
        split_after_first(tok, '@').map(|(_, h)| h)?
    } else {
        split_after_first(tok, '@').map_or(tok, |(_, h)| h)
    };
    if host.starts_with('@') {
        return Some(format!(
            "netgroup pattern \"{host}\" is not supported: it matches as unknown (deny rules \
             deny, allow rules are skipped)"
        ));
    }
    if host.starts_with('/') {
        return Some(format!(
            "file pattern \"{host}\" is not supported: it matches as unknown (deny rules \
             deny, allow rules are skipped)"
        ));
    }
    if let Some((net, mask)) = split_at(host, '/') {
        return match parse_netmask(net, mask) {
            None => Some(format!(
                "bad net/mask pattern \"{host}\": it matches as unknown (deny rules deny, allow \
                 rules are skipped)"
            )),
            Some(NetMask::V4 { net: n, mask: m }) if n & !m != 0 => Some(format!(
                "net/mask pattern \"{host}\" has host bits set in the network: it never \
                 matches (as in libwrap)"
            )),
            Some(_) => None,
        };
    }
    if looks_octal_or_hex(host) {
        return Some(format!(
            "address \"{host}\" has octal or hex parts: it matches as unknown"
        ));
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && inner.parse::<Ipv6Addr>().is_err()
    {
        return Some(format!(
            "bad IPv6 pattern \"{host}\": it matches as unknown"
        ));
    }
    None
}

/// The action of an option field: `Ok(None)` = the table's default, `Err` = why
/// the rule denies instead.
fn options_action(field: &str) -> Result<Option<Action>, String> {
    let opts = option_fields(field);
    let last = opts.len() - 1;
    let mut action = None;
    for (i, raw) in opts.iter().enumerate() {
        let opt = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        let name_end = opt
            .find(|c: char| c.is_ascii_whitespace() || c == '=')
            .unwrap_or(opt.len());
        let (name, value) = opt.split_at(name_end);
        let value = value
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .strip_prefix('=')
            .unwrap_or(value)
            .trim_matches(|c: char| c.is_ascii_whitespace());
        if name.is_empty() {
            return Err("empty option field".to_string());
        }
        let lower = name.to_ascii_lowercase();
        if !KNOWN_OPTIONS.contains(&lower.as_str()) {
            return Err(format!("unknown option \"{name}\""));
        }
        match lower.as_str() {
            "allow" | "deny" if !value.is_empty() => {
                return Err(format!("option \"{name}\" takes no value"));
            }
            "allow" | "deny" if i != last => {
                return Err(format!("option \"{name}\" must be the last one"));
            }
            "allow" => action = Some(Action::Grant),
            "deny" => action = Some(Action::Deny),
            _ => {
                return Err(format!(
                    "option \"{name}\" is not supported by conmand (only allow and deny are)"
                ));
            }
        }
    }
    Ok(action)
}

/// Splits an option field at `:` not preceded by a backslash (`\:` is a colon).
fn option_fields(field: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&':') => {
                chars.next();
                if let Some(s) = out.last_mut() {
                    s.push(':');
                }
            }
            ':' => out.push(String::new()),
            _ => {
                if let Some(s) = out.last_mut() {
                    s.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
