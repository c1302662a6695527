//! Test harness: a function host with its endpoint on 127.0.0.1:0, code written to a temp
//! folder, and a small HTTP client. Every wait is bounded.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[allow(unused_imports)] // not every test binary that includes this module uses it
pub use meridian_testkit::{missing, tool};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use meridian_config::sam::{TemplateOptions, load_template_str};
use meridian_functions::{Endpoint, FunctionHost, HostConfig};

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub host: FunctionHost,
    pub endpoint: Endpoint,
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub fn config(dir: &Path) -> HostConfig {
    let mut c = HostConfig::new(dir.join("state"));
    c.idle_timeout = Duration::from_secs(60);
    // Lambda waits a minute before retrying a failed asynchronous event; the timing itself
    // is tested on a paused clock (event_queue's unit tests).
    c.async_retry_delay = Duration::from_millis(200);
    c
}

impl Harness {
    /// Writes `files` into a temp folder, loads `template` from it and serves it.
    pub async fn start(template: &str, files: &[(&str, &str)]) -> Self {
        Self::start_with(template, files, |_| {}).await
    }

    pub async fn start_with(
        template: &str,
        files: &[(&str, &str)],
        tweak: impl FnOnce(&mut HostConfig),
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        write_files(dir.path(), files);
        Self::start_in_with(dir, template, tweak).await
    }

    /// Starts a host on the folder (and state) of an earlier one, as a restart would.
    pub async fn start_in(dir: tempfile::TempDir, template: &str) -> Self {
        Self::start_in_with(dir, template, |_| {}).await
    }

    async fn start_in_with(
        dir: tempfile::TempDir,
        template: &str,
        tweak: impl FnOnce(&mut HostConfig),
    ) -> Self {
        let mut cfg = config(dir.path());
        tweak(&mut cfg);
        let host = FunctionHost::new(cfg).expect("host");
        let h = Self {
            endpoint: Endpoint::start(host.clone(), "127.0.0.1:0".parse().expect("addr"))
                .await
                .expect("endpoint"),
            host,
            dir,
        };
        if !template.is_empty() {
            h.load(template);
        }
        h
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// (Re)loads a template from the temp folder.
    pub fn load(&self, template: &str) {
        let file = self.dir.path().join("template.yaml");
        std::fs::write(&file, template).expect("write template");
        let t =
            load_template_str(&file, template, &TemplateOptions::default()).unwrap_or_else(|d| {
                let msgs: Vec<String> = d.iter().map(ToString::to_string).collect();
                panic!("template refused:\n{}", msgs.join("\n"))
            });
        self.host.load_template(&t).expect("load");
    }

    /// Loads a template file where it is (its code stays beside it).
    pub fn load_file(&self, file: &Path) {
        let t = meridian_config::sam::load_template(file, &TemplateOptions::default())
            .unwrap_or_else(|d| {
                let msgs: Vec<String> = d.iter().map(ToString::to_string).collect();
                panic!("template refused:\n{}", msgs.join("\n"))
            });
        self.host.load_template(&t).expect("load");
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], Bytes::new()).await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        request(self.endpoint.addr, method, path, headers, body.into()).await
    }

    /// Invokes through the Lambda Invoke API.
    pub async fn invoke(&self, function: &str, payload: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            headers,
            Bytes::from(payload.to_owned()),
        )
        .await
    }

    /// The function's log file.
    pub fn logs(&self, function: &str) -> String {
        std::fs::read_to_string(
            self.dir
                .path()
                .join("state/functions")
                .join(function)
                .join("function.log"),
        )
        .unwrap_or_default()
    }
}

impl Harness {
    /// The function's log once it contains `needle` (log lines are written just after the
    /// invocation answers), waiting at most 5 s.
    pub async fn logs_with(&self, function: &str, needle: &str) -> String {
        let found = eventually(Duration::from_secs(5), || {
            self.logs(function).contains(needle)
        })
        .await;
        let logs = self.logs(function);
        assert!(
            found,
            "{needle:?} never appeared in the logs of {function}:\n{logs}"
        );
        logs
    }
}

pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = root.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        if name.ends_with("bootstrap") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
}

pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Reply {
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut b = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = send
            .send_request(b.body(Full::new(body)).expect("request"))
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("request finished within 60 s")
}

/// Waits until `cond` holds, polling, for at most `limit`.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// True when a Python module can be imported. Under CI (`CI` set) a missing module is a
/// failure, as for the other real peers (.ci/install-test-deps installs them).
pub fn python_has(module: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        missing(&format!(
            "python module {module} is not installed (pip install {module})"
        ));
    }
    ok
}

pub fn env_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The course's files, kept with the SAM tests of the config crate.
pub fn course_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/src/sam/testdata/course")
}
