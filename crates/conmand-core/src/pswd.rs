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
}
