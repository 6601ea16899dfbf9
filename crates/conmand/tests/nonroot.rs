//! The daemon as an unprivileged user (ConMan #36), the way
//! `dist/systemd/nonroot.conf` runs it: `nobody` with the `dialout` group only,
//! started through util-linux's `setpriv` (what systemd's `User=` and
//! `SupplementaryGroups=` amount to). It reads a serial console (a socat pty owned
//! `root:dialout`, mode 0660, like /dev/ttyS*), writes the console log and the
//! audit log as that user, and makes the SSH host key (mode 0600) in its state
//! directory. Needs root to switch users; skipped otherwise.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_conmand");
const WAIT: Duration = Duration::from_secs(20);
const NOBODY: u32 = 65534;

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
}

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.0.wait();
    }
}

#[test]
fn the_daemon_runs_as_an_unprivileged_user_with_the_dialout_group() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: switching to an unprivileged user needs root");
        return;
    }
    let (setpriv, socat) = (Path::new("/usr/bin/setpriv"), Path::new("/usr/bin/socat"));
    if !setpriv.exists() || !socat.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "setpriv or socat missing under CI"
        );
        eprintln!("SKIPPED: setpriv or socat not installed");
        return;
    }
    let dialout = nix::unistd::Group::from_name("dialout")
        .unwrap()
        .expect("a dialout group")
        .gid
        .as_raw();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (state, logs, users) = (dir.join("state"), dir.join("log"), dir.join("users"));
    for d in [&state, &logs, &users] {
        std::fs::create_dir(d).unwrap();
    }
    // As systemd's StateDirectory= and LogsDirectory= hand them over.
    chown(&state, NOBODY, NOBODY);
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    chown(&logs, NOBODY, NOBODY);

    // The serial line: root:dialout 0660, as udev makes /dev/ttyS*.
    let (dev, far) = (dir.join("ttyS9"), dir.join("far"));
    let _socat = Kill(
        Command::new(socat)
            .arg(format!(
                "pty,raw,echo=0,link={},user=root,group=dialout,mode=660",
                dev.display()
            ))
            .arg(format!("pty,raw,echo=0,link={}", far.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("socat's pty links", || dev.exists() && far.exists());
    let meta = std::fs::metadata(&dev).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (0, dialout, 0o660)
    );

    let ssh_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join("conman.conf");
    std::fs::write(
        &conf,
        format!(
            "server port=0 logdir=\"{logs}\"\n\
             server sshport={ssh_port} sshhostkey=\"{state}/hostkey\" sshusers=\"{users}\"\n\
             server auditlog=\"{logs}/audit.jsonl\"\n\
             console name=\"ser\" dev=\"{dev}\" seropts=\"115200\" log=\"ser.log\"\n",
            logs = logs.display(),
            state = state.display(),
            users = users.display(),
            dev = dev.display(),
        ),
    )
    .unwrap();
    let mut daemon = Kill(
        Command::new(setpriv)
            .args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                &format!("--groups={dialout}"),
                "--",
                BIN,
                "-F",
                "-c",
            ])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = daemon.0.id();
    // Its log on stderr says where it listens.
    let mut stderr = BufReader::new(daemon.0.stderr.take().unwrap());
    let (mut port, mut ssh) = (None, false);
    let mut seen = String::new();
    while port.is_none() || !ssh {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "conmand ended: {seen}"
        );
        if let Some(p) = line.trim_end().rsplit_once("Listening on TCP port ") {
            port = Some(p.1.parse::<u16>().unwrap());
        }
        ssh |= line.contains("Listening for SSH on");
        seen.push_str(&line);
    }
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65534"; 4],
        "{uid_line}"
    );

    // The serial console is read and logged, by nobody.
    let mut far_end = std::fs::OpenOptions::new().write(true).open(&far).unwrap();
    let log = logs.join("ser.log");
    wait_for("the console log", || {
        far_end.write_all(b"hello-from-the-far-end\r\n").unwrap();
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("hello-from-the-far-end"))
    });
    assert_eq!(std::fs::metadata(&log).unwrap().uid(), NOBODY);

    // The SSH host key was made, by nobody, private; SSH answers.
    let key = std::fs::metadata(state.join("hostkey")).unwrap();
    assert_eq!((key.uid(), key.mode() & 0o777), (NOBODY, 0o600));
    let mut s = TcpStream::connect(("127.0.0.1", ssh_port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut banner = [0u8; 16];
    s.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"SSH-2.0-conmand_");

    // A native client attaches: the audit log is written, by nobody, 0600.
    let mut c = TcpStream::connect(("127.0.0.1", port.unwrap())).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"HELLO USER='operator'\nCONNECT CONSOLE='ser'\n")
        .unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    for _ in 0..2 {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        assert!(l.starts_with("OK"), "{l}");
    }
    let audit = logs.join("audit.jsonl");
    wait_for("the audit record", || {
        std::fs::read_to_string(&audit).is_ok_and(|t| t.contains("\"user\":\"operator\""))
    });
    let a = std::fs::metadata(&audit).unwrap();
    assert_eq!((a.uid(), a.mode() & 0o777), (NOBODY, 0o600));
    drop(c);
    drop(daemon);
}
