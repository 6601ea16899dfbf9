//! Hostile input: the parser gives errors or a result, never a panic, and stays linear.

use conmand_core::config::{Config, MemProbe};

fn probe() -> MemProbe {
    MemProbe::new("/srv")
        .executable("/bin/sh")
        .char_device("/dev/ttyS0")
}

/// Deterministic pseudo-random bytes (xorshift64).
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(len);
    v
}

#[test]
fn ten_megabytes_of_garbage() {
    let src = garbage(10 * 1024 * 1024, 0x9e37_79b9_7f4a_7c15);
    let p = Config::parse_bytes(&src, "garbage.conf", &probe());
    assert!(p.config.consoles.is_empty());
    assert!(
        p.errors.len() > 1000,
        "garbage must produce errors, got {}",
        p.errors.len()
    );
    assert!(p.warnings.iter().any(|w| w.message.contains("UTF-8")));
    // Every diagnostic points into the file.
    assert!(p.errors.iter().all(|d| d.line == 0 || d.col >= 1));
}

#[test]
fn garbage_made_of_config_characters() {
    // Words, quotes, '=', '\\', '#' and line ends in random order: the worst case for
    // the directive parser.
    let alphabet = b"server console global name dev log = \" ' \\ # \r \n 12 -3 on off test: %N ,";
    let src: Vec<u8> = garbage(1024 * 1024, 42)
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()])
        .collect();
    let p = Config::parse_bytes(&src, "g.conf", &probe());
    assert!(!p.errors.is_empty());
}

#[test]
fn nul_bytes() {
    let p = Config::parse_bytes(&[0u8; 10_000], "nul.conf", &probe());
    // One error per NUL byte plus "no consoles".
    assert_eq!(p.errors.len(), 10_001);
    let mut src = b"console name=\"a\" dev=\"test:\"\n".to_vec();
    src.extend_from_slice(b"console name=\"b\0c\" dev=\"test:\"\n");
    let p = Config::parse_bytes(&src, "nul.conf", &probe());
    assert_eq!(p.config.consoles.len(), 1);
    assert_eq!(p.errors[0].line, 2);
}

#[test]
fn unterminated_quotes() {
    for src in [
        "console name=\"abc",
        "console name='abc\nconsole name=\"x\" dev=\"test:\"\n",
        "\"",
        "'",
    ] {
        let p = Config::parse_str(src, "q.conf", &probe());
        assert!(!p.errors.is_empty(), "{src:?}");
    }
    let p = Config::parse_str("console name=\"abc", "q.conf", &probe());
    assert_eq!(p.errors[0].message, "expected STRING for NAME value");
    let long = format!(
        "console name=\"a\" dev=\"test:\" log=\"{}\n",
        "x".repeat(2 * 1024 * 1024)
    );
    let p = Config::parse_str(&long, "q.conf", &probe());
    assert_eq!(p.errors[0].message, "expected STRING for LOG value");
}

#[test]
fn invalid_utf8() {
    let p = Config::parse_bytes(
        b"console name=\"caf\xe9\" dev=\"test:\"\n",
        "u.conf",
        &probe(),
    );
    assert!(p.errors.is_empty());
    assert_eq!(p.config.consoles[0].name, "caf\u{fffd}");
    let p = Config::parse_bytes(b"\xc3\x28 server\n", "u.conf", &probe());
    assert!(
        p.errors
            .iter()
            .any(|e| e.message.starts_with("unrecognized token"))
    );
}

#[test]
fn very_long_lines_stay_linear() {
    // Two million tokens on one line: column tracking must not be quadratic.
    let src = format!(
        "server {}\nconsole name=\"a\" dev=\"test:\"\n",
        "ab ".repeat(2_000_000)
    );
    let p = Config::parse_str(&src, "long.conf", &probe());
    assert_eq!(p.errors.len(), 1);
    let huge = format!(
        "console name=\"{}\" dev=\"test:\"\n",
        "n".repeat(5 * 1024 * 1024)
    );
    let p = Config::parse_str(&huge, "long.conf", &probe());
    assert_eq!(p.config.consoles[0].name.len(), 1023);
}

#[test]
fn one_hundred_thousand_consoles() {
    let mut src = String::from("server logdir=\"/var/log/conman\"\nglobal log=\"%N.log\"\n");
    for i in 0..100_000 {
        src.push_str(&format!(
            "console name=\"c{i}\" dev=\"test:\" testopts=\"B:{}\"\n",
            i % 100 + 1
        ));
    }
    let p = Config::parse_str(&src, "big.conf", &probe());
    assert!(
        p.errors.is_empty(),
        "{:?}",
        &p.errors[..p.errors.len().min(3)]
    );
    assert_eq!(p.config.consoles.len(), 100_000);
    assert_eq!(p.config.consoles[99_999].name, "c99999");
    assert_eq!(p.config.consoles[99_999].line, 100_002);
    // The same file with one duplicate at the end: found, reported once.
    src.push_str("console name=\"c7\" dev=\"test:\"\n");
    let p = Config::parse_str(&src, "big.conf", &probe());
    assert_eq!(p.errors.len(), 1);
    assert_eq!(
        p.errors[0].message,
        "console [c7] specifies duplicate console name"
    );
}
