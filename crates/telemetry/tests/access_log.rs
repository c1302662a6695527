//! Access log lines reach a real file through the background writer, in both formats.

use meridian_telemetry::ResponseFlags;
use meridian_telemetry::access_log::{
    AccessLogEntry, AccessLogFormat, AccessLogWriter, AccessLogger,
};
use meridian_telemetry::metrics::Registry;
use std::time::{Duration, SystemTime};

#[tokio::test]
async fn lines_from_two_listeners_land_in_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.log");
    let registry = Registry::new();
    let writer = AccessLogWriter::file(&path, &registry).expect("open");
    let gateway = AccessLogger::new(AccessLogFormat::EnvoyText, writer.clone());
    let sidecar = AccessLogger::new(AccessLogFormat::Json, writer.clone());
    for i in 0..500u64 {
        let entry = AccessLogEntry {
            start_time: SystemTime::now(),
            method: Some("GET"),
            path: Some("/productpage"),
            protocol: Some("HTTP/1.1"),
            response_code: if i % 10 == 0 { 503 } else { 200 },
            response_flags: if i % 10 == 0 {
                ResponseFlags::UPSTREAM_CONNECTION_FAILURE
            } else {
                ResponseFlags::NONE
            },
            bytes_sent: i,
            duration: Duration::from_millis(i % 7),
            authority: Some("bookinfo.local"),
            upstream_host: Some("127.0.0.1:9080"),
            ..Default::default()
        };
        gateway.log(&entry);
        sidecar.log(&entry);
    }
    writer.flush().await;
    let text = std::fs::read_to_string(&path).expect("read log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1000, "no line lost or torn");
    assert_eq!(registry.telemetry().access_log_dropped.get(), 0);
    let envoy: Vec<&&str> = lines.iter().filter(|l| l.starts_with('[')).collect();
    assert_eq!(envoy.len(), 500);
    assert!(
        envoy
            .iter()
            .any(|l| l.contains("\"GET /productpage HTTP/1.1\" 503 UF 0 0 "))
    );
    let json: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("each JSON line parses"))
        .collect();
    assert_eq!(json.len(), 500);
    assert_eq!(
        json.iter().filter(|v| v["response_flags"] == "UF").count(),
        50
    );
}
