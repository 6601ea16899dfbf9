//! Shared test harness for the `conman` client: a pty driver, the stock `conmand`
//! started per test, a fake daemon that records the client's bytes, and the peer lookup
//! with the skip rule (a missing peer skips the test unless `CI=true`).
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// Generous bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(15);

/// Our client binary.
pub fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_conman"))
}

/// A peer binary, or `None` (after printing a skip notice) if it is not installed.
/// With `CI=true` a missing peer fails the test instead.
pub fn peer(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("required peer {path} is missing (CI=true)");
    }
    eprintln!("SKIPPED: peer {path} is not installed");
    None
}

/// A TCP port that was free a moment ago (bind 127.0.0.1:0, read it, close).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Poll a timespec from a duration.
fn timespec(d: Duration) -> rustix::event::Timespec {
    rustix::event::Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// Find `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A child process whose exit status is delivered on a channel by a waiter thread.
pub struct Proc {
    /// The child's pid (for signals; only ever our own child).
    pub pid: i32,
    /// Exit status (code, or 128+signal) from the waiter thread.
    exit: mpsc::Receiver<i32>,
    /// Captured stderr, filled by a reader thread.
    stderr: mpsc::Receiver<Vec<u8>>,
}

impl Proc {
    /// Spawn `cmd`; stderr is captured. `cmd` must not have stderr configured.
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stderr(Stdio::piped());
        let mut child: Child = cmd.spawn().expect("spawn");
        let pid = i32::try_from(child.id()).expect("pid");
        let mut err = child.stderr.take().expect("stderr pipe");
        // Both channels carry exactly one message, so capacity 1 never blocks.
        let (etx, erx) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            let _ = etx.send(v);
        });
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            use std::os::unix::process::ExitStatusExt;
            let st = child.wait().expect("wait");
            let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
            let _ = tx.send(code);
        });
        Proc {
            pid,
            exit: rx,
            stderr: erx,
        }
    }

    /// Wait for the exit status (bounded).
    pub fn wait(&self, within: Duration) -> i32 {
        self.exit
            .recv_timeout(within)
            .expect("process did not exit in time")
    }

    /// Non-blocking exit check.
    pub fn exited(&self) -> Option<i32> {
        self.exit.try_recv().ok()
    }

    /// The captured stderr (after exit).
    pub fn stderr(&self) -> Vec<u8> {
        self.stderr.recv_timeout(WAIT).expect("stderr")
    }

    /// Send a signal to this child.
    pub fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid).expect("pid");
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// A pseudo-terminal: the test holds the master and a slave handle.
pub struct Pty {
    /// Master side: what the "user" types and sees.
    master: OwnedFd,
    /// Slave side (kept open to inspect settings after the child exits).
    pub slave: std::fs::File,
    /// `/dev/pts/N`.
    pub path: String,
    /// Everything read from the master so far.
    pub seen: Vec<u8>,
}

impl Pty {
    /// Open a new pty pair with default (cooked) settings.
    pub fn open() -> Pty {
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let path = ptsname(&master, Vec::new())
            .expect("ptsname")
            .into_string()
            .expect("utf8");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .expect("open slave");
        Pty {
            master,
            slave,
            path,
            seen: Vec::new(),
        }
    }

    /// `pts/N`, as the client reports its tty.
    pub fn short_name(&self) -> String {
        self.path.trim_start_matches("/dev/").to_string()
    }

    /// A command with stdin and stdout on the slave, in its own process group.
    pub fn command(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        c.stdin(self.slave.try_clone().expect("dup"))
            .stdout(self.slave.try_clone().expect("dup"))
            .process_group(0);
        c
    }

    /// Type bytes.
    pub fn type_bytes(&self, data: &[u8]) {
        let mut f = std::fs::File::from(self.master.try_clone().expect("dup"));
        f.write_all(data).expect("write master");
    }

    /// Read whatever is available within `wait`; returns false on EOF/EIO.
    fn pump(&mut self, wait: Duration) -> bool {
        let mut fds = [PollFd::new(&self.master, PollFlags::IN)];
        match poll(&mut fds, Some(&timespec(wait))) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
        let mut buf = [0u8; 4096];
        match rustix::io::read(&self.master, &mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.seen.extend_from_slice(&buf[..n]);
                true
            }
        }
    }

    /// Wait until `needle` appears in the output after byte offset `from`; returns the
    /// offset just past it. Panics with the output so far on timeout.
    pub fn expect_from(&mut self, from: usize, needle: &[u8]) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.seen.len() > from
                && let Some(p) = find(&self.seen[from..], needle)
            {
                return from + p + needle.len();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {:?}; output so far: {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.seen)
            );
            self.pump(left.min(Duration::from_millis(200)));
        }
    }

    /// Wait for `needle` anywhere in the output.
    pub fn expect(&mut self, needle: &[u8]) -> usize {
        self.expect_from(0, needle)
    }

    /// Keep reading until `proc` exits; returns its status.
    pub fn wait_exit(&mut self, proc: &Proc) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(code) = proc.exited() {
                // Collect what is still buffered.
                while self.pump(Duration::from_millis(50)) {
                    let before = self.seen.len();
                    self.pump(Duration::from_millis(50));
                    if self.seen.len() == before {
                        break;
                    }
                }
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "client did not exit; output: {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            self.pump(Duration::from_millis(100));
        }
    }

    /// The slave's settings as `stty -a` prints them.
    pub fn stty(&self) -> String {
        let out = Command::new("stty")
            .arg("-a")
            .stdin(self.slave.try_clone().expect("dup"))
            .output()
            .expect("stty");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The slave's termios.
    pub fn termios(&self) -> rustix::termios::Termios {
        rustix::termios::tcgetattr(self.slave.as_fd()).expect("tcgetattr")
    }
}

/// The stock `conmand`, started in the foreground on a free port with a test config.
pub struct Daemon {
    /// The daemon process.
    proc: Proc,
    /// Its port.
    pub port: u16,
    /// Holds the config (and any sockets) alive.
    pub dir: tempfile::TempDir,
}

impl Daemon {
    /// Start `conmand -F -c CONF -p PORT` with `consoles` (lines of config) and wait until
    /// it accepts connections. `None` if the peer is missing.
    pub fn start(dir: tempfile::TempDir, consoles: &str) -> Option<Daemon> {
        let bin = peer("/usr/sbin/conmand")?;
        Some(Daemon::start_bin(&bin, dir, consoles))
    }

    /// The same with our `conmand` (built next to our `conman` by
    /// `cargo test --workspace`). Skipped when it is not built, unless `CI=true`.
    pub fn start_ours(dir: tempfile::TempDir, consoles: &str) -> Option<Daemon> {
        let bin = ours().with_file_name("conmand");
        if !bin.exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("our conmand is not built next to {}", ours().display());
            }
            eprintln!("SKIPPED: our conmand is not built (cargo build -p conmand)");
            return None;
        }
        Some(Daemon::start_bin(&bin, dir, consoles))
    }

    /// Start `bin -F -c CONF -p PORT`.
    pub fn start_bin(bin: &Path, dir: tempfile::TempDir, consoles: &str) -> Daemon {
        let conf = dir.path().join("conman.conf");
        std::fs::write(
            &conf,
            format!("server loopback=on\nserver keepalive=on\n{consoles}"),
        )
        .expect("write conf");
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg("-F")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Its own process group, so the process consoles it forks (which it leaves
            // running when it exits) can be ended with it.
            .process_group(0);
        let proc = Proc::spawn(cmd);
        let deadline = Instant::now() + WAIT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(code) = proc.exited() {
                panic!(
                    "conmand exited with {code}: {}",
                    String::from_utf8_lossy(&proc.stderr())
                );
            }
            assert!(Instant::now() < deadline, "conmand did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Daemon { proc, port, dir }
    }

    /// `127.0.0.1:PORT`.
    pub fn dest(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // The group id is the daemon's pid: only processes this test started.
        if let Some(pgid) = rustix::process::Pid::from_raw(self.proc.pid) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::TERM);
            let _ = self.proc.exit.recv_timeout(WAIT);
            // conmand may have respawned a console between the signal and its exit;
            // those children are still in the group.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

/// A unix-socket console the test owns: conmand connects to it; every byte the console
/// receives is echoed back and also reported on `received`.
pub struct UnixConsole {
    /// Socket path (inside the test's temp dir).
    pub path: PathBuf,
    /// Bytes the console received (bounded: 1024 chunks; the echo thread blocks when
    /// the test does not read, which only slows that thread).
    pub received: mpsc::Receiver<Vec<u8>>,
}

impl UnixConsole {
    /// Listen on `dir/name.sock`; must exist before conmand starts.
    pub fn listen(dir: &Path, name: &str) -> UnixConsole {
        let path = dir.join(format!("{name}.sock"));
        let listener = UnixListener::bind(&path).expect("bind unix");
        let (tx, rx) = mpsc::sync_channel(1024);
        std::thread::spawn(move || {
            while let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let _ = s.write_all(&buf[..n]);
                    let _ = tx.send(buf[..n].to_vec());
                }
            }
        });
        UnixConsole { path, received: rx }
    }

    /// Wait until the console has received `needle` (accumulated).
    pub fn expect(&self, needle: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        let mut all = Vec::new();
        loop {
            if find(&all, needle).is_some() {
                return all;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.received.recv_timeout(left) {
                Ok(chunk) => all.extend(chunk),
                Err(_) => panic!(
                    "console never received {:?}; got {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&all)
                ),
            }
        }
    }
}

/// What a fake daemon saw from one client.
pub struct Recording {
    /// Greeting line.
    pub greeting: Vec<u8>,
    /// Request line.
    pub request: Vec<u8>,
    /// Session bytes after the request, until the client closed.
    pub session: Vec<u8>,
}

/// A raw TCP listener acting as the daemon: answers `OK\n` to the greeting and `ok_line`
/// to the request, optionally sends `first` right after, then records until EOF.
pub struct FakeDaemon {
    /// Port.
    pub port: u16,
    /// The recording, delivered once the client closes.
    pub done: mpsc::Receiver<Recording>,
}

fn read_line(s: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = s.read(&mut b) {
        line.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    line
}

impl FakeDaemon {
    /// Start listening; see the type docs. If `close_after` is true, the fake closes the
    /// connection right after sending `first` (a daemon that goes away).
    pub fn start(ok_line: &'static str, first: &'static [u8], close_after: bool) -> FakeDaemon {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::serve(l, ok_line, first, close_after)
    }

    /// Like [`FakeDaemon::start`] on an already bound listener.
    pub fn serve(
        l: TcpListener,
        ok_line: &'static str,
        first: &'static [u8],
        close_after: bool,
    ) -> FakeDaemon {
        let port = l.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return };
            let greeting = read_line(&mut s);
            let _ = s.write_all(b"OK\n");
            let request = read_line(&mut s);
            let _ = s.write_all(ok_line.as_bytes());
            let _ = s.write_all(first);
            let mut session = Vec::new();
            if !close_after {
                let _ = s.read_to_end(&mut session);
            }
            let _ = tx.send(Recording {
                greeting,
                request,
                session,
            });
        });
        FakeDaemon { port, done: rx }
    }

    /// `127.0.0.1:PORT`.
    pub fn dest(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The recording (bounded wait).
    pub fn recording(&self) -> Recording {
        self.done.recv_timeout(WAIT).expect("fake daemon recording")
    }
}

/// Replace the time in `Log started at <t>.` / `Log finished at <t>.` lines with `T`.
pub fn normalize_log_times(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split("Log ").enumerate() {
        if i > 0 {
            out.push_str("Log ");
            if let Some(at) = part.find(" at ")
                && let Some(end) = part.find(".\r\n")
            {
                out.push_str(&part[..at + 4]);
                out.push('T');
                out.push_str(&part[end..]);
                continue;
            }
        }
        out.push_str(part);
    }
    out
}
