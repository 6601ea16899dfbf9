//! Who a client is and what it may do: identities, the ACL in force (`server
//! acl=`, evaluated by [`conmand_core::access`]) and the audit log (`server
//! auditlog=`).
//!
//! The interface to the rest of the daemon is small: a front end (the native
//! port, SSH) gives each client an [`Identity`]; the handshake and the session
//! ask [`Access::rights`] before acting and call [`Access::audit`] after. A client
//! of the native port has a *claimed* identity: ConMan's semantics, every right,
//! recorded as unauthenticated. An SSH user has exactly what the ACL gives.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use conmand_core::access::{Acl, Right, Rights};
use serde_json::{Map, Value, json};

use crate::jsonlog::JsonLines;
use crate::snapshot::Snapshot;

/// The audit log's permission bits when it is created.
const AUDITLOG_MODE: u32 = 0o600;
/// Audit records queued for the writer thread before new ones are dropped (and
/// the drop logged).
const AUDIT_QUEUE: usize = 4096;

/// How a client proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// Not at all: the native port's `USER=` (ConMan's protocol has no
    /// authentication).
    Claimed,
    /// An SSH public key listed in the user's `sshusers` file.
    Key {
        /// `SHA256:…` of the key.
        fingerprint: String,
    },
    /// An OpenSSH user certificate signed by a CA in `sshca`.
    Certificate {
        /// The certificate's serial number.
        serial: u64,
        /// Its key id (`ssh-keygen -I`).
        key_id: String,
        /// `SHA256:…` of the CA key that signed it.
        ca: String,
    },
}

/// A client: who, proven how, from where.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user name (claimed, the `sshusers` file name, or the certificate's
    /// first principal).
    pub user: String,
    /// How it was established.
    pub auth: AuthMethod,
    /// The peer's address.
    pub source: SocketAddr,
}

impl Identity {
    /// A native-port client: `user` as it claimed.
    pub fn claimed(user: &str, source: SocketAddr) -> Identity {
        Identity {
            user: user.to_string(),
            auth: AuthMethod::Claimed,
            source,
        }
    }

    /// Whether the ACL applies (everyone but native-port clients).
    pub fn is_authenticated(&self) -> bool {
        self.auth != AuthMethod::Claimed
    }
}

/// One audit record (see docs/security.md for the fields).
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The console, if the action concerns one.
    pub console: Option<&'a str>,
    /// `attach`, `detach`, `force`, `join`, `break`, `reset`, `broadcast`,
    /// `query`, `login`, `denied`.
    pub action: &'a str,
    /// For `attach`: `ro` or `rw`; for `denied`: the right refused.
    pub mode: Option<&'a str>,
    /// `ok`, `denied` or `failed`.
    pub outcome: &'a str,
    /// Why it was denied or failed.
    pub reason: Option<String>,
}

enum AuditMsg {
    Line(String),
    Reopen,
    SetPath(Option<PathBuf>),
    Sync(tokio::sync::oneshot::Sender<()>),
}

/// The ACL in force and the audit log.
pub struct Access {
    acl: Snapshot<Option<Arc<Acl>>>,
    audit_tx: Mutex<Option<mpsc::SyncSender<AuditMsg>>>,
    auditing: std::sync::atomic::AtomicBool,
    dropped: std::sync::atomic::AtomicU64,
}

impl Access {
    /// Rights from `acl` (none: SSH users may do nothing), records to `auditlog`.
    pub fn new(acl: Option<Acl>, auditlog: Option<PathBuf>) -> Arc<Access> {
        let auditing = auditlog.is_some();
        let (tx, rx) = mpsc::sync_channel::<AuditMsg>(AUDIT_QUEUE);
        let spawned = std::thread::Builder::new()
            .name("conmand-audit".into())
            .spawn(move || {
                let mut log = JsonLines::new(auditlog, AUDITLOG_MODE, "audit log");
                while let Ok(m) = rx.recv() {
                    match m {
                        AuditMsg::Line(l) => log.append(&l),
                        AuditMsg::Reopen => log.reopen(),
                        AuditMsg::SetPath(p) => log.set_path(p),
                        AuditMsg::Sync(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        if let Err(e) = &spawned {
            tracing::error!("Unable to start the audit log writer: {e}");
        }
        Arc::new(Access {
            acl: Snapshot::new(acl.map(Arc::new)),
            audit_tx: Mutex::new(spawned.is_ok().then_some(tx)),
            auditing: std::sync::atomic::AtomicBool::new(auditing),
            dropped: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Replace the ACL (reload).
    pub fn set_acl(&self, acl: Option<Acl>) {
        self.acl.set(acl.map(Arc::new));
    }

    /// The ACL in force, if any.
    pub fn acl(&self) -> Option<Arc<Acl>> {
        self.acl.get().as_ref().clone()
    }

    /// What `who` may do on `console`: everything for a native-port client, the
    /// ACL's answer for anyone else (nothing without an ACL).
    pub fn rights(&self, who: &Identity, console: &str) -> Rights {
        if !who.is_authenticated() {
            return Rights::all();
        }
        match self.acl.get().as_ref() {
            Some(acl) => acl.rights(&who.user, console),
            None => Rights::NONE,
        }
    }

    /// Whether `who` may do `right` on `console`.
    pub fn allows(&self, who: &Identity, console: &str, right: Right) -> bool {
        self.rights(who, console).has(right)
    }

    /// Point the audit log elsewhere (reload).
    pub fn set_auditlog(&self, path: Option<PathBuf>) {
        self.auditing
            .store(path.is_some(), std::sync::atomic::Ordering::Relaxed);
        self.send(AuditMsg::SetPath(path));
    }

    /// SIGHUP / `--reopen-logs`: the next record opens the audit log again.
    pub fn reopen(&self) {
        self.send(AuditMsg::Reopen);
    }

    /// Records dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Write one record for `who` (never blocks: a queue of 4,096 records).
    pub fn audit(&self, who: &Identity, rec: Record<'_>) {
        if !self.auditing.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        self.send(AuditMsg::Line(record_json(who, &rec).to_string()));
    }

    /// Wait until every record sent so far is written.
    pub async fn sync(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.send(AuditMsg::Sync(tx)) {
            let _ = rx.await;
        }
    }

    /// Close the queue; the writer thread ends after writing what is queued.
    pub fn close(&self) {
        self.audit_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    fn send(&self, m: AuditMsg) -> bool {
        let guard = self.audit_tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else {
            return false;
        };
        match tx.try_send(m) {
            Ok(()) => true,
            Err(mpsc::TrySendError::Full(_)) => {
                let n = self
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n.is_power_of_two() || n == 0 {
                    tracing::error!("Audit log writer behind: {} records dropped", n + 1);
                }
                false
            }
            Err(mpsc::TrySendError::Disconnected(_)) => false,
        }
    }
}

/// The audit line for `rec` by `who`.
pub fn record_json(who: &Identity, rec: &Record<'_>) -> Value {
    let mut m = Map::new();
    m.insert(
        "time".into(),
        json!(
            jiff::Timestamp::now()
                .round(jiff::Unit::Millisecond)
                .map_or_else(|_| String::new(), |t| t.to_string())
        ),
    );
    m.insert("user".into(), json!(who.user));
    match &who.auth {
        AuthMethod::Claimed => {
            m.insert("auth".into(), json!("none"));
        }
        AuthMethod::Key { fingerprint } => {
            m.insert("auth".into(), json!("publickey"));
            m.insert("key".into(), json!(fingerprint));
        }
        AuthMethod::Certificate { serial, key_id, ca } => {
            m.insert("auth".into(), json!("certificate"));
            m.insert("cert_serial".into(), json!(serial));
            m.insert("cert_id".into(), json!(key_id));
            m.insert("ca".into(), json!(ca));
        }
    }
    m.insert("source".into(), json!(who.source.to_string()));
    if let Some(c) = rec.console {
        m.insert("console".into(), json!(c));
    }
    m.insert("action".into(), json!(rec.action));
    if let Some(mode) = rec.mode {
        m.insert("mode".into(), json!(mode));
    }
    m.insert("outcome".into(), json!(rec.outcome));
    if let Some(r) = &rec.reason {
        m.insert("reason".into(), json!(r));
    }
    Value::Object(m)
}

/// The one line a refused request gets: `Permission denied: bob may not force
/// [server-0]`.
pub fn denial(who: &Identity, right: Right, console: &str) -> String {
    format!(
        "Permission denied: {} may not {right} [{console}]",
        who.user
    )
}

/// Reads `server acl=FILE`.
///
/// # Errors
/// `FILE: reason` when it cannot be read, `FILE:LINE: reason` for a mistake in it.
pub fn load_acl(path: &Path) -> Result<Acl, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {}",
            path.display(),
            conmand_core::oserror::strerror(&e)
        )
    })?;
    Acl::parse(&path.to_string_lossy(), &text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
