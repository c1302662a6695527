//! The CLI's way to the admin API of a running node (loopback only), used by `meridian ps`,
//! `logs`, `scale`, `rollout`, `tap` and the rest: the node's HTTP client in its blocking
//! form, whose body reader hands streamed answers (logs, rollout progress, tap events) over
//! as they come.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use meridian_admin::{AdminRequest, AdminToken};
use meridian_http_client::blocking::{self, BodyReader};
use meridian_http_client::{Body, Error as ClientError};

/// Where to find the node: `--admin`, else the run file in `--state-dir`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Target {
    /// The admin address of the running node (default: read from the state folder).
    #[arg(long, value_name = "ADDR", env = "MERIDIAN_ADMIN", global = true)]
    admin: Option<SocketAddr>,
    /// The state folder of the running node.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".meridian",
        env = "MERIDIAN_STATE_DIR",
        global = true
    )]
    pub(crate) state_dir: PathBuf,
}

impl Target {
    /// The state folder named by `--state-dir`.
    pub(crate) fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }

    pub(crate) fn addr(&self) -> anyhow::Result<SocketAddr> {
        match self.admin {
            Some(a) => Ok(a),
            None => Ok(crate::run_file::read(&self.state_dir)?.admin),
        }
    }

    /// Sends a request without a body; returns the status and a reader positioned at the
    /// body of the answer.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
    ) -> anyhow::Result<(u16, BufReader<BodyReader>)> {
        self.exchange(method, path, &[])
    }

    /// Sends a typed admin request (its parameters where the API takes them, the node's
    /// token with it).
    pub(crate) fn request(
        &self,
        req: &AdminRequest,
    ) -> anyhow::Result<(u16, BufReader<BodyReader>)> {
        let (path, body) = req.render();
        self.exchange(req.method().as_str(), &path, &body)
    }

    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, BufReader<BodyReader>)> {
        let addr = self.addr()?;
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, addr.to_string());
        // The token goes with every request when it can be read; only state-changing ones
        // need it, and their refusal names the file.
        if let Ok(token) = AdminToken::for_client(&self.state_dir) {
            req = req.header(http::header::AUTHORIZATION, token.bearer());
        }
        if !body.is_empty() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Body::from(body.to_vec()))?;
        let (head, body) =
            blocking::request(addr, req, Duration::from_secs(5)).map_err(|e| match e {
                ClientError::Connect { .. } => anyhow::anyhow!(
                    "cannot reach Meridian's admin API at {addr}; is `meridian up` running? ({e})"
                ),
                e => anyhow::anyhow!("the admin API at {addr}: {e}"),
            })?;
        Ok((head.status.as_u16(), BufReader::new(body)))
    }

    /// The JSON answer to a typed request; a non-2xx status becomes the API's error message.
    pub(crate) fn call(&self, req: &AdminRequest) -> anyhow::Result<serde_json::Value> {
        let (status, r) = self.request(req)?;
        json_answer(status, r)
    }

    /// A JSON answer; a non-2xx status becomes the API's error message.
    pub(crate) fn json(&self, method: &str, path: &str) -> anyhow::Result<serde_json::Value> {
        let (status, r) = self.send(method, path)?;
        json_answer(status, r)
    }

    /// Copies the streamed text answer to a typed request to stdout as it arrives.
    pub(crate) fn stream(&self, req: &AdminRequest) -> anyhow::Result<()> {
        let (status, mut r) = self.request(req)?;
        if !(200..300).contains(&status) {
            let mut body = String::new();
            r.read_to_string(&mut body)?;
            let msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or(body);
            bail!("{msg}");
        }
        let mut out = std::io::stdout().lock();
        let mut line = String::new();
        let mut failed = false;
        while r.read_line(&mut line)? > 0 {
            failed |= line.starts_with("error: ");
            out.write_all(line.as_bytes())?;
            out.flush()?;
            line.clear();
        }
        if failed {
            bail!("the operation did not complete");
        }
        Ok(())
    }
}

fn json_answer(status: u16, mut r: BufReader<BodyReader>) -> anyhow::Result<serde_json::Value> {
    let mut body = String::new();
    r.read_to_string(&mut body)?;
    let v: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("answer is not JSON: {body}"))?;
    if !(200..300).contains(&status) {
        bail!(
            "{}",
            v.get("error").and_then(|e| e.as_str()).unwrap_or(&body)
        );
    }
    Ok(v)
}
