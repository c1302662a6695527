//! Azure Functions apps on the functions host: each app is one pool of warm worker processes
//! (Meridian's Node worker, `bootstrap/azure-node.cjs`) that the host runs exactly as it runs
//! a Lambda function, so instances, scale-out, timeouts, logs and metrics are the same
//! machinery. In front sits the Functions host's HTTP surface: routes
//! `/<routePrefix>/<route>` with ASP.NET templates, methods, key levels (`?code=` or
//! `x-functions-key`), the admin API, and Azure's status codes.
//!
//! Apps of the code-first models (Node v4 with `@azure/functions`) declare their functions when
//! loaded: [`prepare`] runs the worker once in indexing mode to learn them, as the host's
//! indexing call does, before anything routes to them.
//!
//! Every invocation, whatever its trigger, goes through one path that reads the function's
//! `blob` inputs first and writes its `blob` outputs after; blob triggers arrive as the
//! app's queued bucket events ([`blob`]).

pub mod blob;
pub mod keys;
pub mod timer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use meridian_config::azure::{
    AuthLevel, BlobPath, FunctionApp, FunctionDef, HttpTrigger, RouteTemplate, Trigger, Worker,
};
use meridian_config::sam::{Code, EventInvokeConfig, FunctionSpec, Platform, ProvidedOs, Runtime};

use crate::error::FunctionsError;
use crate::host::FunctionHost;
use crate::invocation::{AzureLabel, InvokeRequest, Outcome};
pub use keys::{Access, Keys};

/// The largest request body the host accepts (Azure's limit: 100 MB).
const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// The longest `functionTimeout` honoured (`-1`, unbounded, becomes this).
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How long indexing an app may take.
const INDEX_TIMEOUT: Duration = Duration::from_secs(60);

/// The reason Azure logs for an invocation through the host's APIs (HTTP and admin).
const HTTP_REASON: &str = "This function was programmatically called via the host APIs.";

/// An app's function as the router knows it.
#[derive(Debug, Clone)]
struct Func {
    name: String,
    http: Option<HttpTrigger>,
    timer: Option<timer::TimerSpec>,
    blob: Option<blob::BlobTriggerSpec>,
    /// `blob` inputs and outputs.
    blobs: Vec<blob::BlobBinding>,
    disabled: bool,
    /// Its invocations by outcome.
    counts: Arc<Counts>,
}

/// An Azure function's invocations by outcome.
#[derive(Debug, Default)]
struct Counts {
    succeeded: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

/// One Azure function's invocations, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationCount {
    /// The app.
    pub app: String,
    /// The function.
    pub function: String,
    /// Invocations that succeeded.
    pub succeeded: u64,
    /// Invocations that failed (the function's error, a timeout, a binding, a refusal).
    pub failed: u64,
}

/// What an app's blob triggers watch in one container, for the node to declare as the
/// bucket's notification configuration: one per app and container, since S3 refuses two
/// configurations with overlapping filters and an app's triggers often share a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobWatch {
    /// The app's worker pool (the function the events are queued for).
    pub pool: String,
    /// The container: a bucket of that name.
    pub container: String,
    /// The key prefix every trigger of the app on this container starts with.
    pub prefix: String,
    /// The configuration's id, which each event carries: `azure/<app>`.
    pub id: String,
    /// The functions, for the banner.
    pub functions: Vec<String>,
}

/// One app, in force.
#[derive(Debug)]
struct App {
    name: String,
    /// The pool that runs it (the app's name).
    pool: String,
    prefix: String,
    timeout: Duration,
    /// `node`, `python` or `custom`, as `/admin/functions` reports it.
    language: &'static str,
    keys: std::sync::RwLock<Keys>,
    /// Where the keys are kept.
    keys_file: PathBuf,
    functions: Vec<Func>,
}

impl App {
    fn access(&self, function: &str, key: &str) -> Option<Access> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .access(function, key)
    }
}

/// One route of the table.
#[derive(Debug)]
struct Route {
    app: usize,
    function: usize,
    template: RouteTemplate,
    precedence: Vec<u8>,
}

/// What the Azure surface serves: apps and their routes, swapped whole on reload.
#[derive(Debug, Default)]
pub struct Table {
    apps: Vec<App>,
    routes: Vec<Route>,
}

impl Table {
    /// What the blob triggers of the functions that are not disabled watch.
    pub fn blob_watches(&self) -> Vec<BlobWatch> {
        let mut out: Vec<BlobWatch> = Vec::new();
        for a in &self.apps {
            for f in a.functions.iter().filter(|f| !f.disabled) {
                let Some(b) = &f.blob else { continue };
                let Some(container) = b.path.container_name() else {
                    continue;
                };
                let prefix = b.path.prefix();
                match out
                    .iter_mut()
                    .find(|w| w.pool == a.pool && w.container == container)
                {
                    Some(w) => {
                        let common = w
                            .prefix
                            .char_indices()
                            .zip(prefix.chars())
                            .find(|((_, x), y)| x != y)
                            .map_or(w.prefix.len().min(prefix.len()), |((i, _), _)| i);
                        w.prefix.truncate(common);
                        w.functions.push(f.name.clone());
                    }
                    None => out.push(BlobWatch {
                        pool: a.pool.clone(),
                        container: container.to_owned(),
                        prefix: prefix.to_owned(),
                        id: format!("azure/{}", a.name),
                        functions: vec![f.name.clone()],
                    }),
                }
            }
        }
        out
    }
}

/// An app ready to be put in force: its worker's function spec and its routes.
#[derive(Debug)]
pub struct Prepared {
    /// The pools to run, one per app (given to the host with the other functions).
    pub specs: Vec<FunctionSpec>,
    /// The routes.
    pub table: Table,
}

/// The Functions host surface of every app.
#[derive(Debug, Clone)]
pub struct AzureApps {
    host: FunctionHost,
    table: Arc<ArcSwap<Table>>,
    /// The running timer triggers of the table in force.
    timers: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Where the blob bindings read and write (set once the storage plane is up).
    blobs: Arc<std::sync::OnceLock<Arc<dyn blob::BlobStore>>>,
}

/// One line per app and function, for banners and `meridian functions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The app.
    pub app: String,
    /// The function.
    pub function: String,
    /// `GET,POST` (empty: every method).
    pub methods: Vec<String>,
    /// `/api/HttpTrigger`.
    pub path: String,
    /// `anonymous`, `function` or `admin`.
    pub auth_level: &'static str,
}

fn auth_name(a: AuthLevel) -> &'static str {
    match a {
        AuthLevel::Anonymous => "anonymous",
        AuthLevel::Function => "function",
        AuthLevel::Admin => "admin",
    }
}

/// The worker's view of a function.json function (`MERIDIAN_AZURE_FUNCTIONS`).
fn worker_metadata(f: &FunctionDef) -> serde_json::Value {
    let mut bindings: Vec<serde_json::Value> = Vec::new();
    let trigger = match &f.trigger {
        Trigger::Http(h) => {
            bindings.push(
                serde_json::json!({"name": h.name, "type": "httpTrigger", "direction": "in"}),
            );
            h.name.clone()
        }
        Trigger::Timer(t) => {
            bindings.push(
                serde_json::json!({"name": t.name, "type": "timerTrigger", "direction": "in"}),
            );
            t.name.clone()
        }
        Trigger::Blob(b) => {
            bindings.push(serde_json::json!({
                "name": b.name, "type": "blobTrigger", "direction": "in",
                "path": b.path.as_str(), "dataType": b.data_type,
            }));
            b.name.clone()
        }
        Trigger::Other { kind, name } => {
            bindings.push(serde_json::json!({"name": name, "type": kind, "direction": "in"}));
            name.clone()
        }
    };
    for b in &f.bindings {
        let dir = match b.direction {
            meridian_config::azure::Direction::In => "in",
            meridian_config::azure::Direction::Out => "out",
            meridian_config::azure::Direction::InOut => "inout",
        };
        bindings.push(serde_json::json!({
            "name": b.name, "type": b.kind, "direction": dir,
            "path": b.path.as_ref().map(|p| p.as_str()), "dataType": b.data_type,
        }));
    }
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    serde_json::json!({
        "name": f.name,
        "dir": abs(&f.dir),
        "scriptFile": f.script_file.as_deref().map(abs),
        "entryPoint": f.entry_point,
        "trigger": trigger,
        "bindings": bindings,
    })
}

/// The function spec of an app's worker pool.
pub fn worker_spec(app: &FunctionApp) -> FunctionSpec {
    let runtime = match app.worker {
        Worker::Node { major } => Runtime::Node {
            major: major.unwrap_or(20),
        },
        Worker::Python { minor } => Runtime::Python {
            minor: minor.unwrap_or(11),
        },
        Worker::Custom => Runtime::Provided(ProvidedOs::Al2023),
    };
    let mut environment = app.settings.clone();
    let root = std::fs::canonicalize(&app.root).unwrap_or_else(|_| app.root.clone());
    environment.insert("AzureWebJobsScriptRoot".into(), root.display().to_string());
    environment.insert(
        "FUNCTIONS_WORKER_RUNTIME".into(),
        app.worker.runtime().into(),
    );
    environment.insert("FUNCTIONS_EXTENSION_VERSION".into(), "~4".into());
    environment.insert("WEBSITE_SITE_NAME".into(), app.name.clone());
    environment.insert("AZURE_FUNCTIONS_ENVIRONMENT".into(), "Development".into());
    if matches!(app.worker, Worker::Python { .. }) {
        environment.insert("PYTHONUNBUFFERED".into(), "1".into());
    }
    if let Some(ch) = &app.host.custom_handler {
        environment.insert(
            "MERIDIAN_AZURE_CUSTOM_HANDLER".into(),
            serde_json::json!({
                "executable": ch.executable,
                "arguments": ch.arguments,
                "workingDirectory": ch.working_directory,
                "proxyHttp": ch.proxy_http,
            })
            .to_string(),
        );
    }
    let meta: Vec<serde_json::Value> = app.functions.iter().map(worker_metadata).collect();
    environment.insert(
        "MERIDIAN_AZURE_FUNCTIONS".into(),
        serde_json::Value::Array(meta).to_string(),
    );
    FunctionSpec {
        logical_id: app.name.clone(),
        name: app.name.clone(),
        runtime,
        handler: String::new(),
        code: Code::Dir(root),
        memory_mb: 1536,
        timeout: app.host.function_timeout.min(MAX_TIMEOUT),
        environment,
        reserved_concurrency: app.host.max_concurrent_requests,
        // Queued events are blob triggers', tried five times as the host tries a blob.
        event_invoke: EventInvokeConfig {
            maximum_retry_attempts: 4,
            ..EventInvokeConfig::default()
        },
        routes: Vec::new(),
        working_dir: PathBuf::new(),
        architecture: "x86_64".into(),
        policies: Vec::new(),
        stream_events: Vec::new(),
        layers: Vec::new(),
        platform: Platform::AzureFunctions,
        url: None,
        build: None,
        runtime_at: app.origin.span,
        origin: app.origin.clone(),
    }
}

/// Indexes a code-first app: runs its worker in indexing mode and reads the functions it
/// registered.
async fn index(
    app: &FunctionApp,
    spec: &FunctionSpec,
    host: &FunctionHost,
) -> Result<Vec<Func>, FunctionsError> {
    let (program, mut args) =
        host.bootstraps()
            .command(spec.runtime, spec.platform, &app.root, spec.memory_mb);
    if matches!(spec.runtime, Runtime::Provided(_)) {
        return Ok(Vec::new());
    }
    args.push("--index".into());
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&args)
        .current_dir(&app.root)
        .env_clear()
        .envs(&spec.environment)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let fail = |reason: String| FunctionsError::Azure {
        app: app.name.clone(),
        reason,
    };
    let out = tokio::time::timeout(INDEX_TIMEOUT, cmd.output())
        .await
        .map_err(|_| {
            fail(format!(
                "indexing took longer than {} s",
                INDEX_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| fail(format!("cannot start {}: {e}", program.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).map_err(|_| {
        let err = String::from_utf8_lossy(&out.stderr);
        fail(format!("the worker did not index the app: {}", err.trim()))
    })?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(fail(e.to_owned()));
    }
    let mut funcs = Vec::new();
    for f in v["functions"].as_array().into_iter().flatten() {
        let name = f["name"].as_str().unwrap_or_default().to_owned();
        let bindings = f["bindings"].as_array().cloned().unwrap_or_default();
        let trigger = bindings.iter().find(|b| {
            b["direction"] == "in" && b["type"].as_str().is_some_and(|t| t.ends_with("Trigger"))
        });
        let http = match trigger {
            Some(b) if b["type"] == "httpTrigger" => {
                let auth_level = match b["authLevel"]
                    .as_str()
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                {
                    Some("function") => AuthLevel::Function,
                    Some("admin" | "system") => AuthLevel::Admin,
                    _ => AuthLevel::Anonymous,
                };
                let methods = b["methods"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str().map(str::to_ascii_uppercase))
                    .collect();
                let route = match b["route"].as_str() {
                    Some(r) => Some(RouteTemplate::parse(r).map_err(|e| {
                        fail(format!(
                            "function '{name}': the route template '{r}' is invalid: {e}"
                        ))
                    })?),
                    None => None,
                };
                Some(HttpTrigger {
                    name: b["name"].as_str().unwrap_or("request").to_owned(),
                    auth_level,
                    methods,
                    route,
                })
            }
            _ => None,
        };
        let timer = match trigger {
            Some(b) if b["type"] == "timerTrigger" => Some(timer_spec(
                app,
                &host.config().state_dir,
                &name,
                b["schedule"].as_str().unwrap_or_default(),
                b["runOnStartup"].as_bool().unwrap_or(false),
                b["useMonitor"].as_bool(),
            )?),
            _ => None,
        };
        let (blob, blobs) = indexed_blobs(app, &name, &bindings)?;
        funcs.push(Func {
            name,
            http,
            timer,
            blob,
            blobs,
            disabled: false,
            counts: Arc::default(),
        });
    }
    Ok(funcs)
}

/// The blob trigger and bindings a code-first function declared, their paths checked as
/// `function.json`'s are.
fn indexed_blobs(
    app: &FunctionApp,
    function: &str,
    bindings: &[serde_json::Value],
) -> Result<(Option<blob::BlobTriggerSpec>, Vec<blob::BlobBinding>), FunctionsError> {
    let fail = |path: &str, e: meridian_config::azure::BlobPathError| FunctionsError::Azure {
        app: app.name.clone(),
        reason: format!("function '{function}': the blob path '{path}' is invalid: {e}"),
    };
    let mut trigger = None;
    let mut out = Vec::new();
    for b in bindings {
        let kind = b["type"].as_str().unwrap_or_default();
        let path = b["path"].as_str().unwrap_or_default();
        if kind.eq_ignore_ascii_case("blobTrigger") {
            trigger = Some(blob::BlobTriggerSpec {
                path: BlobPath::parse_trigger(path).map_err(|e| fail(path, e))?,
                data_type: b["dataType"].as_str().map(str::to_owned),
            });
        } else if kind.eq_ignore_ascii_case("blob") {
            out.push(blob::BlobBinding {
                name: b["name"].as_str().unwrap_or_default().to_owned(),
                output: b["direction"] == "out",
                path: BlobPath::parse(path).map_err(|e| fail(path, e))?,
                data_type: b["dataType"].as_str().map(str::to_owned),
            });
        }
    }
    Ok((trigger, out))
}

/// The blob trigger and bindings of a `function.json` function.
fn declared_blobs(f: &FunctionDef) -> (Option<blob::BlobTriggerSpec>, Vec<blob::BlobBinding>) {
    let trigger = match &f.trigger {
        Trigger::Blob(b) => Some(blob::BlobTriggerSpec {
            path: b.path.clone(),
            data_type: b.data_type.clone(),
        }),
        _ => None,
    };
    let bindings = f
        .bindings
        .iter()
        .filter_map(|b| {
            Some(blob::BlobBinding {
                name: b.name.clone(),
                output: b.direction == meridian_config::azure::Direction::Out,
                path: b.path.clone()?,
                data_type: b.data_type.clone(),
            })
        })
        .collect();
    (trigger, bindings)
}

/// A timer function's schedule (`%Setting%` resolved from the app settings) and monitor.
fn timer_spec(
    app: &FunctionApp,
    state_dir: &Path,
    function: &str,
    schedule: &str,
    run_on_startup: bool,
    use_monitor: Option<bool>,
) -> Result<timer::TimerSpec, FunctionsError> {
    let fail = |reason: String| FunctionsError::Azure {
        app: app.name.clone(),
        reason,
    };
    let text = match schedule
        .strip_prefix('%')
        .and_then(|s| s.strip_suffix('%'))
    {
        Some(setting) => app.settings.get(setting).cloned().ok_or_else(|| {
            fail(format!(
                "function '{function}': the schedule names the app setting '{setting}', which is not set"
            ))
        })?,
        None => schedule.to_owned(),
    };
    let schedule = meridian_config::azure::Schedule::parse(&text).map_err(|e| {
        fail(format!(
            "function '{function}': the schedule '{text}' is invalid: {e}"
        ))
    })?;
    let monitor = use_monitor
        .unwrap_or_else(|| schedule.at_least_a_minute())
        .then(|| {
            state_dir
                .join("azure")
                .join(&app.name)
                .join("timers")
                .join(format!("{function}.json"))
        });
    Ok(timer::TimerSpec {
        schedule,
        run_on_startup,
        monitor,
    })
}

/// Builds the pools and routes of `apps`: keys are read or made under `state_dir`, code-first
/// apps are indexed (their packages installed first). Nothing serves yet.
pub async fn prepare(
    apps: &[FunctionApp],
    host: &FunctionHost,
) -> Result<Prepared, FunctionsError> {
    let mut table = Table::default();
    let mut specs = Vec::new();
    for app in apps {
        let spec = worker_spec(app);
        let mut functions: Vec<Func> = app
            .functions
            .iter()
            .map(|f| -> Result<Func, FunctionsError> {
                let (blob, blobs) = declared_blobs(f);
                Ok(Func {
                    blob,
                    blobs,
                    counts: Arc::default(),
                    name: f.name.clone(),
                    http: match &f.trigger {
                        Trigger::Http(h) => Some(h.clone()),
                        _ => None,
                    },
                    timer: match &f.trigger {
                        Trigger::Timer(t) => Some(timer_spec(
                            app,
                            &host.config().state_dir,
                            &f.name,
                            &t.schedule,
                            t.run_on_startup,
                            t.use_monitor,
                        )?),
                        _ => None,
                    },
                    disabled: f.disabled
                        || app
                            .settings
                            .get(&format!("AzureWebJobs.{}.Disabled", f.name))
                            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
                })
            })
            .collect::<Result<_, FunctionsError>>()?;
        // An image's `RUN npm install` for an app without a lock file (with one, `npm ci`
        // runs as for every Node function).
        if app.install_packages
            && let Some(crate::dependencies::Install::Failed { dir, reason }) =
                crate::dependencies::npm_install_once(&app.root).await
        {
            tracing::warn!(dir = %dir.display(), %reason, "function app packages not installed");
        }
        let code_first = match app.worker {
            Worker::Node { .. } => true,
            Worker::Python { .. } => app.root.join("function_app.py").is_file(),
            Worker::Custom => false,
        };
        if app.functions.is_empty() && code_first {
            for outcome in crate::dependencies::install(std::slice::from_ref(&spec)).await {
                if let crate::dependencies::Install::Failed { dir, reason } = outcome {
                    tracing::warn!(dir = %dir.display(), %reason, "function app packages not installed");
                }
            }
            functions = index(app, &spec, host).await?;
            let disabled = |name: &str| {
                app.settings
                    .get(&format!("AzureWebJobs.{name}.Disabled"))
                    .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
            };
            for f in &mut functions {
                f.disabled = disabled(&f.name);
            }
        }
        let names: Vec<String> = functions.iter().map(|f| f.name.clone()).collect();
        let keys_file = Keys::path(&host.config().state_dir, &app.name);
        let keys = Keys::load_or_create(&keys_file, &names)?;
        let idx = table.apps.len();
        for (fi, f) in functions.iter().enumerate() {
            let Some(h) = &f.http else { continue };
            let template = match &h.route {
                Some(r) => r.clone(),
                None => RouteTemplate::parse(&f.name).map_err(|e| FunctionsError::Azure {
                    app: app.name.clone(),
                    reason: e.to_string(),
                })?,
            };
            table.routes.push(Route {
                app: idx,
                function: fi,
                precedence: template.precedence(),
                template,
            });
        }
        table.apps.push(App {
            name: app.name.clone(),
            pool: spec.name.clone(),
            prefix: app.host.route_prefix.clone(),
            timeout: spec.timeout,
            language: app.worker.runtime(),
            keys: std::sync::RwLock::new(keys),
            keys_file,
            functions,
        });
        specs.push(spec);
    }
    table.routes.sort_by(|a, b| {
        a.precedence
            .cmp(&b.precedence)
            .then_with(|| a.template.as_str().cmp(b.template.as_str()))
    });
    Ok(Prepared { specs, table })
}

type Resp = Response<Full<Bytes>>;

/// The Functions host's home page.
const HOMEPAGE: &str = "<!DOCTYPE html><html><head><title>Your Azure Function App is up and running.</title></head><body><h1>Your Functions 4.0 app is up and running</h1></body></html>\n";

fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn query_map(q: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        out.entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    out
}

fn key_of(parts: &http::request::Parts, query: &BTreeMap<String, String>) -> String {
    parts
        .headers
        .get("x-functions-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.get("code").cloned())
        .unwrap_or_default()
}

impl AzureApps {
    /// An empty surface over `host`.
    pub fn new(host: FunctionHost) -> Self {
        Self {
            host,
            table: Arc::new(ArcSwap::from_pointee(Table::default())),
            timers: Arc::new(std::sync::Mutex::new(Vec::new())),
            blobs: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Serves the blob trigger and bindings from `store` (once; later calls keep the first),
    /// and runs the apps' queued blob events through them.
    pub fn serve_blobs(&self, store: Arc<dyn blob::BlobStore>) {
        let _ = self.blobs.set(store);
        self.host.run_queued_with(Arc::new(QueuedBlobEvents {
            table: self.table.clone(),
            blobs: self.blobs.clone(),
        }));
    }

    /// Puts prepared routes in force (after the host has the pools) and starts the timer
    /// triggers (those of the previous table stop).
    pub fn commit(&self, table: Table) {
        let table = Arc::new(table);
        self.table.store(table.clone());
        let mut timers = self
            .timers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for t in timers.drain(..) {
            t.abort();
        }
        for app in &table.apps {
            for f in app.functions.iter().filter(|f| !f.disabled) {
                if let Some(b) = &f.blob {
                    let marker = self
                        .host
                        .config()
                        .state_dir
                        .join("azure")
                        .join(&app.name)
                        .join("blobscan")
                        .join(format!("{}.done", f.name));
                    if !marker.exists() {
                        tokio::spawn(self.clone().first_scan(
                            app.name.clone(),
                            app.pool.clone(),
                            f.name.clone(),
                            b.path.clone(),
                            marker,
                        ));
                    }
                }
            }
        }
        for (ai, app) in table.apps.iter().enumerate() {
            for f in &app.functions {
                let Some(spec) = f.timer.clone().filter(|_| !f.disabled) else {
                    continue;
                };
                let (this, table, name) = (self.clone(), table.clone(), f.name.clone());
                timers.push(tokio::spawn(timer::run(
                    spec,
                    time::OffsetDateTime::now_utc(),
                    move |firing| {
                        let (this, table, name) = (this.clone(), table.clone(), name.clone());
                        async move {
                            let Some(app) = table.apps.get(ai) else {
                                return;
                            };
                            let id = uuid::Uuid::new_v4().to_string();
                            let reason = format!(
                                "Timer fired at {}",
                                firing
                                    .at
                                    .format(&time::format_description::well_known::Rfc3339)
                                    .unwrap_or_default()
                            );
                            let event = serde_json::json!({
                                "function": name,
                                "trigger": "timer",
                                "invocationId": id,
                                "timer": firing.to_json(),
                            });
                            let _ = this
                                .invoke(app, &name, id, event, &reason, &BTreeMap::new())
                                .await;
                        }
                    },
                )));
            }
        }
    }

    /// True when at least one app is served.
    pub fn is_empty(&self) -> bool {
        self.table.load().apps.is_empty()
    }

    /// Each function's invocations by outcome, since its app was last loaded.
    pub fn invocation_counts(&self) -> Vec<InvocationCount> {
        use std::sync::atomic::Ordering;
        let t = self.table.load();
        t.apps
            .iter()
            .flat_map(|a| {
                a.functions.iter().map(|f| InvocationCount {
                    app: a.name.clone(),
                    function: f.name.clone(),
                    succeeded: f.counts.succeeded.load(Ordering::Relaxed),
                    failed: f.counts.failed.load(Ordering::Relaxed),
                })
            })
            .collect()
    }

    /// What the blob triggers in force watch.
    pub fn blob_watches(&self) -> Vec<BlobWatch> {
        self.table.load().blob_watches()
    }

    /// The HTTP functions in force.
    pub fn routes(&self) -> Vec<RouteInfo> {
        let t = self.table.load();
        t.routes
            .iter()
            .filter_map(|r| {
                let app = t.apps.get(r.app)?;
                let f = app.functions.get(r.function)?;
                let h = f.http.as_ref()?;
                let route = r.template.as_str().trim_start_matches('/');
                let path = if app.prefix.is_empty() {
                    format!("/{route}")
                } else {
                    format!("/{}/{route}", app.prefix)
                };
                Some(RouteInfo {
                    app: app.name.clone(),
                    function: f.name.clone(),
                    methods: h.methods.clone(),
                    path,
                    auth_level: auth_name(h.auth_level),
                })
            })
            .collect()
    }

    /// The keys of an app, for `meridian functions keys`.
    pub fn keys(&self, app: &str) -> Option<Keys> {
        self.table
            .load()
            .apps
            .iter()
            .find(|a| a.name == app)
            .map(|a| {
                a.keys
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            })
    }

    /// Every app's keys.
    pub fn all_keys(&self) -> BTreeMap<String, Keys> {
        self.table
            .load()
            .apps
            .iter()
            .map(|a| {
                (
                    a.name.clone(),
                    a.keys
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone(),
                )
            })
            .collect()
    }

    /// Replaces one key of `app` and keeps it: the master key (`name` `_master`), a host key
    /// (no function) or a function's key; a key of that name is made if there was none.
    /// Returns the new key; the old one stops working at once.
    pub fn rotate(
        &self,
        app: &str,
        function: Option<&str>,
        name: &str,
    ) -> Result<String, FunctionsError> {
        let table = self.table.load_full();
        let a = table
            .apps
            .iter()
            .find(|a| a.name == app)
            .ok_or_else(|| FunctionsError::Azure {
                app: app.to_owned(),
                reason: "no such function app".into(),
            })?;
        let mut keys = a
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = keys.clone();
        let fresh = keys::new_key();
        match function {
            None if name == "_master" => next.master = fresh.clone(),
            None => {
                next.host.insert(name.to_owned(), fresh.clone());
            }
            Some(f) => {
                let Some(real) = a.functions.iter().find(|x| x.name.eq_ignore_ascii_case(f)) else {
                    return Err(FunctionsError::Azure {
                        app: app.to_owned(),
                        reason: format!("no function named '{f}'"),
                    });
                };
                next.functions
                    .entry(real.name.clone())
                    .or_default()
                    .insert(name.to_owned(), fresh.clone());
            }
        }
        next.save(&a.keys_file)?;
        *keys = next;
        Ok(fresh)
    }

    /// Serves one request the way the Functions host does.
    pub async fn handle<B>(&self, req: Request<B>) -> Resp
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let query = query_map(parts.uri.query().unwrap_or_default());
        if let Some(rest) = path.strip_prefix("/admin/") {
            return self.admin(&parts, rest, &query, body).await;
        }
        let table = self.table.load_full();
        let method = parts.method.as_str().to_ascii_uppercase();
        let mut found = None;
        for r in &table.routes {
            let Some(app) = table.apps.get(r.app) else {
                continue;
            };
            let Some(f) = app.functions.get(r.function) else {
                continue;
            };
            let Some(h) = &f.http else { continue };
            if f.disabled || (!h.methods.is_empty() && !h.methods.contains(&method)) {
                continue;
            }
            let rest = if app.prefix.is_empty() {
                Some(path.trim_start_matches('/'))
            } else {
                strip_prefix_ci(path.trim_start_matches('/'), &app.prefix)
            };
            let Some(rest) = rest else { continue };
            if let Some(params) = r.template.matches(rest) {
                found = Some((app, f, h, params));
                break;
            }
        }
        let Some((app, f, h, params)) = found else {
            // The Functions host's home page, where no function route takes `/`: what
            // App Service's and Front Door's health probes of `/` find.
            if path == "/" && matches!(method.as_str(), "GET" | "HEAD") {
                let mut r = Response::new(Full::new(Bytes::from_static(HOMEPAGE.as_bytes())));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/html; charset=utf-8"),
                );
                return r;
            }
            return empty(StatusCode::NOT_FOUND);
        };
        let allowed = match h.auth_level {
            AuthLevel::Anonymous => true,
            AuthLevel::Function => app.access(&f.name, &key_of(&parts, &query)).is_some(),
            AuthLevel::Admin => app.access(&f.name, &key_of(&parts, &query)) == Some(Access::Admin),
        };
        if !allowed {
            return empty(StatusCode::UNAUTHORIZED);
        }
        let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => return empty(StatusCode::PAYLOAD_TOO_LARGE),
        };
        let mut headers = serde_json::Map::new();
        for (k, v) in &parts.headers {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            match headers.get_mut(k.as_str()) {
                Some(serde_json::Value::String(s)) => {
                    s.push_str(", ");
                    s.push_str(&v);
                }
                _ => {
                    headers.insert(k.as_str().to_owned(), serde_json::Value::String(v));
                }
            }
        }
        let host_header = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        let url = format!(
            "http://{host_header}{}",
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let event = serde_json::json!({
            "function": f.name,
            "trigger": "http",
            "invocationId": invocation_id,
            "request": {
                "method": method,
                "url": url,
                "headers": headers,
                "query": query,
                "params": params,
                "body": if body.is_empty() { serde_json::Value::Null } else {
                    serde_json::Value::String(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &body))
                },
            },
        });
        // Route parameters and query values fill the other bindings' paths.
        let mut data = query.clone();
        data.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.invoke(app, &f.name, invocation_id, event, HTTP_REASON, &data)
            .await
    }

    /// Runs a function: reads its `blob` inputs, invokes it, writes its `blob` outputs. A
    /// binding that fails is the invocation's failure, as the host reports it.
    async fn call(
        &self,
        app: &App,
        function: &str,
        invocation_id: &str,
        event: serde_json::Value,
        reason: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<crate::invocation::InvokeResult, FunctionsError> {
        let result = self
            .call_once(app, function, invocation_id, event, reason, data)
            .await;
        if let Some(f) = app.functions.iter().find(|f| f.name == function) {
            let counter = match &result {
                Ok(r) if !r.outcome.is_error() => &f.counts.succeeded,
                _ => &f.counts.failed,
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    async fn call_once(
        &self,
        app: &App,
        function: &str,
        invocation_id: &str,
        mut event: serde_json::Value,
        reason: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<crate::invocation::InvokeResult, FunctionsError> {
        let bindings = app
            .functions
            .iter()
            .find(|f| f.name == function)
            .map(|f| f.blobs.clone())
            .unwrap_or_default();
        let failed = |e: String| binding_failure(function, invocation_id, &e);
        if bindings.iter().any(|b| !b.output) {
            let Some(store) = self.blobs.get() else {
                return Ok(failed(NO_STORE.to_owned()));
            };
            let mut inputs = serde_json::Map::new();
            for b in bindings.iter().filter(|b| !b.output) {
                let (container, name) = match blob::resolve(&b.path, data) {
                    Ok(r) => r,
                    Err(e) => return Ok(failed(format!("binding '{}': {e}", b.name))),
                };
                let value = match store.get(&container, &name).await {
                    Ok(Some(found)) => blob::to_worker(&found.data, b.data_type.as_deref()),
                    Ok(None) => serde_json::Value::Null,
                    Err(e) => {
                        return Ok(failed(format!(
                            "binding '{}': cannot read {container}/{name}: {e}",
                            b.name
                        )));
                    }
                };
                inputs.insert(b.name.clone(), value);
            }
            event["inputs"] = serde_json::Value::Object(inputs);
        }
        let label = AzureLabel {
            function: format!("Functions.{function}"),
            reason: reason.to_owned(),
        };
        let mut result = self
            .host
            .invoke(
                &app.pool,
                InvokeRequest {
                    payload: Bytes::from(event.to_string()),
                    request_id: Some(invocation_id.to_owned()),
                    azure: Some(label),
                    ..InvokeRequest::default()
                },
            )
            .await?;
        let outputs: Vec<&blob::BlobBinding> = bindings.iter().filter(|b| b.output).collect();
        if outputs.is_empty() || result.outcome.is_error() {
            return Ok(result);
        }
        let reply: serde_json::Value =
            serde_json::from_slice(result.outcome.payload()).unwrap_or_default();
        let Some(store) = self.blobs.get() else {
            return Ok(failed(NO_STORE.to_owned()));
        };
        for b in outputs {
            // An output the function did not set writes nothing, as the host does.
            let Some(value) = reply["outputs"].get(&b.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let bytes = match blob::from_worker(value) {
                Ok(b) => b,
                Err(e) => return Ok(failed(format!("binding '{}': {e}", b.name))),
            };
            let (container, name) = match blob::resolve(&b.path, data) {
                Ok(r) => r,
                Err(e) => return Ok(failed(format!("binding '{}': {e}", b.name))),
            };
            if let Err(e) = store.put(&container, &name, bytes).await {
                let e = format!("binding '{}': cannot write {container}/{name}: {e}", b.name);
                result.outcome = failed(e).outcome;
                return Ok(result);
            }
        }
        Ok(result)
    }

    async fn invoke(
        &self,
        app: &App,
        function: &str,
        invocation_id: String,
        event: serde_json::Value,
        reason: &str,
        data: &BTreeMap<String, String>,
    ) -> Resp {
        let result = self
            .call(app, function, &invocation_id, event, reason, data)
            .await;
        match result {
            Ok(r) => match r.outcome {
                Outcome::Success(p) => match worker_response(&p) {
                    Ok(resp) => resp,
                    Err(e) => {
                        tracing::warn!(app = %app.name, function, id = %invocation_id, error = %e, "the worker's response is malformed");
                        empty(StatusCode::INTERNAL_SERVER_ERROR)
                    }
                },
                Outcome::FunctionError {
                    error_type,
                    payload,
                } => {
                    let message = serde_json::from_slice::<serde_json::Value>(&payload)
                        .ok()
                        .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    if error_type == "Sandbox.Timedout" {
                        tracing::warn!(
                            app = %app.name,
                            "Timeout value of {} exceeded by function 'Functions.{function}' (Id: '{invocation_id}')",
                            timespan(app.timeout)
                        );
                    } else {
                        tracing::warn!(
                            app = %app.name,
                            "Executed 'Functions.{function}' (Failed, Id={invocation_id}): {error_type}: {message}"
                        );
                    }
                    empty(StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
            Err(FunctionsError::Throttled { .. }) => empty(StatusCode::TOO_MANY_REQUESTS),
            Err(e) => {
                tracing::warn!(app = %app.name, function, error = %e, "invocation failed");
                empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    async fn admin<B>(
        &self,
        parts: &http::request::Parts,
        rest: &str,
        query: &BTreeMap<String, String>,
        body: B,
    ) -> Resp
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let table = self.table.load_full();
        let key = key_of(parts, query);
        // The admin API takes the master key of any app served here.
        let Some(app_idx) = table
            .apps
            .iter()
            .position(|a| a.access("", &key) == Some(Access::Admin))
        else {
            return empty(StatusCode::UNAUTHORIZED);
        };
        let rest = rest.trim_end_matches('/');
        match (&parts.method, rest) {
            (&Method::GET, "host/status") => json(
                StatusCode::OK,
                &serde_json::json!({
                    "id": table.apps.get(app_idx).map(|a| a.name.clone()),
                    "state": "Running",
                    "version": "4.1037.0",
                    "versionDetails": concat!("Meridian ", env!("CARGO_PKG_VERSION")),
                    "platformVersion": "",
                    "instanceId": "meridian",
                    "computerName": "",
                    "processUptime": 0,
                    "functionAppContentEditingState": "NotAllowed",
                }),
            ),
            (&Method::GET, "functions") => {
                let list: Vec<serde_json::Value> = table
                    .apps
                    .iter()
                    .flat_map(|a| {
                        a.functions.iter().map(move |f| {
                            serde_json::json!({
                                "name": f.name,
                                "app": a.name,
                                "isDisabled": f.disabled,
                                "language": a.language,
                                "invoke_url_template": f.http.as_ref().map(|h| {
                                    let route = h.route.as_ref().map_or(f.name.as_str(), |r| r.as_str());
                                    if a.prefix.is_empty() { format!("/{route}") } else { format!("/{}/{route}", a.prefix) }
                                }),
                            })
                        })
                    })
                    .collect();
                json(StatusCode::OK, &serde_json::Value::Array(list))
            }
            (&Method::POST, r) if r.starts_with("functions/") => {
                let name = &r["functions/".len()..];
                let found = table.apps.iter().find_map(|a| {
                    a.functions
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(name))
                        .map(|f| (a, f.name.clone()))
                });
                let Some((app, fname)) = found else {
                    return empty(StatusCode::NOT_FOUND);
                };
                let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
                    Ok(c) => c.to_bytes(),
                    Err(_) => return empty(StatusCode::PAYLOAD_TOO_LARGE),
                };
                let input = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("input").cloned())
                    .unwrap_or(serde_json::Value::Null);
                let invocation_id = uuid::Uuid::new_v4().to_string();
                let event = serde_json::json!({
                    "function": fname,
                    "trigger": "admin",
                    "invocationId": invocation_id,
                    "input": input,
                });
                let this = self.clone();
                let table2 = table.clone();
                let app_name = app.name.clone();
                // A blob-triggered function takes the blob's path (`container/name`) as its
                // input, and runs on that blob.
                let blob_path = app
                    .functions
                    .iter()
                    .find(|f| f.name == fname)
                    .and_then(|f| f.blob.as_ref())
                    .map(|_| input.as_str().unwrap_or_default().to_owned());
                if let Some(path) = blob_path {
                    tokio::spawn(async move {
                        this.admin_blob(&table2, &app_name, &fname, &path).await;
                    });
                    return empty(StatusCode::ACCEPTED);
                }
                // Accepted at once, run in the background, as the host does.
                tokio::spawn(async move {
                    if let Some(app) = table2.apps.iter().find(|a| a.name == app_name) {
                        let _ = this
                            .invoke(
                                app,
                                &fname,
                                invocation_id,
                                event,
                                HTTP_REASON,
                                &BTreeMap::new(),
                            )
                            .await;
                    }
                });
                empty(StatusCode::ACCEPTED)
            }
            _ => empty(StatusCode::NOT_FOUND),
        }
    }
}

fn strip_prefix_ci<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let head = path.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &path[prefix.len()..];
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('/')
    }
}

/// `hh:mm:ss`, as Azure prints timeouts.
fn timespan(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The HTTP response the worker described (`{status, headers, cookies, body}`).
fn worker_response(payload: &[u8]) -> Result<Resp, String> {
    #[derive(serde::Deserialize)]
    struct W {
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        cookies: Vec<String>,
        #[serde(default)]
        body: Option<String>,
    }
    let w: W = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let body = match w.body {
        Some(b) => base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b)
            .map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let status = StatusCode::from_u16(w.status.unwrap_or(200)).map_err(|e| e.to_string())?;
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    for (k, v) in w.headers {
        let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) else {
            continue;
        };
        // The host sets these itself.
        if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
            continue;
        }
        r.headers_mut().insert(name, value);
    }
    for c in w.cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(http::header::SET_COOKIE, v);
        }
    }
    Ok(r)
}

/// The Azure apps' queued events (their blob triggers' bucket events), run through the
/// bindings: see [`blob`].
#[derive(Debug)]
struct QueuedBlobEvents {
    table: Arc<ArcSwap<Table>>,
    blobs: Arc<std::sync::OnceLock<Arc<dyn blob::BlobStore>>>,
}

impl crate::host::QueuedInvoker for QueuedBlobEvents {
    fn invoke(
        &self,
        host: FunctionHost,
        req: InvokeRequest,
    ) -> crate::stream_events::BoxFuture<
        'static,
        Result<crate::invocation::InvokeResult, FunctionsError>,
    > {
        let apps = AzureApps {
            host,
            table: self.table.clone(),
            timers: Arc::default(),
            blobs: self.blobs.clone(),
        };
        Box::pin(async move { apps.blob_event(req).await })
    }
}

/// The answer for a queued event that runs nothing (no function takes it).
fn skipped(request_id: &str) -> crate::invocation::InvokeResult {
    crate::invocation::InvokeResult {
        request_id: request_id.to_owned(),
        outcome: Outcome::Success(Bytes::new()),
        logs: None,
        cold_start: false,
        init_duration: None,
        duration: Duration::ZERO,
        content_type: None,
    }
}

/// How many times the host tries a blob before its poison message.
const BLOB_TRIES: u32 = 5;

impl AzureApps {
    /// Runs a blob trigger for one queued bucket event (S3's record, whose
    /// `configurationId` is `<app>/<function>`).
    async fn blob_event(
        &self,
        req: InvokeRequest,
    ) -> Result<crate::invocation::InvokeResult, FunctionsError> {
        let request_id = req.request_id.clone().unwrap_or_default();
        let skipped = || skipped(&request_id);
        let mut event: serde_json::Value = serde_json::from_slice(&req.payload).unwrap_or_default();
        let record = &event["Records"][0];
        let id = record["s3"]["configurationId"].as_str().unwrap_or_default();
        let container = record["s3"]["bucket"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let blob_name = blob::event_key(record["s3"]["object"]["key"].as_str().unwrap_or_default());
        let table = self.table.load_full();
        let Some(app) = id
            .strip_prefix("azure/")
            .and_then(|a| table.apps.iter().find(|x| x.name == a))
        else {
            tracing::warn!(id, "a blob event names no app served here; dropped");
            return Ok(skipped());
        };
        // The functions whose pattern takes this blob: the notification watches only the
        // patterns' common prefix.
        let chosen = event["azureFunction"].as_str();
        let targets: Vec<(&Func, BTreeMap<String, String>)> = app
            .functions
            .iter()
            .filter(|f| !f.disabled && chosen.is_none_or(|c| c == f.name))
            .filter_map(|f| {
                let t = f.blob.as_ref()?;
                if t.path.container_name() != Some(container.as_str()) {
                    return None;
                }
                Some((f, t.path.matches(&blob_name)?))
            })
            .collect();
        if targets.len() > 1 {
            // One event per function, each tried and retried on its own, as the host keeps
            // a receipt per function and blob.
            for (f, _) in &targets {
                event["azureFunction"] = serde_json::Value::from(f.name.clone());
                self.host
                    .enqueue(
                        &app.pool,
                        InvokeRequest {
                            payload: Bytes::from(event.to_string()),
                            ..InvokeRequest::default()
                        },
                    )
                    .await?;
            }
            return Ok(skipped());
        }
        let Some((func, captures)) = targets.into_iter().next() else {
            tracing::debug!(app = %app.name, blob = %blob_name, "no blob trigger's pattern takes this blob");
            return Ok(skipped());
        };
        let reason = format!("New blob detected(LogsAndContainerScan): {container}/{blob_name}");
        let attempt = req.attempt.max(1);
        self.run_blob(
            app,
            func,
            (&container, &blob_name),
            captures,
            (attempt, &request_id),
            &reason,
        )
        .await
    }

    /// Runs a blob-triggered function for one blob: reads it, invokes with its bytes and
    /// metadata, and on the last failing try writes the poison message.
    async fn run_blob(
        &self,
        app: &App,
        func: &Func,
        (container, blob_name): (&str, &str),
        captures: BTreeMap<String, String>,
        (attempt, request_id): (u32, &str),
        reason: &str,
    ) -> Result<crate::invocation::InvokeResult, FunctionsError> {
        let blob_name = blob_name.to_owned();
        let Some(trigger) = func.blob.as_ref() else {
            return Ok(skipped(request_id));
        };
        let Some(store) = self.blobs.get() else {
            return Ok(binding_failure(&func.name, request_id, NO_STORE));
        };
        let found =
            store
                .get(container, &blob_name)
                .await
                .map_err(|reason| FunctionsError::Azure {
                    app: app.name.clone(),
                    reason: format!("cannot read {container}/{blob_name}: {reason}"),
                })?;
        let Some(found) = found else {
            // Deleted before its trigger ran: the host's scan would not see it either.
            tracing::info!(app = %app.name, function = %func.name, blob = %format!("{container}/{blob_name}"), "blob gone before its trigger ran; skipped");
            return Ok(skipped(request_id));
        };
        let url = store.url(container, &blob_name);
        let metadata = blob::trigger_metadata(container, &blob_name, &url, &found, &captures);
        let mut data = captures.clone();
        data.insert("BlobTrigger".into(), format!("{container}/{blob_name}"));
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let event = serde_json::json!({
            "function": func.name,
            "trigger": "blob",
            "invocationId": invocation_id,
            "blob": blob::to_worker(&found.data, trigger.data_type.as_deref()),
            "triggerMetadata": metadata,
            "retryContext": {"retryCount": attempt - 1, "maxRetryCount": BLOB_TRIES - 1},
        });
        let result = self
            .call(app, &func.name, &invocation_id, event, reason, &data)
            .await?;
        if let Outcome::FunctionError {
            error_type,
            payload,
        } = &result.outcome
        {
            let message = serde_json::from_slice::<serde_json::Value>(payload)
                .ok()
                .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
                .unwrap_or_default();
            tracing::warn!(
                app = %app.name,
                "Executed 'Functions.{}' (Failed, Id={invocation_id}, try {attempt} of {BLOB_TRIES}): {error_type}: {message}",
                func.name
            );
            if attempt >= BLOB_TRIES {
                self.poison(
                    app,
                    &func.name,
                    container,
                    &blob_name,
                    &found.etag,
                    request_id,
                )
                .await;
            }
        }
        Ok(result)
    }

    /// Queues the blobs already in a trigger's container for it, once (see [`blob`]).
    async fn first_scan(
        self,
        app: String,
        pool: String,
        function: String,
        path: BlobPath,
        marker: PathBuf,
    ) {
        let Some(store) = self.blobs.get() else {
            return;
        };
        let Some(container) = path.container_name() else {
            return;
        };
        let names = match store.list(container, path.prefix()).await {
            Ok(n) => n,
            Err(reason) => {
                tracing::warn!(%app, %function, %reason, "cannot list the blob trigger's container; its existing blobs are not scanned");
                return;
            }
        };
        let mut queued = 0;
        for name in names.iter().filter(|n| path.matches(n).is_some()) {
            let key: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
            let event = serde_json::json!({
                "Records": [{
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "configurationId": format!("azure/{app}"),
                        "bucket": {"name": container},
                        "object": {"key": key},
                    },
                }],
                "azureFunction": function,
            });
            let req = InvokeRequest {
                payload: Bytes::from(event.to_string()),
                ..InvokeRequest::default()
            };
            if let Err(e) = self.host.enqueue(&pool, req).await {
                tracing::warn!(%app, %function, error = %e, "cannot queue an existing blob for its trigger; the scan runs again at the next start");
                return;
            }
            queued += 1;
        }
        let written = tokio::task::spawn_blocking(move || {
            if let Some(dir) = marker.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&marker, b"")
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!(%app, %function, "the blob scan's marker cannot be written; the scan runs again at the next start");
        }
        if queued > 0 {
            tracing::info!(
                %app,
                "blob trigger 'Functions.{function}': {queued} blob(s) already in {container} queued, as the host's first scan finds them"
            );
        }
    }

    /// Runs a blob-triggered function on the blob the admin API named.
    async fn admin_blob(&self, table: &Table, app: &str, function: &str, path: &str) {
        let Some(app) = table.apps.iter().find(|a| a.name == app) else {
            return;
        };
        let Some(func) = app.functions.iter().find(|f| f.name == function) else {
            return;
        };
        let Some(trigger) = func.blob.as_ref() else {
            return;
        };
        let (container, name) = path.split_once('/').unwrap_or((path, ""));
        let captures = (trigger.path.container_name() == Some(container))
            .then(|| trigger.path.matches(name))
            .flatten();
        let Some(captures) = captures else {
            tracing::warn!(
                app = %app.name,
                "Executed 'Functions.{function}' (Failed): the input '{path}' is not a blob the trigger's path '{}' takes",
                trigger.path
            );
            return;
        };
        let id = uuid::Uuid::new_v4().to_string();
        let result = self
            .run_blob(
                app,
                func,
                (container, name),
                captures,
                (1, &id),
                HTTP_REASON,
            )
            .await;
        if let Err(e) = result {
            tracing::warn!(app = %app.name, function, error = %e, "invocation failed");
        }
    }

    /// Writes the host's poison message for a blob that failed every try.
    async fn poison(
        &self,
        app: &App,
        function: &str,
        container: &str,
        blob_name: &str,
        etag: &str,
        request_id: &str,
    ) {
        let dir = self
            .host
            .config()
            .state_dir
            .join("azure")
            .join(&app.name)
            .join(POISON_QUEUE);
        let message = serde_json::json!({
            "Type": "BlobTrigger",
            "FunctionId": format!("Host.Functions.{function}"),
            "BlobType": "BlockBlob",
            "ContainerName": container,
            "BlobName": blob_name,
            "ETag": etag,
        });
        let file = dir.join(format!("{request_id}.json"));
        let written = tokio::task::spawn_blocking({
            let file = file.clone();
            move || {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&file, message.to_string())
            }
        })
        .await;
        match written {
            Ok(Ok(())) => tracing::warn!(
                app = %app.name,
                file = %file.display(),
                "Message has reached MaxDequeueCount of {BLOB_TRIES}. Moving message to queue '{POISON_QUEUE}'. (blob {container}/{blob_name}, function 'Functions.{function}')"
            ),
            _ => tracing::warn!(
                app = %app.name,
                file = %file.display(),
                "blob {container}/{blob_name} failed {BLOB_TRIES} times in 'Functions.{function}'; its poison message cannot be written"
            ),
        }
    }
}

/// Where the host puts blobs that failed every try (a queue there; a folder here).
const POISON_QUEUE: &str = "webjobs-blobtrigger-poison";

/// What a blob binding answers without Meridian's storage.
const NO_STORE: &str =
    "blob bindings need Meridian's buckets, which this node does not serve (run `meridian up`)";

/// A failed invocation for a binding that failed (`error` says which and why).
fn binding_failure(
    function: &str,
    invocation_id: &str,
    error: &str,
) -> crate::invocation::InvokeResult {
    let message = format!("Exception while executing function: Functions.{function}: {error}");
    crate::invocation::InvokeResult {
        request_id: invocation_id.to_owned(),
        outcome: Outcome::FunctionError {
            error_type: "Microsoft.Azure.WebJobs.Host.FunctionInvocationException".into(),
            payload: Bytes::from(
                serde_json::json!({
                    "errorType": "Microsoft.Azure.WebJobs.Host.FunctionInvocationException",
                    "errorMessage": message,
                })
                .to_string(),
            ),
        },
        logs: None,
        cold_start: false,
        init_duration: None,
        duration: Duration::ZERO,
        content_type: None,
    }
}

/// A running listener serving the apps.
#[derive(Debug)]
pub struct AzureEndpoint {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl AzureEndpoint {
    /// Binds `addr` (port 0 for any) and serves `apps` until dropped.
    pub async fn start(apps: AzureApps, addr: std::net::SocketAddr) -> std::io::Result<Self> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let apps = apps.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let apps = apps.clone();
                            async move { Ok::<_, std::convert::Infallible>(apps.handle(req).await) }
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self { addr, task })
    }
}

impl Drop for AzureEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_responses_map_to_http() {
        let r = worker_response(
            br#"{"status": 201, "headers": {"Content-Type": "text/plain", "Content-Length": "99"}, "cookies": ["a=1; path=/", "b=2"], "body": "aGk="}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert!(r.headers().get("content-length").is_none());
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        assert!(worker_response(b"{\"status\": 99}").is_err());
        assert!(worker_response(b"not json").is_err());
    }

    #[test]
    fn prefixes_and_queries() {
        assert_eq!(strip_prefix_ci("API/Hello", "api"), Some("Hello"));
        assert_eq!(strip_prefix_ci("api", "api"), Some(""));
        assert_eq!(strip_prefix_ci("apix/Hello", "api"), None);
        let q = query_map("name=Ada&x=1&x=2&e=%20");
        assert_eq!(q["name"], "Ada");
        assert_eq!(q["x"], "1,2");
        assert_eq!(q["e"], " ");
        assert_eq!(timespan(Duration::from_secs(3725)), "01:02:05");
    }
}
