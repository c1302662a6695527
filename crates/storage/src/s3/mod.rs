//! The S3-compatible API: buckets whose metadata lives in the engine the tables use
//! ([`store`]) and whose object bytes are files under the state directory, written to a
//! temporary file, fsynced and renamed before the row naming them commits.
//!
//! Hand-written over hyper and quick-xml rather than on the `s3s` crate: the plane already
//! has its SigV4 module, access keys and engine, which `s3s` would duplicate (its own auth,
//! its own hyper service stack and DTO layer of a few hundred operations); the error
//! documents, the `aws-chunked` decoder and the XML reader are small, bounded and fuzzed here.
//!
//! Request flow ([`api`]): route (path-style or `bucket.<domain>`), authenticate (SigV4 in
//! the `Authorization` header or a presigned query, then the caller's policy), dispatch to
//! [`bucket`], [`object`] or [`multipart`]. A body streams through [`body::Inbound`], which
//! decodes `aws-chunked` ([`chunked`]) and checks length, signatures, `Content-MD5` and the
//! additional checksums ([`checksum`]) while the bytes go to disk; a response body streams
//! from the files, and through [`sse`] when the object is encrypted at rest. Errors are S3's
//! XML documents ([`error`]).

pub mod acl;
pub mod api;
pub mod attributes;
pub mod body;
pub mod bucket;
pub mod checksum;
pub mod chunked;
pub mod config;
pub mod cors;
pub mod declared;
pub mod error;
pub mod lifecycle;
pub mod lock;
pub mod multipart;
pub mod notification;
pub mod object;
pub mod policy;
pub mod post;
pub mod sse;
pub mod store;
pub mod tagging;
pub mod version;
pub mod xml;

use std::path::Path;
use std::sync::Arc;

use crate::engine::{Engine, EngineError};
use store::Files;

/// Why the S3 plane could not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The object directory.
    #[error("cannot prepare {path}: {source}")]
    Files {
        /// The directory.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The S3 service over one engine and one object directory.
#[derive(Debug)]
pub struct S3 {
    engine: Engine,
    files: Files,
    /// The master key of server-side encryption.
    sse_keys: sse::Keys,
    /// The Object Ownership of buckets created without one, when not `BucketOwnerEnforced`.
    default_ownership: std::sync::OnceLock<String>,
    region: String,
    /// Each bucket's policy and public access block, for the request path.
    access: std::sync::RwLock<std::collections::HashMap<String, Arc<policy::Access>>>,
    /// Signalled after commits that may have queued event notifications.
    events: tokio::sync::Notify,
    /// Which Lambda functions exist, for PutBucketNotificationConfiguration to validate its
    /// destinations as S3 does; unset on a plane without functions, where none exist.
    functions: Functions,
}

#[derive(Default)]
struct Functions(std::sync::OnceLock<FunctionCheck>);

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Functions(set)"
        } else {
            "Functions(none)"
        })
    }
}

/// Tells whether a Lambda function ARN names a function that bucket events can invoke.
pub type FunctionCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl S3 {
    /// Opens the plane: object files under `dir` (`dir/tmp`, `dir/data`), metadata in
    /// `engine`.
    pub async fn open(engine: Engine, dir: &Path, region: &str) -> Result<Arc<Self>, OpenError> {
        let files = Files::open(dir).map_err(|source| OpenError::Files {
            path: dir.to_owned(),
            source,
        })?;
        let sse_keys = sse::Keys::open(dir).map_err(|source| OpenError::Files {
            path: dir.join("sse.key"),
            source,
        })?;
        engine
            .write(|txn| {
                store::create_tables(txn)?;
                notification::create_tables(txn).map(Ok::<(), ()>)
            })
            .await?
            .ok();
        let live = engine.read(store::live_files).await?;
        let access = engine
            .read(|txn| {
                let mut out = std::collections::HashMap::new();
                for e in redb::ReadableTable::iter(&txn.open_table(store::BUCKETS)?)? {
                    let (k, v) = e?;
                    let meta: store::BucketMeta = store::decode("s3/buckets", v.value())?;
                    out.insert(
                        k.value().to_owned(),
                        Arc::new(config::access_of(k.value(), &meta)),
                    );
                }
                Ok(out)
            })
            .await?;
        let swept = {
            let files = files.clone();
            tokio::task::spawn_blocking(move || files.sweep(&live))
                .await
                .map_err(|e| OpenError::Files {
                    path: dir.to_owned(),
                    source: std::io::Error::other(e),
                })?
                .map_err(|source| OpenError::Files {
                    path: dir.to_owned(),
                    source,
                })?
        };
        if swept > 0 {
            tracing::info!(files = swept, "removed object files no record names");
        }
        let s3 = Arc::new(Self {
            engine,
            files,
            sse_keys,
            default_ownership: std::sync::OnceLock::new(),
            region: region.to_owned(),
            access: std::sync::RwLock::new(access),
            events: tokio::sync::Notify::new(),
            functions: Functions::default(),
        });
        s3.spawn_lifecycle(lifecycle::SWEEP_INTERVAL);
        Ok(s3)
    }

    /// Sets the Object Ownership of buckets created without `x-amz-object-ownership`
    /// (`BucketOwnerEnforced` unless set), once, before serving.
    pub fn set_default_ownership(&self, ownership: &str) -> Result<(), String> {
        if !acl::OWNERSHIPS.contains(&ownership) {
            return Err(format!(
                "unknown Object Ownership {ownership:?}: one of {}",
                acl::OWNERSHIPS.join(", ")
            ));
        }
        self.default_ownership
            .set(ownership.to_owned())
            .map_err(|_| "the default Object Ownership is already set".to_owned())
    }

    /// Sets how notification destinations are validated: the functions plane's own
    /// lookup, once, before serving. Without one, a configuration naming a function is
    /// refused, as S3 refuses one whose function does not exist.
    pub fn set_function_check(&self, check: FunctionCheck) -> Result<(), String> {
        self.functions
            .0
            .set(check)
            .map_err(|_| "the notification destinations' check is already set".to_owned())
    }

    pub(crate) fn function_exists(&self, arn: &str) -> bool {
        self.functions.0.get().is_some_and(|check| check(arn))
    }

    pub(crate) fn default_ownership(&self) -> &str {
        self.default_ownership
            .get()
            .map_or(acl::ENFORCED, String::as_str)
    }

    /// The region this endpoint serves.
    pub fn region(&self) -> &str {
        &self.region
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn datetime(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `2009-10-12T17:50:30.000Z`, as S3's XML writes times.
pub(crate) fn iso8601(ms: i64) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    datetime(ms).format(&fmt).unwrap_or_default()
}

/// `Wed, 12 Oct 2009 17:50:30 GMT`, as S3's headers write times.
pub(crate) fn http_date(ms: i64) -> String {
    let secs = u64::try_from(ms / 1000).unwrap_or(0);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Feeds `input` to every parser of untrusted S3 input (request XML and the configuration
/// documents read from it, notifications included; POST policies and form part headers,
/// `aws-chunked` bodies whole and split, SigV4 headers and presigned queries, ranges, copy
/// sources, bucket names)
/// and checks that a chunked body decodes the same however it is split. Returns how many
/// parsers accepted it. The entry point of the `s3_request` fuzz target and its regression
/// replay.
pub fn exercise(input: &[u8]) -> usize {
    let mut accepted = 0;
    if let Ok(doc) = xml::parse(input) {
        accepted += 1;
        let _ = doc.text_of("Key");
    }
    for parsed in [
        lock::parse_config(input).is_ok(),
        lock::parse_retention(input).is_ok(),
        lock::parse_legal_hold(input).is_ok(),
        sse::parse_config(input).is_ok(),
        acl::parse_policy(input).is_ok(),
        post::check_policy(input, "bucket", &[("key".to_owned(), "k".to_owned())]).is_ok(),
        post::part_head(input).is_ok(),
        notification::parse(input).is_ok(),
    ] {
        if parsed {
            accepted += 1;
        }
    }
    let split = input.first().map_or(1, |b| usize::from(*b % 17) + 1);
    let whole = chunked::decode_all(input, input.len().max(1));
    let pieces = chunked::decode_all(input, split);
    assert_eq!(
        whole, pieces,
        "aws-chunked decoding depends on how the input is split"
    );
    if whole.is_ok() {
        accepted += 1;
    }
    if let Ok(text) = std::str::from_utf8(input) {
        if crate::sigv4::parse_authorization(text).is_ok() {
            accepted += 1;
        }
        if let Ok(Some(_)) = crate::sigv4::parse_presigned(text) {
            accepted += 1;
        }
        let _ = crate::sigv4::canonical_path(text);
        if let Ok(Some(r)) = object::parse_range(Some(text), 1000) {
            assert!(
                r.start <= r.end && r.end < 1000,
                "range {r:?} outside the object"
            );
            accepted += 1;
        }
        if object::copy_source(text).is_ok() {
            accepted += 1;
        }
        if bucket::valid_bucket_name(text) {
            accepted += 1;
        }
        if body::Payload::parse(text).is_ok() {
            accepted += 1;
        }
    }
    accepted
}
