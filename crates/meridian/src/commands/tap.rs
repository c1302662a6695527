//! `meridian tap [WORKLOAD]`: the live stream of requests through the mesh, as
//! `linkerd viz tap` shows it: one line per request and proxy that saw it.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::bail;

use crate::client::Target;
use crate::output::OutputFormat;

/// Filters shared by `tap` and `top`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Filters {
    /// Requests from or to this workload (`myapp`, `deploy/myapp`, `default/myapp`).
    #[arg(value_name = "WORKLOAD")]
    workload: Option<String>,
    /// Requests to this service or workload (`svc/myapp`, `myapp`).
    #[arg(long, value_name = "NAME")]
    to: Option<String>,
    /// Only this HTTP method.
    #[arg(long)]
    method: Option<String>,
    /// Only paths starting with this.
    #[arg(long, value_name = "PREFIX")]
    path: Option<String>,
    /// Only failed requests (5xx or no response).
    #[arg(long)]
    errors: bool,
    /// Only what one side reported: `source` (client sidecars, gateway) or `destination`.
    #[arg(long, value_name = "SIDE")]
    reporter: Option<String>,
}

impl Filters {
    /// The query string of `/api/v1/tap`.
    pub(crate) fn query(&self) -> String {
        let strip = |s: &str| {
            s.split_once('/')
                .filter(|(k, _)| {
                    matches!(
                        *k,
                        "deploy" | "deployment" | "svc" | "service" | "po" | "workload"
                    )
                })
                .map_or_else(|| s.to_owned(), |(_, n)| n.to_owned())
        };
        let mut q = Vec::new();
        let mut push = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                q.push(format!("{k}={}", encode(&strip(v))));
            }
        };
        push("workload", &self.workload);
        push("to", &self.to);
        push("method", &self.method);
        push("reporter", &self.reporter);
        if let Some(p) = &self.path {
            q.push(format!("path={}", encode(p)));
        }
        if self.errors {
            q.push("errors".to_owned());
        }
        q.join("&")
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    filters: Filters,
    /// Stop after this many requests.
    #[arg(long, value_name = "N")]
    max: Option<u64>,
    #[command(flatten)]
    target: Target,
}

/// One event as a line, in Linkerd's `key=value` style.
pub(crate) fn line(e: &serde_json::Value) -> String {
    let s = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("-");
    let proxy = if s("reporter") == "destination" {
        "in"
    } else {
        "out"
    };
    let latency = e
        .get("latency_ms")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    let mut l = format!(
        "rsp proxy={proxy} src={} dst={} svc={}",
        s("source"),
        s("destination"),
        s("service")
    );
    if let Some(r) = e.get("route").and_then(|v| v.as_str()) {
        l.push_str(&format!(" route={r}"));
    }
    l.push_str(&format!(
        " :method={} :authority={} :path={} :status={} latency={:.0}µs flags={}",
        s("method"),
        s("authority"),
        s("path"),
        e.get("status")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0),
        latency * 1000.0,
        s("flags"),
    ));
    if let Some(id) = e.get("request_id").and_then(|v| v.as_str()) {
        l.push_str(&format!(" x-request-id={id}"));
    }
    l
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let mut path = format!("/api/v1/tap?{}", args.filters.query());
    if let Some(m) = args.max {
        path.push_str(&format!("&max={m}"));
    }
    let (status, mut r) = args.target.send("GET", &path)?;
    if !(200..300).contains(&status) {
        let mut body = String::new();
        std::io::Read::read_to_string(&mut r, &mut body)?;
        bail!("{}", body.trim());
    }
    let mut out = std::io::stdout().lock();
    let mut buf = String::new();
    while r.read_line(&mut buf)? > 0 {
        if format == OutputFormat::Table {
            match serde_json::from_str::<serde_json::Value>(&buf) {
                Ok(e) => writeln!(out, "{}", line(&e))?,
                Err(_) => write!(out, "{buf}")?,
            }
        } else {
            write!(out, "{buf}")?;
        }
        out.flush()?;
        buf.clear();
    }
    Ok(ExitCode::SUCCESS)
}
