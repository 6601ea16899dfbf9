//! Issue 12, "Files": what the daemon creates and hands to its children. Symbolic
//! links at log, pidfile and daemon-log names are refused (never followed), `-z`
//! truncates, a daemonized conmand's children get umask 022, and a process console's
//! program inherits no pty descriptor but its own terminal on 0, 1 and 2.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::*;
use conmand_core::config::{LogOpts, ServerOpts};

const BIN: &str = env!("CARGO_BIN_EXE_conmand");

/// Collects a child's stderr in the background, so a test can wait for a line.
struct Stderr(Arc<Mutex<String>>);

#[allow(clippy::unwrap_used)]
impl Stderr {
    fn capture(child: &mut Child) -> Stderr {
        let text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&text);
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut t = sink.lock().unwrap();
                t.push_str(&line);
                t.push('\n');
            }
        });
        Stderr(text)
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: &str) {
        eventually(what, || self.text().contains(what)).await;
    }
}

#[allow(clippy::unwrap_used)]
fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

/// Plants `link` → `dir/precious` (which holds a line that must survive).
#[allow(clippy::unwrap_used)]
fn plant_link(dir: &Path, link: &Path) -> PathBuf {
    let target = dir.join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, link).unwrap();
    target
}

/// The link is still a link and its target was neither written nor truncated.
#[allow(clippy::unwrap_used)]
fn assert_not_followed(link: &Path, target: &Path) {
    assert_eq!(std::fs::read_to_string(target).unwrap(), "keep me\n");
    let meta = std::fs::symlink_metadata(link).unwrap();
    assert!(meta.file_type().is_symlink(), "{}", link.display());
}

/// A console log name that is a symbolic link is refused and the daemon log says
/// why; the link's target is untouched. `-z` empties an existing log.
#[tokio::test]
async fn console_log_symlink_is_refused_and_z_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let target = plant_link(d, &d.join("linked.log"));
    std::fs::write(d.join("plain.log"), "old content\n").unwrap();
    let conf = d.join("conman.conf");
    std::fs::write(
        &conf,
        format!(
            "server logdir=\"{}\"\nserver port=0\nglobal log=\"%N.log\"\n\
             console name=\"linked\" dev=\"/bin/cat\"\n\
             console name=\"plain\" dev=\"/bin/cat\"\n",
            d.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["-F", "-z", "-c"])
        .arg(&conf)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Stderr::capture(&mut child);
    stderr
        .wait_for(&format!(
            "WARNING:   Unable to open logfile \"{}\": Is a symbolic link (not followed)",
            d.join("linked.log").display()
        ))
        .await;
    eventually("the plain log's header", || {
        std::fs::read_to_string(d.join("plain.log"))
            .unwrap_or_default()
            .contains("<ConMan> Console [plain] log opened at ")
    })
    .await;
    sigterm(&child);
    assert!(child.wait().unwrap().success(), "{}", stderr.text());
    let plain = std::fs::read_to_string(d.join("plain.log")).unwrap();
    assert!(
        plain.starts_with("\r\n<ConMan> Console [plain] log opened at "),
        "{plain:?}"
    );
    assert!(!plain.contains("old content"), "-z truncates: {plain:?}");
    assert_not_followed(&d.join("linked.log"), &target);
}

/// A pidfile name that is a symbolic link is refused (fatal, as any pidfile error
/// in conmand), neither followed nor removed.
#[tokio::test]
async fn pidfile_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pidfile = d.join("conmand.pid");
    let target = plant_link(d, &pidfile);
    let conf = d.join("conman.conf");
    std::fs::write(
        &conf,
        "server port=0\nconsole name=\"c\" dev=\"/bin/cat\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["-F", "-c"])
        .arg(&conf)
        .arg("-P")
        .arg(&pidfile)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "Unable to open pidfile \"{}\": Is a symbolic link (not followed)",
            pidfile.display()
        )),
        "{err}"
    );
    assert_not_followed(&pidfile, &target);
}

/// Daemonized: a daemon-log name that is a symbolic link is refused with a warning
/// to the invoking shell, and a process console's program runs with umask 022 (a
/// file it creates is 0644, not ConMan's 0666).
#[tokio::test]
async fn daemonized_children_get_umask_022_and_daemon_log_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let daemon_log = d.join("daemon.log");
    let target = plant_link(d, &daemon_log);
    let made = d.join("made-by-console");
    let conf = d.join("conman.conf");
    std::fs::write(
        &conf,
        format!(
            "server logdir=\"{}\"\nserver logfile=\"daemon.log\"\nserver port=0\n\
             console name=\"c\" dev=\"/bin/sh -c '>{}; exec /bin/cat'\"\n",
            d.display(),
            made.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN).arg("-c").arg(&conf).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "WARNING:   Unable to open daemon logfile \"{}\": Is a symbolic link (not followed)",
            daemon_log.display()
        )),
        "{err}"
    );
    eventually("the file the console's program creates", || made.exists()).await;
    let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
    let k = Command::new(BIN)
        .arg("-k")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
    assert_eq!(mode, 0o644, "created under umask 022: {mode:o}");
    assert_not_followed(&daemon_log, &target);
}

/// The program of a process console holds its terminal on 0, 1 and 2 and no other
/// pty descriptor: neither the master (the daemon's end, close-on-exec from the
/// moment it is opened) nor a stray copy of the terminal.
#[tokio::test]
async fn process_console_program_inherits_no_pty_descriptor() {
    let script = "read go; /bin/ls -l /proc/$$/fd; echo END-OF-FDS; exec /bin/cat";
    let srv = TestServer::start(
        vec![process_console(
            "p",
            &["/bin/sh", "-c", script],
            None,
            LogOpts::default(),
        )],
        ServerOpts::default(),
    )
    .await;
    srv.wait_up(&["p"]).await;
    let (mut c, rsp) = Raw::open(srv.addr, "u", None, "CONNECT CONSOLE='p'").await;
    assert!(rsp.starts_with("OK"), "{rsp}");
    c.send(b"go\n").await;
    let out = c.expect(b"END-OF-FDS").await;
    let text = String::from_utf8_lossy(&out);
    let targets: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.rsplit(' ').next()?.to_owned();
            Some((fd, target.trim().to_owned()))
        })
        .collect();
    let ptys: Vec<&(String, String)> = targets
        .iter()
        .filter(|(_, t)| t.starts_with("/dev/pts/") || t.contains("ptmx"))
        .collect();
    let fds: Vec<&str> = ptys.iter().map(|(fd, _)| fd.as_str()).collect();
    assert_eq!(fds, ["0", "1", "2"], "{text}");
    srv.stop().await;
}
