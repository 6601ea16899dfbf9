//! `server cluster=`: several conmand nodes share one `conman.conf` through etcd;
//! each console is owned and connected by exactly one live node.
//!
//! In etcd, under `clusterprefix` (default `/conman`):
//!
//! - `nodes/NAME` = `{"advertise": …}`, under the node's lease: the live nodes;
//! - `owners/CONSOLE` = `NAME`, under the owner's lease; its create revision is the
//!   ownership's fencing number.
//!
//! Every node computes the same placement (rendezvous hashing over the live nodes,
//! [`conmand_core::cluster`]). A node opens a console only after its ownership key
//! was created (a transaction that fails if the key exists); it gives a console up by
//! stopping it, waiting until its device is closed, and only then deleting the key.
//! A node that cannot renew its lease for half the TTL stops every console (fences
//! itself) before the lease can expire and let another node in; it registers again
//! and takes its share back when etcd answers again. A dead node's keys go with its
//! lease; the survivors see that through a watch and take its consoles.
//!
//! The interface to the engine is one call, [`Engine::set_owned`].

pub mod etcd;
pub mod proxy;
pub mod status;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use conmand_core::config::Config;
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use etcd::Etcd;

/// A console and what creating its ownership key gave.
type Created = (String, Result<Option<i64>, etcd::EtcdError>);

/// After a change is seen, how long to let further changes arrive before placing.
const SETTLE: Duration = Duration::from_millis(100);

/// Ownership releases sent to etcd at once.
const CREATES_IN_FLIGHT: usize = 32;
/// Batches of ownership creates sent to etcd at once.
const BATCHES_IN_FLIGHT: usize = 4;
/// Without a change seen, how often the placement is checked anyway (the watch
/// normally wakes it).
const IDLE_CHECK: Duration = Duration::from_secs(300);

/// What a node needs to join.
#[derive(Debug, Clone)]
pub struct ClusterOpts {
    /// etcd endpoints.
    pub endpoints: Vec<String>,
    /// This node's name.
    pub node: String,
    /// Key prefix, without a trailing `/`.
    pub prefix: String,
    /// Lease TTL.
    pub ttl: Duration,
    /// Where other nodes reach this one (recorded for them).
    pub advertise: Option<String>,
}

impl ClusterOpts {
    /// The options of `config` (`None`: not in a cluster), with the command line's
    /// overrides.
    pub fn of(
        config: &Config,
        node: Option<&str>,
        advertise: Option<&str>,
        cluster: Option<&str>,
    ) -> Option<ClusterOpts> {
        let s = &config.server;
        let endpoints: Vec<String> = match cluster {
            Some(c) => c
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
            None => s.cluster.clone(),
        };
        if endpoints.is_empty() {
            return None;
        }
        let node = node
            .map(str::to_string)
            .or_else(|| s.nodename.clone())
            .unwrap_or_else(short_hostname);
        Some(ClusterOpts {
            endpoints,
            node,
            prefix: s.clusterprefix.clone(),
            ttl: Duration::from_secs(u64::from(s.clusterttl)),
            advertise: advertise
                .map(str::to_string)
                .or_else(|| s.advertise.clone()),
        })
    }
}

/// The host name up to its first dot.
pub fn short_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or_default().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// One node's part in the cluster.
pub struct Node {
    etcd: Etcd,
    opts: ClusterOpts,
    engine: Arc<Engine>,
    /// The whole configuration (every console).
    config: Mutex<Config>,
    /// The lease (0: none yet, or lost).
    lease: AtomicI64,
    /// Set by the keepalive task when the lease cannot be trusted any more.
    fenced: AtomicBool,
    /// Wakes the placement loop (watch events, lease changes, reloads).
    wake: Notify,
    /// Consoles this node owns, with their fencing numbers.
    owned: Mutex<BTreeMap<String, i64>>,
    /// What the last placement pass saw, for routing clients ([`proxy::Remote`]).
    view: std::sync::RwLock<View>,
}

/// The cluster as last read.
#[derive(Debug, Default)]
struct View {
    /// Every configured console.
    names: Vec<String>,
    /// Console → owning node.
    owners: std::collections::HashMap<String, String>,
    /// Node → its advertised address.
    addrs: std::collections::HashMap<String, String>,
}

impl proxy::Remote for Node {
    fn all_names(&self) -> Vec<String> {
        self.view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .names
            .clone()
    }

    fn remote_owner(&self, console: &str) -> Option<String> {
        let v = self.view.read().unwrap_or_else(|p| p.into_inner());
        let node = v.owners.get(console)?;
        if node == &self.opts.node {
            return None;
        }
        v.addrs.get(node).cloned()
    }
}

impl Node {
    /// A node for `engine`, placing the consoles of `config`.
    pub fn new(
        opts: ClusterOpts,
        engine: Arc<Engine>,
        config: Config,
    ) -> Result<Arc<Node>, String> {
        let etcd = Etcd::new(&opts.endpoints).map_err(|e| e.to_string())?;
        Ok(Arc::new(Node {
            etcd,
            opts,
            engine,
            config: Mutex::new(config),
            lease: AtomicI64::new(0),
            fenced: AtomicBool::new(true),
            wake: Notify::new(),
            owned: Mutex::new(BTreeMap::new()),
            view: std::sync::RwLock::new(View::default()),
        }))
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}/{kind}/{name}", self.opts.prefix)
    }

    /// A new configuration (SIGHUP): placed at once.
    pub async fn reconfigure(&self, config: Config) {
        *self.config.lock().await = config;
        self.wake.notify_one();
    }

    /// The consoles this node owns now.
    pub async fn owned(&self) -> Vec<String> {
        self.owned.lock().await.keys().cloned().collect()
    }

    /// Run until `cancel`: keep the lease, watch, place. At the end every owned
    /// console is stopped and the lease revoked, so the others take over at once.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let keep = tokio::spawn(self.clone().keepalive(cancel.clone()));
        let watch = tokio::spawn(self.clone().watch(cancel.clone()));
        let mut retry = false;
        loop {
            let wait = if retry {
                Duration::from_millis(500)
            } else {
                IDLE_CHECK
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.wake.notified() => {
                    // Changes come in bursts (a node giving up hundreds of consoles):
                    // let the burst pass, then look once.
                    tokio::time::sleep(SETTLE).await;
                }
                _ = tokio::time::sleep(wait) => {}
            }
            retry = match self.place().await {
                Ok(pending) => pending,
                Err(e) => {
                    tracing::warn!("Cluster: {e}");
                    true
                }
            };
        }
        keep.abort();
        watch.abort();
        let names: Vec<String> = self.owned.lock().await.keys().cloned().collect();
        self.give_up(&names).await;
        let lease = self.lease.swap(0, Ordering::AcqRel);
        if lease != 0 {
            let _ = self.etcd.revoke(lease).await;
        }
    }

    /// Keep the lease alive; fence when it cannot be renewed in time.
    async fn keepalive(self: Arc<Self>, cancel: CancellationToken) {
        let ttl = self.opts.ttl;
        let every = ttl / 3;
        // Owned consoles must be closed before the lease can expire: fence at half
        // the TTL after the last renewal that etcd confirmed (counted from when the
        // request was sent).
        let mut trusted_until: Option<Instant> = None;
        let mut backoff = Duration::from_millis(250);
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let lease = self.lease.load(Ordering::Acquire);
            let sent = Instant::now();
            let renewed = if lease == 0 {
                match self.register().await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!("Cluster: cannot join through etcd: {e}");
                        false
                    }
                }
            } else {
                match self.etcd.keepalive(lease).await {
                    Ok(left) if left > 0 => true,
                    Ok(_) => {
                        tracing::warn!(
                            "Cluster: lease {lease:x} expired; fencing and joining again"
                        );
                        self.lease.store(0, Ordering::Release);
                        self.fence();
                        false
                    }
                    Err(e) => {
                        tracing::warn!("Cluster: cannot renew the lease: {e}");
                        false
                    }
                }
            };
            if renewed {
                trusted_until = Some(sent + ttl / 2);
                backoff = Duration::from_millis(250);
                if self.fenced.swap(false, Ordering::AcqRel) {
                    self.wake.notify_one();
                }
            } else if trusted_until.is_none_or(|t| Instant::now() >= t) {
                self.fence();
            }
            let pause = if renewed { every } else { backoff };
            backoff = (backoff * 2).min(every);
            // Wake in time to fence if renewals keep failing.
            let until = match trusted_until {
                Some(t) if !renewed && t > Instant::now() => (t - Instant::now()).min(pause),
                _ => pause,
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(until) => {}
            }
        }
    }

    fn fence(&self) {
        if !self.fenced.swap(true, Ordering::AcqRel) {
            tracing::warn!("Cluster: cannot be sure of this node's lease; stopping its consoles");
        }
        self.wake.notify_one();
    }

    /// Take a lease and write this node's key under it.
    async fn register(&self) -> Result<(), etcd::EtcdError> {
        let ttl = u32::try_from(self.opts.ttl.as_secs()).unwrap_or(10);
        let lease = self.etcd.grant(ttl).await?;
        let since = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let info =
            serde_json::json!({ "advertise": self.opts.advertise, "since": since }).to_string();
        self.etcd
            .put(&self.key("nodes", &self.opts.node), &info, lease)
            .await?;
        self.lease.store(lease, Ordering::Release);
        tracing::info!(
            "Cluster: node {} joined (lease {lease:x}, TTL {}s)",
            self.opts.node,
            ttl
        );
        Ok(())
    }

    /// Wake the placement on every change under the prefix.
    async fn watch(self: Arc<Self>, cancel: CancellationToken) {
        let prefix = format!("{}/", self.opts.prefix);
        let mut backoff = Duration::from_millis(250);
        loop {
            let wake = || self.wake.notify_one();
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.etcd.watch(&prefix, wake) => {
                    if let Err(e) = r {
                        tracing::debug!("Cluster: watch: {e}");
                    }
                }
            }
            self.wake.notify_one();
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Stop `names`, wait until their devices are closed, then release their keys.
    async fn give_up(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let mut owned = self.owned.lock().await;
        for n in names {
            owned.remove(n);
        }
        let keep: HashSet<String> = owned.keys().cloned().collect();
        drop(owned);
        let still = self.engine.set_owned(keep).await;
        let mut free = Vec::new();
        for n in names {
            if still.contains(n) {
                // Its device may still be open: let the lease, not us, hand it on.
                tracing::warn!("Cluster: console [{n}] still closing; keeping its ownership key");
            } else {
                free.push(self.key("owners", n));
            }
        }
        use futures_util::StreamExt as _;
        let me = self.opts.node.as_str();
        let etcd = &self.etcd;
        futures_util::stream::iter(free)
            .map(|key: String| async move {
                let _ = etcd.delete_if(&key, me).await;
            })
            .buffer_unordered(CREATES_IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
    }

    /// One placement pass. `Ok(true)`: some console is waiting for another node
    /// to let go.
    async fn place(&self) -> Result<bool, etcd::EtcdError> {
        let lease = self.lease.load(Ordering::Acquire);
        if self.fenced.load(Ordering::Acquire) || lease == 0 {
            let all = self.owned().await;
            if !all.is_empty() {
                // Stop without touching etcd: the keys go with the lease.
                self.owned.lock().await.clear();
                let _ = self.engine.set_owned(HashSet::new()).await;
                tracing::warn!("Cluster: fenced; stopped {} console(s)", all.len());
            }
            return Ok(true);
        }
        let node_kvs = self
            .etcd
            .range_prefix(&format!("{}/nodes/", self.opts.prefix))
            .await?;
        let nodes: Vec<String> = node_kvs
            .iter()
            .filter_map(|kv| kv.key.rsplit('/').next().map(str::to_string))
            .collect();
        let addrs = node_kvs
            .iter()
            .filter_map(|kv| {
                let name = kv.key.rsplit('/').next()?.to_string();
                let v: serde_json::Value = serde_json::from_str(&kv.value).ok()?;
                Some((name, v["advertise"].as_str()?.to_string()))
            })
            .collect();
        if !nodes.contains(&self.opts.node) {
            // Our key vanished (lease revoked by hand?): join again.
            self.lease.store(0, Ordering::Release);
            self.fence();
            return Ok(true);
        }
        let owners: BTreeMap<String, (String, i64)> = self
            .etcd
            .range_prefix(&format!("{}/owners/", self.opts.prefix))
            .await?
            .into_iter()
            .filter_map(|kv| {
                let name = kv.key.rsplit_once("/owners/")?.1.to_string();
                Some((name, (kv.value, kv.create_revision)))
            })
            .collect();
        let names: Vec<String> = self
            .config
            .lock()
            .await
            .consoles
            .iter()
            .map(|c| c.name.clone())
            .collect();
        {
            let mut v = self.view.write().unwrap_or_else(|p| p.into_inner());
            v.names = names.clone();
            v.owners = owners
                .iter()
                .map(|(c, (n, _))| (c.clone(), n.clone()))
                .collect();
            v.addrs = addrs;
        }
        let desired: HashSet<&str> =
            conmand_core::cluster::owned_by(&self.opts.node, &names, &nodes)
                .into_iter()
                .collect();
        let me = self.opts.node.as_str();
        // Give up first what moved away (or what etcd says is not ours).
        let lose: Vec<String> = self
            .owned()
            .await
            .into_iter()
            .filter(|c| !desired.contains(c.as_str()) || owners.get(c).is_none_or(|(n, _)| n != me))
            .collect();
        if !lose.is_empty() {
            tracing::info!("Cluster: giving up {} console(s)", lose.len());
            self.give_up(&lose).await;
        }
        // Our own stale keys (a console no longer wanted here) go too.
        for (c, (n, _)) in &owners {
            if n == me && !desired.contains(c.as_str()) && !lose.contains(c) {
                let _ = self.etcd.delete_if(&self.key("owners", c), me).await;
            }
        }
        let mut pending = false;
        let mut gained = Vec::new();
        let have: HashSet<String> = self.owned().await.into_iter().collect();
        let mut free = Vec::new();
        for c in &desired {
            if have.contains(*c) {
                continue;
            }
            match owners.get(*c) {
                Some((n, rev)) if n == me => gained.push(((*c).to_string(), *rev)),
                Some(_) => pending = true,
                None => free.push((*c).to_string()),
            }
        }
        // Thousands of consoles at a cold start or a failover: batches of keys in
        // one transaction each (all free, the usual case), several in flight; a
        // batch that meets a taken key is retried one key at a time.
        use futures_util::StreamExt as _;
        let batches: Vec<Vec<String>> = free
            .chunks(etcd::MAX_TXN_OPS)
            .map(<[String]>::to_vec)
            .collect();
        let created: Vec<Vec<Created>> = futures_util::stream::iter(batches)
            .map(|batch: Vec<String>| {
                let keys: Vec<String> = batch.iter().map(|c| self.key("owners", c)).collect();
                let etcd = &self.etcd;
                async move {
                    match etcd.create_all(&keys, me, lease).await {
                        Ok(Some(rev)) => batch.into_iter().map(|c| (c, Ok(Some(rev)))).collect(),
                        Ok(None) => {
                            let mut out = Vec::new();
                            for (c, k) in batch.into_iter().zip(keys) {
                                let r = etcd.create(&k, me, lease).await;
                                out.push((c, r));
                            }
                            out
                        }
                        Err(e) => batch.into_iter().map(|c| (c, Err(e.clone()))).collect(),
                    }
                }
            })
            .buffer_unordered(BATCHES_IN_FLIGHT)
            .collect()
            .await;
        let mut failed = None;
        for (c, r) in created.into_iter().flatten() {
            match r {
                Ok(Some(rev)) => gained.push((c, rev)),
                Ok(None) => pending = true,
                Err(e) => failed = Some(e),
            }
        }
        if !gained.is_empty() && !self.fenced.load(Ordering::Acquire) {
            let mut owned = self.owned.lock().await;
            for (c, rev) in &gained {
                owned.insert(c.clone(), *rev);
            }
            let keep: HashSet<String> = owned.keys().cloned().collect();
            drop(owned);
            tracing::info!(
                "Cluster: took {} console(s); {} owned",
                gained.len(),
                keep.len()
            );
            let _ = self.engine.set_owned(keep).await;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(pending),
        }
    }
}
