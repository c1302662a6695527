//! AWS SAM / CloudFormation templates: `template.yaml` with `Transform:
//! AWS::Serverless-2016-10-31`, read into validated [`FunctionSpec`]s, [`ApiSpec`]s and
//! [`TableSpec`]s for the functions and storage planes.
//!
//! Reading goes in the same stages as the rest of the model: the positioned node tree
//! ([`crate::node`]), then intrinsics (`!Ref`, `!Sub`, `!GetAtt`, `!Join`, `!Select`, `!If`,
//! ... and the `Fn::` long forms) evaluated against parameters, pseudo parameters and the
//! template's resources, with `Globals` merged in, then typed decoding with unknown-field
//! checks ([`crate::de`]), then validation into domain types. Every problem is reported with
//! `file:line:col`, the resource's logical id and the field path. Functions with
//! `PackageType: Image` are read from their Dockerfile when it builds on an AWS Lambda base
//! image ([`dockerfile`]).

mod api;
pub(crate) mod bucket;
mod build;
mod cors;
pub mod dockerfile;
mod function;
mod gateway;
mod generated;
mod intrinsic;
mod policy;
pub(crate) mod raw;
mod spec;
mod table;
#[cfg(test)]
mod tests;
mod unapplied;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::de::decode_at;
use crate::diag::{Diagnostic, Findings, Severity, did_you_mean};
use crate::node::{Entry, Limits, Node, ScalarStyle, Span, Value, parse_stream};
use crate::path::FieldPath;

use intrinsic::{Ctx, Param, Pseudo, ResInfo};
use raw::{Num, Text};

pub use spec::{
    ApiKind, ApiRoute, ApiSpec, BucketNotification, BucketSpec, Build, Code, CodeCopy, Cors,
    Effect, EventInvokeConfig, FunctionSpec, FunctionUrl, ImportSpec, IndexProjection, IndexSpec,
    KeyAttribute, KeyFilter, Origin, OutputSpec, ParameterValue, Patterns, PayloadFormat, Platform,
    PolicyStatement, ProvidedOs, RouteMethod, Runtime, S3_EVENT_TYPES, StreamEvent, TableSpec,
    Template, Throughput, s3_notifications_overlap,
};

/// The transform that makes a CloudFormation template a SAM template.
pub const SERVERLESS_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// The stream label of a table declared in a template: `!GetAtt T.StreamArn` resolves
/// before the table exists, so the storage plane gives a declared table's stream this label
/// and the ARN a template computes is the stream's real one.
pub const DECLARED_STREAM_LABEL: &str = "1970-01-01T00:00:00.000";
/// The implicit REST API SAM creates for `Api` events without `RestApiId`.
pub const IMPLICIT_REST_API: &str = "ServerlessRestApi";
/// The implicit HTTP API SAM creates for `HttpApi` events without `ApiId`.
pub const IMPLICIT_HTTP_API: &str = "ServerlessHttpApi";

/// Environment variables Lambda sets itself; a template may not set them.
pub const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// How to read a template: the values a deployment would supply.
#[derive(Debug, Clone)]
pub struct TemplateOptions {
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account_id: String,
    /// `AWS::StackName`; defaults to the template folder's name.
    pub stack_name: Option<String>,
    /// `--parameter-overrides`.
    pub parameter_overrides: BTreeMap<String, String>,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            stack_name: None,
            parameter_overrides: BTreeMap::new(),
        }
    }
}

/// Reads and validates a SAM template file. On failure, every diagnostic (errors first,
/// then warnings) is returned.
pub fn load_template(path: &Path, opts: &TemplateOptions) -> Result<Template, Vec<Diagnostic>> {
    let text = crate::load::read_text(path).map_err(|d| vec![d])?;
    load_template_str(path, &text, opts)
}

/// Like [`load_template`], from text; paths in the template are relative to `file`'s folder.
pub fn load_template_str(
    file: &Path,
    text: &str,
    opts: &TemplateOptions,
) -> Result<Template, Vec<Diagnostic>> {
    let file: Arc<Path> = Arc::from(file);
    let diag = |span, message| Diagnostic {
        severity: Severity::Error,
        file: file.clone(),
        span,
        resource: None,
        field: FieldPath::root(),
        message,
        hint: None,
        code: None,
    };
    let docs = parse_stream(text, Limits::default()).map_err(|e| vec![diag(e.span, e.message)])?;
    let Some(root) = docs.into_iter().find_map(|d| d.root) else {
        return Err(vec![diag(Span::new(1, 1), "the template is empty".into())]);
    };
    if root.as_map().is_none() {
        return Err(vec![diag(
            root.span,
            format!("a template must be an object, got {}", root.kind_name()),
        )]);
    }
    let base = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    Compiler {
        file,
        base,
        opts,
        diags: Vec::new(),
        layers: BTreeMap::new(),
        bucket_events: Vec::new(),
    }
    .compile(&root)
}

/// A stable 10-character id (like an API Gateway API id) for a stack's logical id.
pub fn synthetic_id(stack: &str, logical_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stack.bytes().chain([0]).chain(logical_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % 36) as usize];
            h /= 36;
            if h == 0 {
                h = 0x9e37_79b9_7f4a_7c15;
            }
            char::from(c)
        })
        .collect()
}

/// A route read from an event, waiting to be attached to its API: where it was declared,
/// its node, the route and the API reference as written.
type PendingRoute = (FieldPath, Node, ApiRoute, Option<String>);

struct Compiler<'a> {
    file: Arc<Path>,
    base: PathBuf,
    opts: &'a TemplateOptions,
    diags: Vec<Diagnostic>,
    /// The template's layers, by the ARN `!Ref` gives them.
    layers: BTreeMap<String, LocalLayer>,
    /// The functions' `S3` events, by the logical id of their bucket, until every bucket is
    /// read.
    bucket_events: Vec<bucket::PendingS3Event>,
}

/// An `AWS::Serverless::LayerVersion` of the template.
#[derive(Debug, Clone)]
struct LocalLayer {
    id: String,
    /// Its `ContentUri` folder; `None` when that is not a folder (reported at the layer).
    dir: Option<PathBuf>,
    compatible_runtimes: Vec<String>,
}

/// The most layers a function may use (Lambda's quota).
const MAX_LAYERS: usize = 5;

/// A resource being compiled: its logical id, its node and its findings.
struct Res<'n> {
    id: String,
    node: &'n Node,
    kind: String,
}

impl Compiler<'_> {
    fn flush(&mut self, f: Findings, root: &Node, resource: Option<&str>) {
        self.diags.extend(f.locate(&self.file, root, resource));
    }

    fn compile(mut self, root: &Node) -> Result<Template, Vec<Diagnostic>> {
        let mut top = Findings::new();
        let raw: Option<raw::TemplateRaw> = decode_at(root, &FieldPath::root(), &mut top);
        let description = raw.as_ref().and_then(|r| r.description.clone());
        if let Some(Text(Ok(v))) = raw.as_ref().and_then(|r| r.format_version.clone())
            && v != "2010-09-09"
        {
            top.error(
                &FieldPath::root().field("AWSTemplateFormatVersion"),
                format!("unsupported template format version \"{v}\""),
            )
            .hint("the only version is \"2010-09-09\"");
        }
        let stack_name = self.opts.stack_name.clone().unwrap_or_else(|| {
            std::fs::canonicalize(&self.base)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "meridian".into())
        });
        let pseudo = Pseudo {
            region: self.opts.region.clone(),
            account_id: self.opts.account_id.clone(),
            stack_name: stack_name.clone(),
        };

        unapplied::template(root, &mut top);
        let params = self.parameters(root, &mut top);
        let transforms = transforms(root);

        // Resources: kinds and `!Ref` values first, so any resource may refer to any other.
        let empty = Vec::new();
        let res_entries = match root.get("Resources") {
            Some(n) => match n.as_map() {
                Some(m) if !m.is_empty() => m,
                _ => {
                    top.error(
                        &FieldPath::root().field("Resources"),
                        "Resources must be an object with at least one resource",
                    );
                    &empty
                }
            },
            None => {
                let e = top.error(&FieldPath::root(), "the template has no Resources section");
                e.span = Some(root.span);
                &empty
            }
        };
        let mut infos: BTreeMap<String, ResInfo> = BTreeMap::new();
        let mut resources = Vec::new();
        let mut uses_serverless = None;
        for e in res_entries {
            let id = e.key.as_str().unwrap_or_default().to_owned();
            let kind = e
                .value
                .get("Type")
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_owned();
            if kind.starts_with("AWS::Serverless::") && uses_serverless.is_none() {
                uses_serverless = Some(e.value.get("Type").map_or(e.value.span, |t| t.span));
            }
            let props = e.value.get("Properties");
            // Names may be written with intrinsics over parameters and pseudo parameters
            // (`!Sub "${AWS::StackName}-users"`); evaluate those without the resources.
            let literal = |key: &str| {
                let n = props.and_then(|p| p.get(key))?;
                if n.tag.is_none() && n.as_map().is_none() {
                    return n.as_str().map(str::to_owned);
                }
                let no_resources = BTreeMap::new();
                let ctx = Ctx::new(&params, &pseudo, &no_resources, root.get("Mappings"), None);
                let mut scratch = Findings::new();
                let v = ctx.eval(n, &FieldPath::root(), &mut scratch)?;
                if scratch.has_errors() {
                    return None;
                }
                v.as_str().map(str::to_owned)
            };
            let ref_value = ref_value(&kind, &id, &literal, &stack_name, &pseudo);
            infos.insert(
                id.clone(),
                ResInfo {
                    kind: kind.clone(),
                    ref_value,
                },
            );
            resources.push(Res {
                id,
                node: &e.value,
                kind,
            });
        }
        if let Some(span) = uses_serverless
            && !transforms.iter().any(|t| t == SERVERLESS_TRANSFORM)
        {
            let e = top.warn(
                &FieldPath::root().field("Transform"),
                "AWS::Serverless resources need the SAM transform to deploy: CloudFormation refuses this template without it; Meridian runs it as `sam local` does",
            );
            e.span = Some(span);
            e.hint(format!(
                "add \"Transform: {SERVERLESS_TRANSFORM}\" at the top level"
            ));
        }
        generated::add(&resources, &mut infos, &stack_name, &pseudo);
        for implicit in [IMPLICIT_REST_API, IMPLICIT_HTTP_API] {
            infos.entry(implicit.into()).or_insert_with(|| ResInfo {
                kind: if implicit == IMPLICIT_REST_API {
                    "AWS::Serverless::Api".into()
                } else {
                    "AWS::Serverless::HttpApi".into()
                },
                ref_value: synthetic_id(&stack_name, implicit),
            });
        }

        let ctx = Ctx::new(
            &params,
            &pseudo,
            &infos,
            root.get("Mappings"),
            root.get("Conditions"),
        );
        if let Some(conds) = root.get("Conditions").and_then(Node::as_map) {
            for c in conds {
                let name = c.key.as_str().unwrap_or_default();
                let _ = ctx.condition(
                    name,
                    c.key.span,
                    &FieldPath::root().field("Conditions").key(name),
                    &mut top,
                );
            }
        }

        // Layers first: a function may list one declared after it.
        self.local_layers(&resources, &ctx, &infos);

        let globals = root.get("Globals");
        let mut functions = Vec::new();
        let mut apis = Vec::new();
        let mut tables = Vec::new();
        let mut buckets = Vec::new();
        let mut raw_gateway: Vec<gateway::Raw> = Vec::new();
        let mut gateway_views: BTreeMap<String, Node> = BTreeMap::new();
        let mut pending_routes: Vec<(usize, FieldPath, Node, ApiRoute, Option<String>)> =
            Vec::new();
        for r in &resources {
            let mut f = Findings::new();
            let rraw: Option<raw::ResourceRaw> = decode_at(r.node, &FieldPath::root(), &mut f);
            if let Some(cond) = rraw.as_ref().and_then(|x| x.condition.as_deref()) {
                let span = r.node.get("Condition").map_or(r.node.span, |n| n.span);
                match ctx.condition(cond, span, &FieldPath::root().field("Condition"), &mut f) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.flush(f, r.node, Some(&r.id));
                        continue;
                    }
                    Err(_) => {
                        self.flush(f, r.node, Some(&r.id));
                        continue;
                    }
                }
            }
            if r.kind.is_empty() && rraw.as_ref().is_some_and(|x| x.kind.is_none()) {
                f.error(
                    &FieldPath::root().field("Type"),
                    "required field \"Type\" is missing",
                )
                .at_key();
            }
            let ignore_globals = r.node.get("IgnoreGlobals").is_some();
            let section = |name: &str| {
                if ignore_globals {
                    None
                } else {
                    globals.and_then(|g| g.get(name))
                }
            };
            let props = merged_props(
                r.node.get("Properties"),
                section(match r.kind.as_str() {
                    "AWS::Serverless::Function" => "Function",
                    "AWS::Serverless::Api" => "Api",
                    "AWS::Serverless::HttpApi" => "HttpApi",
                    "AWS::Serverless::SimpleTable" => "SimpleTable",
                    _ => "",
                }),
            );
            let ppath = FieldPath::root().field("Properties");
            let evaluated = ctx
                .eval(&props, &ppath, &mut f)
                .unwrap_or_else(|| empty_map(props.span));
            let view = resource_view(r.node, &evaluated);
            let not_applied = match r.kind.as_str() {
                "AWS::Serverless::Function" => unapplied::FUNCTION,
                "AWS::Serverless::LayerVersion" => unapplied::LAYER_VERSION,
                "AWS::Serverless::Api" => unapplied::API,
                "AWS::Serverless::HttpApi" => unapplied::HTTP_API,
                "AWS::Serverless::SimpleTable" | "AWS::DynamoDB::Table" => unapplied::TABLE,
                "AWS::S3::Bucket" => unapplied::BUCKET,
                _ => &[],
            };
            unapplied::check(&evaluated, &ppath, not_applied, &mut f);
            if matches!(
                r.kind.as_str(),
                "AWS::Serverless::SimpleTable" | "AWS::DynamoDB::Table"
            ) {
                unapplied::table_parts(&evaluated, &ppath, &mut f);
            }
            match r.kind.as_str() {
                "AWS::Serverless::Function" => {
                    let metadata = r.node.get("Metadata");
                    if let Some((mut spec, routes)) =
                        self.function(r, &evaluated, metadata, &infos, &mut f)
                    {
                        // The URL `!GetAtt <Fn>Url.FunctionUrl` names.
                        if let Some(url) = &mut spec.url {
                            url.id = generated::url_id(&stack_name, &format!("{}Url", r.id));
                        }
                        let idx = functions.len();
                        functions.push(spec);
                        for (path, node, route, api_ref) in routes {
                            pending_routes.push((idx, path, node, route, api_ref));
                        }
                    }
                }
                "AWS::Serverless::LayerVersion" => self.layer_version(&evaluated, &mut f),
                "AWS::Serverless::Api" => {
                    if let Some(a) = self.rest_api(r, &evaluated, &infos, &mut f) {
                        apis.push(a);
                    }
                }
                "AWS::Serverless::HttpApi" => {
                    if let Some(a) = self.http_api(r, &evaluated, &infos, &mut f) {
                        apis.push(a);
                    }
                }
                "AWS::Serverless::SimpleTable" => {
                    if let Some(t) = self.simple_table(r, &evaluated, &infos, &mut f) {
                        tables.push(t);
                    }
                }
                "AWS::DynamoDB::Table" => {
                    if let Some(t) = self.dynamodb_table(r, &evaluated, &infos, &mut f) {
                        tables.push(t);
                    }
                }
                "AWS::S3::Bucket" => {
                    if let Some(b) = self.s3_bucket(r, &evaluated, &infos, &mut f) {
                        buckets.push(b);
                    }
                }
                "" => {}
                kind if gateway::KINDS.contains(&kind) => {
                    raw_gateway.push(gateway::Raw {
                        id: r.id.clone(),
                        kind: kind.to_owned(),
                        props: evaluated.clone(),
                    });
                    gateway_views.insert(r.id.clone(), view.clone());
                }
                other => not_run(other, &mut f),
            }
            self.flush(f, &view, Some(&r.id));
        }

        // APIs written as raw CloudFormation.
        let resolved =
            gateway::resolve(&raw_gateway, &functions, |id| synthetic_id(&stack_name, id));
        apis.extend(resolved.apis);
        for (id, found) in resolved.findings {
            if let Some(view) = gateway_views.get(&id) {
                self.flush(found, view, Some(&id));
            }
        }
        for (idx, id, route) in resolved.routes {
            let node = gateway_views
                .get(&id)
                .cloned()
                .unwrap_or_else(|| empty_map(root.span));
            pending_routes.push((
                idx,
                FieldPath::root().field("Properties"),
                node,
                route,
                None,
            ));
        }

        // Routes: attach to their APIs, create the implicit APIs that are used, refuse
        // duplicates.
        let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
        for (idx, path, node, route, _) in pending_routes {
            let mut f = Findings::new();
            let key = (
                route.api.clone(),
                route.method.to_string(),
                route.path.clone().unwrap_or_else(|| "$default".into()),
            );
            let fname = functions[idx].logical_id.clone();
            if let Some(prev) = seen.get(&key) {
                f.error(
                    &path,
                    format!(
                        "route {} {} of {} is already served by {prev}",
                        key.1, key.2, key.0
                    ),
                );
            } else {
                seen.insert(key, fname.clone());
            }
            if (route.api == IMPLICIT_REST_API || route.api == IMPLICIT_HTTP_API)
                && !apis.iter().any(|a: &ApiSpec| a.logical_id == route.api)
            {
                apis.push(api::implicit_api(&route.api, globals, &ctx, &stack_name));
            }
            functions[idx].routes.push(route);
            if !f.is_empty() {
                let fnode = res_entries
                    .iter()
                    .find(|e| e.key.as_str() == Some(fname.as_str()))
                    .map_or(&node, |e| &e.value);
                self.flush(f, fnode, Some(&fname));
            }
        }

        self.attach_bucket_events(&mut buckets, res_entries);

        let outputs = self.outputs(root, &ctx, &mut top);
        self.flush(top, root, None);

        let has_errors = self.diags.iter().any(Diagnostic::is_error);
        let mut diags = std::mem::take(&mut self.diags);
        diags.sort_by(|a, b| {
            (a.severity, a.file.as_ref(), a.span).cmp(&(b.severity, b.file.as_ref(), b.span))
        });
        // A problem in Globals shows up once, not once per resource that inherits it.
        diags.dedup_by(|b, a| a.file == b.file && a.span == b.span && a.message == b.message);
        if has_errors {
            return Err(diags);
        }
        Ok(Template {
            file: self.file,
            description,
            stack_name,
            parameters: params
                .into_iter()
                .map(|(k, p)| {
                    (
                        k,
                        ParameterValue {
                            kind: p.kind,
                            value: p.value,
                        },
                    )
                })
                .collect(),
            functions,
            apis,
            tables,
            buckets,
            outputs,
            warnings: diags,
        })
    }

    /// The template's `AWS::Serverless::LayerVersion` folders, by the ARN `!Ref` gives them.
    fn local_layers(
        &mut self,
        resources: &[Res<'_>],
        ctx: &Ctx<'_>,
        infos: &BTreeMap<String, ResInfo>,
    ) {
        for r in resources
            .iter()
            .filter(|r| r.kind == "AWS::Serverless::LayerVersion")
        {
            let mut scratch = Findings::new();
            let Some(props) = r.node.get("Properties") else {
                continue;
            };
            let Some(evaluated) = ctx.eval(props, &FieldPath::root(), &mut scratch) else {
                continue;
            };
            let dir = evaluated
                .get("ContentUri")
                .and_then(Node::as_str)
                .map(|s| self.base.join(s))
                .filter(|d| d.is_dir());
            let compatible_runtimes = evaluated
                .get("CompatibleRuntimes")
                .and_then(Node::as_seq)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(info) = infos.get(&r.id) {
                self.layers.insert(
                    info.ref_value.clone(),
                    LocalLayer {
                        id: r.id.clone(),
                        dir,
                        compatible_runtimes,
                    },
                );
            }
        }
    }

    fn parameters(&self, root: &Node, f: &mut Findings) -> BTreeMap<String, Param> {
        let mut out = BTreeMap::new();
        let Some(entries) = root.get("Parameters").and_then(Node::as_map) else {
            return out;
        };
        for e in entries {
            let name = e.key.as_str().unwrap_or_default().to_owned();
            let path = FieldPath::root().field("Parameters").key(name.clone());
            let Some(p) = decode_at::<raw::ParameterRaw>(&e.value, &path, f) else {
                continue;
            };
            let kind = p.kind.clone().unwrap_or_default();
            if p.kind.is_none() {
                f.error(&path, format!("parameter {name} has no Type"))
                    .at_key();
            }
            let value = match self.opts.parameter_overrides.get(&name) {
                Some(v) => v.clone(),
                None => match &p.default {
                    Some(Text(Ok(v))) => v.clone(),
                    Some(Text(Err(got))) => {
                        f.error(
                            &path.field("Default"),
                            format!("expected a string or number, got {got}"),
                        );
                        continue;
                    }
                    None => {
                        f.error(
                            &path,
                            format!("parameter {name} has no Default and no value was given"),
                        )
                        .at_key()
                        .hint(format!(
                            "add a Default or pass a parameter override {name}=..."
                        ));
                        // Known but empty, so references to it do not add more errors.
                        out.insert(
                            name,
                            Param {
                                kind,
                                value: String::new(),
                            },
                        );
                        continue;
                    }
                },
            };
            let overridden = self.opts.parameter_overrides.contains_key(&name);
            let vpath = if overridden {
                path.clone()
            } else {
                path.field("Default")
            };
            if let Some(allowed) = &p.allowed_values {
                let allowed: Vec<String> =
                    allowed.iter().filter_map(|t| t.0.clone().ok()).collect();
                if !allowed.contains(&value) {
                    let e = f.error(
                        &vpath,
                        format!(
                            "\"{value}\" is not one of AllowedValues: {}",
                            allowed.join(", ")
                        ),
                    );
                    if overridden {
                        e.at_key();
                    }
                }
            }
            if let Some(pat) = &p.allowed_pattern {
                match regex::Regex::new(&format!("^(?:{pat})$")) {
                    Ok(re) if !re.is_match(&value) => {
                        f.error(
                            &vpath,
                            format!("\"{value}\" does not match AllowedPattern {pat}"),
                        );
                    }
                    Ok(_) => {}
                    Err(_) => {
                        f.error(
                            &path.field("AllowedPattern"),
                            format!("invalid pattern {pat}"),
                        );
                    }
                }
            }
            if kind == "String" {
                let length = i64::try_from(value.chars().count()).unwrap_or(i64::MAX);
                let bound = |b: &Option<Num>| b.as_ref().and_then(|n| n.0.as_ref().ok()).copied();
                if let Some(min) = bound(&p.min_length)
                    && length < min
                {
                    f.error(
                        &vpath,
                        format!("\"{value}\" is shorter than MinLength {min}"),
                    );
                }
                if let Some(max) = bound(&p.max_length)
                    && length > max
                {
                    f.error(
                        &vpath,
                        format!("\"{value}\" is longer than MaxLength {max}"),
                    );
                }
            }
            if kind == "Number" {
                match value.trim().parse::<f64>() {
                    Ok(n) => {
                        let bound =
                            |b: &Option<Num>| b.as_ref().and_then(|n| n.0.as_ref().ok()).copied();
                        #[allow(clippy::cast_precision_loss)]
                        if let Some(min) = bound(&p.min_value)
                            && n < min as f64
                        {
                            f.error(&vpath, format!("{value} is below MinValue {min}"));
                        }
                        #[allow(clippy::cast_precision_loss)]
                        if let Some(max) = bound(&p.max_value)
                            && n > max as f64
                        {
                            f.error(&vpath, format!("{value} is above MaxValue {max}"));
                        }
                    }
                    Err(_) => {
                        f.error(
                            &vpath,
                            format!("\"{value}\" is not a number, as Type: Number requires"),
                        );
                    }
                }
            }
            out.insert(name, Param { kind, value });
        }
        out
    }

    fn outputs(&self, root: &Node, ctx: &Ctx<'_>, f: &mut Findings) -> Vec<OutputSpec> {
        let mut out = Vec::new();
        let Some(entries) = root.get("Outputs").and_then(Node::as_map) else {
            return out;
        };
        for e in entries {
            let name = e.key.as_str().unwrap_or_default().to_owned();
            let path = FieldPath::root().field("Outputs").key(name.clone());
            if let Some(c) = e.value.get("Condition").and_then(Node::as_str) {
                let span = e.value.get("Condition").map_or(e.key.span, |n| n.span);
                if !matches!(
                    ctx.condition(c, span, &path.field("Condition"), f),
                    Ok(true)
                ) {
                    continue;
                }
            }
            let Some(ev) = ctx.eval(&e.value, &path, f) else {
                continue;
            };
            let Some(o) = decode_at::<raw::OutputRaw>(&ev, &path, f) else {
                continue;
            };
            let value = match o.value {
                Some(Text(Ok(v))) => v,
                Some(Text(Err(got))) => {
                    f.error(
                        &path.field("Value"),
                        format!("an output value must be a string, got {got}"),
                    );
                    continue;
                }
                None => {
                    f.error(&path, "required field \"Value\" is missing")
                        .at_key();
                    continue;
                }
            };
            out.push(OutputSpec {
                name,
                description: o.description.and_then(|t| t.0.ok()),
                value,
            });
        }
        out
    }
}

fn transforms(root: &Node) -> Vec<String> {
    match root.get("Transform") {
        Some(n) => match &n.value {
            Value::Scalar(s, _) => vec![s.clone()],
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            Value::Map(_) => n
                .get("Name")
                .and_then(Node::as_str)
                .map(|s| vec![s.to_owned()])
                .unwrap_or_default(),
        },
        None => Vec::new(),
    }
}

fn key_node(name: &str, span: Span) -> Node {
    Node {
        span,
        tag: None,
        value: Value::Scalar(name.into(), ScalarStyle::Plain),
    }
}

fn empty_map(span: Span) -> Node {
    Node {
        span,
        tag: None,
        value: Value::Map(Vec::new()),
    }
}

/// Merges a `Globals` section under a resource's properties, as SAM does: the resource's
/// scalars win, maps merge key by key, lists add up (globals first).
fn merge(global: &Node, local: &Node) -> Node {
    match (&global.value, &local.value) {
        (Value::Map(g), Value::Map(l)) if global.tag.is_none() && local.tag.is_none() => {
            let mut out: Vec<Entry> = Vec::with_capacity(g.len() + l.len());
            for ge in g {
                match l.iter().find(|le| le.key.as_str() == ge.key.as_str()) {
                    Some(le) => out.push(Entry {
                        key: le.key.clone(),
                        value: merge(&ge.value, &le.value),
                    }),
                    None => out.push(ge.clone()),
                }
            }
            for le in l {
                if !g.iter().any(|ge| ge.key.as_str() == le.key.as_str()) {
                    out.push(le.clone());
                }
            }
            Node {
                span: local.span,
                tag: None,
                value: Value::Map(out),
            }
        }
        (Value::Seq(g), Value::Seq(l)) if global.tag.is_none() && local.tag.is_none() => Node {
            span: local.span,
            tag: None,
            value: Value::Seq(g.iter().chain(l).cloned().collect()),
        },
        _ => local.clone(),
    }
}

fn merged_props(local: Option<&Node>, global: Option<&Node>) -> Node {
    match (local, global) {
        (Some(l), Some(g)) => merge(g, l),
        (Some(l), None) => l.clone(),
        (None, Some(g)) => g.clone(),
        (None, None) => empty_map(Span::new(1, 1)),
    }
}

fn text_or(t: Option<Text>, default: &str) -> String {
    match t {
        Some(Text(Ok(s))) if !s.is_empty() => s,
        _ => default.to_owned(),
    }
}

fn text_map(m: Option<BTreeMap<String, Text>>) -> BTreeMap<String, String> {
    m.unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.0.ok().map(|v| (k, v)))
        .collect()
}

fn int_in(
    f: &mut Findings,
    path: &FieldPath,
    n: Option<&Num>,
    default: i64,
    min: i64,
    max: i64,
) -> i64 {
    match n.map(|n| &n.0) {
        None => default,
        Some(Ok(v)) if (min..=max).contains(v) => *v,
        Some(Ok(v)) => {
            f.error(path, format!("{v} is out of range ({min} to {max})"));
            default
        }
        Some(Err(got)) => {
            f.error(path, format!("expected an integer, got {got}"));
            default
        }
    }
}

/// What `!Ref` gives for a resource: its name (given, or the one CloudFormation would make),
/// an API's id, a layer version's ARN, else the logical id. `literal` reads a name property
/// written as text or with intrinsics over parameters only.
fn ref_value(
    kind: &str,
    id: &str,
    literal: &dyn Fn(&str) -> Option<String>,
    stack_name: &str,
    pseudo: &Pseudo,
) -> String {
    match kind {
        "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
            literal("FunctionName").unwrap_or_else(|| id.to_owned())
        }
        "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => {
            literal("TableName").unwrap_or_else(|| format!("{stack_name}-{id}"))
        }
        "AWS::S3::Bucket" => {
            literal("BucketName").unwrap_or_else(|| bucket::generated_bucket_name(stack_name, id))
        }
        "AWS::Serverless::Api"
        | "AWS::Serverless::HttpApi"
        | "AWS::ApiGateway::RestApi"
        | "AWS::ApiGatewayV2::Api" => synthetic_id(stack_name, id),
        // A layer version's ARN, as `!Ref` gives it on AWS.
        "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => format!(
            "arn:aws:lambda:{}:{}:layer:{}:1",
            pseudo.region,
            pseudo.account_id,
            literal("LayerName").unwrap_or_else(|| id.to_owned())
        ),
        _ => id.to_owned(),
    }
}

/// The resource's node with its `Properties` replaced by their evaluated tree (whose spans
/// are the source's): findings about evaluated properties are located in it, beside the
/// resource's other keys.
fn resource_view(node: &Node, evaluated: &Node) -> Node {
    let mut view_entries: Vec<Entry> = node
        .as_map()
        .unwrap_or_default()
        .iter()
        .filter(|e| e.key.as_str() != Some("Properties"))
        .cloned()
        .collect();
    let pkey = node
        .entry("Properties")
        .map(|e| e.key.clone())
        .unwrap_or_else(|| key_node("Properties", node.span));
    view_entries.push(Entry {
        key: pkey,
        value: evaluated.clone(),
    });
    Node {
        span: node.span,
        tag: None,
        value: Value::Map(view_entries),
    }
}

/// A resource type no plane runs: an unknown SAM type is an error (with the nearest known
/// one), any other type a warning that it is accepted and not run.
fn not_run(kind: &str, f: &mut Findings) {
    if kind.starts_with("AWS::Serverless::")
        && !matches!(
            kind,
            "AWS::Serverless::LayerVersion"
                | "AWS::Serverless::Application"
                | "AWS::Serverless::StateMachine"
                | "AWS::Serverless::Connector"
                | "AWS::Serverless::GraphQLApi"
                | "AWS::Serverless::CapacityProvider"
        )
    {
        let known = [
            "AWS::Serverless::Function",
            "AWS::Serverless::Api",
            "AWS::Serverless::HttpApi",
            "AWS::Serverless::SimpleTable",
        ];
        let e = f.error(
            &FieldPath::root().field("Type"),
            format!("unknown SAM resource type \"{kind}\""),
        );
        if let Some(c) = did_you_mean(kind, known) {
            e.hint(format!("did you mean \"{c}\"?"));
        }
    } else {
        f.warn(
            &FieldPath::root().field("Type"),
            format!("{kind} is accepted but not run by Meridian"),
        );
    }
}
