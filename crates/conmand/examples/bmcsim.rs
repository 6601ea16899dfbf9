//! `bmcsim`: many simulated IPMI v2.0 BMCs with Serial-over-LAN in one process,
//! for scale benchmarks of SOL clients (our `conmand`, stock ConMan, ipmitool,
//! ipmiconsole).
//!
//! ```text
//! bmcsim --count N --base-port PORT [--period-ms 1000] [--line-len 100]
//!        [--user admin] [--password secret] [--stats-every-s 10]
//! ```
//!
//! BMC `i` (0-based) listens on UDP `127.0.0.1:PORT+i` and is a
//! [`conmand_core::ipmi::bmc::Bmc`] with one account. Its simulated host emits one
//! `--line-len`-byte line (ending `\r\n`) every `--period-ms`; the phases of the
//! BMCs are spread evenly over the period. Like ipmi_sim, host output produced
//! while no SOL session is active is discarded (counted as `dropped`). Bytes the
//! console side typed are counted.
//!
//! Once every socket is bound it prints `bmcsim ready count=N base=PORT` on
//! stdout. Every `--stats-every-s` seconds, and once more on SIGTERM/SIGINT
//! (then it exits), it prints one line:
//! `bmcsim stats active=A lines=L sent_bytes=S dropped_bytes=D typed_bytes=T
//! sessions=O bad_packets=B` (totals since start; `active` = BMCs with an
//! active SOL session now). A `typed` line per BMC that received console input
//! follows the final stats (`bmcsim typed port=P bytes=B`).
//!
//! Everything runs on one thread (tokio current-thread runtime), one task per
//! BMC, so the simulator's own CPU cost stays small next to the daemon it feeds.

#![allow(clippy::print_stdout)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use conmand_core::ipmi::bmc::{Bmc, BmcConfig, BmcFaults};
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep_until};

#[derive(Parser, Debug)]
#[command(about = "Many simulated IPMI SOL BMCs on consecutive UDP ports of 127.0.0.1")]
struct Args {
    /// Number of BMCs.
    #[arg(long)]
    count: u16,
    /// UDP port of the first BMC; BMC i listens on base-port + i.
    #[arg(long)]
    base_port: u16,
    /// Host output period per BMC, milliseconds.
    #[arg(long, default_value_t = 1000)]
    period_ms: u64,
    /// Length of each host output line in bytes, including "\r\n" (>= 24).
    #[arg(long, default_value_t = 100)]
    line_len: usize,
    /// User name of the one account.
    #[arg(long, default_value = "admin")]
    user: String,
    /// Password of the one account.
    #[arg(long, default_value = "secret")]
    password: String,
    /// Print a stats line this often (0 = only at exit).
    #[arg(long, default_value_t = 10)]
    stats_every_s: u64,
}

/// Totals over all BMCs.
#[derive(Default)]
struct Stats {
    active: AtomicU64,
    lines: AtomicU64,
    sent_bytes: AtomicU64,
    dropped_bytes: AtomicU64,
    typed_bytes: AtomicU64,
    bad_packets: AtomicU64,
}

/// Per-BMC counters read at exit.
#[derive(Default)]
struct PerBmc {
    typed: AtomicU64,
    sessions: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.line_len < 24 {
        bail!("--line-len must be at least 24");
    }
    if u32::from(args.base_port) + u32::from(args.count) > 65536 {
        bail!("base-port + count exceeds the port range");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::default());
    let mut per = Vec::with_capacity(usize::from(args.count));
    let mut socks = Vec::with_capacity(usize::from(args.count));
    for i in 0..args.count {
        let port = args.base_port + i;
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        socks.push(sock);
        per.push(Arc::new(PerBmc::default()));
    }
    let period = Duration::from_millis(args.period_ms.max(1));
    let start = Instant::now();
    for (i, sock) in socks.into_iter().enumerate() {
        let port = args.base_port + i as u16;
        let cfg = BmcConfig {
            username: args.user.clone().into_bytes(),
            password: args.password.clone().into_bytes(),
            k_g: None,
            guid: guid(port),
            port,
            // What a typical BMC accepts per SOL packet from the console.
            inbound_size: 255,
            sol_retry: Duration::from_millis(500),
            faults: BmcFaults::default(),
        };
        // Spread the phases evenly over the period.
        let phase = period * i as u32 / u32::from(args.count.max(1));
        tokio::spawn(serve(
            sock,
            Bmc::new(cfg),
            port,
            start + phase,
            period,
            args.line_len,
            stats.clone(),
            per[i].clone(),
        ));
    }
    println!("bmcsim ready count={} base={}", args.count, args.base_port);

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let every = Duration::from_secs(args.stats_every_s);
    loop {
        let tick = async {
            if every.is_zero() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(every).await;
        };
        tokio::select! {
            _ = tick => print_stats(&stats, &per),
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    print_stats(&stats, &per);
    for (i, p) in per.iter().enumerate() {
        let typed = p.typed.load(Ordering::Relaxed);
        if typed > 0 {
            println!(
                "bmcsim typed port={} bytes={typed}",
                args.base_port + i as u16
            );
        }
    }
    Ok(())
}

fn print_stats(s: &Stats, per: &[Arc<PerBmc>]) {
    let sessions: u64 = per.iter().map(|p| p.sessions.load(Ordering::Relaxed)).sum();
    println!(
        "bmcsim stats active={} lines={} sent_bytes={} dropped_bytes={} typed_bytes={} sessions={} bad_packets={}",
        s.active.load(Ordering::Relaxed),
        s.lines.load(Ordering::Relaxed),
        s.sent_bytes.load(Ordering::Relaxed),
        s.dropped_bytes.load(Ordering::Relaxed),
        s.typed_bytes.load(Ordering::Relaxed),
        sessions,
        s.bad_packets.load(Ordering::Relaxed),
    );
}

fn guid(port: u16) -> [u8; 16] {
    let mut g = [0x42; 16];
    g[..2].copy_from_slice(&port.to_be_bytes());
    g
}

/// One host output line: `bmc PORT line SEQ ` padded with letters, then CR LF.
fn host_line(port: u16, seq: u64, len: usize) -> Vec<u8> {
    let mut l = format!("bmc {port:05} line {seq:08} ").into_bytes();
    let pad = len.saturating_sub(l.len() + 2);
    l.extend((0..pad).map(|k| b'a' + (k % 26) as u8));
    l.extend_from_slice(b"\r\n");
    l
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    sock: UdpSocket,
    mut bmc: Bmc<SocketAddr>,
    port: u16,
    first_line: Instant,
    period: Duration,
    line_len: usize,
    stats: Arc<Stats>,
    per: Arc<PerBmc>,
) {
    let mut buf = vec![0u8; 2048];
    let mut next_line = first_line;
    let mut seq = 0u64;
    let mut was_active = false;
    let mut bad = 0u64;
    loop {
        let wake = bmc
            .poll_timeout()
            .map(Instant::from_std)
            .map_or(next_line, |t| t.min(next_line));
        let out = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, peer)) => bmc.handle(Instant::now().into_std(), peer, &buf[..n]),
                // ICMP port unreachable from a vanished client, etc.
                Err(_) => Vec::new(),
            },
            _ = sleep_until(wake) => {
                let now = Instant::now();
                if now >= next_line {
                    seq += 1;
                    let line = host_line(port, seq, line_len);
                    if bmc.sol_active() {
                        bmc.host_write(&line);
                        stats.lines.fetch_add(1, Ordering::Relaxed);
                        stats.sent_bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
                    } else {
                        stats.dropped_bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
                    }
                    // Skip missed periods rather than bursting after a stall.
                    while next_line <= now {
                        next_line += period;
                    }
                }
                bmc.tick(now.into_std())
            }
        };
        for (peer, d) in out {
            // A full socket buffer or a gone peer: SOL retransmits.
            let _ = sock.send_to(&d, peer).await;
        }
        let typed: usize = bmc.take_host_input().iter().flatten().count();
        if typed > 0 {
            stats.typed_bytes.fetch_add(typed as u64, Ordering::Relaxed);
            per.typed.fetch_add(typed as u64, Ordering::Relaxed);
        }
        if bmc.bad_packets != bad {
            stats
                .bad_packets
                .fetch_add(bmc.bad_packets - bad, Ordering::Relaxed);
            bad = bmc.bad_packets;
        }
        per.sessions
            .store(bmc.session_count() as u64, Ordering::Relaxed);
        let active = bmc.sol_active();
        if active != was_active {
            if active {
                stats.active.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.active.fetch_sub(1, Ordering::Relaxed);
            }
            was_active = active;
        }
    }
}
