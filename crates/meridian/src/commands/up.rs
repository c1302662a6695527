//! `meridian up`: load, validate and run everything declared in the given paths, and keep it
//! in step with them until stopped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use meridian_control::store::{Change, FileStore, Revision};
use meridian_proxy::GatewayPorts;
use meridian_telemetry::federate::Federation;

use crate::node::{Node, NodeOptions};
use crate::output::OutputFormat;
use crate::run_file::RunFile;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files and folders to run (folders are read recursively).
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
    /// Where Meridian keeps its state (logs, certificates, the run file).
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".meridian",
        env = "MERIDIAN_STATE_DIR"
    )]
    state_dir: PathBuf,
    #[command(flatten)]
    mesh_ca: crate::commands::ca::MeshCaArgs,
    /// Address of the admin API and metrics (`127.0.0.1:0` picks a free port).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:15000",
        env = "MERIDIAN_ADMIN_ADDR"
    )]
    admin_addr: SocketAddr,
    /// Address of the DynamoDB-compatible API (DynamoDB Local's port by default;
    /// `127.0.0.1:0` picks a free port). Functions reach it through `AWS_ENDPOINT_URL_DYNAMODB`.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8000",
        env = "MERIDIAN_DYNAMODB_ADDR"
    )]
    dynamodb_addr: SocketAddr,
    /// Address of the S3-compatible API (MinIO's port by default; `127.0.0.1:0` picks a free
    /// port). Functions reach it through `AWS_ENDPOINT_URL_S3`.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9000",
        env = "MERIDIAN_S3_ADDR"
    )]
    s3_addr: SocketAddr,
    /// Address of the authoritative DNS serving the Route 53 zones (UDP and TCP; bound once a
    /// zone is declared). Not 53, which needs root, nor 5353, which is mDNS's.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8053",
        env = "MERIDIAN_DNS_ADDR"
    )]
    dns_addr: SocketAddr,
    /// Latency from regions to a network, for latency records: `CIDR=REGION:MS,REGION:MS`
    /// (repeat). A querier no entry covers is nearest to this node's `--region`.
    #[arg(long = "dns-latency", value_name = "CIDR=REGION:MS,...", value_parser = parse_latency)]
    dns_latency: Vec<(meridian_global::policy::IpNet, Vec<(String, u32)>)>,
    /// Where a network is, for geolocation records: `CIDR=CONTINENT/COUNTRY[/SUBDIVISION]`
    /// (repeat; `EU/FR`, `NA/US/WA`). An address no entry covers gets the default record.
    #[arg(long = "dns-geo", value_name = "CIDR=CONTINENT/COUNTRY[/SUB]", value_parser = parse_geo)]
    dns_geo: Vec<(meridian_global::policy::IpNet, meridian_global::Location)>,
    /// Runs every Route 53 health check and every Front Door health probe at this interval
    /// instead of their own (Route 53 allows 10 or 30 s, the course's Front Door probes every
    /// 120 s; a failover drill on one machine may want 1s).
    #[arg(long, value_name = "DURATION", value_parser = super::duration::positive)]
    health_check_interval: Option<std::time::Duration>,
    /// Address of the CloudFront distributions' edge (HTTP; `127.0.0.1:0` picks a free
    /// port). A distribution is chosen by its domain name (`Host`), else the first.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8480",
        env = "MERIDIAN_CDN_ADDR"
    )]
    cdn_addr: SocketAddr,
    /// Address of the edge's HTTPS listener (a certificate from Meridian's CA).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8481",
        env = "MERIDIAN_CDN_HTTPS_ADDR"
    )]
    cdn_https_addr: SocketAddr,
    /// How often distributions with a `logging_config` write their standard logs to its
    /// bucket (CloudFront delivers several times an hour).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = super::duration::positive)]
    cdn_log_interval: std::time::Duration,
    /// Address of the CloudFront API for invalidations (`aws cloudfront
    /// create-invalidation --endpoint-url http://ADDR`).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8482",
        env = "MERIDIAN_CLOUDFRONT_ADDR"
    )]
    cloudfront_addr: SocketAddr,
    /// Address of the Front Doors' front door (HTTP; `127.0.0.1:0` picks a free port). A
    /// Front Door is chosen by its frontend host (`Host`).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8490",
        env = "MERIDIAN_FRONTDOOR_ADDR"
    )]
    frontdoor_addr: SocketAddr,
    /// Address of the front door's HTTPS listener (a certificate from Meridian's CA).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8491",
        env = "MERIDIAN_FRONTDOOR_HTTPS_ADDR"
    )]
    frontdoor_https_addr: SocketAddr,
    /// An access key the storage APIs accept, `ACCESS_KEY_ID:SECRET` (repeat for several), in
    /// addition to those in `<state>/storage/keys.json` (created with one random key).
    #[arg(long = "access-key", value_name = "ID:SECRET", value_parser = parse_access_key)]
    access_keys: Vec<(String, String)>,
    /// This node's region (a node label, used by placement and as the metrics' `region`).
    #[arg(long)]
    region: Option<String>,
    /// A node label, `key=value` (repeat for several), for placement constraints.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Added to Gateway and Compose published ports below 1024 (80 → 8080, 443 → 8443 with
    /// 8000), which need privileges. Defaults to 0 when running as root and to 8000
    /// otherwise.
    #[arg(long, value_name = "N")]
    gateway_port_offset: Option<u16>,
    /// What sidecars do with requests for hosts the mesh does not know: REGISTRY_ONLY answers
    /// 404 (NR) so a typo never leaves the machine; ALLOW_ANY (Istio's default) passes them
    /// through.
    #[arg(long, value_enum, default_value_t = OutboundPolicy::RegistryOnly)]
    outbound_traffic_policy: OutboundPolicy,
    /// Bind a Gateway port (or a Compose published port) elsewhere: `DECLARED=PORT` (repeat;
    /// `PORT` 0 picks a free one). With this flag, unlisted ports bind as declared.
    #[arg(long = "gateway-port", value_name = "DECLARED=PORT", value_parser = parse_port_map)]
    gateway_port: Vec<(u16, u16)>,
    #[command(flatten)]
    edge: EdgeArgs,
    #[command(flatten)]
    observe: meridian_observe::Flags,
    #[command(flatten)]
    vars: crate::commands::terraform::VarArgs,
    /// Refuse objects of kinds Meridian does not run or serve (Ingress, Job, HTTPRoute...),
    /// instead of warning and passing over them.
    #[arg(long)]
    strict: bool,
}

/// How the gateway meets its clients: who they are behind proxies, and what one client may
/// hold. Defaults follow Envoy's and nginx's edge recommendations.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EdgeArgs {
    /// Proxies in front of the gateway whose `X-Forwarded-For` entries are trusted (Istio's
    /// `gatewayTopology.numTrustedProxies`); 0 takes the connection's peer as the client.
    #[arg(long, value_name = "N", default_value_t = 0)]
    num_trusted_proxies: u32,
    /// Gateway connections open with a PROXY protocol header (v1 or v2) naming the client
    /// (Istio's `gatewayTopology.proxyProtocol`); connections without one are refused.
    #[arg(long)]
    proxy_protocol: bool,
    /// Time a client has to send a whole request head.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::duration::positive)]
    request_head_timeout: std::time::Duration,
    /// Time a gateway connection may stay idle between requests.
    #[arg(long, value_name = "DURATION", default_value = "75s", value_parser = super::duration::positive)]
    idle_timeout: std::time::Duration,
    /// Time to finish a TLS handshake (and a PROXY protocol header).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::duration::positive)]
    tls_handshake_timeout: std::time::Duration,
    /// Connections open at once per gateway listener; more are closed at accept.
    #[arg(long, value_name = "N", default_value_t = 16_384)]
    max_connections: usize,
    /// HTTP/2 streams open at once per gateway connection.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_concurrent_streams: u32,
}

impl EdgeArgs {
    fn topology(&self) -> meridian_proxy::GatewayTopology {
        meridian_proxy::GatewayTopology {
            num_trusted_proxies: self.num_trusted_proxies,
            proxy_protocol: self.proxy_protocol,
        }
    }

    fn limits(&self) -> meridian_proxy::ConnectionLimits {
        meridian_proxy::ConnectionLimits {
            request_head_timeout: self.request_head_timeout,
            idle_timeout: self.idle_timeout,
            tls_handshake_timeout: self.tls_handshake_timeout,
            max_connections: self.max_connections.max(1),
            max_concurrent_streams: self.max_concurrent_streams.max(1),
        }
    }
}

/// `--outbound-traffic-policy`, spelled as Istio's mesh config spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "SCREAMING_SNAKE_CASE")]
enum OutboundPolicy {
    RegistryOnly,
    AllowAny,
}

fn parse_port_map(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\" is not DECLARED=PORT"))?;
    let p = |x: &str| {
        x.parse::<u16>()
            .map_err(|_| format!("\"{x}\" is not a port number"))
    };
    Ok((p(a)?, p(b)?))
}

/// Declared Gateway ports map to bound ones: explicit `--gateway-port`s first, then the
/// offset (documented default: +8000 unless root).
fn gateway_ports(args: &Args) -> GatewayPorts {
    let offset = args.gateway_port_offset.unwrap_or(if nix_is_root() {
        0
    } else {
        DEFAULT_GATEWAY_OFFSET
    });
    let mut map = BTreeMap::new();
    for (declared, bound) in &args.gateway_port {
        map.insert(*declared, *bound);
    }
    match (map.is_empty(), offset) {
        (false, _) => GatewayPorts::Explicit(map),
        (true, 0) => GatewayPorts::Declared,
        (true, o) => GatewayPorts::PrivilegedOffset(o),
    }
}

/// Where Gateway ports go when not root: 80 → 8080, 443 → 8443.
const DEFAULT_GATEWAY_OFFSET: u16 = 8000;

fn nix_is_root() -> bool {
    // The effective uid is what the kernel checks for binding low ports.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn parse_access_key(s: &str) -> Result<(String, String), String> {
    let (id, secret) = s
        .split_once(':')
        .ok_or_else(|| "expected ACCESS_KEY_ID:SECRET".to_owned())?;
    if id.len() < 16 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "\"{id}\" is not an access key id (16 to 128 letters and digits, like AKIAIOSFODNN7EXAMPLE)"
        ));
    }
    if secret.is_empty() {
        return Err("the secret is empty".to_owned());
    }
    Ok((id.to_owned(), secret.to_owned()))
}

fn parse_latency(s: &str) -> Result<(meridian_global::policy::IpNet, Vec<(String, u32)>), String> {
    let (net, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\" is not CIDR=REGION:MS,..."))?;
    let net = net
        .parse()
        .map_err(|_| format!("\"{net}\" is not a CIDR block (10.0.0.0/8)"))?;
    let mut regions = Vec::new();
    for part in rest.split(',') {
        let (region, ms) = part
            .split_once(':')
            .ok_or_else(|| format!("\"{part}\" is not REGION:MS"))?;
        let ms = ms
            .trim_end_matches("ms")
            .parse()
            .map_err(|_| format!("\"{ms}\" is not a number of milliseconds"))?;
        regions.push((region.to_owned(), ms));
    }
    Ok((net, regions))
}

fn parse_geo(
    s: &str,
) -> Result<(meridian_global::policy::IpNet, meridian_global::Location), String> {
    let (net, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\" is not CIDR=CONTINENT/COUNTRY[/SUBDIVISION]"))?;
    let net = net
        .parse()
        .map_err(|_| format!("\"{net}\" is not a CIDR block (10.0.0.0/8)"))?;
    let mut parts = rest.split('/');
    let (Some(continent), Some(country)) = (parts.next(), parts.next()) else {
        return Err(format!("\"{rest}\" is not CONTINENT/COUNTRY[/SUBDIVISION]"));
    };
    Ok((
        net,
        meridian_global::Location {
            continent: continent.to_ascii_uppercase(),
            country: country.to_ascii_uppercase(),
            subdivision: parts.next().map(str::to_ascii_uppercase),
        },
    ))
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\" is not key=value"))?;
    if k.is_empty() {
        return Err(format!("\"{s}\" has an empty key"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    match meridian_workloads::pre_exec::raise_open_files() {
        Ok(n) => tracing::debug!(limit = n, "open files"),
        Err(e) => tracing::warn!(error = %e, "the limit on open files stays as it is"),
    }
    let mut load = args.vars.load_options();
    load.strict = args.strict;
    let store = FileStore::with_options(args.paths.clone(), load);
    let bundle = store.load();
    for s in &bundle.skipped {
        eprintln!("skipped {}: {}", s.file.display(), s.reason);
    }
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
    let mut labels: BTreeMap<String, String> = args.labels.iter().cloned().collect();
    if let Some(r) = &args.region {
        labels.insert("region".into(), r.clone());
    }
    // Absolute, so every plane (and every process they start in another folder) agrees.
    std::fs::create_dir_all(&args.state_dir).with_context(|| {
        format!(
            "cannot create the state folder {}",
            args.state_dir.display()
        )
    })?;
    let state_dir = std::path::absolute(&args.state_dir).unwrap_or_else(|_| args.state_dir.clone());
    let options = NodeOptions {
        state_dir: state_dir.clone(),
        labels: labels.clone(),
        gateway_ports: gateway_ports(args),
        mesh_ca: args.mesh_ca.clone(),
        outbound_traffic: match args.outbound_traffic_policy {
            OutboundPolicy::RegistryOnly => meridian_proxy::OutboundTrafficPolicy::RegistryOnly,
            OutboundPolicy::AllowAny => meridian_proxy::OutboundTrafficPolicy::AllowAny,
        },
        observe: args.observe.clone(),
        gateway_topology: args.edge.topology(),
        edge_limits: args.edge.limits(),
        dynamodb_addr: args.dynamodb_addr,
        s3_addr: args.s3_addr,
        access_keys: args.access_keys.clone(),
        dns_addr: args.dns_addr,
        dns_network: meridian_global::Network {
            local_region: args.region.clone(),
            latency: args.dns_latency.clone(),
            geo: args.dns_geo.clone(),
            cidr: Vec::new(),
        },
        health_check_interval: args.health_check_interval,
        cdn_addr: args.cdn_addr,
        cdn_https_addr: args.cdn_https_addr,
        cdn_log_interval: args.cdn_log_interval,
        cloudfront_addr: args.cloudfront_addr,
        frontdoor_addr: args.frontdoor_addr,
        frontdoor_https_addr: args.frontdoor_https_addr,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("meridian")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = crate::admin::bind(args.admin_addr).await?;
        let admin_addr = listener.local_addr()?;
        let revision = Arc::new(Revision { number: 1, bundle });
        let node = Node::start(options, revision.clone()).await?;
        let external: Vec<(&str, &str)> = labels
            .get("region")
            .map(|r| vec![("region", r.as_str())])
            .unwrap_or_default();
        let federation = Federation::new(&external).context("invalid federation labels")?;
        let token = meridian_admin::AdminToken::load_or_create(&state_dir)
            .context("cannot keep the admin token")?;
        crate::admin::serve(listener, node.clone(), federation, token);
        let run_file = RunFile::write(&state_dir, admin_addr)?;
        print_banner(&node, admin_addr, &store, format);
        print_notes(&node.proxy.snapshot().notes, &[]);
        print_runtime_substitutes(&revision.bundle);

        let mut changes = store
            .watch(&node.revision())
            .context("cannot watch the files for changes")?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Some(Change::Accepted(rev)) => {
                        let n = rev.number;
                        let before = node.revision();
                        let notes_before = node.proxy.snapshot().notes.clone();
                        print_new_warnings(&before.bundle, &rev.bundle);
                        match node.apply(rev).await {
                            Ok(summary) => {
                                println!("applied revision {n}: {summary}");
                                print_notes(&node.proxy.snapshot().notes, &notes_before);
                            }
                            Err(e) => eprintln!(
                                "error: revision {n} refused, nothing changed; still serving revision {}: {e:#}",
                                node.revision().number
                            ),
                        }
                    }
                    Some(Change::Refused(diags)) => {
                        for d in &diags {
                            eprintln!("{d}");
                        }
                        eprintln!(
                            "error: change refused ({} error(s)); still serving revision {}",
                            diags.len(),
                            node.revision().number
                        );
                    }
                    None => break,
                },
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
        }
        eprintln!("stopping: draining replicas");
        node.shutdown().await;
        run_file.remove();
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What a bundle holds, in words: `9 resources, 2 functions, 12 Terraform resources`; the
/// kinds it has none of are left out.
fn bundle_summary(bundle: &meridian_config::Bundle) -> String {
    let functions: usize = bundle
        .sam_templates()
        .map(|t| t.functions.len())
        .sum::<usize>()
        + bundle
            .function_apps()
            .map(|a| a.functions.len())
            .sum::<usize>();
    let services: usize = bundle.compose_files().map(|c| c.services.len()).sum();
    let terraform: usize = bundle.terraform_modules().map(|m| m.instances.len()).sum();
    let parts: Vec<String> = [
        (bundle.resources().count(), "resource"),
        (services, "Compose service"),
        (functions, "function"),
        (terraform, "Terraform resource"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| plural(n, what))
    .collect();
    if parts.is_empty() {
        "nothing to run".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A warning at each function's `Runtime` whose version is not the interpreter that runs it.
fn print_runtime_substitutes(bundle: &meridian_config::Bundle) {
    for t in bundle.sam_templates() {
        for f in &t.functions {
            if let Some(what) = meridian_functions::bootstrap::runtime_substitute(f.runtime) {
                eprintln!(
                    "{}:{}:{}: warning: {}: Properties.Runtime: {what}",
                    f.origin.file.display(),
                    f.runtime_at.line,
                    f.runtime_at.col,
                    f.logical_id
                );
            }
        }
    }
}

/// What the data plane accepted but does not serve, each once: notes already printed for the
/// previous revision are not repeated.
fn print_notes(notes: &[String], already: &[String]) {
    for n in notes.iter().filter(|n| !already.contains(n)) {
        eprintln!("note: {n}");
    }
}

/// The warnings of a new revision that the previous one did not have.
fn print_new_warnings(before: &meridian_config::Bundle, after: &meridian_config::Bundle) {
    let old: std::collections::HashSet<String> = before
        .diagnostics()
        .filter(|d| !d.is_error())
        .map(ToString::to_string)
        .collect();
    for d in after.diagnostics().filter(|d| !d.is_error()) {
        let text = d.to_string();
        if !old.contains(&text) {
            eprintln!("{text}");
        }
    }
}

fn print_banner(node: &Node, admin: SocketAddr, store: &FileStore, format: OutputFormat) {
    if format != OutputFormat::Table {
        return;
    }
    let rev = node.revision();
    let paths: Vec<String> = store
        .paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    println!(
        "meridian up: {} from {} (revision {})",
        bundle_summary(&rev.bundle),
        paths.join(", "),
        rev.number
    );
    for (declared, addr) in node.gateway_addresses() {
        if node.functions.is_some()
            && (declared == crate::node::FUNCTIONS_PORT
                || declared == crate::node::AZURE_FUNCTIONS_PORT)
        {
            continue;
        }
        let hosts = gateway_hosts(&rev, declared);
        let scheme = if node
            .proxy
            .snapshot()
            .gateway(declared)
            .is_some_and(|g| g.tls)
        {
            "https"
        } else {
            "http"
        };
        println!("  gateway   {scheme}://{addr}  (Gateway port {declared}; hosts {hosts})");
    }
    if let Some(f) = &node.functions {
        let api = node
            .gateway_addresses()
            .get(&crate::node::FUNCTIONS_PORT)
            .copied();
        for fun in f.host.functions() {
            for route in &fun.routes {
                let path = route.split_whitespace().nth(1).unwrap_or("/");
                let base = api.map_or_else(|| "-".to_owned(), |a| format!("http://{a}"));
                println!("  function  {base}{path}  ({route} -> {})", fun.name);
            }
        }
        let urls = meridian_functions::apigw::url::FunctionUrls::new(f.host.clone(), None);
        for u in urls.urls() {
            let base = api.map_or_else(
                || "-".to_owned(),
                |a| {
                    format!(
                        "http://{}.lambda-url.{}.localhost:{}/",
                        u.id,
                        crate::node::AWS_REGION,
                        a.port()
                    )
                },
            );
            println!(
                "  function  {base}  (function URL -> {}, AuthType {})",
                u.function,
                if u.iam { "AWS_IAM" } else { "NONE" }
            );
        }
        let azure = node
            .gateway_addresses()
            .get(&crate::node::AZURE_FUNCTIONS_PORT)
            .copied();
        for r in f.azure.routes() {
            let base = azure.map_or_else(|| "-".to_owned(), |a| format!("http://{a}"));
            let methods = if r.methods.is_empty() {
                "ANY".to_owned()
            } else {
                r.methods.join(",")
            };
            println!(
                "  function  {base}{}  ({methods} -> {}/{}, authLevel {})",
                r.path, r.app, r.function, r.auth_level
            );
        }
    }
    for (published, (addr, target)) in node.ingress.addresses() {
        println!(
            "  published {addr}  (port {published} -> service {}:{})",
            target.workload.name, target.port
        );
    }
    let (key_id, key_file) = node.storage.access_key();
    println!(
        "  dynamodb  {}  (access key {}; secrets in {})",
        node.storage.dynamodb_url(),
        key_id.as_deref().unwrap_or("-"),
        key_file.map_or_else(|| "-".to_owned(), |p| p.display().to_string())
    );
    for t in rev.bundle.sam_templates().flat_map(|t| t.tables.iter()) {
        println!(
            "  table     {}  ({} in {})",
            t.name,
            t.logical_id,
            t.origin.file.display()
        );
    }
    println!(
        "  s3        {}  (access key {})",
        node.storage.s3_url(),
        key_id.as_deref().unwrap_or("-"),
    );
    for b in rev.bundle.sam_templates().flat_map(|t| t.buckets.iter()) {
        println!(
            "  bucket    {}  ({} in {})",
            b.name,
            b.logical_id,
            b.origin.file.display()
        );
        for n in &b.notifications {
            let mut keys = String::new();
            if let Some(p) = &n.filter.prefix {
                keys.push_str(&format!(" prefix {p}"));
            }
            if let Some(s) = &n.filter.suffix {
                keys.push_str(&format!(" suffix {s}"));
            }
            println!(
                "    events  {}{keys} -> function {}",
                n.events.join(", "),
                n.function
            );
        }
    }
    if let Some(f) = &node.functions {
        for w in f.azure.blob_watches() {
            println!(
                "  bucket    {}  (blobTrigger container of app {}: {}; objects created{} -> functions)",
                w.container,
                w.pool,
                w.functions.join(", "),
                if w.prefix.is_empty() {
                    String::new()
                } else {
                    format!(" under {}", w.prefix)
                }
            );
        }
    }
    if let Some(edge) = &node.edge {
        for d in edge.served() {
            let https = edge
                .https
                .map_or_else(String::new, |a| format!("; https://{a}"));
            println!(
                "  cdn       http://{}  ({} {} -> {}{}{https})",
                edge.http,
                d.id,
                d.domain,
                if d.bucket { "bucket " } else { "" },
                d.origin
            );
        }
        for n in edge.notes() {
            eprintln!("note: {n}");
        }
        if let Some(api) = edge.api {
            println!(
                "  cloudfront http://{api}  (invalidations: aws cloudfront create-invalidation --endpoint-url http://{api})"
            );
        }
    }
    if let Some(fd) = &node.frontdoor {
        for d in fd.served() {
            let https = fd
                .https
                .map_or_else(String::new, |a| format!(", https://{a}"));
            let backends: Vec<String> = d
                .backends
                .iter()
                .map(|(name, region, addr)| match region {
                    Some(r) => format!("{name} -> {r} gateway {addr}"),
                    None => format!("{name} -> {addr}"),
                })
                .collect();
            println!(
                "  frontdoor http://{}{https}  ({} {}: {})",
                fd.http,
                d.name,
                d.hosts.join(", "),
                if backends.is_empty() {
                    "no backend reachable on this machine".to_owned()
                } else {
                    backends.join(", ")
                }
            );
        }
        for n in fd.notes() {
            eprintln!("note: {n}");
        }
    }
    println!("  admin     http://{admin}  (/metrics, /api/v1/status)");
    if let Some(dns) = node.dns_addr() {
        let s = node.dns_summary();
        println!(
            "  dns       {dns}  (udp+tcp; zones {}; {}, {}; `dig @{} -p {} NAME`)",
            s.zones.join(", "),
            plural(s.records, "record"),
            plural(s.checks, "health check"),
            dns.ip(),
            dns.port()
        );
        for n in &s.notes {
            eprintln!("note: dns: {n}");
        }
    }
    print_terraform(&rev.bundle);
    for w in node.supervisor.workloads() {
        println!(
            "  workload  {}/{}  {} replica(s)",
            w.workload.namespace, w.workload.name, w.desired
        );
    }
    println!("watching for changes; Ctrl-C stops (`meridian ps` in another terminal)");
}

/// Terraform resources are loaded and checked; the planes that serve them (edge, global,
/// replication) are not wired yet, so each file says what it holds, with the module's outputs.
fn print_terraform(bundle: &meridian_config::Bundle) {
    use meridian_config::terraform::resources::Spec;
    for m in bundle.terraform_modules() {
        // One line per file and region.
        let mut groups: Vec<(&std::path::Path, &str, Vec<&str>)> = Vec::new();
        // The DNS serves zones, records and health checks (the banner's `dns` line);
        // buckets, distributions and their origin access controls are served too (the `s3`
        // and `cdn` lines).
        let by_dns = |s: &Spec| {
            matches!(
                s,
                Spec::Zone(_)
                    | Spec::Record(_)
                    | Spec::HealthCheck(_)
                    | Spec::CidrCollection(_)
                    | Spec::CidrLocation(_)
            )
        };
        let by_edge = |s: &Spec| {
            matches!(
                s,
                Spec::S3Bucket(_)
                    | Spec::S3Policy(_)
                    | Spec::Distribution(_)
                    | Spec::OriginAccessControl(_)
            )
        };
        // The front door serves the Front Doors (the `frontdoor` line).
        let by_frontdoor = |s: &Spec| matches!(s, Spec::FrontDoor(_) | Spec::FrontDoorPart(_));
        for i in m.instances.iter().filter(|i| {
            i.spec.is_served() && !by_dns(&i.spec) && !by_edge(&i.spec) && !by_frontdoor(&i.spec)
        }) {
            let name = i.address.as_str();
            match groups
                .iter_mut()
                .find(|(f, r, _)| *f == &*i.file && *r == i.region)
            {
                Some((_, _, names)) => names.push(name),
                None => groups.push((&i.file, &i.region, vec![name])),
            }
        }
        for (file, region, names) in groups {
            let region = if region.is_empty() {
                String::new()
            } else {
                format!(" ({region})")
            };
            println!(
                "  terraform {}{region}: {} loaded, not served yet ({})",
                display_path(file),
                plural(names.len(), "resource"),
                names.join(", ")
            );
        }
        for o in &m.outputs {
            let v = if o.sensitive {
                "<sensitive>".to_owned()
            } else {
                crate::commands::terraform::show(&o.value)
            };
            println!("  output    {} = {v}", o.name);
        }
    }
}

/// A path relative to the working directory when it lies under it, as the user typed it.
fn display_path(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The hosts served on a declared Gateway port, for the banner.
fn gateway_hosts(rev: &Revision, port: u16) -> String {
    let mut hosts: Vec<String> = rev
        .bundle
        .served()
        .filter_map(|(_, r)| match r {
            meridian_config::Resource::Gateway(g) => Some(g),
            _ => None,
        })
        .flat_map(|g| g.spec.servers.iter())
        .filter(|s| s.port.as_ref().and_then(|p| p.number) == Some(u32::from(port)))
        .flat_map(|s| s.hosts.iter().cloned())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts.join(", ")
}
