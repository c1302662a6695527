//! Azure Functions apps: a folder with `host.json`, `local.settings.json` and one folder per
//! function holding its `function.json`, or the layout of an image built on Azure's base images
//! (`FROM mcr.microsoft.com/azure-functions/node:4`, `COPY . /home/site/wwwroot`), where the
//! Dockerfile says the runtime and where the app is.
//!
//! Validation follows the Functions host: a function needs exactly one trigger, every binding a
//! `type`, a `direction` and a valid `name`; an `httpTrigger`'s `authLevel`, `methods` and
//! `route` (ASP.NET's template syntax, [`route`]) are checked. Binding types the host knows but
//! Meridian does not serve are warnings naming the line; unknown ones are errors with a hint.

pub mod blob;
pub mod route;
pub mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::diag::{Diagnostic, Findings, Severity, did_you_mean};
use crate::load::{LoadOptions, read_text};
use crate::node::{Node, Span, Value, parse_stream};
use crate::path::FieldPath;
use crate::sam::Origin;

pub use blob::{BlobPath, BlobPathError};
pub use route::{RouteError, RouteTemplate};
pub use schedule::Schedule;

/// Where Azure's base images keep the app (`AzureWebJobsScriptRoot`).
pub const SCRIPT_ROOT: &str = "/home/site/wwwroot";

/// The Functions host's default `functionTimeout` (the Consumption plan's: 5 minutes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A function app, validated.
#[derive(Debug, Clone)]
pub struct FunctionApp {
    /// The app's name: its folder's name.
    pub name: String,
    /// The script root: the folder holding `host.json` and the function folders.
    pub root: PathBuf,
    /// The language worker.
    pub worker: Worker,
    /// `host.json`.
    pub host: HostSettings,
    /// App settings (`local.settings.json` `Values`, the image's `ENV`), in the environment of
    /// the worker.
    pub settings: BTreeMap<String, String>,
    /// The functions declared by `function.json` files. Apps of the code-first models (Node
    /// v4, Python v2) declare theirs in code: the worker reports them when it starts.
    pub functions: Vec<FunctionDef>,
    /// Packages to install before the first start (`package.json` beside the app, or a
    /// Dockerfile's `RUN npm install`).
    pub install_packages: bool,
    /// Where the app was found (`host.json` or the Dockerfile).
    pub origin: Origin,
}

/// The language worker of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// Node.js (`FUNCTIONS_WORKER_RUNTIME=node`); the major version when the image names one.
    Node {
        /// `node:4-node20` → 20.
        major: Option<u8>,
    },
    /// Python (`FUNCTIONS_WORKER_RUNTIME=python`).
    Python {
        /// `python:4-python3.11` → 11.
        minor: Option<u8>,
    },
    /// A custom handler (`FUNCTIONS_WORKER_RUNTIME=custom`, `host.json` `customHandler`).
    Custom,
}

impl Worker {
    /// Its `FUNCTIONS_WORKER_RUNTIME` value: `node`, `python` or `custom`.
    pub fn runtime(self) -> &'static str {
        match self {
            Worker::Node { .. } => "node",
            Worker::Python { .. } => "python",
            Worker::Custom => "custom",
        }
    }
}

impl std::fmt::Display for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Worker::Node { major: Some(m) } => write!(f, "node{m}"),
            Worker::Node { major: None } => f.write_str("node"),
            Worker::Python { minor: Some(m) } => write!(f, "python3.{m}"),
            Worker::Python { minor: None } => f.write_str("python"),
            Worker::Custom => f.write_str("custom"),
        }
    }
}

/// What `host.json` sets.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// `extensions.http.routePrefix` (`api` by default; empty for none).
    pub route_prefix: String,
    /// `functionTimeout`.
    pub function_timeout: Duration,
    /// `extensions.http.maxConcurrentRequests`: invocations at once across the app.
    pub max_concurrent_requests: Option<u32>,
    /// `customHandler`.
    pub custom_handler: Option<CustomHandler>,
    /// `functions`: the only functions the host loads, when set.
    pub functions: Option<Vec<String>>,
}

impl Default for HostSettings {
    fn default() -> Self {
        Self {
            route_prefix: "api".into(),
            function_timeout: DEFAULT_TIMEOUT,
            max_concurrent_requests: None,
            custom_handler: None,
            functions: None,
        }
    }
}

/// `host.json` `customHandler`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomHandler {
    /// `description.defaultExecutablePath`, relative to the working directory.
    pub executable: String,
    /// `description.arguments`.
    pub arguments: Vec<String>,
    /// `description.workingDirectory`, relative to the script root (the root by default).
    pub working_directory: PathBuf,
    /// `enableProxyingHttpRequest` (or its older name `enableForwardingHttpRequest`): HTTP
    /// functions get the request itself rather than the JSON envelope.
    pub proxy_http: bool,
}

/// One function of an app.
#[derive(Debug, Clone)]
pub struct FunctionDef {
    /// Its name (its folder's name).
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// `scriptFile`, resolved against the function's folder.
    pub script_file: Option<PathBuf>,
    /// `entryPoint`.
    pub entry_point: Option<String>,
    /// `disabled`.
    pub disabled: bool,
    /// The trigger.
    pub trigger: Trigger,
    /// The other bindings, in order.
    pub bindings: Vec<Binding>,
    /// Where it was declared (`function.json`).
    pub origin: Origin,
}

/// A function's trigger.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// `httpTrigger`.
    Http(HttpTrigger),
    /// `timerTrigger`.
    Timer(TimerTrigger),
    /// `blobTrigger`: objects written to a bucket of Meridian's storage.
    Blob(BlobTrigger),
    /// A trigger Meridian does not run (reported as a warning); the function is served by the
    /// admin API only.
    Other {
        /// The binding type.
        kind: String,
        /// The binding's name.
        name: String,
    },
}

/// An `httpTrigger` binding.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The binding's name (`req`).
    pub name: String,
    /// `authLevel`.
    pub auth_level: AuthLevel,
    /// `methods`, upper-case; empty means every method.
    pub methods: Vec<String>,
    /// `route`; the function's name when absent.
    pub route: Option<RouteTemplate>,
}

/// A `timerTrigger` binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerTrigger {
    /// The binding's name.
    pub name: String,
    /// `schedule` (NCRONTAB with seconds, or a TimeSpan), as written.
    pub schedule: String,
    /// `runOnStartup`.
    pub run_on_startup: bool,
    /// `useMonitor` (true by default for schedules of a minute or more).
    pub use_monitor: Option<bool>,
}

/// A `blobTrigger` binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobTrigger {
    /// The binding's name (`myBlob`).
    pub name: String,
    /// `path`: the container (a bucket) and the blob name pattern.
    pub path: BlobPath,
    /// `dataType` (`binary`, `string`, `stream`), as written.
    pub data_type: Option<String>,
}

/// Who may call an HTTP function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthLevel {
    /// No key.
    Anonymous,
    /// A function key of this function, or a host key, or the master key.
    Function,
    /// The master key.
    Admin,
}

/// A binding other than the trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// `name` (`res`, `$return`).
    pub name: String,
    /// `type` (`http`, `blob`, ...).
    pub kind: String,
    /// `direction`.
    pub direction: Direction,
    /// `path` of a `blob` binding.
    pub path: Option<BlobPath>,
    /// `dataType` (`binary`, `string`, `stream`), as written.
    pub data_type: Option<String>,
}

/// A binding's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `in`.
    In,
    /// `out`.
    Out,
    /// `inout`.
    InOut,
}

/// An app, loaded: the app when valid enough to describe, and every problem found.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The app's root folder.
    pub root: PathBuf,
    /// The app; present even with errors when the files could be read.
    pub app: Option<FunctionApp>,
    /// Errors and warnings, per file in order.
    pub diagnostics: Vec<Diagnostic>,
    /// The files read (configuration inputs).
    pub inputs: Vec<PathBuf>,
}

impl Loaded {
    /// The app, when it has no errors.
    pub fn valid(&self) -> Option<&FunctionApp> {
        self.app
            .as_ref()
            .filter(|_| !self.diagnostics.iter().any(Diagnostic::is_error))
    }
}

/// Binding types the Functions host and its extension bundles know, triggers first. Only
/// `httpTrigger`, `http`, `timerTrigger`, `blobTrigger` and `blob` are served.
const TRIGGERS: &[&str] = &[
    "httpTrigger",
    "timerTrigger",
    "blobTrigger",
    "queueTrigger",
    "serviceBusTrigger",
    "eventHubTrigger",
    "eventGridTrigger",
    "cosmosDBTrigger",
    "kafkaTrigger",
    "rabbitMQTrigger",
    "signalRTrigger",
    "sqlTrigger",
    "daprBindingTrigger",
    "daprServiceInvocationTrigger",
    "daprTopicTrigger",
    "orchestrationTrigger",
    "activityTrigger",
    "entityTrigger",
    "redisPubSubTrigger",
    "redisListTrigger",
    "redisStreamTrigger",
    "webPubSubTrigger",
    "mysqlTrigger",
];

const OTHER_BINDINGS: &[&str] = &[
    "http",
    "blob",
    "queue",
    "table",
    "serviceBus",
    "eventHub",
    "eventGrid",
    "cosmosDB",
    "signalR",
    "signalRConnectionInfo",
    "sendGrid",
    "twilioSms",
    "notificationHub",
    "kafka",
    "rabbitMQ",
    "sql",
    "durableClient",
    "orchestrationClient",
    "daprState",
    "daprInvoke",
    "daprPublish",
    "daprBinding",
    "daprSecret",
    "webPubSub",
    "webPubSubConnection",
    "mysql",
    "redis",
];

const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// True when `dir` is the root of a function app: it holds `host.json`, or a Dockerfile built
/// on Azure Functions' base images.
pub fn is_app_root(dir: &Path) -> bool {
    dir.join("host.json").is_file() || azure_dockerfile(dir).is_some()
}

fn azure_dockerfile(dir: &Path) -> Option<PathBuf> {
    let file = dir.join("Dockerfile");
    let text = std::fs::read_to_string(&file).ok()?;
    text.lines()
        .map(str::trim)
        .filter(|l| l.get(..5).is_some_and(|k| k.eq_ignore_ascii_case("FROM ")))
        .any(|l| l.contains("mcr.microsoft.com/azure-functions/"))
        .then_some(file)
}

/// Loads the app rooted at `dir` (see [`is_app_root`]).
pub fn load_app(dir: &Path) -> Loaded {
    let mut out = Loaded {
        root: dir.to_path_buf(),
        app: None,
        diagnostics: Vec::new(),
        inputs: Vec::new(),
    };
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let mut worker = None;
    let mut settings = BTreeMap::new();
    let mut install_packages = dir.join("package.json").is_file();
    let mut root = dir.to_path_buf();
    let mut origin = None;

    // The image's Dockerfile: the runtime, ENV, where the app is copied, npm install.
    if let Some(file) = azure_dockerfile(dir) {
        out.inputs.push(file.clone());
        match read_text(&file) {
            Ok(text) => {
                let recipe = read_dockerfile(&file, &text, &mut out.diagnostics);
                worker = recipe.worker;
                settings.extend(recipe.env);
                install_packages |= recipe.npm_install;
                if let Some(src) = recipe.app_source {
                    // `COPY . /home/site/wwwroot`: the build context itself.
                    for c in src.components() {
                        if let std::path::Component::Normal(n) = c {
                            root.push(n);
                        }
                    }
                }
                origin = Some(Origin {
                    file: Arc::from(file.as_path()),
                    span: recipe.from_span,
                });
            }
            Err(d) => out.diagnostics.push(d),
        }
    }

    let host_file = root.join("host.json");
    let mut host = HostSettings::default();
    if host_file.is_file() {
        out.inputs.push(host_file.clone());
        if let Some((root_node, mut f)) = parse_json(&host_file, &mut out.diagnostics) {
            host = read_host(&root_node, &mut f);
            out.diagnostics
                .extend(f.locate(&Arc::from(host_file.as_path()), &root_node, None));
            origin = Some(Origin {
                file: Arc::from(host_file.as_path()),
                span: root_node.span,
            });
        }
    } else if origin.is_none() {
        out.diagnostics.push(diag(
            Severity::Error,
            &host_file,
            Span::default(),
            "a function app needs a host.json (version 2.0)".into(),
        ));
    }

    let settings_file = root.join("local.settings.json");
    if settings_file.is_file() {
        out.inputs.push(settings_file.clone());
        if let Some((node, mut f)) = parse_json(&settings_file, &mut out.diagnostics) {
            read_settings(&node, &mut f, &mut settings);
            out.diagnostics
                .extend(f.locate(&Arc::from(settings_file.as_path()), &node, None));
        }
    }
    if let Some(rt) = settings.get("FUNCTIONS_WORKER_RUNTIME") {
        match rt.to_ascii_lowercase().as_str() {
            "node" => {
                if !matches!(worker, Some(Worker::Node { .. })) {
                    worker = Some(Worker::Node { major: None });
                }
            }
            "python" => {
                if !matches!(worker, Some(Worker::Python { .. })) {
                    worker = Some(Worker::Python { minor: None });
                }
            }
            "custom" => worker = Some(Worker::Custom),
            other => out.diagnostics.push(diag(
                Severity::Error,
                &settings_file,
                Span::new(1, 1),
                format!(
                    "FUNCTIONS_WORKER_RUNTIME \"{other}\" is not a language Meridian runs; use node, python or custom"
                ),
            )),
        }
    }
    if host.custom_handler.is_some() {
        worker = Some(Worker::Custom);
    }

    // Function folders.
    let mut functions = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("function.json").is_file())
        .collect();
    dirs.sort();
    for fdir in dirs {
        let file = fdir.join("function.json");
        out.inputs.push(file.clone());
        let Some((node, mut f)) = parse_json(&file, &mut out.diagnostics) else {
            continue;
        };
        let fname = fdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let def = read_function(&fname, &fdir, &file, &node, &mut f);
        out.diagnostics
            .extend(f.locate(&Arc::from(file.as_path()), &node, Some(&fname)));
        if let Some(d) = def {
            functions.push(d);
        }
    }

    if let Some(only) = &host.functions {
        functions.retain(|d| only.iter().any(|n| n.eq_ignore_ascii_case(&d.name)));
    }
    let worker = worker.unwrap_or_else(|| {
        if root.join("function_app.py").is_file() || root.join("requirements.txt").is_file() {
            Worker::Python { minor: None }
        } else {
            Worker::Node { major: None }
        }
    });
    let code_first = match worker {
        Worker::Node { .. } => root.join("package.json").is_file() && functions.is_empty(),
        Worker::Python { .. } => root.join("function_app.py").is_file(),
        Worker::Custom => false,
    };
    if functions.is_empty() && !code_first {
        out.diagnostics.push(diag(
            Severity::Warning,
            origin.as_ref().map_or(&host_file, |o| o.file.as_ref()),
            origin.as_ref().map_or(Span::default(), |o| o.span),
            "the function app has no functions (no folder with a function.json, no package.json main or function_app.py)".into(),
        ));
    }
    // Two functions on one route and method: the host refuses to start.
    let mut seen: BTreeMap<String, &FunctionDef> = BTreeMap::new();
    for f in &functions {
        if let Trigger::Http(h) = &f.trigger
            && !f.disabled
        {
            let route = h.route.as_ref().map_or_else(
                || f.name.to_ascii_lowercase(),
                |r| r.as_str().trim_matches('/').to_ascii_lowercase(),
            );
            let methods = if h.methods.is_empty() {
                vec!["*".to_owned()]
            } else {
                h.methods.clone()
            };
            for m in methods {
                let key = format!("{m} {route}");
                if let Some(other) = seen.get(&key) {
                    out.diagnostics.push(diag(
                        Severity::Error,
                        &f.origin.file,
                        f.origin.span,
                        format!(
                            "function '{}' and function '{}' have the same route and method ({key}); the host cannot tell them apart",
                            other.name, f.name
                        ),
                    ));
                } else {
                    seen.insert(key, f);
                }
            }
        }
    }
    out.app = Some(FunctionApp {
        name,
        root,
        worker,
        host,
        settings,
        functions,
        install_packages,
        origin: origin.unwrap_or(Origin {
            file: Arc::from(host_file.as_path()),
            span: Span::default(),
        }),
    });
    out
}

fn diag(severity: Severity, file: &Path, span: Span, message: String) -> Diagnostic {
    Diagnostic {
        severity,
        file: Arc::from(file),
        span,
        resource: None,
        field: FieldPath::root(),
        message,
        hint: None,
        code: None,
    }
}

fn parse_json(file: &Path, diags: &mut Vec<Diagnostic>) -> Option<(Node, Findings)> {
    let text = match read_text(file) {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    match parse_stream(&text, LoadOptions::default().limits) {
        Ok(docs) => match docs.into_iter().find_map(|d| d.root) {
            Some(root) if root.as_map().is_some() => Some((root, Findings::new())),
            Some(root) => {
                diags.push(diag(
                    Severity::Error,
                    file,
                    root.span,
                    format!("expected a JSON object, found {}", root.kind_name()),
                ));
                None
            }
            None => {
                diags.push(diag(
                    Severity::Error,
                    file,
                    Span::new(1, 1),
                    "the file is empty; expected a JSON object".into(),
                ));
                None
            }
        },
        Err(e) => {
            diags.push(diag(Severity::Error, file, e.span, e.message));
            None
        }
    }
}

fn str_of<'a>(node: &'a Node, key: &str, at: &FieldPath, f: &mut Findings) -> Option<&'a str> {
    let v = node.get(key)?;
    match v.as_str() {
        Some(s) => Some(s),
        None => {
            f.error(
                &at.field(key.to_owned()),
                format!("expected a string, found {}", v.kind_name()),
            );
            None
        }
    }
}

fn bool_of(node: &Node, key: &str, at: &FieldPath, f: &mut Findings) -> Option<bool> {
    let v = node.get(key)?;
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => {
            f.error(
                &at.field(key.to_owned()),
                format!("expected true or false, found {}", v.kind_name()),
            );
            None
        }
    }
}

fn warn_unknown(node: &Node, known: &[&str], at: &FieldPath, f: &mut Findings, what: &str) {
    for e in node.as_map().unwrap_or_default() {
        let Some(k) = e.key.as_str() else { continue };
        if !known.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            let w = f.warn(
                &at.field(k.to_owned()),
                format!("unknown field '{k}' in {what}; it is ignored"),
            );
            w.at_key();
            if let Some(s) = did_you_mean(k, known.iter().copied()) {
                w.hint(format!("did you mean '{s}'?"));
            }
        }
    }
}

/// `hh:mm:ss` (TimeSpan, with optional days `d.hh:mm:ss` and fractions), as `functionTimeout`.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if r.contains(':') && !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, s),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, sec] = parts.as_slice() else {
        return None;
    };
    let h: u64 = h.parse().ok()?;
    let m: u64 = m.parse().ok()?;
    let sec: f64 = sec.parse().ok()?;
    if m >= 60 || !(0.0..60.0).contains(&sec) || h >= 24 && days > 0 {
        return None;
    }
    Some(Duration::from_secs(days * 86_400 + h * 3600 + m * 60) + Duration::from_secs_f64(sec))
}

fn read_host(root: &Node, f: &mut Findings) -> HostSettings {
    let at = FieldPath::root();
    let mut h = HostSettings::default();
    warn_unknown(
        root,
        &[
            "version",
            "functionTimeout",
            "extensions",
            "extensionBundle",
            "logging",
            "customHandler",
            "aggregator",
            "concurrency",
            "functions",
            "healthMonitor",
            "managedDependency",
            "retry",
            "singleton",
            "watchDirectories",
            "watchFiles",
            "languageWorkers",
        ],
        &at,
        f,
        "host.json",
    );
    for (key, why) in [
        (
            "logging",
            "Meridian writes every level to the app's function.log",
        ),
        ("retry", "a failed invocation is not run again"),
        ("singleton", "invocations are not serialised by a lock"),
        (
            "concurrency",
            "dynamic concurrency is not applied; maxConcurrentRequests bounds instances",
        ),
        (
            "aggregator",
            "there is no Application Insights to aggregate for",
        ),
        (
            "healthMonitor",
            "the worker pool restarts crashed workers itself",
        ),
        ("managedDependency", "PowerShell apps are not run"),
        ("languageWorkers", "Meridian runs its own workers"),
        (
            "watchDirectories",
            "the app is reloaded when its configuration files change",
        ),
        (
            "watchFiles",
            "the app is reloaded when its configuration files change",
        ),
    ] {
        unserved(root, key, &at, f, why);
    }
    if let Some(list) = root.get("functions") {
        match list.as_seq() {
            Some(items) => {
                h.functions = Some(
                    items
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect(),
                );
            }
            None => {
                f.error(
                    &at.field("functions"),
                    "'functions' must be an array of function names",
                );
            }
        }
    }
    match str_of(root, "version", &at, f) {
        Some("2.0") => {}
        Some(v) => {
            f.error(
                &at.field("version"),
                format!("host.json version \"{v}\" is not supported; the Functions host v4 reads version \"2.0\""),
            );
        }
        None if root.get("version").is_none() => {
            f.error(
                &at,
                "the host.json file is missing the required 'version' property; add \"version\": \"2.0\"",
            );
        }
        None => {}
    }
    if let Some(t) = str_of(root, "functionTimeout", &at, f) {
        match parse_timespan(t) {
            Some(d) if d.is_zero() => {
                f.error(
                    &at.field("functionTimeout"),
                    "functionTimeout must be greater than zero",
                );
            }
            Some(d) => h.function_timeout = d,
            None if t.trim() == "-1" => h.function_timeout = Duration::MAX,
            None => {
                f.error(
                    &at.field("functionTimeout"),
                    format!("functionTimeout \"{t}\" is not a TimeSpan (hh:mm:ss)"),
                );
            }
        }
    }
    for e in root
        .get("extensions")
        .and_then(Node::as_map)
        .unwrap_or_default()
    {
        if let Some(k) = e.key.as_str().filter(|k| *k != "http") {
            let why = format!("the {k} extension's bindings are not run");
            unserved(
                root.get("extensions").unwrap_or(root),
                k,
                &at.field("extensions"),
                f,
                &why,
            );
        }
    }
    if let Some(http) = root.get("extensions").and_then(|e| e.get("http")) {
        let at = at.field("extensions").field("http");
        for e in http.as_map().unwrap_or_default() {
            if let Some(k) = e
                .key
                .as_str()
                .filter(|k| !matches!(*k, "routePrefix" | "maxConcurrentRequests"))
            {
                unserved(
                    http,
                    k,
                    &at,
                    f,
                    "Meridian's gateway applies its own limits and headers",
                );
            }
        }
        if let Some(p) = str_of(http, "routePrefix", &at, f) {
            h.route_prefix = p.trim_matches('/').to_owned();
        }
        if let Some(v) = http.get("maxConcurrentRequests") {
            match v.as_str().and_then(|s| s.parse::<i64>().ok()) {
                Some(n) if n > 0 => h.max_concurrent_requests = u32::try_from(n).ok(),
                Some(_) => {} // -1: unbounded
                None => {
                    f.error(
                        &at.field("maxConcurrentRequests"),
                        "maxConcurrentRequests must be an integer",
                    );
                }
            }
        }
    }
    if let Some(ch) = root.get("customHandler") {
        let at = at.field("customHandler");
        let desc = ch.get("description");
        let dat = at.field("description");
        let exe = desc.and_then(|d| str_of(d, "defaultExecutablePath", &dat, f));
        match exe {
            Some(exe) if !exe.trim().is_empty() => {
                let arguments = desc
                    .and_then(|d| d.get("arguments"))
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect();
                let wd = desc
                    .and_then(|d| str_of(d, "workingDirectory", &dat, f))
                    .map(PathBuf::from)
                    .unwrap_or_default();
                let proxy_http = bool_of(ch, "enableProxyingHttpRequest", &at, f)
                    .or_else(|| bool_of(ch, "enableForwardingHttpRequest", &at, f))
                    .unwrap_or(false);
                h.custom_handler = Some(CustomHandler {
                    executable: exe.to_owned(),
                    arguments,
                    working_directory: wd,
                    proxy_http,
                });
            }
            _ => {
                f.error(
                    &dat.field("defaultExecutablePath"),
                    "customHandler.description.defaultExecutablePath is required",
                );
            }
        }
    }
    h
}

/// Warns that `key` of `node`, when present, is accepted but not served, and why.
fn unserved(node: &Node, key: &str, at: &FieldPath, f: &mut Findings, why: &str) {
    if node.get(key).is_some() {
        f.warn(
            &at.field(key.to_owned()),
            format!("'{key}' is not served: {why}"),
        )
        .at_key();
    }
}

fn read_settings(root: &Node, f: &mut Findings, out: &mut BTreeMap<String, String>) {
    let at = FieldPath::root();
    unserved(
        root,
        "Host",
        &at,
        f,
        "the app listens on Gateway port 7071 (--gateway-port 7071=PORT), with the gateway's own CORS",
    );
    unserved(
        root,
        "ConnectionStrings",
        &at,
        f,
        "no binding of Meridian reads them",
    );
    if bool_of(root, "IsEncrypted", &at, f) == Some(true) {
        f.error(
            &at.field("IsEncrypted"),
            "local.settings.json is encrypted (IsEncrypted: true); decrypt it with `func settings decrypt`",
        );
        return;
    }
    let Some(values) = root.get("Values") else {
        return;
    };
    let Some(map) = values.as_map() else {
        f.error(&at.field("Values"), "Values must be an object of strings");
        return;
    };
    for e in map {
        let Some(k) = e.key.as_str() else { continue };
        match &e.value.value {
            Value::Scalar(s, _) => {
                out.insert(k.to_owned(), s.clone());
            }
            _ => {
                f.error(
                    &at.field("Values").key(k.to_owned()),
                    format!("the app setting '{k}' must be a string"),
                );
            }
        }
    }
}

fn is_binding_name(n: &str) -> bool {
    n == "$return"
        || (n.len() <= 128
            && n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && n.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn read_function(
    name: &str,
    dir: &Path,
    file: &Path,
    root: &Node,
    f: &mut Findings,
) -> Option<FunctionDef> {
    let at = FieldPath::root();
    warn_unknown(
        root,
        &[
            "bindings",
            "disabled",
            "scriptFile",
            "entryPoint",
            "excluded",
            "retry",
            "generatedBy",
            "configurationSource",
            "language",
            "functionDirectory",
            "name",
        ],
        &at,
        f,
        "function.json",
    );
    // `excluded` functions are not loaded at all; Meridian serves neither kind.
    let disabled = bool_of(root, "disabled", &at, f).unwrap_or(false)
        || bool_of(root, "excluded", &at, f).unwrap_or(false);
    unserved(
        root,
        "retry",
        &at,
        f,
        "a failed invocation is not run again",
    );
    let script_file = str_of(root, "scriptFile", &at, f).map(|s| dir.join(s));
    if let Some(s) = &script_file
        && !s.is_file()
    {
        f.error(
            &at.field("scriptFile"),
            format!("the scriptFile {} does not exist", s.display()),
        );
    }
    let entry_point = str_of(root, "entryPoint", &at, f).map(str::to_owned);
    let Some(bindings) = root.get("bindings") else {
        f.error(
            &at,
            "function.json has no 'bindings'; a function needs a trigger binding",
        );
        return None;
    };
    let Some(items) = bindings.as_seq() else {
        f.error(&at.field("bindings"), "'bindings' must be an array");
        return None;
    };
    let mut trigger: Option<Trigger> = None;
    let mut others = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let known: Vec<&str> = TRIGGERS.iter().chain(OTHER_BINDINGS).copied().collect();
    for (i, b) in items.iter().enumerate() {
        let bat = at.field("bindings").index(i);
        if b.as_map().is_none() {
            f.error(
                &bat,
                format!("a binding must be an object, found {}", b.kind_name()),
            );
            continue;
        }
        let kind = str_of(b, "type", &bat, f);
        let direction = str_of(b, "direction", &bat, f);
        let bname = str_of(b, "name", &bat, f);
        let Some(kind) = kind else {
            if b.get("type").is_none() {
                f.error(&bat, "the binding has no 'type'");
            }
            continue;
        };
        let direction = match direction.map(str::to_ascii_lowercase).as_deref() {
            Some("in") => Direction::In,
            Some("out") => Direction::Out,
            Some("inout") => Direction::InOut,
            Some(other) => {
                f.error(
                    &bat.field("direction"),
                    format!("the binding direction '{other}' is invalid; use in, out or inout"),
                );
                continue;
            }
            None => {
                if b.get("direction").is_none() {
                    f.error(&bat, format!("the '{kind}' binding has no 'direction'"));
                }
                continue;
            }
        };
        let bname = match bname {
            Some(n) if is_binding_name(n) => n.to_owned(),
            Some(n) => {
                f.error(
                    &bat.field("name"),
                    format!("the binding name '{n}' is invalid; a name starts with a letter and has only letters and digits, or is '$return'"),
                );
                continue;
            }
            None => {
                if b.get("name").is_none() {
                    f.error(&bat, format!("the '{kind}' binding has no 'name'"));
                }
                continue;
            }
        };
        if names.iter().any(|n| n.eq_ignore_ascii_case(&bname)) {
            f.error(
                &bat.field("name"),
                format!(
                    "multiple bindings with name '{bname}' discovered; binding names must be unique"
                ),
            );
            continue;
        }
        names.push(bname.clone());
        let Some(canonical) = known.iter().find(|k| k.eq_ignore_ascii_case(kind)).copied() else {
            let e = f.error(
                &bat.field("type"),
                format!("the binding type '{kind}' is not registered; it is not a binding the Functions host or its extension bundle knows"),
            );
            if let Some(s) = did_you_mean(kind, known.iter().copied()) {
                e.hint(format!("did you mean '{s}'?"));
            }
            continue;
        };
        let is_trigger = TRIGGERS.contains(&canonical);
        if is_trigger {
            if direction != Direction::In {
                f.error(
                    &bat.field("direction"),
                    format!("the trigger '{canonical}' must have direction 'in'"),
                );
                continue;
            }
            if trigger.is_some() {
                f.error(
                    &bat,
                    "multiple trigger bindings defined; a function can only have a single trigger binding",
                );
                continue;
            }
            trigger = Some(match canonical {
                "httpTrigger" => Trigger::Http(read_http_trigger(b, &bat, bname, f)),
                "timerTrigger" => {
                    let schedule = str_of(b, "schedule", &bat, f)
                        .unwrap_or_default()
                        .to_owned();
                    if schedule.is_empty() && b.get("schedule").is_none() {
                        f.error(&bat, "the timerTrigger binding has no 'schedule'");
                    } else if !(schedule.starts_with('%') && schedule.ends_with('%'))
                        && let Err(e) = Schedule::parse(&schedule)
                    {
                        f.error(
                            &bat.field("schedule"),
                            format!("the schedule '{schedule}' is invalid: {e}"),
                        );
                    }
                    Trigger::Timer(TimerTrigger {
                        name: bname,
                        schedule,
                        run_on_startup: bool_of(b, "runOnStartup", &bat, f).unwrap_or(false),
                        use_monitor: bool_of(b, "useMonitor", &bat, f),
                    })
                }
                "blobTrigger" => match read_blob_path(b, &bat, true, f) {
                    Some(path) => Trigger::Blob(BlobTrigger {
                        name: bname,
                        path,
                        data_type: str_of(b, "dataType", &bat, f).map(str::to_owned),
                    }),
                    None => continue,
                },
                other => {
                    f.warn(
                        &bat.field("type"),
                        format!("'{other}' triggers are not served: function '{name}' runs only when invoked through the admin API (POST /admin/functions/{name})"),
                    );
                    Trigger::Other {
                        kind: other.to_owned(),
                        name: bname,
                    }
                }
            });
        } else {
            let path = if canonical == "blob" {
                match read_blob_path(b, &bat, false, f) {
                    Some(p) => Some(p),
                    None => continue,
                }
            } else {
                None
            };
            if canonical != "http" && canonical != "blob" {
                f.warn(
                    &bat.field("type"),
                    format!("'{canonical}' bindings are not served: the '{bname}' {} binding of function '{name}' is neither read nor written", if direction == Direction::Out { "output" } else { "input" }),
                );
            }
            if canonical == "blob" && direction == Direction::InOut {
                f.error(
                    &bat.field("direction"),
                    "a 'blob' binding is 'in' or 'out'; 'inout' is for the C# model's streams",
                );
                continue;
            }
            others.push(Binding {
                name: bname,
                kind: canonical.to_owned(),
                direction,
                path,
                data_type: str_of(b, "dataType", &bat, f).map(str::to_owned),
            });
        }
    }
    let Some(trigger) = trigger else {
        f.error(
            &at.field("bindings"),
            "no trigger binding specified; a function must have a trigger input binding",
        );
        return None;
    };
    if matches!(trigger, Trigger::Http(_))
        && !others
            .iter()
            .any(|b| b.kind == "http" && b.direction == Direction::Out)
        && !others.iter().any(|b| b.name == "$return")
    {
        f.warn(
            &at.field("bindings"),
            "the httpTrigger function has no 'http' output binding; its callers get an empty 200 response",
        );
    }
    Some(FunctionDef {
        name: name.to_owned(),
        dir: dir.to_path_buf(),
        script_file,
        entry_point,
        disabled,
        trigger,
        bindings: others,
        origin: Origin {
            file: Arc::from(file),
            span: root.span,
        },
    })
}

/// A `blobTrigger`'s or `blob` binding's `path`, checked; errors point at it.
fn read_blob_path(b: &Node, at: &FieldPath, trigger: bool, f: &mut Findings) -> Option<BlobPath> {
    let kind = if trigger { "blobTrigger" } else { "blob" };
    let Some(text) = str_of(b, "path", at, f) else {
        if b.get("path").is_none() {
            f.error(
                at,
                format!("the '{kind}' binding has no 'path' ('container/blob')"),
            );
        }
        return None;
    };
    let parsed = if trigger {
        BlobPath::parse_trigger(text)
    } else {
        BlobPath::parse(text)
    };
    match parsed {
        Ok(p) => Some(p),
        Err(e) => {
            f.error(&at.field("path"), e.to_string());
            None
        }
    }
}

fn read_http_trigger(b: &Node, at: &FieldPath, name: String, f: &mut Findings) -> HttpTrigger {
    let auth_level = match str_of(b, "authLevel", at, f)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("function") => AuthLevel::Function,
        Some("anonymous") => AuthLevel::Anonymous,
        Some("admin" | "system") => AuthLevel::Admin,
        Some("user") => {
            f.warn(
                &at.field("authLevel"),
                "authLevel 'user' needs App Service authentication, which Meridian does not run; the function key is required instead",
            );
            AuthLevel::Function
        }
        Some(other) => {
            let e = f.error(
                &at.field("authLevel"),
                format!("the authLevel '{other}' is invalid; use anonymous, function or admin"),
            );
            if let Some(s) = did_you_mean(other, ["anonymous", "function", "admin"]) {
                e.hint(format!("did you mean '{s}'?"));
            }
            AuthLevel::Function
        }
    };
    let mut methods = Vec::new();
    if let Some(m) = b.get("methods") {
        match m.as_seq() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str().map(str::to_ascii_uppercase) {
                        Some(u) if HTTP_METHODS.contains(&u.as_str()) => methods.push(u),
                        Some(u) => {
                            f.error(
                                &at.field("methods").index(i),
                                format!("'{u}' is not an HTTP method"),
                            );
                        }
                        None => {
                            f.error(&at.field("methods").index(i), "a method must be a string");
                        }
                    }
                }
            }
            None => {
                f.error(
                    &at.field("methods"),
                    "'methods' must be an array of HTTP methods",
                );
            }
        }
    }
    let route = match str_of(b, "route", at, f) {
        Some(r) => match RouteTemplate::parse(r) {
            Ok(t) => Some(t),
            Err(e) => {
                f.error(
                    &at.field("route"),
                    format!("the route template '{r}' is invalid: {e}"),
                );
                None
            }
        },
        None => None,
    };
    HttpTrigger {
        name,
        auth_level,
        methods,
        route,
    }
}

/// What an Azure Functions Dockerfile says.
struct Recipe {
    worker: Option<Worker>,
    env: BTreeMap<String, String>,
    /// The build-context folder copied into the script root.
    app_source: Option<PathBuf>,
    npm_install: bool,
    from_span: Span,
}

fn read_dockerfile(file: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> Recipe {
    use crate::sam::dockerfile as df;
    let mut r = Recipe {
        worker: None,
        env: BTreeMap::new(),
        app_source: None,
        npm_install: false,
        from_span: Span::new(1, 1),
    };
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut script_root = SCRIPT_ROOT.to_owned();
    for ins in df::instructions(text) {
        let args = df::substitute(&ins.args, &vars);
        match ins.keyword.as_str() {
            "FROM" => {
                r.from_span = ins.span;
                let image = args
                    .split_whitespace()
                    .find(|w| !w.starts_with("--"))
                    .unwrap_or_default();
                let rest = image.strip_prefix("mcr.microsoft.com/azure-functions/");
                let (family, tag) = match rest.map(|r| r.split_once(':').unwrap_or((r, "4"))) {
                    Some(x) => x,
                    None => {
                        diags.push(diag(
                            Severity::Error,
                            file,
                            ins.args_span,
                            format!("base image \"{image}\" is not an Azure Functions base image (mcr.microsoft.com/azure-functions/<node|python|base>:4)"),
                        ));
                        continue;
                    }
                };
                let version = |lang: &str| {
                    tag.split_once(&format!("-{lang}"))
                        .map(|(_, v)| v.split('-').next().unwrap_or_default().to_owned())
                };
                r.worker = match family {
                    "node" => Some(Worker::Node {
                        major: version("node").and_then(|v| v.parse().ok()),
                    }),
                    "python" => Some(Worker::Python {
                        minor: version("python")
                            .and_then(|v| v.strip_prefix("3.").map(str::to_owned))
                            .and_then(|v| v.parse().ok()),
                    }),
                    "base" => Some(Worker::Custom),
                    other => {
                        diags.push(diag(
                            Severity::Error,
                            file,
                            ins.args_span,
                            format!("the {other} worker of Azure Functions is not run by Meridian; it runs node, python and custom handlers (mcr.microsoft.com/azure-functions/base)"),
                        ));
                        None
                    }
                };
                if !tag.starts_with('4') {
                    diags.push(diag(
                        Severity::Warning,
                        file,
                        ins.args_span,
                        format!("image tag \"{tag}\" is not Functions host 4.x; Meridian serves apps as host 4.x does"),
                    ));
                }
            }
            "ENV" => {
                for (k, v) in df::env_pairs(&ins.args) {
                    let v = df::substitute(&v, &vars);
                    vars.insert(k.clone(), v.clone());
                    if k == "AzureWebJobsScriptRoot" {
                        script_root = v.trim_end_matches('/').to_owned();
                    }
                    r.env.insert(k, v);
                }
            }
            "COPY" | "ADD" => {
                let words: Vec<&str> = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                if let [srcs @ .., dest] = words.as_slice()
                    && dest.trim_end_matches('/') == script_root
                    && let [src] = srcs
                {
                    r.app_source = Some(PathBuf::from(src));
                }
            }
            "RUN" => {
                if args.contains("npm install") || args.contains("npm ci") {
                    r.npm_install = true;
                } else {
                    diags.push(diag(
                        Severity::Warning,
                        file,
                        ins.span,
                        "RUN steps other than npm install are not run: Meridian runs the app natively, without building the image".into(),
                    ));
                }
            }
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests;
