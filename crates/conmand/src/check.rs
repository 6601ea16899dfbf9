//! `conmand -t`: check a configuration without starting anything.
//!
//! Reads the file as bytes (invalid UTF-8 is replaced and warned about), validates it
//! with the real [`RealProbe`] (metadata only: no device is opened, nothing is
//! connected), optionally checks a `conman.pswd` file, and reports:
//! - text mode: every problem on stderr as `FILE:LINE:COL: message` (warnings as
//!   `FILE:LINE:COL: warning: message`), and on success one summary line on stdout;
//! - `--json`: one JSON document on stdout with the server settings, the consoles,
//!   the errors and the warnings; passwords and K_g keys are shown as `"***"`, and
//!   so are the arguments of process consoles that can be secrets (the rule is in
//!   [`conmand_core::config::secrets`]).
//!
//! The exit code is 0 when there is no error, 1 otherwise.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use conmand_core::config::{
    Config, ConsoleDef, ConsoleSpec, Diagnostic, ExpandCtx, FsProbe, Parity, Parsed,
    PrivilegeLevel, ServerOpts, device_text, expand, facility_name, masked_argv, masked_dev,
    priority_name,
};
use conmand_core::pswd::PasswordDb;
use serde_json::{Value, json};

use crate::cli::Cli;
use crate::fsprobe::RealProbe;

fn diag_json(d: &Diagnostic) -> Value {
    json!({"file": d.file, "line": d.line, "col": d.col, "message": d.message})
}

fn masked(v: &Option<Vec<u8>>) -> Value {
    if v.is_some() {
        json!("***")
    } else {
        Value::Null
    }
}

fn server_json(s: &ServerOpts, cli: &Cli) -> Value {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    json!({
        "alertpack": match s.alertpack {
            conmand_core::config::AlertPack::Builtin => "builtin",
            conmand_core::config::AlertPack::Off => "off",
        },
        "alerts": path(&s.alerts),
        "eventlog": path(&s.eventlog),
        "alertwebhook": s.alertwebhook,
        "alertexec": s.alertexec,
        "http": s.http.map(|a| a.to_string()),
        "httptokens": path(&s.httptokens),
        "acl": path(&s.acl),
        "auditlog": path(&s.auditlog),
        "sshport": s.sshport,
        "sshaddr": s.sshaddr.map(|a| a.to_string()),
        "sshhostkey": path(&s.sshhostkey),
        "sshusers": path(&s.sshusers),
        "sshca": path(&s.sshca),
        "cluster": s.cluster,
        "nodename": s.nodename,
        "clusterprefix": s.clusterprefix,
        "clusterttl": s.clusterttl,
        "advertise": s.advertise,
        "coredump": s.coredump,
        "coredumpdir": path(&s.coredumpdir),
        "execpath": s.execpath.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "keepalive": s.keepalive,
        "logdir": path(&s.logdir),
        "logfile": s.logfile.as_ref().map(|l| json!({"name": l.name, "priority": priority_name(l.priority)})),
        "loopback": s.loopback,
        "nofile": s.nofile,
        "pidfile": cli.pidfile.as_ref().map(|p| p.display().to_string()).or_else(|| path(&s.pidfile)),
        "port": cli.port.or(s.port).unwrap_or(conmand_core::config::DEFAULT_PORT),
        "resetcmd": s.resetcmd,
        "syslog": s.syslog.map(facility_name),
        "tcpwrappers": s.tcpwrappers,
        "timestamp_minutes": s.timestamp_minutes,
    })
}

fn console_json(c: &ConsoleDef) -> Value {
    let dev_text = device_text(&c.spec);
    let log = c.log.as_ref().map(|t| {
        let ctx = ExpandCtx {
            name: Some(&c.name),
            dev: Some(&dev_text),
            pid: std::process::id(),
            strftime: &crate::timefmt::strftime_one,
        };
        expand(t, &ctx).unwrap_or_else(|_| t.clone())
    });
    let mut v = json!({
        "name": c.name,
        "kind": c.spec.kind(),
        "dev": masked_dev(c),
        "line": c.line,
        "log": log,
        "log_template": c.log,
        "logopts": {"lock": c.logopts.lock, "sanitize": c.logopts.sanitize, "timestamp": c.logopts.timestamp},
    });
    let extra = match &c.spec {
        ConsoleSpec::Serial(s) => json!({
            "path": s.path.display().to_string(),
            "seropts": {
                "bps": s.opts.bps,
                "databits": s.opts.databits,
                "parity": match s.opts.parity { Parity::None => "n", Parity::Odd => "o", Parity::Even => "e" },
                "stopbits": s.opts.stopbits,
            },
        }),
        ConsoleSpec::Telnet(t) => json!({"host": t.host, "port": t.port}),
        ConsoleSpec::Unix(u) => json!({"path": u.path.display().to_string()}),
        ConsoleSpec::Process(_) => json!({"argv": masked_argv(c)}),
        ConsoleSpec::Test(t) => json!({"testopts": {
            "burst_bytes": t.burst_bytes, "max_ms": t.max_ms, "min_ms": t.min_ms, "probability": t.probability,
        }}),
        ConsoleSpec::Ipmi(i) => json!({
            "host": i.host,
            "port": i.port,
            "ipmiopts": {
                "username": i.opts.username,
                "password": masked(&i.opts.password),
                "k_g": masked(&i.opts.k_g),
                "cipher_suite": i.opts.cipher_suite,
                "privilege": i.opts.privilege.map(|p| match p {
                    PrivilegeLevel::User => "user",
                    PrivilegeLevel::Operator => "operator",
                    PrivilegeLevel::Admin => "admin",
                }),
                "workarounds": i.opts.workarounds,
            },
        }),
    };
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// Reads and validates the configuration file at `path` (as bytes: invalid UTF-8 is
/// replaced and warned about), naming it in messages exactly as given.
///
/// This is what the daemon calls at startup and on SIGHUP; the only I/O is reading
/// the file and the probe's metadata queries.
pub fn load_config(path: &Path, probe: &dyn FsProbe) -> std::io::Result<Parsed> {
    let bytes = std::fs::read(path)?;
    Ok(Config::parse_bytes(
        &bytes,
        &path.display().to_string(),
        probe,
    ))
}

/// Runs `conmand -t` for `cli`, writing to `out` and `err`; returns the exit code.
pub fn run_check(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let origin = cli.config.display().to_string();
    let parsed = match load_config(&cli.config, &RealProbe::new()) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "conmand: Unable to open \"{origin}\": {e}");
            return 1;
        }
    };
    let mut errors = parsed.errors;
    let mut warnings = parsed.warnings;
    let mut pswd_entries = None;
    if let Some(p) = &cli.pswd {
        let pname = p.display().to_string();
        match std::fs::read(p) {
            Ok(b) => {
                warnings.extend(crate::pswdfile::exposure(p).into_iter().map(|message| {
                    Diagnostic {
                        file: pname.clone(),
                        line: 0,
                        col: 0,
                        message,
                    }
                }));
                let (db, diags) = PasswordDb::parse(&String::from_utf8_lossy(&b), &pname);
                pswd_entries = Some(db.len());
                errors.extend(diags);
            }
            Err(e) => errors.push(Diagnostic {
                file: pname.clone(),
                line: 0,
                col: 0,
                message: format!("Unable to open \"{pname}\": {e}"),
            }),
        }
    }
    let config = parsed.config;
    let mut alert_rules = None;
    if errors.is_empty() {
        match crate::alerts::load(&config) {
            Ok(set) => alert_rules = Some(set.rules().len()),
            Err(e) => errors.extend(e.diagnostics(&origin)),
        }
        if let Some(path) = &config.server.httptokens
            && let Err(e) = crate::http::Tokens::load(path)
        {
            errors.extend(e.into_iter().map(|e| Diagnostic {
                file: e.file,
                line: u32::try_from(e.line).unwrap_or(u32::MAX),
                col: u32::from(e.line > 0),
                message: e.message,
            }));
        }
    }
    if errors.is_empty()
        && let Some(path) = &config.server.acl
    {
        let pname = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                if let Err(e) = conmand_core::access::Acl::parse(&pname, &text) {
                    errors.push(Diagnostic {
                        file: e.file,
                        line: u32::try_from(e.line).unwrap_or(u32::MAX),
                        col: 1,
                        message: e.message,
                    });
                }
            }
            Err(e) => errors.push(Diagnostic {
                file: pname.clone(),
                line: 0,
                col: 0,
                message: format!(
                    "Unable to open \"{pname}\": {}",
                    conmand_core::oserror::strerror(&e)
                ),
            }),
        }
    }
    if cli.json {
        let doc = json!({
            "config": origin,
            "ok": errors.is_empty(),
            "server": server_json(&config.server, cli),
            "consoles": config.consoles.iter().map(console_json).collect::<Vec<_>>(),
            "pswd_entries": pswd_entries,
            "alert_rules": alert_rules,
            "errors": errors.iter().map(diag_json).collect::<Vec<_>>(),
            "warnings": warnings.iter().map(diag_json).collect::<Vec<_>>(),
        });
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    } else {
        // Errors and warnings interleaved in file order.
        let mut all: Vec<(&Diagnostic, bool)> = errors
            .iter()
            .map(|e| (e, true))
            .chain(warnings.iter().map(|w| (w, false)))
            .collect();
        all.sort_by_key(|(d, _)| (d.file != origin, d.line == 0, d.line, d.col));
        for (d, is_error) in all {
            if is_error {
                let _ = writeln!(err, "{d}");
            } else if d.line == 0 {
                let _ = writeln!(err, "{}: warning: {}", d.file, d.message);
            } else {
                let _ = writeln!(
                    err,
                    "{}:{}:{}: warning: {}",
                    d.file, d.line, d.col, d.message
                );
            }
        }
        if errors.is_empty() {
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for c in &config.consoles {
                *kinds.entry(c.spec.kind()).or_default() += 1;
            }
            let detail: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let n = config.consoles.len();
            let _ = writeln!(
                out,
                "{origin}: configuration OK: {n} console{} ({}), {} warning{}",
                if n == 1 { "" } else { "s" },
                detail.join(", "),
                warnings.len(),
                if warnings.len() == 1 { "" } else { "s" },
            );
        }
    }
    u8::from(!errors.is_empty())
}
