//! Bucket event notifications into functions (a function's `Events: Type: S3`), as S3
//! delivers them: asynchronously, at least once.
//!
//! * The storage plane keeps each pending event durably, committed with the object change
//!   that raised it; a [`BucketEventSource`] reads them in order.
//! * Each event is put on its function's asynchronous queue ([`FunctionHost::enqueue`], which
//!   holds it on disk and retries a failing invocation as Lambda does: `MaximumRetryAttempts`,
//!   2 by default), and only then removed from the storage plane's queue: a crash in
//!   between delivers it twice, never zero times.
//! * An event for a function that does not exist (removed from the template since) is
//!   dropped with a warning, as S3 drops what Lambda refuses; a queue that is full or a
//!   storage error keeps the event and retries after a back-off.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::FunctionHost;
use crate::error::FunctionsError;
use crate::invocation::InvokeRequest;
use crate::stream_events::BoxFuture;

/// A pending bucket event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEvent {
    /// Its place in the source's queue.
    pub id: u64,
    /// The function it goes to.
    pub function_arn: String,
    /// The invocation payload (`{"Records": [...]}`).
    pub payload: String,
}

/// Where pending bucket events wait.
pub trait BucketEventSource: Send + Sync + std::fmt::Debug {
    /// Up to `limit` pending events, oldest first.
    fn pending(&self, limit: usize) -> BoxFuture<'_, Result<Vec<BucketEvent>, String>>;

    /// Removes events once their functions' queues hold them.
    fn delivered(&self, ids: Vec<u64>) -> BoxFuture<'_, Result<(), String>>;

    /// Resolves when events may have been added since the last call.
    fn changed(&self) -> BoxFuture<'_, ()>;
}

/// The most events read at once.
const BATCH: usize = 100;
/// How long the deliverer waits for a change before it looks again anyway.
const IDLE: Duration = Duration::from_secs(5);
/// The longest wait after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The task that moves bucket events into their functions' queues; stops when dropped.
#[derive(Debug)]
pub struct BucketEventDelivery {
    task: JoinHandle<()>,
}

impl Drop for BucketEventDelivery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BucketEventDelivery {
    /// Starts delivering from `source` to the functions `host` runs. Start it once the
    /// functions are loaded: an event whose function is unknown is dropped.
    pub fn start(host: FunctionHost, source: Arc<dyn BucketEventSource>) -> Self {
        Self {
            task: tokio::spawn(run(host, source)),
        }
    }
}

/// Whether a bucket event sent to `arn` would reach a function in force: the ARN names one of
/// the host's functions, in its region and account (with or without a qualifier).
pub fn invokable(host: &FunctionHost, arn: &str) -> bool {
    function_name(arn).is_some_and(|name| {
        host.function(name).is_some()
            && (arn == host.arn(name) || arn.starts_with(&format!("{}:", host.arn(name))))
    })
}

/// The function name of a Lambda ARN (`arn:aws:lambda:<region>:<account>:function:<name>`,
/// with or without a qualifier).
fn function_name(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(8, ':');
    let ok = parts.next() == Some("arn")
        && parts.next().is_some()
        && parts.next() == Some("lambda")
        && parts.next().is_some()
        && parts.next().is_some()
        && parts.next() == Some("function");
    ok.then(|| parts.next()).flatten().filter(|n| !n.is_empty())
}

async fn run(host: FunctionHost, source: Arc<dyn BucketEventSource>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        // Registered before reading, so a change committed meanwhile is not missed.
        let changed = source.changed();
        let events = match source.pending(BATCH).await {
            Ok(e) => e,
            Err(reason) => {
                tracing::warn!(%reason, "cannot read the pending bucket events; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if events.is_empty() {
            let _ = tokio::time::timeout(IDLE, changed).await;
            continue;
        }
        let full = events.len() == BATCH;
        let mut done = Vec::with_capacity(events.len());
        let mut stalled = false;
        for e in events {
            let Some(name) = function_name(&e.function_arn) else {
                tracing::warn!(function = %e.function_arn, "a bucket event names no Lambda function; dropped");
                done.push(e.id);
                continue;
            };
            let request = InvokeRequest {
                payload: Bytes::from(e.payload),
                ..InvokeRequest::default()
            };
            match host.enqueue(name, request).await {
                Ok(_) => done.push(e.id),
                Err(FunctionsError::NotFound { arn }) => {
                    tracing::warn!(function = %arn, "a bucket event's function does not exist; dropped");
                    done.push(e.id);
                }
                Err(error) => {
                    // Later events wait too, so that a function's events keep their order.
                    tracing::warn!(function = name, %error, "cannot queue a bucket event; retrying");
                    stalled = true;
                    break;
                }
            }
        }
        if !done.is_empty()
            && let Err(reason) = source.delivered(done).await
        {
            tracing::warn!(%reason, "cannot remove delivered bucket events; they may be delivered again");
        }
        if stalled {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        } else {
            backoff = Duration::from_millis(500);
            if !full {
                let _ = tokio::time::timeout(IDLE, changed).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_from_lambda_arns() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:thumbs";
        assert_eq!(function_name(arn), Some("thumbs"));
        assert_eq!(function_name(&format!("{arn}:live")), Some("thumbs"));
        assert_eq!(function_name("arn:aws:sqs:us-east-1:123456789012:q"), None);
        assert_eq!(function_name("thumbs"), None);
    }
}
