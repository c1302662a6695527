//! The plane's errors, and their one mapping to the shapes AWS clients parse: the Lambda
//! service's `x-amzn-ErrorType` + `{"Type", "message"}` bodies for the Invoke API.

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use http::StatusCode;

/// Why the service refused to run an invocation (a throttle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThrottleReason {
    /// The function's `ReservedConcurrentExecutions` are all busy.
    ReservedFunctionConcurrentInvocationLimitExceeded,
    /// The host's concurrency cap (the account limit) is reached.
    ConcurrentInvocationLimitExceeded,
}

impl ThrottleReason {
    /// AWS's name for the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
            Self::ConcurrentInvocationLimitExceeded => "ConcurrentInvocationLimitExceeded",
        }
    }
}

/// Errors of the functions plane. Function errors (a handler that throws, times out or
/// crashes) are not errors here: they are outcomes of an invocation, as in Lambda.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FunctionsError {
    /// No function has this name.
    #[error("function not found: {arn}")]
    NotFound {
        /// The ARN asked for, as AWS prints it.
        arn: String,
    },
    /// Concurrency limit reached.
    #[error("rate exceeded ({})", reason.as_str())]
    Throttled {
        /// Which limit.
        reason: ThrottleReason,
    },
    /// A function's asynchronous event queue holds as much as it may.
    #[error("the asynchronous event queue of {function} is full ({events} events, {bytes} bytes)")]
    EventQueueFull {
        /// The function.
        function: String,
        /// Events held.
        events: usize,
        /// Bytes held.
        bytes: u64,
    },
    /// The request payload is over Lambda's limit.
    #[error("request payload of {size} bytes is larger than the {limit} byte limit")]
    PayloadTooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The payload is not JSON.
    #[error("could not parse request body into json: {reason}")]
    InvalidRequestContent {
        /// The parser's complaint.
        reason: String,
    },
    /// An invocation type other than RequestResponse, Event or DryRun.
    #[error("unsupported invocation type {value}")]
    InvalidInvocationType {
        /// The header's value.
        value: String,
    },
    /// The state directory cannot be prepared.
    #[error("cannot prepare {path}: {source}")]
    StateDir {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The Runtime API listener cannot be bound.
    #[error("cannot listen for the runtime api on 127.0.0.1: {0}")]
    RuntimeApiBind(io::Error),
    /// The host stopped.
    #[error("the function host is shutting down")]
    ShuttingDown,
    /// An Azure Functions app cannot be served (its worker could not index it, a route its
    /// code declares does not parse).
    #[error("function app {app}: {reason}")]
    Azure {
        /// The app.
        app: String,
        /// Why.
        reason: String,
    },
}

impl FunctionsError {
    /// The HTTP status the Lambda service answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Throttled { .. } | Self::EventQueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidRequestContent { .. } | Self::InvalidInvocationType { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::StateDir { .. }
            | Self::RuntimeApiBind(_)
            | Self::ShuttingDown
            | Self::Azure { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The exception name (`x-amzn-ErrorType`) AWS SDKs key on.
    pub fn aws_type(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "ResourceNotFoundException",
            Self::Throttled { .. } | Self::EventQueueFull { .. } => "TooManyRequestsException",
            Self::PayloadTooLarge { .. } => "RequestTooLargeException",
            Self::InvalidRequestContent { .. } => "InvalidRequestContentException",
            Self::InvalidInvocationType { .. } => "InvalidParameterValueException",
            Self::StateDir { .. }
            | Self::RuntimeApiBind(_)
            | Self::ShuttingDown
            | Self::Azure { .. } => "ServiceException",
        }
    }

    /// The JSON body the Lambda service sends with this error.
    pub fn aws_body(&self) -> Bytes {
        let message = match self {
            Self::NotFound { arn } => format!("Function not found: {arn}"),
            Self::Throttled { .. } | Self::EventQueueFull { .. } => "Rate Exceeded.".to_owned(),
            Self::PayloadTooLarge { limit, .. } => format!(
                "Request must be smaller than {limit} bytes for the InvokeFunction operation"
            ),
            Self::InvalidRequestContent { reason } => {
                format!("Could not parse request body into json: {reason}")
            }
            other => other.to_string(),
        };
        let kind = if self.status().is_server_error() {
            "Service"
        } else {
            "User"
        };
        let mut v = serde_json::json!({ "Type": kind, "message": message });
        match self {
            Self::Throttled { reason } => {
                v["Reason"] = serde_json::Value::from(reason.as_str());
            }
            // Lambda refuses asynchronous invocations it cannot take in with its
            // per-function invocation limit.
            Self::EventQueueFull { .. } => {
                v["Reason"] = serde_json::Value::from("FunctionInvocationRateLimitExceeded");
            }
            _ => {}
        }
        Bytes::from(v.to_string())
    }

    /// A complete Invoke API error response.
    pub fn to_response(&self) -> http::Response<http_body_util::Full<Bytes>> {
        let mut resp = http::Response::new(http_body_util::Full::new(self.aws_body()));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        h.insert(
            "x-amzn-ErrorType",
            http::HeaderValue::from_static(self.aws_type()),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_use_the_lambda_shape() {
        let e = FunctionsError::Throttled {
            reason: ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded,
        };
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        let v: serde_json::Value = serde_json::from_slice(&e.aws_body()).expect("json");
        assert_eq!(
            v["Reason"],
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
        assert_eq!(v["Type"], "User");
        assert_eq!(v["message"], "Rate Exceeded.");
    }
}
