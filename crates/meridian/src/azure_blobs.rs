//! The Azure apps' blob bindings on the node's buckets: each read and write is an S3
//! request to the node's own S3 endpoint, signed with its first long-term key, so that
//! bucket policies, versioning and notifications (an output blob can trigger another
//! function) apply as to any client's request. An output's missing container is made, as
//! the host's output binding makes it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use meridian_functions::azure::blob::{Blob, BlobStore};
use meridian_functions::stream_events::BoxFuture;
use meridian_storage::plane::StoragePlane;

/// How long one request to the S3 endpoint may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The node's buckets as blob containers.
#[derive(Debug)]
pub(crate) struct BucketBlobs {
    addr: SocketAddr,
    region: String,
    storage: Arc<StoragePlane>,
}

impl BucketBlobs {
    pub(crate) fn new(storage: Arc<StoragePlane>, region: &str) -> Self {
        Self {
            addr: storage.s3_addr(),
            region: region.to_owned(),
            storage,
        }
    }

    /// `/<bucket>/<key>`, each key byte outside S3's unreserved set percent-encoded.
    fn path(container: &str, blob: &str) -> String {
        format!("/{container}/{}", encode(blob, false))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        self.send_query(method, path, "", body).await
    }

    async fn send_query(
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
        let mut headers = HeaderMap::new();
        let host = HeaderValue::from_str(&self.addr.to_string()).map_err(|e| e.to_string())?;
        headers.insert(header::HOST, host);
        let amz = meridian_storage::sigv4::format_amz_date(time::OffsetDateTime::now_utc());
        headers.insert(
            "x-amz-date",
            HeaderValue::from_str(&amz).map_err(|e| e.to_string())?,
        );
        headers.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static("UNSIGNED-PAYLOAD"),
        );
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
                headers: &headers,
                authority: None,
                body: b"",
            },
            &access_key,
            &secret,
            &self.region,
            "s3",
            &amz,
            &signed,
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&auth).map_err(|e| e.to_string())?,
        );
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
            let tcp = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("cannot reach the S3 endpoint {}: {e}", self.addr))?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                    .await
                    .map_err(|e| e.to_string())?;
            let conn = tokio::spawn(conn);
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            conn.abort();
            Ok::<_, String>((parts.status, parts.headers, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| "the S3 endpoint did not answer in time".to_owned())?
    }
}

/// `s` percent-encoded outside S3's unreserved set (and `/`, unless `slash` asks for it).
fn encode(s: &str, slash: bool) -> String {
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

/// The text of each `<tag>` element of a ListObjectsV2 answer, unescaped.
fn elements(xml: &str, tag: &str) -> Vec<String> {
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
fn error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("<Code>")
        .and_then(|(_, r)| r.split_once("</Code>"))
        .map_or_else(|| text.trim().to_owned(), |(c, _)| c.to_owned())
}

/// `Last-Modified` (an HTTP date) as RFC 3339, as the host's `LastModified` is shown.
fn rfc3339(http_date: &str) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(http_date, format)
        .ok()
        .and_then(|t| {
            t.assume_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| http_date.to_owned())
}

impl BlobStore for BucketBlobs {
    fn get<'a>(
        &'a self,
        container: &'a str,
        blob: &'a str,
    ) -> BoxFuture<'a, Result<Option<Blob>, String>> {
        Box::pin(async move {
            let (status, headers, body) = self
                .send(Method::GET, &Self::path(container, blob), Bytes::new())
                .await?;
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(format!("S3 answered {status}: {}", error_code(&body)));
            }
            let text = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let metadata: BTreeMap<String, String> = headers
                .iter()
                .filter_map(|(k, v)| {
                    let name = k.as_str().strip_prefix("x-amz-meta-")?;
                    Some((name.to_owned(), v.to_str().ok()?.to_owned()))
                })
                .collect();
            Ok(Some(Blob {
                content_type: text("content-type"),
                etag: text("etag"),
                last_modified: rfc3339(&text("last-modified")),
                metadata,
                data: body,
            }))
        })
    }

    fn put<'a>(
        &'a self,
        container: &'a str,
        blob: &'a str,
        data: Bytes,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let path = Self::path(container, blob);
            let (mut status, _, mut body) = self.send(Method::PUT, &path, data.clone()).await?;
            // The host's output binding makes a missing container; so does this one.
            if status == StatusCode::NOT_FOUND && error_code(&body) == "NoSuchBucket" {
                let (made, _, answer) = self
                    .send(Method::PUT, &format!("/{container}"), Bytes::new())
                    .await?;
                if !made.is_success() && error_code(&answer) != "BucketAlreadyOwnedByYou" {
                    return Err(format!(
                        "the container {container} does not exist and cannot be made: S3 answered {made}: {}",
                        error_code(&answer)
                    ));
                }
                tracing::info!(bucket = %container, "bucket created: the container of a blob output binding did not exist");
                (status, _, body) = self.send(Method::PUT, &path, data).await?;
            }
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("S3 answered {status}: {}", error_code(&body)))
            }
        })
    }

    fn list<'a>(
        &'a self,
        container: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let mut names = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut query = format!("list-type=2&prefix={}", encode(prefix, true));
                if let Some(t) = &token {
                    query = format!("continuation-token={}&{query}", encode(t, true));
                }
                let (status, _, body) = self
                    .send_query(Method::GET, &format!("/{container}"), &query, Bytes::new())
                    .await?;
                if status == StatusCode::NOT_FOUND {
                    return Ok(names);
                }
                if !status.is_success() {
                    return Err(format!("S3 answered {status}: {}", error_code(&body)));
                }
                let xml = String::from_utf8_lossy(&body);
                names.extend(elements(&xml, "Key"));
                token = elements(&xml, "NextContinuationToken").into_iter().next();
                if elements(&xml, "IsTruncated").first().map(String::as_str) != Some("true")
                    || token.is_none()
                {
                    return Ok(names);
                }
            }
        })
    }

    fn url(&self, container: &str, blob: &str) -> String {
        format!("http://{}{}", self.addr, Self::path(container, blob))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_answers_are_read() {
        let xml = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b.txt</Key></Contents><Contents><Key>c/d</Key></Contents></ListBucketResult>";
        assert_eq!(elements(xml, "Key"), ["a&b.txt", "c/d"]);
        assert_eq!(elements(xml, "IsTruncated"), ["false"]);
        assert_eq!(encode("a b/c", true), "a%20b%2Fc");
    }

    #[test]
    fn keys_are_encoded_and_dates_converted() {
        assert_eq!(
            BucketBlobs::path("c0n", "a b/ü+x.txt"),
            "/c0n/a%20b/%C3%BC%2Bx.txt"
        );
        assert_eq!(
            rfc3339("Sun, 06 Dec 2026 12:00:30 GMT"),
            "2026-12-06T12:00:30Z"
        );
    }
}
