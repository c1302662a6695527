//! `meridian logs REPLICA`: a replica's output, from its log files.

use std::process::ExitCode;

use crate::client::Target;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The replica (see `meridian ps`).
    replica: String,
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    follow: bool,
    /// Only lines from the last DURATION (`30s`, `5m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    since: Option<u64>,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    #[command(flatten)]
    target: Target,
}

fn parse_since(s: &str) -> Result<u64, String> {
    super::duration::parse(s).map(|d| d.as_secs())
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    args.target.stream(&meridian_admin::AdminRequest::Logs {
        replica: args.replica.clone(),
        options: meridian_admin::LogOptions {
            follow: args.follow,
            since_secs: args.since,
            tail: args.tail,
        },
    })?;
    Ok(ExitCode::SUCCESS)
}
