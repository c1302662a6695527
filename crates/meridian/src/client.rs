//! A small HTTP/1.0 client for the admin API of a running node (loopback only), used by
//! `meridian ps`, `logs`, `scale` and `rollout`. HTTP/1.0 keeps streamed answers (logs,
//! rollout progress) close-delimited, so they can be copied to the terminal as they come.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use meridian_admin::{AdminRequest, AdminToken};

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
    ) -> anyhow::Result<(u16, BufReader<TcpStream>)> {
        self.exchange(method, path, &[])
    }

    /// Sends a typed admin request (its parameters where the API takes them, the node's
    /// token with it).
    pub(crate) fn request(
        &self,
        req: &AdminRequest,
    ) -> anyhow::Result<(u16, BufReader<TcpStream>)> {
        let (path, body) = req.render();
        self.exchange(req.method().as_str(), &path, &body)
    }

    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, BufReader<TcpStream>)> {
        let addr = self.addr()?;
        // The token goes with every request when it can be read; only state-changing ones
        // need it, and their refusal names the file.
        let auth = AdminToken::for_client(&self.state_dir)
            .map(|t| format!("Authorization: {}\r\n", t.bearer()))
            .unwrap_or_default();
        let mut s =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).with_context(|| {
                format!("cannot reach Meridian's admin API at {addr}; is `meridian up` running?")
            })?;
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/json\r\n"
        };
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}{content_type}Content-Length: {}\r\n\r\n",
            body.len()
        )?;
        s.write_all(body)?;
        let mut r = BufReader::new(s);
        let mut status_line = String::new();
        r.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("unexpected answer from {addr}: {status_line:?}"))?;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                break;
            }
        }
        Ok((status, r))
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

fn json_answer(status: u16, mut r: BufReader<TcpStream>) -> anyhow::Result<serde_json::Value> {
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
