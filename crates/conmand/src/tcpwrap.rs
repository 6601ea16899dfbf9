//! `server tcpwrappers=on`: screen each client with `/etc/hosts.allow` and
//! `/etc/hosts.deny` for daemon name `conmand`, as ConMan's libwrap
//! `hosts_ctl("conmand", fqdn-or-"unknown", ip, "unknown")` does (reference §3.3).
//!
//! The rules are parsed and evaluated by [`conmand_core::hostsaccess`]; this module
//! reads the two files (again whenever one changes: size, mtime, ctime or inode, and
//! while its mtime is less than [`RACY`] old, since file-system timestamps are coarse
//! and two writes in one tick look alike), logs their warnings once per change, and
//! answers [`TcpWrappers::allows`].
//!
//! Never fail open: a file that exists but cannot be read (`EACCES`, `EIO`, …) denies
//! every client that is not on loopback, with an error in the daemon log, until it
//! can be read again. A missing file is an empty one, as in libwrap.
//!
//! [`screen`] is the one call the connection path makes: after the reverse lookup and
//! before the greeting reply (where ConMan checks), a rejected client is closed
//! without a word and `TCP-Wrappers rejected connection from <fqdn:port>` is logged
//! at NOTICE.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use conmand_core::hostsaccess::{
    AccessTable, Client, Decision, HostName, Reason, TableKind, Verdict, check,
};

use crate::frontend::Frontend;

/// Where the two tables are (tests inject their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// The allow table, normally `/etc/hosts.allow`.
    pub allow: PathBuf,
    /// The deny table, normally `/etc/hosts.deny`.
    pub deny: PathBuf,
}

impl Default for Files {
    fn default() -> Self {
        Files {
            allow: PathBuf::from("/etc/hosts.allow"),
            deny: PathBuf::from("/etc/hosts.deny"),
        }
    }
}

/// A table modified less than this long ago is read again even if its stamp is
/// unchanged (a second write within one timestamp tick keeps size and times).
pub const RACY: Duration = Duration::from_secs(2);

/// The TCP-wrappers gate: off, or on with its two (cached) tables.
pub struct TcpWrappers {
    enabled: AtomicBool,
    files: Files,
    cache: Mutex<[Loaded; 2]>,
}

/// Identity of a file version: changes when the file is rewritten or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// When the file was last modified, for [`RACY`].
    modified: Option<SystemTime>,
}

impl Stamp {
    /// Same file version, and old enough that a rewrite would show.
    fn settled_as(&self, other: &Stamp) -> bool {
        self == other
            && self
                .modified
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > RACY)
    }
}

/// One table as last read.
#[derive(Debug, Clone)]
enum Loaded {
    /// Never read yet.
    Unread,
    /// The file does not exist: an empty table.
    Missing,
    /// Parsed rules of this version of the file, and its bytes.
    Table(Stamp, Vec<u8>, Arc<AccessTable>),
    /// The file exists but cannot be read; `stamp` if `stat` worked.
    Unreadable(Option<Stamp>, String),
}

impl TcpWrappers {
    /// A gate for `files`, on or off.
    pub fn new(enabled: bool, files: Files) -> TcpWrappers {
        TcpWrappers {
            enabled: AtomicBool::new(enabled),
            files,
            cache: Mutex::new([Loaded::Unread, Loaded::Unread]),
        }
    }

    /// Turn checking on or off (`server tcpwrappers=` after a reload).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether clients are checked.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Whether a client at `ip` called `name` may connect (re-reading a table that
    /// changed). Does blocking file I/O: call it from a blocking context.
    pub fn allows(&self, ip: IpAddr, name: HostName<'_>) -> Verdict {
        self.decide(ip, name).verdict
    }

    /// [`TcpWrappers::allows`] with the reason.
    pub fn decide(&self, ip: IpAddr, name: HostName<'_>) -> Decision {
        let ip = ip.to_canonical();
        let (allow, deny) = match self.tables() {
            Ok(t) => t,
            Err(why) => {
                let verdict = if ip.is_loopback() {
                    Verdict::Allow
                } else {
                    Verdict::Deny
                };
                tracing::debug!("TCP-Wrappers: {why}: {verdict:?} for {ip}");
                return Decision {
                    verdict,
                    reason: Reason::NoMatch,
                    uncertain: true,
                };
            }
        };
        let d = check(&allow, &deny, &Client { addr: ip, name });
        if d.uncertain {
            tracing::debug!(
                "TCP-Wrappers: unsupported rules involved for {ip}: {:?} ({:?})",
                d.verdict,
                d.reason
            );
        }
        d
    }

    /// The current tables, or why they cannot be used.
    fn tables(&self) -> Result<(Arc<AccessTable>, Arc<AccessTable>), String> {
        let mut cache = match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let paths = [
            (&self.files.allow, TableKind::Allow),
            (&self.files.deny, TableKind::Deny),
        ];
        let mut out = Vec::with_capacity(2);
        let mut broken = None;
        for (slot, (path, kind)) in cache.iter_mut().zip(paths) {
            refresh(slot, path, kind);
            match slot {
                Loaded::Missing | Loaded::Unread => out.push(Arc::new(AccessTable::empty(kind))),
                Loaded::Table(_, _, t) => out.push(t.clone()),
                Loaded::Unreadable(_, why) => {
                    broken.get_or_insert_with(|| why.clone());
                }
            }
        }
        if let Some(why) = broken {
            return Err(why);
        }
        let deny = out.pop().ok_or("no deny table")?;
        let allow = out.pop().ok_or("no allow table")?;
        Ok((allow, deny))
    }
}

fn stamp(m: &std::fs::Metadata) -> Stamp {
    Stamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        modified: m.modified().ok(),
    }
}

/// Re-read `path` into `slot` when it changed, logging what is new.
fn refresh(slot: &mut Loaded, path: &Path, kind: TableKind) {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !matches!(slot, Loaded::Missing) {
                tracing::debug!("TCP-Wrappers: \"{shown}\" does not exist: no rules");
            }
            *slot = Loaded::Missing;
            return;
        }
        Err(e) => {
            let why = format!(
                "Unable to stat \"{shown}\": {}",
                conmand_core::oserror::strerror(&e)
            );
            set_unreadable(slot, None, why);
            return;
        }
    };
    let now = stamp(&meta);
    match slot {
        Loaded::Table(s, _, _) | Loaded::Unreadable(Some(s), _) if s.settled_as(&now) => return,
        _ => {}
    }
    match std::fs::read(path) {
        Ok(text) => {
            if let Loaded::Table(s, old, _) = slot
                && *old == text
            {
                *s = now;
                return;
            }
            let table = AccessTable::parse(kind, &text);
            for w in table.warnings() {
                tracing::warn!("TCP-Wrappers: {shown}:{}: {}", w.line, w.message);
            }
            tracing::info!(
                "TCP-Wrappers: read {} rule{} from \"{shown}\"",
                table.len(),
                if table.len() == 1 { "" } else { "s" }
            );
            *slot = Loaded::Table(now, text, Arc::new(table));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => *slot = Loaded::Missing,
        Err(e) => {
            let why = format!(
                "Unable to read \"{shown}\": {}",
                conmand_core::oserror::strerror(&e)
            );
            set_unreadable(slot, Some(now), why);
        }
    }
}

fn set_unreadable(slot: &mut Loaded, stamp: Option<Stamp>, why: String) {
    let repeat = matches!(slot, Loaded::Unreadable(_, w) if *w == why);
    if !repeat {
        tracing::error!("TCP-Wrappers: {why}: denying every client not on loopback");
    }
    *slot = Loaded::Unreadable(stamp, why);
}

/// The connection path's check: resolve the peer and, with `tcpwrappers=on`, ask
/// the tables. Returns the short host name to show for the client, or `None` when
/// the client was rejected (logged; the caller closes the connection silently).
pub async fn screen(shared: &Frontend, peer: SocketAddr) -> Option<String> {
    let gate = &shared.tcpwrap;
    if !gate.enabled() {
        return Some(shared.resolver.short_name(peer.ip()).await);
    }
    let name = shared.resolver.lookup(peer.ip(), true).await;
    let gate2 = gate.clone();
    let n2 = name.clone();
    let ip = peer.ip();
    let verdict = tokio::task::spawn_blocking(move || gate2.allows(ip, n2.checked()))
        .await
        .unwrap_or(Verdict::Deny);
    match verdict {
        Verdict::Allow => Some(name.short),
        Verdict::Deny => {
            crate::notice!(
                "TCP-Wrappers rejected connection from <{}:{}>",
                name.full(),
                peer.port()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn gate(dir: &Path) -> TcpWrappers {
        TcpWrappers::new(
            true,
            Files {
                allow: dir.join("hosts.allow"),
                deny: dir.join("hosts.deny"),
            },
        )
    }

    const LO: &str = "127.0.0.7";
    const FAR: &str = "192.0.2.7";

    fn v(g: &TcpWrappers, ip: &str) -> Verdict {
        g.allows(ip.parse().unwrap(), HostName::Unknown)
    }

    #[test]
    fn missing_files_allow_and_changes_are_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let g = gate(dir.path());
        assert_eq!(v(&g, FAR), Verdict::Allow);
        std::fs::write(dir.path().join("hosts.deny"), "ALL: ALL\n").unwrap();
        assert_eq!(v(&g, FAR), Verdict::Deny);
        std::fs::write(dir.path().join("hosts.allow"), format!("conmand: {FAR}\n")).unwrap();
        assert_eq!(v(&g, FAR), Verdict::Allow);
        assert_eq!(v(&g, LO), Verdict::Deny);
        // Same size, new contents: the stamp (mtime/ctime) still changes.
        std::fs::write(dir.path().join("hosts.allow"), format!("sshd:    {FAR}\n")).unwrap();
        assert_eq!(v(&g, FAR), Verdict::Deny);
        std::fs::remove_file(dir.path().join("hosts.deny")).unwrap();
        assert_eq!(v(&g, FAR), Verdict::Allow);
    }

    #[test]
    fn an_unreadable_table_denies_all_but_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let allow = dir.path().join("hosts.allow");
        // A directory cannot be read as a file, even by root: EISDIR.
        std::fs::create_dir(&allow).unwrap();
        let g = gate(dir.path());
        assert_eq!(v(&g, FAR), Verdict::Deny);
        assert_eq!(v(&g, LO), Verdict::Allow);
        assert_eq!(v(&g, "::1"), Verdict::Allow);
        assert_eq!(v(&g, "::ffff:127.0.0.1"), Verdict::Allow);
        std::fs::remove_dir(&allow).unwrap();
        std::fs::write(&allow, "ALL: ALL: deny\n").unwrap();
        std::fs::set_permissions(&allow, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(v(&g, FAR), Verdict::Deny);
        assert_eq!(v(&g, LO), Verdict::Deny, "readable again: rules apply");
        std::fs::write(&allow, "").unwrap();
        assert_eq!(v(&g, FAR), Verdict::Allow);
    }

    #[test]
    fn mapped_addresses_are_matched_as_ipv4() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hosts.allow"), "conmand: 192.0.2.0/24\n").unwrap();
        std::fs::write(dir.path().join("hosts.deny"), "ALL: ALL\n").unwrap();
        let g = gate(dir.path());
        assert_eq!(v(&g, "::ffff:192.0.2.9"), Verdict::Allow);
        assert_eq!(v(&g, "::ffff:192.0.3.9"), Verdict::Deny);
    }
}
