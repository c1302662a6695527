//! Compose files (`docker-compose.yml`, `compose.yaml`) with Swarm's `deploy:` section: the
//! services Meridian runs as replicated processes.
//!
//! Loading follows `docker compose config`: the file is parsed into a positioned tree,
//! `${VAR:-default}` is interpolated from the environment (and a `.env` file beside the
//! Compose file), `x-*` extension fields are dropped, then every service is decoded and
//! validated with `file:line:col` for each problem. Container-only fields (`volumes`,
//! `build`, ...) load with a warning saying Meridian ignores them. A service with an `image`
//! and no `command` is valid Compose; the workloads plane reports it as not runnable.

mod interpolate;
mod model;
mod placement;
pub(crate) mod service;
mod shell;

use std::path::Path;
use std::sync::Arc;

use serde::de::IgnoredAny;

pub use interpolate::{Environment, parse_env_lines};
pub use model::{
    ComposeFile, Condition, Constraint, ConstraintOp, Dependency, DependencyCondition, Deploy,
    DeployMode, FailureAction, HealthTest, Healthcheck, NodeAttribute, Placement, PortSpec,
    ResourceAmounts, Resources, RestartCondition, RestartPolicy, Service, UpdateConfig,
    UpdateOrder,
};

use crate::de::decode;
use crate::diag::{Diagnostic, Findings};
use crate::load::{LoadOptions, read_text};
use crate::node::{Node, Value, parse_stream};
use crate::path::FieldPath;

/// The result of loading a Compose file: the file when it decoded, and every finding.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file; present even with errors when decoding got that far (use it only when
    /// [`Loaded::is_valid`]).
    pub file: Option<ComposeFile>,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// True when the file decoded without errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.file.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The file, when valid.
    pub fn valid(&self) -> Option<&ComposeFile> {
        self.file.as_ref().filter(|_| self.is_valid())
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct RawFile {
    version: Option<IgnoredAny>,
    name: Option<String>,
    services: Option<IgnoredAny>,
    networks: Option<IgnoredAny>,
    volumes: Option<IgnoredAny>,
    configs: Option<IgnoredAny>,
    secrets: Option<IgnoredAny>,
    include: Option<IgnoredAny>,
}

/// Reads and loads a Compose file. `env` is the environment for interpolation; a `.env` file
/// beside the Compose file adds variables it does not set.
pub fn load_file(path: &Path, env: &Environment) -> Loaded {
    match read_text(path) {
        Ok(text) => parse_str(path, &text, env),
        Err(d) => Loaded {
            file: None,
            diagnostics: vec![d],
        },
    }
}

/// Loads a Compose file from text; `path` names it in diagnostics and anchors relative paths.
pub fn parse_str(path: &Path, text: &str, env: &Environment) -> Loaded {
    let file: Arc<Path> = Arc::from(path);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let env = env.clone().with_dotenv(dir);
    let mut f = Findings::new();
    let docs = match parse_stream(text, LoadOptions::default().limits) {
        Ok(d) => d,
        Err(e) => {
            let fi = f.error(&FieldPath::root(), e.message);
            fi.span = Some(e.span);
            let root = Node {
                span: e.span,
                tag: None,
                value: Value::Map(Vec::new()),
            };
            return Loaded {
                file: None,
                diagnostics: f.locate(&file, &root, None),
            };
        }
    };
    let Some(mut root) = docs.into_iter().find_map(|d| d.root) else {
        let root = Node {
            span: Default::default(),
            tag: None,
            value: Value::Map(Vec::new()),
        };
        f.error(&FieldPath::root(), "empty Compose file")
            .hint("declare `services:`");
        return Loaded {
            file: None,
            diagnostics: f.locate(&file, &root, None),
        };
    };
    strip_extensions(&mut root, false);
    let original = root.clone();
    interpolate::interpolate_tree(&mut root, &FieldPath::root(), &env, &mut f);
    let parsed = decode_file(&root, path, dir, &env, &mut f);
    let mut diagnostics = f.locate(&file, &original, None);
    // In file order, as a reader goes through the file (the sort is stable).
    diagnostics.sort_by_key(|d| d.span);
    Loaded {
        file: parsed,
        diagnostics,
    }
}

fn decode_file(
    root: &Node,
    path: &Path,
    dir: &Path,
    env: &Environment,
    f: &mut Findings,
) -> Option<ComposeFile> {
    let here = FieldPath::root();
    if root.as_map().is_none() {
        f.error(
            &here,
            format!(
                "expected an object with `services:`, got {}",
                root.kind_name()
            ),
        );
        return None;
    }
    let raw: RawFile = decode(root, f)?;
    if root.get("version").is_some() {
        f.warn(
            &here.field("version"),
            "the attribute `version` is obsolete and ignored",
        )
        .at_key()
        .hint("remove it");
    }
    if root.get("networks").is_some() {
        f.warn(&here.field("networks"), service::NO_NETWORKS)
            .at_key();
    }
    for key in ["volumes", "configs", "secrets"] {
        if root.get(key).is_some() {
            f.warn(
                &here.field(key),
                format!("top-level {key} are ignored: Meridian runs services as processes, not containers"),
            )
            .at_key();
        }
    }
    if root.get("include").is_some() {
        f.error(&here.field("include"), "include is not supported")
            .at_key()
            .hint("pass each Compose file to Meridian");
    }
    let project = raw.name.clone().unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_lowercase()))
            .unwrap_or_else(|| "default".into())
    });
    let sp = here.field("services");
    let mut services = Vec::new();
    match root.get("services") {
        None => {
            f.error(&sp, "required field \"services\" is missing");
        }
        Some(n) => match n.as_map() {
            Some(entries) => {
                let cx = service::Context { dir, env };
                for e in entries {
                    let name = e.key.as_str().unwrap_or_default();
                    if let Some(s) =
                        service::service(name, &e.value, &sp.field(name.to_owned()), &cx, f)
                    {
                        services.push(s);
                    }
                }
            }
            None if n.is_null() => {}
            None => {
                f.error(
                    &sp,
                    format!("expected an object of services, got {}", n.kind_name()),
                );
            }
        },
    }
    for s in &services {
        for (i, d) in s.depends_on.iter().enumerate() {
            if !services.iter().any(|o| o.name == d.service) {
                let names = services.iter().map(|o| o.name.as_str());
                let hint = match crate::diag::did_you_mean(&d.service, names.clone()) {
                    Some(c) => Some(format!("did you mean \"{c}\"?")),
                    None if services.len() > 1 => Some(format!(
                        "defined services: {}",
                        names.collect::<Vec<_>>().join(", ")
                    )),
                    None => None,
                };
                let at = sp.field(s.name.clone()).field("depends_on");
                let at = if root
                    .get("services")
                    .and_then(|n| n.get(&s.name))
                    .and_then(|n| n.get("depends_on"))
                    .is_some_and(|n| n.as_map().is_some())
                {
                    at.field(d.service.clone())
                } else {
                    at.index(i)
                };
                let fi = f.error(
                    &at,
                    format!("depends on undefined service \"{}\"", d.service),
                );
                if let Some(h) = hint {
                    fi.hint(h);
                }
            }
            if d.service == s.name {
                f.error(
                    &sp.field(s.name.clone()).field("depends_on"),
                    "a service cannot depend on itself",
                );
            }
        }
    }
    Some(ComposeFile {
        path: Arc::from(path),
        project,
        services,
    })
}

/// Drops `x-*` extension fields from every mapping except free-form ones (environment,
/// labels), where `x-` is an ordinary key.
fn strip_extensions(node: &mut Node, free_form: bool) {
    match &mut node.value {
        Value::Map(entries) => {
            if !free_form {
                entries.retain(|e| !e.key.as_str().is_some_and(|k| k.starts_with("x-")));
            }
            for e in entries.iter_mut() {
                let k = e.key.as_str().unwrap_or_default();
                let free = matches!(
                    k,
                    "environment" | "labels" | "annotations" | "sysctls" | "extra_hosts"
                );
                strip_extensions(&mut e.value, free);
            }
        }
        Value::Seq(items) => {
            for i in items {
                strip_extensions(i, false);
            }
        }
        Value::Scalar(..) => {}
    }
}

#[cfg(test)]
mod tests;
