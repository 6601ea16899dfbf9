//! Load generator for `scripts/bench.sh`: fake console devices and fake `conman` clients.
//!
//! ```text
//! loadgen serve DIR N [--tcp] [--rate R] [--line-bytes B] [--flood] [--echo]
//! loadgen storm --port P --n N          N clients attach at once (CONNECT cNNNN)
//! loadgen echo  --port P [--count C]    round trips through an echoing console
//! loadgen freeport                      print a free loopback TCP port
//! ```
//!
//! `serve` listens on N unix sockets `DIR/c0000.sock`… (or, with `--tcp`, on N loopback
//! TCP ports written one per line to `DIR/ports`), and writes to every connection one
//! `B`-byte line every `1/R` s, each console with its own random phase (`--flood`: as
//! fast as the daemon reads). Whatever the daemon sends is read and discarded (telnet
//! negotiation included). `--echo` adds `DIR/echo.sock` (or the last line of
//! `DIR/ports`), which echoes back what it receives. It writes `DIR/loadgen.ready` once
//! listening and `DIR/loadgen.stats` (`key=value`) every 100 ms, and runs until
//! SIGTERM/SIGINT or `--duration`.
//!
//! Everything runs on one current-thread tokio runtime (`--threads` for more): the
//! daemon under test, not this program, must be the bottleneck.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(about = "conman-rs benchmark load generator")]
struct Cli {
    /// Runtime worker threads (1 = a current-thread runtime).
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve N fake consoles.
    Serve {
        /// Directory for sockets, `ports`, `loadgen.ready` and `loadgen.stats`.
        dir: PathBuf,
        /// Number of consoles.
        n: usize,
        /// Raw TCP on loopback instead of unix sockets.
        #[arg(long)]
        tcp: bool,
        /// Lines per second per console.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Bytes per line, CR LF included.
        #[arg(long, default_value_t = 100)]
        line_bytes: usize,
        /// Write as fast as the daemon reads.
        #[arg(long)]
        flood: bool,
        /// Add one echoing console.
        #[arg(long)]
        echo: bool,
        /// Stop after this many seconds (0: at SIGTERM/SIGINT).
        #[arg(long, default_value_t = 0.0)]
        duration: f64,
    },
    /// N clients attach at once to consoles PREFIX0000…, one each.
    Storm {
        /// The daemon's TCP port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// Number of clients.
        #[arg(long)]
        n: usize,
        /// Console name prefix (names are PREFIX%04d).
        #[arg(long, default_value = "c")]
        prefix: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// Round-trip latency through the daemon to an echoing console.
    Echo {
        /// The daemon's TCP port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// The echoing console's name.
        #[arg(long, default_value = "echo")]
        console: String,
        /// Round trips to measure.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Pause between round trips (ms).
        #[arg(long, default_value_t = 5)]
        interval_ms: u64,
        /// Round trips done first and not counted.
        #[arg(long, default_value_t = 20)]
        warmup: usize,
    },
    /// Print a free TCP port on 127.0.0.1.
    Freeport,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Serve {
                dir,
                n,
                tcp,
                rate,
                line_bytes,
                flood,
                echo,
                duration,
            } => {
                let load = Load {
                    period: Duration::from_secs_f64(1.0 / rate.max(1e-6)),
                    line_bytes: line_bytes.max(8),
                    flood,
                };
                serve(dir, n, tcp, echo, duration, load).await
            }
            Cmd::Storm {
                port,
                n,
                prefix,
                timeout,
            } => storm(port, n, &prefix, Duration::from_secs_f64(timeout)).await,
            Cmd::Echo {
                port,
                console,
                count,
                interval_ms,
                warmup,
            } => echo_client(port, &console, count, warmup, interval_ms).await,
            Cmd::Freeport => {
                let l = std::net::TcpListener::bind("127.0.0.1:0")?;
                println!("{}", l.local_addr()?.port());
                Ok(())
            }
        }
    })
}

// ---------------------------------------------------------------------------------
// serve

#[derive(Clone, Copy)]
struct Load {
    period: Duration,
    line_bytes: usize,
    flood: bool,
}

/// Counters shared by every console task.
struct Stats {
    /// Bytes written, per console.
    sent: Vec<AtomicU64>,
    /// Connections currently open.
    connected: AtomicU64,
    /// Connections accepted in total.
    accepted: AtomicU64,
    /// Unix ms of the first accept (0: none yet).
    first_accept_ms: AtomicU64,
    /// Unix ms when `connected` first reached N (0: not yet).
    all_connected_ms: AtomicU64,
    n: u64,
}

impl Stats {
    fn on_accept(&self) {
        let now = now_ms();
        let _ = self
            .first_accept_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let c = self.connected.fetch_add(1, Ordering::Relaxed) + 1;
        if c >= self.n {
            let _ = self.all_connected_ms.compare_exchange(
                0,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn render(&self) -> String {
        let (mut total, mut min, mut max) = (0u64, u64::MAX, 0u64);
        for s in &self.sent {
            let v = s.load(Ordering::Relaxed);
            total += v;
            min = min.min(v);
            max = max.max(v);
        }
        format!(
            "t_ms={} n={} connected={} accepted={} bytes={} per_console_min={} per_console_max={} first_accept_ms={} all_connected_ms={}\n",
            now_ms(),
            self.n,
            self.connected.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            total,
            if min == u64::MAX { 0 } else { min },
            max,
            self.first_accept_ms.load(Ordering::Relaxed),
            self.all_connected_ms.load(Ordering::Relaxed),
        )
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A tiny xorshift generator seeded from the OS, for the consoles' phases.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        Rng(u64::from_le_bytes(b) | 1)
    }
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

async fn serve(
    dir: PathBuf,
    n: usize,
    tcp: bool,
    echo: bool,
    duration: f64,
    load: Load,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let stats = Arc::new(Stats {
        sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
        connected: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        first_accept_ms: AtomicU64::new(0),
        all_connected_ms: AtomicU64::new(0),
        n: n as u64,
    });
    let mut rng = Rng::new();
    let mut ports = String::new();
    for i in 0..n {
        let phase = load.period.mul_f64(rng.unit());
        let st = stats.clone();
        if tcp {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            ports.push_str(&format!("{}\n", l.local_addr()?.port()));
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let _ = s.set_nodelay(true);
                    let (r, w) = s.into_split();
                    console(i, r, w, load, phase, &st).await;
                }
            });
        } else {
            let l = bind_unix(&dir.join(format!("c{i:04}.sock")))?;
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let (r, w) = s.into_split();
                    console(i, r, w, load, phase, &st).await;
                }
            });
        }
    }
    if echo {
        if tcp {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            ports.push_str(&format!("{}\n", l.local_addr()?.port()));
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let _ = s.set_nodelay(true);
                    tokio::spawn(echo_conn(s));
                }
            });
        } else {
            let l = bind_unix(&dir.join("echo.sock"))?;
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    tokio::spawn(echo_conn(s));
                }
            });
        }
    }
    if tcp {
        std::fs::write(dir.join("ports"), ports)?;
    }
    std::fs::write(dir.join("loadgen.ready"), format!("{n}\n"))?;

    let stats_path = dir.join("loadgen.stats");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tick.tick() => {
                write_stats(&stats_path, &stats.render())?;
                if duration > 0.0 && start.elapsed().as_secs_f64() >= duration {
                    break;
                }
            }
        }
    }
    write_stats(&stats_path, &stats.render())?;
    Ok(())
}

fn bind_unix(path: &Path) -> anyhow::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    Ok(UnixListener::bind(path)?)
}

/// Replace the stats file atomically (readers never see half a line).
fn write_stats(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(tmp, path)
}

/// The line console `i` writes: `cNNNN seq NNNNNNNN xxx…\r\n`, exactly `len` bytes.
fn line(i: usize, seq: u64, len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    let _ = write!(out, "c{i:04} seq {seq:08} ");
    out.resize(start + len - 2, b'x');
    out.truncate(start + len - 2);
    out.extend_from_slice(b"\r\n");
}

/// One connection of console `i`: write lines on its schedule, discard its input.
async fn console<R, W>(i: usize, mut r: R, mut w: W, load: Load, phase: Duration, st: &Stats)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    st.on_accept();
    let mut sink = [0u8; 512];
    if load.flood {
        // 64 KiB of whole lines, written over and over.
        let mut buf = Vec::new();
        let mut seq = 0;
        while buf.len() + load.line_bytes <= 64 * 1024 {
            line(i, seq, load.line_bytes, &mut buf);
            seq += 1;
        }
        let mut off = 0;
        loop {
            tokio::select! {
                res = r.read(&mut sink) => if !matches!(res, Ok(n) if n > 0) { break },
                res = w.write(&buf[off..]) => match res {
                    Ok(n) if n > 0 => {
                        st.sent[i].fetch_add(n as u64, Ordering::Relaxed);
                        off = (off + n) % buf.len();
                    }
                    _ => break,
                },
            }
        }
    } else {
        let mut iv = tokio::time::interval_at(tokio::time::Instant::now() + phase, load.period);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut seq = 0u64;
        let mut buf = Vec::with_capacity(load.line_bytes);
        loop {
            tokio::select! {
                res = r.read(&mut sink) => if !matches!(res, Ok(n) if n > 0) { break },
                _ = iv.tick() => {
                    buf.clear();
                    line(i, seq, load.line_bytes, &mut buf);
                    seq += 1;
                    if w.write_all(&buf).await.is_err() {
                        break;
                    }
                    st.sent[i].fetch_add(buf.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }
    st.connected.fetch_sub(1, Ordering::Relaxed);
}

async fn echo_conn<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

// ---------------------------------------------------------------------------------
// clients

/// Connect, greet, send `request`, and read the reply line. Returns the stream and
/// the bytes that followed the reply line.
async fn attach(port: u16, request: &str) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.set_nodelay(true)?;
    s.write_all(format!("HELLO USER='bench'\n{request}\n").as_bytes())
        .await?;
    // Greeting reply, then the request's reply: two lines.
    let mut got = Vec::new();
    let mut lines = 0;
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "daemon closed during the handshake");
        for (k, &b) in buf[..n].iter().enumerate() {
            got.push(b);
            if b == b'\n' {
                lines += 1;
                if lines == 2 {
                    let text = String::from_utf8_lossy(&got).into_owned();
                    anyhow::ensure!(
                        text.lines().all(|l| l.starts_with("OK")),
                        "refused: {}",
                        text.trim()
                    );
                    return Ok((s, buf[k + 1..n].to_vec()));
                }
            }
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

async fn storm(port: u16, n: usize, prefix: &str, timeout: Duration) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let req = format!("CONNECT CONSOLE='{prefix}{i:04}'");
        tasks.push(tokio::spawn(async move {
            let r = tokio::time::timeout(timeout, attach(port, &req)).await;
            match r {
                Ok(Ok((s, _))) => Ok((t0.elapsed().as_secs_f64() * 1e3, s)),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timeout".to_string()),
            }
        }));
    }
    let mut ms = Vec::with_capacity(n);
    let mut streams = Vec::with_capacity(n);
    let mut errors = 0;
    let mut kinds: std::collections::HashMap<String, usize> = Default::default();
    for t in tasks {
        match t.await {
            Ok(Ok((m, s))) => {
                ms.push(m);
                streams.push(s);
            }
            Ok(Err(e)) => {
                errors += 1;
                *kinds.entry(e).or_default() += 1;
            }
            Err(e) => {
                errors += 1;
                *kinds.entry(e.to_string()).or_default() += 1;
            }
        }
    }
    ms.sort_by(f64::total_cmp);
    // The most common failure, with its count.
    let top = kinds
        .iter()
        .max_by_key(|(_, k)| **k)
        .map(|(e, k)| format!("{e} ({k}x)"))
        .unwrap_or_default();
    println!(
        "storm n={n} attached={} failed={errors} all_ms={:.1} p50_ms={:.1} p99_ms={:.1} top_error={:?}",
        ms.len(),
        ms.last().copied().unwrap_or(f64::NAN),
        pct(&ms, 0.5),
        pct(&ms, 0.99),
        top
    );
    drop(streams);
    Ok(())
}

async fn echo_client(
    port: u16,
    console: &str,
    count: usize,
    warmup: usize,
    interval_ms: u64,
) -> anyhow::Result<()> {
    let (mut s, _) = attach(port, &format!("CONNECT CONSOLE='{console}'")).await?;
    // Let any notice the daemon sends on attach arrive and drain it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await {
        if n == 0 {
            anyhow::bail!("daemon closed the session");
        }
    }
    let mut rtt = Vec::with_capacity(count);
    for k in 0..warmup + count {
        // A printable byte, never 0xFF (the escape) and never a CR/LF.
        let b = b'A' + (k % 26) as u8;
        let t = Instant::now();
        s.write_all(&[b]).await?;
        'wait: loop {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await??;
            anyhow::ensure!(n > 0, "daemon closed the session");
            if buf[..n].contains(&b) {
                break 'wait;
            }
        }
        if k >= warmup {
            rtt.push(t.elapsed().as_secs_f64() * 1e6);
        }
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    rtt.sort_by(f64::total_cmp);
    println!(
        "echo count={} p50_us={:.0} p90_us={:.0} p99_us={:.0} max_us={:.0}",
        rtt.len(),
        pct(&rtt, 0.5),
        pct(&rtt, 0.9),
        pct(&rtt, 0.99),
        rtt.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
