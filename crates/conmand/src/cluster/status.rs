//! `conmand --cluster-status -c FILE [--json]`: the live nodes (name, address,
//! consoles owned, lease time left, up since) and the owner of every console, as
//! etcd has them now.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::json;

use super::{ClusterOpts, etcd::Etcd};
use crate::cli::Cli;

/// Runs it; returns the exit status (0, or 1 with a message on `err`).
pub fn run_status(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let origin = cli.config.display().to_string();
    let parsed = match crate::check::load_config(&cli.config, &crate::fsprobe::RealProbe::new()) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "conmand: Unable to open \"{origin}\": {e}");
            return 1;
        }
    };
    let config = parsed.config;
    let Some(opts) = ClusterOpts::of(
        &config,
        cli.node.as_deref(),
        cli.advertise.as_deref(),
        cli.cluster.as_deref(),
    ) else {
        let _ = writeln!(
            err,
            "conmand: \"{origin}\" is not a cluster configuration (no server cluster=, no --cluster)"
        );
        return 1;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "conmand: {e}");
            return 1;
        }
    };
    let names: Vec<String> = config.consoles.iter().map(|c| c.name.clone()).collect();
    match rt.block_on(read(&opts, &names)) {
        Ok(doc) => {
            if cli.json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&doc).unwrap_or_default()
                );
            } else {
                let _ = write!(out, "{}", text(&doc));
            }
            0
        }
        Err(e) => {
            let _ = writeln!(err, "conmand: etcd {}: {e}", opts.endpoints.join(","));
            1
        }
    }
}

async fn read(opts: &ClusterOpts, names: &[String]) -> Result<serde_json::Value, String> {
    let etcd = Etcd::new(&opts.endpoints).map_err(|e| e.to_string())?;
    let nodes = etcd
        .range_prefix(&format!("{}/nodes/", opts.prefix))
        .await
        .map_err(|e| e.to_string())?;
    let owners: BTreeMap<String, String> = etcd
        .range_prefix(&format!("{}/owners/", opts.prefix))
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|kv| Some((kv.key.rsplit_once("/owners/")?.1.to_string(), kv.value)))
        .collect();
    let mut list = Vec::new();
    for kv in &nodes {
        let name = kv.key.rsplit('/').next().unwrap_or_default().to_string();
        let info: serde_json::Value = serde_json::from_str(&kv.value).unwrap_or_default();
        let ttl_left = etcd.time_to_live(kv.lease).await.unwrap_or(0);
        list.push(json!({
            "name": name,
            "advertise": info["advertise"],
            "since": info["since"],
            "consoles": owners.values().filter(|n| **n == name).count(),
            "lease_ttl_left": ttl_left,
        }));
    }
    let unowned: Vec<&String> = names.iter().filter(|n| !owners.contains_key(*n)).collect();
    Ok(json!({
        "prefix": opts.prefix,
        "nodes": list,
        "owners": owners,
        "unowned": unowned,
    }))
}

fn text(doc: &serde_json::Value) -> String {
    let mut s = String::new();
    s.push_str("NODE                 ADDRESS                    CONSOLES  LEASE LEFT  UP SINCE\n");
    for n in doc["nodes"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "{:<20} {:<26} {:>8}  {:>9}s  {}\n",
            n["name"].as_str().unwrap_or_default(),
            n["advertise"].as_str().unwrap_or("-"),
            n["consoles"].as_u64().unwrap_or(0),
            n["lease_ttl_left"].as_i64().unwrap_or(0),
            n["since"].as_str().unwrap_or("-"),
        ));
    }
    s.push_str("\nCONSOLE              OWNER\n");
    for (c, n) in doc["owners"].as_object().into_iter().flatten() {
        s.push_str(&format!("{c:<20} {}\n", n.as_str().unwrap_or_default()));
    }
    let unowned = doc["unowned"].as_array().map_or(0, Vec::len);
    if unowned > 0 {
        s.push_str(&format!("\n{unowned} console(s) owned by no node:"));
        for c in doc["unowned"].as_array().into_iter().flatten() {
            s.push(' ');
            s.push_str(c.as_str().unwrap_or_default());
        }
        s.push('\n');
    }
    s
}
