//! Spans of a gateway → myapp → ratings request reach a real OTLP/HTTP receiver whole: a
//! Python server that decodes our protobuf with the official `opentelemetry-proto` package.

mod harness;

use harness::{ChildGuard, eventually, get};
use http::{HeaderMap, HeaderValue};
use meridian_telemetry::ResponseFlags;
use meridian_telemetry::metrics::Registry;
use meridian_telemetry::trace::{
    HopRequest, HopResponse, NodeInfo, OtlpConfig, OtlpExporter, RouteMatch, Sampler, SpanKind,
    Tracer, operation_name,
};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Receiver {
    _child: ChildGuard,
    url: String,
}

fn start_receiver(fail_first: u32) -> Option<Receiver> {
    let python = harness::tool("python3", "apt-get install -y python3")?;
    let probe = Command::new(&python)
        .args([
            "-c",
            "import opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !probe {
        let hint = "pip install opentelemetry-proto";
        if std::env::var_os("CI").is_some() {
            panic!("opentelemetry-proto is required in CI and is missing: {hint}");
        }
        eprintln!("SKIPPED: the opentelemetry-proto Python package is missing ({hint})");
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp_receiver.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(format!("--fail-first={fail_first}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the receiver");
    let stdout = child.stdout.take().expect("stdout");
    let child = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("receiver prints its port");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .unwrap_or_else(|| panic!("unexpected receiver output {line:?}"));
    Some(Receiver {
        _child: child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn spans(receiver: &Receiver, at_least: usize) -> Vec<Value> {
    let url = format!("{}/spans", receiver.url);
    eventually(Duration::from_secs(20), Duration::from_millis(100), || {
        let url = url.clone();
        async move {
            let (_, body) = get(&url).await.ok()?;
            let v: Value = serde_json::from_str(&body).ok()?;
            let list = v.as_array()?.clone();
            (list.len() >= at_least).then_some(list)
        }
    })
    .await
    .unwrap_or_else(|| panic!("the receiver did not get {at_least} spans"))
}

fn tracer(exporter: &OtlpExporter, service: &str, workload: &str) -> Tracer {
    Tracer::new(
        Sampler::new(100.0).expect("valid"),
        NodeInfo {
            node_id: format!("sidecar~127.0.0.1~{workload}.default~default.svc.cluster.local"),
            canonical_service: service.into(),
            canonical_revision: "v1".into(),
            namespace: "default".into(),
            mesh_id: "cluster.local".into(),
            cluster_id: "local".into(),
        },
        Some(exporter.clone()),
    )
}

fn request<'a>(url: &'a str) -> HopRequest<'a> {
    HopRequest {
        method: "GET",
        url,
        protocol: "HTTP/1.1",
        user_agent: Some("curl/8"),
        request_id: Some("6f1c2a4e-0000-4000-8000-000000000001"),
        downstream_cluster: None,
        peer_address: Some("127.0.0.1:50000"),
    }
}

fn ok(cluster: &str) -> HopResponse<'_> {
    HopResponse {
        status: 200,
        flags: ResponseFlags::NONE,
        request_size: 0,
        response_size: 12,
        upstream_cluster: Some(cluster),
        upstream_address: Some("127.0.0.1:9080"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_service_trace_arrives_whole() {
    let Some(receiver) = start_receiver(1) else {
        return;
    };
    let registry = Registry::new();
    let mut config = OtlpConfig::new(&format!("{}/v1/traces", receiver.url), "meridian.default");
    config.flush_interval = Duration::from_millis(50);
    let exporter = OtlpExporter::spawn(config, &registry).expect("valid endpoint");

    let gateway = tracer(&exporter, "istio-ingressgateway", "gateway");
    let myapp = tracer(&exporter, "myapp", "myapp-v1");
    let ratings = tracer(&exporter, "ratings", "ratings-v1");
    let myapp_route = operation_name(
        "myapp.default.svc.cluster.local",
        80,
        RouteMatch::Prefix("/"),
    );
    let ratings_route = operation_name("ratings.default.svc.cluster.local", 9080, RouteMatch::Any);

    // The client sends no trace headers; the gateway starts the trace.
    let from_client = HeaderMap::new();
    let gw = gateway.start(
        &from_client,
        SpanKind::Client,
        &myapp_route,
        &request("http://myapp/"),
    );
    let mut to_myapp = HeaderMap::new();
    gw.inject(&mut to_myapp);
    // myapp's inbound sidecar.
    let inbound = myapp.start(
        &to_myapp,
        SpanKind::Server,
        &myapp_route,
        &request("http://myapp/"),
    );
    let mut to_app = HeaderMap::new();
    inbound.inject(&mut to_app);
    // The application forwards the B3 headers (as Istio asks apps to) on its call to ratings.
    let mut from_app = HeaderMap::new();
    for h in [
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
    ] {
        if let Some(v) = to_app.get(h) {
            from_app.insert(h, v.clone());
        }
    }
    let outbound = myapp.start(
        &from_app,
        SpanKind::Client,
        &ratings_route,
        &request("http://ratings:9080/ratings/0"),
    );
    let mut to_ratings = HeaderMap::new();
    outbound.inject(&mut to_ratings);
    let ratings_in = ratings.start(
        &to_ratings,
        SpanKind::Server,
        &ratings_route,
        &request("http://ratings:9080/ratings/0"),
    );

    let cluster = "outbound|9080||ratings.default.svc.cluster.local";
    let ids = [
        gw.context().span_id.to_hex(),
        inbound.context().span_id.to_hex(),
        outbound.context().span_id.to_hex(),
        ratings_in.context().span_id.to_hex(),
    ];
    let trace_id = gw.context().trace_id.to_hex();
    ratings_in.finish(&ok("inbound|9080||"));
    outbound.finish(&HopResponse {
        status: 503,
        flags: ResponseFlags::UPSTREAM_REQUEST_TIMEOUT,
        ..ok(cluster)
    });
    inbound.finish(&ok("inbound|80||"));
    gw.finish(&ok("outbound|80||myapp.default.svc.cluster.local"));

    let got = spans(&receiver, 4).await;
    assert_eq!(got.len(), 4, "{got:#?}");
    let by_id = |id: &str| {
        got.iter()
            .find(|s| s["span_id"] == id)
            .unwrap_or_else(|| panic!("span {id} missing from {got:#?}"))
    };
    for s in &got {
        assert_eq!(s["trace_id"], trace_id.as_str(), "one trace");
        assert_eq!(s["attributes"]["component"], "proxy");
        assert_eq!(s["scope"], "meridian-proxy");
        assert_eq!(s["resource"]["service.name"], "meridian.default");
    }
    // The parent chain: gateway → myapp inbound → myapp outbound → ratings inbound.
    assert_eq!(by_id(&ids[0])["parent_span_id"], "");
    assert_eq!(by_id(&ids[1])["parent_span_id"], ids[0].as_str());
    assert_eq!(by_id(&ids[2])["parent_span_id"], ids[1].as_str());
    assert_eq!(by_id(&ids[3])["parent_span_id"], ids[2].as_str());
    let gw_span = by_id(&ids[0]);
    assert_eq!(gw_span["name"], "myapp.default.svc.cluster.local:80/*");
    assert_eq!(gw_span["kind"], 3, "SPAN_KIND_CLIENT");
    assert_eq!(
        gw_span["attributes"]["istio.canonical_service"],
        "istio-ingressgateway"
    );
    assert_eq!(gw_span["attributes"]["http.method"], "GET");
    assert_eq!(gw_span["attributes"]["http.status_code"], "200");
    assert_eq!(
        gw_span["attributes"]["guid:x-request-id"],
        "6f1c2a4e-0000-4000-8000-000000000001"
    );
    let failed = by_id(&ids[2]);
    assert_eq!(failed["name"], "ratings.default.svc.cluster.local:9080/*");
    assert_eq!(failed["attributes"]["http.status_code"], "503");
    assert_eq!(failed["attributes"]["response_flags"], "UT");
    assert_eq!(failed["attributes"]["error"], "true");
    assert_eq!(failed["attributes"]["upstream_cluster"], cluster);
    assert_eq!(
        failed["attributes"]["node_id"],
        "sidecar~127.0.0.1~myapp-v1.default~default.svc.cluster.local"
    );
    assert_eq!(failed["status_code"], 2, "STATUS_CODE_ERROR");
    assert_eq!(by_id(&ids[3])["kind"], 2, "SPAN_KIND_SERVER");
    assert!(
        got.iter()
            .all(|s| s["end"].as_u64() >= s["start"].as_u64() && s["start"].as_u64() > Some(0))
    );

    // The receiver refused the first POST with 503; the exporter retried.
    let (_, posts) = get(&format!("{}/posts", receiver.url))
        .await
        .expect("posts");
    let posts: Value = serde_json::from_str(&posts).expect("json");
    assert!(posts["count"].as_u64() >= Some(2), "{posts}");
    assert_eq!(
        posts["failed"], 0,
        "every body decoded with the official proto definitions"
    );
    exporter.flush().await;
    assert_eq!(registry.telemetry().spans_exported.get(), 4);
    assert_eq!(registry.telemetry().spans_dropped_export_failed.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_w3c_and_b3_contexts_are_continued_and_unsampled_ones_not_exported() {
    let Some(receiver) = start_receiver(0) else {
        return;
    };
    let registry = Registry::new();
    let mut config = OtlpConfig::new(&format!("{}/v1/traces", receiver.url), "myapp.default");
    config.flush_interval = Duration::from_millis(50);
    let exporter = OtlpExporter::spawn(config, &registry).expect("valid endpoint");
    // A 0 % rate: only callers' decisions make spans.
    let tracer = Tracer::new(
        Sampler::new(0.0).expect("valid"),
        NodeInfo::default(),
        Some(exporter.clone()),
    );

    let mut w3c = HeaderMap::new();
    w3c.insert(
        "traceparent",
        HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    w3c.insert("tracestate", HeaderValue::from_static("congo=t61rcWkgMzE"));
    tracer
        .start(&w3c, SpanKind::Server, "a:80/*", &request("http://a/"))
        .finish(&ok("inbound|80||"));

    let mut b3 = HeaderMap::new();
    b3.insert(
        "b3",
        HeaderValue::from_static("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
    );
    tracer
        .start(&b3, SpanKind::Server, "b:80/*", &request("http://b/"))
        .finish(&ok("inbound|80||"));

    let mut unsampled = HeaderMap::new();
    unsampled.insert(
        "traceparent",
        HeaderValue::from_static("00-11111111111111111111111111111111-2222222222222222-00"),
    );
    let hop = tracer.start(
        &unsampled,
        SpanKind::Server,
        "c:80/*",
        &request("http://c/"),
    );
    let mut up = HeaderMap::new();
    hop.inject(&mut up);
    assert!(
        up["traceparent"]
            .to_str()
            .expect("ascii")
            .starts_with("00-11111111111111111111111111111111-")
    );
    assert!(hop.finish(&ok("inbound|80||")).is_none());

    exporter.flush().await;
    let got = spans(&receiver, 2).await;
    assert_eq!(got.len(), 2, "the unsampled hop is not exported: {got:#?}");
    let a = got
        .iter()
        .find(|s| s["name"] == "a:80/*")
        .expect("w3c span");
    assert_eq!(a["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(a["parent_span_id"], "b7ad6b7169203331");
    assert_eq!(a["trace_state"], "congo=t61rcWkgMzE");
    let b = got.iter().find(|s| s["name"] == "b:80/*").expect("b3 span");
    assert_eq!(b["trace_id"], "80f198ee56343ba864fe8b2a57d3eff7");
    assert_eq!(b["parent_span_id"], "e457b5a2e4d86bd1");
}
