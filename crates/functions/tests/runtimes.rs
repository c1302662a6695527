//! Real runtimes end to end: the course's image function (Node, via its Dockerfile), Python
//! through Meridian's bootstrap, a `provided` runtime built with the Rust `lambda_runtime`
//! crate, and the official Python runtime interface client (awslambdaric).

mod harness;

use std::time::Duration;

use harness::*;

#[tokio::test]
async fn the_course_template_answers_through_the_gateway() {
    let course = course_dir();
    let files = [
        (
            "Dockerfile",
            std::fs::read_to_string(course.join("Dockerfile")).expect("Dockerfile"),
        ),
        (
            "app/index.js",
            std::fs::read_to_string(course.join("app/index.js")).expect("index.js"),
        ),
    ];
    let template = std::fs::read_to_string(course.join("template.yaml")).expect("template");
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let h = Harness::start(&template, &files).await;

    let r = h.get("/hello?name=world").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let v = r.json();
    assert_eq!(v["message"], "Hello from Lambda!");
    assert_eq!(v["input"]["httpMethod"], "GET");
    assert_eq!(v["input"]["path"], "/hello");
    assert_eq!(v["input"]["resource"], "/hello");
    assert_eq!(v["input"]["queryStringParameters"]["name"], "world");
    assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));

    // The stage prefix of the deployed URL works too, and the instance is reused.
    let r = h.get("/Prod/hello").await;
    assert_eq!(r.status, 200);
    let st = h.host.functions();
    assert_eq!(st[0].invocations, 2);
    assert_eq!(st[0].cold_starts, 1);
    assert_eq!(st[0].warm, 1);

    // Unknown routes get API Gateway's answer.
    let r = h.get("/nope").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["message"], "Missing Authentication Token");

    // The handler's console.log went to the function's log with AWS's framing.
    let logs = h.logs_with("MyFunction", "Init Duration: ").await;
    assert!(
        logs.contains("INIT_START Runtime Version: nodejs18.x"),
        "{logs}"
    );
    assert!(logs.contains("START RequestId: "), "{logs}");
    assert!(logs.contains("\tINFO\tEvent: {"), "{logs}");
    assert!(logs.contains("END RequestId: "), "{logs}");
    assert!(logs.contains("Billed Duration: "), "{logs}");
    assert!(
        logs.contains("Memory Size: 512 MB\tMax Memory Used: "),
        "{logs}"
    );
    assert!(logs.contains("Init Duration: "), "{logs}");
}

const PY_TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Py:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      CodeUri: src
      Environment:
        Variables:
          GREETING: hi
"#;

const PY_APP: &str = r#"
import os, json, logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
def handler(event, context):
    logger.info("got %s", json.dumps(event))
    print("print works")
    env = {k: os.environ.get(k) for k in [
        "AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "TZ",
        "LANG", "PATH", "GREETING", "_X_AMZN_TRACE_ID", "AWS_EXECUTION_ENV"]}
    return {
        "event": event,
        "env": env,
        "cwd": os.getcwd(),
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "invoked_function_arn": context.invoked_function_arn,
            "remaining": context.get_remaining_time_in_millis(),
            "client_context": context.client_context.custom if context.client_context else None,
        },
    }
"#;

#[tokio::test]
async fn python_gets_the_lambda_environment_and_context() {
    let h = Harness::start(PY_TEMPLATE, &[("src/app.py", PY_APP)]).await;
    let r = h
        .invoke(
            "Py",
            r#"{"a": 1}"#,
            &[
                ("x-amz-log-type", "Tail"),
                // base64 of {"custom":{"k":"v"}}
                ("x-amz-client-context", "eyJjdXN0b20iOnsiayI6InYifX0="),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-amz-executed-version").as_deref(),
        Some("$LATEST")
    );
    assert!(r.header("x-amz-function-error").is_none());
    let v = r.json();
    assert_eq!(v["event"]["a"], 1);
    let env = &v["env"];
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );
    assert_eq!(env["_HANDLER"], "app.handler");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "Py");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/Py");
    assert!(
        env["AWS_LAMBDA_LOG_STREAM_NAME"]
            .as_str()
            .is_some_and(|s| s.contains("/[$LATEST]"))
    );
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["LANG"], "en_US.UTF-8");
    assert_eq!(env["GREETING"], "hi");
    assert_eq!(env["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.11");
    assert!(
        env["_X_AMZN_TRACE_ID"]
            .as_str()
            .is_some_and(|t| t.starts_with("Root=1-"))
    );
    assert_eq!(v["cwd"], env["LAMBDA_TASK_ROOT"]);
    let ctx = &v["context"];
    assert_eq!(ctx["function_name"], "Py");
    assert_eq!(ctx["memory_limit_in_mb"], 128);
    assert_eq!(
        ctx["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:Py"
    );
    assert!(
        ctx["remaining"]
            .as_i64()
            .is_some_and(|ms| ms > 1000 && ms <= 3000)
    );
    assert_eq!(ctx["client_context"]["k"], "v");
    assert_eq!(
        ctx["aws_request_id"].as_str(),
        r.header("x-amzn-requestid").as_deref()
    );

    use base64::Engine;
    let tail = base64::engine::general_purpose::STANDARD
        .decode(r.header("x-amz-log-result").expect("log result"))
        .expect("base64");
    let tail = String::from_utf8_lossy(&tail);
    assert!(tail.contains("print works"), "{tail}");
    assert!(tail.contains("[INFO]"), "{tail}");
    assert!(tail.contains("REPORT RequestId: "), "{tail}");
}

const NODE_ECHO: &str = r#"
exports.handler = async (event, context) => ({ event, fn: context.functionName, left: context.getRemainingTimeInMillis() > 0 });
"#;

#[tokio::test]
async fn node_handlers_in_every_style() {
    let template = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: nodejs20.x
    CodeUri: src
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: echo.handler
  Callback:
    Type: AWS::Serverless::Function
    Properties:
      Handler: cb.handler
  Esm:
    Type: AWS::Serverless::Function
    Properties:
      Handler: esm.handler
  Inline:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      CodeUri: !Ref AWS::NoValue
      InlineCode: "exports.handler = async () => 'inline';"
"#;
    let h = Harness::start(
        template,
        &[
            ("src/echo.js", NODE_ECHO),
            ("src/cb.js", "exports.handler = (event, context, callback) => { setTimeout(() => callback(null, {cb: event.n + 1}), 5); };"),
            ("src/esm.mjs", "export const handler = async (e) => ({esm: true, e});"),
        ],
    )
    .await;
    let v = h.invoke("Echo", r#"{"x": [1, 2]}"#, &[]).await.json();
    assert_eq!(v["event"]["x"][1], 2);
    assert_eq!(v["fn"], "Echo");
    assert_eq!(v["left"], true);
    assert_eq!(
        h.invoke("Callback", r#"{"n": 41}"#, &[]).await.json()["cb"],
        42
    );
    assert_eq!(h.invoke("Esm", "{}", &[]).await.json()["esm"], true);
    assert_eq!(h.invoke("Inline", "{}", &[]).await.json(), "inline");
}

#[tokio::test]
async fn awslambdaric_works_unmodified() {
    if !python_has("awslambdaric") {
        return;
    }
    let template = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Ric:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: app.handler
      CodeUri: ric
      Timeout: 10
"#;
    let bootstrap =
        "#!/bin/sh\ncd \"$LAMBDA_TASK_ROOT\"\nexec python3 -m awslambdaric \"$_HANDLER\"\n";
    let app = "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('boom')\n    return {'ric': True, 'event': event, 'id': context.aws_request_id}\n";
    let h = Harness::start(
        template,
        &[("ric/bootstrap", bootstrap), ("ric/app.py", app)],
    )
    .await;
    let r = h.invoke("Ric", r#"{"k": "v"}"#, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["ric"], true);
    assert_eq!(v["event"]["k"], "v");
    assert_eq!(v["id"].as_str(), r.header("x-amzn-requestid").as_deref());
    // Its error shape passes through as Lambda returns it.
    let r = h.invoke("Ric", r#"{"fail": true}"#, &[]).await;
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    let v = r.json();
    assert_eq!(v["errorType"], "ValueError");
    assert_eq!(v["errorMessage"], "boom");
    assert!(v["stackTrace"].is_array());
    // Warm reuse with the official client too.
    let r = h.invoke("Ric", "{}", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(h.host.functions()[0].cold_starts, 1);
}

/// Builds `tests/provided-rust` (the Rust `lambda_runtime` crate) once.
fn rust_bootstrap() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/provided-rust");
    // Under the build's target folder, so CI reuses it across fresh clones.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("provided-rust");
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "--locked",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "cannot build the lambda_runtime example: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(target.join("release/bootstrap"))
}

#[tokio::test]
async fn a_provided_runtime_built_with_lambda_runtime() {
    let bin = tokio::task::spawn_blocking(rust_bootstrap)
        .await
        .expect("build task")
        .expect("the lambda_runtime example builds (cargo needs crates.io)");
    let h = Harness::start(
        r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Rusty:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: rust
      MemorySize: 128
      Events:
        Http:
          Type: HttpApi
          Properties:
            Path: /rust/{name}
            Method: GET
"#,
        &[("rust/.keep", "")],
    )
    .await;
    std::fs::copy(&bin, h.path().join("rust/bootstrap")).expect("copy bootstrap");
    let r = h.invoke("Rusty", r#"{"hello": "rust"}"#, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["echo"]["hello"], "rust");
    assert_eq!(
        v["requestId"].as_str(),
        r.header("x-amzn-requestid").as_deref()
    );
    assert_eq!(v["functionName"], "Rusty");
    // Through the HTTP API, payload 2.0 with inference (no statusCode → 200 JSON).
    let r = h.get("/rust/ferris").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["echo"]["pathParameters"]["name"], "ferris");
    // An error from the Rust handler.
    let r = h.invoke("Rusty", r#"{"fail": "nope"}"#, &[]).await;
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    assert!(r.text().contains("nope"), "{}", r.text());
    let _ = Duration::ZERO;
}

/// The official Node.js runtime interface client (npm `aws-lambda-ric`), installed from the
/// lock file in `tests/node-ric` (`npm ci --prefix crates/functions/tests/node-ric`, which
/// `.ci/install-test-deps` runs); `MERIDIAN_NODE_RIC` may name another package folder.
fn node_ric() -> Option<std::path::PathBuf> {
    let pkg = std::env::var_os("MERIDIAN_NODE_RIC")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/node-ric/node_modules/aws-lambda-ric")
        });
    // 3.x keeps its entry point in bin/, 4.x at the top.
    let entry = ["bin/index.mjs", "index.mjs"]
        .iter()
        .map(|e| pkg.join(e))
        .find(|e| e.is_file());
    if entry.is_none() {
        missing(&format!(
            "aws-lambda-ric is not installed in {} (npm ci --prefix crates/functions/tests/node-ric)",
            pkg.display()
        ));
    }
    entry
}

#[tokio::test]
async fn aws_lambda_ric_for_node() {
    let (Some(entry), Some(node)) = (node_ric(), tool("node", "apt-get install nodejs")) else {
        return;
    };
    let bootstrap = format!(
        "#!/bin/sh\ncd \"$LAMBDA_TASK_ROOT\"\nexec {} {} \"$_HANDLER\"\n",
        node.display(),
        entry.display()
    );
    let h = Harness::start(
        r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  NodeRic:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: app.handler
      CodeUri: ric
      Timeout: 10
"#,
        &[
            ("ric/bootstrap", &bootstrap),
            (
                "ric/app.js",
                "exports.handler = async (event, context) => { if (event.fail) throw new Error('nope'); return { ric: 'node', event, id: context.awsRequestId }; };",
            ),
        ],
    )
    .await;
    let r = h.invoke("NodeRic", r#"{"k": 1}"#, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["ric"], "node", "{v}");
    assert_eq!(v["event"]["k"], 1);
    assert_eq!(v["id"].as_str(), r.header("x-amzn-requestid").as_deref());
    let r = h.invoke("NodeRic", r#"{"fail": true}"#, &[]).await;
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    assert_eq!(r.json()["errorMessage"], "nope");
}

#[tokio::test]
async fn cli_invoke_prints_the_result_and_the_logs() {
    let h = Harness::start(PY_TEMPLATE, &[("src/app.py", PY_APP)]).await;
    let mut out = Vec::new();
    let mut logs = Vec::new();
    let outcome = meridian_functions::local::invoke_once(
        &h.host,
        "Py",
        bytes::Bytes::from_static(b"{\"cli\": true}"),
        &mut out,
        &mut logs,
    )
    .await
    .expect("invoked");
    assert!(!outcome.is_error());
    let out = String::from_utf8(out).expect("utf8");
    assert!(out.ends_with('\n'));
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON line");
    assert_eq!(v["event"]["cli"], true);
    let logs = String::from_utf8(logs).expect("utf8");
    assert!(logs.starts_with("START RequestId: "), "{logs}");
    assert!(logs.contains("print works"), "{logs}");
    assert!(logs.contains("REPORT RequestId: "), "{logs}");
    let table = meridian_functions::local::status_table(&h.host.functions());
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("Py ") && l.contains("python3.11")),
        "{table}"
    );
}

/// The AWS CLI (`pip install awscli`, which `.ci/install-test-deps` runs).
#[tokio::test]
async fn aws_cli_invoke() {
    let Some(aws) = tool("aws", "pip install awscli") else {
        return;
    };
    let version = std::process::Command::new(&aws)
        .arg("--version")
        .output()
        .expect("aws --version");
    // AWS CLI v2 reads --payload as base64 unless told otherwise; v1 takes it raw.
    let v1 = String::from_utf8_lossy(&version.stdout).starts_with("aws-cli/1.")
        || String::from_utf8_lossy(&version.stderr).starts_with("aws-cli/1.");
    let binary_format: &[&str] = if v1 {
        &[]
    } else {
        &["--cli-binary-format", "raw-in-base64-out"]
    };
    let h = Harness::start(PY_TEMPLATE, &[("src/app.py", PY_APP)]).await;
    let out_file = h.path().join("out.json");
    let out = tokio::process::Command::new(&aws)
        .args(["lambda", "invoke", "--function-name", "Py"])
        .args(binary_format)
        .args([
            "--payload",
            r#"{"from":"cli"}"#,
            "--log-type",
            "Tail",
            "--endpoint-url",
            &h.endpoint.url(),
        ])
        .arg(&out_file)
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .await
        .expect("aws ran");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(meta["StatusCode"], 200);
    assert_eq!(meta["ExecutedVersion"], "$LATEST");
    assert!(meta["LogResult"].as_str().is_some_and(|l| !l.is_empty()));
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).expect("payload")).expect("json");
    assert_eq!(payload["event"]["from"], "cli");
}

#[tokio::test]
async fn a_python_image_function_runs_natively() {
    let h = Harness::start("", &[]).await;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/src/sam/testdata/pyimage");
    h.load_file(&dir.join("template.yaml"));
    let r = h.invoke("PyImage", "{}", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["stage"], "prod", "{v}");
    assert_eq!(v["greeting"], "hello there");
    assert_eq!(v["extra"], "from-template");
    assert!(
        v["cwd"].as_str().is_some_and(|c| c.ends_with("/pkg")),
        "{v}"
    );
}

const LAYERED: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  NodeFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      CodeUri: node
      Layers: [!Ref Base, !Ref Override]
  PyFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      CodeUri: py
      Layers: [!Ref Base, !Ref Override]
  Base:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/base
  Override:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/override
"#;

#[tokio::test]
async fn layers_are_on_the_module_paths_in_lambda_order() {
    let h = Harness::start(
        LAYERED,
        &[
            (
                "node/index.js",
                "const greet = require('greet'); const only = require('only-in-base');\n\
                 const corner = require('corner');\n\
                 exports.handler = async () => ({ greet: greet(), only: only(), corner: corner() });\n",
            ),
            (
                "layers/base/nodejs/node_modules/greet/index.js",
                "module.exports = () => 'base';\n",
            ),
            (
                "layers/base/nodejs/node_modules/only-in-base/index.js",
                "module.exports = () => 'from base';\n",
            ),
            (
                "layers/override/nodejs/node20/node_modules/greet/index.js",
                "module.exports = () => 'override';\n",
            ),
            // In the merged /opt, nodejs/node20/node_modules comes before nodejs/node_modules,
            // whichever layer brought each.
            (
                "layers/base/nodejs/node20/node_modules/corner/index.js",
                "module.exports = () => 'node20 of base';\n",
            ),
            (
                "layers/override/nodejs/node_modules/corner/index.js",
                "module.exports = () => 'generic of override';\n",
            ),
            (
                "py/app.py",
                "import shared, pinned\n\
                 def handler(event, context):\n    return {'shared': shared.NAME, 'pinned': pinned.NAME}\n",
            ),
            ("layers/base/python/shared.py", "NAME = 'base'\n"),
            ("layers/override/python/shared.py", "NAME = 'override'\n"),
            (
                "layers/base/python/lib/python3.11/site-packages/pinned.py",
                "NAME = 'site-packages'\n",
            ),
        ],
    )
    .await;
    let r = h.invoke("NodeFn", "{}", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["greet"], "override", "the later layer wins: {v}");
    assert_eq!(v["only"], "from base", "{v}");
    assert_eq!(v["corner"], "node20 of base", "{v}");
    let r = h.invoke("PyFn", "{}", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["shared"], "override", "the later layer wins: {v}");
    assert_eq!(v["pinned"], "site-packages", "{v}");
}

/// The shell custom runtime of AWS's tutorial (curl against the Runtime API), shipped in a
/// layer as `bootstrap`.
const SHELL_RUNTIME: &str = r#"#!/bin/sh
set -eu
while true; do
  HEADERS="$(mktemp)"
  EVENT="$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")"
  REQUEST_ID="$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)"
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" \
    -d "{\"runtime\":\"from the layer\",\"handler\":\"${_HANDLER}\",\"event\":$EVENT}" >/dev/null
done
"#;

#[tokio::test]
async fn a_custom_runtime_can_come_from_a_layer() {
    if tool("curl", "apt-get install curl").is_none() {
        return;
    }
    let h = Harness::start(
        "",
        &[
            (
                "fn/README",
                "the code has no bootstrap: the layer brings it\n",
            ),
            ("runtime/bootstrap", SHELL_RUNTIME),
        ],
    )
    .await;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        h.path().join("runtime/bootstrap"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    h.load(
        r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Custom:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: my.handler
      CodeUri: fn
      Layers: [!Ref ShellRuntime]
  ShellRuntime:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: runtime
      CompatibleRuntimes: [provided.al2023]
"#,
    );
    let r = h.invoke("Custom", r#"{"n": 7}"#, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["runtime"], "from the layer", "{v}");
    assert_eq!(v["handler"], "my.handler", "{v}");
    assert_eq!(v["event"]["n"], 7, "{v}");
}

const RUBY_TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Rb:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.lambda_handler
      Runtime: ruby3.3
      Timeout: 3
      Environment:
        Variables:
          GREETING: hi
  RbClass:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.Greeter::Handler.process
      Runtime: ruby3.3
  RbFails:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.fails
      Runtime: ruby3.3
"#;

const RUBY_APP: &str = r#"
require 'json'

def lambda_handler(event:, context:)
  puts "puts works"
  {
    event: event,
    greeting: ENV['GREETING'],
    execution_env: ENV['AWS_EXECUTION_ENV'],
    function_name: context.function_name,
    request_id: context.aws_request_id,
    arn: context.invoked_function_arn,
    left: context.get_remaining_time_in_millis,
  }
end

def fails(event:, context:)
  raise ArgumentError, "no #{event['what']}"
end

module Greeter
  class Handler
    def self.process(event:, context:)
      "hello #{event['name']}"
    end
  end
end
"#;

/// A Ruby that runs `ruby -e`, or `None` (the test is skipped with a note) when there is none.
fn ruby() -> bool {
    let found = std::process::Command::new("ruby")
        .args(["-e", "exit 0"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: no ruby on PATH (.ci/install-test-deps installs it)");
    }
    found
}

#[tokio::test]
async fn ruby_handlers_as_the_aws_ruby_runtime_calls_them() {
    if !ruby() {
        return;
    }
    let h = Harness::start(RUBY_TEMPLATE, &[("src/app.rb", RUBY_APP)]).await;
    let r = h
        .invoke("Rb", r#"{"a": 1}"#, &[("x-amz-log-type", "Tail")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-amz-function-error").is_none(), "{}", r.text());
    let v = r.json();
    assert_eq!(v["event"]["a"], 1);
    assert_eq!(v["greeting"], "hi");
    assert_eq!(v["execution_env"], "AWS_Lambda_ruby3.3");
    assert_eq!(v["function_name"], "Rb");
    assert_eq!(
        v["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:Rb"
    );
    assert_eq!(
        v["request_id"].as_str(),
        r.header("x-amzn-requestid").as_deref()
    );
    assert!(
        v["left"].as_i64().is_some_and(|ms| ms > 0 && ms <= 3000),
        "{v}"
    );
    use base64::Engine;
    let tail = base64::engine::general_purpose::STANDARD
        .decode(r.header("x-amz-log-result").expect("log result"))
        .expect("base64");
    assert!(
        String::from_utf8_lossy(&tail).contains("puts works"),
        "{}",
        String::from_utf8_lossy(&tail)
    );

    let r = h.invoke("RbClass", r#"{"name": "Ada"}"#, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!("hello Ada"));

    let r = h.invoke("RbFails", r#"{"what": "luck"}"#, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    let v = r.json();
    assert_eq!(v["errorType"], "Function<ArgumentError>", "{v}");
    assert_eq!(v["errorMessage"], "no luck", "{v}");
    assert!(
        v["stackTrace"].as_array().is_some_and(|t| t
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("app.rb")))),
        "{v}"
    );
}
