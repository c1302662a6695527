//! The Azure apps' blob bindings on the node's buckets: each read and write is a request
//! to the node's own S3 API ([`crate::node_s3`]), so that bucket policies, versioning and
//! notifications (an output blob can trigger another function) apply as to any client's
//! request. An output's missing container is made, as the host's output binding makes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use meridian_functions::azure::blob::{Blob, BlobStore};
use meridian_functions::stream_events::BoxFuture;
use meridian_storage::plane::StoragePlane;

use crate::node_s3::{NodeS3, elements, encode, error_code, object_path};

/// The node's buckets as blob containers.
#[derive(Debug)]
pub(crate) struct BucketBlobs {
    s3: NodeS3,
}

impl BucketBlobs {
    pub(crate) fn new(storage: Arc<StoragePlane>, region: &str) -> Self {
        Self {
            s3: NodeS3::new(storage, region),
        }
    }

    /// `/<bucket>/<key>`.
    fn path(container: &str, blob: &str) -> String {
        object_path(container, blob)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        self.s3.send(method, path, "", body).await
    }

    async fn send_query(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        self.s3.send(method, path, query, body).await
    }
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
        format!("http://{}{}", self.s3.addr(), Self::path(container, blob))
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
