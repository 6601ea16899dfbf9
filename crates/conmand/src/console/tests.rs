//! The console actor against a scripted fake backend: connections are
//! `tokio::io::duplex` pipes, time is paused where timing is the point.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conmand_core::config::{ConsoleDef, ConsoleSpec, LogOpts, TestOpts};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backend::{Backend, Backoff, BoxFuture, Connection, ConsoleWriter, OpenError};
use super::{AttachMode, ClientInfo, ClientSink, Command, ConsoleCtx, ConsoleHandle, Output};
use super::{SinkShared, spawn};
use crate::logfile::LogService;

/// What the fake device does on each open, in order; once the script is empty every
/// open fails.
enum Step {
    Fail,
    Connect(DuplexStream),
}

#[derive(Default)]
struct Script {
    steps: Mutex<VecDeque<Step>>,
    /// When each open happened.
    opens: Mutex<Vec<Instant>>,
    opened: Notify,
    /// Resolves the ready hint of the current wait (a permit is kept).
    hint: Notify,
}

struct Fake {
    script: Arc<Script>,
    policy: Backoff,
}

impl Backend for Fake {
    fn describe(&self) -> String {
        "\"fake\"".into()
    }

    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>> {
        Box::pin(async move {
            self.script.opens.lock().unwrap().push(Instant::now());
            self.script.opened.notify_waiters();
            let step = self.script.steps.lock().unwrap().pop_front();
            match step {
                Some(Step::Connect(io)) => {
                    let (r, w) = tokio::io::split(io);
                    Ok(Connection {
                        reader: Box::new(r),
                        writer: Box::new(Writer(w)),
                        connected_target: Some("\"fake\"".into()),
                        report_uptime: false,
                        guard: None,
                    })
                }
                _ => Err(OpenError::Retry("fake: refused".into())),
            }
        })
    }

    fn backoff(&self) -> Backoff {
        self.policy
    }

    fn ready_hint(&self) -> Option<BoxFuture<'static, ()>> {
        let script = self.script.clone();
        Some(Box::pin(async move { script.hint.notified().await }))
    }
}

/// Writes go to the pipe; a break is the marker `<BRK>`.
struct Writer(tokio::io::WriteHalf<DuplexStream>);

impl tokio::io::AsyncWrite for Writer {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl ConsoleWriter for Writer {
    fn send_break(&mut self) -> BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async move { self.0.write_all(b"<BRK>").await })
    }
}

const POLICY: Backoff = Backoff {
    min: Duration::from_secs(1),
    max: Duration::from_secs(8),
    reset_after: Duration::from_secs(10),
};

struct Rig {
    handle: ConsoleHandle,
    script: Arc<Script>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    _dir: tempfile::TempDir,
}

fn def(name: &str, log: Option<String>) -> ConsoleDef {
    ConsoleDef {
        name: name.into(),
        dev: "fake".into(),
        spec: ConsoleSpec::Test(TestOpts::default()),
        log,
        logopts: LogOpts::default(),
        line: 1,
    }
}

fn start(steps: Vec<Step>, logged: bool) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let log = logged.then(|| dir.path().join("c.log").display().to_string());
    let script = Arc::new(Script::default());
    script.steps.lock().unwrap().extend(steps);
    let tracker = TaskTracker::new();
    let ctx = Arc::new(ConsoleCtx {
        logs: LogService::start(1, false, Duration::from_secs(10)).unwrap(),
        log_path: Arc::new(|d: &ConsoleDef| {
            let p = std::path::PathBuf::from(d.log.clone()?);
            Some(Box::new(move || Ok(p.clone())) as crate::logfile::PathFn)
        }),
        reset_cmd: None,
        alerts: None,
        child_env: Arc::new(Vec::new()),
        tasks: tracker.clone(),
    });
    let cancel = CancellationToken::new();
    let backend = Box::new(Fake {
        script: script.clone(),
        policy: POLICY,
    });
    let handle = spawn(
        Arc::new(def("c", log)),
        backend,
        ctx,
        &tracker,
        cancel.clone(),
    );
    Rig {
        handle,
        script,
        cancel,
        tracker,
        _dir: dir,
    }
}

impl Rig {
    /// Wait until `n` opens have happened; returns their times.
    async fn opens(&self, n: usize) -> Vec<Instant> {
        loop {
            let wait = self.script.opened.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            {
                let opens = self.script.opens.lock().unwrap();
                if opens.len() >= n {
                    return opens.clone();
                }
            }
            wait.await;
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

struct Client {
    id: u64,
    rx: mpsc::Receiver<Output>,
    sink: ClientSink,
}

fn client() -> Client {
    let (tx, rx) = mpsc::channel(64);
    Client {
        id: super::next_client_id(),
        rx,
        sink: ClientSink::new(tx, Arc::new(SinkShared::default())),
    }
}

impl Client {
    async fn attach(&self, h: &ConsoleHandle, mode: AttachMode) {
        let info = Arc::new(ClientInfo::new(self.id, "u".into(), "h".into(), None));
        // Done before anything the test does next (device output would otherwise
        // race it).
        assert!(h.attach(info, self.sink.clone(), mode).await);
    }

    /// The next message, as text.
    async fn next(&mut self) -> String {
        let out = tokio::time::timeout(Duration::from_secs(20), self.rx.recv())
            .await
            .expect("no output")
            .expect("sink closed");
        match out {
            Output::Data(b) => format!("data:{}", String::from_utf8_lossy(&b)),
            Output::Notice { text, .. } => String::from_utf8_lossy(&text).trim().to_string(),
            Output::Kicked => "KICKED".into(),
        }
    }
}

/// The gaps between consecutive times.
fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// `d` is the delay `base` plus at most 10 % jitter.
fn is_delay(d: Duration, base: Duration) -> bool {
    d >= base && d <= base + base / 10
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_up_to_the_maximum() {
    let rig = start(Vec::new(), false);
    let opens = rig.opens(7).await;
    let secs = [1, 2, 4, 8, 8, 8];
    for (gap, s) in gaps(&opens).into_iter().zip(secs) {
        assert!(is_delay(gap, Duration::from_secs(s)), "{gap:?} for {s}s");
    }
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_long_connection_resets_the_backoff_and_reconnects_at_once() {
    let (dev_a, far_a) = tokio::io::duplex(1024);
    let (dev_b, far_b) = tokio::io::duplex(1024);
    let rig = start(
        vec![
            Step::Fail,
            Step::Fail,
            Step::Connect(dev_a),
            Step::Connect(dev_b),
        ],
        false,
    );
    // Two failures: waits of 1 s and 2 s, then connected (the delay is now 4 s).
    rig.opens(3).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(5), rig.handle.wait_up())
            .await
            .unwrap()
    );
    // Up for longer than reset_after, then lost: the next attempt is immediate.
    tokio::time::sleep(POLICY.reset_after).await;
    let lost_at = Instant::now();
    drop(far_a);
    let opens = rig.opens(4).await;
    assert_eq!(opens[3], lost_at, "reconnect must not wait");
    // Up only briefly, then lost: the reset delay (1 s) applies, then it doubles.
    assert!(rig.handle.wait_up().await);
    let lost_at = Instant::now();
    drop(far_b);
    let opens = rig.opens(6).await;
    assert!(
        is_delay(opens[4] - lost_at, Duration::from_secs(1)),
        "{:?}",
        opens[4] - lost_at
    );
    assert!(is_delay(opens[5] - opens[4], Duration::from_secs(2)));
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_ready_hint_cuts_a_wait_short_and_resets_the_delay() {
    let rig = start(Vec::new(), false);
    // Three failures (waits of 1 s and 2 s between them): the wait after the third
    // would be 4 s long.
    let opens = rig.opens(3).await;
    rig.script.hint.notify_one();
    let after = rig.opens(5).await;
    assert_eq!(after[3], opens[2], "the hinted attempt starts at once");
    assert!(
        is_delay(after[4] - after[3], Duration::from_secs(1)),
        "{:?}",
        after[4] - after[3]
    );
    rig.stop().await;
}

#[tokio::test]
async fn output_input_and_break_keep_their_order() {
    let (dev, mut far) = tokio::io::duplex(1024);
    let rig = start(vec![Step::Connect(dev)], false);
    assert!(rig.handle.wait_up().await);
    let mut c = client();
    // A writer alone hears nothing of its own arrival.
    c.attach(&rig.handle, AttachMode::Connect { force: false })
        .await;
    far.write_all(b"hello").await.unwrap();
    assert_eq!(c.next().await, "data:hello");
    for d in [&b"ab"[..], b"c"] {
        rig.handle
            .send(Command::Input {
                client_id: c.id,
                data: Arc::from(d),
            })
            .await;
    }
    rig.handle.send(Command::Break { client_id: c.id }).await;
    rig.handle
        .send(Command::Input {
            client_id: c.id,
            data: Arc::from(&b"x"[..]),
        })
        .await;
    let mut got = Vec::new();
    while got.len() < b"abc<BRK>x".len() {
        let mut buf = [0u8; 64];
        let n = far.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"abc<BRK>x");
    rig.stop().await;
}

#[tokio::test]
async fn steal_tells_the_victim_then_kicks_it_and_a_down_console_says_so() {
    let rig = start(Vec::new(), false);
    let (mut a, mut b) = (client(), client());
    a.attach(&rig.handle, AttachMode::Connect { force: false })
        .await;
    assert!(
        a.next()
            .await
            .contains("Console [c] is currently disconnected from \"fake\"")
    );
    b.attach(&rig.handle, AttachMode::Connect { force: true })
        .await;
    assert!(a.next().await.contains("stolen by <u@h>"));
    assert_eq!(a.next().await, "KICKED");
    assert!(b.next().await.contains("stolen from <u@h>"));
    assert!(b.next().await.contains("is currently disconnected"));
    assert!(rig.handle.writers().await.len() == 1);
    rig.stop().await;
}

#[tokio::test]
async fn replays_in_flight_are_merged() {
    let (dev, mut far) = tokio::io::duplex(1024);
    let rig = start(vec![Step::Connect(dev)], true);
    assert!(rig.handle.wait_up().await);
    let mut c = client();
    c.attach(&rig.handle, AttachMode::Monitor).await;
    far.write_all(b"line one\r\n").await.unwrap();
    assert_eq!(c.next().await, "data:line one\r\n");
    // Ten requests before the first tail can come back: one replay.
    for _ in 0..10 {
        rig.handle.send(Command::Replay { client_id: c.id }).await;
    }
    assert!(c.next().await.contains("Begin log replay of console [c]"));
    let tail = c.next().await;
    assert!(
        tail.starts_with("data:") && tail.ends_with("line one\r\n"),
        "{tail}"
    );
    assert!(c.next().await.contains("End log replay of console [c]"));
    // Had the requests not been merged, more replays of the old tail would come
    // before this output.
    far.write_all(b"two\r\n").await.unwrap();
    assert_eq!(c.next().await, "data:two\r\n");
    rig.handle.send(Command::Replay { client_id: c.id }).await;
    assert!(c.next().await.contains("Begin log replay"));
    let tail = c.next().await;
    assert!(tail.ends_with("line one\r\ntwo\r\n"), "{tail}");
    assert!(c.next().await.contains("End log replay"));
    rig.stop().await;
}

#[tokio::test]
async fn replay_of_an_unlogged_console_says_so() {
    let rig = start(Vec::new(), false);
    let mut c = client();
    c.attach(&rig.handle, AttachMode::Monitor).await;
    assert!(c.next().await.contains("is currently disconnected"));
    rig.handle.send(Command::Replay { client_id: c.id }).await;
    assert!(
        c.next()
            .await
            .contains("is not being logged -- cannot replay")
    );
    rig.stop().await;
}

#[tokio::test]
async fn input_from_a_monitor_never_reaches_the_device() {
    let (dev, mut far) = tokio::io::duplex(1024);
    let rig = start(vec![Step::Connect(dev)], false);
    assert!(rig.handle.wait_up().await);
    let (m, w) = (client(), client());
    m.attach(&rig.handle, AttachMode::Monitor).await;
    w.attach(&rig.handle, AttachMode::Connect { force: false })
        .await;
    for (id, d) in [(m.id, &b"no"[..]), (w.id, b"yes")] {
        rig.handle
            .send(Command::Input {
                client_id: id,
                data: Arc::from(d),
            })
            .await;
    }
    let mut buf = [0u8; 16];
    let n = far.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"yes");
    rig.stop().await;
}

/// Every console's command channel allocates a block of 32 commands up front: at
/// 9,000 consoles each extra 8 bytes of `Command` is 2.3 MB of resident memory.
#[test]
fn a_command_stays_32_bytes() {
    assert_eq!(std::mem::size_of::<super::Command>(), 32);
}
