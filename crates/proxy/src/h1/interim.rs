//! Interim (1xx) responses relayed from an upstream to the client, as RFC 9110 §15.2 asks of
//! a proxy: `103 Early Hints` and `102 Processing` an origin sends before its final response
//! reach the viewer before it, and are never cached (they are not the response).
//!
//! The downstream HTTP/1.1 server gives each request a queue, in scope for the task that
//! serves it; the HTTP/1.1 client, running in that task, puts each interim head it reads
//! there and the server writes it out while the final response is awaited. Work spawned
//! off the request (mirrors, background revalidation) is outside the scope, so what it reads
//! goes nowhere. `100 Continue` is hop-by-hop (the server sends its own) and is not relayed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http::{HeaderMap, StatusCode};
use tokio::sync::Notify;

use crate::headers::strip_hop_by_hop;

/// Interim heads waiting to be written to one client connection.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    heads: Mutex<Vec<(StatusCode, HeaderMap)>>,
    /// Whether `heads` may hold any: the server checks this after every response, and
    /// almost none has an interim head, so the lock is taken only when one was queued.
    queued: AtomicBool,
    ready: Notify,
}

/// At most this many interim heads are kept per response; more are dropped (an origin that
/// sends endless 1xx cannot grow the queue).
const MAX_PENDING: usize = 16;

tokio::task_local! {
    static QUEUE: Arc<Queue>;
}

impl Queue {
    /// Polls `serve` with this queue as the one interim heads go to. The future is polled
    /// where it lies (a request's future is large, and moving it into a wrapper per
    /// request costs more than the rest of this).
    pub(crate) fn poll_in_scope<F: Future>(
        self: &Arc<Self>,
        serve: std::pin::Pin<&mut F>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        QUEUE.sync_scope(Arc::clone(self), || serve.poll(cx))
    }

    /// Waits until a head is queued.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The heads queued so far, in order.
    pub(crate) fn take(&self) -> Vec<(StatusCode, HeaderMap)> {
        if !self.queued.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        self.heads
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default()
    }
}

/// Relays an interim head read from an upstream, when the task serves a client that can
/// take it.
pub(crate) fn relay(status: StatusCode, mut headers: HeaderMap) {
    if status == StatusCode::CONTINUE || status == StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    strip_hop_by_hop(&mut headers, false);
    let _ = QUEUE.try_with(|q| {
        if let Ok(mut heads) = q.heads.lock()
            && heads.len() < MAX_PENDING
        {
            heads.push((status, headers));
            q.queued.store(true, Ordering::Release);
            q.ready.notify_one();
        }
    });
}
