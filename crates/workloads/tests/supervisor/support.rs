//! The harness: a supervisor on a temporary state folder, manifests written as YAML, the
//! test binary itself as the replica program (`role` re-executes it as the demo app), and
//! waits that follow the supervisor's events with a deadline.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use meridian_control::endpoints::{EndpointState, EndpointTable, EndpointWatch};
use meridian_workloads::{
    Backoff, DesiredState, NodeInfo, ReplicaStatus, Supervisor, SupervisorOptions,
};

/// Set in a replica's environment to make the test binary act as the demo app.
pub(crate) const ROLE: &str = "MERIDIAN_TEST_ROLE";
/// The demo app's flags, as a JSON list.
pub(crate) const ARGS: &str = "MERIDIAN_TEST_ARGS";

/// When this binary runs as a replica, be the demo app (or the supervisor of the orphans
/// test) and never return.
pub(crate) fn run_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<String> = std::env::var(ARGS)
        .ok()
        .and_then(|a| serde_json::from_str(&a).ok())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = match role.as_str() {
        "demo" => rt.block_on(meridian_demo::run(args)).unwrap_or_else(|e| {
            eprintln!("demo: {e}");
            2
        }),
        "supervisor" => rt.block_on(crate::orphans::supervisor_role(args)),
        "https" => rt.block_on(crate::probes::https_role()),
        "hog" => hog(&args),
        "grpc-health" => rt.block_on(crate::probes::grpc_health_role(args)),
        _ => 2,
    };
    std::process::exit(code);
}

/// As a replica: allocates and touches the number of MiB in its first argument, says so,
/// and stays; exits 3 when the allocation is refused.
fn hog(args: &[String]) -> i32 {
    let mib: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(64);
    let mut v: Vec<u8> = Vec::new();
    if v.try_reserve_exact(mib << 20).is_err() {
        println!("cannot allocate {mib} MiB");
        return 3;
    }
    v.resize(mib << 20, 1);
    println!("allocated {mib} MiB ({} bytes touched)", v.len());
    std::thread::sleep(std::time::Duration::from_secs(600));
    0
}

/// A Deployment of the demo app, built like prose:
/// `Deployment::new("myapp").replicas(3).args(&["--ready-after", "1s"]).yaml()`.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    name: String,
    version: String,
    replicas: u32,
    args: Vec<String>,
    env: String,
    container: String,
    spec: String,
    program: Option<String>,
    role: String,
}

impl Deployment {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            version: "v1".into(),
            replicas: 1,
            args: Vec::new(),
            env: String::new(),
            container: String::new(),
            spec: String::new(),
            program: None,
            role: "demo".into(),
        }
    }

    pub(crate) fn version(mut self, v: &str) -> Self {
        self.version = v.into();
        self
    }

    pub(crate) fn replicas(mut self, n: u32) -> Self {
        self.replicas = n;
        self
    }

    /// Flags of the demo app.
    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// An `env` entry; `value` is YAML (`value: x` or `valueFrom: ...`).
    pub(crate) fn env(mut self, name: &str, value: &str) -> Self {
        self.env
            .push_str(&format!("        - name: {name}\n          {value}\n"));
        self
    }

    /// More container fields (ports, probes), as YAML indented by 8 spaces.
    pub(crate) fn container(mut self, yaml: &str) -> Self {
        self.container.push_str(yaml);
        self
    }

    /// More Deployment spec fields (strategy), as YAML indented by 2 spaces.
    pub(crate) fn spec(mut self, yaml: &str) -> Self {
        self.spec.push_str(yaml);
        self
    }

    /// Makes the replica act as another role of the test binary (`https`, `grpc-health`).
    pub(crate) fn role(mut self, role: &str) -> Self {
        self.role = role.into();
        self
    }

    /// Runs another program instead of the demo app.
    pub(crate) fn program(mut self, path: &str) -> Self {
        self.program = Some(path.into());
        self
    }

    pub(crate) fn yaml(&self) -> String {
        let exe = self.program.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .expect("current exe")
                .display()
                .to_string()
        });
        let args_json = serde_json::to_string(&self.args).expect("json");
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n{spec}  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n        version: {version}\n    spec:\n      terminationGracePeriodSeconds: 2\n      containers:\n      - name: {name}\n        command: [\"{exe}\", \"role\", \"--exact\", \"--nocapture\", \"-q\"]\n        env:\n        - name: {ROLE}\n          value: {role}\n        - name: {ARGS}\n          value: '{args_json}'\n{env}{container}",
            name = self.name,
            replicas = self.replicas,
            spec = self.spec,
            version = self.version,
            env = self.env,
            container = self.container,
            role = self.role,
        )
    }
}

/// Loads Kubernetes manifests into a desired state (panics on invalid input: tests write
/// valid manifests).
pub(crate) fn manifests(yaml: &str) -> DesiredState {
    let bundle = meridian_config::load_str(Path::new("test.yaml"), yaml, Default::default());
    let errors: Vec<String> = bundle
        .diagnostics()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{yaml}");
    DesiredState::from_config(bundle.resources(), &[])
}

/// Loads a Compose file into a desired state.
pub(crate) fn compose(yaml: &str) -> DesiredState {
    let loaded =
        meridian_config::compose::parse_str(Path::new("compose.yml"), yaml, &Default::default());
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{yaml}");
    let file = loaded.file.expect("compose file");
    DesiredState::from_config([], &[file])
}

/// The demo app as a Compose command (flow list).
pub(crate) fn compose_command(args: &[&str]) -> String {
    let exe = std::env::current_exe().expect("current exe");
    let args_json = serde_json::to_string(&args).expect("json");
    format!(
        "    command: [\"{}\", \"role\", \"--exact\", \"--nocapture\", \"-q\"]\n    environment:\n      {ROLE}: demo\n      {ARGS}: '{args_json}'\n",
        exe.display()
    )
}

/// A supervisor on a temporary folder.
pub(crate) struct Harness {
    pub(crate) sup: Supervisor,
    pub(crate) endpoints: EndpointWatch,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub(crate) fn start() -> Self {
        Self::with_node(NodeInfo::local())
    }

    pub(crate) fn with_node(node: NodeInfo) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = SupervisorOptions::new(dir.path());
        opts.node = node;
        opts.drain_delay = Duration::from_millis(100);
        opts.backoff = Backoff {
            initial: Duration::from_millis(300),
            max: Duration::from_secs(2),
            reset_after: Duration::from_secs(600),
        };
        let (publisher, endpoints) = meridian_control::endpoints::channel();
        let sup = Supervisor::start(opts, publisher).expect("supervisor");
        Self {
            sup,
            endpoints,
            _dir: dir,
        }
    }

    /// Waits (at most `secs`) until `cond` holds for the replicas; panics with `what` and the
    /// last status otherwise.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        secs: u64,
        cond: impl Fn(&[ReplicaStatus]) -> bool,
    ) -> Vec<ReplicaStatus> {
        let mut events = self.sup.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.sup.status();
            if cond(&s) {
                return s;
            }
            // Events wake us; the short timer covers changes without events (timers).
            let wait = tokio::time::timeout(Duration::from_millis(200), events.recv());
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; replicas:\n{}", describe(&s));
            }
            let _ = wait.await;
        }
    }

    /// The current endpoint table.
    pub(crate) fn table(&self) -> EndpointTable {
        (**self.endpoints.borrow()).clone()
    }

    pub(crate) fn ready_endpoints(&self, workload: &str) -> usize {
        self.table()
            .replicas
            .iter()
            .filter(|r| r.workload.name == workload && r.state == EndpointState::Ready)
            .count()
    }
}

pub(crate) fn describe(s: &[ReplicaStatus]) -> String {
    s.iter()
        .map(|r| {
            format!(
                "  {} {} ready={} restarts={} err={:?} exit={:?}",
                r.replica,
                r.state.as_str(),
                r.ready,
                r.restarts,
                r.last_error,
                r.last_exit.as_ref().map(|e| &e.description)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn of<'a>(s: &'a [ReplicaStatus], workload: &str) -> Vec<&'a ReplicaStatus> {
    s.iter().filter(|r| r.workload.name == workload).collect()
}

pub(crate) fn ready_count(s: &[ReplicaStatus], workload: &str) -> usize {
    of(s, workload).iter().filter(|r| r.ready).count()
}

/// GETs a path from a port and parses the JSON answer.
pub(crate) async fn get_json(port: u16, path: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Whether a process exists (and is not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub(crate) fn env_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
