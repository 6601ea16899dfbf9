//! Syslog priority and facility names, both ways: what `server logfile=name,priority`
//! and `server syslog=` accept (ConMan's `logPriorities` and `logFacilities` tables),
//! and the canonical spelling `print()` writes back.

use super::model::{Priority, SyslogFacility};

/// Syslog priority names (`logPriorities`).
pub(super) fn lookup_priority(s: &str) -> Option<Priority> {
    let s = s
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase();
    Some(match s.as_str() {
        "alert" => Priority::Alert,
        "crit" | "critical" => Priority::Crit,
        "debug" => Priority::Debug,
        "emerg" | "emergency" | "panic" => Priority::Emerg,
        "err" | "error" => Priority::Err,
        "info" => Priority::Info,
        "notice" => Priority::Notice,
        "warn" | "warning" => Priority::Warning,
        _ => return None,
    })
}

/// Syslog facility names (`logFacilities`).
pub(super) fn lookup_facility(s: &str) -> Option<SyslogFacility> {
    use SyslogFacility::*;
    let s = s
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase();
    Some(match s.as_str() {
        "auth" => Auth,
        "authpriv" => Authpriv,
        "cron" => Cron,
        "daemon" => Daemon,
        "kern" => Kern,
        "lpr" => Lpr,
        "mail" => Mail,
        "news" => News,
        "user" => User,
        "uucp" => Uucp,
        "local0" => Local0,
        "local1" => Local1,
        "local2" => Local2,
        "local3" => Local3,
        "local4" => Local4,
        "local5" => Local5,
        "local6" => Local6,
        "local7" => Local7,
        _ => return None,
    })
}

/// The `server logfile=` name of a priority.
pub fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Emerg => "emerg",
        Priority::Alert => "alert",
        Priority::Crit => "crit",
        Priority::Err => "err",
        Priority::Warning => "warning",
        Priority::Notice => "notice",
        Priority::Info => "info",
        Priority::Debug => "debug",
    }
}

/// The `server syslog=` name of a facility.
pub fn facility_name(f: SyslogFacility) -> &'static str {
    use SyslogFacility::*;
    match f {
        Auth => "auth",
        Authpriv => "authpriv",
        Cron => "cron",
        Daemon => "daemon",
        Kern => "kern",
        Lpr => "lpr",
        Mail => "mail",
        News => "news",
        User => "user",
        Uucp => "uucp",
        Local0 => "local0",
        Local1 => "local1",
        Local2 => "local2",
        Local3 => "local3",
        Local4 => "local4",
        Local5 => "local5",
        Local6 => "local6",
        Local7 => "local7",
    }
}
