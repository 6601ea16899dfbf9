//! `server cluster=`: three conmand processes and a real etcd (Debian's
//! etcd-server, started here on free loopback ports) share 60 unix-socket
//! consoles. The test plays the devices and counts the connections to each:
//! every console is connected exactly once; ownership in etcd is the rendezvous
//! placement; a node joining takes only its share, handed over without a second
//! connection; a node killed with SIGKILL has its consoles reconnected by the
//! others within the lease TTL + 5 s. A second connection to any console at any
//! accept fails the test.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{UnixListener, UnixStream};

const BIN: &str = env!("CARGO_BIN_EXE_conmand");
const ETCD: &str = "/usr/bin/etcd";
const ETCDCTL: &str = "/usr/bin/etcdctl";
const CONSOLES: usize = 60;
const TTL: u64 = 3;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_etcd(dir: &Path) -> (Proc, String) {
    let (client, peer) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client}");
    let child = Command::new(ETCD)
        .arg("--data-dir")
        .arg(dir.join("etcd"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{peer}"),
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer}"),
            "--initial-cluster",
            &format!("default=http://127.0.0.1:{peer}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let etcd = Proc(child);
    wait_for("etcd to answer", Duration::from_secs(20), || {
        etcdctl(&url, &["endpoint", "health"]).is_some()
    });
    (etcd, url)
}

/// A three-member etcd: (members, their client URLs).
fn start_etcd3(dir: &Path) -> (Vec<Proc>, Vec<String>) {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut members = Vec::new();
    let mut urls = Vec::new();
    for (i, (c, p)) in ports.iter().enumerate() {
        let url = format!("http://127.0.0.1:{c}");
        let child = Command::new(ETCD)
            .args(["--name", &format!("m{i}")])
            .arg("--data-dir")
            .arg(dir.join(format!("etcd{i}")))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{p}"),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{p}"),
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                "new",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        members.push(Proc(child));
        urls.push(url);
    }
    for url in &urls {
        wait_for("etcd member to answer", Duration::from_secs(30), || {
            etcdctl(url, &["endpoint", "health"]).is_some()
        });
    }
    (members, urls)
}

fn etcdctl(url: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={url}"))
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Console → owning node, as etcd has it.
fn owners(url: &str) -> BTreeMap<String, String> {
    let text = etcdctl(url, &["get", "--prefix", "/it/owners/"]).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| {
            (
                c[0].trim_start_matches("/it/owners/").to_string(),
                c[1].to_string(),
            )
        })
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// The devices: per console, its open connections; a second live connection at
/// any accept is recorded as a violation.
#[derive(Default)]
struct Devices {
    conns: Mutex<HashMap<String, Vec<UnixStream>>>,
    violations: Mutex<Vec<String>>,
}

fn open(v: &mut Vec<UnixStream>) -> usize {
    let mut buf = [0u8; 4096];
    v.retain(|s| {
        loop {
            match s.try_read(&mut buf) {
                Ok(0) => return false,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    });
    v.len()
}

impl Devices {
    fn listen(self: &Arc<Self>, rt: &tokio::runtime::Runtime, name: String, path: &Path) {
        let l = rt.block_on(async { UnixListener::bind(path).unwrap() });
        let me = self.clone();
        rt.spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                let mut all = me.conns.lock().unwrap();
                let v = all.entry(name.clone()).or_default();
                if open(v) > 0 {
                    me.violations
                        .lock()
                        .unwrap()
                        .push(format!("{name}: a second connection"));
                }
                v.push(s);
            }
        });
    }

    /// Consoles with exactly one live connection.
    fn connected_once(&self) -> usize {
        let mut all = self.conns.lock().unwrap();
        all.values_mut().map(open).filter(|n| *n == 1).count()
    }
}

fn node(dir: &Path, conf_text: &str, name: &str, etcd: &str) -> Proc {
    node_with(dir, conf_text, name, etcd, &[])
}

fn node_with(dir: &Path, conf_text: &str, name: &str, etcd: &str, extra: &[&str]) -> Proc {
    // One configuration file per process (the file lock is per daemon), same text.
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, conf_text).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Proc(
        Command::new(BIN)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .args(["--node", name, "--cluster", etcd])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// The runtime the test's devices run on (one worker beside the daemons).
fn device_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Whether Debian's etcd is here; under CI its absence is a failure, not a skip.
fn have_etcd() -> bool {
    if Path::new(ETCD).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "etcd missing under CI (run scripts/install-peers.sh)"
    );
    eprintln!("SKIPPED: etcd not installed");
    false
}

/// The shared config of the unix-socket tests: one console per name, each on a
/// socket in `dir` that `devices` serves.
fn unix_cluster_conf(
    dir: &Path,
    rt: &tokio::runtime::Runtime,
    devices: &Arc<Devices>,
    names: &[String],
) -> String {
    let mut conf = format!("server port=0 clusterprefix=\"/it\" clusterttl={TTL}\n");
    for n in names {
        let path: PathBuf = dir.join(format!("{n}.sock"));
        devices.listen(rt, n.clone(), &path);
        conf.push_str(&format!(
            "console name=\"{n}\" dev=\"unix:{}\" log=\"\"\n",
            path.display()
        ));
    }
    conf
}

#[test]
fn three_nodes_own_each_console_once_and_fail_over_within_the_ttl() {
    if !have_etcd() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rt = device_runtime();
    let (_etcd, url) = start_etcd(dir);
    let devices = Arc::new(Devices::default());
    let names: Vec<String> = (0..CONSOLES).map(|i| format!("c{i:02}")).collect();
    let conf = unix_cluster_conf(dir, &rt, &devices, &names);
    let expect = |nodes: &[&str]| -> BTreeMap<String, String> {
        names
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    conmand_core::cluster::owner(c, nodes).unwrap().to_string(),
                )
            })
            .collect()
    };
    let settle = Duration::from_secs(TTL + 20);

    // Two nodes: every console owned as placed, and connected exactly once.
    let _a = node(dir, &conf, "a", &url);
    let mut b = node(dir, &conf, "b", &url);
    wait_for("two nodes placing everything", settle, || {
        owners(&url) == expect(&["a", "b"]) && devices.connected_once() == CONSOLES
    });

    // --cluster-status shows the nodes and every owner.
    let out = Command::new(BIN)
        .args(["--cluster-status", "--json", "--cluster", &url, "-c"])
        .arg(dir.join("a.conf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{doc}");
    let total: u64 = nodes.iter().map(|n| n["consoles"].as_u64().unwrap()).sum();
    assert_eq!(total, CONSOLES as u64);
    assert!(
        nodes
            .iter()
            .all(|n| n["lease_ttl_left"].as_i64().unwrap() > 0)
    );
    assert_eq!(doc["owners"].as_object().unwrap().len(), CONSOLES);
    assert!(doc["unowned"].as_array().unwrap().is_empty());

    // A third joins: it takes exactly its rendezvous share, nothing else moves.
    let before = owners(&url);
    let _c = node(dir, &conf, "c", &url);
    wait_for("the newcomer's share", settle, || {
        owners(&url) == expect(&["a", "b", "c"]) && devices.connected_once() == CONSOLES
    });
    let after = owners(&url);
    let moved: Vec<&String> = names.iter().filter(|c| before[*c] != after[*c]).collect();
    assert!(
        moved.iter().all(|c| after[*c] == "c"),
        "only to the newcomer"
    );
    assert!(
        moved.len() > CONSOLES / 6 && moved.len() < CONSOLES / 2,
        "about a third moved: {}",
        moved.len()
    );

    // b dies without a word: its consoles are back, elsewhere, within TTL + 5 s.
    let of_b = after.values().filter(|n| *n == "b").count();
    assert!(of_b > 0);
    let pid = rustix::process::Pid::from_child(&b.0);
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let _ = b.0.wait();
    let took = wait_for(
        "b's consoles elsewhere",
        Duration::from_secs(TTL + 5),
        || owners(&url) == expect(&["a", "c"]) && devices.connected_once() == CONSOLES,
    );
    eprintln!("failover of {of_b} consoles took {took:?} (TTL {TTL}s)");
    let v = devices.violations.lock().unwrap().clone();
    assert!(v.is_empty(), "{v:?}");
    drop(rt);
}

/// The stock 0.2.7 client asks any node: `-q` lists the whole cluster, and a
/// console another node owns is attached, typed into and closed as if direct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_client_reaches_any_console_through_any_node() {
    let Some(conman) = common::pty::peer("/usr/bin/conman") else {
        return;
    };
    if !have_etcd() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (_etcd, url) = start_etcd(&dir);
    let names: Vec<String> = (0..8).map(|i| format!("echo{i}")).collect();
    let mut conf = format!("server clusterprefix=\"/it\" clusterttl={TTL}\n");
    for n in &names {
        conf.push_str(&format!("console name=\"{n}\" dev=\"/bin/cat\" log=\"\"\n"));
    }
    let (pa, pb) = (free_port(), free_port());
    let _a = node_with(
        &dir,
        &conf,
        "a",
        &url,
        &[
            "-p",
            &pa.to_string(),
            "--advertise",
            &format!("127.0.0.1:{pa}"),
        ],
    );
    let b = node_with(
        &dir,
        &conf,
        "b",
        &url,
        &[
            "-p",
            &pb.to_string(),
            "--advertise",
            &format!("127.0.0.1:{pb}"),
        ],
    );
    let expect: BTreeMap<String, String> = names
        .iter()
        .map(|c| {
            (
                c.clone(),
                conmand_core::cluster::owner(c, &["a", "b"])
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let u = url.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("placement", Duration::from_secs(TTL + 20), || {
            owners(&u) == expect
        })
    })
    .await
    .unwrap();
    let on_b = names
        .iter()
        .find(|c| conmand_core::cluster::owner(c, &["a", "b"]) == Some("b"))
        .expect("b owns one of eight")
        .clone();
    let via_a = format!("127.0.0.1:{pa}");
    // a learns of b's consoles through its etcd watch, a moment after etcd has
    // them: wait until a routes a (read-only) request for b's console.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_r, rsp) = common::Raw::open(
            format!("127.0.0.1:{pa}").parse().unwrap(),
            "probe",
            None,
            &format!("MONITOR CONSOLE='{on_b}'"),
        )
        .await;
        if rsp.starts_with("OK") {
            break;
        }
        assert!(Instant::now() < deadline, "a never routed [{on_b}]: {rsp}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // -q through a lists every console, b's included.
    let out = tokio::process::Command::new(&conman)
        .args(["-d", &via_a, "-q"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        names.join("\n") + "\n"
    );
    // A session to b's console through a: typed text comes back from b's cat.
    let mut c = common::pty::PtyProc::spawn(&conman, &["-d", &via_a, &on_b]);
    c.expect(format!("<ConMan> Connection to console [{on_b}] opened.").as_bytes())
        .await;
    c.send(b"through-a-to-b\r").await;
    c.expect(b"through-a-to-b").await;
    // The owner sees the user (not the relaying node) as the writer.
    let mut busy = common::pty::PtyProc::spawn(&conman, &["-d", &format!("127.0.0.1:{pb}"), &on_b]);
    busy.expect(b"ERROR: Found console already in use.").await;
    let (_, code) = busy.finish().await;
    assert_eq!(code, 2);
    c.send(b"&.").await;
    c.expect(format!("<ConMan> Connection to console [{on_b}] closed.").as_bytes())
        .await;
    let (_, code) = c.finish().await;
    assert_eq!(code, 0);
    // A client of b's console on b itself is told when b hands it over (SIGTERM),
    // then a owns it.
    let (mut direct, rsp) = common::Raw::open(
        format!("127.0.0.1:{pb}").parse().unwrap(),
        "watcher",
        None,
        &format!("MONITOR CONSOLE='{on_b}'"),
    )
    .await;
    assert!(rsp.starts_with("OK"), "{rsp}");
    let pid = rustix::process::Pid::from_child(&b.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    direct
        .expect(format!("Console [{on_b}] moved to another node").as_bytes())
        .await;
    let u = url.clone();
    let c2 = on_b.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("a takes b's console", Duration::from_secs(TTL + 20), || {
            owners(&u).get(&c2).map(String::as_str) == Some("a")
        })
    })
    .await
    .unwrap();
}

/// A 3-member etcd loses the member the nodes talk to: they move to another
/// member, keep their leases, and nothing moves or disconnects.
#[test]
fn losing_an_etcd_member_moves_nothing() {
    if !have_etcd() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rt = device_runtime();
    let (mut members, urls) = start_etcd3(dir);
    let all = urls.join(",");
    let devices = Arc::new(Devices::default());
    let names: Vec<String> = (0..30).map(|i| format!("d{i:02}")).collect();
    let conf = unix_cluster_conf(dir, &rt, &devices, &names);
    // The first endpoint is the one each node talks to until it fails.
    let _a = node(dir, &conf, "a", &all);
    let _b = node(dir, &conf, "b", &all);
    let want: BTreeMap<String, String> = names
        .iter()
        .map(|c| {
            (
                c.clone(),
                conmand_core::cluster::owner(c, &["a", "b"])
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    wait_for("placement", Duration::from_secs(TTL + 20), || {
        owners(&urls[1]) == want && devices.connected_once() == names.len()
    });
    let first = members.remove(0);
    drop(first); // SIGKILL, reaped
    // Three lease lifetimes later: the same owners, every console still connected
    // once, at every sample.
    let until = Instant::now() + Duration::from_secs(3 * TTL);
    while Instant::now() < until {
        assert_eq!(owners(&urls[1]), want, "ownership moved");
        assert_eq!(
            devices.connected_once(),
            names.len(),
            "a console was dropped"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let v = devices.violations.lock().unwrap().clone();
    assert!(v.is_empty(), "{v:?}");
    drop(rt);
}
