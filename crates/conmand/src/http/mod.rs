//! `server http=ADDR:PORT`: the HTTP listener: Prometheus metrics and the JSON API
//! (consoles, log tails, alert events and their live stream). See `docs/http.md`.
//!
//! The listener is bounded like the console port: at most [`MAX_CONNECTIONS`]
//! connections at once (more wait in the kernel's backlog), each closed if it
//! sends no request within [`HEADER_TIMEOUT`]; log tails at most [`MAX_TAILS`]
//! at a time. Nothing here holds a console: state is read from the
//! consoles' published counters, and only consoles with clients are asked who
//! they are.
//!
//! Authentication: with `server httptokens=` every request needs `Authorization:
//! Bearer TOKEN`; without it the listener must be on a loopback address (the
//! configuration check refuses anything else) and requests are anonymous.

mod api;
pub mod metrics;
pub mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::AlertHub;
use crate::frontend::Frontend;
use crate::logfile::LogService;
use crate::registry::Registry;
use crate::snapshot::Snapshot;
pub use tokens::Tokens;

/// Most HTTP connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Most log tails read at once (each is one read on a log writer thread).
pub const MAX_TAILS: usize = 4;

/// What the handlers read.
pub struct HttpState {
    pub(crate) registry: Arc<Registry>,
    pub(crate) alerts: Arc<AlertHub>,
    pub(crate) logs: LogService,
    pub(crate) front: Arc<Frontend>,
    /// `None`: no tokens file (loopback only, anonymous).
    pub(crate) tokens: Arc<Snapshot<Option<Tokens>>>,
    pub(crate) tails: Semaphore,
}

/// Who made a request (a request extension).
#[derive(Debug, Clone)]
pub struct HttpUser(pub Option<String>);

/// The routes.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/metrics", get(api::metrics))
        .route("/api/v1/consoles", get(api::consoles))
        .route("/api/v1/consoles/{name}", get(api::console))
        .route("/api/v1/consoles/{name}/log", get(api::log_tail))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/events/stream", get(api::stream))
        .fallback(|| async { api::error(StatusCode::NOT_FOUND, "no such resource") })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

async fn authenticate(State(st): State<Arc<HttpState>>, mut req: Request, next: Next) -> Response {
    let tokens = st.tokens.get();
    let user = match tokens.as_ref() {
        None => None,
        Some(t) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match given.and_then(|g| t.user(g)) {
                Some(u) => Some(u.to_string()),
                None => {
                    let mut r =
                        api::error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"conmand\""),
                    );
                    return r;
                }
            }
        }
    };
    req.extensions_mut().insert(HttpUser(user));
    next.run(req).await
}

/// A connection that has not sent a request's headers within this is closed.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serve on `listener` until `cancel` fires; connections are tasks on `tracker`.
///
/// At most [`MAX_CONNECTIONS`] at once (more wait in the kernel's backlog); one
/// that sends no request headers within [`HEADER_TIMEOUT`] is closed. At shutdown
/// every connection is dropped, event streams included (nothing here is worth
/// holding the daemon's exit for).
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let app = router(state);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
            _ = cancel.cancelled() => return,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: say so, give the system a moment.
                    tracing::warn!("HTTP accept failed: {}", conmand_core::oserror::strerror(&e));
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let cancel = cancel.clone();
        tracker.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = cancel.cancelled() => {}
            }
            drop(slot);
        });
    }
}
