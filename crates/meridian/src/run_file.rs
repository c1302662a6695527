//! `<state>/run.json`: how commands such as `meridian ps` find the running node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// What a running `meridian up` tells other commands.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunInfo {
    /// Its process id.
    pub(crate) pid: u32,
    /// The admin API.
    pub(crate) admin: SocketAddr,
}

/// The file, removed when the node stops.
#[derive(Debug)]
pub(crate) struct RunFile(PathBuf);

impl RunFile {
    /// Writes the run file.
    pub(crate) fn write(state_dir: &Path, admin: SocketAddr) -> anyhow::Result<RunFile> {
        let path = state_dir.join("run.json");
        let info = RunInfo {
            pid: std::process::id(),
            admin,
        };
        let tmp = state_dir.join("run.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&info)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(RunFile(path))
    }

    /// Removes it.
    pub(crate) fn remove(self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads the run file of a node, with an error that says how to start one.
pub(crate) fn read(state_dir: &Path) -> anyhow::Result<RunInfo> {
    let path = state_dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|_| {
        anyhow::anyhow!(
            "no running Meridian found ({} is missing): start one with `meridian up`, or pass --admin ADDR",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
}
