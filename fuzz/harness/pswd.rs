//! `pswd`: the `conman.pswd` parser and its lookup.
//!
//! Input: `host \0 user \0 file`; missing parts are empty. The file is read as
//! the daemon reads it (bytes, lossy UTF-8), then looked up with the given
//! host and user and with a few fixed ones.
//!
//! Invariants: nothing panics; a lookup with a user returns that user; a lookup
//! without one finds something whenever one with a user does; every bad line is
//! reported once, on a line that exists; `Debug` of credentials does not depend
//! on the password or K_g.

use conmand_core::pswd::PasswordDb;

/// Hosts looked up besides the one in the input.
const HOSTS: [&str; 5] = [
    "",
    "bmc1",
    "192.168.1.10",
    "node-0001-bmc.cluster.example.com",
    "fd00::1",
];

/// The target body.
pub fn run(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let host = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let user = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let file = String::from_utf8_lossy(parts.next().unwrap_or_default());

    let (db, diags) = PasswordDb::parse(&file, "fuzz.pswd");
    let lines = file.split('\n').count();
    let mut seen = std::collections::HashSet::new();
    for d in &diags {
        let at = usize::try_from(d.line).unwrap_or(usize::MAX);
        assert!(at >= 1 && at <= lines, "diagnostic on line {at} of {lines}");
        assert!(seen.insert(d.line), "line {at} reported twice");
    }
    assert!(db.len() + diags.len() <= lines);

    for h in HOSTS.iter().copied().chain([&*host]) {
        for u in [Some(&*user), Some("admin"), Some(""), None] {
            let Some(c) = db.lookup(h, u) else {
                continue;
            };
            if let Some(u) = u {
                assert_eq!(c.username, u, "lookup for user {u:?} returned another user");
                assert!(db.lookup(h, None).is_some(), "any-user lookup missed");
            }
            // `Debug` must not depend on the secrets' values.
            let mut other = c.clone();
            other.password = vec![b'x'; c.password.len() + 1];
            other.k_g = c.k_g.as_ref().map(|k| vec![b'y'; k.len() + 1]);
            assert_eq!(
                format!("{c:?}"),
                format!("{other:?}"),
                "Credentials Debug shows a secret"
            );
        }
    }
}
