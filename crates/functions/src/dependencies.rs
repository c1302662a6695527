//! A Node function's packages, installed the way `sam build` installs them: when a
//! `package-lock.json` sits beside the handler's code and `node_modules` is missing or older
//! than the lock file, `npm ci` runs there once, so a fresh clone runs without a manual
//! install step. A folder that needs nothing costs two `stat` calls.
//!
//! A failed install does not stop the node: the function then fails as Lambda does when a
//! package is missing (`Runtime.ImportModuleError`), and the reason is returned to be shown.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use meridian_config::sam::{Code, FunctionSpec, Runtime};

/// The longest an install may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// What happened to one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// `npm ci` ran and succeeded.
    Installed(PathBuf),
    /// It could not run or failed; the reason says why and what to do.
    Failed {
        /// The folder.
        dir: PathBuf,
        /// npm's last lines, or why npm could not start.
        reason: String,
    },
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Whether `dir` has a lock file whose packages are not installed (npm records the install
/// in `node_modules/.package-lock.json`).
pub fn needs_install(dir: &Path) -> bool {
    let Some(lock) = modified(&dir.join("package-lock.json")) else {
        return false;
    };
    modified(&dir.join("node_modules/.package-lock.json")).is_none_or(|installed| installed < lock)
}

/// The code folders of Node functions that need `npm ci`, once each.
pub fn pending(functions: &[FunctionSpec]) -> Vec<PathBuf> {
    let dirs: BTreeSet<PathBuf> = functions
        .iter()
        .filter(|f| matches!(f.runtime, Runtime::Node { .. }))
        // A function with a build installs its packages, dev ones too, for the build.
        .filter(|f| f.build.is_none())
        .filter_map(|f| match &f.code {
            Code::Dir(d) => Some(d.clone()),
            _ => None,
        })
        .filter(|d| needs_install(d))
        .collect();
    dirs.into_iter().collect()
}

/// Runs `npm ci` in every folder that needs it, one after another.
pub async fn install(functions: &[FunctionSpec]) -> Vec<Install> {
    let mut out = Vec::new();
    for dir in pending(functions) {
        tracing::info!(dir = %dir.display(), "installing the function's packages (npm ci)");
        out.push(npm_ci(&dir).await);
    }
    out
}

/// Runs `npm install` once in a folder that has a `package.json` but neither a lock file nor
/// `node_modules` (an image's `RUN npm install` step, for an app that ships no lock file).
/// `None` when there is nothing to do.
pub async fn npm_install_once(dir: &Path) -> Option<Install> {
    if !dir.join("package.json").is_file()
        || dir.join("package-lock.json").is_file()
        || dir.join("node_modules").exists()
    {
        return None;
    }
    tracing::info!(dir = %dir.display(), "installing the app's packages (npm install)");
    Some(npm(dir, &["install", "--omit=dev", "--no-audit", "--no-fund"]).await)
}

async fn npm_ci(dir: &Path) -> Install {
    npm(dir, &["ci", "--omit=dev", "--no-audit", "--no-fund"]).await
}

pub(crate) async fn npm(dir: &Path, args: &[&str]) -> Install {
    let verb = format!("npm {}", args.first().copied().unwrap_or_default());
    let fail = |reason: String| Install::Failed {
        dir: dir.to_path_buf(),
        reason,
    };
    let child = tokio::process::Command::new("npm")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(format!(
                "npm is not installed; install Node.js with npm, or run `{verb}` in this folder"
            ));
        }
        Err(e) => return fail(format!("cannot start npm: {e}")),
    };
    match tokio::time::timeout(INSTALL_TIMEOUT, child.wait_with_output()).await {
        Err(_) => fail(format!(
            "{verb} did not finish within {} s",
            INSTALL_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => fail(format!("{verb}: {e}")),
        Ok(Ok(o)) if o.status.success() => Install::Installed(dir.to_path_buf()),
        Ok(Ok(o)) => {
            let text = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            fail(format!(
                "{verb} failed ({}): {}",
                o.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_needs_an_install_until_npm_records_one_newer_than_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!needs_install(dir.path()), "no lock file: nothing to do");
        std::fs::write(dir.path().join("package-lock.json"), "{}").unwrap();
        assert!(needs_install(dir.path()));
        std::fs::create_dir(dir.path().join("node_modules")).unwrap();
        let record = dir.path().join("node_modules/.package-lock.json");
        std::fs::write(&record, "{}").unwrap();
        let lock = modified(&dir.path().join("package-lock.json")).unwrap();
        let f = std::fs::File::options().write(true).open(&record).unwrap();
        f.set_modified(lock + Duration::from_secs(1)).unwrap();
        assert!(!needs_install(dir.path()));
        f.set_modified(lock - Duration::from_secs(1)).unwrap();
        assert!(needs_install(dir.path()), "the lock file changed since");
    }
}
