use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn ssh_user(user: &str) -> Identity {
    Identity {
        user: user.into(),
        auth: AuthMethod::Key {
            fingerprint: "SHA256:abc".into(),
        },
        source: "127.0.0.1:4000".parse().unwrap(),
    }
}

#[test]
fn native_clients_keep_every_right_and_ssh_users_get_the_acls() {
    let acl = Acl::parse("acl", "allow alice monitor on web-*\n").unwrap();
    let access = Access::new(Some(acl), None);
    let native = Identity::claimed("mallory", "127.0.0.1:1".parse().unwrap());
    assert_eq!(access.rights(&native, "db-1"), Rights::all());
    assert!(access.allows(&ssh_user("alice"), "web-1", Right::Monitor));
    assert!(!access.allows(&ssh_user("alice"), "web-1", Right::Write));
    assert!(!access.allows(&ssh_user("alice"), "db-1", Right::Query));
    assert_eq!(access.rights(&ssh_user("bob"), "web-1"), Rights::NONE);
    access.set_acl(None);
    assert_eq!(access.rights(&ssh_user("alice"), "web-1"), Rights::NONE);
}

#[tokio::test]
async fn audit_records_are_json_lines_in_a_0600_file_reopened_after_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/audit.jsonl");
    let access = Access::new(None, Some(path.clone()));
    let who = Identity {
        user: "carol".into(),
        auth: AuthMethod::Certificate {
            serial: 42,
            key_id: "carol@laptop".into(),
            ca: "SHA256:ca".into(),
        },
        source: "[::1]:2222".parse().unwrap(),
    };
    access.audit(
        &who,
        Record {
            console: Some("server-0"),
            action: "attach",
            mode: Some("rw"),
            outcome: "ok",
            reason: None,
        },
    );
    access.sync().await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::rename(&path, dir.path().join("sub/audit.jsonl.1")).unwrap();
    access.audit(
        &ssh_user("bob"),
        Record {
            console: Some("server-0"),
            action: "denied",
            mode: Some("force"),
            outcome: "denied",
            reason: Some("Permission denied: bob may not force [server-0]".into()),
        },
    );
    access.sync().await;
    let old = std::fs::read_to_string(dir.path().join("sub/audit.jsonl.1")).unwrap();
    let v: Value = serde_json::from_str(old.trim()).unwrap();
    assert_eq!(v["user"], "carol");
    assert_eq!(v["auth"], "certificate");
    assert_eq!(v["cert_serial"], 42);
    assert_eq!(v["ca"], "SHA256:ca");
    assert_eq!(v["source"], "[::1]:2222");
    assert_eq!(v["action"], "attach");
    assert_eq!(v["mode"], "rw");
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
    let new = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(new.trim()).unwrap();
    assert_eq!(v["auth"], "publickey");
    assert_eq!(v["key"], "SHA256:abc");
    assert_eq!(v["outcome"], "denied");
    assert_eq!(
        v["reason"],
        "Permission denied: bob may not force [server-0]"
    );
}

#[test]
fn a_bad_acl_file_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acl");
    std::fs::write(&path, "allow alice monitor on *\nallow bob fly on *\n").unwrap();
    let e = load_acl(&path).unwrap_err();
    assert!(
        e.starts_with(&format!("{}:2: unknown right \"fly\"", path.display())),
        "{e}"
    );
    let e = load_acl(&dir.path().join("missing")).unwrap_err();
    assert!(e.ends_with("No such file or directory"), "{e}");
}
