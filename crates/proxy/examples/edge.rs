//! An edge cache in front of any HTTP origin, for conformance runs and benchmarks:
//! `cargo run -p meridian-proxy --example edge -- LISTEN ORIGIN [--rfc]`.
//!
//! By default the behaviour is CloudFront's (default TTL 86400 s, GET/HEAD). With `--rfc`
//! it is a plain RFC 9111 shared cache: no default TTL (heuristic freshness only), every
//! method allowed, query strings and request headers forwarded, the origin's `Vary`
//! selecting variants; what the shared HTTP caching test suite expects of a reverse proxy.
//! One thread, as the benchmarks pin each server to one core.

use std::path::Path;
use std::sync::Arc;

use http::Method;
use meridian_proxy::cache::{CookieKeys, Edge, EdgeConfig, Edges, OriginConfig, QueryKeys, Ttls};
use meridian_proxy::{Proxy, ProxyOptions};

/// The allocator `meridian` itself runs with, so the benchmark measures what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(listen), Some(origin)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: edge LISTEN ORIGIN [--rfc]");
    };
    let listen: std::net::SocketAddr = listen.parse()?;
    let origin: std::net::SocketAddr = origin.parse()?;
    let rfc = args.iter().any(|a| a == "--rfc");
    let bundle = meridian_config::load_str(
        Path::new("edge.yaml"),
        "",
        meridian_config::LoadOptions::default(),
    );
    let snapshot = meridian_control::snapshot::compile(&bundle, 1)?;
    let (_publisher, watch) = meridian_control::endpoints::channel();
    let proxy = Proxy::new(Arc::new(snapshot), watch, ProxyOptions::default());
    let mut cfg = EdgeConfig::new("EEXAMPLE", OriginConfig::new(origin, origin.to_string()));
    if rfc {
        cfg.behavior.ttls = Ttls::RFC;
        cfg.behavior.allowed_methods = vec![
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ];
        cfg.behavior.key.query = QueryKeys::All;
        cfg.behavior.key.forward_all_headers = true;
        cfg.behavior.key.cookies = CookieKeys::All;
    }
    let edge = Edge::new(cfg)?;
    let edges = Arc::new(Edges::default());
    edges.set(vec![(Vec::new(), edge)]);
    let addr = proxy.start_edge(edges, listen, None).await?;
    println!("edge on http://{addr} -> http://{origin}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
