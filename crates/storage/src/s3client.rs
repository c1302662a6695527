//! The tables plane's S3 client: exports write their files into a bucket and imports read
//! theirs through the buckets endpoint, signed with the credential of whoever asked, so
//! that the bucket's policy and the caller's own permissions decide, as they do when
//! DynamoDB reaches S3 for an export or an import.
//!
//! One connection per request over loopback (a handful of requests per export or import
//! file); bodies are sent whole and read as a stream of chunks.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use crate::keys::Credential;
use crate::sigv4;

/// Where the buckets are served, and for which region requests are signed.
#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    /// The buckets endpoint.
    pub addr: SocketAddr,
    /// The region the endpoint serves.
    pub region: String,
}

/// Why a request to S3 did not succeed: S3's error code and message, or a transport
/// failure (`code` empty, `status` 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Failure {
    /// The HTTP status (0 when no answer came).
    pub status: u16,
    /// S3's error code (`NoSuchBucket`, `AccessDenied`...).
    pub code: String,
    /// S3's message.
    pub message: String,
}

impl S3Failure {
    fn malformed(what: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            code: String::new(),
            message: format!("the buckets endpoint answered a listing that cannot be read: {what}"),
        }
    }

    fn transport(what: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            code: String::new(),
            message: format!("the buckets endpoint could not be reached: {what}"),
        }
    }

    /// The failure as DynamoDB reports it on an export or an import: a code naming S3's
    /// error (`S3NoSuchBucket`, `S3AccessDenied`) and S3's message with its details.
    pub(crate) fn described(&self) -> (String, String) {
        if self.code.is_empty() {
            return ("UNKNOWN".to_owned(), self.message.clone());
        }
        (
            format!("S3{}", self.code),
            format!(
                "{} (Service: Amazon S3; Status Code: {}; Error Code: {})",
                self.message, self.status, self.code
            ),
        )
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// The key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A client acting as one caller.
pub(crate) struct S3Client {
    buckets: Buckets,
    cred: Arc<Credential>,
    /// The account that must own the bucket (`x-amz-expected-bucket-owner`), when the job
    /// names one.
    expected_owner: Option<String>,
    /// The server-side encryption headers of the objects it writes (an export's
    /// `S3SseAlgorithm` and `S3SseKmsKeyId`); none leaves them to the bucket's default.
    encryption: Vec<(&'static str, String)>,
}

/// Encodes a key for a path: each segment as SigV4 encodes it, `/` kept.
fn encode_path(s: &str, out: &mut String) {
    for (i, segment) in s.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&encode(segment));
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Everything but SigV4's unreserved characters is encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl S3Client {
    /// A client for `buckets` signing as `cred`.
    pub(crate) fn new(
        buckets: Buckets,
        cred: Arc<Credential>,
        expected_owner: Option<String>,
    ) -> Self {
        Self {
            buckets,
            cred,
            expected_owner,
            encryption: Vec::new(),
        }
    }

    /// Writes objects encrypted with `algorithm` (`AES256` or `KMS`), under `key_id` for
    /// KMS when given.
    pub(crate) fn encrypting(mut self, algorithm: &str, key_id: Option<&str>) -> Self {
        let kms = algorithm == "KMS";
        self.encryption.push((
            "x-amz-server-side-encryption",
            if kms { "aws:kms" } else { "AES256" }.to_owned(),
        ));
        if let (true, Some(k)) = (kms, key_id) {
            self.encryption
                .push(("x-amz-server-side-encryption-aws-kms-key-id", k.to_owned()));
        }
        self
    }

    /// Sends one signed request; answers the response of a 2xx, S3's error otherwise.
    async fn send(
        &self,
        method: &str,
        bucket: &str,
        key: Option<&str>,
        query: &str,
        body: Bytes,
    ) -> Result<http::Response<Incoming>, S3Failure> {
        let mut path = format!("/{}", encode(bucket));
        if let Some(k) = key {
            path.push('/');
            encode_path(k, &mut path);
        }
        let host = self.buckets.addr.to_string();
        let amz_date = sigv4::format_amz_date(time::OffsetDateTime::now_utc());
        let value = |s: &str| HeaderValue::from_str(s).map_err(S3Failure::transport);
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, value(&host)?);
        headers.insert("x-amz-date", value(&amz_date)?);
        headers.insert("x-amz-content-sha256", value(&sigv4::sha256_hex(&body))?);
        if let Some(token) = &self.cred.session_token {
            headers.insert("x-amz-security-token", value(token)?);
        }
        if let Some(owner) = &self.expected_owner {
            headers.insert("x-amz-expected-bucket-owner", value(owner)?);
        }
        if method == "PUT" {
            for (name, v) in &self.encryption {
                headers.insert(*name, value(v)?);
            }
        }
        let mut signed: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
        signed.sort();
        let authorization = sigv4::sign(
            &sigv4::SignedRequest {
                method,
                path: &path,
                query,
                headers: &headers,
                authority: None,
                body: &[],
            },
            &self.cred.access_key_id,
            &self.cred.secret_access_key,
            &self.buckets.region,
            "s3",
            &amz_date,
            &signed,
        );
        headers.insert(http::header::AUTHORIZATION, value(&authorization)?);
        let uri = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(S3Failure::transport)?;
        *request.headers_mut() = headers;
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(self.buckets.addr)
                .await
                .map_err(S3Failure::transport)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(S3Failure::transport)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "buckets connection ended");
                }
            });
            sender
                .send_request(request)
                .await
                .map_err(S3Failure::transport)
        };
        let response = tokio::time::timeout(IDLE, exchange)
            .await
            .map_err(|_| S3Failure::transport(format!("no answer in {} s", IDLE.as_secs())))??;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let doc = crate::s3::xml::parse(&body).ok();
        let text = |name: &str| {
            doc.as_ref()
                .and_then(|d| d.text_of(name))
                .unwrap_or_default()
                .to_owned()
        };
        let (code, message) = (text("Code"), text("Message"));
        Err(S3Failure {
            status,
            code: if code.is_empty() {
                // A HEAD answer has no body.
                match status {
                    404 => "NoSuchBucket".to_owned(),
                    403 => "AccessDenied".to_owned(),
                    _ => format!("Http{status}"),
                }
            } else {
                code
            },
            message: if message.is_empty() {
                match status {
                    404 => "The specified bucket does not exist".to_owned(),
                    403 => "Access Denied".to_owned(),
                    _ => String::new(),
                }
            } else {
                message
            },
        })
    }

    /// PutObject; answers the ETag.
    pub(crate) async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
    ) -> Result<String, S3Failure> {
        let response = self.send("PUT", bucket, Some(key), "", body).await?;
        Ok(response
            .headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned())
    }

    /// ListObjectsV2 over every page: the objects under `prefix`, in key order.
    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, S3Failure> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // Keys come URL-encoded, so that one with spaces at its ends or characters XML
            // cannot carry arrives as it is.
            let mut query = format!("encoding-type=url&list-type=2&prefix={}", encode(prefix));
            if let Some(t) = &token {
                query.push_str("&continuation-token=");
                query.push_str(&encode(t));
            }
            let response = self.send("GET", bucket, None, &query, Bytes::new()).await?;
            let body = tokio::time::timeout(IDLE, response.into_body().collect())
                .await
                .map_err(|_| S3Failure::transport(format!("no listing in {} s", IDLE.as_secs())))?
                .map_err(S3Failure::transport)?
                .to_bytes();
            let doc = crate::s3::xml::parse(&body).map_err(S3Failure::transport)?;
            for c in doc.children("Contents") {
                let raw = c.text_of("Key").unwrap_or_default().replace('+', " ");
                let key = percent_encoding::percent_decode_str(&raw)
                    .decode_utf8()
                    .map_err(|e| S3Failure::malformed(format!("a key is not UTF-8: {e}")))?
                    .into_owned();
                out.push(Listed {
                    key,
                    size: c
                        .text_of("Size")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_default(),
                });
            }
            match (
                doc.text_of("IsTruncated"),
                doc.text_of("NextContinuationToken"),
            ) {
                (Some("true"), Some(next)) if !next.is_empty() => token = Some(next.to_owned()),
                (Some("true"), _) => {
                    return Err(S3Failure::malformed(
                        "it is truncated and has no continuation token",
                    ));
                }
                _ => return Ok(out),
            }
        }
    }

    /// GetObject: the body as it arrives.
    pub(crate) async fn get_object(&self, bucket: &str, key: &str) -> Result<Incoming, S3Failure> {
        Ok(self
            .send("GET", bucket, Some(key), "", Bytes::new())
            .await?
            .into_body())
    }
}

/// How long the buckets endpoint may take to answer, or to send the next part of a body,
/// before a job gives up on it.
const IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// A body read as `std::io::Read` on a blocking thread: the chunks an async task pumps in.
pub(crate) struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    /// A reader of `body`, with the task that feeds it (spawned on the current runtime).
    pub(crate) fn of(mut body: Incoming) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            loop {
                let Ok(frame) = tokio::time::timeout(IDLE, body.frame()).await else {
                    let stalled = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the object's body stalled for {} s", IDLE.as_secs()),
                    );
                    let _ = tx.send(Err(stalled)).await;
                    return;
                };
                let Some(frame) = frame else { return };
                let chunk = match frame {
                    Ok(f) => match f.into_data() {
                        Ok(d) => Ok(d),
                        Err(_) => continue,
                    },
                    Err(e) => Err(std::io::Error::other(e)),
                };
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_slashes_and_encode_the_rest() {
        let mut out = String::new();
        encode_path("prefix/AWSDynamoDB/a b+c/ü.json.gz", &mut out);
        assert_eq!(out, "prefix/AWSDynamoDB/a%20b%2Bc/%C3%BC.json.gz");
    }

    #[test]
    fn a_failure_is_reported_as_dynamodb_names_it() {
        let f = S3Failure {
            status: 404,
            code: "NoSuchBucket".into(),
            message: "The specified bucket does not exist".into(),
        };
        let (code, message) = f.described();
        assert_eq!(code, "S3NoSuchBucket");
        assert!(message.starts_with("The specified bucket does not exist (Service: Amazon S3"));
        assert_eq!(S3Failure::transport("refused").described().0, "UNKNOWN");
    }
}
