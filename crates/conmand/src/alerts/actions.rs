//! The alert actions that leave the daemon: `server alertwebhook=` (an HTTP POST of
//! the event JSON) and `server alertexec=` (a program with the event JSON on its
//! stdin).
//!
//! Neither ever holds up the hub, let alone a console: the hub hands each event
//! over with `try_send` into a bounded queue per action ([`WEBHOOK_QUEUE`],
//! [`EXEC_QUEUE`]); a full queue drops the event for that action (counted, said
//! in the daemon log; the event itself stays in the history, the event log and the
//! API). The webhook task posts one event at a time, in order, retrying a failed
//! post with exponential backoff ([`WEBHOOK_RETRY`], at most [`WEBHOOK_ATTEMPTS`]
//! tries); the exec task runs at most [`EXEC_CONCURRENCY`] programs at once, each
//! killed after [`EXEC_TIMEOUT`]. The targets are read when an event is sent, so
//! a reload that changes them applies to the next event.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use conmand_core::alerts::url::HttpUrl;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Event;
use crate::snapshot::Snapshot;

/// Events waiting for the webhook before new ones are dropped.
pub const WEBHOOK_QUEUE: usize = 1024;
/// Tries per event (the first and its retries).
pub const WEBHOOK_ATTEMPTS: u32 = 6;
/// The first retry's delay; each next one doubles (1, 2, 4, 8, 16 s).
pub const WEBHOOK_RETRY: Duration = Duration::from_secs(1);
/// Connect, send and answer within this, or the try failed.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Events waiting for `alertexec` before new ones are dropped.
pub const EXEC_QUEUE: usize = 256;
/// `alertexec` programs running at once.
pub const EXEC_CONCURRENCY: usize = 4;
/// An `alertexec` program still running after this is killed.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Where events go (from the configuration; replaced at reload).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// `server alertwebhook=`.
    pub webhook: Option<HttpUrl>,
    /// `server alertexec=` (a shell command line).
    pub exec: Option<String>,
}

impl Targets {
    /// From the server options (`alertwebhook=` was checked by the parser).
    pub fn of(s: &conmand_core::config::ServerOpts) -> Targets {
        Targets {
            webhook: s
                .alertwebhook
                .as_deref()
                .and_then(|u| HttpUrl::parse(u).ok()),
            exec: s.alertexec.clone(),
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ActionStats {
    /// Events the webhook receiver accepted (2xx).
    pub webhook_sent: AtomicU64,
    /// Events given up on after every try failed.
    pub webhook_failed: AtomicU64,
    /// Events dropped because the webhook queue was full.
    pub webhook_dropped: AtomicU64,
    /// `alertexec` runs that exited 0.
    pub exec_ok: AtomicU64,
    /// Runs that failed (could not start, non-zero exit, killed on timeout).
    pub exec_failed: AtomicU64,
    /// Events dropped because the exec queue was full.
    pub exec_dropped: AtomicU64,
}

/// The hub's side of the actions.
pub(super) struct Actions {
    pub(super) targets: Snapshot<Targets>,
    pub(super) stats: Arc<ActionStats>,
    webhook: mpsc::Sender<Arc<Event>>,
    exec: mpsc::Sender<Arc<Event>>,
}

impl Actions {
    pub(super) fn start(
        targets: Targets,
        tracker: &TaskTracker,
        cancel: CancellationToken,
    ) -> Arc<Actions> {
        let (wtx, wrx) = mpsc::channel(WEBHOOK_QUEUE);
        let (etx, erx) = mpsc::channel(EXEC_QUEUE);
        let a = Arc::new(Actions {
            targets: Snapshot::new(targets),
            stats: Arc::default(),
            webhook: wtx,
            exec: etx,
        });
        tracker.spawn(a.clone().webhook_task(wrx, cancel.clone()));
        tracker.spawn(a.clone().exec_task(erx, tracker.clone(), cancel));
        a
    }

    /// Hand an event to the actions its rule asks for. Never waits.
    pub(super) fn dispatch(&self, ev: &Arc<Event>, webhook: bool, exec: bool) {
        let t = self.targets.get();
        if webhook && t.webhook.is_some() {
            offer(&self.webhook, ev, &self.stats.webhook_dropped, "webhook");
        }
        if exec && t.exec.is_some() {
            offer(&self.exec, ev, &self.stats.exec_dropped, "alertexec");
        }
    }

    async fn webhook_task(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Arc<Event>>,
        cancel: CancellationToken,
    ) {
        loop {
            let ev = tokio::select! {
                e = rx.recv() => e,
                _ = cancel.cancelled() => None,
            };
            let Some(ev) = ev else { return };
            let body = ev.to_json().to_string();
            let mut delay = WEBHOOK_RETRY;
            for attempt in 1..=WEBHOOK_ATTEMPTS {
                // Read each try: a reload may have moved or removed the receiver.
                let Some(url) = self.targets.get().webhook.clone() else {
                    break;
                };
                let why = match tokio::time::timeout(WEBHOOK_TIMEOUT, post(&url, &body)).await {
                    Ok(Ok(())) => {
                        self.stats.webhook_sent.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(Err(why)) => why,
                    Err(_) => format!("no answer within {}s", WEBHOOK_TIMEOUT.as_secs()),
                };
                if attempt == WEBHOOK_ATTEMPTS {
                    self.stats.webhook_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        "Alert webhook {url}: gave up on alert {} after {attempt} tries ({why})",
                        ev.id
                    );
                    break;
                }
                tracing::warn!(
                    "Alert webhook {url}: alert {} not delivered ({why}); trying again in {}s",
                    ev.id,
                    delay.as_secs()
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return,
                }
                delay *= 2;
            }
        }
    }

    async fn exec_task(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Arc<Event>>,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(EXEC_CONCURRENCY));
        loop {
            let ev = tokio::select! {
                e = rx.recv() => e,
                _ = cancel.cancelled() => None,
            };
            let Some(ev) = ev else { return };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let Some(cmd) = self.targets.get().exec.clone() else {
                continue;
            };
            let stats = self.stats.clone();
            tracker.spawn(async move {
                let ok = run(&cmd, &ev).await;
                let counter = if ok {
                    &stats.exec_ok
                } else {
                    &stats.exec_failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                drop(slot);
            });
        }
    }
}

fn offer(q: &mpsc::Sender<Arc<Event>>, ev: &Arc<Event>, dropped: &AtomicU64, what: &str) {
    if q.try_send(ev.clone()).is_err() {
        let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::error!(
                "Alert {what} queue full: alert {} not sent ({n} dropped so far)",
                ev.id
            );
        }
    }
}

/// One POST; `Err` says why it did not succeed.
async fn post(url: &HttpUrl, body: &str) -> Result<(), String> {
    use hyper::Request;
    use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
    let stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| conmand_core::oserror::strerror(&e))?;
    let _ = stream.set_nodelay(true);
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, axum::body::Body>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let req = Request::post(url.target.as_str())
        .header(HOST, url.host_header())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("conmand/", env!("CARGO_PKG_VERSION")))
        .body(axum::body::Body::from(body.to_string()))
        .map_err(|e| e.to_string())?;
    let res = send.send_request(req).await.map_err(|e| e.to_string());
    conn.abort();
    let status = res?.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

/// One `alertexec` run: `/bin/sh -c CMD`, the event JSON on stdin, a few facts in
/// the environment. True when it exited 0 in time.
async fn run(cmd: &str, ev: &Event) -> bool {
    let mut child = match tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("CONMAN_ALERT_ID", ev.id.to_string())
        .env("CONMAN_ALERT_CONSOLE", &*ev.console)
        .env("CONMAN_ALERT_RULE", &*ev.rule)
        .env("CONMAN_ALERT_SEVERITY", ev.severity.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                "alertexec \"{cmd}\" for alert {}: {}",
                ev.id,
                conmand_core::oserror::strerror(&e)
            );
            return false;
        }
    };
    let mut json = ev.to_json().to_string();
    json.push('\n');
    let stdin = child.stdin.take();
    let outcome = tokio::time::timeout(EXEC_TIMEOUT, async {
        if let Some(mut w) = stdin {
            // A program that does not read its stdin is not an error.
            let _ = w.write_all(json.as_bytes()).await;
        }
        child.wait().await
    })
    .await;
    match outcome {
        Ok(Ok(st)) if st.success() => true,
        Ok(Ok(st)) => {
            tracing::error!("alertexec \"{cmd}\" for alert {}: {st}", ev.id);
            false
        }
        Ok(Err(e)) => {
            tracing::error!("alertexec \"{cmd}\" for alert {}: {e}", ev.id);
            false
        }
        Err(_) => {
            if let Some(pid) = child.id() {
                // The whole process group: a shell's children too.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid.cast_signed()),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            tracing::error!(
                "alertexec \"{cmd}\" for alert {}: still running after {}s, killed",
                ev.id,
                EXEC_TIMEOUT.as_secs()
            );
            false
        }
    }
}
