//! Process-level plumbing of `conmand`, most of it run before the tokio runtime
//! exists (ConMan `server.c:main` steps 3–6, 13, 15 and 18; reference §5.2–§5.4).
//!
//! - [`daemonize`]: the double fork with a status pipe back to the invoking shell.
//! - [`lock`]: the POSIX `fcntl` read lock on the configuration file that marks a
//!   running daemon, and the `F_GETLK` lookup of its pid.
//! - [`control`]: `conmand -k` / `-r` / `-q`.
//! - [`pidfile`]: writing, reading and removing the pidfile.
//! - [`env`](mod@env): the cleaned environment handed to child processes.
//! - [`limits`]: `nofile` and `coredump` resource limits.
//!
//! Errors are typed and their `Display` is ConMan's message, so the caller decides
//! between a fatal error and a warning. Nothing here logs except where ConMan logs a
//! warning itself (pidfile read problems).
//!
//! ## Startup order (what `main.rs` calls)
//!
//! `daemonize::begin` forks, so it must come **before the tokio runtime is built**;
//! the lock must be taken **after** it (POSIX locks are not inherited by the
//! daemon). Everything else may run before or inside the runtime.
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//! use std::sync::Arc;
//!
//! use conmand::daemon::daemonize::{self, Daemonizing};
//! use conmand::daemon::{control, env, limits, lock, pidfile};
//! use conmand::daemonlog::{self, DaemonLogHandle, LogInit, LogfileSpec, Syslog};
//! use conmand_core::config::{Priority, SyslogFacility};
//!
//! /// ConMan's `log_err`: fatal, with the message reaching the invoking shell.
//! fn fatal(d: Option<Daemonizing>, log: &DaemonLogHandle, msg: &str) -> ! {
//!     match d {
//!         Some(d) => d.fail_logged(log, msg),
//!         None => {
//!             tracing::error!("{msg}");
//!             std::process::exit(1)
//!         }
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     // 1. Logging to stderr (no threads are started).
//!     let log = daemonlog::init(LogInit::default()).expect("first subscriber");
//!     let (config_path, foreground, verbose) = (Path::new("/etc/conman.conf"), false, false);
//!     let cmdline_pidfile: Option<PathBuf> = None; // -P, made absolute
//!
//!     // 2. -k / -r / -q: no daemonizing needed, same output and exit status.
//!     if let Some(action) = None::<control::Control> {
//!         let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
//!         let pidfile = cmdline_pidfile.as_deref();
//!         return control::signal_daemon(config_path, pidfile, action, verbose, &mut out, &mut err)
//!             .into();
//!     }
//!
//!     // 3. Daemonize, still single-threaded.
//!     let daemon = if daemonize::should_daemonize(foreground) {
//!         match daemonize::begin() {
//!             Ok(d) => Some(d),
//!             Err(e) => fatal(None, &log, &e.to_string()),
//!         }
//!     } else {
//!         None
//!     };
//!
//!     // 4. Lock, read and parse the configuration through the locked fd.
//!     let cfg_lock = match lock::ConfigLock::acquire(config_path) {
//!         Ok(l) => l,
//!         Err(e) => fatal(daemon, &log, &e.to_string()),
//!     };
//!     let _text = cfg_lock.read_contents(); // -> Config::parse_str(...)
//!     let pid_guard = cmdline_pidfile.as_deref().and_then(|p| {
//!         pidfile::Pidfile::create(p).map_err(|e| tracing::error!("{e}")).ok()
//!     });
//!
//!     // 5.-6. Core limit; the cleaned environment for every child.
//!     if let Err(e) = limits::set_coredump(false) {
//!         fatal(daemon, &log, &e.to_string());
//!     }
//!     let _child_env = env::cleaned_env(); // cmd.env_clear().envs(&_child_env)
//!
//!     // 10.-13. Bind the listener (std, non-blocking) so bind errors are fatal here,
//!     // then daemon-mode logging, the start-up lines, and let the shell go.
//!     if !foreground {
//!         let expand: daemonlog::ExpandFn = Arc::new(|t: &str| Ok(PathBuf::from(t)));
//!         log.switch_to_daemon_mode(
//!             Some(LogfileSpec {
//!                 template: "/var/log/conman/conmand.log".into(),
//!                 priority: Priority::Info,
//!                 truncate: false,
//!                 expand,
//!             }),
//!             Some(Syslog::new(SyslogFacility::Daemon)),
//!         );
//!     }
//!     conmand::notice!("Starting ConMan daemon {} (pid {})", "0.1.0", std::process::id());
//!     tracing::info!("Listening on TCP port {}", 7890);
//!     let pgid = daemon.as_ref().map(Daemonizing::pgid);
//!     if let Some(d) = daemon {
//!         d.finish();
//!     }
//!
//!     // 14.-17. Build the tokio runtime now; nofile; run until SIGTERM/SIGINT, with
//!     // SIGHUP calling `log.reopen()` and reopening console logs.
//!     match limits::set_nofile(0) {
//!         Ok(soft) => tracing::info!("{}", limits::open_file_limit_message(soft)),
//!         Err(e) => fatal(None, &log, &e.to_string()),
//!     }
//!
//!     // 18. Exit.
//!     if let Some(Err(e)) = pid_guard.map(pidfile::Pidfile::remove) {
//!         tracing::error!("{e}");
//!     }
//!     drop(cfg_lock);
//!     if let Some(Err(e)) = pgid.map(daemonize::terminate_process_group) {
//!         tracing::warn!("{e}");
//!     }
//!     conmand::notice!("Stopping ConMan daemon {} (pid {})", "0.1.0", std::process::id());
//!     std::process::ExitCode::SUCCESS
//! }
//! ```

pub mod control;
pub mod daemonize;
pub mod env;
pub mod limits;
pub mod lock;
pub mod pidfile;
