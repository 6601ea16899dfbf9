//! Packaging and operations (issue 8): the Debian package and `install.sh` layout,
//! the systemd units, the man pages and completions (option coverage), the shard
//! launcher, `Type=notify` readiness, and `ipmitool.exp` run as a process console of
//! our daemon against a simulated BMC (`ipmi_sim`) with its password taken from a
//! `conman.pswd` file.
//!
//! Tools that are not ours (dpkg-deb, systemd-analyze, man, expect, ipmi_sim,
//! ipmitool, python3, bash-completion) go through [`peer`]: missing means "skipped"
//! unless `CI=true`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use clap::CommandFactory;
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_conmand");

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A third-party program, or `None` (after saying so) when it is missing; with
/// `CI=true` a missing program fails the test.
fn peer(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "peer program {name} is missing (CI=true)"
        );
        eprintln!("SKIPPED: peer program {name} is not installed");
    }
    found
}

/// A file a test needs from the system (same skip rule as [`peer`]).
fn peer_file(path: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(path.into());
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{path} is missing (CI=true)"
    );
    eprintln!("SKIPPED: {path} is not installed");
    None
}

/// The directory holding both built binaries (`conmand` and `conman`): the client
/// is another crate's binary, built by `cargo test --workspace`.
fn bin_dir() -> Option<PathBuf> {
    let dir = Path::new(BIN).parent().unwrap().to_path_buf();
    if dir.join("conman").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "no built conman client next to {BIN} (CI=true)"
    );
    eprintln!("SKIPPED: no built conman client next to {BIN} (run cargo test --workspace)");
    None
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Stops (by PID) and reaps a child this test started, even when the test panics:
/// SIGTERM first, so a daemon ends its own children, then SIGKILL after [`WAIT`].
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_ok() {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let waiter = std::thread::spawn(move || {
                // Waits for the exit status without reaping (Child::wait does that).
                let _ = nix::sys::wait::waitid(
                    nix::sys::wait::Id::Pid(pid),
                    nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT,
                );
                let _ = tx.send(());
            });
            if rx.recv_timeout(WAIT).is_err() {
                let _ = self.0.kill();
            }
            let _ = waiter.join();
        }
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------------- Debian package --

/// Every path the package must contain (`dpkg-deb -c` prints them as `./path`).
const DEB_FILES: &[&str] = &[
    "usr/sbin/conmand",
    "usr/bin/conman",
    "usr/sbin/conman-shard",
    "etc/conman.conf",
    "etc/conman/alerts.rules",
    "etc/logrotate.d/conman",
    "usr/share/conman/exec/ipmitool.exp",
    "usr/share/conman/exec/ipmiconsole.exp",
    "usr/share/conman/exec/ssh.exp",
    "usr/share/man/man1/conman.1.gz",
    "usr/share/man/man5/conman.conf.5.gz",
    "usr/share/man/man5/conman.pswd.5.gz",
    "usr/share/man/man8/conmand.8.gz",
    "usr/share/man/man8/conman-shard.8.gz",
    "lib/systemd/system/conmand.service",
    "lib/systemd/system/conmand@.service",
    "usr/share/bash-completion/completions/conman",
    "usr/share/bash-completion/completions/conmand",
    "usr/share/zsh/vendor-completions/_conman",
    "usr/share/zsh/vendor-completions/_conmand",
    "usr/share/fish/vendor_completions.d/conman.fish",
    "usr/share/fish/vendor_completions.d/conmand.fish",
    "usr/share/doc/conman-rs/copyright",
    "usr/share/doc/conman-rs/security.md",
    "usr/share/doc/conman-rs/examples/conmand-nonroot.conf",
    // The shipped conman.conf's coredumpdir and logdir.
    "var/lib/conman/",
    "var/log/conman/",
];

#[test]
fn deb_package_layout_control_and_contents() {
    let (Some(dpkg_deb), Some(bins)) = (peer("dpkg-deb"), bin_dir()) else {
        return;
    };
    let out_dir = tempfile::tempdir().unwrap();
    let built = run(Command::new("bash")
        .arg(repo().join("scripts/build-deb.sh"))
        .env("CONMAN_BIN_DIR", &bins)
        .env("CONMAN_DEB_OUT", out_dir.path()));
    let deb = PathBuf::from(text(&built.stdout).lines().last().unwrap());
    assert!(deb.starts_with(out_dir.path()) && deb.is_file(), "{deb:?}");
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("conman-rs_{}-1_", env!("CARGO_PKG_VERSION"))));

    let listing = text(&run(Command::new(&dpkg_deb).arg("-c").arg(&deb)).stdout);
    let paths: BTreeSet<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches("./"))
        .collect();
    for f in DEB_FILES {
        assert!(
            paths.contains(f),
            "{f} missing from the package:\n{listing}"
        );
    }
    assert!(
        listing.contains("./usr/lib/conman/exec -> ../../share/conman/exec"),
        "Debian 0.2.7 compatibility link missing:\n{listing}"
    );
    for l in listing.lines() {
        assert!(l.contains("root/root"), "not owned by root: {l}");
        if l.contains("./usr/sbin/conmand") || l.contains("/exec/ipmitool.exp") {
            assert!(l.starts_with("-rwxr-xr-x"), "{l}");
        }
    }

    let info = text(&run(Command::new(&dpkg_deb).arg("-I").arg(&deb)).stdout);
    for field in [
        "Package: conman-rs",
        "Provides: conman",
        "Conflicts: conman",
        "Replaces: conman",
        "Recommends: expect",
    ] {
        assert!(info.contains(field), "{field} not in control:\n{info}");
    }
    let depends = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .unwrap();
    assert!(depends.starts_with("libc6 (>= 2."), "{depends}");

    let ctrl = tempfile::tempdir().unwrap();
    run(Command::new(&dpkg_deb).arg("-e").arg(&deb).arg(ctrl.path()));
    let conffiles = std::fs::read_to_string(ctrl.path().join("conffiles")).unwrap();
    assert_eq!(
        conffiles.lines().collect::<Vec<_>>(),
        [
            "/etc/conman.conf",
            "/etc/conman/alerts.rules",
            "/etc/logrotate.d/conman"
        ]
    );
    let postinst = std::fs::read_to_string(ctrl.path().join("postinst")).unwrap();
    assert!(postinst.contains("systemctl daemon-reload"));
    for script in ["postinst", "prerm", "postrm"] {
        let p = ctrl.path().join(script);
        run(Command::new("sh").arg("-n").arg(&p));
        let mode = std::os::unix::fs::PermissionsExt::mode(&p.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755, "{script}");
    }

    // The contents: the shipped conman.conf is ours, the binaries run, the units
    // name the installed daemon.
    let root = tempfile::tempdir().unwrap();
    run(Command::new(&dpkg_deb).arg("-x").arg(&deb).arg(root.path()));
    assert_eq!(
        std::fs::read(root.path().join("etc/conman.conf")).unwrap(),
        std::fs::read(repo().join("etc/conman.conf")).unwrap()
    );
    let v = run(Command::new(root.path().join("usr/sbin/conmand")).arg("-V"));
    assert_eq!(
        text(&v.stdout).trim(),
        format!("conmand-{}", env!("CARGO_PKG_VERSION"))
    );
    let t = Command::new(root.path().join("usr/sbin/conmand"))
        .args(["-t", "-c"])
        .arg(repo().join("etc/demo.conf"))
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", text(&t.stderr));
    if let Some(dpkg) = peer("dpkg") {
        install_over_conman_in_scratch_root(&dpkg, &dpkg_deb, &deb);
    }
    let unit =
        std::fs::read_to_string(root.path().join("lib/systemd/system/conmand.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/sbin/conmand -F -c /etc/conman.conf"));
    if let Some(man) = peer("man") {
        for page in [
            "usr/share/man/man8/conmand.8.gz",
            "usr/share/man/man5/conman.pswd.5.gz",
        ] {
            let r = man_render(&man, &root.path().join(page));
            assert!(r.contains("conman-rs"), "{page} did not render");
        }
    }
}

/// `dpkg --root` into a scratch directory (maintainer scripts run chroot-less with
/// `DPKG_ROOT` set, so they touch nothing outside it): our package replaces an
/// installed `conman` (Conflicts + Replaces), keeps its edited `/etc/conman.conf`
/// (answering dpkg's conffile question the default way), registers its conffiles,
/// and removes / purges cleanly.
fn install_over_conman_in_scratch_root(dpkg: &Path, dpkg_deb: &Path, deb: &Path) {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(r.join("var/lib/dpkg/updates")).unwrap();
    std::fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    let dpkg_in_root = |args: &[&str], deb: Option<&Path>| {
        let mut c = Command::new(dpkg);
        c.arg(format!("--root={}", r.display()))
            .args([
                "--force-script-chrootless",
                "--force-depends",
                "--force-confold",
            ])
            .args(args);
        if let Some(d) = deb {
            c.arg(d);
        }
        run(&mut c)
    };
    let query = |field: &str, pkg: &str| -> String {
        let out = Command::new("dpkg-query")
            .arg(format!("--admindir={}/var/lib/dpkg", r.display()))
            .args(["-W", &format!("-f=${{{field}}}"), pkg])
            .output()
            .unwrap();
        text(&out.stdout)
    };

    // A stand-in for Debian's conman: its daemon and an edited conman.conf.
    let fake = tempfile::tempdir().unwrap();
    let f = fake.path();
    std::fs::create_dir_all(f.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(f.join("usr/sbin")).unwrap();
    std::fs::create_dir_all(f.join("etc")).unwrap();
    std::fs::write(
        f.join("DEBIAN/control"),
        "Package: conman\nVersion: 0.2.7-1.1\nArchitecture: all\n\
         Maintainer: test <t@example.invalid>\nDescription: stand-in\n",
    )
    .unwrap();
    std::fs::write(f.join("DEBIAN/conffiles"), "/etc/conman.conf\n").unwrap();
    std::fs::write(f.join("usr/sbin/conmand"), "#!/bin/sh\necho old\n").unwrap();
    std::fs::write(f.join("etc/conman.conf"), "# shipped by conman\n").unwrap();
    let fake_deb = fake.path().with_extension("deb");
    run(Command::new(dpkg_deb)
        .args(["--root-owner-group", "--build"])
        .arg(f)
        .arg(&fake_deb));
    dpkg_in_root(&["-i"], Some(&fake_deb));
    let edited = "# the operator's own\nconsole name=\"n1\" dev=\"test:\"\n";
    std::fs::write(r.join("etc/conman.conf"), edited).unwrap();

    let out = dpkg_in_root(&["-i"], Some(deb));
    let log = text(&out.stdout);
    assert!(log.contains("Removing conman"), "{log}");
    assert_eq!(query("Status", "conman-rs"), "install ok installed");
    assert!(
        query("Status", "conman").ends_with("config-files")
            || query("Status", "conman").contains("not-installed"),
        "{}",
        query("Status", "conman")
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/conman.conf")).unwrap(),
        edited
    );
    assert!(r.join("etc/conman.conf.dpkg-dist").exists());
    let v = run(Command::new(r.join("usr/sbin/conmand")).arg("-V"));
    assert!(text(&v.stdout).starts_with("conmand-"));
    let conffiles = query("Conffiles", "conman-rs");
    assert!(
        conffiles.contains("/etc/conman.conf ") && conffiles.contains("/etc/logrotate.d/conman "),
        "{conffiles}"
    );
    assert!(r.join("var/log/conman").is_dir() && r.join("var/lib/conman").is_dir());

    // Remove keeps the configuration, purge deletes it.
    dpkg_in_root(&["-r", "conman-rs"], None);
    assert!(!r.join("usr/sbin/conmand").exists());
    assert!(r.join("etc/conman.conf").exists());
    dpkg_in_root(&["-P", "conman-rs"], None);
    assert!(!r.join("etc/logrotate.d/conman").exists());
}

#[test]
fn install_sh_honours_destdir_and_prefix_and_keeps_an_edited_config() {
    let Some(bins) = bin_dir() else {
        return;
    };
    let dest = tempfile::tempdir().unwrap();
    let install = || {
        run(Command::new("bash")
            .arg(repo().join("scripts/install.sh"))
            .env("CONMAN_BIN_DIR", &bins)
            .env("DESTDIR", dest.path())
            .env("PREFIX", "/opt/cr"))
    };
    install();
    let d = dest.path();
    for f in [
        "opt/cr/sbin/conmand",
        "opt/cr/bin/conman",
        "opt/cr/share/conman/exec/ipmitool.exp",
        "opt/cr/share/man/man8/conmand.8.gz",
        "opt/cr/share/bash-completion/completions/conman",
        "etc/conman.conf",
        "etc/logrotate.d/conman",
        "etc/systemd/system/conmand.service",
    ] {
        assert!(d.join(f).exists(), "{f} not installed");
    }
    // Paths inside the shipped files follow PREFIX.
    let unit = std::fs::read_to_string(d.join("etc/systemd/system/conmand.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/opt/cr/sbin/conmand -F -c /etc/conman.conf"),
        "{unit}"
    );
    let conf = std::fs::read_to_string(d.join("etc/conman.conf")).unwrap();
    assert!(conf.contains("execpath=\"/etc/conman/exec:/opt/cr/share/conman/exec\""));
    // A second install keeps the operator's file and puts the new one beside it.
    std::fs::write(
        d.join("etc/conman.conf"),
        "console name=\"mine\" dev=\"test:\"\n",
    )
    .unwrap();
    let again = install();
    assert!(text(&again.stdout).contains("conman.conf.new"));
    assert_eq!(
        std::fs::read_to_string(d.join("etc/conman.conf")).unwrap(),
        "console name=\"mine\" dev=\"test:\"\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("etc/conman.conf.new")).unwrap(),
        conf
    );
}

// ------------------------------------------------------------------- systemd --

#[test]
fn systemd_units_verify_and_keep_devices_reachable() {
    let dir = repo().join("dist/systemd");
    let service = std::fs::read_to_string(dir.join("conmand.service")).unwrap();
    let template = std::fs::read_to_string(dir.join("conmand@.service")).unwrap();
    let settings = |unit: &str| -> Vec<String> {
        unit.lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .map(str::to_owned)
            .collect()
    };
    for (unit, exec) in [
        (
            &service,
            "ExecStart=/usr/sbin/conmand -F -c /etc/conman.conf",
        ),
        (
            &template,
            "ExecStart=/usr/sbin/conmand -F -c /etc/conman/%i.conf -P /run/conmand-%i.pid",
        ),
    ] {
        let s = settings(unit);
        for want in [
            "Type=notify",
            exec,
            "ExecReload=/bin/kill -HUP $MAINPID",
            "LimitNOFILE=1048576",
            "Restart=on-failure",
            "ProtectSystem=full",
            "ProtectHome=read-only",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
        ] {
            assert!(s.iter().any(|l| l == want), "{want} missing");
        }
        for banned in [
            "PrivateDevices",
            "ProtectKernelTunables",
            "DeviceAllow",
            "DevicePolicy",
            "ProtectClock",
        ] {
            assert!(
                !s.iter().any(|l| l.starts_with(banned)),
                "{banned} would break serial devices or reset commands"
            );
        }
    }

    let Some(analyze) = peer("systemd-analyze") else {
        return;
    };
    // Verify copies whose ExecStart names the daemon we just built (verify checks
    // that the program exists; the installed path may not on a build machine).
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    // The non-root drop-in, verified as the unit systemd would merge.
    let nonroot = std::fs::read_to_string(dir.join("nonroot.conf")).unwrap();
    for want in ["User=conman", "Group=conman", "SupplementaryGroups=dialout"] {
        assert!(
            settings(&nonroot).iter().any(|l| l == want),
            "{want} missing"
        );
    }
    let merged = format!("{service}\n{nonroot}");
    for (name, unit) in [
        ("conmand.service", &service),
        ("conmand@.service", &template),
        ("conmand-nonroot.service", &merged),
    ] {
        let p = tmp.path().join(name);
        std::fs::write(&p, unit.replace("/usr/sbin/conmand", BIN)).unwrap();
        files.push(p);
    }
    let out = Command::new(&analyze)
        .args(["verify", "--man=no"])
        .args(&files)
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    if !out.status.success() && all.contains("Failed to initialize") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "systemd-analyze cannot run here: {all}"
        );
        eprintln!("SKIPPED: systemd-analyze cannot run in this container: {all}");
        return;
    }
    assert!(out.status.success() && all.trim().is_empty(), "{all}");
}

#[test]
fn daemon_sends_ready_reloading_and_stopping_to_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let conf = dir.path().join("c.conf");
    std::fs::write(
        &conf,
        "server port=0\nserver loopback=on\nconsole name=\"t1\" dev=\"test:\" log=\"\"\n",
    )
    .unwrap();
    // No -F: with NOTIFY_SOCKET set the daemon must stay in the foreground itself.
    let mut child = Reap(
        Command::new(BIN)
            .arg("-c")
            .arg(&conf)
            .env("NOTIFY_SOCKET", &sock_path)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = nix::unistd::Pid::from_raw(child.0.id() as i32);
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = sock.recv(&mut buf).expect("no notify message in time");
        text(&buf[..n])
    };
    let first = next();
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    // The process we started is the daemon: it did not fork away and exit.
    assert!(child.0.try_wait().unwrap().is_none(), "the daemon forked");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let reload = next();
    assert!(reload.lines().any(|l| l == "RELOADING=1"), "{reload:?}");
    let ready = next();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let stop = next();
    assert!(stop.lines().any(|l| l == "STOPPING=1"), "{stop:?}");
}

// --------------------------------------------------- man pages, completions --

/// `man -l` of a page; panics on any warning.
fn man_render(man: &Path, page: &Path) -> String {
    let out = Command::new(man)
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env_remove("MAN_KEEP_FORMATTING")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(out.status.success(), "man -l {page:?} failed");
    assert_eq!(text(&out.stderr), "", "man -l {page:?} printed warnings");
    text(&out.stdout)
}

const MAN_PAGES: &[&str] = &[
    "conman.1",
    "conman.conf.5",
    "conman.pswd.5",
    "conmand.8",
    "conman-shard.8",
];

#[test]
fn man_pages_render_without_warnings() {
    let Some(man) = peer("man") else {
        return;
    };
    let mut found: Vec<String> = std::fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = MAN_PAGES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want);
    for page in MAN_PAGES {
        let out = man_render(&man, &repo().join("man").join(page));
        let title = page.rsplit_once('.').unwrap().0.to_uppercase();
        assert!(
            out.starts_with(&title),
            "{page}: {}",
            &out[..40.min(out.len())]
        );
        assert!(out.contains("SEE ALSO"), "{page}: {out}");
    }
}

/// `\-x` / `\-\-long` as written in roff.
fn roff_opt(opt: &str) -> String {
    opt.replace('-', "\\-")
}

/// Every option of the built `conmand` (from clap) and of the client (from its
/// `-h` text) is documented in the man page and offered by every completion.
#[test]
fn every_option_is_in_the_man_pages_and_completions() {
    let read = |p: &str| std::fs::read_to_string(repo().join(p)).unwrap();
    let mut cmd = conmand::cli::Cli::command();
    cmd.build();
    let mut daemon_opts = Vec::new();
    for arg in cmd.get_arguments() {
        if let Some(s) = arg.get_short() {
            daemon_opts.push(format!("-{s}"));
        }
        if let Some(l) = arg.get_long() {
            daemon_opts.push(format!("--{l}"));
        }
    }
    for o in [
        "-c", "-F", "-k", "-p", "-P", "-q", "-r", "-z", "-t", "--pswd",
    ] {
        assert!(daemon_opts.iter().any(|d| d == o), "clap lost {o}");
    }
    let page = read("man/conmand.8");
    let bash = read("dist/completions/conmand.bash");
    let zsh = read("dist/completions/_conmand");
    let fish = read("dist/completions/conmand.fish");
    for o in &daemon_opts {
        let r = roff_opt(o);
        assert!(
            page.contains(&format!(".B {r}"))
                || page.contains(&format!(".BI {r} "))
                || page.contains(&format!(".BR {r} "))
                || page.contains(&format!(", \" {r}")),
            "conmand.8 does not document {o}"
        );
        assert!(
            bash.split_whitespace()
                .any(|w| w.trim_matches(|c| c == '\'' || c == '|' || c == ')') == o),
            "bash completion lacks {o}"
        );
        assert!(
            zsh.contains(&format!("{o}["))
                || zsh.contains(&format!("{o},"))
                || zsh.contains(&format!(",{o}}}")),
            "zsh completion lacks {o}"
        );
        let fish_opt = match o.strip_prefix("--") {
            Some(l) => format!("-l {l}"),
            None => format!("-s {}", &o[1..]),
        };
        assert!(fish.contains(&fish_opt), "fish completion lacks {o}");
    }

    // The client's options, as its own help lists them.
    let letters: Vec<char> = "bdefFhjlLmqQrvV".chars().collect();
    if let Some(bins) = bin_dir() {
        let help = text(&run(Command::new(bins.join("conman")).arg("-h")).stdout);
        let listed: Vec<char> = help
            .lines()
            .filter_map(|l| l.strip_prefix("  -"))
            .filter_map(|l| l.chars().next())
            .collect();
        assert_eq!(listed, letters, "conman -h lists other options");
    }
    let page = read("man/conman.1");
    let bash = read("dist/completions/conman.bash");
    let zsh = read("dist/completions/_conman");
    let fish = read("dist/completions/conman.fish");
    for c in letters {
        assert!(
            page.contains(&format!(".B \\-{c}\n")) || page.contains(&format!(".BI \\-{c} ")),
            "conman.1 does not document -{c}"
        );
        assert!(
            bash.split_whitespace()
                .any(|w| w.trim_matches(|c| c == '\'' || c == '|' || c == ')') == format!("-{c}")),
            "bash completion lacks -{c}"
        );
        assert!(zsh.contains(&format!("-{c}[")), "zsh completion lacks -{c}");
        assert!(
            fish.contains(&format!("-s {c} ")),
            "fish completion lacks -{c}"
        );
    }
}

/// Start our daemon in the foreground on an ephemeral port; returns it and the port.
fn start_daemon(conf: &Path) -> (Reap, u16) {
    let mut child = Command::new(BIN)
        .args(["-F", "-c"])
        .arg(conf)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = Reap(child);
    let mut port = 0;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("INFO:      Listening on TCP port ") {
            port = p.trim().parse().unwrap();
            break;
        }
    }
    assert_ne!(port, 0, "the daemon did not report its port");
    (child, port)
}

/// `conman` completion offers the console names the daemon named with `-d` has
/// (bash and fish run for real; zsh files are syntax-checked).
#[test]
fn shell_completions_offer_console_names_from_the_daemon() {
    let Some(bins) = bin_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.conf");
    std::fs::write(
        &conf,
        "server port=0\nconsole name=\"alpha1\" dev=\"test:\" log=\"\"\n\
         console name=\"alpha2\" dev=\"test:\" log=\"\"\n\
         console name=\"beta\" dev=\"test:\" log=\"\"\n",
    )
    .unwrap();
    let (_daemon, port) = start_daemon(&conf);
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let shell = |prog: &Path, script: &str| -> Vec<String> {
        let out = run(Command::new(prog)
            .args(["-c", script])
            .env("PATH", &path)
            .env_remove("CONMAN_HOST")
            .env_remove("CONMAN_PORT"));
        text(&out.stdout).lines().map(str::to_owned).collect()
    };
    let completions = repo().join("dist/completions");

    if let (Some(bash_completion), Some(bash)) = (
        peer_file("/usr/share/bash-completion/bash_completion"),
        peer("bash"),
    ) {
        let script = format!(
            "source {bc}; source {ours}; \
             COMP_WORDS=(conman -d 127.0.0.1:{port} al); COMP_CWORD=3; \
             COMP_LINE='conman -d 127.0.0.1:{port} al'; COMP_POINT=${{#COMP_LINE}}; \
             _conman; printf '%s\\n' \"${{COMPREPLY[@]}}\"; \
             COMP_WORDS=(conman -); COMP_CWORD=1; COMP_LINE='conman -'; COMP_POINT=8; \
             _conman; printf 'opts:%s\\n' \"${{#COMPREPLY[@]}}\"",
            bc = bash_completion.display(),
            ours = completions.join("conman.bash").display(),
        );
        assert_eq!(shell(&bash, &script), ["alpha1", "alpha2", "opts:15"]);
    }
    if let Some(fish) = peer("fish") {
        let script = format!(
            "source {ours}; complete -C 'conman -d 127.0.0.1:{port} al'; \
             complete -C 'conman -' | count",
            ours = completions.join("conman.fish").display(),
        );
        assert_eq!(shell(&fish, &script), ["alpha1", "alpha2", "15"]);
        for f in ["conman.fish", "conmand.fish"] {
            run(Command::new(&fish).arg("-n").arg(completions.join(f)));
        }
    }
    if let Some(zsh) = peer("zsh") {
        for f in ["_conman", "_conmand"] {
            run(Command::new(&zsh).arg("-n").arg(completions.join(f)));
        }
    }
}

// -------------------------------------------------------------- conman-shard --

#[test]
fn conman_shard_splits_consoles_keeping_globals_in_order() {
    let Some(python) = peer("python3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let src = dir.path().join("big.conf");
    std::fs::write(
        &src,
        format!(
            "# site\nserver logdir=\"{}\" resetcmd=\"power port=3 %N\"\n\
             server logfile=\"conmand.log,notice\"\nserver port=7890\n\
             server pidfile=\"/run/conmand.pid\" keepalive=off\n\
             global log=\"%N.log\"\n\
             console name=\"a1\" dev=\"test:\"\nconsole name=\"a2\" dev=\"test:\"\n\
             global logopts=\"timestamp\"\n\
             console name=\"b1\" dev=\"test:\" \\\n    log=\"b1-own.log\"\n\
             console name=\"b2\" dev=\"test:\"\nconsole name=\"b3\" dev=\"test:\"\n",
            logs.display()
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("shards");
    let out = run(Command::new(&python)
        .arg(repo().join("scripts/conman-shard"))
        .args(["-k", "2", "-b", "9100", "-o"])
        .arg(&out_dir)
        .arg(&src));
    assert_eq!(
        text(&out.stdout),
        "systemctl enable --now conmand@shard0\nsystemctl enable --now conmand@shard1\n"
    );
    let mut all = Vec::new();
    for n in 0..2 {
        let conf = out_dir.join(format!("shard{n}.conf"));
        let check = run(Command::new(BIN).args(["-t", "--json", "-c"]).arg(&conf));
        let j: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
        assert_eq!(j["ok"], true, "{j}");
        assert_eq!(j["warnings"].as_array().unwrap().len(), 0, "{j}");
        let s = &j["server"];
        assert_eq!(s["port"], 9100 + n);
        assert_eq!(s["pidfile"], format!("/run/conmand-shard{n}.pid"));
        assert_eq!(
            s["logfile"]["name"],
            logs.join(format!("conmand-shard{n}.log"))
                .display()
                .to_string()
        );
        assert_eq!(s["logfile"]["priority"], "notice");
        assert_eq!(s["resetcmd"], "power port=3 %N");
        assert_eq!(s["keepalive"], false);
        for c in j["consoles"].as_array().unwrap() {
            let name = c["name"].as_str().unwrap().to_owned();
            // GLOBAL logopts applies only to consoles after it, as in the source.
            let ts = c["logopts"]["timestamp"].as_bool().unwrap();
            assert_eq!(ts, name.starts_with('b'), "{name}");
            all.push((n, name, c["log"].as_str().unwrap().to_owned()));
        }
    }
    let names: Vec<(u64, &str)> = all.iter().map(|(n, c, _)| (*n, c.as_str())).collect();
    assert_eq!(
        names,
        [(0, "a1"), (0, "a2"), (0, "b1"), (1, "b2"), (1, "b3")]
    );
    assert!(all[2].2.ends_with("/logs/b1-own.log"), "{:?}", all[2]);
}

// ------------------------------------------------------------- exec scripts --

#[test]
fn exec_script_without_a_password_entry_fails_with_error_line() {
    let Some(expect) = peer("expect") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pswd");
    // Near misses only: a partial host match and another user.
    std::fs::write(
        &db,
        "# comment\n127\\.0\\.0 : admin : x\n127\\.0\\.0\\.1 : root : y\n",
    )
    .unwrap();
    for script in ["ipmitool.exp", "ipmiconsole.exp"] {
        let out = Command::new(&expect)
            .arg(repo().join("scripts/exec").join(script))
            .args(["127.0.0.1", "admin"])
            .env("CONMAN_PSWD", &db)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{script}");
        assert_eq!(
            text(&out.stdout),
            "Error: No password for admin@127.0.0.1 in the password database.\r\n",
            "{script}"
        );
    }
    // ssh.exp reports a refused connection (a loopback port nobody listens on).
    if peer("ssh").is_some() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = Command::new(&expect)
            .arg(repo().join("scripts/exec/ssh.exp"))
            .args(["127.0.0.1", &port.to_string(), "nobody"])
            .env("CONMAN_PSWD", &db)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(text(&out.stdout), "Error: Connection refused.\r\n");
    }
    let usage = Command::new(&expect)
        .arg(repo().join("scripts/exec/ssh.exp"))
        .arg("onlyhost")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(1));
    assert!(text(&usage.stdout).starts_with("Error: Usage: ssh.exp HOST PORT USER"));
}

/// A free loopback UDP port (the OS picks it; the socket is closed again).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free loopback UDP port below 32768 (ipmiconsole rejects larger ones as
/// "hostname invalid"): random candidates, each checked by binding it.
fn free_low_udp_port() -> u16 {
    let mut seed = [0u8; 2];
    for _ in 0..200 {
        getrandom::fill(&mut seed).unwrap();
        let port = 20000 + u16::from_le_bytes(seed) % 12000;
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP port below 32768");
}

/// Read from the simulated host serial port until `needle` arrived.
fn host_expect(host: &mut std::net::TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    let mut buf = [0u8; 1024];
    while find(seen, needle).is_none() {
        let n = host
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("host side: {e} waiting for {needle:?}; have {seen:?}"));
        assert!(n > 0, "host side closed; have {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// One simulated BMC (ipmi_sim, user admin / s3cr3t-pw) on `udp`, whose SOL "host
/// serial port" is a TCP connection ipmi_sim opens to us: returns the BMC process
/// and that connection.
fn start_bmc(ipmi_sim: &Path, d: &Path, udp: u16) -> (Reap, std::net::TcpStream) {
    let sol_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sol_port = sol_listener.local_addr().unwrap().port();
    std::fs::write(
        d.join("lan.conf"),
        format!(
            "name \"pkgtest\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {udp}\n\
             \x20   priv_limit admin\n    allowed_auths_callback none md2 md5 straight\n\
             \x20   allowed_auths_user none md2 md5 straight\n\
             \x20   allowed_auths_operator none md2 md5 straight\n\
             \x20   allowed_auths_admin none md2 md5 straight\n\
             \x20   guid a123456789abcdefa123456789abcdef\n  endlan\n\
             \x20 user 2 true \"admin\" \"s3cr3t-pw\" admin 10 none md2 md5 straight\n\
             \x20 sol \"tcp:127.0.0.1:{sol_port}\" 115200\n"
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("bmc.emu"),
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n\
         sel_enable 0x20 1000 0x0a\nmc_enable 0x20\n",
    )
    .unwrap();
    std::fs::create_dir(d.join("state")).unwrap();
    let bmc = Reap(
        Command::new(ipmi_sim)
            .arg("-n")
            .arg("-c")
            .arg(d.join("lan.conf"))
            .arg("-f")
            .arg(d.join("bmc.emu"))
            .arg("-s")
            .arg(d.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // ipmi_sim is up once it has connected its SOL port to us.
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = tx.send(sol_listener.accept().map(|(s, _)| s));
    });
    let host = rx
        .recv_timeout(WAIT)
        .expect("ipmi_sim did not connect its SOL port")
        .unwrap();
    host.set_read_timeout(Some(WAIT)).unwrap();
    (bmc, host)
}

/// An exec script as a process console of our daemon against a simulated BMC, with
/// the password from a conman.pswd file: host output reaches a client and the log,
/// typing reaches the host, `&B` arrives as a serial break, and the password is in
/// no argv of the SOL tool.
async fn exec_script_scenario(
    ipmi_sim: &Path,
    env: &Path,
    script: &str,
    tool: &str,
    udp: u16,
    extra_env: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_bmc, mut host) = start_bmc(ipmi_sim, d, udp);

    // The password comes from a conman.pswd file; near misses come first.
    let db = d.join("conman.pswd");
    std::fs::write(
        &db,
        "# test database\n127\\.0\\.0 : admin : wrong-partial-host\n\
         127\\.0\\.0\\.1 : root : wrong-user\n  127\\.0\\.0\\.[0-9]+ :  admin  : s3cr3t-pw  \n\
         : admin : wrong-later-line\n",
    )
    .unwrap();
    let conf = d.join("conman.conf");
    std::fs::write(
        &conf,
        format!(
            "server port=0\nserver logdir=\"{dir}\"\n\
             console name=\"bmc\" dev=\"{env} CONMAN_PSWD={db} {extra_env} {script} 127.0.0.1:{udp} admin\" log=\"bmc.log\"\n",
            dir = d.display(),
            env = env.display(),
            db = db.display(),
            script = repo().join("scripts/exec").join(script).display(),
        ),
    )
    .unwrap();
    let (_daemon, port) = start_daemon(&conf);
    let log = d.join("bmc.log");
    let prefix = format!("Connection established via {tool} (pid ");
    let mut established = String::new();
    eventually("the SOL session in the console log", || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        if t.contains("Error:") {
            panic!("the script failed:\n{t}");
        }
        established = t
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_default()
            .to_owned();
        !established.is_empty()
    })
    .await;
    // The password is in no argv: not the tool's (the script's has none either).
    let tool_pid: u32 = established
        .trim_start_matches(&prefix)
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap();
    let argv = std::fs::read(format!("/proc/{tool_pid}/cmdline")).unwrap();
    assert!(find(&argv, tool.as_bytes()).is_some(), "{argv:?}");
    assert!(
        find(&argv, b"s3cr3t").is_none(),
        "password in {tool}'s argv"
    );

    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (mut client, rsp) = Raw::open(addr, "tester", None, "CONNECT CONSOLE='bmc'").await;
    assert_eq!(rsp, "OK CONSOLE='bmc'");
    // BMC host output reaches the client and the log.
    host.write_all(b"hello-from-the-host\r\n").unwrap();
    client.expect(b"hello-from-the-host").await;
    eventually("host output in the log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("hello-from-the-host")
    })
    .await;
    // Typing reaches the host; &B (0xFF 'B' on the wire) arrives as a serial
    // break, which ipmi_sim turns into IAC BRK on its TCP host side (flushed by
    // the next data byte, hence the "z").
    client.send(b"typed-text\xffBz").await;
    let mut seen = Vec::new();
    let mut h = host.try_clone().unwrap();
    tokio::task::spawn_blocking(move || {
        host_expect(&mut h, &mut seen, b"typed-text");
        host_expect(&mut h, &mut seen, &[0xFF, 0xF3]);
        host_expect(&mut h, &mut seen, b"z");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmitool_exp_under_our_daemon_against_ipmi_sim() {
    let (Some(ipmi_sim), Some(_), Some(_), Some(env)) = (
        peer("ipmi_sim"),
        peer("ipmitool"),
        peer("expect"),
        peer("env"),
    ) else {
        return;
    };
    // ipmi_sim lacks cipher suite 17 (ipmitool's default) and the cipher-suite
    // query ipmitool would make first.
    exec_script_scenario(
        &ipmi_sim,
        &env,
        "ipmitool.exp",
        "ipmitool",
        free_udp_port(),
        "CONMAN_IPMI_CIPHER=3",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmiconsole_exp_under_our_daemon_against_ipmi_sim() {
    let (Some(ipmi_sim), Some(_), Some(_), Some(env)) = (
        peer("ipmi_sim"),
        peer("ipmiconsole"),
        peer("expect"),
        peer("env"),
    ) else {
        return;
    };
    // The three workarounds ipmiconsole needs against ipmi_sim (see peers notes).
    exec_script_scenario(
        &ipmi_sim,
        &env,
        "ipmiconsole.exp",
        "ipmiconsole",
        free_low_udp_port(),
        "CONMAN_IPMI_CIPHER=3 CONMAN_IPMI_WORKAROUNDS=opensesspriv,solchannelsupport,solpayloadsize",
    )
    .await;
}

#[test]
fn logrotate_rules_parse() {
    let Some(logrotate) = peer("logrotate") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(logrotate)
        .arg("-d")
        .arg("-s")
        .arg(state.path().join("state"))
        .arg(repo().join("dist/logrotate/conman"))
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{all}");
    assert!(!all.contains("error:"), "{all}");
    assert!(
        all.contains("rotating pattern: /var/log/conman/*.log"),
        "{all}"
    );
}
