//! Texts the daemon sends to clients and log files (reference §3.8, §2.2).
//!
//! Holds [`time_delta`], ConMan's `create_time_delta_string`, used for idle
//! times in busy lines and for "disconnected ... after" messages.

/// Formats a duration like ConMan's `create_time_delta_string`: only the
/// largest non-zero unit and everything below it are shown, with years of 52
/// weeks: `0s`, `2m5s`, `1h0m3s`, `1d0h0m0s`, `1w…`, `1y0w0d0h0m0s`.
pub fn time_delta(secs: u64) -> String {
    let seconds = secs % 60;
    let n = secs / 60;
    let minutes = n % 60;
    let n = n / 60;
    let hours = n % 24;
    let n = n / 24;
    let days = n % 7;
    let n = n / 7;
    let weeks = n % 52;
    let years = n / 52;
    if years > 0 {
        format!("{years}y{weeks}w{days}d{hours}h{minutes}m{seconds}s")
    } else if weeks > 0 {
        format!("{weeks}w{days}d{hours}h{minutes}m{seconds}s")
    } else if days > 0 {
        format!("{days}d{hours}h{minutes}m{seconds}s")
    } else if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_delta_units() {
        assert_eq!(time_delta(0), "0s");
        assert_eq!(time_delta(59), "59s");
        assert_eq!(time_delta(60), "1m0s");
        assert_eq!(time_delta(125), "2m5s");
        assert_eq!(time_delta(3603), "1h0m3s");
        assert_eq!(time_delta(86_400), "1d0h0m0s");
        assert_eq!(time_delta(7 * 86_400 + 61), "1w0d0h1m1s");
        assert_eq!(time_delta(52 * 7 * 86_400), "1y0w0d0h0m0s");
        assert_eq!(
            time_delta(2 * 52 * 7 * 86_400 + 3 * 7 * 86_400 + 4 * 86_400 + 5 * 3600 + 6 * 60 + 7),
            "2y3w4d5h6m7s"
        );
    }
}
