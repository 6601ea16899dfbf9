//! `server http=ADDR:PORT`: the HTTP listener: Prometheus metrics and the JSON API
//! (consoles, log tails, alert events and their live stream). See `docs/http.md`.
//!
//! The listener is bounded like the console port: at most [`MAX_CONNECTIONS`]
//! connections at once (more wait in the kernel's backlog), log tails at most
//! [`MAX_TAILS`] at a time. Nothing here holds a console: state is read from the
//! consoles' published counters, and only consoles with clients are asked who
//! they are.
//!
//! Authentication: with `server httptokens=` every request needs `Authorization:
//! Bearer TOKEN`; without it the listener must be on a loopback address (the
//! configuration check refuses anything else) and requests are anonymous.

mod api;
pub mod metrics;
pub mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

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

/// Serve on `listener` until `cancel` fires.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, cancel: CancellationToken) {
    let limited = Limited {
        inner: listener,
        slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
    };
    let app = router(state);
    if let Err(e) = axum::serve(limited, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
    {
        tracing::error!("HTTP listener failed: {e}");
    }
}

/// A TCP listener that holds at most [`MAX_CONNECTIONS`] connections.
struct Limited {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

/// A connection and its slot.
pub struct LimitedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl axum::serve::Listener for Limited {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                // The semaphore is never closed.
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        LimitedStream {
                            stream,
                            _slot: slot,
                        },
                        addr,
                    );
                }
                Err(e) => {
                    // EMFILE and friends: say so, give the system a moment.
                    tracing::warn!(
                        "HTTP accept failed: {}",
                        conmand_core::oserror::strerror(&e)
                    );
                    drop(slot);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl tokio::io::AsyncRead for LimitedStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
