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
    /// How often a console log that could not be opened is tried again.
    pub log_retry: Duration,
    /// IPMI password database (`conman.pswd`).
    pub pswd: Option<Arc<conmand_core::pswd::PasswordDb>>,
    /// The TCP-wrappers tables (`/etc/hosts.allow`, `/etc/hosts.deny`).
    pub tcpwrap_files: crate::tcpwrap::Files,
}

impl Default for EngineOpts {
    fn default() -> Self {
        EngineOpts {
            zero_logs: false,
            log_threads: 2,
            child_env: crate::daemon::env::cleaned_env(),
            handshake_timeout: crate::client::HANDSHAKE_TIMEOUT,
            stall_timeout: crate::session::STALL_TIMEOUT,
            log_retry: crate::logfile::REOPEN_RETRY,
            pswd: None,
            tcpwrap_files: Default::default(),
        }
    }
}

/// A running daemon.
pub struct Engine {
    /// What a reload changes: the configuration and `conman.pswd`.
    settings: Arc<SettingsCell>,
    /// Reloads apply one at a time.
    reload_lock: Mutex<()>,
    registry: Arc<Registry>,
    front: Arc<Frontend>,
    ctx: Arc<ConsoleCtx>,
    /// What backends take from the daemon for its whole life.
    backend_ctx: BackendCtx,
    tracker: TaskTracker,
    cancel: CancellationToken,
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
        let ctx = Arc::new(ConsoleCtx {
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
            reload_lock: Mutex::new(()),
            registry,
            front,
            ctx,
            backend_ctx,
            tracker,
            cancel,
        };
        let now = d.settings.get();
        let handles = now
            .config
            .consoles
            .iter()
            .map(|def| d.spawn_console(def, now.pswd.as_deref()))
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
        self.tracker.spawn(server::accept_loop(
            listener,
            self.front.clone(),
            self.tracker.clone(),
            self.cancel.child_token(),
        ));
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
        self.ctx.logs.sync().await;
    }

    /// SIGHUP, part 1: re-expand and reopen every console log.
    pub async fn reopen_logs(&self) {
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
        let mut changes = cfg::diff(&old.config, &new.config);
        for def in &new.config.consoles {
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
                    (n, format!("Console [{n}] removed from the configuration"))
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
                    summary.push("server options changed (port, loopback, logfile, syslog and keepalive take effect at restart)".into());
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
        // restore the old termios under the new console.
        for name in &restart {
            let Some(h) = running.get(*name) else {
                continue;
            };
            if tokio::time::timeout(Duration::from_secs(5), h.stopped())
                .await
                .is_err()
            {
                tracing::warn!("Console [{name}] did not stop within 5s; restarting it anyway");
            }
        }
        let next = new
            .config
            .consoles
            .iter()
            .map(|def| match running.get(&def.name) {
                Some(h) if !restart.contains(def.name.as_str()) => h.clone(),
                _ => self.spawn_console(def, new.pswd.as_deref()),
            })
            .collect();
        self.registry.replace(next);
        self.front
            .tcpwrap
            .set_enabled(new.config.server.tcpwrappers);
        self.settings.set(new);
        summary
    }

    /// Stop everything and wait (bounded) for logs to flush and children to go.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await;
        // Every console has queued its last output and closed its log; make sure the
        // writer threads have put it all on disk before the process exits.
        let _ = tokio::time::timeout(Duration::from_secs(10), self.ctx.logs.sync()).await;
        // Consoles are gone; give IPMI sessions a moment to deactivate SOL and close,
        // so a restarted daemon finds the BMCs' few session slots free.
        let background = &self.backend_ctx.background;
        background.close();
        let _ = tokio::time::timeout(SESSION_CLOSE_GRACE, background.wait()).await;
    }

    fn spawn_log_retry(&self, every: Duration) {
        let ctx = self.ctx.clone();
        let cancel = self.cancel.child_token();
        self.tracker.spawn(async move {
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
        let cancel = self.cancel.child_token();
        let minutes = move || settings.get().config.server.timestamp_minutes;
        self.tracker.spawn(async move {
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

    fn spawn_console(
        &self,
        def: &ConsoleDef,
        pswd: Option<&conmand_core::pswd::PasswordDb>,
    ) -> ConsoleHandle {
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
