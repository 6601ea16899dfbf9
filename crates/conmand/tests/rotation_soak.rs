//! The headline of issue 12: 100 logrotate-style cycles (rename every log, then
//! SIGHUP) while 1,000 consoles stream numbered lines and a stock `conman` client,
//! SIGSTOPped, stays attached to one of them. Every console's lines are then read
//! back across its rotated files: each line exactly once, in order.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;

const BIN: &str = env!("CARGO_BIN_EXE_conmand");
const CONSOLES: usize = 1000;
const CYCLES: usize = 100;

fn name(i: usize) -> String {
    format!("c{i:04}")
}

/// The sequence numbers of `name`'s `SEQ` lines in `text`, in order.
fn seqs_of(text: &[u8], name: &str) -> Vec<u32> {
    let tag = format!("{name} SEQ");
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        if let Some(at) = find(line, tag.as_bytes()) {
            let digits: Vec<u8> = line[at + tag.len()..]
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            out.push(std::str::from_utf8(&digits).unwrap().parse().unwrap());
        }
    }
    out
}

/// Everything `name` logged: the rotated files in order, then the current one.
fn all_logged(logs: &Path, name: &str) -> Vec<u8> {
    let mut all = Vec::new();
    for cycle in 1..=CYCLES {
        all.extend(std::fs::read(logs.join(format!("{name}.log.{cycle}"))).unwrap_or_default());
    }
    all.extend(std::fs::read(logs.join(format!("{name}.log"))).unwrap());
    all
}

fn last_line_of(path: &Path) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().unwrap().len();
    f.seek(SeekFrom::Start(len.saturating_sub(200))).unwrap();
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).unwrap();
    tail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_rotations_under_a_thousand_streaming_consoles_lose_and_double_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let socks = dir.path().join("socks");
    std::fs::create_dir_all(&socks).unwrap();
    let mut conf = format!("server port=0\nserver logdir=\"{}\"\n", logs.display());
    let mut listeners = Vec::new();
    for i in 0..CONSOLES {
        let path = socks.join(format!("{}.sock", name(i)));
        listeners.push(UnixListener::bind(&path).unwrap());
        conf.push_str(&format!(
            "console name=\"{0}\" dev=\"unix:{1}\" log=\"{0}.log\"\n",
            name(i),
            path.display()
        ));
    }
    let conf_path = dir.path().join("conman.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("-F").arg("-c").arg(&conf_path);
    let mut d = Daemon::spawn(cmd).await;
    let pid = rustix::process::Pid::from_raw(d.pid() as i32).unwrap();

    // Every console connects to its socket.
    let mut devices = Vec::new();
    for l in &listeners {
        devices.push(within("a console to connect", l.accept()).await.unwrap().0);
    }

    // The stock client, attached read-only to c0000, then stopped.
    let mut stopped = tokio::process::Command::new("conman")
        .arg("-d")
        .arg(format!("127.0.0.1:{}", d.port))
        .arg("-m")
        .arg(name(0))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the stock conman client (apt install conman)");
    d.wait_for(&format!("connected to [{}] (read-only)", name(0)))
        .await;
    let client = rustix::process::Pid::from_raw(stopped.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(client, rustix::process::Signal::STOP).unwrap();

    // The feeder: one line to every console per round, a round every 20 ms, until
    // told to stop; returns how many lines each console was sent.
    let stop = Arc::new(AtomicBool::new(false));
    let stop_feeding = stop.clone();
    let feeder = tokio::spawn(async move {
        let mut sent = 0u32;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while !stop_feeding.load(Ordering::Relaxed) {
            tick.tick().await;
            sent += 1;
            for (i, dev) in devices.iter_mut().enumerate() {
                let line = format!("{} SEQ{sent:07} {}\n", name(i), "z".repeat(40));
                dev.write_all(line.as_bytes()).await.unwrap();
            }
        }
        (sent, devices)
    });

    // 100 rotations: rename every log, SIGHUP, wait until every log is there again.
    let all_there =
        |logs: &Path| (0..CONSOLES).all(|i| logs.join(format!("{}.log", name(i))).exists());
    eventually("every log to be opened", || all_there(&logs)).await;
    let started = Instant::now();
    for cycle in 1..=CYCLES {
        let logs2 = logs.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..CONSOLES {
                let n = name(i);
                std::fs::rename(
                    logs2.join(format!("{n}.log")),
                    logs2.join(format!("{n}.log.{cycle}")),
                )
                .unwrap_or_else(|e| panic!("cycle {cycle}: {n}.log: {e}"));
            }
        })
        .await
        .unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
        eventually("every log to be reopened", || all_there(&logs)).await;
    }
    let rotating = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (sent, _devices) = feeder.await.unwrap();
    assert!(sent > 100, "only {sent} rounds were fed");

    // Everything fed is in the logs (the daemon is still alive with the stopped
    // client attached); then shut down, which flushes.
    let want = format!("SEQ{sent:07}");
    let logs2 = logs.clone();
    eventually("the last round in every log", || {
        (0..CONSOLES).all(|i| {
            find(
                &last_line_of(&logs2.join(format!("{}.log", name(i)))),
                want.as_bytes(),
            )
            .is_some()
        })
    })
    .await;
    assert_eq!(
        d.text().matches("Performing reconfig").count(),
        CYCLES,
        "{}",
        d.text()
    );
    d.stop().await;

    let mut lines = 0usize;
    for i in 0..CONSOLES {
        let n = name(i);
        let got = seqs_of(&all_logged(&logs, &n), &n);
        if got != (1..=sent).collect::<Vec<_>>() {
            let dup = got.windows(2).find(|w| w[1] <= w[0]);
            let gap = got.windows(2).find(|w| w[1] > w[0] + 1);
            panic!(
                "{n}: {} lines logged of {sent}; first out of order {dup:?}, first gap {gap:?}",
                got.len()
            );
        }
        lines += got.len();
    }
    eprintln!(
        "{CONSOLES} consoles, {CYCLES} rotations in {rotating:?}, {lines} lines checked, \
         0 lost, 0 duplicated"
    );

    rustix::process::kill_process(client, rustix::process::Signal::CONT).unwrap();
    stopped.kill().await.unwrap();
}
