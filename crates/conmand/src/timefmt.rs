//! Local time in ConMan's formats: the daemon's one home for reading and formatting
//! the wall clock.
//!
//! ConMan formats times with `localtime_r` + `strftime`, including the zone
//! abbreviation (`%Z` → `UTC`, `CET`). jiff prints that abbreviation from the same
//! zone rules the C library reads (`TZ`, `/etc/localtime`); chrono's `Local` cannot:
//! its `%Z` prints the offset (`+01:00`). So jiff is the daemon's (and the client's)
//! only time crate, and nothing outside this module calls it.
//!
//! Each conversion ConMan uses (including every one `%` expansion in file names passes
//! through, [`conmand_core::config::TIME_SPECIFIERS`]) prints what C's `strftime`
//! prints for the same instant and zone.

use std::time::Duration;

use jiff::ZonedDateTime as Zoned;

/// The current local time formatted with a `strftime` format.
fn now(format: &str) -> String {
    Zoned::now().strftime(format).to_string()
}

/// `YYYY-MM-DD HH:MM:SS ZONE` (`%Y-%m-%d %H:%M:%S %Z`): log headers, `log at` marks.
pub fn long_now() -> String {
    long(&Zoned::now())
}

/// ConMan's long time string (`create_long_time_string`) for one instant.
fn long(t: &Zoned) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
}

/// `MM-DD HH:MM` (`%m-%d %H:%M`): the `at <t>` of joined/stolen/departed messages.
pub fn short_now() -> String {
    now("%m-%d %H:%M")
}

/// `YYYY-MM-DD HH:MM:SS` (`%Y-%m-%d %H:%M:%S`): the stamp of a daemon log-file line.
pub fn daemon_log_now() -> String {
    now("%Y-%m-%d %H:%M:%S")
}

/// `Mmm dd HH:MM:SS` (`%b %e %H:%M:%S`): the stamp of a syslog message, as glibc's
/// `syslog(3)` writes it.
pub fn syslog_now() -> String {
    now("%b %e %H:%M:%S")
}

/// The 20-byte log-line timestamp `YYYY-MM-DD HH:MM:SS ` (trailing space).
pub fn line_stamp_now() -> [u8; 20] {
    let s = now("%Y-%m-%d %H:%M:%S ");
    let mut out = [b' '; 20];
    let n = s.len().min(20);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

/// One strftime conversion (`%Y`, `%m`, …) of the current local time, for `%`
/// specifiers in log file names.
pub fn strftime_one(conv: char) -> String {
    one(&Zoned::now(), conv)
}

fn one(t: &Zoned, conv: char) -> String {
    t.strftime(&format!("%{conv}")).to_string()
}

/// How far into the local day it is now (from local midnight, to the nanosecond):
/// `server timestamp=` marks are aligned to it.
pub fn since_local_midnight() -> Duration {
    let t = Zoned::now();
    let secs = u64::from(t.hour().unsigned_abs()) * 3600
        + u64::from(t.minute().unsigned_abs()) * 60
        + u64::from(t.second().unsigned_abs());
    Duration::from_secs(secs)
        + Duration::from_nanos(u64::from(t.subsec_nanosecond().unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_conman_shapes() {
        let l = line_stamp_now();
        assert_eq!(l[4], b'-');
        assert_eq!(l[10], b' ');
        assert_eq!(l[19], b' ');
        assert_eq!(short_now().len(), 11);
        let long = long_now();
        assert!(long.len() > 20, "{long}");
        assert_eq!(strftime_one('Y').len(), 4);
        assert_eq!(daemon_log_now().len(), 19);
        assert_eq!(syslog_now().len(), 15);
        assert!(since_local_midnight() < Duration::from_secs(25 * 3600));
    }

    /// The zone abbreviation is what ConMan prints (chrono's `Local` gives `+01:00`).
    #[test]
    fn long_time_names_the_zone() {
        let at = |zone: &str| {
            jiff::Timestamp::from_second(0)
                .unwrap()
                .in_tz(zone)
                .unwrap()
        };
        assert_eq!(long(&at("Europe/Berlin")), "1970-01-01 01:00:00 CET");
        assert_eq!(long(&at("UTC")), "1970-01-01 00:00:00 UTC");
        assert_eq!(long(&at("America/New_York")), "1969-12-31 19:00:00 EST");
    }

    /// Every conversion `%` expansion passes through prints what glibc's `strftime`
    /// prints (expected values taken from glibc for these instants).
    #[test]
    fn file_name_conversions_match_c_strftime() {
        let cases = [
            (
                1_735_600_000,
                "America/New_York",
                "30|25|2025|18|365|12|06|1735600000|40|1|52|01|1|53|24|2024|Dec|30|EST",
            ),
            (
                1_609_459_200,
                "UTC",
                "01|20|2020|00|001|01|00|1609459200|00|5|00|53|5|00|21|2021|Jan| 1|UTC",
            ),
        ];
        for (secs, zone, want) in cases {
            let t = jiff::Timestamp::from_second(secs)
                .unwrap()
                .in_tz(zone)
                .unwrap();
            let got: Vec<String> = conmand_core::config::TIME_SPECIFIERS
                .chars()
                .chain("beZ".chars())
                .map(|c| one(&t, c))
                .collect();
            assert_eq!(got.join("|"), want, "{secs} {zone}");
        }
    }
}
