//! Decoding one `services.<name>` entry: the raw shapes Compose allows (strings or lists,
//! maps or lists, short or long syntax) turned into a [`Service`] with every problem located.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::de::IgnoredAny;

use super::interpolate::{Environment, parse_env_lines};
use super::model::{
    Dependency, DependencyCondition, Deploy, DeployMode, FailureAction, HealthTest, Healthcheck,
    Placement, PortSpec, ResourceAmounts, Resources, RestartCondition, RestartPolicy, Service,
    UpdateConfig, UpdateOrder,
};
use super::placement::parse_constraint;
use super::shell::split;
use crate::de::decode_at;
use crate::diag::{Findings, did_you_mean};
use crate::node::{Node, Resolved, Value};
use crate::path::FieldPath;

/// What becomes of Compose networks, at the service and at the top level.
pub(crate) const NO_NETWORKS: &str = "networks are ignored: every service reaches the others by name through Meridian, on no network of its own";

/// A service as written; shapes that vary are read from the node tree.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct RawService {
    image: Option<String>,
    command: Option<IgnoredAny>,
    entrypoint: Option<IgnoredAny>,
    environment: Option<IgnoredAny>,
    env_file: Option<IgnoredAny>,
    working_dir: Option<String>,
    ports: Option<IgnoredAny>,
    labels: Option<IgnoredAny>,
    deploy: Option<RawDeploy>,
    stop_grace_period: Option<IgnoredAny>,
    stop_signal: Option<String>,
    healthcheck: Option<RawHealthcheck>,
    depends_on: Option<IgnoredAny>,
    networks: Option<IgnoredAny>,
    restart: Option<String>,
    scale: Option<u32>,
    extends: Option<IgnoredAny>,
    build: Option<IgnoredAny>,
    container_name: Option<IgnoredAny>,
    hostname: Option<IgnoredAny>,
    domainname: Option<IgnoredAny>,
    volumes: Option<IgnoredAny>,
    user: Option<IgnoredAny>,
    cap_add: Option<IgnoredAny>,
    cap_drop: Option<IgnoredAny>,
    privileged: Option<IgnoredAny>,
    security_opt: Option<IgnoredAny>,
    logging: Option<IgnoredAny>,
    dns: Option<IgnoredAny>,
    dns_search: Option<IgnoredAny>,
    extra_hosts: Option<IgnoredAny>,
    expose: Option<IgnoredAny>,
    links: Option<IgnoredAny>,
    tmpfs: Option<IgnoredAny>,
    ulimits: Option<IgnoredAny>,
    init: Option<IgnoredAny>,
    tty: Option<IgnoredAny>,
    stdin_open: Option<IgnoredAny>,
    devices: Option<IgnoredAny>,
    pid: Option<IgnoredAny>,
    ipc: Option<IgnoredAny>,
    network_mode: Option<IgnoredAny>,
    platform: Option<IgnoredAny>,
    pull_policy: Option<IgnoredAny>,
    secrets: Option<IgnoredAny>,
    configs: Option<IgnoredAny>,
    sysctls: Option<IgnoredAny>,
    shm_size: Option<IgnoredAny>,
    mem_limit: Option<IgnoredAny>,
    cpus: Option<IgnoredAny>,
    read_only: Option<IgnoredAny>,
    profiles: Option<IgnoredAny>,
    annotations: Option<IgnoredAny>,
}

/// Service fields that only mean something for containers: accepted, reported as ignored.
pub(crate) const IGNORED_SERVICE_FIELDS: &[&str] = &[
    "build",
    "container_name",
    "hostname",
    "domainname",
    "volumes",
    "user",
    "cap_add",
    "cap_drop",
    "privileged",
    "security_opt",
    "logging",
    "dns",
    "dns_search",
    "extra_hosts",
    "expose",
    "links",
    "tmpfs",
    "ulimits",
    "init",
    "tty",
    "stdin_open",
    "devices",
    "pid",
    "ipc",
    "network_mode",
    "platform",
    "pull_policy",
    "secrets",
    "configs",
    "sysctls",
    "shm_size",
    "mem_limit",
    "cpus",
    "read_only",
    "profiles",
    "annotations",
];

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawDeploy {
    mode: Option<String>,
    replicas: Option<u32>,
    labels: Option<IgnoredAny>,
    placement: Option<RawPlacement>,
    update_config: Option<RawUpdate>,
    rollback_config: Option<RawUpdate>,
    restart_policy: Option<RawRestart>,
    resources: Option<RawResources>,
    endpoint_mode: Option<EndpointMode>,
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum EndpointMode {
    Vip,
    Dnsrr,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawPlacement {
    constraints: Option<IgnoredAny>,
    preferences: Option<IgnoredAny>,
    max_replicas_per_node: Option<u32>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawUpdate {
    parallelism: Option<u32>,
    delay: Option<IgnoredAny>,
    failure_action: Option<FailureAction>,
    monitor: Option<IgnoredAny>,
    max_failure_ratio: Option<f64>,
    order: Option<UpdateOrder>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawRestart {
    condition: Option<RestartCondition>,
    delay: Option<IgnoredAny>,
    max_attempts: Option<u32>,
    window: Option<IgnoredAny>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResources {
    limits: Option<RawAmounts>,
    reservations: Option<RawAmounts>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawAmounts {
    cpus: Option<IgnoredAny>,
    memory: Option<IgnoredAny>,
    pids: Option<u64>,
    generic_resources: Option<IgnoredAny>,
    devices: Option<IgnoredAny>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawHealthcheck {
    test: Option<IgnoredAny>,
    interval: Option<IgnoredAny>,
    timeout: Option<IgnoredAny>,
    retries: Option<u32>,
    start_period: Option<IgnoredAny>,
    start_interval: Option<IgnoredAny>,
    disable: Option<bool>,
}

/// What a service needs from the file around it.
pub(crate) struct Context<'a> {
    /// Folder of the Compose file (relative paths start there).
    pub(crate) dir: &'a Path,
    /// Variables for `environment` entries written without a value.
    pub(crate) env: &'a Environment,
}

/// Decodes and validates one service.
pub(crate) fn service(
    name: &str,
    node: &Node,
    at: &FieldPath,
    cx: &Context<'_>,
    f: &mut Findings,
) -> Option<Service> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        f.error(
            at,
            format!("invalid service name \"{name}\": use only letters, digits, '.', '_' and '-'"),
        )
        .at_key();
    }
    if node.is_null() {
        f.error(at, "a service needs at least `command` (or `image`)");
        return None;
    }
    let raw: RawService = decode_at(node, at, f)?;
    if node.get("extends").is_some() {
        f.error(&at.field("extends"), "extends is not supported")
            .at_key()
            .hint("merge the shared settings with a YAML anchor and `<<: *name`");
    }
    for field in IGNORED_SERVICE_FIELDS {
        if node.get(field).is_some() {
            f.warn(
                &at.field(*field),
                format!("{field} is ignored: Meridian runs services as processes, not containers"),
            )
            .at_key();
        }
    }
    if node.get("networks").is_some() {
        f.warn(&at.field("networks"), NO_NETWORKS).at_key();
    }
    let command = node
        .get("command")
        .and_then(|n| string_or_list(n, &at.field("command"), f));
    let entrypoint = node
        .get("entrypoint")
        .and_then(|n| string_or_list(n, &at.field("entrypoint"), f));

    let mut environment = BTreeMap::new();
    if let Some(n) = node.get("env_file") {
        env_files(n, &at.field("env_file"), cx, f, &mut environment);
    }
    if let Some(n) = node.get("environment") {
        for (k, v) in map_or_list(n, &at.field("environment"), f) {
            match v.or_else(|| cx.env.get(&k).map(str::to_owned)) {
                Some(v) => {
                    environment.insert(k, v);
                }
                None => {
                    environment.remove(&k);
                }
            }
        }
    }
    let mut labels = BTreeMap::new();
    if let Some(n) = node.get("labels") {
        for (k, v) in map_or_list(n, &at.field("labels"), f) {
            labels.insert(k, v.unwrap_or_default());
        }
    }
    let ports = node
        .get("ports")
        .map(|n| ports(n, &at.field("ports"), f))
        .unwrap_or_default();
    let stop_grace_period =
        duration_field(node, at, "stop_grace_period", f).unwrap_or(Duration::from_secs(10));
    let stop_signal = match raw.stop_signal.as_deref() {
        None => "SIGTERM".to_owned(),
        Some(s) => match normalize_signal(s) {
            Some(s) => s,
            None => {
                f.error(&at.field("stop_signal"), format!("unknown signal \"{s}\""))
                    .hint("a signal name such as SIGTERM, SIGINT, SIGQUIT or SIGUSR1");
                "SIGTERM".to_owned()
            }
        },
    };
    let healthcheck = raw
        .healthcheck
        .as_ref()
        .and_then(|h| healthcheck(h, node.get("healthcheck"), &at.field("healthcheck"), f));
    let depends_on = node
        .get("depends_on")
        .map(|n| depends_on(n, &at.field("depends_on"), f))
        .unwrap_or_default();

    let dp = at.field("deploy");
    let deploy_node = node.get("deploy");
    let mut deploy = deploy(raw.deploy.as_ref(), deploy_node, &dp, f);
    if let Some(scale) = raw.scale {
        if raw.deploy.as_ref().is_some_and(|d| d.replicas.is_some()) {
            if deploy.replicas != scale {
                f.error(
                    &at.field("scale"),
                    format!(
                        "scale ({scale}) and deploy.replicas ({}) disagree",
                        deploy.replicas
                    ),
                )
                .hint("keep only deploy.replicas");
            }
        } else {
            deploy.replicas = scale;
        }
    }
    if let Some(r) = &raw.restart {
        let from_restart = match r.as_str() {
            "no" => Some(RestartCondition::None),
            "always" | "unless-stopped" => Some(RestartCondition::Any),
            s if s == "on-failure" || s.starts_with("on-failure:") => {
                Some(RestartCondition::OnFailure)
            }
            other => {
                f.error(
                    &at.field("restart"),
                    format!("unsupported value \"{other}\""),
                )
                .hint("one of: no, always, on-failure[:max-retries], unless-stopped");
                None
            }
        };
        let has_policy = raw
            .deploy
            .as_ref()
            .is_some_and(|d| d.restart_policy.is_some());
        if let Some(c) = from_restart
            && !has_policy
        {
            deploy.restart_policy.condition = c;
            deploy.restart_policy.delay = Duration::ZERO;
            if let Some(n) = r.strip_prefix("on-failure:") {
                match n.parse() {
                    Ok(n) => deploy.restart_policy.max_attempts = Some(n),
                    Err(_) => {
                        f.error(
                            &at.field("restart"),
                            format!("\"{n}\" is not a number of retries"),
                        );
                    }
                }
            }
        }
    }
    Some(Service {
        name: name.to_owned(),
        span: node.span,
        image: raw.image,
        entrypoint,
        command,
        environment,
        working_dir: raw.working_dir.map(|w| {
            let rel: std::path::PathBuf = Path::new(&w)
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
            cx.dir.join(rel)
        }),
        ports,
        labels,
        deploy,
        stop_grace_period,
        stop_signal,
        healthcheck,
        depends_on,
    })
}

/// The text of a scalar of any type (`true`, `3`, `"x"` all become text), or `None` for
/// null and collections.
fn scalar_text(n: &Node) -> Option<String> {
    match n.resolve()? {
        Resolved::Null => None,
        _ => n.as_str().map(str::to_owned),
    }
}

/// `command: npm start` or `command: ["npm", "start"]`.
fn string_or_list(n: &Node, at: &FieldPath, f: &mut Findings) -> Option<Vec<String>> {
    match &n.value {
        Value::Scalar(..) if n.is_null() => None,
        Value::Scalar(s, _) => match split(s) {
            Ok(words) => Some(words),
            Err(e) => {
                f.error(at, format!("cannot split \"{s}\" into words: {e}"))
                    .hint("write the command as a list: [\"prog\", \"arg\"]");
                None
            }
        },
        Value::Seq(_) => decode_at::<Vec<String>>(n, at, f),
        Value::Map(_) => {
            f.error(at, "expected a string or a list of strings, got an object");
            None
        }
    }
}

/// `KEY: value` maps or `- KEY=value` lists (`environment`, `labels`).
fn map_or_list(n: &Node, at: &FieldPath, f: &mut Findings) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    match &n.value {
        Value::Map(entries) => {
            for e in entries {
                let k = e.key.as_str().unwrap_or_default().to_owned();
                match &e.value.value {
                    Value::Scalar(..) => out.push((k, scalar_text(&e.value))),
                    _ => {
                        f.error(
                            &at.key(k.clone()),
                            format!(
                                "expected a string, number or boolean, got {}",
                                e.value.kind_name()
                            ),
                        );
                    }
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) if !matches!(item.value, Value::Seq(_) | Value::Map(_)) => {
                        match s.split_once('=') {
                            Some((k, v)) => out.push((k.to_owned(), Some(v.to_owned()))),
                            None => out.push((s.to_owned(), None)),
                        }
                    }
                    _ => {
                        f.error(
                            &at.index(i),
                            format!("expected \"KEY=value\", got {}", item.kind_name()),
                        );
                    }
                }
            }
        }
        Value::Scalar(..) if n.is_null() => {}
        Value::Scalar(..) => {
            f.error(
                at,
                format!(
                    "expected an object or a list of \"KEY=value\", got {}",
                    n.kind_name()
                ),
            );
        }
    }
    for (i, (k, _)) in out.iter().enumerate() {
        if k.is_empty() {
            f.error(&at.index(i), "empty variable name");
        }
    }
    out
}

fn env_files(
    n: &Node,
    at: &FieldPath,
    cx: &Context<'_>,
    f: &mut Findings,
    env: &mut BTreeMap<String, String>,
) {
    let entries: Vec<(FieldPath, &Node)> = match &n.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| (at.index(i), x))
            .collect(),
        _ => vec![(at.clone(), n)],
    };
    for (p, item) in entries {
        let (path, required) = match &item.value {
            Value::Map(_) => {
                let path = item.get("path").and_then(Node::as_str);
                let required = !matches!(
                    item.get("required").and_then(Node::resolve),
                    Some(Resolved::Bool(false))
                );
                for e in item.as_map().unwrap_or_default() {
                    let k = e.key.as_str().unwrap_or_default();
                    if !matches!(k, "path" | "required" | "format") {
                        f.error(&p.field(k.to_owned()), format!("unknown field \"{k}\""))
                            .at_key()
                            .hint("known fields: path, required, format");
                    }
                }
                match path {
                    Some(x) => (x, required),
                    None => {
                        f.error(&p, "required field \"path\" is missing");
                        continue;
                    }
                }
            }
            Value::Scalar(s, _) => (s.as_str(), true),
            Value::Seq(_) => {
                f.error(&p, "expected a path, got a list");
                continue;
            }
        };
        let file = cx.dir.join(path);
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                for (k, v) in parse_env_lines(&text) {
                    env.insert(k, v);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(e) => {
                f.error(&p, format!("cannot read env file {}: {e}", file.display()))
                    .hint("create the file, or mark it `required: false`");
            }
        }
    }
}

/// Short (`"8080:3000"`, `3000`, `"127.0.0.1:8080:3000/udp"`, `"3000-3002"`) and long port
/// syntax.
fn ports(n: &Node, at: &FieldPath, f: &mut Findings) -> Vec<PortSpec> {
    let Some(items) = n.as_seq() else {
        if !n.is_null() {
            f.error(
                at,
                format!("expected a list of ports, got {}", n.kind_name()),
            );
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = at.index(i);
        let before = out.len();
        match &item.value {
            Value::Map(_) => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                #[allow(dead_code)]
                struct Long {
                    target: Option<u16>,
                    published: Option<IgnoredAny>,
                    host_ip: Option<String>,
                    protocol: Option<String>,
                    mode: Option<String>,
                    name: Option<String>,
                    app_protocol: Option<String>,
                }
                let Some(long) = decode_at::<Long>(item, &p, f) else {
                    continue;
                };
                let target = match long.target {
                    Some(0) => {
                        f.error(&p.field("target"), "0 is not a port number (1 to 65535)");
                        continue;
                    }
                    Some(t) => t,
                    None => {
                        f.error(&p.field("target"), "required field \"target\" is missing");
                        continue;
                    }
                };
                let published = match item.get("published") {
                    None => None,
                    Some(pn) => match scalar_text(pn).as_deref().map(str::parse::<u16>) {
                        Some(Ok(v)) => Some(v),
                        None => None,
                        Some(Err(_)) => {
                            f.error(&p.field("published"), "expected a port number (1 to 65535)");
                            None
                        }
                    },
                };
                let protocol = long.protocol.unwrap_or_else(|| "tcp".into());
                if !matches!(protocol.as_str(), "tcp" | "udp") {
                    f.error(
                        &p.field("protocol"),
                        format!("unsupported value \"{protocol}\""),
                    )
                    .hint("one of: tcp, udp");
                }
                out.push(PortSpec {
                    target,
                    published,
                    host_ip: long.host_ip,
                    protocol,
                    name: long.name,
                });
            }
            Value::Scalar(..) => match scalar_text(item) {
                Some(text) => match short_port(&text) {
                    Ok(mut ps) => out.append(&mut ps),
                    Err(e) => {
                        f.error(&p, format!("invalid port \"{text}\": {e}"))
                            .hint("write \"TARGET\", \"PUBLISHED:TARGET\" or \"IP:PUBLISHED:TARGET[/udp]\"");
                    }
                },
                None => {
                    f.error(&p, "expected a port, got null");
                }
            },
            Value::Seq(_) => {
                f.error(&p, "expected a port, got a list");
            }
        }
        unserved_publishing(&out[before..], &p, f);
    }
    out
}

/// Published ports listen on the node's loopback address, TCP only: a host address other
/// than loopback and UDP are said, not silently changed.
fn unserved_publishing(ports: &[PortSpec], at: &FieldPath, f: &mut Findings) {
    let Some(first) = ports.iter().find(|p| p.published.is_some()) else {
        return;
    };
    if let Some(ip) = first
        .host_ip
        .as_deref()
        .filter(|ip| !matches!(*ip, "127.0.0.1" | "::1" | "localhost"))
    {
        f.warn(
            at,
            format!(
                "published on 127.0.0.1, not {ip}: Meridian publishes ports on the node's loopback address (put a gateway in front to serve other addresses)"
            ),
        );
    }
    if first.protocol == "udp" {
        f.warn(
            at,
            "UDP ports are not published: Meridian's routing mesh forwards TCP",
        );
    }
}

fn port_range(s: &str) -> Result<(u16, u16), String> {
    let parse = |x: &str| -> Result<u16, String> {
        x.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("\"{x}\" is not a port number (1 to 65535)"))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(format!("range {a}-{b} is backwards"));
            }
            Ok((a, b))
        }
        None => {
            let p = parse(s)?;
            Ok((p, p))
        }
    }
}

fn short_port(text: &str) -> Result<Vec<PortSpec>, String> {
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((s, proto)) => (s, proto.to_owned()),
        None => (text, "tcp".to_owned()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp") {
        return Err(format!("unsupported protocol \"{protocol}\""));
    }
    // IPv6 host addresses are bracketed: `[::1]:8080:80`.
    let (host_ip, rest) = match spec.strip_prefix('[') {
        Some(r) => {
            let (ip, rest) = r
                .split_once("]:")
                .ok_or("unclosed '[' in the host address")?;
            (Some(ip.to_owned()), rest)
        }
        None => (None, spec),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
        (None, [t]) => (None, None, *t),
        (None, [p, t]) => (None, Some(*p), *t),
        (None, [ip, p, t]) => (Some((*ip).to_owned()), Some(*p), *t),
        (Some(ip), [p, t]) => (Some(ip), Some(*p), *t),
        _ => return Err("too many ':'".into()),
    };
    let (t0, t1) = port_range(target)?;
    let published = match published.filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => {
            let (p0, p1) = port_range(p)?;
            if p1 - p0 != t1 - t0 && p0 != p1 {
                return Err("published and target ranges differ in size".into());
            }
            Some((p0, p1))
        }
    };
    Ok((t0..=t1)
        .enumerate()
        .map(|(i, target)| PortSpec {
            target,
            published: published.map(|(p0, p1)| {
                if p0 == p1 {
                    p0
                } else {
                    p0 + u16::try_from(i).unwrap_or(0)
                }
            }),
            host_ip: host_ip.clone().filter(|h| !h.is_empty()),
            protocol: protocol.clone(),
            name: None,
        })
        .collect())
}

/// A Compose duration (`10s`, `1m30s`, `500ms`, `1h`).
fn duration(n: &Node, at: &FieldPath, f: &mut Findings) -> Option<Duration> {
    match n.resolve() {
        Some(Resolved::Null) => None,
        Some(Resolved::Str(s)) => match crate::duration::parse(s) {
            Ok(d) => Some(d),
            Err(e) => {
                f.error(at, e.to_string())
                    .hint("write a duration like 10s, 1m30s or 500ms");
                None
            }
        },
        Some(Resolved::Int(0)) => Some(Duration::ZERO),
        Some(Resolved::Int(i)) => {
            f.error(at, format!("missing unit in duration {i}"))
                .hint(format!("write \"{i}s\" for seconds"));
            None
        }
        _ => {
            f.error(
                at,
                format!("expected a duration like 10s, got {}", n.kind_name()),
            );
            None
        }
    }
}

fn duration_field(
    parent: &Node,
    at: &FieldPath,
    field: &'static str,
    f: &mut Findings,
) -> Option<Duration> {
    parent
        .get(field)
        .and_then(|n| duration(n, &at.field(field), f))
}

fn deploy(
    raw: Option<&RawDeploy>,
    node: Option<&Node>,
    at: &FieldPath,
    f: &mut Findings,
) -> Deploy {
    let empty = Node {
        span: Default::default(),
        tag: None,
        value: Value::Map(Vec::new()),
    };
    let node = node.unwrap_or(&empty);
    let mode = match raw.and_then(|r| r.mode.as_deref()) {
        None | Some("replicated") => DeployMode::Replicated,
        Some("global") => DeployMode::Global,
        Some(m @ ("replicated-job" | "global-job")) => {
            f.error(&at.field("mode"), format!("mode \"{m}\" is not supported"))
                .hint("Meridian runs long-lived services: use replicated or global");
            DeployMode::Replicated
        }
        Some(m) => {
            let hint = did_you_mean(m, ["replicated", "global"]).map_or_else(
                || "one of: replicated, global".to_owned(),
                |c| format!("did you mean \"{c}\"?"),
            );
            f.error(&at.field("mode"), format!("unsupported value \"{m}\""))
                .hint(hint);
            DeployMode::Replicated
        }
    };
    let replicas = match (mode, raw.and_then(|r| r.replicas)) {
        (DeployMode::Global, Some(_)) => {
            f.error(
                &at.field("replicas"),
                "replicas may not be set with mode: global",
            );
            1
        }
        (DeployMode::Global, None) => 1,
        (DeployMode::Replicated, Some(r)) if r > crate::k8s::deployment::MAX_REPLICAS => {
            f.error(
                &at.field("replicas"),
                format!(
                    "{r} replicas is more than one node runs (at most {} per service)",
                    crate::k8s::deployment::MAX_REPLICAS
                ),
            );
            1
        }
        (DeployMode::Replicated, r) => r.unwrap_or(1),
    };
    let mut labels = BTreeMap::new();
    if let Some(n) = node.get("labels") {
        for (k, v) in map_or_list(n, &at.field("labels"), f) {
            labels.insert(k, v.unwrap_or_default());
        }
    }
    let pp = at.field("placement");
    let mut placement = Placement {
        constraints: Vec::new(),
        max_replicas_per_node: raw
            .and_then(|r| r.placement.as_ref())
            .and_then(|p| p.max_replicas_per_node),
    };
    if placement.max_replicas_per_node == Some(0) {
        f.error(&pp.field("max_replicas_per_node"), "must be at least 1");
        placement.max_replicas_per_node = None;
    }
    if let Some(cn) = node.get("placement").and_then(|p| p.get("constraints")) {
        let cp = pp.field("constraints");
        let texts: Vec<(FieldPath, String)> = match &cn.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, x)| match scalar_text(x) {
                    Some(s) if matches!(x.value, Value::Scalar(..)) => Some((cp.index(i), s)),
                    _ => {
                        f.error(&cp.index(i), format!("expected a constraint like \"node.labels.region == us-east\", got {}", x.kind_name()));
                        None
                    }
                })
                .collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|e| {
                    let k = e.key.as_str().unwrap_or_default();
                    (cp.key(k.to_owned()), format!("{k} == {}", scalar_text(&e.value).unwrap_or_default()))
                })
                .collect(),
            _ if cn.is_null() => Vec::new(),
            _ => {
                f.error(&cp, format!("expected a list of constraints, got {}", cn.kind_name()));
                Vec::new()
            }
        };
        for (p, text) in texts {
            match parse_constraint(&text) {
                Ok(c) => {
                    if c.any_of.len() > 1 {
                        f.warn(&p, format!("\"{text}\" is not Swarm syntax: Swarm has no `||` and `docker stack deploy` refuses it; Meridian reads it as \"one of these must hold\""))
                            .hint("for a file Swarm also accepts, give the nodes a shared label (node.labels.tier == primary) and constrain on that");
                    }
                    placement.constraints.push(c);
                }
                Err(e) => {
                    f.error(&p, e.message).hint(e.hint);
                }
            }
        }
    }
    let update_config = update(
        raw.and_then(|r| r.update_config.as_ref()),
        node.get("update_config"),
        &at.field("update_config"),
        f,
        false,
    );
    let rollback_config = update(
        raw.and_then(|r| r.rollback_config.as_ref()),
        node.get("rollback_config"),
        &at.field("rollback_config"),
        f,
        true,
    );
    let rp = at.field("restart_policy");
    let restart_policy = match raw.and_then(|r| r.restart_policy.as_ref()) {
        None => RestartPolicy::default(),
        Some(r) => {
            let rn = node.get("restart_policy");
            RestartPolicy {
                condition: r.condition.unwrap_or(RestartCondition::Any),
                delay: rn
                    .and_then(|n| duration_field(n, &rp, "delay", f))
                    .unwrap_or(Duration::from_secs(5)),
                max_attempts: r.max_attempts,
                window: rn
                    .and_then(|n| duration_field(n, &rp, "window", f))
                    .filter(|d| !d.is_zero()),
            }
        }
    };
    unserved_deploy(raw, node, at, f);
    let resources = match raw.and_then(|r| r.resources.as_ref()) {
        None => Resources::default(),
        Some(r) => {
            let rn = node.get("resources");
            let rsp = at.field("resources");
            Resources {
                limits: amounts(
                    r.limits.as_ref(),
                    rn.and_then(|n| n.get("limits")),
                    &rsp.field("limits"),
                    f,
                ),
                reservations: amounts(
                    r.reservations.as_ref(),
                    rn.and_then(|n| n.get("reservations")),
                    &rsp.field("reservations"),
                    f,
                ),
            }
        }
    };
    if let (Some(lim), Some(res)) = (resources.limits.memory, resources.reservations.memory)
        && res > lim
    {
        f.error(
            &at.field("resources").field("reservations").field("memory"),
            "must not be larger than limits.memory",
        );
    }
    Deploy {
        mode,
        replicas,
        labels,
        placement,
        update_config,
        rollback_config,
        restart_policy,
        resources,
    }
}

/// Warns about the `deploy` settings Swarm applies and Meridian does not.
fn unserved_deploy(raw: Option<&RawDeploy>, node: &Node, at: &FieldPath, f: &mut Findings) {
    if raw.is_some_and(|r| r.endpoint_mode.is_some()) {
        f.warn(
            &at.field("endpoint_mode"),
            "endpoint_mode is not applied: the service's name leads to its replicas through Meridian's sidecars, neither a virtual IP nor round-robin DNS",
        )
        .at_key();
    }
    if node
        .get("placement")
        .and_then(|p| p.get("preferences"))
        .is_some()
    {
        f.warn(
            &at.field("placement").field("preferences"),
            "preferences are not applied: replicas are spread over the nodes the constraints allow, not by a label",
        )
        .at_key();
    }
    let resources = node.get("resources");
    if resources.and_then(|r| r.get("reservations")).is_some() {
        f.warn(
            &at.field("resources").field("reservations"),
            "reservations are not applied: replicas are placed without reserving CPU, memory, devices or named resources",
        )
        .at_key();
    }
    // Only a memory limit is enforced on a replica's processes.
    let Some(limits) = resources.and_then(|r| r.get("limits")) else {
        return;
    };
    for (field, missing) in [
        ("cpus", "the replicas' CPU time is not limited"),
        (
            "pids",
            "the number of the replicas' processes is not limited",
        ),
        (
            "generic_resources",
            "processes get no devices or named resources",
        ),
        ("devices", "processes get no devices or named resources"),
    ] {
        if limits.get(field).is_some() {
            f.warn(
                &at.field("resources").field("limits").field(field),
                format!("{field} is not applied: {missing} (only memory is)"),
            )
            .at_key();
        }
    }
}

fn update(
    raw: Option<&RawUpdate>,
    node: Option<&Node>,
    at: &FieldPath,
    f: &mut Findings,
    rollback: bool,
) -> UpdateConfig {
    let mut c = UpdateConfig::update_default();
    let Some(raw) = raw else { return c };
    if let Some(p) = raw.parallelism {
        c.parallelism = p;
    }
    if let Some(d) = node.and_then(|n| duration_field(n, at, "delay", f)) {
        c.delay = d;
    }
    if let Some(m) = node.and_then(|n| duration_field(n, at, "monitor", f)) {
        c.monitor = m;
    }
    if let Some(a) = raw.failure_action {
        if rollback && a == FailureAction::Rollback {
            f.error(
                &at.field("failure_action"),
                "a rollback cannot itself roll back",
            )
            .hint("one of: pause, continue");
        } else {
            c.failure_action = a;
        }
    }
    if let Some(r) = raw.max_failure_ratio {
        if !(0.0..=1.0).contains(&r) {
            f.error(
                &at.field("max_failure_ratio"),
                format!("{r} is not a ratio between 0 and 1"),
            );
        } else {
            c.max_failure_ratio = r;
        }
    }
    if let Some(o) = raw.order {
        c.order = o;
    }
    c
}

fn amounts(
    raw: Option<&RawAmounts>,
    node: Option<&Node>,
    at: &FieldPath,
    f: &mut Findings,
) -> ResourceAmounts {
    let mut a = ResourceAmounts {
        pids: raw.and_then(|r| r.pids),
        ..Default::default()
    };
    let Some(node) = node else { return a };
    if let Some(n) = node.get("cpus") {
        match scalar_text(n).as_deref().map(str::parse::<f64>) {
            Some(Ok(v)) if v > 0.0 && v.is_finite() => a.cpus = Some(v),
            _ => {
                f.error(
                    &at.field("cpus"),
                    "expected a positive number of CPUs, like 0.5",
                );
            }
        }
    }
    if let Some(n) = node.get("memory") {
        match scalar_text(n).as_deref().map(parse_bytes) {
            Some(Ok(v)) => a.memory = Some(v),
            Some(Err(e)) => {
                f.error(&at.field("memory"), e)
                    .hint("write a size like 512M or 1g");
            }
            None => {
                f.error(&at.field("memory"), "expected a size like 512M");
            }
        }
    }
    a
}

/// Compose byte sizes: `1024`, `512k`, `512kb`, `64M`, `1.5g` (binary multiples).
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size"))?;
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1024.0f64.powi(4),
        _ => return Err(format!("unknown unit \"{unit}\" in size \"{text}\"")),
    };
    let v = n * mult;
    if !v.is_finite() || !(0.0..=1.8e19).contains(&v) {
        return Err(format!("size \"{text}\" is out of range"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(v as u64)
}

fn healthcheck(
    raw: &RawHealthcheck,
    node: Option<&Node>,
    at: &FieldPath,
    f: &mut Findings,
) -> Option<Healthcheck> {
    let node = node?;
    if raw.disable == Some(true) {
        return None;
    }
    let tp = at.field("test");
    let test = match node.get("test") {
        None => {
            f.error(&tp, "required field \"test\" is missing")
                .hint("test: [\"CMD\", \"curl\", \"-f\", \"http://localhost:3000/healthz\"]");
            return None;
        }
        Some(t) => match &t.value {
            Value::Scalar(s, _) if !t.is_null() => HealthTest::Shell(s.clone()),
            Value::Seq(_) => {
                let words = decode_at::<Vec<String>>(t, &tp, f)?;
                match words.split_first() {
                    Some((k, rest)) if k == "CMD" && !rest.is_empty() => {
                        HealthTest::Exec(rest.to_vec())
                    }
                    Some((k, rest)) if k == "CMD-SHELL" && !rest.is_empty() => {
                        HealthTest::Shell(rest.join(" "))
                    }
                    Some((k, _)) if k == "NONE" => return None,
                    Some((k, _)) if matches!(k.as_str(), "CMD" | "CMD-SHELL") => {
                        f.error(&tp, format!("{k} needs a command after it"));
                        return None;
                    }
                    _ => {
                        f.error(
                            &tp.index(0),
                            "the first element must be CMD, CMD-SHELL or NONE",
                        )
                        .hint("test: [\"CMD\", \"prog\", \"arg\"] or test: \"shell command\"");
                        return None;
                    }
                }
            }
            _ => {
                f.error(
                    &tp,
                    format!("expected a string or a list, got {}", t.kind_name()),
                );
                return None;
            }
        },
    };
    let interval = duration_field(node, at, "interval", f).unwrap_or(Duration::from_secs(30));
    let timeout = duration_field(node, at, "timeout", f).unwrap_or(Duration::from_secs(30));
    for (field, d) in [("interval", interval), ("timeout", timeout)] {
        if d.is_zero() {
            f.error(&at.field(field), "must be greater than 0");
        }
    }
    Some(Healthcheck {
        test,
        interval: interval.max(Duration::from_millis(1)),
        timeout: timeout.max(Duration::from_millis(1)),
        retries: raw.retries.unwrap_or(3).max(1),
        start_period: duration_field(node, at, "start_period", f).unwrap_or(Duration::ZERO),
        start_interval: duration_field(node, at, "start_interval", f)
            .unwrap_or(Duration::from_secs(5)),
    })
}

fn depends_on(n: &Node, at: &FieldPath, f: &mut Findings) -> Vec<Dependency> {
    let mut out = Vec::new();
    match &n.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) if matches!(item.value, Value::Scalar(..)) => out.push(Dependency {
                        service: s.to_owned(),
                        condition: DependencyCondition::ServiceStarted,
                    }),
                    _ => {
                        f.error(
                            &at.index(i),
                            format!("expected a service name, got {}", item.kind_name()),
                        );
                    }
                }
            }
        }
        Value::Map(entries) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            #[allow(dead_code)]
            struct Long {
                condition: Option<Cond>,
                restart: Option<bool>,
                required: Option<bool>,
            }
            #[derive(serde::Deserialize, Clone, Copy)]
            #[serde(rename_all = "snake_case")]
            #[allow(clippy::enum_variant_names)]
            enum Cond {
                ServiceStarted,
                ServiceHealthy,
                ServiceCompletedSuccessfully,
            }
            for e in entries {
                let k = e.key.as_str().unwrap_or_default().to_owned();
                let long = decode_at::<Long>(&e.value, &at.field(k.clone()), f);
                let condition = match long.and_then(|l| l.condition) {
                    None | Some(Cond::ServiceStarted) => DependencyCondition::ServiceStarted,
                    Some(Cond::ServiceHealthy) => DependencyCondition::ServiceHealthy,
                    Some(Cond::ServiceCompletedSuccessfully) => {
                        DependencyCondition::ServiceCompletedSuccessfully
                    }
                };
                out.push(Dependency {
                    service: k,
                    condition,
                });
            }
        }
        _ if n.is_null() => {}
        _ => {
            f.error(
                at,
                format!("expected a list of service names, got {}", n.kind_name()),
            );
        }
    }
    out
}

/// `TERM`, `sigterm`, `SIGTERM`, `15` → `SIGTERM`.
fn normalize_signal(s: &str) -> Option<String> {
    const NAMES: &[(&str, i32)] = &[
        ("SIGHUP", 1),
        ("SIGINT", 2),
        ("SIGQUIT", 3),
        ("SIGKILL", 9),
        ("SIGUSR1", 10),
        ("SIGUSR2", 12),
        ("SIGTERM", 15),
        ("SIGWINCH", 28),
    ];
    if let Ok(n) = s.parse::<i32>() {
        return NAMES
            .iter()
            .find(|(_, v)| *v == n)
            .map(|(k, _)| (*k).to_owned());
    }
    let up = s.to_ascii_uppercase();
    let full = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    NAMES
        .iter()
        .find(|(k, _)| *k == full)
        .map(|(k, _)| (*k).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("3000", 3000, None, None)]
    #[test_case("8080:3000", 3000, Some(8080), None)]
    #[test_case("127.0.0.1:8080:3000", 3000, Some(8080), Some("127.0.0.1"))]
    #[test_case("[::1]:8080:3000", 3000, Some(8080), Some("::1"))]
    #[test_case("53:53/udp", 53, Some(53), None)]
    fn short_ports(text: &str, target: u16, published: Option<u16>, ip: Option<&str>) {
        let p = short_port(text).expect("valid");
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].target, p[0].published, p[0].host_ip.as_deref()),
            (target, published, ip)
        );
    }

    #[test]
    fn port_ranges_expand() {
        let p = short_port("9000-9002:3000-3002").expect("valid");
        let got: Vec<(u16, Option<u16>)> = p.iter().map(|p| (p.target, p.published)).collect();
        assert_eq!(
            got,
            vec![(3000, Some(9000)), (3001, Some(9001)), (3002, Some(9002))]
        );
        assert!(short_port("1:2:3:4").is_err());
        assert!(short_port("70000").is_err());
        assert!(short_port("3000/sctp").is_err());
    }

    #[test_case("512", 512)]
    #[test_case("512k", 512 * 1024)]
    #[test_case("64M", 64 * 1024 * 1024)]
    #[test_case("1.5g", 1_610_612_736)]
    #[test_case("2gb", 2 * 1024 * 1024 * 1024)]
    fn sizes(text: &str, want: u64) {
        assert_eq!(parse_bytes(text), Ok(want));
    }

    #[test_case("TERM", Some("SIGTERM"))]
    #[test_case("sigint", Some("SIGINT"))]
    #[test_case("9", Some("SIGKILL"))]
    #[test_case("SIGNOPE", None)]
    fn signals(text: &str, want: Option<&str>) {
        assert_eq!(normalize_signal(text).as_deref(), want);
    }
}
