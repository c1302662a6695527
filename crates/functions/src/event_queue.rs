//! Lambda's asynchronous event queue: one per function, kept on disk under
//! `<state>/functions/<name>/events/`, as Lambda queues `Event` invocations.
//!
//! * An event is acknowledged (`202`) only once its file is written and fsynced, with the
//!   folder; files survive a restart and are delivered then. Delivery is at least once, as
//!   Lambda's: an event whose invocation was cut by a crash runs again.
//! * Events are delivered in order of arrival, as many at once as the function may run (its
//!   reserved concurrency, else the host's cap). An event waiting for a retry lets later
//!   ones pass.
//! * A function error (the handler's, a timeout, a crash) is retried `MaximumRetryAttempts`
//!   times (2 by default): one minute after the first attempt, then two minutes after the
//!   second, as Lambda waits.
//! * A throttle (the function or the host at its concurrency limit) keeps the event at its
//!   place; the queue waits 1 s before trying again, doubling up to 5 minutes, and starts
//!   over at 1 s once an invocation is admitted (Lambda's back-off).
//! * An event older than `MaximumEventAgeInSeconds` (6 hours by default) is dropped, as is
//!   one whose retries are exhausted. Each drop is logged; with an `OnFailure` destination
//!   the invocation record (Lambda's shape, `condition` `RetriesExhausted` or
//!   `EventAgeExceeded`) is queued as an event of that function; with `OnSuccess`, the
//!   record of each success.
//! * A queue holds at most [`QueueLimits`] events and bytes; beyond them an invocation is
//!   refused with `429 TooManyRequestsException`, so that a flood cannot fill the disk.
//!
//! Each event is one file: a JSON header line (request id, acceptance time, attempts), then
//! the payload as received.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::future::Future;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::FunctionsError;
use crate::invocation::{InvokeRequest, InvokeResult, Outcome};

/// Lambda's wait before the first retry of a failed event; the second waits twice as long.
pub const RETRY_DELAY: Duration = Duration::from_secs(60);
/// The first wait after a throttle.
const THROTTLE_FIRST: Duration = Duration::from_secs(1);
/// The longest wait after throttles.
const THROTTLE_MAX: Duration = Duration::from_secs(300);

/// How much a function's queue holds at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Events waiting or being delivered.
    pub max_events: usize,
    /// Bytes of their files.
    pub max_bytes: u64,
}

impl Default for QueueLimits {
    /// 10,000 events and 128 MiB per function.
    fn default() -> Self {
        QueueLimits {
            max_events: 10_000,
            max_bytes: 128 * 1024 * 1024,
        }
    }
}

/// What governs a queue's delivery, from the function's spec (set again on each reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `MaximumEventAgeInSeconds`.
    pub max_age: Duration,
    /// `MaximumRetryAttempts`.
    pub max_retries: u32,
    /// `OnSuccess` destination function.
    pub on_success: Option<String>,
    /// `OnFailure` destination function.
    pub on_failure: Option<String>,
    /// Deliveries at once.
    pub concurrency: usize,
    /// Wait before the first retry after a function error.
    pub retry_delay: Duration,
    /// Bounds of the queue.
    pub limits: QueueLimits,
}

/// Where events go: the function host, or a stand-in that plays a function in the tests of
/// the timing rules.
pub(crate) trait Deliver: Send + Sync + 'static {
    /// Runs `function` once with the event.
    fn invoke(
        &self,
        function: &str,
        req: InvokeRequest,
    ) -> impl Future<Output = Result<InvokeResult, FunctionsError>> + Send;

    /// Queues an invocation record as an event of the destination `function`.
    fn forward(
        &self,
        function: &str,
        record: Bytes,
    ) -> impl Future<Output = Result<(), FunctionsError>> + Send;
}

/// The first line of an event's file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    request_id: String,
    /// When the event was accepted, in milliseconds since the epoch.
    accepted_ms: u64,
    /// Invocations that ran (throttles do not count).
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_context: Option<String>,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    header: Header,
    /// Size of its file.
    bytes: u64,
    /// When this process took it in, and how old it was then.
    seen: Instant,
    age_when_seen: Duration,
    /// Not delivered before.
    due: Instant,
    /// The function's last answer, for the record of an event that then expires.
    last: Option<Outcome>,
}

impl Entry {
    fn age(&self, now: Instant) -> Duration {
        self.age_when_seen + now.saturating_duration_since(self.seen)
    }

    fn expires(&self, max_age: Duration) -> Instant {
        self.seen + max_age.saturating_sub(self.age_when_seen)
    }
}

#[derive(Debug)]
struct State {
    settings: Settings,
    /// Events not being delivered, by order of arrival.
    waiting: BTreeMap<u64, Entry>,
    in_flight: usize,
    /// Events held (waiting and in flight) and the bytes of their files.
    events: usize,
    bytes: u64,
    next_seq: u64,
    /// After a throttle, nothing is delivered before this.
    throttled_until: Option<Instant>,
    backoff: Duration,
    stopped: bool,
}

/// How an event leaves the queue.
enum Ending {
    Success(Outcome),
    RetriesExhausted(Outcome),
    Expired,
}

impl Ending {
    fn condition(&self) -> &'static str {
        match self {
            Ending::Success(_) => "Success",
            Ending::RetriesExhausted(_) => "RetriesExhausted",
            Ending::Expired => "EventAgeExceeded",
        }
    }
}

/// One function's queue.
#[derive(Debug)]
pub(crate) struct EventQueue {
    function: String,
    arn: String,
    dir: PathBuf,
    state: Mutex<State>,
    wake: Notify,
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn event_file(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016x}.event"))
}

fn encode(header: &Header, payload: &[u8]) -> Vec<u8> {
    let mut out = serde_json::to_vec(header).unwrap_or_default();
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

/// Writes an event's file whole or not at all: a temporary file, fsynced, renamed into
/// place; with `durable`, the folder is fsynced too so that the name survives a crash.
fn write_event(dir: &Path, seq: u64, contents: &[u8], durable: bool) -> io::Result<()> {
    let tmp = dir.join(format!("{seq:016x}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, event_file(dir, seq))?;
    if durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// An event's header and payload.
fn read_event(path: &Path) -> io::Result<(Header, Bytes)> {
    let mut r = BufReader::new(File::open(path)?);
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    let header: Header =
        serde_json::from_slice(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut payload = Vec::new();
    r.read_to_end(&mut payload)?;
    Ok((header, Bytes::from(payload)))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

impl EventQueue {
    /// Opens a function's queue in `dir`, taking in the events a previous run left there.
    /// File work: call it off the runtime.
    pub(crate) fn open(
        function: &str,
        arn: &str,
        dir: PathBuf,
        settings: Settings,
    ) -> io::Result<EventQueue> {
        fs::create_dir_all(&dir)?;
        let now = Instant::now();
        let wall = now_ms();
        let mut waiting = BTreeMap::new();
        let (mut events, mut bytes, mut next_seq) = (0, 0, 1);
        for e in fs::read_dir(&dir)? {
            let path = e?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if name.ends_with(".tmp") {
                // Never acknowledged: the write did not finish.
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".event")
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            else {
                continue;
            };
            next_seq = next_seq.max(seq + 1);
            match read_event(&path) {
                Ok((header, _)) => {
                    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    events += 1;
                    bytes += size;
                    waiting.insert(
                        seq,
                        Entry {
                            seq,
                            age_when_seen: Duration::from_millis(
                                wall.saturating_sub(header.accepted_ms),
                            ),
                            header,
                            bytes: size,
                            seen: now,
                            due: now,
                            last: None,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(
                        function,
                        file = %path.display(),
                        error = %e,
                        "unreadable queued event set aside"
                    );
                    let _ = fs::rename(&path, path.with_extension("unreadable"));
                }
            }
        }
        if events > 0 {
            tracing::info!(function, events, "asynchronous events resumed from disk");
        }
        Ok(EventQueue {
            function: function.to_owned(),
            arn: arn.to_owned(),
            dir,
            state: Mutex::new(State {
                settings,
                waiting,
                in_flight: 0,
                events,
                bytes,
                next_seq,
                throttled_until: None,
                backoff: THROTTLE_FIRST,
                stopped: false,
            }),
            wake: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under this lock is a few field updates: a panic cannot leave it half
        // done, so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the settings (a reload).
    pub(crate) fn configure(&self, settings: Settings) {
        self.lock().settings = settings;
        self.wake.notify_one();
    }

    /// Stops delivering; events stay on disk.
    pub(crate) fn stop(&self) {
        self.lock().stopped = true;
        self.wake.notify_one();
    }

    /// Events held (waiting and being delivered).
    pub(crate) fn len(&self) -> usize {
        self.lock().events
    }

    /// Accepts an event: returns once it is on disk, or refuses it when the queue is full.
    pub(crate) async fn push(&self, req: InvokeRequest) -> Result<String, FunctionsError> {
        let header = Header {
            request_id: req
                .request_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            accepted_ms: now_ms(),
            attempts: 0,
            trace_id: req.trace_id.clone(),
            client_context: req.client_context.clone(),
        };
        let contents = encode(&header, &req.payload);
        let size = contents.len() as u64;
        // Room is taken before writing, so that concurrent invocations cannot overshoot.
        let seq = {
            let mut st = self.lock();
            if st.stopped {
                return Err(FunctionsError::ShuttingDown);
            }
            let limits = st.settings.limits;
            if st.events >= limits.max_events || st.bytes + size > limits.max_bytes {
                return Err(FunctionsError::EventQueueFull {
                    function: self.function.clone(),
                    events: st.events,
                    bytes: st.bytes,
                });
            }
            st.events += 1;
            st.bytes += size;
            st.next_seq += 1;
            st.next_seq - 1
        };
        let dir = self.dir.clone();
        match blocking(move || write_event(&dir, seq, &contents, true)).await {
            Ok(()) => {
                let now = Instant::now();
                let request_id = header.request_id.clone();
                self.lock().waiting.insert(
                    seq,
                    Entry {
                        seq,
                        header,
                        bytes: size,
                        seen: now,
                        age_when_seen: Duration::ZERO,
                        due: now,
                        last: None,
                    },
                );
                self.wake.notify_one();
                Ok(request_id)
            }
            Err(source) => {
                let mut st = self.lock();
                st.events -= 1;
                st.bytes -= size;
                Err(FunctionsError::StateDir {
                    path: self.dir.clone(),
                    source,
                })
            }
        }
    }

    /// Delivers events until stopped.
    pub(crate) async fn run<D: Deliver>(self: Arc<Self>, deliver: Arc<D>) {
        loop {
            let now = Instant::now();
            let (start, expired, wake_at, stopped) = self.plan(now);
            if stopped {
                return;
            }
            for e in expired {
                tokio::spawn(
                    self.clone()
                        .finish(deliver.clone(), e, Ending::Expired, None),
                );
            }
            if let Some(e) = start {
                tokio::spawn(self.clone().deliver(deliver.clone(), e));
                continue;
            }
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => self.wake.notified().await,
            }
        }
    }

    /// Under the lock: events past their age leave; the first due event starts if there is
    /// room; when to look again.
    fn plan(&self, now: Instant) -> (Option<Entry>, Vec<Entry>, Option<Instant>, bool) {
        let mut st = self.lock();
        if st.stopped {
            return (None, Vec::new(), None, true);
        }
        let max_age = st.settings.max_age;
        let old: Vec<u64> = st
            .waiting
            .values()
            .filter(|e| e.age(now) >= max_age)
            .map(|e| e.seq)
            .collect();
        let expired: Vec<Entry> = old.iter().filter_map(|s| st.waiting.remove(s)).collect();
        let throttled = st.throttled_until.filter(|t| *t > now);
        let mut start = None;
        if throttled.is_none() && st.in_flight < st.settings.concurrency {
            let first_due = st.waiting.values().find(|e| e.due <= now).map(|e| e.seq);
            if let Some(seq) = first_due {
                start = st.waiting.remove(&seq);
                st.in_flight += 1;
            }
        }
        let mut wake_at = throttled;
        for e in st.waiting.values() {
            let mut at = e.expires(max_age);
            if e.due > now && throttled.is_none() {
                at = at.min(e.due);
            }
            wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
        }
        (start, expired, wake_at, false)
    }

    /// Puts an event back in the queue (it was in flight).
    fn put_back(&self, e: Entry) {
        let mut st = self.lock();
        st.in_flight -= 1;
        st.waiting.insert(e.seq, e);
    }

    async fn deliver<D: Deliver>(self: Arc<Self>, d: Arc<D>, mut e: Entry) {
        let path = event_file(&self.dir, e.seq);
        let payload = match blocking(move || read_event(&path)).await {
            Ok((_, payload)) => payload,
            Err(err) => {
                tracing::warn!(function = %self.function, request_id = %e.header.request_id, error = %err, "queued event lost: its file cannot be read");
                self.forget(&e, true);
                self.wake.notify_one();
                return;
            }
        };
        let req = InvokeRequest {
            payload: payload.clone(),
            client_context: e.header.client_context.clone(),
            cognito_identity: None,
            trace_id: e.header.trace_id.clone(),
            want_logs: false,
            // Retries keep the request id, as Lambda's do.
            request_id: Some(e.header.request_id.clone()),
            azure: None,
            attempt: e.header.attempts + 1,
        };
        let result = d.invoke(&self.function, req).await;
        let now = Instant::now();
        match result {
            Err(err) => {
                // A throttle, or the host unable to run it now: the event keeps its place and
                // the queue waits.
                let mut st = self.lock();
                let wait = st.backoff;
                st.throttled_until = Some(now + wait);
                st.backoff = (wait * 2).min(THROTTLE_MAX);
                drop(st);
                tracing::debug!(function = %self.function, request_id = %e.header.request_id, error = %err, wait_ms = wait.as_millis(), "asynchronous event throttled");
                e.due = now;
                self.put_back(e);
            }
            Ok(r) => {
                e.header.attempts += 1;
                let (max_retries, retry_delay) = {
                    let mut st = self.lock();
                    st.throttled_until = None;
                    st.backoff = THROTTLE_FIRST;
                    (st.settings.max_retries, st.settings.retry_delay)
                };
                if !r.outcome.is_error() {
                    self.clone()
                        .finish(d, e, Ending::Success(r.outcome), Some(payload))
                        .await;
                } else if e.header.attempts > max_retries {
                    self.clone()
                        .finish(d, e, Ending::RetriesExhausted(r.outcome), Some(payload))
                        .await;
                } else {
                    e.due = now + retry_delay * e.header.attempts;
                    e.last = Some(r.outcome);
                    // The count of attempts survives a restart (without it, one retry more).
                    let (dir, seq, contents) =
                        (self.dir.clone(), e.seq, encode(&e.header, &payload));
                    let _ = blocking(move || write_event(&dir, seq, &contents, false)).await;
                    self.put_back(e);
                }
            }
        }
        self.wake.notify_one();
    }

    /// Takes an event out of the accounts (its file is gone or going).
    fn forget(&self, e: &Entry, in_flight: bool) {
        let mut st = self.lock();
        st.events -= 1;
        st.bytes -= e.bytes;
        if in_flight {
            st.in_flight -= 1;
        }
    }

    /// Ends an event: its record goes to the destination, if any; then its file is removed.
    async fn finish<D: Deliver>(
        self: Arc<Self>,
        d: Arc<D>,
        e: Entry,
        ending: Ending,
        payload: Option<Bytes>,
    ) {
        let in_flight = !matches!(ending, Ending::Expired);
        let condition = ending.condition();
        let destination = {
            let st = self.lock();
            match ending {
                Ending::Success(_) => st.settings.on_success.clone(),
                _ => st.settings.on_failure.clone(),
            }
        };
        if !matches!(ending, Ending::Success(_)) {
            tracing::warn!(
                function = %self.function,
                request_id = %e.header.request_id,
                condition,
                attempts = e.header.attempts,
                destination = destination.as_deref().unwrap_or("none"),
                "asynchronous event dropped"
            );
        }
        let path = event_file(&self.dir, e.seq);
        if let Some(dest) = destination {
            let payload = match payload {
                Some(p) => Some(p),
                None => {
                    let path = path.clone();
                    blocking(move || read_event(&path))
                        .await
                        .ok()
                        .map(|(_, p)| p)
                }
            };
            let response = match ending {
                Ending::Success(o) | Ending::RetriesExhausted(o) => Some(o),
                Ending::Expired => e.last.clone(),
            };
            let record = self.record(&e, condition, payload.as_deref(), response.as_ref());
            if let Err(err) = d.forward(&dest, record).await {
                tracing::warn!(function = %self.function, destination = %dest, request_id = %e.header.request_id, error = %err, "invocation record not delivered to its destination");
            }
        }
        let _ = blocking(move || fs::remove_file(&path)).await;
        self.forget(&e, in_flight);
        self.wake.notify_one();
    }

    /// The invocation record Lambda sends to a destination.
    fn record(
        &self,
        e: &Entry,
        condition: &str,
        payload: Option<&[u8]>,
        response: Option<&Outcome>,
    ) -> Bytes {
        let json = |b: &[u8]| {
            if b.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::from_slice(b).unwrap_or_else(|_| {
                    serde_json::Value::from(String::from_utf8_lossy(b).into_owned())
                })
            }
        };
        let mut timestamp = String::new();
        meridian_telemetry::access_log::write_start_time(&mut timestamp, SystemTime::now());
        let mut record = serde_json::json!({
            "version": "1.0",
            "timestamp": timestamp,
            "requestContext": {
                "requestId": e.header.request_id,
                "functionArn": format!("{}:$LATEST", self.arn),
                "condition": condition,
                "approximateInvokeCount": e.header.attempts,
            },
            "requestPayload": json(payload.unwrap_or_default()),
        });
        if let Some(outcome) = response {
            let mut context = serde_json::json!({
                "statusCode": 200,
                "executedVersion": "$LATEST",
            });
            if outcome.is_error() {
                context["functionError"] = serde_json::Value::from("Unhandled");
            }
            record["responseContext"] = context;
            record["responsePayload"] = match outcome.payload() {
                p if p.is_empty() => serde_json::Value::Null,
                p => json(p),
            };
        }
        Bytes::from(record.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Plays a function: answers each invocation with the next scripted reply (success once
    /// the script is spent) and remembers when it was called; keeps forwarded records.
    #[derive(Default)]
    struct Script {
        replies: Mutex<VecDeque<Result<Outcome, FunctionsError>>>,
        calls: Mutex<Vec<(Duration, String, Bytes)>>,
        records: Mutex<Vec<(Duration, String, serde_json::Value)>>,
        start: Mutex<Option<Instant>>,
    }

    fn error() -> Result<Outcome, FunctionsError> {
        Ok(Outcome::FunctionError {
            error_type: "Error".into(),
            payload: Bytes::from_static(br#"{"errorType":"Error","errorMessage":"boom"}"#),
        })
    }

    fn throttle() -> Result<Outcome, FunctionsError> {
        Err(FunctionsError::Throttled {
            reason: crate::error::ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded,
        })
    }

    impl Script {
        fn new(replies: Vec<Result<Outcome, FunctionsError>>) -> Arc<Script> {
            Arc::new(Script {
                replies: Mutex::new(replies.into()),
                start: Mutex::new(Some(Instant::now())),
                ..Script::default()
            })
        }

        fn calls(&self) -> Vec<(Duration, String)> {
            self.calls
                .lock()
                .expect("lock")
                .iter()
                .map(|(t, id, _)| (*t, id.clone()))
                .collect()
        }

        fn records(&self) -> Vec<(String, serde_json::Value)> {
            self.records
                .lock()
                .expect("lock")
                .iter()
                .map(|(_, f, v)| (f.clone(), v.clone()))
                .collect()
        }

        fn elapsed(&self) -> Duration {
            self.start
                .lock()
                .expect("lock")
                .map_or(Duration::ZERO, |s| s.elapsed())
        }
    }

    impl Deliver for Script {
        async fn invoke(
            &self,
            _function: &str,
            req: InvokeRequest,
        ) -> Result<InvokeResult, FunctionsError> {
            let start = self
                .start
                .lock()
                .expect("lock")
                .unwrap_or_else(Instant::now);
            self.calls.lock().expect("lock").push((
                start.elapsed(),
                req.request_id.clone().unwrap_or_default(),
                req.payload.clone(),
            ));
            let reply = self
                .replies
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or(Ok(Outcome::Success(Bytes::from_static(b"\"done\""))));
            reply.map(|outcome| InvokeResult {
                request_id: req.request_id.unwrap_or_default(),
                outcome,
                logs: None,
                cold_start: false,
                init_duration: None,
                duration: Duration::ZERO,
                content_type: None,
            })
        }

        async fn forward(&self, function: &str, record: Bytes) -> Result<(), FunctionsError> {
            let v = serde_json::from_slice(&record).expect("a JSON record");
            let at = self.elapsed();
            self.records
                .lock()
                .expect("lock")
                .push((at, function.to_owned(), v));
            Ok(())
        }
    }

    fn settings() -> Settings {
        Settings {
            max_age: Duration::from_secs(6 * 3600),
            max_retries: 2,
            on_success: None,
            on_failure: Some("Failures".into()),
            concurrency: 1,
            retry_delay: RETRY_DELAY,
            limits: QueueLimits::default(),
        }
    }

    fn open(dir: &Path, settings: Settings) -> Arc<EventQueue> {
        Arc::new(
            EventQueue::open(
                "Worker",
                "arn:aws:lambda:us-east-1:123456789012:function:Worker",
                dir.join("events"),
                settings,
            )
            .expect("open"),
        )
    }

    fn event(id: &str, payload: &str) -> InvokeRequest {
        InvokeRequest {
            payload: Bytes::from(payload.to_owned()),
            request_id: Some(id.to_owned()),
            ..InvokeRequest::default()
        }
    }

    /// Waits on the paused clock, up to eight hours of it, for `cond`.
    async fn until(what: &str, mut cond: impl FnMut() -> bool) {
        for _ in 0..8 * 3600 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("{what} did not happen");
    }

    #[tokio::test(start_paused = true)]
    async fn a_function_error_is_retried_after_one_then_two_minutes_then_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = open(dir.path(), settings());
        let f = Script::new(vec![error(), error(), error()]);
        tokio::spawn(q.clone().run(f.clone()));
        q.push(event("e1", r#"{"order":7}"#)).await.expect("queued");
        until("the record", || !f.records().is_empty()).await;
        let at: Vec<Duration> = f.calls().iter().map(|(t, _)| *t).collect();
        assert_eq!(at.len(), 3, "{at:?}");
        assert_eq!(at[1] - at[0], Duration::from_secs(60));
        assert_eq!(at[2] - at[1], Duration::from_secs(120));
        let (dest, r) = &f.records()[0];
        assert_eq!(dest, "Failures");
        assert_eq!(r["version"], "1.0");
        assert_eq!(r["requestContext"]["requestId"], "e1");
        assert_eq!(r["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(
            r["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:Worker:$LATEST"
        );
        assert_eq!(r["requestPayload"], serde_json::json!({"order": 7}));
        assert_eq!(
            r["responseContext"],
            serde_json::json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
        );
        assert_eq!(r["responsePayload"]["errorMessage"], "boom");
        assert!(r["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        until("the file removed", || q.len() == 0).await;
        assert_eq!(
            fs::read_dir(dir.path().join("events"))
                .expect("dir")
                .count(),
            0
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_retries_when_maximum_retry_attempts_is_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = open(
            dir.path(),
            Settings {
                max_retries: 0,
                ..settings()
            },
        );
        let f = Script::new(vec![error(), error()]);
        tokio::spawn(q.clone().run(f.clone()));
        q.push(event("e1", "{}")).await.expect("queued");
        until("the record", || !f.records().is_empty()).await;
        assert_eq!(f.calls().len(), 1);
        assert_eq!(
            f.records()[0].1["requestContext"]["approximateInvokeCount"],
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_events_wait_with_exponential_back_off_and_keep_their_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = open(
            dir.path(),
            Settings {
                on_success: Some("Done".into()),
                ..settings()
            },
        );
        let mut replies: Vec<_> = (0..12).map(|_| throttle()).collect();
        replies.push(Ok(Outcome::Success(Bytes::from_static(b"{\"ok\":1}"))));
        let f = Script::new(replies);
        q.push(event("first", "{}")).await.expect("queued");
        q.push(event("second", "{}")).await.expect("queued");
        tokio::spawn(q.clone().run(f.clone()));
        until("both delivered", || f.records().len() == 2).await;
        let calls = f.calls();
        let gaps: Vec<u64> = calls
            .windows(2)
            .take(12)
            .map(|w| (w[1].0 - w[0].0).as_secs())
            .collect();
        // 1 s after the first throttle, doubling, at most 5 minutes.
        assert_eq!(gaps, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert!(calls[..13].iter().all(|(_, id)| id == "first"), "{calls:?}");
        assert_eq!(calls[13].1, "second");
        assert_eq!(calls[13].0, calls[12].0, "no wait once admitted again");
        let (dest, r) = &f.records()[0];
        assert_eq!(dest, "Done");
        assert_eq!(r["requestContext"]["condition"], "Success");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 1);
        assert_eq!(r["responsePayload"], serde_json::json!({"ok": 1}));
        assert!(r["responseContext"].get("functionError").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_older_than_its_maximum_age_is_dropped_and_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = open(
            dir.path(),
            Settings {
                max_age: Duration::from_secs(60),
                ..settings()
            },
        );
        let f = Script::new((0..100).map(|_| throttle()).collect());
        tokio::spawn(q.clone().run(f.clone()));
        q.push(event("late", r#"{"n":1}"#)).await.expect("queued");
        until("the record", || !f.records().is_empty()).await;
        assert_eq!(
            f.records.lock().expect("lock")[0].0,
            Duration::from_secs(60),
            "dropped at its age"
        );
        let r = &f.records()[0].1;
        assert_eq!(r["requestContext"]["condition"], "EventAgeExceeded");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 0);
        assert_eq!(r["requestPayload"], serde_json::json!({"n": 1}));
        assert!(r.get("responseContext").is_none(), "{r}");
        // Throttled at 0, 1, 3, 7, 15, 31 s: six tries, none after the age.
        assert_eq!(f.calls().len(), 6);
        until("the file removed", || q.len() == 0).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_past_the_maximum_age_does_not_happen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = open(
            dir.path(),
            Settings {
                max_age: Duration::from_secs(90),
                ..settings()
            },
        );
        let f = Script::new(vec![error(), error(), error()]);
        tokio::spawn(q.clone().run(f.clone()));
        q.push(event("e", "{}")).await.expect("queued");
        until("the record", || !f.records().is_empty()).await;
        // Attempts at 0 s and 60 s; the next would be at 180 s, after the 90 s age.
        assert_eq!(f.calls().len(), 2);
        let r = &f.records()[0].1;
        assert_eq!(r["requestContext"]["condition"], "EventAgeExceeded");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 2);
        assert_eq!(r["responseContext"]["functionError"], "Unhandled");
    }

    #[tokio::test(start_paused = true)]
    async fn events_go_in_order_of_arrival_with_the_functions_concurrency() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = open(dir.path(), settings());
        for i in 0..5 {
            q.push(event(&format!("e{i}"), "{}")).await.expect("queued");
        }
        let f = Script::new(Vec::new());
        tokio::spawn(q.clone().run(f.clone()));
        until("all delivered", || q.len() == 0).await;
        let ids: Vec<String> = f.calls().into_iter().map(|(_, id)| id).collect();
        assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4"]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_with_429() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = open(
            dir.path(),
            Settings {
                limits: QueueLimits {
                    max_events: 2,
                    max_bytes: 1 << 20,
                },
                ..settings()
            },
        );
        q.push(event("a", "{}")).await.expect("queued");
        q.push(event("b", "{}")).await.expect("queued");
        let e = q.push(event("c", "{}")).await.expect_err("full");
        assert_eq!(e.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.aws_type(), "TooManyRequestsException");
        let small = open(
            &dir.path().join("small"),
            Settings {
                limits: QueueLimits {
                    max_events: 100,
                    max_bytes: 200,
                },
                ..settings()
            },
        );
        let big = "x".repeat(300);
        assert!(
            small
                .push(event("big", &format!("\"{big}\"")))
                .await
                .is_err()
        );
        assert_eq!(small.len(), 0, "a refused event takes no room");
    }

    #[tokio::test(start_paused = true)]
    async fn events_on_disk_are_delivered_after_a_restart_with_their_attempts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = dir.path().join("events/0000000000000001.event");
        {
            let q = open(dir.path(), settings());
            let f = Script::new(vec![error()]);
            let run = tokio::spawn(q.clone().run(f.clone()));
            q.push(event("tried", r#"{"i":0}"#)).await.expect("queued");
            until("the failed attempt on disk", || {
                fs::read_to_string(&first).is_ok_and(|t| t.contains("\"attempts\":1"))
            })
            .await;
            // Nothing more is delivered in this run.
            q.configure(Settings {
                concurrency: 0,
                ..settings()
            });
            q.push(event("fresh", r#"{"i":1}"#)).await.expect("queued");
            q.stop();
            run.await.expect("stopped");
        }
        // A stray temporary file (a write cut by a crash) is not an event.
        fs::write(dir.path().join("events/00000000000000ff.tmp"), b"partial").expect("write");
        let q = open(dir.path(), settings());
        assert_eq!(q.len(), 2);
        let f = Script::new(vec![error()]);
        tokio::spawn(q.clone().run(f.clone()));
        until("both delivered", || q.len() == 0).await;
        let calls = f.calls();
        let ids: Vec<&str> = calls.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, ["tried", "fresh", "tried"]);
        // Its second failure: the second retry comes two minutes later, as the count of
        // attempts survived.
        assert_eq!(calls[2].0 - calls[0].0, Duration::from_secs(120));
        assert!(f.records().is_empty());
        assert!(!dir.path().join("events/00000000000000ff.tmp").exists());
    }
}
