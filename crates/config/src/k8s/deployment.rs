//! `apps/v1` Deployment: the fields a process workload needs (replicas, selector, pod template
//! with containers, probes, resources, grace period, rollout strategy).
//!
//! Fields of the Pod API that only make sense for containers (volumes, security contexts,
//! affinity, tolerations, ...) are accepted so that real manifests load, and reported as
//! warnings saying that Meridian ignores them.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;

use super::meta::{IntOrString, LabelSelector, ObjectMeta, Quantity, validate_labels};
use crate::diag::Findings;
use crate::path::FieldPath;

/// `spec` of a Deployment.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    /// Desired replicas; 1 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Which pods belong to the Deployment; must match the template's labels.
    pub selector: Option<LabelSelector>,
    /// The pod template.
    pub template: Option<PodTemplateSpec>,
    /// How replicas are replaced on a change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<DeploymentStrategy>,
    /// Seconds a new replica must be ready before it counts as available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Old revisions kept for `rollout undo`; 10 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Seconds before a stuck rollout is reported as failed; 600 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// A paused Deployment does not roll out changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// The pod template.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTemplateSpec {
    /// Labels and annotations of every replica.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The pod.
    pub spec: Option<PodSpec>,
}

/// A pod: one or more containers run as processes.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Container-only fields are accepted so real manifests load, and reported as ignored.
#[allow(dead_code)]
pub struct PodSpec {
    /// The containers (processes) of each replica.
    #[serde(default)]
    pub containers: Vec<Container>,
    /// Run to completion, in order, before the containers start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// `Always` (the only value a Deployment allows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// Seconds between SIGTERM and SIGKILL; 30 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Node labels a replica's node must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// The workload identity (SPIFFE `sa` part); `default` when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Deprecated alias of `serviceAccountName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Host name for the replica (informational).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Volumes, served as folders under each replica's root (`super::volume`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<super::volume::Volume>,
    #[serde(default, skip_serializing)]
    affinity: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    tolerations: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    security_context: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    image_pull_secrets: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    dns_policy: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    dns_config: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    host_network: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    priority_class_name: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    scheduler_name: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    topology_spread_constraints: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    automount_service_account_token: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    enable_service_links: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    active_deadline_seconds: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    ephemeral_containers: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    host_aliases: Option<IgnoredAny>,
    #[serde(default, rename = "hostIPC", skip_serializing)]
    host_ipc: Option<IgnoredAny>,
    #[serde(default, rename = "hostPID", skip_serializing)]
    host_pid: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    host_users: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    node_name: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    os: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    overhead: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    preemption_policy: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    priority: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    readiness_gates: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    resource_claims: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    resources: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    runtime_class_name: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    scheduling_gates: Option<IgnoredAny>,
    #[serde(default, rename = "setHostnameAsFQDN", skip_serializing)]
    set_hostname_as_fqdn: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    share_process_namespace: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    subdomain: Option<IgnoredAny>,
}

/// Pod fields that Meridian accepts but cannot apply to processes.
pub(crate) const IGNORED_POD_FIELDS: &[&str] = &[
    "affinity",
    "tolerations",
    "securityContext",
    "imagePullSecrets",
    "dnsPolicy",
    "dnsConfig",
    "hostNetwork",
    "priorityClassName",
    "schedulerName",
    "topologySpreadConstraints",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "activeDeadlineSeconds",
    "ephemeralContainers",
    "hostAliases",
    "hostIPC",
    "hostPID",
    "hostUsers",
    "nodeName",
    "os",
    "overhead",
    "preemptionPolicy",
    "priority",
    "readinessGates",
    "resourceClaims",
    "resources",
    "runtimeClassName",
    "schedulingGates",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "subdomain",
];

/// A container: here, a process.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct Container {
    /// Name, unique within the pod.
    pub name: Option<String>,
    /// Image reference. Meridian runs processes, not images: a container needs `command`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The program and its leading arguments (the image's ENTRYPOINT in Kubernetes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Further arguments (the image's CMD in Kubernetes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Ports the process listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    /// When a replica may receive traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// When a replica must be restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Holds the other probes until the process has started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// CPU and memory requests and limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Accepted; images are not pulled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Variables from every key of a ConfigMap or Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Volumes mounted, under the replica's root (`super::volume`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<super::volume::VolumeMount>,
    #[serde(default, skip_serializing)]
    security_context: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    lifecycle: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    termination_message_path: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    termination_message_policy: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    stdin: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    tty: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    resize_policy: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    stdin_once: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    volume_devices: Option<IgnoredAny>,
}

pub(crate) const IGNORED_CONTAINER_FIELDS: &[&str] = &[
    "securityContext",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "stdin",
    "tty",
    "resizePolicy",
    "stdinOnce",
    "volumeDevices",
];

/// An environment variable.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    /// Name.
    pub name: Option<String>,
    /// Value; `$(VAR)` references to earlier variables are expanded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A value taken from the pod's own fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVarSource {
    /// A field of the pod (`metadata.name`, `metadata.namespace`, `metadata.labels['x']`,
    /// `spec.serviceAccountName`, `status.podIP`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    /// A container's resource (`limits.memory`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    /// A key of a ConfigMap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    /// A key of a Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
}

/// `configMapKeyRef` / `secretKeyRef`: a key of a ConfigMap or Secret of the pod's namespace.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySelector {
    /// The ConfigMap or Secret.
    pub name: Option<String>,
    /// The key.
    pub key: Option<String>,
    /// When true a missing object or key leaves the variable unset instead of holding the
    /// pod back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// One `envFrom` entry: every key of a ConfigMap or Secret as a variable.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFromSource {
    /// Put in front of every key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The ConfigMap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ObjectRef>,
    /// The Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ObjectRef>,
}

/// `configMapRef` / `secretRef` of `envFrom`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectRef {
    /// The ConfigMap or Secret.
    pub name: Option<String>,
    /// When true a missing object is skipped instead of holding the pod back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// `fieldRef`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectFieldSelector {
    /// Version of the schema the path is written in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Path of the field.
    pub field_path: Option<String>,
}

/// `resourceFieldRef`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceFieldSelector {
    /// Container name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `limits.cpu`, `limits.memory`, `requests.cpu`, `requests.memory`.
    pub resource: Option<String>,
    /// Unit divisor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

/// A port of a container.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerPort {
    /// Name, referenced by Service `targetPort` and probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The port the process listens on, as written. Meridian gives each replica a free port
    /// and maps this one to it.
    pub container_port: Option<i32>,
    /// `TCP`, `UDP` or `SCTP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Accepted; ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    /// Accepted; ignored.
    #[serde(rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// A health probe.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// Probe with an HTTP GET (2xx/3xx is success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// Probe by opening a TCP connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Probe by running a command (exit 0 is success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Probe with the gRPC health checking protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    /// Seconds after start before the first probe; 0 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes; 10 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// Seconds before a probe times out; 1 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Consecutive successes to count as passing again; 1 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    /// Consecutive failures to count as failing; 3 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    /// Grace period for a liveness-triggered stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

/// `httpGet`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpGetAction {
    /// Path; `/` when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port number or container port name.
    pub port: Option<IntOrString>,
    /// Host to connect to; the replica when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `HTTP` or `HTTPS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

/// A header of an `httpGet` probe.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpHeader {
    /// Name.
    pub name: Option<String>,
    /// Value.
    pub value: Option<String>,
}

/// `tcpSocket`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpSocketAction {
    /// Port number or container port name.
    pub port: Option<IntOrString>,
    /// Host; the replica when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `exec`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecAction {
    /// The command; run directly, not through a shell.
    #[serde(default)]
    pub command: Vec<String>,
}

/// `grpc`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcAction {
    /// Port number.
    pub port: Option<i32>,
    /// Service name for the health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// CPU and memory.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRequirements {
    /// Hard limits (memory enforced as `RLIMIT_DATA` on the process; CPU recorded).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
    /// Requests (used for placement).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
}

/// The most replicas of one workload a node runs: each is a process with listeners and log
/// files, so the bound keeps a typo (`replicas: 30000`) from exhausting the machine.
pub const MAX_REPLICAS: u32 = 1024;

/// How a Deployment replaces replicas.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (default) or `Recreate`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub strategy_type: Option<StrategyType>,
    /// Parameters of a rolling update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
}

/// Strategy types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum StrategyType {
    /// Replace a few at a time, readiness-gated.
    RollingUpdate,
    /// Stop all old replicas, then start the new ones.
    Recreate,
}

/// `rollingUpdate`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollingUpdate {
    /// Replicas above the desired count during an update; `25%` when omitted (rounded up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Replicas below the desired count during an update; `25%` when omitted (rounded down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

impl DeploymentSpec {
    /// Desired replicas (1 when omitted).
    pub fn replica_count(&self) -> u32 {
        self.replicas.map_or(1, |r| u32::try_from(r).unwrap_or(0))
    }

    /// The pod spec, or an empty one.
    pub fn pod(&self) -> Option<&PodSpec> {
        self.template.as_ref().and_then(|t| t.spec.as_ref())
    }

    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if let Some(r) = self.replicas {
            if r < 0 {
                f.error(&at.field("replicas"), "must be greater than or equal to 0");
            } else if r.unsigned_abs() > MAX_REPLICAS {
                f.error(
                    &at.field("replicas"),
                    format!("{r} replicas is more than one node runs (at most {MAX_REPLICAS} per workload)"),
                );
            }
        }
        for (field, v) in [
            ("minReadySeconds", self.min_ready_seconds),
            ("revisionHistoryLimit", self.revision_history_limit),
        ] {
            if let Some(v) = v
                && v < 0
            {
                f.error(&at.field(field), "must be greater than or equal to 0");
            }
        }
        if let Some(p) = self.progress_deadline_seconds
            && p <= self.min_ready_seconds.unwrap_or(0)
        {
            f.error(
                &at.field("progressDeadlineSeconds"),
                "must be greater than minReadySeconds",
            );
        }
        let template_labels = self
            .template
            .as_ref()
            .map(|t| t.metadata.labels.clone())
            .unwrap_or_default();
        match &self.selector {
            None => {
                f.error(
                    &at.field("selector"),
                    "required field \"selector\" is missing",
                );
            }
            Some(sel) => {
                sel.validate(f, &at.field("selector"));
                if sel.is_empty() {
                    f.error(
                        &at.field("selector"),
                        "empty selector is invalid for deployment",
                    );
                } else if !sel.matches(&template_labels) {
                    f.error(
                        &at.field("template").field("metadata").field("labels"),
                        "`selector` does not match template `labels`",
                    )
                    .hint(
                        "every selector.matchLabels entry must appear in template.metadata.labels",
                    );
                }
            }
        }
        match &self.template {
            None => {
                f.error(
                    &at.field("template"),
                    "required field \"template\" is missing",
                );
            }
            Some(t) => {
                let tp = at.field("template");
                validate_labels(f, &tp.field("metadata").field("labels"), &t.metadata.labels);
                match &t.spec {
                    None => {
                        f.error(&tp.field("spec"), "required field \"spec\" is missing");
                    }
                    Some(spec) => spec.validate(f, &tp.field("spec")),
                }
            }
        }
        if let Some(s) = &self.strategy {
            let sp = at.field("strategy");
            let recreate = s.strategy_type == Some(StrategyType::Recreate);
            if let Some(ru) = &s.rolling_update {
                let rp = sp.field("rollingUpdate");
                if recreate {
                    f.error(
                        &rp,
                        "may not be specified when strategy `type` is 'Recreate'",
                    );
                }
                let surge = check_int_or_percent(f, &rp.field("maxSurge"), ru.max_surge.as_ref());
                let unavail = check_int_or_percent(
                    f,
                    &rp.field("maxUnavailable"),
                    ru.max_unavailable.as_ref(),
                );
                if surge == Some(0) && unavail == Some(0) {
                    f.error(
                        &rp.field("maxUnavailable"),
                        "may not be 0 when `maxSurge` is 0",
                    );
                }
            }
        }
    }
}

/// Checks an int-or-percent; returns the value when it is certainly zero or not.
fn check_int_or_percent(f: &mut Findings, at: &FieldPath, v: Option<&IntOrString>) -> Option<u32> {
    match v? {
        IntOrString::Int(i) if *i < 0 => {
            f.error(at, "must be greater than or equal to 0");
            None
        }
        IntOrString::Int(i) => u32::try_from(*i).ok(),
        IntOrString::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<u32>().ok()) {
            Some(p) if p > 100 => {
                f.error(at, format!("\"{s}\" must not be greater than 100%"));
                None
            }
            Some(p) => Some(p),
            None => {
                f.error(at, format!("a valid percent string must be a numeric string followed by an ending '%' (got \"{s}\")"));
                None
            }
        },
    }
}

impl PodSpec {
    /// The service account (`default` when omitted).
    pub fn service_account(&self) -> &str {
        self.service_account_name
            .as_deref()
            .or(self.service_account.as_deref())
            .filter(|sa| !sa.is_empty())
            .unwrap_or("default")
    }

    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.containers.is_empty() {
            f.error(&at.field("containers"), "must have at least one container");
        }
        let mut names: Vec<&str> = Vec::new();
        let mut port_names: Vec<&str> = Vec::new();
        for (list, field) in [
            (&self.init_containers, "initContainers"),
            (&self.containers, "containers"),
        ] {
            for (i, c) in list.iter().enumerate() {
                let cp = at.field(field).index(i);
                if let Some(n) = c.name.as_deref() {
                    if names.contains(&n) {
                        f.error(
                            &cp.field("name"),
                            format!("duplicate container name \"{n}\""),
                        );
                    }
                    names.push(n);
                }
                for p in &c.ports {
                    if let Some(n) = p.name.as_deref() {
                        port_names.push(n);
                    }
                }
                c.validate(f, &cp, field == "initContainers");
                super::volume::validate_mounts(
                    &c.volume_mounts,
                    &self.volumes,
                    f,
                    &cp.field("volumeMounts"),
                );
            }
        }
        super::volume::validate_volumes(&self.volumes, f, &at.field("volumes"));
        if let Some(p) = &self.restart_policy
            && p != "Always"
        {
            f.error(
                &at.field("restartPolicy"),
                format!("unsupported value \"{p}\""),
            )
            .hint("a Deployment's pods always restart: only \"Always\" is allowed");
        }
        if let Some(g) = self.termination_grace_period_seconds
            && g < 0
        {
            f.error(
                &at.field("terminationGracePeriodSeconds"),
                "must be greater than or equal to 0",
            );
        }
        validate_labels(f, &at.field("nodeSelector"), &self.node_selector);
        // An empty name is the API server's default, as if it were not written.
        if let Some(sa) = self
            .service_account_name
            .as_deref()
            .or(self.service_account.as_deref())
            .filter(|sa| !sa.is_empty())
            && let Err(e) = super::meta::NameRule::Subdomain.check(sa)
        {
            f.error(
                &at.field("serviceAccountName"),
                format!("invalid service account \"{sa}\": {e}"),
            );
        }
        warn_ignored(f, at, IGNORED_POD_FIELDS, |name| match name {
            "affinity" => self.affinity.is_some(),
            "tolerations" => self.tolerations.is_some(),
            "securityContext" => self.security_context.is_some(),
            "imagePullSecrets" => self.image_pull_secrets.is_some(),
            "dnsPolicy" => self.dns_policy.is_some(),
            "dnsConfig" => self.dns_config.is_some(),
            "hostNetwork" => self.host_network.is_some(),
            "priorityClassName" => self.priority_class_name.is_some(),
            "schedulerName" => self.scheduler_name.is_some(),
            "topologySpreadConstraints" => self.topology_spread_constraints.is_some(),
            "automountServiceAccountToken" => self.automount_service_account_token.is_some(),
            "enableServiceLinks" => self.enable_service_links.is_some(),
            "activeDeadlineSeconds" => self.active_deadline_seconds.is_some(),
            "ephemeralContainers" => self.ephemeral_containers.is_some(),
            "hostAliases" => self.host_aliases.is_some(),
            "hostIPC" => self.host_ipc.is_some(),
            "hostPID" => self.host_pid.is_some(),
            "hostUsers" => self.host_users.is_some(),
            "nodeName" => self.node_name.is_some(),
            "os" => self.os.is_some(),
            "overhead" => self.overhead.is_some(),
            "preemptionPolicy" => self.preemption_policy.is_some(),
            "priority" => self.priority.is_some(),
            "readinessGates" => self.readiness_gates.is_some(),
            "resourceClaims" => self.resource_claims.is_some(),
            "resources" => self.resources.is_some(),
            "runtimeClassName" => self.runtime_class_name.is_some(),
            "schedulingGates" => self.scheduling_gates.is_some(),
            "setHostnameAsFQDN" => self.set_hostname_as_fqdn.is_some(),
            "shareProcessNamespace" => self.share_process_namespace.is_some(),
            "subdomain" => self.subdomain.is_some(),
            _ => false,
        });
    }
}

fn warn_ignored(
    f: &mut Findings,
    at: &FieldPath,
    fields: &[&'static str],
    present: impl Fn(&str) -> bool,
) {
    for name in fields {
        if present(name) {
            f.warn(
                &at.field(*name),
                format!("{name} is ignored: Meridian runs replicas as processes, not containers"),
            )
            .at_key();
        }
    }
}

impl Container {
    fn validate(&self, f: &mut Findings, at: &FieldPath, init: bool) {
        match &self.name {
            None => {
                f.error(&at.field("name"), "required field \"name\" is missing");
            }
            Some(n) => {
                if let Err(e) = super::meta::NameRule::Label.check(n) {
                    f.error(
                        &at.field("name"),
                        format!("invalid container name \"{n}\": {e}"),
                    );
                }
            }
        }
        // An image without a command is valid Kubernetes; the workloads plane reports it as
        // not runnable (with how to declare a command) while the rest keeps running.
        let mut env_names: Vec<&str> = Vec::new();
        for (i, e) in self.env.iter().enumerate() {
            let ep = at.field("env").index(i);
            match e.name.as_deref() {
                None => {
                    f.error(&ep.field("name"), "required field \"name\" is missing");
                }
                Some("") => {
                    f.error(&ep.field("name"), "must not be empty");
                }
                Some(n) => {
                    if n.contains('=') {
                        f.error(
                            &ep.field("name"),
                            format!(
                                "invalid environment variable name \"{n}\": must not contain '='"
                            ),
                        );
                    }
                    env_names.push(n);
                }
            }
            if e.value.is_some() && e.value_from.is_some() {
                f.error(
                    &ep.field("valueFrom"),
                    "may not be specified when `value` is not empty",
                );
            }
            if let Some(src) = &e.value_from {
                let sp = ep.field("valueFrom");
                let set = [
                    src.field_ref.is_some(),
                    src.resource_field_ref.is_some(),
                    src.config_map_key_ref.is_some(),
                    src.secret_key_ref.is_some(),
                ]
                .into_iter()
                .filter(|b| *b)
                .count();
                if set != 1 {
                    f.error(&sp, "must specify exactly one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef");
                }
                for (field, r) in [
                    ("configMapKeyRef", &src.config_map_key_ref),
                    ("secretKeyRef", &src.secret_key_ref),
                ] {
                    let Some(r) = r else { continue };
                    let rp = sp.field(field);
                    for (sub, v) in [("name", &r.name), ("key", &r.key)] {
                        if v.as_deref().is_none_or(str::is_empty) {
                            f.error(
                                &rp.field(sub),
                                format!("required field \"{sub}\" is missing"),
                            );
                        }
                    }
                }
                if let Some(fr) = &src.field_ref {
                    match fr.field_path.as_deref() {
                        None => {
                            f.error(
                                &sp.field("fieldRef").field("fieldPath"),
                                "required field \"fieldPath\" is missing",
                            );
                        }
                        Some(p) if !is_supported_field_path(p) => {
                            f.error(&sp.field("fieldRef").field("fieldPath"), format!("unsupported value \"{p}\""))
                                .hint("one of: metadata.name, metadata.namespace, metadata.uid, metadata.labels['<key>'], metadata.annotations['<key>'], spec.nodeName, spec.serviceAccountName, status.hostIP, status.podIP, status.podIPs");
                        }
                        Some(_) => {}
                    }
                }
                if let Some(rr) = &src.resource_field_ref {
                    match rr.resource.as_deref() {
                        Some(
                            "limits.cpu"
                            | "limits.memory"
                            | "requests.cpu"
                            | "requests.memory"
                            | "limits.ephemeral-storage"
                            | "requests.ephemeral-storage",
                        ) => {}
                        Some(r) => {
                            f.error(
                                &sp.field("resourceFieldRef").field("resource"),
                                format!("unsupported value \"{r}\""),
                            );
                        }
                        None => {
                            f.error(
                                &sp.field("resourceFieldRef").field("resource"),
                                "required field \"resource\" is missing",
                            );
                        }
                    }
                }
            }
        }
        for (i, e) in self.env_from.iter().enumerate() {
            let ep = at.field("envFrom").index(i);
            match (&e.config_map_ref, &e.secret_ref) {
                (Some(_), Some(_)) | (None, None) => {
                    f.error(&ep, "must specify exactly one of configMapRef or secretRef");
                }
                (Some(r), None) | (None, Some(r)) => {
                    let field = if e.config_map_ref.is_some() {
                        "configMapRef"
                    } else {
                        "secretRef"
                    };
                    if r.name.as_deref().is_none_or(str::is_empty) {
                        f.error(
                            &ep.field(field).field("name"),
                            "required field \"name\" is missing",
                        );
                    }
                }
            }
            if let Some(p) = &e.prefix
                && p.contains('=')
            {
                f.error(
                    &ep.field("prefix"),
                    format!("invalid prefix \"{p}\": must not contain '='"),
                );
            }
        }
        let mut port_numbers = Vec::new();
        for (i, p) in self.ports.iter().enumerate() {
            let pp = at.field("ports").index(i);
            match p.container_port {
                None => {
                    f.error(
                        &pp.field("containerPort"),
                        "required field \"containerPort\" is missing",
                    );
                }
                Some(n) if !(1..=65535).contains(&n) => {
                    f.error(
                        &pp.field("containerPort"),
                        "must be between 1 and 65535, inclusive",
                    );
                }
                Some(n) => {
                    let proto = p.protocol.as_deref().unwrap_or("TCP");
                    if port_numbers.contains(&(n, proto)) {
                        f.error(
                            &pp.field("containerPort"),
                            format!("duplicate port {n}/{proto}"),
                        );
                    }
                    port_numbers.push((n, proto));
                }
            }
            if let Some(n) = &p.name
                && let Err(e) = check_port_name(n)
            {
                f.error(&pp.field("name"), format!("invalid port name \"{n}\": {e}"));
            }
            warn_ignored(f, &pp, &["hostPort", "hostIP"], |name| match name {
                "hostPort" => p.host_port.is_some(),
                _ => p.host_ip.is_some(),
            });
            if let Some(proto) = &p.protocol
                && !matches!(proto.as_str(), "TCP" | "UDP" | "SCTP")
            {
                f.error(
                    &pp.field("protocol"),
                    format!("unsupported value \"{proto}\""),
                )
                .hint("one of: TCP, UDP, SCTP");
            }
        }
        for (field, probe) in [
            ("readinessProbe", &self.readiness_probe),
            ("livenessProbe", &self.liveness_probe),
            ("startupProbe", &self.startup_probe),
        ] {
            if let Some(p) = probe {
                if init {
                    f.error(
                        &at.field(field),
                        format!("{field} may not be set for init containers"),
                    );
                }
                p.validate(f, &at.field(field), self, field);
            }
        }
        if let Some(r) = &self.resources {
            for (field, map) in [("limits", &r.limits), ("requests", &r.requests)] {
                for (k, q) in map {
                    let qp = at.field("resources").field(field).key(k.clone());
                    if let Err(e) = q.value() {
                        f.error(&qp, e);
                    }
                    if !matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage")
                        && !k.contains('/')
                    {
                        f.error(&qp, format!("unsupported resource name \"{k}\""))
                            .at_key()
                            .hint("one of: cpu, memory, ephemeral-storage");
                    }
                }
            }
            for (k, req) in &r.requests {
                if let (Some(lim), Ok(rv)) = (r.limits.get(k), req.value())
                    && let Ok(lv) = lim.value()
                    && rv > lv
                {
                    f.error(
                        &at.field("resources").field("requests").key(k.clone()),
                        format!("must be less than or equal to {k} limit of {}", lim.0),
                    );
                }
            }
        }
        warn_ignored(f, at, IGNORED_CONTAINER_FIELDS, |name| match name {
            "securityContext" => self.security_context.is_some(),
            "lifecycle" => self.lifecycle.is_some(),
            "terminationMessagePath" => self.termination_message_path.is_some(),
            "terminationMessagePolicy" => self.termination_message_policy.is_some(),
            "stdin" => self.stdin.is_some(),
            "tty" => self.tty.is_some(),
            "resizePolicy" => self.resize_policy.is_some(),
            "stdinOnce" => self.stdin_once.is_some(),
            "volumeDevices" => self.volume_devices.is_some(),
            _ => false,
        });
    }

    /// The container port with this name.
    pub fn port_named(&self, name: &str) -> Option<&ContainerPort> {
        self.ports.iter().find(|p| p.name.as_deref() == Some(name))
    }
}

fn is_supported_field_path(p: &str) -> bool {
    matches!(
        p,
        "metadata.name"
            | "metadata.namespace"
            | "metadata.uid"
            | "spec.nodeName"
            | "spec.serviceAccountName"
            | "status.hostIP"
            | "status.podIP"
            | "status.podIPs"
            | "status.hostIPs"
    ) || ((p.starts_with("metadata.labels['") || p.starts_with("metadata.annotations['"))
        && p.ends_with("']"))
}

/// An IANA_SVC_NAME: up to 15 characters, lower-case alphanumerics and `-`, at least one
/// letter, no `--`.
pub(crate) fn check_port_name(n: &str) -> Result<(), String> {
    if n.is_empty() || n.len() > 15 {
        return Err("must be no more than 15 characters".into());
    }
    if !n
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("must contain only lower-case alphanumeric characters or '-'".into());
    }
    if !n.chars().any(|c| c.is_ascii_lowercase()) {
        return Err("must contain at least one letter".into());
    }
    if n.contains("--") || n.starts_with('-') || n.ends_with('-') {
        return Err("must not contain consecutive hyphens or start or end with '-'".into());
    }
    Ok(())
}

impl Probe {
    fn validate(&self, f: &mut Findings, at: &FieldPath, c: &Container, kind: &str) {
        let handlers = [
            self.http_get.is_some(),
            self.tcp_socket.is_some(),
            self.exec.is_some(),
            self.grpc.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count();
        match handlers {
            0 => {
                f.error(
                    at,
                    "must specify a handler type (httpGet, tcpSocket, exec or grpc)",
                );
            }
            1 => {}
            _ => {
                f.error(at, "may not specify more than 1 handler type");
            }
        }
        for (field, v, min) in [
            ("initialDelaySeconds", self.initial_delay_seconds, 0),
            ("periodSeconds", self.period_seconds, 1),
            ("timeoutSeconds", self.timeout_seconds, 1),
            ("successThreshold", self.success_threshold, 1),
            ("failureThreshold", self.failure_threshold, 1),
        ] {
            if let Some(v) = v
                && v < min
            {
                f.error(
                    &at.field(field),
                    format!("must be greater than or equal to {min}"),
                );
            }
        }
        if kind != "readinessProbe"
            && let Some(s) = self.success_threshold
            && s != 1
        {
            f.error(
                &at.field("successThreshold"),
                format!("must be 1 for {kind}"),
            );
        }
        let check_port = |f: &mut Findings, p: &FieldPath, port: Option<&IntOrString>| match port {
            None => {
                f.error(p, "required field \"port\" is missing");
            }
            Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => {
                f.error(p, "must be between 1 and 65535, inclusive");
            }
            Some(IntOrString::String(name)) if c.port_named(name).is_none() => {
                f.error(p, format!("no container port named \"{name}\""))
                    .hint("name the port under the container's `ports`, or use its number");
            }
            _ => {}
        };
        if let Some(h) = &self.http_get {
            let hp = at.field("httpGet");
            check_port(f, &hp.field("port"), h.port.as_ref());
            if let Some(s) = &h.scheme
                && !matches!(s.as_str(), "HTTP" | "HTTPS")
            {
                f.error(&hp.field("scheme"), format!("unsupported value \"{s}\""))
                    .hint("one of: HTTP, HTTPS");
            }
            if let Some(p) = &h.path
                && !p.starts_with('/')
            {
                f.error(&hp.field("path"), "must start with '/'");
            }
            for (i, hd) in h.http_headers.iter().enumerate() {
                if hd.name.as_deref().is_none_or(str::is_empty) {
                    f.error(
                        &hp.field("httpHeaders").index(i).field("name"),
                        "required field \"name\" is missing",
                    );
                }
            }
        }
        if let Some(t) = &self.tcp_socket {
            check_port(f, &at.field("tcpSocket").field("port"), t.port.as_ref());
        }
        if let Some(e) = &self.exec
            && e.command.is_empty()
        {
            f.error(
                &at.field("exec").field("command"),
                "must have at least one element",
            );
        }
        if let Some(g) = &self.grpc {
            match g.port {
                None => {
                    f.error(
                        &at.field("grpc").field("port"),
                        "required field \"port\" is missing",
                    );
                }
                Some(n) if !(1..=65535).contains(&n) => {
                    f.error(
                        &at.field("grpc").field("port"),
                        "must be between 1 and 65535, inclusive",
                    );
                }
                _ => {}
            }
        }
    }

    /// Seconds between probes (10 by default).
    pub fn period(&self) -> u32 {
        positive(self.period_seconds, 10)
    }

    /// Seconds before a probe times out (1 by default).
    pub fn timeout(&self) -> u32 {
        positive(self.timeout_seconds, 1)
    }

    /// Consecutive failures that make the probe fail (3 by default).
    pub fn failure_threshold(&self) -> u32 {
        positive(self.failure_threshold, 3)
    }

    /// Consecutive successes that make the probe pass (1 by default).
    pub fn success_threshold(&self) -> u32 {
        positive(self.success_threshold, 1)
    }

    /// Seconds before the first probe (0 by default).
    pub fn initial_delay(&self) -> u32 {
        self.initial_delay_seconds
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    }
}

fn positive(v: Option<i32>, default: u32) -> u32 {
    v.and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}
