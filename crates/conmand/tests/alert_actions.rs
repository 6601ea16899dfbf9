//! `server alertwebhook=` and `server alertexec=`, in-process: events reach a real
//! HTTP server (Python's `http.server`) as JSON POSTs, retried when it fails; a
//! receiver that never answers holds up neither the console nor the other events;
//! `alertexec` programs get the event JSON on stdin, a few at a time.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Stdio;

use common::*;
use conmand_core::config::{AlertPack, ServerOpts};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// Debian's python (a pyenv `python3` on PATH may differ).
const PYTHON: &str = "/usr/bin/python3";

/// A webhook receiver: answers 503 to the first `fail` POSTs, then 200; appends
/// "PATH CONTENT-TYPE BODY" lines to `out`. Prints its port when listening.
const RECEIVER: &str = r#"
import sys, http.server
fail = int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global fail
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        code = 503 if fail > 0 else 200
        fail -= 1
        if code == 200:
            with open(sys.argv[1], "a") as f:
                f.write(self.path + " " + self.headers["Content-Type"] + " " + body + "\n")
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// One rule that raises an event per `ALERT-n` line, no de-duplication.
fn rules_file(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("site.rules");
    std::fs::write(
        &p,
        "[rule seq]\nmatch = ALERT-\\d+\nseverity = warning\nbefore = 0\nafter = 0\ndedup = 0\n",
    )
    .unwrap();
    p
}

async fn receiver(out: &Path, fail: u32) -> (tokio::process::Child, u16) {
    let mut child = tokio::process::Command::new(PYTHON)
        .arg("-c")
        .arg(RECEIVER)
        .arg(out)
        .arg(fail.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = within("receiver listening", lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (child, port)
}

#[tokio::test(flavor = "current_thread")]
async fn webhook_posts_each_event_and_retries_a_failed_post() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("received.txt");
    // The first try is refused (503): the event arrives on the retry.
    let (_rx, port) = receiver(&got, 1).await;
    let sock = dir.path().join("c.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let server = ServerOpts {
        alertpack: AlertPack::Off,
        alerts: Some(rules_file(dir.path())),
        alertwebhook: Some(format!("http://127.0.0.1:{port}/conman/hook?site=a")),
        ..ServerOpts::default()
    };
    let srv = TestServer::start_in(dir, vec![unix_console("c", &sock)], server).await;
    let mut dev = unix_device(&srv, &l, "c").await;
    dev.write_all(b"ALERT-1\r\nALERT-2\r\n").await.unwrap();
    eventually("both events received", || {
        std::fs::read_to_string(&got).is_ok_and(|t| t.lines().count() == 2)
    })
    .await;
    let text = std::fs::read_to_string(&got).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let mut parts = l.splitn(3, ' ');
        assert_eq!(parts.next(), Some("/conman/hook?site=a"));
        assert_eq!(parts.next(), Some("application/json"));
        let j: serde_json::Value = serde_json::from_str(parts.next().unwrap()).unwrap();
        assert_eq!(j["id"], i as u64 + 1, "in order");
        assert_eq!(j["console"], "c");
        assert_eq!(j["rule"], "seq");
        assert_eq!(j["line"], format!("ALERT-{}", i + 1));
    }
    let hub = srv.daemon.as_ref().unwrap().alerts().clone();
    let st = hub.action_stats();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(st.webhook_sent.load(Relaxed), 2);
    assert_eq!(st.webhook_failed.load(Relaxed), 0);
    assert!(
        capture.text().contains(
            "alert 1 not delivered (answered 503 Service Unavailable); trying again in 1s"
        ),
        "{}",
        capture.text()
    );
    srv.stop().await;
}

/// A receiver that accepts and never answers, and a flood of events: the console
/// keeps delivering every byte to its client, every event is raised, and what
/// the webhook queue cannot hold is dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_nothing_up() {
    let dir = tempfile::tempdir().unwrap();
    let stuck = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stuck.local_addr().unwrap().port();
    // Accept connections and keep them open without reading.
    let _held = tokio::spawn(async move {
        let mut keep = Vec::new();
        while let Ok((s, _)) = stuck.accept().await {
            keep.push(s);
        }
    });
    let sock = dir.path().join("c.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let server = ServerOpts {
        alertpack: AlertPack::Off,
        alerts: Some(rules_file(dir.path())),
        alertwebhook: Some(format!("http://127.0.0.1:{port}/")),
        ..ServerOpts::default()
    };
    let log = dir.path().join("c.log");
    let mut console = unix_console("c", &sock);
    console.log = Some(log.display().to_string());
    let srv = TestServer::start_in(dir, vec![console], server).await;
    let mut dev = unix_device(&srv, &l, "c").await;
    let (mut client, rsp) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='c'").await;
    assert!(rsp.starts_with("OK"), "{rsp}");
    const N: usize = 3000;
    let mut text = String::new();
    for i in 1..=N {
        text.push_str(&format!("ALERT-{i}\r\n"));
    }
    dev.write_all(text.as_bytes()).await.unwrap();
    dev.write_all(b"END-OF-FLOOD\r\n").await.unwrap();
    // The client is not held up (it may be told it missed bytes if this test's
    // own reader is starved of CPU: a slow client is never waited for), and the
    // log has every line.
    client.expect(b"END-OF-FLOOD").await;
    srv.daemon.as_ref().unwrap().flush_logs().await;
    let logged = std::fs::read(&log).unwrap();
    for i in [1, N / 2, N] {
        assert!(
            find(&logged, format!("ALERT-{i}\r\n").as_bytes()).is_some(),
            "line {i}"
        );
    }
    let hub = srv.daemon.as_ref().unwrap().alerts().clone();
    eventually("every event raised", || {
        hub.counts().iter().map(|c| c.3).sum::<u64>() == N as u64
    })
    .await;
    use std::sync::atomic::Ordering::Relaxed;
    let st = hub.action_stats();
    let dropped = st.webhook_dropped.load(Relaxed);
    // One in flight, the queue full, the rest dropped.
    assert!(
        dropped as usize >= N - conmand::alerts::actions::WEBHOOK_QUEUE - 1,
        "dropped {dropped}"
    );
    assert_eq!(hub.dropped(), 0, "no event lost before the hub");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertexec_gets_the_event_on_stdin_a_few_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exec");
    std::fs::create_dir(&out).unwrap();
    // Each run: its stdin to a file named by the event id, its environment beside
    // it; "running" holds one line per run in progress, so the largest count seen
    // is the concurrency. The 0.3 s pause makes runs overlap when they can.
    let cmd = format!(
        "cd {d} && flock lock sh -c 'echo x >> running; wc -l < running >> peaks' && \
         cat > ev.$CONMAN_ALERT_ID && \
         echo \"$CONMAN_ALERT_CONSOLE $CONMAN_ALERT_RULE $CONMAN_ALERT_SEVERITY\" > env.$CONMAN_ALERT_ID && \
         sleep 0.3 && flock lock sed -i 1d running",
        d = out.display()
    );
    let sock = dir.path().join("c.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let server = ServerOpts {
        alertpack: AlertPack::Off,
        alerts: Some(rules_file(dir.path())),
        alertexec: Some(cmd),
        ..ServerOpts::default()
    };
    let srv = TestServer::start_in(dir, vec![unix_console("c", &sock)], server).await;
    let mut dev = unix_device(&srv, &l, "c").await;
    const N: u64 = 12;
    for i in 1..=N {
        dev.write_all(format!("ALERT-{i}\r\n").as_bytes())
            .await
            .unwrap();
    }
    let hub = srv.daemon.as_ref().unwrap().alerts().clone();
    use std::sync::atomic::Ordering::Relaxed;
    eventually("every run done", || {
        hub.action_stats().exec_ok.load(Relaxed) == N
    })
    .await;
    for id in 1..=N {
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(format!("ev.{id}"))).unwrap())
                .unwrap();
        assert_eq!(j["id"], id);
        assert_eq!(j["line"], format!("ALERT-{id}"));
        assert_eq!(
            std::fs::read_to_string(out.join(format!("env.{id}"))).unwrap(),
            "c seq warning\n"
        );
    }
    let peaks: Vec<usize> = std::fs::read_to_string(out.join("peaks"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let most = peaks.iter().copied().max().unwrap();
    assert!(
        most <= conmand::alerts::actions::EXEC_CONCURRENCY,
        "{most} ran at once: {peaks:?}"
    );
    assert!(most >= 2, "runs never overlapped: {peaks:?}");
    assert_eq!(hub.action_stats().exec_failed.load(Relaxed), 0);
    srv.stop().await;
}
