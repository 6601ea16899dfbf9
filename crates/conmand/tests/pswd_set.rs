//! `conmand --pswd-set HOST-REGEX USER --pswd FILE` (issue 12), the built binary on a
//! real pty: the prompt appears with the terminal's echo already off, nothing typed
//! is echoed, the file ends up 0600 with every other line kept, and the password is
//! never in argv. Also the piped (non-terminal) form and the refusals.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use assert_cmd::cargo::cargo_bin_cmd;
use common::find;
use common::pty::PtyProc;

const PW: &str = "Zq7-xW9!kp";

const BEFORE: &str = "# site BMC passwords\r\n\
\n\
node[0-9]+-bmc : admin : 0ldpass : 0x0102\n\
   # indented comment : with : colons\n\
rack7-.* : root : calvin\n\
broken line without fields\n";

fn conmand() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_conmand"))
}

/// Whether ECHO is set on the terminal whose master is `pty`.
fn echo_on(pty: &impl AsFd) -> bool {
    let name = rustix::pty::ptsname(pty, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(name.to_str().unwrap())
        .unwrap();
    let t = rustix::termios::tcgetattr(&slave).unwrap();
    t.local_modes.contains(rustix::termios::LocalModes::ECHO)
}

#[tokio::test]
async fn interactive_prompt_without_echo_rewrites_the_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conman.pswd");
    std::fs::write(&file, BEFORE).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let old_ino = std::fs::metadata(&file).unwrap().ino();
    let args = [
        "--pswd-set",
        "node[0-9]+-bmc",
        "admin",
        "--pswd",
        file.to_str().unwrap(),
    ];
    // A new pty starts with ECHO on (the kernel's default termios); checking that
    // here raced with the child turning it off under load, so only the state at
    // the prompt is checked.
    let mut p = PtyProc::spawn(&conmand(), &args);

    p.expect(b"Password for user \"admin\" on hosts \"node[0-9]+-bmc\": ")
        .await;
    assert!(!echo_on(&p.pty), "echo must be off when the prompt shows");
    let pid = p.child.id().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv: Vec<&[u8]> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(argv.len(), 1 + args.len());
    assert!(find(&cmdline, PW.as_bytes()).is_none());

    p.send(format!("{PW}\r").as_bytes()).await;
    p.expect(b"Retype the password: ").await;
    assert!(!echo_on(&p.pty));
    p.send(format!("{PW}\r").as_bytes()).await;
    let (rest, code) = p.finish().await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&rest));
    assert!(find(&rest, b"replaced the password of 1 entry").is_some());

    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        after,
        BEFORE.replace(": 0ldpass :", &format!(": {PW} :")),
        "every other byte is kept"
    );
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_ne!(
        meta.ino(),
        old_ino,
        "replaced by rename, not rewritten in place"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Run `--pswd-set bmc-.* root` on `file` on a pty, type `first` and `second` at the
/// two prompts; returns everything the terminal showed and the exit code.
async fn type_twice(file: &std::path::Path, first: &str, second: &str) -> (Vec<u8>, i32) {
    let args = [
        "--pswd-set",
        "bmc-.*",
        "root",
        "--pswd",
        file.to_str().unwrap(),
    ];
    let mut p = PtyProc::spawn(&conmand(), &args);
    let mut shown = p.expect(b": ").await;
    p.send(format!("{first}\r").as_bytes()).await;
    shown.extend(p.expect(b"Retype the password: ").await);
    p.send(format!("{second}\r").as_bytes()).await;
    let (rest, code) = p.finish().await;
    shown.extend(rest);
    (shown, code)
}

#[tokio::test]
async fn everything_shown_on_the_terminal_is_free_of_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new.pswd");
    let (shown, code) = type_twice(&file, PW, PW).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&shown));
    assert!(
        find(&shown, PW.as_bytes()).is_none(),
        "the password was echoed"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("bmc-.* : root : {PW}\n")
    );

    // A mismatch changes nothing.
    let (shown, code) = type_twice(&file, "another1", "another2").await;
    assert_eq!(code, 1);
    assert!(find(&shown, b"the passwords do not match").is_some());
    assert!(find(&shown, b"another").is_none());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("bmc-.* : root : {PW}\n")
    );
}

#[test]
fn piped_password_is_read_from_stdin_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conman.pswd");
    std::fs::write(&file, BEFORE).unwrap();
    let out = cargo_bin_cmd!("conmand")
        .args(["--pswd-set", "rack7-.*", "root", "--pswd"])
        .arg(&file)
        .write_stdin(format!("{PW}\n"))
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(find(&out.stdout, PW.as_bytes()).is_none());
    assert!(find(&out.stderr, PW.as_bytes()).is_none());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        BEFORE.replace(": calvin", &format!(": {PW}"))
    );
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o600);
}

#[test]
fn refusals_leave_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conman.pswd");
    std::fs::write(&file, BEFORE).unwrap();
    let link = dir.path().join("link.pswd");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let run = |target: &std::path::Path, input: &str| {
        cargo_bin_cmd!("conmand")
            .args(["--pswd-set", "h", "admin", "--pswd"])
            .arg(target)
            .write_stdin(input.to_string())
            .assert()
            .code(1)
            .get_output()
            .clone()
    };
    let out = run(&link, "pw\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
    let out = run(&file, "123456789012345678901\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 20"));
    let out = run(&file, "a:b\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("contains ':'"));
    assert!(find(&out.stderr, b"a:b").is_none());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), BEFORE);
}
