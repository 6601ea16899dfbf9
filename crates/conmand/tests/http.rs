//! `server http=`: the metrics and JSON API, in-process on 127.0.0.1:0, asked by
//! real peers: `curl` for HTTP (and the live event stream), Python's
//! `prometheus_client` parser for `/metrics`. Plus the daemon binary: it listens
//! where `http=` says, and refuses to start with a tokens file others can read.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;

use common::daemon::Daemon;
use common::*;
use conmand_core::config::{LogOpts, ServerOpts};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};

const BIN: &str = env!("CARGO_BIN_EXE_conmand");
/// Debian's python, which has `python3-prometheus-client` (a pyenv `python3` on
/// PATH may not).
const PYTHON: &str = "/usr/bin/python3";

const PANIC: &[u8] = b"[  101.200000] Kernel panic - not syncing: Fatal exception\r\n\
[  101.200001] ---[ end Kernel panic - not syncing: Fatal exception ]---\r\n";
const LOCKUP: &[u8] =
    b"[ 7001.1] watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [kworker/3:1:123]\r\n";
const OOPS: &[u8] =
    b"[  55.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008\r\n";

/// What `curl -i` gave: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn curl(addr: SocketAddr, path: &str, extra: &[&str]) -> Reply {
    let out = within(
        "curl",
        tokio::process::Command::new("curl")
            .args(["-s", "-S", "-i", "--max-time", "20"])
            .args(extra)
            .arg(format!("http://{addr}{path}"))
            .output(),
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `/metrics` through the Prometheus project's own parser: (name, labels, value).
async fn parse_metrics(text: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    let mut child = tokio::process::Command::new(PYTHON)
        .args([
            "-c",
            "import sys, json\n\
             from prometheus_client.parser import text_string_to_metric_families as f\n\
             print(json.dumps([[s.name, s.labels, s.value] for m in f(sys.stdin.read()) for s in m.samples]))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .await
        .unwrap();
    let out = within("prometheus parser", child.wait_with_output())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sample(
    samples: &[(String, HashMap<String, String>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels.len() == l.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
}

async fn http(srv: &TestServer, tokens: Option<conmand::http::Tokens>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    srv.daemon.as_ref().unwrap().serve_http(l, tokens);
    addr
}

/// A console name that needs escaping in a Prometheus label.
const ODD: &str = "rack\"7\\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_the_console_api_show_what_the_daemon_knows() {
    let dir = tempfile::tempdir().unwrap();
    let (sa, so) = (dir.path().join("a.sock"), dir.path().join("o.sock"));
    let (la, lo) = (
        UnixListener::bind(&sa).unwrap(),
        UnixListener::bind(&so).unwrap(),
    );
    let log = dir.path().join("a.log");
    let mut a = unix_console("a", &sa);
    a.log = Some(log.display().to_string());
    a.logopts = LogOpts::default();
    // "gone" has no device at all: never up.
    let consoles = vec![
        a,
        unix_console(ODD, &so),
        unix_console("gone", &dir.path().join("nothing.sock")),
    ];
    let srv = TestServer::start_in(dir, consoles, ServerOpts::default()).await;
    let mut da = unix_device(&srv, &la, "a").await;
    let _do = unix_device(&srv, &lo, ODD).await;
    let addr = http(&srv, None).await;

    da.write_all(b"login: \r\n").await.unwrap();
    da.write_all(PANIC).await.unwrap();
    let hub = srv.daemon.as_ref().unwrap().alerts().clone();
    eventually("the panic is raised", || !hub.events_since(0).is_empty()).await;
    let (client, rsp) = Raw::open(srv.addr, "alice", None, "CONNECT CONSOLE='a'").await;
    assert!(rsp.starts_with("OK"), "{rsp}");
    let _client = client;
    let written = (b"login: \r\n".len() + PANIC.len()) as f64;
    let reg = srv.daemon.as_ref().unwrap().registry().clone();
    eventually("a's bytes and client counted", || {
        let st = reg.get("a").unwrap().stats();
        st.bytes as f64 >= written && st.clients == 1
    })
    .await;

    // /metrics: the real parser reads it, figures match.
    let m = curl(addr, "/metrics", &[]).await;
    assert_eq!(m.status, 200);
    assert!(
        m.headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{:?}",
        m.headers
    );
    let s = parse_metrics(&m.body).await;
    fn c(name: &str) -> [(&'static str, &str); 1] {
        [("console", name)]
    }
    assert_eq!(sample(&s, "conman_console_up", &c("a")), Some(1.0));
    assert_eq!(
        sample(&s, "conman_console_up", &c(ODD)),
        Some(1.0),
        "escaped label read back"
    );
    assert_eq!(sample(&s, "conman_console_up", &c("gone")), Some(0.0));
    assert_eq!(
        sample(&s, "conman_console_bytes_total", &c("a")),
        Some(written)
    );
    assert_eq!(sample(&s, "conman_console_clients", &c("a")), Some(1.0));
    assert_eq!(sample(&s, "conman_console_clients", &c("gone")), Some(0.0));
    assert_eq!(
        sample(&s, "conman_console_reconnects_total", &c("a")),
        Some(0.0)
    );
    let last = sample(&s, "conman_console_last_output_timestamp_seconds", &c("a")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(last > now - 600.0 && last <= now + 1.0, "{last} vs {now}");
    assert_eq!(
        sample(
            &s,
            "conman_alerts_total",
            &[
                ("console", "a"),
                ("rule", "kernel-panic"),
                ("severity", "critical")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&s, "conman_consoles", &[]), Some(3.0));
    assert_eq!(sample(&s, "conman_clients", &[]), Some(1.0));
    for daemon_wide in [
        "conman_log_queue_depth",
        "conman_log_bytes_written_total",
        "conman_client_dropped_bytes_total",
    ] {
        assert!(
            sample(&s, daemon_wide, &[]).is_some(),
            "{daemon_wide} missing"
        );
    }
    assert_eq!(sample(&s, "conman_alert_rules", &[]), Some(15.0));

    // The console list.
    let r = curl(addr, "/api/v1/consoles", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("application/json"));
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    let by: HashMap<&str, &Value> = list
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c))
        .collect();
    let ja = by["a"];
    assert_eq!(ja["kind"], "unix");
    assert_eq!(ja["state"], "up");
    assert_eq!(ja["bytes"].as_f64(), Some(written));
    assert_eq!(ja["alerts"], 1);
    assert_eq!(ja["last_alert"]["rule"], "kernel-panic");
    assert!(ja["since"].as_str().unwrap().ends_with('Z'));
    assert!(ja["last_output"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ja["clients"][0]["user"], "alice");
    assert_eq!(ja["clients"][0]["mode"], "rw");
    assert!(ja["clients"][0]["host"].as_str().is_some());
    let gone = by["gone"];
    assert!(
        gone["state"] == "down" || gone["state"] == "connecting",
        "{gone}"
    );
    assert_eq!(gone["last_output"], Value::Null);
    assert_eq!(gone["clients"], serde_json::json!([]));
    assert_eq!(by[ODD]["alerts"], 0);

    // One console, by name (percent-encoded in the path).
    let one = curl(addr, "/api/v1/consoles/a", &[]).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["name"], "a");
    let odd = curl(addr, "/api/v1/consoles/rack%227%5Cn", &[]).await;
    assert_eq!(odd.status, 200, "{}", odd.body);
    assert_eq!(odd.json()["name"], ODD);
    let none = curl(addr, "/api/v1/consoles/nope", &[]).await;
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["error"], "no such console");
    assert_eq!(curl(addr, "/api/v1/nothing", &[]).await.status, 404);

    // The log tail: the last bytes of the file.
    srv.daemon.as_ref().unwrap().flush_logs().await;
    let file = std::fs::read(&log).unwrap();
    let t = curl(addr, "/api/v1/consoles/a/log?tail=40", &[]).await;
    assert_eq!(t.status, 200);
    assert_eq!(t.body.as_bytes(), &file[file.len() - 40..]);
    let all = curl(addr, "/api/v1/consoles/a/log?tail=1000000", &[]).await;
    assert_eq!(all.body.as_bytes(), &file[..]);
    let bad = curl(addr, "/api/v1/consoles/a/log?tail=lots", &[]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("tail"));
    let unlogged = curl(addr, "/api/v1/consoles/gone/log", &[]).await;
    assert_eq!(unlogged.status, 404);
    assert_eq!(unlogged.json()["error"], "console is not logged");

    // Events: a second one on the odd console, then filters.
    da.write_all(OOPS).await.unwrap();
    eventually("the oops is raised", || hub.events_since(0).len() >= 2).await;
    let ev = curl(addr, "/api/v1/events", &[]).await.json();
    let ev = ev.as_array().unwrap();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0]["rule"], "kernel-panic");
    assert_eq!(ev[1]["rule"], "oops");
    assert!(ev[0]["id"].as_u64() < ev[1]["id"].as_u64(), "newest last");
    for key in [
        "id",
        "time",
        "console",
        "rule",
        "severity",
        "line",
        "context",
        "log_offset",
    ] {
        assert!(ev[0].get(key).is_some(), "event without {key}: {}", ev[0]);
    }
    let first = ev[0]["id"].as_u64().unwrap();
    let after = curl(addr, &format!("/api/v1/events?since={first}"), &[])
        .await
        .json();
    assert_eq!(after.as_array().unwrap().len(), 1);
    assert_eq!(after[0]["rule"], "oops");
    let globbed = curl(addr, "/api/v1/events?console=a*", &[]).await.json();
    assert_eq!(globbed.as_array().unwrap().len(), 2);
    let other = curl(addr, "/api/v1/events?console=b*", &[]).await.json();
    assert_eq!(other, serde_json::json!([]));
    assert_eq!(curl(addr, "/api/v1/events?since=x", &[]).await.status, 400);
    srv.stop().await;
}

/// The live stream: a reader that connects gets what it missed since its
/// `Last-Event-ID`, then new events as they happen, filtered by console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_delivers_live_alerts_after_what_was_missed() {
    let dir = tempfile::tempdir().unwrap();
    let (sa, sb) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let (la, lb) = (
        UnixListener::bind(&sa).unwrap(),
        UnixListener::bind(&sb).unwrap(),
    );
    let consoles = vec![unix_console("a", &sa), unix_console("b", &sb)];
    let srv = TestServer::start_in(dir, consoles, ServerOpts::default()).await;
    let mut da = unix_device(&srv, &la, "a").await;
    let mut db = unix_device(&srv, &lb, "b").await;
    let addr = http(&srv, None).await;
    let hub = srv.daemon.as_ref().unwrap().alerts().clone();
    // Two events before anyone listens.
    da.write_all(PANIC).await.unwrap();
    eventually("event 1", || hub.events_since(0).len() == 1).await;
    db.write_all(PANIC).await.unwrap();
    eventually("event 2", || hub.events_since(0).len() == 2).await;
    let ids: Vec<u64> = hub.events_since(0).iter().map(|e| e.id).collect();

    // A reader that saw event 1 and wants console a only... and one for everything.
    let mut reader = tokio::process::Command::new("curl")
        .args(["-s", "-N", "--max-time", "60", "-H"])
        .arg(format!("Last-Event-ID: {}", ids[0]))
        .arg(format!("http://{addr}/api/v1/events/stream"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(reader.stdout.take().unwrap()).lines();
    let mut next_event = async || {
        let mut ev = HashMap::new();
        loop {
            let l = within("an SSE line", lines.next_line())
                .await
                .unwrap()
                .expect("stream ended");
            if l.is_empty() {
                if ev.contains_key("data") {
                    return ev;
                }
                continue;
            }
            if let Some((k, v)) = l.split_once(':')
                && !k.is_empty()
            {
                ev.insert(k.to_string(), v.trim_start().to_string());
            }
        }
    };
    // Missed: event 2 only (event 1 was seen).
    let e = next_event().await;
    assert_eq!(e["event"], "alert");
    assert_eq!(e["id"], ids[1].to_string());
    let j: Value = serde_json::from_str(&e["data"]).unwrap();
    assert_eq!(j["console"], "b");
    assert_eq!(j["rule"], "kernel-panic");
    // Live: the reader is subscribed (it got the backlog), so a new event arrives.
    da.write_all(OOPS).await.unwrap();
    let e = next_event().await;
    let j: Value = serde_json::from_str(&e["data"]).unwrap();
    assert_eq!(j["rule"], "oops");
    assert_eq!(j["console"], "a");
    assert_eq!(e["id"], j["id"].to_string());
    assert!(j["id"].as_u64().unwrap() > ids[1]);
    reader.kill().await.unwrap();

    // Filtered by console glob: b's events only, from the start.
    let mut reader = tokio::process::Command::new("curl")
        .args(["-s", "-N", "--max-time", "60"])
        .arg(format!(
            "http://{addr}/api/v1/events/stream?since=0&console=b"
        ))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(reader.stdout.take().unwrap()).lines();
    let mut datas = Vec::new();
    while datas.len() < 2 {
        let l = within("an SSE line", lines.next_line())
            .await
            .unwrap()
            .expect("stream ended");
        if let Some(d) = l.strip_prefix("data:") {
            datas.push(serde_json::from_str::<Value>(d.trim()).unwrap());
            if datas.len() == 1 {
                // After the backlog: one more on a (filtered out), one on b.
                da.write_all(LOCKUP).await.unwrap();
                eventually("a's third event", || hub.events_since(0).len() == 4).await;
                db.write_all(OOPS).await.unwrap();
            }
        }
    }
    assert_eq!(datas[0]["console"], "b");
    assert_eq!(datas[0]["rule"], "kernel-panic");
    assert_eq!(datas[1]["console"], "b", "a's event was filtered out");
    assert_eq!(datas[1]["rule"], "oops");
    reader.kill().await.unwrap();
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_every_request_needs_a_valid_bearer_token() {
    let srv = TestServer::start(vec![test_console("t")], ServerOpts::default()).await;
    let tokens =
        conmand::http::Tokens::parse("k3y-for-alice-0123456789 : alice\n", "tokens").unwrap();
    let addr = http(&srv, Some(tokens)).await;
    for path in ["/metrics", "/api/v1/consoles", "/api/v1/events", "/nothing"] {
        let r = curl(addr, path, &[]).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"conmand\"");
        let r = curl(
            addr,
            path,
            &["-H", "Authorization: Bearer k3y-for-alice-012345678"],
        )
        .await;
        assert_eq!(r.status, 401, "{path}: a prefix of the token");
        let r = curl(
            addr,
            path,
            &["-H", "Authorization: Basic k3y-for-alice-0123456789"],
        )
        .await;
        assert_eq!(r.status, 401, "{path}: not a bearer token");
    }
    let ok = curl(
        addr,
        "/api/v1/consoles/t",
        &["-H", "Authorization: Bearer k3y-for-alice-0123456789"],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["name"], "t");
    srv.stop().await;
}

/// With `server acl=`, a token user sees only the consoles the ACL gives them
/// `query` on (listing, one console, metrics, events) and reads a log only with
/// `monitor`; anonymous loopback requests are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_users_see_only_what_the_acl_gives_them() {
    let dir = tempfile::tempdir().unwrap();
    let (sa, sb) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let (la, lb) = (
        UnixListener::bind(&sa).unwrap(),
        UnixListener::bind(&sb).unwrap(),
    );
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "allow alice monitor on web-*\nallow bob query on *\n").unwrap();
    let log = dir.path().join("web.log");
    let mut web = unix_console("web-1", &sa);
    web.log = Some(log.display().to_string());
    let server = ServerOpts {
        acl: Some(acl),
        ..ServerOpts::default()
    };
    let srv = TestServer::start_in(dir, vec![web, unix_console("db-1", &sb)], server).await;
    let mut dw = unix_device(&srv, &la, "web-1").await;
    let mut dd = unix_device(&srv, &lb, "db-1").await;
    let hub = srv.daemon.as_ref().unwrap().alerts().clone();
    dw.write_all(PANIC).await.unwrap();
    dd.write_all(OOPS).await.unwrap();
    eventually("two events", || hub.events_since(0).len() == 2).await;
    srv.daemon.as_ref().unwrap().flush_logs().await;
    let tokens = conmand::http::Tokens::parse(
        "alice-token-0123456789 : alice\nbob-token-0123456789ab : bob\n",
        "tokens",
    )
    .unwrap();
    let addr = http(&srv, Some(tokens)).await;
    let alice = ["-H", "Authorization: Bearer alice-token-0123456789"];
    let bob = ["-H", "Authorization: Bearer bob-token-0123456789ab"];
    let names = |r: &Reply| -> Vec<String> {
        r.json()
            .as_array()
            .unwrap_or_else(|| panic!("{} {}", r.status, r.body))
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&curl(addr, "/api/v1/consoles", &alice).await),
        ["web-1"]
    );
    assert_eq!(
        names(&curl(addr, "/api/v1/consoles", &bob).await),
        ["web-1", "db-1"]
    );
    assert_eq!(
        curl(addr, "/api/v1/consoles/db-1", &alice).await.status,
        404
    );
    let events: Vec<String> = curl(addr, "/api/v1/events", &alice)
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["console"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["web-1"]);
    let m = parse_metrics(&curl(addr, "/metrics", &alice).await.body).await;
    assert!(sample(&m, "conman_console_up", &[("console", "web-1")]).is_some());
    assert!(sample(&m, "conman_console_up", &[("console", "db-1")]).is_none());
    assert!(
        m.iter()
            .all(|(_, l, _)| l.get("console").is_none_or(|c| c == "web-1"))
    );
    // A log needs monitor: alice has it, bob (query only) does not.
    let r = curl(addr, "/api/v1/consoles/web-1/log", &alice).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Kernel panic - not syncing"), "{}", r.body);
    let r = curl(addr, "/api/v1/consoles/web-1/log", &bob).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["error"],
        "Permission denied: bob may not monitor [web-1]"
    );
    srv.stop().await;
}

fn write_conf(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let conf = dir.join("conman.conf");
    std::fs::write(&conf, format!("server port=0\n{text}")).unwrap();
    conf
}

/// The daemon binary listens where `http=` says and reads its tokens file at
/// start; one that others can read stops the start with a message naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_http_and_refuses_exposed_tokens() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("http.tokens");
    std::fs::write(&tokens, "k3y-for-alice-0123456789 : alice\n").unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).unwrap();
    let conf = write_conf(
        dir.path(),
        &format!(
            "server http=\"127.0.0.1:0\"\nserver httptokens=\"{}\"\nconsole name=\"c\" dev=\"/bin/cat\"\n",
            tokens.display()
        ),
    );
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("-F").arg("-c").arg(&conf);
    let mut d = Daemon::spawn(cmd).await;
    d.wait_for("Listening for HTTP on ").await;
    let addr: SocketAddr = d
        .text()
        .split("Listening for HTTP on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .trim_end_matches('.')
        .parse()
        .unwrap();
    assert_eq!(curl(addr, "/metrics", &[]).await.status, 401);
    let m = curl(
        addr,
        "/metrics",
        &["-H", "Authorization: Bearer k3y-for-alice-0123456789"],
    )
    .await;
    assert_eq!(m.status, 200);
    let s = parse_metrics(&m.body).await;
    assert_eq!(sample(&s, "conman_consoles", &[]), Some(1.0));
    d.child.start_kill().unwrap();
    d.child.wait().await.unwrap();

    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = within(
        "conmand refuses to start",
        tokio::process::Command::new(BIN)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .output(),
    )
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: HTTP tokens file is readable by others (mode 0644)",
            tokens.display()
        )),
        "{err}"
    );
    // `conmand -t` says the same.
    let out = std::process::Command::new(BIN)
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("readable by others"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A connection that never sends a request is closed after the header timeout,
/// and it does not keep a slot (the API still answers meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed() {
    use tokio::io::AsyncReadExt;
    let srv = TestServer::start(vec![test_console("t")], ServerOpts::default()).await;
    let addr = http(&srv, None).await;
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(curl(addr, "/api/v1/consoles/t", &[]).await.status, 200);
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(conmand::http::HEADER_TIMEOUT + WAIT, idle.read(&mut buf))
        .await
        .expect("the silent connection was never closed")
        .unwrap_or(0);
    // hyper may answer 408 before closing; either way the connection ends.
    if n > 0 {
        assert!(buf.starts_with(b"HTTP/1.1 408"), "{:?}", &buf[..n]);
        let mut rest = Vec::new();
        within("close after 408", idle.read_to_end(&mut rest))
            .await
            .unwrap();
    }
    srv.stop().await;
}

/// An event stream reader does not hold the daemon's shutdown up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_event_stream_readers() {
    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("a.sock");
    let la = UnixListener::bind(&sa).unwrap();
    let srv = TestServer::start_in(dir, vec![unix_console("a", &sa)], ServerOpts::default()).await;
    let mut da = unix_device(&srv, &la, "a").await;
    let addr = http(&srv, None).await;
    da.write_all(PANIC).await.unwrap();
    let hub = srv.daemon.as_ref().unwrap().alerts().clone();
    eventually("event 1", || hub.events_since(0).len() == 1).await;
    let mut reader = tokio::process::Command::new("curl")
        .args(["-s", "-N", "--max-time", "60"])
        .arg(format!("http://{addr}/api/v1/events/stream?since=0"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(reader.stdout.take().unwrap()).lines();
    loop {
        let l = within("an SSE line", lines.next_line())
            .await
            .unwrap()
            .unwrap();
        if l.starts_with("data:") {
            break;
        }
    }
    // The reader is connected and streaming; shutdown must not wait for it (the
    // engine's own bound for its tasks is 10 s).
    tokio::time::timeout(std::time::Duration::from_secs(5), srv.stop())
        .await
        .expect("shutdown waited for the event stream");
    let _ = reader.kill().await;
}
