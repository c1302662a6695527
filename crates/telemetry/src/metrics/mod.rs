//! The metric registry: Istio's standard metrics, `meridian_*` metrics for every plane, and
//! the handles the planes update.
//!
//! Design for the hot path: a caller resolves its labels once into a handle (an `Arc` around
//! atomics) and keeps it; recording is then relaxed atomic adds with no lock and no allocation.
//! Locks (std `RwLock`) are taken only when a handle is resolved and when the registry is
//! gathered for a scrape.

mod histogram;
mod istio;
mod plane;

pub use histogram::{DECADE_BYTE_BUCKETS, ENVOY_DEFAULT_BUCKETS, PROMETHEUS_DEFAULT_BUCKETS};
pub use istio::{
    ConnectionSecurityPolicy, HttpMetrics, HttpRecord, IstioBuckets, IstioLabels, IstioMetrics,
    Reporter, RequestProtocol, ServiceLabels, TcpMetrics, WorkloadLabels,
};
pub use plane::{
    ClusterMetrics, ConnectionGuard, ControlPlaneMetrics, ListenerMetrics, ProxyMetrics,
    TelemetryMetrics, WorkloadMetrics, WorkloadsMetrics,
};

use crate::Error;
use histogram::{Cells, Layout};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// The type of a metric family, as in the exposition format's `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonically increasing count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Bucketed observations with `_bucket`, `_sum` and `_count` series.
    Histogram,
    /// No type information (what `/federate` emits).
    Untyped,
}

impl MetricKind {
    /// The word used on `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Untyped => "untyped",
        }
    }
}

/// A label name or value in a snapshot; shared with the live series, so gathering copies
/// pointers, not strings.
pub type LabelText = Arc<str>;

/// One sample of a gathered family.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Appended to the family name: `""`, `"_bucket"`, `"_sum"` or `"_count"`.
    pub suffix: &'static str,
    /// Label pairs in output order (`le` last for buckets). Values are raw, not escaped.
    pub labels: Vec<(LabelText, LabelText)>,
    /// The value.
    pub value: f64,
}

/// A gathered metric family: what one scrape sees.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The family name (`istio_requests_total`, `istio_request_bytes`, ...).
    pub name: String,
    /// The `# HELP` text.
    pub help: String,
    /// The `# TYPE`.
    pub kind: MetricKind,
    /// Its samples.
    pub samples: Vec<Sample>,
}

/// Something the registry asks for families at gather time.
pub(crate) trait Collect: Send + Sync {
    /// Appends this collector's families (possibly empty ones) to `out`.
    fn collect(&self, out: &mut Vec<MetricFamily>);
}

/// Choices made when a registry is built.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Buckets of the Istio histograms.
    pub istio_buckets: IstioBuckets,
    /// Whether to expose `process_*` metrics read from `/proc/self`.
    pub process_metrics: bool,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            istio_buckets: IstioBuckets::default(),
            process_metrics: true,
        }
    }
}

/// All metrics of one Meridian process. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    collectors: RwLock<Vec<Arc<dyn Collect>>>,
    names: RwLock<BTreeSet<String>>,
    istio: IstioMetrics,
    control: ControlPlaneMetrics,
    workloads: WorkloadsMetrics,
    proxy: ProxyMetrics,
    telemetry: TelemetryMetrics,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self
            .inner
            .names
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Registry")
            .field("families", &*names)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// A registry with the Istio metrics (Envoy's default buckets), the `meridian_*` plane
    /// metrics and the `process_*` metrics.
    pub fn new() -> Registry {
        Registry::with_options(RegistryOptions::default())
    }

    /// A registry built with explicit options.
    pub fn with_options(options: RegistryOptions) -> Registry {
        let istio = IstioMetrics::new(&options.istio_buckets);
        let mut collectors: Vec<Arc<dyn Collect>> = vec![Arc::new(istio.clone())];
        let mut names: BTreeSet<String> = IstioMetrics::FAMILY_NAMES
            .iter()
            .map(|n| (*n).to_owned())
            .collect();
        if options.process_metrics {
            collectors.push(Arc::new(crate::process::ProcessCollector::new()));
            names.extend(
                crate::process::ProcessCollector::FAMILY_NAMES
                    .iter()
                    .map(|n| (*n).to_owned()),
            );
        }
        let mut pending = Pending {
            collectors,
            names,
            failed: None,
        };
        let control = ControlPlaneMetrics::register(&mut pending);
        let workloads = WorkloadsMetrics::register(&mut pending);
        let proxy = ProxyMetrics::register(&mut pending);
        let telemetry = TelemetryMetrics::register(&mut pending);
        debug_assert!(
            pending.failed.is_none(),
            "built-in families: {:?}",
            pending.failed
        );
        Registry {
            inner: Arc::new(RegistryInner {
                collectors: RwLock::new(pending.collectors),
                names: RwLock::new(pending.names),
                istio,
                control,
                workloads,
                proxy,
                telemetry,
            }),
        }
    }

    /// Istio's standard metrics; resolve handles from here.
    pub fn istio(&self) -> &IstioMetrics {
        &self.inner.istio
    }

    /// `meridian_control_*` metrics.
    pub fn control(&self) -> &ControlPlaneMetrics {
        &self.inner.control
    }

    /// `meridian_workload_*` metrics; resolve one workload's handles from here.
    pub fn workloads(&self) -> &WorkloadsMetrics {
        &self.inner.workloads
    }

    /// `meridian_proxy_*` metrics; resolve listener and cluster handles from here.
    pub fn proxy(&self) -> &ProxyMetrics {
        &self.inner.proxy
    }

    /// `meridian_trace_*` and `meridian_access_log_*`: the exporters' own counters.
    pub fn telemetry(&self) -> &TelemetryMetrics {
        &self.inner.telemetry
    }

    /// Registers a counter family with the given label names.
    ///
    /// Name counters with their `_total` suffix; the exposition prints names as given.
    pub fn counter_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<CounterVec, Error> {
        let family = Arc::new(Family::new(name, help, labels, Kind::Counter)?);
        self.register(name, family.clone())?;
        Ok(CounterVec { family })
    }

    /// Registers a gauge family with the given label names.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, Error> {
        let family = Arc::new(Family::new(name, help, labels, Kind::Gauge)?);
        self.register(name, family.clone())?;
        Ok(GaugeVec { family })
    }

    /// Registers a histogram family; values are observed in the metric's unit (e.g. seconds).
    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HistogramVec, Error> {
        let family = Arc::new(Family::new_histogram(name, help, labels, buckets)?);
        self.register(name, family.clone())?;
        Ok(HistogramVec { family })
    }

    /// Registers a counter without labels.
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, Error> {
        Ok(self.counter_vec(name, help, &[])?.family.counter(&[]))
    }

    /// Registers a gauge without labels.
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, Error> {
        Ok(self.gauge_vec(name, help, &[])?.family.gauge(&[]))
    }

    fn register(&self, name: &str, collector: Arc<dyn Collect>) -> Result<(), Error> {
        let mut names = self
            .inner
            .names
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !names.insert(name.to_owned()) {
            return Err(Error::DuplicateMetric {
                name: name.to_owned(),
            });
        }
        self.inner
            .collectors
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(collector);
        Ok(())
    }

    /// Reads every series once: families sorted by name, empty families left out.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let collectors: Vec<Arc<dyn Collect>> = self
            .inner
            .collectors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut out = Vec::new();
        for c in &collectors {
            c.collect(&mut out);
        }
        out.retain(|f| !f.samples.is_empty());
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Renders every family in the Prometheus text format 0.0.4 into `out`.
    pub fn render_text(&self, out: &mut String) {
        crate::exposition::render(&self.gather(), out);
    }
}

/// Families registered while the registry is being built, before it is shared.
pub(crate) struct Pending {
    collectors: Vec<Arc<dyn Collect>>,
    names: BTreeSet<String>,
    failed: Option<Error>,
}

impl Pending {
    /// Registers a family known at compile time; a clash is a bug, kept as an error for tests.
    fn family(&mut self, name: &str, help: &str, labels: &[&str], kind: Kind) -> Arc<Family> {
        let family = match Family::new(name, help, labels, kind) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                self.failed.get_or_insert(e);
                Arc::new(Family::unchecked(name, help, labels, Kind::Counter))
            }
        };
        if !self.names.insert(name.to_owned()) {
            self.failed.get_or_insert(Error::DuplicateMetric {
                name: name.to_owned(),
            });
        }
        self.collectors.push(family.clone());
        family
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Arc<Family> {
        let family = match Family::new_histogram(name, help, labels, buckets) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                self.failed.get_or_insert(e);
                Arc::new(Family::unchecked(name, help, labels, Kind::Counter))
            }
        };
        self.names.insert(name.to_owned());
        self.collectors.push(family.clone());
        family
    }
}

/// Whether `name` is a valid Prometheus metric name.
pub(crate) fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid Prometheus label name.
pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug)]
enum Kind {
    Counter,
    Gauge,
    Histogram(Arc<Layout>),
}

#[derive(Debug, Clone)]
enum Child {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<AtomicI64>),
    Histogram(Arc<Cells>),
}

/// One labelled family: children resolved by label values.
#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    label_names: Box<[LabelText]>,
    kind: Kind,
    children: RwLock<HashMap<Box<[LabelText]>, Child>>,
}

/// Nanounits per unit for generic histograms: durations in seconds keep nanosecond precision.
const HISTOGRAM_SCALE: f64 = 1e9;

impl Family {
    fn new(name: &str, help: &str, labels: &[&str], kind: Kind) -> Result<Family, Error> {
        if !valid_metric_name(name) {
            return Err(Error::InvalidMetricName {
                name: name.to_owned(),
            });
        }
        for l in labels {
            if !valid_label_name(l) || l.starts_with("__") || *l == "le" {
                return Err(Error::InvalidLabelName {
                    metric: name.to_owned(),
                    label: (*l).to_owned(),
                });
            }
        }
        Ok(Family::unchecked(name, help, labels, kind))
    }

    fn new_histogram(
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<Family, Error> {
        let layout =
            Layout::new(buckets, HISTOGRAM_SCALE).ok_or_else(|| Error::InvalidBuckets {
                metric: name.to_owned(),
                buckets: buckets.to_vec(),
            })?;
        Family::new(name, help, labels, Kind::Histogram(Arc::new(layout)))
    }

    fn unchecked(name: &str, help: &str, labels: &[&str], kind: Kind) -> Family {
        Family {
            name: name.to_owned(),
            help: help.to_owned(),
            label_names: labels.iter().map(|l| LabelText::from(*l)).collect(),
            kind,
            children: RwLock::new(HashMap::new()),
        }
    }

    fn check_arity(&self, values: &[&str]) -> Result<(), Error> {
        if values.len() == self.label_names.len() {
            return Ok(());
        }
        Err(Error::LabelCount {
            metric: self.name.clone(),
            expected: self.label_names.len(),
            labels: self.label_names.join(", "),
            got: values.len(),
        })
    }

    /// Resolves (creating if needed) the child for `values`; arity is the caller's business.
    fn child(&self, values: &[&str]) -> Child {
        let key: Box<[LabelText]> = values.iter().map(|v| LabelText::from(*v)).collect();
        if let Some(c) = self
            .children
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return c.clone();
        }
        let mut children = self
            .children
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        children
            .entry(key)
            .or_insert_with(|| match &self.kind {
                Kind::Counter => Child::Counter(Arc::new(AtomicU64::new(0))),
                Kind::Gauge => Child::Gauge(Arc::new(AtomicI64::new(0))),
                Kind::Histogram(layout) => Child::Histogram(Arc::new(Cells::new(layout))),
            })
            .clone()
    }

    fn counter(&self, values: &[&str]) -> Counter {
        match self.child(values) {
            Child::Counter(c) => Counter(c),
            _ => Counter(Arc::new(AtomicU64::new(0))),
        }
    }

    fn gauge(&self, values: &[&str]) -> Gauge {
        match self.child(values) {
            Child::Gauge(g) => Gauge(g),
            _ => Gauge(Arc::new(AtomicI64::new(0))),
        }
    }

    fn histogram(&self, values: &[&str]) -> Histogram {
        match (self.child(values), &self.kind) {
            (Child::Histogram(cells), Kind::Histogram(layout)) => Histogram {
                cells,
                layout: layout.clone(),
            },
            _ => {
                let layout = Arc::new(Layout {
                    bounds: Box::new([]),
                    scaled: Box::new([]),
                    scale: HISTOGRAM_SCALE,
                });
                Histogram {
                    cells: Arc::new(Cells::new(&layout)),
                    layout,
                }
            }
        }
    }
}

impl Collect for Family {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let children = self.children.read().unwrap_or_else(PoisonError::into_inner);
        let pairs = |values: &[LabelText]| -> Vec<(LabelText, LabelText)> {
            self.label_names
                .iter()
                .cloned()
                .zip(values.iter().cloned())
                .collect()
        };
        let mut samples = Vec::with_capacity(children.len());
        let kind = match &self.kind {
            Kind::Counter => MetricKind::Counter,
            Kind::Gauge => MetricKind::Gauge,
            Kind::Histogram(_) => MetricKind::Histogram,
        };
        // Stable output across scrapes: children live in a hash map.
        let mut entries: Vec<_> = children.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (values, child) in entries {
            match (child, &self.kind) {
                (Child::Counter(c), _) => samples.push(Sample {
                    suffix: "",
                    labels: pairs(values),
                    value: c.load(Ordering::Relaxed) as f64,
                }),
                (Child::Gauge(g), _) => samples.push(Sample {
                    suffix: "",
                    labels: pairs(values),
                    value: g.load(Ordering::Relaxed) as f64,
                }),
                (Child::Histogram(cells), Kind::Histogram(layout)) => {
                    push_histogram(&mut samples, pairs(values), cells, layout);
                }
                (Child::Histogram(_), _) => {}
            }
        }
        out.push(MetricFamily {
            name: self.name.clone(),
            help: self.help.clone(),
            kind,
            samples,
        });
    }
}

/// Appends the `_bucket`, `_sum` and `_count` samples of one histogram series.
pub(crate) fn push_histogram(
    samples: &mut Vec<Sample>,
    labels: Vec<(LabelText, LabelText)>,
    cells: &Cells,
    layout: &Layout,
) {
    let (buckets, sum, count) = cells.snapshot(layout);
    let le: LabelText = LabelText::from("le");
    for (i, cumulative) in buckets.iter().enumerate() {
        let bound = match layout.bounds.get(i) {
            Some(b) => LabelText::from(crate::exposition::format_value(*b)),
            None => LabelText::from("+Inf"),
        };
        let mut l = labels.clone();
        l.push((le.clone(), bound));
        samples.push(Sample {
            suffix: "_bucket",
            labels: l,
            value: *cumulative as f64,
        });
    }
    samples.push(Sample {
        suffix: "_sum",
        labels: labels.clone(),
        value: sum,
    });
    samples.push(Sample {
        suffix: "_count",
        labels,
        value: count as f64,
    });
}

/// A handle on one counter series. Cloning shares the series.
#[derive(Debug, Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A handle on one gauge series. Cloning shares the series.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds `n` (which may be negative).
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A handle on one histogram series. Cloning shares the series.
#[derive(Debug, Clone)]
pub struct Histogram {
    cells: Arc<Cells>,
    layout: Arc<Layout>,
}

impl Histogram {
    /// Records a non-negative value in the metric's unit; negative values count as zero.
    #[inline]
    pub fn observe(&self, value: f64) {
        let scaled = (value * self.layout.scale).round().max(0.0) as u64;
        self.cells.observe(&self.layout, scaled);
    }

    /// Records a duration, for histograms in seconds.
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.cells.observe(&self.layout, nanos);
    }
}

/// A counter family; resolve a series with [`CounterVec::with`].
#[derive(Debug, Clone)]
pub struct CounterVec {
    family: Arc<Family>,
}

impl CounterVec {
    /// The counter for these label values (in the order the labels were registered).
    pub fn with(&self, values: &[&str]) -> Result<Counter, Error> {
        self.family.check_arity(values)?;
        Ok(self.family.counter(values))
    }
}

/// A gauge family; resolve a series with [`GaugeVec::with`].
#[derive(Debug, Clone)]
pub struct GaugeVec {
    family: Arc<Family>,
}

impl GaugeVec {
    /// The gauge for these label values.
    pub fn with(&self, values: &[&str]) -> Result<Gauge, Error> {
        self.family.check_arity(values)?;
        Ok(self.family.gauge(values))
    }
}

/// A histogram family; resolve a series with [`HistogramVec::with`].
#[derive(Debug, Clone)]
pub struct HistogramVec {
    family: Arc<Family>,
}

impl HistogramVec {
    /// The histogram for these label values.
    pub fn with(&self, values: &[&str]) -> Result<Histogram, Error> {
        self.family.check_arity(values)?;
        Ok(self.family.histogram(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
        families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("family {name} missing"))
    }

    #[test]
    fn counter_vec_resolves_once_and_shares_the_series() {
        let r = Registry::with_options(RegistryOptions {
            process_metrics: false,
            ..Default::default()
        });
        let v = r
            .counter_vec("meridian_test_events_total", "Test events.", &["kind"])
            .expect("registers");
        let a = v.with(&["a"]).expect("one label");
        let a2 = v.with(&["a"]).expect("one label");
        a.inc();
        a2.add(2);
        v.with(&["b"]).expect("one label").inc();
        let families = r.gather();
        let f = family(&families, "meridian_test_events_total");
        assert_eq!(f.samples.len(), 2);
        assert_eq!(f.samples[0].value, 3.0);
        assert_eq!(&*f.samples[0].labels[0].1, "a");
    }

    #[test]
    fn wrong_arity_and_duplicates_are_errors() {
        let r = Registry::new();
        let v = r
            .gauge_vec("meridian_test_level", "Test level.", &["a", "b"])
            .expect("registers");
        let err = v.with(&["x"]).expect_err("arity");
        assert_eq!(
            err.to_string(),
            "metric meridian_test_level takes 2 label values (a, b), got 1"
        );
        let err = r
            .gauge("meridian_test_level", "again")
            .expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            "metric meridian_test_level is already registered"
        );
        assert!(matches!(
            r.counter("istio_requests_total", "clash"),
            Err(Error::DuplicateMetric { .. })
        ));
        assert!(matches!(
            r.counter("bad-name", "x"),
            Err(Error::InvalidMetricName { .. })
        ));
        assert!(matches!(
            r.counter_vec("meridian_x_total", "x", &["le"]),
            Err(Error::InvalidLabelName { .. })
        ));
    }

    #[test]
    fn histogram_in_seconds() {
        let r = Registry::new();
        let h = r
            .histogram_vec(
                "meridian_test_duration_seconds",
                "Test durations.",
                &[],
                PROMETHEUS_DEFAULT_BUCKETS,
            )
            .expect("registers")
            .with(&[])
            .expect("no labels");
        h.observe_duration(Duration::from_millis(7));
        h.observe(0.2);
        let families = r.gather();
        let f = family(&families, "meridian_test_duration_seconds");
        let sum = f.samples.iter().find(|s| s.suffix == "_sum").expect("sum");
        assert!((sum.value - 0.207).abs() < 1e-9);
        let le_01 = f
            .samples
            .iter()
            .find(|s| s.suffix == "_bucket" && &*s.labels[0].1 == "0.01")
            .expect("le=0.01");
        assert_eq!(le_01.value, 1.0);
    }
}
