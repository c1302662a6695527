//! What an invocation is asked to do and what it produced, in Lambda's terms.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::oneshot;

/// A request to run a function once.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    /// The event (JSON).
    pub payload: Bytes,
    /// `Lambda-Runtime-Client-Context`: JSON from a mobile SDK client, if any.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity`: JSON, if any.
    pub cognito_identity: Option<String>,
    /// The X-Ray trace header to pass on; one is made when absent.
    pub trace_id: Option<String>,
    /// Keep this invocation's log lines in the result (for `X-Amz-Log-Type: Tail` and the
    /// CLI).
    pub want_logs: bool,
    /// The request id to use; a UUID is made when absent.
    pub request_id: Option<String>,
    /// Set for an Azure Functions invocation: the log gets Azure's `Executing`/`Executed`
    /// lines for this function instead of Lambda's `START`/`END`/`REPORT`.
    pub azure: Option<AzureLabel>,
    /// Which try of a queued event this is (1 for the first); 0 outside the queue.
    pub attempt: u32,
}

/// The function and trigger reason of an Azure Functions invocation, for its log lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureLabel {
    /// `Functions.<name>`.
    pub function: String,
    /// Why it runs (`This function was programmatically called via the host APIs.`).
    pub reason: String,
}

/// How an invocation ended, as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handler returned this payload.
    Success(Bytes),
    /// The function failed (handler error, timeout, crash, init error): an `Unhandled`
    /// function error with Lambda's error document.
    FunctionError {
        /// `errorType` (`Error`, `Runtime.ExitError`, `Sandbox.Timedout`, ...).
        error_type: String,
        /// The error document (JSON).
        payload: Bytes,
    },
}

impl Outcome {
    /// The payload returned to the caller, success or not.
    pub fn payload(&self) -> &Bytes {
        match self {
            Outcome::Success(p) | Outcome::FunctionError { payload: p, .. } => p,
        }
    }

    /// True for function errors.
    pub fn is_error(&self) -> bool {
        matches!(self, Outcome::FunctionError { .. })
    }

    /// A function error with Lambda's platform error shape
    /// (`{"errorType": ..., "errorMessage": "RequestId: ... Error: ..."}`).
    pub(crate) fn platform_error(error_type: &str, request_id: &str, message: &str) -> Self {
        let body = serde_json::json!({
            "errorType": error_type,
            "errorMessage": format!("RequestId: {request_id} Error: {message}"),
        });
        Outcome::FunctionError {
            error_type: error_type.to_owned(),
            payload: Bytes::from(body.to_string()),
        }
    }
}

/// The result of one invocation.
#[derive(Debug, Clone)]
pub struct InvokeResult {
    /// The request id.
    pub request_id: String,
    /// Success or function error.
    pub outcome: Outcome,
    /// The invocation's log lines (`START` to `REPORT`), when asked for.
    pub logs: Option<String>,
    /// True when a new execution environment was started for it.
    pub cold_start: bool,
    /// Init duration of a cold start.
    pub init_duration: Option<Duration>,
    /// Time from handing the event to the runtime to its answer.
    pub duration: Duration,
    /// Content type of a streamed response, if the function set one.
    pub content_type: Option<String>,
}

impl InvokeResult {
    /// The last 4 KB of the logs, as `X-Amz-Log-Result` carries them (before base64).
    pub fn log_tail(&self) -> Option<&str> {
        let logs = self.logs.as_deref()?;
        let mut start = logs.len().saturating_sub(4096);
        while !logs.is_char_boundary(start) {
            start += 1;
        }
        Some(&logs[start..])
    }
}

/// When an invocation must end, as an instant and as the epoch milliseconds the runtime
/// sees in `Lambda-Runtime-Deadline-Ms`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub at: tokio::time::Instant,
    pub epoch_ms: u64,
}

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + timeout;
        Self {
            at: tokio::time::Instant::now() + timeout,
            epoch_ms: u64::try_from(epoch.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// What the runtime answered through the Runtime API.
#[derive(Debug)]
pub(crate) enum RuntimeReply {
    /// `/response`.
    Response {
        body: Bytes,
        content_type: Option<String>,
    },
    /// `/error`, or an error trailer of a streamed response.
    Error { error_type: String, body: Bytes },
    /// `/init/error`.
    InitError { error_type: String, body: Bytes },
}

/// An invocation handed to an instance's Runtime API.
#[derive(Debug)]
pub(crate) struct Dispatch {
    pub request_id: String,
    pub payload: Bytes,
    pub timeout: Duration,
    pub trace_id: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    /// Told when the runtime takes the event (`/next`), with the deadline it was given.
    pub started: oneshot::Sender<Deadline>,
    /// Told the runtime's answer.
    pub reply: oneshot::Sender<RuntimeReply>,
}

/// A new X-Ray trace header (`Root=1-<epoch hex>-<96 bits>;Parent=<64 bits>;Sampled=0`).
pub(crate) fn new_trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let a: u128 = rand::random();
    let p: u64 = rand::random();
    format!(
        "Root=1-{secs:08x}-{:024x};Parent={p:016x};Sampled=0",
        a & ((1u128 << 96) - 1)
    )
}
