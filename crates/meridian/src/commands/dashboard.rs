//! `meridian dashboard`: prints the URL of the running node's dashboard (and opens it in a
//! browser with `--open`).

use std::process::ExitCode;

use crate::client::Target;
use crate::output::{OutputFormat, print_structured};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Open it with `xdg-open` (or `open` on macOS).
    #[arg(long)]
    open: bool,
    #[command(flatten)]
    target: Target,
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    // Reaching the API proves the URL works before printing it.
    args.target.json("GET", "/api/v1/status")?;
    let url = format!("http://{}/dashboard/", args.target.addr()?);
    if format == OutputFormat::Table {
        println!("{url}");
    } else {
        print_structured(format, &serde_json::json!({ "url": url }))?;
    }
    if args.open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        if let Err(e) = std::process::Command::new(opener).arg(&url).spawn() {
            eprintln!("cannot run {opener}: {e}; open {url} in a browser");
        }
    }
    Ok(ExitCode::SUCCESS)
}
