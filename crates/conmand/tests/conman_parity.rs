//! Differential test against the real ConMan daemon (Debian 0.2.7): for a file whose
//! every directive is wrong, both must print the same `CONFIG[file:line]: message`
//! lines. Only features 0.2.7 has are used, and no console is valid, so the peer
//! exits right after parsing (it is also given a free loopback port and a timeout).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use conmand::fsprobe::RealProbe;
use conmand_core::config::Config;

/// The path of a peer binary, or `None` (test skipped) when it is not installed.
/// With `CI=true` a missing peer fails the test instead.
fn peer(name: &str) -> Option<PathBuf> {
    let p = ["/usr/sbin", "/usr/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.exists());
    if p.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "peer {name} missing and CI=true"
        );
        eprintln!("skipped: peer {name} is not installed");
    }
    p
}

const ALL_BAD: &str = r#"server loopback=on
server port=x
server keepalive=maybe
server port:5
server logfile="x,loud"
server syslog="local9"
server timestamp=5x
server timestamp="1h"
server timestamp=5 port=7
server resetcmd="a && b"
server coredumpdir="nope-dir"
server pidfile=""
server keepalive=off name="x"
global log="x"
global log="&%N"
global seropts="9600,9n1"
global seropts="9600,8x1"
global seropts="9600,8n3"
global seropts="10"
global ipmiopts="C:5"
global logopts=""
global port=1
console name="a"
console name="" dev="x"
console name="a" dev="x" ipmiopts "U:x"
console name="a" dev="nowhere/x" log="a&b"
console name="a" dev="   "
console name="a" dev="x" port=1
console name="a" dev "x"
console name="a" dev="ts1:0"
console name="a" dev="unix:/x y"
console name="a" dev="/bin/sh -c 'oops"
console name="a" dev="nowhere"
console name="a" dev="ipmi:h extra"
console name="a" dev="ipmi:h" ipmiopts="L:root"
console name="a" dev="ipmi:h" ipmiopts="U:abcdefghijklmnopq"
console name="a" dev="unix:/very/long/path/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock"
"abc
% junk
server \ port=1
bogus line here
"#;

#[test]
fn error_lines_match_conmand_0_2_7() {
    let Some(conmand) = peer("conmand") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("diff.conf"), ALL_BAD).expect("write config");
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = Command::new("timeout")
        .arg("20")
        .arg(&conmand)
        .args(["-F", "-c", "diff.conf", "-p", &port.to_string()])
        .current_dir(dir.path())
        .output()
        .expect("run conmand");
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("ERROR:"))
        .map(|l| l.trim_start().to_string())
        .collect();
    let parsed = Config::parse_str(ALL_BAD, "diff.conf", &RealProbe::with_cwd(dir.path()));
    let ours: Vec<String> = parsed.errors.iter().map(|d| d.conman_format()).collect();
    assert_eq!(
        out.status.code(),
        Some(1),
        "peer must refuse the file: {theirs:#?}"
    );
    assert!(theirs.len() > 35, "{theirs:#?}");
    assert_eq!(ours, theirs);
}
