//! What the supervisor runs: a [`WorkloadSpec`] per Deployment or Compose service, turned
//! from the config model into one shape (containers with their argv, environment, ports and
//! probes; restart, placement and rollout rules), and the [`DesiredState`] that `apply` takes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use meridian_config::compose::{self, ComposeFile, DeployMode, Healthcheck, UpdateConfig};
use meridian_config::k8s::config_map::{ConfigMapData, SecretData};
use meridian_config::k8s::deployment::{Container, DeploymentSpec, Probe, StrategyType};
use meridian_config::k8s::meta::IntOrString;
use meridian_config::k8s::volume::{MountedFile, VolumeKind, volume_files};
use meridian_config::{Object, Resource};
use meridian_control::endpoints::{WorkloadKind, WorkloadRef};

/// One replicated workload, as the supervisor runs it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkloadSpec {
    /// Which workload.
    pub id: WorkloadRef,
    /// Desired replicas.
    pub replicas: u32,
    /// Labels of every replica (pod template labels; for Compose, the service's labels plus
    /// `com.docker.compose.service`/`project`).
    pub labels: BTreeMap<String, String>,
    /// Annotations of every replica (readable through `fieldRef`).
    pub annotations: BTreeMap<String, String>,
    /// The `sa` of the replicas' SPIFFE identity.
    pub service_account: String,
    /// Run to completion, in order, before `containers` start.
    pub init_containers: Vec<ContainerSpec>,
    /// The processes of each replica.
    pub containers: Vec<ContainerSpec>,
    /// The pod's volumes, laid out under each replica's root (`crate::volumes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeSpec>,
    /// Node labels a node must have (`nodeSelector`).
    pub node_selector: BTreeMap<String, String>,
    /// Swarm placement constraints (all must hold).
    pub constraints: Vec<compose::Constraint>,
    /// At most this many replicas per node.
    pub max_replicas_per_node: Option<u32>,
    /// When a stopped process starts again.
    pub restart: RestartRule,
    /// How a change rolls out.
    pub strategy: Strategy,
    /// A new replica counts as available once ready this long (`minReadySeconds`).
    pub min_ready: Duration,
    /// Time between the stop signal and SIGKILL.
    #[serde(serialize_with = "ser_secs")]
    pub grace: Duration,
    /// The stop signal (`SIGTERM` unless Compose's `stop_signal` says otherwise).
    pub stop_signal: String,
    /// Revisions kept for `rollout undo`.
    pub revision_history_limit: usize,
    /// A rollout that makes no progress for this long is reported as failed.
    pub progress_deadline: Duration,
    /// A paused workload does not roll out template changes.
    pub paused: bool,
    /// Extra environment for this workload's replicas, supplied by the caller (service
    /// discovery variables, `HTTP_PROXY`). Not part of the template: a change reaches new
    /// replicas without restarting running ones, as Kubernetes' service variables do.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_env: BTreeMap<String, String>,
    /// Bumped by `rollout restart` so the template changes and replicas are replaced.
    pub restart_generation: u64,
    /// Compose `depends_on`: services that must be started (or healthy, or completed) before
    /// this one's replicas start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<compose::Dependency>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A process of a replica.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContainerSpec {
    /// Container name (the service name for Compose).
    pub name: String,
    /// The image reference, when declared (only for messages: images are not run).
    pub image: Option<String>,
    /// The program and its arguments (`command` + `args`, or `entrypoint` + `command`);
    /// `None` when the manifest gives only an image.
    pub argv: Option<Vec<String>>,
    /// Declared environment, in order (`$(VAR)` refers to earlier entries).
    pub env: Vec<EnvEntry>,
    /// Working directory.
    pub working_dir: Option<PathBuf>,
    /// Declared ports.
    pub ports: Vec<PortDecl>,
    /// Gates readiness.
    pub readiness: Option<ProbeSpec>,
    /// Restarts the process when failing.
    pub liveness: Option<ProbeSpec>,
    /// Holds the other probes until it passes.
    pub startup: Option<ProbeSpec>,
    /// Compose healthcheck: gates readiness, and restarts the process when unhealthy.
    pub healthcheck: Option<Healthcheck>,
    /// Memory limit in bytes, when declared: `RLIMIT_DATA` on the process.
    pub memory_limit: Option<u64>,
    /// Volumes mounted, as links under the replica's root (`crate::volumes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountSpec>,
}

/// A volume of a replica: a folder under its root with these files (none for `emptyDir`
/// and the kinds Meridian does not provide).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VolumeSpec {
    /// The volume's name.
    pub name: String,
    /// The volume as the pod template declares it: part of the template, so changing it
    /// rolls the replicas out.
    pub source: meridian_config::k8s::volume::Volume,
    /// Its files, from the ConfigMaps and Secrets of the revision. Not part of the template:
    /// as the kubelet does, a new revision of a ConfigMap or Secret updates the files of the
    /// running replicas (`crate::volumes::update`) rather than replacing them.
    #[serde(skip)]
    pub files: Vec<MountedFile>,
}

/// A volume mounted into a container.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MountSpec {
    /// The volume.
    pub volume: String,
    /// `mountPath`, taken as relative to the replica's root.
    pub mount_path: String,
    /// The file or folder of the volume mounted there, rather than all of it.
    pub sub_path: Option<String>,
    /// Accepted (files keep their own modes).
    pub read_only: bool,
}

/// An environment entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvEntry {
    /// A literal (with `$(VAR)` expansion).
    Value {
        /// Name.
        name: String,
        /// Value as written.
        value: String,
    },
    /// A field of the replica (`metadata.name`, `metadata.labels['app']`, `status.podIP`, ...).
    Field {
        /// Name.
        name: String,
        /// The field path.
        path: String,
    },
    /// A value of a ConfigMap (`configMapKeyRef`, `envFrom`), taken as it is.
    Config {
        /// Name.
        name: String,
        /// Value.
        value: String,
    },
    /// A value of a Secret (`secretKeyRef`, `envFrom`), taken as it is and never shown.
    Secret {
        /// Name.
        name: String,
        /// Value.
        #[serde(skip_serializing)]
        value: String,
    },
    /// A resource amount (`limits.memory`, `requests.cpu`, ...).
    Resource {
        /// Name.
        name: String,
        /// The resource.
        resource: String,
        /// Its declared value in base units, when declared.
        value: Option<f64>,
        /// The divisor (1 when omitted).
        divisor: f64,
    },
}

/// A declared port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortDecl {
    /// Port name.
    pub name: Option<String>,
    /// The port as declared.
    pub port: u16,
}

/// A probe with Kubernetes' timing fields resolved.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeSpec {
    /// What to check.
    pub action: ProbeAction,
    /// Wait before the first check.
    pub initial_delay: Duration,
    /// Time between checks.
    pub period: Duration,
    /// Time a check may take.
    pub timeout: Duration,
    /// Consecutive successes to pass.
    pub success_threshold: u32,
    /// Consecutive failures to fail.
    pub failure_threshold: u32,
    /// Grace period for a stop caused by this probe.
    pub termination_grace: Option<Duration>,
}

/// A probe's check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeAction {
    /// HTTP GET; 2xx and 3xx pass.
    Http {
        /// Port (declared number or name).
        port: PortRef,
        /// Path.
        path: String,
        /// Host to connect to (the replica when absent).
        host: Option<String>,
        /// `HTTP` or `HTTPS`.
        scheme: String,
        /// Extra headers.
        headers: Vec<(String, String)>,
    },
    /// TCP connect.
    Tcp {
        /// Port.
        port: PortRef,
        /// Host (the replica when absent).
        host: Option<String>,
    },
    /// Run a command; exit 0 passes.
    Exec(Vec<String>),
    /// gRPC health checking (`grpc.health.v1.Health/Check`); passes on `SERVING`.
    Grpc {
        /// Port (a declared container port maps to the replica's).
        port: u16,
        /// The service asked about (`""`: the server as a whole).
        service: String,
    },
}

/// A port as a probe names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortRef {
    /// A number (a declared container port is mapped to the replica's real port).
    Number(u16),
    /// A container port's name.
    Name(String),
}

/// When a stopped process starts again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartRule {
    /// Kubernetes `restartPolicy: Always`, with exponential back-off.
    Always,
    /// Swarm's `restart_policy`.
    Swarm(compose::RestartPolicy),
}

/// How template changes roll out.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Kubernetes rolling update.
    RollingUpdate {
        /// Replicas above the desired count (`25%` by default).
        max_surge: IntOrString,
        /// Replicas below the desired count (`25%` by default).
        max_unavailable: IntOrString,
    },
    /// Kubernetes `Recreate`: all old replicas stop before new ones start.
    Recreate,
    /// Swarm `update_config`, with `rollback_config` for rollbacks.
    Swarm {
        /// Updates.
        update: UpdateConfig,
        /// Rollbacks.
        rollback: UpdateConfig,
    },
}

impl WorkloadSpec {
    /// True when replicas get a root folder (`MERIDIAN_ROOT`): the pod declares volumes or
    /// mounts.
    pub fn has_volumes(&self) -> bool {
        !self.volumes.is_empty()
            || self
                .init_containers
                .iter()
                .chain(&self.containers)
                .any(|c| !c.mounts.is_empty())
    }

    /// The workload's label `version`, shown by `ps`.
    pub fn version(&self) -> Option<&str> {
        self.labels.get("version").map(String::as_str)
    }

    /// A hash of everything that makes replicas different (the pod template): not the
    /// replica count, the strategy or the caller's extra environment. Like Kubernetes'
    /// `pod-template-hash`, a change of it is a rollout.
    pub fn template_hash(&self) -> String {
        #[derive(serde::Serialize)]
        struct Template<'a> {
            labels: &'a BTreeMap<String, String>,
            annotations: &'a BTreeMap<String, String>,
            service_account: &'a str,
            init_containers: &'a [ContainerSpec],
            containers: &'a [ContainerSpec],
            #[serde(skip_serializing_if = "<[VolumeSpec]>::is_empty")]
            volumes: &'a [VolumeSpec],
            node_selector: &'a BTreeMap<String, String>,
            constraints: &'a [compose::Constraint],
            restart: &'a RestartRule,
            grace: u128,
            stop_signal: &'a str,
            restart_generation: u64,
        }
        let t = Template {
            labels: &self.labels,
            annotations: &self.annotations,
            service_account: &self.service_account,
            init_containers: &self.init_containers,
            containers: &self.containers,
            volumes: &self.volumes,
            node_selector: &self.node_selector,
            constraints: &self.constraints,
            restart: &self.restart,
            grace: self.grace.as_millis(),
            stop_signal: &self.stop_signal,
            restart_generation: self.restart_generation,
        };
        let bytes = serde_json::to_vec(&t).unwrap_or_default();
        // FNV-1a: stable across builds and platforms (std's hasher is not).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // Kubernetes' "safe" alphabet: no vowels, no look-alikes.
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut out = String::with_capacity(10);
        for _ in 0..10 {
            out.push(char::from(ALPHABET[usize::try_from(h % 27).unwrap_or(0)]));
            h /= 27;
        }
        out
    }

    /// Builds a workload from a Deployment.
    pub fn from_deployment(d: &Object<DeploymentSpec>) -> Self {
        Self::from_deployment_with(d, &ConfigSources::default())
    }

    /// A Deployment's workload, its variables from `configMapKeyRef`, `secretKeyRef` and
    /// `envFrom` read from `sources`.
    pub fn from_deployment_with(d: &Object<DeploymentSpec>, sources: &ConfigSources<'_>) -> Self {
        let spec = &d.spec;
        let ns = d.namespace();
        let template = spec.template.clone().unwrap_or_default();
        let pod = template.spec.clone().unwrap_or_default();
        let strategy = match &spec.strategy {
            Some(s) if s.strategy_type == Some(StrategyType::Recreate) => Strategy::Recreate,
            s => {
                let ru = s
                    .as_ref()
                    .and_then(|s| s.rolling_update.clone())
                    .unwrap_or_default();
                Strategy::RollingUpdate {
                    max_surge: ru
                        .max_surge
                        .unwrap_or_else(|| IntOrString::String("25%".into())),
                    max_unavailable: ru
                        .max_unavailable
                        .unwrap_or_else(|| IntOrString::String("25%".into())),
                }
            }
        };
        let secs = |v: Option<i32>, default: u64| {
            v.and_then(|v| u64::try_from(v).ok())
                .map_or(Duration::from_secs(default), Duration::from_secs)
        };
        WorkloadSpec {
            id: WorkloadRef {
                kind: WorkloadKind::Deployment,
                namespace: d.namespace().to_owned(),
                name: d.name().to_owned(),
            },
            replicas: spec.replica_count(),
            labels: template.metadata.labels.clone(),
            annotations: template.metadata.annotations.clone(),
            service_account: pod.service_account().to_owned(),
            init_containers: pod
                .init_containers
                .iter()
                .map(|c| container(c, ns, sources))
                .collect(),
            containers: pod
                .containers
                .iter()
                .map(|c| container(c, ns, sources))
                .collect(),
            volumes: pod.volumes.iter().map(|v| volume(v, ns, sources)).collect(),
            node_selector: pod.node_selector.clone(),
            constraints: Vec::new(),
            max_replicas_per_node: None,
            restart: RestartRule::Always,
            strategy,
            min_ready: secs(spec.min_ready_seconds, 0),
            grace: pod
                .termination_grace_period_seconds
                .and_then(|g| u64::try_from(g).ok())
                .map_or(Duration::from_secs(30), Duration::from_secs),
            stop_signal: "SIGTERM".into(),
            revision_history_limit: spec
                .revision_history_limit
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(10),
            progress_deadline: secs(spec.progress_deadline_seconds, 600),
            paused: spec.paused.unwrap_or(false),
            extra_env: BTreeMap::new(),
            restart_generation: 0,
            depends_on: Vec::new(),
        }
    }

    /// Builds a workload from a Compose service.
    pub fn from_compose(file: &ComposeFile, s: &compose::Service) -> Self {
        let mut labels = s.labels.clone();
        labels.extend(s.deploy.labels.clone());
        labels.insert("com.docker.compose.project".into(), file.project.clone());
        labels.insert("com.docker.compose.service".into(), s.name.clone());
        let env = s
            .environment
            .iter()
            .map(|(k, v)| EnvEntry::Value {
                name: k.clone(),
                // Compose values are literal: `$(X)` must not be expanded, so escape it.
                value: v.replace("$(", "$$("),
            })
            .collect();
        let c = ContainerSpec {
            name: s.name.clone(),
            image: s.image.clone(),
            argv: s.argv(),
            env,
            working_dir: s.working_dir.clone(),
            ports: s
                .ports
                .iter()
                .map(|p| PortDecl {
                    name: p.name.clone(),
                    port: p.target,
                })
                .collect(),
            readiness: None,
            liveness: None,
            startup: None,
            healthcheck: s.healthcheck.clone(),
            memory_limit: s.deploy.resources.limits.memory,
            mounts: Vec::new(),
        };
        WorkloadSpec {
            id: WorkloadRef {
                kind: WorkloadKind::ComposeService,
                namespace: meridian_config::k8s::meta::DEFAULT_NAMESPACE.to_owned(),
                name: s.name.clone(),
            },
            replicas: match s.deploy.mode {
                DeployMode::Global => 1,
                DeployMode::Replicated => s.deploy.replicas,
            },
            labels,
            annotations: BTreeMap::new(),
            service_account: "default".into(),
            init_containers: Vec::new(),
            containers: vec![c],
            volumes: Vec::new(),
            node_selector: BTreeMap::new(),
            constraints: s.deploy.placement.constraints.clone(),
            max_replicas_per_node: s.deploy.placement.max_replicas_per_node,
            restart: RestartRule::Swarm(s.deploy.restart_policy.clone()),
            strategy: Strategy::Swarm {
                update: s.deploy.update_config.clone(),
                rollback: s.deploy.rollback_config.clone(),
            },
            min_ready: Duration::ZERO,
            grace: s.stop_grace_period,
            stop_signal: s.stop_signal.clone(),
            revision_history_limit: 10,
            progress_deadline: Duration::from_secs(600),
            paused: false,
            extra_env: BTreeMap::new(),
            restart_generation: 0,
            depends_on: s.depends_on.clone(),
        }
    }
}

/// The ConfigMaps and Secrets of a configuration, by namespace and name.
#[derive(Debug, Default)]
pub struct ConfigSources<'a> {
    config_maps: BTreeMap<(&'a str, &'a str), &'a ConfigMapData>,
    secrets: BTreeMap<(&'a str, &'a str), &'a SecretData>,
}

impl<'a> ConfigSources<'a> {
    /// The ConfigMaps and Secrets among `resources`.
    pub fn from_resources(resources: impl IntoIterator<Item = &'a Resource>) -> Self {
        let mut s = Self::default();
        for r in resources {
            match r {
                Resource::ConfigMap(c) => {
                    s.config_maps.insert((c.namespace(), c.name()), &c.spec);
                }
                Resource::Secret(x) => {
                    s.secrets.insert((x.namespace(), x.name()), &x.spec);
                }
                _ => {}
            }
        }
        s
    }

    /// Variables of one `envFrom` entry, in key order (as the kubelet adds them).
    fn env_from(
        &self,
        ns: &str,
        src: &meridian_config::k8s::deployment::EnvFromSource,
    ) -> Vec<EnvEntry> {
        let prefix = src.prefix.as_deref().unwrap_or("");
        let mut out = Vec::new();
        if let Some(cm) = src
            .config_map_ref
            .as_ref()
            .and_then(|r| r.name.as_deref())
            .and_then(|name| self.config_maps.get(&(ns, name)))
        {
            for (k, v) in &cm.data {
                out.push(EnvEntry::Config {
                    name: format!("{prefix}{k}"),
                    value: v.clone(),
                });
            }
        }
        if let Some(secret) = src
            .secret_ref
            .as_ref()
            .and_then(|r| r.name.as_deref())
            .and_then(|name| self.secrets.get(&(ns, name)))
        {
            for k in secret.data.keys() {
                if let Some(value) = secret.get(k) {
                    out.push(EnvEntry::Secret {
                        name: format!("{prefix}{k}"),
                        value,
                    });
                }
            }
        }
        out
    }
}

fn container(c: &Container, ns: &str, sources: &ConfigSources<'_>) -> ContainerSpec {
    let argv = if c.command.is_empty() {
        None
    } else {
        Some(c.command.iter().chain(&c.args).cloned().collect())
    };
    let limits = c.resources.as_ref().map(|r| &r.limits);
    let requests = c.resources.as_ref().map(|r| &r.requests);
    // `envFrom` first, then `env`, which overrides it: the kubelet's order.
    let from: Vec<EnvEntry> = c
        .env_from
        .iter()
        .flat_map(|src| sources.env_from(ns, src))
        .collect();
    let declared = c.env.iter().filter_map(|e| {
        let name = e.name.clone()?;
        Some(match &e.value_from {
            Some(src) => {
                if let Some(r) = &src.config_map_key_ref {
                    // A missing ConfigMap or key leaves the variable unset (validation
                    // says so at the reference).
                    let value = r
                        .name
                        .as_deref()
                        .zip(r.key.as_deref())
                        .and_then(|(n, k)| sources.config_maps.get(&(ns, n))?.get(k))?;
                    EnvEntry::Config { name, value }
                } else if let Some(r) = &src.secret_key_ref {
                    let value = r
                        .name
                        .as_deref()
                        .zip(r.key.as_deref())
                        .and_then(|(n, k)| sources.secrets.get(&(ns, n))?.get(k))?;
                    EnvEntry::Secret { name, value }
                } else if let Some(path) = src.field_ref.as_ref().and_then(|f| f.field_path.clone())
                {
                    EnvEntry::Field { name, path }
                } else if let Some(r) = &src.resource_field_ref {
                    let resource = r.resource.clone().unwrap_or_default();
                    let (map, key) = match resource.split_once('.') {
                        Some(("limits", k)) => (limits, k),
                        Some((_, k)) => (requests, k),
                        None => (limits, resource.as_str()),
                    };
                    EnvEntry::Resource {
                        value: map.and_then(|m| m.get(key)).and_then(|q| q.value().ok()),
                        divisor: r
                            .divisor
                            .as_ref()
                            .and_then(|d| d.value().ok())
                            .filter(|d| *d > 0.0)
                            .unwrap_or(1.0),
                        name,
                        resource,
                    }
                } else {
                    return None;
                }
            }
            None => EnvEntry::Value {
                name,
                value: e.value.clone().unwrap_or_default(),
            },
        })
    });
    let env = from.into_iter().chain(declared).collect();
    ContainerSpec {
        name: c.name.clone().unwrap_or_default(),
        image: c.image.clone(),
        argv,
        env,
        working_dir: c.working_dir.as_ref().map(PathBuf::from),
        ports: c
            .ports
            .iter()
            .filter_map(|p| {
                Some(PortDecl {
                    name: p.name.clone(),
                    port: u16::try_from(p.container_port?).ok()?,
                })
            })
            .collect(),
        readiness: c.readiness_probe.as_ref().and_then(probe),
        liveness: c.liveness_probe.as_ref().and_then(probe),
        startup: c.startup_probe.as_ref().and_then(probe),
        healthcheck: None,
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        memory_limit: limits
            .and_then(|l| l.get("memory"))
            .and_then(|q| q.value().ok())
            .map(|v| v as u64),
        mounts: c
            .volume_mounts
            .iter()
            .filter_map(|m| {
                Some(MountSpec {
                    volume: m.name.clone()?,
                    mount_path: m.mount_path.clone()?,
                    sub_path: m.sub_path.clone().filter(|s| !s.is_empty()),
                    read_only: m.read_only == Some(true),
                })
            })
            .collect(),
    }
}

/// A volume's files, read from the ConfigMaps and Secrets of the configuration. What is
/// missing is left out (validation warns about it where it is referenced).
fn volume(
    v: &meridian_config::k8s::volume::Volume,
    ns: &str,
    sources: &ConfigSources<'_>,
) -> VolumeSpec {
    let files = match v.kind() {
        VolumeKind::Files => {
            let config_map = |name: &str| sources.config_maps.get(&(ns, name)).map(|c| c.files());
            let secret = |name: &str| sources.secrets.get(&(ns, name)).map(|s| s.data.clone());
            volume_files(v, &config_map, &secret).0
        }
        VolumeKind::EmptyDir | VolumeKind::Unserved(_) | VolumeKind::None => Vec::new(),
    };
    VolumeSpec {
        name: v.name.clone().unwrap_or_default(),
        source: v.clone(),
        files,
    }
}

fn port_ref(p: Option<&IntOrString>) -> Option<PortRef> {
    match p? {
        IntOrString::Int(i) => u16::try_from(*i).ok().map(PortRef::Number),
        IntOrString::String(s) => Some(PortRef::Name(s.clone())),
    }
}

fn probe(p: &Probe) -> Option<ProbeSpec> {
    let action = if let Some(h) = &p.http_get {
        ProbeAction::Http {
            port: port_ref(h.port.as_ref())?,
            path: h.path.clone().unwrap_or_else(|| "/".into()),
            host: h.host.clone(),
            scheme: h.scheme.clone().unwrap_or_else(|| "HTTP".into()),
            headers: h
                .http_headers
                .iter()
                .filter_map(|x| Some((x.name.clone()?, x.value.clone().unwrap_or_default())))
                .collect(),
        }
    } else if let Some(t) = &p.tcp_socket {
        ProbeAction::Tcp {
            port: port_ref(t.port.as_ref())?,
            host: t.host.clone(),
        }
    } else if let Some(e) = &p.exec {
        ProbeAction::Exec(e.command.clone())
    } else if let Some(g) = &p.grpc {
        ProbeAction::Grpc {
            port: u16::try_from(g.port?).ok()?,
            service: g.service.clone().unwrap_or_default(),
        }
    } else {
        return None;
    };
    Some(ProbeSpec {
        action,
        initial_delay: Duration::from_secs(u64::from(p.initial_delay())),
        period: Duration::from_secs(u64::from(p.period())),
        timeout: Duration::from_secs(u64::from(p.timeout())),
        success_threshold: p.success_threshold(),
        failure_threshold: p.failure_threshold(),
        termination_grace: p
            .termination_grace_period_seconds
            .and_then(|g| u64::try_from(g).ok())
            .map(Duration::from_secs),
    })
}

/// Everything the supervisor should run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DesiredState {
    /// The workloads.
    pub workloads: Vec<WorkloadSpec>,
}

impl DesiredState {
    /// Every Deployment among `resources` and every service of the Compose `files`.
    ///
    /// ```no_run
    /// # use meridian_workloads::DesiredState;
    /// let bundle = meridian_config::load_paths(&["examples".into()], Default::default());
    /// let compose: Vec<_> = bundle.other_formats.iter()
    ///     .filter(|(_, f)| *f == meridian_config::load::FileFormat::Compose)
    ///     .filter_map(|(p, _)| meridian_config::compose::load_file(p, &Default::default()).valid().cloned())
    ///     .collect();
    /// let desired = DesiredState::from_config(bundle.resources(), &compose);
    /// ```
    pub fn from_config<'a>(
        resources: impl IntoIterator<Item = &'a Resource>,
        compose: &[ComposeFile],
    ) -> Self {
        let resources: Vec<&Resource> = resources.into_iter().collect();
        let sources = ConfigSources::from_resources(resources.iter().copied());
        let mut workloads: Vec<WorkloadSpec> = resources
            .iter()
            .filter_map(|r| match r {
                Resource::Deployment(d) => Some(WorkloadSpec::from_deployment_with(d, &sources)),
                _ => None,
            })
            .collect();
        for f in compose {
            for s in &f.services {
                workloads.push(WorkloadSpec::from_compose(f, s));
            }
        }
        Self { workloads }
    }

    /// Sets the caller's extra environment of every workload (service discovery, proxy).
    pub fn with_extra_env(
        mut self,
        env: impl Fn(&WorkloadRef) -> BTreeMap<String, String>,
    ) -> Self {
        for w in &mut self.workloads {
            w.extra_env = env(&w.id);
        }
        self
    }
}
