//! Cost of recording one request into the Istio metrics through a pre-resolved handle.

use criterion::{Criterion, criterion_group, criterion_main};
use meridian_telemetry::ResponseFlags;
use meridian_telemetry::metrics::{
    ConnectionSecurityPolicy, HttpRecord, IstioLabels, Registry, Reporter, ServiceLabels,
    WorkloadLabels,
};
use std::hint::black_box;
use std::time::Duration;

fn labels() -> IstioLabels {
    IstioLabels {
        reporter: Reporter::Destination,
        source: WorkloadLabels {
            workload: "gateway".into(),
            namespace: "default".into(),
            ..Default::default()
        },
        destination: WorkloadLabels {
            workload: "myapp-v1".into(),
            namespace: "default".into(),
            app: "myapp".into(),
            version: "v1".into(),
            ..Default::default()
        },
        service: ServiceLabels {
            host: "myapp.default.svc.cluster.local".into(),
            name: "myapp".into(),
            namespace: "default".into(),
        },
        security: ConnectionSecurityPolicy::MutualTls,
    }
}

fn record(c: &mut Criterion) {
    let registry = Registry::new();
    let handle = registry.istio().http(&labels());
    let ok = HttpRecord::http(
        200,
        ResponseFlags::NONE,
        Duration::from_micros(1500),
        120,
        4096,
    );
    c.bench_function("http_record_same_code", |b| {
        b.iter(|| handle.record(black_box(&ok)))
    });

    // The response code varies per request: cycle through a realistic mix.
    let mix: Vec<HttpRecord> = [
        (200, ResponseFlags::NONE),
        (200, ResponseFlags::NONE),
        (404, ResponseFlags::NONE),
        (200, ResponseFlags::NONE),
        (503, ResponseFlags::NO_HEALTHY_UPSTREAM),
        (201, ResponseFlags::NONE),
        (504, ResponseFlags::UPSTREAM_REQUEST_TIMEOUT),
        (200, ResponseFlags::NONE),
    ]
    .iter()
    .enumerate()
    .map(|(i, (code, flags))| {
        HttpRecord::http(
            *code,
            *flags,
            Duration::from_micros(300 * i as u64 + 1),
            0,
            100 * i as u64,
        )
    })
    .collect();
    let mut i = 0usize;
    c.bench_function("http_record_code_mix", |b| {
        b.iter(|| {
            i = (i + 1) & 7;
            handle.record(black_box(&mix[i]))
        })
    });

    // Two threads recording into the same handle at once (cache-line contention).
    c.bench_function("http_record_two_threads_same_handle", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let h = handle.clone();
                    let mix = &mix;
                    s.spawn(move || {
                        for n in 0..iters {
                            h.record(black_box(&mix[(n & 7) as usize]));
                        }
                    });
                }
            });
            // Per record, both threads' records counted.
            start.elapsed() / 2
        })
    });

    // The resolve step the proxy does once per route/peer pair, for comparison.
    let l = labels();
    c.bench_function("http_resolve_existing_handle", |b| {
        b.iter(|| registry.istio().http(black_box(&l)))
    });
}

fn other_paths(c: &mut Criterion) {
    use meridian_telemetry::access_log::{AccessLogEntry, write_envoy_text};
    use meridian_telemetry::trace::{HopRequest, NodeInfo, Sampler, SpanKind, Tracer};
    let entry = AccessLogEntry {
        start_time: std::time::SystemTime::now(),
        method: Some("GET"),
        path: Some("/productpage"),
        protocol: Some("HTTP/1.1"),
        response_code: 200,
        bytes_sent: 5123,
        duration: Duration::from_millis(12),
        user_agent: Some("curl/8.5.0"),
        request_id: Some("cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"),
        authority: Some("bookinfo.local"),
        upstream_host: Some("127.0.0.1:9080"),
        ..Default::default()
    };
    let mut line = String::with_capacity(320);
    c.bench_function("access_log_envoy_text_format", |b| {
        b.iter(|| {
            line.clear();
            write_envoy_text(&mut line, black_box(&entry));
        })
    });
    // Istio's default 1 % sampling: most hops only propagate.
    let tracer = Tracer::new(Sampler::new(0.0).expect("valid"), NodeInfo::default(), None);
    let headers = http::HeaderMap::new();
    let req = HopRequest {
        method: "GET",
        url: "http://myapp/",
        protocol: "HTTP/1.1",
        ..Default::default()
    };
    c.bench_function("trace_start_and_inject_unsampled", |b| {
        b.iter(|| {
            let hop = tracer.start(black_box(&headers), SpanKind::Server, "myapp:80/*", &req);
            let mut up = http::HeaderMap::new();
            hop.inject(&mut up);
            up
        })
    });
}

criterion_group!(benches, record, other_paths);
criterion_main!(benches);
