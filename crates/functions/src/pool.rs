//! The execution environments of one function: warm reuse, scale-out on demand up to the
//! function's reserved concurrency and the host's cap (beyond which invocations are
//! throttled, as Lambda does, not queued), and draining on reload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam_queue::SegQueue;
use meridian_config::sam::FunctionSpec;

use crate::error::{FunctionsError, ThrottleReason};
use crate::instance::{Blueprint, Instance};
use crate::invocation::{InvokeRequest, InvokeResult, Outcome};

/// Invocations in flight across the host, against its cap.
#[derive(Debug)]
pub(crate) struct Concurrency {
    pub in_flight: AtomicUsize,
    pub cap: usize,
}

/// Counters of one function.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub invocations: AtomicU64,
    pub errors: AtomicU64,
    pub cold_starts: AtomicU64,
    pub throttles: AtomicU64,
    /// Log lines dropped because the log could not keep up, across environments.
    pub log_dropped: Arc<AtomicU64>,
}

/// One function's environments.
#[derive(Debug)]
pub(crate) struct Pool {
    pub spec: Arc<FunctionSpec>,
    /// The configuration generation whose task root this pool runs from.
    pub generation: u64,
    pub blueprint: Blueprint,
    idle: SegQueue<Arc<Instance>>,
    live: Arc<AtomicUsize>,
    in_flight: AtomicUsize,
    draining: AtomicBool,
    next_id: AtomicU64,
    pub stats: Arc<Stats>,
    global: Arc<Concurrency>,
}

/// Gives back a concurrency slot however the invocation ends.
struct Slot {
    pool: Arc<Pool>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.pool.global.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pool {
    pub(crate) fn new(
        spec: Arc<FunctionSpec>,
        blueprint: Blueprint,
        generation: u64,
        stats: Arc<Stats>,
        global: Arc<Concurrency>,
    ) -> Self {
        Self {
            spec,
            generation,
            blueprint,
            idle: SegQueue::new(),
            live: Arc::new(AtomicUsize::new(0)),
            in_flight: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            stats,
            global,
        }
    }

    fn admit(self: &Arc<Self>) -> Result<Slot, FunctionsError> {
        let limit = self
            .spec
            .reserved_concurrency
            .map_or(usize::MAX, |n| n as usize);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(FunctionsError::Throttled {
                reason: ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded,
            });
        }
        if self.global.in_flight.fetch_add(1, Ordering::AcqRel) >= self.global.cap {
            self.global.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(FunctionsError::Throttled {
                reason: ThrottleReason::ConcurrentInvocationLimitExceeded,
            });
        }
        Ok(Slot { pool: self.clone() })
    }

    /// Runs one invocation on a warm instance, or a new one. The invocation runs to its end
    /// even if the caller stops waiting (a client that disconnects), as in Lambda.
    pub(crate) async fn invoke(
        self: &Arc<Self>,
        req: InvokeRequest,
    ) -> Result<InvokeResult, FunctionsError> {
        let slot = match self.admit() {
            Ok(s) => s,
            Err(e) => {
                self.stats.throttles.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let pool = self.clone();
        tokio::spawn(async move { pool.run(slot, req).await })
            .await
            .map_err(|_| FunctionsError::ShuttingDown)
    }

    async fn run(&self, slot: Slot, req: InvokeRequest) -> InvokeResult {
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        let request_id = req
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let warm = loop {
            match self.idle.pop() {
                Some(i) if i.try_acquire() => break Some(i),
                Some(_) => continue,
                None => break None,
            }
        };
        let (inst, cold) = match warm {
            Some(i) => (i, false),
            None => {
                self.stats.cold_starts.fetch_add(1, Ordering::Relaxed);
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                match Instance::spawn(&self.blueprint, id, self.live.clone()).await {
                    Ok(i) => (i, true),
                    Err(e) => {
                        self.stats.errors.fetch_add(1, Ordering::Relaxed);
                        drop(slot);
                        return InvokeResult {
                            outcome: Outcome::platform_error(
                                "Runtime.InvalidEntrypoint",
                                &request_id,
                                &e.0,
                            ),
                            request_id,
                            logs: req.want_logs.then(|| e.0.clone()),
                            cold_start: true,
                            init_duration: None,
                            duration: std::time::Duration::ZERO,
                            content_type: None,
                        };
                    }
                }
            }
        };
        let (result, alive) = inst.run(&req, request_id, cold).await;
        if result.outcome.is_error() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        if alive && !self.draining.load(Ordering::Acquire) {
            inst.release();
            self.idle.push(inst);
            // A drain that ran between the check and the push must not miss this one.
            if self.draining.load(Ordering::Acquire) {
                self.kill_idle();
            }
        } else {
            inst.kill();
        }
        drop(slot);
        result
    }

    fn kill_idle(&self) {
        while let Some(i) = self.idle.pop() {
            i.kill();
        }
    }

    /// Stops taking new invocations on this pool: idle instances are killed now, busy ones
    /// when their invocation ends.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.kill_idle();
    }

    /// Live instances (starting, busy or idle).
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Invocations running now.
    pub(crate) fn busy(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.kill_idle();
    }
}
