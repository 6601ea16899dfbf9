//! What a reload changes, as one immutable snapshot.
//!
//! Everything a SIGHUP may change (the configuration and the `conman.pswd`
//! database) lives in one [`Settings`] value behind one [`SettingsCell`] (a
//! [`Snapshot`]): readers
//! take an `Arc` and see a consistent whole; a reload builds a new value and swaps
//! it in. What only takes effect at restart (ports, loopback, keepalive, the
//! daemon log) is read once at start and kept where it is used.

use std::sync::Arc;

use conmand_core::config::Config;
use conmand_core::pswd::PasswordDb;

use crate::snapshot::Snapshot;

/// The reloadable settings.
#[derive(Debug)]
pub struct Settings {
    /// The running configuration.
    pub config: Config,
    /// The IPMI password database (`conman.pswd`), if there is one.
    pub pswd: Option<Arc<PasswordDb>>,
}

impl Settings {
    /// The daemon has a `resetcmd` (`OK OPTION=RESET`, `&R`).
    pub fn has_reset(&self) -> bool {
        self.config.server.resetcmd.is_some()
    }
}

/// The current [`Settings`].
pub type SettingsCell = Snapshot<Settings>;
