//! The `meridian` binary: the command line, the admin API and the dashboard. Thin by design:
//! it parses arguments and wires the planes' crates together.

mod admin;
mod azure_blobs;
mod cdn_api;
mod client;
mod commands;
mod dashboard;
mod edge;
mod edge_logs;
mod frontdoor;
mod logging;
mod node;
mod node_s3;
mod observe_api;
mod output;
mod run_file;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::OutputFormat;

/// Meridian: a service mesh, serverless functions, an edge cache and multi-region traffic in
/// one binary. It runs your Istio, Kubernetes, Compose and SAM files as they are.
#[derive(Debug, Parser)]
#[command(name = "meridian", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Output format for commands that print data.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests without running them: every error at once, with file:line:col.
    ///
    /// Reads Kubernetes Services, Deployments, ServiceAccounts, Namespaces, ConfigMaps and
    /// Secrets and Istio VirtualServices, DestinationRules, Gateways, ServiceEntries,
    /// PeerAuthentications and AuthorizationPolicies from YAML or JSON files (folders are read
    /// recursively), Compose files, SAM templates, and Terraform (each folder of .tf files is
    /// one module). Other kinds (Ingress, the Gateway API, Job, Role...) are passed over with a
    /// warning that says what Meridian does instead (errors with --strict). Each object is
    /// checked as the API server and Istio's webhook would, then against the others as
    /// `istioctl analyze` does; Terraform as `terraform validate` would, plus what a running
    /// system would refuse. Exits 0 only when every object is valid.
    Validate(commands::validate::Args),
    /// Run everything declared in the given files and folders, and keep it in sync with them.
    Up(Box<commands::up::Args>),
    /// Print the outputs of the Terraform modules in the given folders (like `terraform
    /// output`; `-o json` like `terraform output -json`).
    Outputs(commands::outputs::Args),
    /// List the replicas of the running node: state, readiness, restarts, ports.
    Ps(commands::ps::Args),
    /// Print a replica's output (stdout and stderr).
    Logs(commands::logs::Args),
    /// Change a workload's number of replicas.
    Scale(commands::scale::Args),
    /// Follow, restart, undo or resume a workload's rollout.
    Rollout(commands::rollout::Args),
    /// The mesh certificate authority: print its roots, inspect a workload's certificate,
    /// rotate the root.
    #[command(subcommand_required = true)]
    Ca(commands::ca::Args),
    /// Run the demo workload: an HTTP/1.1 and HTTP/2 server that says who it is.
    DemoApp(commands::demo_app::Args),
    /// Invoke a function of a SAM template once, like `sam local invoke` (no container).
    Invoke(commands::invoke::Args),
    /// The functions of the running node.
    Functions(commands::functions::Args),
    /// The DynamoDB tables of the running node: `ls`, `scan NAME`.
    Tables(commands::tables::Args),
    /// The S3 buckets of the running node: `ls`.
    Buckets(commands::buckets::Args),
    /// The CloudFront distributions of the running node: `ls` (hit ratio, bytes served and
    /// saved, objects stored), `invalidate DIST PATH...`.
    Cdn(commands::cdn::Args),
    /// The authoritative DNS of the running node: `query NAME [--from IP|CIDR]` (which
    /// records answer and why).
    Dns(commands::global::DnsArgs),
    /// The global plane of the running node: `health` (the Route 53 health checks), `frontdoor`
    /// (the Front Doors' backends), `failover-test REGION` (a region drill).
    Global(commands::global::GlobalArgs),
    /// Print a sample event (`apigateway aws-proxy`, `apigateway http-api`).
    GenerateEvent(commands::generate_event::Args),
    /// Show what the running node serves: the resources in force, or the compiled snapshot.
    Get(commands::get::Args),
    /// Golden signals per workload, service, route (the canary split) or edge, like
    /// `linkerd viz stat`: success rate, requests per second, p50/p95/p99 latency.
    Stat(commands::stat::Args),
    /// The busiest request paths, live (like `linkerd viz top`).
    Top(commands::top::Args),
    /// Stream live requests through the mesh, with filters (like `linkerd viz tap`).
    Tap(commands::tap::Args),
    /// Check the node: state folder, ports, configuration, mesh CA, workloads ready.
    Check(commands::check::Args),
    /// Print the URL of the web dashboard (service graph, canary splits, replicas, errors).
    Dashboard(commands::dashboard::Args),
    /// Print version and build information.
    Version,
}

/// The data planes allocate per request (headers, parsed JSON, items, cache entries);
/// mimalloc serves those small, short-lived blocks at a fraction of glibc's cost (a GetItem
/// took 16 % fewer instructions under callgrind).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args, cli.output),
        Command::Up(args) => commands::up::run(&args, cli.output),
        Command::Outputs(args) => commands::outputs::run(&args, cli.output),
        Command::Ps(args) => commands::ps::run(&args, cli.output),
        Command::Logs(args) => commands::logs::run(&args),
        Command::Scale(args) => commands::scale::run(&args),
        Command::Rollout(args) => commands::rollout::run(&args, cli.output),
        Command::Ca(args) => commands::ca::run(&args, cli.output),
        Command::DemoApp(args) => commands::demo_app::run(args),
        Command::Invoke(args) => commands::invoke::run(&args),
        Command::Functions(args) => commands::functions::run(&args, cli.output),
        Command::Tables(args) => commands::tables::run(&args, cli.output),
        Command::Buckets(args) => commands::buckets::run(&args, cli.output),
        Command::Cdn(args) => commands::cdn::run(&args, cli.output),
        Command::Dns(args) => commands::global::run_dns(&args, cli.output),
        Command::Global(args) => commands::global::run_global(&args, cli.output),
        Command::GenerateEvent(args) => commands::generate_event::run(&args),
        Command::Get(args) => commands::get::run(&args, cli.output),
        Command::Stat(args) => commands::stat::run(&args, cli.output),
        Command::Top(args) => commands::top::run(&args, cli.output),
        Command::Tap(args) => commands::tap::run(&args, cli.output),
        Command::Check(args) => commands::check::run(&args, cli.output),
        Command::Dashboard(args) => commands::dashboard::run(&args, cli.output),
        Command::Version => commands::version::run(cli.output),
    };
    match result {
        Ok(code) => code,
        Err(e) if broken_pipe(&e) => {
            // The reader went away (`| head`): nothing left to say.
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `meridian ... | head` closes stdout early; like other Unix tools, stop quietly then instead
/// of printing a panic. (Rust ignores SIGPIPE, so the write fails and `println!` panics;
/// restoring SIGPIPE's default would need `unsafe`, which this crate forbids.)
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Whether a command failed only because stdout was closed under it.
fn broken_pipe(e: &anyhow::Error) -> bool {
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == pipe
        || e.downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind)
            == pipe
}
