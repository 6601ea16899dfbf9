//! Scale limits (issue 12): our `conman` against an in-process daemon with 20,000
//! consoles with long names. `conman -q` must list every one (its response line is
//! ~1 MB, far past ConMan's 131,071-byte buffer) and `conman -b` naming all of them
//! (a ~1 MB request line) must reach every console.
//!
//! Descriptors: the daemon and this test share one process and its open-file limit,
//! so most consoles are `test:` consoles (no descriptor); every tenth is a unix-socket
//! console whose path is a symbolic link to one listening socket here, so those 2,000
//! show the broadcast byte arriving. For all 20,000 the daemon's own writer list shows
//! the broadcasting client attached while the byte is sent.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conmand::engine::{Engine, EngineOpts};
use conmand_core::config::{
    Config, ConsoleDef, ConsoleSpec, LogOpts, ServerOpts, TestOpts, UnixSpec,
};
use tokio::io::AsyncReadExt;

const CONSOLES: usize = 20_000;
const OBSERVED_EVERY: usize = 10;
/// Generous: a debug build on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(180);

fn name(i: usize) -> String {
    format!("rack42-node-{i:05}.cluster.example.com")
}

fn console(i: usize, dir: &std::path::Path) -> ConsoleDef {
    let spec = if i.is_multiple_of(OBSERVED_EVERY) {
        ConsoleSpec::Unix(UnixSpec {
            path: dir.join(format!("u/{i}.sock")),
        })
    } else {
        // Silent: never produces output, wakes once a minute.
        ConsoleSpec::Test(TestOpts {
            burst_bytes: 1,
            max_ms: 60_000,
            min_ms: -1,
            probability: 0,
        })
    };
    ConsoleDef {
        name: name(i),
        dev: String::new(),
        spec,
        log: None,
        logopts: LogOpts::default(),
        line: 1,
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn query_lists_and_broadcast_reaches_20000_long_named_consoles() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = dir.path().join("hub.sock");
    std::fs::create_dir(dir.path().join("u")).unwrap();
    let observed = (0..CONSOLES)
        .filter(|i| i.is_multiple_of(OBSERVED_EVERY))
        .count();
    let (connected, received) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

    // The listening side of the unix consoles: every connection must receive "X".
    let listener = rt.block_on(async { tokio::net::UnixListener::bind(&hub).unwrap() });
    for i in (0..CONSOLES).step_by(OBSERVED_EVERY) {
        std::os::unix::fs::symlink(&hub, dir.path().join(format!("u/{i}.sock"))).unwrap();
    }
    let (c2, r2) = (connected.clone(), received.clone());
    rt.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            c2.fetch_add(1, Ordering::SeqCst);
            let r = r2.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    if buf[..n].contains(&b'X') {
                        r.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });

    let config = Config {
        origin: "scale.conf".into(),
        server: ServerOpts::default(),
        consoles: (0..CONSOLES).map(|i| console(i, dir.path())).collect(),
    };
    let (engine, addr) = rt.block_on(async {
        let engine = Engine::start(config, EngineOpts::default()).await.unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        engine.serve(l);
        (engine, addr)
    });
    wait_for("the unix consoles to connect", || {
        connected.load(Ordering::SeqCst) == observed
    });
    let dest = addr.to_string();

    // conman -q: every name, in the daemon's order, exit 0.
    let out = Command::new(common::ours())
        .args(["-d", &dest, "-q"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    let mut want: Vec<String> = (0..CONSOLES).map(name).collect();
    want.sort_by(|a, b| conmand_core::matching::compare_names(a, b));
    assert_eq!(listed.len(), CONSOLES, "conman -q lost names");
    assert!(listed.iter().zip(&want).all(|(a, b)| a == b));

    // conman -b -F names: one ~1 MB request naming every console.
    let names_file = dir.path().join("names");
    std::fs::write(&names_file, want.join("\n") + "\n").unwrap();
    let mut pty = common::Pty::open();
    let mut cmd = pty.command(&common::ours());
    cmd.args(["-d", &dest, "-b", "-F"]).arg(&names_file);
    let client = common::Proc::spawn(cmd);
    pty.expect(format!("Broadcast to {CONSOLES} consoles opened").as_bytes());
    pty.type_bytes(b"X");
    wait_for("every unix console to receive the byte", || {
        received.load(Ordering::SeqCst) == observed
    });
    // While the session is open, every console, test or unix, has it as a writer.
    let attached = rt.block_on(async {
        let mut n = 0;
        for h in engine.registry().snapshot().iter() {
            let writers = tokio::time::timeout(DEADLINE, h.writers()).await.unwrap();
            if writers.iter().any(|w| w.broadcast) {
                n += 1;
            }
        }
        n
    });
    assert_eq!(attached, CONSOLES, "consoles without the broadcast writer");
    pty.type_bytes(b"&.");
    assert_eq!(pty.wait_exit(&client), 0);
    rt.block_on(engine.shutdown());
}

/// Past the bound, our client says so instead of cutting: a response line longer
/// than 8 MiB is an error, and a request that long is refused before it is sent.
/// Run our client; it must fail with ConMan's protocol-error status 2.
fn query_fails(args: &[&str]) -> (std::process::Output, String) {
    let out = Command::new(common::ours())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

#[test]
fn lines_over_the_wire_bound_are_errors_not_cut_lists() {
    use conmand_core::protocol::MAX_WIRE_LINE;
    // A daemon whose answer never ends within the bound.
    let huge: &'static str =
        Box::leak(format!("OK CONSOLE='{}'\n", "n".repeat(MAX_WIRE_LINE)).into_boxed_str());
    let fake = common::FakeDaemon::start(huge, b"", true);
    let (out, err) = query_fails(&["-d", &fake.dest(), "-q"]);
    assert!(
        err.contains("Response from <") && err.contains("> exceeds the 8388608-byte line maximum"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no partial list");

    // 9,000 names of 1,000 bytes: a 9 MB request is refused locally.
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..9_000).map(|i| format!("{i:01000}")).collect();
    let file = dir.path().join("names");
    std::fs::write(&file, names.join("\n") + "\n").unwrap();
    let fake = common::FakeDaemon::start("OK\n", b"", true);
    let (_, err) = query_fails(&["-d", &fake.dest(), "-q", "-F", file.to_str().unwrap()]);
    assert!(
        err.contains("for 9000 console names exceeds the 8388608-byte line maximum"),
        "{err}"
    );
    let rec = fake.recording();
    assert!(rec.request.is_empty(), "the request must not be sent");
}
