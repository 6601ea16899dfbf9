//! The daemon's own log, in ConMan's format, as a `tracing` layer.
//!
//! ConMan's `conmand` writes its messages (not console output: that is the console
//! logs' job) to three sinks, and this module reproduces each one:
//!
//! * **stderr**, while running in the foreground (`-F`) or before daemonizing has
//!   finished: `LABEL:<pad to 11 columns>message`, no timestamp, for example
//!   `ERROR:     CONFIG[x.conf:2]: unmatched quote` or
//!   `NOTICE:    Starting ConMan daemon 0.2.7 (pid 42)`. Minimum priority INFO.
//! * **the daemon log file** (`server logfile=name[,priority]`), once daemonized:
//!   `YYYY-MM-DD HH:MM:SS ` (local time), then the same. The name is a `%` template
//!   expanded by a caller-supplied function on every open, and the file is opened by
//!   [`crate::outfile::open_append`]: directories created, append
//!   mode, mode 0644, a symbolic link refused, write-locked with a POSIX `fcntl`
//!   lock, and truncated on the very first open when `-z` was given. Failures are
//!   warnings (`Unable to open daemon logfile "<f>": <err>`,
//!   `Unable to lock daemon logfile "<f>"`) and the daemon then runs without a log
//!   file, as ConMan does. [`DaemonLogHandle::reopen`] re-expands and reopens it on
//!   SIGHUP.
//! * **syslog** (`server syslog=facility`), once daemonized: the bare message at the
//!   same priority, ident `conmand`, with the pid, sent to `/dev/log` by a small
//!   built-in client (no libc `openlog`, no `unsafe`). Unlike ConMan, facility `kern`
//!   works: glibc's `openlog` silently maps facility 0 to `user`, which is the root of
//!   ConMan's bug (reference §1.3).
//!
//! ## Priorities and `tracing` levels
//!
//! Syslog has eight priorities, `tracing` five levels. The mapping is
//! ERROR → `err`, WARN → `warning`, INFO → `info`, DEBUG and TRACE → `debug`.
//! Any event may override it with a string field named [`PRIORITY_FIELD`]
//! (`priority`), holding one of ConMan's priority names (`emerg`, `alert`, `crit`,
//! `err`, `warning`, `notice`, `info`, `debug`, plus the aliases `emergency`,
//! `panic`, `critical`, `error`, `warn`). The daemon's NOTICE messages use the
//! [`notice!`](crate::notice) macro, which is `tracing::info!(priority = "notice", ...)`:
//!
//! ```
//! conmand::notice!("Starting ConMan daemon {} (pid {})", "0.1.0", 42);
//! tracing::error!(priority = "crit", "Logging stopped due to error");
//! ```
//!
//! Only the `message` is printed; any other event field is appended as
//! ` name=value` so nothing is lost (ConMan-compatible messages carry no fields).
//! Span context is not printed.
//!
//! ## Lifecycle
//!
//! 1. [`init`] (or [`layer`] to compose it yourself) right at startup: stderr only.
//! 2. After daemonizing, just before [`Daemonizing::finish`]:
//!    [`DaemonLogHandle::switch_to_daemon_mode`] opens syslog and the log file and
//!    turns stderr off (warnings about the log file still reach stderr).
//! 3. On SIGHUP: [`DaemonLogHandle::reopen`].
//!
//! Writes are unbuffered (one `write` per line) and serialised by one mutex, which is
//! never held across an `.await`.
//!
//! [`Daemonizing::finish`]: crate::daemon::daemonize::Daemonizing::finish

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use conmand_core::config::{Priority, SyslogFacility};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::outfile::{AppendFile, OutfileError, open_append};

/// Re-export used by [`notice!`](crate::notice) so callers need no `tracing` import.
#[doc(hidden)]
pub use tracing as __tracing;

/// Name of the event field that overrides the syslog priority of an event.
pub const PRIORITY_FIELD: &str = "priority";

/// The syslog ident (ConMan uses the basename of `argv[0]`, normally `conmand`).
pub const SYSLOG_IDENT: &str = "conmand";

/// The standard syslog socket.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// Width that the `LABEL:` prefix is padded to (ConMan's `log_aux`).
const LABEL_WIDTH: usize = 11;

/// Logs a message at syslog priority NOTICE (which `tracing` lacks).
///
/// Expands to `tracing::info!(priority = "notice", ...)`, so it takes the same
/// arguments as `tracing::info!` (fields, then a format string).
#[macro_export]
macro_rules! notice {
    ($($arg:tt)+) => {
        $crate::daemonlog::__tracing::info!(priority = "notice", $($arg)+)
    };
}

/// Errors from installing the daemon log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonLogError {
    /// A global `tracing` subscriber was already installed.
    #[error("Unable to install the daemon log: {0}")]
    SetGlobal(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// ConMan's label for a priority (`log_prefix`).
pub fn label(priority: Priority) -> &'static str {
    match priority {
        Priority::Emerg => "EMERGENCY",
        Priority::Alert => "ALERT",
        Priority::Crit => "CRITICAL",
        Priority::Err => "ERROR",
        Priority::Warning => "WARNING",
        Priority::Notice => "NOTICE",
        Priority::Info => "INFO",
        Priority::Debug => "DEBUG",
    }
}

/// The syslog severity number of a priority (LOG_EMERG = 0 … LOG_DEBUG = 7).
pub fn severity(priority: Priority) -> u8 {
    match priority {
        Priority::Emerg => 0,
        Priority::Alert => 1,
        Priority::Crit => 2,
        Priority::Err => 3,
        Priority::Warning => 4,
        Priority::Notice => 5,
        Priority::Info => 6,
        Priority::Debug => 7,
    }
}

/// The syslog facility number (`LOG_KERN` = 0, `LOG_USER` = 1, … `LOG_LOCAL7` = 23).
pub fn facility_code(facility: SyslogFacility) -> u8 {
    match facility {
        SyslogFacility::Kern => 0,
        SyslogFacility::User => 1,
        SyslogFacility::Mail => 2,
        SyslogFacility::Daemon => 3,
        SyslogFacility::Auth => 4,
        SyslogFacility::Lpr => 6,
        SyslogFacility::News => 7,
        SyslogFacility::Uucp => 8,
        SyslogFacility::Cron => 9,
        SyslogFacility::Authpriv => 10,
        SyslogFacility::Local0 => 16,
        SyslogFacility::Local1 => 17,
        SyslogFacility::Local2 => 18,
        SyslogFacility::Local3 => 19,
        SyslogFacility::Local4 => 20,
        SyslogFacility::Local5 => 21,
        SyslogFacility::Local6 => 22,
        SyslogFacility::Local7 => 23,
    }
}

/// Parses one of ConMan's priority names (case-insensitive, leading blanks skipped),
/// as accepted by `logfile=...,prio` and by the [`PRIORITY_FIELD`] event field.
pub fn parse_priority(name: &str) -> Option<Priority> {
    let name = name.trim_start().to_ascii_lowercase();
    Some(match name.as_str() {
        "emerg" | "emergency" | "panic" => Priority::Emerg,
        "alert" => Priority::Alert,
        "crit" | "critical" => Priority::Crit,
        "err" | "error" => Priority::Err,
        "warn" | "warning" => Priority::Warning,
        "notice" => Priority::Notice,
        "info" => Priority::Info,
        "debug" => Priority::Debug,
        _ => return None,
    })
}

/// The priority a `tracing` level maps to when no `priority` field is given.
pub fn level_priority(level: &Level) -> Priority {
    match *level {
        Level::ERROR => Priority::Err,
        Level::WARN => Priority::Warning,
        Level::INFO => Priority::Info,
        Level::DEBUG | Level::TRACE => Priority::Debug,
    }
}

/// One log line as ConMan writes it to stderr: `LABEL:<pad>message\n`.
///
/// Each line of a multi-line message gets its own label.
pub fn format_line(priority: Priority, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + LABEL_WIDTH + 1);
    push_lines(&mut out, None, priority, message);
    out
}

/// One log line as ConMan writes it to the log file: `YYYY-MM-DD HH:MM:SS LABEL:<pad>message\n`.
pub fn format_file_line(timestamp: &str, priority: Priority, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + LABEL_WIDTH + 21);
    push_lines(&mut out, Some(timestamp), priority, message);
    out
}

/// The log-file timestamp for "now", in local time: `YYYY-MM-DD HH:MM:SS`.
pub fn timestamp_now() -> String {
    crate::timefmt::daemon_log_now()
}

fn push_lines(out: &mut String, timestamp: Option<&str>, priority: Priority, message: &str) {
    let prefix = format!("{}:", label(priority));
    let message = message.strip_suffix('\n').unwrap_or(message);
    for line in message.split('\n') {
        if let Some(ts) = timestamp {
            out.push_str(ts);
            out.push(' ');
        }
        // `{:<11}` pads; the max(1) keeps at least one blank after a long label.
        let pad = LABEL_WIDTH.saturating_sub(prefix.len()).max(1);
        out.push_str(&prefix);
        out.extend(std::iter::repeat_n(' ', pad));
        out.push_str(line);
        out.push('\n');
    }
}

/// The caller-supplied expansion of the log-file name template (ConMan's `%`
/// conversion specifiers, §1.8). `Err(reason)` gives the warning
/// `Unable to open daemon logfile: <reason>`.
pub type ExpandFn = Arc<dyn Fn(&str) -> Result<PathBuf, String> + Send + Sync>;

/// What `server logfile=` asks for.
#[derive(Clone)]
pub struct LogfileSpec {
    /// File name template (absolute after the config's logdir handling).
    pub template: String,
    /// Minimum priority written to the file (`logfile=name,prio`; default info).
    pub priority: Priority,
    /// `-z`: truncate the file on its first open (never on a SIGHUP reopen).
    pub truncate: bool,
    /// Expands `template` into the path to open, on every (re)open.
    pub expand: ExpandFn,
}

impl fmt::Debug for LogfileSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogfileSpec")
            .field("template", &self.template)
            .field("priority", &self.priority)
            .field("truncate", &self.truncate)
            .finish_non_exhaustive()
    }
}

/// Where syslog messages go (`server syslog=`).
#[derive(Debug, Clone)]
pub struct Syslog {
    facility: SyslogFacility,
    socket: PathBuf,
}

impl Syslog {
    /// Syslog on `/dev/log` with this facility.
    pub fn new(facility: SyslogFacility) -> Self {
        Syslog {
            facility,
            socket: PathBuf::from(SYSLOG_SOCKET),
        }
    }

    /// Syslog on another socket (tests bind their own datagram socket).
    pub fn with_socket(facility: SyslogFacility, socket: impl Into<PathBuf>) -> Self {
        Syslog {
            facility,
            socket: socket.into(),
        }
    }
}

/// Options for [`init`] / [`layer`].
pub struct LogInit {
    /// Minimum priority written to stderr (ConMan: info).
    pub stderr_priority: Priority,
    /// Where "stderr" output goes; `None` means the process's real stderr.
    /// Tests pass a buffer here.
    pub stderr: Option<Box<dyn Write + Send>>,
}

impl Default for LogInit {
    fn default() -> Self {
        LogInit {
            stderr_priority: Priority::Info,
            stderr: None,
        }
    }
}

impl fmt::Debug for LogInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogInit")
            .field("stderr_priority", &self.stderr_priority)
            .field("stderr", &self.stderr.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Installs the daemon log as the global `tracing` subscriber and returns its handle.
///
/// Call once, first thing in `main` (before daemonizing is fine: nothing here spawns
/// a thread). Use [`layer`] instead to add other layers yourself.
pub fn init(opts: LogInit) -> Result<DaemonLogHandle, DaemonLogError> {
    let (layer, handle) = layer(opts);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    Ok(handle)
}

/// Builds the daemon-log layer and its control handle without installing anything.
pub fn layer(opts: LogInit) -> (DaemonLogLayer, DaemonLogHandle) {
    let stderr: Box<dyn Write + Send> = opts.stderr.unwrap_or_else(|| Box::new(io::stderr()));
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            stderr: Some(stderr),
            stderr_priority: opts.stderr_priority,
            file: None,
            spec: None,
            opened_once: false,
            syslog: None,
        }),
        max_priority: AtomicU8::new(severity(opts.stderr_priority)),
        reopen: Mutex::new(()),
    });
    (
        DaemonLogLayer {
            shared: Arc::clone(&shared),
        },
        DaemonLogHandle { shared },
    )
}

/// The `tracing_subscriber` layer that formats and writes every event.
pub struct DaemonLogLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for DaemonLogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaemonLogLayer").finish_non_exhaustive()
    }
}

/// Control handle of the daemon log (cheap to clone).
#[derive(Clone)]
pub struct DaemonLogHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for DaemonLogHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaemonLogHandle").finish_non_exhaustive()
    }
}

struct Shared {
    inner: Mutex<Inner>,
    /// Serialises (re)opens of the log file. Held across a whole reopen, which runs
    /// without `inner` locked so that logging (even from the caller's expand
    /// function) never deadlocks and is not blocked by slow file systems.
    reopen: Mutex<()>,
    /// Severity number of the least severe priority any sink currently wants; lets
    /// DEBUG/TRACE callsites be rejected without formatting.
    max_priority: AtomicU8,
}

/// Sink state. Invariant: `stderr` is `None` once daemon mode is on.
struct Inner {
    stderr: Option<Box<dyn Write + Send>>,
    stderr_priority: Priority,
    file: Option<OpenLogfile>,
    spec: Option<LogfileSpec>,
    /// Set after the first open attempt, so `-z` truncates only once.
    opened_once: bool,
    syslog: Option<SyslogSink>,
}

struct OpenLogfile {
    file: File,
    path: PathBuf,
    priority: Priority,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while logging must not silence the daemon: keep using the state.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn recompute_max(&self, inner: &Inner) {
        let mut max = 0u8;
        if inner.stderr.is_some() {
            max = max.max(severity(inner.stderr_priority));
        }
        if let Some(f) = &inner.file {
            max = max.max(severity(f.priority));
        }
        if inner.syslog.is_some() {
            // Syslog gets every message; syslogd does the filtering (as in ConMan).
            max = max.max(severity(Priority::Info));
        }
        self.max_priority.store(max, Ordering::Relaxed);
    }
}

impl Inner {
    fn emit(&mut self, priority: Priority, message: &str) {
        if let Some(w) = self.stderr.as_mut()
            && priority <= self.stderr_priority
        {
            // Nothing sensible can be done about a failing stderr.
            let _ = w.write_all(format_line(priority, message).as_bytes());
            let _ = w.flush();
        }
        if let Some(s) = self.syslog.as_mut() {
            s.send(priority, message);
        }
        let mut failed = false;
        if let Some(f) = self.file.as_mut()
            && priority <= f.priority
        {
            let line = format_file_line(&timestamp_now(), priority, message);
            failed = (&f.file).write_all(line.as_bytes()).is_err();
        }
        if failed {
            // ConMan: syslog(LOG_CRIT, "Logging stopped due to error") and no log file.
            self.file = None;
            if let Some(s) = self.syslog.as_mut() {
                s.send(Priority::Crit, "Logging stopped due to error");
            }
        }
    }
}

fn open_logfile(spec: &LogfileSpec, truncate: bool) -> Result<OpenLogfile, String> {
    let path = (spec.expand)(&spec.template)
        .map_err(|reason| format!("Unable to open daemon logfile: {reason}"))?;
    let how = AppendFile {
        // 0666 minus group/other write = ConMan's `umask |= 022`.
        mode: 0o644,
        read: false,
        lock: true,
        truncate,
    };
    let file = match open_append(&path, how) {
        Ok(file) => file,
        Err(OutfileError::Locked) => {
            return Err(format!(
                "Unable to lock daemon logfile \"{}\"",
                path.display()
            ));
        }
        Err(e) => {
            return Err(format!(
                "Unable to open daemon logfile \"{}\": {e}",
                path.display()
            ));
        }
    };
    Ok(OpenLogfile {
        file,
        path,
        priority: spec.priority,
    })
}

impl DaemonLogHandle {
    /// Switches from foreground to daemon logging (ConMan `main`, step 11): connects
    /// syslog if configured, opens the log file if configured (warnings about it
    /// still go to stderr and syslog), then stops writing to stderr. With neither,
    /// log output is discarded, as ConMan does (`conmand.8` NOTES).
    ///
    /// Call after daemonizing and before `Daemonizing::finish`. Do not call it with
    /// `-F`: in the foreground ConMan ignores both `logfile` and `syslog`.
    pub fn switch_to_daemon_mode(&self, logfile: Option<LogfileSpec>, syslog: Option<Syslog>) {
        {
            let mut inner = self.shared.lock();
            inner.syslog = syslog.map(SyslogSink::new);
            inner.spec = logfile;
        }
        self.reopen();
        let mut inner = self.shared.lock();
        inner.stderr = None;
        self.shared.recompute_max(&inner);
    }

    /// Reopens the daemon log file, expanding its name again (SIGHUP; logrotate).
    /// Never truncates. On failure the daemon continues without a log file and the
    /// warning goes to syslog, if any. Does nothing when no log file is configured.
    pub fn reopen(&self) {
        let _serial = self
            .shared
            .reopen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (spec, truncate) = {
            let mut inner = self.shared.lock();
            let Some(spec) = inner.spec.clone() else {
                return;
            };
            // Close the old file *first*: a POSIX lock is released by closing any fd
            // of the file, so closing the old fd after locking a new one on the same
            // file would silently drop the new lock (a bug ConMan has).
            inner.file = None;
            let truncate = spec.truncate && !inner.opened_once;
            inner.opened_once = true;
            (spec, truncate)
        };
        let opened = open_logfile(&spec, truncate);
        let mut inner = self.shared.lock();
        match opened {
            Ok(file) => inner.file = Some(file),
            Err(warning) => inner.emit(Priority::Warning, &warning),
        }
        self.shared.recompute_max(&inner);
    }

    /// Writes one message to the sinks directly, bypassing `tracing` (same format
    /// and priority thresholds as events).
    pub fn log(&self, priority: Priority, message: &str) {
        self.shared.lock().emit(priority, message);
    }

    /// Whether messages still reach stderr (foreground, or not yet daemonized).
    pub fn stderr_active(&self) -> bool {
        self.shared.lock().stderr.is_some()
    }

    /// The path of the log file currently open, if any.
    pub fn logfile_path(&self) -> Option<PathBuf> {
        self.shared.lock().file.as_ref().map(|f| f.path.clone())
    }
}

/// A span's fields as `name=value` text (the `console` and `client` spans of the
/// engine), kept in the span's extensions for debug lines.
struct SpanFields(String);

/// Records a span's fields as ` name=value` pairs.
#[derive(Default)]
struct FieldText(String);

impl Visit for FieldText {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl<S> Layer<S> for DaemonLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = FieldText::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            // `console name=x` reads as `console=x`.
            let text = match fields.0.strip_prefix(" name=") {
                Some(v) => format!(" {}={v}", span.name()),
                None => fields.0.replacen(' ', &format!(" {}.", span.name()), 1),
            };
            span.extensions_mut().insert(SpanFields(text));
        }
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // INFO and above are always wanted by some sink while one is active; DEBUG and
        // TRACE depend on the configured priorities, which can change at runtime.
        if *metadata.level() <= Level::INFO {
            Interest::always()
        } else {
            Interest::sometimes()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        severity(level_priority(metadata.level()))
            <= self.shared.max_priority.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut visitor = EventText::default();
        event.record(&mut visitor);
        let priority = visitor
            .priority
            .unwrap_or_else(|| level_priority(event.metadata().level()));
        if severity(priority) > self.shared.max_priority.load(Ordering::Relaxed) {
            return;
        }
        let mut message = visitor.message;
        if !visitor.extra.is_empty() {
            message.push_str(&visitor.extra);
        }
        // Debug lines say which console or client they come from (the ConMan-format
        // lines at info and above name it in their text already).
        if priority == Priority::Debug
            && let Some(scope) = ctx.event_scope(event)
        {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>()
                    && !message.contains(f.0.as_str())
                {
                    message.push_str(&f.0);
                }
            }
        }
        self.shared.lock().emit(priority, &message);
    }
}

/// Collects the message, the priority override and any other fields of an event.
#[derive(Default)]
struct EventText {
    message: String,
    priority: Option<Priority>,
    extra: String,
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            PRIORITY_FIELD => self.priority = parse_priority(value),
            "message" => self.message.push_str(value),
            name => {
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            // `priority = ?x` arrives quoted; `priority = %x` does not.
            PRIORITY_FIELD => {
                self.priority = parse_priority(format!("{value:?}").trim_matches('"'));
            }
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }
}

/// A minimal syslog client (what glibc's `syslog(3)` sends, without its facility-0 bug).
struct SyslogSink {
    target: Syslog,
    conn: Option<SyslogConn>,
}

enum SyslogConn {
    Datagram(UnixDatagram),
    /// Some systems run syslogd on a stream socket; messages end in NUL there.
    Stream(UnixStream),
}

impl SyslogSink {
    fn new(target: Syslog) -> Self {
        // LOG_NDELAY: connect now. A failure is retried on every message.
        let conn = connect_syslog(&target.socket);
        SyslogSink { target, conn }
    }

    fn send(&mut self, priority: Priority, message: &str) {
        let pri =
            u16::from(facility_code(self.target.facility)) * 8 + u16::from(severity(priority));
        let stamp = crate::timefmt::syslog_now();
        let line = format!(
            "<{pri}>{stamp} {SYSLOG_IDENT}[{}]: {}",
            std::process::id(),
            message.strip_suffix('\n').unwrap_or(message)
        );
        for _attempt in 0..2 {
            if self.conn.is_none() {
                self.conn = connect_syslog(&self.target.socket);
            }
            let sent = match self.conn.as_mut() {
                // The socket is non-blocking: a stalled syslogd costs this message,
                // never a runtime thread of the daemon.
                Some(SyslogConn::Datagram(s)) => match s.send(line.as_bytes()) {
                    Ok(_) => true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(_) => false,
                },
                Some(SyslogConn::Stream(s)) => {
                    s.write_all(line.as_bytes()).is_ok() && s.write_all(b"\0").is_ok()
                }
                None => return,
            };
            if sent {
                return;
            }
            // syslogd restarted: reconnect once and retry.
            self.conn = None;
        }
    }
}

fn connect_syslog(path: &Path) -> Option<SyslogConn> {
    let dgram = UnixDatagram::unbound().ok()?;
    match dgram.connect(path) {
        Ok(()) => {
            dgram.set_nonblocking(true).ok()?;
            Some(SyslogConn::Datagram(dgram))
        }
        Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
            let s = UnixStream::connect(path).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(SyslogConn::Stream(s))
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc as StdArc;

    use tracing_subscriber::layer::SubscriberExt;

    /// A `Write` that appends into a shared buffer.
    #[derive(Clone, Default)]
    struct Buf(StdArc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn with_log<R>(f: impl FnOnce(&DaemonLogHandle) -> R) -> (R, String) {
        let buf = Buf::default();
        let (layer, handle) = layer(LogInit {
            stderr: Some(Box::new(buf.clone())),
            ..LogInit::default()
        });
        let subscriber = tracing_subscriber::registry().with(layer);
        let r = tracing::subscriber::with_default(subscriber, || f(&handle));
        (r, buf.text())
    }

    fn plain_expand() -> ExpandFn {
        Arc::new(|t: &str| Ok(PathBuf::from(t)))
    }

    fn is_timestamp(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 19
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 => *c == b' ',
                13 | 16 => *c == b':',
                _ => c.is_ascii_digit(),
            })
    }

    #[test]
    fn labels_are_padded_to_eleven_columns() {
        let cases = [
            (Priority::Emerg, "EMERGENCY: x\n"),
            (Priority::Alert, "ALERT:     x\n"),
            (Priority::Crit, "CRITICAL:  x\n"),
            (Priority::Err, "ERROR:     x\n"),
            (Priority::Warning, "WARNING:   x\n"),
            (Priority::Notice, "NOTICE:    x\n"),
            (Priority::Info, "INFO:      x\n"),
            (Priority::Debug, "DEBUG:     x\n"),
        ];
        for (p, want) in cases {
            assert_eq!(format_line(p, "x"), want);
        }
    }

    #[test]
    fn file_line_has_timestamp_then_label() {
        let line = format_file_line(
            "2026-11-25 07:26:38",
            Priority::Notice,
            "Starting ConMan daemon 0.2.7 (pid 13701)",
        );
        assert_eq!(
            line,
            "2026-11-25 07:26:38 NOTICE:    Starting ConMan daemon 0.2.7 (pid 13701)\n"
        );
        assert!(is_timestamp(&timestamp_now()), "{}", timestamp_now());
    }

    #[test]
    fn multi_line_messages_label_each_line() {
        assert_eq!(
            format_line(Priority::Err, "a\nb\n"),
            "ERROR:     a\nERROR:     b\n"
        );
    }

    #[test]
    fn priority_names_match_conman() {
        for (name, p) in [
            ("alert", Priority::Alert),
            ("crit", Priority::Crit),
            ("Critical", Priority::Crit),
            ("debug", Priority::Debug),
            ("emerg", Priority::Emerg),
            ("emergency", Priority::Emerg),
            ("panic", Priority::Emerg),
            ("ERR", Priority::Err),
            ("error", Priority::Err),
            ("info", Priority::Info),
            ("  notice", Priority::Notice),
            ("warn", Priority::Warning),
            ("warning", Priority::Warning),
        ] {
            assert_eq!(parse_priority(name), Some(p), "{name}");
        }
        assert_eq!(parse_priority("loud"), None);
    }

    #[test]
    fn stderr_lines_use_conman_format_and_levels() {
        let ((), out) = with_log(|_| {
            crate::notice!("Starting ConMan daemon {} (pid {})", "0.1.0", 7);
            tracing::info!("Listening on TCP port {}", 7890);
            tracing::error!("CONFIG[x.conf:2]: unmatched quote");
            tracing::warn!("Unable to lock daemon logfile \"/x\"");
            tracing::error!(priority = "crit", "bad");
            tracing::debug!("not shown at info");
            tracing::info!(console = "c1", "with field");
            tracing::info!(priority = ?"notice", "debug-formatted priority");
            tracing::info!(priority = %"alert", "display-formatted priority");
        });
        assert_eq!(
            out,
            "NOTICE:    Starting ConMan daemon 0.1.0 (pid 7)\n\
             INFO:      Listening on TCP port 7890\n\
             ERROR:     CONFIG[x.conf:2]: unmatched quote\n\
             WARNING:   Unable to lock daemon logfile \"/x\"\n\
             CRITICAL:  bad\n\
             INFO:      with field console=c1\n\
             NOTICE:    debug-formatted priority\n\
             ALERT:     display-formatted priority\n"
        );
    }

    #[test]
    fn stderr_debug_when_asked() {
        let buf = Buf::default();
        let (layer, _handle) = layer(LogInit {
            stderr_priority: Priority::Debug,
            stderr: Some(Box::new(buf.clone())),
        });
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::debug!("now shown");
        });
        assert_eq!(buf.text(), "DEBUG:     now shown\n");
    }

    #[test]
    fn debug_lines_name_their_console_and_client_info_lines_stay_conman() {
        let buf = Buf::default();
        let (layer, _handle) = layer(LogInit {
            stderr_priority: Priority::Debug,
            stderr: Some(Box::new(buf.clone())),
        });
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let client = tracing::info_span!("client", peer = "127.0.0.1:4242");
            let _c = client.enter();
            let console = tracing::info_span!("console", name = "node7");
            let _g = console.enter();
            tracing::debug!("telnet option refused");
            tracing::debug!(console = "node7", "already named");
            tracing::info!("Console [node7] connected to <ts:7001>");
        });
        assert_eq!(
            buf.text(),
            "DEBUG:     telnet option refused client.peer=127.0.0.1:4242 console=node7\n\
             DEBUG:     already named console=node7 client.peer=127.0.0.1:4242\n\
             INFO:      Console [node7] connected to <ts:7001>\n"
        );
    }

    #[test]
    fn daemon_mode_writes_file_not_stderr_and_filters_priority() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/conmand.log");
        let spec = LogfileSpec {
            template: path.to_str().unwrap().to_owned(),
            priority: Priority::Notice,
            truncate: false,
            expand: plain_expand(),
        };
        let (handle, out) = with_log(|h| {
            tracing::info!("before switch");
            h.switch_to_daemon_mode(Some(spec), None);
            assert!(!h.stderr_active());
            crate::notice!("Starting ConMan daemon");
            tracing::info!("filtered by logfile priority");
            tracing::warn!("kept");
            h.clone()
        });
        assert_eq!(out, "INFO:      before switch\n");
        assert_eq!(handle.logfile_path().as_deref(), Some(path.as_path()));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(is_timestamp(&lines[0][..19]));
        assert_eq!(&lines[0][19..], " NOTICE:    Starting ConMan daemon");
        assert_eq!(&lines[1][19..], " WARNING:   kept");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "group/other write removed: {mode:o}");
    }

    #[test]
    fn truncate_only_on_first_open_and_reopen_follows_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.log");
        std::fs::write(&path, "old content\n").unwrap();
        let spec = LogfileSpec {
            template: path.to_str().unwrap().to_owned(),
            priority: Priority::Info,
            truncate: true,
            expand: plain_expand(),
        };
        let rotated = dir.path().join("d.log.1");
        with_log(|h| {
            h.switch_to_daemon_mode(Some(spec), None);
            tracing::info!("first");
            std::fs::rename(&path, &rotated).unwrap();
            tracing::info!("second");
            h.reopen();
            tracing::info!("third");
            h.reopen();
            tracing::info!("fourth");
        });
        let old = std::fs::read_to_string(&rotated).unwrap();
        assert!(!old.contains("old content"), "truncated on first open");
        assert!(old.contains("INFO:      first\n") && old.contains("INFO:      second\n"));
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(!new.contains("second"));
        assert!(
            new.contains("INFO:      third\n") && new.contains("INFO:      fourth\n"),
            "reopen appends, never truncates: {new}"
        );
    }

    #[test]
    fn reopen_expands_the_name_again() {
        let dir = tempfile::tempdir().unwrap();
        let counter = StdArc::new(std::sync::atomic::AtomicUsize::new(0));
        let base = dir.path().to_owned();
        let c2 = StdArc::clone(&counter);
        let expand: ExpandFn = Arc::new(move |t: &str| {
            let n = c2.fetch_add(1, Ordering::SeqCst);
            Ok(base.join(format!("{t}.{n}")))
        });
        let spec = LogfileSpec {
            template: "log".into(),
            priority: Priority::Info,
            truncate: false,
            expand,
        };
        with_log(|h| {
            h.switch_to_daemon_mode(Some(spec), None);
            tracing::info!("zero");
            h.reopen();
            tracing::info!("one");
        });
        assert!(
            std::fs::read_to_string(dir.path().join("log.0"))
                .unwrap()
                .contains("zero")
        );
        assert!(
            std::fs::read_to_string(dir.path().join("log.1"))
                .unwrap()
                .contains("one")
        );
    }

    #[test]
    fn expand_function_may_log_without_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let p2 = path.clone();
        let spec = LogfileSpec {
            template: "x".into(),
            priority: Priority::Info,
            truncate: false,
            expand: Arc::new(move |_: &str| {
                tracing::info!("expanding");
                Ok(p2.clone())
            }),
        };
        let ((), out) = with_log(|h| {
            h.switch_to_daemon_mode(Some(spec), None);
            h.reopen();
            tracing::info!("after reopen");
        });
        // The first expansion's message reaches stderr; during the reopen the old
        // file is already closed and stderr is off, so that one goes nowhere.
        assert_eq!(out, "INFO:      expanding\n");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with(" INFO:      after reopen\n"), "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn open_failures_warn_on_stderr_and_run_without_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: open fails with EISDIR.
        let path = dir.path().join("isdir");
        std::fs::create_dir(&path).unwrap();
        let spec = LogfileSpec {
            template: path.to_str().unwrap().to_owned(),
            priority: Priority::Info,
            truncate: false,
            expand: plain_expand(),
        };
        let bad_expand = LogfileSpec {
            expand: Arc::new(|_: &str| Err("filename too long".to_owned())),
            ..spec.clone()
        };
        let (handle, out) = with_log(|h| {
            h.switch_to_daemon_mode(Some(spec), None);
            tracing::info!("goes nowhere");
            h.clone()
        });
        assert_eq!(
            out,
            format!(
                "WARNING:   Unable to open daemon logfile \"{}\": Is a directory\n",
                path.display()
            )
        );
        assert!(handle.logfile_path().is_none());
        let ((), out) = with_log(|h| h.switch_to_daemon_mode(Some(bad_expand), None));
        assert_eq!(
            out,
            "WARNING:   Unable to open daemon logfile: filename too long\n"
        );
    }

    /// Issue 12: a symbolic link at the daemon log's name is refused with a warning
    /// naming the path, on the first open and on a SIGHUP reopen; its target is
    /// never written or truncated.
    #[test]
    fn a_symlink_at_the_logfile_name_is_refused() {
        use crate::outfile::testutil::{assert_untouched, plant_link};
        let dir = tempfile::tempdir().unwrap();
        let (path, target) = plant_link(dir.path(), "conmand.log");
        let spec = LogfileSpec {
            template: path.to_str().unwrap().to_owned(),
            priority: Priority::Info,
            truncate: true,
            expand: plain_expand(),
        };
        let (handle, out) = with_log(|h| {
            h.switch_to_daemon_mode(Some(spec), None);
            tracing::warn!("goes nowhere");
            h.clone()
        });
        assert_eq!(
            out,
            format!(
                "WARNING:   Unable to open daemon logfile \"{}\": Is a symbolic link (not followed)\n",
                path.display()
            )
        );
        assert!(handle.logfile_path().is_none());
        // Planted after a good open: the SIGHUP reopen refuses it too.
        std::fs::remove_file(&path).unwrap();
        let spec = LogfileSpec {
            template: path.to_str().unwrap().to_owned(),
            priority: Priority::Info,
            truncate: false,
            expand: plain_expand(),
        };
        with_log(|h| {
            h.switch_to_daemon_mode(Some(spec), None);
            tracing::info!("before");
            std::fs::rename(&path, dir.path().join("rotated")).unwrap();
            std::os::unix::fs::symlink(&target, &path).unwrap();
            h.reopen();
            assert!(h.logfile_path().is_none());
            tracing::info!("after");
        });
        assert_untouched(&target);
    }

    #[test]
    fn syslog_datagrams_carry_facility_priority_ident_and_pid() {
        let dir = tempfile::tempdir().unwrap();
        let sock_path = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&sock_path).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let recv = || {
            let mut buf = [0u8; 2048];
            let n = server.recv(&mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        let pid = std::process::id();
        with_log(|h| {
            h.switch_to_daemon_mode(
                None,
                Some(Syslog::with_socket(SyslogFacility::Kern, &sock_path)),
            );
            crate::notice!("kern works");
        });
        let msg = recv();
        assert!(msg.starts_with("<5>"), "kern(0)*8 + notice(5): {msg}");
        assert!(
            msg.ends_with(&format!(" conmand[{pid}]: kern works")),
            "{msg}"
        );
        with_log(|h| {
            h.switch_to_daemon_mode(
                None,
                Some(Syslog::with_socket(SyslogFacility::Local7, &sock_path)),
            );
            tracing::info!("Listening on TCP port 1");
        });
        let msg = recv();
        assert!(msg.starts_with("<190>"), "local7(23)*8 + info(6): {msg}");
        assert!(msg.ends_with(": Listening on TCP port 1"), "{msg}");
    }

    #[test]
    fn syslog_reconnects_after_syslogd_restart() {
        let dir = tempfile::tempdir().unwrap();
        let sock_path = dir.path().join("log.sock");
        let bind = || {
            let s = UnixDatagram::bind(&sock_path).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            s
        };
        let recv = |s: &UnixDatagram| {
            let mut buf = [0u8; 2048];
            let n = s.recv(&mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        let first = bind();
        with_log(|h| {
            h.switch_to_daemon_mode(
                None,
                Some(Syslog::with_socket(SyslogFacility::Daemon, &sock_path)),
            );
            tracing::warn!("one");
            assert!(recv(&first).ends_with(": one"));
            // syslogd restarts: old socket gone, a new one at the same path.
            drop(first);
            std::fs::remove_file(&sock_path).unwrap();
            let second = bind();
            tracing::warn!("two");
            let msg = recv(&second);
            assert!(msg.starts_with("<28>"), "daemon(3)*8 + warning(4): {msg}");
            assert!(msg.ends_with(": two"), "{msg}");
        });
    }
}
