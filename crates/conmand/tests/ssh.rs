//! The SSH front end (`server sshport=`) driven by the real OpenSSH client:
//! key login, certificate login (`ssh-keygen -s`), an unknown key and an expired
//! certificate refused, `-q` filtered per user, a monitor-only user's keys not
//! reaching the device, a denied force and a denied break, `&B` reaching the
//! console, and the audit lines for each. In-process daemon on 127.0.0.1:0.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use conmand_core::config::{LogOpts, ServerOpts};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SSH: &str = "/usr/bin/ssh";
const KEYGEN: &str = "/usr/bin/ssh-keygen";

fn have_openssh() -> bool {
    if Path::new(SSH).exists() && Path::new(KEYGEN).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("OpenSSH client missing under CI (run scripts/install-peers.sh)");
    }
    eprintln!("SKIPPED: OpenSSH client not installed");
    false
}

fn cat(name: &str) -> conmand_core::config::ConsoleDef {
    process_console(name, &["/bin/cat"], None, LogOpts::default())
}

fn keygen(args: &[&str]) {
    let out = std::process::Command::new(KEYGEN)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `SHA256:…` as ssh-keygen prints it.
fn fingerprint(public: &Path) -> String {
    let out = std::process::Command::new(KEYGEN)
        .arg("-lf")
        .arg(public)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// Keys, certificates, the users directory, the CA file and the ACL.
struct World {
    dir: PathBuf,
}

impl World {
    fn new(dir: &Path) -> World {
        let k = |name: &str| {
            keygen(&[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                name,
                "-f",
                dir.join(name).to_str().unwrap(),
            ])
        };
        for name in ["alice", "bob", "mallory", "carol", "dave", "erin", "ca"] {
            k(name);
        }
        let users = dir.join("users");
        std::fs::create_dir(&users).unwrap();
        for u in ["alice", "bob"] {
            std::fs::copy(dir.join(format!("{u}.pub")), users.join(u)).unwrap();
        }
        std::fs::copy(dir.join("ca.pub"), dir.join("ca.keys")).unwrap();
        let ca = dir.join("ca");
        let sign = |who: &str, serial: &str, validity: &str| {
            keygen(&[
                "-q",
                "-s",
                ca.to_str().unwrap(),
                "-I",
                &format!("{who}@laptop"),
                "-n",
                who,
                "-z",
                serial,
                "-V",
                validity,
                dir.join(format!("{who}.pub")).to_str().unwrap(),
            ])
        };
        sign("carol", "7", "-5m:+1h");
        sign("erin", "8", "-5m:+1h");
        sign("dave", "9", "20200101:20200102");
        std::fs::write(
            dir.join("acl"),
            "group ops = alice\n\
             allow @ops  all          on *\n\
             allow bob   monitor      on *\n\
             allow carol write,break  on p*\n\
             allow erin  write        on p*\n",
        )
        .unwrap();
        World {
            dir: dir.to_path_buf(),
        }
    }

    fn server_opts(&self) -> ServerOpts {
        ServerOpts {
            acl: Some(self.dir.join("acl")),
            auditlog: Some(self.dir.join("audit.jsonl")),
            sshusers: Some(self.dir.join("users")),
            sshca: Some(self.dir.join("ca.keys")),
            ..ServerOpts::default()
        }
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

async fn start(world: &World) -> (TestServer, SocketAddr) {
    let srv = TestServer::start(vec![cat("p1"), cat("q1")], world.server_opts()).await;
    srv.wait_up(&["p1", "q1"]).await;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let key = conmand::ssh::keys::host_key(&world.dir.join("hostkey")).unwrap();
    srv.daemon.as_ref().unwrap().serve_ssh(l, key);
    (srv, addr)
}

fn ssh_cmd(world: &World, key: &str, addr: SocketAddr, login: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(SSH);
    c.args([
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "LogLevel=ERROR",
        "-e",
        "none",
        "-i",
    ])
    .arg(world.dir.join(key))
    .args(["-p", &addr.port().to_string()])
    .arg(format!("{login}@127.0.0.1"))
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    c
}

/// A one-shot command: (exit status, stdout, stderr).
async fn run(mut c: tokio::process::Command, args: &[&str]) -> (i32, String, String) {
    c.arg("--").args(args).stdin(Stdio::null());
    let out = within("ssh", c.output()).await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An interactive session (`ssh -tt`).
struct Interactive {
    child: tokio::process::Child,
    out: tokio::process::ChildStdout,
    seen: Vec<u8>,
}

impl Interactive {
    async fn open(mut c: tokio::process::Command, args: &[&str]) -> Interactive {
        c.arg("-tt");
        if !args.is_empty() {
            c.arg("--").args(args);
        }
        let mut child = c.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        Interactive {
            child,
            out,
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, b: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b).await.unwrap();
        stdin.flush().await.unwrap();
    }

    async fn expect(&mut self, needle: &[u8]) {
        let what = String::from_utf8_lossy(needle).into_owned();
        within(&what, async {
            loop {
                if find(&self.seen, needle).is_some() {
                    return;
                }
                let mut buf = [0u8; 4096];
                let n = self.out.read(&mut buf).await.unwrap();
                assert!(
                    n > 0,
                    "ssh ended before {what:?}; saw {:?}",
                    String::from_utf8_lossy(&self.seen)
                );
                self.seen.extend_from_slice(&buf[..n]);
            }
        })
        .await;
    }

    /// `&.`, then the exit status.
    async fn close(mut self) -> (i32, String) {
        self.send(b"&.").await;
        let mut rest = Vec::new();
        within("ssh exits", self.out.read_to_end(&mut rest))
            .await
            .unwrap();
        self.seen.extend_from_slice(&rest);
        let status = within("ssh exits", self.child.wait()).await.unwrap();
        (
            status.code().unwrap_or(-1),
            String::from_utf8_lossy(&self.seen).into_owned(),
        )
    }
}

fn records<'a>(audit: &'a [Value], user: &str, action: &str) -> Vec<&'a Value> {
    audit
        .iter()
        .filter(|v| v["user"] == user && v["action"] == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_user_attaches_types_and_leaves_with_an_audit_trail() {
    if !have_openssh() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let world = World::new(tmp.path());
    let (srv, addr) = start(&world).await;
    let mut s = Interactive::open(ssh_cmd(&world, "alice", addr, "p1"), &[]).await;
    s.expect(b"<ConMan> Connection to console [p1] opened.")
        .await;
    s.send(b"hello-over-ssh\r").await;
    s.expect(b"hello-over-ssh").await;
    let (status, text) = s.close().await;
    assert_eq!(status, 0, "{text}");
    assert!(
        text.contains("Connection to console [p1] closed."),
        "{text}"
    );
    srv.daemon.as_ref().unwrap().access().sync().await;
    let audit = world.audit();
    let login = records(&audit, "alice", "login");
    assert_eq!(login.len(), 1, "{audit:?}");
    assert_eq!(login[0]["auth"], "publickey");
    assert_eq!(
        login[0]["key"],
        fingerprint(&world.dir.join("alice.pub")).as_str()
    );
    assert!(
        login[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let attach = records(&audit, "alice", "attach");
    assert_eq!(attach.len(), 1, "{audit:?}");
    assert_eq!(attach[0]["console"], "p1");
    assert_eq!(attach[0]["mode"], "rw");
    assert_eq!(attach[0]["outcome"], "ok");
    eventually("detach recorded", || {
        futures_sync(srv.daemon.as_ref().unwrap());
        records(&world.audit(), "alice", "detach").len() == 1
    })
    .await;
    srv.stop().await;
}

/// Flushes the audit queue from a synchronous closure (for `eventually`).
fn futures_sync(engine: &conmand::engine::Engine) {
    let access = engine.access().clone();
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(access.sync());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_log_in_as_their_principal_and_queries_show_only_what_each_may_see() {
    if !have_openssh() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let world = World::new(tmp.path());
    let (srv, addr) = start(&world).await;
    let (status, out, err) = run(ssh_cmd(&world, "carol", addr, "x"), &["-q"]).await;
    assert_eq!((status, out.as_str()), (0, "p1\r\n"), "{err}");
    let (status, out, err) = run(ssh_cmd(&world, "alice", addr, "x"), &["-q"]).await;
    assert_eq!((status, out.as_str()), (0, "p1\r\nq1\r\n"), "{err}");
    // A console carol may not see is not there for her.
    let (status, out, _) = run(ssh_cmd(&world, "carol", addr, "q1"), &[]).await;
    assert_eq!(status, 2);
    assert!(out.contains("ERROR: Found no matching consoles."), "{out}");
    srv.daemon.as_ref().unwrap().access().sync().await;
    let audit = world.audit();
    let login = records(&audit, "carol", "login");
    assert_eq!(login.len(), 2, "{audit:?}");
    assert_eq!(login[0]["auth"], "certificate");
    assert_eq!(login[0]["cert_serial"], 7);
    assert_eq!(login[0]["cert_id"], "carol@laptop");
    assert_eq!(
        login[0]["ca"],
        fingerprint(&world.dir.join("ca.pub")).as_str()
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_and_an_expired_certificate_are_refused_and_recorded() {
    if !have_openssh() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let world = World::new(tmp.path());
    let (srv, addr) = start(&world).await;
    let (status, _, err) = run(ssh_cmd(&world, "mallory", addr, "p1"), &["-q"]).await;
    assert_eq!(status, 255, "{err}");
    assert!(err.contains("Permission denied (publickey)"), "{err}");
    // dave's certificate expired in 2020; his plain key is listed nowhere either.
    let (status, _, err) = run(ssh_cmd(&world, "dave", addr, "p1"), &["-q"]).await;
    assert_eq!(status, 255, "{err}");
    assert!(err.contains("Permission denied (publickey)"), "{err}");
    srv.daemon.as_ref().unwrap().access().sync().await;
    let audit = world.audit();
    let denied: Vec<&Value> = audit
        .iter()
        .filter(|v| v["action"] == "login" && v["outcome"] == "denied")
        .collect();
    let mallory = fingerprint(&world.dir.join("mallory.pub"));
    assert!(
        denied
            .iter()
            .any(|v| v["reason"] == format!("unknown key {mallory}").as_str()),
        "{audit:?}"
    );
    assert!(
        audit.iter().all(|v| v["outcome"] != "ok"),
        "nobody got in: {audit:?}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_only_users_keys_never_reach_the_device() {
    if !have_openssh() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let world = World::new(tmp.path());
    let (srv, addr) = start(&world).await;
    // bob may only monitor: a plain attach (read-write) is refused …
    let (status, out, _) = run(ssh_cmd(&world, "bob", addr, "p1"), &[]).await;
    assert_eq!(status, 2);
    assert!(
        out.contains("ERROR: Permission denied: bob may not write [p1]."),
        "{out}"
    );
    // … `-m` works, and what he types is discarded (he is told once).
    let mut bob = Interactive::open(ssh_cmd(&world, "bob", addr, "p1"), &["-m"]).await;
    bob.expect(b"Connection to console [p1] opened.").await;
    bob.send(b"bob-was-here\r").await;
    bob.expect(b"Permission denied: bob may not write [p1]; what you type is discarded")
        .await;
    // A writer's line reaches the device (cat echoes it) and bob sees it; bob's
    // never did.
    let (mut w, rsp) = Raw::open(srv.addr, "root", None, "CONNECT CONSOLE='p1'").await;
    assert!(rsp.starts_with("OK"), "{rsp}");
    w.send(b"marker-line\r").await;
    w.expect(b"marker-line").await;
    bob.expect(b"marker-line").await;
    assert!(find(&w.seen, b"bob-was-here").is_none());
    assert!(find(&bob.seen, b"bob-was-here").is_none());
    let (status, _) = bob.close().await;
    assert_eq!(status, 0);
    srv.daemon.as_ref().unwrap().access().sync().await;
    let audit = world.audit();
    let denied = records(&audit, "bob", "denied");
    assert_eq!(denied.len(), 1, "{audit:?}");
    assert_eq!(denied[0]["mode"], "write");
    // The native client is recorded too, as unauthenticated.
    let root = records(&audit, "root", "attach");
    assert_eq!(root.len(), 1, "{audit:?}");
    assert_eq!(root[0]["auth"], "none");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_and_break_need_their_rights() {
    if !have_openssh() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let world = World::new(tmp.path());
    let (srv, addr) = start(&world).await;
    // carol may write and break on p*, not force.
    let (status, out, _) = run(ssh_cmd(&world, "carol", addr, "p1"), &["-f"]).await;
    assert_eq!(status, 2);
    assert!(
        out.contains("ERROR: Permission denied: carol may not force [p1]."),
        "{out}"
    );
    // Her &B reaches the console: a process console turns a break into "&B",
    // which cat echoes.
    let mut carol = Interactive::open(ssh_cmd(&world, "carol", addr, "p1"), &[]).await;
    carol.expect(b"Connection to console [p1] opened.").await;
    carol.send(b"a&Bz\r").await;
    carol.expect(b"a&Bz").await;
    let (status, _) = carol.close().await;
    assert_eq!(status, 0);
    // erin may write but not break: her &B is refused and never reaches cat.
    let mut erin = Interactive::open(ssh_cmd(&world, "erin", addr, "p1"), &[]).await;
    erin.expect(b"Connection to console [p1] opened.").await;
    erin.send(b"&B").await;
    erin.expect(b"Permission denied: erin may not break [p1]")
        .await;
    erin.send(b"after\r").await;
    erin.expect(b"after").await;
    assert!(
        find(&erin.seen, b"&B").is_none(),
        "{:?}",
        String::from_utf8_lossy(&erin.seen)
    );
    let (status, _) = erin.close().await;
    assert_eq!(status, 0);
    srv.daemon.as_ref().unwrap().access().sync().await;
    let audit = world.audit();
    let denied = records(&audit, "carol", "denied");
    assert_eq!(denied.len(), 1, "{audit:?}");
    assert_eq!(denied[0]["mode"], "force");
    assert_eq!(
        denied[0]["reason"],
        "Permission denied: carol may not force [p1]"
    );
    assert_eq!(records(&audit, "carol", "break").len(), 1, "{audit:?}");
    let denied = records(&audit, "erin", "denied");
    assert_eq!(denied.len(), 1, "{audit:?}");
    assert_eq!(denied[0]["mode"], "break");
    assert!(records(&audit, "erin", "break").is_empty());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failures_from_one_address_shut_it_out_for_a_while() {
    if !have_openssh() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let world = World::new(tmp.path());
    let (srv, addr) = start(&world).await;
    // alice gets in before …
    let (status, out, err) = run(ssh_cmd(&world, "alice", addr, "x"), &["-q"]).await;
    assert_eq!((status, out.as_str()), (0, "p1\r\nq1\r\n"), "{err}");
    for _ in 0..conmand::ssh::MAX_FAILURES {
        let (status, _, err) = run(ssh_cmd(&world, "mallory", addr, "p1"), &["-q"]).await;
        assert_eq!(status, 255, "{err}");
    }
    // … but not from the same address after ten failures, valid key or not.
    let (status, out, _) = run(ssh_cmd(&world, "alice", addr, "x"), &["-q"]).await;
    assert_eq!(status, 255);
    assert!(out.is_empty(), "{out}");
    srv.daemon.as_ref().unwrap().access().sync().await;
    let audit = world.audit();
    assert_eq!(records(&audit, "alice", "login").len(), 1, "{audit:?}");
    srv.stop().await;
}
