//! `conmand`'s process life cycle, in ConMan's order (reference §5.2): parse the
//! command line and configuration, daemonize, lock the configuration, write the
//! pidfile, set limits, start the runtime, listen, serve, and handle signals.
//!
//! SIGHUP reopens the daemon log and every console log and, unlike ConMan, also
//! re-reads the configuration and applies it (consoles added, removed, changed); an
//! invalid new file is reported and the running configuration stays.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use conmand_core::config::{self as cfg, Config, Parsed};
use conmand_core::oserror::strerror;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::Cli;
use crate::daemon::{control, daemonize, limits, lock, pidfile};
use crate::daemonlog::{self, DaemonLogHandle, LogInit, LogfileSpec, Syslog};
use crate::engine::{Engine, EngineOpts};
use crate::fsprobe::RealProbe;
use crate::notice;

/// The daemon's version as ConMan prints it in its start/stop lines.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Run `conmand` with parsed arguments; returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    let action = if cli.kill {
        Some(control::Control::Kill)
    } else if cli.reopen {
        Some(control::Control::Reconfig)
    } else if cli.query {
        Some(control::Control::Query)
    } else if cli.reopen_logs {
        Some(control::Control::ReopenLogs)
    } else {
        None
    };
    if let Some(action) = action {
        let pidfile = cli.pidfile.as_deref().map(absolute);
        let code = control::signal_daemon(
            &cli.config,
            pidfile.as_deref(),
            action,
            cli.verbose,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        return ExitCode::from(code);
    }
    let log = match daemonlog::init(LogInit::default()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ERROR:     {e}");
            return ExitCode::FAILURE;
        }
    };
    match serve(cli, &log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            tracing::error!("{msg}");
            ExitCode::FAILURE
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Read and parse the configuration, logging every problem as ConMan does.
fn load_config(path: &Path, bytes: &[u8]) -> Parsed {
    let origin = path.to_string_lossy();
    let parsed = Config::parse_bytes(bytes, &origin, &RealProbe::new());
    for w in &parsed.warnings {
        tracing::warn!("{}", w.conman_format());
    }
    for e in &parsed.errors {
        tracing::error!("{}", e.conman_format());
    }
    parsed
}

/// Fatal errors end the process with exit status 1 (reaching the invoking shell
/// through the daemonize pipe when daemonizing).
fn serve(cli: Cli, log: &DaemonLogHandle) -> Result<(), String> {
    let bytes = std::fs::read(&cli.config).map_err(|e| {
        format!(
            "Unable to open \"{}\": {}",
            cli.config.display(),
            strerror(&e)
        )
    })?;
    let parsed = load_config(&cli.config, &bytes);
    let mut config = parsed.config;
    if config.consoles.is_empty() {
        return Err(format!(
            "Configuration \"{}\" has no consoles defined",
            cli.config.display()
        ));
    }
    if let Some(p) = cli.port {
        config.server.port = Some(p);
    }
    let pidfile_path = cli
        .pidfile
        .as_deref()
        .map(absolute)
        .or(config.server.pidfile.clone());
    if cli.verbose {
        display_configuration(&cli, &config);
    }

    let daemonizing = if daemonize::should_daemonize(cli.foreground) {
        Some(daemonize::begin().map_err(|e| e.to_string())?)
    } else {
        None
    };
    // From here on a fatal error must reach the invoking shell through the
    // daemonize pipe (`fail_logged` exits the process).
    let startup = startup(&cli.config, pidfile_path.as_deref(), &config);
    let (config_lock, pidfile, daemonizing) = match (startup, daemonizing) {
        (Ok((l, p)), d) => (l, p, d),
        (Err(msg), Some(d)) => d.fail_logged(log, &msg),
        (Err(msg), None) => return Err(msg),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // Console I/O is light per event and the log writer threads do the heavy part
    // (line processing and writes), so the cores are split between them:
    // measured on 2 cores, 1 worker beside the 2 log writers used 3.7 % of a core at
    // 2 000 consoles instead of 4.6–5.1 % with 2 workers, and flooded logs faster.
    // TOKIO_WORKER_THREADS still overrides this.
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(worker_threads());
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| format!("Unable to start the runtime: {e}"))?;
    let mut config_lock = config_lock;
    let res = runtime.block_on(run_daemon(&cli, config, log, daemonizing, &mut config_lock));
    drop(runtime);
    drop(config_lock);
    if let Some(p) = pidfile {
        let _ = p.remove();
    }
    res
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runtime worker threads: half the cores, at least one.
fn worker_threads() -> usize {
    (cores() / 2).max(1)
}

/// Log writer threads: half the cores, at least two.
fn log_threads() -> usize {
    (cores() / 2).max(2)
}

/// Lock the configuration, write the pidfile, set resource limits.
fn startup(
    config_path: &Path,
    pidfile_path: Option<&Path>,
    config: &Config,
) -> Result<(lock::ConfigLock, Option<pidfile::Pidfile>), String> {
    let config_lock = lock::ConfigLock::acquire(config_path).map_err(|e| e.to_string())?;
    let pidfile = match pidfile_path {
        Some(p) => Some(pidfile::Pidfile::create(p).map_err(|e| e.to_string())?),
        None => None,
    };
    if let Err(e) = limits::set_coredump(config.server.coredump) {
        tracing::warn!("{e}");
    }
    match limits::set_nofile(config.server.nofile) {
        Ok(soft) if config.server.nofile != 0 => {
            tracing::info!("{}", limits::open_file_limit_message(soft))
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("{e}"),
    }
    Ok((config_lock, pidfile))
}

async fn run_daemon(
    cli: &Cli,
    config: Config,
    log: &DaemonLogHandle,
    daemonizing: Option<daemonize::Daemonizing>,
    config_lock: &mut lock::ConfigLock,
) -> Result<(), String> {
    let port = config.server.port.unwrap_or(cfg::DEFAULT_PORT);
    let listeners = crate::server::bind(port, config.server.loopback)
        .map_err(|e| format!("Unable to bind to TCP port {port}: {}", strerror(&e)));
    let listeners = match (listeners, daemonizing) {
        (Ok(l), d) => (l, d),
        (Err(msg), Some(d)) => d.fail_logged(log, &msg),
        (Err(msg), None) => return Err(msg),
    };
    let (listeners, daemonizing) = listeners;
    // `server http=`: bound and its tokens read before detaching, so a mistake
    // stops the start where the operator sees it, like the console port.
    let http = match (bind_http(&config), daemonizing) {
        (Ok(h), d) => (h, d),
        (Err(msg), Some(d)) => d.fail_logged(log, &msg),
        (Err(msg), None) => return Err(msg),
    };
    let (http, daemonizing) = http;
    // The SSH listener and its host key, the same way.
    let ssh = match (bind_ssh(&config), daemonizing) {
        (Ok(h), d) => (h, d),
        (Err(msg), Some(d)) => d.fail_logged(log, &msg),
        (Err(msg), None) => return Err(msg),
    };
    let (ssh, daemonizing) = ssh;
    // The alert rules and the ACL too: a mistake must reach the shell that started
    // the daemon, not only the daemon log after it detached.
    let checked = crate::alerts::load(&config)
        .map_err(|e| format!("Unable to load alert rules: {e}"))
        .and_then(|_| match &config.server.acl {
            Some(path) => crate::access::load_acl(path)
                .map(|_| ())
                .map_err(|e| format!("Unable to load the ACL: {e}")),
            None => Ok(()),
        });
    if let Err(msg) = checked {
        match daemonizing {
            Some(d) => d.fail_logged(log, &msg),
            None => return Err(msg),
        }
    }
    let bound = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map_or(port, |a| a.port());
    // ConMan's order: open the daemon log, log the start, then detach from the shell.
    if daemonizing.is_some() {
        log.switch_to_daemon_mode(
            logfile_spec(&config, cli.zero_logs),
            config.server.syslog.map(Syslog::new),
        );
    }
    notice!(
        "Starting ConMan daemon {VERSION} (pid {})",
        std::process::id()
    );
    tracing::info!("Listening on TCP port {bound}");
    if let Some(d) = daemonizing {
        d.finish();
    }
    // Install the handlers before any child exists: daemonizing left SIGHUP ignored,
    // and an ignored signal stays ignored across exec.
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(|e| e.to_string())?;
    let cluster = crate::cluster::ClusterOpts::of(
        &config,
        cli.node.as_deref(),
        cli.advertise.as_deref(),
        cli.cluster.as_deref(),
    );
    let opts = EngineOpts {
        zero_logs: cli.zero_logs,
        pswd: load_pswd(cli),
        log_threads: log_threads(),
        // In a cluster a console runs only once this node owns it.
        owned: cluster.as_ref().map(|_| std::collections::HashSet::new()),
        ..EngineOpts::default()
    };
    let full_config = config.clone();
    let engine = std::sync::Arc::new(
        Engine::start(config, opts)
            .await
            .map_err(|e| format!("Unable to start consoles: {e}"))?,
    );
    let node = match cluster {
        Some(c) => {
            tracing::info!(
                "Cluster: node {} through etcd {}",
                c.node,
                c.endpoints.join(",")
            );
            let loopback = c.advertise.as_deref().is_none_or(|a| {
                let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            });
            if !loopback {
                tracing::warn!(
                    "Cluster: clients passed between nodes travel in plain TCP to {} (mutual TLS between nodes is not built yet): keep the nodes on a trusted network",
                    c.advertise.as_deref().unwrap_or_default()
                );
            }
            let node = crate::cluster::Node::new(c, engine.clone(), full_config)?;
            engine.set_remote(node.clone());
            let stop = tokio_util::sync::CancellationToken::new();
            let task = tokio::spawn(node.clone().run(stop.clone()));
            Some((node, stop, task))
        }
        None => None,
    };
    for l in listeners {
        engine.serve(l);
    }
    if let Some((listener, tokens)) = http {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        engine.serve_http(listener, tokens);
        tracing::info!("Listening for HTTP on {addr}");
    }
    if let Some((listeners, key)) = ssh {
        if config_acl_missing(&engine) {
            tracing::warn!("SSH is on but there is no server acl: SSH users may do nothing");
        }
        for l in listeners {
            let addr = l
                .local_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string());
            engine.serve_ssh(l, key.clone());
            tracing::info!(
                "Listening for SSH on {addr} (host key {})",
                crate::ssh::keys::fingerprint(key.public_key().key_data())
            );
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let signo = loop {
        tokio::select! {
            _ = hup.recv() => {
                // A reload can wait on consoles that are slow to let go of their
                // devices; SIGTERM and SIGINT are still served meanwhile.
                let reload = reconfigure(cli, &engine, node.as_ref().map(|n| &n.0), log, config_lock);
                tokio::pin!(reload);
                tokio::select! {
                    _ = &mut reload => {}
                    _ = term.recv() => break libc::SIGTERM,
                    _ = int.recv() => break libc::SIGINT,
                }
            }
            _ = usr1.recv() => {
                notice!("Reopening logs on signal={}", libc::SIGUSR1);
                log.reopen();
                engine.reopen_logs().await;
            }
            _ = term.recv() => break libc::SIGTERM,
            _ = int.recv() => break libc::SIGINT,
        }
    };
    notice!("Exiting on signal={signo}");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    if let Some((node, stop, task)) = node {
        // Give the consoles up and revoke the lease: the others take over now, not
        // a TTL later.
        stop.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), task).await;
        drop(node);
    }
    match std::sync::Arc::try_unwrap(engine) {
        Ok(engine) => engine.shutdown().await,
        Err(_) => tracing::warn!("Shutdown: the engine is still in use; not waiting for it"),
    }
    notice!(
        "Stopping ConMan daemon {VERSION} (pid {})",
        std::process::id()
    );
    Ok(())
}

/// The HTTP listener of `server http=` and its bearer tokens, if configured.
#[allow(clippy::type_complexity)]
fn bind_http(
    config: &Config,
) -> Result<Option<(tokio::net::TcpListener, Option<crate::http::Tokens>)>, String> {
    let Some(addr) = config.server.http else {
        return Ok(None);
    };
    let tokens = match &config.server.httptokens {
        Some(path) => Some(crate::http::Tokens::load(path).map_err(|e| join(&e))?),
        None if !addr.ip().is_loopback() => {
            // The parser never lets this through; refuse rather than serve openly.
            return Err(format!(
                "Refusing HTTP on {addr} without server httptokens (not a loopback address)"
            ));
        }
        None => None,
    };
    let listener = crate::server::listen(addr)
        .map_err(|e| format!("Unable to listen for HTTP on {addr}: {}", strerror(&e)))?;
    Ok(Some((listener, tokens)))
}

/// Where the SSH host key is kept when `server sshhostkey=` is not given.
pub const DEFAULT_SSH_HOST_KEY: &str = "/var/lib/conman/ssh_host_ed25519_key";

/// The SSH listeners of `server sshport=` and the host key, if configured.
fn bind_ssh(
    config: &Config,
) -> Result<Option<(Vec<tokio::net::TcpListener>, russh::keys::PrivateKey)>, String> {
    let s = &config.server;
    if s.sshport == 0 {
        return Ok(None);
    }
    let path = s
        .sshhostkey
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SSH_HOST_KEY));
    let key = crate::ssh::keys::host_key(&path)?;
    let listeners = match s.sshaddr {
        Some(ip) => vec![crate::server::listen(std::net::SocketAddr::new(
            ip, s.sshport,
        ))],
        None => match crate::server::bind(s.sshport, s.loopback) {
            Ok(l) => l.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        },
    };
    let listeners = listeners
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "Unable to listen for SSH on port {}: {}",
                s.sshport,
                strerror(&e)
            )
        })?;
    Ok(Some((listeners, key)))
}

fn config_acl_missing(engine: &Engine) -> bool {
    engine.access().acl().is_none()
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What reading `conman.pswd` gave.
enum Pswd {
    /// Parsed without problems (or with problems, at start).
    Loaded(Arc<conmand_core::pswd::PasswordDb>),
    /// The default file does not exist: no database.
    Absent,
    /// It could not be read, or (on SIGHUP) it has problems; the message says why.
    Unusable(String),
}

/// The IPMI password database: `--pswd FILE`, else `/etc/conman.pswd` if present.
/// Problems are logged; a missing default file is not one. With `strict` (a
/// reload), a file with problems is unusable as a whole: a half-written file must
/// not replace good credentials.
fn read_pswd(cli: &Cli, strict: bool) -> Pswd {
    let (path, explicit) = match &cli.pswd {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_PSWD), false),
    };
    let text = match std::fs::read(&path) {
        Ok(b) => {
            crate::pswdfile::exposure(&path)
                .iter()
                .for_each(|w| tracing::warn!("{w}"));
            String::from_utf8_lossy(&b).into_owned()
        }
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Pswd::Absent,
        Err(e) => {
            return Pswd::Unusable(format!(
                "Unable to open \"{}\": {}",
                path.display(),
                strerror(&e)
            ));
        }
    };
    let (db, problems) = conmand_core::pswd::PasswordDb::parse(&text, &path.to_string_lossy());
    for p in &problems {
        tracing::warn!("{}", p.conman_format());
    }
    if strict && !problems.is_empty() {
        return Pswd::Unusable(format!(
            "\"{}\" has {} problem(s)",
            path.display(),
            problems.len()
        ));
    }
    Pswd::Loaded(Arc::new(db))
}

/// The password database at start: what can be read (problems are logged).
fn load_pswd(cli: &Cli) -> Option<Arc<conmand_core::pswd::PasswordDb>> {
    match read_pswd(cli, false) {
        Pswd::Loaded(db) => Some(db),
        Pswd::Absent => None,
        Pswd::Unusable(why) => {
            tracing::warn!("{why}");
            None
        }
    }
}

/// Where ConMan's scripts (and our IPMI consoles) find passwords by default.
pub const DEFAULT_PSWD: &str = "/etc/conman.pswd";

/// SIGHUP: reopen the logs and apply the configuration file again.
async fn reconfigure(
    cli: &Cli,
    engine: &Engine,
    node: Option<&std::sync::Arc<crate::cluster::Node>>,
    log: &DaemonLogHandle,
    config_lock: &mut lock::ConfigLock,
) {
    notice!("Performing reconfig on signal={}", libc::SIGHUP);
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
    log.reopen();
    match reread_config(cli, config_lock) {
        Ok(bytes) => {
            let parsed = load_config(&cli.config, &bytes);
            if !parsed.errors.is_empty() {
                tracing::error!(
                    "Configuration \"{}\" has {} error(s); keeping the running configuration",
                    cli.config.display(),
                    parsed.errors.len()
                );
            } else {
                let mut new = parsed.config;
                if let Some(p) = cli.port {
                    new.server.port = Some(p);
                }
                let pswd = match read_pswd(cli, true) {
                    Pswd::Loaded(db) => Some(db),
                    Pswd::Absent => None,
                    Pswd::Unusable(why) => {
                        tracing::error!("{why}; keeping the IPMI passwords in use");
                        engine.settings().pswd.clone()
                    }
                };
                if let Some(node) = node {
                    node.reconfigure(new.clone()).await;
                }
                for change in engine.reload_with_pswd(new, pswd).await {
                    notice!("Reconfig: console {change}");
                }
            }
        }
        Err(e) => tracing::error!(
            "Unable to open \"{}\": {}; keeping the running configuration",
            cli.config.display(),
            strerror(&e)
        ),
    }
    engine.reopen_logs().await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// Read the configuration again without losing the lock that `-k`/`-r`/`-q` find
/// the daemon by: POSIX locks drop when *any* fd of the file is closed, so the file
/// is read through the locked fd; if an editor replaced the file, lock the new one.
fn reread_config(cli: &Cli, config_lock: &mut lock::ConfigLock) -> std::io::Result<Vec<u8>> {
    if !config_lock.is_current() {
        match lock::ConfigLock::acquire(&cli.config) {
            Ok(new) => *config_lock = new,
            Err(e) => tracing::warn!("{e}"),
        }
    }
    config_lock.read_contents()
}

fn logfile_spec(config: &Config, zero: bool) -> Option<LogfileSpec> {
    let lf = config.server.logfile.as_ref()?;
    let expand: daemonlog::ExpandFn = Arc::new(|tmpl: &str| {
        let ctx = cfg::ExpandCtx {
            name: None,
            dev: None,
            pid: std::process::id(),
            strftime: &crate::timefmt::strftime_one,
        };
        cfg::expand(tmpl, &ctx)
            .map(PathBuf::from)
            .map_err(|_| "filename too long".to_string())
    });
    Some(LogfileSpec {
        template: lf.name.clone(),
        priority: lf.priority,
        truncate: zero,
        expand,
    })
}

/// `-v`: ConMan's configuration summary on stderr (`display_configuration`).
fn display_configuration(cli: &Cli, config: &Config) {
    let s = &config.server;
    let mut opts = String::new();
    if s.coredump {
        opts.push_str(" CoreDump");
    }
    if s.keepalive {
        opts.push_str(" KeepAlive");
    }
    if s.logfile.is_some() {
        opts.push_str(" LogFile");
    }
    if s.loopback {
        opts.push_str(" LoopBack");
    }
    if s.resetcmd.is_some() {
        opts.push_str(" ResetCmd");
    }
    if s.syslog.is_some() {
        opts.push_str(" SysLog");
    }
    if s.tcpwrappers {
        opts.push_str(" TCP-Wrappers");
    }
    if s.timestamp_minutes > 0 {
        opts.push_str(&format!(" TimeStamp={}m", s.timestamp_minutes));
    }
    if cli.zero_logs {
        opts.push_str(" ZeroLogs");
    }
    if opts.is_empty() {
        opts.push_str(" None");
    }
    let n = config.consoles.len();
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\nConfiguration: {}\nOptions:{opts}\nMonitoring {n} console{}\n\n",
        cli.config.display(),
        if n == 1 { "" } else { "s" }
    );
}
