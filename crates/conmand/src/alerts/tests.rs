use super::*;

fn event(id: u64) -> Event {
    Event {
        id,
        time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_123),
        console: Arc::from("node\"1"),
        rule: Arc::from("oops"),
        severity: Severity::Critical,
        line: "Oops: 0002 [#1] SMP".into(),
        before: vec!["a".into()],
        after: vec!["b".into(), "c".into()],
        log_offset: Some(42),
        repeats: 1,
        suppressed: 0,
    }
}

#[test]
fn an_event_as_json_has_the_documented_fields() {
    let j = event(7).to_json();
    assert_eq!(j["id"], 7);
    assert_eq!(j["time"], "2025-11-24T16:00:00.123Z");
    assert_eq!(j["console"], "node\"1");
    assert_eq!(j["rule"], "oops");
    assert_eq!(j["severity"], "critical");
    assert_eq!(j["line"], "Oops: 0002 [#1] SMP");
    assert_eq!(j["context"]["before"], serde_json::json!(["a"]));
    assert_eq!(j["context"]["after"], serde_json::json!(["b", "c"]));
    assert_eq!(j["log_offset"], 42);
    let mut e = event(8);
    e.log_offset = None;
    assert!(e.to_json()["log_offset"].is_null());
}

#[test]
fn rules_come_from_the_pack_and_the_site_file_with_file_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    assert_eq!(load(&config).unwrap().rules().len(), 15);
    config.server.alertpack = AlertPack::Off;
    assert!(load(&config).unwrap().is_empty());
    let f = dir.path().join("site.rules");
    std::fs::write(&f, "[rule x]\nmatch = abc\n\n[rule y]\nmatch = (\n").unwrap();
    config.server.alerts = Some(f.clone());
    let e = load(&config).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:5: ", f.display())), "{e}");
    config.server.alerts = Some(dir.path().join("missing.rules"));
    let e = load(&config).unwrap_err().to_string();
    assert!(
        e.contains("missing.rules\": No such file or directory"),
        "{e}"
    );
}
