//! Console alerts, daemon side: loading the rules (`server alertpack=`, `server
//! alerts=`), and the hub every console hands its incidents to.
//!
//! Matching itself is pure logic in [`conmand_core::alerts`]: each console actor owns
//! a [`Scanner`](conmand_core::alerts::Scanner) over the current [`RuleSet`] and feeds
//! it what it reads from its device. The hub turns incidents into [`Event`]s: it
//! numbers them, keeps a bounded history (for the API), counts them (for metrics),
//! writes them to the daemon log at the rule's severity and appends them to `server
//! eventlog=` as JSON lines.
//!
//! A console never waits for the hub: incidents go through a bounded queue with
//! `try_send`, and one that finds it full is counted in [`AlertHub::dropped`] and
//! reported in the daemon log.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use conmand_core::alerts::{Incident, Rule, RuleSet, Severity, rules};
use conmand_core::config::{AlertPack, Config};
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::jsonlog::JsonLines;
use crate::snapshot::Snapshot;

/// The event log's permission bits when it is created.
const EVENTLOG_MODE: u32 = 0o644;

pub mod actions;
mod watch;
pub use actions::{ActionStats, Targets};
pub use watch::Watch;

/// Incidents waiting for the hub before consoles start dropping them.
const QUEUE: usize = 4096;
/// Events kept for `GET /api/v1/events`.
pub const HISTORY: usize = 1000;

/// Why the rules could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `server alerts=` could not be read.
    #[error("Unable to read alert rules \"{path}\": {why}")]
    Read {
        /// The file.
        path: PathBuf,
        /// strerror.
        why: String,
    },
    /// The file has mistakes (each names its FILE:LINE).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<rules::RulesError>),
    /// The rules could not be combined into one matcher.
    #[error("{0}")]
    Compile(#[from] conmand_core::alerts::CompileError),
}

impl LoadError {
    /// As configuration diagnostics (`conmand -t`).
    pub fn diagnostics(&self, config_file: &str) -> Vec<conmand_core::config::Diagnostic> {
        use conmand_core::config::Diagnostic;
        match self {
            LoadError::Invalid(errs) => errs
                .iter()
                .map(|e| Diagnostic {
                    file: e.file.clone(),
                    line: u32::try_from(e.line).unwrap_or(u32::MAX),
                    col: 0,
                    message: e.message.clone(),
                })
                .collect(),
            other => vec![Diagnostic {
                file: config_file.to_string(),
                line: 0,
                col: 0,
                message: other.to_string(),
            }],
        }
    }
}

/// The rules a configuration asks for: the built-in pack (unless `alertpack=off`)
/// changed by the `alerts=` file, compiled.
pub fn load(config: &Config) -> Result<RuleSet, LoadError> {
    let base = match config.server.alertpack {
        AlertPack::Builtin => rules::builtin(),
        AlertPack::Off => Vec::new(),
    };
    let list = match &config.server.alerts {
        None => base,
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| LoadError::Read {
                path: path.clone(),
                why: conmand_core::oserror::strerror(&e),
            })?;
            let text = String::from_utf8_lossy(&text);
            rules::apply(base, &path.to_string_lossy(), &text).map_err(LoadError::Invalid)?
        }
    };
    Ok(RuleSet::compile(&list)?)
}

/// The base of [`now_ms`].
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds on the daemon's monotonic clock (what scanners are fed).
pub fn now_ms() -> u64 {
    START.elapsed().as_millis() as u64
}

/// The [`Instant`] of a [`now_ms`] value (for timers).
pub fn instant_of(ms: u64) -> Instant {
    *START + Duration::from_millis(ms)
}

/// One alert, as the API, the event log and webhooks show it.
#[derive(Debug, Clone)]
pub struct Event {
    /// Increasing from 1 for the daemon's life.
    pub id: u64,
    /// When the matching line was read.
    pub time: SystemTime,
    /// The console.
    pub console: Arc<str>,
    /// The rule's id.
    pub rule: Arc<str>,
    /// The rule's severity.
    pub severity: Severity,
    /// The matching line.
    pub line: String,
    /// Lines before the match, oldest first.
    pub before: Vec<String>,
    /// Lines after it.
    pub after: Vec<String>,
    /// Byte offset of the line in the console's log file, when it has one.
    pub log_offset: Option<u64>,
    /// Further matching lines folded into this event.
    pub repeats: u32,
    /// Matches held back by the de-duplication window before this one.
    pub suppressed: u32,
}

impl Event {
    /// The event as JSON (the event log's line, the API's element).
    pub fn to_json(&self) -> serde_json::Value {
        let time = jiff::Timestamp::try_from(self.time)
            .map(|t| t.to_string())
            .unwrap_or_default();
        json!({
            "id": self.id,
            "time": time,
            "console": &*self.console,
            "rule": &*self.rule,
            "severity": self.severity.as_str(),
            "line": self.line,
            "context": { "before": self.before, "after": self.after },
            "log_offset": self.log_offset,
            "repeats": self.repeats,
            "suppressed": self.suppressed,
        })
    }
}

/// What a console hands the hub.
struct Raw {
    console: Arc<str>,
    rule: Rule,
    incident: Incident,
    time: SystemTime,
    /// The log writer's answer: where the line is in the file.
    log_offset: Option<oneshot::Receiver<Option<u64>>>,
}

/// Counters and history, behind one lock (taken once per event and per API call).
#[derive(Default)]
struct State {
    history: VecDeque<Arc<Event>>,
    /// Events per (console, rule, severity).
    counts: HashMap<(Arc<str>, Arc<str>, Severity), u64>,
    /// The latest event per console.
    last: HashMap<Arc<str>, Arc<Event>>,
}

/// The daemon's alert hub (one per engine).
pub struct AlertHub {
    rules: Snapshot<Arc<RuleSet>>,
    generation: AtomicU64,
    tx: mpsc::Sender<Raw>,
    state: Mutex<State>,
    next_id: AtomicU64,
    dropped: AtomicU64,
    live: broadcast::Sender<Arc<Event>>,
    eventlog: Arc<Mutex<JsonLines>>,
    actions: Arc<actions::Actions>,
}

impl AlertHub {
    /// Start the hub task on `tracker`; it ends when `cancel` fires (after writing
    /// what is queued).
    pub fn start(
        rules: RuleSet,
        eventlog: Option<PathBuf>,
        targets: Targets,
        tracker: &TaskTracker,
        cancel: CancellationToken,
    ) -> Arc<AlertHub> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let hub = Arc::new(AlertHub {
            rules: Snapshot::new(Arc::new(rules)),
            generation: AtomicU64::new(0),
            tx,
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            live: broadcast::channel(256).0,
            eventlog: Arc::new(Mutex::new(JsonLines::new(
                eventlog,
                EVENTLOG_MODE,
                "event log",
            ))),
            actions: actions::Actions::start(targets, tracker, cancel.clone()),
        });
        tracker.spawn(hub.clone().run(rx, cancel));
        hub
    }

    /// Point `server eventlog=` somewhere else (reload); `None` stops it.
    pub fn set_eventlog(&self, path: Option<PathBuf>) {
        let mut log = self.eventlog.lock().unwrap_or_else(|p| p.into_inner());
        log.set_path(path);
    }

    /// Point `server alertwebhook=` / `alertexec=` elsewhere (reload).
    pub fn set_targets(&self, targets: Targets) {
        self.actions.targets.set(targets);
    }

    /// Webhook and exec counters.
    pub fn action_stats(&self) -> &ActionStats {
        &self.actions.stats
    }

    /// SIGHUP/SIGUSR1: close the event log; the next event opens it again.
    pub fn reopen_eventlog(&self) {
        self.eventlog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reopen();
    }

    /// The rules in force, and their generation (it changes when a reload
    /// replaces them).
    pub fn rules(&self) -> (Arc<RuleSet>, u64) {
        // Generation first: a scanner built from rules newer than the generation it
        // recorded only rebuilds once more.
        let generation = self.generation.load(Ordering::Acquire);
        (self.rules.get().as_ref().clone(), generation)
    }

    /// The current rules' generation (cheap; consoles check it per read).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replace the rules (reload); consoles pick them up with their next output.
    pub fn set_rules(&self, rules: RuleSet) {
        self.rules.set(Arc::new(rules));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Hand an incident over. Never waits: a full queue drops it (counted).
    pub fn submit(
        &self,
        console: &Arc<str>,
        rules: &RuleSet,
        incident: Incident,
        now_ms: u64,
        log_offset: Option<oneshot::Receiver<Option<u64>>>,
    ) {
        let Some(rule) = rules.rules().get(incident.rule).cloned() else {
            return;
        };
        let age = Duration::from_millis(now_ms.saturating_sub(incident.at_ms));
        let raw = Raw {
            console: console.clone(),
            rule,
            incident,
            time: SystemTime::now() - age,
            log_offset,
        };
        if let Err(e) = self.tx.try_send(raw) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let (raw, why) = match e {
                mpsc::error::TrySendError::Full(r) => (r, "Alert queue full"),
                mpsc::error::TrySendError::Closed(r) => (r, "Alerts stopped"),
            };
            if n.is_power_of_two() {
                tracing::error!(
                    "{why}: dropped alert {} on console [{}] ({n} dropped so far)",
                    raw.rule.id,
                    raw.console
                );
            }
        }
    }

    /// Alerts dropped because the hub's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events with an id above `since`, oldest first, at most [`HISTORY`].
    pub fn events_since(&self, since: u64) -> Vec<Arc<Event>> {
        let st = self.lock();
        st.history
            .iter()
            .filter(|e| e.id > since)
            .cloned()
            .collect()
    }

    /// Events so far per (console, rule, severity).
    pub fn counts(&self) -> Vec<(Arc<str>, Arc<str>, Severity, u64)> {
        let st = self.lock();
        let mut v: Vec<_> = st
            .counts
            .iter()
            .map(|((c, r, s), n)| (c.clone(), r.clone(), *s, *n))
            .collect();
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
    }

    /// A console's latest event.
    pub fn last(&self, console: &str) -> Option<Arc<Event>> {
        self.lock().last.get(console).cloned()
    }

    /// The latest event of every console that had one (one lock for all).
    pub fn last_all(&self) -> HashMap<Arc<str>, Arc<Event>> {
        self.lock().last.clone()
    }

    /// Live events (for streaming); lagging receivers lose the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<Raw>, cancel: CancellationToken) {
        loop {
            let raw = tokio::select! {
                biased;
                r = rx.recv() => r,
                _ = cancel.cancelled() => {
                    rx.close();
                    rx.recv().await
                }
            };
            let Some(mut raw) = raw else { break };
            let log_offset = match raw.log_offset.take() {
                Some(r) => r.await.ok().flatten(),
                None => None,
            };
            let actions = raw.rule.actions;
            let ev = Arc::new(self.event(raw, log_offset));
            if actions.syslog {
                say(&ev);
            }
            {
                let mut st = self.lock();
                if st.history.len() == HISTORY {
                    st.history.pop_front();
                }
                st.history.push_back(ev.clone());
                *st.counts
                    .entry((ev.console.clone(), ev.rule.clone(), ev.severity))
                    .or_default() += 1;
                st.last.insert(ev.console.clone(), ev.clone());
            }
            let _ = self.live.send(ev.clone());
            self.actions.dispatch(&ev, actions.webhook, actions.exec);
            if !actions.eventlog {
                continue;
            }
            let line = ev.to_json().to_string();
            let log = self.eventlog.clone();
            // The file write is blocking I/O: off the runtime's workers.
            let _ = tokio::task::spawn_blocking(move || {
                log.lock().unwrap_or_else(|p| p.into_inner()).append(&line)
            })
            .await;
        }
    }

    fn event(&self, raw: Raw, log_offset: Option<u64>) -> Event {
        let inc = raw.incident;
        Event {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: raw.time,
            console: raw.console,
            rule: Arc::from(raw.rule.id.as_str()),
            severity: raw.rule.severity,
            line: inc.line,
            before: inc.before,
            after: inc.after,
            log_offset,
            repeats: inc.repeats,
            suppressed: inc.suppressed,
        }
    }
}

/// The daemon log line for an event, at the rule's severity.
fn say(ev: &Event) {
    let extra = match (ev.repeats, ev.suppressed) {
        (0, 0) => String::new(),
        (r, 0) => format!(" (+{r} lines)"),
        (0, s) => format!(" ({s} suppressed before)"),
        (r, s) => format!(" (+{r} lines, {s} suppressed before)"),
    };
    let text = format!(
        "Alert {} [{}] on console [{}]: {}{extra}",
        ev.id, ev.rule, ev.console, ev.line
    );
    match ev.severity {
        Severity::Critical => tracing::error!(priority = "crit", "{text}"),
        Severity::Error => tracing::error!("{text}"),
        Severity::Warning => tracing::warn!("{text}"),
        Severity::Notice => crate::notice!("{text}"),
        Severity::Info => tracing::info!("{text}"),
    }
}

#[cfg(test)]
mod tests;
