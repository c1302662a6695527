//! The Lambda Runtime API (2018-06-01), one listener per execution environment on
//! 127.0.0.1, as AWS gives each environment its own endpoint in `AWS_LAMBDA_RUNTIME_API`.
//!
//! `GET /runtime/invocation/next` long-polls for the next event; `POST
//! /runtime/invocation/{id}/response` (buffered, or streamed with
//! `Lambda-Runtime-Function-Response-Mode: streaming` and error trailers),
//! `/runtime/invocation/{id}/error` and `/runtime/init/error` report back. Any JSON error
//! body is accepted, as the official runtime clients each send their own shape.

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::invocation::{Deadline, Dispatch, RuntimeReply};

/// Lambda's limit on a buffered response (6 MB).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// Lambda's limit on a streamed response (200 MB).
pub const MAX_STREAMED_BYTES: usize = 200 * 1024 * 1024;

const PREFIX: &str = "/2018-06-01/runtime";

/// How long to wait after a failed `accept` (out of file descriptors, a listener in error)
/// before the next: such a failure returns at once, so retrying at once would spin.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// The state behind one environment's Runtime API.
#[derive(Debug)]
pub(crate) struct RuntimeApi {
    /// Events waiting for `/next`.
    next: Mutex<mpsc::Receiver<Dispatch>>,
    /// The invocation the runtime is working on: its id and where its answer goes.
    current: Mutex<Option<(String, oneshot::Sender<RuntimeReply>)>>,
    /// An init error reported before any event was taken.
    pub(crate) init_error: Mutex<Option<(String, Bytes)>>,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    arn: HeaderValue,
}

type Resp = Response<Full<Bytes>>;

fn json(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn accepted() -> Resp {
    json(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Resp {
    json(
        status,
        serde_json::json!({"errorType": error_type, "errorMessage": message}),
    )
}

/// The error type a runtime reported: the header, else the body's `errorType`.
fn error_type(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(v) = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        return v.to_owned();
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "Unhandled".to_owned())
}

impl RuntimeApi {
    pub(crate) fn new(next: mpsc::Receiver<Dispatch>, arn: &str) -> Self {
        Self {
            next: Mutex::new(next),
            current: Mutex::new(None),
            init_error: Mutex::new(None),
            arn: HeaderValue::from_str(arn).unwrap_or(HeaderValue::from_static("")),
        }
    }

    /// Serves the API on `listener` until the task is aborted.
    pub(crate) async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "runtime api: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let api = self.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(api.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Resp {
        let path = req.uri().path().to_owned();
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return api_error(StatusCode::NOT_FOUND, "InvalidRequest", "unknown path");
        };
        match (req.method(), rest) {
            (&Method::GET, "/invocation/next") => self.next().await,
            (&Method::POST, "/init/error") => self.init_error(req).await,
            (&Method::POST, r) if r.starts_with("/invocation/") => {
                let tail = &r["/invocation/".len()..];
                match tail.rsplit_once('/') {
                    Some((id, "response")) => {
                        let id = id.to_owned();
                        self.response(&id, req).await
                    }
                    Some((id, "error")) => {
                        let id = id.to_owned();
                        self.error(&id, req).await
                    }
                    _ => api_error(StatusCode::NOT_FOUND, "InvalidRequest", "unknown path"),
                }
            }
            _ => api_error(StatusCode::NOT_FOUND, "InvalidRequest", "unknown path"),
        }
    }

    async fn next(&self) -> Resp {
        let dispatch = {
            let mut rx = self.next.lock().await;
            rx.recv().await
        };
        let Some(d) = dispatch else {
            // The environment is shutting down; AWS would freeze or kill the process here.
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Runtime.Shutdown",
                "the execution environment is shutting down",
            );
        };
        let deadline = Deadline::after(d.timeout);
        *self.current.lock().await = Some((d.request_id.clone(), d.reply));
        let _ = d.started.send(deadline);
        let mut r = Response::new(Full::new(d.payload));
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut set = |name: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(name, v);
            }
        };
        set("lambda-runtime-aws-request-id", &d.request_id);
        set("lambda-runtime-deadline-ms", &deadline.epoch_ms.to_string());
        set("lambda-runtime-trace-id", &d.trace_id);
        if let Some(c) = &d.client_context {
            set("lambda-runtime-client-context", c);
        }
        if let Some(c) = &d.cognito_identity {
            set("lambda-runtime-cognito-identity", c);
        }
        h.insert("lambda-runtime-invoked-function-arn", self.arn.clone());
        r
    }

    /// Takes the reply channel of invocation `id`, if it is the current one.
    async fn take(&self, id: &str) -> Option<oneshot::Sender<RuntimeReply>> {
        let mut cur = self.current.lock().await;
        match cur.as_ref() {
            Some((cid, _)) if cid == id => cur.take().map(|(_, tx)| tx),
            _ => None,
        }
    }

    async fn response(&self, id: &str, req: Request<Incoming>) -> Resp {
        let streaming = req
            .headers()
            .get("lambda-runtime-function-response-mode")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(tx) = self.take(id).await else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "Invalid request ID",
            );
        };
        let limit = if streaming {
            MAX_STREAMED_BYTES
        } else {
            MAX_RESPONSE_BYTES
        };
        let collected = Limited::new(req.into_body(), limit).collect().await;
        let reply = match collected {
            Ok(c) => {
                let trailers = c.trailers().cloned();
                let body = c.to_bytes();
                match trailers
                    .as_ref()
                    .and_then(|t| t.get("lambda-runtime-function-error-type"))
                {
                    Some(t) => {
                        let error_type = t.to_str().unwrap_or("Unhandled").to_owned();
                        let err_body = trailers
                            .as_ref()
                            .and_then(|t| t.get("lambda-runtime-function-error-body"))
                            .and_then(|b| {
                                base64::engine::general_purpose::STANDARD
                                    .decode(b.as_bytes())
                                    .ok()
                            })
                            .map(Bytes::from)
                            .unwrap_or_else(|| {
                                Bytes::from(
                                    serde_json::json!({"errorType": error_type, "errorMessage": "streamed response failed"})
                                        .to_string(),
                                )
                            });
                        RuntimeReply::Error {
                            error_type,
                            body: err_body,
                        }
                    }
                    None => RuntimeReply::Response {
                        body,
                        content_type: if streaming { content_type } else { None },
                    },
                }
            }
            Err(_) => {
                let message = format!(
                    "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                );
                let body = serde_json::json!({
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": message,
                });
                let _ = tx.send(RuntimeReply::Error {
                    error_type: "Function.ResponseSizeTooLarge".into(),
                    body: Bytes::from(body.to_string()),
                });
                return api_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    &message,
                );
            }
        };
        let _ = tx.send(reply);
        accepted()
    }

    async fn error(&self, id: &str, req: Request<Incoming>) -> Resp {
        let Some(tx) = self.take(id).await else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "Invalid request ID",
            );
        };
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let error_type = error_type(&parts.headers, &body);
        let body = if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
            body
        } else {
            Bytes::from(
                serde_json::json!({"errorType": error_type, "errorMessage": String::from_utf8_lossy(&body)})
                    .to_string(),
            )
        };
        let _ = tx.send(RuntimeReply::Error { error_type, body });
        accepted()
    }

    async fn init_error(&self, req: Request<Incoming>) -> Resp {
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let error_type = error_type(&parts.headers, &body);
        // The event waiting for this environment fails with the init error.
        let pending = self.next.lock().await.try_recv().ok();
        match pending {
            Some(d) => {
                let _ = d.reply.send(RuntimeReply::InitError { error_type, body });
            }
            None => *self.init_error.lock().await = Some((error_type, body)),
        }
        accepted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing::span;

    /// Counts the warnings logged on this thread.
    struct Warnings(Arc<AtomicUsize>);

    impl tracing::Subscriber for Warnings {
        fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
            *m.level() == tracing::Level::WARN
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    async fn run_a_while() {
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_accept_backs_off_instead_of_spinning() {
        let warnings = Arc::new(AtomicUsize::new(0));
        let _guard = tracing::subscriber::set_default(Warnings(warnings.clone()));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        // A listening socket shut down for reading fails every accept (EINVAL), at once.
        socket2::SockRef::from(&listener)
            .shutdown(std::net::Shutdown::Read)
            .expect("shutdown");
        let (_tx, rx) = mpsc::channel(1);
        let api = Arc::new(RuntimeApi::new(rx, "arn:aws:lambda:us-east-1:1:function:f"));
        let server = tokio::spawn(api.serve(listener));
        // The clock is paused: without a pause between attempts the loop would fail again
        // and again while this task yields.
        run_a_while().await;
        assert_eq!(
            warnings.load(Ordering::SeqCst),
            1,
            "one failure, then a pause"
        );
        tokio::time::advance(ACCEPT_BACKOFF).await;
        run_a_while().await;
        assert_eq!(
            warnings.load(Ordering::SeqCst),
            2,
            "tried again after the pause"
        );
        server.abort();
    }
}
