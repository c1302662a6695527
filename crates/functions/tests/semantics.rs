//! Lambda's execution semantics: timeouts, crashes, init errors, malformed responses,
//! concurrency limits, scale to zero, hot reload, the Invoke API's invocation types and
//! errors, memory limits, process cleanup, streaming, and boto3 as a real client.

mod harness;

use std::time::Duration;

use harness::*;

const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: src
    Timeout: 1
Resources:
  Node:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: app.handler
      Events:
        Api:
          Type: Api
          Properties: {Path: "/node/{what}", Method: ANY}
  Py:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
  Wide:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      Timeout: 30
  Limited:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      ReservedConcurrentExecutions: 1
      Timeout: 5
      Events:
        Api:
          Type: HttpApi
          Properties: {Path: /limited, Method: GET}
  BadImport:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: missing.handler
  BadInit:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: broken.handler
  NoHandler:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.nothere
  NoBootstrap:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: x
      CodeUri: empty
"#;

const NODE_APP: &str = r#"
exports.handler = async (event) => {
  const what = (event.pathParameters && event.pathParameters.what) || event.what;
  if (what === 'sleep') { await new Promise((r) => setTimeout(r, 5000)); }
  if (what === 'throw') { throw new TypeError('bad thing'); }
  if (what === 'crash') { process.exit(7); }
  if (what === 'malformed') { return { statusCode: 200, body: { not: 'a string' } }; }
  if (what === 'notjson') { return 'plain'; }
  if (what === 'pid') { return { statusCode: 200, body: String(process.pid), pid: process.pid }; }
  if (what === 'oom') { const a = []; for (;;) a.push(new Array(1e6).fill(1)); }
  return { statusCode: 200, body: 'ok ' + what };
};
"#;

const PY_APP: &str = r#"
import os, time
def handler(event, context):
    what = (event or {}).get("what")
    if what == "exit":
        os._exit(3)
    if what == "sleep":
        time.sleep(float(event.get("secs", 1)))
    if what == "wait":
        # Held until the test lets it go: a busy slot for as long as the test needs.
        while not os.path.exists(event["file"]):
            time.sleep(0.01)
    if what == "memory":
        blobs = [bytearray(10 * 1024 * 1024) for _ in range(40)]
        return len(blobs)
    if what == "marker":
        print("MARKER " + event["id"])
    if what == "flood":
        for i in range(300000):
            print("flooding the log with line", i)
    if what == "long":
        print("LONG" + "y" * 100000 + "\nAFTER")
    return {"statusCode": 200, "body": "py " + str(what), "pid": os.getpid()}
"#;

async fn harness() -> Harness {
    Harness::start(
        TEMPLATE,
        &[
            ("src/app.js", NODE_APP),
            ("src/app.py", PY_APP),
            ("src/broken.py", "raise RuntimeError('init went wrong')\n"),
            ("empty/.keep", ""),
        ],
    )
    .await
}

#[tokio::test]
async fn timeouts_kill_the_instance_with_lambdas_error() {
    let h = harness().await;
    let r = h
        .invoke("Node", r#"{"what":"sleep"}"#, &[("x-amz-log-type", "Tail")])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    let v = r.json();
    assert_eq!(v["errorType"], "Sandbox.Timedout");
    let id = r.header("x-amzn-requestid").expect("request id");
    assert_eq!(
        v["errorMessage"],
        format!("RequestId: {id} Error: Task timed out after 1.00 seconds")
    );
    h.logs_with("Node", &format!("{id} Task timed out after 1.00 seconds"))
        .await;
    // The instance was killed; the next invocation starts a new one and works.
    let node = |h: &Harness| {
        h.host
            .functions()
            .into_iter()
            .find(|f| f.name == "Node")
            .expect("Node")
    };
    assert!(eventually(Duration::from_secs(5), || node(&h).instances == 0).await);
    let r = h.invoke("Node", r#"{"what":"fine"}"#, &[]).await;
    assert_eq!(r.json()["body"], "ok fine");
    let node = h
        .host
        .functions()
        .into_iter()
        .find(|f| f.name == "Node")
        .expect("Node");
    assert_eq!(node.cold_starts, 2);
    assert_eq!(node.errors, 1);
}

#[tokio::test]
async fn crashes_and_handler_errors_are_reported_as_lambda_does() {
    let h = harness().await;
    let r = h.invoke("Py", r#"{"what":"exit"}"#, &[]).await;
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    let v = r.json();
    assert_eq!(v["errorType"], "Runtime.ExitError");
    assert!(
        v["errorMessage"]
            .as_str()
            .is_some_and(|m| m.ends_with("Error: Runtime exited with error: exit status 3")),
        "{v}"
    );
    let r = h.invoke("Node", r#"{"what":"crash"}"#, &[]).await;
    assert_eq!(r.json()["errorType"], "Runtime.ExitError");
    let r = h.invoke("Node", r#"{"what":"throw"}"#, &[]).await;
    let v = r.json();
    assert_eq!(v["errorType"], "TypeError");
    assert_eq!(v["errorMessage"], "bad thing");
    assert!(v["trace"].as_array().is_some_and(|t| !t.is_empty()));
    // A handler error keeps the instance warm.
    let r = h.invoke("Node", r#"{"what":"again"}"#, &[]).await;
    assert_eq!(r.json()["body"], "ok again");
}

#[tokio::test]
async fn init_errors() {
    let h = harness().await;
    let v = h.invoke("BadImport", "{}", &[]).await.json();
    assert_eq!(v["errorType"], "Runtime.ImportModuleError");
    assert!(
        v["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("Cannot find module 'missing'")),
        "{v}"
    );
    let r = h.invoke("BadInit", "{}", &[]).await;
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    let v = r.json();
    assert_eq!(v["errorType"], "RuntimeError");
    assert_eq!(v["errorMessage"], "init went wrong");
    let v = h.invoke("NoHandler", "{}", &[]).await.json();
    assert_eq!(v["errorType"], "Runtime.HandlerNotFound");
    assert_eq!(
        v["errorMessage"],
        "Handler 'nothere' missing on module 'app'"
    );
    let v = h.invoke("NoBootstrap", "{}", &[]).await.json();
    assert_eq!(v["errorType"], "Runtime.InvalidEntrypoint");
    h.logs_with("BadImport", "INIT_REPORT").await;
}

#[tokio::test]
async fn malformed_responses_and_function_errors_behind_the_gateway() {
    let h = harness().await;
    let r = h.get("/node/malformed").await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "Internal server error"})
    );
    let r = h.get("/node/notjson").await;
    assert_eq!(r.status, 502);
    let r = h.get("/node/throw").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["message"], "Internal server error");
    assert!(r.header("x-amzn-requestid").is_some());
    let r = h.request("DELETE", "/node/fine", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok fine");
}

/// `n` invocations of `function` at once, each holding its slot until `release` is called;
/// returns once the function runs all of them.
async fn holding<'a>(
    h: &'a Harness,
    function: &'a str,
    n: usize,
) -> (
    impl std::future::Future<Output = Vec<Reply>> + 'a,
    impl FnOnce() + 'a,
) {
    let file = h.path().join(format!("release-{function}"));
    let payload = serde_json::json!({"what": "wait", "file": file}).to_string();
    let busy = |h: &Harness| {
        h.host
            .functions()
            .into_iter()
            .find(|f| f.name == function)
            .is_some_and(|f| f.busy == n)
    };
    let started: Vec<_> = (0..n)
        .map(|_| {
            let (addr, payload) = (h.endpoint.addr, payload.clone());
            let path = format!("/2015-03-31/functions/{function}/invocations");
            tokio::spawn(async move {
                request(addr, "POST", &path, &[], bytes::Bytes::from(payload)).await
            })
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(30), || busy(h)).await,
        "{function} never ran {n} at once"
    );
    let release = move || std::fs::write(&file, "go").expect("release");
    let replies = async move {
        let mut out = Vec::new();
        for s in started {
            out.push(s.await.expect("join"));
        }
        out
    };
    (replies, release)
}

#[tokio::test]
async fn reserved_concurrency_throttles_with_429() {
    let h = harness().await;
    let (first, release) = holding(&h, "Limited", 1).await;
    let second = h.invoke("Limited", "{}", &[]).await;
    let via_gateway = h.get("/limited").await;
    release();
    let first = first.await.remove(0);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(second.status, 429);
    assert_eq!(
        second.header("x-amzn-errortype").as_deref(),
        Some("TooManyRequestsException")
    );
    let v = second.json();
    assert_eq!(
        v["Reason"],
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    );
    assert_eq!(v["Type"], "User");
    assert_eq!(v["message"], "Rate Exceeded.");
    assert_eq!(via_gateway.status, 429);
    let st = h
        .host
        .functions()
        .into_iter()
        .find(|f| f.name == "Limited")
        .expect("Limited");
    assert_eq!(st.instances, 1, "never more than the reserved concurrency");
    assert_eq!(st.throttles, 2);
    // Free again afterwards.
    assert_eq!(h.invoke("Limited", "{}", &[]).await.status, 200);
}

#[tokio::test]
async fn the_host_cap_throttles_too() {
    let h = Harness::start_with(
        TEMPLATE,
        &[
            ("src/app.js", NODE_APP),
            ("src/app.py", PY_APP),
            ("empty/.keep", ""),
        ],
        |c| c.max_concurrency = 1,
    )
    .await;
    let (a, release) = holding(&h, "Wide", 1).await;
    let b = h.invoke("Node", "{}", &[]).await;
    release();
    assert_eq!(a.await[0].status, 200);
    assert_eq!(b.status, 429);
    assert_eq!(b.json()["Reason"], "ConcurrentInvocationLimitExceeded");
}

fn wide(h: &Harness) -> meridian_functions::FunctionStatus {
    h.host
        .functions()
        .into_iter()
        .find(|f| f.name == "Wide")
        .expect("Wide")
}

/// Three invocations at once, on three instances; their pids.
async fn three_at_once(h: &Harness) -> std::collections::BTreeSet<i64> {
    let (replies, release) = holding(h, "Wide", 3).await;
    release();
    let pids: std::collections::BTreeSet<i64> = replies
        .await
        .iter()
        .map(|r| r.json()["pid"].as_i64().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 3, "one request at a time per instance");
    pids
}

#[tokio::test]
async fn scale_out_then_warm_reuse() {
    let h = harness().await;
    let pids = three_at_once(&h).await;
    assert_eq!(wide(&h).instances, 3);
    assert_eq!(wide(&h).warm, 3);
    // Warm reuse (the idle timeout is a minute).
    let r = h.invoke("Wide", "{}", &[]).await;
    assert!(pids.contains(&r.json()["pid"].as_i64().expect("pid")));
    assert_eq!(wide(&h).cold_starts, 3);
}

#[tokio::test]
async fn idle_instances_scale_to_zero() {
    let h = Harness::start_with(
        TEMPLATE,
        &[
            ("src/app.js", NODE_APP),
            ("src/app.py", PY_APP),
            ("empty/.keep", ""),
        ],
        |c| c.idle_timeout = Duration::from_millis(400),
    )
    .await;
    let pids = three_at_once(&h).await;
    // All of them stop once idle, and their processes are gone.
    assert!(eventually(Duration::from_secs(5), || wide(&h).instances == 0).await);
    for pid in &pids {
        let gone = eventually(Duration::from_secs(3), || {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        })
        .await;
        assert!(gone, "process {pid} outlived its instance");
    }
    let r = h.invoke("Wide", "{}", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(wide(&h).cold_starts, 4);
}

#[tokio::test]
async fn hot_reload_loses_no_request() {
    let template = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      CodeUri: v1
      Timeout: 10
      Events:
        Api:
          Type: Api
          Properties: {Path: /v, Method: GET}
"#;
    let app = |v: &str| {
        format!(
            "import os, time\ndef handler(e, c):\n    while isinstance(e, dict) and 'file' in e and not os.path.exists(e['file']):\n        time.sleep(0.01)\n    return {{'statusCode': 200, 'body': '{v}'}}\n"
        )
    };
    let h = Harness::start(
        template,
        &[("v1/app.py", &app("v1")), ("v2/app.py", &app("v2"))],
    )
    .await;
    assert_eq!(h.get("/v").await.text(), "v1");
    // An invocation in flight across the reload finishes on the old code.
    let (inflight, release) = holding(&h, "Fn", 1).await;
    h.load(&template.replace("CodeUri: v1", "CodeUri: v2"));
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let r = h.get("/v").await;
        assert_eq!(r.status, 200, "{}", r.text());
        bodies.push(r.text());
    }
    release();
    let old = inflight.await.remove(0);
    assert_eq!(old.status, 200);
    assert_eq!(old.json()["body"], "v1");
    assert!(bodies.iter().all(|b| b == "v2"), "{bodies:?}");
    // The old instances stop once their work is done.
    assert!(
        eventually(Duration::from_secs(5), || h.host.functions()[0].instances
            == 1)
        .await
    );
}

#[tokio::test]
async fn invoke_api_types_and_errors() {
    let h = harness().await;
    // DryRun.
    let r = h
        .invoke("Py", "{}", &[("x-amz-invocation-type", "DryRun")])
        .await;
    assert_eq!(r.status, 204);
    // Event: 202 at once, runs in the background.
    let r = h
        .invoke(
            "Py",
            r#"{"what":"marker","id":"evt-1"}"#,
            &[("x-amz-invocation-type", "Event")],
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(r.body.is_empty());
    assert!(
        eventually(Duration::from_secs(10), || h
            .logs("Py")
            .contains("MARKER evt-1"))
        .await
    );
    // A failing event is retried twice, as Lambda's async queue does.
    let r = h
        .invoke(
            "Node",
            r#"{"what":"throw"}"#,
            &[("x-amz-invocation-type", "Event")],
        )
        .await;
    assert_eq!(r.status, 202);
    let node_errors = |h: &Harness| {
        h.host
            .functions()
            .into_iter()
            .find(|f| f.name == "Node")
            .map_or(0, |f| f.errors)
    };
    assert!(eventually(Duration::from_secs(10), || node_errors(&h) == 3).await);
    // Unknown function.
    let r = h.invoke("Nope", "{}", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("ResourceNotFoundException")
    );
    assert_eq!(
        r.json(),
        serde_json::json!({"Type": "User", "message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:Nope"})
    );
    // Qualified names.
    let r = h
        .invoke(
            "arn:aws:lambda:us-east-1:123456789012:function:Py:$LATEST",
            "{}",
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h.invoke("Py:7", "{}", &[]).await;
    assert_eq!(r.status, 404);
    // Not JSON.
    let r = h.invoke("Py", "{not json", &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("InvalidRequestContentException")
    );
    // Listing.
    let r = h.get("/2015-03-31/functions/").await;
    let names: Vec<String> = r.json()["Functions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|f| f["FunctionName"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(names.contains(&"Py".to_owned()) && names.contains(&"Node".to_owned()));
}

#[tokio::test]
async fn a_log_line_over_16_kib_is_cut_with_a_note_and_stays_in_its_invocation() {
    let h = harness().await;
    let r = h
        .invoke("Py", r#"{"what":"long"}"#, &[("x-amz-log-type", "Tail")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let logs = h.logs_with("Py", "AFTER").await;
    let long = logs
        .lines()
        .find(|l| l.starts_with("LONG"))
        .expect("the long line");
    let kept = 16 * 1024;
    assert_eq!(
        long,
        format!(
            "LONG{} [{} more bytes of this line dropped]",
            "y".repeat(kept - 4),
            100_004 - kept
        )
    );
    // What the handler printed before it returned is framed by its START and END.
    let end = logs.find("END RequestId").expect("END");
    assert!(logs.find("AFTER").expect("AFTER") < end, "{logs}");
}

/// The function's log is a FIFO nobody reads: its writer blocks as on a stalled disk. A
/// handler that floods its output is still answered, what could not be written is counted,
/// and the log says so once it can be written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_never_holds_an_invocation() {
    use std::io::BufRead;
    use std::os::unix::fs::OpenOptionsExt;
    let h = harness().await;
    let path = h.path().join("state/functions/Py/function.log");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&path)
        .expect("open the fifo for reading");
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        h.invoke("Py", r#"{"what":"flood"}"#, &[]),
    )
    .await
    .expect("answered although its log is stalled");
    assert_eq!(r.status, 200, "{}", r.text());
    let py = h
        .host
        .functions()
        .into_iter()
        .find(|f| f.name == "Py")
        .expect("Py");
    assert!(py.log_lines_dropped > 0, "{py:?}");
    // Reading the log again lets the writer catch up and note the loss.
    nix::fcntl::fcntl(
        &reader,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .expect("blocking reads");
    let noted = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            std::io::BufReader::new(reader)
                .lines()
                .map_while(Result::ok)
                .any(|l| l.contains("lines of function output dropped"))
        }),
    )
    .await
    .expect("the writer catches up")
    .expect("join");
    assert!(noted, "the log notes the lines it lost");
}

#[tokio::test]
async fn memory_size_is_enforced() {
    let h = Harness::start(
        &TEMPLATE.replace("    Timeout: 1\n", "    Timeout: 10\n    MemorySize: 128\n"),
        &[
            ("src/app.js", NODE_APP),
            ("src/app.py", PY_APP),
            ("empty/.keep", ""),
        ],
    )
    .await;
    eprintln!(
        "memory enforcement: {}",
        h.host.memory_enforcement().describe()
    );
    // Python: 400 MB of allocations fail under a 128 MB limit.
    let r = h.invoke("Py", r#"{"what":"memory"}"#, &[]).await;
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled"),
        "{}",
        r.text()
    );
    let t = r.json()["errorType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        ["MemoryError", "Runtime.ExitError", "Runtime.OutOfMemory"].contains(&t.as_str()),
        "{t}"
    );
    // Node: the heap cannot grow past the limit either.
    let r = h.invoke("Node", r#"{"what":"oom"}"#, &[]).await;
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled"),
        "{}",
        r.text()
    );
    let t = r.json()["errorType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        ["Runtime.ExitError", "Runtime.OutOfMemory"].contains(&t.as_str()),
        "{t}"
    );
    h.logs_with("Node", "Memory Size: 128 MB").await;
}

#[tokio::test]
async fn processes_do_not_outlive_the_host() {
    let h = harness().await;
    let pid = h.invoke("Node", r#"{"what":"pid"}"#, &[]).await.json()["pid"]
        .as_i64()
        .expect("pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    h.host.shutdown();
    let gone = eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
    })
    .await;
    assert!(gone, "runtime process {pid} survived shutdown");
    // A runtime's own children go with its process group.
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn response_streaming() {
    let h = Harness::start(
        r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Stream:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: s.handler
      CodeUri: src
"#,
        &[(
            "src/s.js",
            r#"exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType('text/plain');
  for (const part of ['a', 'b', 'c']) { responseStream.write(part); await new Promise(r => setTimeout(r, 20)); }
  if (event.fail) throw new Error('mid-stream');
  responseStream.end();
});"#,
        )],
    )
    .await;
    let r = h.invoke("Stream", "{}", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "abc");
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    let r = h.invoke("Stream", r#"{"fail": true}"#, &[]).await;
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    assert_eq!(r.json()["errorMessage"], "mid-stream");
}

#[tokio::test]
async fn boto3_lambda_client_works_unmodified() {
    if !python_has("boto3") {
        return;
    }
    let h = harness().await;
    let script = r#"
import base64, json, sys, boto3
from botocore.config import Config
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="x", aws_secret_access_key="y",
                 config=Config(retries={"max_attempts": 1}))
out = {}
r = c.invoke(FunctionName="Py", Payload=json.dumps({"what": "boto"}), LogType="Tail")
out["ok"] = {"status": r["StatusCode"], "payload": json.loads(r["Payload"].read()),
             "version": r.get("ExecutedVersion"), "error": r.get("FunctionError"),
             "log": base64.b64decode(r["LogResult"]).decode()}
r = c.invoke(FunctionName="Node", Payload=json.dumps({"what": "throw"}))
out["err"] = {"error": r.get("FunctionError"), "payload": json.loads(r["Payload"].read())}
r = c.invoke(FunctionName="Py", InvocationType="Event", Payload=b"{}")
out["event"] = r["StatusCode"]
try:
    c.invoke(FunctionName="Missing")
except c.exceptions.ResourceNotFoundException as e:
    out["missing"] = e.response["Error"]["Message"]
out["functions"] = sorted(f["FunctionName"] for f in c.list_functions()["Functions"])
r = c.invoke_with_response_stream(FunctionName="Py", Payload=json.dumps({"what": "stream"}), LogType="Tail")
chunks, complete = [], {}
for ev in r["EventStream"]:
    if "PayloadChunk" in ev:
        chunks.append(ev["PayloadChunk"]["Payload"])
    if "InvokeComplete" in ev:
        complete = ev["InvokeComplete"]
out["stream"] = {"status": r["StatusCode"], "version": r.get("ExecutedVersion"),
                 "payload": json.loads(b"".join(chunks)), "log": "REPORT" in base64.b64decode(complete.get("LogResult", "")).decode(),
                 "error": complete.get("ErrorCode")}
r = c.invoke_with_response_stream(FunctionName="Node", Payload=json.dumps({"what": "throw"}))
for ev in r["EventStream"]:
    if "InvokeComplete" in ev:
        out["stream_err"] = ev["InvokeComplete"].get("ErrorCode")
print(json.dumps(out))
"#;
    let url = h.endpoint.url();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .args(["-c", script, &url])
            .output(),
    )
    .await
    .expect("boto3 finished")
    .expect("python3 ran");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"]["status"], 200);
    assert_eq!(v["ok"]["payload"]["body"], "py boto");
    assert_eq!(v["ok"]["version"], "$LATEST");
    assert!(v["ok"]["error"].is_null());
    assert!(
        v["ok"]["log"]
            .as_str()
            .is_some_and(|l| l.contains("REPORT RequestId")),
        "{v}"
    );
    assert_eq!(v["err"]["error"], "Unhandled");
    assert_eq!(v["err"]["payload"]["errorType"], "TypeError");
    assert_eq!(v["event"], 202);
    assert_eq!(
        v["missing"],
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:Missing"
    );
    assert!(
        v["functions"].as_array().is_some_and(|f| f.len() == 8),
        "{v}"
    );
    assert_eq!(v["stream"]["status"], 200, "{v}");
    assert_eq!(v["stream"]["version"], "$LATEST");
    assert_eq!(v["stream"]["payload"]["body"], "py stream");
    assert_eq!(v["stream"]["log"], true);
    assert!(v["stream"]["error"].is_null());
    assert_eq!(v["stream_err"], "TypeError");
}

/// Re-runs this test binary as a "Meridian" that starts a runtime, kills it with SIGKILL
/// (no cleanup code runs) and checks the runtime process goes too (PR_SET_PDEATHSIG).
#[tokio::test]
async fn runtime_processes_die_with_meridian() {
    if std::env::var_os("MERIDIAN_PDEATH_CHILD").is_some() {
        let h = harness().await;
        let pid = h.invoke("Py", "{}", &[]).await.json()["pid"]
            .as_i64()
            .expect("pid");
        println!("PID {pid}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let mut child = tokio::process::Command::new(exe)
        .args([
            "runtime_processes_die_with_meridian",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MERIDIAN_PDEATH_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn child meridian");
    let stdout = child.stdout.take().expect("stdout");
    let pid = tokio::time::timeout(Duration::from_secs(30), async {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            // libtest prints "test <name> ... " on the same line first.
            if let Some((_, p)) = l.split_once("PID ") {
                return p.trim().parse::<i32>().ok();
            }
        }
        None
    })
    .await
    .expect("child reported its runtime's pid in time")
    .expect("a pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    child.start_kill().expect("SIGKILL the child meridian");
    let _ = child.wait().await;
    let gone = eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
    })
    .await;
    assert!(gone, "runtime process {pid} outlived its Meridian");
}

#[tokio::test]
async fn a_client_that_disconnects_does_not_kill_the_invocation() {
    let h = harness().await;
    assert_eq!(h.invoke("Wide", "{}", &[]).await.status, 200, "warm");
    // A client that gives up while its invocation runs.
    let file = h.path().join("release-gone");
    let payload = serde_json::json!({"what": "wait", "file": file}).to_string();
    let addr = h.endpoint.addr;
    let client = tokio::spawn(async move {
        request(
            addr,
            "POST",
            "/2015-03-31/functions/Wide/invocations",
            &[],
            bytes::Bytes::from(payload),
        )
        .await
    });
    assert!(eventually(Duration::from_secs(30), || wide(&h).busy == 1).await);
    client.abort();
    assert!(client.await.is_err(), "the client gave up");
    std::fs::write(&file, "go").expect("release");
    // The invocation still completes on its instance (its REPORT line is written), which
    // stays warm.
    assert!(
        eventually(Duration::from_secs(10), || {
            wide(&h).busy == 0 && h.logs("Wide").matches("REPORT RequestId").count() >= 2
        })
        .await
    );
    let r = h.invoke("Wide", "{}", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(wide(&h).cold_starts, 1);
}

#[tokio::test]
async fn update_keeps_unchanged_functions_warm() {
    let h = harness().await;
    let py_pid = |r: Reply| r.json()["pid"].as_i64().expect("pid");
    let first = py_pid(h.invoke("Py", "{}", &[]).await);
    let node_first = h.invoke("Node", r#"{"what":"pid"}"#, &[]).await.json()["pid"].as_i64();
    // Change only Node's memory; keep Py.
    let changed = TEMPLATE.replacen(
        "      Handler: app.handler\n      Events:",
        "      Handler: app.handler\n      MemorySize: 256\n      Events:",
        1,
    );
    let file = h.path().join("template.yaml");
    let t = meridian_config::sam::load_template_str(&file, &changed, &Default::default())
        .expect("template");
    h.host
        .update(t.functions.clone(), t.apis.clone())
        .expect("update");
    assert_eq!(
        py_pid(h.invoke("Py", "{}", &[]).await),
        first,
        "Py stayed warm"
    );
    let node_again = h.invoke("Node", r#"{"what":"pid"}"#, &[]).await.json()["pid"].as_i64();
    assert_ne!(node_first, node_again, "Node got a new environment");
    // load() replaces everything.
    h.host.load(t.functions, t.apis).expect("load");
    assert_ne!(py_pid(h.invoke("Py", "{}", &[]).await), first);
}

/// Preparing functions is file and process work. Here writing the handler of the inline
/// function blocks (its file is a FIFO) until a task of the runtime opens the reading end:
/// preparing on the runtime's only worker must let that task run, or it never would.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn preparing_functions_does_not_hold_the_runtime() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = meridian_functions::FunctionHost::new(config(dir.path())).expect("host");
    let template = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: "def handler(event, context):\n    return 1\n"
"#;
    let t = meridian_config::sam::load_template_str(
        &dir.path().join("template.yaml"),
        template,
        &meridian_config::sam::TemplateOptions::default(),
    )
    .expect("template");
    let gen_dir = dir.path().join("state/functions/Fn/gen-1");
    std::fs::create_dir_all(&gen_dir).expect("mkdir");
    let fifo = gen_dir.join("index.py");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let open_reader = move |fifo: &std::path::Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(fifo)
            .expect("open the fifo for reading")
    };
    // From the main thread, both go to the runtime's queue: preparing first, then the task
    // that lets it finish.
    let (functions, apis) = (t.functions.clone(), t.apis.clone());
    let preparing = tokio::spawn(async move { host.prepare_load(functions, apis).map(drop) });
    let (opened_tx, opened) = std::sync::mpsc::channel();
    let path = fifo.clone();
    tokio::spawn(async move {
        let _ = opened_tx.send(open_reader(&path));
    });
    // If no task of the runtime ever runs, a thread opens the FIFO after 20 s, so that the
    // test ends, and fails.
    let (done_tx, done) = std::sync::mpsc::channel::<()>();
    let rescue = std::thread::spawn(move || {
        let (reader, rescued) = match opened.recv_timeout(Duration::from_secs(20)) {
            Ok(reader) => (reader, false),
            Err(_) => (open_reader(&fifo), true),
        };
        let _ = done.recv_timeout(Duration::from_secs(60));
        drop(reader);
        rescued
    });
    let prepared = preparing.await.expect("join");
    let _ = done_tx.send(());
    let rescued = rescue.join().expect("rescue thread");
    assert!(
        !rescued,
        "the runtime's other task could not run while preparing"
    );
    prepared.expect("prepared");
}
