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

pub(crate) mod bucket;
mod build;
mod cors;
pub mod dockerfile;
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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::de::decode_at;
use crate::diag::{Diagnostic, Findings, Severity, did_you_mean};
use crate::node::{Entry, Limits, Node, ScalarStyle, Span, Value, parse_stream};
use crate::path::FieldPath;

use intrinsic::{Ctx, Param, Pseudo, ResInfo};
use raw::{Num, Text};

pub use spec::{
    ApiKind, ApiRoute, ApiSpec, BucketNotification, BucketSpec, Build, Code, CodeCopy, Cors,
    Effect, EventInvokeConfig, FunctionSpec, FunctionUrl, IndexProjection, IndexSpec, KeyAttribute,
    KeyFilter, Origin, OutputSpec, ParameterValue, Patterns, PayloadFormat, Platform,
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
            let ref_value = match kind.as_str() {
                "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                    literal("FunctionName").unwrap_or_else(|| id.clone())
                }
                "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => {
                    literal("TableName").unwrap_or_else(|| format!("{stack_name}-{id}"))
                }
                "AWS::S3::Bucket" => literal("BucketName")
                    .unwrap_or_else(|| bucket::generated_bucket_name(&stack_name, &id)),
                "AWS::Serverless::Api"
                | "AWS::Serverless::HttpApi"
                | "AWS::ApiGateway::RestApi"
                | "AWS::ApiGatewayV2::Api" => synthetic_id(&stack_name, &id),
                // A layer version's ARN, as `!Ref` gives it on AWS.
                "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => format!(
                    "arn:aws:lambda:{}:{}:layer:{}:1",
                    pseudo.region,
                    pseudo.account_id,
                    literal("LayerName").unwrap_or_else(|| id.clone())
                ),
                _ => id.clone(),
            };
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
            let e = top.error(
                &FieldPath::root().field("Transform"),
                "AWS::Serverless resources need the SAM transform",
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
            // Findings are located in a tree of the evaluated properties (their spans are the
            // source's) beside the resource's other keys.
            let mut view_entries: Vec<Entry> = r
                .node
                .as_map()
                .unwrap_or_default()
                .iter()
                .filter(|e| e.key.as_str() != Some("Properties"))
                .cloned()
                .collect();
            let pkey = r
                .node
                .entry("Properties")
                .map(|e| e.key.clone())
                .unwrap_or_else(|| key_node("Properties", r.node.span));
            view_entries.push(Entry {
                key: pkey,
                value: evaluated.clone(),
            });
            let view = Node {
                span: r.node.span,
                tag: None,
                value: Value::Map(view_entries),
            };
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
                other => {
                    if other.starts_with("AWS::Serverless::")
                        && !matches!(
                            other,
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
                            format!("unknown SAM resource type \"{other}\""),
                        );
                        if let Some(c) = did_you_mean(other, known) {
                            e.hint(format!("did you mean \"{c}\"?"));
                        }
                    } else {
                        f.warn(
                            &FieldPath::root().field("Type"),
                            format!("{other} is accepted but not run by Meridian"),
                        );
                    }
                }
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
                let (kind, stage) = if route.api == IMPLICIT_REST_API {
                    (ApiKind::Rest, "Prod")
                } else {
                    (ApiKind::Http, "$default")
                };
                // The implicit APIs take their settings from Globals.
                let g = globals.and_then(|g| {
                    g.get(if kind == ApiKind::Rest {
                        "Api"
                    } else {
                        "HttpApi"
                    })
                });
                let mut gf = Findings::new();
                let cors = g.and_then(|g| {
                    let ev = ctx.eval(g, &FieldPath::root(), &mut Findings::new())?;
                    if kind == ApiKind::Rest {
                        ev.get("Cors").and_then(cors::rest_cors)
                    } else {
                        ev.get("CorsConfiguration").and_then(cors::http_cors)
                    }
                });
                let (stage, vars, binary) = match g {
                    Some(g) => {
                        let ev = ctx
                            .eval(g, &FieldPath::root(), &mut gf)
                            .unwrap_or_else(|| empty_map(g.span));
                        if kind == ApiKind::Rest {
                            let p: Option<raw::ApiProps> =
                                decode_at(&ev, &FieldPath::root(), &mut gf);
                            let p = p.unwrap_or_default();
                            (
                                text_or(p.stage_name, stage),
                                text_map(p.variables),
                                p.binary_media_types.unwrap_or_default(),
                            )
                        } else {
                            let p: Option<raw::HttpApiProps> =
                                decode_at(&ev, &FieldPath::root(), &mut gf);
                            let p = p.unwrap_or_default();
                            (
                                text_or(p.stage_name, stage),
                                text_map(p.stage_variables),
                                Vec::new(),
                            )
                        }
                    }
                    None => (stage.to_owned(), BTreeMap::new(), Vec::new()),
                };
                apis.push(ApiSpec {
                    logical_id: route.api.clone(),
                    id: synthetic_id(&stack_name, &route.api),
                    kind,
                    stage,
                    stage_variables: vars,
                    binary_media_types: binary,
                    implicit: true,
                    cors,
                });
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

    #[allow(clippy::too_many_lines)]
    fn function(
        &mut self,
        r: &Res<'_>,
        props: &Node,
        metadata: Option<&Node>,
        infos: &BTreeMap<String, ResInfo>,
        f: &mut Findings,
    ) -> Option<(FunctionSpec, Vec<PendingRoute>)> {
        let pp = FieldPath::root().field("Properties");
        let p: raw::FunctionProps = decode_at(props, &pp, f)?;
        let name = infos
            .get(&r.id)
            .map_or_else(|| r.id.clone(), |i| i.ref_value.clone());
        if let Some(n) = &p.function_name
            && !valid_function_name(n)
        {
            f.error(
                &pp.field("FunctionName"),
                format!(
                    "\"{n}\" is not a valid function name (letters, digits, - and _, at most 64)"
                ),
            );
        }
        let is_image = match p.package_type.as_deref() {
            None | Some("Zip") => false,
            Some("Image") => true,
            Some(other) => {
                let e = f.error(
                    &pp.field("PackageType"),
                    format!("unsupported value \"{other}\""),
                );
                e.hint(
                    did_you_mean(other, ["Zip", "Image"])
                        .map_or("one of: Zip, Image".into(), |c| {
                            format!("did you mean \"{c}\"?")
                        }),
                );
                false
            }
        };
        let memory_mb = int_in(
            f,
            &pp.field("MemorySize"),
            p.memory_size.as_ref(),
            128,
            128,
            10240,
        );
        let timeout = int_in(f, &pp.field("Timeout"), p.timeout.as_ref(), 3, 1, 900);
        let reserved = p.reserved_concurrent_executions.as_ref().map(|n| {
            int_in(
                f,
                &pp.field("ReservedConcurrentExecutions"),
                Some(n),
                0,
                0,
                100_000,
            )
        });
        let event_invoke = event_invoke_config(
            f,
            &pp.field("EventInvokeConfig"),
            p.event_invoke_config.as_ref(),
            infos,
            &self.opts.region,
        );
        let mut environment = BTreeMap::new();
        let mut env_size = 0;
        if let Some(vars) = p.environment.as_ref().and_then(|e| e.variables.as_ref()) {
            let vpath = pp.field("Environment").field("Variables");
            for (k, v) in vars {
                let kp = vpath.key(k.clone());
                if RESERVED_ENV.contains(&k.as_str()) {
                    f.error(
                        &kp,
                        format!("{k} is a reserved environment variable that Lambda sets itself"),
                    )
                    .at_key();
                } else if !valid_env_key(k) {
                    f.error(
                        &kp,
                        format!("\"{k}\" is not a valid environment variable name"),
                    )
                    .at_key()
                    .hint("letters, digits and _, starting with a letter");
                }
                match &v.0 {
                    Ok(s) => {
                        env_size += k.len() + s.len();
                        environment.insert(k.clone(), s.clone());
                    }
                    Err(got) => {
                        f.error(&kp, format!("expected a string, got {got}"));
                    }
                }
            }
            if env_size > 4096 {
                f.error(
                    &vpath,
                    format!("environment variables take {env_size} bytes, more than Lambda's 4 KB"),
                )
                .at_key();
            }
        }
        let layer_refs: Vec<(usize, Option<String>)> = props
            .get("Layers")
            .and_then(Node::as_seq)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (i, n.as_str().map(str::to_owned)))
                    .collect()
            })
            .unwrap_or_default();
        let architecture = p
            .architectures
            .as_ref()
            .and_then(|a| a.first().cloned())
            .unwrap_or_else(|| "x86_64".into());
        if !matches!(architecture.as_str(), "x86_64" | "arm64") {
            f.error(
                &pp.field("Architectures").index(0),
                format!("unsupported architecture \"{architecture}\" (x86_64 or arm64)"),
            );
        }
        // Lambda takes exactly one architecture per function.
        if let Some(list) = p.architectures.as_ref().filter(|a| a.len() != 1) {
            f.error(
                &pp.field("Architectures"),
                format!("Architectures takes exactly one value, not {}", list.len()),
            )
            .hint("x86_64 or arm64");
        }

        let (runtime, handler, code, working_dir) = if is_image {
            self.image_function(r, &p, props, metadata, &mut environment, f)?
        } else {
            let runtime = match p.runtime.as_deref() {
                Some(s) => match Runtime::parse(s) {
                    Some(rt) => Some(rt),
                    None => {
                        let hint = did_you_mean(s, Runtime::SUPPORTED.iter().copied()).map_or_else(
                            || format!("supported: {}", Runtime::SUPPORTED.join(", ")),
                            |c| format!("did you mean \"{c}\"?"),
                        );
                        f.error(
                            &pp.field("Runtime"),
                            format!("runtime \"{s}\" is not supported by Meridian"),
                        )
                        .hint(hint);
                        None
                    }
                },
                None => {
                    f.error(
                        &pp,
                        "required field \"Runtime\" is missing (a Zip function needs one)",
                    )
                    .at_key();
                    None
                }
            };
            let handler = p.handler.clone().unwrap_or_default();
            if let Some(rt) = runtime
                && rt.needs_handler()
            {
                if p.handler.is_none() {
                    f.error(&pp, "required field \"Handler\" is missing")
                        .at_key();
                } else if !handler.contains('.')
                    || handler.starts_with('.')
                    || handler.ends_with('.')
                {
                    f.error(
                        &pp.field("Handler"),
                        format!("handler \"{handler}\" must be <module>.<function>"),
                    )
                    .hint("for example index.handler");
                }
            }
            let code = match (props.get("CodeUri"), &p.inline_code) {
                (Some(_), Some(_)) => {
                    f.error(
                        &pp.field("InlineCode"),
                        "CodeUri and InlineCode cannot both be set",
                    )
                    .at_key();
                    None
                }
                (None, Some(src)) => Some(Code::Inline(src.clone())),
                (Some(n), None) => match n.as_str() {
                    Some(s) => {
                        let dir = self.base.join(s);
                        if dir.is_dir() {
                            Some(Code::Dir(dir))
                        } else if dir.is_file() {
                            f.error(
                                &pp.field("CodeUri"),
                                format!("CodeUri {s} is a file; Meridian runs code from a folder"),
                            )
                            .hint("point CodeUri at the unpacked folder");
                            None
                        } else {
                            f.error(
                                &pp.field("CodeUri"),
                                format!("CodeUri folder {} does not exist", dir.display()),
                            );
                            None
                        }
                    }
                    None => {
                        f.error(
                            &pp.field("CodeUri"),
                            "CodeUri in S3 (Bucket/Key) cannot be run locally",
                        )
                        .hint("point CodeUri at the folder that holds the code");
                        None
                    }
                },
                (None, None) => Some(Code::Dir(self.base.clone())),
            };
            // A build (esbuild, makefile) makes the handler's module; the sources need not
            // have it.
            let built = metadata
                .and_then(|m| m.get("BuildMethod"))
                .and_then(Node::as_str)
                .is_some_and(|m| matches!(m, "esbuild" | "makefile"));
            if let (Some(rt), Some(Code::Dir(dir)), false) = (runtime, &code, built)
                && let Some(missing) = missing_handler_module(rt, &handler, dir)
            {
                f.warn(&pp.field("Handler"), missing);
            }
            (runtime, handler, code, PathBuf::new())
        };

        let url = p
            .function_url_config
            .as_ref()
            .map(|u| build::function_url(f, &pp.field("FunctionUrlConfig"), u));
        let build =
            metadata.and_then(|m| build::metadata(f, m, p.runtime.as_deref().unwrap_or_default()));

        // Events.
        let mut routes = Vec::new();
        let mut stream_events = Vec::new();
        if let Some(events) = &p.events {
            for (ename, ev) in events {
                let epath = pp.field("Events").key(ename.clone());
                let enode = props
                    .get("Events")
                    .and_then(|e| e.get(ename))
                    .cloned()
                    .unwrap_or_else(|| empty_map(props.span));
                let eprops = enode
                    .get("Properties")
                    .cloned()
                    .unwrap_or_else(|| empty_map(enode.span));
                let ppath = epath.field("Properties");
                match ev.kind.as_deref() {
                    Some("Api") => {
                        let Some(a) = decode_at::<raw::ApiEventProps>(&eprops, &ppath, f) else {
                            continue;
                        };
                        unapplied::check(&eprops, &ppath, unapplied::API_EVENT, f);
                        let path = route_path(f, &ppath, a.path.as_deref(), true);
                        let method = route_method(f, &ppath, a.method.as_deref(), true);
                        let api = api_ref(
                            f,
                            &ppath.field("RestApiId"),
                            a.rest_api_id.as_ref(),
                            infos,
                            "AWS::Serverless::Api",
                        )
                        .unwrap_or_else(|| IMPLICIT_REST_API.into());
                        if let (Some(path), Some(method)) = (path, method) {
                            routes.push((
                                epath.clone(),
                                enode.clone(),
                                ApiRoute {
                                    event: ename.clone(),
                                    kind: ApiKind::Rest,
                                    api,
                                    method,
                                    path,
                                    payload: PayloadFormat::V1,
                                },
                                None,
                            ));
                        }
                    }
                    Some("HttpApi") => {
                        let Some(a) = decode_at::<raw::HttpApiEventProps>(&eprops, &ppath, f)
                        else {
                            continue;
                        };
                        unapplied::check(&eprops, &ppath, unapplied::HTTP_API_EVENT, f);
                        let (path, method) = if a.path.is_none() && a.method.is_none() {
                            (Some(None), Some(RouteMethod::Any))
                        } else {
                            (
                                route_path(f, &ppath, a.path.as_deref(), true),
                                route_method(f, &ppath, a.method.as_deref().or(Some("ANY")), false),
                            )
                        };
                        let payload = match a.payload_format_version.as_ref().map(|t| t.0.clone()) {
                            None => PayloadFormat::V2,
                            Some(Ok(v)) if v == "2.0" => PayloadFormat::V2,
                            Some(Ok(v)) if v == "1.0" => PayloadFormat::V1,
                            Some(Ok(v)) => {
                                f.error(
                                    &ppath.field("PayloadFormatVersion"),
                                    format!("unsupported payload format version \"{v}\" (\"1.0\" or \"2.0\")"),
                                );
                                PayloadFormat::V2
                            }
                            Some(Err(got)) => {
                                f.error(
                                    &ppath.field("PayloadFormatVersion"),
                                    format!("expected \"1.0\" or \"2.0\", got {got}"),
                                );
                                PayloadFormat::V2
                            }
                        };
                        let api = api_ref(
                            f,
                            &ppath.field("ApiId"),
                            a.api_id.as_ref(),
                            infos,
                            "AWS::Serverless::HttpApi",
                        )
                        .unwrap_or_else(|| IMPLICIT_HTTP_API.into());
                        if let (Some(path), Some(method)) = (path, method) {
                            routes.push((
                                epath.clone(),
                                enode.clone(),
                                ApiRoute {
                                    event: ename.clone(),
                                    kind: ApiKind::Http,
                                    api,
                                    method,
                                    path,
                                    payload,
                                },
                                None,
                            ));
                        }
                    }
                    Some("DynamoDB") => {
                        let Some(d) = decode_at::<raw::DynamoDbEventProps>(&eprops, &ppath, f)
                        else {
                            continue;
                        };
                        if let Some(e) = stream_event(ename, &d, &ppath, f) {
                            stream_events.push(e);
                        }
                    }
                    Some("S3") => {
                        let Some(d) = decode_at::<raw::S3EventProps>(&eprops, &ppath, f) else {
                            continue;
                        };
                        let tagged = r
                            .node
                            .get("Properties")
                            .and_then(|p| p.get("Events"))
                            .and_then(|e| e.get(ename))
                            .and_then(|e| e.get("Properties"))
                            .and_then(|p| p.get("Bucket"))
                            .is_some_and(|b| b.tag.as_ref().is_some_and(|t| t.0 == "Ref"));
                        if let Some(e) =
                            self.s3_event(&r.id, &name, ename, &d, tagged, &ppath, infos, f)
                        {
                            self.bucket_events.push(e);
                        }
                    }
                    Some(other) => {
                        f.warn(
                            &epath.field("Type"),
                            format!("{other} events are accepted but not delivered by Meridian (Api, HttpApi, DynamoDB and S3 are)"),
                        );
                    }
                    None => {
                        f.error(&epath, "required field \"Type\" is missing")
                            .at_key();
                    }
                }
            }
        }
        let layers = self.function_layers(&layer_refs, runtime.as_ref(), &pp, f);
        let policies = self.policies(props.get("Policies"), &pp.field("Policies"), f);
        if props.get("Role").is_some() {
            f.warn(
                &pp.field("Role"),
                "Meridian does not read roles: the function gets the permissions of its Policies only",
            )
            .at_key()
            .hint("grant what it needs with Policies (a policy template or statements)");
        }
        let span = props.span;
        let spec = FunctionSpec {
            logical_id: r.id.clone(),
            name,
            runtime: runtime?,
            handler,
            code: code?,
            memory_mb: u32::try_from(memory_mb).unwrap_or(128),
            timeout: Duration::from_secs(u64::try_from(timeout).unwrap_or(3)),
            environment,
            reserved_concurrency: reserved.map(|n| u32::try_from(n).unwrap_or(0)),
            event_invoke,
            routes: Vec::new(),
            working_dir,
            architecture,
            policies,
            stream_events,
            layers,
            platform: Platform::Lambda,
            url,
            build,
            runtime_at: props
                .get("Runtime")
                .map_or_else(|| r.node.get("Type").map_or(span, |t| t.span), |n| n.span),
            origin: Origin {
                file: self.file.clone(),
                span: r.node.get("Type").map_or(span, |t| t.span),
            },
        };
        Some((spec, routes))
    }

    /// Checks an `AWS::Serverless::LayerVersion` (its folder is read in a first pass).
    fn layer_version(&mut self, props: &Node, f: &mut Findings) {
        let pp = FieldPath::root().field("Properties");
        let Some(_p): Option<raw::LayerVersionProps> = decode_at(props, &pp, f) else {
            return;
        };
        match props.get("ContentUri") {
            None => {
                f.error(&pp, "required field \"ContentUri\" is missing")
                    .at_key();
            }
            Some(n) => match n.as_str() {
                Some(s) => {
                    let dir = self.base.join(s);
                    if dir.is_file() {
                        f.error(
                            &pp.field("ContentUri"),
                            format!("ContentUri {s} is a file; Meridian reads layers from a folder"),
                        )
                        .hint("point ContentUri at the unpacked folder (nodejs/, python/, bin/, lib/ inside)");
                    } else if !dir.is_dir() {
                        f.error(
                            &pp.field("ContentUri"),
                            format!("ContentUri folder {} does not exist", dir.display()),
                        );
                    }
                }
                None => {
                    f.error(
                        &pp.field("ContentUri"),
                        "ContentUri in S3 (Bucket/Key) cannot be used locally",
                    )
                    .hint("point ContentUri at the folder that holds the layer");
                }
            },
        }
    }

    /// The folders of a function's `Layers`, each checked: a layer of this template with a
    /// folder is used; one from elsewhere (an ARN) is reported, since Meridian does not
    /// download layers.
    fn function_layers(
        &self,
        refs: &[(usize, Option<String>)],
        runtime: Option<&Runtime>,
        pp: &FieldPath,
        f: &mut Findings,
    ) -> Vec<PathBuf> {
        let lp = pp.field("Layers");
        if refs.len() > MAX_LAYERS {
            f.error(
                &lp,
                format!(
                    "{} layers: a function can use at most {MAX_LAYERS}",
                    refs.len()
                ),
            )
            .at_key();
        }
        let mut dirs = Vec::new();
        for (i, arn) in refs {
            let Some(arn) = arn else {
                f.error(&lp.index(*i), "expected a layer version ARN (a string)");
                continue;
            };
            match self.layers.get(arn) {
                Some(layer) => {
                    if let Some(rt) = runtime
                        && !layer.compatible_runtimes.is_empty()
                        && !layer.compatible_runtimes.contains(&rt.to_string())
                    {
                        f.warn(
                            &lp.index(*i),
                            format!(
                                "layer {} lists CompatibleRuntimes {} but the function runs {rt}",
                                layer.id,
                                layer.compatible_runtimes.join(", ")
                            ),
                        );
                    }
                    // A layer without its folder was reported where it is declared.
                    dirs.extend(layer.dir.clone());
                }
                None => {
                    f.warn(
                        &lp.index(*i),
                        format!("layer {arn} is not in this template: Meridian does not download layers"),
                    )
                    .hint("declare it as an AWS::Serverless::LayerVersion with a local ContentUri, or vendor its contents into the function's code");
                }
            }
        }
        dirs
    }

    #[allow(clippy::type_complexity)]
    fn image_function(
        &mut self,
        r: &Res<'_>,
        p: &raw::FunctionProps,
        props: &Node,
        metadata: Option<&Node>,
        environment: &mut BTreeMap<String, String>,
        f: &mut Findings,
    ) -> Option<(Option<Runtime>, String, Option<Code>, PathBuf)> {
        let pp = FieldPath::root().field("Properties");
        for (field, set) in [
            ("Runtime", p.runtime.is_some()),
            ("Handler", p.handler.is_some()),
            ("CodeUri", props.get("CodeUri").is_some()),
            ("InlineCode", p.inline_code.is_some()),
        ] {
            if set {
                f.error(
                    &pp.field(field),
                    format!("{field} cannot be set on a PackageType: Image function"),
                )
                .at_key()
                .hint("the Dockerfile's FROM, COPY and CMD give the runtime, code and handler");
            }
        }
        let meta_str = |key: &str| {
            metadata
                .and_then(|m| m.get(key))
                .and_then(Node::as_str)
                .map(str::to_owned)
        };
        let context = self
            .base
            .join(meta_str("DockerContext").unwrap_or_else(|| ".".into()));
        let dockerfile =
            context.join(meta_str("Dockerfile").unwrap_or_else(|| "Dockerfile".into()));
        if !dockerfile.is_file() {
            let e = f.error(
                &FieldPath::root().field("Metadata").field("Dockerfile"),
                format!(
                    "PackageType: Image needs the image's Dockerfile to run natively; {} does not exist",
                    dockerfile.display()
                ),
            );
            e.span = Some(props.span);
            e.hint("add Metadata: {Dockerfile: Dockerfile, DockerContext: .} or put a Dockerfile beside the template");
            return None;
        }
        let mut build_args = BTreeMap::new();
        if let Some(args) = metadata
            .and_then(|m| m.get("DockerBuildArgs"))
            .and_then(Node::as_map)
        {
            for e in args {
                if let (Some(k), Some(v)) = (e.key.as_str(), e.value.as_str()) {
                    build_args.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let recipe = match dockerfile::read_dockerfile(&dockerfile, &context, &build_args) {
            Ok(rc) => rc,
            Err(diags) => {
                let summary = diags
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| d.message.clone())
                    .unwrap_or_default();
                self.diags.extend(diags);
                let e = f.error(
                    &pp.field("PackageType"),
                    format!("cannot run the image natively: {summary}"),
                );
                e.hint(format!("see {}", dockerfile.display()));
                return None;
            }
        };
        self.diags
            .extend(recipe.warnings.iter().cloned().map(|mut d| {
                d.resource = Some(r.id.clone());
                d
            }));
        let image_config = p.image_config.as_ref();
        let handler = image_config
            .and_then(|c| c.command.as_ref())
            .and_then(|c| c.first().cloned())
            .or(recipe.handler.clone());
        let handler = match handler {
            Some(h) => h,
            None if recipe.runtime.needs_handler() => {
                f.error(
                    &pp.field("ImageConfig").field("Command"),
                    format!(
                        "no handler: {} has no CMD and ImageConfig.Command is not set",
                        dockerfile.display()
                    ),
                )
                .at_key();
                String::new()
            }
            None => String::new(),
        };
        for (k, v) in recipe.env {
            environment.entry(k).or_insert(v);
        }
        let workdir = image_config
            .and_then(|c| c.working_directory.as_deref())
            .map(|w| {
                PathBuf::from(w)
                    .strip_prefix(dockerfile::TASK_ROOT)
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
            })
            .unwrap_or(recipe.workdir);
        Some((
            Some(recipe.runtime),
            handler,
            Some(Code::Layout(recipe.copies)),
            workdir,
        ))
    }

    fn rest_api(
        &mut self,
        r: &Res<'_>,
        props: &Node,
        infos: &BTreeMap<String, ResInfo>,
        f: &mut Findings,
    ) -> Option<ApiSpec> {
        let pp = FieldPath::root().field("Properties");
        let p: raw::ApiProps = decode_at(props, &pp, f)?;
        let stage = match p.stage_name {
            Some(Text(Ok(s))) if !s.is_empty() => s,
            Some(_) => {
                f.error(
                    &pp.field("StageName"),
                    "StageName must be a non-empty string",
                );
                return None;
            }
            None => {
                f.error(&pp, "required field \"StageName\" is missing")
                    .at_key();
                return None;
            }
        };
        Some(ApiSpec {
            logical_id: r.id.clone(),
            id: infos
                .get(&r.id)
                .map(|i| i.ref_value.clone())
                .unwrap_or_default(),
            kind: ApiKind::Rest,
            stage,
            stage_variables: text_map(p.variables),
            binary_media_types: p.binary_media_types.unwrap_or_default(),
            implicit: false,
            cors: props.get("Cors").and_then(cors::rest_cors),
        })
    }

    fn http_api(
        &mut self,
        r: &Res<'_>,
        props: &Node,
        infos: &BTreeMap<String, ResInfo>,
        f: &mut Findings,
    ) -> Option<ApiSpec> {
        let pp = FieldPath::root().field("Properties");
        let p: raw::HttpApiProps = decode_at(props, &pp, f)?;
        Some(ApiSpec {
            logical_id: r.id.clone(),
            id: infos
                .get(&r.id)
                .map(|i| i.ref_value.clone())
                .unwrap_or_default(),
            kind: ApiKind::Http,
            stage: text_or(p.stage_name, "$default"),
            stage_variables: text_map(p.stage_variables),
            binary_media_types: Vec::new(),
            implicit: false,
            cors: props.get("CorsConfiguration").and_then(cors::http_cors),
        })
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

/// Lambda's bounds on `MaximumEventAgeInSeconds`.
const EVENT_AGE_SECONDS: (i64, i64) = (60, 21_600);

/// Destination types SAM knows (`Type` of `OnSuccess`/`OnFailure`).
/// A `DynamoDB` event checked as Lambda's CreateEventSourceMapping checks it.
fn stream_event(
    name: &str,
    d: &raw::DynamoDbEventProps,
    path: &FieldPath,
    f: &mut Findings,
) -> Option<StreamEvent> {
    let text = |t: &Option<raw::Text>| t.as_ref().and_then(|t| t.0.clone().ok());
    let Some(arn) = text(&d.stream) else {
        f.error(
            path,
            "required field \"Stream\" is missing (the table's stream: !GetAtt <Table>.StreamArn)",
        );
        return None;
    };
    let table = arn
        .strip_prefix("arn:aws:dynamodb:")
        .and_then(|r| r.split_once(":table/"))
        .and_then(|(_, r)| r.split_once("/stream/"))
        .map(|(t, _)| t.to_owned());
    let Some(table) = table else {
        f.error(
            &path.field("Stream"),
            format!("\"{arn}\" is not the ARN of a DynamoDB stream (arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>, or !GetAtt <Table>.StreamArn)"),
        );
        return None;
    };
    let from_oldest = match text(&d.starting_position).as_deref() {
        Some("TRIM_HORIZON") => true,
        Some("LATEST") => false,
        Some(other) => {
            let e = f.error(
                &path.field("StartingPosition"),
                format!("unsupported starting position \"{other}\" for a DynamoDB stream (TRIM_HORIZON or LATEST)"),
            );
            if let Some(c) = did_you_mean(other, ["TRIM_HORIZON", "LATEST"]) {
                e.hint(format!("did you mean \"{c}\"?"));
            }
            return None;
        }
        None => {
            f.error(
                path,
                "required field \"StartingPosition\" is missing (TRIM_HORIZON or LATEST)",
            );
            return None;
        }
    };
    let bounded = |n: &Option<raw::Num>,
                   field: &'static str,
                   lo: i64,
                   hi: i64,
                   default: i64,
                   f: &mut Findings| {
        match n.as_ref().map(|n| n.0.clone()) {
            None => Some(default),
            Some(Ok(v)) if (lo..=hi).contains(&v) => Some(v),
            Some(Ok(v)) => {
                f.error(
                    &path.field(field),
                    format!("{v} is out of range ({lo} to {hi})"),
                );
                None
            }
            Some(Err(got)) => {
                f.error(
                    &path.field(field),
                    format!("expected an integer, got {got}"),
                );
                None
            }
        }
    };
    let batch = bounded(&d.batch_size, "BatchSize", 1, 10_000, 100, f)?;
    let retries = bounded(
        &d.maximum_retry_attempts,
        "MaximumRetryAttempts",
        -1,
        10_000,
        -1,
        f,
    )?;
    for (given, field, missing) in [
        (
            d.kms_key_arn.is_some(),
            "KmsKeyArn",
            "filter criteria are not encrypted with a customer key",
        ),
        (
            d.metrics_config.is_some(),
            "MetricsConfig",
            "no event source mapping metrics are recorded",
        ),
        (
            d.starting_position_timestamp.is_some(),
            "StartingPositionTimestamp",
            "reading starts at StartingPosition, not at a time",
        ),
    ] {
        if given {
            f.warn(
                &path.field(field),
                format!("{field} is accepted but not applied by Meridian: {missing}"),
            )
            .at_key();
        }
    }
    for (given, field) in [
        (
            d.bisect_batch_on_function_error.is_some(),
            "BisectBatchOnFunctionError",
        ),
        (d.destination_config.is_some(), "DestinationConfig"),
        (d.filter_criteria.is_some(), "FilterCriteria"),
        (d.function_response_types.is_some(), "FunctionResponseTypes"),
        (
            d.maximum_batching_window_in_seconds.is_some(),
            "MaximumBatchingWindowInSeconds",
        ),
        (
            d.maximum_record_age_in_seconds.is_some(),
            "MaximumRecordAgeInSeconds",
        ),
        (d.parallelization_factor.is_some(), "ParallelizationFactor"),
        (
            d.tumbling_window_in_seconds.is_some(),
            "TumblingWindowInSeconds",
        ),
    ] {
        if given {
            f.warn(
                &path.field(field),
                format!("{field} is accepted but not applied by Meridian (batches are read in order, one at a time, and retried whole)"),
            )
            .at_key();
        }
    }
    Some(StreamEvent {
        event: name.to_owned(),
        stream_arn: arn,
        table,
        from_oldest,
        batch_size: u32::try_from(batch).unwrap_or(100),
        maximum_retry_attempts: u32::try_from(retries).ok(),
        enabled: d.enabled.unwrap_or(true),
    })
}

const DESTINATION_TYPES: [&str; 5] = ["SQS", "SNS", "S3", "Lambda", "EventBridge"];

/// Reads `EventInvokeConfig`. Lambda destinations must name a function of this template
/// (by name, `!Ref` or `!GetAtt ...Arn`); the other types are accepted with a warning that
/// Meridian does not deliver to them.
fn event_invoke_config(
    f: &mut Findings,
    path: &FieldPath,
    raw: Option<&raw::EventInvokeConfigRaw>,
    infos: &BTreeMap<String, ResInfo>,
    region: &str,
) -> EventInvokeConfig {
    let mut config = EventInvokeConfig::default();
    let Some(raw) = raw else {
        return config;
    };
    let default_age = i64::try_from(config.maximum_event_age.as_secs()).unwrap_or(21_600);
    let age = int_in(
        f,
        &path.field("MaximumEventAgeInSeconds"),
        raw.maximum_event_age_in_seconds.as_ref(),
        default_age,
        EVENT_AGE_SECONDS.0,
        EVENT_AGE_SECONDS.1,
    );
    config.maximum_event_age = Duration::from_secs(u64::try_from(age).unwrap_or(21_600));
    let retries = int_in(
        f,
        &path.field("MaximumRetryAttempts"),
        raw.maximum_retry_attempts.as_ref(),
        i64::from(config.maximum_retry_attempts),
        0,
        2,
    );
    config.maximum_retry_attempts = u8::try_from(retries).unwrap_or(2);
    if let Some(d) = &raw.destination_config {
        let dpath = path.field("DestinationConfig");
        config.on_success = destination(
            f,
            &dpath.field("OnSuccess"),
            d.on_success.as_ref(),
            infos,
            region,
        );
        config.on_failure = destination(
            f,
            &dpath.field("OnFailure"),
            d.on_failure.as_ref(),
            infos,
            region,
        );
    }
    config
}

/// The function a `Type: Lambda` destination names, if it is one of this template's.
fn destination(
    f: &mut Findings,
    path: &FieldPath,
    raw: Option<&raw::DestinationRaw>,
    infos: &BTreeMap<String, ResInfo>,
    region: &str,
) -> Option<String> {
    let raw = raw?;
    let kind = match raw.kind.as_deref() {
        Some(k) => k,
        None => {
            f.error(path, "required field \"Type\" is missing").at_key();
            return None;
        }
    };
    if !DESTINATION_TYPES.contains(&kind) {
        let hint = did_you_mean(kind, DESTINATION_TYPES).map_or_else(
            || format!("one of: {}", DESTINATION_TYPES.join(", ")),
            |c| format!("did you mean \"{c}\"?"),
        );
        f.error(
            &path.field("Type"),
            format!("unsupported destination type \"{kind}\""),
        )
        .hint(hint);
        return None;
    }
    if kind != "Lambda" {
        f.warn(
            &path.field("Type"),
            format!(
                "{kind} destinations are accepted but not delivered by Meridian (Lambda destinations are)"
            ),
        );
        return None;
    }
    let value = match &raw.destination {
        None => {
            f.error(
                path,
                "required field \"Destination\" is missing (the function that receives the records)",
            )
            .at_key();
            return None;
        }
        Some(Text(Err(got))) => {
            f.error(
                &path.field("Destination"),
                format!("expected a function name or ARN, got {got}"),
            );
            return None;
        }
        Some(Text(Ok(v))) => v,
    };
    // `!GetAtt Fn.Arn` gives an ARN, `!Ref Fn` the name; a qualifier is allowed.
    let name = match value.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [_, "lambda", _, _, "function", name, ..] => *name,
                _ => {
                    f.error(
                        &path.field("Destination"),
                        format!("\"{value}\" is not the ARN of a Lambda function"),
                    )
                    .hint(format!(
                        "arn:aws:lambda:{region}:<account>:function:<name>, or !GetAtt <Function>.Arn"
                    ));
                    return None;
                }
            }
        }
        None => value.as_str(),
    };
    let functions = infos
        .values()
        .filter(|i| i.kind == "AWS::Serverless::Function")
        .map(|i| i.ref_value.as_str());
    if functions.clone().any(|n| n == name) {
        return Some(name.to_owned());
    }
    let finding = f.warn(
        &path.field("Destination"),
        format!(
            "function \"{name}\" is not in this template: Meridian does not deliver records to it"
        ),
    );
    if let Some(c) = did_you_mean(name, functions) {
        finding.hint(format!("did you mean \"{c}\"?"));
    }
    None
}

fn valid_function_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_env_key(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && k.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks an API path template: `/`, `/users/{id}`, `/{proxy+}`.
fn route_path(
    f: &mut Findings,
    ppath: &FieldPath,
    path: Option<&str>,
    required: bool,
) -> Option<Option<String>> {
    let Some(p) = path else {
        if required {
            f.error(ppath, "required field \"Path\" is missing")
                .at_key();
        }
        return None;
    };
    let at = ppath.field("Path");
    if !p.starts_with('/') {
        f.error(&at, format!("path \"{p}\" must start with /"));
        return None;
    }
    let segs: Vec<&str> = p.split('/').skip(1).collect();
    let mut names = BTreeSet::new();
    for (i, s) in segs.iter().enumerate() {
        if s.is_empty() && !(i == segs.len() - 1 && segs.len() == 1) {
            f.error(&at, format!("path \"{p}\" has an empty segment"));
            return None;
        }
        if let Some(inner) = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if greedy && i != segs.len() - 1 {
                f.error(
                    &at,
                    format!("greedy parameter {{{inner}}} must be the last segment of \"{p}\""),
                );
                return None;
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            {
                f.error(
                    &at,
                    format!("invalid path parameter {{{inner}}} in \"{p}\""),
                );
                return None;
            }
            if !names.insert(name) {
                f.error(
                    &at,
                    format!("path parameter {{{name}}} appears twice in \"{p}\""),
                );
                return None;
            }
        } else if s.contains(['{', '}']) {
            f.error(
                &at,
                format!("a path parameter must be a whole segment in \"{p}\""),
            )
            .hint("write /{id}, not /item-{id}");
            return None;
        }
    }
    Some(Some(p.to_owned()))
}

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY",
];

fn route_method(
    f: &mut Findings,
    ppath: &FieldPath,
    m: Option<&str>,
    required: bool,
) -> Option<RouteMethod> {
    let Some(m) = m else {
        if required {
            f.error(ppath, "required field \"Method\" is missing")
                .at_key();
        }
        return None;
    };
    let up = m.to_ascii_uppercase();
    if up == "ANY" || up == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
        return Some(RouteMethod::Any);
    }
    if METHODS.contains(&up.as_str()) {
        return Some(RouteMethod::Method(up));
    }
    let hint = did_you_mean(&up, METHODS.iter().copied()).map_or_else(
        || format!("one of: {}", METHODS.join(", ")),
        |c| format!("did you mean \"{}\"?", c.to_ascii_lowercase()),
    );
    f.error(
        &ppath.field("Method"),
        format!("unsupported method \"{m}\""),
    )
    .hint(hint);
    None
}

/// The logical id of the API an event names (`RestApiId`/`ApiId`), or `None` for the
/// implicit one.
fn api_ref(
    f: &mut Findings,
    path: &FieldPath,
    v: Option<&Text>,
    infos: &BTreeMap<String, ResInfo>,
    kind: &str,
) -> Option<String> {
    let v = match v {
        None => return None,
        Some(Text(Ok(v))) => v,
        Some(Text(Err(got))) => {
            f.error(
                path,
                format!("expected a reference to an {kind}, got {got}"),
            );
            return None;
        }
    };
    let found = infos
        .iter()
        .find(|(id, i)| (i.ref_value == *v || *id == v) && i.kind == kind)
        .map(|(id, _)| id.clone());
    if found.is_none() {
        f.error(path, format!("\"{v}\" is not an {kind} of this template"))
            .hint(format!("use !Ref to an {kind} resource"));
    }
    found
}

/// A warning text when the handler's module file is not in the code folder.
fn missing_handler_module(rt: Runtime, handler: &str, dir: &Path) -> Option<String> {
    match rt {
        Runtime::Node { .. } => {
            let module = handler.rsplit_once('.').map(|(m, _)| m)?;
            let found = ["js", "mjs", "cjs"]
                .iter()
                .any(|ext| dir.join(format!("{module}.{ext}")).is_file());
            (!found).then(|| {
                format!(
                    "handler module {module} (.js, .mjs or .cjs) not found in {}; invocations will fail with Runtime.ImportModuleError",
                    dir.display()
                )
            })
        }
        Runtime::Python { .. } => {
            let module = handler.rsplit_once('.').map(|(m, _)| m)?.replace('.', "/");
            let found = dir.join(format!("{module}.py")).is_file()
                || dir.join(&module).join("__init__.py").is_file();
            (!found).then(|| {
                format!(
                    "handler module {module}.py not found in {}; invocations will fail with Runtime.ImportModuleError",
                    dir.display()
                )
            })
        }
        Runtime::Ruby { .. } => {
            let file = handler.split_once('.').map(|(f, _)| f)?;
            (!dir.join(format!("{file}.rb")).is_file()).then(|| {
                format!(
                    "handler file {file}.rb not found in {}; invocations will fail with Init<LoadError>",
                    dir.display()
                )
            })
        }
        Runtime::Provided(_) => (!dir.join("bootstrap").is_file()).then(|| {
            format!(
                "no bootstrap executable in {}; a provided runtime starts <code>/bootstrap",
                dir.display()
            )
        }),
    }
}
