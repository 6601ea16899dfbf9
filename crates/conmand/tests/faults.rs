//! Fault injection (issue 12): the log filesystem fills up, the log directory is
//! removed under the daemon, a log reader cannot keep up. In each, the console keeps
//! running, its clients keep being served, and no logged byte is lost or doubled
//! once the fault is gone.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::daemon::Daemon;
use common::*;
use conmand::engine::EngineOpts;
use conmand_core::config::{LogOpts, ServerOpts};

const BIN: &str = env!("CARGO_BIN_EXE_conmand");

/// The sequence numbers of the `SEQ<6 digits>` tokens in `text`, in order.
fn seqs(text: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = find(&text[i..], b"SEQ") {
        let start = i + at + 3;
        let digits: Vec<u8> = text[start..]
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        if digits.len() == 6 {
            out.push(std::str::from_utf8(&digits).unwrap().parse().unwrap());
        }
        i = start;
    }
    out
}

/// Lines `SEQ<first>` ..= `SEQ<last>`, each padded to about 100 bytes.
fn numbered(first: u32, last: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for n in first..=last {
        out.extend_from_slice(format!("SEQ{n:06} {}\n", "x".repeat(88)).as_bytes());
    }
    out
}

fn assert_exactly(got: &[u32], last: u32) {
    let want: Vec<u32> = (1..=last).collect();
    if got != want.as_slice() {
        let missing: Vec<u32> = want.iter().copied().filter(|n| !got.contains(n)).collect();
        panic!(
            "logged {} lines, want 1..={last}; missing {:?}; first lines {:?}",
            got.len(),
            &missing[..missing.len().min(20)],
            &got[..got.len().min(20)]
        );
    }
}

fn write_conf(dir: &Path, text: &str) -> PathBuf {
    let conf = dir.join("conman.conf");
    std::fs::write(&conf, format!("server port=0\n{text}")).unwrap();
    conf
}

/// A full log filesystem (a 512 KiB tmpfs in a private mount namespace): while it
/// is full the console and its client go on and the output is kept; once there is
/// room the kept output lands, on the next retry tick even if the console is quiet,
/// and the file holds every line once, in order.
#[tokio::test]
async fn a_full_log_filesystem_loses_nothing_once_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("logs");
    std::fs::create_dir(&mnt).unwrap();
    let conf = write_conf(
        dir.path(),
        &format!(
            "server logdir=\"{}\"\nconsole name=\"c\" dev=\"/bin/cat\" log=\"c.log\"\n",
            mnt.display()
        ),
    );
    let mut cmd = tokio::process::Command::new("unshare");
    cmd.args(["-rm", "sh", "-c"])
        .arg("mount -t tmpfs -o size=512k none \"$1\" || exit 99; exec \"$2\" -F -c \"$3\"")
        .arg("sh")
        .arg(&mnt)
        .arg(BIN)
        .arg(&conf);
    let mut d = Daemon::spawn(cmd).await;
    // The daemon's view of the tmpfs.
    let root =
        PathBuf::from(format!("/proc/{}/root", d.pid())).join(mnt.strip_prefix("/").unwrap());
    let log = root.join("c.log");
    let logged = || seqs(&std::fs::read(&log).unwrap_or_default());

    let (mut c, _) = Raw::open(d.addr(), "u", None, "CONNECT CONSOLE='c'").await;
    c.send(&numbered(1, 100)).await;
    c.expect(b"SEQ000100").await;
    eventually("the first lines in the log", || {
        logged().last() == Some(&100)
    })
    .await;

    // Fill the filesystem.
    let filler = root.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    let err = loop {
        if let Err(e) = f.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    drop(f);

    // Full: the console and its client go on.
    c.send(&numbered(101, 300)).await;
    c.expect(b"SEQ000300").await;
    d.wait_for("No space left on device").await;
    assert!(
        d.text().contains("Unable to write to logfile"),
        "{}",
        d.text()
    );
    assert!(logged().last() < Some(&300));

    // Room again, and the console is quiet: the retry tick writes what was kept.
    std::fs::remove_file(&filler).unwrap();
    eventually("the kept lines in the log", || {
        logged().last() == Some(&300)
    })
    .await;
    d.wait_for("is written again").await;
    c.send(&numbered(301, 400)).await;
    c.expect(b"SEQ000400").await;
    eventually("the last lines in the log", || {
        logged().last() == Some(&400)
    })
    .await;
    assert_exactly(&logged(), 400);
    assert!(!d.text().contains("Dropped"), "{}", d.text());
    drop(c);
    d.stop().await;
}

/// The log directory removed under the daemon (an operator's `rm -rf`): the next
/// retry tick notices the file has no name left and creates it again, directory
/// included; the console never stops.
#[tokio::test]
async fn a_log_directory_removed_under_the_daemon_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("logs").join("rack1");
    let log = logdir.join("c.log");
    let c = process_console("c", &["/bin/cat"], Some(log.clone()), LogOpts::default());
    let opts = EngineOpts {
        log_retry: Duration::from_millis(200),
        ..EngineOpts::default()
    };
    let srv = TestServer::start_with(dir, vec![c], ServerOpts::default(), opts).await;
    srv.wait_up(&["c"]).await;
    let (mut cl, _) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='c'").await;
    cl.send(&numbered(1, 10)).await;
    cl.expect(b"SEQ000010").await;
    let logged = || seqs(&std::fs::read(&log).unwrap_or_default());
    eventually("the first lines", || logged().last() == Some(&10)).await;

    std::fs::remove_dir_all(srv.path("logs")).unwrap();
    // (The writer threads' warning goes to the daemon log, not to this capture.)
    eventually("the log created again", || log.exists()).await;
    cl.send(&numbered(11, 20)).await;
    cl.expect(b"SEQ000020").await;
    eventually("the new lines in the new log", || {
        logged() == (11..=20).collect::<Vec<_>>()
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Console [c] log opened"), "{text}");
    drop(cl);
    srv.stop().await;
}

/// Peak resident memory of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A log writer that cannot keep up (its "disk" is a FIFO read at a few MB/s): the
/// console's actor waits for the writer, the program waits for the console, memory
/// stays bounded, and all 300,000 lines (30 MB) arrive, in order.
#[tokio::test]
async fn a_log_writer_that_cannot_keep_up_holds_the_console_back_and_loses_nothing() {
    use std::os::unix::fs::PermissionsExt;
    const LINES: u32 = 300_000;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("gen.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nread go\nseq -f 'SEQ%06.0f {}' 1 {LINES}\necho DONE-MARK\nexec cat\n",
            "y".repeat(88)
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = dir.path().join("g.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let conf = write_conf(
        dir.path(),
        &format!(
            "console name=\"g\" dev=\"{}\" log=\"{}\"\n",
            script.display(),
            fifo.display()
        ),
    );
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("-F").arg("-c").arg(&conf);
    let d = Daemon::spawn(cmd).await;
    // The slow reader: 64 KiB every 10 ms (about 6 MB/s).
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(&fifo).unwrap();
        let mut all = Vec::new();
        let mut buf = vec![0u8; 65536];
        while find(&all[all.len().saturating_sub(200)..], b"DONE-MARK").is_none() {
            let n = f.read(&mut buf).unwrap();
            assert!(n > 0, "EOF on the log FIFO");
            all.extend_from_slice(&buf[..n]);
            std::thread::sleep(Duration::from_millis(10));
        }
        all
    });
    let (mut w, _) = Raw::open(d.addr(), "u", None, "CONNECT CONSOLE='g'").await;
    w.send(b"go\n").await;
    drop(w);
    let all = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let got: Vec<u32> = seqs(&all);
    assert_exactly(&got, LINES);
    let hwm = vm_hwm_kib(d.pid());
    assert!(hwm < 150 * 1024, "conmand peaked at {hwm} KiB");
    d.stop().await;
}
