//! `meridian top [WORKLOAD]`: the busiest request paths, live, as `linkerd viz top` shows
//! them (built on the tap stream): count, best, worst and last latency, success rate.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::client::Target;
use crate::commands::tap::Filters;
use crate::output::{OutputFormat, print_structured, print_table};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    filters: Filters,
    /// Stop after this long (`30s`, `5m`; default: until interrupted).
    #[arg(long, value_name = "DURATION", value_parser = super::duration::positive)]
    duration: Option<std::time::Duration>,
    /// Rows shown.
    #[arg(long, default_value_t = 20)]
    rows: usize,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct Row {
    source: String,
    destination: String,
    method: String,
    path: String,
    count: u64,
    failures: u64,
    best_ms: f64,
    worst_ms: f64,
    last_ms: f64,
}

type Table = Arc<Mutex<HashMap<(String, String, String, String), Row>>>;

fn add(table: &Table, e: &serde_json::Value) {
    let s = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
    // One proxy's view per request: the client side when there is one.
    if s("reporter") == "destination" && s("source") != "unknown" {
        return;
    }
    let key = (s("source"), s("destination"), s("method"), s("path"));
    let latency = e
        .get("latency_ms")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    let status = e
        .get("status")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let mut t = table.lock().unwrap_or_else(PoisonError::into_inner);
    let row = t.entry(key.clone()).or_insert_with(|| Row {
        source: key.0,
        destination: key.1,
        method: key.2,
        path: key.3,
        best_ms: f64::MAX,
        ..Row::default()
    });
    row.count += 1;
    if status == 0 || status >= 500 {
        row.failures += 1;
    }
    row.best_ms = row.best_ms.min(latency);
    row.worst_ms = row.worst_ms.max(latency);
    row.last_ms = latency;
}

fn rows(table: &Table, n: usize) -> Vec<Row> {
    let t = table.lock().unwrap_or_else(PoisonError::into_inner);
    let mut v: Vec<Row> = t.values().cloned().collect();
    drop(t);
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.path.cmp(&b.path)));
    v.truncate(n);
    v
}

fn render(rows: &[Row]) {
    let ms = |v: f64| format!("{v:.1}ms");
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.source.clone(),
                r.destination.clone(),
                r.method.clone(),
                r.path.clone(),
                r.count.to_string(),
                ms(r.best_ms),
                ms(r.worst_ms),
                ms(r.last_ms),
                format!(
                    "{:.2}%",
                    100.0 * (1.0 - r.failures as f64 / r.count.max(1) as f64)
                ),
            ]
        })
        .collect();
    print_table(
        &[
            "SOURCE",
            "DESTINATION",
            "METHOD",
            "PATH",
            "COUNT",
            "BEST",
            "WORST",
            "LAST",
            "SUCCESS_RATE",
        ],
        &table,
    );
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let path = format!("/api/v1/tap?{}", args.filters.query());
    let (status, mut r) = args.target.send("GET", &path)?;
    if !(200..300).contains(&status) {
        let mut body = String::new();
        std::io::Read::read_to_string(&mut r, &mut body)?;
        bail!("{}", body.trim());
    }
    let table: Table = Arc::default();
    let reader_table = table.clone();
    std::thread::spawn(move || {
        let mut buf = String::new();
        while r.read_line(&mut buf).is_ok_and(|n| n > 0) {
            if let Ok(e) = serde_json::from_str::<serde_json::Value>(&buf) {
                add(&reader_table, &e);
            }
            buf.clear();
        }
    });
    let deadline = args.duration.map(|d| Instant::now() + d);
    let live = std::io::stdout().is_terminal() && format == OutputFormat::Table;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let done = deadline.is_some_and(|d| Instant::now() >= d);
        if live {
            // Clear the screen and redraw, as top does.
            print!("\x1b[2J\x1b[H");
            render(&rows(&table, args.rows));
            std::io::stdout().flush()?;
        }
        if done {
            break;
        }
    }
    let last = rows(&table, args.rows);
    match format {
        OutputFormat::Table if !live => render(&last),
        OutputFormat::Table => {}
        _ => print_structured(format, &last)?,
    }
    Ok(ExitCode::SUCCESS)
}
