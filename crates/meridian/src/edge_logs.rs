//! CloudFront standard logs at `meridian up`: each distribution with a `logging_config`
//! buffers its log lines, and every `--cdn-log-interval` the buffered lines are written to
//! its bucket as CloudFront names its files,
//! `<prefix><distribution id>.<YYYY-MM-DD-HH>.<unique id>.gz` (one file per hour the lines
//! fall in), gzip text starting with `#Version: 1.0` and the `#Fields:` line. The files go
//! through the node's own S3 API ([`crate::node_s3`]), so the bucket's policy, versioning
//! and notifications apply as to any writer; a bucket that does not exist keeps the lines
//! for the next try, as a write S3 refuses does.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use meridian_proxy::cache::log::{AccessLog, FIELDS};

use crate::node_s3::{NodeS3, error_code, object_path};

/// Lines a distribution keeps while its bucket cannot be written; older ones are dropped
/// (and counted) beyond this.
const MAX_BUFFERED: usize = 1_000_000;

/// One distribution's log: where its files go and the lines not yet written.
pub(crate) struct Buffer {
    id: String,
    bucket: String,
    prefix: String,
    lines: Mutex<VecDeque<String>>,
    dropped: std::sync::atomic::AtomicU64,
}

/// Where the lines go, not the lines: an edge's configuration is compared by its `Debug`
/// form, which the buffered lines must not change.
impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("id", &self.id)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl AccessLog for Buffer {
    fn record(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() >= MAX_BUFFERED {
            lines.pop_front();
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        lines.push_back(line);
    }
}

/// The bucket a `logging_config.bucket` names: its domain name
/// (`logs.s3.amazonaws.com`) or its name.
pub(crate) fn bucket_of(domain: &str) -> String {
    domain
        .split_once(".s3.")
        .or_else(|| domain.split_once(".s3-"))
        .map_or(domain, |(b, _)| b)
        .to_owned()
}

/// The distributions' log buffers.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    buffers: Mutex<HashMap<String, Arc<Buffer>>>,
}

impl Logs {
    /// The buffer of distribution `id` writing to `bucket` under `prefix` (the one it had
    /// when those did not change, so no line is lost across revisions).
    pub(crate) fn buffer(&self, id: &str, bucket: &str, prefix: &str) -> Arc<Buffer> {
        let mut buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        match buffers.get(id) {
            Some(b) if b.bucket == bucket && b.prefix == prefix => b.clone(),
            _ => {
                let b = Arc::new(Buffer {
                    id: id.to_owned(),
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                    lines: Mutex::new(VecDeque::new()),
                    dropped: std::sync::atomic::AtomicU64::new(0),
                });
                // A replaced buffer's lines are still written by the next flush.
                if let Some(old) = buffers.insert(id.to_owned(), b.clone()) {
                    let mut n = 0;
                    while buffers.contains_key(&format!("{id}|retired{n}")) {
                        n += 1;
                    }
                    buffers.insert(format!("{id}|retired{n}"), old);
                }
                b
            }
        }
    }

    /// Writes every buffered line; lines a write fails for stay buffered for the next
    /// flush.
    pub(crate) async fn flush(&self, s3: &NodeS3) {
        let buffers: Vec<(String, Arc<Buffer>)> = {
            let b = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
            b.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for (key, buffer) in buffers {
            let lines =
                std::mem::take(&mut *buffer.lines.lock().unwrap_or_else(PoisonError::into_inner));
            if key.contains("|retired") {
                self.buffers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
            }
            let dropped = buffer.dropped.swap(0, std::sync::atomic::Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(distribution = %buffer.id, dropped, "cdn: standard log lines dropped while the log bucket could not be written");
            }
            for (hour, lines) in by_hour(lines) {
                let name = format!(
                    "{}{}.{hour}.{:08x}.gz",
                    buffer.prefix,
                    buffer.id,
                    rand::random::<u32>()
                );
                let data = match gzip(&lines) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(distribution = %buffer.id, error = %e, "cdn: a standard log file could not be compressed");
                        continue;
                    }
                };
                let written = match s3
                    .send(
                        http::Method::PUT,
                        &object_path(&buffer.bucket, &name),
                        "",
                        data,
                    )
                    .await
                {
                    Ok((status, _, _)) if status.is_success() => Ok(()),
                    Ok((status, _, body)) => {
                        Err(format!("S3 answered {status}: {}", error_code(&body)))
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    tracing::warn!(distribution = %buffer.id, bucket = %buffer.bucket, error = %e, "cdn: a standard log file could not be written; its lines are kept for the next try");
                    let mut kept = buffer.lines.lock().unwrap_or_else(PoisonError::into_inner);
                    for line in lines.into_iter().rev() {
                        kept.push_front(line);
                    }
                }
            }
        }
    }
}

/// Lines grouped by the hour they fall in (`YYYY-MM-DD-HH`, from their date and time
/// fields), in order.
fn by_hour(lines: impl IntoIterator<Item = String>) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in lines {
        let mut f = line.split('\t');
        let hour = match (f.next(), f.next()) {
            (Some(date), Some(time)) if time.len() >= 2 => format!("{date}-{}", &time[..2]),
            _ => continue,
        };
        match out.iter_mut().find(|(h, _)| *h == hour) {
            Some((_, group)) => group.push(line),
            None => out.push((hour, vec![line])),
        }
    }
    out
}

/// A log file: the two header lines and the lines, gzip-compressed.
fn gzip(lines: &[String]) -> std::io::Result<Bytes> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    writeln!(gz, "#Version: 1.0")?;
    writeln!(gz, "#Fields: {FIELDS}")?;
    for line in lines {
        writeln!(gz, "{line}")?;
    }
    Ok(Bytes::from(gz.finish()?))
}

/// Writes the buffered lines every `interval`, for as long as the node runs.
pub(crate) fn spawn(
    logs: Arc<Logs>,
    storage: Arc<meridian_storage::plane::StoragePlane>,
    region: &str,
    interval: Duration,
) {
    let s3 = NodeS3::new(storage, region);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            logs.flush(&s3).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_named_by_their_domain_names() {
        assert_eq!(bucket_of("my-logs.s3.amazonaws.com"), "my-logs");
        assert_eq!(bucket_of("my-logs.s3.us-east-1.amazonaws.com"), "my-logs");
        assert_eq!(bucket_of("my-logs"), "my-logs");
    }

    #[test]
    fn lines_are_filed_by_the_hour_they_fall_in() {
        let lines = vec![
            "2026-12-06\t09:59:59\ta".to_owned(),
            "2026-12-06\t10:00:00\tb".to_owned(),
            "2026-12-06\t09:59:59\tc".to_owned(),
        ];
        let grouped = by_hour(lines);
        assert_eq!(
            grouped,
            [
                (
                    "2026-12-06-09".to_owned(),
                    vec![
                        "2026-12-06\t09:59:59\ta".to_owned(),
                        "2026-12-06\t09:59:59\tc".to_owned()
                    ]
                ),
                (
                    "2026-12-06-10".to_owned(),
                    vec!["2026-12-06\t10:00:00\tb".to_owned()]
                ),
            ]
        );
    }
}
