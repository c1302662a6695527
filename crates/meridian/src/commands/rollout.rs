//! `meridian rollout status|restart|undo|resume|history WORKLOAD`.

use std::process::ExitCode;

use meridian_admin::AdminRequest;

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
    /// Follow a rollout until it completes (exit 1 if it stalls or fails).
    Status {
        /// The workload.
        workload: String,
        /// Give up after this long (`10m`, `90s`).
        #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = super::duration::positive)]
        timeout: std::time::Duration,
    },
    /// Replace every replica, one batch at a time, with the same template.
    Restart {
        /// The workload.
        workload: String,
    },
    /// Go back to the previous revision (or `--to-revision N`).
    Undo {
        /// The workload.
        workload: String,
        /// The revision to go back to.
        #[arg(long)]
        to_revision: Option<u64>,
    },
    /// Continue a rollout that Swarm's `failure_action: pause` stopped.
    Resume {
        /// The workload.
        workload: String,
    },
    /// The revisions kept for `undo`.
    History {
        /// The workload.
        workload: String,
    },
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let t = &args.target;
    match &args.action {
        Action::Status { workload, timeout } => {
            t.stream(&AdminRequest::RolloutStatus {
                workload: workload.clone(),
                timeout_secs: Some(timeout.as_secs().max(1)),
            })?;
        }
        Action::Restart { workload } => {
            let v = t.call(&AdminRequest::RolloutRestart {
                workload: workload.clone(),
            })?;
            println!("{workload} restarting (revision {})", v["revision"]);
        }
        Action::Undo {
            workload,
            to_revision,
        } => {
            let v = t.call(&AdminRequest::RolloutUndo {
                workload: workload.clone(),
                revision: *to_revision,
            })?;
            println!("{workload} rolled back (revision {})", v["revision"]);
        }
        Action::Resume { workload } => {
            t.call(&AdminRequest::RolloutResume {
                workload: workload.clone(),
            })?;
            println!("{workload} resumed");
        }
        Action::History { workload } => {
            let v = t.call(&AdminRequest::RolloutHistory {
                workload: workload.clone(),
            })?;
            print_structured(
                if format == OutputFormat::Table {
                    OutputFormat::Yaml
                } else {
                    format
                },
                &v,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
