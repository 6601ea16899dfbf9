//! Test harness: an in-process daemon on 127.0.0.1:0 plus raw protocol clients.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod daemon;
pub mod pty;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conmand::engine::{Engine, EngineOpts};
use conmand_core::config::{
    Config, ConsoleDef, ConsoleSpec, LogOpts, ProcessSpec, ServerOpts, TestOpts, UnixSpec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(20);

/// A daemon running in-process on an ephemeral loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub daemon: Option<Engine>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Start with these consoles (and server options).
    pub async fn start(consoles: Vec<ConsoleDef>, server: ServerOpts) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, consoles, server).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        consoles: Vec<ConsoleDef>,
        server: ServerOpts,
    ) -> TestServer {
        Self::start_with(dir, consoles, server, EngineOpts::default()).await
    }

    pub async fn start_with(
        dir: tempfile::TempDir,
        consoles: Vec<ConsoleDef>,
        server: ServerOpts,
        opts: EngineOpts,
    ) -> TestServer {
        let config = Config {
            origin: "test.conf".into(),
            server,
            consoles,
        };
        let daemon = Engine::start(config, opts).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        daemon.serve(listener);
        TestServer {
            addr,
            daemon: Some(daemon),
            dir,
        }
    }

    /// Wait until every named console is connected to its device.
    pub async fn wait_up(&self, names: &[&str]) {
        let reg = self.daemon.as_ref().unwrap().registry().clone();
        for n in names {
            let h = reg.get(n).unwrap_or_else(|| panic!("no console {n}"));
            let up = tokio::time::timeout(WAIT, h.wait_up())
                .await
                .expect("console never came up");
            assert!(up, "console {n} stopped");
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub async fn stop(mut self) {
        if let Some(d) = self.daemon.take() {
            d.shutdown().await;
        }
    }
}

pub fn def(name: &str, spec: ConsoleSpec, log: Option<PathBuf>, logopts: LogOpts) -> ConsoleDef {
    ConsoleDef {
        name: name.to_string(),
        dev: format!("{spec:?}"),
        spec,
        log: log.map(|p| p.to_string_lossy().into_owned()),
        logopts,
        line: 1,
    }
}

pub fn test_console(name: &str) -> ConsoleDef {
    let opts = TestOpts {
        burst_bytes: 10,
        max_ms: 50,
        min_ms: -1,
        probability: 100,
    };
    def(name, ConsoleSpec::Test(opts), None, LogOpts::default())
}

pub fn process_console(
    name: &str,
    argv: &[&str],
    log: Option<PathBuf>,
    logopts: LogOpts,
) -> ConsoleDef {
    let spec = ConsoleSpec::Process(ProcessSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
    });
    def(name, spec, log, logopts)
}

pub fn unix_console(name: &str, path: &Path) -> ConsoleDef {
    def(
        name,
        ConsoleSpec::Unix(UnixSpec {
            path: path.to_path_buf(),
        }),
        None,
        LogOpts::default(),
    )
}

/// A raw protocol client.
pub struct Raw {
    pub stream: TcpStream,
    pub seen: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.unwrap(),
            seen: Vec::new(),
        }
    }

    /// A client with a tiny receive buffer: when it stops reading, the daemon's
    /// sends fill up after a few KiB instead of megabytes of kernel buffering.
    pub async fn connect_small(addr: SocketAddr) -> Raw {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        Raw {
            stream: sock.connect(addr).await.unwrap(),
            seen: Vec::new(),
        }
    }

    /// Greeting + request; returns the request's response line.
    pub async fn open(
        addr: SocketAddr,
        user: &str,
        tty: Option<&str>,
        request: &str,
    ) -> (Raw, String) {
        let mut r = Raw::connect(addr).await;
        let greet = match tty {
            Some(t) => format!("HELLO USER='{user}' TTY='{t}'\n"),
            None => format!("HELLO USER='{user}'\n"),
        };
        r.send(greet.as_bytes()).await;
        assert_eq!(r.line().await, "OK");
        r.send(format!("{request}\n").as_bytes()).await;
        let rsp = r.line().await;
        (r, rsp)
    }

    pub async fn send(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.unwrap();
    }

    /// Read more bytes into `seen`; false on EOF.
    async fn fill(&mut self) -> bool {
        let mut buf = vec![0u8; 65536];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut buf))
            .await
            .expect("timed out waiting for the daemon")
            .unwrap_or(0);
        self.seen.extend_from_slice(&buf[..n]);
        n > 0
    }

    /// One `\n`-terminated line (without the `\n`).
    pub async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.seen.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.seen.drain(..=i).collect();
                return String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            }
            assert!(
                self.fill().await,
                "EOF before a line; have {:?}",
                String::from_utf8_lossy(&self.seen)
            );
        }
    }

    /// Wait until `needle` has been received; returns everything up to and including
    /// it, and keeps the rest.
    pub async fn expect(&mut self, needle: &[u8]) -> Vec<u8> {
        // Only search what is new since the last look (plus an overlap), so waiting
        // behind a large backlog stays linear.
        let mut from = 0;
        loop {
            if let Some(i) = find(&self.seen[from..], needle) {
                return self.seen.drain(..from + i + needle.len()).collect();
            }
            from = self.seen.len().saturating_sub(needle.len());
            assert!(
                self.fill().await,
                "EOF before {:?}; have {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.seen)
            );
        }
    }

    /// Read until the daemon closes; returns everything left.
    pub async fn until_eof(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.seen)
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Run `fut` under [`WAIT`], panicking with `what` on timeout.
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// The daemon log captured in memory. [`LogCapture::install`] applies to the calling
/// thread only: use it from a `current_thread` runtime so the daemon's tasks log there.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Route this thread's daemon log (ConMan's format, info and up) here.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        use tracing_subscriber::layer::SubscriberExt;
        let (layer, _handle) = conmand::daemonlog::layer(conmand::daemonlog::LogInit {
            stderr: Some(Box::new(self.clone())),
            ..conmand::daemonlog::LogInit::default()
        });
        tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Poll a condition (file contents, ...) until true or WAIT passes.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut f: F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The device end of a unix-socket console: take the daemon's connection on
/// `listener`, then wait until the console says it is up.
pub async fn unix_device(
    srv: &TestServer,
    listener: &tokio::net::UnixListener,
    name: &str,
) -> tokio::net::UnixStream {
    let (dev, _) = within("console connects", listener.accept()).await.unwrap();
    srv.wait_up(&[name]).await;
    dev
}
