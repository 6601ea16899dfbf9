//! The running daemon: consoles, listeners, reload, log reopen, marks, shutdown.
//!
//! Shutdown is "decide, tell, wait": the caller decides (signal, test), [`Engine`]
//! cancels its root token (every console and client task watches a child of it),
//! then waits for the task tracker, so logs are flushed and children reaped before
//! [`Engine::shutdown`] returns.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use conmand_core::config::{self as cfg, Config, ConsoleChange, ConsoleDef};
use conmand_core::pswd::PasswordDb;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::console::backend::dirwatch::DirWatch;
use crate::console::backend::{self, BackendCtx};
use crate::console::{self, Command, ConsoleCtx, ConsoleHandle};
use crate::frontend::Frontend;
use crate::logfile::{LogService, PathFn};
use crate::registry::Registry;
use crate::server;
use crate::settings::{Settings, SettingsCell};

/// How long a reload waits for the consoles it restarts to close (default).
pub const RELOAD_WAIT: Duration = Duration::from_secs(30);
/// How long shutdown waits for backend sessions (IPMI) to close.
const SESSION_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Options that do not come from the configuration file.
#[derive(Debug, Clone)]
pub struct EngineOpts {
    /// `-z`: truncate console logs on their first open.
    pub zero_logs: bool,
    /// Log writer threads.
    pub log_threads: usize,
    /// Environment for programs the daemon starts (process consoles, resetcmd).
    pub child_env: Vec<(OsString, OsString)>,
    /// How long a client may take to complete its handshake.
    pub handshake_timeout: Duration,
    /// How long a write to a client may make no progress before the client is
    /// dropped.
    pub stall_timeout: Duration,
    /// How long a reload waits for the consoles it restarts to close (the rest
    /// restart later, each as soon as its old connection is closed).
    pub reload_wait: Duration,
    /// How often a console log that could not be opened is tried again.
    pub log_retry: Duration,
    /// IPMI password database (`conman.pswd`).
    pub pswd: Option<Arc<conmand_core::pswd::PasswordDb>>,
    /// The TCP-wrappers tables (`/etc/hosts.allow`, `/etc/hosts.deny`).
    pub tcpwrap_files: crate::tcpwrap::Files,
    /// Cluster: start with only these consoles running (`None`: all).
    pub owned: Option<std::collections::HashSet<String>>,
}

impl Default for EngineOpts {
    fn default() -> Self {
        EngineOpts {
            zero_logs: false,
            log_threads: 2,
            child_env: crate::daemon::env::cleaned_env(),
            handshake_timeout: crate::client::HANDSHAKE_TIMEOUT,
            stall_timeout: crate::session::STALL_TIMEOUT,
            reload_wait: RELOAD_WAIT,
            log_retry: crate::logfile::REOPEN_RETRY,
            pswd: None,
            tcpwrap_files: Default::default(),
            owned: None,
        }
    }
}

/// A running daemon.
pub struct Engine {
    /// What a reload changes: the configuration and `conman.pswd`.
    settings: Arc<SettingsCell>,
    /// Reloads (and restarts deferred by one) apply one at a time.
    reload_lock: Arc<Mutex<()>>,
    registry: Arc<Registry>,
    front: Arc<Frontend>,
    alerts: Arc<crate::alerts::AlertHub>,
    /// The hub's task, and what stops it (after the consoles, at shutdown).
    alerts_tasks: TaskTracker,
    alerts_stop: CancellationToken,
    /// `server httptokens=` as last read.
    http_tokens: Arc<crate::snapshot::Snapshot<Option<crate::http::Tokens>>>,
    consoles: Spawner,
    /// How long a reload waits for the consoles it restarts to let go.
    reload_wait: Duration,
    /// In a cluster, the consoles this node owns: only those run (`None`: all).
    owned: std::sync::Mutex<Option<std::collections::HashSet<String>>>,
}

/// What starting a console takes; cloned into restarts deferred by a reload.
#[derive(Clone)]
struct Spawner {
    ctx: Arc<ConsoleCtx>,
    /// What backends take from the daemon for its whole life.
    backend_ctx: BackendCtx,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Spawner {
    fn spawn(&self, def: &ConsoleDef, pswd: Option<&PasswordDb>) -> ConsoleHandle {
        let backend = backend::for_console(def, &self.backend_ctx, pswd);
        console::spawn(
            Arc::new(def.clone()),
            backend,
            self.ctx.clone(),
            &self.tracker,
            self.cancel.child_token(),
        )
    }
}

impl Engine {
    /// Start every console of `config`.
    pub async fn start(config: Config, opts: EngineOpts) -> std::io::Result<Engine> {
        let logs = LogService::start(opts.log_threads, opts.zero_logs, opts.log_retry)?;
        let child_env = Arc::new(opts.child_env);
        let keepalive = config.server.keepalive;
        let now_tcpwrappers = config.server.tcpwrappers;
        let settings = Arc::new(SettingsCell::new(Settings {
            config,
            pswd: opts.pswd,
        }));
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        let reset_settings = settings.clone();
        let now = settings.get();
        let rules = crate::alerts::load(&now.config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        // The hub outlives the consoles at shutdown: it takes the incidents they
        // hand over as they stop, then ends.
        let alerts_tasks = TaskTracker::new();
        let alerts_stop = CancellationToken::new();
        let alerts = crate::alerts::AlertHub::start(
            rules,
            now.config.server.eventlog.clone(),
            crate::alerts::Targets::of(&now.config.server),
            &alerts_tasks,
            alerts_stop.clone(),
        );
        let ctx = Arc::new(ConsoleCtx {
            alerts: Some(alerts.clone()),
            logs,
            log_path: Arc::new(log_path_fn),
            reset_cmd: Some(Arc::new(move |def: &ConsoleDef| {
                let s = reset_settings.get();
                let t = s.config.server.resetcmd.as_deref().ok_or("no resetcmd")?;
                expand(t, def).map_err(|e| e.to_string())
            })),
            child_env: child_env.clone(),
            tasks: tracker.clone(),
        });
        let acl = match &now.config.server.acl {
            Some(path) => Some(
                crate::access::load_acl(path)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            ),
            None => None,
        };
        let access = crate::access::Access::new(acl, now.config.server.auditlog.clone());
        let registry = Arc::new(Registry::default());
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let front = Arc::new(Frontend::new(
            registry.clone(),
            settings.clone(),
            keepalive,
            opts.handshake_timeout,
            opts.stall_timeout,
            nofile,
            crate::tcpwrap::TcpWrappers::new(now_tcpwrappers, opts.tcpwrap_files.clone()),
            access,
        ));
        let background = TaskTracker::new();
        let backend_ctx = BackendCtx {
            child_env,
            keepalive,
            dirwatch: DirWatch::new(background.clone(), cancel.child_token()),
            background,
        };
        let d = Engine {
            settings,
            reload_lock: Arc::new(Mutex::new(())),
            registry,
            front,
            alerts,
            alerts_tasks,
            alerts_stop,
            http_tokens: Arc::new(crate::snapshot::Snapshot::new(None)),
            consoles: Spawner {
                ctx,
                backend_ctx,
                tracker,
                cancel,
            },
            reload_wait: opts.reload_wait,
            owned: std::sync::Mutex::new(opts.owned.clone()),
        };
        let now = d.settings.get();
        let handles = d
            .running_defs(&now.config)
            .into_iter()
            .map(|def| d.consoles.spawn(def, now.pswd.as_deref()))
            .collect();
        d.registry.replace(handles);
        let (limit, max) = (d.front.client_limit(), now.config.server.maxclients);
        if let Some(n) = nofile.filter(|_| limit < max) {
            tracing::warn!(
                "Open file limit {n} leaves room for {limit} clients beside the consoles' {} descriptors (maxclients={max}); raise nofile",
                d.registry.descriptors()
            );
        }
        d.spawn_marks();
        d.spawn_log_retry(opts.log_retry);
        Ok(d)
    }

    /// Serve clients on `listener` (bound by the caller; tests use port 0).
    pub fn serve(&self, listener: TcpListener) {
        self.consoles.tracker.spawn(server::accept_loop(
            listener,
            self.front.clone(),
            self.consoles.tracker.clone(),
            self.consoles.cancel.child_token(),
        ));
    }

    /// Serve the HTTP API and metrics on `listener` (bound by the caller; tests use
    /// port 0). `tokens`: the bearer tokens of `server httptokens=`, if any; they
    /// are read again at each reload.
    pub fn serve_http(&self, listener: TcpListener, tokens: Option<crate::http::Tokens>) {
        self.http_tokens.set(tokens);
        let state = Arc::new(crate::http::HttpState {
            registry: self.registry.clone(),
            alerts: self.alerts.clone(),
            logs: self.consoles.ctx.logs.clone(),
            front: self.front.clone(),
            tokens: self.http_tokens.clone(),
            tails: tokio::sync::Semaphore::new(crate::http::MAX_TAILS),
        });
        self.consoles.tracker.spawn(crate::http::serve(
            listener,
            state,
            self.consoles.tracker.clone(),
            self.consoles.cancel.child_token(),
        ));
    }

    /// Serve SSH on `listener` (bound by the caller; tests use port 0) with
    /// `host_key`; users and CAs come from `server sshusers=` / `sshca=` as
    /// configured now.
    pub fn serve_ssh(&self, listener: TcpListener, host_key: russh::keys::PrivateKey) {
        let now = self.settings.get();
        let ssh = crate::ssh::SshFront::new(
            self.front.clone(),
            host_key,
            now.config.server.sshusers.clone(),
            now.config.server.sshca.clone(),
        );
        self.consoles.tracker.spawn(crate::ssh::serve(
            listener,
            ssh,
            self.consoles.tracker.clone(),
            self.consoles.cancel.child_token(),
        ));
    }

    /// Cluster: route clients asking for consoles other nodes own (set once).
    pub fn set_remote(&self, remote: Arc<dyn crate::cluster::proxy::Remote>) {
        let _ = self.front.remote.set(remote);
    }

    /// Rights and the audit log.
    pub fn access(&self) -> &Arc<crate::access::Access> {
        &self.front.access
    }

    /// The alert hub (events, counts, rules in force).
    pub fn alerts(&self) -> &Arc<crate::alerts::AlertHub> {
        &self.alerts
    }

    /// The running consoles.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.front.client_count()
    }

    /// How many clients may be connected now (see [`Frontend::client_limit`]).
    pub fn client_limit(&self) -> usize {
        self.front.client_limit()
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.get()
    }

    /// Wait until everything the consoles have done so far is in their log files:
    /// one round trip through every console actor (so each has queued what it
    /// handled before), then a flush of every log writer.
    pub async fn flush_logs(&self) {
        for c in self.registry.snapshot().iter() {
            c.writers().await;
        }
        self.consoles.ctx.logs.sync().await;
    }

    /// SIGHUP, part 1: re-expand and reopen every console log.
    pub async fn reopen_logs(&self) {
        self.alerts.reopen_eventlog();
        self.front.access.reopen();
        for c in self.registry.snapshot().iter() {
            c.send(Command::ReopenLog).await;
        }
    }

    /// SIGHUP, part 2: apply a new configuration. Added consoles start, removed ones
    /// stop (their clients are told why), changed ones restart, the rest keep running
    /// with their clients attached.
    pub async fn reload(&self, new: Config) -> Vec<String> {
        let pswd = self.settings.get().pswd.clone();
        self.reload_with_pswd(new, pswd).await
    }

    /// [`Engine::reload`] with a new `conman.pswd` database as well: IPMI consoles
    /// whose credentials change restart too.
    pub async fn reload_with_pswd(
        &self,
        new: Config,
        pswd: Option<Arc<conmand_core::pswd::PasswordDb>>,
    ) -> Vec<String> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let old = self.settings.get();
        let new = Settings { config: new, pswd };
        // Alert rules apply to running consoles without a restart; a file with
        // mistakes keeps the rules in force.
        match crate::alerts::load(&new.config) {
            // Unchanged rules are kept as they are: a new set would restart every
            // console's scanner (open incidents, de-dup windows), and logrotate
            // may send SIGHUP every night.
            Ok(rules) if rules.rules() == self.alerts.rules().0.rules() => {}
            Ok(rules) => self.alerts.set_rules(rules),
            Err(e) => tracing::error!("{e}; keeping the alert rules in use"),
        }
        self.alerts.set_eventlog(new.config.server.eventlog.clone());
        self.alerts
            .set_targets(crate::alerts::Targets::of(&new.config.server));
        // HTTP tokens are read again (the listener itself moves only at restart).
        if let Some(path) = &new.config.server.httptokens {
            match crate::http::Tokens::load(path) {
                Ok(t) => self.http_tokens.set(Some(t)),
                Err(e) => {
                    for e in e {
                        tracing::error!("{e}");
                    }
                    tracing::error!("Keeping the HTTP tokens in use");
                }
            }
        } else if old.config.server.httptokens.is_some() {
            tracing::warn!("httptokens removed: HTTP keeps its tokens until restart");
        }
        // The ACL and the audit log apply to sessions that start from now on; a
        // file with mistakes keeps the ACL in force.
        match &new.config.server.acl {
            Some(path) => match crate::access::load_acl(path) {
                Ok(acl) => self.front.access.set_acl(Some(acl)),
                Err(e) => tracing::error!("{e}; keeping the ACL in use"),
            },
            None => self.front.access.set_acl(None),
        }
        self.front
            .access
            .set_auditlog(new.config.server.auditlog.clone());
        // In a cluster only owned consoles run: compare and start those.
        // The old side is what runs now (the owned set may just have changed).
        let now_running: std::collections::HashSet<String> = self
            .registry
            .snapshot()
            .iter()
            .map(|h| h.name().to_string())
            .collect();
        let old_run = Config {
            origin: old.config.origin.clone(),
            server: old.config.server.clone(),
            consoles: old
                .config
                .consoles
                .iter()
                .filter(|d| now_running.contains(&d.name))
                .cloned()
                .collect(),
        };
        let new_run = self.filtered(&new.config);
        let mut changes = cfg::diff(&old_run, &new_run);
        for def in &new_run.consoles {
            let unchanged = !changes.iter().any(|c| {
                matches!(c, ConsoleChange::Added(n) | ConsoleChange::Changed(n) if n == &def.name)
            });
            if unchanged && backend::needs_restart(def, old.pswd.as_deref(), new.pswd.as_deref()) {
                changes.push(ConsoleChange::Changed(def.name.clone()));
            }
        }
        let running: HashMap<String, ConsoleHandle> = self
            .registry
            .snapshot()
            .iter()
            .map(|h| (h.name().to_string(), h.clone()))
            .collect();
        let mut restart = std::collections::HashSet::new();
        let mut summary = Vec::new();
        for change in &changes {
            let (name, reason) = match change {
                ConsoleChange::Removed(n) => {
                    summary.push(format!("removed {n}"));
                    // In a cluster a console still configured but not owned here
                    // has moved to another node.
                    if new.config.consoles.iter().any(|d| &d.name == n) {
                        (n, format!("Console [{n}] moved to another node"))
                    } else {
                        (n, format!("Console [{n}] removed from the configuration"))
                    }
                }
                ConsoleChange::Changed(n) => {
                    summary.push(format!("changed {n}"));
                    (n, format!("Console [{n}] restarted: configuration changed"))
                }
                ConsoleChange::Added(n) => {
                    summary.push(format!("added {n}"));
                    continue;
                }
                ConsoleChange::ServerChanged => {
                    summary.push("server options changed (port, loopback, logfile, syslog, keepalive, http and ssh take effect at restart)".into());
                    continue;
                }
            };
            restart.insert(name.as_str());
            if let Some(h) = running.get(name) {
                h.send(Command::Stop { reason }).await;
            }
        }
        // A restarted console must not open its device or log while the old actor
        // still holds them: closing the old fd would drop the new POSIX lock and
        // restore the old termios under the new console. Wait for them all at once;
        // any still holding on at the deadline restart later, when they let go.
        let stopping: Vec<(&str, &ConsoleHandle)> = restart
            .iter()
            .filter_map(|n| running.get(*n).map(|h| (*n, h)))
            .collect();
        let stuck = wait_stopped(&stopping, self.reload_wait).await;
        let next = new_run
            .consoles
            .iter()
            .map(|def| match running.get(&def.name) {
                Some(h) if !restart.contains(def.name.as_str()) => h.clone(),
                Some(h) if stuck.contains(def.name.as_str()) => {
                    self.restart_when_stopped(h.clone());
                    h.clone()
                }
                _ => self.consoles.spawn(def, new.pswd.as_deref()),
            })
            .collect();
        self.registry.replace(next);
        self.front
            .tcpwrap
            .set_enabled(new.config.server.tcpwrappers);
        self.settings.set(new);
        summary
    }

    /// The consoles of `config` this node runs (all, outside a cluster).
    fn running_defs<'a>(&self, config: &'a Config) -> Vec<&'a ConsoleDef> {
        let owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        config
            .consoles
            .iter()
            .filter(|d| owned.as_ref().is_none_or(|o| o.contains(&d.name)))
            .collect()
    }

    /// `config` with only the consoles this node runs.
    fn filtered(&self, config: &Config) -> Config {
        let consoles = self.running_defs(config).into_iter().cloned().collect();
        Config {
            origin: config.origin.clone(),
            server: config.server.clone(),
            consoles,
        }
    }

    /// Cluster: run exactly the consoles in `owned` (of those configured). Consoles
    /// no longer owned are stopped and waited for (up to the reload bound); returns
    /// the names of those still closing when this returns (their device may still
    /// be open: do not let another node have them yet).
    pub async fn set_owned(&self, owned: std::collections::HashSet<String>) -> Vec<String> {
        let before: HashMap<String, ConsoleHandle> = self
            .registry
            .snapshot()
            .iter()
            .map(|h| (h.name().to_string(), h.clone()))
            .collect();
        *self.owned.lock().unwrap_or_else(|p| p.into_inner()) = Some(owned.clone());
        let now = self.settings.get();
        self.reload_with_pswd(now.config.clone(), now.pswd.clone())
            .await;
        before
            .into_iter()
            .filter(|(n, h)| !owned.contains(n) && !h.is_closed())
            .map(|(n, _)| n)
            .collect()
    }

    /// Start the console of `old`'s name once `old` has let go of its device and
    /// log, if it is then still configured and nothing else replaced it.
    fn restart_when_stopped(&self, old: ConsoleHandle) {
        let (spawner, registry, settings, lock) = (
            self.consoles.clone(),
            self.registry.clone(),
            self.settings.clone(),
            self.reload_lock.clone(),
        );
        let cancel = self.consoles.cancel.clone();
        self.consoles.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = old.stopped() => {}
            }
            let _one_at_a_time = lock.lock().await;
            let now = settings.get();
            let Some(def) = now.config.consoles.iter().find(|d| d.name == old.name()) else {
                return;
            };
            // Replaced meanwhile by a later reload: nothing to do. (The lock keeps
            // the registry still between this check and the swap.)
            if !registry.snapshot().iter().any(|h| h.same(&old)) {
                return;
            }
            registry.swap(&old, spawner.spawn(def, now.pswd.as_deref()));
            tracing::info!(
                "Console [{}] restarted: its old connection is closed",
                old.name()
            );
        });
    }

    /// Stop everything and wait (bounded) for logs to flush and children to go.
    pub async fn shutdown(self) {
        self.consoles.cancel.cancel();
        self.consoles.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.consoles.tracker.wait()).await;
        // The consoles have handed over their last incidents: write them out.
        self.alerts_stop.cancel();
        self.alerts_tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.alerts_tasks.wait()).await;
        // Every console has queued its last output and closed its log; make sure the
        // writer threads have put it all on disk before the process exits.
        let _ = tokio::time::timeout(Duration::from_secs(10), self.consoles.ctx.logs.sync()).await;
        // The sessions' last records (detach) are in the audit queue.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.front.access.sync()).await;
        self.front.access.close();
        // Consoles are gone; give IPMI sessions a moment to deactivate SOL and close,
        // so a restarted daemon finds the BMCs' few session slots free.
        let background = &self.consoles.backend_ctx.background;
        background.close();
        let _ = tokio::time::timeout(SESSION_CLOSE_GRACE, background.wait()).await;
    }

    fn spawn_log_retry(&self, every: Duration) {
        let ctx = self.consoles.ctx.clone();
        let cancel = self.consoles.cancel.child_token();
        self.consoles.tracker.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => ctx.logs.tick(),
                }
            }
        });
    }

    fn spawn_marks(&self) {
        let settings = self.settings.clone();
        let registry = self.registry.clone();
        let cancel = self.consoles.cancel.child_token();
        let minutes = move || settings.get().config.server.timestamp_minutes;
        self.consoles.tracker.spawn(async move {
            loop {
                let n = minutes();
                let wait = if n == 0 {
                    Duration::from_secs(60)
                } else {
                    until_next_mark(n)
                };
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                if n == 0 || minutes() != n {
                    continue;
                }
                for c in registry.snapshot().iter() {
                    c.send(Command::Mark).await;
                }
            }
        });
    }
}

/// How often a reload says which consoles it is still waiting for.
const RELOAD_WARN_EVERY: Duration = Duration::from_secs(5);

/// Wait until every console in `stopping` has ended, saying every few seconds which
/// ones are still holding on, for at most `limit`. Returns the names still running.
async fn wait_stopped<'a>(
    stopping: &[(&'a str, &ConsoleHandle)],
    limit: Duration,
) -> std::collections::HashSet<&'a str> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let pending: Vec<&(&str, &ConsoleHandle)> =
            stopping.iter().filter(|(_, h)| !h.is_closed()).collect();
        let now = tokio::time::Instant::now();
        if pending.is_empty() || now >= deadline {
            if !pending.is_empty() {
                tracing::warn!(
                    "Reload: {} console(s) still closing after {}s; each restarts once closed: {}",
                    pending.len(),
                    limit.as_secs(),
                    names(&pending)
                );
            }
            return pending.iter().map(|(n, _)| *n).collect();
        }
        let all = futures_util::future::join_all(pending.iter().map(|(_, h)| h.stopped()));
        let wait = RELOAD_WARN_EVERY.min(deadline - now);
        if tokio::time::timeout(wait, all).await.is_err() {
            let left: Vec<_> = pending
                .into_iter()
                .filter(|(_, h)| !h.is_closed())
                .collect();
            if !left.is_empty() && tokio::time::Instant::now() < deadline {
                tracing::warn!(
                    "Reload: waiting for {} console(s) to close: {}",
                    left.len(),
                    names(&left)
                );
            }
        }
    }
}

/// `[a], [b], …` (the first few).
fn names(list: &[&(&str, &ConsoleHandle)]) -> String {
    let mut s: Vec<String> = list
        .iter()
        .take(10)
        .map(|(n, _)| format!("[{n}]"))
        .collect();
    if list.len() > 10 {
        s.push(format!("and {} more", list.len() - 10));
    }
    s.join(", ")
}

/// Time until the next `server timestamp=` mark: the next multiple of `n` minutes
/// counted from local midnight (ConMan's alignment, reference §5.7).
fn until_next_mark(n: u32) -> Duration {
    let today = crate::timefmt::since_local_midnight();
    let secs = conmand_core::logline::first_mark_delay(today.as_secs(), u64::from(n) * 60)
        .unwrap_or(u64::from(n) * 60);
    Duration::from_secs(secs).saturating_sub(Duration::from_nanos(today.subsec_nanos().into()))
}

fn log_path_fn(def: &ConsoleDef) -> Option<PathFn> {
    let tmpl = def.log.clone()?;
    let def = def.clone();
    Some(Box::new(move || {
        expand(&tmpl, &def).map(std::path::PathBuf::from)
    }))
}

/// Expand `%` conversion specifiers for a console (reference §1.8), at the current
/// local time.
pub fn expand(tmpl: &str, def: &ConsoleDef) -> Result<String, String> {
    let dev = cfg::device_text(&def.spec);
    let ctx = cfg::ExpandCtx {
        name: Some(&def.name),
        dev: Some(&dev),
        pid: std::process::id(),
        strftime: &crate::timefmt::strftime_one,
    };
    cfg::expand(tmpl, &ctx).map_err(|e| e.to_string())
}
