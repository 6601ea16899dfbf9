//! `logline`: the console log-line processor (`logline::LineProcessor`) with
//! `sanitize` and `timestamp` on and off, fed whole and in an arbitrary split,
//! plus the timestamp formatter and the `log at` mark delay.
//!
//! Input: option bits, split seed, timestamp fields, then console output.
//!
//! Invariants: the split changes nothing; with neither option the bytes pass
//! unchanged; otherwise every line end is CR LF (no lone CR or LF), every line
//! starts with the timestamp when timestamps are on, and sanitized output is
//! 7-bit printable; a timestamp is always `YYYY-MM-DD HH:MM:SS `; the first mark
//! falls within one interval.

use conmand_core::logline::{LineProcessor, TIMESTAMP_LEN, Timestamp, first_mark_delay, timestamp};

use super::{Input, split};

fn process(sanitize: bool, stamp: bool, ts: &Timestamp, chunks: &[&[u8]]) -> Vec<u8> {
    let mut p = LineProcessor::new(sanitize, stamp);
    let mut out = Vec::new();
    for c in chunks {
        p.process(c, ts, &mut out);
    }
    out
}

fn check_timestamp(ts: &Timestamp) {
    for (i, &b) in ts.iter().enumerate() {
        let ok = match i {
            4 | 7 => b == b'-',
            10 | 19 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        };
        assert!(ok, "bad timestamp {:?}", String::from_utf8_lossy(ts));
    }
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let seed = input.u8();
    let year = i32::from(input.u16() as i16);
    let [mo, d, h, mi, s] = input.array::<5>();
    let ts = timestamp(
        year,
        u32::from(mo),
        u32::from(d),
        u32::from(h),
        u32::from(mi),
        u32::from(s),
    );
    assert_eq!(ts.len(), TIMESTAMP_LEN);
    check_timestamp(&ts);

    // The daemon's domain: a time of day (a DST day has up to 25 h) and an
    // interval of `server timestamp=` minutes.
    let secs = u64::from(input.u32()) % (25 * 3600);
    let interval = u64::from(input.u32()) * 60;
    match first_mark_delay(secs, interval) {
        None => assert_eq!(interval, 0),
        Some(delay) => assert!(delay >= 1 && delay <= interval),
    }

    let (sanitize, stamp) = (flags & 1 != 0, flags & 2 != 0);
    let stream = input.rest();
    let whole = process(sanitize, stamp, &ts, &[stream]);
    assert_eq!(
        whole,
        process(sanitize, stamp, &ts, &split(stream, seed)),
        "split changed the log"
    );
    assert_eq!(
        LineProcessor::new(sanitize, stamp).is_passthrough(),
        !sanitize && !stamp
    );
    if !sanitize && !stamp {
        assert_eq!(whole, stream);
        return;
    }
    for (i, &b) in whole.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(whole.get(i + 1), Some(&b'\n'), "lone CR at {i}"),
            b'\n' => assert!(i > 0 && whole[i - 1] == b'\r', "lone LF at {i}"),
            _ if sanitize => assert!((0x20..0x7f).contains(&b), "unsanitized byte {b:#04x}"),
            _ => {}
        }
    }
    if stamp && !whole.is_empty() {
        let mut lines: Vec<&[u8]> = whole.split(|&b| b == b'\n').collect();
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        for l in lines {
            assert!(l.starts_with(&ts), "line without timestamp");
        }
    }

    // An info message between chunks (`reset`) starts a new line.
    let mut p = LineProcessor::new(sanitize, stamp);
    let mut out = Vec::new();
    for c in split(stream, seed.wrapping_add(1)) {
        p.process(c, &ts, &mut out);
        p.reset();
    }
}
