//! `meridian up`: load, validate and run everything declared in the given paths.

use std::path::PathBuf;
use std::process::ExitCode;

use meridian_config::{LoadOptions, load_paths};

use crate::output::OutputFormat;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files and folders to run (folders are read recursively).
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let bundle = load_paths(&args.paths, LoadOptions::default());
    for d in bundle.diagnostics() {
        eprintln!("{d}");
    }
    if !bundle.is_valid() {
        eprintln!(
            "error: refusing to start: {} error(s); fix them and run `meridian up` again",
            bundle.error_count()
        );
        return Ok(ExitCode::FAILURE);
    }
    if format == OutputFormat::Table {
        for r in bundle.resources() {
            println!("loaded {}", r.id());
        }
    }
    Ok(ExitCode::SUCCESS)
}
