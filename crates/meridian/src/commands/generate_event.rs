//! `meridian generate-event apigateway aws-proxy|http-api`: sample events, as
//! `sam local generate-event` prints them.

use std::process::ExitCode;

use meridian_functions::{SampleEvent, SampleOptions, generate_event};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service (`apigateway`).
    service: String,
    /// The event (`aws-proxy` for a REST API, `http-api` for an HTTP API).
    event: String,
    /// Request method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// Request path.
    #[arg(long, default_value = "/examplepath")]
    path: String,
    /// Request body (base64 as `sam` takes it, or plain text).
    #[arg(long)]
    body: Option<String>,
    /// Stage (REST APIs).
    #[arg(long, default_value = "prod")]
    stage: String,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(kind) = SampleEvent::from_words(&args.service, &args.event) else {
        anyhow::bail!(
            "no sample event \"{} {}\"; available: apigateway aws-proxy, apigateway http-api",
            args.service,
            args.event
        );
    };
    let mut opts = SampleOptions {
        method: args.method.clone(),
        path: args.path.clone(),
        stage: args.stage.clone(),
        ..SampleOptions::default()
    };
    if let Some(b) = &args.body {
        opts.body = b.clone();
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&generate_event(kind, &opts))?
    );
    Ok(ExitCode::SUCCESS)
}
