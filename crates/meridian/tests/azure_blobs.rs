//! Azure blob triggers and bindings through a real `meridian up`: a blob uploaded with the
//! AWS CLI to the bucket of a trigger's container runs the function with its bytes and the
//! host's binding data; the function's `blob` input is read and its `blob` output written
//! where the AWS CLI reads it back, in the v3 model (`function.json`) and the v4 model (the
//! real `@azure/functions`) and Python v2 (the real `azure-functions`); a failing function
//! is tried five times and then poisoned; each function's invocations show on `/metrics`;
//! an acknowledged upload's trigger survives a `kill -9`.

mod observe_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use observe_support::{Up, copy_dir, eventually, tool};

/// The AWS CLI against the node's S3 endpoint.
struct Cli {
    aws: PathBuf,
    home: tempfile::TempDir,
    key: (String, String),
    endpoint: String,
}

impl Cli {
    fn new(aws: &Path, up: &Up) -> Self {
        Self {
            aws: aws.to_path_buf(),
            home: tempfile::tempdir().expect("home"),
            key: up.access_key(),
            endpoint: up.banner_address("  s3 ", "http://"),
        }
    }

    fn output(&self, args: &[&str]) -> std::process::Output {
        let home = self.home.path();
        let mut cmd = Command::new(&self.aws);
        cmd.args(args).args(["--endpoint-url", &self.endpoint]);
        meridian_testkit::aws_env(&mut cmd, home, &self.key.0, &self.key.1);
        cmd.output().expect("aws runs")
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Uploads `bytes` as `s3://bucket/key`.
    fn put(&self, dir: &Path, bucket: &str, key: &str, bytes: &[u8]) {
        let file = dir.join("upload.bin");
        std::fs::write(&file, bytes).expect("write");
        self.run(&[
            "s3",
            "cp",
            file.to_str().expect("path"),
            &format!("s3://{bucket}/{key}"),
        ]);
    }

    /// The object's bytes, once it exists.
    fn wait_for(&self, dir: &Path, bucket: &str, key: &str) -> Vec<u8> {
        let file = dir.join("download.bin");
        eventually(
            &format!("s3://{bucket}/{key} to be written"),
            Duration::from_secs(90),
            || {
                let out = self.output(&[
                    "s3api",
                    "get-object",
                    "--bucket",
                    bucket,
                    "--key",
                    key,
                    file.to_str().expect("path"),
                ]);
                out.status
                    .success()
                    .then(|| std::fs::read(&file).expect("read"))
            },
        )
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A v3 app: `Copy` copies each blob of `samples-workitems` matching `{name}.{ext}` to
/// `samples-out` with what it was given; `Mirror`, on the same container, returns each blob
/// to `samples-mirror` (`$return`); `Note` is an HTTP function with blob bindings; `Fail`
/// always throws.
fn v3_app(root: &Path) {
    write(root, "host.json", r#"{"version": "2.0"}"#);
    write(
        root,
        "local.settings.json",
        r#"{"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "node", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}}"#,
    );
    write(
        root,
        "Copy/function.json",
        r#"{
  "bindings": [
    {"type": "blobTrigger", "direction": "in", "name": "myBlob",
     "path": "samples-workitems/{name}.{ext}", "connection": "AzureWebJobsStorage"},
    {"type": "blob", "direction": "in", "name": "note", "dataType": "string",
     "path": "samples-notes/{name}.txt", "connection": "AzureWebJobsStorage"},
    {"type": "blob", "direction": "out", "name": "outBlob",
     "path": "samples-out/{name}-copy.{ext}", "connection": "AzureWebJobsStorage"}
  ]
}"#,
    );
    write(
        root,
        "Copy/index.js",
        r#"module.exports = async function (context, myBlob, note) {
  context.log(`JavaScript blob trigger function processed blob "${context.bindingData.name}" with size ${myBlob.length} bytes`);
  const d = context.bindingData;
  context.bindings.outBlob = JSON.stringify({
    isBuffer: Buffer.isBuffer(myBlob), text: myBlob.toString(), name: d.name, ext: d.ext,
    blobTrigger: d.blobTrigger, uri: d.uri, length: d.properties.contentLength,
    etag: d.properties.eTag, metadata: d.metadata, note, noteBinding: context.bindings.note,
  });
};
"#,
    );
    write(
        root,
        "Mirror/function.json",
        r#"{"bindings": [
    {"type": "blobTrigger", "direction": "in", "name": "b", "path": "samples-workitems/{name}"},
    {"type": "blob", "direction": "out", "name": "$return", "path": "samples-mirror/{name}"}
]}"#,
    );
    write(
        root,
        "Mirror/index.js",
        "module.exports = async function (context, b) { return b; };\n",
    );
    write(
        root,
        "Note/function.json",
        r#"{
  "bindings": [
    {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
     "methods": ["get", "put"], "route": "notes/{name}"},
    {"type": "blob", "direction": "in", "name": "note", "dataType": "string", "path": "samples-notes/{name}.txt"},
    {"type": "blob", "direction": "out", "name": "saved", "path": "samples-notes/{name}.txt"},
    {"type": "blob", "direction": "out", "name": "audit", "path": "samples-audit/{DateTime:yyyy}/{rand-guid}.log"},
    {"type": "http", "direction": "out", "name": "res"}
  ]
}"#,
    );
    write(
        root,
        "Note/index.js",
        r#"module.exports = async function (context, req) {
  if (req.method === 'PUT') {
    context.bindings.saved = req.rawBody;
    context.bindings.audit = `saved ${context.bindingData.name}`;
    context.res = { status: 201, body: '' };
  } else if (context.bindings.note === null) {
    context.res = { status: 404, body: 'no note ' + context.bindingData.name };
  } else {
    context.res = { body: context.bindings.note };
  }
};
"#,
    );
    write(
        root,
        "Fail/function.json",
        r#"{"bindings": [{"type": "blobTrigger", "direction": "in", "name": "b", "path": "poison-me/{name}"}]}"#,
    );
    write(
        root,
        "Fail/index.js",
        r#"module.exports = async function (context, b) {
  require('fs').appendFileSync(process.env.TRIES, `${context.bindingData.name} ${context.executionContext.retryContext.retryCount}\n`);
  throw new Error('cannot process ' + context.bindingData.name);
};
"#,
    );
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// Every file under `dir` whose path contains `needle`.
fn find_files(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(needle) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_v3_blob_trigger_reads_its_input_and_writes_its_output() {
    let (Some(aws), Some(_node)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("node", "apt-get install nodejs"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    v3_app(&tmp.path().join("app"));
    let tries = tmp.path().join("tries");
    let settings = tmp.path().join("app/local.settings.json");
    let text = std::fs::read_to_string(&settings).expect("settings");
    std::fs::write(
        &settings,
        text.replace(
            "\"node\",",
            &format!("\"node\", \"TRIES\": \"{}\",", tries.display()),
        ),
    )
    .expect("write");
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "7071=0"]);
    // The containers did not exist: they are made, and the banner says what watches them.
    let line = up
        .banner
        .iter()
        .find(|l| l.contains("bucket    samples-workitems"))
        .unwrap_or_else(|| panic!("no container line: {:#?}", up.banner));
    assert!(
        line.contains("blobTrigger container of app app: Copy, Mirror"),
        "{line}"
    );
    let cli = Cli::new(&aws, &up);
    let buckets = cli.run(&["s3api", "list-buckets", "--query", "Buckets[].Name"]);
    assert!(buckets.contains("samples-workitems"), "{buckets}");
    assert!(buckets.contains("poison-me"), "{buckets}");

    // The input's container exists; the output's is made by the binding, as the host does.
    cli.run(&["s3", "mb", "s3://samples-notes"]);
    cli.put(tmp.path(), "samples-notes", "photo.txt", b"a note");
    cli.put(
        tmp.path(),
        "samples-workitems",
        "photo.jpg",
        b"\x00\x01jpeg bytes",
    );
    let got = json(&cli.wait_for(tmp.path(), "samples-out", "photo-copy.jpg"));
    assert_eq!(got["isBuffer"], true, "{got}");
    assert_eq!(got["text"], "\u{0}\u{1}jpeg bytes", "{got}");
    assert_eq!(got["name"], "photo");
    assert_eq!(got["ext"], "jpg");
    assert_eq!(got["blobTrigger"], "samples-workitems/photo.jpg");
    assert!(
        got["uri"].as_str().is_some_and(
            |u| u.starts_with("http://") && u.ends_with("/samples-workitems/photo.jpg")
        ),
        "{got}"
    );
    assert_eq!(got["length"], 12);
    assert!(got["etag"].as_str().is_some_and(|e| e.len() > 2), "{got}");
    assert_eq!(got["note"], "a note");
    assert_eq!(got["noteBinding"], "a note");
    // Both functions on the container got the blob.
    assert_eq!(
        cli.wait_for(tmp.path(), "samples-mirror", "photo.jpg"),
        b"\x00\x01jpeg bytes"
    );

    // A dotted name captures greedily; a blob in a folder keeps its path; a missing input
    // is null; user metadata reaches the binding data.
    cli.run(&[
        "s3api",
        "put-object",
        "--bucket",
        "samples-workitems",
        "--key",
        "dir/archive.tar.gz",
        "--metadata",
        "owner=ada",
    ]);
    let got = json(&cli.wait_for(tmp.path(), "samples-out", "dir/archive.tar-copy.gz"));
    assert_eq!(got["name"], "dir/archive.tar");
    assert_eq!(got["ext"], "gz");
    assert_eq!(got["note"], serde_json::Value::Null);
    assert_eq!(got["metadata"]["owner"], "ada", "{got}");
    // An HTTP function reads and writes blobs named by its route.
    let notes = up.banner_address("/api/notes/", "http://");
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "60", "-w", " %{http_code}"])
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let base = notes.trim_end_matches("{name}");
    assert_eq!(curl(&[&format!("{base}photo")]), "a note 200");
    assert_eq!(curl(&[&format!("{base}other")]), "no note other 404");
    assert_eq!(
        curl(&[
            "-X",
            "PUT",
            "--data-binary",
            "written over http",
            &format!("{base}other")
        ]),
        " 201"
    );
    assert_eq!(curl(&[&format!("{base}other")]), "written over http 200");
    let audit = cli.run(&["s3", "ls", "--recursive", "s3://samples-audit"]);
    assert!(
        audit.trim().lines().count() == 1 && audit.contains(".log"),
        "{audit}"
    );

    // The admin API runs a blob-triggered function on the blob its input names.
    cli.run(&["s3", "rm", "s3://samples-out/photo-copy.jpg"]);
    let master = up.cli_json(&["functions", "keys"])["app"]["master"]
        .as_str()
        .expect("a master key")
        .to_owned();
    let host = base.split("/api/").next().expect("the app's address");
    assert_eq!(
        curl(&[
            "-X",
            "POST",
            "-H",
            &format!("x-functions-key: {master}"),
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"input": "samples-workitems/photo.jpg"}"#,
            &format!("{host}/admin/functions/Copy"),
        ]),
        " 202"
    );
    let got = json(&cli.wait_for(tmp.path(), "samples-out", "photo-copy.jpg"));
    assert_eq!(got["name"], "photo");

    // A blob Copy's pattern does not take (no extension) runs only Mirror.
    cli.put(tmp.path(), "samples-workitems", "noext", b"x");
    assert_eq!(cli.wait_for(tmp.path(), "samples-mirror", "noext"), b"x");

    // Five tries, then the host's poison message.
    cli.put(tmp.path(), "poison-me", "bad.txt", b"bad");
    let poison = eventually("the poison message", Duration::from_secs(120), || {
        find_files(tmp.path(), "webjobs-blobtrigger-poison")
            .into_iter()
            .next()
    });
    let message = json(&std::fs::read(&poison).expect("read"));
    assert_eq!(message["FunctionId"], "Host.Functions.Fail");
    assert_eq!(message["ContainerName"], "poison-me");
    assert_eq!(message["BlobName"], "bad.txt");
    let tried = std::fs::read_to_string(&tries).expect("tries");
    assert_eq!(
        tried.lines().collect::<Vec<_>>(),
        [
            "bad.txt 0",
            "bad.txt 1",
            "bad.txt 2",
            "bad.txt 3",
            "bad.txt 4"
        ]
    );
    let log = std::fs::read_to_string(tmp.path().join("up.stderr")).expect("log");
    assert!(
        log.contains("Moving message to queue 'webjobs-blobtrigger-poison'"),
        "{log}"
    );
    let outs = cli.run(&["s3", "ls", "--recursive", "s3://samples-out"]);
    assert!(!outs.contains("noext"), "{outs}");

    // The app on /metrics like any workload: its pool, and each function by outcome.
    let metrics = up.metrics();
    for want in [
        "meridian_azure_function_invocations_total{app=\"app\",function=\"Fail\",outcome=\"Failed\"} 5",
        "meridian_azure_function_invocations_total{app=\"app\",function=\"Fail\",outcome=\"Succeeded\"} 0",
        "meridian_azure_function_invocations_total{app=\"app\",function=\"Note\",outcome=\"Succeeded\"} 4",
        "meridian_function_queued_events{function=\"app\",platform=\"azure\"} ",
    ] {
        assert!(metrics.contains(want), "missing {want}");
    }
    let copies = observe_support::sample_sum(
        &metrics,
        "meridian_azure_function_invocations_total",
        &[("function", "Copy"), ("outcome", "Succeeded")],
    );
    assert!(copies >= 3.0, "{copies}");
    let pool = observe_support::sample_sum(
        &metrics,
        "meridian_function_invocations_total",
        &[("function", "app"), ("platform", "azure")],
    );
    assert!(pool >= 12.0, "{pool}");
    // Its HTTP traffic in `meridian stat`, as the gateway's service.
    let stat = up.cli(&["stat", "svc"]);
    assert!(stat.contains("azure-functions.meridian.internal"), "{stat}");
}

#[test]
fn bad_blob_paths_are_located_by_meridian_validate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "host.json", r#"{"version": "2.0"}"#);
    write(
        tmp.path(),
        "Bad/function.json",
        r#"{
  "bindings": [
    {"type": "blobTrigger", "direction": "in", "name": "b", "path": "{container}/{name}"},
    {"type": "blob", "direction": "out", "name": "o", "path": "out/{name"}
  ]
}"#,
    );
    let out = observe_support::meridian()
        .current_dir(tmp.path())
        .args(["validate", "-f", "."])
        .output()
        .expect("validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for want in [
        "./Bad/function.json:3:69: Bad: bindings[0].path: the container of a blobTrigger path cannot hold binding expressions ('{container}/{name}')",
        "./Bad/function.json:4:63: Bad: bindings[1].path: the binding expression at offset 4 of 'out/{name' is malformed: '{' without '}'",
    ] {
        assert!(stderr.contains(want), "missing {want}\n{stderr}");
    }
}

#[test]
fn an_acknowledged_uploads_blob_trigger_survives_a_kill_9() {
    let (Some(aws), Some(_node)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("node", "apt-get install nodejs"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    v3_app(&tmp.path().join("app"));
    {
        let mut up = Up::start(tmp.path(), "app", &["--gateway-port", "7071=0"]);
        let cli = Cli::new(&aws, &up);
        for i in 0..5 {
            cli.put(
                tmp.path(),
                "samples-workitems",
                &format!("{i}.bin"),
                b"kept",
            );
        }
        up.child.kill().expect("kill -9");
        up.child.wait().expect("wait");
    }
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "7071=0"]);
    let cli = Cli::new(&aws, &up);
    for i in 0..5 {
        let got = json(&cli.wait_for(tmp.path(), "samples-out", &format!("{i}-copy.bin")));
        assert_eq!(got["text"], "kept");
        assert_eq!(
            cli.wait_for(tmp.path(), "samples-mirror", &format!("{i}.bin")),
            b"kept"
        );
    }
}

#[test]
fn a_v4_blob_trigger_with_the_real_library() {
    let (Some(aws), Some(_node)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("node", "apt-get install nodejs"),
    ) else {
        return;
    };
    let v4 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/tests/azure-v4");
    if !v4
        .join("node_modules/@azure/functions/package.json")
        .is_file()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "run .ci/install-test-deps"
        );
        eprintln!("SKIPPED: npm ci --prefix {} first", v4.display());
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("v4");
    copy_dir(&v4, &root);
    write(
        &root,
        "src/functions/blobs.js",
        r#"const { app, input, output } = require('@azure/functions');

const note = input.storageBlob({ path: 'v4-notes/{name}.txt', connection: 'AzureWebJobsStorage' });
const copy = output.storageBlob({ path: 'v4-out/{name}.{ext}.json', connection: 'AzureWebJobsStorage' });

app.storageBlob('copyBlob', {
  path: 'v4-in/{name}.{ext}',
  connection: 'AzureWebJobsStorage',
  extraInputs: [note],
  extraOutputs: [copy],
  handler: async (blob, context) => {
    context.log(`Storage blob function processed blob "${context.triggerMetadata.name}" with size ${blob.length} bytes`);
    const m = context.triggerMetadata;
    const n = context.extraInputs.get(note);
    context.extraOutputs.set(copy, {
      isBuffer: Buffer.isBuffer(blob), text: blob.toString(), name: m.name, ext: m.ext,
      blobTrigger: m.blobTrigger, length: m.properties.contentLength,
      note: n === undefined || n === null ? null : n.toString(),
    });
  },
});

app.storageBlob('echoBlob', {
  path: 'v4-echo/{name}',
  connection: 'AzureWebJobsStorage',
  return: output.storageBlob({ path: 'v4-out/echo-{name}', connection: 'AzureWebJobsStorage' }),
  handler: async (blob) => Buffer.concat([Buffer.from('echo:'), blob]),
});
"#,
    );
    let up = Up::start(tmp.path(), "v4", &["--gateway-port", "7071=0"]);
    let cli = Cli::new(&aws, &up);
    cli.run(&["s3", "mb", "s3://v4-notes"]);
    cli.put(tmp.path(), "v4-notes", "report.txt", b"v4 note");
    cli.put(tmp.path(), "v4-in", "report.csv", b"a,b\n1,2\n");
    let got = json(&cli.wait_for(tmp.path(), "v4-out", "report.csv.json"));
    assert_eq!(got["isBuffer"], true, "{got}");
    assert_eq!(got["text"], "a,b\n1,2\n");
    assert_eq!(got["name"], "report");
    assert_eq!(got["ext"], "csv");
    assert_eq!(got["blobTrigger"], "v4-in/report.csv");
    assert_eq!(got["length"], 8);
    assert_eq!(got["note"], "v4 note");

    cli.put(tmp.path(), "v4-echo", "x.bin", b"\xffbytes");
    assert_eq!(
        cli.wait_for(tmp.path(), "v4-out", "echo-x.bin"),
        b"echo:\xffbytes"
    );
    // Past Lambda's 6 MB reply: the host has no such cap on a blob.
    let big: Vec<u8> = (0..7 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    cli.put(tmp.path(), "v4-echo", "big.bin", &big);
    let echoed = cli.wait_for(tmp.path(), "v4-out", "echo-big.bin");
    assert_eq!(echoed.len(), big.len() + 5);
    assert!(echoed[5..] == big[..], "the 7 MiB blob came back changed");
}

const PYTHON_APP: &str = r#"import json
import azure.functions as func

app = func.FunctionApp()


@app.blob_trigger(arg_name="myblob", path="py-in/{name}", connection="AzureWebJobsStorage")
@app.blob_input(arg_name="note", path="py-notes/{name}.txt", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="out", path="py-out/{name}.json", connection="AzureWebJobsStorage")
def copy(myblob: func.InputStream, note: str, out: func.Out[str]):
    out.set(json.dumps({
        "name": myblob.name, "length": myblob.length, "uri": myblob.uri,
        "text": myblob.read().decode(), "note": note,
    }))
"#;

#[test]
fn a_python_v2_blob_trigger_with_the_real_package() {
    let (Some(aws), Some(python)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("python3", "apt-get install python3"),
    ) else {
        return;
    };
    let has_package = Command::new(&python)
        .args(["-c", "import azure.functions"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_package {
        assert!(
            std::env::var_os("CI").is_none(),
            "run .ci/install-test-deps (pip install azure-functions)"
        );
        eprintln!("SKIPPED: pip install azure-functions first");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("py");
    write(&root, "host.json", r#"{"version": "2.0"}"#);
    write(
        &root,
        "local.settings.json",
        r#"{"Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}}"#,
    );
    write(&root, "function_app.py", PYTHON_APP);
    let up = Up::start(tmp.path(), "py", &["--gateway-port", "7071=0"]);
    let cli = Cli::new(&aws, &up);
    cli.run(&["s3", "mb", "s3://py-notes"]);
    cli.put(tmp.path(), "py-notes", "data.txt", "a note ✓".as_bytes());
    cli.put(tmp.path(), "py-in", "data", b"python bytes");
    let got = json(&cli.wait_for(tmp.path(), "py-out", "data.json"));
    assert_eq!(got["name"], "py-in/data", "{got}");
    assert_eq!(got["length"], 12);
    assert_eq!(got["text"], "python bytes");
    assert_eq!(got["note"], "a note ✓");
    assert!(
        got["uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/py-in/data")),
        "{got}"
    );
}

#[test]
fn the_blob_example_summarises_each_upload() {
    let (Some(aws), Some(_node)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("node", "apt-get install nodejs"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/azure-blobs"),
        &tmp.path().join("azure-blobs"),
    );
    let up = Up::start(tmp.path(), "azure-blobs", &["--gateway-port", "7071=0"]);
    let cli = Cli::new(&aws, &up);
    cli.put(tmp.path(), "samples-workitems", "report.txt", b"a\nb\nc\n");
    let got = json(&cli.wait_for(tmp.path(), "samples-summaries", "report.txt.json"));
    assert_eq!(got["name"], "report.txt", "{got}");
    assert_eq!(got["size"], 6);
    assert_eq!(got["lines"], 3);
}

#[test]
fn a_new_trigger_takes_the_blobs_already_in_its_container() {
    let (Some(aws), Some(_node)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("node", "apt-get install nodejs"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("app");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/azure-blobs"),
        &root,
    );
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "7071=0"]);
    let cli = Cli::new(&aws, &up);
    cli.run(&["s3", "mb", "s3://archive"]);
    cli.put(tmp.path(), "archive", "old/1.txt", b"one");
    cli.put(tmp.path(), "archive", "old/2.txt", b"two");
    cli.put(tmp.path(), "archive", "skip.txt", b"not under old/");
    // A function added while the node runs: the host's first scan finds what is there.
    write(
        &root,
        "Archive/function.json",
        r#"{"bindings": [
    {"type": "blobTrigger", "direction": "in", "name": "b", "path": "archive/old/{name}"},
    {"type": "blob", "direction": "out", "name": "$return", "path": "archive-copies/{name}"}
]}"#,
    );
    write(
        &root,
        "Archive/index.js",
        "module.exports = async function (context, b) { return b; };\n",
    );
    assert_eq!(cli.wait_for(tmp.path(), "archive-copies", "1.txt"), b"one");
    assert_eq!(cli.wait_for(tmp.path(), "archive-copies", "2.txt"), b"two");
    // New blobs arrive by their events.
    cli.put(tmp.path(), "archive", "old/3.txt", b"three");
    assert_eq!(
        cli.wait_for(tmp.path(), "archive-copies", "3.txt"),
        b"three"
    );
    let copies = cli.run(&["s3", "ls", "s3://archive-copies"]);
    assert!(!copies.contains("skip.txt"), "{copies}");
    let log = std::fs::read_to_string(tmp.path().join("up.stderr")).expect("log");
    assert!(
        log.contains("blob trigger 'Functions.Archive': 2 blob(s) already in archive queued"),
        "{log}"
    );
}
