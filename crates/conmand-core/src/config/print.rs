//! Writes a [`Config`] back out as `conman.conf` text.
//!
//! The output re-parses (with the same [`FsProbe`](super::FsProbe) answers) to the same
//! [`Config`], apart from console line numbers: every SERVER setting that differs from
//! its default gets its own line, then one CONSOLE line per console with its options
//! spelled out in full (no GLOBAL lines are needed); log names under `logdir` are
//! written relative to it. A program console found through an `execpath` that was
//! changed later in the file gets a `server execpath=` line naming its directory just
//! before it (and the final `execpath` is restored after the consoles), so it
//! resolves to the same program again.
//!
//! Some configurations cannot be written so that they read back the same; they are
//! printed as well as possible: a value holding both quote characters; a value
//! longer than the 1023 bytes a string may hold once written (a relative log name
//! joined to a `logdir` that was changed later); an IPMI user
//! name with a comma; such a program directory with a `:` in it; a log name outside
//! the final `logdir` that holds a `&` (it came from a `logdir` changed later); an
//! `ipmi:` or `test:` console whose device string also names an executable in a
//! directory of an `execpath` set later in the file (ConMan tries programs first, and
//! the model keeps only the final `execpath`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::devstr::split_dev;
use super::model::*;
use super::names::{facility_name, priority_name};
use super::opts::WORKAROUND_DEFAULT;

/// Quotes `s` with whichever quote character it does not contain.
fn quote(s: &str) -> String {
    if s.contains('"') && !s.contains('\'') {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn seropts(o: &SerialOpts) -> String {
    let p = match o.parity {
        Parity::None => 'n',
        Parity::Odd => 'o',
        Parity::Even => 'e',
    };
    format!("{},{}{}{}", o.bps, o.databits, p, o.stopbits)
}

fn logopts(o: &LogOpts) -> String {
    let w = |b: bool, n: &str| if b { n.to_string() } else { format!("no{n}") };
    format!(
        "{},{},{}",
        w(o.lock, "lock"),
        w(o.sanitize, "sanitize"),
        w(o.timestamp, "timestamp")
    )
}

fn ipmiopts(o: &IpmiOpts) -> String {
    let mut parts = Vec::new();
    if let Some(u) = &o.username {
        parts.push(format!("U:{u}"));
    }
    if let Some(p) = &o.password {
        parts.push(format!("P:{}", hex(p)));
    }
    if let Some(k) = &o.k_g {
        parts.push(format!("K:{}", hex(k)));
    }
    if let Some(c) = o.cipher_suite {
        parts.push(format!("C:{c}"));
    }
    if let Some(l) = o.privilege {
        parts.push(
            match l {
                PrivilegeLevel::User => "L:user",
                PrivilegeLevel::Operator => "L:operator",
                PrivilegeLevel::Admin => "L:admin",
            }
            .to_string(),
        );
    }
    match o.workarounds {
        None | Some(WORKAROUND_DEFAULT) => {}
        Some(0) => parts.push("W:none".to_string()),
        Some(w) => parts.push(format!("W:0x{w:x}")),
    }
    parts.join(",")
}

fn testopts(o: &TestOpts) -> String {
    let mut parts = vec![
        format!("B:{}", o.burst_bytes),
        format!("P:{}", o.probability),
    ];
    if o.max_ms >= 0 {
        parts.push(format!("M:{}", o.max_ms));
    }
    if o.min_ms >= 0 {
        parts.push(format!("N:{}", o.min_ms));
    }
    parts.join(",")
}

/// The directory a program console's bare program name was found in (through
/// `execpath`, or the working directory as the fallback); `None` for other consoles
/// and for programs given as a path, which `execpath` does not affect.
fn found_in(c: &ConsoleDef) -> Option<&Path> {
    let ConsoleSpec::Process(p) = &c.spec else {
        return None;
    };
    let args = split_dev(&c.dev, &c.name).ok()?;
    if args.first()?.contains('/') {
        return None;
    }
    Path::new(p.argv.first()?).parent()
}

/// A log name as written: relative to `logdir` when it lies there (the parser
/// puts `logdir` back, and a `logdir` may hold characters a `log=` value must not,
/// such as `&`). Not when the rest would be blank: a blank value means "none".
fn log_relative<'a>(log: &'a str, logdir: Option<&Path>) -> &'a str {
    let blank = |s: &str| {
        s.chars()
            .all(|c| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r'))
    };
    logdir
        .and_then(|d| log.strip_prefix(&*d.to_string_lossy()))
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !blank(rest) && !rest.starts_with('/'))
        .unwrap_or(log)
}

fn execpath_line(dirs: &[PathBuf]) -> String {
    let joined: Vec<String> = dirs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    format!("server execpath={}", quote(&joined.join(":")))
}

/// Prints `config` as `conman.conf` text.
pub fn print(config: &Config) -> String {
    let s = &config.server;
    let d = ServerOpts::default();
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    if s.coredump != d.coredump {
        line(format!("server coredump={}", on_off(s.coredump)));
    }
    if s.alertpack != d.alertpack {
        line("server alertpack=\"off\"".to_string());
    }
    if let Some(p) = &s.alerts {
        line(format!("server alerts={}", quote(&p.to_string_lossy())));
    }
    if let Some(a) = &s.http {
        line(format!("server http=\"{a}\""));
    }
    if let Some(p) = &s.httptokens {
        line(format!("server httptokens={}", quote(&p.to_string_lossy())));
    }
    for (kw, p) in [
        ("acl", &s.acl),
        ("auditlog", &s.auditlog),
        ("sshhostkey", &s.sshhostkey),
        ("sshusers", &s.sshusers),
        ("sshca", &s.sshca),
    ] {
        if let Some(p) = p {
            line(format!("server {kw}={}", quote(&p.to_string_lossy())));
        }
    }
    if !s.cluster.is_empty() {
        line(format!("server cluster={}", quote(&s.cluster.join(","))));
    }
    if let Some(n) = &s.nodename {
        line(format!("server nodename={}", quote(n)));
    }
    if s.clusterprefix != d.clusterprefix {
        line(format!("server clusterprefix={}", quote(&s.clusterprefix)));
    }
    if s.clusterttl != d.clusterttl {
        line(format!("server clusterttl={}", s.clusterttl));
    }
    if let Some(a) = &s.advertise {
        line(format!("server advertise={}", quote(a)));
    }
    if let Some(a) = &s.sshaddr {
        line(format!("server sshaddr=\"{a}\""));
    }
    if s.sshport != 0 {
        line(format!("server sshport={}", s.sshport));
    }
    if let Some(u) = &s.alertwebhook {
        line(format!("server alertwebhook={}", quote(u)));
    }
    if let Some(c) = &s.alertexec {
        line(format!("server alertexec={}", quote(c)));
    }
    if let Some(p) = &s.eventlog {
        line(format!("server eventlog={}", quote(&p.to_string_lossy())));
    }
    if let Some(p) = &s.coredumpdir {
        line(format!(
            "server coredumpdir={}",
            quote(&p.to_string_lossy())
        ));
    }
    if !s.execpath.is_empty() {
        line(execpath_line(&s.execpath));
    }
    if s.keepalive != d.keepalive {
        line(format!("server keepalive={}", on_off(s.keepalive)));
    }
    if let Some(p) = &s.logdir {
        line(format!("server logdir={}", quote(&p.to_string_lossy())));
    }
    if let Some(l) = &s.logfile {
        // Relative to logdir like console logs, and without the default ",info"
        // when the full name has no comma (the parser splits the priority off
        // after joining logdir, as ConMan does): the shortest spelling, so a name
        // near the 1023-byte string limit still fits.
        let name = log_relative(&l.name, s.logdir.as_deref());
        let value = if l.priority == Priority::Info && !l.name.contains(',') {
            name.to_string()
        } else {
            format!("{name},{}", priority_name(l.priority))
        };
        line(format!("server logfile={}", quote(&value)));
    }
    if s.loopback != d.loopback {
        line(format!("server loopback={}", on_off(s.loopback)));
    }
    if s.maxclients != d.maxclients {
        line(format!("server maxclients={}", s.maxclients));
    }
    if s.nofile != d.nofile {
        line(format!("server nofile={}", s.nofile));
    }
    if let Some(p) = &s.pidfile {
        line(format!("server pidfile={}", quote(&p.to_string_lossy())));
    }
    if let Some(p) = s.port {
        line(format!("server port={p}"));
    }
    if let Some(r) = &s.resetcmd {
        line(format!("server resetcmd={}", quote(r)));
    }
    if let Some(f) = s.syslog {
        line(format!("server syslog={}", quote(facility_name(f))));
    }
    if s.tcpwrappers != d.tcpwrappers {
        line(format!("server tcpwrappers={}", on_off(s.tcpwrappers)));
    }
    if s.timestamp_minutes != d.timestamp_minutes {
        line(format!("server timestamp={}m", s.timestamp_minutes));
    }
    // The execpath in effect at this point of the output. A bare program name is
    // searched for in execpath order, so its directory must come first.
    let mut execpath = s.execpath.clone();
    for c in &config.consoles {
        if let Some(dir) = found_in(c)
            && execpath.first().map(PathBuf::as_path) != Some(dir)
        {
            execpath = if s.execpath.first().map(PathBuf::as_path) == Some(dir) {
                s.execpath.clone()
            } else {
                vec![dir.to_path_buf()]
            };
            line(execpath_line(&execpath));
        }
        let mut l = format!("console name={} dev={}", quote(&c.name), quote(&c.dev));
        if let Some(log) = &c.log {
            let _ = write!(l, " log={}", quote(log_relative(log, s.logdir.as_deref())));
        }
        if c.logopts != LogOpts::default() {
            let _ = write!(l, " logopts={}", quote(&logopts(&c.logopts)));
        }
        match &c.spec {
            ConsoleSpec::Serial(sp) if sp.opts != SerialOpts::default() => {
                let _ = write!(l, " seropts={}", quote(&seropts(&sp.opts)));
            }
            ConsoleSpec::Ipmi(ip) if ip.opts != IpmiOpts::default() => {
                let _ = write!(l, " ipmiopts={}", quote(&ipmiopts(&ip.opts)));
            }
            ConsoleSpec::Test(t) if *t != TestOpts::default() => {
                let _ = write!(l, " testopts={}", quote(&testopts(t)));
            }
            _ => {}
        }
        line(l);
    }
    if execpath != s.execpath {
        line(execpath_line(&s.execpath));
    }
    out
}
