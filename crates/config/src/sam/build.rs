//! What a function declares beside its code: the build `sam build` runs on it
//! (`Metadata.BuildMethod`, `BuildProperties`) and its own endpoint (`FunctionUrlConfig`),
//! read and checked as SAM and Lambda check them.

use crate::diag::{Findings, did_you_mean};
use crate::node::Node;
use crate::path::FieldPath;

use super::spec::{Build, Cors, FunctionUrl};
use super::{int_in, raw};

/// Reads `Metadata.BuildMethod` and `BuildProperties` as `sam build` does: `esbuild` (Node,
/// TypeScript) and `makefile` are run at `up`; other methods are a warning saying to build
/// first.
pub(super) fn metadata(f: &mut Findings, metadata: &Node, runtime: &str) -> Option<Build> {
    let method = metadata.get("BuildMethod").and_then(Node::as_str)?;
    let path = FieldPath::root().field("Metadata");
    let props = metadata.get("BuildProperties");
    let list = |name: &str| -> Vec<String> {
        props
            .and_then(|p| p.get(name))
            .map(|n| match n.as_seq() {
                Some(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                None => n.as_str().map(|s| vec![s.to_owned()]).unwrap_or_default(),
            })
            .unwrap_or_default()
    };
    let text = |name: &str| -> Option<String> {
        props
            .and_then(|p| p.get(name))
            .and_then(|n| n.as_str().map(str::to_owned))
    };
    let flag = |name: &str| -> Option<bool> {
        props
            .and_then(|p| p.get(name))
            .and_then(|n| n.as_str())
            .and_then(|s| match s {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            })
    };
    match method {
        "esbuild" => {
            if !runtime.starts_with("nodejs") {
                f.warn(
                    &path.field("BuildMethod"),
                    format!("esbuild builds Node functions; this one's runtime is {runtime:?}"),
                );
            }
            const READ: [&str; 7] = [
                "EntryPoints",
                "Minify",
                "Sourcemap",
                "Target",
                "Format",
                "External",
                "MainFields",
            ];
            for e in props.and_then(Node::as_map).unwrap_or_default() {
                if let Some(key) = e.key.as_str().filter(|k| !READ.contains(k)) {
                    f.warn(
                        &path.field("BuildProperties").field(key.to_owned()),
                        format!("{key} is not applied by the esbuild build Meridian runs"),
                    );
                }
            }
            Some(Build::Esbuild {
                entry_points: list("EntryPoints"),
                minify: flag("Minify").unwrap_or(true),
                sourcemap: flag("Sourcemap").unwrap_or(false),
                target: text("Target").unwrap_or_else(|| "es2020".into()),
                format: text("Format").unwrap_or_else(|| "cjs".into()),
                external: list("External"),
                main_fields: list("MainFields"),
            })
        }
        "makefile" => Some(Build::Makefile),
        other => {
            f.warn(
                &path.field("BuildMethod"),
                format!(
                    "{other} builds are not run by Meridian: build first (`sam build`) and point CodeUri at the built code"
                ),
            );
            None
        }
    }
}

/// Reads `FunctionUrlConfig` as Lambda validates it: `AuthType` is required (`NONE` or
/// `AWS_IAM`), `InvokeMode` is `BUFFERED` or `RESPONSE_STREAM`, `Cors.MaxAge` is 0 to
/// 86400.
pub(super) fn function_url(
    f: &mut Findings,
    path: &FieldPath,
    raw: &raw::FunctionUrlConfigRaw,
) -> FunctionUrl {
    let mut one_of =
        |field: &'static str, value: Option<&str>, allowed: [&str; 2]| -> Option<usize> {
            let value = value?;
            match allowed.iter().position(|a| *a == value) {
                Some(at) => Some(at),
                None => {
                    f.error(&path.field(field), format!("unsupported value \"{value}\""))
                        .hint(did_you_mean(value, allowed).map_or_else(
                            || format!("one of: {}", allowed.join(", ")),
                            |c| format!("did you mean \"{c}\"?"),
                        ));
                    None
                }
            }
        };
    let auth = one_of("AuthType", raw.auth_type.as_deref(), ["NONE", "AWS_IAM"]);
    let mode = one_of(
        "InvokeMode",
        raw.invoke_mode.as_deref(),
        ["BUFFERED", "RESPONSE_STREAM"],
    );
    if raw.auth_type.is_none() {
        f.error(path, "required field \"AuthType\" is missing")
            .at_key()
            .hint("AuthType: NONE (anyone may call it) or AWS_IAM (signed requests only)");
    }
    let streaming = mode == Some(1);
    if streaming {
        f.warn(
            &path.field("InvokeMode"),
            "RESPONSE_STREAM is served buffered: the response reaches the client whole, when the function returns",
        );
    }
    let cors = raw.cors.as_ref().map(|c| Cors {
        allow_credentials: c.allow_credentials.unwrap_or(false),
        allow_headers: c.allow_headers.clone().unwrap_or_default(),
        allow_methods: c.allow_methods.clone().unwrap_or_default(),
        allow_origins: c.allow_origins.clone().unwrap_or_default(),
        expose_headers: c.expose_headers.clone().unwrap_or_default(),
        max_age: c.max_age.as_ref().map(|m| {
            u32::try_from(int_in(
                f,
                &path.field("Cors").field("MaxAge"),
                Some(m),
                0,
                0,
                86_400,
            ))
            .unwrap_or(0)
        }),
    });
    FunctionUrl {
        id: String::new(),
        iam: auth == Some(1),
        streaming,
        cors,
    }
}
