//! `conmand -t` end to end: the built binary on real files in a temp dir.

use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

fn etc(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../etc")
        .join(name)
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

#[test]
fn clean_file_exits_0_with_summary() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "ok.conf",
        "console name=\"a\" dev=\"test:\"\nconsole name=\"b\" dev=\"/bin/cat\"\n",
    );
    cargo_bin_cmd!("conmand")
        .args(["-t", "-c"])
        .arg(&f)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "configuration OK: 2 consoles (1 process, 1 test)",
        ))
        .stderr(predicate::str::is_empty());
}

#[test]
fn demo_conf_checks_clean_on_this_machine() {
    cargo_bin_cmd!("conmand")
        .args(["--test-config", "-c"])
        .arg(etc("demo.conf"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("configuration OK: 6 consoles"));
}

#[test]
fn bad_file_exits_1_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "bad.conf",
        "server port=x\n\nconsole name=\"a\" dev=\"test:\"\nconsole name=\"a\" dev=\"test:\"\n  global log=\"x\"\n",
    );
    let name = f.display().to_string();
    let out = cargo_bin_cmd!("conmand")
        .args(["-t", "-c"])
        .arg(&f)
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{name}:1:13: expected INTEGER for PORT value"),
            format!("{name}:4:14: console [a] specifies duplicate console name"),
            format!("{name}:5:14: ignoring GLOBAL LOG value without '%N' or '%D'"),
        ]
    );
}

#[test]
fn missing_file_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    cargo_bin_cmd!("conmand")
        .args(["-t", "-c"])
        .arg(dir.path().join("nope.conf"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Unable to open"));
    let f = write(&dir, "empty.conf", "# nothing\n");
    cargo_bin_cmd!("conmand")
        .args(["-t", "-c"])
        .arg(&f)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has no consoles defined"));
}

#[test]
fn json_shape_and_password_masking() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "j.conf",
        "server logdir=\"/var/log/cm\" port=7001\n\
         global log=\"%N.log\" ipmiopts=\"U:admin,P:hunter2,K:0x6b6579\"\n\
         console name=\"bmc\" dev=\"ipmi:127.0.0.1:623\"\n\
         console name=\"t\" dev=\"test:\" log=\"\"\n\
         console name=\"p\" dev=\"/bin/cat\" seropts=\"9600\"\n\
         console name=\"bad\" dev=\"nowhere\"\n",
    );
    let out = cargo_bin_cmd!("conmand")
        .args(["-t", "--json", "-c"])
        .arg(&f)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("6b6579") && !text.contains("\"key\""),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["server"]["port"], 7001);
    let consoles = v["consoles"].as_array().unwrap();
    assert_eq!(consoles.len(), 3);
    assert_eq!(consoles[0]["name"], "bmc");
    assert_eq!(consoles[0]["kind"], "ipmi");
    assert_eq!(consoles[0]["log"], "/var/log/cm/bmc.log");
    assert_eq!(consoles[0]["ipmiopts"]["password"], "***");
    assert_eq!(consoles[0]["ipmiopts"]["k_g"], "***");
    assert_eq!(consoles[0]["ipmiopts"]["username"], "admin");
    assert_eq!(consoles[0]["port"], 623);
    assert_eq!(consoles[0]["logopts"]["lock"], true);
    assert_eq!(consoles[1]["kind"], "test");
    assert!(consoles[1]["log"].is_null());
    assert_eq!(consoles[2]["kind"], "process");
    assert_eq!(consoles[2]["argv"][0], "/bin/cat");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["line"], 6);
    assert_eq!(errors[0]["col"], 24);
    assert_eq!(
        errors[0]["message"],
        "console [bad] device \"nowhere\" type unrecognized"
    );
    assert!(errors[0]["file"].as_str().unwrap().ends_with("j.conf"));
    assert!(v["warnings"].as_array().unwrap().is_empty());
}

#[test]
fn json_serial_and_cli_port_override() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "s.conf",
        "console name=\"n\" dev=\"/dev/null\" seropts=\"1152000,7e2\"\n",
    );
    let out = cargo_bin_cmd!("conmand")
        .args(["-t", "--json", "-p", "9999", "-c"])
        .arg(&f)
        .assert()
        .code(0)
        .get_output()
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["server"]["port"], 9999);
    let c = &v["consoles"][0];
    assert_eq!(c["kind"], "serial");
    assert_eq!(c["seropts"]["bps"], 1_152_000);
    assert_eq!(c["seropts"]["parity"], "e");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn pswd_file_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "ok.conf", "console name=\"a\" dev=\"test:\"\n");
    let good = write(&dir, "good.pswd", "# c\nbmc[0-9]+ : admin : pw\n");
    let bad = write(&dir, "bad.pswd", "bmc( : admin : pw\n");
    cargo_bin_cmd!("conmand")
        .args(["-t", "-c"])
        .arg(&f)
        .arg("--pswd")
        .arg(&good)
        .assert()
        .code(0);
    cargo_bin_cmd!("conmand")
        .args(["-t", "-c"])
        .arg(&f)
        .arg("--pswd")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.pswd:1:1: invalid host regex"));
}

#[test]
fn version_and_help() {
    cargo_bin_cmd!("conmand")
        .arg("-V")
        .assert()
        .code(0)
        .stdout(format!("conmand-{}\n", env!("CARGO_PKG_VERSION")));
    cargo_bin_cmd!("conmand")
        .arg("--help")
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("-t, --test-config")
                .and(predicate::str::contains("-P <FILE>")),
        );
    cargo_bin_cmd!("conmand")
        .arg("-L")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("MIT License"));
    cargo_bin_cmd!("conmand").arg("-x").assert().code(1);
}

/// Issue 12: `-t --json` masks what can be a secret in process consoles' command
/// lines, and `-t --pswd` warns about a password file others can read.
#[test]
fn json_masks_exec_secrets_and_pswd_mode_is_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = write(&dir, "ipmitool.exp", "#!/bin/sh\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = write(
        &dir,
        "x.conf",
        &format!(
            "console name=\"n1\" dev=\"{} %N-bmc admin Hunter2pw 0x0a0b\"\n\
             console name=\"n2\" dev=\"/usr/bin/env IPMI_PASSWORD=Hunter3pw /bin/cat -P Hunter4pw\"\n",
            script.display()
        ),
    );
    let pswd = write(&dir, "conman.pswd", "bmc.* : admin : pw\n");
    std::fs::set_permissions(&pswd, std::fs::Permissions::from_mode(0o604)).unwrap();
    let out = cargo_bin_cmd!("conmand")
        .args(["-t", "--json", "-c"])
        .arg(&f)
        .arg("--pswd")
        .arg(&pswd)
        .assert()
        .code(0)
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    for secret in ["Hunter2pw", "0x0a0b", "Hunter3pw", "Hunter4pw"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let argv = |i: usize| v["consoles"][i]["argv"].clone();
    assert_eq!(argv(0)[1], "n1-bmc");
    assert_eq!(argv(0)[2], "admin");
    assert_eq!(argv(0)[3], "***");
    assert_eq!(argv(1)[1], "IPMI_PASSWORD=***");
    assert_eq!(argv(1)[4], "***");
    assert!(
        v["consoles"][0]["dev"]
            .as_str()
            .unwrap()
            .ends_with("%N-bmc admin *** ***")
    );
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("is mode 0604 (readable by others)")
    );
    // Text mode says the same on stderr, and it is a warning, not an error.
    cargo_bin_cmd!("conmand")
        .args(["-t", "-c"])
        .arg(&f)
        .arg("--pswd")
        .arg(&pswd)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("warning: \"").and(predicate::str::contains("chmod 600")));
}

#[test]
fn alert_rules_are_checked_with_their_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        &dir,
        "site.rules",
        "[rule raid]\nmatch = md/raid\\S*: Disk failure\n\n[rule bad]\nmatch = (unclosed\n",
    );
    let conf = format!(
        "server alerts=\"{}\"\nconsole name=\"a\" dev=\"test:\"\n",
        rules.display()
    );
    let f = write(&dir, "a.conf", &conf);
    let out = cargo_bin_cmd!("conmand")
        .args(["-t", "-c"])
        .arg(&f)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!("{}:5", rules.display())) && err.contains("regex"),
        "{err}"
    );
    // Fixed, the summary counts the pack's 15 rules and the site's one.
    std::fs::write(&rules, "[rule raid]\nmatch = md/raid\\S*: Disk failure\n").unwrap();
    let out = cargo_bin_cmd!("conmand")
        .args(["-t", "--json", "-c"])
        .arg(&f)
        .assert()
        .code(0)
        .get_output()
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["alert_rules"], 16);
    assert_eq!(doc["server"]["alertpack"], "builtin");
    assert_eq!(doc["server"]["alerts"], rules.display().to_string());
}
