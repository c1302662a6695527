//! Test harness: the endpoint on 127.0.0.1:0 (in-process or as a process of its own), real
//! clients (boto3, the AWS CLI, a raw signed HTTP client), bounded waits.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meridian_storage::dynamo::Dynamo;
use meridian_storage::dynamo::api::Service;
use meridian_storage::engine::Engine;
use meridian_storage::keys::KeyStore;
use meridian_storage::server::Endpoint;
use meridian_storage::sigv4::{self, SignedRequest};

pub const ACCESS_KEY: &str = "AKIDTESTKEY";
pub const SECRET_KEY: &str = "test/secret/key";

/// Finds an external program. Without it a test is skipped with a message, except under CI
/// (`CI` set), where a missing program is a failure: CI must install it.
pub fn tool(name: &str, install_hint: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is required in CI and is missing: {install_hint}");
        }
        eprintln!("SKIPPED: {name} not found on PATH ({install_hint})");
    }
    found
}

/// Whether python3 can import boto3 (a failure under CI when it cannot).
pub fn boto3() -> Option<PathBuf> {
    let python = tool("python3", "apt-get install python3")?;
    let ok = Command::new(&python)
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("boto3 is required in CI and is missing: .ci/install-test-deps installs it");
        }
        eprintln!("SKIPPED: boto3 is not importable (pip install boto3)");
        return None;
    }
    Some(python)
}

/// An in-process endpoint with a fresh state directory and the test key.
pub struct Server {
    pub endpoint: Endpoint,
    pub dir: tempfile::TempDir,
    /// The keys it accepts (tests issue session credentials here).
    pub keys: Arc<KeyStore>,
    /// The tables (tests run the TTL sweep here).
    pub dynamo: Arc<Dynamo>,
}

impl Server {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(&dir.path().join("meridian.redb")).expect("engine");
        let dynamo = Dynamo::open(engine, "us-east-1").expect("dynamo");
        let keys = Arc::new(KeyStore::empty());
        keys.add(ACCESS_KEY, SECRET_KEY);
        let service = Service {
            dynamo: dynamo.clone(),
            keys: keys.clone(),
        };
        let endpoint = Endpoint::start(service, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("listen");
        Self {
            endpoint,
            dir,
            keys,
            dynamo,
        }
    }

    pub fn url(&self) -> String {
        self.endpoint.url()
    }
}

/// The environment every AWS client gets: the test key, a region, no shared config.
pub fn aws_env(cmd: &mut Command, home: &Path) {
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
}

/// Runs a Python script with boto3 pointed at `url`; returns its stdout, panics with its
/// stderr when it fails.
pub async fn run_python(python: &Path, url: &str, script: &str) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(script).env("ENDPOINT", url);
    aws_env(&mut cmd, home.path());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A raw signed DynamoDB request; returns status, headers and body.
pub async fn call(url: &str, op: &str, body: &str) -> (u16, http::HeaderMap, serde_json::Value) {
    call_with(
        url,
        op,
        body.as_bytes().to_vec(),
        Some((ACCESS_KEY, SECRET_KEY)),
    )
    .await
}

pub async fn call_with(
    url: &str,
    op: &str,
    body: Vec<u8>,
    key: Option<(&str, &str)>,
) -> (u16, http::HeaderMap, serde_json::Value) {
    use http_body_util::BodyExt as _;
    let uri: http::Uri = url.parse().expect("url");
    let authority = uri.authority().expect("authority").to_string();
    let now = time::OffsetDateTime::now_utc();
    let amz = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("host", authority.parse().expect("host"));
    headers.insert("x-amz-date", amz.parse().expect("date"));
    headers.insert(
        "x-amz-target",
        format!("DynamoDB_20120810.{op}").parse().expect("target"),
    );
    headers.insert(
        "content-type",
        "application/x-amz-json-1.0".parse().expect("ct"),
    );
    if let Some((ak, sk)) = key {
        let signed = vec![
            "content-type".to_owned(),
            "host".to_owned(),
            "x-amz-date".to_owned(),
            "x-amz-target".to_owned(),
        ];
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            authority: None,
            body: &body,
        };
        let auth = sigv4::sign(&req, ak, sk, "us-east-1", "dynamodb", &amz, &signed);
        headers.insert("authorization", auth.parse().expect("auth"));
    }
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut req = http::Request::post("/")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("request");
    *req.headers_mut() = headers;
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    // As the SDKs do: the CRC-32 of the bytes received, when the server sends one.
    if let Some(crc) = headers.get("x-amz-crc32") {
        let crc: u32 = crc.to_str().expect("ascii").parse().expect("a number");
        assert_eq!(crc, crc32fast::hash(&bytes), "x-amz-crc32 of the body");
    }
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

/// A `meridian-tables` process.
pub struct Process {
    pub child: Child,
    pub url: String,
}

impl Process {
    /// Starts it on `state` and waits (bounded) for its `listening` line.
    pub fn start(state: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_meridian-tables"))
            .arg("--state-dir")
            .arg(state)
            .arg("--key")
            .arg(format!("{ACCESS_KEY}:{SECRET_KEY}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn meridian-tables");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("meridian-tables did not start within 30 s");
        Self { child, url }
    }

    /// `kill -9`, and wait for the process to be gone.
    pub fn kill9(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `f` to hold, polling, up to `limit`.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
