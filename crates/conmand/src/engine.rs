//! The running daemon: consoles, listeners, reload, log reopen, marks, shutdown.
//!
//! Shutdown is "decide, tell, wait": the caller decides (signal, test), [`Engine`]
//! cancels its root token (every console and client task watches a child of it),
//! then waits for the task tracker, so logs are flushed and children reaped before
//! [`Engine::shutdown`] returns.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use conmand_core::config::{self as cfg, Config, ConsoleChange, ConsoleDef, ConsoleSpec};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::console::backend::{self, BackendCtx};
use crate::console::{self, Command, ConsoleCtx, ConsoleHandle};
use crate::logfile::{LogService, PathFn};
use crate::registry::Registry;
use crate::server::{self, Shared};

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
            log_retry: crate::logfile::REOPEN_RETRY,
            pswd: None,
            tcpwrap_files: Default::default(),
        }
    }
}

/// A running daemon.
pub struct Engine {
    config: Mutex<Config>,
    registry: Arc<Registry>,
    shared: Arc<Shared>,
    ctx: Arc<ConsoleCtx>,
    /// Shared with every console started later; replaced when conman.pswd changes.
    backend_ctx: std::sync::Mutex<BackendCtx>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    reset: Arc<AtomicBool>,
    reset_tmpl: Arc<std::sync::RwLock<Option<String>>>,
    timestamp_minutes: Arc<AtomicU32>,
}

impl Engine {
    /// Start every console of `config`.
    pub async fn start(config: Config, opts: EngineOpts) -> std::io::Result<Engine> {
        let logs = LogService::start(opts.log_threads, opts.zero_logs, opts.log_retry)?;
        let opts_log_retry = opts.log_retry;
        let child_env = Arc::new(opts.child_env);
        let reset_tmpl: Arc<std::sync::RwLock<Option<String>>> =
            Arc::new(std::sync::RwLock::new(config.server.resetcmd.clone()));
        let rt = reset_tmpl.clone();
        let ctx = Arc::new(ConsoleCtx {
            logs,
            log_path: Arc::new(log_path_fn),
            reset_cmd: Some(Arc::new(move |def: &ConsoleDef| {
                let t = rt
                    .read()
                    .ok()
                    .and_then(|g| g.clone())
                    .ok_or("no resetcmd")?;
                expand(&t, def).map_err(|e| e.to_string())
            })),
            child_env: child_env.clone(),
        });
        let registry = Arc::new(Registry::default());
        let reset = Arc::new(AtomicBool::new(config.server.resetcmd.is_some()));
        let shared = Arc::new(Shared {
            registry: registry.clone(),
            resolver: Default::default(),
            reset: reset.clone(),
            keepalive: config.server.keepalive,
            handshake_timeout: opts.handshake_timeout,
            tcpwrap: Arc::new(crate::tcpwrap::TcpWrappers::new(
                config.server.tcpwrappers,
                opts.tcpwrap_files.clone(),
            )),
        });
        let backend_ctx = BackendCtx {
            child_env,
            keepalive: config.server.keepalive,
            pswd: opts.pswd.clone(),
            background: TaskTracker::new(),
            dirwatch: Default::default(),
        };
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        let mut handles = Vec::new();
        for def in &config.consoles {
            handles.push(spawn_console(def, &ctx, &backend_ctx, &tracker, &cancel));
        }
        registry.replace(handles);
        let timestamp_minutes = Arc::new(AtomicU32::new(config.server.timestamp_minutes));
        let d = Engine {
            config: Mutex::new(config),
            registry,
            shared,
            ctx,
            backend_ctx: std::sync::Mutex::new(backend_ctx),
            tracker,
            cancel,
            reset,
            reset_tmpl,
            timestamp_minutes,
        };
        d.spawn_marks();
        d.spawn_log_retry(opts_log_retry);
        Ok(d)
    }

    /// Serve clients on `listener` (bound by the caller; tests use port 0).
    pub fn serve(&self, listener: TcpListener) {
        self.tracker.spawn(server::accept_loop(
            listener,
            self.shared.clone(),
            self.tracker.clone(),
            self.cancel.child_token(),
        ));
    }

    /// The running consoles.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
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
        let pswd = self.backend_ctx().pswd;
        self.reload_with_pswd(new, pswd).await
    }

    /// [`Engine::reload`] with a new `conman.pswd` database as well: IPMI consoles
    /// whose credentials change restart too.
    pub async fn reload_with_pswd(
        &self,
        new: Config,
        pswd: Option<Arc<conmand_core::pswd::PasswordDb>>,
    ) -> Vec<String> {
        let mut cur = self.config.lock().await;
        let old_ctx = self.backend_ctx();
        let new_ctx = BackendCtx {
            pswd,
            ..old_ctx.clone()
        };
        let mut changes = cfg::diff(&cur, &new);
        for def in &new.consoles {
            let ConsoleSpec::Ipmi(spec) = &def.spec else {
                continue;
            };
            let unchanged = !changes.iter().any(|c| {
                matches!(c, ConsoleChange::Added(n) | ConsoleChange::Changed(n) if n == &def.name)
            });
            if unchanged
                && backend::ipmi_credentials(spec, &old_ctx)
                    != backend::ipmi_credentials(spec, &new_ctx)
            {
                changes.push(ConsoleChange::Changed(def.name.clone()));
            }
        }
        if let Ok(mut g) = self.backend_ctx.lock() {
            *g = new_ctx.clone();
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
            .consoles
            .iter()
            .map(|def| match running.get(&def.name) {
                Some(h) if !restart.contains(def.name.as_str()) => h.clone(),
                _ => spawn_console(def, &self.ctx, &new_ctx, &self.tracker, &self.cancel),
            })
            .collect();
        self.registry.replace(next);
        self.reset
            .store(new.server.resetcmd.is_some(), Ordering::Relaxed);
        if let Ok(mut t) = self.reset_tmpl.write() {
            *t = new.server.resetcmd.clone();
        }
        self.timestamp_minutes
            .store(new.server.timestamp_minutes, Ordering::Relaxed);
        self.shared.tcpwrap.set_enabled(new.server.tcpwrappers);
        *cur = new;
        summary
    }

    fn backend_ctx(&self) -> BackendCtx {
        match self.backend_ctx.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
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
        let background = self.backend_ctx().background;
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
        let minutes = self.timestamp_minutes.clone();
        let registry = self.registry.clone();
        let cancel = self.cancel.child_token();
        self.tracker.spawn(async move {
            loop {
                let n = minutes.load(Ordering::Relaxed);
                let wait = if n == 0 {
                    Duration::from_secs(60)
                } else {
                    until_next_mark(n)
                };
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                if n == 0 || minutes.load(Ordering::Relaxed) != n {
                    continue;
                }
                for c in registry.snapshot().iter() {
                    c.send(Command::Mark).await;
                }
            }
        });
    }
}

fn spawn_console(
    def: &ConsoleDef,
    ctx: &Arc<ConsoleCtx>,
    bctx: &BackendCtx,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> ConsoleHandle {
    let backend = backend::for_console(def, bctx);
    console::spawn(
        Arc::new(def.clone()),
        backend,
        ctx.clone(),
        tracker,
        cancel.child_token(),
    )
}

/// Time until the next `server timestamp=` mark: the next multiple of `n` minutes
/// counted from local midnight (ConMan's alignment, reference §5.7).
fn until_next_mark(n: u32) -> Duration {
    let now = jiff::ZonedDateTime::now();
    let secs_today = u64::from(now.hour() as u16) * 3600
        + u64::from(now.minute() as u16) * 60
        + u64::from(now.second() as u16);
    let secs = conmand_core::logline::first_mark_delay(secs_today, u64::from(n) * 60)
        .unwrap_or(u64::from(n) * 60);
    Duration::from_secs(secs)
        .saturating_sub(Duration::from_nanos(now.subsec_nanosecond().max(0) as u64))
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
