//! The runtime bootstraps Meridian ships for the managed runtimes (`nodejs*.x`, `python3.*`,
//! `ruby3.*`):
//! small Runtime API clients embedded in the binary and written to the state directory, and
//! the command that starts each runtime. `provided` runtimes start the user's `bootstrap`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use meridian_config::sam::{Platform, Runtime};

use crate::error::FunctionsError;

/// The Node.js bootstrap (CommonJS, so it runs on every supported Node version).
pub const NODE_BOOTSTRAP: &str = include_str!("bootstrap/node.cjs");
/// The Python bootstrap.
pub const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/python.py");
/// The Ruby bootstrap.
pub const RUBY_BOOTSTRAP: &str = include_str!("bootstrap/ruby.rb");
/// The Azure Functions Node.js worker (both programming models).
pub const AZURE_NODE_WORKER: &str = include_str!("bootstrap/azure-node.cjs");
/// The bridge between the Runtime API and an Azure Functions custom handler.
pub const AZURE_CUSTOM_BRIDGE: &str = include_str!("bootstrap/azure-custom.cjs");
/// The Azure Functions Python worker (both programming models).
pub const AZURE_PYTHON_WORKER: &str = include_str!("bootstrap/azure-python.py");

/// Where the bootstraps were written.
#[derive(Debug, Clone)]
pub struct Bootstraps {
    /// `LAMBDA_RUNTIME_DIR`: the folder holding the bootstraps.
    pub runtime_dir: PathBuf,
    node: PathBuf,
    python: PathBuf,
    ruby: PathBuf,
    azure_node: PathBuf,
    azure_python: PathBuf,
    azure_custom: PathBuf,
}

fn write_if_changed(path: &Path, text: &str) -> Result<(), FunctionsError> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| FunctionsError::StateDir {
            path: path.to_path_buf(),
            source,
        })
}

impl Bootstraps {
    /// Writes the bootstraps under `<state_dir>/runtime`.
    pub fn install(state_dir: &Path) -> Result<Self, FunctionsError> {
        let runtime_dir = state_dir.join("runtime");
        std::fs::create_dir_all(&runtime_dir).map_err(|source| FunctionsError::StateDir {
            path: runtime_dir.clone(),
            source,
        })?;
        let node = runtime_dir.join("node-bootstrap.cjs");
        let python = runtime_dir.join("python-bootstrap.py");
        let azure_node = runtime_dir.join("azure-node-worker.cjs");
        write_if_changed(&node, NODE_BOOTSTRAP)?;
        write_if_changed(&python, PYTHON_BOOTSTRAP)?;
        let ruby = runtime_dir.join("ruby-bootstrap.rb");
        write_if_changed(&ruby, RUBY_BOOTSTRAP)?;
        let azure_python = runtime_dir.join("azure-python-worker.py");
        write_if_changed(&azure_node, AZURE_NODE_WORKER)?;
        write_if_changed(&azure_python, AZURE_PYTHON_WORKER)?;
        let azure_custom = runtime_dir.join("azure-custom-bridge.cjs");
        write_if_changed(&azure_custom, AZURE_CUSTOM_BRIDGE)?;
        Ok(Self {
            azure_custom,
            runtime_dir,
            node,
            python,
            ruby,
            azure_node,
            azure_python,
        })
    }

    /// The program and arguments that start `runtime` for a function whose code is in
    /// `task_root`.
    pub fn command(
        &self,
        runtime: Runtime,
        platform: Platform,
        task_root: &Path,
        memory_mb: u32,
    ) -> (PathBuf, Vec<String>) {
        match (runtime, platform) {
            (Runtime::Node { major }, Platform::AzureFunctions) => {
                let node = find_interpreter(&[&format!("node{major}"), "node"]);
                (node, vec![self.azure_node.display().to_string()])
            }
            (Runtime::Node { major }, Platform::Lambda) => {
                let node = find_interpreter(&[&format!("node{major}"), "node"]);
                // As the AWS Node runtime does: size the old generation to the memory limit,
                // leaving room for the rest of the process.
                let heap = (u64::from(memory_mb) * 85 / 100).max(64);
                (
                    node,
                    vec![
                        format!("--max-old-space-size={heap}"),
                        self.node.display().to_string(),
                    ],
                )
            }
            (Runtime::Python { minor }, Platform::AzureFunctions) => {
                let python = find_interpreter(&[&format!("python3.{minor}"), "python3"]);
                (python, vec![self.azure_python.display().to_string()])
            }
            (Runtime::Python { minor }, Platform::Lambda) => {
                let python = find_interpreter(&[&format!("python3.{minor}"), "python3"]);
                (python, vec![self.python.display().to_string()])
            }
            (Runtime::Ruby { major, minor }, _) => {
                let ruby = find_interpreter(&[&format!("ruby{major}.{minor}"), "ruby"]);
                (ruby, vec![self.ruby.display().to_string()])
            }
            (Runtime::Provided(_), Platform::AzureFunctions) => (
                find_interpreter(&["node"]),
                vec![self.azure_custom.display().to_string()],
            ),
            (Runtime::Provided(_), Platform::Lambda) => (task_root.join("bootstrap"), Vec::new()),
        }
    }
}

/// What runs a function of `runtime` when that version's interpreter is not installed: a
/// sentence naming the interpreter and version that run it instead, `None` when the
/// version asked for is the one found (or the runtime brings its own `bootstrap`).
pub fn runtime_substitute(runtime: Runtime) -> Option<String> {
    let (names, wanted): (Vec<String>, String) = match runtime {
        Runtime::Node { major } => (
            vec![format!("node{major}"), "node".into()],
            major.to_string(),
        ),
        Runtime::Python { minor } => (
            vec![format!("python3.{minor}"), "python3".into()],
            format!("3.{minor}"),
        ),
        Runtime::Ruby { major, minor } => (
            vec![format!("ruby{major}.{minor}"), "ruby".into()],
            format!("{major}.{minor}"),
        ),
        Runtime::Provided(_) => return None,
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let exe = find_interpreter(&names);
    if !exe.is_absolute() {
        return Some(format!(
            "{runtime} needs {}, which is not installed; the function cannot start",
            names.join(" or ")
        ));
    }
    let found = interpreter_version(&exe)?;
    // Node is matched on its major version, the others on major.minor.
    let same = found == wanted || found.starts_with(&format!("{wanted}."));
    (!same).then(|| {
        format!(
            "{runtime} is not installed here; {} {found} runs it instead",
            exe.display()
        )
    })
}

/// An interpreter's version from its `--version` (`v20.20.2`, `Python 3.11.7`,
/// `ruby 3.1.2p20 ...`), asked once per interpreter.
fn interpreter_version(exe: &Path) -> Option<String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Option<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(v) = cache.lock().ok().and_then(|c| c.get(exe).cloned()) {
        return v;
    }
    let version = ask_version(exe);
    if let Ok(mut c) = cache.lock() {
        c.insert(exe.to_path_buf(), version.clone());
    }
    version
}

fn ask_version(exe: &Path) -> Option<String> {
    let out = std::process::Command::new(exe)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let word = text.split_whitespace().find(|w| {
        w.trim_start_matches('v')
            .starts_with(|c: char| c.is_ascii_digit())
    })?;
    let version: String = word
        .trim_start_matches('v')
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!version.is_empty()).then_some(version)
}

/// The first of `names` found on `PATH`, else the last name as is (spawning it then fails
/// with a clear error).
pub fn find_executable(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from(names.last().copied().unwrap_or_default())
}

/// The first of `names` that is installed, through version managers' shims: a shim for a
/// version that is not installed (pyenv keeps `python3.12` when only 3.11 is there) is
/// passed over, so `python3.12` falls back to `python3`.
pub fn find_interpreter(names: &[&str]) -> PathBuf {
    for (i, name) in names.iter().enumerate() {
        let found = find_executable(&[name]);
        if !found.is_absolute() {
            continue;
        }
        let real = resolve_shim(found.clone());
        let is_shim = real == found && is_in_shims(&found);
        if !is_shim || i + 1 == names.len() {
            return real;
        }
    }
    PathBuf::from(names.last().copied().unwrap_or_default())
}

fn is_in_shims(exe: &Path) -> bool {
    exe.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "shims")
}

/// The real interpreter behind a version manager's shim (pyenv, asdf, nodenv, volta keep
/// them in a `shims` folder): a shim is a script that costs tens of milliseconds on every
/// cold start and depends on the caller's environment. Resolved once per path, by running
/// the shim: blocking work, done while functions are prepared, off the runtime.
pub fn resolve_shim(exe: PathBuf) -> PathBuf {
    // Only consulted when functions are loaded, never per invocation.
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    if !is_in_shims(&exe) {
        return exe;
    }
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(&exe).cloned()) {
        return p;
    }
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let probe: &[&str] = if name.starts_with("node") {
        &["-e", "process.stdout.write(process.execPath)"]
    } else if name.starts_with("ruby") {
        &["-e", "print RbConfig.ruby"]
    } else {
        &["-c", "import sys; sys.stdout.write(sys.executable)"]
    };
    let real = std::process::Command::new(&exe)
        .args(probe)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| exe.clone());
    if let Ok(mut c) = cache.lock() {
        c.insert(exe, real.clone());
    }
    real
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The installed `python3`'s minor version, from its own answer.
    fn python_minor() -> Option<u8> {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.version_info.minor)"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    #[test]
    fn a_runtime_without_its_interpreter_names_what_runs_instead() {
        let Some(minor) = python_minor() else {
            eprintln!("SKIPPED: no python3");
            return;
        };
        assert_eq!(runtime_substitute(Runtime::Python { minor }), None);
        let other = runtime_substitute(Runtime::Python { minor: 99 }).expect("a substitute");
        assert!(
            other.starts_with("python3.99 is not installed here; ")
                && other.contains(&format!(" 3.{minor}"))
                && other.ends_with(" runs it instead"),
            "{other}"
        );
        assert_eq!(
            runtime_substitute(Runtime::Provided(meridian_config::sam::ProvidedOs::Al2023)),
            None
        );
    }
}
