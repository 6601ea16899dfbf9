//! The validated configuration model: what `conmand` runs from.

use std::path::PathBuf;

/// ConMan's default TCP port (`DEFAULT_CONMAN_PORT`).
pub const DEFAULT_PORT: u16 = 7890;

/// A fully validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The configuration file name exactly as given on the command line.
    pub origin: String,
    /// `SERVER` settings.
    pub server: ServerOpts,
    /// Consoles in configuration order. Names are unique.
    pub consoles: Vec<ConsoleDef>,
}

/// `server clusterprefix=` when absent.
pub const DEFAULT_CLUSTER_PREFIX: &str = "/conman";
/// `server clusterttl=` when absent (seconds).
pub const DEFAULT_CLUSTER_TTL: u32 = 10;

/// Settings of the `SERVER` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOpts {
    /// `alertpack=builtin|off` (default builtin): the built-in kernel rules. Not in
    /// ConMan.
    pub alertpack: AlertPack,
    /// `alerts=FILE` (absolute): operator alert rules, read at start and SIGHUP.
    /// Not in ConMan.
    pub alerts: Option<PathBuf>,
    /// `eventlog=FILE` (absolute): alert events appended as JSON lines. Not in
    /// ConMan.
    pub eventlog: Option<PathBuf>,
    /// `alertwebhook=URL` (`http://HOST[:PORT][/PATH]`, checked): each alert
    /// event POSTed as JSON. Not in ConMan.
    pub alertwebhook: Option<String>,
    /// `alertexec=PROG`: a shell command run per alert event, the event JSON on
    /// its stdin. Not in ConMan.
    pub alertexec: Option<String>,
    /// `http=ADDR:PORT`: the HTTP API and metrics listener (off when absent). Not
    /// in ConMan.
    pub http: Option<std::net::SocketAddr>,
    /// `httptokens=FILE` (absolute): bearer tokens (`TOKEN : USER` lines), required
    /// when `http` is not a loopback address. Not in ConMan.
    pub httptokens: Option<PathBuf>,
    /// `acl=FILE` (absolute): who may do what on which consoles (SSH users, HTTP
    /// token users). Not in ConMan.
    pub acl: Option<PathBuf>,
    /// `auditlog=FILE` (absolute): one JSON line per client action. Not in ConMan.
    pub auditlog: Option<PathBuf>,
    /// `sshport=N`: the SSH front end's port (0: off). Not in ConMan.
    pub sshport: u16,
    /// `sshaddr=ADDR`: the SSH listener's address (default: loopback unless
    /// `loopback=off`, as the native port). Not in ConMan.
    pub sshaddr: Option<std::net::IpAddr>,
    /// `sshhostkey=FILE` (absolute): the SSH host key, made if missing. Not in
    /// ConMan.
    pub sshhostkey: Option<PathBuf>,
    /// `sshusers=DIR` (absolute): one `authorized_keys` file per user. Not in
    /// ConMan.
    pub sshusers: Option<PathBuf>,
    /// `sshca=FILE` (absolute): trusted user-CA public keys. Not in ConMan.
    pub sshca: Option<PathBuf>,
    /// `cluster=URL[,URL…]`: etcd v3 endpoints (`http://HOST:PORT`); absent:
    /// standalone. Not in ConMan.
    pub cluster: Vec<String>,
    /// `nodename=NAME`: this node's name in the cluster (default: the short host
    /// name). Not in ConMan.
    pub nodename: Option<String>,
    /// `clusterprefix=PATH`: the etcd key prefix (default `/conman`). Not in ConMan.
    pub clusterprefix: String,
    /// `clusterttl=N`: the node's lease in seconds (default 10). Not in ConMan.
    pub clusterttl: u32,
    /// `advertise=HOST:PORT`: where other nodes reach this node. Not in ConMan.
    pub advertise: Option<String>,
    /// `coredump=on|off` (default off).
    pub coredump: bool,
    /// `coredumpdir=` (absolute), if set.
    pub coredumpdir: Option<PathBuf>,
    /// `execpath=` split on `:` (empty and blank pieces dropped).
    pub execpath: Vec<PathBuf>,
    /// `keepalive=on|off` (default on).
    pub keepalive: bool,
    /// `logdir=` as it stood at the end of the file (absolute), if set.
    pub logdir: Option<PathBuf>,
    /// `logfile=name[,priority]`: the daemon's own log (name is a `%` template).
    pub logfile: Option<DaemonLogfile>,
    /// `loopback=on|off` (default on): bind 127.0.0.1 (and ::1) only.
    pub loopback: bool,
    /// `maxclients=N`: most clients connected at once (each source address may hold
    /// half); default [`crate::admission::DEFAULT_MAX_CLIENTS`]. Not in ConMan.
    pub maxclients: usize,
    /// `nofile=` (0 keep, -1 raise to hard limit, N set soft limit).
    pub nofile: i64,
    /// `pidfile=` (absolute), if set.
    pub pidfile: Option<PathBuf>,
    /// `port=`; `None` means [`DEFAULT_PORT`]. 0 asks for an ephemeral port.
    pub port: Option<u16>,
    /// `resetcmd=` shell command template, if set.
    pub resetcmd: Option<String>,
    /// `syslog=facility`, if set.
    pub syslog: Option<SyslogFacility>,
    /// `tcpwrappers=on|off`: screen clients with hosts.allow / hosts.deny.
    pub tcpwrappers: bool,
    /// `timestamp=` interval in minutes between `log at` marks (0 = off).
    pub timestamp_minutes: u32,
}

impl Default for ServerOpts {
    fn default() -> Self {
        ServerOpts {
            alertpack: AlertPack::Builtin,
            alerts: None,
            eventlog: None,
            alertwebhook: None,
            alertexec: None,
            http: None,
            httptokens: None,
            acl: None,
            auditlog: None,
            sshport: 0,
            sshaddr: None,
            sshhostkey: None,
            sshusers: None,
            sshca: None,
            cluster: Vec::new(),
            nodename: None,
            clusterprefix: DEFAULT_CLUSTER_PREFIX.to_string(),
            clusterttl: DEFAULT_CLUSTER_TTL,
            advertise: None,
            coredump: false,
            coredumpdir: None,
            execpath: Vec::new(),
            keepalive: true,
            logdir: None,
            logfile: None,
            loopback: true,
            maxclients: crate::admission::DEFAULT_MAX_CLIENTS,
            nofile: 0,
            pidfile: None,
            port: None,
            resetcmd: None,
            syslog: None,
            tcpwrappers: false,
            timestamp_minutes: 0,
        }
    }
}

/// `server alertpack=`: which built-in alert rules are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertPack {
    /// The kernel-incident pack (`kernel-panic`, `oops`, … `boot`).
    #[default]
    Builtin,
    /// None: only the rules of `server alerts=`.
    Off,
}

/// The daemon's own log file (`server logfile=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonLogfile {
    /// File name template (may contain `%` conversion specifiers), logdir applied.
    pub name: String,
    /// Minimum priority written.
    pub priority: Priority,
}

/// Syslog priorities, most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// LOG_EMERG
    Emerg,
    /// LOG_ALERT
    Alert,
    /// LOG_CRIT
    Crit,
    /// LOG_ERR
    Err,
    /// LOG_WARNING
    Warning,
    /// LOG_NOTICE
    Notice,
    /// LOG_INFO
    Info,
    /// LOG_DEBUG
    Debug,
}

/// Syslog facilities ConMan accepts for `server syslog=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum SyslogFacility {
    Auth,
    Authpriv,
    Cron,
    Daemon,
    Kern,
    Lpr,
    Mail,
    News,
    User,
    Uucp,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

/// One `CONSOLE` directive, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleDef {
    /// `name=`: unique, non-empty.
    pub name: String,
    /// `dev=` exactly as written in the file (before `%N` substitution).
    pub dev: String,
    /// The kind of console and its transport parameters.
    pub spec: ConsoleSpec,
    /// The log file name template (logdir applied, `%` specifiers unexpanded), or
    /// `None` when the console is not logged.
    pub log: Option<String>,
    /// `logopts=` merged over `global logopts=`.
    pub logopts: LogOpts,
    /// Line of the directive in the configuration file (1-based), for messages.
    pub line: u32,
}

/// What kind of console this is, with its transport parameters.
///
/// The daemon matches on this in exactly one place: the backend constructor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleSpec {
    /// A local serial device (`dev="/dev/ttyS0"`).
    Serial(SerialSpec),
    /// A telnet terminal-server port (`dev="host:port"`, `dev="[v6addr]:port"`).
    Telnet(TelnetSpec),
    /// A unix-domain stream socket (`dev="unix:/path"`).
    Unix(UnixSpec),
    /// IPMI v2.0 Serial-over-LAN (`dev="ipmi:host[:port]"`).
    Ipmi(IpmiSpec),
    /// A program run on a pseudo-terminal (`dev="/path/prog args"`).
    Process(ProcessSpec),
    /// The built-in test console (`dev="test:"`).
    Test(TestOpts),
}

impl ConsoleSpec {
    /// The kind name used in `conmand -t --json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            ConsoleSpec::Serial(_) => "serial",
            ConsoleSpec::Telnet(_) => "telnet",
            ConsoleSpec::Unix(_) => "unix",
            ConsoleSpec::Ipmi(_) => "ipmi",
            ConsoleSpec::Process(_) => "process",
            ConsoleSpec::Test(_) => "test",
        }
    }
}

/// A local serial device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSpec {
    /// Absolute device path.
    pub path: PathBuf,
    /// Line settings from `seropts`.
    pub opts: SerialOpts,
}

/// Serial line settings (`seropts="bps,8n1"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialOpts {
    /// Bits per second (the configured rate; see docs/config.md for rounding).
    pub bps: u32,
    /// Data bits, 5 to 8.
    pub databits: u8,
    /// Parity.
    pub parity: Parity,
    /// Stop bits, 1 or 2.
    pub stopbits: u8,
}

impl Default for SerialOpts {
    fn default() -> Self {
        SerialOpts {
            bps: 9600,
            databits: 8,
            parity: Parity::None,
            stopbits: 1,
        }
    }
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    /// `n`
    None,
    /// `o`
    Odd,
    /// `e`
    Even,
}

/// A telnet terminal-server port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelnetSpec {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port, > 0.
    pub port: u16,
}

/// A unix-domain socket console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSpec {
    /// Absolute socket path (at most 107 bytes).
    pub path: PathBuf,
}

/// An IPMI Serial-over-LAN console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiSpec {
    /// BMC host name or address (IPv6 without brackets).
    pub host: String,
    /// UDP port, if given (default 623).
    pub port: Option<u16>,
    /// `ipmiopts=` merged over `global ipmiopts=`.
    pub opts: IpmiOpts,
}

/// IPMI session options (`ipmiopts="U:user,P:pass,K:kg,C:3,L:admin,W:flag"`).
///
/// `Debug` shows `***` instead of the password and K_g.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct IpmiOpts {
    /// `U:` user name (≤ 16 bytes); `None` = look up / library default.
    pub username: Option<String>,
    /// `P:` password bytes (≤ 20); `None` = look up in conman.pswd.
    pub password: Option<Vec<u8>>,
    /// `K:` K_g key bytes (≤ 20).
    pub k_g: Option<Vec<u8>>,
    /// `C:` cipher suite id; `None` = default (3).
    pub cipher_suite: Option<u8>,
    /// `L:` privilege level (`user`, `op`, `admin`, or libipmiconsole's 0, 1, 2);
    /// `None` = default (admin).
    pub privilege: Option<PrivilegeLevel>,
    /// `W:` workaround flags, FreeIPMI bit values OR-ed; `None` = default.
    pub workarounds: Option<u32>,
}

impl std::fmt::Debug for IpmiOpts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mask = |v: &Option<Vec<u8>>| v.as_ref().map(|_| "***");
        f.debug_struct("IpmiOpts")
            .field("username", &self.username)
            .field("password", &mask(&self.password))
            .field("k_g", &mask(&self.k_g))
            .field("cipher_suite", &self.cipher_suite)
            .field("privilege", &self.privilege)
            .field("workarounds", &self.workarounds)
            .finish()
    }
}

/// IPMI privilege level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivilegeLevel {
    /// User (2).
    User,
    /// Operator (3).
    Operator,
    /// Administrator (4).
    Admin,
}

/// A program run on a pseudo-terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// argv with `%N` substituted; `argv[0]` resolved to an absolute path.
    pub argv: Vec<String>,
}

/// Test console options (`testopts="B:1024,M:-1,N:-1,P:100"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestOpts {
    /// `B:` bytes per burst.
    pub burst_bytes: u32,
    /// `M:` most milliseconds between bursts (-1 = fixed 100 ms).
    pub max_ms: i32,
    /// `N:` fewest milliseconds between bursts (-1 = unset).
    pub min_ms: i32,
    /// `P:` chance in percent that a burst starts on each tick (0..=100).
    pub probability: u8,
}

impl Default for TestOpts {
    fn default() -> Self {
        TestOpts {
            burst_bytes: 1024,
            max_ms: -1,
            min_ms: -1,
            probability: 100,
        }
    }
}

/// Console log options (`logopts="lock,sanitize,timestamp"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOpts {
    /// fcntl write lock on the log file (default on).
    pub lock: bool,
    /// Make the log 7-bit printable (default off).
    pub sanitize: bool,
    /// Prefix each line with `YYYY-MM-DD HH:MM:SS ` (default off).
    pub timestamp: bool,
}

impl Default for LogOpts {
    fn default() -> Self {
        LogOpts {
            lock: true,
            sanitize: false,
            timestamp: false,
        }
    }
}
