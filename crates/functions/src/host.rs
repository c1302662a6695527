//! The function host: every function of the current configuration with its pool, swapped
//! whole on reload. New invocations go to new environments; invocations in flight finish on
//! the old ones, which are then stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use meridian_config::sam::{ApiSpec, Code, FunctionSpec, Platform, Runtime, Template};

use crate::apigw::Router;
use crate::bootstrap::Bootstraps;
use crate::error::FunctionsError;
use crate::event_queue::{self, Deliver, EventQueue, QueueLimits, Settings};
use crate::instance::Blueprint;
use crate::invocation::{InvokeRequest, InvokeResult};
use crate::memory::MemoryEnforcement;
use crate::pool::{Concurrency, Pool, Stats};

/// How the host runs functions.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where bootstraps, assembled task roots and logs go (`.meridian/` by default).
    pub state_dir: PathBuf,
    /// `AWS_REGION` given to functions and used in ARNs.
    pub region: String,
    /// Account id used in ARNs.
    pub account_id: String,
    /// How long an idle environment is kept warm before it is stopped (scale to zero).
    pub idle_timeout: Duration,
    /// The most invocations running at once across all functions (Lambda's account
    /// concurrency); beyond it invocations are throttled.
    pub max_concurrency: usize,
    /// Variables given to every function before its own (e.g. `AWS_ENDPOINT_URL` pointing
    /// at Meridian's DynamoDB API).
    pub extra_env: BTreeMap<String, String>,
    /// Copy function logs to this process's stderr as they are written (the CLI's
    /// `invoke`).
    pub echo_logs: bool,
    /// Bounds of each function's asynchronous event queue.
    pub async_queue: QueueLimits,
    /// How long a failed asynchronous event waits before its first retry (Lambda: one
    /// minute); the second retry waits twice as long.
    pub async_retry_delay: Duration,
    /// Who issues each execution environment's AWS credentials. Without one, functions get
    /// this process's `AWS_*` credentials (or placeholders).
    pub credentials: Option<Arc<dyn crate::CredentialSource>>,
}

impl HostConfig {
    /// Defaults for a state directory: `us-east-1`, account `123456789012`, 10 minutes of
    /// idleness before scale-to-zero (what Lambda is measured to do), 64 concurrent
    /// invocations.
    /// A relative `state_dir` is made absolute: runtimes start in their task root, where a
    /// relative path to the bootstraps would point nowhere.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        let state_dir = state_dir.into();
        Self {
            state_dir: std::path::absolute(&state_dir).unwrap_or(state_dir),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            idle_timeout: Duration::from_secs(600),
            max_concurrency: 64,
            extra_env: BTreeMap::new(),
            echo_logs: false,
            async_queue: QueueLimits::default(),
            async_retry_delay: event_queue::RETRY_DELAY,
            credentials: None,
        }
    }
}

/// The longest wait before an Azure app's queued event is tried again (times the tries so
/// far).
const AZURE_RETRY_DELAY: Duration = Duration::from_secs(2);

/// What `meridian functions ls` shows for one function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FunctionStatus {
    /// Function name.
    pub name: String,
    /// Logical id in the template.
    pub logical_id: String,
    /// Runtime.
    pub runtime: String,
    /// Live execution environments.
    pub instances: usize,
    /// Of which idle and warm.
    pub warm: usize,
    /// Of which running an invocation.
    pub busy: usize,
    /// Invocations since the function was loaded.
    pub invocations: u64,
    /// Function errors.
    pub errors: u64,
    /// Cold starts.
    pub cold_starts: u64,
    /// Throttled invocations.
    pub throttles: u64,
    /// Lines of its output dropped because its log could not keep up (noted in the log).
    #[serde(default)]
    pub log_lines_dropped: u64,
    /// Asynchronous events waiting or being delivered.
    #[serde(default)]
    pub queued_events: usize,
    /// Route keys that invoke it (`GET /hello`).
    pub routes: Vec<String>,
}

/// The functions of one configuration.
#[derive(Debug)]
pub(crate) struct Registry {
    pub pools: BTreeMap<String, Arc<Pool>>,
    pub aliases: BTreeMap<String, String>,
    pub router: Router,
}

impl Registry {
    pub(crate) fn pool(&self, name: &str) -> Option<&Arc<Pool>> {
        self.pools
            .get(name)
            .or_else(|| self.aliases.get(name).and_then(|n| self.pools.get(n)))
    }
}

#[derive(Debug)]
struct Inner {
    config: HostConfig,
    bootstraps: Bootstraps,
    memory: MemoryEnforcement,
    global: Arc<Concurrency>,
    registry: ArcSwap<Registry>,
    generation: AtomicU64,
    /// Each function's asynchronous event queue, by function name. They outlive reloads.
    queues: Mutex<BTreeMap<String, QueueTask>>,
    /// Who runs the queued events of Azure Functions apps.
    queued_azure: std::sync::OnceLock<Arc<dyn QueuedInvoker>>,
}

/// Runs the queued events of Azure Functions apps' pools: an event there is a bucket event
/// for a blob trigger, which needs the blob and the bindings before the worker sees it.
pub(crate) trait QueuedInvoker: Send + Sync + std::fmt::Debug {
    /// Runs one queued event of an app's pool.
    fn invoke(
        &self,
        host: FunctionHost,
        req: InvokeRequest,
    ) -> crate::stream_events::BoxFuture<'static, Result<InvokeResult, FunctionsError>>;
}

/// A function's event queue and the task that delivers from it (stopped when dropped).
#[derive(Debug)]
struct QueueTask {
    queue: Arc<EventQueue>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for QueueTask {
    fn drop(&mut self) {
        self.queue.stop();
        if let Some(task) = &self.dispatcher {
            task.abort();
        }
    }
}

/// The host as its queues see it: held weakly, so that a queue never keeps it alive.
#[derive(Debug)]
struct HostRef(Weak<Inner>);

impl HostRef {
    fn host(&self) -> Result<FunctionHost, FunctionsError> {
        self.0
            .upgrade()
            .map(|inner| FunctionHost { inner })
            .ok_or(FunctionsError::ShuttingDown)
    }
}

impl Deliver for HostRef {
    async fn invoke(
        &self,
        function: &str,
        req: InvokeRequest,
    ) -> Result<InvokeResult, FunctionsError> {
        let host = self.host()?;
        if let Some(azure) = host.inner.queued_azure.get()
            && host
                .function(function)
                .is_some_and(|s| s.platform == Platform::AzureFunctions)
        {
            return azure.invoke(host.clone(), req).await;
        }
        host.invoke(function, req).await
    }

    async fn forward(&self, function: &str, record: bytes::Bytes) -> Result<(), FunctionsError> {
        let req = InvokeRequest {
            payload: record,
            ..InvokeRequest::default()
        };
        self.host()?.enqueue(function, req).await.map(drop)
    }
}

/// Functions and APIs prepared to go in force (see [`FunctionHost::prepare_load`]).
#[derive(Debug)]
pub struct PreparedFunctions {
    generation: u64,
    registry: Registry,
    /// Every function's queue (opened from disk when new) and its settings.
    queues: BTreeMap<String, (Arc<EventQueue>, Settings)>,
}

/// Runs functions: the entry point of the plane. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FunctionHost {
    inner: Arc<Inner>,
}

fn state_err(path: &Path) -> impl FnOnce(std::io::Error) -> FunctionsError + '_ {
    move |source| FunctionsError::StateDir {
        path: path.to_path_buf(),
        source,
    }
}

impl FunctionHost {
    /// A host with no functions yet; writes the bootstraps and detects how memory limits
    /// can be enforced.
    pub fn new(config: HostConfig) -> Result<Self, FunctionsError> {
        std::fs::create_dir_all(&config.state_dir).map_err(state_err(&config.state_dir))?;
        let bootstraps = Bootstraps::install(&config.state_dir)?;
        let memory = MemoryEnforcement::detect(&std::process::id().to_string());
        let global = Arc::new(Concurrency {
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            cap: config.max_concurrency.max(1),
        });
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                bootstraps,
                memory,
                global,
                registry: ArcSwap::from_pointee(Registry {
                    pools: BTreeMap::new(),
                    aliases: BTreeMap::new(),
                    router: Router::default(),
                }),
                generation: AtomicU64::new(0),
                queues: Mutex::new(BTreeMap::new()),
                queued_azure: std::sync::OnceLock::new(),
            }),
        })
    }

    fn lock_queues(&self) -> MutexGuard<'_, BTreeMap<String, QueueTask>> {
        // Inserts and removals are single calls: a poisoned lock is still consistent.
        self.inner
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A function's queue settings, from its `EventInvokeConfig` and concurrency.
    fn queue_settings(&self, spec: &FunctionSpec) -> Settings {
        let cfg = &self.inner.config;
        let e = &spec.event_invoke;
        Settings {
            max_age: e.maximum_event_age,
            max_retries: u32::from(e.maximum_retry_attempts),
            on_success: e.on_success.clone(),
            on_failure: e.on_failure.clone(),
            concurrency: spec
                .reserved_concurrency
                .map_or(self.inner.global.cap, |n| n as usize),
            // The Functions host retries a failed blob at once (its queue's visibility
            // timeout is zero); a few seconds keep a failing function from spinning.
            retry_delay: if spec.platform == Platform::AzureFunctions {
                cfg.async_retry_delay.min(AZURE_RETRY_DELAY)
            } else {
                cfg.async_retry_delay
            },
            limits: cfg.async_queue,
        }
    }

    /// Accepts an asynchronous (`Event`) invocation of a function (by name or logical id):
    /// returns its request id once the event is on disk, as Lambda answers 202 once the
    /// event is queued; refuses it (429) when the function's queue is full.
    pub async fn enqueue(&self, name: &str, req: InvokeRequest) -> Result<String, FunctionsError> {
        let not_found = || FunctionsError::NotFound {
            arn: self.arn(name),
        };
        let function = self.function(name).ok_or_else(not_found)?;
        let queue = self
            .lock_queues()
            .get(&function.name)
            .map(|q| q.queue.clone())
            .ok_or_else(not_found)?;
        queue.push(req).await
    }

    /// Runs the queued events of Azure Functions apps with `invoker` (the first one set
    /// stays).
    pub(crate) fn run_queued_with(&self, invoker: Arc<dyn QueuedInvoker>) {
        let _ = self.inner.queued_azure.set(invoker);
    }

    /// Where the runtimes' bootstraps and workers were written.
    pub fn bootstraps(&self) -> &Bootstraps {
        &self.inner.bootstraps
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// How `MemorySize` is enforced here.
    pub fn memory_enforcement(&self) -> &MemoryEnforcement {
        &self.inner.memory
    }

    /// Loads a template's functions and APIs (see [`FunctionHost::load`]).
    pub fn load_template(&self, t: &Template) -> Result<(), FunctionsError> {
        self.load(t.functions.clone(), t.apis.clone())
    }

    /// Replaces the functions in force. Invocations that start afterwards use new execution
    /// environments; those in flight finish on the old ones, which then stop. Counters of
    /// functions that keep their name carry over. Use this when code may have changed.
    pub fn load(
        &self,
        functions: Vec<FunctionSpec>,
        apis: Vec<ApiSpec>,
    ) -> Result<(), FunctionsError> {
        self.apply(functions, apis, false)
    }

    /// Like [`FunctionHost::load`], but functions whose spec is unchanged keep their warm
    /// environments (a template edit that touched other functions or only the APIs).
    pub fn update(
        &self,
        functions: Vec<FunctionSpec>,
        apis: Vec<ApiSpec>,
    ) -> Result<(), FunctionsError> {
        self.apply(functions, apis, true)
    }

    fn apply(
        &self,
        functions: Vec<FunctionSpec>,
        apis: Vec<ApiSpec>,
        keep_unchanged: bool,
    ) -> Result<(), FunctionsError> {
        let prepared = self.prepare(functions, apis, keep_unchanged)?;
        self.commit(prepared);
        Ok(())
    }

    /// Prepares the functions and APIs to put in force with [`FunctionHost::commit`],
    /// without changing what serves: every function's code is assembled (layers, task root)
    /// and its routes built, so what can fail fails here. Like [`FunctionHost::load`] (code
    /// may have changed: every function gets new environments).
    pub fn prepare_load(
        &self,
        functions: Vec<FunctionSpec>,
        apis: Vec<ApiSpec>,
    ) -> Result<PreparedFunctions, FunctionsError> {
        self.prepare(functions, apis, false)
    }

    /// Assembles code (files, links, interpreter probes) without holding up the runtime it
    /// is called from (see [`off_runtime`]).
    fn prepare(
        &self,
        functions: Vec<FunctionSpec>,
        apis: Vec<ApiSpec>,
        keep_unchanged: bool,
    ) -> Result<PreparedFunctions, FunctionsError> {
        off_runtime(|| self.prepare_here(functions, apis, keep_unchanged))
    }

    fn prepare_here(
        &self,
        functions: Vec<FunctionSpec>,
        apis: Vec<ApiSpec>,
        keep_unchanged: bool,
    ) -> Result<PreparedFunctions, FunctionsError> {
        let generation = self.inner.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let old = self.inner.registry.load_full();
        let mut pools: BTreeMap<String, Arc<Pool>> = BTreeMap::new();
        let mut aliases = BTreeMap::new();
        for spec in functions {
            aliases.insert(spec.logical_id.clone(), spec.name.clone());
            if keep_unchanged
                && let Some(p) = old
                    .pools
                    .get(&spec.name)
                    .filter(|p| same_function(&p.spec, &spec))
            {
                pools.insert(spec.name.clone(), p.clone());
                continue;
            }
            let spec = Arc::new(spec);
            let stats = old
                .pools
                .get(&spec.name)
                .map_or_else(|| Arc::new(Stats::default()), |p| p.stats.clone());
            let mut blueprint = self.blueprint(&spec, generation, &stats)?;
            blueprint.session =
                self.inner
                    .config
                    .credentials
                    .clone()
                    .map(|source| crate::credentials::Session {
                        source,
                        function: spec.clone(),
                    });
            pools.insert(
                spec.name.clone(),
                Arc::new(Pool::new(
                    spec.clone(),
                    blueprint,
                    generation,
                    stats,
                    self.inner.global.clone(),
                )),
            );
        }
        let router = Router::build(
            pools.values().map(|p| p.spec.as_ref()),
            &apis,
            &self.inner.config,
        );
        let mut queues = BTreeMap::new();
        for p in pools.values() {
            let name = &p.spec.name;
            let settings = self.queue_settings(&p.spec);
            let held = self.lock_queues().get(name).map(|q| q.queue.clone());
            let queue = match held {
                Some(q) => q,
                None => {
                    let dir = self
                        .inner
                        .config
                        .state_dir
                        .join("functions")
                        .join(name)
                        .join("events");
                    let opened =
                        EventQueue::open(name, &self.arn(name), dir.clone(), settings.clone())
                            .map_err(state_err(&dir))?;
                    Arc::new(opened)
                }
            };
            queues.insert(name.clone(), (queue, settings));
        }
        Ok(PreparedFunctions {
            generation,
            registry: Registry {
                pools,
                aliases,
                router,
            },
            queues,
        })
    }

    /// Puts prepared functions in force. Invocations that start afterwards use the new
    /// environments; those in flight finish on the old ones, which then stop. Cannot fail.
    pub fn commit(&self, prepared: PreparedFunctions) {
        let PreparedFunctions {
            generation,
            registry,
            queues,
        } = prepared;
        {
            // Queues of functions gone stop (their events stay on disk); new ones start.
            let mut held = self.lock_queues();
            held.retain(|name, _| queues.contains_key(name));
            for (name, (queue, settings)) in queues {
                queue.configure(settings);
                held.entry(name).or_insert_with(|| QueueTask {
                    dispatcher: self.start_delivery(&queue),
                    queue,
                });
            }
        }
        let in_use: Vec<u64> = registry.pools.values().map(|p| p.generation).collect();
        let old = self.inner.registry.swap(Arc::new(registry));
        for (name, p) in &old.pools {
            let kept = self
                .registry()
                .pools
                .get(name)
                .is_some_and(|n| Arc::ptr_eq(n, p));
            if !kept {
                p.drain();
            }
        }
        // Deleting old task roots is file work: on a runtime, on its blocking pool.
        let host = self.clone();
        let prune = move || host.prune_generations(generation, &in_use);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(prune)),
            Err(_) => prune(),
        }
    }

    /// Removes assembled task roots that no pool runs from any more (keeping the previous
    /// generation, whose draining invocations may still use it).
    fn prune_generations(&self, current: u64, in_use: &[u64]) {
        let dir = self.inner.config.state_dir.join("functions");
        let Ok(funcs) = std::fs::read_dir(&dir) else {
            return;
        };
        for f in funcs.flatten() {
            let Ok(gens) = std::fs::read_dir(f.path()) else {
                continue;
            };
            for g in gens.flatten() {
                let name = g.file_name();
                let Some(n) = name.to_str().and_then(|s| s.strip_prefix("gen-")) else {
                    continue;
                };
                if n.parse::<u64>()
                    .is_ok_and(|n| n + 1 < current && !in_use.contains(&n))
                {
                    let _ = std::fs::remove_dir_all(g.path());
                }
            }
        }
    }

    /// Starts delivering a queue's events, when there is a runtime to do it on.
    fn start_delivery(&self, queue: &Arc<EventQueue>) -> Option<tokio::task::JoinHandle<()>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let host = Arc::new(HostRef(Arc::downgrade(&self.inner)));
        Some(runtime.spawn(queue.clone().run(host)))
    }

    /// Stops every environment and the delivery of queued events (which stay on disk).
    pub fn shutdown(&self) {
        self.lock_queues().clear();
        let old = self.inner.registry.swap(Arc::new(Registry {
            pools: BTreeMap::new(),
            aliases: BTreeMap::new(),
            router: Router::default(),
        }));
        for p in old.pools.values() {
            p.drain();
        }
    }

    pub(crate) fn registry(&self) -> arc_swap::Guard<Arc<Registry>> {
        self.inner.registry.load()
    }

    /// The ARN of a function name.
    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.inner.config.region, self.inner.config.account_id
        )
    }

    /// Invokes a function by name (or logical id) and waits for the result.
    pub async fn invoke(
        &self,
        name: &str,
        req: InvokeRequest,
    ) -> Result<InvokeResult, FunctionsError> {
        let pool = self
            .registry()
            .pool(name)
            .cloned()
            .ok_or_else(|| FunctionsError::NotFound {
                arn: self.arn(name),
            })?;
        pool.invoke(req).await
    }

    /// The spec of a function in force.
    pub fn function(&self, name: &str) -> Option<Arc<FunctionSpec>> {
        self.registry().pool(name).map(|p| p.spec.clone())
    }

    /// Status of every function.
    pub fn functions(&self) -> Vec<FunctionStatus> {
        self.registry()
            .pools
            .values()
            .map(|p| {
                let live = p.live();
                let busy = p.busy().min(live);
                FunctionStatus {
                    name: p.spec.name.clone(),
                    logical_id: p.spec.logical_id.clone(),
                    runtime: p.spec.runtime.to_string(),
                    instances: live,
                    warm: live - busy,
                    busy,
                    invocations: p.stats.invocations.load(Ordering::Relaxed),
                    errors: p.stats.errors.load(Ordering::Relaxed),
                    cold_starts: p.stats.cold_starts.load(Ordering::Relaxed),
                    throttles: p.stats.throttles.load(Ordering::Relaxed),
                    log_lines_dropped: p.stats.log_dropped.load(Ordering::Relaxed),
                    queued_events: self
                        .lock_queues()
                        .get(&p.spec.name)
                        .map_or(0, |q| q.queue.len()),
                    routes: p.spec.routes.iter().map(|r| r.route_key()).collect(),
                }
            })
            .collect()
    }

    fn blueprint(
        &self,
        spec: &FunctionSpec,
        generation: u64,
        stats: &Stats,
    ) -> Result<Blueprint, FunctionsError> {
        let cfg = &self.inner.config;
        let fdir = cfg.state_dir.join("functions").join(&spec.name);
        std::fs::create_dir_all(&fdir).map_err(state_err(&fdir))?;
        let task_root = self.task_root(spec, &fdir.join(format!("gen-{generation}")))?;
        let (mut program, args) =
            self.inner
                .bootstraps
                .command(spec.runtime, spec.platform, &task_root, spec.memory_mb);
        // A custom runtime may come in a layer: Lambda runs /var/task/bootstrap, else
        // /opt/bootstrap (the last layer that has one wins, as extraction order does).
        if matches!(spec.runtime, Runtime::Provided(_))
            && !program.exists()
            && let Some(b) = spec
                .layers
                .iter()
                .rev()
                .map(|l| l.join("bootstrap"))
                .find(|b| b.is_file())
        {
            program = b;
        }
        // What Lambda extracts into /opt, found where it lies. Each /opt path becomes the
        // same path in every layer, later layers first, so their files win over earlier ones'
        // as they would in the merged /opt.
        let opt: Vec<String> = spec
            .layers
            .iter()
            .rev()
            .map(|l| std::fs::canonicalize(l).unwrap_or_else(|_| l.clone()))
            .map(|l| l.display().to_string())
            .collect();
        let under = |sub: &str| -> String {
            opt.iter()
                .map(|l| format!("{l}/{sub}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        let with = |base: String, extra: String| -> String {
            if extra.is_empty() {
                base
            } else {
                format!("{base}:{extra}")
            }
        };
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &cfg.extra_env {
            env.insert(k.clone(), v.clone());
        }
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            if let Ok(v) = std::env::var(k) {
                env.insert(k.into(), v);
            }
        }
        env.entry("AWS_ACCESS_KEY_ID".into())
            .or_insert_with(|| "AKIAMERIDIANLOCAL".into());
        env.entry("AWS_SECRET_ACCESS_KEY".into())
            .or_insert_with(|| "meridian-local-secret".into());
        for (k, v) in &spec.environment {
            env.insert(k.clone(), v.clone());
        }
        let host_path = std::env::var("PATH").unwrap_or_default();
        let path = if host_path.is_empty() {
            "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()
        } else {
            format!("{host_path}:/usr/local/bin:/usr/bin/:/bin:/opt/bin")
        };
        let path = with(path, under("bin"));
        let root = task_root.display().to_string();
        let runtime_dir = self.inner.bootstraps.runtime_dir.display().to_string();
        let reserved: [(&str, String); 14] = [
            ("PATH", path),
            ("LANG", "en_US.UTF-8".into()),
            ("TZ", ":UTC".into()),
            ("_HANDLER", spec.handler.clone()),
            ("LAMBDA_TASK_ROOT", root.clone()),
            ("LAMBDA_RUNTIME_DIR", runtime_dir),
            ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", cfg.region.clone()),
            ("AWS_DEFAULT_REGION", cfg.region.clone()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            ),
            ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".into()),
        ];
        for (k, v) in reserved {
            env.insert(k.into(), v);
        }
        match spec.runtime {
            Runtime::Node { major } => {
                env.insert(
                    "AWS_EXECUTION_ENV".into(),
                    format!("AWS_Lambda_{}", spec.runtime),
                );
                // Lambda's order: /opt/nodejs/node<major>/node_modules, /opt/nodejs/node_modules,
                // then the task's.
                let layers = with(
                    under(&format!("nodejs/node{major}/node_modules")),
                    under("nodejs/node_modules"),
                );
                let task = format!("{root}/node_modules:{root}");
                env.insert(
                    "NODE_PATH".into(),
                    if layers.is_empty() {
                        task
                    } else {
                        format!("{layers}:{task}")
                    },
                );
            }
            Runtime::Python { minor } => {
                env.insert(
                    "AWS_EXECUTION_ENV".into(),
                    format!("AWS_Lambda_{}", spec.runtime),
                );
                // The task first, then /opt/python/lib/python3.<minor>/site-packages and
                // /opt/python, as Lambda's sys.path.
                let layers = with(
                    under(&format!("python/lib/python3.{minor}/site-packages")),
                    under("python"),
                );
                env.insert("PYTHONPATH".into(), with(root.clone(), layers));
                env.insert("PYTHONUNBUFFERED".into(), "1".into());
            }
            Runtime::Ruby { major, minor } => {
                env.insert(
                    "AWS_EXECUTION_ENV".into(),
                    format!("AWS_Lambda_{}", spec.runtime),
                );
                // As Lambda's: the task and /opt/ruby/lib on the load path, gems vendored
                // with the function (`bundle config set path vendor/bundle`) and from
                // layers' /opt/ruby/gems.
                env.insert("RUBYLIB".into(), with(root.clone(), under("ruby/lib")));
                let abi = format!("{major}.{minor}.0");
                env.insert(
                    "GEM_PATH".into(),
                    with(
                        format!("{root}/vendor/bundle/ruby/{abi}"),
                        under(&format!("ruby/gems/{abi}")),
                    ),
                );
            }
            Runtime::Provided(_) => {}
        }
        if !opt.is_empty() {
            let host = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
            let libs = under("lib");
            env.insert(
                "LD_LIBRARY_PATH".into(),
                if host.is_empty() {
                    format!("{root}:{root}/lib:{libs}")
                } else {
                    format!("{host}:{root}:{root}/lib:{libs}")
                },
            );
        }
        Ok(Blueprint {
            // Says which interpreter stands in for the runtime (the host's, which may be
            // another minor version than the template names).
            runtime_label: format!("{} Executable: {}", spec.runtime, program.display()),
            program,
            args,
            cwd: task_root.join(&spec.working_dir),
            env: env.into_iter().collect(),
            arn: self.arn(&spec.name),
            memory_mb: spec.memory_mb,
            timeout: spec.timeout,
            log_file: fdir.join("function.log"),
            echo_logs: cfg.echo_logs,
            log_dropped: stats.log_dropped.clone(),
            memory: self.inner.memory.clone(),
            idle_timeout: cfg.idle_timeout,
            session: None,
        })
    }

    /// The folder the runtime sees as `LAMBDA_TASK_ROOT`.
    fn task_root(&self, spec: &FunctionSpec, gen_dir: &Path) -> Result<PathBuf, FunctionsError> {
        match &spec.code {
            Code::Dir(d) => Ok(std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())),
            Code::Inline(src) => {
                std::fs::create_dir_all(gen_dir).map_err(state_err(gen_dir))?;
                let file = match spec.runtime {
                    Runtime::Node { .. } => "index.js",
                    Runtime::Python { .. } => "index.py",
                    Runtime::Ruby { .. } => "index.rb",
                    Runtime::Provided(_) => "bootstrap",
                };
                let path = gen_dir.join(file);
                std::fs::write(&path, src).map_err(state_err(&path))?;
                if matches!(spec.runtime, Runtime::Provided(_)) {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
                }
                Ok(gen_dir.to_path_buf())
            }
            Code::Layout(copies) => {
                let root = gen_dir.join("task");
                let _ = std::fs::remove_dir_all(&root);
                std::fs::create_dir_all(&root).map_err(state_err(&root))?;
                for c in copies {
                    let dest = root.join(&c.dest);
                    if c.is_dir {
                        std::fs::create_dir_all(&dest).map_err(state_err(&dest))?;
                        let entries = std::fs::read_dir(&c.src).map_err(state_err(&c.src))?;
                        for e in entries.flatten() {
                            let target = dest.join(e.file_name());
                            let _ = std::fs::remove_file(&target);
                            std::os::unix::fs::symlink(absolute(&e.path()), &target)
                                .map_err(state_err(&target))?;
                        }
                    } else {
                        if let Some(parent) = dest.parent() {
                            std::fs::create_dir_all(parent).map_err(state_err(parent))?;
                        }
                        let _ = std::fs::remove_file(&dest);
                        std::os::unix::fs::symlink(absolute(&c.src), &dest)
                            .map_err(state_err(&dest))?;
                    }
                }
                Ok(root)
            }
        }
    }
}

/// Runs file and process work (assembling task roots, probing interpreters) so that it does
/// not stall the runtime it is called from, whose other tasks serve the data plane: on a
/// worker of a multi-thread runtime, the worker hands its other tasks to a new thread first
/// (`block_in_place`); elsewhere (a current-thread runtime, no runtime) it simply runs.
fn off_runtime<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// A symlink target that works from the task root: a relative source path (a template
/// loaded as `examples/lambda/template.yaml`) would resolve against the link's folder.
fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Equal specs, ignoring where they were declared (an edit above a function moves it).
fn same_function(a: &FunctionSpec, b: &FunctionSpec) -> bool {
    let mut b = b.clone();
    b.origin = a.origin.clone();
    b.runtime_at = a.runtime_at;
    *a == b
}
