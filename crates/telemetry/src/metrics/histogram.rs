//! Fixed-bucket histograms stored as integer atomics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Envoy's default histogram buckets, which Istio's `istio_request_duration_milliseconds` uses
/// (milliseconds), and which Istio's `istio_request_bytes`/`istio_response_bytes` also get
/// unless `sidecar.istio.io/statsHistogramBuckets` overrides them: Istio's stats filter records
/// those with `Unit::Bytes` and Envoy's `HistogramSettingsImpl::defaultBuckets()` applies.
pub const ENVOY_DEFAULT_BUCKETS: &[f64] = &[
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Decade buckets for byte sizes, 1 B to 1 GB, for deployments that want the coarser size
/// histogram (what `sidecar.istio.io/statsHistogramBuckets` is typically set to).
pub const DECADE_BYTE_BUCKETS: &[f64] = &[
    1.0,
    10.0,
    100.0,
    1000.0,
    10000.0,
    100000.0,
    1000000.0,
    10000000.0,
    100000000.0,
    1000000000.0,
];

/// The Prometheus client libraries' default buckets, in seconds.
pub const PROMETHEUS_DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds of one histogram family, kept both as the `le` values to print and as
/// integers in the family's recording unit, so recording compares integers only.
#[derive(Debug)]
pub(crate) struct Layout {
    /// The `le` bounds as configured.
    pub(crate) bounds: Box<[f64]>,
    /// The bounds multiplied by `scale`, rounded up so that `v <= bound` is kept.
    pub(crate) scaled: Box<[u64]>,
    /// How many recording units make one unit of the metric (1e6 ns per ms, ...).
    pub(crate) scale: f64,
}

impl Layout {
    /// Checks the buckets: non-empty, finite, non-negative and strictly increasing.
    pub(crate) fn new(bounds: &[f64], scale: f64) -> Option<Layout> {
        let valid = !bounds.is_empty()
            && bounds.iter().all(|b| b.is_finite() && *b >= 0.0)
            && bounds.windows(2).all(|w| w[0] < w[1]);
        if !valid {
            return None;
        }
        Some(Layout {
            bounds: bounds.into(),
            scaled: bounds.iter().map(|b| (b * scale).floor() as u64).collect(),
            scale,
        })
    }

    /// The index of the bucket that counts `value` (in recording units); the last index
    /// (`bounds.len()`) is `+Inf`.
    #[inline]
    pub(crate) fn bucket(&self, value: u64) -> usize {
        self.scaled.partition_point(|b| *b < value)
    }
}

/// The counters of one histogram series: one per bucket (not cumulative) plus `+Inf`, and the
/// sum in recording units. The count is the sum of the buckets, so an observation is two adds.
#[derive(Debug)]
pub(crate) struct Cells {
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Cells {
    pub(crate) fn new(layout: &Layout) -> Cells {
        Cells {
            counts: (0..=layout.bounds.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn observe(&self, layout: &Layout, value: u64) {
        if let Some(cell) = self.counts.get(layout.bucket(value)) {
            cell.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Cumulative bucket counts (`le` order, `+Inf` last), the sum in metric units, the count.
    pub(crate) fn snapshot(&self, layout: &Layout) -> (Vec<u64>, f64, u64) {
        let mut cumulative = Vec::with_capacity(self.counts.len());
        let mut running = 0u64;
        for c in self.counts.iter() {
            running += c.load(Ordering::Relaxed);
            cumulative.push(running);
        }
        let sum = self.sum.load(Ordering::Relaxed) as f64 / layout.scale;
        (cumulative, sum, running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_like_prometheus_le() {
        let layout = Layout::new(&[0.5, 1.0, 5.0], 1_000_000.0).expect("valid buckets");
        assert_eq!(layout.bucket(0), 0);
        assert_eq!(layout.bucket(500_000), 0, "0.5 ms belongs to le=0.5");
        assert_eq!(layout.bucket(500_001), 1);
        assert_eq!(layout.bucket(5_000_000), 2);
        assert_eq!(layout.bucket(5_000_001), 3, "beyond the last bound is +Inf");
    }

    #[test]
    fn snapshot_is_cumulative() {
        let layout = Layout::new(&[1.0, 10.0], 1.0).expect("valid buckets");
        let cells = Cells::new(&layout);
        for v in [0, 1, 2, 10, 11, 1000] {
            cells.observe(&layout, v);
        }
        let (buckets, sum, count) = cells.snapshot(&layout);
        assert_eq!(buckets, vec![2, 4, 6]);
        assert_eq!(sum, 1024.0);
        assert_eq!(count, 6);
    }

    #[test]
    fn rejects_bad_buckets() {
        assert!(Layout::new(&[], 1.0).is_none());
        assert!(Layout::new(&[1.0, 1.0], 1.0).is_none());
        assert!(Layout::new(&[f64::NAN], 1.0).is_none());
    }
}
