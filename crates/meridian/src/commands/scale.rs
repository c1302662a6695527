//! `meridian scale WORKLOAD --replicas N`.

use std::process::ExitCode;

use meridian_admin::AdminRequest;

use crate::client::Target;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workload: `name`, `deployment/name`, `service/name` or `namespace/name`.
    workload: String,
    /// The new number of replicas.
    #[arg(long)]
    replicas: u32,
    #[command(flatten)]
    target: Target,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    args.target.call(&AdminRequest::Scale {
        workload: args.workload.clone(),
        replicas: args.replicas,
    })?;
    println!("{} scaled to {}", args.workload, args.replicas);
    Ok(ExitCode::SUCCESS)
}
