//! `meridian functions ls`: the functions of the running node and their execution
//! environments (warm, busy), invocations, errors and cold starts.

use std::process::ExitCode;

use crate::client::Target;
use crate::output::{OutputFormat, print_structured};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the functions.
    Ls,
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Ls => {
            let v = args.target.json("GET", "/api/v1/functions")?;
            if format == OutputFormat::Table {
                let rows: Vec<meridian_functions::FunctionStatus> = serde_json::from_value(v)?;
                print!("{}", meridian_functions::local::status_table(&rows));
            } else {
                print_structured(format, &v)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
