//! The node's own S3 API as a client, for what the node itself keeps in buckets: the Azure
//! apps' blob bindings ([`crate::azure_blobs`]), the Terraform modules' bucket policies
//! applied at `up` ([`crate::edge`]) and the distributions' standard logs
//! ([`crate::edge_logs`]). Each request is signed with SigV4 as a client's would be (the
//! node's first long-term key), so bucket policies, versioning and notifications apply to
//! it as to anyone's. [`Signer`] is the signing alone, which the edge's origin access
//! control shares.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::Full;
use meridian_storage::plane::StoragePlane;

/// How long one request to the S3 endpoint may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// SigV4 for S3 with one key, over the `host`, `x-amz-content-sha256` and `x-amz-date`
/// fields.
#[derive(Debug)]
pub(crate) struct Signer {
    pub(crate) access_key: String,
    pub(crate) secret: String,
    pub(crate) region: String,
}

impl Signer {
    /// Signs a request (its `host` field already set) whose `x-amz-content-sha256` is
    /// `payload` (a hash, or `UNSIGNED-PAYLOAD`).
    pub(crate) fn sign(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &mut HeaderMap,
        payload: &'static str,
    ) {
        let amz = meridian_storage::sigv4::format_amz_date(time::OffsetDateTime::now_utc());
        let Ok(date) = HeaderValue::from_str(&amz) else {
            return;
        };
        headers.insert("x-amz-date", date);
        headers.insert("x-amz-content-sha256", HeaderValue::from_static(payload));
        let signed = [
            "host".to_owned(),
            "x-amz-content-sha256".to_owned(),
            "x-amz-date".to_owned(),
        ];
        let auth = meridian_storage::sigv4::sign(
            &meridian_storage::sigv4::SignedRequest {
                method: method.as_str(),
                path,
                query,
                headers,
                authority: None,
                body: b"",
            },
            &self.access_key,
            &self.secret,
            &self.region,
            "s3",
            &amz,
            &signed,
        );
        if let Ok(v) = HeaderValue::from_str(&auth) {
            headers.insert(header::AUTHORIZATION, v);
        }
    }
}

/// The node's S3 endpoint, as a client.
#[derive(Debug, Clone)]
pub(crate) struct NodeS3 {
    addr: SocketAddr,
    region: String,
    storage: Arc<StoragePlane>,
}

impl NodeS3 {
    pub(crate) fn new(storage: Arc<StoragePlane>, region: &str) -> Self {
        Self {
            addr: storage.s3_addr(),
            region: region.to_owned(),
            storage,
        }
    }

    /// Where the endpoint listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One request: status, fields and body of the answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let (access_key, secret) = self
            .storage
            .keys
            .long_term()
            .into_iter()
            .next()
            .ok_or_else(|| "the node has no access key to sign with".to_owned())?;
        let signer = Signer {
            access_key,
            secret,
            region: self.region.clone(),
        };
        let mut headers = HeaderMap::new();
        let host = HeaderValue::from_str(&self.addr.to_string()).map_err(|e| e.to_string())?;
        headers.insert(header::HOST, host);
        signer.sign(&method, path, query, &mut headers, "UNSIGNED-PAYLOAD");
        if method == Method::PUT {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        let uri = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        *req.headers_mut() = headers;
        let exchange = async {
            let resp = meridian_http_client::request(self.addr, req, usize::MAX)
                .await
                .map_err(|e| match e {
                    meridian_http_client::Error::Connect { source, .. } => {
                        format!("cannot reach the S3 endpoint {}: {source}", self.addr)
                    }
                    e => e.to_string(),
                })?;
            let (parts, body) = resp.into_parts();
            Ok::<_, String>((parts.status, parts.headers, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| "the S3 endpoint did not answer in time".to_owned())?
    }
}

/// `/<bucket>/<key>`, each key byte outside S3's unreserved set percent-encoded.
pub(crate) fn object_path(bucket: &str, key: &str) -> String {
    format!("/{bucket}/{}", encode(key, false))
}

/// `s` percent-encoded outside S3's unreserved set (and `/`, unless `slash` asks for it).
pub(crate) fn encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !slash)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of each `<tag>` element of an S3 answer, unescaped.
pub(crate) fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some((_, after)) = rest.split_once(open.as_str()) {
        let Some((text, tail)) = after.split_once(close.as_str()) else {
            break;
        };
        out.push(
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = tail;
    }
    out
}

/// The S3 error code of an error response (`NoSuchKey`), for messages.
pub(crate) fn error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("<Code>")
        .and_then(|(_, r)| r.split_once("</Code>"))
        .map_or_else(|| text.trim().to_owned(), |(c, _)| c.to_owned())
}
