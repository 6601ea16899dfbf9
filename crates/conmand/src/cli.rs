//! `conmand`'s command line: every ConMan option (reference §5.1) plus our own
//! `-t/--test-config`, `--json`, `--pswd` and `--pswd-set`.
//!
//! Parsing only; `main.rs` dispatches. Version output is handled by hand because
//! ConMan prints `conmand-<version>` (with a dash), which clap's built-in flag cannot.

use std::path::PathBuf;

use clap::Parser;

/// The default configuration file (ConMan's `${sysconfdir}/conman.conf`).
pub const DEFAULT_CONFIG: &str = "/etc/conman.conf";

/// Parsed `conmand` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    group(clap::ArgGroup::new("json_for").args(["test_config", "cluster_status"]).multiple(false)),
    name = "conmand",
    about = "The conman-rs console-manager daemon (drop-in for ConMan's conmand).",
    disable_version_flag = true
)]
pub struct Cli {
    /// Specify configuration.
    #[arg(short = 'c', value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Run daemon in foreground (log to stderr; `server logfile` and syslog ignored).
    #[arg(short = 'F')]
    pub foreground: bool,
    /// Kill daemon (send SIGTERM to the daemon running this configuration).
    #[arg(short = 'k')]
    pub kill: bool,
    /// Display license information.
    #[arg(short = 'L')]
    pub license: bool,
    /// Specify port number (overrides `server port`; 0 asks for an ephemeral port).
    #[arg(short = 'p', value_name = "PORT")]
    pub port: Option<u16>,
    /// Specify PID file (overrides `server pidfile`).
    #[arg(short = 'P', value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
    /// Query daemon's pid.
    #[arg(short = 'q')]
    pub query: bool,
    /// Re-open log files (send SIGHUP to the running daemon).
    #[arg(short = 'r')]
    pub reopen: bool,
    /// Re-open the console logs and the daemon log only, without re-reading the
    /// configuration (send SIGUSR1 to the running daemon): for logrotate.
    #[arg(long = "reopen-logs", conflicts_with_all = ["kill", "reopen", "query"])]
    pub reopen_logs: bool,
    /// Be verbose.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Display version information.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Zero log files (truncate console logs and the daemon log on first open).
    #[arg(short = 'z')]
    pub zero_logs: bool,
    /// Check the configuration and exit: 0 when clean, 1 on any error. Never opens a
    /// device or connects anywhere.
    #[arg(short = 't', long = "test-config")]
    pub test_config: bool,
    /// With -t: print the checked configuration as one JSON document on stdout.
    #[arg(long = "json", requires = "json_for")]
    pub json: bool,
    /// IPMI password database (conman.pswd format) for `ipmi:` consoles whose
    /// ipmiopts give no password [default: /etc/conman.pswd if it exists]; also
    /// checked by -t.
    #[arg(long = "pswd", value_name = "FILE")]
    pub pswd: Option<PathBuf>,
    /// Set the password of the HOST-REGEX USER entry of the password database
    /// (--pswd FILE, default /etc/conman.pswd), adding the entry if needed. The
    /// password is read from the terminal without echo, or as one line from
    /// standard input when that is not a terminal; the file is rewritten
    /// atomically with mode 0600.
    #[arg(
        long = "pswd-set",
        num_args = 2,
        value_names = ["HOST-REGEX", "USER"],
        conflicts_with_all = ["test_config", "kill", "reopen", "query", "reopen_logs"]
    )]
    pub pswd_set: Option<Vec<String>>,
    /// Cluster: this node's name (overrides `server nodename`), so one shared
    /// conman.conf serves every node.
    #[arg(long = "node", value_name = "NAME")]
    pub node: Option<String>,
    /// Cluster: where other nodes reach this one (overrides `server advertise`).
    #[arg(long = "advertise", value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// Cluster: etcd endpoints, comma-separated (overrides `server cluster`).
    #[arg(long = "cluster", value_name = "URLS")]
    pub cluster: Option<String>,
    /// Cluster: print the live nodes and the owner of every console (with
    /// --json: as JSON), then exit.
    #[arg(long = "cluster-status", conflicts_with_all = ["test_config", "kill", "reopen", "query", "reopen_logs"])]
    pub cluster_status: bool,
}

/// The licence text `conmand -L` prints (the project's LICENSE file).
pub const LICENSE: &str = include_str!("../../../LICENSE");

/// What `conmand -V` prints.
pub fn version_line() -> String {
    format!("conmand-{}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conman_option_parses() {
        let c = Cli::try_parse_from([
            "conmand", "-c", "x.conf", "-F", "-k", "-L", "-p", "7000", "-P", "p.pid", "-q", "-r",
            "-v", "-V", "-z",
        ])
        .unwrap();
        assert_eq!(c.config, PathBuf::from("x.conf"));
        assert!(c.foreground && c.kill && c.license && c.query && c.reopen && c.verbose);
        assert!(c.version && c.zero_logs && !c.test_config);
        assert_eq!(
            (c.port, c.pidfile),
            (Some(7000), Some(PathBuf::from("p.pid")))
        );
    }

    #[test]
    fn defaults_and_new_options() {
        let c = Cli::try_parse_from(["conmand"]).unwrap();
        assert_eq!(c.config, PathBuf::from(DEFAULT_CONFIG));
        let c = Cli::try_parse_from([
            "conmand",
            "-t",
            "--json",
            "--pswd",
            "/etc/conman.pswd",
            "-p0",
        ])
        .unwrap();
        assert!(c.test_config && c.json);
        assert_eq!(c.port, Some(0));
        assert!(
            Cli::try_parse_from(["conmand", "--json"]).is_err(),
            "--json needs -t"
        );
        assert!(Cli::try_parse_from(["conmand", "-p", "-1"]).is_err());
        assert!(Cli::try_parse_from(["conmand", "-x"]).is_err());
        assert_eq!(
            version_line(),
            format!("conmand-{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn pswd_set_takes_a_regex_and_a_user() {
        let c = Cli::try_parse_from(["conmand", "--pswd-set", "bmc.*", "admin", "--pswd", "f"])
            .unwrap();
        assert_eq!(
            c.pswd_set,
            Some(vec!["bmc.*".to_string(), "admin".to_string()])
        );
        assert_eq!(c.pswd, Some(PathBuf::from("f")));
        assert!(Cli::try_parse_from(["conmand", "--pswd-set", "bmc.*"]).is_err());
        assert!(Cli::try_parse_from(["conmand", "--pswd-set", "a", "b", "-t"]).is_err());
    }
}
