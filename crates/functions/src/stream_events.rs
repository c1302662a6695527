//! Event source mappings on table streams (a function's `Events: Type: DynamoDB`), as
//! Lambda's poller runs them:
//!
//! * one poller per mapping reads up to `BatchSize` records after its committed position
//!   and invokes the function synchronously with `{"Records": [...]}`;
//! * a batch is retried whole while the function fails (with a back-off up to 30 s), at most
//!   `MaximumRetryAttempts` times when set (then it is skipped, with a warning), forever by
//!   default, so records are processed in order and none is skipped silently;
//! * the position is committed (durably, by the [`StreamSource`]) only once the batch is
//!   done, so a restart re-delivers an unfinished batch: at-least-once, as on AWS.
//!
//! The records come from whoever serves the tables (the storage plane), through a
//! [`StreamSource`] the node gives.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use meridian_config::sam::{FunctionSpec, StreamEvent};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::FunctionHost;
use crate::invocation::{InvokeRequest, Outcome};

/// A boxed future, for a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Records after a mapping's committed position.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamBatch {
    /// Lambda's event records, oldest first.
    pub records: Vec<Value>,
    /// The position to commit once they are processed.
    pub last: u64,
}

/// Reads table streams and keeps each mapping's position.
pub trait StreamSource: Send + Sync + std::fmt::Debug {
    /// Up to `limit` records of `table`'s stream after the mapping's committed position
    /// (a new mapping starts at the oldest record or after the newest).
    fn read<'a>(
        &'a self,
        mapping: &'a str,
        table: &'a str,
        from_oldest: bool,
        limit: usize,
    ) -> BoxFuture<'a, Result<StreamBatch, String>>;

    /// Durably records that the mapping has processed up to `position`.
    fn commit<'a>(
        &'a self,
        mapping: &'a str,
        table: &'a str,
        position: u64,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// How long an idle poller waits before it reads again (Lambda polls a shard four times a
/// second).
const IDLE: Duration = Duration::from_millis(250);
/// The longest wait between retries of a failing batch.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The pollers of the mappings in force.
#[derive(Debug)]
pub struct StreamPollers {
    host: FunctionHost,
    source: Arc<dyn StreamSource>,
    running: Mutex<HashMap<String, (StreamEvent, JoinHandle<()>)>>,
}

impl Drop for StreamPollers {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock() {
            for (_, (_, task)) in running.drain() {
                task.abort();
            }
        }
    }
}

impl StreamPollers {
    /// No pollers yet; [`StreamPollers::sync`] starts them.
    pub fn new(host: FunctionHost, source: Arc<dyn StreamSource>) -> Self {
        Self {
            host,
            source,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Runs a poller for each enabled mapping of `functions`: new ones start, changed ones
    /// restart (from their committed position), removed ones stop.
    pub fn sync(&self, functions: &[FunctionSpec]) {
        let wanted: HashMap<String, (String, StreamEvent)> = functions
            .iter()
            .flat_map(|f| {
                f.stream_events.iter().filter(|e| e.enabled).map(|e| {
                    (
                        format!("{}/{}", f.name, e.event),
                        (f.name.clone(), e.clone()),
                    )
                })
            })
            .collect();
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        running.retain(|key, (event, task)| {
            let keep = wanted.get(key).is_some_and(|(_, e)| e == event);
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, (function, event)) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            let task = tokio::spawn(poll(
                self.host.clone(),
                self.source.clone(),
                key.clone(),
                function,
                event.clone(),
            ));
            running.insert(key, (event, task));
        }
    }
}

async fn poll(
    host: FunctionHost,
    source: Arc<dyn StreamSource>,
    key: String,
    function: String,
    event: StreamEvent,
) {
    let limit = event.batch_size as usize;
    let mut unreadable = false;
    loop {
        let batch = match source
            .read(&key, &event.table, event.from_oldest, limit)
            .await
        {
            Ok(b) => {
                unreadable = false;
                b
            }
            Err(reason) => {
                if !unreadable {
                    tracing::warn!(mapping = %key, table = %event.table, %reason, "cannot read the stream; retrying");
                    unreadable = true;
                }
                tokio::time::sleep(MAX_BACKOFF.min(Duration::from_secs(2))).await;
                continue;
            }
        };
        if batch.records.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        deliver(&host, &key, &function, &event, &batch).await;
        while let Err(reason) = source.commit(&key, &event.table, batch.last).await {
            tracing::warn!(mapping = %key, %reason, "cannot record the stream position; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Invokes the function with the batch until it succeeds or its retries run out.
async fn deliver(
    host: &FunctionHost,
    key: &str,
    function: &str,
    event: &StreamEvent,
    batch: &StreamBatch,
) {
    let payload = Bytes::from(serde_json::json!({ "Records": batch.records }).to_string());
    let mut failures: u32 = 0;
    let mut backoff = Duration::from_millis(500);
    loop {
        let request = InvokeRequest {
            payload: payload.clone(),
            ..InvokeRequest::default()
        };
        let why = match host.invoke(function, request).await {
            Ok(r) => match r.outcome {
                Outcome::Success(_) => return,
                Outcome::FunctionError { error_type, .. } => error_type,
            },
            Err(e) => e.to_string(),
        };
        failures += 1;
        if event
            .maximum_retry_attempts
            .is_some_and(|max| failures > max)
        {
            tracing::warn!(
                mapping = %key,
                records = batch.records.len(),
                error = %why,
                "the batch failed every attempt (MaximumRetryAttempts); skipped"
            );
            return;
        }
        tracing::debug!(mapping = %key, error = %why, attempt = failures, "the batch failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
