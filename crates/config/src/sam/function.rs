//! `AWS::Serverless::Function` and `AWS::Serverless::LayerVersion`: a function's code,
//! runtime, handler, environment, policies, events (API routes, streams, bucket and
//! scheduled events), asynchronous invoke configuration, URL and layers, read into a
//! [`FunctionSpec`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::de::decode_at;
use crate::diag::{Findings, did_you_mean};
use crate::node::Node;
use crate::path::FieldPath;

use super::intrinsic::ResInfo;
use super::raw::{self, Text};
use super::unapplied;
use super::{
    ApiKind, ApiRoute, Code, Compiler, EventInvokeConfig, FunctionSpec, IMPLICIT_HTTP_API,
    IMPLICIT_REST_API, MAX_LAYERS, Origin, PayloadFormat, PendingRoute, Platform, RESERVED_ENV,
    Res, RouteMethod, Runtime, StreamEvent, build, dockerfile, empty_map, int_in,
};

impl Compiler<'_> {
    #[allow(clippy::too_many_lines)]
    pub(super) fn function(
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

        let (routes, stream_events) = match &p.events {
            Some(events) => self.events(r, &name, events, props, &pp, infos, f),
            None => (Vec::new(), Vec::new()),
        };
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

    /// A function's `Events`: API routes (attached to their APIs later), DynamoDB stream
    /// mappings, and bucket notifications (kept on the compiler until the buckets are read);
    /// other event types are warnings that they are not delivered.
    #[allow(clippy::too_many_arguments)]
    fn events(
        &mut self,
        r: &Res<'_>,
        name: &str,
        events: &BTreeMap<String, raw::EventRaw>,
        props: &Node,
        pp: &FieldPath,
        infos: &BTreeMap<String, ResInfo>,
        f: &mut Findings,
    ) -> (Vec<PendingRoute>, Vec<StreamEvent>) {
        let mut routes = Vec::new();
        let mut stream_events = Vec::new();
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
                    let Some(a) = decode_at::<raw::HttpApiEventProps>(&eprops, &ppath, f) else {
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
                    let Some(d) = decode_at::<raw::DynamoDbEventProps>(&eprops, &ppath, f) else {
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
                    if let Some(e) = self.s3_event(&r.id, name, ename, &d, tagged, &ppath, infos, f)
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
        (routes, stream_events)
    }

    /// Checks an `AWS::Serverless::LayerVersion` (its folder is read in a first pass).
    pub(super) fn layer_version(&mut self, props: &Node, f: &mut Findings) {
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
