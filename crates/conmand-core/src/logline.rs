//! The console log line processor (`write_log_data`, reference §5.6).
//!
//! Console output going into a log file is rewritten when the console's
//! `logopts` enable `sanitize` or `timestamp`:
//!
//! - line ends are normalized to CR LF: `\r\n`, `\n\r`, a lone `\n` and a lone
//!   `\r` each become one `\r\n`; repeated CRs collapse; a NUL right after a CR
//!   or a line end is dropped;
//! - with `timestamp`, every line starts with `YYYY-MM-DD HH:MM:SS ` (20 bytes)
//!   written when the line's *first byte* arrives (empty lines included);
//! - with `sanitize`, data is made 7-bit printable: control bytes become `^X`,
//!   DEL `^?`, and with the high bit set `~X`, `~?` or `` `c ``.
//!
//! With neither option the bytes go to the log untouched; callers should check
//! [`LineProcessor::is_passthrough`] and skip processing altogether.
//!
//! Info messages (`\r\n<ConMan> ... .\r\n`) are written to the log raw, outside
//! this processor; after each one the caller calls [`LineProcessor::reset`] so
//! the next console byte starts a fresh line (ConMan does the same after the
//! "log opened" header).
//!
//! The processor reads no clock: the caller formats the timestamp (local time,
//! `%Y-%m-%d %H:%M:%S `, see [`timestamp`]) and passes it to each
//! [`LineProcessor::process`] call. ConMan reads the clock per line start; one
//! value per read is the same to the second for all practical purposes.

/// Length of a line timestamp, trailing space included.
pub const TIMESTAMP_LEN: usize = 20;

/// A formatted line timestamp, `YYYY-MM-DD HH:MM:SS `.
pub type Timestamp = [u8; TIMESTAMP_LEN];

/// Formats a line timestamp from calendar fields (already in local time).
/// Fields are clamped into range so the result is always 20 bytes: the year to
/// 0..=9999, the others to two digits.
pub fn timestamp(
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Timestamp {
    let mut ts = *b"0000-00-00 00:00:00 ";
    let year = year.clamp(0, 9999).unsigned_abs();
    let two = |v: u32| [b'0' + (v.min(99) / 10) as u8, b'0' + (v.min(99) % 10) as u8];
    ts[0..2].copy_from_slice(&two(year / 100));
    ts[2..4].copy_from_slice(&two(year % 100));
    ts[5..7].copy_from_slice(&two(month));
    ts[8..10].copy_from_slice(&two(day));
    ts[11..13].copy_from_slice(&two(hour));
    ts[14..16].copy_from_slice(&two(minute));
    ts[17..19].copy_from_slice(&two(second));
    ts
}

/// Seconds from now until the first periodic `log at` mark (reference §5.7).
///
/// Marks are aligned to local midnight: the first one falls on the next multiple
/// of `interval_secs` counted from 00:00 today (strictly after now), and each
/// later mark is simply the previous one plus the interval, with no
/// re-alignment at the next midnight. `secs_since_midnight` is the local time
/// of day in seconds. Returns `None` for a zero interval.
pub fn first_mark_delay(secs_since_midnight: u64, interval_secs: u64) -> Option<u64> {
    if interval_secs == 0 {
        return None;
    }
    let completed = secs_since_midnight / interval_secs;
    Some((completed + 1) * interval_secs - secs_since_midnight)
}

/// Where the processor is within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Start of the log or just after an info message: nothing written yet.
    Init,
    /// Inside a line with data.
    Data,
    /// A CR was seen; its line end is not written yet.
    Cr,
    /// A line end (`\r\n`) was just written.
    Lf,
}

/// Per-logfile line processor. Keep one per console log and feed it every chunk
/// of console output in order.
#[derive(Debug, Clone)]
pub struct LineProcessor {
    /// The `sanitize` logopt.
    sanitize: bool,
    /// The `timestamp` logopt.
    timestamp: bool,
    /// Line state carried across calls.
    state: LineState,
}

impl LineProcessor {
    /// A processor at the start of a line, for the given logopts.
    pub fn new(sanitize: bool, timestamp: bool) -> Self {
        LineProcessor {
            sanitize,
            timestamp,
            state: LineState::Init,
        }
    }

    /// True when neither option is on: output equals input, so the caller can
    /// write console bytes straight to the log.
    pub fn is_passthrough(&self) -> bool {
        !self.sanitize && !self.timestamp
    }

    /// Back to "start of line". Call after writing an info message or the
    /// log-opened header to the log.
    pub fn reset(&mut self) {
        self.state = LineState::Init;
    }

    /// Appends the processed form of `input` to `out`. `ts` is written at each
    /// line start when timestamps are on. In passthrough mode `input` is copied
    /// unchanged.
    pub fn process(&mut self, input: &[u8], ts: &Timestamp, out: &mut Vec<u8>) {
        if self.is_passthrough() {
            out.extend_from_slice(input);
            return;
        }
        // Worst case is 2 bytes per input byte; reserve a typical amount.
        out.reserve(input.len() + input.len() / 4 + TIMESTAMP_LEN);
        let mut i = 0;
        while i < input.len() {
            match input[i] {
                b'\r' => {
                    match self.state {
                        LineState::Data => self.state = LineState::Cr,
                        LineState::Init => {
                            self.put_ts(ts, out);
                            self.state = LineState::Cr;
                        }
                        LineState::Cr | LineState::Lf => {}
                    }
                    i += 1;
                }
                b'\n' => {
                    if matches!(self.state, LineState::Init | LineState::Lf) {
                        self.put_ts(ts, out);
                    }
                    out.extend_from_slice(b"\r\n");
                    self.state = LineState::Lf;
                    i += 1;
                }
                0 if matches!(self.state, LineState::Cr | LineState::Lf) => i += 1,
                _ => {
                    if self.state == LineState::Cr {
                        out.extend_from_slice(b"\r\n");
                    }
                    if self.state != LineState::Data {
                        self.put_ts(ts, out);
                    }
                    self.state = LineState::Data;
                    // In DATA state only CR and LF are special: take the whole run.
                    let end = input[i..]
                        .iter()
                        .position(|&b| b == b'\r' || b == b'\n')
                        .map_or(input.len(), |p| i + p);
                    if self.sanitize {
                        sanitize_into(&input[i..end], out);
                    } else {
                        out.extend_from_slice(&input[i..end]);
                    }
                    i = end;
                }
            }
        }
    }

    /// Writes the timestamp if timestamps are on.
    fn put_ts(&self, ts: &Timestamp, out: &mut Vec<u8>) {
        if self.timestamp {
            out.extend_from_slice(ts);
        }
    }
}

/// Appends `data` sanitized to 7-bit printable text, copying printable runs as
/// slices.
fn sanitize_into(mut data: &[u8], out: &mut Vec<u8>) {
    while !data.is_empty() {
        let run = data
            .iter()
            .position(|&b| !(0x20..0x7F).contains(&b))
            .unwrap_or(data.len());
        out.extend_from_slice(&data[..run]);
        let Some(&b) = data.get(run) else { break };
        let c = b & 0x7F;
        let high = b & 0x80 != 0;
        if c < 0x20 {
            out.extend_from_slice(&[if high { b'~' } else { b'^' }, c + b'@']);
        } else if c == 0x7F {
            out.extend_from_slice(&[if high { b'~' } else { b'^' }, b'?']);
        } else {
            // Only reachable with the high bit set (printables were copied).
            out.extend_from_slice(&[b'`', c]);
        }
        data = &data[run + 1..];
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TS: &Timestamp = b"2026-11-25 07:43:20 ";
    const EXAMPLE: &[u8] = b"a\r\nb\n\rc\rd\r\0e\n\0f\tg\x01h\x7fi\x80j\xffk\x9bl\n\n\nz";

    fn run(sanitize: bool, timestamp: bool, chunks: &[&[u8]]) -> Vec<u8> {
        let mut p = LineProcessor::new(sanitize, timestamp);
        let mut out = Vec::new();
        for c in chunks {
            p.process(c, TS, &mut out);
        }
        out
    }

    #[test]
    fn worked_example_sanitize_and_timestamp() {
        let want = b"2026-11-25 07:43:20 a\r\n2026-11-25 07:43:20 b\r\n\
2026-11-25 07:43:20 c\r\n2026-11-25 07:43:20 d\r\n2026-11-25 07:43:20 e\r\n\
2026-11-25 07:43:20 f^Ig^Ah^?i~@j~?k~[l\r\n2026-11-25 07:43:20 \r\n\
2026-11-25 07:43:20 \r\n2026-11-25 07:43:20 z";
        assert_eq!(run(true, true, &[EXAMPLE]), want.to_vec());
    }

    #[test]
    fn worked_example_sanitize_only() {
        assert_eq!(
            run(true, false, &[EXAMPLE]),
            b"a\r\nb\r\nc\r\nd\r\ne\r\nf^Ig^Ah^?i~@j~?k~[l\r\n\r\n\r\nz".to_vec()
        );
    }

    #[test]
    fn worked_example_neither_is_passthrough() {
        let p = LineProcessor::new(false, false);
        assert!(p.is_passthrough());
        assert_eq!(run(false, false, &[EXAMPLE]), EXAMPLE.to_vec());
    }

    #[test]
    fn timestamp_only_keeps_data_bytes() {
        assert_eq!(
            run(false, true, &[b"x\x01\xff\r\0y\r"]),
            b"2026-11-25 07:43:20 x\x01\xff\r\n2026-11-25 07:43:20 y".to_vec()
        );
    }

    #[test]
    fn sanitize_mapping() {
        let mut out = Vec::new();
        sanitize_into(b"\t\x00\x1f \x7e\x7f\x80\x9b\xe9\xff\xa0", &mut out);
        assert_eq!(out, b"^I^@^_ ~^?~@~[`i~?` ".to_vec());
    }

    #[test]
    fn nul_is_data_at_line_start_and_inside_a_line() {
        assert_eq!(run(true, false, &[b"\0a\0"]), b"^@a^@".to_vec());
        assert_eq!(run(true, false, &[b"a\n\0b"]), b"a\r\nb".to_vec());
    }

    #[test]
    fn cr_at_init_writes_the_timestamp() {
        assert_eq!(
            run(false, true, &[b"\r\r\rx"]),
            b"2026-11-25 07:43:20 \r\n2026-11-25 07:43:20 x".to_vec()
        );
    }

    #[test]
    fn reset_starts_a_new_line_after_an_info_message() {
        let mut p = LineProcessor::new(false, true);
        let mut out = Vec::new();
        p.process(b"abc", TS, &mut out);
        out.extend_from_slice(b"\r\n<ConMan> Console [x] log at ....\r\n");
        p.reset();
        p.process(b"def\n", TS, &mut out);
        assert_eq!(
            out,
            b"2026-11-25 07:43:20 abc\r\n<ConMan> Console [x] log at ....\r\n\
2026-11-25 07:43:20 def\r\n"
                .to_vec()
        );
    }

    #[test]
    fn timestamp_formatting() {
        assert_eq!(&timestamp(2026, 11, 25, 7, 43, 20), TS);
        assert_eq!(&timestamp(5, 1, 2, 3, 4, 5), b"0005-01-02 03:04:05 ");
        assert_eq!(&timestamp(12345, 100, 0, 0, 0, 0), b"9999-99-00 00:00:00 ");
    }

    #[test]
    fn marks_align_to_midnight() {
        // 07:39:30 with 1m marks: next at 07:40:00.
        assert_eq!(first_mark_delay(7 * 3600 + 39 * 60 + 30, 60), Some(30));
        // Exactly on a boundary: the next one, a full interval later.
        assert_eq!(first_mark_delay(7 * 3600, 3600), Some(3600));
        // 7m marks at 23:53: the next is 23:55 (1435 min = 205 x 7).
        assert_eq!(first_mark_delay(23 * 3600 + 53 * 60, 420), Some(120));
        assert_eq!(first_mark_delay(0, 0), None);
    }

    /// Every CR is followed by LF and every LF preceded by CR.
    fn crlf_only(out: &[u8]) -> bool {
        out.iter().enumerate().all(|(i, &b)| match b {
            b'\r' => out.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && out[i - 1] == b'\r',
            _ => true,
        })
    }

    proptest! {
        #[test]
        fn line_ends_are_always_crlf(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()], 0..200),
            sanitize: bool,
            timestamp: bool,
        ) {
            prop_assume!(sanitize || timestamp);
            let out = run(sanitize, timestamp, &[&input]);
            prop_assert!(crlf_only(&out), "{:?}", out);
            if sanitize {
                prop_assert!(out.iter().all(|&b| (0x20..0x7F).contains(&b) || b == b'\r' || b == b'\n'));
            }
        }

        #[test]
        fn chunking_does_not_change_output(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()], 0..100),
            sanitize: bool,
            timestamp: bool,
            cut in any::<prop::sample::Index>(),
        ) {
            let whole = run(sanitize, timestamp, &[&input]);
            let (a, b) = input.split_at(cut.index(input.len() + 1));
            prop_assert_eq!(run(sanitize, timestamp, &[a, b]), whole.clone());
            let bytewise: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(run(sanitize, timestamp, &bytewise), whole);
        }
    }
}
