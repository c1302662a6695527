//! The blob bindings of Azure Functions apps on Meridian's buckets: a container is a bucket
//! of the same name, a blob an object.
//!
//! * `blobTrigger`: the node declares, for each trigger, a notification configuration on its
//!   container's bucket (`s3:ObjectCreated:*`, the pattern's literal start as the key
//!   prefix, the id `<app>/<function>`). The storage plane writes each event in the same
//!   commit as the object; the bucket-event deliverer moves it to the app's durable queue.
//!   When the queue delivers it, [`BlobEvents`] reads the object, matches the trigger's
//!   pattern (a blob the pattern does not match is skipped, as the host's listener skips
//!   it), and invokes the function with the blob's bytes and the binding data the host gives
//!   (`BlobTrigger`, `Uri`, `Properties`, `Metadata` and the pattern's captures).
//! * A failed invocation is tried again, as the host tries a blob five times: the app's
//!   queue retries it four times, a few seconds apart (the host retries at once, its queue's
//!   visibility timeout being zero; a short wait keeps a failing function from spinning).
//!   After the fifth failure the host's poison message (`webjobs-blobtrigger-poison`) is
//!   written under the state directory and logged.
//! * The first time a trigger is in force, the blobs already in its container are queued
//!   for it too, as the host's first scan finds the blobs that have no receipt yet; a marker
//!   under `<state>/azure/<app>/blobscan/` keeps later starts and reloads from doing it again.
//! * `blob` inputs are read before the invocation and `blob` outputs written after it, with
//!   their paths resolved from the invocation's binding data; a missing input is `null`,
//!   a path that cannot be resolved or an output that cannot be written fails the invocation.

use std::collections::BTreeMap;

use bytes::Bytes;
use meridian_config::azure::BlobPath;

use crate::stream_events::BoxFuture;

/// A blob as the bindings see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blob {
    /// Its bytes.
    pub data: Bytes,
    /// `Content-Type`.
    pub content_type: String,
    /// The entity tag, quoted.
    pub etag: String,
    /// `Last-Modified`, as RFC 3339.
    pub last_modified: String,
    /// User metadata (`x-amz-meta-*`).
    pub metadata: BTreeMap<String, String>,
}

/// Where the blob bindings read and write: Meridian's buckets.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// The blob, or `None` when it (or its container) does not exist.
    fn get<'a>(
        &'a self,
        container: &'a str,
        blob: &'a str,
    ) -> BoxFuture<'a, Result<Option<Blob>, String>>;

    /// Writes a blob, replacing any with that name.
    fn put<'a>(
        &'a self,
        container: &'a str,
        blob: &'a str,
        data: Bytes,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// The names of the blobs in a container that start with `prefix` (none when the
    /// container does not exist).
    fn list<'a>(
        &'a self,
        container: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;

    /// The blob's URL.
    fn url(&self, container: &str, blob: &str) -> String;
}

/// A `blob` input or output binding of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobBinding {
    pub name: String,
    pub output: bool,
    pub path: BlobPath,
    /// `string` gives the worker text rather than bytes.
    pub data_type: Option<String>,
}

/// A function's `blobTrigger`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobTriggerSpec {
    pub path: BlobPath,
    /// `string` gives the worker text rather than bytes.
    pub data_type: Option<String>,
}

/// `{DateTime}` as the host renders it (`2018-02-16T17-59-55Z`), or with a .NET format of
/// `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss` and literals.
fn date_time(now: time::OffsetDateTime, format: Option<&str>) -> String {
    let format = format.unwrap_or("yyyy-MM-ddTHH-mm-ssZ");
    let mut out = String::new();
    let mut rest = format;
    while !rest.is_empty() {
        let (text, n) = if let Some(r) = rest.strip_prefix("yyyy") {
            (format!("{:04}", now.year()), rest.len() - r.len())
        } else if let Some(r) = rest.strip_prefix("MM") {
            (
                format!("{:02}", u8::from(now.month())),
                rest.len() - r.len(),
            )
        } else if let Some(r) = rest.strip_prefix("dd") {
            (format!("{:02}", now.day()), rest.len() - r.len())
        } else if let Some(r) = rest.strip_prefix("HH") {
            (format!("{:02}", now.hour()), rest.len() - r.len())
        } else if let Some(r) = rest.strip_prefix("mm") {
            (format!("{:02}", now.minute()), rest.len() - r.len())
        } else if let Some(r) = rest.strip_prefix("ss") {
            (format!("{:02}", now.second()), rest.len() - r.len())
        } else {
            let c = rest.chars().next().unwrap_or_default();
            (c.to_string(), c.len_utf8())
        };
        out.push_str(&text);
        rest = &rest[n..];
    }
    out
}

/// Resolves a binding's path from an invocation's binding data (names match regardless of
/// case, as the host's do) and the host's own expressions.
pub(crate) fn resolve(
    path: &BlobPath,
    data: &BTreeMap<String, String>,
) -> Result<(String, String), String> {
    let now = time::OffsetDateTime::now_utc();
    path.resolve(|name, format| {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "rand-guid" | "sys.randguid" => Some(uuid::Uuid::new_v4().to_string()),
            "datetime" | "sys.utcnow" => Some(date_time(now, format)),
            _ => data
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone()),
        }
    })
    .map_err(|missing| {
        format!(
            "the path '{path}' uses '{{{missing}}}', which this invocation's binding data does not have"
        )
    })
}

/// The trigger metadata the host gives a blob-triggered invocation, in its casing (the
/// workers camel-case it as the real ones do).
pub(crate) fn trigger_metadata(
    container: &str,
    blob_name: &str,
    url: &str,
    blob: &Blob,
    captures: &BTreeMap<String, String>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (k, v) in captures {
        m.insert(k.clone(), serde_json::Value::from(v.clone()));
    }
    m.insert(
        "BlobTrigger".into(),
        serde_json::Value::from(format!("{container}/{blob_name}")),
    );
    m.insert("Uri".into(), serde_json::Value::from(url));
    m.insert(
        "Properties".into(),
        serde_json::json!({
            "BlobType": "Block",
            "ContentType": blob.content_type,
            "ContentLength": blob.data.len(),
            "ETag": blob.etag,
            "LastModified": blob.last_modified,
            "CreatedOn": blob.last_modified,
        }),
    );
    m.insert(
        "Metadata".into(),
        serde_json::to_value(&blob.metadata).unwrap_or_default(),
    );
    m
}

/// A blob value for the worker: text for `dataType: string`, else base64 bytes.
pub(crate) fn to_worker(data: &[u8], data_type: Option<&str>) -> serde_json::Value {
    if data_type.is_some_and(|t| t.eq_ignore_ascii_case("string")) {
        serde_json::json!({"string": String::from_utf8_lossy(data)})
    } else {
        serde_json::json!({"bytes": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data)})
    }
}

/// The bytes of an output the worker returned: `{"bytes": base64}`, `{"string": text}` or
/// `{"json": text}`.
pub(crate) fn from_worker(v: &serde_json::Value) -> Result<Bytes, String> {
    if let Some(b) = v.get("bytes").and_then(|b| b.as_str()) {
        return base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b)
            .map(Bytes::from)
            .map_err(|e| format!("the worker's bytes are not base64: {e}"));
    }
    match v
        .get("string")
        .or_else(|| v.get("json"))
        .and_then(|s| s.as_str())
    {
        Some(s) => Ok(Bytes::from(s.to_owned())),
        None => Err(format!(
            "the worker returned an output of no known shape: {v}"
        )),
    }
}

/// The S3 event key of a record, decoded (`+` is a space, `%xx` a byte).
pub(crate) fn event_key(raw: &str) -> String {
    let plus = raw.replace('+', " ");
    let bytes = plus.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = plus
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_render_as_the_host_does() {
        let t = time::macros::datetime!(2018-02-16 17:59:55 UTC);
        assert_eq!(date_time(t, None), "2018-02-16T17-59-55Z");
        assert_eq!(date_time(t, Some("yyyy/MM/dd")), "2018/02/16");
    }

    #[test]
    fn paths_resolve_case_insensitively_and_name_what_is_missing() {
        let p = BlobPath::parse("out/{Name}-{rand-guid}").unwrap();
        let data = BTreeMap::from([("name".to_owned(), "a".to_owned())]);
        let (c, b) = resolve(&p, &data).unwrap();
        assert_eq!(c, "out");
        assert!(b.starts_with("a-") && b.len() == 2 + 36, "{b}");
        let e = resolve(&BlobPath::parse("out/{id}").unwrap(), &data).unwrap_err();
        assert!(e.contains("'{id}'"), "{e}");
    }

    #[test]
    fn event_keys_are_decoded() {
        assert_eq!(event_key("a+b%2Fc.txt"), "a b/c.txt");
        assert_eq!(event_key("%E2%9C%93"), "✓");
    }
}
