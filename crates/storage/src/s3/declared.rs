//! Buckets as `meridian up` sees them: the ones a SAM template declares are created when a
//! revision applies (an existing one, with its objects, is kept as it is), and every
//! bucket is summed up for `meridian buckets ls`.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::bucket::valid_bucket_name;
use super::store::{self, BUCKETS, BucketMeta, OBJECTS, ObjectMeta};
use super::{S3, now_ms};
use crate::engine::EngineError;

/// A bucket as `meridian buckets ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSummary {
    /// The bucket's name.
    pub name: String,
    /// Objects in it.
    pub objects: u64,
    /// Bytes of their bodies.
    pub bytes: u64,
    /// Its region.
    pub region: String,
}

/// Why declared buckets could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeclareError {
    /// A name S3 refuses.
    #[error(
        "bucket name {0:?} is not valid: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    )]
    InvalidName(String),
    /// The engine refused the write.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl S3 {
    /// Creates each named bucket that does not exist yet, in one durable commit, and returns
    /// the names it created. Nothing is written when a name is invalid.
    pub async fn ensure_buckets(&self, names: &[String]) -> Result<Vec<String>, DeclareError> {
        if let Some(bad) = names.iter().find(|n| !valid_bucket_name(n)) {
            return Err(DeclareError::InvalidName(bad.clone()));
        }
        let names = names.to_vec();
        let region = self.region.clone();
        let created = self
            .engine
            .write(move |txn| {
                let mut t = txn.open_table(BUCKETS)?;
                let mut created = Vec::new();
                for name in names {
                    if store::get_bucket(&t, &name)?.is_some()
                        || created.iter().any(|(n, _)| *n == name)
                    {
                        continue;
                    }
                    let meta = BucketMeta {
                        created: now_ms(),
                        region: region.clone(),
                        ownership: Some(super::acl::ENFORCED.to_owned()),
                        ..BucketMeta::default()
                    };
                    t.insert(name.as_str(), store::encode(&meta).as_slice())?;
                    created.push((name, meta));
                }
                Ok(Ok::<_, ()>(created))
            })
            .await?
            .unwrap_or_default();
        // The request path learns each new bucket's owner (Meridian's account) and settings.
        for (name, meta) in &created {
            self.set_access(name, Some(super::config::access_of(name, meta)));
        }
        Ok(created.into_iter().map(|(name, _)| name).collect())
    }

    /// Every bucket with the number and total size of its objects, by name.
    pub async fn summaries(&self) -> Result<Vec<BucketSummary>, EngineError> {
        self.engine
            .read(|txn| {
                let buckets = txn.open_table(BUCKETS)?;
                let objects = txn.open_table(OBJECTS)?;
                let mut out = Vec::new();
                for e in buckets.iter()? {
                    let (k, v) = e?;
                    let name = k.value().to_owned();
                    let meta: BucketMeta = store::decode("s3/buckets", v.value())?;
                    let start = store::object_key(&name, "");
                    let (mut count, mut bytes) = (0u64, 0u64);
                    let rows = match store::successor(&start) {
                        Some(end) => objects.range(start.as_slice()..end.as_slice())?,
                        None => objects.range(start.as_slice()..)?,
                    };
                    for row in rows {
                        let (_, v) = row?;
                        let o: ObjectMeta = store::decode("s3/objects", v.value())?;
                        count += 1;
                        bytes += o.size;
                    }
                    out.push(BucketSummary {
                        name,
                        objects: count,
                        bytes,
                        region: meta.region,
                    });
                }
                Ok(out)
            })
            .await
    }
}
