//! `meridian get resources|snapshot`: what the running node really serves. `resources` are
//! the objects of the revision in force (after validation); `snapshot` is what they compiled
//! to (routes, clusters with Istio's defaults filled in, policies, notes on what is accepted
//! but not served).

use std::process::ExitCode;

use crate::client::Target;
use crate::output::{OutputFormat, print_structured};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to show.
    #[arg(value_enum)]
    what: What,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum What {
    /// The resources of the revision in force.
    Resources,
    /// The compiled snapshot of the data plane.
    Snapshot,
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let path = match args.what {
        What::Resources => "/api/v1/resources",
        What::Snapshot => "/api/v1/snapshot",
    };
    let v = args.target.json("GET", path)?;
    // A table of a snapshot would hide most of it: YAML reads best for people.
    let format = if format == OutputFormat::Table {
        OutputFormat::Yaml
    } else {
        format
    };
    print_structured(format, &v)?;
    Ok(ExitCode::SUCCESS)
}
