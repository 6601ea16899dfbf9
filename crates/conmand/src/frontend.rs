//! What every client front end shares: the running consoles, the reloadable
//! settings, the reverse-DNS cache, and ConMan's console selection over them.
//!
//! The accept loop ([`server`](crate::server)) hands each connection to the
//! handshake ([`client`](crate::client)) with an `Arc<Frontend>`; neither of them
//! owns it, so neither depends on the other for it.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conmand_core::admission::{ClientCounter, Refusal};
use conmand_core::matching;
use conmand_core::protocol::{Request, RequestError};
use conmand_core::ratelimit::{TokenBucket, Verdict};

use crate::console::ConsoleHandle;
use crate::registry::Registry;
use crate::resolver::Resolver;
use crate::settings::SettingsCell;
use crate::tcpwrap::TcpWrappers;

/// What every client connection needs.
pub struct Frontend {
    /// The running consoles.
    pub registry: Arc<Registry>,
    /// The reloadable settings (`resetcmd` → `OK OPTION=RESET`).
    pub settings: Arc<SettingsCell>,
    /// Reverse-DNS cache for client addresses.
    pub resolver: Resolver,
    /// `server tcpwrappers`: hosts.allow / hosts.deny screening.
    pub tcpwrap: Arc<TcpWrappers>,
    /// SO_KEEPALIVE on client sockets (fixed at start).
    pub keepalive: bool,
    /// How long a client may take to complete its handshake.
    pub handshake_timeout: Duration,
    /// Expensive console matching runs one request at a time.
    pub matching: tokio::sync::Semaphore,
    /// How long a write to a client may make no progress before it is dropped.
    pub stall_timeout: Duration,
    /// The process's soft open-file limit (`None`: unlimited).
    pub nofile: Option<u64>,
    /// Connected clients, in all and per source address.
    pub clients: Mutex<ClientCounter<IpAddr>>,
    /// Refused connections being answered (at most [`MAX_REFUSING`] at once; past
    /// that a refused connection is closed without an answer).
    pub refusing: Arc<tokio::sync::Semaphore>,
    /// Paces the daemon-log lines about refused connections.
    pub refusal_log: Mutex<TokenBucket>,
    /// Rights (`server acl=`) and the audit log (`server auditlog=`).
    pub access: Arc<crate::access::Access>,
    /// In a cluster: the consoles other nodes own, and where they are.
    pub remote: std::sync::OnceLock<Arc<dyn crate::cluster::proxy::Remote>>,
}

/// Descriptors kept for the daemon itself (listeners, daemon log, pidfile, lock,
/// epoll, signals, inotify, the blocking pool's work) beside the consoles'.
const FD_RESERVE: u64 = 64;
/// Clients always admitted whatever the descriptor arithmetic says (accept then
/// fails with EMFILE, which the accept loop rides out).
const MIN_CLIENTS: usize = 8;
/// Refused connections answered at once.
pub const MAX_REFUSING: usize = 64;

impl Frontend {
    /// A front end over these consoles and settings.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registry: Arc<Registry>,
        settings: Arc<SettingsCell>,
        keepalive: bool,
        handshake_timeout: Duration,
        stall_timeout: Duration,
        nofile: Option<u64>,
        tcpwrap: TcpWrappers,
        access: Arc<crate::access::Access>,
    ) -> Self {
        Frontend {
            registry,
            settings,
            resolver: Resolver::default(),
            tcpwrap: Arc::new(tcpwrap),
            keepalive,
            handshake_timeout,
            matching: tokio::sync::Semaphore::new(1),
            stall_timeout,
            nofile,
            clients: Mutex::new(ClientCounter::default()),
            refusing: Arc::new(tokio::sync::Semaphore::new(MAX_REFUSING)),
            refusal_log: Mutex::new(TokenBucket::new(10, 1, 0)),
            access,
            remote: std::sync::OnceLock::new(),
        }
    }

    /// How many clients may be connected now: `maxclients`, and no more than the
    /// descriptors left once every console is connected and logged.
    pub fn client_limit(&self) -> usize {
        let max = self.settings.get().config.server.maxclients;
        match self.nofile {
            Some(n) => {
                let need = self.registry.descriptors() as u64 + FD_RESERVE;
                let left = usize::try_from(n.saturating_sub(need)).unwrap_or(usize::MAX);
                max.min(left.max(MIN_CLIENTS))
            }
            None => max,
        }
    }

    /// Admit a connection from `ip`, or say why not. The ticket gives the slot back
    /// when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ClientTicket, Refusal> {
        let limit = self.client_limit();
        lock(&self.clients).admit(&ip, limit)?;
        Ok(ClientTicket {
            front: self.clone(),
            ip,
        })
    }

    /// Connected clients.
    pub fn client_count(&self) -> usize {
        lock(&self.clients).total()
    }

    /// Log a refused connection, at most about once a second (with a count of the
    /// ones not logged).
    pub fn log_refusal(&self, peer: std::net::SocketAddr, why: &Refusal, now_ms: u64) {
        match lock(&self.refusal_log).take(now_ms) {
            Verdict::Allowed { refused_before } => {
                let more = if refused_before > 0 {
                    format!(" ({refused_before} more not logged)")
                } else {
                    String::new()
                };
                crate::notice!("Client <{peer}> refused: {why}{more}");
            }
            Verdict::Refused { .. } => {}
        }
    }

    /// The consoles `who` may see: all of them for a native-port client, those the
    /// ACL gives `query` on for anyone else.
    pub fn visible(&self, who: &crate::access::Identity) -> Arc<Vec<ConsoleHandle>> {
        let all = self.registry.snapshot();
        if !who.is_authenticated() {
            return all;
        }
        Arc::new(
            all.iter()
                .filter(|c| {
                    self.access
                        .allows(who, c.name(), conmand_core::access::Right::Query)
                })
                .cloned()
                .collect(),
        )
    }

    /// In a cluster, the owner's address when `req` names exactly one console
    /// (of the whole cluster) and another node owns it.
    pub fn remote_route(&self, req: &Request) -> Option<(String, String)> {
        let remote = self.remote.get()?;
        let names = remote.all_names();
        let sel = matching::select(&req.consoles, req.regex, &names).ok()?;
        let [i] = sel.as_slice() else {
            return None;
        };
        let name = &names[*i];
        if self.registry.get(name).is_some() {
            return None;
        }
        remote.remote_owner(name).map(|a| (name.clone(), a))
    }

    /// In a cluster, every console name (for queries); `None` when standalone.
    pub fn cluster_names(&self) -> Option<Vec<String>> {
        self.remote.get().map(|r| r.all_names())
    }

    /// The daemon has a `resetcmd` now.
    pub fn has_reset(&self) -> bool {
        self.settings.get().has_reset()
    }

    /// The consoles a request names, deduplicated and sorted in ConMan's natural
    /// order, after ConMan's checks (errors 3, 5, 6: `matching::resolve`), and
    /// whether the session is a broadcast. QUERY with no pattern means all consoles.
    ///
    /// Matching is bounded ([`matching::MAX_MATCH_WORK`]) and, past a trivial
    /// amount, runs on the blocking pool one request at a time, so no request
    /// stalls the runtime threads (and every console on them).
    pub async fn resolve(
        &self,
        consoles: &Arc<Vec<ConsoleHandle>>,
        req: &Request,
    ) -> Result<(Vec<ConsoleHandle>, bool), RequestError> {
        let (cons, req2) = (consoles.clone(), req.clone());
        self.run_matching(req, consoles.len(), move || {
            let names: Vec<&str> = cons.iter().map(|c| c.name()).collect();
            let sel = matching::resolve(&req2, &names)?;
            let list = sel.consoles.iter().map(|&i| cons[i].clone()).collect();
            Ok((list, sel.broadcast))
        })
        .await
    }

    /// The names a request matched, for the trailer of error 6.
    pub async fn matched_names(
        &self,
        consoles: &Arc<Vec<ConsoleHandle>>,
        req: &Request,
    ) -> Vec<String> {
        let (cons, req2) = (consoles.clone(), req.clone());
        self.run_matching(req, consoles.len(), move || {
            let names: Vec<&str> = cons.iter().map(|c| c.name()).collect();
            Ok(matching::select(&req2.consoles, req2.regex, &names)
                .unwrap_or_default()
                .into_iter()
                .map(|i| names[i].to_string())
                .collect())
        })
        .await
        .unwrap_or_default()
    }

    /// Run `f` inline when the request is cheap, else on the blocking pool behind
    /// [`Frontend::matching`].
    async fn run_matching<T: Send + 'static>(
        &self,
        req: &Request,
        consoles: usize,
        f: impl FnOnce() -> Result<T, RequestError> + Send + 'static,
    ) -> Result<T, RequestError> {
        let pattern_bytes: usize = req.consoles.iter().map(|p| p.len() + 1).sum();
        if pattern_bytes.saturating_mul(consoles) <= INLINE_MATCH_WORK {
            return f();
        }
        // The semaphore is never closed.
        let _one_at_a_time = self.matching.acquire().await;
        tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
            tracing::error!("Console matching failed: {e}");
            Err(RequestError::TooComplex(
                "internal error while matching".into(),
            ))
        })
    }
}

/// A connected client's slot; dropping it frees the slot.
pub struct ClientTicket {
    front: Arc<Frontend>,
    ip: IpAddr,
}

impl Drop for ClientTicket {
    fn drop(&mut self) {
        lock(&self.front.clients).release(&self.ip);
    }
}

/// A std mutex that shrugs off poisoning (the data are plain counters).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Requests up to this much work (pattern bytes × consoles) are matched inline.
const INLINE_MATCH_WORK: usize = 64 * 1024;
