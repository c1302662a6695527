//! Trace context propagation: W3C `traceparent`/`tracestate` and B3 (`b3` single header and
//! `x-b3-*` multi headers), with their sampling decisions.

use crate::Error;
use http::HeaderMap;
use http::header::HeaderValue;
use std::fmt;

/// A 128-bit trace id; zero is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceId(pub u128);

/// A 64-bit span id; zero is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanId(pub u64);

impl TraceId {
    /// A random, non-zero id.
    pub fn random() -> TraceId {
        loop {
            let id = rand::random::<u128>();
            if id != 0 {
                return TraceId(id);
            }
        }
    }

    /// The id as 16 big-endian bytes (OTLP's encoding).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// 32 lower-case hex digits.
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }
}

impl SpanId {
    /// A random, non-zero id.
    pub fn random() -> SpanId {
        loop {
            let id = rand::random::<u64>();
            if id != 0 {
                return SpanId(id);
            }
        }
    }

    /// The id as 8 big-endian bytes (OTLP's encoding).
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// 16 lower-case hex digits.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A sampling decision carried by the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampling {
    /// The caller recorded the trace; record it too.
    Sampled,
    /// The caller decided not to record.
    NotSampled,
    /// B3 debug (`x-b3-flags: 1`, `b3: ...-d`): record, and tell the tracer it is forced.
    Debug,
    /// No decision yet: the first proxy decides with its sampling rate.
    #[default]
    Deferred,
}

impl Sampling {
    /// Whether the decision is to record.
    pub fn is_sampled(self) -> bool {
        matches!(self, Sampling::Sampled | Sampling::Debug)
    }
}

/// The trace context of one request as received: the caller's span is our parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace.
    pub trace_id: TraceId,
    /// The caller's span.
    pub span_id: SpanId,
    /// The caller's parent, which only B3 carries.
    pub parent_span_id: Option<SpanId>,
    /// The sampling decision.
    pub sampling: Sampling,
    /// The W3C `tracestate`, validated, passed on unchanged.
    pub trace_state: Option<String>,
}

/// What the headers of a request say about tracing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted {
    /// Nothing usable: start a new trace.
    None,
    /// Only a sampling decision (`b3: 0`, `x-b3-sampled: 0` without ids).
    SamplingOnly(Sampling),
    /// A full context to continue.
    Context(TraceContext),
}

/// Which header formats to write on the way upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Propagation {
    /// `traceparent` (and `tracestate` when there is one).
    pub w3c: bool,
    /// `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`, `x-b3-sampled`, `x-b3-flags`.
    pub b3_multi: bool,
    /// `b3`.
    pub b3_single: bool,
}

impl Propagation {
    /// W3C and B3 multi-header: what both OpenTelemetry and Zipkin-era (Istio default) apps read.
    pub const DEFAULT: Propagation = Propagation {
        w3c: true,
        b3_multi: true,
        b3_single: false,
    };
}

fn hex_u128(s: &str) -> Option<u128> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

fn hex_u64(s: &str) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    hex_u128(s).and_then(|v| u64::try_from(v).ok())
}

/// Parses a `traceparent` header (W3C Trace Context, level 1 and forward-compatible versions).
pub fn parse_traceparent(value: &str) -> Result<TraceContext, Error> {
    let err = |reason| Error::Traceparent {
        value: value.to_owned(),
        reason,
    };
    let v = value.trim_matches(|c| c == ' ' || c == '\t');
    let version = v.get(0..2).ok_or_else(|| err("too short"))?;
    let version = u8::from_str_radix(version, 16)
        .ok()
        .filter(|_| {
            version
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or_else(|| err("version is not two lower-case hex digits"))?;
    if version == 0xff {
        return Err(err("version ff is invalid"));
    }
    if version == 0 && v.len() != 55 {
        return Err(err("version 00 must be exactly 55 characters"));
    }
    if v.len() < 55 {
        return Err(err("too short"));
    }
    if v.len() > 55 && v.as_bytes().get(55) != Some(&b'-') {
        return Err(err("a future version's extra fields must follow a '-'"));
    }
    let b = v.as_bytes();
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err(err("fields must be separated by '-'"));
    }
    let trace_id = v
        .get(3..35)
        .and_then(hex_u128)
        .ok_or_else(|| err("trace-id is not 32 lower-case hex digits"))?;
    if trace_id == 0 {
        return Err(err("trace-id is all zeros"));
    }
    let span_id = v
        .get(36..52)
        .and_then(hex_u64)
        .ok_or_else(|| err("parent-id is not 16 lower-case hex digits"))?;
    if span_id == 0 {
        return Err(err("parent-id is all zeros"));
    }
    let flags = v
        .get(53..55)
        .filter(|f| {
            f.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .and_then(|f| u8::from_str_radix(f, 16).ok())
        .ok_or_else(|| err("trace-flags is not two lower-case hex digits"))?;
    Ok(TraceContext {
        trace_id: TraceId(trace_id),
        span_id: SpanId(span_id),
        parent_span_id: None,
        sampling: if flags & 1 == 1 {
            Sampling::Sampled
        } else {
            Sampling::NotSampled
        },
        trace_state: None,
    })
}

/// Validates a `tracestate` value; `None` when invalid, which means "drop it" per the spec.
pub fn parse_tracestate(value: &str) -> Option<String> {
    let mut members: Vec<&str> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for member in value.split(',') {
        let member = member.trim_matches(|c| c == ' ' || c == '\t');
        if member.is_empty() {
            continue;
        }
        let (key, val) = member.split_once('=')?;
        if !valid_tracestate_key(key) || !valid_tracestate_value(val) || keys.contains(&key) {
            return None;
        }
        keys.push(key);
        members.push(member);
    }
    if members.is_empty() || members.len() > 32 {
        return None;
    }
    Some(members.join(","))
}

fn valid_tracestate_key(key: &str) -> bool {
    let simple = |k: &str, max: usize, first_digit_ok: bool| {
        let mut chars = k.chars();
        let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || (first_digit_ok && c.is_ascii_digit()));
        first_ok
            && k.len() <= max
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-*/".contains(c))
    };
    match key.split_once('@') {
        Some((tenant, system)) => simple(tenant, 241, true) && simple(system, 14, false),
        None => simple(key, 256, false),
    }
}

fn valid_tracestate_value(val: &str) -> bool {
    !val.is_empty()
        && val.len() <= 256
        && !val.ends_with(' ')
        && val
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

fn b3_sampling(s: &str) -> Option<Sampling> {
    match s {
        "1" | "true" => Some(Sampling::Sampled),
        "0" | "false" => Some(Sampling::NotSampled),
        "d" => Some(Sampling::Debug),
        _ => None,
    }
}

fn b3_trace_id(s: &str) -> Option<TraceId> {
    if s.len() != 16 && s.len() != 32 {
        return None;
    }
    hex_u128(s).filter(|v| *v != 0).map(TraceId)
}

/// Parses a `b3` single header: `{trace}-{span}[-{sampling}[-{parent}]]`, or `{sampling}`.
pub fn parse_b3_single(value: &str) -> Result<Extracted, Error> {
    let err = |reason| Error::B3 {
        value: value.to_owned(),
        reason,
    };
    let v = value.trim();
    let parts: Vec<&str> = v.split('-').collect();
    if parts.len() == 1 {
        return match v {
            "0" => Ok(Extracted::SamplingOnly(Sampling::NotSampled)),
            "1" => Ok(Extracted::SamplingOnly(Sampling::Sampled)),
            "d" => Ok(Extracted::SamplingOnly(Sampling::Debug)),
            _ => Err(err("a lone value must be 0, 1 or d")),
        };
    }
    if parts.len() > 4 {
        return Err(err("too many fields"));
    }
    let trace_id = b3_trace_id(parts[0])
        .ok_or_else(|| err("trace id is not 16 or 32 lower-case hex digits"))?;
    let span_id = hex_u64(parts[1])
        .filter(|v| *v != 0)
        .ok_or_else(|| err("span id is not 16 lower-case hex digits"))?;
    let sampling = match parts.get(2) {
        Some(s) => match *s {
            "0" => Sampling::NotSampled,
            "1" => Sampling::Sampled,
            "d" => Sampling::Debug,
            _ => return Err(err("sampling state must be 0, 1 or d")),
        },
        None => Sampling::Deferred,
    };
    let parent_span_id = match parts.get(3) {
        Some(p) => {
            Some(SpanId(hex_u64(p).filter(|v| *v != 0).ok_or_else(|| {
                err("parent span id is not 16 lower-case hex digits")
            })?))
        }
        None => None,
    };
    Ok(Extracted::Context(TraceContext {
        trace_id,
        span_id: SpanId(span_id),
        parent_span_id,
        sampling,
        trace_state: None,
    }))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses the `x-b3-*` headers.
pub fn parse_b3_multi(headers: &HeaderMap) -> Result<Extracted, Error> {
    let err = |value: &str, reason| Error::B3 {
        value: value.to_owned(),
        reason,
    };
    let mut sampling = match header(headers, "x-b3-sampled") {
        Some(s) => b3_sampling(s)
            .filter(|d| *d != Sampling::Debug)
            .ok_or_else(|| err(s, "x-b3-sampled must be 0 or 1"))?,
        None => Sampling::Deferred,
    };
    if header(headers, "x-b3-flags") == Some("1") {
        sampling = Sampling::Debug;
    }
    let (Some(trace), Some(span)) = (
        header(headers, "x-b3-traceid"),
        header(headers, "x-b3-spanid"),
    ) else {
        return Ok(match sampling {
            Sampling::Deferred => Extracted::None,
            s => Extracted::SamplingOnly(s),
        });
    };
    let trace_id = b3_trace_id(trace)
        .ok_or_else(|| err(trace, "x-b3-traceid is not 16 or 32 lower-case hex digits"))?;
    let span_id = hex_u64(span)
        .filter(|v| *v != 0)
        .ok_or_else(|| err(span, "x-b3-spanid is not 16 lower-case hex digits"))?;
    let parent_span_id = match header(headers, "x-b3-parentspanid") {
        Some(p) => Some(SpanId(hex_u64(p).filter(|v| *v != 0).ok_or_else(|| {
            err(p, "x-b3-parentspanid is not 16 lower-case hex digits")
        })?)),
        None => None,
    };
    Ok(Extracted::Context(TraceContext {
        trace_id,
        span_id: SpanId(span_id),
        parent_span_id,
        sampling,
        trace_state: None,
    }))
}

/// Reads the trace context of a request: a valid `traceparent` wins, then `b3`, then
/// `x-b3-*`. Invalid headers are ignored, as the specifications require.
pub fn extract(headers: &HeaderMap) -> Extracted {
    if let Some(Ok(mut ctx)) = header(headers, "traceparent").map(parse_traceparent) {
        let states: Vec<&str> = headers
            .get_all("tracestate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if !states.is_empty() {
            ctx.trace_state = parse_tracestate(&states.join(","));
        }
        return Extracted::Context(ctx);
    }
    if let Some(Ok(e)) = header(headers, "b3").map(parse_b3_single) {
        return e;
    }
    parse_b3_multi(headers).unwrap_or(Extracted::None)
}

/// The context a proxy hop sends upstream: the trace, our span as the caller's span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingContext {
    /// The trace.
    pub trace_id: TraceId,
    /// Our span, the upstream's parent.
    pub span_id: SpanId,
    /// Our parent (for B3's parent span id).
    pub parent_span_id: Option<SpanId>,
    /// The decision, never `Deferred` once a proxy has decided.
    pub sampling: Sampling,
    /// The `tracestate` to pass on.
    pub trace_state: Option<String>,
}

impl OutgoingContext {
    /// The `traceparent` value.
    pub fn traceparent(&self) -> String {
        let flags = if self.sampling.is_sampled() {
            "01"
        } else {
            "00"
        };
        format!("00-{}-{}-{flags}", self.trace_id, self.span_id)
    }

    /// The `b3` single-header value.
    pub fn b3(&self) -> String {
        let state = match self.sampling {
            Sampling::Sampled => "-1",
            Sampling::NotSampled => "-0",
            Sampling::Debug => "-d",
            Sampling::Deferred => "",
        };
        match self.parent_span_id {
            Some(p) if !state.is_empty() => {
                format!("{}-{}{state}-{p}", self.trace_id, self.span_id)
            }
            _ => format!("{}-{}{state}", self.trace_id, self.span_id),
        }
    }

    /// Writes the chosen formats into `headers`, replacing what was there.
    pub fn inject(&self, headers: &mut HeaderMap, propagation: Propagation) {
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        if propagation.w3c {
            put("traceparent", self.traceparent());
            if let Some(ts) = &self.trace_state {
                put("tracestate", ts.clone());
            }
        }
        if propagation.b3_single {
            put("b3", self.b3());
        }
        if propagation.b3_multi {
            put("x-b3-traceid", self.trace_id.to_hex());
            put("x-b3-spanid", self.span_id.to_hex());
            if let Some(p) = self.parent_span_id {
                put("x-b3-parentspanid", p.to_hex());
            }
            match self.sampling {
                Sampling::Sampled => put("x-b3-sampled", "1".to_owned()),
                Sampling::NotSampled => put("x-b3-sampled", "0".to_owned()),
                Sampling::Debug => put("x-b3-flags", "1".to_owned()),
                Sampling::Deferred => {}
            }
        }
    }
}

/// A sampling rate, as Istio's `sampling` percentage (0 to 100, hundredths allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampler {
    /// Out of 1,000,000.
    threshold: u64,
}

impl Sampler {
    /// A sampler recording `percent` % of the traces it starts.
    pub fn new(percent: f64) -> Result<Sampler, Error> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(Error::SamplingRate { percent });
        }
        Ok(Sampler {
            threshold: (percent * 10_000.0).round() as u64,
        })
    }

    /// Istio's default: 1 %.
    pub fn istio_default() -> Sampler {
        Sampler { threshold: 10_000 }
    }

    /// Decides for a trace: an upstream decision wins; otherwise the trace id decides, so
    /// every proxy that has to decide for the same trace decides the same way.
    pub fn decide(&self, incoming: Sampling, trace_id: TraceId) -> Sampling {
        match incoming {
            Sampling::Deferred => {
                if (trace_id.0 as u64) % 1_000_000 < self.threshold {
                    Sampling::Sampled
                } else {
                    Sampling::NotSampled
                }
            }
            decided => decided,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trip() {
        let ctx = parse_traceparent(TP).expect("valid");
        assert_eq!(ctx.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id.to_hex(), "00f067aa0ba902b7");
        assert_eq!(ctx.sampling, Sampling::Sampled);
        let out = OutgoingContext {
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            parent_span_id: None,
            sampling: ctx.sampling,
            trace_state: None,
        };
        assert_eq!(out.traceparent(), TP);
    }

    #[test_case(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
        "version 00 must be exactly 55 characters"
    )]
    #[test_case(
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "version ff is invalid"
    )]
    #[test_case(
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "trace-id is all zeros"
    )]
    #[test_case(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "parent-id is all zeros"
    )]
    #[test_case(
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "trace-id is not 32 lower-case hex digits"
    )]
    #[test_case(
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "fields must be separated by '-'"
    )]
    #[test_case(
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        "a future version's extra fields must follow a '-'"
    )]
    fn traceparent_rejects(value: &str, reason: &str) {
        let err = parse_traceparent(value).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            format!("invalid traceparent {value:?}: {reason}")
        );
    }

    #[test]
    fn future_version_with_extra_fields_is_accepted() {
        let v = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-whatever";
        assert_eq!(
            parse_traceparent(v).expect("valid").sampling,
            Sampling::NotSampled
        );
    }

    #[test_case(
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
    )]
    #[test_case(" a=1 , ,b@sys=2 ", Some("a=1,b@sys=2") ; "whitespace and empty members")]
    #[test_case("a=1,a=2", None ; "duplicate key")]
    #[test_case("A=1", None ; "upper-case key")]
    #[test_case("a=b=c", None ; "equals in value")]
    fn tracestate(value: &str, expected: Option<&str>) {
        assert_eq!(parse_tracestate(value).as_deref(), expected);
    }

    #[test]
    fn b3_single_forms() {
        let e =
            parse_b3_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")
                .expect("valid");
        let Extracted::Context(ctx) = e else {
            panic!("context expected")
        };
        assert_eq!(ctx.trace_id.to_hex(), "80f198ee56343ba864fe8b2a57d3eff7");
        assert_eq!(ctx.parent_span_id, Some(SpanId(0x05e3ac9a4f6e3b90)));
        assert_eq!(ctx.sampling, Sampling::Sampled);
        let Extracted::Context(ctx) =
            parse_b3_single("64fe8b2a57d3eff7-e457b5a2e4d86bd1").expect("valid")
        else {
            panic!("context expected")
        };
        assert_eq!(
            ctx.trace_id,
            TraceId(0x64fe8b2a57d3eff7),
            "64-bit ids are left-padded"
        );
        assert_eq!(ctx.sampling, Sampling::Deferred);
        assert_eq!(
            parse_b3_single("0").expect("valid"),
            Extracted::SamplingOnly(Sampling::NotSampled)
        );
        assert_eq!(
            parse_b3_single("d").expect("valid"),
            Extracted::SamplingOnly(Sampling::Debug)
        );
        assert!(parse_b3_single("x").is_err());
        assert!(parse_b3_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-2").is_err());
    }

    #[test]
    fn b3_multi_and_precedence() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-b3-traceid",
            HeaderValue::from_static("463ac35c9f6413ad48485a3953bb6124"),
        );
        h.insert("x-b3-spanid", HeaderValue::from_static("a2fb4a1d1a96d312"));
        h.insert(
            "x-b3-parentspanid",
            HeaderValue::from_static("0020000000000001"),
        );
        h.insert("x-b3-sampled", HeaderValue::from_static("1"));
        let Extracted::Context(ctx) = extract(&h) else {
            panic!("context expected")
        };
        assert_eq!(ctx.span_id.to_hex(), "a2fb4a1d1a96d312");
        assert_eq!(ctx.sampling, Sampling::Sampled);
        h.insert("traceparent", HeaderValue::from_static(TP));
        h.insert(
            "tracestate",
            HeaderValue::from_static("rojo=00f067aa0ba902b7"),
        );
        let Extracted::Context(ctx) = extract(&h) else {
            panic!("context expected")
        };
        assert_eq!(
            ctx.trace_id.to_hex(),
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "traceparent wins"
        );
        assert_eq!(ctx.trace_state.as_deref(), Some("rojo=00f067aa0ba902b7"));
        let mut h = HeaderMap::new();
        h.insert("x-b3-sampled", HeaderValue::from_static("0"));
        assert_eq!(extract(&h), Extracted::SamplingOnly(Sampling::NotSampled));
        h.insert("x-b3-flags", HeaderValue::from_static("1"));
        assert_eq!(extract(&h), Extracted::SamplingOnly(Sampling::Debug));
        assert_eq!(extract(&HeaderMap::new()), Extracted::None);
    }

    #[test]
    fn inject_all_formats() {
        let out = OutgoingContext {
            trace_id: TraceId(0x463ac35c9f6413ad48485a3953bb6124),
            span_id: SpanId(0xa2fb4a1d1a96d312),
            parent_span_id: Some(SpanId(0x0020000000000001)),
            sampling: Sampling::Sampled,
            trace_state: Some("rojo=1".into()),
        };
        let mut h = HeaderMap::new();
        out.inject(
            &mut h,
            Propagation {
                w3c: true,
                b3_multi: true,
                b3_single: true,
            },
        );
        assert_eq!(
            h["traceparent"],
            "00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01"
        );
        assert_eq!(h["tracestate"], "rojo=1");
        assert_eq!(
            h["b3"],
            "463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-1-0020000000000001"
        );
        assert_eq!(h["x-b3-sampled"], "1");
        assert_eq!(h["x-b3-parentspanid"], "0020000000000001");
        // What we write, we read back.
        let Extracted::Context(ctx) = extract(&h) else {
            panic!("context expected")
        };
        assert_eq!(ctx.span_id, out.span_id);
    }

    #[test]
    fn sampler() {
        assert!(Sampler::new(101.0).is_err());
        let none = Sampler::new(0.0).expect("valid");
        let all = Sampler::new(100.0).expect("valid");
        let id = TraceId::random();
        assert_eq!(none.decide(Sampling::Deferred, id), Sampling::NotSampled);
        assert_eq!(all.decide(Sampling::Deferred, id), Sampling::Sampled);
        assert_eq!(
            none.decide(Sampling::Debug, id),
            Sampling::Debug,
            "upstream decision wins"
        );
        assert_eq!(all.decide(Sampling::NotSampled, id), Sampling::NotSampled);
        let half = Sampler::new(50.0).expect("valid");
        let sampled = (0..10_000)
            .filter(|_| {
                half.decide(Sampling::Deferred, TraceId::random())
                    .is_sampled()
            })
            .count();
        assert!(
            (4_000..6_000).contains(&sampled),
            "{sampled} of 10000 at 50 %"
        );
    }
}
