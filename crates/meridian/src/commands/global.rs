//! `meridian dns query` and `meridian global health|frontdoor|failover-test`: what the
//! running node's DNS answers a querier and why (Route 53's "test DNS answer"), its health
//! checks, the front door's backends, and a failover drill.

use std::process::ExitCode;

use meridian_admin::AdminRequest;

use crate::client::Target;
use crate::output::{OutputFormat, print_structured, print_table};

#[derive(Debug, clap::Args)]
pub(crate) struct DnsArgs {
    #[command(subcommand)]
    action: DnsAction,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum DnsAction {
    /// Which records answer NAME for a querier, and why.
    Query {
        /// The name to ask.
        name: String,
        /// The record type.
        #[arg(long = "type", short = 't', default_value = "A")]
        rtype: String,
        /// The querier's address or client subnet (`10.1.0.0/16`); the loopback by default.
        #[arg(long, alias = "subnet", value_name = "IP|CIDR")]
        from: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct GlobalArgs {
    #[command(subcommand)]
    action: GlobalAction,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum GlobalAction {
    /// The Route 53 health checks and what they see.
    Health,
    /// The Front Doors' backends: where each is reached, its health and counters.
    Frontdoor,
    /// Takes a region's gateway out, measures the time until the DNS and the front door
    /// route around it, puts it back, and prints the numbers.
    FailoverTest {
        /// The region (`us-east`, `us-east-1`, or Azure's `eastus`).
        region: String,
    },
}

pub(crate) fn run_dns(args: &DnsArgs, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let DnsAction::Query { name, rtype, from } = &args.action;
    let v = args.target.call(&AdminRequest::DnsQuery {
        name: name.clone(),
        rtype: Some(rtype.clone()),
        from: from.clone(),
    })?;
    if format != OutputFormat::Table {
        print_structured(format, &v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    println!(
        "{} {} from {}: {}",
        v["name"].as_str().unwrap_or(name),
        v["type"].as_str().unwrap_or(rtype),
        v["from"].as_str().unwrap_or("-"),
        v["rcode"].as_str().unwrap_or("-")
    );
    for r in list("answers") {
        println!("  answer     {r}");
    }
    for r in list("authority") {
        println!("  authority  {r}");
    }
    for w in list("why") {
        println!("  why        {w}");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_global(args: &GlobalArgs, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match &args.action {
        GlobalAction::Health => health(args, format),
        GlobalAction::Frontdoor => frontdoor(args, format),
        GlobalAction::FailoverTest { region } => failover_test(args, region, format),
    }
}

fn frontdoor(args: &GlobalArgs, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let v = args.target.call(&AdminRequest::FrontDoor)?;
    if format != OutputFormat::Table {
        print_structured(format, &v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = v["backends"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|b| {
                    let s = |k: &str| b[k].as_str().unwrap_or("-").to_owned();
                    let n = |k: &str| b[k].as_u64().map_or("-".into(), |x| x.to_string());
                    let status = match (b["probed_healthy"].as_bool(), b["suspect"].as_bool()) {
                        (Some(true), Some(false)) => "healthy",
                        (Some(true), Some(true)) => "suspect",
                        _ => "unhealthy",
                    };
                    vec![
                        s("front_door"),
                        s("pool"),
                        s("backend"),
                        s("addr"),
                        format!("{}/{}", n("priority"), n("weight")),
                        status.to_owned(),
                        b["latency_ms"]
                            .as_f64()
                            .map_or("-".into(), |l| format!("{l:.1} ms")),
                        n("served"),
                        n("failed"),
                        format!("{}/{}", n("probe_failures"), n("probes")),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    print_table(
        &[
            "FRONT DOOR",
            "POOL",
            "BACKEND",
            "ADDRESS",
            "PRIO/WEIGHT",
            "STATUS",
            "LATENCY",
            "SERVED",
            "FAILED",
            "PROBES FAILED",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

fn failover_test(
    args: &GlobalArgs,
    region: &str,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let v = args.target.call(&AdminRequest::FailoverTest {
        region: region.to_owned(),
    })?;
    if format != OutputFormat::Table {
        print_structured(format, &v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let ms = |x: &serde_json::Value| x.as_f64().map(|m| format!("{m:.1} ms"));
    let gateways: Vec<String> = v["gateways"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "failover test: region {} (gateway {}) taken out, then put back",
        v["region"].as_str().unwrap_or(region),
        if gateways.is_empty() {
            "-".to_owned()
        } else {
            gateways.join(", ")
        }
    );
    for d in v["front_door"].as_array().into_iter().flatten() {
        let statuses: Vec<String> = d["statuses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some(format!("{} x{}", p[0].as_u64()?, p[1].as_u64()?)))
            .collect();
        println!(
            "  front door  {}: {} ({} requests during the drill, {} failed; statuses {})",
            d["name"].as_str().unwrap_or("-"),
            ms(&d["routed_around_ms"]).map_or_else(
                || "still sending to the region after 30 s".to_owned(),
                |t| format!("stopped sending to the region {t} after it went out"),
            ),
            d["requests"].as_u64().unwrap_or(0),
            d["failed"].as_u64().unwrap_or(0),
            statuses.join(", ")
        );
    }
    for d in v["dns"].as_array().into_iter().flatten() {
        let ttl = d["ttl"].as_u64().map_or_else(String::new, |t| {
            format!("; resolvers may keep the old answer {t} s (TTL)")
        });
        match ms(&d["changed_ms"]) {
            Some(t) => println!(
                "  dns         {}: followed the region {t} after; now {}{ttl}",
                d["name"].as_str().unwrap_or("-"),
                d["after"].as_str().unwrap_or("-")
            ),
            None => println!(
                "  dns         {}: answer unchanged after 10 s ({})",
                d["name"].as_str().unwrap_or("-"),
                d["after"].as_str().unwrap_or("-")
            ),
        }
    }
    match ms(&v["back_ms"]) {
        Some(t) => println!(
            "  back        the front door used the region again {t} after its gateway returned"
        ),
        None if v["front_door"].as_array().is_some_and(|a| !a.is_empty()) => {
            println!("  back        the front door did not use the region again within 30 s")
        }
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn health(args: &GlobalArgs, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let v = args.target.call(&AdminRequest::GlobalHealth)?;
    if format != OutputFormat::Table {
        print_structured(format, &v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let statuses: Vec<meridian_global::health::Status> = serde_json::from_value(v)?;
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.kind.clone(),
                if s.target.is_empty() {
                    "-".into()
                } else {
                    s.target.clone()
                },
                if s.healthy { "healthy" } else { "unhealthy" }.into(),
                s.checks.to_string(),
                s.last_error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(
        &["ID", "TYPE", "TARGET", "STATUS", "CHECKS", "LAST ERROR"],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}
