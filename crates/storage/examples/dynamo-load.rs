//! A load generator for DynamoDB-compatible endpoints, used by `bench/tables.sh` to drive
//! Meridian's tables and its peers (Dynoxide, moto, dynalite) with the same requests.
//!
//! Each client holds one HTTP/1.1 keep-alive connection and sends SigV4-signed requests
//! back to back for the duration; the answer is one JSON line with requests per second and
//! latency percentiles. Every answer is checked (well-formed JSON, GetItem's item found,
//! Query's 100 items returned); one that fails counts as an error. `--in-process DIR` drives
//! Meridian's DynamoDB layer directly, down to the JSON text of its answers, without HTTP or
//! signing: the ceiling the HTTP numbers are measured against.
//!
//! ```text
//! dynamo-load (--endpoint URL | --in-process DIR) [--key AK:SK] [--region R]
//!             --op setup|get|put|query|update [--clients N] [--duration SECS] [--items N]
//! ```
//!
//! Operations (on table `bench`, hash key `pk` S, range key `sk` N):
//! * `setup`: creates the table (pay per request) and loads `--items` items of 100 bytes under
//!   distinct hash keys, and 100 items under the hash key `q`;
//! * `get`: GetItem (ConsistentRead) of a random loaded item;
//! * `put`: PutItem of a new item (a distinct key per request);
//! * `query`: Query of the 100 items under `q`;
//! * `update`: UpdateItem `SET n = n + :one` on a random loaded item, conditioned on
//!   `attribute_exists(pk)`.

mod load;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use meridian_storage::dynamo::Dynamo;
use meridian_storage::engine::Engine;
use meridian_storage::sigv4;
use serde_json::{Value, json};

const TABLE: &str = "bench";
const QUERY_ITEMS: usize = 100;

struct Options {
    target: Target,
    key: (String, String),
    region: String,
    op: String,
    clients: usize,
    duration: Duration,
    items: usize,
}

#[derive(Clone)]
enum Target {
    Http { addr: SocketAddr, host: String },
    InProcess(Arc<Dynamo>),
}

fn usage() -> ! {
    eprintln!(
        "usage: dynamo-load (--endpoint URL | --in-process DIR) [--key AK:SK] [--region R] \
         --op setup|get|put|query|update [--clients N] [--duration SECS] [--items N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Result<Options, String> {
    let mut endpoint = None;
    let mut in_process = None;
    let mut key = ("bench".to_owned(), "benchsecret".to_owned());
    let mut region = "us-east-1".to_owned();
    let mut op = None;
    let mut clients = 1;
    let mut duration = Duration::from_secs(10);
    let mut items = 1000;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--in-process" => in_process = Some(PathBuf::from(value()?)),
            "--key" => {
                let v = value()?;
                let (a, s) = v.split_once(':').ok_or("--key is ACCESS_KEY:SECRET")?;
                key = (a.to_owned(), s.to_owned());
            }
            "--region" => region = value()?,
            "--op" => op = Some(value()?),
            "--clients" => clients = value()?.parse().map_err(|e| format!("--clients: {e}"))?,
            "--duration" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--duration: {e}"))?;
                duration = Duration::from_secs_f64(secs);
            }
            "--items" => items = value()?.parse().map_err(|e| format!("--items: {e}"))?,
            "-h" | "--help" => usage(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let target = match (endpoint, in_process) {
        (Some(url), None) => {
            let rest = url
                .strip_prefix("http://")
                .ok_or("--endpoint must be http://HOST:PORT")?;
            let host = rest.trim_end_matches('/').to_owned();
            let addr = host
                .parse()
                .map_err(|e| format!("--endpoint {url}: {e} (give an IP address and port)"))?;
            Target::Http { addr, host }
        }
        (None, Some(dir)) => {
            let engine = Engine::open(&dir.join("engine.redb")).map_err(|e| e.to_string())?;
            Target::InProcess(Dynamo::open(engine, &region).map_err(|e| e.to_string())?)
        }
        _ => return Err("give one of --endpoint or --in-process".into()),
    };
    Ok(Options {
        target,
        key,
        region,
        op: op.ok_or("--op is required")?,
        clients: clients.max(1),
        duration,
        items: items.max(1),
    })
}

/// One client's connection (or the in-process API) and the signing it needs.
struct Client {
    target: Target,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
    key: (String, String),
    region: String,
}

impl Client {
    async fn connect(opts: &Options) -> Result<Self, String> {
        let sender = match &opts.target {
            Target::Http { addr, .. } => Some(load::open(addr).await?),
            Target::InProcess(_) => None,
        };
        Ok(Self {
            target: opts.target.clone(),
            sender,
            key: opts.key.clone(),
            region: opts.region.clone(),
        })
    }

    /// Sends one operation; `Err` carries the error type the endpoint answered.
    async fn call(&mut self, operation: &str, body: &Value) -> Result<Value, String> {
        let text = self.send(operation, body).await?;
        serde_json::from_slice(&text).map_err(|e| format!("{operation} answer: {e}"))
    }

    /// Sends one operation and returns its answer's JSON text (in process, the text the
    /// endpoint would send); `Err` carries the error type the endpoint answered.
    async fn send(&mut self, operation: &str, body: &Value) -> Result<Bytes, String> {
        let (host, addr) = match &self.target {
            Target::InProcess(dynamo) => {
                return dynamo
                    .call_text(operation, body)
                    .await
                    .map(Bytes::from)
                    .map_err(|e| e.to_string());
            }
            Target::Http { host, addr } => (host.clone(), *addr),
        };
        // A server that closes its connections (moto's does, after every response) gets a
        // new one, and that cost is part of its figures.
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(load::open(&addr).await?);
        }
        let host = &host;
        let Some(sender) = self.sender.as_mut() else {
            return Err("not connected".into());
        };
        let payload = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let amz_date = sigv4::format_amz_date(time::OffsetDateTime::now_utc());
        let target = format!("DynamoDB_20120810.{operation}");
        let mut headers = HeaderMap::new();
        let value = |s: &str| HeaderValue::from_str(s).map_err(|e| e.to_string());
        headers.insert("host", value(host)?);
        headers.insert("content-type", value("application/x-amz-json-1.0")?);
        headers.insert("x-amz-date", value(&amz_date)?);
        headers.insert("x-amz-target", value(&target)?);
        let signed: Vec<String> = ["content-type", "host", "x-amz-date", "x-amz-target"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let auth = sigv4::sign(
            &sigv4::SignedRequest {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                authority: None,
                body: &payload,
            },
            &self.key.0,
            &self.key.1,
            &self.region,
            "dynamodb",
            &amz_date,
            &signed,
        );
        headers.insert("authorization", value(&auth)?);
        let mut req = Request::post("/")
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| e.to_string())?;
        *req.headers_mut() = headers;
        // HTTP/1.1: the connection takes the next request once it has finished the last.
        if sender.ready().await.is_err() {
            *sender = load::open(&addr).await?;
            sender
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
        }
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        if status.is_success() {
            return Ok(body);
        }
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Err(answer
            .get("__type")
            .and_then(Value::as_str)
            .unwrap_or("HTTP error")
            .rsplit('#')
            .next()
            .unwrap_or_default()
            .to_owned())
    }
}

/// What the run loop reads of an answer: the JSON is checked whole, but only these members
/// are kept, so checking a 100-item Query costs the load generator a scan of its text rather
/// than a tree of every item (which, on the load generator's one core, capped the Query rate
/// it could drive).
#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "Count")]
    count: Option<usize>,
    #[serde(rename = "Item")]
    item: Option<serde::de::IgnoredAny>,
}

/// Checks an answer of `op`: well-formed JSON; a GetItem found its item; a Query returned
/// all the items of its partition.
fn check(op: &str, text: &[u8]) -> Result<(), String> {
    let answer: Answer =
        serde_json::from_slice(text).map_err(|e| format!("malformed answer: {e}"))?;
    match op {
        "get" if answer.item.is_none() => Err("GetItem found no item".into()),
        "query" if answer.count != Some(QUERY_ITEMS) => Err(format!(
            "Query answered {:?} items, not {QUERY_ITEMS}",
            answer.count
        )),
        _ => Ok(()),
    }
}

fn item(pk: &str, sk: usize) -> Value {
    json!({
        "pk": {"S": pk},
        "sk": {"N": sk.to_string()},
        "n": {"N": "0"},
        "payload": {"S": "x".repeat(100)},
    })
}

async fn setup(opts: &Options) -> Result<(), String> {
    let mut c = Client::connect(opts).await?;
    let create = json!({
        "TableName": TABLE,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    });
    c.call("CreateTable", &create).await?;
    for _ in 0..600 {
        let d = c
            .call("DescribeTable", &json!({"TableName": TABLE}))
            .await?;
        if d["Table"]["TableStatus"] == "ACTIVE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut items: Vec<Value> = (0..opts.items).map(|i| item(&format!("k{i}"), 0)).collect();
    items.extend((0..QUERY_ITEMS).map(|i| item("q", i)));
    for chunk in items.chunks(25) {
        let mut pending: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"PutRequest": {"Item": i}}))
            .collect();
        while !pending.is_empty() {
            let out = c
                .call("BatchWriteItem", &json!({"RequestItems": {TABLE: pending}}))
                .await?;
            pending = out["UnprocessedItems"][TABLE]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
    }
    Ok(())
}

/// The request of one operation, `n` being the client's request counter.
fn request(op: &str, client: usize, n: u64, items: usize) -> Option<(&'static str, Value)> {
    let random = || format!("k{}", rand::random_range(0..items));
    Some(match op {
        "get" => (
            "GetItem",
            json!({"TableName": TABLE, "ConsistentRead": true,
                   "Key": {"pk": {"S": random()}, "sk": {"N": "0"}}}),
        ),
        "put" => (
            "PutItem",
            json!({"TableName": TABLE, "Item": item(&format!("p{client}-{n}"), 0)}),
        ),
        "query" => (
            "Query",
            json!({"TableName": TABLE, "KeyConditionExpression": "pk = :q",
                   "ExpressionAttributeValues": {":q": {"S": "q"}}}),
        ),
        "update" => (
            "UpdateItem",
            json!({"TableName": TABLE,
                   "Key": {"pk": {"S": random()}, "sk": {"N": "0"}},
                   "UpdateExpression": "SET n = n + :one",
                   "ConditionExpression": "attribute_exists(pk)",
                   "ExpressionAttributeValues": {":one": {"N": "1"}}}),
        ),
        _ => return None,
    })
}

async fn run(opts: Arc<Options>) -> Result<Value, String> {
    if request(&opts.op, 0, 0, opts.items).is_none() {
        return Err(format!("unknown --op {}", opts.op));
    }
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let deadline = Instant::now() + opts.duration;
    let mut tasks = Vec::new();
    for id in 0..opts.clients {
        let opts = opts.clone();
        let errors = errors.clone();
        let first_error = first_error.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&opts).await?;
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let Some((operation, body)) = request(&opts.op, id, n, opts.items) else {
                    break;
                };
                n += 1;
                let start = Instant::now();
                let outcome = client
                    .send(operation, &body)
                    .await
                    .and_then(|text| check(&opts.op, &text));
                let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
                match outcome {
                    Ok(_) => latencies.push(micros),
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(e);
                        }
                    }
                }
            }
            Ok::<_, String>(latencies)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let first_error = first_error.lock().ok().and_then(|mut e| e.take());
    Ok(json!({
        "op": opts.op,
        "clients": opts.clients,
        "requests": all.len(),
        "errors": errors.load(Ordering::Relaxed),
        "first_error": first_error,
        "seconds": secs,
        "rps": all.len() as f64 / secs,
        "p50_ms": load::percentile(&all, 0.50),
        "p99_ms": load::percentile(&all, 0.99),
        "p999_ms": load::percentile(&all, 0.999),
        "max_ms": load::percentile(&all, 1.0),
    }))
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("dynamo-load: {e}");
            usage()
        }
    };
    load::main("dynamo-load", async {
        if opts.op == "setup" {
            setup(&opts)
                .await
                .map(|()| json!({"op": "setup", "items": opts.items}))
        } else {
            run(opts.clone()).await
        }
    });
}
