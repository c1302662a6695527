//! Azure Functions apps served by the functions host, called with curl: the course's v3
//! HttpTrigger unmodified, route templates and constraints, key levels, the admin API, a
//! handler that throws, one that never answers (functionTimeout), and the v4 programming
//! model with the real `@azure/functions` package from npm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meridian_config::azure::load_app;
use meridian_functions::azure::{AzureApps, AzureEndpoint, prepare};
use meridian_functions::{FunctionHost, HostConfig};

struct App {
    _dir: tempfile::TempDir,
    state: PathBuf,
    host: FunctionHost,
    apps: AzureApps,
    endpoint: AzureEndpoint,
}

async fn serve(root: &Path, dir: tempfile::TempDir) -> App {
    let loaded = load_app(root);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let app = loaded.app.unwrap_or_else(|| panic!("no app"));
    let state = dir.path().join("state");
    let mut cfg = HostConfig::new(&state);
    cfg.idle_timeout = Duration::from_secs(60);
    let host = FunctionHost::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let prepared = prepare(std::slice::from_ref(&app), &host)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    host.load(prepared.specs, Vec::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let apps = AzureApps::new(host.clone());
    apps.commit(prepared.table);
    let endpoint = AzureEndpoint::start(
        apps.clone(),
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    App {
        _dir: dir,
        state,
        host,
        apps,
        endpoint,
    }
}

struct Got {
    status: u16,
    headers: String,
    body: String,
}

/// curl, off the runtime (the server runs on it).
async fn curl(args: Vec<String>) -> Got {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "30",
                "-D",
                "-",
                "-o",
                "/dev/stderr",
                "-w",
                "%{http_code}",
            ])
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("curl: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let status = stdout
            .get(stdout.len().saturating_sub(3)..)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Got {
            status,
            headers: stdout,
            body: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
}

/// A function folder with the usual bindings: an `httpTrigger` named `req` at `auth_level`
/// and an `http` output named `res`, and its `index.js`.
fn http_function(root: &Path, name: &str, auth_level: &str, index_js: &str) {
    write(
        root,
        &format!("{name}/function.json"),
        &format!(
            r#"{{"bindings": [{{"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "{auth_level}"}},
  {{"type": "http", "direction": "out", "name": "res"}}]}}"#
        ),
    );
    write(root, &format!("{name}/index.js"), index_js);
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_course_http_trigger_answers_unmodified() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = serve(&examples().join("azure"), dir).await;
    let base = format!("http://{}/api/HttpTrigger", app.endpoint.addr);

    let got = curl(vec![format!("{base}?name=Ada")]).await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (200, "Hello, Ada!"),
        "{}",
        got.headers
    );
    assert!(
        got.headers
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        got.headers
    );

    let got = curl(vec![
        "-X".into(),
        "POST".into(),
        "-H".into(),
        "Content-Type: application/json".into(),
        "--data".into(),
        r#"{"name":"Grace"}"#.into(),
        base.clone(),
    ])
    .await;
    assert_eq!((got.status, got.body.as_str()), (200, "Hello, Grace!"));

    let got = curl(vec![base.clone()]).await;
    assert_eq!((got.status, got.body.as_str()), (200, "Hello, World!"));

    // Routes are case-insensitive; other methods and paths are not found.
    let got = curl(vec![format!(
        "http://{}/API/httptrigger?name=x",
        app.endpoint.addr
    )])
    .await;
    assert_eq!((got.status, got.body.as_str()), (200, "Hello, x!"));
    let got = curl(vec!["-X".into(), "PUT".into(), base.clone()]).await;
    assert_eq!(got.status, 404);
    let got = curl(vec![format!("http://{}/api/Nope", app.endpoint.addr)]).await;
    assert_eq!(got.status, 404);
    // The host's home page at `/`, which health probes find.
    let got = curl(vec![format!("http://{}/", app.endpoint.addr)]).await;
    assert_eq!(got.status, 200);
    assert!(got.body.contains("app is up and running"), "{}", got.body);

    // Azure's invocation lines in the app's log, one warm worker for all of it.
    let log = std::fs::read_to_string(app.state.join("functions/azure/function.log"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        log.contains("Executing 'Functions.HttpTrigger' (Reason='This function was programmatically called via the host APIs.', Id="),
        "{log}"
    );
    assert!(
        log.contains("HTTP trigger function processed a request."),
        "{log}"
    );
    assert!(
        log.contains("Executed 'Functions.HttpTrigger' (Succeeded, Id="),
        "{log}"
    );
    let status = app.host.functions();
    assert_eq!(status[0].cold_starts, 1, "{status:?}");
    assert_eq!(status[0].invocations, 4, "{status:?}");
}

const HOST_JSON: &str = r#"{"version": "2.0", "functionTimeout": "00:00:02",
  "extensions": {"http": {"routePrefix": "v1"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_keys_errors_and_timeouts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("app");
    write(&root, "host.json", HOST_JSON);
    write(
        &root,
        "Product/function.json",
        r#"{"bindings": [
  {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "function",
   "methods": ["get"], "route": "products/{category:alpha}/{id:int?}"},
  {"type": "http", "direction": "out", "name": "$return"}]}"#,
    );
    write(
        &root,
        "Product/index.js",
        "module.exports = async function (context, req) {\n  return { body: { category: context.bindingData.category, id: req.params.id || null, q: req.query.q || null } };\n};\n",
    );
    http_function(
        &root,
        "Admin",
        "admin",
        "module.exports = function (context, req) { context.res = { status: 202, body: 'admin' }; context.done(); };\n",
    );
    http_function(
        &root,
        "Boom",
        "anonymous",
        "module.exports = async function () { throw new Error('kaput'); };\n",
    );
    http_function(
        &root,
        "Slow",
        "anonymous",
        "module.exports = function () { /* never calls done */ };\n",
    );
    let app = serve(&root, dir).await;
    let a = app.endpoint.addr;
    let keys = app.apps.keys("app").unwrap_or_else(|| panic!("no keys"));
    let fkey = keys.functions["Product"]["default"].clone();

    // Key levels: none is 401, the function's key or a host key opens it, the master key too.
    let url = format!("http://{a}/v1/products/tools/42?q=hammer");
    assert_eq!(curl(vec![url.clone()]).await.status, 401);
    assert_eq!(curl(vec![format!("{url}&code=wrong")]).await.status, 401);
    let got = curl(vec![format!("{url}&code={fkey}")]).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let v: serde_json::Value =
        serde_json::from_str(&got.body).unwrap_or_else(|e| panic!("{e}: {}", got.body));
    assert_eq!(
        v,
        serde_json::json!({"category": "tools", "id": "42", "q": "hammer"})
    );
    let got = curl(vec![
        "-H".into(),
        format!("x-functions-key: {}", keys.host["default"]),
        format!("http://{a}/v1/products/tools"),
    ])
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.body).ok(),
        Some(serde_json::json!({"category": "tools", "id": null, "q": null}))
    );
    // Constraints: not a number, not letters: no route.
    assert_eq!(
        curl(vec![format!("http://{a}/v1/products/tools/x?code={fkey}")])
            .await
            .status,
        404
    );
    assert_eq!(
        curl(vec![format!("http://{a}/v1/products/t00ls?code={fkey}")])
            .await
            .status,
        404
    );

    // Admin level: only the master key.
    assert_eq!(
        curl(vec![format!("http://{a}/v1/Admin?code={fkey}")])
            .await
            .status,
        401
    );
    let got = curl(vec![format!("http://{a}/v1/Admin?code={}", keys.master)]).await;
    assert_eq!((got.status, got.body.as_str()), (202, "admin"));

    // The admin API.
    assert_eq!(
        curl(vec![format!("http://{a}/admin/host/status")])
            .await
            .status,
        401
    );
    let got = curl(vec![
        "-H".into(),
        format!("x-functions-key: {}", keys.master),
        format!("http://{a}/admin/host/status"),
    ])
    .await;
    assert_eq!(got.status, 200);
    assert!(got.body.contains("\"state\":\"Running\""), "{}", got.body);
    let got = curl(vec![
        "-H".into(),
        format!("x-functions-key: {}", keys.master),
        format!("http://{a}/admin/functions"),
    ])
    .await;
    assert!(
        got.body
            .contains("\"invoke_url_template\":\"/v1/products/{category:alpha}/{id:int?}\""),
        "{}",
        got.body
    );

    // A handler that throws: 500, and the app keeps serving.
    let got = curl(vec![format!("http://{a}/v1/Boom")]).await;
    assert_eq!((got.status, got.body.as_str()), (500, ""));
    // One that never answers: 500 after functionTimeout.
    let got = curl(vec![format!("http://{a}/v1/Slow")]).await;
    assert_eq!(got.status, 500);
    let got = curl(vec![format!("{url}&code={fkey}")]).await;
    assert_eq!(got.status, 200);

    let log = std::fs::read_to_string(app.state.join("functions/app/function.log"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        log.contains("Executed 'Functions.Boom' (Failed, Id="),
        "{log}"
    );
    assert!(log.contains("kaput"), "{log}");
    assert!(
        log.contains("Timeout value of 00:00:02 exceeded by function 'Functions.Slow' (Id: '"),
        "{log}"
    );
    assert!(
        log.contains("Executed 'Functions.Slow' (Failed, Id="),
        "{log}"
    );
}

/// A Node v4 app with the real `@azure/functions` from npm (`tests/azure-v4`, installed by
/// `.ci/install-test-deps`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v4_model_with_the_real_library() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/azure-v4");
    if !root
        .join("node_modules/@azure/functions/package.json")
        .is_file()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "run .ci/install-test-deps"
        );
        eprintln!("skipped: npm ci --prefix {} first", root.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = serve(&root, dir).await;
    let a = app.endpoint.addr;
    let routes = app.apps.routes();
    assert!(
        routes
            .iter()
            .any(|r| r.function == "hello" && r.path == "/api/hello/{name?}"),
        "{routes:?}"
    );
    let got = curl(vec![format!("http://{a}/api/hello/Ada")]).await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (200, "Hello, Ada!"),
        "{}",
        got.headers
    );
    let got = curl(vec![
        "-X".into(),
        "POST".into(),
        "--data".into(),
        "Grace".into(),
        format!("http://{a}/api/hello"),
    ])
    .await;
    assert_eq!((got.status, got.body.as_str()), (200, "Hello, Grace!"));
    let got = curl(vec![format!("http://{a}/api/items/7")]).await;
    assert_eq!(got.status, 201, "{}", got.body);
    assert!(
        got.headers
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        got.headers
    );
    assert!(
        got.headers
            .to_ascii_lowercase()
            .contains("set-cookie: seen=1"),
        "{}",
        got.headers
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.body).ok(),
        Some(serde_json::json!({"id": 7, "fn": "item"}))
    );
    assert_eq!(
        curl(vec![format!("http://{a}/api/items/seven")])
            .await
            .status,
        404
    );
    // authLevel 'function' declared in code.
    assert_eq!(
        curl(vec![format!("http://{a}/api/secret")]).await.status,
        401
    );
    let keys = app
        .apps
        .keys("azure-v4")
        .unwrap_or_else(|| panic!("no keys"));
    let got = curl(vec![format!(
        "http://{a}/api/secret?code={}",
        keys.functions["secret"]["default"]
    )])
    .await;
    assert_eq!((got.status, got.body.as_str()), (200, "shh"));
}

const PYTHON_APP: &str = r#"import json
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="greet/{name}", methods=["GET"])
def greet(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name")
    return func.HttpResponse(f"Hello, {name}!")


@app.route(route="echo", methods=["POST"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    data = req.get_json()
    return func.HttpResponse(
        json.dumps({"got": data, "q": req.params.get("q")}),
        status_code=201,
        mimetype="application/json",
    )


@app.route(route="private", auth_level=func.AuthLevel.FUNCTION)
def private(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
"#;

/// The Python v2 model with the real `azure-functions` package from PyPI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_v2_model_with_the_real_package() {
    let has_package = Command::new("python3")
        .args(["-c", "import azure.functions"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_package {
        assert!(
            std::env::var_os("CI").is_none(),
            "run .ci/install-test-deps"
        );
        eprintln!("skipped: pip install azure-functions first");
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("pyapp");
    write(&root, "host.json", r#"{"version": "2.0"}"#);
    write(
        &root,
        "local.settings.json",
        r#"{"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "python"}}"#,
    );
    write(&root, "function_app.py", PYTHON_APP);
    let app = serve(&root, dir).await;
    let a = app.endpoint.addr;
    let got = curl(vec![format!("http://{a}/api/greet/Ada")]).await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (200, "Hello, Ada!"),
        "{}",
        got.headers
    );
    assert!(
        got.headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; charset=utf-8"),
        "{}",
        got.headers
    );
    let got = curl(vec![
        "-X".into(),
        "POST".into(),
        "-H".into(),
        "content-type: application/json".into(),
        "--data".into(),
        r#"{"a": [1, 2]}"#.into(),
        format!("http://{a}/api/echo?q=x"),
    ])
    .await;
    assert_eq!(got.status, 201, "{}", got.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.body).ok(),
        Some(serde_json::json!({"got": {"a": [1, 2]}, "q": "x"}))
    );
    assert_eq!(
        curl(vec![format!("http://{a}/api/echo")]).await.status,
        404,
        "GET is not a method of echo"
    );
    assert_eq!(
        curl(vec![format!("http://{a}/api/private")]).await.status,
        401
    );
    let keys = app.apps.keys("pyapp").unwrap_or_else(|| panic!("no keys"));
    let got = curl(vec![format!(
        "http://{a}/api/private?code={}",
        keys.functions["private"]["default"]
    )])
    .await;
    assert_eq!((got.status, got.body.as_str()), (200, "ok"));
}

/// A custom handler: any executable serving HTTP on FUNCTIONS_CUSTOMHANDLER_PORT (here a
/// Python one), in the JSON envelope and with enableProxyingHttpRequest.
const HANDLER: &str = r#"#!/usr/bin/env python3
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/api/raw" or self.path.startswith("/api/raw?"):
            return self.reply(200, b"raw " + body, {"X-Raw": "1"})
        env = json.loads(body)
        req = env["Data"]["req"]
        name = req["Query"].get("name") or json.loads(req["Body"] or "{}").get("name", "World")
        out = {"Outputs": {"res": {"statusCode": 200, "body": f"Hello, {name}! ({req['Method']} {self.path})",
                                   "headers": {"Content-Type": "text/plain"}}},
               "Logs": [f"custom handler saw {req['Url']}"], "ReturnValue": None}
        self.reply(200, json.dumps(out).encode(), {"Content-Type": "application/json"})

    do_GET = do_POST

    def reply(self, status, body, headers):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["FUNCTIONS_CUSTOMHANDLER_PORT"])), H).serve_forever()
"#;

/// A custom-handler app in `root`: host.json, the executable handler, one function.
fn custom_app(root: &Path, host_json: &str, function: &str, function_json: &str) {
    write(root, "host.json", host_json);
    write(root, "handler.py", HANDLER);
    std::fs::set_permissions(
        root.join("handler.py"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write(root, &format!("{function}/function.json"), function_json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_handler_in_any_language() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("custom");
    custom_app(
        &root,
        r#"{"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "handler.py"}}}"#,
        "hello",
        r#"{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "methods": ["get", "post"]},
  {"type": "http", "direction": "out", "name": "res"}]}"#,
    );
    let app = serve(&root, dir).await;
    let a = app.endpoint.addr;
    let got = curl(vec![format!("http://{a}/api/hello?name=Ada")]).await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (200, "Hello, Ada! (GET /hello)"),
        "{}",
        std::fs::read_to_string(app.state.join("functions/custom/function.log"))
            .unwrap_or_default()
    );
    let got = curl(vec![
        "-X".into(),
        "POST".into(),
        "--data".into(),
        r#"{"name": "Grace"}"#.into(),
        format!("http://{a}/api/hello"),
    ])
    .await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (200, "Hello, Grace! (POST /hello)")
    );
    let log = std::fs::read_to_string(app.state.join("functions/custom/function.log"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(log.contains("custom handler saw http://"), "{log}");

    // With enableProxyingHttpRequest the handler gets the request itself.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("proxied");
    custom_app(
        &root,
        r#"{"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "handler.py"}, "enableProxyingHttpRequest": true}}"#,
        "raw",
        r#"{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "methods": ["post"]},
  {"type": "http", "direction": "out", "name": "res"}]}"#,
    );
    let app = serve(&root, dir).await;
    let got = curl(vec![
        "-X".into(),
        "POST".into(),
        "--data".into(),
        "abc".into(),
        format!("http://{}/api/raw", app.endpoint.addr),
    ])
    .await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (200, "raw abc"),
        "{}",
        got.headers
    );
    assert!(
        got.headers.to_ascii_lowercase().contains("x-raw: 1"),
        "{}",
        got.headers
    );
}

/// A timer trigger on a real worker: every second, and once at start (runOnStartup).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_trigger_fires_on_schedule() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("timers");
    write(&root, "host.json", r#"{"version": "2.0"}"#);
    write(
        &root,
        "local.settings.json",
        r#"{"Values": {"FUNCTIONS_WORKER_RUNTIME": "node", "TickSchedule": "*/1 * * * * *"}}"#,
    );
    write(
        &root,
        "Tick/function.json",
        r#"{"bindings": [{"type": "timerTrigger", "direction": "in", "name": "myTimer",
  "schedule": "%TickSchedule%", "runOnStartup": true}]}"#,
    );
    write(
        &root,
        "Tick/index.js",
        "module.exports = async function (context, myTimer) {\n  context.log(`tick pastDue=${myTimer.isPastDue} next=${myTimer.scheduleStatus.next}`);\n};\n",
    );
    let app = serve(&root, dir).await;
    let log_file = app.state.join("functions/timers/function.log");
    let mut log = String::new();
    for _ in 0..200 {
        log = std::fs::read_to_string(&log_file).unwrap_or_default();
        if log.matches("Executed 'Functions.Tick' (Succeeded").count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        log.matches("Executed 'Functions.Tick' (Succeeded").count() >= 3,
        "{log}"
    );
    assert!(
        log.contains("Executing 'Functions.Tick' (Reason='Timer fired at 20"),
        "{log}"
    );
    assert!(log.contains("tick pastDue=false next=20"), "{log}");
}

/// The course's layout with packages: the Dockerfile's `RUN npm install` runs once for an app
/// that ships a package.json without a lock file, and the function can require its package.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dockerfiles_npm_install_runs_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("withdeps");
    write(
        &root,
        "Dockerfile",
        "FROM mcr.microsoft.com/azure-functions/node:4\nCOPY . /home/site/wwwroot\nRUN cd /home/site/wwwroot && npm install\n",
    );
    write(
        &root,
        "package.json",
        r#"{"name": "withdeps", "version": "1.0.0", "dependencies": {"greeting": "file:./greeting"}}"#,
    );
    write(
        &root,
        "greeting/package.json",
        r#"{"name": "greeting", "version": "1.0.0", "main": "index.js"}"#,
    );
    write(
        &root,
        "greeting/index.js",
        "module.exports = (n) => `Hi, ${n}!`;\n",
    );
    http_function(
        &root,
        "Hello",
        "anonymous",
        "const greet = require('greeting');\nmodule.exports = async function (context, req) { context.res = { body: greet(req.query.name) }; };\n",
    );
    let app = serve(&root, dir).await;
    assert!(
        root.join("node_modules/greeting").exists(),
        "npm install ran"
    );
    let got = curl(vec![format!(
        "http://{}/api/Hello?name=Ada",
        app.endpoint.addr
    )])
    .await;
    assert_eq!((got.status, got.body.as_str()), (200, "Hi, Ada!"));
}
