//! A replica process's environment, built the Kubernetes way: Meridian's variables (`PORT`,
//! `POD_NAME`, ...), the caller's (service discovery, `HTTP_PROXY`), then the declared ones
//! in order (`envFrom` before `env`) with `$(VAR)` expansion, `fieldRef` values, and
//! ConfigMap and Secret values taken as they are.
//!
//! Variables every replica gets:
//!
//! | variable | value |
//! |---|---|
//! | `PORT` | the real port of the first declared container port (or of the one port given to a replica that declares none) |
//! | `PORT_<n>` | for each declared container port `n`, its real port (`PORT_3000=41234`) |
//! | `PORT_<NAME>` | for each named port, its real port (`PORT_METRICS`, name upper-cased, `-` → `_`) |
//! | `POD_NAME`, `HOSTNAME` | the replica's name |
//! | `POD_NAMESPACE` | the namespace |
//! | `POD_IP` | `127.0.0.1` |
//! | `NODE_NAME` | the node's host name |
//! | `MERIDIAN_WORKLOAD` | the Deployment or Compose service name |
//! | `MERIDIAN_VERSION` | the replica's `version` label, when it has one |
//! | `MERIDIAN_ROOT` | the replica's root folder, when its pod has volumes (`crate::volumes`) |
//! | `PATH` | the folder of the running `meridian` executable, then the inherited `PATH` |
//!
//! Meridian's own environment is inherited unless the supervisor is told otherwise. `PORT`
//! and `PORT_*` always win over a declared value: the process must listen where the
//! endpoint table says it does.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use meridian_control::endpoints::PortMapping;

use crate::workload::{ContainerSpec, EnvEntry, WorkloadSpec};

/// What a replica's environment is built from.
#[derive(Debug)]
pub(crate) struct ReplicaFacts<'a> {
    pub(crate) spec: &'a WorkloadSpec,
    pub(crate) replica: &'a str,
    pub(crate) uid: &'a str,
    pub(crate) node_name: &'a str,
    pub(crate) ports: &'a [PortMapping],
    /// The replica's root, when it has volumes (`MERIDIAN_ROOT`).
    pub(crate) root: Option<std::path::PathBuf>,
}

/// Expands `$(VAR)` references to variables defined so far; `$$(VAR)` is a literal
/// `$(VAR)`; an unknown reference stays as written (Kubernetes' rules).
pub(crate) fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    if !text.contains("$(") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix("$(") {
            out.push_str("$(");
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            match r.find(')') {
                Some(end) => {
                    let name = &r[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &r[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = r;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn field_value(path: &str, f: &ReplicaFacts<'_>) -> String {
    let quoted = |prefix: &str| path.strip_prefix(prefix).and_then(|k| k.strip_suffix("']"));
    match path {
        "metadata.name" => f.replica.to_owned(),
        "metadata.namespace" => f.spec.id.namespace.clone(),
        "metadata.uid" => f.uid.to_owned(),
        "spec.nodeName" => f.node_name.to_owned(),
        "spec.serviceAccountName" => f.spec.service_account.clone(),
        "status.podIP" | "status.podIPs" | "status.hostIP" | "status.hostIPs" => "127.0.0.1".into(),
        _ => {
            if let Some(k) = quoted("metadata.labels['") {
                f.spec.labels.get(k).cloned().unwrap_or_default()
            } else if let Some(k) = quoted("metadata.annotations['") {
                f.spec.annotations.get(k).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
    }
}

fn resource_value(resource: &str, value: Option<f64>, divisor: f64) -> String {
    // Without a declared amount Kubernetes reports the node's capacity.
    let v = value.unwrap_or_else(|| {
        if resource.ends_with("cpu") {
            std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
        } else {
            node_memory_bytes() as f64
        }
    });
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (v / divisor).ceil().max(0.0) as u64;
    n.to_string()
}

fn node_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The variable name for a named port (`metrics-http` → `PORT_METRICS_HTTP`).
pub(crate) fn port_var(name: &str) -> String {
    let mut s = String::from("PORT_");
    for c in name.chars() {
        s.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        });
    }
    s
}

/// The environment of one container of a replica (without the inherited environment).
pub(crate) fn container_env(
    c: &ContainerSpec,
    f: &ReplicaFacts<'_>,
    exe_dir: Option<&Path>,
    inherited_path: Option<OsString>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    // The container's own first port, else the replica's first port.
    let own = c
        .ports
        .first()
        .and_then(|p| f.ports.iter().find(|m| m.declared == p.port))
        .or_else(|| f.ports.first());
    let mut reserved: Vec<(String, String)> = Vec::new();
    if let Some(p) = own {
        reserved.push(("PORT".into(), p.actual.to_string()));
    }
    for p in f.ports {
        reserved.push((format!("PORT_{}", p.declared), p.actual.to_string()));
        if let Some(n) = &p.name {
            reserved.push((port_var(n), p.actual.to_string()));
        }
    }
    vars.insert("POD_NAME".into(), f.replica.to_owned());
    vars.insert("HOSTNAME".into(), f.replica.to_owned());
    vars.insert("POD_NAMESPACE".into(), f.spec.id.namespace.clone());
    vars.insert("POD_IP".into(), "127.0.0.1".into());
    vars.insert("NODE_NAME".into(), f.node_name.to_owned());
    vars.insert("MERIDIAN_WORKLOAD".into(), f.spec.id.name.clone());
    if let Some(root) = &f.root {
        vars.insert("MERIDIAN_ROOT".into(), root.to_string_lossy().into_owned());
    }
    if let Some(v) = f.spec.version() {
        vars.insert("MERIDIAN_VERSION".into(), v.to_owned());
    }
    if let Some(dir) = exe_dir {
        let mut path = OsString::from(dir);
        if let Some(old) = inherited_path.filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(old);
        }
        vars.insert("PATH".into(), path.to_string_lossy().into_owned());
    }
    for (k, v) in &reserved {
        vars.insert(k.clone(), v.clone());
    }
    for (k, v) in &f.spec.extra_env {
        vars.insert(k.clone(), v.clone());
    }
    for e in &c.env {
        let (name, value) = match e {
            EnvEntry::Value { name, value } => (name, expand(value, &vars)),
            EnvEntry::Field { name, path } => (name, field_value(path, f)),
            EnvEntry::Config { name, value } | EnvEntry::Secret { name, value } => {
                (name, value.clone())
            }
            EnvEntry::Resource {
                name,
                resource,
                value,
                divisor,
            } => (name, resource_value(resource, *value, *divisor)),
        };
        vars.insert(name.clone(), value);
    }
    for (k, v) in reserved {
        vars.insert(k, v);
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_kubernetes() {
        let mut vars = BTreeMap::new();
        vars.insert("A".to_owned(), "1".to_owned());
        assert_eq!(expand("x$(A)y", &vars), "x1y");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("$(B)", &vars), "$(B)");
        assert_eq!(expand("$(A", &vars), "$(A");
        assert_eq!(expand("cost $5", &vars), "cost $5");
    }

    /// ConfigMap and Secret values reach the process: `envFrom` first (with its prefix),
    /// `env` over it, values as they are (no `$(VAR)` expansion), missing optional keys unset.
    #[test]
    fn config_maps_and_secrets_become_variables() {
        let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {LOG_LEVEL: debug, GREETING: "hi $(POD_NAME)"}
---
apiVersion: v1
kind: Secret
metadata: {name: credentials}
data: {password: c2VjcmV0}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        command: [meridian, demo-app]
        envFrom:
        - configMapRef: {name: settings}
          prefix: APP_
        env:
        - name: APP_LOG_LEVEL
          value: info
        - name: LEVEL
          valueFrom: {configMapKeyRef: {name: settings, key: LOG_LEVEL}}
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: credentials, key: password}}
        - name: TOKEN
          valueFrom: {secretKeyRef: {name: credentials, key: token, optional: true}}
"#;
        let bundle = meridian_config::load_str(
            Path::new("app.yaml"),
            yaml,
            meridian_config::LoadOptions::default(),
        );
        assert!(
            bundle.is_valid(),
            "{:?}",
            bundle.diagnostics().collect::<Vec<_>>()
        );
        let desired = crate::workload::DesiredState::from_config(bundle.resources(), &[]);
        let spec = &desired.workloads[0];
        let facts = ReplicaFacts {
            spec,
            replica: "web-abc",
            uid: "u",
            node_name: "node",
            ports: &[],
            root: None,
        };
        let env = container_env(&spec.containers[0], &facts, None, None);
        assert_eq!(env.get("APP_LOG_LEVEL").map(String::as_str), Some("info"));
        assert_eq!(
            env.get("APP_GREETING").map(String::as_str),
            Some("hi $(POD_NAME)")
        );
        assert_eq!(env.get("LEVEL").map(String::as_str), Some("debug"));
        assert_eq!(env.get("PASSWORD").map(String::as_str), Some("secret"));
        assert!(!env.contains_key("TOKEN"));
        let shown = serde_json::to_string(&spec.containers[0].env).expect("json");
        assert!(
            shown.contains(r#"{"secret":{"name":"PASSWORD"}}"#),
            "{shown}"
        );
        assert!(!shown.contains(r#""value":"secret""#), "{shown}");
    }

    #[test]
    fn port_variables_are_shell_safe() {
        assert_eq!(port_var("metrics-http"), "PORT_METRICS_HTTP");
    }
}
