//! `meridian version`.

use std::process::ExitCode;

use serde::Serialize;

use crate::output::{OutputFormat, print_structured};

#[derive(Serialize)]
struct Version {
    version: &'static str,
    rustc: &'static str,
    target: &'static str,
}

pub(crate) fn run(format: OutputFormat) -> anyhow::Result<ExitCode> {
    let v = Version {
        version: env!("CARGO_PKG_VERSION"),
        rustc: env!("MERIDIAN_RUSTC_VERSION"),
        target: env!("MERIDIAN_TARGET"),
    };
    match format {
        OutputFormat::Table => println!("meridian {} ({}, {})", v.version, v.target, v.rustc),
        _ => print_structured(format, &v)?,
    }
    Ok(ExitCode::SUCCESS)
}
