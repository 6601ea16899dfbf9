//! The handlers behind the routes of [`super::router`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use conmand_core::matching::glob::glob_match;
use futures_util::stream::{self, Stream};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use conmand_core::access::{Acl, Right};

use super::metrics::{ConsoleFigures, Figures, render};
use super::{HttpState, HttpUser};
use crate::alerts::Event;
use crate::console::ConsoleHandle;
use crate::logfile::{MAX_TAIL, REPLAY_LEN};

/// A JSON error body: `{"error": "..."}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn rfc3339(ms: u64) -> String {
    jiff::Timestamp::try_from(UNIX_EPOCH + Duration::from_millis(ms))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// What the requesting user may see: with `server acl=` and a token user, the
/// consoles the ACL gives them `query` on (log tails need `monitor`); anonymous
/// loopback requests and daemons without an ACL see everything.
#[derive(Clone)]
struct Viewer {
    acl: Option<Arc<Acl>>,
    user: Option<String>,
}

impl Viewer {
    fn of(st: &HttpState, user: HttpUser) -> Viewer {
        Viewer {
            acl: st.front.access.acl(),
            user: user.0,
        }
    }

    fn may(&self, console: &str, right: Right) -> bool {
        match (&self.acl, &self.user) {
            (Some(acl), Some(user)) => acl.allows(user, console, right),
            _ => true,
        }
    }

    fn sees(&self, console: &str) -> bool {
        self.may(console, Right::Query)
    }
}

pub(super) async fn metrics(
    State(st): State<Arc<HttpState>>,
    Extension(user): Extension<HttpUser>,
) -> Response {
    let viewer = Viewer::of(&st, user);
    // Thousands of consoles make this a few milliseconds of CPU: off the runtime
    // threads that serve the consoles.
    let text = tokio::task::spawn_blocking(move || render(&figures(&st, &viewer)))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn figures(st: &HttpState, viewer: &Viewer) -> Figures {
    let consoles = st.registry.snapshot();
    let hub = &st.alerts;
    Figures {
        consoles: consoles
            .iter()
            .filter(|h| viewer.sees(h.name()))
            .map(|h| {
                let s = h.stats();
                ConsoleFigures {
                    name: h.name().to_string(),
                    up: s.state == crate::console::LinkState::Up,
                    bytes: s.bytes,
                    reconnects: s.reconnects,
                    clients: s.clients,
                    last_output: s.last_output_ms.map(|ms| ms as f64 / 1000.0),
                }
            })
            .collect(),
        alerts: hub
            .counts()
            .into_iter()
            .filter(|(c, _, _, _)| viewer.sees(c))
            .map(|(c, r, s, n)| (c.to_string(), r.to_string(), s.as_str(), n))
            .collect(),
        clients: st.front.client_count(),
        log_queue: st.logs.queue_depth(),
        log_bytes: st.logs.bytes_written(),
        dropped_client_bytes: crate::console::sink::DROPPED_BYTES.load(Relaxed),
        dropped_alerts: hub.dropped(),
        alert_rules: hub.rules().0.rules().iter().filter(|r| r.enabled).count(),
        webhook: {
            let a = hub.action_stats();
            [&a.webhook_sent, &a.webhook_failed, &a.webhook_dropped].map(|c| c.load(Relaxed))
        },
        exec: {
            let a = hub.action_stats();
            [&a.exec_ok, &a.exec_failed, &a.exec_dropped].map(|c| c.load(Relaxed))
        },
    }
}

/// Alerts per console so far.
fn alert_counts(st: &HttpState) -> HashMap<Arc<str>, u64> {
    let mut m: HashMap<Arc<str>, u64> = HashMap::new();
    for (c, _, _, n) in st.alerts.counts() {
        *m.entry(c).or_default() += n;
    }
    m
}

type Clients = Vec<(String, String, &'static str)>;

/// A JSON string literal of `v` onto `out`.
fn json_str(out: &mut String, v: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One console as the API shows it, written onto `out` (9,000 of them are 1.7 MB:
/// written directly, not through a JSON tree). Pure: the caller asked the actor
/// who is attached (`clients`) beforehand.
fn console_json(
    out: &mut String,
    h: &ConsoleHandle,
    alerts: u64,
    last: Option<&Arc<Event>>,
    clients: Clients,
) {
    use std::fmt::Write as _;
    let s = h.stats();
    out.push_str("{\"name\":");
    json_str(out, h.name());
    let _ = write!(
        out,
        ",\"kind\":\"{}\",\"state\":\"{}\",\"since\":\"{}\",\"last_output\":",
        h.def.spec.kind(),
        s.state.as_str(),
        rfc3339(s.since_ms)
    );
    match s.last_output_ms {
        Some(ms) => {
            let _ = write!(out, "\"{}\"", rfc3339(ms));
        }
        None => out.push_str("null"),
    }
    let _ = write!(
        out,
        ",\"bytes\":{},\"reconnects\":{},\"clients\":[",
        s.bytes, s.reconnects
    );
    for (i, (user, host, mode)) in clients.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"user\":");
        json_str(out, user);
        out.push_str(",\"host\":");
        json_str(out, host);
        let _ = write!(out, ",\"mode\":\"{mode}\"}}");
    }
    let _ = write!(out, "],\"alerts\":{alerts},\"last_alert\":");
    match last {
        Some(e) => {
            let _ = write!(out, "{{\"id\":{},\"rule\":", e.id);
            json_str(out, &e.rule);
            let _ = write!(out, ",\"severity\":\"{}\",\"line\":", e.severity.as_str());
            json_str(out, &e.line);
            out.push('}');
        }
        None => out.push_str("null"),
    }
    out.push('}');
}

/// The JSON of `list`: an array, or with `single` its one object. Built off the
/// runtime threads (9,000 consoles are tens of milliseconds of CPU). Only consoles
/// with clients are asked who they are.
async fn consoles_json(st: &Arc<HttpState>, list: Vec<ConsoleHandle>, single: bool) -> Vec<u8> {
    let mut clients: HashMap<usize, Clients> = HashMap::new();
    for (i, h) in list.iter().enumerate() {
        if h.stats().clients > 0 {
            clients.insert(i, h.members().await);
        }
    }
    let st = st.clone();
    tokio::task::spawn_blocking(move || {
        let counts = alert_counts(&st);
        let last = st.alerts.last_all();
        let mut out = String::with_capacity(64 + list.len() * 200);
        if !single {
            out.push('[');
        }
        for (i, h) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            console_json(
                &mut out,
                h,
                counts.get(h.name()).copied().unwrap_or(0),
                last.get(h.name()),
                clients.remove(&i).unwrap_or_default(),
            );
        }
        if !single {
            out.push(']');
        }
        out.into_bytes()
    })
    .await
    .unwrap_or_default()
}

fn json_body(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

pub(super) async fn consoles(
    State(st): State<Arc<HttpState>>,
    Extension(user): Extension<HttpUser>,
) -> Response {
    let viewer = Viewer::of(&st, user);
    let list: Vec<ConsoleHandle> = st
        .registry
        .snapshot()
        .iter()
        .filter(|h| viewer.sees(h.name()))
        .cloned()
        .collect();
    json_body(consoles_json(&st, list, false).await)
}

pub(super) async fn console(
    State(st): State<Arc<HttpState>>,
    Extension(user): Extension<HttpUser>,
    Path(name): Path<String>,
) -> Response {
    let viewer = Viewer::of(&st, user);
    let Some(h) = st.registry.get(&name).filter(|_| viewer.sees(&name)) else {
        return error(StatusCode::NOT_FOUND, "no such console");
    };
    json_body(consoles_json(&st, vec![h], true).await)
}

pub(super) async fn log_tail(
    State(st): State<Arc<HttpState>>,
    Extension(user): Extension<HttpUser>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let want = match q.get("tail").map(|t| t.parse::<u64>()) {
        None => REPLAY_LEN,
        Some(Ok(n)) if n <= MAX_TAIL => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("tail must be a number of bytes from 0 to {MAX_TAIL}"),
            );
        }
    };
    let viewer = Viewer::of(&st, user);
    let Some(h) = st.registry.get(&name).filter(|_| viewer.sees(&name)) else {
        return error(StatusCode::NOT_FOUND, "no such console");
    };
    if !viewer.may(&name, Right::Monitor) {
        let who = viewer.user.as_deref().unwrap_or_default();
        return error(
            StatusCode::FORBIDDEN,
            &format!("Permission denied: {who} may not monitor [{name}]"),
        );
    }
    let Ok(_turn) = st.tails.acquire().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let Some(log) = h.log().await else {
        return error(StatusCode::NOT_FOUND, "console is not logged");
    };
    match log.tail_len(want).await {
        Some(bytes) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "console log is not open"),
    }
}

/// `since` and `console` of an events query, checked.
/// A query mistake: the message of a 400 answer.
type BadQuery = &'static str;

fn filter(q: &HashMap<String, String>) -> Result<(u64, Option<String>), BadQuery> {
    let since = match q.get("since").map(|s| s.parse::<u64>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Err("since must be an event id (a number)"),
    };
    let console = q.get("console").cloned().filter(|g| !g.is_empty());
    if console.as_ref().is_some_and(|g| g.len() > 1024) {
        return Err("console pattern too long");
    }
    Ok((since, console))
}

fn wanted(e: &Event, glob: Option<&str>, viewer: &Viewer) -> bool {
    glob.is_none_or(|g| glob_match(g, &e.console)) && viewer.sees(&e.console)
}

pub(super) async fn events(
    State(st): State<Arc<HttpState>>,
    Extension(user): Extension<HttpUser>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let viewer = Viewer::of(&st, user);
    let (since, glob) = match filter(&q) {
        Ok(f) => f,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let list: Vec<Value> = st
        .alerts
        .events_since(since)
        .iter()
        .filter(|e| wanted(e, glob.as_deref(), &viewer))
        .map(|e| e.to_json())
        .collect();
    Json(Value::Array(list)).into_response()
}

pub(super) async fn stream(
    State(st): State<Arc<HttpState>>,
    Extension(user): Extension<HttpUser>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let viewer = Viewer::of(&st, user);
    let (mut since, glob) = match filter(&q) {
        Ok(f) => f,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    // A reconnecting EventSource says where it got to.
    if let Some(last) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        since = since.max(last);
    }
    // Subscribe first, then read the history: nothing falls in between.
    let live = st.alerts.subscribe();
    let backlog: Vec<Arc<Event>> = if since > 0 || q.contains_key("since") {
        st.alerts.events_since(since)
    } else {
        Vec::new()
    };
    let last_sent = backlog.last().map_or(since, |e| e.id);
    Sse::new(event_stream(backlog, live, last_sent, glob, viewer))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .event("alert")
        .data(e.to_json().to_string())
}

fn event_stream(
    backlog: Vec<Arc<Event>>,
    live: broadcast::Receiver<Arc<Event>>,
    last_sent: u64,
    glob: Option<String>,
    viewer: Viewer,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let first = stream::iter(
        backlog
            .into_iter()
            .filter(|e| wanted(e, glob.as_deref(), &viewer))
            .map(|e| Ok(sse(&e)))
            .collect::<Vec<_>>(),
    );
    let rest = stream::unfold(
        (live, last_sent, glob, viewer),
        |(mut live, mut last, glob, viewer)| async move {
            loop {
                match live.recv().await {
                    Ok(e) if e.id > last => {
                        last = e.id;
                        if wanted(&e, glob.as_deref(), &viewer) {
                            return Some((Ok(sse(&e)), (live, last, glob, viewer)));
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Too slow a reader: say how many it missed; the events
                        // are still in GET /api/v1/events.
                        let note = SseEvent::default()
                            .event("lagged")
                            .data(json!({ "missed": n }).to_string());
                        return Some((Ok(note), (live, last, glob, viewer)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    futures_util::StreamExt::chain(first, rest)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// What `json_str` writes, a JSON parser reads back as the same string.
        #[test]
        fn strings_read_back(v in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let mut out = String::new();
            super::json_str(&mut out, &v);
            prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), v);
        }
    }
}
