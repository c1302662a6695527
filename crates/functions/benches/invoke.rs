//! Load bench of the functions plane (not a criterion bench: it reports percentiles and
//! throughput of whole paths, with real runtimes):
//!
//! * warm invocation overhead, client → Invoke API → runtime → client, for a trivial Node
//!   and Python handler (the handler's own time is ~0), p50/p99; and through API Gateway;
//! * cold start of Node and Python (first invocation of a new environment) against the bare
//!   same interpreter's bare start (spawn to its first byte of output);
//! * requests per second of a trivial handler with N warm instances and N clients;
//! * the course's Azure Functions HttpTrigger (examples' azure app, Meridian's v3 worker):
//!   warm overhead and cold start against the same logic as a Lambda handler behind the HTTP
//!   API, and against bare Node.
//!
//! Run: `cargo bench -p meridian-functions --bench invoke`. Every loop is bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use meridian_config::sam::{TemplateOptions, load_template_str};
use meridian_functions::{Endpoint, FunctionHost, HostConfig, InvokeRequest};

const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: src
    MemorySize: 256
Resources:
  Node:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: app.handler
      Events:
        Api: {Type: HttpApi, Properties: {Path: /node, Method: GET}}
  Py:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      Events:
        Api: {Type: Api, Properties: {Path: /py, Method: GET}}
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: hello.handler
      Events:
        Api: {Type: HttpApi, Properties: {Path: /hello, Method: GET}}
"#;

/// The course's HttpTrigger logic as a Lambda handler.
const HELLO_JS: &str = "exports.handler = async (event) => {\n  const q = event.queryStringParameters || {};\n  let b = {};\n  try { b = JSON.parse(event.body || '{}'); } catch {}\n  const name = q.name || b.name || 'World';\n  return { statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: `Hello, ${name}!` };\n};\n";

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = stream.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    send
}

async fn call(send: &mut Sender, method: &str, path: &str, body: &'static [u8]) -> u16 {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .body(Full::new(Bytes::from_static(body)))
        .expect("request");
    send.ready().await.expect("ready");
    let resp = send.send_request(req).await.expect("send");
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = (((samples.len() as f64) * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i].as_secs_f64() * 1000.0
}

fn load(host: &FunctionHost, dir: &std::path::Path) {
    let file = dir.join("template.yaml");
    let t = load_template_str(&file, TEMPLATE, &TemplateOptions::default()).expect("template");
    host.load_template(&t).expect("load");
}

async fn warm_latency(addr: SocketAddr, label: &str, method: &str, path: &str, n: usize) {
    let mut send = connect(addr).await;
    for _ in 0..20 {
        assert_eq!(call(&mut send, method, path, b"{}").await, 200);
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        assert_eq!(call(&mut send, method, path, b"{}").await, 200);
        samples.push(t.elapsed());
    }
    println!(
        "warm {label:<34} p50 {:>7.3} ms   p99 {:>7.3} ms   (n={n})",
        pct(&mut samples, 0.50),
        pct(&mut samples, 0.99)
    );
}

/// Spawn to first byte on stdout: the interpreter is up and running user code (its exit and
/// teardown are not counted, as a cold start does not wait for them either).
fn bare_start(cmd: &str, args: &[&str], n: usize) -> (f64, f64) {
    use std::io::Read;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        // A clean environment, as the runtimes get (NODE_EXTRA_CA_CERTS alone costs Node
        // ~25 ms of start-up on this machine).
        let mut child = std::process::Command::new(cmd)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut byte = [0u8; 1];
        let _ = child.stdout.as_mut().expect("stdout").read(&mut byte);
        samples.push(t.elapsed());
        let _ = child.wait();
    }
    (pct(&mut samples, 0.5), pct(&mut samples, 0.99))
}

async fn cold_start(
    host: &FunctionHost,
    dir: &std::path::Path,
    name: &str,
    n: usize,
) -> (f64, f64) {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        // A reload gives every function fresh environments: the next invocation is cold.
        load(host, dir);
        let t = Instant::now();
        let r = host
            .invoke(name, InvokeRequest::default())
            .await
            .expect("invoke");
        samples.push(t.elapsed());
        assert!(r.cold_start && !r.outcome.is_error());
    }
    (pct(&mut samples, 0.5), pct(&mut samples, 0.99))
}

async fn throughput(addr: SocketAddr, path: &str, clients: usize, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let path = path.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut send = connect(addr).await;
            let mut n = 0u64;
            while Instant::now() < deadline {
                if call(&mut send, "POST", &path, b"{}").await == 200 {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    #[allow(clippy::cast_precision_loss)]
    let rps = total as f64 / secs as f64;
    rps
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
        std::fs::write(
            dir.path().join("src/app.js"),
            "exports.handler = async () => ({ statusCode: 200, body: 'ok' });\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("src/hello.js"), HELLO_JS).expect("write");
        std::fs::write(
            dir.path().join("src/app.py"),
            "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n",
        )
        .expect("write");
        let mut cfg = HostConfig::new(dir.path().join("state"));
        cfg.max_concurrency = 64;
        let host = FunctionHost::new(cfg).expect("host");
        load(&host, dir.path());
        let ep = Endpoint::start(host.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("endpoint");
        println!("memory enforcement: {}", host.memory_enforcement().describe());

        let n = 2000;
        warm_latency(ep.addr, "node, Invoke API", "POST", "/2015-03-31/functions/Node/invocations", n).await;
        warm_latency(ep.addr, "python, Invoke API", "POST", "/2015-03-31/functions/Py/invocations", n).await;
        warm_latency(ep.addr, "node, HTTP API (payload 2.0)", "GET", "/node", n).await;
        warm_latency(ep.addr, "python, REST API (payload 1.0)", "GET", "/py", n).await;

        let runs = 15;
        // The same interpreters the runtimes use (not a version manager's shim).
        use meridian_functions::bootstrap::find_interpreter;
        let node = find_interpreter(&["node20", "node"]);
        let python = find_interpreter(&["python3.11", "python3"]);
        println!("interpreters: {} and {}", node.display(), python.display());
        let (np50, np99) = bare_start(&node.display().to_string(), &["-e", "process.stdout.write('x')"], runs);
        let (pp50, pp99) = bare_start(
            &python.display().to_string(),
            &["-c", "import sys; sys.stdout.write('x'); sys.stdout.flush()"],
            runs,
        );
        let (nc50, nc99) = cold_start(&host, dir.path(), "Node", runs).await;
        let (pc50, pc99) = cold_start(&host, dir.path(), "Py", runs).await;
        println!("cold node   first invocation p50 {nc50:>7.1} ms p99 {nc99:>7.1} ms | bare node to first output   p50 {np50:>7.1} ms p99 {np99:>7.1} ms | ratio {:.2}", nc50 / np50);
        println!("cold python first invocation p50 {pc50:>7.1} ms p99 {pc99:>7.1} ms | bare python to first output p50 {pp50:>7.1} ms p99 {pp99:>7.1} ms | ratio {:.2}", pc50 / pp50);

        for clients in [1usize, 2, 4, 8] {
            load(&host, dir.path());
            // Warm N instances of each function first.
            let warm: Vec<_> = (0..clients)
                .flat_map(|_| ["Py", "Node"])
                .map(|name| {
                    let h = host.clone();
                    tokio::spawn(async move {
                        let req = InvokeRequest {
                            payload: Bytes::from_static(b"{}"),
                            ..InvokeRequest::default()
                        };
                        h.invoke(name, req).await
                    })
                })
                .collect();
            for w in warm {
                let _ = w.await;
            }
            for (label, path) in [
                ("python", "/2015-03-31/functions/Py/invocations"),
                ("node", "/2015-03-31/functions/Node/invocations"),
            ] {
                let rps = throughput(ep.addr, path, clients, 3).await;
                let st = host.functions();
                let inst: usize = st.iter().filter(|f| path.contains(&format!("/{}/", f.name))).map(|f| f.instances).sum();
                println!("throughput {label:<7} {clients} clients: {rps:>8.0} req/s ({inst} warm instances)");
            }
        }
        azure(&host, dir.path(), ep.addr, n, runs, np50).await;
        host.shutdown();
    });
}

/// The course's Azure Functions app against the same logic on the Lambda path.
async fn azure(
    host: &FunctionHost,
    dir: &std::path::Path,
    lambda: SocketAddr,
    n: usize,
    runs: usize,
    bare_node_p50: f64,
) {
    use meridian_functions::azure::{AzureApps, AzureEndpoint, prepare};
    load(host, dir);
    let course = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/azure");
    let loaded = meridian_config::azure::load_app(&course);
    let app = loaded.valid().expect("the course's app is valid").clone();
    let adir = tempfile::tempdir().expect("tempdir");
    let ahost = FunctionHost::new(HostConfig::new(adir.path().join("state"))).expect("host");
    let prepared = prepare(std::slice::from_ref(&app), &ahost)
        .await
        .expect("prepare");
    let specs = prepared.specs.clone();
    ahost.load(specs.clone(), Vec::new()).expect("load");
    let apps = AzureApps::new(ahost.clone());
    apps.commit(prepared.table);
    let aep = AzureEndpoint::start(apps, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("endpoint");
    warm_latency(
        aep.addr,
        "azure HttpTrigger (course, v3)",
        "GET",
        "/api/HttpTrigger?name=Ada",
        n,
    )
    .await;
    warm_latency(
        lambda,
        "same logic, Lambda via HTTP API",
        "GET",
        "/hello?name=Ada",
        n,
    )
    .await;
    let mut cold = Vec::with_capacity(runs);
    for _ in 0..runs {
        // A reload gives the app a fresh worker: the next request starts one.
        ahost.load(specs.clone(), Vec::new()).expect("load");
        let mut send = connect(aep.addr).await;
        let t = Instant::now();
        assert_eq!(
            call(&mut send, "GET", "/api/HttpTrigger?name=Ada", b"").await,
            200
        );
        cold.push(t.elapsed());
    }
    let (a50, a99) = (pct(&mut cold, 0.5), pct(&mut cold, 0.99));
    let (l50, l99) = cold_start(host, dir, "Hello", runs).await;
    println!(
        "cold azure HttpTrigger first request p50 {a50:>7.1} ms p99 {a99:>7.1} ms | lambda same logic p50 {l50:>7.1} ms p99 {l99:>7.1} ms | ratios {:.2} to lambda, {:.2} to bare node",
        a50 / l50,
        a50 / bare_node_p50
    );
    ahost.shutdown();
}
