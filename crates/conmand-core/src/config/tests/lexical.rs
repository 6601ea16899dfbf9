//! Lexical rules (reference §1.1).

use super::*;

#[test]
fn comments_and_hash_in_strings() {
    let c = ok(
        "# leading comment\nserver port=1 # trailing\n  # indented\nconsole name=\"a#b\" dev=\"test:\" # x\n",
    );
    assert_eq!(c.server.port, Some(1));
    assert_eq!(c.consoles[0].name, "a#b");
}

#[test]
fn both_quote_kinds_no_escapes() {
    assert_eq!(console("console name='x\"y' dev=\"test:\"").name, "x\"y");
    assert_eq!(console("console name=\"it's\" dev='test:'").name, "it's");
    assert_eq!(console("console name=\"a\\b\" dev=\"test:\"").name, "a\\b");
}

#[test]
fn continuation_lf_and_crlf() {
    let c = ok("console name=\"a\" \\\n  dev=\"test:\"\nconsole name=\"b\" \\\r\n dev=\"test:\"\n");
    assert_eq!(c.consoles.len(), 2);
    assert_eq!((c.consoles[0].line, c.consoles[1].line), (1, 3));
    // The line counter still counts continued lines.
    assert_eq!(errs("console name=\"a\" \\\n dev=\"nowhere\"\n")[0].0, 2);
}

#[test]
fn backslash_without_newline_is_a_token() {
    assert_eq!(err1("server \\ port=1\n"), "unrecognized token '\\'");
    assert_eq!(
        err1("server port=1 \\\r\nserver\n"),
        "unrecognized token 'server'"
    );
    // A backslash before a lone CR is not a continuation.
    assert_eq!(
        errs("server keepalive=off \\\rport=1\n"),
        [
            (1, "unrecognized token '\\'".to_string()),
            (2, "unrecognized token 'port'".to_string())
        ]
    );
    // A backslash in a comment does nothing.
    assert_eq!(
        ok("# comment \\\nconsole name=\"a\" dev=\"test:\"\n")
            .consoles
            .len(),
        1
    );
}

#[test]
fn cr_lf_crlf_line_ends() {
    let src = "server port=1\rserver keepalive=off\r\nserver loopback=off\nserver bogus\r\n";
    let e = errs(src);
    assert_eq!(e, vec![(4, "unrecognized token 'bogus'".to_string())]);
    let s = parse(&format!("{src}{T}")).config.server;
    assert_eq!((s.port, s.keepalive, s.loopback), (Some(1), false, false));
}

#[test]
fn keywords_are_case_insensitive_values_keep_case() {
    let c = ok("SeRvEr PoRt=5 LOOPBACK=On\nCONSOLE NAME=\"MiXed\" Dev=\"TEST:\"\n");
    assert_eq!(c.server.port, Some(5));
    assert_eq!(c.consoles[0].name, "MiXed");
}

#[test]
fn integers_and_signs() {
    assert_eq!(server("server port=+5").port, Some(5));
    assert_eq!(server("server nofile=-1").nofile, -1);
    assert_eq!(err1("server port=-5\n"), "invalid PORT value -5");
    assert_eq!(err1("server port=+x\n"), "expected INTEGER for PORT value");
    assert_eq!(
        err1("server port=\"5\"\n"),
        "expected INTEGER for PORT value"
    );
}

#[test]
fn words_are_strings_unless_keywords() {
    assert_eq!(console("console name=abc dev=\"test:\"").name, "abc");
    assert_eq!(
        err1("console name=on dev=\"test:\"\n"),
        "expected STRING for NAME value"
    );
    let s = server("server logfile=info");
    assert_eq!(s.logfile.unwrap().name, "/work/info");
}

#[test]
fn one_char_tokens() {
    assert_eq!(err1("server port:5\n"), "expected '=' after PORT keyword");
    assert_eq!(err1("% junk here\n"), "unrecognized token '%'");
    assert_eq!(err1("server é\n"), "unrecognized token 'é'");
}

#[test]
fn strings_are_cut_to_1023_bytes() {
    let long = "x".repeat(1100);
    let p = parse(&format!("console name=\"{long}\" dev=\"test:\"\n"));
    assert!(p.errors.is_empty());
    assert_eq!(p.config.consoles[0].name.len(), 1023);
    assert!(p.warnings.iter().any(|w| w.message.contains("cut to 1023")));
    // Never inside a multi-byte character.
    let p = parse(&format!(
        "console name=\"x{}\" dev=\"test:\"\n",
        "é".repeat(600)
    ));
    assert_eq!(p.config.consoles[0].name.len(), 1023);
}

#[test]
fn unmatched_quote() {
    assert_eq!(err1("\"abc\n"), "unmatched quote");
    assert_eq!(err1("server \"abc\n"), "unmatched quote");
    assert_eq!(
        err1("console name=\"abc\n"),
        "expected STRING for NAME value"
    );
    // The next line is parsed normally.
    assert_eq!(
        parse("console name=\"a\n".to_string().as_str())
            .errors
            .len(),
        2
    );
    assert_eq!(parse(&format!("\"abc\n{T}")).config.consoles.len(), 1);
}

#[test]
fn nul_bytes_are_errors() {
    let p = parse(&format!("server\0 port=3\n{T}"));
    assert_eq!(p.errors.len(), 1);
    assert_eq!((p.errors[0].line, p.errors[0].col), (1, 7));
    assert!(p.errors[0].message.contains("NUL"));
}

#[test]
fn columns_are_reported() {
    let p = parse(&format!("server  port=x\n{T}"));
    assert_eq!((p.errors[0].line, p.errors[0].col), (1, 14));
}

#[test]
fn invalid_utf8_is_replaced_with_a_warning() {
    let mut src = b"console name=\"a".to_vec();
    src.push(0xff);
    src.extend_from_slice(b"\" dev=\"test:\"\n");
    let p = Config::parse_bytes(&src, "t.conf", &probe());
    assert!(p.errors.is_empty());
    assert_eq!(p.config.consoles[0].name, "a\u{fffd}");
    assert_eq!((p.warnings[0].line, p.warnings[0].col), (1, 16));
    let p = Config::parse_bytes(b"\xfe\n", "t.conf", &probe());
    assert_eq!(p.errors[0].message, "unrecognized token '\u{fffd}'");
}
