//! `meridian_*` metrics for the control plane, the workload supervisor and the proxy itself,
//! with typed handles so that no caller spells a metric or label name.

use super::{Counter, Family, Gauge, Histogram, Kind, PROMETHEUS_DEFAULT_BUCKETS, Pending};
use std::sync::Arc;

/// `meridian_control_*`: config applies, snapshots and agents.
#[derive(Debug, Clone)]
pub struct ControlPlaneMetrics {
    /// `meridian_control_snapshot_version`: the version of the snapshot in force.
    pub snapshot_version: Gauge,
    /// `meridian_control_connected_agents`: agents holding a stream to this control replica.
    pub connected_agents: Gauge,
    /// `meridian_control_snapshot_pushes_total`: snapshots sent to agents.
    pub snapshot_pushes: Counter,
    /// `meridian_control_compile_duration_seconds`: time to compile resources into a snapshot.
    pub compile_duration: Histogram,
    applies_ok: Counter,
    applies_rejected: Counter,
}

impl ControlPlaneMetrics {
    pub(crate) fn register(p: &mut Pending) -> ControlPlaneMetrics {
        let applies = p.family(
            "meridian_control_config_applies_total",
            "Configuration changes received, by result (applied or rejected by validation).",
            &["result"],
            Kind::Counter,
        );
        ControlPlaneMetrics {
            snapshot_version: p
                .family(
                    "meridian_control_snapshot_version",
                    "Version of the configuration snapshot in force.",
                    &[],
                    Kind::Gauge,
                )
                .gauge(&[]),
            connected_agents: p
                .family(
                    "meridian_control_connected_agents",
                    "Agents holding a configuration stream to this control replica.",
                    &[],
                    Kind::Gauge,
                )
                .gauge(&[]),
            snapshot_pushes: p
                .family(
                    "meridian_control_snapshot_pushes_total",
                    "Configuration snapshots pushed to agents.",
                    &[],
                    Kind::Counter,
                )
                .counter(&[]),
            compile_duration: p
                .histogram(
                    "meridian_control_compile_duration_seconds",
                    "Time to compile resources into a snapshot, in seconds.",
                    &[],
                    PROMETHEUS_DEFAULT_BUCKETS,
                )
                .histogram(&[]),
            applies_ok: applies.counter(&["applied"]),
            applies_rejected: applies.counter(&["rejected"]),
        }
    }

    /// Counts one configuration change: applied, or rejected whole by validation.
    pub fn config_applied(&self, applied: bool) {
        if applied {
            self.applies_ok.inc();
        } else {
            self.applies_rejected.inc();
        }
    }
}

/// `meridian_workload_*` families; resolve one workload with [`WorkloadsMetrics::workload`].
#[derive(Debug, Clone)]
pub struct WorkloadsMetrics {
    restarts: Arc<Family>,
    ready: Arc<Family>,
    desired: Arc<Family>,
}

/// The handles of one workload (a Deployment or Compose service).
#[derive(Debug, Clone)]
pub struct WorkloadMetrics {
    /// `meridian_workload_restarts_total`: replica processes restarted by the supervisor.
    pub restarts: Counter,
    /// `meridian_workload_ready_replicas`: replicas passing their readiness probe.
    pub ready_replicas: Gauge,
    /// `meridian_workload_desired_replicas`: replicas the spec asks for.
    pub desired_replicas: Gauge,
}

impl WorkloadsMetrics {
    pub(crate) fn register(p: &mut Pending) -> WorkloadsMetrics {
        let labels = ["namespace", "workload"];
        WorkloadsMetrics {
            restarts: p.family(
                "meridian_workload_restarts_total",
                "Replica processes restarted by the supervisor.",
                &labels,
                Kind::Counter,
            ),
            ready: p.family(
                "meridian_workload_ready_replicas",
                "Replicas passing their readiness probe.",
                &labels,
                Kind::Gauge,
            ),
            desired: p.family(
                "meridian_workload_desired_replicas",
                "Replicas the workload's spec asks for.",
                &labels,
                Kind::Gauge,
            ),
        }
    }

    /// The handles for one workload, created on first use.
    pub fn workload(&self, namespace: &str, name: &str) -> WorkloadMetrics {
        let v = [namespace, name];
        WorkloadMetrics {
            restarts: self.restarts.counter(&v),
            ready_replicas: self.ready.gauge(&v),
            desired_replicas: self.desired.gauge(&v),
        }
    }
}

/// `meridian_proxy_*` families; resolve listener and cluster handles from here.
#[derive(Debug, Clone)]
pub struct ProxyMetrics {
    active: Arc<Family>,
    accepted: Arc<Family>,
    pool: Arc<Family>,
    pending: Arc<Family>,
    ejections: Arc<Family>,
    ejected: Arc<Family>,
}

/// The handles of one listener.
#[derive(Debug, Clone)]
pub struct ListenerMetrics {
    /// `meridian_proxy_downstream_connections_active`.
    pub connections_active: Gauge,
    /// `meridian_proxy_downstream_connections_total`.
    pub connections_total: Counter,
}

impl ListenerMetrics {
    /// Counts an accepted connection; it stays active until the guard drops.
    pub fn connection(&self) -> ConnectionGuard {
        self.connections_total.inc();
        self.connections_active.inc();
        ConnectionGuard {
            active: self.connections_active.clone(),
        }
    }
}

/// Decrements the active connection gauge when dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    active: Gauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.active.dec();
    }
}

/// The handles of one upstream cluster (connection pool and outlier detection).
#[derive(Debug, Clone)]
pub struct ClusterMetrics {
    /// `meridian_proxy_upstream_pool_connections{state="active"}`: connections carrying requests.
    pub pool_active: Gauge,
    /// `meridian_proxy_upstream_pool_connections{state="idle"}`: idle pooled connections.
    pub pool_idle: Gauge,
    /// `meridian_proxy_upstream_pool_pending_requests`: requests waiting for a connection.
    pub pool_pending: Gauge,
    /// `meridian_proxy_outlier_ejections_total`: endpoints ejected by outlier detection.
    pub ejections: Counter,
    /// `meridian_proxy_outlier_ejected_endpoints`: endpoints currently ejected.
    pub ejected_endpoints: Gauge,
}

impl ProxyMetrics {
    pub(crate) fn register(p: &mut Pending) -> ProxyMetrics {
        ProxyMetrics {
            active: p.family(
                "meridian_proxy_downstream_connections_active",
                "Downstream connections open on a listener.",
                &["listener"],
                Kind::Gauge,
            ),
            accepted: p.family(
                "meridian_proxy_downstream_connections_total",
                "Downstream connections accepted by a listener.",
                &["listener"],
                Kind::Counter,
            ),
            pool: p.family(
                "meridian_proxy_upstream_pool_connections",
                "Pooled upstream connections, by state (active or idle).",
                &["cluster", "state"],
                Kind::Gauge,
            ),
            pending: p.family(
                "meridian_proxy_upstream_pool_pending_requests",
                "Requests waiting for an upstream connection.",
                &["cluster"],
                Kind::Gauge,
            ),
            ejections: p.family(
                "meridian_proxy_outlier_ejections_total",
                "Upstream endpoints ejected by outlier detection.",
                &["cluster"],
                Kind::Counter,
            ),
            ejected: p.family(
                "meridian_proxy_outlier_ejected_endpoints",
                "Upstream endpoints currently ejected by outlier detection.",
                &["cluster"],
                Kind::Gauge,
            ),
        }
    }

    /// The handles of one listener (e.g. `inbound|8080` or `gateway`).
    pub fn listener(&self, name: &str) -> ListenerMetrics {
        ListenerMetrics {
            connections_active: self.active.gauge(&[name]),
            connections_total: self.accepted.counter(&[name]),
        }
    }

    /// The handles of one upstream cluster (e.g. `outbound|80|v1|myapp.default.svc.cluster.local`).
    pub fn cluster(&self, name: &str) -> ClusterMetrics {
        ClusterMetrics {
            pool_active: self.pool.gauge(&[name, "active"]),
            pool_idle: self.pool.gauge(&[name, "idle"]),
            pool_pending: self.pending.gauge(&[name]),
            ejections: self.ejections.counter(&[name]),
            ejected_endpoints: self.ejected.gauge(&[name]),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::Registry;

    #[test]
    fn plane_handles_show_up_in_the_exposition() {
        let r = Registry::new();
        let w = r.workloads().workload("default", "myapp");
        w.restarts.inc();
        w.ready_replicas.set(3);
        let l = r.proxy().listener("gateway");
        {
            let _c = l.connection();
            assert_eq!(l.connections_active.get(), 1);
        }
        assert_eq!(l.connections_active.get(), 0);
        r.proxy().cluster("outbound|80||myapp").ejections.inc();
        r.control().config_applied(false);
        let mut text = String::new();
        r.render_text(&mut text);
        assert!(text.contains(
            "meridian_workload_restarts_total{namespace=\"default\",workload=\"myapp\"} 1\n"
        ));
        assert!(text.contains(
            "meridian_workload_ready_replicas{namespace=\"default\",workload=\"myapp\"} 3\n"
        ));
        assert!(
            text.contains("meridian_proxy_downstream_connections_total{listener=\"gateway\"} 1\n")
        );
        assert!(text.contains(
            "meridian_proxy_outlier_ejections_total{cluster=\"outbound|80||myapp\"} 1\n"
        ));
        assert!(text.contains("meridian_control_config_applies_total{result=\"rejected\"} 1\n"));
        assert!(text.contains("# TYPE meridian_control_compile_duration_seconds histogram\n"));
    }
}

/// `meridian_trace_*` and `meridian_access_log_*`: the telemetry plane's own health.
#[derive(Debug, Clone)]
pub struct TelemetryMetrics {
    /// `meridian_trace_spans_exported_total`: spans the collector accepted.
    pub spans_exported: Counter,
    /// `meridian_trace_spans_dropped_total{reason="queue_full"}`.
    pub spans_dropped_queue_full: Counter,
    /// `meridian_trace_spans_dropped_total{reason="export_failed"}`.
    pub spans_dropped_export_failed: Counter,
    /// `meridian_access_log_lines_dropped_total`: lines dropped because the writer lagged.
    pub access_log_dropped: Counter,
    /// `meridian_access_log_write_errors_total`: failed writes to the log sink.
    pub access_log_write_errors: Counter,
}

impl TelemetryMetrics {
    pub(crate) fn register(p: &mut Pending) -> TelemetryMetrics {
        let dropped = p.family(
            "meridian_trace_spans_dropped_total",
            "Spans not exported, by reason (queue_full, export_failed).",
            &["reason"],
            Kind::Counter,
        );
        TelemetryMetrics {
            spans_exported: p
                .family(
                    "meridian_trace_spans_exported_total",
                    "Spans accepted by the OTLP collector.",
                    &[],
                    Kind::Counter,
                )
                .counter(&[]),
            spans_dropped_queue_full: dropped.counter(&["queue_full"]),
            spans_dropped_export_failed: dropped.counter(&["export_failed"]),
            access_log_dropped: p
                .family(
                    "meridian_access_log_lines_dropped_total",
                    "Access log lines dropped because the writer could not keep up.",
                    &[],
                    Kind::Counter,
                )
                .counter(&[]),
            access_log_write_errors: p
                .family(
                    "meridian_access_log_write_errors_total",
                    "Failed writes of access log lines to their sink.",
                    &[],
                    Kind::Counter,
                )
                .counter(&[]),
        }
    }
}
