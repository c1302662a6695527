//! The exposition passes `promtool check metrics` (Debian package `prometheus`).

mod harness;

use meridian_telemetry::ResponseFlags;
use meridian_telemetry::metrics::{
    ConnectionSecurityPolicy, HttpRecord, IstioLabels, Registry, Reporter, RequestProtocol,
    ServiceLabels, WorkloadLabels,
};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// promtool's only finding, and it is about a name Istio fixes: its lint wants base units,
/// but Istio's Grafana dashboards and Kiali query `istio_request_duration_milliseconds`.
const ISTIO_NAME_LINT: &str =
    "istio_request_duration_milliseconds use base unit \"seconds\" instead of \"milliseconds\"";

fn busy_registry() -> Registry {
    let registry = Registry::new();
    let labels = IstioLabels {
        reporter: Reporter::Destination,
        source: WorkloadLabels {
            workload: "gateway".into(),
            namespace: "default".into(),
            principal: "spiffe://cluster.local/ns/default/sa/gateway".into(),
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
    };
    let http = registry.istio().http(&labels);
    http.record(&HttpRecord::http(
        200,
        ResponseFlags::NONE,
        Duration::from_micros(800),
        12,
        3000,
    ));
    http.record(&HttpRecord::http(
        503,
        ResponseFlags::NO_HEALTHY_UPSTREAM | ResponseFlags::UPSTREAM_RETRY_LIMIT_EXCEEDED,
        Duration::from_secs(2),
        0,
        19,
    ));
    http.record(&HttpRecord {
        protocol: RequestProtocol::Grpc,
        response_code: 200,
        grpc_status: Some(14),
        flags: ResponseFlags::NONE,
        duration: Duration::from_millis(5),
        request_bytes: 7,
        response_bytes: 0,
    });
    let tcp = registry.istio().tcp(&IstioLabels {
        reporter: Reporter::Source,
        ..labels
    });
    tcp.connection_opened(ResponseFlags::NONE);
    tcp.bytes(ResponseFlags::NONE, 1 << 20, 512);
    tcp.connection_closed(ResponseFlags::NONE);
    let w = registry.workloads().workload("default", "myapp");
    w.restarts.inc();
    w.ready_replicas.set(2);
    w.desired_replicas.set(3);
    let _conn = registry.proxy().listener("inbound|9080").connection();
    let c = registry
        .proxy()
        .cluster("outbound|9080|v1|myapp.default.svc.cluster.local");
    c.pool_active.set(2);
    c.pool_idle.set(1);
    c.ejections.inc();
    registry.control().config_applied(true);
    registry.control().snapshot_version.set(7);
    registry.control().compile_duration.observe(0.004);
    let odd = registry
        .counter_vec(
            "meridian_test_odd_values_total",
            "Label values that need escaping.",
            &["value"],
        )
        .expect("registers");
    odd.with(&["quote \" backslash \\ newline \n unicode é ✓"])
        .expect("one label")
        .inc();
    registry
}

fn promtool_check(promtool: &std::path::Path, text: &str) -> (Option<i32>, Vec<String>) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write exposition");
    let out = child.wait_with_output().expect("promtool finishes");
    let report: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .map(str::to_owned)
        .filter(|l| !l.trim().is_empty())
        .collect();
    (out.status.code(), report)
}

#[test]
fn promtool_reports_nothing_but_istios_own_unit() {
    let Some(promtool) = harness::tool("promtool", "apt-get install -y prometheus") else {
        return;
    };
    let registry = busy_registry();
    let mut text = String::new();
    registry.render_text(&mut text);
    for family in [
        "istio_requests_total",
        "istio_request_duration_milliseconds",
        "istio_request_bytes",
        "istio_response_bytes",
        "istio_tcp_sent_bytes_total",
        "istio_tcp_received_bytes_total",
        "istio_tcp_connections_opened_total",
        "istio_tcp_connections_closed_total",
        "meridian_workload_restarts_total",
        "meridian_proxy_upstream_pool_connections",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{text}"
        );
    }

    let (code, report) = promtool_check(&promtool, &text);
    let unexpected: Vec<&String> = report
        .iter()
        .filter(|l| l.as_str() != ISTIO_NAME_LINT)
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool found problems: {unexpected:#?}\n{text}"
    );
    // Exit code 3 is "lint problems"; 1 would be a parse error.
    assert!(
        matches!(code, Some(0) | Some(3)),
        "promtool exit {code:?}: {report:?}"
    );

    // Everything whose name Meridian chooses passes without a single remark.
    let families: Vec<_> = registry
        .gather()
        .into_iter()
        .filter(|f| f.name != "istio_request_duration_milliseconds")
        .collect();
    let mut text = String::new();
    meridian_telemetry::exposition::render(&families, &mut text);
    let (code, report) = promtool_check(&promtool, &text);
    assert!(report.is_empty(), "promtool found problems: {report:#?}");
    assert_eq!(code, Some(0));
}
