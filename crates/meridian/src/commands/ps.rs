//! `meridian ps`: every replica of the running node.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::Target;
use crate::output::{OutputFormat, print_structured};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: Target,
}

/// Outlier ejections per replica: `(callers ejecting it, longest time left in ms)`.
/// Ejection is decided by each calling sidecar (as each Envoy does), so a replica may be
/// out for one caller and in for another.
fn ejections(target: &Target) -> std::collections::HashMap<String, (usize, u64)> {
    let mut out = std::collections::HashMap::new();
    let Ok(clusters) = target.json("GET", "/api/v1/clusters") else {
        return out;
    };
    for c in clusters.as_array().map(Vec::as_slice).unwrap_or_default() {
        for e in c["endpoints"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if e["health"]["ejected"] != true {
                continue;
            }
            let replica = e["replica"].as_str().unwrap_or_default();
            let replica = replica.rsplit_once(':').map_or(replica, |(r, _)| r);
            let left = e["health"]["ejectionRemainingMs"].as_u64().unwrap_or(0);
            let entry = out.entry(replica.to_owned()).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(left);
        }
    }
    out
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let replicas = args.target.json("GET", "/api/v1/replicas")?;
    let ejected = ejections(&args.target);
    if format != OutputFormat::Table {
        print_structured(format, &replicas)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = replicas
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
            let workload = r.get("workload").map_or_else(String::new, |w| {
                w.get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("-")
                    .to_string()
            });
            let state = r
                .get("state")
                .and_then(|st| st.get("state"))
                .and_then(|v| v.as_str())
                .unwrap_or("-")
                .to_owned();
            let ports: Vec<String> = r
                .get("ports")
                .and_then(|p| p.as_array())
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    format!(
                        "{}->{}",
                        p.get("declared")
                            .and_then(serde_json::Value::as_u64)
                            .unwrap_or(0),
                        p.get("actual")
                            .and_then(serde_json::Value::as_u64)
                            .unwrap_or(0)
                    )
                })
                .collect();
            vec![
                s("replica"),
                workload,
                s("version"),
                r.get("pid")
                    .and_then(serde_json::Value::as_u64)
                    .map_or("-".into(), |p| p.to_string()),
                state,
                if r.get("ready").and_then(serde_json::Value::as_bool) == Some(true) {
                    "yes".into()
                } else {
                    "no".into()
                },
                r.get("restarts")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0)
                    .to_string(),
                age(r.get("created")),
                match ejected.get(r["replica"].as_str().unwrap_or_default()) {
                    Some((callers, left)) => {
                        format!("{callers} caller(s), {}s", left.div_ceil(1000))
                    }
                    None => "-".into(),
                },
                if ports.is_empty() {
                    "-".into()
                } else {
                    ports.join(",")
                },
                s("last_error"),
            ]
        })
        .collect();
    crate::output::print_table(
        &[
            "REPLICA",
            "WORKLOAD",
            "VERSION",
            "PID",
            "STATE",
            "READY",
            "RESTARTS",
            "AGE",
            "EJECTED",
            "PORTS",
            "LAST ERROR",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

/// `5s`, `3m`, `2h`, `4d` from a serialized `SystemTime`.
fn age(v: Option<&serde_json::Value>) -> String {
    let Some(secs) = v
        .and_then(|t| t.get("secs_since_epoch"))
        .and_then(serde_json::Value::as_u64)
    else {
        return "-".into();
    };
    let then = UNIX_EPOCH + Duration::from_secs(secs);
    let d = SystemTime::now()
        .duration_since(then)
        .unwrap_or_default()
        .as_secs();
    match d {
        0..60 => format!("{d}s"),
        60..3600 => format!("{}m", d / 60),
        3600..86400 => format!("{}h", d / 3600),
        _ => format!("{}d", d / 86400),
    }
}
