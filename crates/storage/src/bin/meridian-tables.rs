//! A standalone DynamoDB-compatible endpoint on Meridian's storage engine, for tests and
//! benchmarks that need a process of their own (the `kill -9` durability test).
//!
//! `meridian-tables --state-dir DIR [--addr 127.0.0.1:0] [--key AK:SK]... [--ttl-sweep SECS]`
//! prints `buckets http://ADDR` (the S3 endpoint beside the tables, which exports and
//! imports use) and `listening http://ADDR` once it serves, then `key AK SK` for each
//! long-term key.
//! `--ttl-sweep` sets how often expired items are deleted (5 s unless given).

use std::net::SocketAddr;
use std::path::PathBuf;

use meridian_storage::plane::{PlaneOptions, SWEEP_INTERVAL, StoragePlane};

/// As `meridian`: the plane allocates per request (parsed JSON, items, signatures), and
/// mimalloc serves those small, short-lived blocks at a fraction of glibc's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn usage() -> ! {
    eprintln!(
        "usage: meridian-tables --state-dir DIR [--addr HOST:PORT] [--key ACCESS_KEY:SECRET]... [--ttl-sweep SECS]"
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut state: Option<PathBuf> = None;
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut extra = Vec::new();
    let mut ttl_sweep = SWEEP_INTERVAL;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--state-dir" => state = args.next().map(PathBuf::from),
            "--addr" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => addr = v,
                None => usage(),
            },
            "--key" => match args
                .next()
                .and_then(|v| v.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
            {
                Some(k) => extra.push(k),
                None => usage(),
            },
            "--ttl-sweep" => match args
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
                .filter(|d| !d.is_zero())
            {
                Some(d) => ttl_sweep = d,
                None => usage(),
            },
            _ => usage(),
        }
    }
    let Some(state) = state else { usage() };
    let plane = match StoragePlane::start(PlaneOptions {
        state_dir: state,
        region: "us-east-1".to_owned(),
        dynamodb_addr: addr,
        s3_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        access_keys: extra,
        ttl_sweep,
    })
    .await
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("buckets {}", plane.s3_url());
    println!("listening {}", plane.dynamodb_url());
    for (ak, sk) in plane.keys.long_term() {
        println!("key {ak} {sk}");
    }
    let _ = tokio::signal::ctrl_c().await;
}
