//! Access logs in Envoy's default text format or Istio's JSON format, one line per request,
//! written by a background thread so that the request path never waits for the disk.
//!
//! Envoy's default format string (configuration/observability/access_log/usage):
//!
//! ```text
//! [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//! %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//! %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//! "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n
//! ```
//!
//! As in Envoy, an absent value prints `-`. The JSON variant has the keys of Istio's JSON
//! access log (`meshConfig.accessLogEncoding: JSON`), sorted, with numbers as numbers and
//! absent values as `null`.

use crate::metrics::{Counter, Registry};
use crate::writer::{Sink, Writer};
use crate::{Error, ResponseFlags};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What is known about one request (or TCP connection) when it ends.
#[derive(Debug, Clone, Copy)]
pub struct AccessLogEntry<'a> {
    /// `%START_TIME%`.
    pub start_time: SystemTime,
    /// `%REQ(:METHOD)%`.
    pub method: Option<&'a str>,
    /// `%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%`: the path before any rewrite.
    pub path: Option<&'a str>,
    /// `%PROTOCOL%`: `HTTP/1.1`, `HTTP/2`; none for TCP.
    pub protocol: Option<&'a str>,
    /// `%RESPONSE_CODE%`: 0 when no response was sent.
    pub response_code: u16,
    /// `%RESPONSE_FLAGS%`.
    pub response_flags: ResponseFlags,
    /// `%RESPONSE_CODE_DETAILS%` (JSON only), e.g. `via_upstream`.
    pub response_code_details: Option<&'a str>,
    /// `%CONNECTION_TERMINATION_DETAILS%` (JSON only).
    pub connection_termination_details: Option<&'a str>,
    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%` (JSON only).
    pub upstream_transport_failure_reason: Option<&'a str>,
    /// `%BYTES_RECEIVED%`: body bytes from downstream.
    pub bytes_received: u64,
    /// `%BYTES_SENT%`: body bytes to downstream.
    pub bytes_sent: u64,
    /// `%DURATION%`: start to last byte out.
    pub duration: Duration,
    /// `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%`: time spent upstream.
    pub upstream_service_time: Option<Duration>,
    /// `%REQ(X-FORWARDED-FOR)%`.
    pub x_forwarded_for: Option<&'a str>,
    /// `%REQ(USER-AGENT)%`.
    pub user_agent: Option<&'a str>,
    /// `%REQ(X-REQUEST-ID)%`.
    pub request_id: Option<&'a str>,
    /// `%REQ(:AUTHORITY)%`.
    pub authority: Option<&'a str>,
    /// `%UPSTREAM_HOST%`: the endpoint's address.
    pub upstream_host: Option<&'a str>,
    /// `%UPSTREAM_CLUSTER_RAW%` (JSON only).
    pub upstream_cluster: Option<&'a str>,
    /// `%UPSTREAM_LOCAL_ADDRESS%` (JSON only).
    pub upstream_local_address: Option<&'a str>,
    /// `%DOWNSTREAM_LOCAL_ADDRESS%` (JSON only).
    pub downstream_local_address: Option<&'a str>,
    /// `%DOWNSTREAM_REMOTE_ADDRESS%` (JSON only).
    pub downstream_remote_address: Option<&'a str>,
    /// `%REQUESTED_SERVER_NAME%`: the TLS SNI (JSON only).
    pub requested_server_name: Option<&'a str>,
    /// `%ROUTE_NAME%` (JSON only).
    pub route_name: Option<&'a str>,
}

impl Default for AccessLogEntry<'_> {
    fn default() -> Self {
        AccessLogEntry {
            start_time: UNIX_EPOCH,
            method: None,
            path: None,
            protocol: None,
            response_code: 0,
            response_flags: ResponseFlags::NONE,
            response_code_details: None,
            connection_termination_details: None,
            upstream_transport_failure_reason: None,
            bytes_received: 0,
            bytes_sent: 0,
            duration: Duration::ZERO,
            upstream_service_time: None,
            x_forwarded_for: None,
            user_agent: None,
            request_id: None,
            authority: None,
            upstream_host: None,
            upstream_cluster: None,
            upstream_local_address: None,
            downstream_local_address: None,
            downstream_remote_address: None,
            requested_server_name: None,
            route_name: None,
        }
    }
}

/// The line format of a listener's access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLogFormat {
    /// Envoy's default text format.
    #[default]
    EnvoyText,
    /// Istio's JSON format.
    Json,
}

/// Envoy's `%START_TIME%` default: `2016-04-15T20:17:00.310Z` (UTC, milliseconds).
pub fn write_start_time(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    );
}

fn dash(out: &mut String, v: Option<&str>) {
    match v {
        Some(s) if !s.is_empty() => {
            // Header values cannot hold line breaks; keep one entry on one line regardless.
            for c in s.chars() {
                out.push(if c == '\n' || c == '\r' { ' ' } else { c });
            }
        }
        _ => out.push('-'),
    }
}

/// Appends the entry in Envoy's default format, newline included.
pub fn write_envoy_text(out: &mut String, e: &AccessLogEntry<'_>) {
    out.push('[');
    write_start_time(out, e.start_time);
    out.push_str("] \"");
    dash(out, e.method);
    out.push(' ');
    dash(out, e.path);
    out.push(' ');
    dash(out, e.protocol);
    let _ = write!(out, "\" {} ", e.response_code);
    e.response_flags.write_to(out);
    let _ = write!(
        out,
        " {} {} {} ",
        e.bytes_received,
        e.bytes_sent,
        e.duration.as_millis()
    );
    match e.upstream_service_time {
        Some(t) => {
            let _ = write!(out, "{}", t.as_millis());
        }
        None => out.push('-'),
    }
    for v in [
        e.x_forwarded_for,
        e.user_agent,
        e.request_id,
        e.authority,
        e.upstream_host,
    ] {
        out.push_str(" \"");
        dash(out, v);
        out.push('"');
    }
    out.push('\n');
}

fn json_string(out: &mut String, v: Option<&str>) {
    let Some(s) = v.filter(|s| !s.is_empty()) else {
        out.push_str("null");
        return;
    };
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends the entry as one JSON object with Istio's keys, newline included.
pub fn write_json(out: &mut String, e: &AccessLogEntry<'_>) {
    let mut start = String::with_capacity(24);
    write_start_time(&mut start, e.start_time);
    let flags = e.response_flags.to_string();
    let service_time = e.upstream_service_time.map(|t| t.as_millis().to_string());
    let strings: [(&str, Option<&str>); 20] = [
        ("authority", e.authority),
        (
            "connection_termination_details",
            e.connection_termination_details,
        ),
        ("downstream_local_address", e.downstream_local_address),
        ("downstream_remote_address", e.downstream_remote_address),
        ("method", e.method),
        ("path", e.path),
        ("protocol", e.protocol),
        ("request_id", e.request_id),
        ("requested_server_name", e.requested_server_name),
        ("response_code_details", e.response_code_details),
        ("response_flags", Some(flags.as_str())),
        ("route_name", e.route_name),
        ("start_time", Some(start.as_str())),
        ("upstream_cluster", e.upstream_cluster),
        ("upstream_host", e.upstream_host),
        ("upstream_local_address", e.upstream_local_address),
        ("upstream_service_time", service_time.as_deref()),
        (
            "upstream_transport_failure_reason",
            e.upstream_transport_failure_reason,
        ),
        ("user_agent", e.user_agent),
        ("x_forwarded_for", e.x_forwarded_for),
    ];
    let numbers: [(&str, u128); 4] = [
        ("bytes_received", u128::from(e.bytes_received)),
        ("bytes_sent", u128::from(e.bytes_sent)),
        ("duration", e.duration.as_millis()),
        ("response_code", u128::from(e.response_code)),
    ];
    // One sorted key list, as Envoy prints a JSON format's keys.
    let mut keys: Vec<&str> = strings
        .iter()
        .map(|(k, _)| *k)
        .chain(numbers.iter().map(|(k, _)| *k))
        .collect();
    keys.sort_unstable();
    out.push('{');
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        if let Some((_, n)) = numbers.iter().find(|(k, _)| k == key) {
            let _ = write!(out, "{n}");
        } else if let Some((_, v)) = strings.iter().find(|(k, _)| k == key) {
            json_string(out, *v);
        }
    }
    out.push_str("}\n");
}

/// The access log's sink: lines into a buffered writer; failed writes are counted.
struct LineSink {
    out: BufWriter<Box<dyn Write + Send>>,
    errors: Counter,
}

impl Sink for LineSink {
    type Record = Vec<u8>;

    fn write(&mut self, line: Vec<u8>) {
        if self.out.write_all(&line).is_err() {
            self.errors.inc();
        }
    }

    fn flush(&mut self) {
        if self.out.flush().is_err() {
            self.errors.inc();
        }
    }
}

/// A background writer shared by listeners: lines go through a bounded queue to a thread that
/// owns the sink ([`crate::writer`]). A full queue drops the line and counts it; the request
/// path never blocks.
#[derive(Debug, Clone)]
pub struct AccessLogWriter {
    writer: Writer<Vec<u8>>,
    dropped: Counter,
}

impl AccessLogWriter {
    /// Starts the writer thread for `sink` with room for `capacity` pending lines.
    pub fn spawn(
        sink: Box<dyn Write + Send>,
        capacity: usize,
        registry: &Registry,
    ) -> Result<AccessLogWriter, Error> {
        let sink = LineSink {
            out: BufWriter::with_capacity(64 * 1024, sink),
            errors: registry.telemetry().access_log_write_errors.clone(),
        };
        let writer = Writer::spawn("access-log", sink, capacity).map_err(Error::WriterThread)?;
        Ok(AccessLogWriter {
            writer,
            dropped: registry.telemetry().access_log_dropped.clone(),
        })
    }

    /// A writer to standard output (where Istio's sidecars log).
    pub fn stdout(registry: &Registry) -> Result<AccessLogWriter, Error> {
        AccessLogWriter::spawn(Box::new(std::io::stdout()), 8192, registry)
    }

    /// A writer appending to a file.
    pub fn file(path: &Path, registry: &Registry) -> Result<AccessLogWriter, Error> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(Error::WriterThread)?;
        AccessLogWriter::spawn(Box::new(file), 8192, registry)
    }

    /// Queues one line; never blocks.
    pub fn write_line(&self, line: Vec<u8>) {
        if !self.writer.try_write(line) {
            self.dropped.inc();
        }
    }

    /// Waits until every line queued before the call is written and flushed.
    pub async fn flush(&self) {
        self.writer.flush().await;
    }
}

/// One listener's access log: a format and a shared writer.
#[derive(Debug, Clone)]
pub struct AccessLogger {
    format: AccessLogFormat,
    writer: AccessLogWriter,
}

impl AccessLogger {
    /// A logger writing `format` lines to `writer`.
    pub fn new(format: AccessLogFormat, writer: AccessLogWriter) -> AccessLogger {
        AccessLogger { format, writer }
    }

    /// Formats the entry and queues it.
    pub fn log(&self, entry: &AccessLogEntry<'_>) {
        let mut line = String::with_capacity(320);
        match self.format {
            AccessLogFormat::EnvoyText => write_envoy_text(&mut line, entry),
            AccessLogFormat::Json => write_json(&mut line, entry),
        }
        self.writer.write_line(line.into_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// The example line of Envoy's documentation.
    fn envoy_doc_entry() -> AccessLogEntry<'static> {
        AccessLogEntry {
            start_time: UNIX_EPOCH + Duration::from_millis(1_460_751_420_310),
            method: Some("POST"),
            path: Some("/api/v1/locations"),
            protocol: Some("HTTP/2"),
            response_code: 204,
            bytes_received: 154,
            bytes_sent: 0,
            duration: Duration::from_millis(226),
            upstream_service_time: Some(Duration::from_millis(100)),
            x_forwarded_for: Some("10.0.35.28"),
            user_agent: Some("nsq2http"),
            request_id: Some("cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"),
            authority: Some("locations"),
            upstream_host: Some("tcp://10.0.2.1:80"),
            ..Default::default()
        }
    }

    #[test]
    fn envoy_text_matches_envoys_documented_example() {
        let mut s = String::new();
        write_envoy_text(&mut s, &envoy_doc_entry());
        assert_eq!(
            s,
            "[2016-04-15T20:17:00.310Z] \"POST /api/v1/locations HTTP/2\" 204 - 154 0 226 100 \
             \"10.0.35.28\" \"nsq2http\" \"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2\" \"locations\" \
             \"tcp://10.0.2.1:80\"\n"
        );
    }

    #[test]
    fn missing_values_are_dashes() {
        let mut s = String::new();
        write_envoy_text(
            &mut s,
            &AccessLogEntry {
                response_code: 503,
                response_flags: ResponseFlags::NO_HEALTHY_UPSTREAM,
                ..Default::default()
            },
        );
        assert_eq!(
            s,
            "[1970-01-01T00:00:00.000Z] \"- - -\" 503 UH 0 0 0 - \"-\" \"-\" \"-\" \"-\" \"-\"\n"
        );
    }

    #[test]
    fn start_time_dates() {
        for (secs, text) in [
            (951_782_400u64, "2000-02-29T00:00:00.000Z"),
            (4_107_542_399, "2100-02-28T23:59:59.000Z"),
            (1_704_067_199, "2023-12-31T23:59:59.000Z"),
        ] {
            let mut s = String::new();
            write_start_time(&mut s, UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(s, text);
        }
    }

    #[test]
    fn json_has_istios_keys_numbers_and_nulls() {
        let mut s = String::new();
        let mut e = envoy_doc_entry();
        e.user_agent = Some("quote\" and \\ backslash");
        e.upstream_cluster = Some("outbound|80||locations.default.svc.cluster.local");
        write_json(&mut s, &e);
        assert!(s.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["response_code"], 204);
        assert_eq!(v["bytes_received"], 154);
        assert_eq!(v["duration"], 226);
        assert_eq!(v["response_flags"], "-");
        assert_eq!(v["upstream_service_time"], "100");
        assert_eq!(v["user_agent"], "quote\" and \\ backslash");
        assert_eq!(v["route_name"], serde_json::Value::Null);
        assert_eq!(v["start_time"], "2016-04-15T20:17:00.310Z");
        assert_eq!(v.as_object().map(|o| o.len()), Some(24));
        assert!(s.starts_with("{\"authority\":\"locations\",\"bytes_received\":154,"));
    }

    /// A sink whose first write blocks until released, like a stalled disk; it says when it
    /// is stuck.
    struct Stalled {
        stuck: std::sync::mpsc::Sender<()>,
        release: Arc<Barrier>,
        done: bool,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.done {
                self.done = true;
                let _ = self.stuck.send(());
                self.release.wait();
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_sink_drops_lines_instead_of_blocking() {
        let registry = Registry::new();
        let release = Arc::new(Barrier::new(2));
        let (stuck, is_stuck) = std::sync::mpsc::channel();
        let sink = Stalled {
            stuck,
            release: release.clone(),
            done: false,
        };
        let writer = AccessLogWriter::spawn(Box::new(sink), 4, &registry).expect("thread");
        let logger = AccessLogger::new(AccessLogFormat::EnvoyText, writer);
        logger.log(&envoy_doc_entry());
        is_stuck
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer reaches the sink");
        for _ in 0..100 {
            logger.log(&envoy_doc_entry());
        }
        // The queue holds 4 lines; the other 96 are dropped and counted, none waited for.
        assert_eq!(registry.telemetry().access_log_dropped.get(), 96);
        release.wait();
    }
}
