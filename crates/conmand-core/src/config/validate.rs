//! Stage two of configuration parsing: directives → a typed [`Config`].
//!
//! Applies ConMan's semantics in file order (`src/server-conf.c`): SERVER pairs take
//! effect one by one, GLOBAL values apply to later CONSOLE lines, `logdir` prefixes
//! later relative names, the first `port`/`pidfile` line wins. Each CONSOLE `dev=` is
//! split into arguments, `%N` is substituted, and the first argument is classified in
//! ConMan's order (unix socket, telnet, serial, process, IPMI, test) with the help of an
//! [`FsProbe`]. Every problem becomes a [`Diagnostic`]; a bad CONSOLE is dropped.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::devstr::{SplitError, split_dev, split_ipmi_host, split_telnet, strip_prefix_ci};
use super::expand::{ExpandCtx, check_template, device_text, expand};
use super::model::*;
use super::names::{lookup_facility, lookup_priority};
use super::opts::{parse_ipmiopts, parse_logopts, parse_seropts, parse_testopts};
use super::probe::{FileKind, FsProbe};
use super::syntax::{
    Directive, DirectiveKind, Keyword, Note, Pair, Span, Stmt, Syntax, TimeUnit, Value,
};
use super::{Diagnostic, Parsed};

/// Longest `execpath` ConMan accepts (`PATH_MAX - 1`).
const MAX_EXECPATH: usize = 4095;
/// Longest unix socket path (`sizeof(sun_path) - 1`).
const MAX_UNIX_PATH: usize = 107;
/// The largest `server maxclients=`.
const MAX_MAXCLIENTS: usize = 1_000_000;

/// ConMan's `isspace`-only test for "empty" strings.
fn is_blank(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r'))
}

/// The CONSOLE strings before processing (`console_strs_t`).
#[derive(Default)]
struct ConsoleStrs {
    name: Option<(String, Span)>,
    dev: Option<(String, Span)>,
    /// Log name with the logdir prefix already applied, or `""` (logging disabled).
    log: Option<(String, Span)>,
    logopts: Option<(String, Span)>,
    seropts: Option<(String, Span)>,
    ipmiopts: Option<(String, Span)>,
    testopts: Option<(String, Span)>,
}

/// Everything the walk over the directives accumulates.
struct State<'p> {
    probe: &'p dyn FsProbe,
    origin: String,
    cwd: PathBuf,
    /// The current logdir prefix (the cwd until `server logdir=`).
    logdir: PathBuf,
    server: ServerOpts,
    /// Line of the SERVER directive that set `port`/`pidfile` (first line wins).
    port_line: Option<u32>,
    pidfile_line: Option<u32>,
    /// Where `sshport=` was last set (SSH needs `sshusers=` or `sshca=`).
    ssh_span: Option<Span>,
    /// Where `http=` was last set (a non-loopback one needs `httptokens=`).
    http_span: Option<Span>,
    global_log: Option<String>,
    global_logopts: LogOpts,
    global_seropts: SerialOpts,
    global_ipmiopts: IpmiOpts,
    global_testopts: TestOpts,
    consoles: Vec<ConsoleDef>,
    names: HashSet<String>,
    serial_devs: HashSet<PathBuf>,
    unix_devs: HashSet<PathBuf>,
    ipmi_hosts: HashSet<String>,
    /// Log name with time specifiers unexpanded → console logging there.
    logs: HashMap<String, String>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl State<'_> {
    fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.origin.clone(),
            line: span.line,
            col: span.col,
            message: message.into(),
        }
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        let d = self.diag(span, message);
        self.errors.push(d);
    }

    fn warn(&mut self, span: Span, message: impl Into<String>) {
        let d = self.diag(span, message);
        self.warnings.push(d);
    }

    fn note_error(&mut self, n: Note) {
        self.error(n.span, n.message);
    }

    fn abs(&self, p: &str) -> PathBuf {
        if p.starts_with('/') {
            PathBuf::from(p)
        } else {
            self.cwd.join(p)
        }
    }

    fn with_logdir(&self, name: &str) -> String {
        if name.starts_with('/') {
            name.to_string()
        } else {
            format!("{}/{}", self.logdir.display(), name)
        }
    }

    fn template_warnings(&mut self, span: Span, what: &str, t: &str, console: bool) {
        for w in check_template(t, console) {
            self.warn(span, format!("{what}: {w}"));
        }
    }

    fn server(&mut self, d: Directive) {
        let mut set_port = false;
        let mut set_pidfile = false;
        for p in &d.pairs {
            if let Err(msg) = self.server_pair(p, d.span.line, &mut set_port, &mut set_pidfile) {
                self.error(p.value_span, msg);
                return self.finish_server(set_port, set_pidfile, d.span.line);
            }
        }
        if let Some(e) = d.error {
            self.note_error(e);
        }
        self.finish_server(set_port, set_pidfile, d.span.line);
    }

    fn finish_server(&mut self, set_port: bool, set_pidfile: bool, line: u32) {
        if set_port && self.port_line.is_none() {
            self.port_line = Some(line);
        }
        if set_pidfile && self.pidfile_line.is_none() {
            self.pidfile_line = Some(line);
        }
    }

    fn server_pair(
        &mut self,
        p: &Pair,
        line: u32,
        set_port: &mut bool,
        set_pidfile: &mut bool,
    ) -> Result<(), String> {
        let kw = p.key.as_str();
        let need = |s: &str| {
            if is_blank(s) {
                Err(format!("expected STRING for {kw} value"))
            } else {
                Ok(())
            }
        };
        match (p.key, &p.value) {
            (Keyword::Coredump, Value::OnOff(b)) => self.server.coredump = *b,
            (Keyword::Keepalive, Value::OnOff(b)) => self.server.keepalive = *b,
            (Keyword::Loopback, Value::OnOff(b)) => self.server.loopback = *b,
            (Keyword::Tcpwrappers, Value::OnOff(b)) => self.server.tcpwrappers = *b,
            (Keyword::Alertpack, Value::Str(s)) => {
                self.server.alertpack = match s.trim().to_ascii_lowercase().as_str() {
                    "builtin" => AlertPack::Builtin,
                    "off" => AlertPack::Off,
                    _ => return Err(format!("invalid {kw} value \"{s}\" (builtin or off)")),
                };
            }
            (Keyword::Alerts, Value::Str(s)) => {
                self.server.alerts = (!is_blank(s)).then(|| self.abs(s));
            }
            (Keyword::Http, Value::Str(s)) => {
                if is_blank(s) {
                    self.server.http = None;
                } else {
                    let addr = s.trim().parse::<std::net::SocketAddr>().map_err(|_| {
                        format!("invalid {kw} value \"{s}\" (ADDR:PORT, e.g. 127.0.0.1:9780 or [::1]:9780)")
                    })?;
                    self.server.http = Some(addr);
                    self.http_span = Some(p.value_span);
                }
            }
            (Keyword::Httptokens, Value::Str(s)) => {
                self.server.httptokens = (!is_blank(s)).then(|| self.abs(s));
            }
            (Keyword::Cluster, Value::Str(s)) => {
                let mut urls = Vec::new();
                for u in s.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                    crate::alerts::url::HttpUrl::parse(u).map_err(|e| {
                        format!("invalid {kw} endpoint \"{u}\": {e} (http://HOST:PORT)")
                    })?;
                    urls.push(u.trim_end_matches('/').to_string());
                }
                self.server.cluster = urls;
            }
            (Keyword::Nodename, Value::Str(s)) => {
                let n = s.trim();
                if n.is_empty() {
                    self.server.nodename = None;
                } else if n.len() > 64
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                {
                    return Err(format!(
                        "invalid {kw} value \"{s}\" (letters, digits, '.', '_', '-', at most 64)"
                    ));
                } else {
                    self.server.nodename = Some(n.to_string());
                }
            }
            (Keyword::Clusterprefix, Value::Str(s)) => {
                let p = s.trim().trim_end_matches('/');
                if !p.starts_with('/') || p.bytes().any(|b| b.is_ascii_control()) {
                    return Err(format!(
                        "invalid {kw} value \"{s}\" (a key path starting with '/')"
                    ));
                }
                self.server.clusterprefix = p.to_string();
            }
            (Keyword::Clusterttl, Value::Int(n)) => {
                self.server.clusterttl =
                    u32::try_from(*n)
                        .ok()
                        .filter(|t| (2..=300).contains(t))
                        .ok_or_else(|| format!("invalid {kw} value {n} (2 to 300 seconds)"))?;
            }
            (Keyword::Advertise, Value::Str(s)) => {
                let a = s.trim();
                if a.is_empty() {
                    self.server.advertise = None;
                } else {
                    let ok = a.rsplit_once(':').is_some_and(|(h, p)| {
                        !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0)
                    });
                    if !ok {
                        return Err(format!("invalid {kw} value \"{s}\" (HOST:PORT)"));
                    }
                    self.server.advertise = Some(a.to_string());
                }
            }
            (Keyword::Acl, Value::Str(s)) => self.server.acl = (!is_blank(s)).then(|| self.abs(s)),
            (Keyword::Auditlog, Value::Str(s)) => {
                self.server.auditlog = (!is_blank(s)).then(|| self.abs(s));
            }
            (Keyword::Sshhostkey, Value::Str(s)) => {
                self.server.sshhostkey = (!is_blank(s)).then(|| self.abs(s));
            }
            (Keyword::Sshusers, Value::Str(s)) => {
                self.server.sshusers = (!is_blank(s)).then(|| self.abs(s));
            }
            (Keyword::Sshca, Value::Str(s)) => {
                self.server.sshca = (!is_blank(s)).then(|| self.abs(s));
            }
            (Keyword::Sshaddr, Value::Str(s)) => {
                if is_blank(s) {
                    self.server.sshaddr = None;
                } else {
                    let ip = s.trim().parse::<std::net::IpAddr>().map_err(|_| {
                        format!("invalid {kw} value \"{s}\" (an IP address, e.g. 0.0.0.0 or ::)")
                    })?;
                    self.server.sshaddr = Some(ip);
                }
            }
            (Keyword::Sshport, Value::Int(n)) => {
                self.server.sshport = u16::try_from(*n)
                    .map_err(|_| format!("invalid {kw} value {n} (0 to 65535)"))?;
                self.ssh_span = Some(p.value_span);
            }
            (Keyword::Alertwebhook, Value::Str(s)) => {
                if is_blank(s) {
                    self.server.alertwebhook = None;
                } else {
                    let url = crate::alerts::url::HttpUrl::parse(s)
                        .map_err(|e| format!("invalid {kw} value \"{s}\": {e}"))?;
                    self.server.alertwebhook = Some(url.to_string());
                }
            }
            (Keyword::Alertexec, Value::Str(s)) => {
                self.server.alertexec = (!is_blank(s)).then(|| s.trim().to_string());
            }
            (Keyword::Eventlog, Value::Str(s)) => {
                self.server.eventlog = (!is_blank(s)).then(|| self.abs(s));
            }
            (Keyword::Coredumpdir, Value::Str(s)) => {
                if is_blank(s) {
                    self.server.coredumpdir = None;
                } else {
                    let path = self.abs(s);
                    match self.probe.file_kind(&path) {
                        FileKind::Missing => return Err(format!("cannot stat {kw} \"{s}\"")),
                        FileKind::Directory => {}
                        _ => return Err(format!("invalid {kw} \"{s}\" not a directory")),
                    }
                    let t = path.to_string_lossy();
                    let trimmed = t.trim_end_matches('/');
                    self.server.coredumpdir = Some(PathBuf::from(if trimmed.is_empty() {
                        "/"
                    } else {
                        trimmed
                    }));
                }
            }
            (Keyword::Execpath, Value::Str(s)) => {
                if s.len() > MAX_EXECPATH {
                    return Err(format!("exceeded max length for {kw} value"));
                }
                self.server.execpath = if is_blank(s) {
                    Vec::new()
                } else {
                    // Empty and blank pieces are dropped alike (a blank value as a
                    // whole unsets it; found by the config fuzz target).
                    s.split(':')
                        .filter(|d| !is_blank(d))
                        .map(PathBuf::from)
                        .collect()
                };
            }
            (Keyword::Logdir, Value::Str(s)) => {
                if is_blank(s) {
                    self.logdir = self.cwd.clone();
                    self.server.logdir = None;
                } else {
                    let p = self.abs(s);
                    self.logdir = p.clone();
                    self.server.logdir = Some(p);
                }
            }
            (Keyword::Logfile, Value::Str(s)) => {
                need(s)?;
                let mut name = self.with_logdir(s);
                let mut priority = self
                    .server
                    .logfile
                    .as_ref()
                    .map_or(Priority::Info, |l| l.priority);
                let mut bad = None;
                if let Some(i) = name.rfind(',') {
                    let prio = name[i + 1..].to_string();
                    name.truncate(i);
                    match lookup_priority(&prio) {
                        Some(pr) => priority = pr,
                        None => bad = Some(format!("invalid {kw} priority \"{prio}\"")),
                    }
                }
                self.template_warnings(p.value_span, kw, &name, false);
                self.server.logfile = Some(DaemonLogfile { name, priority });
                if let Some(b) = bad {
                    return Err(b);
                }
            }
            (Keyword::Maxclients, Value::Int(n)) => {
                self.server.maxclients = usize::try_from(*n)
                    .ok()
                    .filter(|m| (1..=MAX_MAXCLIENTS).contains(m))
                    .ok_or_else(|| format!("invalid {kw} value {n} (1 to {MAX_MAXCLIENTS})"))?;
            }
            (Keyword::Nofile, Value::Int(n)) => self.server.nofile = *n,
            (Keyword::Pidfile, Value::Str(s)) => {
                need(s)?;
                match self.pidfile_line {
                    Some(first) if first != line => self.warn(
                        p.value_span,
                        format!("ignoring {kw}: already set on line {first} (the first wins)"),
                    ),
                    _ => {
                        self.server.pidfile = Some(self.abs(s));
                        *set_pidfile = true;
                    }
                }
            }
            (Keyword::Port, Value::Int(n)) => {
                let port = u16::try_from(*n).map_err(|_| format!("invalid {kw} value {n}"))?;
                match self.port_line {
                    Some(first) if first != line => self.warn(
                        p.value_span,
                        format!("ignoring {kw}: already set on line {first} (the first wins)"),
                    ),
                    _ => {
                        self.server.port = Some(port);
                        *set_port = true;
                    }
                }
            }
            (Keyword::Resetcmd, Value::Str(s)) => {
                need(s)?;
                if s.contains('&') {
                    return Err(format!(
                        "ignoring SERVER {kw} value with deprecated '&' -- use '%N'"
                    ));
                }
                self.template_warnings(p.value_span, kw, s, true);
                self.server.resetcmd = Some(s.clone());
            }
            (Keyword::Syslog, Value::Str(s)) => {
                need(s)?;
                let f = lookup_facility(s).ok_or(format!("invalid {kw} facility \"{s}\""))?;
                self.server.syslog = Some(f);
            }
            (Keyword::Timestamp, Value::Timestamp(n, unit)) => {
                let mult = match unit {
                    TimeUnit::None | TimeUnit::Minutes => 1,
                    TimeUnit::Hours => 60,
                    TimeUnit::Days => 1440,
                };
                let m = n
                    .checked_mul(mult)
                    .and_then(|m| u32::try_from(m).ok())
                    .ok_or(format!("invalid {kw} value {n}"))?;
                self.server.timestamp_minutes = m;
            }
            _ => {}
        }
        Ok(())
    }

    fn global(&mut self, d: Directive) {
        for p in &d.pairs {
            if let Err(msg) = self.global_pair(p) {
                self.error(p.value_span, msg);
                return;
            }
        }
        if let Some(e) = d.error {
            self.note_error(e);
        }
    }

    fn global_pair(&mut self, p: &Pair) -> Result<(), String> {
        let kw = p.key.as_str();
        let Value::Str(s) = &p.value else {
            return Ok(());
        };
        if p.key != Keyword::Log && is_blank(s) {
            return Err(format!("expected STRING for {kw} value"));
        }
        match p.key {
            Keyword::Log => {
                if is_blank(s) {
                    self.global_log = None;
                } else if s.contains('&') {
                    return Err(format!(
                        "ignoring GLOBAL {kw} value with deprecated '&' -- use '%N'"
                    ));
                } else if !s.contains("%N") && !s.contains("%D") {
                    return Err(format!("ignoring GLOBAL {kw} value without '%N' or '%D'"));
                } else {
                    self.template_warnings(p.value_span, kw, s, true);
                    self.global_log = Some(s.clone());
                }
            }
            Keyword::Logopts => {
                let (o, w) = parse_logopts(self.global_logopts, s);
                for w in w {
                    self.warn(p.value_span, w);
                }
                self.global_logopts = o;
            }
            Keyword::Seropts => {
                let (o, w) = parse_seropts(self.global_seropts, s)?;
                for w in w {
                    self.warn(p.value_span, w);
                }
                self.global_seropts = o;
            }
            Keyword::Ipmiopts => self.global_ipmiopts = parse_ipmiopts(&self.global_ipmiopts, s)?,
            Keyword::Testopts => self.global_testopts = parse_testopts(self.global_testopts, s)?,
            _ => {}
        }
        Ok(())
    }

    fn console(&mut self, d: Directive) {
        let mut c = ConsoleStrs::default();
        for p in &d.pairs {
            if let Err(msg) = self.console_pair(p, &mut c) {
                self.error(p.value_span, msg);
                return;
            }
        }
        if let Some(e) = d.error {
            return self.note_error(e);
        }
        let (Some(name), Some(dev)) = (c.name.clone(), c.dev.clone()) else {
            return self.error(d.span, "incomplete CONSOLE directive");
        };
        if let Err((span, msg)) = self.process_console(&c, &name, &dev, d.span.line) {
            self.error(span, msg);
        }
    }

    fn console_pair(&mut self, p: &Pair, c: &mut ConsoleStrs) -> Result<(), String> {
        let kw = p.key.as_str();
        let Value::Str(s) = &p.value else {
            return Ok(());
        };
        let v = Some((s.clone(), p.value_span));
        match p.key {
            Keyword::Name | Keyword::Dev | Keyword::Logopts | Keyword::Seropts if is_blank(s) => {
                return Err(format!("expected STRING for {kw} value"));
            }
            Keyword::Name => c.name = v,
            Keyword::Dev => c.dev = v,
            Keyword::Log => {
                if s.contains('&') {
                    return Err(format!(
                        "ignoring CONSOLE {kw} value with deprecated '&' -- use '%N'"
                    ));
                }
                if is_blank(s) {
                    c.log = Some((String::new(), p.value_span));
                } else {
                    self.template_warnings(p.value_span, kw, s, true);
                    c.log = Some((self.with_logdir(s), p.value_span));
                }
            }
            Keyword::Logopts => c.logopts = v,
            Keyword::Seropts => c.seropts = v,
            Keyword::Ipmiopts => c.ipmiopts = v,
            Keyword::Testopts => c.testopts = v,
            _ => {}
        }
        Ok(())
    }

    fn resolve_process(&self, arg0: &str) -> Option<PathBuf> {
        let mut found = None;
        if !arg0.contains('/') {
            for dir in &self.server.execpath {
                let dir = self.abs(&dir.to_string_lossy());
                if self.probe.file_kind(&dir) != FileKind::Directory {
                    continue;
                }
                // Written with its components, so "/usr//share/" and "/usr/share"
                // give one program path (the printer writes the directory back
                // that way; a reload must not see a change).
                let cand: PathBuf = dir.join(arg0).components().collect();
                if self.probe.is_executable(&cand) {
                    found = Some(cand);
                    break;
                }
            }
        }
        let path = found.unwrap_or_else(|| self.abs(arg0));
        (self.probe.file_kind(&path) == FileKind::Regular && self.probe.is_executable(&path))
            .then_some(path)
    }

    fn check_name(&self, name: &str, span: Span) -> Result<(), (Span, String)> {
        if self.names.contains(name) {
            return Err((
                span,
                format!("console [{name}] specifies duplicate console name"),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_lines)]
    fn process_console(
        &mut self,
        c: &ConsoleStrs,
        (name, name_span): &(String, Span),
        (dev, dev_span): &(String, Span),
        line: u32,
    ) -> Result<(), (Span, String)> {
        let name = name.as_str();
        let (ds, ns) = (*dev_span, *name_span);
        let fail = |msg: String| Err((ds, msg));
        let args = match split_dev(dev, name) {
            Ok(a) => a,
            Err(SplitError::Parse) => {
                return fail(format!("console [{name}] dev string parse error"));
            }
            Err(SplitError::Substitution) => {
                return fail(format!("console [{name}] dev string substitution failed"));
            }
        };
        let Some(arg0) = args.first().cloned() else {
            return fail(format!("console [{name}] dev string is empty"));
        };
        let one_arg = || {
            if args.len() == 1 {
                Ok(())
            } else {
                Err((ds, format!("console [{name}] dev string has too many args")))
            }
        };
        let spec;
        let mut dev_key: Option<(u8, PathBuf)> = None;
        let mut ipmi_key = None;
        if let Some(rest) = strip_prefix_ci(&arg0, "unix:").filter(|r| !r.is_empty()) {
            one_arg()?;
            let path = self.abs(rest);
            if path.as_os_str().len() > MAX_UNIX_PATH {
                return fail(format!(
                    "console [{name}] exceeds maximum device length of {MAX_UNIX_PATH} bytes"
                ));
            }
            self.check_name(name, ns)?;
            if self.unix_devs.contains(&path) {
                return fail(format!(
                    "console [{name}] specifies duplicate device \"{}\"",
                    path.display()
                ));
            }
            dev_key = Some((0, path.clone()));
            spec = ConsoleSpec::Unix(UnixSpec { path });
        } else if let Some((host, port)) = split_telnet(&arg0) {
            one_arg()?;
            let n: u64 = port.parse().unwrap_or(u64::MAX);
            let port = match u16::try_from(n) {
                Ok(p) if p > 0 => p,
                _ => {
                    let shown = if n == u64::MAX {
                        port.to_string()
                    } else {
                        n.to_string()
                    };
                    return fail(format!(
                        "console [{name}] specifies invalid port \"{shown}\""
                    ));
                }
            };
            if host.is_empty() {
                return fail(format!("console [{name}] specifies invalid host \"\""));
            }
            self.check_name(name, ns)?;
            spec = ConsoleSpec::Telnet(TelnetSpec {
                host: host.to_string(),
                port,
            });
        } else if let Some((path, kind)) = Some(self.abs(&arg0))
            .map(|p| {
                let k = self.probe.file_kind(&p);
                (p, k)
            })
            .filter(|(p, k)| {
                *k == FileKind::CharDevice || (*k == FileKind::Missing && p.starts_with("/dev/"))
            })
        {
            one_arg()?;
            if kind == FileKind::Missing {
                self.warn(
                    ds,
                    format!(
                        "console [{name}] device \"{}\" does not exist yet: treating it as a \
                         serial device and waiting for it",
                        path.display()
                    ),
                );
            } else if !self.probe.is_read_writable(&path) {
                return fail(format!(
                    "console [{name}] device \"{}\" is not readable/writable",
                    path.display()
                ));
            }
            let mut opts = self.global_seropts;
            if let Some((s, sspan)) = &c.seropts {
                let (o, w) = parse_seropts(opts, s).map_err(|e| (*sspan, e))?;
                for w in w {
                    self.warn(*sspan, w);
                }
                opts = o;
            }
            self.check_name(name, ns)?;
            if self.serial_devs.contains(&path) {
                return fail(format!(
                    "console [{name}] specifies duplicate device \"{}\"",
                    path.display()
                ));
            }
            dev_key = Some((1, path.clone()));
            spec = ConsoleSpec::Serial(SerialSpec { path, opts });
        } else if let Some(path) = self.resolve_process(&arg0) {
            self.check_name(name, ns)?;
            let mut argv = args.clone();
            argv[0] = path.to_string_lossy().into_owned();
            spec = ConsoleSpec::Process(ProcessSpec { argv });
        } else if let Some(rest) = strip_prefix_ci(&arg0, "ipmi:").filter(|r| !r.is_empty()) {
            one_arg()?;
            let mut opts = self.global_ipmiopts.clone();
            if let Some((s, ispan)) = &c.ipmiopts {
                opts = parse_ipmiopts(&opts, s).map_err(|e| (*ispan, e))?;
            }
            let bad_port = |p: &str| {
                (
                    ds,
                    format!("console [{name}] specifies invalid port \"{p}\""),
                )
            };
            let (host, port) = split_ipmi_host(rest).map_err(|()| bad_port(rest))?;
            let port = match port {
                None => None,
                Some(p) => match p.parse::<u16>() {
                    Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                    _ => return Err(bad_port(p)),
                },
            };
            if host.is_empty() {
                return fail(format!("console [{name}] specifies invalid host \"\""));
            }
            self.check_name(name, ns)?;
            if self.ipmi_hosts.contains(rest) {
                return fail(format!(
                    "console [{name}] specifies duplicate hostname \"{rest}\""
                ));
            }
            ipmi_key = Some(rest.to_string());
            spec = ConsoleSpec::Ipmi(IpmiSpec { host, port, opts });
        } else if arg0.eq_ignore_ascii_case("test:") {
            one_arg()?;
            let mut opts = self.global_testopts;
            if let Some((s, tspan)) = &c.testopts {
                opts = parse_testopts(opts, s).map_err(|e| (*tspan, e))?;
            }
            self.check_name(name, ns)?;
            spec = ConsoleSpec::Test(opts);
        } else {
            return fail(format!(
                "console [{name}] device \"{arg0}\" type unrecognized"
            ));
        }

        // The log file: own `log=`, else `global log` with the logdir current now.
        let log = match (&c.log, &self.global_log) {
            (Some((l, _)), _) if l.is_empty() => None,
            (Some((l, _)), _) => Some(l.clone()),
            (None, Some(g)) => Some(self.with_logdir(g)),
            (None, None) => None,
        };
        let log_span = c.log.as_ref().map_or(ds, |(_, s)| *s);
        let mut logopts = self.global_logopts;
        if let Some((s, lspan)) = &c.logopts {
            let (o, w) = parse_logopts(logopts, s);
            for w in w {
                self.warn(*lspan, w);
            }
            logopts = o;
        }
        let mut log_key = None;
        if let Some(t) = &log {
            let keep_time = |c: char| format!("%{c}");
            let dev_text = device_text(&spec);
            let ctx = ExpandCtx {
                name: Some(name),
                dev: Some(&dev_text),
                pid: 0,
                strftime: &keep_time,
            };
            let key = expand(t, &ctx)
                .map_err(|e| (log_span, format!("console [{name}] log file name: {e}")))?;
            if let Some(other) = self.logs.get(&key) {
                return Err((
                    log_span,
                    format!("console [{other}] already logging to \"{key}\""),
                ));
            }
            log_key = Some(key);
        }

        self.names.insert(name.to_string());
        match dev_key {
            Some((0, p)) => {
                self.unix_devs.insert(p);
            }
            Some((_, p)) => {
                self.serial_devs.insert(p);
            }
            None => {}
        }
        if let Some(h) = ipmi_key {
            self.ipmi_hosts.insert(h);
        }
        if let Some(k) = log_key {
            self.logs.insert(k, name.to_string());
        }
        self.consoles.push(ConsoleDef {
            name: name.to_string(),
            dev: dev.clone(),
            spec,
            log,
            logopts,
            line,
        });
        Ok(())
    }
}

/// Turns stage-one output into a [`Config`] plus every error and warning.
pub(super) fn validate(syn: Syntax, origin: &str, probe: &dyn FsProbe) -> Parsed {
    let cwd = probe.cwd();
    let mut st = State {
        probe,
        origin: origin.to_string(),
        logdir: cwd.clone(),
        cwd,
        server: ServerOpts::default(),
        port_line: None,
        pidfile_line: None,
        http_span: None,
        ssh_span: None,
        global_log: None,
        global_logopts: LogOpts::default(),
        global_seropts: SerialOpts::default(),
        global_ipmiopts: IpmiOpts::default(),
        global_testopts: TestOpts::default(),
        consoles: Vec::new(),
        names: HashSet::new(),
        serial_devs: HashSet::new(),
        unix_devs: HashSet::new(),
        ipmi_hosts: HashSet::new(),
        logs: HashMap::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    for n in syn.errors {
        st.note_error(n);
    }
    for n in syn.warnings {
        st.warn(n.span, n.message);
    }
    for stmt in syn.stmts {
        match stmt {
            Stmt::Error(n) => st.note_error(n),
            Stmt::Directive(d) => match d.kind {
                DirectiveKind::Server => st.server(d),
                DirectiveKind::Global => st.global(d),
                DirectiveKind::Console => st.console(d),
            },
        }
    }
    if let (Some(addr), Some(span)) = (st.server.http, st.http_span)
        && !addr.ip().is_loopback()
        && st.server.httptokens.is_none()
    {
        st.errors.push(Diagnostic {
            file: origin.to_string(),
            line: span.line,
            col: span.col,
            message: format!(
                "HTTP on {addr} is reachable from other hosts: set server httptokens=\"FILE\" (or use a loopback address)"
            ),
        });
        // Never fail open: the daemon starts despite most errors (as ConMan does),
        // so the listener is dropped, not kept without authentication.
        st.server.http = None;
    }
    if let Some(span) = st.ssh_span
        && st.server.sshport != 0
        && st.server.sshusers.is_none()
        && st.server.sshca.is_none()
    {
        st.errors.push(Diagnostic {
            file: origin.to_string(),
            line: span.line,
            col: span.col,
            message: "SSH needs a way to authenticate: set server sshusers=\"DIR\" or server sshca=\"FILE\"".to_string(),
        });
        st.server.sshport = 0;
    }
    if st.consoles.is_empty() {
        let msg = format!("Configuration \"{origin}\" has no consoles defined");
        st.errors.push(Diagnostic {
            file: origin.to_string(),
            line: 0,
            col: 0,
            message: msg,
        });
    }
    st.errors.sort_by_key(|d| (d.line == 0, d.line, d.col));
    st.warnings.sort_by_key(|d| (d.line, d.col));
    Parsed {
        config: Config {
            origin: origin.to_string(),
            server: st.server,
            consoles: st.consoles,
        },
        errors: st.errors,
        warnings: st.warnings,
    }
}
