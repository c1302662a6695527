//! CloudFront's standard access logs (the legacy format's 33 tab-separated fields): one
//! line per viewer request, handed to an [`AccessLog`] that delivers them (the node writes
//! them to the distribution's `logging_config` bucket as CloudFront does).

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Uri, Version};

/// The `#Fields:` line's names, in order.
pub const FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";

/// Where a distribution's log lines go.
pub trait AccessLog: Send + Sync + fmt::Debug {
    /// Takes one line (no newline).
    fn record(&self, line: String);
}

/// What the edge knows of a request when its response head is ready.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) version: Version,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) scheme: &'a str,
    pub(crate) peer: SocketAddr,
}

/// What the edge answered.
pub(crate) struct Answer<'a> {
    pub(crate) status: StatusCode,
    pub(crate) headers: &'a HeaderMap,
    /// Body bytes, when known.
    pub(crate) body: Option<u64>,
    pub(crate) request_id: &'a str,
    pub(crate) taken: Duration,
    /// The result type (`Hit`, `RefreshHit`, `Miss`, `Error`, `Redirect`).
    pub(crate) result: &'static str,
}

/// A field as CloudFront writes it: `-` when empty, URL-encoded where spaces or other
/// characters outside the printable set would break the tab-separated line.
fn field(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('-');
        return;
    }
    for b in value.bytes() {
        if b.is_ascii_graphic() && b != b'%' && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The line for one request; `domain` is the distribution's (`cs(Host)`), `cookies` whether
/// `include_cookies` is on.
pub(crate) fn line(
    now: time::OffsetDateTime,
    pop: &str,
    domain: &str,
    cookies: bool,
    req: &Request<'_>,
    answer: &Answer<'_>,
) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}\t{:02}:{:02}:{:02}\t",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    // Response head: status line and fields, as sent.
    let head: u64 = 17
        + answer
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().len() + v.len() + 4) as u64)
            .sum::<u64>();
    let request_head: u64 = (req.method.as_str().len()
        + req.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + 12) as u64
        + req
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().len() + v.len() + 4) as u64)
            .sum::<u64>();
    let request_body: u64 = text(req.headers, &header::CONTENT_LENGTH)
        .parse()
        .unwrap_or(0);
    let body = answer.body.unwrap_or(0);
    let host = text(req.headers, &header::HOST);
    let protocol_version = match req.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let seconds = format!("{:.3}", answer.taken.as_secs_f64());
    let fields: [&str; 4] = [
        pop,
        &(head + body).to_string(),
        &req.peer.ip().to_string(),
        req.method.as_str(),
    ];
    for f in fields {
        field(&mut out, f);
        out.push('\t');
    }
    field(&mut out, domain);
    out.push('\t');
    field(&mut out, req.uri.path());
    out.push('\t');
    let _ = write!(out, "{}\t", answer.status.as_u16());
    field(&mut out, text(req.headers, &header::REFERER));
    out.push('\t');
    field(&mut out, text(req.headers, &header::USER_AGENT));
    out.push('\t');
    field(&mut out, req.uri.query().unwrap_or(""));
    out.push('\t');
    field(
        &mut out,
        if cookies {
            text(req.headers, &header::COOKIE)
        } else {
            ""
        },
    );
    out.push('\t');
    let content_range = text(answer.headers, &header::CONTENT_RANGE);
    let range = content_range
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('/'))
        .and_then(|(r, _)| r.split_once('-'));
    let rest: [&str; 20] = [
        answer.result,
        answer.request_id,
        host,
        req.scheme,
        &(request_head + request_body).to_string(),
        &seconds,
        text(
            req.headers,
            &header::HeaderName::from_static("x-forwarded-for"),
        ),
        "",
        "",
        answer.result,
        protocol_version,
        "",
        "",
        &req.peer.port().to_string(),
        &seconds,
        answer.result,
        text(answer.headers, &header::CONTENT_TYPE),
        &answer.body.map(|b| b.to_string()).unwrap_or_default(),
        range.map_or("", |(start, _)| start),
        range.map_or("", |(_, end)| end),
    ];
    for (i, f) in rest.iter().enumerate() {
        field(&mut out, f);
        if i + 1 < rest.len() {
            out.push('\t');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_cloudfronts_33_fields_in_order() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            "d1.cloudfront.localhost:8480".parse().unwrap(),
        );
        headers.insert(header::USER_AGENT, "curl/8.5 (x86 64)".parse().unwrap());
        headers.insert(header::COOKIE, "a=1".parse().unwrap());
        let mut answered = HeaderMap::new();
        answered.insert(header::CONTENT_TYPE, "text/html".parse().unwrap());
        answered.insert(header::CONTENT_RANGE, "bytes 0-9/100".parse().unwrap());
        let uri: Uri = "/index.html?x=1".parse().unwrap();
        let req = Request {
            method: &Method::GET,
            uri: &uri,
            version: Version::HTTP_11,
            headers: &headers,
            scheme: "https",
            peer: "127.0.0.1:50000".parse().unwrap(),
        };
        let answer = Answer {
            status: StatusCode::PARTIAL_CONTENT,
            headers: &answered,
            body: Some(10),
            request_id: "abc==",
            taken: Duration::from_millis(2),
            result: "Hit",
        };
        let now = time::macros::datetime!(2026-12-06 09:05:07 UTC);
        let line = line(
            now,
            "MRD50-C1",
            "d1.cloudfront.localhost",
            false,
            &req,
            &answer,
        );
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), FIELDS.split(' ').count());
        assert_eq!(f.len(), 33);
        let at = |name: &str| f[FIELDS.split(' ').position(|n| n == name).unwrap()];
        assert_eq!((at("date"), at("time")), ("2026-12-06", "09:05:07"));
        assert_eq!(at("c-ip"), "127.0.0.1");
        assert_eq!(at("cs-uri-stem"), "/index.html");
        assert_eq!(at("cs-uri-query"), "x=1");
        assert_eq!(at("sc-status"), "206");
        assert_eq!(at("cs(User-Agent)"), "curl/8.5%20(x86%2064)");
        assert_eq!(at("cs(Cookie)"), "-", "cookies only with include_cookies");
        assert_eq!(at("x-edge-result-type"), "Hit");
        assert_eq!(at("x-host-header"), "d1.cloudfront.localhost:8480");
        assert_eq!(at("cs-protocol"), "https");
        assert_eq!(at("time-taken"), "0.002");
        assert_eq!(at("c-port"), "50000");
        assert_eq!(at("sc-content-len"), "10");
        assert_eq!((at("sc-range-start"), at("sc-range-end")), ("0", "9"));
        assert!(at("sc-bytes").parse::<u64>().unwrap() > 10);
    }
}
