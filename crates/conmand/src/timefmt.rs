//! Local-time strings in ConMan's formats.
//!
//! ConMan formats times with `localtime_r` + `strftime`, including the zone
//! abbreviation (`UTC`, `CET`), which chrono cannot print; jiff can.

use jiff::ZonedDateTime as Zoned;

/// `YYYY-MM-DD HH:MM:SS ZONE` (`%Y-%m-%d %H:%M:%S %Z`): log headers, `log at` marks.
pub fn long_now() -> String {
    Zoned::now().strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
}

/// `MM-DD HH:MM` (`%m-%d %H:%M`): the `at <t>` of joined/stolen/departed messages.
pub fn short_now() -> String {
    Zoned::now().strftime("%m-%d %H:%M").to_string()
}

/// The 20-byte log-line timestamp `YYYY-MM-DD HH:MM:SS ` (trailing space).
pub fn line_stamp_now() -> [u8; 20] {
    let s = Zoned::now().strftime("%Y-%m-%d %H:%M:%S ").to_string();
    let mut out = [b' '; 20];
    let n = s.len().min(20);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

/// One strftime conversion (`%Y`, `%m`, …) of the current local time, for `%`
/// specifiers in log file names.
pub fn strftime_one(conv: char) -> String {
    Zoned::now().strftime(&format!("%{conv}")).to_string()
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
    }
}
