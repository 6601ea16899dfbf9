//! Resource limits: `server nofile=` (RLIMIT_NOFILE) and `server coredump=`
//! (RLIMIT_CORE), reference §1.3, §5.11, §5.12.
//!
//! * `nofile`: 0 keeps the current soft limit; a negative value raises the soft limit
//!   to the hard limit; N > 0 sets the soft limit to N, raising the hard limit too when
//!   N is above it (which needs privilege). The daemon then logs
//!   [`open_file_limit_message`] (`Open file limit set to N`). ConMan makes a failure
//!   fatal: `Unable to set open file limit to N: <err>`.
//! * `coredump`: off sets soft and hard RLIMIT_CORE to 0 (cores actively disabled);
//!   on sets both to unlimited. Deviation, for sturdiness: when an unprivileged daemon
//!   may not raise the hard limit, the soft limit is raised to the hard limit instead
//!   of failing (ConMan exits with `Unable to set core dump file limit`).
//!
//! The coredump-directory chdir and fatal-signal re-raise are not here.

use std::io;

use conmand_core::oserror::strerror;
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Errors setting limits; `Display` is ConMan's message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// `setrlimit(RLIMIT_NOFILE)` failed.
    #[error("Unable to set open file limit to {}: {}", show(*value), strerror(source))]
    Nofile {
        /// The soft limit asked for (`None` = unlimited).
        value: Option<u64>,
        /// The OS error.
        source: io::Error,
    },
    /// `setrlimit(RLIMIT_CORE)` failed.
    #[error("Unable to set core dump file limit: {}", strerror(source))]
    Core {
        /// The OS error.
        source: io::Error,
    },
}

/// A soft/hard limit pair; `None` means unlimited (RLIM_INFINITY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The soft (current) limit.
    pub soft: Option<u64>,
    /// The hard (maximum) limit.
    pub hard: Option<u64>,
}

impl From<Rlimit> for Limit {
    fn from(r: Rlimit) -> Self {
        Limit {
            soft: r.current,
            hard: r.maximum,
        }
    }
}

impl From<Limit> for Rlimit {
    fn from(l: Limit) -> Self {
        Rlimit {
            current: l.soft,
            maximum: l.hard,
        }
    }
}

/// Pure: the RLIMIT_NOFILE to set for the `nofile` setting, given the current limit.
/// `None` when nothing is to be changed (`nofile=0`).
pub fn plan_nofile(setting: i64, current: Limit) -> Option<Limit> {
    match setting {
        0 => None,
        n if n < 0 => Some(Limit {
            soft: current.hard,
            hard: current.hard,
        }),
        n => {
            let n = n.unsigned_abs();
            let hard = match current.hard {
                Some(h) if h < n => Some(n),
                other => other,
            };
            Some(Limit {
                soft: Some(n),
                hard,
            })
        }
    }
}

/// Applies `server nofile=` and returns the resulting soft limit (`None` = unlimited)
/// for the `Open file limit set to N` message.
pub fn set_nofile(setting: i64) -> Result<Option<u64>, LimitError> {
    let current = Limit::from(getrlimit(Resource::Nofile));
    let Some(new) = plan_nofile(setting, current) else {
        return Ok(current.soft);
    };
    setrlimit(Resource::Nofile, new.into()).map_err(|e| LimitError::Nofile {
        value: new.soft,
        source: e.into(),
    })?;
    Ok(Limit::from(getrlimit(Resource::Nofile)).soft)
}

/// `Open file limit set to N` (`unlimited` for RLIM_INFINITY, which ConMan would
/// print as -1).
pub fn open_file_limit_message(soft: Option<u64>) -> String {
    format!("Open file limit set to {}", show(soft))
}

fn show(value: Option<u64>) -> String {
    value.map_or_else(|| "unlimited".to_owned(), |v| v.to_string())
}

/// Applies `server coredump=on|off` to RLIMIT_CORE and returns the limit now in force.
pub fn set_coredump(enabled: bool) -> Result<Limit, LimitError> {
    let wanted = if enabled {
        Limit {
            soft: None,
            hard: None,
        }
    } else {
        Limit {
            soft: Some(0),
            hard: Some(0),
        }
    };
    match setrlimit(Resource::Core, wanted.into()) {
        Ok(()) => {}
        Err(Errno::PERM) if enabled => {
            // Unprivileged with a finite hard limit: go as high as allowed.
            let hard = Limit::from(getrlimit(Resource::Core)).hard;
            setrlimit(Resource::Core, Limit { soft: hard, hard }.into())
                .map_err(|e| LimitError::Core { source: e.into() })?;
        }
        Err(e) => return Err(LimitError::Core { source: e.into() }),
    }
    Ok(Limit::from(getrlimit(Resource::Core)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn lim(soft: Option<u64>, hard: Option<u64>) -> Limit {
        Limit { soft, hard }
    }

    #[test]
    fn plan_keep_raise_and_set() {
        let cur = lim(Some(1024), Some(20000));
        assert_eq!(plan_nofile(0, cur), None);
        assert_eq!(plan_nofile(-1, cur), Some(lim(Some(20000), Some(20000))));
        assert_eq!(plan_nofile(-7, cur), Some(lim(Some(20000), Some(20000))));
        assert_eq!(plan_nofile(4096, cur), Some(lim(Some(4096), Some(20000))));
        assert_eq!(plan_nofile(100, cur), Some(lim(Some(100), Some(20000))));
        // Above the hard limit: the hard limit is raised too.
        assert_eq!(plan_nofile(50000, cur), Some(lim(Some(50000), Some(50000))));
        // An unlimited hard limit is never lowered.
        assert_eq!(
            plan_nofile(50000, lim(Some(1024), None)),
            Some(lim(Some(50000), None))
        );
        assert_eq!(
            plan_nofile(-1, lim(Some(1024), None)),
            Some(lim(None, None))
        );
    }

    #[test]
    fn messages() {
        assert_eq!(
            open_file_limit_message(Some(20000)),
            "Open file limit set to 20000"
        );
        assert_eq!(
            open_file_limit_message(None),
            "Open file limit set to unlimited"
        );
        let e = LimitError::Nofile {
            value: Some(99),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(
            e.to_string(),
            "Unable to set open file limit to 99: Operation not permitted"
        );
    }

    #[test]
    fn set_nofile_within_current_limits() {
        let before = Limit::from(getrlimit(Resource::Nofile));
        // Keep.
        assert_eq!(set_nofile(0).unwrap(), before.soft);
        // The current soft value again: a real setrlimit that changes nothing.
        if let Some(soft) = before.soft {
            let n = i64::try_from(soft).unwrap();
            assert_eq!(set_nofile(n).unwrap(), Some(soft));
        }
        // Raise to the hard limit (never lowers anything other tests rely on).
        assert_eq!(set_nofile(-1).unwrap(), before.hard);
        assert_eq!(Limit::from(getrlimit(Resource::Nofile)).hard, before.hard);
    }
}
