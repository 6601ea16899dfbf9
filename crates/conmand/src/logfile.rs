//! Console log files: a small pool of writer threads shared by every console.
//!
//! A console actor never touches its log file itself. It sends its output (and the
//! info messages addressed to its readers) to the writer thread that owns its file,
//! over a **bounded** channel: when the disk is slower than the consoles, `send`
//! waits, the actor stops reading its device, and the kernel (or the device's flow
//! control) holds the data. Nothing is silently overwritten, unlike ConMan's 16 KiB
//! ring. Each writer thread batches: it drains what is queued, runs the log-line
//! processor (timestamps, sanitize) into one buffer per file, then issues one
//! `write(2)` per dirty file; when that emptied its queue it sleeps `LINGER`
//! (20 ms) so the next batch gathers many consoles' output.
//!
//! The per-console cost is one map entry in one thread (file, line state, options);
//! no buffer is kept per console between batches. `&L` replay reads the file's tail
//! through the same queue, so it sees everything written before it.
//!
//! Faults: a write that fails (disk full) keeps the unwritten bytes, up to
//! `MAX_PENDING` per file, and tries again with the file's next output and on every
//! retry tick, so a quiet console's kept output lands once there is room; the oldest
//! bytes beyond the bound are dropped and counted. A log whose file (or directory)
//! was removed under the daemon is noticed on the next tick (its link count is 0) and
//! created again, directory included.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conmand_core::config::LogOpts;
use conmand_core::oserror::strerror;
use tokio::sync::{mpsc, oneshot};

use crate::outfile::{AppendFile, OutfileError, open_append};
use crate::timefmt;

/// How many messages one writer thread may have queued before senders wait. A data
/// message holds at most one 64 KiB read, so this bounds a flood's queued bytes to
/// 16 MiB per writer thread (1024 allowed 64 MiB, and the daemon reached 320 MB RSS
/// with ten flooding consoles).
const QUEUE_DEPTH: usize = 256;
/// The most messages a writer handles before it flushes its buffers.
const BATCH: usize = 512;
/// How much a file may keep unwritten after write errors (disk full) before the
/// oldest bytes are dropped and counted.
const MAX_PENDING: usize = 1 << 20;
/// How often a log file that could not be opened is tried again by default (its
/// output is kept, up to 1 MiB, until then).
pub const REOPEN_RETRY: Duration = Duration::from_secs(10);
/// A file whose unwritten bytes reach this is written at once, mid-batch: a console
/// flooding 64 KiB chunks would otherwise gather a whole batch (up to 32 MiB) in
/// memory first.
const FLUSH_AT: usize = 256 * 1024;
/// A file's buffer keeps its allocation between batches only up to this size; a
/// burst's larger buffer is freed once written, so it is not held for the life of
/// the console.
const KEEP_CAPACITY: usize = 4 * 1024;
/// After a batch that emptied its queue, a writer sleeps this long before it looks
/// again, so output from many consoles gathers into one batch: one wake-up per
/// linger instead of one per chunk read. A parked writer costs its senders a futex
/// wake and itself two context switches per message; at a thousand consoles writing
/// a line a second that was half the daemon's CPU time. Data reaches its file at
/// most this much later (its timestamp is taken when the batch starts); `&L` replay
/// and shutdown still see everything queued before them.
const LINGER: std::time::Duration = std::time::Duration::from_millis(20);
/// ConMan's `LOG_REPLAY_LEN`.
pub const REPLAY_LEN: u64 = 4096;
/// The most a log tail request returns (`GET /api/v1/consoles/{name}/log`).
pub const MAX_TAIL: u64 = 1 << 20;

/// Computes a log file's path each time it is (re)opened: `%` specifiers are expanded
/// again on every SIGHUP, as ConMan does.
pub type PathFn = Box<dyn Fn() -> Result<PathBuf, String> + Send>;

enum LogMsg {
    Open {
        id: u64,
        console: Arc<str>,
        path: PathFn,
        opts: LogOpts,
    },
    Data {
        id: u64,
        bytes: Bytes,
    },
    Notice {
        id: u64,
        bytes: Bytes,
    },
    Reopen {
        id: u64,
    },
    Mark {
        id: u64,
    },
    Tail {
        id: u64,
        /// At most this many bytes.
        len: u64,
        reply: oneshot::Sender<Option<Bytes>>,
    },
    /// Where the file will end once what is queued before this is written, less
    /// `back` bytes (an alert's `log_offset`).
    Position {
        id: u64,
        back: u64,
        reply: oneshot::Sender<Option<u64>>,
    },
    Close {
        id: u64,
        /// Told once the file is flushed and closed (and its lock released).
        done: oneshot::Sender<()>,
    },
    /// Flush every file, then reply (shutdown).
    Sync {
        reply: oneshot::Sender<()>,
    },
    /// Periodic: retry logs that could not be opened or written; reopen removed ones.
    Tick,
}

/// The pool of log writer threads.
#[derive(Clone)]
pub struct LogService {
    workers: Arc<Vec<mpsc::Sender<LogMsg>>>,
    next_id: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl LogService {
    /// Start `threads` writer threads. `zero` truncates each file on its first open
    /// (`conmand -z`).
    pub fn start(threads: usize, zero: bool, retry: Duration) -> io::Result<LogService> {
        let mut workers = Vec::new();
        let written = Arc::new(AtomicU64::new(0));
        for i in 0..threads.max(1) {
            let written = written.clone();
            let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
            std::thread::Builder::new()
                .name(format!("conmand-log-{i}"))
                .spawn(move || {
                    Worker {
                        written,
                        files: HashMap::new(),
                        zero,
                        retry,
                    }
                    .run(rx)
                })?;
            workers.push(tx);
        }
        Ok(LogService {
            workers: Arc::new(workers),
            next_id: Arc::new(AtomicU64::new(1)),
            written,
        })
    }

    /// Bytes written to console logs since the start.
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Messages waiting in the writers' queues now.
    pub fn queue_depth(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.max_capacity() - w.capacity())
            .sum()
    }

    /// Wait until every writer has written everything queued before this call
    /// (shutdown: no log byte is left in memory when the daemon exits).
    pub async fn sync(&self) {
        let mut waits = Vec::new();
        for w in self.workers.iter() {
            let (reply, rx) = oneshot::channel();
            if w.send(LogMsg::Sync { reply }).await.is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.await;
        }
    }

    /// Open a log for `console`. The file is opened by the writer thread; failures are
    /// reported in the daemon log and the console is then "not being logged".
    pub async fn open(&self, console: Arc<str>, path: PathFn, opts: LogOpts) -> LogHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tx = self.workers[(id as usize) % self.workers.len()].clone();
        let handle = LogHandle { id, tx };
        handle
            .send(LogMsg::Open {
                id,
                console,
                path,
                opts,
            })
            .await;
        handle
    }
}

impl LogService {
    /// Ask every writer to retry the logs it could not open or write (disk full), and
    /// to create again any log removed under it (called periodically by the engine,
    /// every `log_retry`). Never waits: a busy writer will get the next tick.
    pub fn tick(&self) {
        for w in self.workers.iter() {
            let _ = w.try_send(LogMsg::Tick);
        }
    }
}

/// One console's log, as seen by its actor.
#[derive(Clone)]
pub struct LogHandle {
    id: u64,
    tx: mpsc::Sender<LogMsg>,
}

impl LogHandle {
    async fn send(&self, msg: LogMsg) {
        // The writer threads live as long as the service's senders; a send can only
        // fail during process teardown, when losing the message is moot.
        let _ = self.tx.send(msg).await;
    }

    /// Console output (processed per the console's logopts).
    ///
    /// Waits while the queue is full (logs are lossless). The common case, room in
    /// the queue, is a `try_send`; only a full queue takes the (boxed) waiting path.
    /// Console actors await this for every chunk they read, so its future is part
    /// of every console's task: inline, `Sender::send`'s would add ~200 bytes.
    pub async fn data(&self, bytes: Bytes) {
        match self.tx.try_send(LogMsg::Data { id: self.id, bytes }) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => Box::pin(self.send(msg)).await,
        }
    }

    /// An info message, written raw; resets the line state.
    pub async fn notice(&self, bytes: Bytes) {
        self.send(LogMsg::Notice { id: self.id, bytes }).await;
    }

    /// Re-expand the name and reopen (SIGHUP).
    pub async fn reopen(&self) {
        self.send(LogMsg::Reopen { id: self.id }).await;
    }

    /// Write a `log at <time>` mark (`server timestamp=`).
    pub async fn mark(&self) {
        self.send(LogMsg::Mark { id: self.id }).await;
    }

    /// The last [`REPLAY_LEN`] bytes of the log, or `None` if it is not open.
    pub async fn tail(&self) -> Option<Bytes> {
        self.tail_len(REPLAY_LEN).await
    }

    /// The last `len` bytes of the log (at most [`MAX_TAIL`]), or `None` if it is
    /// not open.
    pub async fn tail_len(&self, len: u64) -> Option<Bytes> {
        let (reply, rx) = oneshot::channel();
        let len = len.min(MAX_TAIL);
        self.send(LogMsg::Tail {
            id: self.id,
            len,
            reply,
        })
        .await;
        rx.await.ok().flatten()
    }

    /// Where a byte `back` bytes before the end of the output queued so far will be
    /// in the file (`None`: not open). Never waits: with the queue full the answer
    /// is `None` at once. Exact for logs without `timestamp` or `sanitize`, which
    /// add or change bytes.
    pub fn position(&self, back: u64) -> oneshot::Receiver<Option<u64>> {
        let (reply, rx) = oneshot::channel();
        // A failed send drops `reply`: the receiver reads an error, i.e. unknown.
        let _ = self.tx.try_send(LogMsg::Position {
            id: self.id,
            back,
            reply,
        });
        rx
    }

    /// Close the file (console removed).
    pub async fn close(self) {
        let (done, rx) = oneshot::channel();
        self.send(LogMsg::Close { id: self.id, done }).await;
        // Waiting makes "the console has stopped" imply "its log is closed": a
        // restarted console can then lock the same file again.
        let _ = rx.await;
    }
}

struct LogFile {
    console: Arc<str>,
    path_fn: PathFn,
    opts: LogOpts,
    path: PathBuf,
    file: Option<File>,
    line: conmand_core::logline::LineProcessor,
    pending: Vec<u8>,
    opened_once: bool,
    write_failed: bool,
    /// When a log that failed to open is tried again.
    retry_at: Option<Instant>,
    retry_every: Duration,
    /// The service's count of bytes written to every log.
    written: Arc<AtomicU64>,
}

struct Worker {
    written: Arc<AtomicU64>,
    files: HashMap<u64, LogFile>,
    zero: bool,
    retry: Duration,
}

impl Worker {
    fn run(mut self, mut rx: mpsc::Receiver<LogMsg>) {
        let mut dirty: Vec<u64> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let stamp: conmand_core::logline::Timestamp = timefmt::line_stamp_now();
            self.handle(first, &stamp, &mut dirty);
            let mut handled = 1;
            while handled < BATCH {
                match rx.try_recv() {
                    Ok(msg) => self.handle(msg, &stamp, &mut dirty),
                    Err(_) => break,
                }
                handled += 1;
            }
            for id in dirty.drain(..) {
                if let Some(f) = self.files.get_mut(&id) {
                    f.flush();
                }
            }
            if handled < BATCH {
                std::thread::sleep(LINGER);
            }
        }
        for f in self.files.values_mut() {
            f.flush();
        }
    }

    fn handle(&mut self, msg: LogMsg, stamp: &[u8; 20], dirty: &mut Vec<u64>) {
        match msg {
            LogMsg::Open {
                id,
                console,
                path,
                opts,
            } => {
                let mut f = LogFile {
                    console,
                    path_fn: path,
                    opts,
                    path: PathBuf::new(),
                    file: None,
                    line: conmand_core::logline::LineProcessor::new(opts.sanitize, opts.timestamp),
                    pending: Vec::new(),
                    opened_once: false,
                    write_failed: false,
                    retry_at: None,
                    retry_every: self.retry,
                    written: self.written.clone(),
                };
                f.open(self.zero);
                self.files.insert(id, f);
                dirty.push(id);
            }
            LogMsg::Data { id, bytes } => {
                if let Some(f) = self.files.get_mut(&id) {
                    if f.opts.sanitize || f.opts.timestamp {
                        f.line.process(&bytes, stamp, &mut f.pending);
                    } else {
                        f.pending.extend_from_slice(&bytes);
                    }
                    if f.pending.len() >= FLUSH_AT {
                        f.flush();
                    }
                    dirty.push(id);
                }
            }
            LogMsg::Notice { id, bytes } => {
                if let Some(f) = self.files.get_mut(&id) {
                    f.pending.extend_from_slice(&bytes);
                    f.line.reset();
                    dirty.push(id);
                }
            }
            LogMsg::Mark { id } => {
                if let Some(f) = self.files.get_mut(&id) {
                    let msg = format!(
                        "\r\n<ConMan> Console [{}] log at {}.\r\n",
                        f.console,
                        timefmt::long_now()
                    );
                    f.pending.extend_from_slice(msg.as_bytes());
                    f.line.reset();
                    dirty.push(id);
                }
            }
            LogMsg::Reopen { id } => {
                if let Some(f) = self.files.get_mut(&id) {
                    f.flush();
                    f.open(false);
                    dirty.push(id);
                }
            }
            LogMsg::Tail { id, len, reply } => {
                let tail = self.files.get_mut(&id).and_then(|f| {
                    f.flush();
                    f.tail(len)
                });
                let _ = reply.send(tail);
            }
            LogMsg::Position { id, back, reply } => {
                let pos = self.files.get(&id).and_then(|f| {
                    let len = f.file.as_ref()?.metadata().ok()?.len();
                    (len + f.pending.len() as u64).checked_sub(back)
                });
                let _ = reply.send(pos);
            }
            LogMsg::Tick => {
                for (id, f) in self.files.iter_mut() {
                    if f.file.is_none() {
                        if f.retry_at.is_some() {
                            dirty.push(*id);
                        }
                    } else if f.write_failed {
                        // Try the kept bytes again even if the console is quiet.
                        dirty.push(*id);
                    } else if f.removed() {
                        tracing::warn!(
                            "Logfile \"{}\" for [{}] was removed; creating it again",
                            f.path.display(),
                            f.console
                        );
                        f.open(false);
                        dirty.push(*id);
                    }
                }
            }
            LogMsg::Close { id, done } => {
                if let Some(mut f) = self.files.remove(&id) {
                    f.flush();
                }
                let _ = done.send(());
            }
            LogMsg::Sync { reply } => {
                for f in self.files.values_mut() {
                    f.flush();
                }
                let _ = reply.send(());
            }
        }
    }
}

impl LogFile {
    fn open(&mut self, zero: bool) {
        self.file = None;
        self.retry_at = Some(Instant::now() + self.retry_every);
        let path = match (self.path_fn)() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("Unable to open logfile for [{}]: {e}", self.console);
                return;
            }
        };
        self.path = path;
        let how = AppendFile {
            mode: 0o600,
            read: true,
            lock: self.opts.lock,
            truncate: zero && !self.opened_once,
        };
        match open_append(&self.path, how) {
            Ok(file) => {
                self.file = Some(file);
                self.retry_at = None;
                self.opened_once = true;
                self.write_failed = false;
                let header = format!(
                    "\r\n<ConMan> Console [{}] log opened at {}.\r\n",
                    self.console,
                    timefmt::long_now()
                );
                // Output kept while the file could not be opened follows the header.
                let kept = std::mem::take(&mut self.pending);
                self.pending.extend_from_slice(header.as_bytes());
                self.pending.extend_from_slice(&kept);
                self.line.reset();
            }
            Err(OutfileError::Locked) => {
                tracing::warn!("Unable to lock \"{}\"", self.path.display());
            }
            Err(e) => {
                tracing::warn!("Unable to open logfile \"{}\": {e}", self.path.display());
            }
        }
    }

    /// The open file has no name left (its directory or the file was removed under
    /// the daemon): what is written to it is lost to the operator.
    fn removed(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.nlink() == 0)
    }

    fn flush(&mut self) {
        if self.file.is_none() && self.retry_at.is_some_and(|t| Instant::now() >= t) {
            self.open(false);
        }
        let Some(file) = self.file.as_mut() else {
            self.trim_pending();
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        // Drop exactly what reached the file, so a retry after a partial write (disk
        // full) does not write the same bytes twice.
        let mut res = Ok(());
        while !self.pending.is_empty() {
            match file.write(&self.pending) {
                Ok(0) => {
                    res = Err(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => {
                    self.written.fetch_add(n as u64, Ordering::Relaxed);
                    drop(self.pending.drain(..n));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        match res {
            Ok(()) => {
                if self.write_failed {
                    tracing::info!(
                        "Logfile \"{}\" is written again: the kept output is in it",
                        self.path.display()
                    );
                }
                if self.pending.capacity() > KEEP_CAPACITY {
                    self.pending = Vec::new();
                } else {
                    self.pending.clear();
                }
                self.write_failed = false;
            }
            Err(e) => {
                if !self.write_failed {
                    tracing::warn!(
                        "Unable to write to logfile \"{}\": {}; keeping up to {} bytes until it works",
                        self.path.display(),
                        strerror(&e),
                        MAX_PENDING
                    );
                    self.write_failed = true;
                }
                self.trim_pending();
            }
        }
    }

    /// Bound what is kept for a file that cannot be written: the oldest bytes go,
    /// counted in the daemon log.
    fn trim_pending(&mut self) {
        if self.pending.len() > MAX_PENDING {
            let excess = self.pending.len() - MAX_PENDING;
            self.pending.drain(..excess);
            tracing::warn!(
                "Dropped {excess} bytes for the log of [{}]: it cannot be written",
                self.console
            );
        }
    }

    fn tail(&self, want: u64) -> Option<Bytes> {
        let file = self.file.as_ref()?;
        let len = file.metadata().ok()?.len();
        let start = len.saturating_sub(want);
        let mut buf = vec![0u8; (len - start) as usize];
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], start + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => return None,
            }
        }
        buf.truncate(got);
        Some(Bytes::from(buf))
    }
}
