//! `meridian buckets ls`: the S3 buckets of the running node, with their objects and bytes.
//! The AWS CLI (`aws s3 ... --endpoint-url`, with the key `meridian up` prints) is the full
//! client; this is the quick look.

use std::process::ExitCode;

use meridian_admin::AdminRequest;
use meridian_storage::s3::declared::BucketSummary;

use crate::client::Target;
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
    /// List the buckets: objects and bytes.
    Ls,
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match &args.action {
        Action::Ls => {
            let v = args.target.call(&AdminRequest::Buckets)?;
            if format != OutputFormat::Table {
                print_structured(format, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let buckets: Vec<BucketSummary> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = buckets
                .iter()
                .map(|b| {
                    vec![
                        b.name.clone(),
                        b.objects.to_string(),
                        b.bytes.to_string(),
                        b.region.clone(),
                    ]
                })
                .collect();
            print_table(&["NAME", "OBJECTS", "BYTES", "REGION"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}
