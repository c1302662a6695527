//! `meridian demo-app`: the demo workload (see `meridian-demo`).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Flags of the demo app: --port, --service, --version, --latency 50ms, --fail-percent 50,
    /// --fail-status 503, --fail-after N, --ready-after, --unhealthy-after, --exit-after,
    /// --ignore-sigterm.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "FLAGS"
    )]
    flags: Vec<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(meridian_demo::run(args.flags))?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
