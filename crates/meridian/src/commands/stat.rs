//! `meridian stat [deploy|svc|route|edge]`: golden signals per workload, service, route or
//! edge over the last minute, as `linkerd viz stat` prints them.

use std::process::ExitCode;

use crate::client::Target;
use crate::output::{OutputFormat, print_structured, print_table};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to show: `deploy` (requests each workload served), `svc` (requests sent to each
    /// service), `route` (each service's subsets: the canary split, configured and observed),
    /// or `edge` (who calls whom).
    #[arg(value_name = "KIND", default_value = "deploy")]
    kind: String,
    /// Only rows whose name contains this.
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// The window (at most 1m; a bare number of seconds still works).
    #[arg(long, short = 't', value_name = "DURATION", default_value = "1m", value_parser = window)]
    window: std::time::Duration,
    #[command(flatten)]
    target: Target,
}

/// A window: a positive duration of whole seconds, at most a minute (what the node keeps).
fn window(text: &str) -> Result<std::time::Duration, String> {
    let d = super::duration::positive(text)?;
    if d > std::time::Duration::from_secs(60) || d.subsec_nanos() != 0 {
        return Err("the window is whole seconds, at most 1m".to_owned());
    }
    Ok(d)
}

/// `98.50%`, or `-` without requests.
pub(crate) fn percent(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |f| format!("{:.2}%", f * 100.0))
}

/// `12.3ms`, or `-`.
pub(crate) fn millis(v: &serde_json::Value) -> String {
    v.as_f64().map_or_else(
        || "-".to_owned(),
        |f| {
            if f < 10.0 {
                format!("{f:.2}ms")
            } else {
                format!("{f:.0}ms")
            }
        },
    )
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let kind = args.kind.trim_end_matches('/');
    // `stat deploy/myapp` as in Linkerd.
    let (kind, name) = match kind.split_once('/') {
        Some((k, n)) => (k, Some(n.to_owned())),
        None => (kind, args.name.clone()),
    };
    let mut v = args.target.json(
        "GET",
        &format!("/api/v1/stat?kind={kind}&window={}", args.window.as_secs()),
    )?;
    if let (Some(n), Some(rows)) = (&name, v.get_mut("rows").and_then(|r| r.as_array_mut())) {
        rows.retain(|r| {
            r.get("name")
                .and_then(|x| x.as_str())
                .is_some_and(|x| x.contains(n.as_str()))
        });
    }
    if format != OutputFormat::Table {
        print_structured(format, &v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows = v
        .get("rows")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    let s = |r: &serde_json::Value, k: &str| {
        r.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_owned()
    };
    let rps = |r: &serde_json::Value| {
        format!(
            "{:.1}rps",
            r.get("rps")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0)
        )
    };
    let golden = |r: &serde_json::Value| {
        vec![
            percent(&r["success_rate"]),
            rps(r),
            millis(&r["p50_ms"]),
            millis(&r["p95_ms"]),
            millis(&r["p99_ms"]),
        ]
    };
    // Each kind's leading columns; the golden signals follow in every kind.
    let lead = |r: &serde_json::Value| -> Vec<String> {
        match kind {
            "route" | "routes" | "rt" => {
                let weights: Vec<String> = r["weights"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|w| w.as_str().map(str::to_owned))
                    .collect();
                vec![
                    s(r, "service"),
                    s(r, "subset"),
                    if weights.is_empty() {
                        "-".to_owned()
                    } else {
                        weights.join(" ")
                    },
                    percent(&r["share"]),
                ]
            }
            "edge" | "edges" => vec![s(r, "source"), s(r, "service")],
            "svc" | "service" | "services" => vec![s(r, "namespace"), s(r, "name")],
            _ => vec![s(r, "namespace"), s(r, "name"), s(r, "meshed")],
        }
    };
    let mut header: Vec<&str> = match kind {
        "route" | "routes" | "rt" => vec!["SERVICE", "SUBSET", "WEIGHT", "SHARE"],
        "edge" | "edges" => vec!["SRC", "DST"],
        "svc" | "service" | "services" => vec!["NAMESPACE", "NAME"],
        _ => vec!["NAMESPACE", "NAME", "MESHED"],
    };
    header.extend([
        "SUCCESS",
        "RPS",
        "LATENCY_P50",
        "LATENCY_P95",
        "LATENCY_P99",
    ]);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = lead(r);
            row.extend(golden(r));
            row
        })
        .collect();
    if table.is_empty() {
        println!("no {kind} seen yet");
    } else {
        print_table(&header, &table);
    }
    Ok(ExitCode::SUCCESS)
}
