//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4), written
//! by hand from a snapshot of the daemon's counters. The tests parse it with
//! Python's `prometheus_client` parser.

use std::fmt::Write as _;

/// One console's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleFigures {
    /// Its name (a label value).
    pub name: String,
    /// Connected now.
    pub up: bool,
    /// Bytes read from the device.
    pub bytes: u64,
    /// Connections after the first.
    pub reconnects: u64,
    /// Clients attached.
    pub clients: u32,
    /// When it last printed something (seconds since the epoch).
    pub last_output: Option<f64>,
}

/// Everything `/metrics` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Per console, in configuration order.
    pub consoles: Vec<ConsoleFigures>,
    /// Alerts per (console, rule, severity).
    pub alerts: Vec<(String, String, &'static str, u64)>,
    /// Clients connected.
    pub clients: usize,
    /// Messages waiting for the log writers.
    pub log_queue: usize,
    /// Bytes written to console logs.
    pub log_bytes: u64,
    /// Client output dropped because clients did not keep up.
    pub dropped_client_bytes: u64,
    /// Alerts dropped because the alert queue was full.
    pub dropped_alerts: u64,
    /// Alert rules in force.
    pub alert_rules: usize,
    /// `alertwebhook` events: sent, failed (gave up), dropped (queue full).
    pub webhook: [u64; 3],
    /// `alertexec` runs: ok, failed, dropped (queue full).
    pub exec: [u64; 3],
}

/// A label value, escaped: backslash, double quote and newline.
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The exposition text.
pub fn render(f: &Figures) -> String {
    let mut out = String::with_capacity(256 + f.consoles.len() * 320);
    let per_console = |out: &mut String,
                       name: &str,
                       kind: &str,
                       help: &str,
                       v: &dyn Fn(&ConsoleFigures) -> Option<String>| {
        family(out, name, kind, help);
        for c in &f.consoles {
            if let Some(v) = v(c) {
                let _ = writeln!(out, "{name}{{console=\"{}\"}} {v}", escape(&c.name));
            }
        }
    };
    per_console(
        &mut out,
        "conman_console_up",
        "gauge",
        "Whether the console is connected to its device (1) or not (0).",
        &|c| Some(u8::from(c.up).to_string()),
    );
    per_console(
        &mut out,
        "conman_console_bytes_total",
        "counter",
        "Bytes read from the console's device.",
        &|c| Some(c.bytes.to_string()),
    );
    per_console(
        &mut out,
        "conman_console_reconnects_total",
        "counter",
        "Times the console connected again after losing its device.",
        &|c| Some(c.reconnects.to_string()),
    );
    per_console(
        &mut out,
        "conman_console_clients",
        "gauge",
        "Clients attached to the console.",
        &|c| Some(c.clients.to_string()),
    );
    per_console(
        &mut out,
        "conman_console_last_output_timestamp_seconds",
        "gauge",
        "When the console last printed something (consoles that never did are left out).",
        &|c| c.last_output.map(|t| format!("{t:.3}")),
    );
    family(
        &mut out,
        "conman_alerts_total",
        "counter",
        "Alerts raised, by console, rule and severity.",
    );
    for (console, rule, severity, n) in &f.alerts {
        let _ = writeln!(
            out,
            "conman_alerts_total{{console=\"{}\",rule=\"{}\",severity=\"{severity}\"}} {n}",
            escape(console),
            escape(rule)
        );
    }
    let single = |out: &mut String, name: &str, kind: &str, help: &str, v: String| {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    };
    single(
        &mut out,
        "conman_consoles",
        "gauge",
        "Consoles configured.",
        f.consoles.len().to_string(),
    );
    single(
        &mut out,
        "conman_clients",
        "gauge",
        "Client connections.",
        f.clients.to_string(),
    );
    single(
        &mut out,
        "conman_log_queue_depth",
        "gauge",
        "Messages waiting for the log writer threads.",
        f.log_queue.to_string(),
    );
    single(
        &mut out,
        "conman_log_bytes_written_total",
        "counter",
        "Bytes written to console log files.",
        f.log_bytes.to_string(),
    );
    single(
        &mut out,
        "conman_client_dropped_bytes_total",
        "counter",
        "Console output not delivered to clients that could not keep up.",
        f.dropped_client_bytes.to_string(),
    );
    single(
        &mut out,
        "conman_alerts_dropped_total",
        "counter",
        "Alerts lost because the alert queue was full.",
        f.dropped_alerts.to_string(),
    );
    single(
        &mut out,
        "conman_alert_rules",
        "gauge",
        "Alert rules in force.",
        f.alert_rules.to_string(),
    );
    family(
        &mut out,
        "conman_alert_webhook_total",
        "counter",
        "Alert events for the webhook: sent (2xx), failed (every try failed), dropped (queue full).",
    );
    for (outcome, n) in ["sent", "failed", "dropped"].iter().zip(f.webhook) {
        let _ = writeln!(
            out,
            "conman_alert_webhook_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    family(
        &mut out,
        "conman_alert_exec_total",
        "counter",
        "alertexec runs: ok (exit 0), failed, dropped (queue full).",
    );
    for (outcome, n) in ["ok", "failed", "dropped"].iter().zip(f.exec) {
        let _ = writeln!(out, "conman_alert_exec_total{{outcome=\"{outcome}\"}} {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let f = Figures {
            consoles: vec![ConsoleFigures {
                name: "we\"ird\\name\n".into(),
                up: true,
                bytes: 5,
                reconnects: 0,
                clients: 1,
                last_output: Some(1.5),
            }],
            ..Figures::default()
        };
        let text = render(&f);
        assert!(
            text.contains("conman_console_up{console=\"we\\\"ird\\\\name\\n\"} 1\n"),
            "{text}"
        );
        assert!(text.contains(
            "conman_console_last_output_timestamp_seconds{console=\"we\\\"ird\\\\name\\n\"} 1.500\n"
        ));
        assert!(text.contains("conman_consoles 1\n"));
    }
}
