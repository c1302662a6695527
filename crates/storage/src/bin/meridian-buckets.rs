//! A standalone S3-compatible endpoint on Meridian's storage engine, for tests and
//! benchmarks that need a process of their own (the `kill -9` durability test).
//!
//! `meridian-buckets --state-dir DIR [--addr 127.0.0.1:0] [--region R] [--domain D]
//! [--account ID:DISPLAY_NAME]... [--key AK:SK[@ID]]... [--object-ownership O]` prints
//! `listening http://ADDR` once it serves, then `key AK SK` for each long-term key.
//! `--key AK:SK` is a key of Meridian's own account (the one `meridian up` has);
//! `--account 111122223333:alice --key AK:SK@111122223333` declares another account and a key
//! of it: its buckets are its own, and other accounts reach them only through a bucket
//! policy (or an ACL, where ACLs are enabled). `--object-ownership` is the Object Ownership of buckets created without
//! `x-amz-object-ownership` (default `BucketOwnerEnforced`, as AWS since April 2023;
//! `ObjectWriter` is AWS's behaviour before, for tools that set ACLs on new buckets).
//! Object files live in `DIR/storage/s3`, metadata in `DIR/storage/meridian.redb`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use meridian_storage::engine::Engine;
use meridian_storage::keys::{Account, KeyDeclaration, KeyStore};
use meridian_storage::s3::S3;
use meridian_storage::s3::api::{Endpoint, Service};

fn usage() -> ! {
    eprintln!(
        "usage: meridian-buckets --state-dir DIR [--addr HOST:PORT] [--region REGION] [--domain DOMAIN] [--account ACCOUNT_ID:DISPLAY_NAME]... [--key ACCESS_KEY:SECRET[@ACCOUNT_ID]]... [--object-ownership BucketOwnerEnforced|BucketOwnerPreferred|ObjectWriter]"
    );
    std::process::exit(2);
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1);
}

/// As `meridian` and `meridian-tables`: per-request allocations cost less with mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut state: Option<PathBuf> = None;
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut region = "us-east-1".to_owned();
    let mut domain = "localhost".to_owned();
    let mut extra = Vec::new();
    let mut accounts = Vec::new();
    let mut ownership: Option<String> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--state-dir" => state = args.next().map(PathBuf::from),
            "--addr" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => addr = v,
                None => usage(),
            },
            "--region" => region = args.next().unwrap_or_else(|| usage()),
            "--domain" => domain = args.next().unwrap_or_else(|| usage()),
            "--object-ownership" => ownership = Some(args.next().unwrap_or_else(|| usage())),
            "--account" => match args.next() {
                Some(v) => accounts.push(Account::parse(&v).unwrap_or_else(|e| fail(e))),
                None => usage(),
            },
            "--key" => match args.next() {
                Some(v) => extra.push(KeyDeclaration::parse(&v).unwrap_or_else(|e| fail(e))),
                None => usage(),
            },
            _ => usage(),
        }
    }
    let Some(state) = state else { usage() };
    let dir = state.join("storage");
    let keys = KeyStore::open(&dir).unwrap_or_else(|e| fail(e));
    for a in accounts {
        keys.add_account(a);
    }
    for k in &extra {
        keys.declare(k).unwrap_or_else(|e| fail(e));
    }
    let engine = Engine::open(&dir.join("meridian.redb")).unwrap_or_else(|e| fail(e));
    let s3 = S3::open(engine, &dir.join("s3"), &region)
        .await
        .unwrap_or_else(|e| fail(e));
    if let Some(o) = ownership {
        s3.set_default_ownership(&o).unwrap_or_else(|e| fail(e));
    }
    let service = Service {
        s3,
        keys: Arc::new(keys),
        domain,
        body_idle_timeout: meridian_storage::s3::api::BODY_IDLE_TIMEOUT,
    };
    let keys = service.keys.long_term();
    let endpoint = Endpoint::start(service, addr)
        .await
        .unwrap_or_else(|e| fail(format!("cannot listen on {addr}: {e}")));
    println!("listening {}", endpoint.url());
    for (ak, sk) in keys {
        println!("key {ak} {sk}");
    }
    let _ = tokio::signal::ctrl_c().await;
}
