//! Native IPMI v2.0 / RMCP+ Serial-over-LAN client logic, sans-IO.
//!
//! Nothing here touches a socket or a clock: the daemon's UDP backend feeds
//! datagrams, user input and the current time into a [`session::Session`] and
//! sends whatever datagrams it emits. Random numbers (session IDs, RAKP nonces,
//! AES IVs) come from a caller-supplied source.
//!
//! - [`wire`]: packet codecs (RMCP/ASF, IPMI 1.5 and RMCP+ headers and trailer,
//!   IPMI messages, Open Session, RAKP 1–4, SOL header).
//! - [`crypto`]: cipher suites, RAKP codes, SIK/K1/K2, integrity and AES-CBC-128.
//! - [`sol`]: the SOL payload engine (sequence numbers, acks, retransmission,
//!   partial acceptance, NACK, break ordering).
//! - `bmc` (cargo feature `bmc`, and this crate's own tests): a small BMC responder
//!   for tests and the simulator (every suite, fault knobs). Not part of the daemon.
//! - [`session`]: the session state machine, from Get Channel Authentication
//!   Capabilities through RAKP, privilege, SOL activation (with "already active"
//!   steal), keepalive and teardown.

use std::fmt;
use std::time::Duration;

use crate::config::{IpmiOpts, PrivilegeLevel};
use crate::pswd::PasswordDb;

#[cfg(any(test, feature = "bmc"))]
pub mod bmc;
pub mod crypto;
pub mod session;
pub mod sol;
pub mod wire;

pub use crypto::CipherSuite;

/// Credentials for one BMC: the one credential type, whether they come from
/// `ipmiopts` or a `conman.pswd` line ([`IpmiCredentials::for_console`] decides).
/// `Debug` never shows the password or K_g.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IpmiCredentials {
    /// User name (≤ 16 bytes; empty = the null user).
    pub username: String,
    /// Password (≤ 20 bytes; empty = no password).
    pub password: Vec<u8>,
    /// K_g, the BMC key (≤ 20 bytes); `None` = use the password.
    pub k_g: Option<Vec<u8>>,
}

impl fmt::Debug for IpmiCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpmiCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("k_g", &self.k_g.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Invalid IPMI options or credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// User name longer than 16 bytes.
    #[error("IPMI username exceeds 16-byte maximum")]
    UsernameTooLong,
    /// Password longer than 20 bytes.
    #[error("IPMI password exceeds 20-byte maximum")]
    PasswordTooLong,
    /// K_g longer than 20 bytes.
    #[error("IPMI K_g exceeds 20-byte maximum")]
    KgTooLong,
    /// A cipher suite this client does not implement.
    #[error("invalid IPMI cipher suite {0}")]
    CipherSuite(u8),
}

impl IpmiCredentials {
    /// The credentials a console with `ipmiopts` `opts` on BMC `host` uses: the
    /// `ipmiopts` values first; when they give no password, the first `conman.pswd`
    /// line whose host regex matches all of `host` (and whose user is the `ipmiopts`
    /// user, if one is given) supplies user and password, and K_g unless `ipmiopts`
    /// gave one.
    pub fn for_console(host: &str, opts: &IpmiOpts, pswd: Option<&PasswordDb>) -> Self {
        let from_opts = IpmiCredentials {
            username: opts.username.clone().unwrap_or_default(),
            password: opts.password.clone().unwrap_or_default(),
            k_g: opts.k_g.clone(),
        };
        if opts.password.is_some() {
            return from_opts;
        }
        match pswd.and_then(|db| db.lookup(host, opts.username.as_deref())) {
            Some(found) => IpmiCredentials {
                k_g: from_opts.k_g.or_else(|| found.k_g.clone()),
                ..found.clone()
            },
            None => from_opts,
        }
    }

    /// Check the IPMI 2.0 length limits.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.username.len() > 16 {
            return Err(OptionsError::UsernameTooLong);
        }
        if self.password.len() > 20 {
            return Err(OptionsError::PasswordTooLong);
        }
        if self.k_g.as_ref().is_some_and(|k| k.len() > 20) {
            return Err(OptionsError::KgTooLong);
        }
        Ok(())
    }

    /// K_g if one is configured (an empty key counts as none).
    pub fn k_g(&self) -> Option<&[u8]> {
        self.k_g.as_deref().filter(|k| !k.is_empty())
    }
}

/// FreeIPMI workaround flags (`ipmiopts W:`), bit values as in libipmiconsole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Workarounds(pub u32);

impl Workarounds {
    /// `authcap`: skip the auth-caps user/K_g checks (we only log them anyway).
    pub const AUTHCAP: u32 = 0x0000_0001;
    /// `intel20`: Intel 2.0 session quirks.
    pub const INTEL20: u32 = 0x0000_0002;
    /// `supermicro20`: accept a RAKP 2 code one byte too long.
    pub const SUPERMICRO20: u32 = 0x0000_0004;
    /// `sun20`: implies `opensesspriv`, trims a 21-byte SHA1 RAKP 2 code.
    pub const SUN20: u32 = 0x0000_0008;
    /// `opensesspriv`: send the real privilege in Open Session.
    pub const OPENSESSPRIV: u32 = 0x0000_0010;
    /// `integritycheckvalue`: ignore a non-empty RAKP 4 ICV with suite 0.
    pub const INTEGRITYCHECKVALUE: u32 = 0x0000_0020;
    /// `nochecksumcheck`: don't verify IPMI message checksums.
    pub const NOCHECKSUMCHECK: u32 = 0x0000_0040;
    /// `serialalertsdeferred`: Activate aux bits 3:2 = 01.
    pub const SERIALALERTSDEFERRED: u32 = 0x0000_0080;
    /// `solpacketseq`: bump the SOL sequence once after max retransmissions.
    pub const SOLPACKETSEQ: u32 = 0x0000_0100;
    /// `solpayloadsize`: ignore the Activate payload sizes, send 32 chars.
    pub const SOLPAYLOADSIZE: u32 = 0x0100_0000;
    /// `solport`: ignore an alternate SOL port.
    pub const SOLPORT: u32 = 0x0200_0000;
    /// `solstatus`: skip Get Payload Activation Status.
    pub const SOLSTATUS: u32 = 0x0400_0000;
    /// `solchannelsupport`: skip Get Channel Payload Support (never sent by us).
    pub const SOLCHANNELSUPPORT: u32 = 0x0800_0000;
    /// libipmiconsole's "default" marker.
    pub const DEFAULT: u32 = 0xFFFF_FFFF;

    /// From the config value (`None` or DEFAULT = no flags: our defaults are
    /// already lenient where ipmi_sim and common BMCs need it).
    pub fn from_config(v: Option<u32>) -> Workarounds {
        match v {
            None | Some(Self::DEFAULT) => Workarounds(0),
            Some(v) => Workarounds(v),
        }
    }

    /// Whether `flag` is set.
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
}

/// Retransmission and keepalive timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// First retransmission timeout.
    pub retransmit_base: Duration,
    /// Added to the timeout every `retransmit_step_every` retransmissions.
    pub retransmit_step: Duration,
    /// How many retransmissions share one timeout value.
    pub retransmit_step_every: u32,
    /// Retransmissions of one request before giving up.
    pub max_retransmits: u32,
    /// Interval of the unconditional keepalive (Get Device ID).
    pub keepalive_interval: Duration,
    /// The session is dead after this long without any valid packet.
    pub session_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            retransmit_base: Duration::from_millis(500),
            retransmit_step: Duration::from_millis(500),
            retransmit_step_every: 2,
            max_retransmits: 16,
            keepalive_interval: Duration::from_secs(10),
            session_timeout: Duration::from_secs(60),
        }
    }
}

impl Timing {
    /// Timeout after the `n`-th transmission (0 = first send).
    pub fn retransmit_delay(&self, n: u32) -> Duration {
        self.retransmit_base + self.retransmit_step * (n / self.retransmit_step_every.max(1))
    }
}

/// Everything a session needs besides credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Cipher suite (default 3).
    pub suite: CipherSuite,
    /// Requested privilege: 2 user, 3 operator, 4 admin (default).
    pub privilege: u8,
    /// Workaround flags.
    pub workarounds: Workarounds,
    /// SOL payload instance (default 1).
    pub sol_instance: u8,
    /// Use Get Payload Instance Info as the keepalive, to notice a silent SOL
    /// steal (default on; it turns itself off when the BMC's answer does not
    /// name our own session).
    pub ownership_probe: bool,
    /// Timers.
    pub timing: Timing,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            // Invariant: suite 3 is in the table.
            suite: CipherSuite::from_id(CipherSuite::DEFAULT_ID).expect("suite 3 exists"),
            privilege: 4,
            workarounds: Workarounds(0),
            sol_instance: 1,
            ownership_probe: true,
            timing: Timing::default(),
        }
    }
}

impl SessionOptions {
    /// Build from a console's merged `ipmiopts`.
    pub fn from_ipmi_opts(opts: &IpmiOpts) -> Result<SessionOptions, OptionsError> {
        let id = opts.cipher_suite.unwrap_or(CipherSuite::DEFAULT_ID);
        let suite = CipherSuite::from_id(id).ok_or(OptionsError::CipherSuite(id))?;
        let privilege = match opts.privilege {
            Some(PrivilegeLevel::User) => 2,
            Some(PrivilegeLevel::Operator) => 3,
            Some(PrivilegeLevel::Admin) | None => 4,
        };
        Ok(SessionOptions {
            suite,
            privilege,
            workarounds: Workarounds::from_config(opts.workarounds),
            ..SessionOptions::default()
        })
    }
}

#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod tests;
