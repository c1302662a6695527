//! `meridian cdn`: the CloudFront distributions of the running node with their caches'
//! figures (`ls`), and invalidations (`invalidate DIST PATH...`, as
//! `aws cloudfront create-invalidation` makes them, recorded the same way).

use std::process::ExitCode;

use meridian_admin::AdminRequest;

use crate::client::Target;
use crate::edge::DistributionSummary;
use crate::output::{OutputFormat, print_structured, print_table};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the distributions: domain, origin, hit ratio, bytes served and saved, objects
    /// and bytes stored.
    Ls,
    /// Invalidate paths of a distribution (`/index.html`, `/images/*`, `/*`): the next
    /// request for them goes to the origin.
    Invalidate {
        /// The distribution id (`E...`, as `meridian cdn ls` shows it).
        distribution: String,
        /// The paths.
        #[arg(required = true)]
        paths: Vec<String>,
    },
}

/// Bytes as a person reads them.
fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match &args.action {
        Action::Ls => {
            let v = args.target.call(&AdminRequest::Distributions)?;
            if format != OutputFormat::Table {
                print_structured(format, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let list: Vec<DistributionSummary> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|d| {
                    vec![
                        d.id.clone(),
                        d.domain.clone(),
                        d.origin.clone(),
                        format!("{:.1}%", d.hit_ratio * 100.0),
                        (d.hits + d.refresh_hits).to_string(),
                        d.misses.to_string(),
                        human(d.bytes_served),
                        human(d.bytes_saved),
                        d.disk_objects.max(d.memory_objects).to_string(),
                        human(d.disk_bytes.max(d.memory_bytes)),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "DOMAIN",
                    "ORIGIN",
                    "HIT RATIO",
                    "HITS",
                    "MISSES",
                    "SERVED",
                    "SAVED",
                    "OBJECTS",
                    "STORED",
                ],
                &rows,
            );
        }
        Action::Invalidate {
            distribution,
            paths,
        } => {
            let v = args.target.call(&AdminRequest::Invalidate {
                distribution: distribution.clone(),
                paths: paths.clone(),
            })?;
            if format != OutputFormat::Table {
                print_structured(format, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "invalidation {} of {distribution}: Completed ({})",
                v["id"].as_str().unwrap_or(""),
                paths.join(" ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
