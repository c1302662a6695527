//! `meridian dns query` and `meridian global health`: what the running node's DNS answers a
//! querier and why (Route 53's "test DNS answer"), and its health checks.

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
    let GlobalAction::Health = &args.action;
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
