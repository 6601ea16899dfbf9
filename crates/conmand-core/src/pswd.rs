//! The `/etc/conman.pswd` password database used by ConMan's Expect scripts
//! (reference §6.1), so the daemon can look up IPMI credentials without putting them in
//! `conman.conf` or on a command line.
//!
//! ```text
//! # comment (first non-blank character is '#')
//! host-regex : user : password [ : K_g ]
//! ```
//!
//! Fields are split on `:` and trimmed. The host regex must match the *whole* host
//! name; an empty regex matches any host. The first line whose regex matches and whose
//! user equals the wanted user wins. `K_g` may be written as `0x` followed by hex digits.
//! Nothing here reads a file: the caller passes the text in.

use regex::Regex;

use crate::config::opts::{MAX_IPMI_KEY, MAX_IPMI_USER};
use crate::config::{Diagnostic, parse_key};
use crate::ipmi::IpmiCredentials;

/// One usable line of the file.
#[derive(Debug, Clone)]
struct Entry {
    /// The host regex anchored at both ends (`None` = any host).
    host: Option<Regex>,
    /// User, password (as written) and K_g (if the line has a fourth field).
    creds: IpmiCredentials,
}

/// The parsed password database.
#[derive(Debug, Clone, Default)]
pub struct PasswordDb {
    entries: Vec<Entry>,
}

impl PasswordDb {
    /// Parses the file text. Bad lines are skipped and reported; `origin` is the file
    /// name used in the diagnostics.
    pub fn parse(src: &str, origin: &str) -> (PasswordDb, Vec<Diagnostic>) {
        let mut db = PasswordDb::default();
        let mut diags = Vec::new();
        let lines = src.split('\n');
        for (i, raw) in lines.enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let diag = |message: String| Diagnostic {
                file: origin.to_string(),
                line: lineno,
                col: 1,
                message,
            };
            let fields: Vec<&str> = line.split(':').map(str::trim).collect();
            if fields.len() < 3 || fields.len() > 4 {
                diags.push(diag(format!(
                    "expected 'host-regex : user : password [: K_g]', found {} field(s)",
                    fields.len()
                )));
                continue;
            }
            let host = if fields[0].is_empty() {
                None
            } else {
                match Regex::new(&format!("^(?:{})$", fields[0])) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        diags.push(diag(format!("invalid host regex \"{}\": {e}", fields[0])));
                        continue;
                    }
                }
            };
            let k_g = match fields.get(3) {
                None => None,
                Some(k) => match parse_key(k) {
                    Some(b) => Some(b),
                    None => {
                        diags.push(diag("K_g exceeds 20-byte maximum".to_string()));
                        continue;
                    }
                },
            };
            db.entries.push(Entry {
                host,
                creds: IpmiCredentials {
                    username: fields[1].to_string(),
                    password: fields[2].as_bytes().to_vec(),
                    k_g,
                },
            });
        }
        (db, diags)
    }

    /// Number of usable lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no usable lines.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry whose regex matches all of `host` and whose user is `user`
    /// (any user when `user` is `None`).
    pub fn lookup(&self, host: &str, user: Option<&str>) -> Option<&IpmiCredentials> {
        self.entries
            .iter()
            .find(|e| {
                e.host.as_ref().is_none_or(|r| r.is_match(host))
                    && user.is_none_or(|u| u == e.creds.username)
            })
            .map(|e| &e.creds)
    }
}

/// Why `conmand --pswd-set` refuses an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// No password was given.
    #[error("the password is empty")]
    EmptyPassword,
    /// IPMI 2.0 passwords are at most 20 bytes.
    #[error("the password is {0} bytes long; IPMI 2.0 allows at most {MAX_IPMI_KEY}")]
    PasswordTooLong(usize),
    /// The file format cannot hold this password.
    #[error("the password {0}: conman.pswd cannot hold it")]
    PasswordUnwritable(&'static str),
    /// The user name is empty, too long or contains what the format cannot hold.
    #[error("invalid user name: {0}")]
    BadUser(&'static str),
    /// The host regex contains what the format cannot hold.
    #[error("invalid host regex: {0}")]
    BadHostRegex(String),
}

/// What [`set_password`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The password of this many existing `HOST-REGEX USER` lines was replaced.
    Replaced(usize),
    /// No such line existed; one was appended.
    Appended,
}

/// Checks that `host_regex`, `user` and `password` can be written as one
/// conman.pswd line that reads back as exactly these values.
///
/// # Errors
/// The first problem found.
pub fn validate_entry(host_regex: &str, user: &str, password: &str) -> Result<(), EntryError> {
    let unwritable = |s: &str| s.contains(':') || s.chars().any(char::is_control);
    let padded = |s: &str| s.trim() != s;
    if unwritable(host_regex) || padded(host_regex) || host_regex.starts_with('#') {
        return Err(EntryError::BadHostRegex(
            "it may not contain ':' or control characters, start with '#', or start or end \
             with blanks"
                .to_string(),
        ));
    }
    if !host_regex.is_empty()
        && let Err(e) = Regex::new(&format!("^(?:{host_regex})$"))
    {
        return Err(EntryError::BadHostRegex(e.to_string()));
    }
    if user.is_empty() {
        return Err(EntryError::BadUser("it is empty"));
    }
    if user.len() > MAX_IPMI_USER {
        return Err(EntryError::BadUser("IPMI allows at most 16 bytes"));
    }
    if unwritable(user) || user.chars().any(char::is_whitespace) {
        return Err(EntryError::BadUser(
            "it may not contain ':', blanks or control characters",
        ));
    }
    if password.is_empty() {
        return Err(EntryError::EmptyPassword);
    }
    if password.len() > MAX_IPMI_KEY {
        return Err(EntryError::PasswordTooLong(password.len()));
    }
    if password.contains(':') {
        return Err(EntryError::PasswordUnwritable("contains ':'"));
    }
    if password.chars().any(char::is_control) {
        return Err(EntryError::PasswordUnwritable(
            "contains a control character",
        ));
    }
    if padded(password) {
        return Err(EntryError::PasswordUnwritable(
            "starts or ends with a blank",
        ));
    }
    Ok(())
}

/// Sets the password of the `host_regex` `user` entry in the text of a conman.pswd
/// file: every usable line with exactly that regex and user gets the new password in
/// place (its K_g, spacing and line ending kept); without one, a line
/// `host_regex : user : password` is appended. Every other byte stays as it was.
///
/// # Errors
/// [`validate_entry`]'s.
pub fn set_password(
    text: &str,
    host_regex: &str,
    user: &str,
    password: &str,
) -> Result<(String, SetOutcome), EntryError> {
    validate_entry(host_regex, user, password)?;
    let mut out = String::with_capacity(text.len() + 64);
    let mut replaced = 0;
    for raw in text.split_inclusive('\n') {
        match password_span(raw, host_regex, user) {
            Some((start, end)) => {
                let (before, after) = (&raw[..start], &raw[end..]);
                out.push_str(before);
                if raw[start..end].trim().is_empty() {
                    out.push(' ');
                    out.push_str(password);
                    out.push(' ');
                } else {
                    out.push_str(password);
                }
                out.push_str(after);
                replaced += 1;
            }
            None => out.push_str(raw),
        }
    }
    if replaced > 0 {
        return Ok((out, SetOutcome::Replaced(replaced)));
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{host_regex} : {user} : {password}\n"));
    Ok((out, SetOutcome::Appended))
}

/// The byte range of the (trimmed) password field of `raw` when it is a usable line
/// for `host_regex` and `user`; a blank field gives the whole field.
fn password_span(raw: &str, host_regex: &str, user: &str) -> Option<(usize, usize)> {
    let body = raw.strip_suffix('\n').unwrap_or(raw);
    let body = body.strip_suffix('\r').unwrap_or(body);
    let t = body.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let fields: Vec<&str> = body.split(':').collect();
    if !(3..=4).contains(&fields.len())
        || fields[0].trim() != host_regex
        || fields[1].trim() != user
    {
        return None;
    }
    let field_start = fields[0].len() + 1 + fields[1].len() + 1;
    let field = fields[2];
    if field.trim().is_empty() {
        return Some((field_start, field_start + field.len()));
    }
    let start = field_start + field.len() - field.trim_start().len();
    Some((start, start + field.trim().len()))
}

/// What is wrong with a password file's mode and owner, one message per problem
/// (empty when none): any group or other permission bit (it holds secrets: 0600 is
/// right), or an owner other than the daemon's user. `shown` names the file.
pub fn exposure_warnings(shown: &str, mode: u32, owner: u32, daemon_uid: u32) -> Vec<String> {
    let mut out = Vec::new();
    let perm = mode & 0o7777;
    let mut who = Vec::new();
    for (bits, whom) in [(0o070, "group"), (0o007, "others")] {
        let mut can = Vec::new();
        if perm & bits & 0o444 != 0 {
            can.push("readable");
        }
        if perm & bits & 0o222 != 0 {
            can.push("writable");
        }
        if perm & bits & 0o111 != 0 && can.is_empty() {
            can.push("accessible");
        }
        if !can.is_empty() {
            who.push(format!("{} by {whom}", can.join(" and ")));
        }
    }
    if !who.is_empty() {
        out.push(format!(
            "\"{shown}\" is mode {perm:04o} ({}): it holds passwords; run chmod 600 \"{shown}\"",
            who.join(", ")
        ));
    }
    if owner != daemon_uid {
        out.push(format!(
            "\"{shown}\" is owned by uid {owner}, not by the daemon's user (uid {daemon_uid})"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "\
# BMC passwords
192\\.168\\.1\\.10 : admin : password0
  # indented comment
192.168.1.1[0-9] : admin : password1 : 0x0102ff
node[0-9]+ : root : rootpw\r
 : admin : fallback : plainkey
";

    #[test]
    fn first_whole_match_wins() {
        let (db, d) = PasswordDb::parse(DB, "conman.pswd");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(db.len(), 4);
        assert_eq!(
            db.lookup("192.168.1.10", Some("admin")).unwrap().password,
            b"password0"
        );
        let c = db.lookup("192.168.1.11", Some("admin")).unwrap();
        assert_eq!(c.password, b"password1");
        assert_eq!(c.k_g.as_deref(), Some(&[1, 2, 0xff][..]));
        // Whole-host match: "node1x" is not "node[0-9]+"; the empty regex catches it.
        assert_eq!(
            db.lookup("node1x", Some("admin")).unwrap().password,
            b"fallback"
        );
        assert_eq!(
            db.lookup("node12", Some("root")).unwrap().password,
            b"rootpw"
        );
        assert!(db.lookup("node1x", Some("root")).is_none());
        assert_eq!(db.lookup("node7", None).unwrap().username, "root");
        assert_eq!(
            db.lookup("other", None).unwrap().k_g.as_deref(),
            Some(&b"plainkey"[..])
        );
    }

    #[test]
    fn bad_lines_are_reported_with_line_numbers() {
        let (db, d) = PasswordDb::parse("a(b : u : p\nonly : two\nok : u : p\n", "f");
        assert_eq!(db.len(), 1);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].line, d[1].line), (1, 2));
        assert!(
            d[0].message.contains("invalid host regex"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn console_credentials_prefer_ipmiopts_then_the_file() {
        use crate::config::IpmiOpts;
        let (db, _) = PasswordDb::parse(DB, "conman.pswd");
        let opts = |user: Option<&str>, pw: Option<&[u8]>, kg: Option<&[u8]>| IpmiOpts {
            username: user.map(str::to_owned),
            password: pw.map(<[u8]>::to_vec),
            k_g: kg.map(<[u8]>::to_vec),
            ..IpmiOpts::default()
        };
        let creds = |host, o: &IpmiOpts| IpmiCredentials::for_console(host, o, Some(&db));
        // A password in ipmiopts: the file is not consulted.
        let c = creds("node1", &opts(Some("root"), Some(b"given"), None));
        assert_eq!(
            (c.username.as_str(), &c.password[..]),
            ("root", &b"given"[..])
        );
        assert_eq!(c.k_g, None);
        // No password: user, password and K_g come from the first matching line.
        let c = creds("192.168.1.11", &opts(Some("admin"), None, None));
        assert_eq!(c.password, b"password1");
        assert_eq!(c.k_g.as_deref(), Some(&[1, 2, 0xff][..]));
        // ... but a K_g from ipmiopts wins.
        let c = creds("192.168.1.11", &opts(Some("admin"), None, Some(b"mine")));
        assert_eq!(
            (&c.password[..], c.k_g.as_deref()),
            (&b"password1"[..], Some(&b"mine"[..]))
        );
        // No user in ipmiopts: the line's user is taken.
        assert_eq!(creds("node4", &opts(None, None, None)).username, "root");
        // Nothing matches: what ipmiopts had (the null user, no password).
        let c = creds("node1x", &opts(Some("root"), None, None));
        assert_eq!((c.username.as_str(), c.password.len()), ("root", 0));
        let none = IpmiCredentials::for_console("node4", &opts(None, None, None), None);
        assert_eq!(none, IpmiCredentials::default());
    }

    #[test]
    fn debug_hides_secrets() {
        let (db, _) = PasswordDb::parse("h : u : s3cr3t : k3yk3y\n", "f");
        let c = db.lookup("h", None).unwrap();
        let shown = format!("{c:?} {db:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("k3yk3y"),
            "{shown}"
        );
        assert!(!format!("{:?}", b"s3cr3t".to_vec()).is_empty());
    }

    #[test]
    fn exposure_names_the_file_the_mode_and_the_owner() {
        assert!(exposure_warnings("/etc/conman.pswd", 0o100600, 0, 0).is_empty());
        assert!(exposure_warnings("f", 0o400, 7, 7).is_empty());
        assert_eq!(
            exposure_warnings("/etc/conman.pswd", 0o100644, 0, 0),
            [
                "\"/etc/conman.pswd\" is mode 0644 (readable by group, readable by others): it \
              holds passwords; run chmod 600 \"/etc/conman.pswd\""
            ]
        );
        let w = exposure_warnings("p", 0o662, 1000, 0);
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("mode 0662 (readable and writable by group, writable by others)"));
        assert_eq!(
            w[1],
            "\"p\" is owned by uid 1000, not by the daemon's user (uid 0)"
        );
        assert!(exposure_warnings("p", 0o610, 0, 0)[0].contains("accessible by group"));
    }

    #[test]
    fn set_password_replaces_in_place_and_keeps_everything_else() {
        let text = "# BMCs\r\n\nnode[0-9]+ :  admin  : old : 0x0102\r\nrack.* : root : x\n  # end";
        let (new, how) = set_password(text, "node[0-9]+", "admin", "n3w").unwrap();
        assert_eq!(how, SetOutcome::Replaced(1));
        assert_eq!(
            new,
            "# BMCs\r\n\nnode[0-9]+ :  admin  : n3w : 0x0102\r\nrack.* : root : x\n  # end"
        );
        let (db, d) = PasswordDb::parse(&new, "f");
        assert!(d.is_empty());
        let c = db.lookup("node7", Some("admin")).unwrap();
        assert_eq!(
            (c.password.as_slice(), c.k_g.as_deref()),
            (&b"n3w"[..], Some(&[1u8, 2][..]))
        );

        let (new, how) = set_password(text, "bmc-.*", "admin", "pw").unwrap();
        assert_eq!(how, SetOutcome::Appended);
        assert_eq!(new, format!("{text}\nbmc-.* : admin : pw\n"));
        let (new, _) = set_password("", "", "admin", "pw").unwrap();
        assert_eq!(new, " : admin : pw\n");
        assert_eq!(
            PasswordDb::parse(&new, "f")
                .0
                .lookup("any", Some("admin"))
                .unwrap()
                .password,
            b"pw"
        );
        let (new, _) = set_password("h : u :  : k\n", "h", "u", "pw").unwrap();
        assert_eq!(new, "h : u : pw : k\n");
    }

    #[test]
    fn entries_the_format_cannot_hold_are_refused() {
        let v = |h: &str, u: &str, p: &str| validate_entry(h, u, p);
        assert_eq!(v("h", "u", ""), Err(EntryError::EmptyPassword));
        assert_eq!(
            v("h", "u", &"x".repeat(21)),
            Err(EntryError::PasswordTooLong(21))
        );
        assert!(v("h", "u", &"x".repeat(20)).is_ok());
        assert!(matches!(
            v("h", "u", "a:b"),
            Err(EntryError::PasswordUnwritable(_))
        ));
        assert!(matches!(
            v("h", "u", "a\nb"),
            Err(EntryError::PasswordUnwritable(_))
        ));
        assert!(matches!(
            v("h", "u", " ab"),
            Err(EntryError::PasswordUnwritable(_))
        ));
        assert!(v("h", "u", "a b#c").is_ok());
        assert!(matches!(v("h", "", "p"), Err(EntryError::BadUser(_))));
        assert!(matches!(v("h", "a b", "p"), Err(EntryError::BadUser(_))));
        assert!(matches!(
            v("h", &"u".repeat(17), "p"),
            Err(EntryError::BadUser(_))
        ));
        assert!(matches!(
            v("a(b", "u", "p"),
            Err(EntryError::BadHostRegex(_))
        ));
        assert!(matches!(
            v("#h", "u", "p"),
            Err(EntryError::BadHostRegex(_))
        ));
        assert!(matches!(
            v("h:1", "u", "p"),
            Err(EntryError::BadHostRegex(_))
        ));
        // The error never shows the password.
        let e = v("h", "u", "s3cret:x").unwrap_err().to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }

    proptest::proptest! {
        /// Whatever the file holds, the entry reads back with the new password and
        /// no other line changes by a byte.
        #[test]
        fn set_password_reads_back_and_keeps_other_lines(
            lines in proptest::collection::vec(
                "#[a-z :]{0,8}|[ \t]{0,3}|(h[0-9]|h1) ?: ?(u|v) ?: ?[a-z]{1,5}( : 0x0[0-9])?|junk",
                0..8),
            crlf in proptest::bool::ANY,
            final_nl in proptest::bool::ANY,
            pw in "[A-Za-z0-9!#%]{1,20}",
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(nl);
            if final_nl && !text.is_empty() {
                text.push_str(nl);
            }
            let (new, how) = set_password(&text, "h1", "u", &pw).unwrap();
            // Every h1/u entry now has the new password, and there is at least one.
            let (db, _) = PasswordDb::parse(&new, "f");
            let ours: Vec<&Entry> = db
                .entries
                .iter()
                .filter(|e| e.creds.username == "u" && e.host.as_ref().is_some_and(|r| r.as_str() == "^(?:h1)$"))
                .collect();
            proptest::prop_assert!(!ours.is_empty());
            for e in ours {
                proptest::prop_assert_eq!(&e.creds.password, pw.as_bytes());
            }
            let changed: Vec<(&str, &str)> = text
                .split_inclusive('\n')
                .zip(new.split_inclusive('\n'))
                .filter(|(a, b)| a != b)
                .collect();
            match how {
                SetOutcome::Replaced(n) => {
                    proptest::prop_assert_eq!(changed.len(), n);
                    for (a, _) in changed {
                        proptest::prop_assert!(password_span(a, "h1", "u").is_some());
                    }
                }
                SetOutcome::Appended => {
                    proptest::prop_assert!(new.starts_with(&text));
                    let tail = format!("h1 : u : {pw}\n");
                    proptest::prop_assert!(new.ends_with(&tail));
                }
            }
        }
    }
}
