//! The validated Compose model: what a process workload needs from a Compose service, with
//! every default applied, durations parsed and counts checked.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::node::Span;

/// A loaded Compose file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComposeFile {
    /// The file it was read from.
    #[serde(serialize_with = "ser_path")]
    pub path: Arc<Path>,
    /// Project name (`name:`, or the folder's name).
    pub project: String,
    /// The services, in file order.
    pub services: Vec<Service>,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&crate::duration::format(*d))
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

fn ser_path<S: serde::Serializer>(p: &Arc<Path>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&p.display())
}

impl ComposeFile {
    /// The service with this name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// One service: a replicated process workload.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Service {
    /// Service name (the key under `services:`).
    pub name: String,
    /// Where it is declared.
    #[serde(skip)]
    pub span: Span,
    /// Image reference. Meridian runs processes: a service needs `command` or `entrypoint`.
    pub image: Option<String>,
    /// Overrides the image's entrypoint: the program and its leading arguments.
    pub entrypoint: Option<Vec<String>>,
    /// The command (arguments to the entrypoint, or the program itself without one).
    pub command: Option<Vec<String>>,
    /// Environment: `env_file` entries first, `environment` over them. Variables written
    /// without a value (`- DEBUG`) take the value from Meridian's own environment, and are
    /// left out when it has none.
    pub environment: BTreeMap<String, String>,
    /// Working directory of the process (relative paths are relative to the Compose file).
    pub working_dir: Option<PathBuf>,
    /// Ports the service listens on.
    pub ports: Vec<PortSpec>,
    /// Labels of the service's containers (`labels:`).
    pub labels: BTreeMap<String, String>,
    /// `deploy:` with defaults applied.
    pub deploy: Deploy,
    /// Time between the stop signal and SIGKILL (10s by default).
    #[serde(serialize_with = "ser_duration")]
    pub stop_grace_period: Duration,
    /// Signal that asks the process to stop (`SIGTERM` by default), upper-case with `SIG`.
    pub stop_signal: String,
    /// Health check; `None` when absent or disabled.
    pub healthcheck: Option<Healthcheck>,
    /// Services that start first.
    pub depends_on: Vec<Dependency>,
}

impl Service {
    /// The program and arguments to run: `entrypoint` followed by `command`, or `None` when
    /// neither is declared (an image-only service cannot run as a process).
    pub fn argv(&self) -> Option<Vec<String>> {
        match (&self.entrypoint, &self.command) {
            (Some(e), Some(c)) if !e.is_empty() => Some(e.iter().chain(c).cloned().collect()),
            (Some(e), None) if !e.is_empty() => Some(e.clone()),
            (_, Some(c)) if !c.is_empty() => Some(c.clone()),
            _ => None,
        }
    }
}

/// A dependency on another service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dependency {
    /// The other service.
    pub service: String,
    /// When this one may start.
    pub condition: DependencyCondition,
}

/// `depends_on.<svc>.condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// The other service has started.
    ServiceStarted,
    /// The other service is healthy.
    ServiceHealthy,
    /// The other service ran to completion.
    ServiceCompletedSuccessfully,
}

/// A port of a service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortSpec {
    /// The port the process listens on as written (`target`); Meridian maps it to a free port
    /// per replica.
    pub target: u16,
    /// The port published on the node (`published`), when declared.
    pub published: Option<u16>,
    /// Host address to publish on.
    pub host_ip: Option<String>,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Port name (long syntax).
    pub name: Option<String>,
}

/// `deploy:`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Deploy {
    /// `replicated` or `global`.
    pub mode: DeployMode,
    /// Desired replicas (1 by default; 1 per node for `global`).
    pub replicas: u32,
    /// Labels of the service (not of its containers).
    pub labels: BTreeMap<String, String>,
    /// Where replicas may run.
    pub placement: Placement,
    /// How a change rolls out.
    pub update_config: UpdateConfig,
    /// How a failed update rolls back.
    pub rollback_config: UpdateConfig,
    /// When replicas restart.
    pub restart_policy: RestartPolicy,
    /// CPU, memory and pids limits.
    pub resources: Resources,
}

/// `deploy.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    /// `replicas` replicas, spread over the nodes.
    Replicated,
    /// One replica on every node that fits the placement.
    Global,
}

/// `deploy.placement`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    /// All must hold.
    pub constraints: Vec<Constraint>,
    /// At most this many replicas on one node.
    pub max_replicas_per_node: Option<u32>,
}

/// One placement constraint: `node.labels.region == us-east`.
///
/// Swarm has no "or"; Meridian also reads `a == x || b == y` (which the course's example
/// uses, and which `docker stack deploy` refuses) as alternatives of which one must hold, and
/// warns that the file is not portable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Constraint {
    /// The constraint as written.
    pub text: String,
    /// One of these must hold (a single one in Swarm syntax).
    pub any_of: Vec<Condition>,
}

/// `<attribute> == <value>` or `!=`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Condition {
    /// The node attribute.
    pub attribute: NodeAttribute,
    /// Equal or not equal.
    pub op: ConstraintOp,
    /// The value compared with (exact match, as Swarm does).
    pub value: String,
}

/// Node attributes a constraint can test.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeAttribute {
    /// `node.id`.
    Id,
    /// `node.hostname`.
    Hostname,
    /// `node.role` (`manager` or `worker`).
    Role,
    /// `node.platform.os`.
    PlatformOs,
    /// `node.platform.arch`.
    PlatformArch,
    /// `node.labels.<key>`.
    Label(String),
    /// `engine.labels.<key>` (Meridian has one set of node labels; these read it too).
    EngineLabel(String),
}

impl fmt::Display for NodeAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeAttribute::Id => f.write_str("node.id"),
            NodeAttribute::Hostname => f.write_str("node.hostname"),
            NodeAttribute::Role => f.write_str("node.role"),
            NodeAttribute::PlatformOs => f.write_str("node.platform.os"),
            NodeAttribute::PlatformArch => f.write_str("node.platform.arch"),
            NodeAttribute::Label(k) => write!(f, "node.labels.{k}"),
            NodeAttribute::EngineLabel(k) => write!(f, "engine.labels.{k}"),
        }
    }
}

/// `==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ConstraintOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
}

impl ConstraintOp {
    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            ConstraintOp::Eq => "==",
            ConstraintOp::Ne => "!=",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.attribute, self.op.as_str(), self.value)
    }
}

impl Condition {
    /// Whether a node with this attribute value (`None`: the node lacks it) satisfies the
    /// condition. As in Swarm, `!=` holds for a node without the attribute.
    pub fn holds(&self, node_value: Option<&str>) -> bool {
        match self.op {
            ConstraintOp::Eq => node_value == Some(self.value.as_str()),
            ConstraintOp::Ne => node_value != Some(self.value.as_str()),
        }
    }
}

/// `update_config` / `rollback_config`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UpdateConfig {
    /// Replicas replaced at a time; 0 means all at once.
    pub parallelism: u32,
    /// Wait between batches.
    #[serde(serialize_with = "ser_duration")]
    pub delay: Duration,
    /// What to do when the update fails.
    pub failure_action: FailureAction,
    /// How long a new replica is watched for failure after it is updated.
    #[serde(serialize_with = "ser_duration")]
    pub monitor: Duration,
    /// Failures tolerated, as a fraction of the replicas updated.
    pub max_failure_ratio: f64,
    /// Stop the old replica first, or start the new one first.
    pub order: UpdateOrder,
}

impl UpdateConfig {
    /// Swarm's defaults for `update_config` (failure action `pause`).
    pub fn update_default() -> Self {
        Self {
            parallelism: 1,
            delay: Duration::ZERO,
            failure_action: FailureAction::Pause,
            monitor: Duration::from_secs(5),
            max_failure_ratio: 0.0,
            order: UpdateOrder::StopFirst,
        }
    }
}

/// `failure_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// Stop the rollout where it is.
    Pause,
    /// Go on with the next batch.
    Continue,
    /// Go back to the previous version (with `rollback_config`).
    Rollback,
}

/// `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// The old replica stops before its replacement starts.
    StopFirst,
    /// The replacement starts (and is ready) before the old replica stops.
    StartFirst,
}

/// `restart_policy`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestartPolicy {
    /// When to restart.
    pub condition: RestartCondition,
    /// Wait before a restart (5s by default, as Swarm does).
    #[serde(serialize_with = "ser_duration")]
    pub delay: Duration,
    /// Give up after this many restarts (within `window`, when set).
    pub max_attempts: Option<u32>,
    /// The window restarts are counted in; all restarts count when absent.
    #[serde(serialize_with = "ser_opt_duration")]
    pub window: Option<Duration>,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            condition: RestartCondition::Any,
            delay: Duration::from_secs(5),
            max_attempts: None,
            window: None,
        }
    }
}

/// `restart_policy.condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    /// Never restart.
    None,
    /// Restart after a non-zero exit or a signal.
    OnFailure,
    /// Always restart.
    Any,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Resources {
    /// Hard limits.
    pub limits: ResourceAmounts,
    /// Reservations (used for placement).
    pub reservations: ResourceAmounts,
}

/// CPU, memory, pids.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ResourceAmounts {
    /// CPUs (fractional).
    pub cpus: Option<f64>,
    /// Bytes of memory.
    pub memory: Option<u64>,
    /// Process count.
    pub pids: Option<u64>,
}

/// `healthcheck:`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Healthcheck {
    /// What to run.
    pub test: HealthTest,
    /// Time between checks (30s by default).
    #[serde(serialize_with = "ser_duration")]
    pub interval: Duration,
    /// Time a check may take (30s by default).
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Consecutive failures that make the replica unhealthy (3 by default).
    pub retries: u32,
    /// Failures during this time after start do not count (0 by default).
    #[serde(serialize_with = "ser_duration")]
    pub start_period: Duration,
    /// Time between checks during the start period (5s by default).
    #[serde(serialize_with = "ser_duration")]
    pub start_interval: Duration,
}

/// `healthcheck.test`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthTest {
    /// `["CMD", prog, args...]`: run directly.
    Exec(Vec<String>),
    /// `["CMD-SHELL", "..."]` or a string: run with `/bin/sh -c`.
    Shell(String),
}
