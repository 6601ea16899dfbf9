//! A console's connection life cycle: waiting to retry, opening, or up.
//!
//! [`Link`] is the state; [`Connector`] owns it together with the backend and the
//! reconnect delay, drives it ([`Connector::next`]) and publishes whether the
//! console is up. The actor only reacts to what it reports ([`LinkEvent`]): it
//! announces connections and losses, and forwards output.
//!
//! Reconnect policy (per transport, from [`Backend::backoff`]): the delay starts at
//! `min`, doubles after each failed attempt up to `max` (plus up to 10 % jitter, so a
//! thousand consoles behind one restarted server do not retry in the same
//! millisecond), and goes back to `min` once a connection has stayed up for
//! `reset_after` (the next attempt is then immediate). A backend's ready hint (a
//! unix socket appeared) cuts a wait short and resets the delay. DNS failures wait
//! [`RESOLVE_RETRY`].

use std::collections::VecDeque;
use std::future::{pending, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::backend::{Backend, BoxFuture, Connection, ConsoleWriter, OpenError};
use super::{LinkState, UpState};

/// Most client input bytes queued for a device that is not accepting them.
pub const MAX_PENDING_INPUT: usize = 64 * 1024;
/// DNS failures are retried after this long (ConMan's `RESOLVE_RETRY_TIMEOUT`).
pub(super) const RESOLVE_RETRY: Duration = Duration::from_secs(1800);

/// Where a console's connection stands.
pub(super) enum Link {
    /// Down; the next attempt starts when the timer fires, or earlier if the
    /// backend's hint resolves.
    Waiting {
        timer: Pin<Box<Sleep>>,
        hint: Option<BoxFuture<'static, ()>>,
    },
    /// An attempt to open the device is under way.
    Opening(BoxFuture<'static, Result<Connection, OpenError>>),
    /// Connected.
    Up(Live),
}

/// A live connection and the client input waiting for it.
pub(super) struct Live {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    writer: Box<dyn ConsoleWriter>,
    input: InputQueue,
    target: Option<String>,
    report_uptime: bool,
    up_since: Instant,
    /// Dropped with the connection (e.g. kills a child's process group).
    _guard: Option<Box<dyn Send + Sync>>,
}

/// What happened to the link.
pub(super) enum LinkEvent {
    /// Connected; `target` is what follows `connected to` (None: say nothing).
    Up { target: Option<String> },
    /// An attempt failed; the next one is scheduled.
    OpenFailed(OpenError),
    /// Device output.
    Output(Bytes),
    /// The connection was lost; the next attempt is scheduled or under way.
    Down(Lost),
}

/// A lost connection, for the announcement.
pub(super) struct Lost {
    /// What it was connected to (None: announce nothing).
    pub(super) target: Option<String>,
    /// How long it was up.
    pub(super) uptime: Duration,
    /// Process consoles report their up time.
    pub(super) report_uptime: bool,
    /// The read or write error, if it was not a clean EOF.
    pub(super) error: Option<io::Error>,
}

/// Why client input was not queued.
pub(super) enum InputRefused {
    /// The console is not connected (ConMan discards input then, silently).
    NotConnected,
    /// [`MAX_PENDING_INPUT`] bytes already wait for the device.
    Full,
}

/// The connection life cycle of one console.
pub(super) struct Connector {
    backend: Arc<dyn Backend>,
    /// The delay before the next attempt after a failure.
    delay: Duration,
    link: Link,
    up: Arc<UpState>,
}

impl Connector {
    /// A connector that starts opening at once (the first poll of
    /// [`Connector::next`] starts the attempt).
    pub(super) fn new(backend: Arc<dyn Backend>, up: Arc<UpState>) -> Self {
        let delay = backend.backoff().min;
        let link = Link::Opening(open(&backend));
        Connector {
            backend,
            delay,
            link,
            up,
        }
    }

    /// The backend's description of its target (`"/dev/ttyS0"`, `host:port`, …).
    pub(super) fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Whether the console is connected.
    pub(super) fn is_up(&self) -> bool {
        matches!(self.link, Link::Up(_))
    }

    /// If waiting for a retry, try now (a client attached to a down console, as
    /// ConMan does). The delay is not reset.
    pub(super) fn try_now(&mut self) {
        if let Link::Waiting { .. } = self.link {
            self.link = Link::Opening(open(&self.backend));
            self.up.set_state(LinkState::Connecting);
        }
    }

    /// Wait for the next thing that happens to the link. Cancel-safe: every state
    /// lives in `self`, so a dropped call loses nothing.
    pub(super) async fn next(&mut self) -> LinkEvent {
        loop {
            match &mut self.link {
                Link::Waiting { timer, hint } => {
                    let hinted = tokio::select! {
                        _ = timer.as_mut() => false,
                        _ = async { match hint.as_mut() {
                            Some(h) => h.await,
                            None => pending().await,
                        } } => true,
                    };
                    if hinted {
                        // ConMan (#28): a socket may appear at bind() before listen();
                        // if this early try fails, the next one comes after the
                        // shortest delay.
                        self.delay = self.backend.backoff().min;
                    }
                    self.link = Link::Opening(open(&self.backend));
                    self.up.set_state(LinkState::Connecting);
                }
                Link::Opening(attempt) => {
                    let res = attempt.as_mut().await;
                    return match res {
                        Ok(conn) => {
                            let target = conn.connected_target.clone();
                            self.link = Link::Up(Live::new(conn));
                            self.publish(true);
                            self.up.set_state(LinkState::Up);
                            LinkEvent::Up { target }
                        }
                        Err(e) => {
                            match e {
                                OpenError::Resolve(_) => self.wait(RESOLVE_RETRY, None),
                                _ => self.backoff(),
                            }
                            LinkEvent::OpenFailed(e)
                        }
                    };
                }
                Link::Up(live) => {
                    return match live.next().await {
                        Ok(bytes) => LinkEvent::Output(bytes),
                        Err(error) => {
                            let lost = live.lost(error);
                            self.after_loss(lost.uptime);
                            LinkEvent::Down(lost)
                        }
                    };
                }
            }
        }
    }

    /// Queue client input for the device.
    pub(super) fn queue_input(&mut self, data: Bytes) -> Result<(), InputRefused> {
        match &mut self.link {
            Link::Up(live) => live.input.push(data),
            _ => Err(InputRefused::NotConnected),
        }
    }

    /// Write all queued input, then send a break the transport's way (so `&B` then
    /// `c` keeps its order). Not connected: nothing to do. An error loses the
    /// connection; the loss is returned for the announcement.
    pub(super) async fn send_break(&mut self) -> Result<(), Lost> {
        let Link::Up(live) = &mut self.link else {
            return Ok(());
        };
        match live.flush_then_break().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let lost = live.lost(Some(e));
                self.after_loss(lost.uptime);
                Err(lost)
            }
        }
    }

    /// The connection is gone (it was up for `uptime`): drop it and schedule the
    /// next attempt, at once after a long enough up time, else after the delay.
    fn after_loss(&mut self, uptime: Duration) {
        let policy = self.backend.backoff();
        if uptime >= policy.reset_after {
            self.delay = policy.min;
            self.link = Link::Opening(open(&self.backend));
            self.up.set_state(LinkState::Connecting);
        } else {
            self.backoff();
        }
        self.publish(false);
    }

    /// Wait the current delay (plus jitter), then double it.
    fn backoff(&mut self) {
        let policy = self.backend.backoff();
        let d = self.delay;
        let hint = self.backend.ready_hint();
        self.wait(d + jitter(d / 10), hint);
        self.delay = (d * 2).min(policy.max);
    }

    fn wait(&mut self, after: Duration, hint: Option<BoxFuture<'static, ()>>) {
        let timer = Box::pin(tokio::time::sleep(after));
        self.link = Link::Waiting { timer, hint };
        self.up.set_state(LinkState::Down);
    }

    fn publish(&self, up: bool) {
        self.up.up.store(up, Ordering::Release);
        self.up.changed.notify_waiters();
    }
}

fn open(backend: &Arc<dyn Backend>) -> BoxFuture<'static, Result<Connection, OpenError>> {
    let backend = backend.clone();
    Box::pin(async move { backend.open().await })
}

impl Live {
    fn new(conn: Connection) -> Live {
        Live {
            reader: conn.reader,
            writer: conn.writer,
            input: InputQueue::default(),
            target: conn.connected_target,
            report_uptime: conn.report_uptime,
            up_since: Instant::now(),
            _guard: conn.guard,
        }
    }

    /// Write queued input as the device accepts it until output arrives (`Ok`) or
    /// the connection ends (`Err(None)`: EOF).
    async fn next(&mut self) -> Result<Bytes, Option<io::Error>> {
        loop {
            let Live {
                reader,
                writer,
                input,
                ..
            } = self;
            let front = input.front();
            tokio::select! {
                res = poll_fn(|cx| read_chunk(cx, reader)) => {
                    return match res {
                        Ok(Some(bytes)) => Ok(bytes),
                        Ok(None) => Err(None),
                        Err(e) => Err(Some(e)),
                    };
                }
                res = async { match front {
                    Some(data) => poll_fn(|cx| Pin::new(&mut **writer).poll_write(cx, &data)).await,
                    None => pending().await,
                } } => match res {
                    Ok(0) => return Err(Some(io::ErrorKind::WriteZero.into())),
                    Ok(n) => input.consume(n),
                    Err(e) => return Err(Some(e)),
                },
            }
        }
    }

    /// The connection ended with `error` (None: EOF): what to announce.
    fn lost(&mut self, error: Option<io::Error>) -> Lost {
        Lost {
            target: self.target.take(),
            uptime: self.up_since.elapsed(),
            report_uptime: self.report_uptime,
            error,
        }
    }

    async fn flush_then_break(&mut self) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        // Consume only what was written, so a timeout part-way loses nothing.
        while let Some(front) = self.input.front() {
            let n = self.writer.write(&front).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.input.consume(n);
        }
        self.writer.send_break().await
    }
}

/// Client input waiting for the device, bounded by [`MAX_PENDING_INPUT`].
#[derive(Default)]
struct InputQueue {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl InputQueue {
    fn push(&mut self, data: Bytes) -> Result<(), InputRefused> {
        if self.len + data.len() > MAX_PENDING_INPUT {
            return Err(InputRefused::Full);
        }
        self.len += data.len();
        self.chunks.push_back(data);
        Ok(())
    }

    fn front(&self) -> Option<Bytes> {
        self.chunks.front().cloned()
    }

    /// `n` bytes were written.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if n >= front.len() {
                n -= front.len();
                self.len -= front.len();
                self.chunks.pop_front();
            } else {
                let _ = front.split_to(n);
                self.len -= n;
                n = 0;
            }
        }
    }
}

fn jitter(max: Duration) -> Duration {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() || max.is_zero() {
        return Duration::ZERO;
    }
    let frac = u32::from_le_bytes(b) as f64 / u32::MAX as f64;
    max.mul_f64(frac)
}

thread_local! {
    /// One read buffer per runtime thread, shared by every console on it: an idle
    /// console holds no read buffer at all.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0u8; 64 * 1024].into_boxed_slice());
}

/// Read whatever the device has into the thread's scratch buffer and return it as
/// one right-sized chunk. `Ok(None)` is EOF.
fn read_chunk(
    cx: &mut Context<'_>,
    reader: &mut Box<dyn AsyncRead + Send + Unpin>,
) -> Poll<io::Result<Option<Bytes>>> {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let mut rb = ReadBuf::new(&mut s[..]);
        match Pin::new(&mut **reader).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let filled = rb.filled();
                if filled.is_empty() {
                    Poll::Ready(Ok(None))
                } else {
                    Poll::Ready(Ok(Some(Bytes::copy_from_slice(filled))))
                }
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
}
