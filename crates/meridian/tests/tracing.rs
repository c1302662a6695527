//! A trace through `meridian up` — gateway → front → ratings — arrives whole in a real OTLP
//! receiver (the `opentelemetry-proto` package's definitions decode it), with a span per
//! proxy hop named and tagged as Istio's, W3C and B3 context carried through every hop, and
//! the caller's sampling decision respected.

mod observe_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use observe_support::{Up, app_dir, demo_service, gateway_route, get, tool};

/// The Python OTLP receiver shared with the telemetry crate's tests.
struct Receiver {
    child: std::process::Child,
    url: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver() -> Option<Receiver> {
    let python = tool("python3", "apt-get install python3")?;
    let ok = Command::new(&python)
        .args([
            "-c",
            "import opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "the opentelemetry-proto Python package is required in CI: pip install opentelemetry-proto"
        );
        eprintln!("SKIPPED: pip install opentelemetry-proto");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../telemetry/tests/otlp_receiver.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the receiver");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("PORT line");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .expect("PORT n")
        .to_owned();
    Some(Receiver {
        child,
        url: format!("127.0.0.1:{port}"),
    })
}

/// The spans of `trace_id` once `n` have arrived (bounded wait).
fn spans_of(r: &Receiver, trace_id: Option<&str>, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = get(&r.url, "/spans", &[]);
        let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
        let spans: Vec<serde_json::Value> = match trace_id {
            Some(t) => all.into_iter().filter(|s| s["trace_id"] == t).collect(),
            None => all,
        };
        if spans.len() >= n || Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

const SERVER: u64 = 2;
const CLIENT: u64 = 3;

#[test]
fn a_trace_crosses_gateway_front_and_ratings_whole() {
    let Some(receiver) = receiver() else { return };
    let manifests = format!(
        "{}---\n{}---\n{}",
        demo_service("front", &["--call", "http://ratings/"]),
        demo_service("ratings", &[]),
        gateway_route("front-gateway", "front.example.com", "front")
    );
    let tmp = app_dir("app.yaml", &manifests);
    let endpoint = format!("http://{}/v1/traces", receiver.url);
    let up = Up::start(
        tmp.path(),
        "app",
        &["--tracing-endpoint", &endpoint, "--tracing-sampling", "100"],
    );
    up.wait_ready(&[("front", 1), ("ratings", 1)]);

    // A request with no trace context: the gateway starts the trace.
    let (status, body) = get(&up.gateway, "/", &[("Host", "front.example.com")]);
    assert_eq!(status, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).expect("json");
    let upstream = &echo["upstream"][0];
    assert_eq!(upstream["status"], 200, "{echo:#}");
    let ratings_saw = &upstream["body"]["headers"];
    assert!(ratings_saw["traceparent"].is_string(), "{ratings_saw:#}");
    assert!(ratings_saw["x-b3-traceid"].is_string(), "{ratings_saw:#}");
    assert!(
        ratings_saw["x-envoy-peer-metadata-id"].is_null(),
        "peer metadata is removed before the application"
    );
    let trace_id = echo["headers"]["traceparent"]
        .as_str()
        .and_then(|t| t.split('-').nth(1))
        .expect("front saw a traceparent")
        .to_owned();
    let spans = spans_of(&receiver, Some(&trace_id), 4);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let find = |service: &str, kind: u64| {
        spans
            .iter()
            .find(|s| s["resource"]["service.name"] == service && s["kind"] == kind)
            .unwrap_or_else(|| panic!("no {service} span of kind {kind}: {spans:#?}"))
    };
    let gateway = find("istio-ingressgateway.istio-system", CLIENT);
    let front_in = find("front.default", SERVER);
    let front_out = find("front.default", CLIENT);
    let ratings_in = find("ratings.default", SERVER);
    assert_eq!(
        gateway["parent_span_id"], "",
        "the gateway's span is the root"
    );
    assert_eq!(front_in["parent_span_id"], gateway["span_id"]);
    assert_eq!(front_out["parent_span_id"], front_in["span_id"]);
    assert_eq!(ratings_in["parent_span_id"], front_out["span_id"]);
    assert_eq!(front_in["name"], "front.default.svc.cluster.local:80/*");
    assert_eq!(front_out["name"], "ratings.default.svc.cluster.local:80/*");
    assert_eq!(gateway["name"], "front.example.com:80/*");
    let tags = &front_out["attributes"];
    assert_eq!(tags["http.method"], "GET");
    assert_eq!(tags["http.status_code"], "200");
    assert_eq!(tags["response_flags"], "-");
    assert_eq!(tags["istio.canonical_service"], "front");
    assert_eq!(tags["istio.namespace"], "default");
    assert_eq!(tags["component"], "proxy");
    assert_eq!(
        tags["upstream_cluster"],
        "outbound|80||ratings.default.svc.cluster.local"
    );
    assert!(
        tags["node_id"]
            .as_str()
            .is_some_and(|n| n.starts_with("sidecar~")),
        "{tags:#}"
    );
    assert_eq!(
        gateway["attributes"]["guid:x-request-id"], ratings_in["attributes"]["guid:x-request-id"],
        "one request id across the hops"
    );

    // B3 from the client: its trace and span continue through every hop.
    let b3_trace = "463ac35c9f6413ad48485a3953bb6124";
    let (status, _) = get(
        &up.gateway,
        "/",
        &[
            ("Host", "front.example.com"),
            ("x-b3-traceid", b3_trace),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("x-b3-sampled", "1"),
        ],
    );
    assert_eq!(status, 200);
    let spans = spans_of(&receiver, Some(b3_trace), 4);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert!(
        spans
            .iter()
            .any(|s| s["parent_span_id"] == "a2fb4a1d1a96d312"),
        "the gateway's span is a child of the client's: {spans:#?}"
    );

    // W3C from the client, not sampled: the decision is kept, nothing is exported.
    let w3c_trace = "0af7651916cd43dd8448eb211c80319c";
    let (status, body) = get(
        &up.gateway,
        "/",
        &[
            ("Host", "front.example.com"),
            (
                "traceparent",
                &format!("00-{w3c_trace}-b7ad6b7169203331-00"),
            ),
        ],
    );
    assert_eq!(status, 200);
    let echo: serde_json::Value = serde_json::from_str(&body).expect("json");
    let tp = echo["upstream"][0]["body"]["headers"]["traceparent"]
        .as_str()
        .expect("traceparent reached ratings")
        .to_owned();
    assert!(tp.starts_with(&format!("00-{w3c_trace}-")), "{tp}");
    assert!(tp.ends_with("-00"), "not sampled all the way: {tp}");
    // Exporters flush every half second; give them a few rounds.
    std::thread::sleep(Duration::from_secs(2));
    let (_, body) = get(&receiver.url, "/spans", &[]);
    assert!(!body.contains(w3c_trace), "an unsampled trace was exported");

    // The exporters count what they sent.
    let m = up.metrics();
    assert!(
        observe_support::sample_sum(&m, "meridian_trace_spans_exported_total", &[]) >= 8.0,
        "{m}"
    );
}
