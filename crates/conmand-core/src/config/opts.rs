//! The small option languages inside strings: `seropts`, `ipmiopts`, `testopts` and
//! `logopts` (reference §1.6).
//!
//! Each parser starts from the current value (the GLOBAL one, for a console) and changes
//! only the fields the string names, as ConMan does. Errors use ConMan's words.

use super::model::{IpmiOpts, LogOpts, Parity, PrivilegeLevel, SerialOpts, TestOpts};
use super::syntax::MAX_STR_BYTES;

/// Serial rates ConMan knows, in increasing order (`bps_table`).
pub const STANDARD_BPS: [u32; 19] = [
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800,
];

/// Highest rate ConMan accepts; it quietly lowers anything above to this.
pub const CONMAN_MAX_BPS: u32 = 460_800;

/// Reads a C `%d` from `s` (leading white space, optional sign, digits).
fn scan_int(s: &str) -> Option<(i64, &str)> {
    let t = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v = body[..digits].parse::<i64>().unwrap_or(i64::MAX);
    Some((if neg { -v } else { v }, &body[digits..]))
}

/// Parses `seropts="bps,<databits><parity><stopbits>"` over `base`.
///
/// Returns the new options and any warnings, or ConMan's error text.
pub fn parse_seropts(base: SerialOpts, s: &str) -> Result<(SerialOpts, Vec<String>), String> {
    let mut o = base;
    let mut warnings = Vec::new();
    if s.is_empty() {
        return Err("encountered empty options string".to_string());
    }
    // sscanf("%d,%d%c%d"): stop at the first field that does not match.
    let Some((bps, rest)) = scan_int(s) else {
        return Ok((o, warnings));
    };
    if bps < 50 || bps > i64::from(u32::MAX) {
        return Err("expected INTEGER >0 for bps setting".to_string());
    }
    let bps = bps as u32;
    if bps > CONMAN_MAX_BPS {
        warnings.push(format!(
            "bps {bps} is above {CONMAN_MAX_BPS}: ConMan would use {CONMAN_MAX_BPS}, \
             conman-rs asks the device for {bps}"
        ));
        o.bps = bps;
    } else {
        let rounded = STANDARD_BPS
            .iter()
            .copied()
            .filter(|&r| r <= bps)
            .max()
            .unwrap_or(50);
        if rounded != bps {
            warnings.push(format!("bps {bps} is not a standard rate: using {rounded}"));
        }
        o.bps = rounded;
    }
    let Some(rest) = rest.strip_prefix(',') else {
        return Ok((o, warnings));
    };
    let Some((db, rest)) = scan_int(rest) else {
        return Ok((o, warnings));
    };
    if !(5..=8).contains(&db) {
        return Err("expected INTEGER 5-8 for databits setting".to_string());
    }
    o.databits = db as u8;
    let mut chars = rest.chars();
    let Some(p) = chars.next() else {
        return Ok((o, warnings));
    };
    o.parity = match p {
        'n' | 'N' => Parity::None,
        'o' | 'O' => Parity::Odd,
        'e' | 'E' => Parity::Even,
        _ => return Err("expected (N|O|E) for parity setting".to_string()),
    };
    let Some((sb, _)) = scan_int(chars.as_str()) else {
        return Ok((o, warnings));
    };
    if !(1..=2).contains(&sb) {
        return Err("expected INTEGER 1-2 for stopbits setting".to_string());
    }
    o.stopbits = sb as u8;
    Ok((o, warnings))
}

/// Parses `logopts="lock,sanitize,timestamp"` over `base`; unknown words are warnings.
pub fn parse_logopts(base: LogOpts, s: &str) -> (LogOpts, Vec<String>) {
    let mut o = base;
    let mut warnings = Vec::new();
    for w in s
        .split([' ', '\t', '\n', '.', ',', ';'])
        .filter(|w| !w.is_empty())
    {
        match w.to_ascii_lowercase().as_str() {
            "lock" => o.lock = true,
            "nolock" => o.lock = false,
            "sanitize" => o.sanitize = true,
            "nosanitize" => o.sanitize = false,
            "timestamp" => o.timestamp = true,
            "notimestamp" => o.timestamp = false,
            _ => warnings.push(format!("ignoring unrecognized token '{w}'")),
        }
    }
    (o, warnings)
}

/// C `strtol(s, &end, 0)` requiring the whole string to be used; `None` on junk or
/// overflow. An empty string reads as 0, as in C.
pub fn strtol0(s: &str) -> Option<i64> {
    let t = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if t.is_empty() {
        return Some(0);
    }
    let (radix, digits) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            if h.starts_with(|c: char| c.is_ascii_hexdigit()) {
                (16, h)
            } else {
                return None;
            }
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Parses `testopts="B:1024,M:-1,N:-1,P:100"` over `base`.
pub fn parse_testopts(base: TestOpts, s: &str) -> Result<TestOpts, String> {
    let mut o = base;
    if s.len() > MAX_STR_BYTES {
        return Err(format!(
            "testopts string exceeds {MAX_STR_BYTES}-byte maximum"
        ));
    }
    for piece in s.split(',').filter(|p| !p.is_empty()) {
        let bad = || format!("invalid testopts value \"{piece}\"");
        let b = piece.as_bytes();
        if b.len() < 2 || b[1] != b':' || !b"BbMmNnPp".contains(&b[0]) {
            return Err(bad());
        }
        let v = strtol0(&piece[2..]).ok_or_else(bad)?;
        if v < 0 || v > i64::from(i32::MAX) {
            return Err(bad());
        }
        match b[0].to_ascii_uppercase() {
            b'B' => o.burst_bytes = v as u32,
            b'M' => o.max_ms = v as i32,
            b'N' => o.min_ms = v as i32,
            _ => o.probability = v.min(100) as u8,
        }
    }
    Ok(o)
}

/// FreeIPMI's "use the library default" workaround value.
pub const WORKAROUND_DEFAULT: u32 = 0xFFFF_FFFF;

/// Workaround names ConMan knows and their libipmiconsole bit values.
pub const WORKAROUND_NAMES: [(&str, u32); 13] = [
    ("authcap", 0x0000_0001),
    ("intel20", 0x0000_0002),
    ("supermicro20", 0x0000_0004),
    ("sun20", 0x0000_0008),
    ("opensesspriv", 0x0000_0010),
    ("integritycheckvalue", 0x0000_0020),
    ("nochecksumcheck", 0x0000_0040),
    ("serialalertsdeferred", 0x0000_0080),
    ("solpacketseq", 0x0000_0100),
    ("solpayloadsize", 0x0100_0000),
    ("solport", 0x0200_0000),
    ("solstatus", 0x0400_0000),
    ("solchannelsupport", 0x0800_0000),
];

/// Every valid workaround bit OR-ed together.
pub const WORKAROUND_MASK: u32 = 0x0F00_01FF;

/// Cipher suite ids libipmiconsole accepts.
pub const CIPHER_SUITES: [u8; 12] = [0, 1, 2, 3, 6, 7, 8, 11, 12, 15, 16, 17];

/// IPMI user names are at most this long.
pub const MAX_IPMI_USER: usize = 16;
/// IPMI passwords and K_g keys are at most this long.
pub const MAX_IPMI_KEY: usize = 20;

/// Reads a password or K_g: `0x` + hex digits is binary, anything else is literal text.
/// `None` when it is longer than [`MAX_IPMI_KEY`] bytes.
pub fn parse_key(s: &str) -> Option<Vec<u8>> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    let bytes = match hex {
        Some(h) => {
            let nib: Vec<u8> = h
                .bytes()
                .map(|b| (b as char).to_digit(16).unwrap_or(0) as u8)
                .collect();
            nib.chunks(2)
                .map(|c| (c[0] << 4) | c.get(1).copied().unwrap_or(0))
                .collect()
        }
        None => s.as_bytes().to_vec(),
    };
    (bytes.len() <= MAX_IPMI_KEY).then_some(bytes)
}

fn ipmi_user(o: &mut IpmiOpts, v: &str) -> Result<(), String> {
    if v.is_empty() {
        o.username = None;
    } else if v.len() > MAX_IPMI_USER {
        return Err(format!(
            "IPMI username exceeds {MAX_IPMI_USER}-byte maximum"
        ));
    } else {
        o.username = Some(v.to_string());
    }
    Ok(())
}

fn ipmi_password(o: &mut IpmiOpts, v: &str) -> Result<(), String> {
    if v.is_empty() {
        o.password = None;
    } else {
        let k = parse_key(v).ok_or(format!("IPMI password exceeds {MAX_IPMI_KEY}-byte maximum"))?;
        o.password = Some(k);
    }
    Ok(())
}

fn ipmi_k_g(o: &mut IpmiOpts, v: &str) -> Result<(), String> {
    if v.is_empty() {
        o.k_g = None;
    } else {
        let k = parse_key(v).ok_or(format!("IPMI K_g exceeds {MAX_IPMI_KEY}-byte maximum"))?;
        o.k_g = Some(k);
    }
    Ok(())
}

fn ipmi_privilege(o: &mut IpmiOpts, v: &str) -> Result<(), String> {
    o.privilege = match v.to_ascii_lowercase().as_str() {
        "" => None,
        "user" => Some(PrivilegeLevel::User),
        "op" | "operator" => Some(PrivilegeLevel::Operator),
        "admin" | "administrator" => Some(PrivilegeLevel::Admin),
        _ => {
            // libipmiconsole's numbering: 0 user, 1 operator, 2 admin.
            let n = strtol0(v).ok_or(format!("invalid IPMI privilege level \"{v}\""))?;
            match n {
                0 => Some(PrivilegeLevel::User),
                1 => Some(PrivilegeLevel::Operator),
                2 => Some(PrivilegeLevel::Admin),
                _ => return Err(format!("invalid IPMI privilege level {n}")),
            }
        }
    };
    Ok(())
}

fn ipmi_cipher(o: &mut IpmiOpts, v: &str) -> Result<(), String> {
    if v.is_empty() {
        o.cipher_suite = None;
        return Ok(());
    }
    let n = strtol0(v).ok_or(format!("invalid IPMI cipher suite \"{v}\""))?;
    match u8::try_from(n).ok().filter(|c| CIPHER_SUITES.contains(c)) {
        Some(c) => o.cipher_suite = Some(c),
        None => return Err(format!("invalid IPMI cipher suite {n}")),
    }
    Ok(())
}

fn ipmi_workaround(o: &mut IpmiOpts, v: &str) -> Result<(), String> {
    let lower = v.to_ascii_lowercase();
    let flag = if lower.is_empty() || lower == "default" {
        WORKAROUND_DEFAULT
    } else if lower == "none" {
        0
    } else if let Some(&(_, bit)) = WORKAROUND_NAMES.iter().find(|(n, _)| *n == lower) {
        bit
    } else {
        let n = strtol0(v)
            .filter(|n| *n >= 0)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(format!("invalid IPMI workaround flag \"{v}\""))?;
        if n != WORKAROUND_DEFAULT && n & !WORKAROUND_MASK != 0 {
            return Err(format!("invalid IPMI workaround flag 0x{n:X}"));
        }
        n
    };
    o.workarounds = match (flag, o.workarounds) {
        (WORKAROUND_DEFAULT, _) => None,
        (0, _) => Some(0),
        (f, None) => Some(f),
        (f, Some(acc)) => Some(acc | f),
    };
    Ok(())
}

/// What error messages show instead of a value that may be (part of) a secret.
pub const REDACTED: &str = "***";

/// Parses `ipmiopts="U:user,P:pass,K:kg,C:3,L:admin,W:flag"` (or the deprecated v1
/// form `user,pass,kg,flag...`) over `base`.
///
/// Error messages never contain a password or K_g byte: a comma inside a secret
/// splits it into pieces that look like other options, so an unrecognized piece is
/// shown as `X:***` (its key only) or `***`, and once a `P:` or `K:` piece (or, in
/// the v1 form, the password position) has been read, later values are shown as
/// `***` too.
pub fn parse_ipmiopts(base: &IpmiOpts, s: &str) -> Result<IpmiOpts, String> {
    let mut o = base.clone();
    if s.len() > MAX_STR_BYTES {
        return Err(format!(
            "ipmiopts string exceeds {MAX_STR_BYTES}-byte maximum"
        ));
    }
    let b = s.as_bytes();
    if !b.is_empty() && b.get(1) != Some(&b':') {
        // v1: user,password,K_g,workaround... with "-" meaning the default. A comma
        // in the password shifts everything after it, so nothing past the user name
        // is ever echoed.
        let mut pieces = s
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| if p == "-" { "" } else { p });
        if let Some(p) = pieces.next() {
            ipmi_user(&mut o, p)?;
        }
        if let Some(p) = pieces.next() {
            ipmi_password(&mut o, p)?;
        }
        if let Some(p) = pieces.next() {
            ipmi_k_g(&mut o, p)?;
        }
        for p in pieces {
            ipmi_workaround(&mut o, p).map_err(|_| redacted_value_error('W'))?;
        }
        return Ok(o);
    }
    let mut secret_seen = false;
    for piece in s.split(',').filter(|p| !p.is_empty()) {
        let pb = piece.as_bytes();
        let tag = pb.first().map(u8::to_ascii_uppercase);
        if pb.get(1) != Some(&b':') || !matches!(tag, Some(b'U' | b'P' | b'K' | b'L' | b'C' | b'W'))
        {
            let shown = match piece.split_once(':') {
                Some((key, _)) if key.len() == 1 => format!("{key}:{REDACTED}"),
                _ => REDACTED.to_string(),
            };
            let hint = if secret_seen {
                " (a comma inside a P: or K: value splits it: write the key in 0x hex \
                 or put the password in conman.pswd)"
            } else {
                ""
            };
            return Err(format!("invalid ipmiopts string \"{shown}\"{hint}"));
        }
        let v = &piece[2..];
        let res = match tag {
            Some(b'U') => ipmi_user(&mut o, v),
            Some(b'P') => ipmi_password(&mut o, v),
            Some(b'K') => ipmi_k_g(&mut o, v),
            Some(b'L') => ipmi_privilege(&mut o, v),
            Some(b'C') => ipmi_cipher(&mut o, v),
            _ => ipmi_workaround(&mut o, v),
        };
        match (res, tag) {
            (Ok(()), Some(b'P' | b'K')) => secret_seen = true,
            (Ok(()), _) => {}
            (Err(_), Some(t @ (b'L' | b'C' | b'W'))) if secret_seen => {
                return Err(redacted_value_error(char::from(t)));
            }
            (Err(e), _) => return Err(e),
        }
    }
    Ok(o)
}

/// The error for a bad `L:`, `C:` or `W:` value that may be a piece of a secret.
fn redacted_value_error(tag: char) -> String {
    let what = match tag {
        'L' => "privilege level",
        'C' => "cipher suite",
        _ => "workaround flag",
    };
    format!(
        "invalid IPMI {what} \"{REDACTED}\" (not shown: it follows a password or K_g, and a \
         comma inside a secret splits it)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ser(s: &str) -> Result<SerialOpts, String> {
        parse_seropts(SerialOpts::default(), s).map(|(o, _)| o)
    }

    #[test]
    fn seropts_full_and_partial() {
        let o = ser("115200,7e2").unwrap();
        assert_eq!(
            (o.bps, o.databits, o.parity, o.stopbits),
            (115200, 7, Parity::Even, 2)
        );
        let o = ser("19200").unwrap();
        assert_eq!((o.bps, o.databits, o.stopbits), (19200, 8, 1));
        let o = ser("9600,7").unwrap();
        assert_eq!((o.databits, o.parity), (7, Parity::None));
        let o = ser("9600,8O").unwrap();
        assert_eq!(o.parity, Parity::Odd);
        // sscanf stops silently when the first field is not a number.
        assert_eq!(ser("fast").unwrap(), SerialOpts::default());
    }

    #[test]
    fn seropts_rates() {
        let (o, w) = parse_seropts(SerialOpts::default(), "1152000,8n1").unwrap();
        assert_eq!(o.bps, 1_152_000);
        assert!(w[0].contains("above 460800"), "{w:?}");
        let (o, w) = parse_seropts(SerialOpts::default(), "100000").unwrap();
        assert_eq!(o.bps, 57600);
        assert_eq!(w.len(), 1);
        let (o, w) = parse_seropts(SerialOpts::default(), "460800").unwrap();
        assert_eq!((o.bps, w.len()), (460800, 0));
    }

    #[test]
    fn seropts_errors() {
        assert_eq!(
            ser("49").unwrap_err(),
            "expected INTEGER >0 for bps setting"
        );
        assert_eq!(
            ser("-9600").unwrap_err(),
            "expected INTEGER >0 for bps setting"
        );
        assert_eq!(
            ser("9600,9n1").unwrap_err(),
            "expected INTEGER 5-8 for databits setting"
        );
        assert_eq!(
            ser("9600,4n1").unwrap_err(),
            "expected INTEGER 5-8 for databits setting"
        );
        assert_eq!(
            ser("9600,8x1").unwrap_err(),
            "expected (N|O|E) for parity setting"
        );
        assert_eq!(
            ser("9600,8n3").unwrap_err(),
            "expected INTEGER 1-2 for stopbits setting"
        );
        assert_eq!(
            ser("9600,8n0").unwrap_err(),
            "expected INTEGER 1-2 for stopbits setting"
        );
        assert_eq!(ser("").unwrap_err(), "encountered empty options string");
    }

    #[test]
    fn logopts_words() {
        let (o, w) = parse_logopts(LogOpts::default(), "nolock;SANITIZE.timestamp");
        assert_eq!((o.lock, o.sanitize, o.timestamp), (false, true, true));
        assert!(w.is_empty());
        let (o, w) = parse_logopts(LogOpts::default(), "bogus, notimestamp");
        assert!(!o.timestamp);
        assert_eq!(w, vec!["ignoring unrecognized token 'bogus'".to_string()]);
    }

    #[test]
    fn strtol_bases() {
        assert_eq!(strtol0("10"), Some(10));
        assert_eq!(strtol0("0x1F"), Some(31));
        assert_eq!(strtol0("017"), Some(15));
        assert_eq!(strtol0(" -3"), Some(-3));
        assert_eq!(strtol0(""), Some(0));
        assert_eq!(strtol0("12a"), None);
        assert_eq!(strtol0("0x"), None);
        assert_eq!(strtol0("09"), None);
    }

    #[test]
    fn testopts_values() {
        let o = parse_testopts(TestOpts::default(), "b:10,M:0x20,n:5,P:250").unwrap();
        assert_eq!(
            o,
            TestOpts {
                burst_bytes: 10,
                max_ms: 32,
                min_ms: 5,
                probability: 100
            }
        );
        for bad in ["X:1", "B1", "B:-1", "B:1x", "P:3000000000"] {
            assert_eq!(
                parse_testopts(TestOpts::default(), bad).unwrap_err(),
                format!("invalid testopts value \"{bad}\"")
            );
        }
        let long = "B:1,".repeat(300);
        assert!(
            parse_testopts(TestOpts::default(), &long)
                .unwrap_err()
                .contains("exceeds 1023-byte")
        );
    }

    #[test]
    fn ipmiopts_v2() {
        let o = parse_ipmiopts(
            &IpmiOpts::default(),
            "U:admin,P:0x414200,K:secretkey,C:17,L:op,W:opensesspriv,W:solpayloadsize,W:0x08000000",
        )
        .unwrap();
        assert_eq!(o.username.as_deref(), Some("admin"));
        assert_eq!(o.password.as_deref(), Some(&[0x41, 0x42, 0x00][..]));
        assert_eq!(o.k_g.as_deref(), Some(&b"secretkey"[..]));
        assert_eq!(o.cipher_suite, Some(17));
        assert_eq!(o.privilege, Some(PrivilegeLevel::Operator));
        assert_eq!(o.workarounds, Some(0x10 | 0x0100_0000 | 0x0800_0000));
    }

    #[test]
    fn ipmiopts_every_workaround_name() {
        for (name, bit) in WORKAROUND_NAMES {
            let o = parse_ipmiopts(&IpmiOpts::default(), &format!("W:{}", name.to_uppercase()))
                .unwrap();
            assert_eq!(o.workarounds, Some(bit), "{name}");
        }
        let o = parse_ipmiopts(&IpmiOpts::default(), "W:authcap,W:none").unwrap();
        assert_eq!(o.workarounds, Some(0));
        let o = parse_ipmiopts(&IpmiOpts::default(), "W:authcap,W:default").unwrap();
        assert_eq!(o.workarounds, None);
        let o = parse_ipmiopts(&IpmiOpts::default(), "W:none,W:sun20").unwrap();
        assert_eq!(o.workarounds, Some(8));
    }

    #[test]
    fn ipmiopts_resets_and_merges() {
        let base = parse_ipmiopts(&IpmiOpts::default(), "U:admin,P:pw,C:3").unwrap();
        let o = parse_ipmiopts(&base, "P:other,U:").unwrap();
        assert_eq!(o.username, None);
        assert_eq!(o.password.as_deref(), Some(&b"other"[..]));
        assert_eq!(o.cipher_suite, Some(3));
    }

    #[test]
    fn ipmiopts_v1() {
        let o = parse_ipmiopts(&IpmiOpts::default(), "root,-,0xABCD,authcap").unwrap();
        assert_eq!(o.username.as_deref(), Some("root"));
        assert_eq!(o.password, None);
        assert_eq!(o.k_g.as_deref(), Some(&[0xAB, 0xCD][..]));
        assert_eq!(o.workarounds, Some(1));
    }

    #[test]
    fn ipmiopts_errors() {
        let e = |s: &str| parse_ipmiopts(&IpmiOpts::default(), s).unwrap_err();
        assert_eq!(
            e("U:abcdefghijklmnopq"),
            "IPMI username exceeds 16-byte maximum"
        );
        assert_eq!(
            e("P:abcdefghijklmnopqrstu"),
            "IPMI password exceeds 20-byte maximum"
        );
        assert_eq!(
            e(&format!("K:0x{}", "ab".repeat(21))),
            "IPMI K_g exceeds 20-byte maximum"
        );
        assert_eq!(e("C:4"), "invalid IPMI cipher suite 4");
        assert_eq!(e("C:x"), "invalid IPMI cipher suite \"x\"");
        assert_eq!(e("L:god"), "invalid IPMI privilege level \"god\"");
        assert_eq!(e("L:7"), "invalid IPMI privilege level 7");
        assert_eq!(e("W:bogus"), "invalid IPMI workaround flag \"bogus\"");
        assert_eq!(e("W:0x10000"), "invalid IPMI workaround flag 0x10000");
        // Issue 12: the value of an unrecognized piece is never shown (it may be a
        // mistyped or comma-split secret).
        assert_eq!(e("U:a,Z:1"), "invalid ipmiopts string \"Z:***\"");
        assert!(e(&"U:a,".repeat(300)).contains("exceeds 1023-byte maximum"));
    }

    #[test]
    fn secrets_split_by_commas_are_never_echoed() {
        let e = |s: &str| parse_ipmiopts(&IpmiOpts::default(), s).unwrap_err();
        let m = e("U:admin,P:se,cret");
        assert_eq!(
            m,
            "invalid ipmiopts string \"***\" (a comma inside a P: or K: value splits it: \
             write the key in 0x hex or put the password in conman.pswd)"
        );
        assert!(!e("P:ab,L:qzjq").contains("qzj"));
        assert!(!e("K:ab,C:qzjq").contains("qzj"));
        assert!(!e("P:ab,W:qzjq").contains("qzj"));
        assert!(!e("P:ab,X:qzjq").contains("qzj"));
        assert!(e("P:ab,X:qzjq").contains("\"X:***\""));
        // v1 form: user,password,K_g,flags: a comma in the password shifts the rest.
        assert!(!e("admin,pa,ss,qzjq").contains("qzj"));
        assert!(e("admin,pa,ss,qzjq").contains("workaround flag \"***\""));
        // Before any secret, values are still shown.
        assert_eq!(e("L:god,P:x"), "invalid IPMI privilege level \"god\"");
    }

    proptest::proptest! {
        /// Whatever the commas and colons inside a password or K_g, no run of three
        /// of its characters reaches an error message.
        #[test]
        fn no_secret_fragment_in_any_error(
            secret in "[qzjQZJ]{1,6}(,[LCWUXZlcw]:[qzjQZJ]{1,6}|,[qzjQZJ]{1,6}){1,3}",
            form in 0usize..4,
        ) {
            let s = match form {
                0 => format!("U:admin,P:{secret}"),
                1 => format!("K:{secret},C:3"),
                2 => format!("P:x,K:{secret}"),
                _ => format!("admin,{secret}"),
            };
            if let Err(msg) = parse_ipmiopts(&IpmiOpts::default(), &s) {
                for piece in secret.split([',', ':']) {
                    for w in piece.as_bytes().windows(3) {
                        let w = std::str::from_utf8(w).unwrap();
                        proptest::prop_assert!(!msg.contains(w), "{msg:?} shows {w:?} of {s:?}");
                    }
                }
            }
        }
    }
}
