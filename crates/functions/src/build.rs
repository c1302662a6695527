//! The builds `sam build` runs, run at `up` (`Metadata.BuildMethod`): `esbuild` bundles a
//! Node (or TypeScript) function's entry points with its `BuildProperties`, `makefile` runs
//! `make build-<LogicalId>` with `ARTIFACTS_DIR`; the function then runs from the build's
//! output under the state folder, as Lambda runs what `sam build` packaged. The packages a
//! build needs (esbuild is a dev dependency) are installed first with `npm ci` when a lock
//! file says what they are.
//!
//! A failed build does not stop the node: the function runs its unbuilt folder (and fails
//! as Lambda does on a missing module), and the reason, with what to run, is returned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use meridian_config::sam::{Build, Code, FunctionSpec};

use crate::bootstrap::find_executable;
use crate::dependencies::{Install, needs_install, npm};

/// The longest a build may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// What happened to one function's build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    /// Built into this folder, which the function now runs from.
    Built {
        /// The function.
        function: String,
        /// The build's output.
        dir: PathBuf,
    },
    /// Not built; the reason says why and what to run.
    Failed {
        /// The function.
        function: String,
        /// Why.
        reason: String,
    },
}

/// Builds every function that has a build, into `out/<function name>`; a built function's
/// code becomes that folder.
pub async fn run(functions: &mut [FunctionSpec], out: &Path) -> Vec<Built> {
    let mut done = Vec::new();
    for f in functions.iter_mut() {
        let (Some(build), Code::Dir(src)) = (&f.build, &f.code) else {
            continue;
        };
        let dir = out.join(&f.name);
        tracing::info!(function = %f.name, dir = %dir.display(), "building the function (Metadata.BuildMethod)");
        match build_one(build, &f.logical_id, &f.handler, src, &dir).await {
            Ok(()) => {
                f.code = Code::Dir(dir.clone());
                done.push(Built::Built {
                    function: f.name.clone(),
                    dir,
                });
            }
            Err(reason) => done.push(Built::Failed {
                function: f.name.clone(),
                reason,
            }),
        }
    }
    done
}

async fn build_one(
    build: &Build,
    logical_id: &str,
    handler: &str,
    src: &Path,
    dir: &Path,
) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    // The build runs in the code folder: every path it is given is absolute.
    let src = &std::path::absolute(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let dir = &std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The build's packages, dev ones included: `npm ci` from a lock file, else `npm install`
    // once for a package.json that was never installed (as `sam build` installs them).
    let install: Option<&[&str]> = if needs_install(src) {
        Some(&["ci", "--no-audit", "--no-fund"])
    } else if src.join("package.json").is_file() && !src.join("node_modules").exists() {
        Some(&["install", "--no-audit", "--no-fund"])
    } else {
        None
    };
    if let Some(args) = install
        && let Install::Failed { reason, .. } = npm(src, args).await
    {
        return Err(reason);
    }
    let (program, args, envs) = match build {
        Build::Esbuild {
            entry_points,
            minify,
            sourcemap,
            target,
            format,
            external,
            main_fields,
        } => {
            let local = src.join("node_modules/.bin/esbuild");
            let exe = if local.is_file() {
                local
            } else {
                let found = find_executable(&["esbuild"]);
                if !found.is_absolute() {
                    return Err(format!(
                        "esbuild is not installed: run `npm install --save-dev esbuild` in {} (or install it on PATH), as `sam build` needs it too",
                        src.display()
                    ));
                }
                found
            };
            let mut args: Vec<String> = if entry_points.is_empty() {
                vec![handler_entry(handler, src).ok_or_else(|| {
                    format!(
                        "no EntryPoints, and no module for the handler {handler} in {}",
                        src.display()
                    )
                })?]
            } else {
                entry_points.clone()
            };
            args.extend([
                "--bundle".to_owned(),
                "--platform=node".to_owned(),
                format!("--format={format}"),
                format!("--target={target}"),
                format!("--outdir={}", dir.display()),
                "--log-level=warning".to_owned(),
            ]);
            if *minify {
                args.push("--minify".into());
            }
            if *sourcemap {
                args.push("--sourcemap".into());
            }
            args.extend(external.iter().map(|e| format!("--external:{e}")));
            if !main_fields.is_empty() {
                args.push(format!("--main-fields={}", main_fields.join(",")));
            }
            (exe, args, Vec::new())
        }
        Build::Makefile => (
            find_executable(&["make"]),
            vec![format!("build-{logical_id}")],
            vec![("ARTIFACTS_DIR", dir.display().to_string())],
        ),
    };
    let child = tokio::process::Command::new(&program)
        .args(&args)
        .envs(envs)
        .current_dir(src)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let what = format!("{} {}", program.display(), args.join(" "));
    match tokio::time::timeout(BUILD_TIMEOUT, child.wait_with_output()).await {
        Err(_) => Err(format!(
            "`{what}` did not finish within {} s",
            BUILD_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("`{what}`: {e}")),
        Ok(Ok(o)) if o.status.success() => Ok(()),
        Ok(Ok(o)) => {
            let text = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            let tail: Vec<&str> = text.lines().rev().take(8).collect();
            Err(format!(
                "`{what}` failed ({}): {}",
                o.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        }
    }
}

/// The source module a handler names (`app.lambdaHandler` → `app.ts`, else `.js`...).
fn handler_entry(handler: &str, src: &Path) -> Option<String> {
    let module = handler.rsplit_once('.').map_or(handler, |(m, _)| m);
    ["ts", "mts", "js", "mjs", "cjs"]
        .iter()
        .map(|ext| format!("{module}.{ext}"))
        .find(|name| src.join(name).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_names_its_entry_point() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.ts"), "export const h = 1;").unwrap();
        assert_eq!(
            handler_entry("app.lambdaHandler", dir.path()).as_deref(),
            Some("app.ts")
        );
        assert_eq!(handler_entry("other.handler", dir.path()), None);
    }

    #[tokio::test]
    async fn a_makefile_build_runs_with_artifacts_dir_and_the_function_runs_from_it() {
        if !find_executable(&["make"]).is_absolute() {
            eprintln!("SKIPPED: no make");
            return;
        }
        let src = tempfile::tempdir().unwrap();
        std::fs::write(
            src.path().join("Makefile"),
            "build-Hello:\n\tprintf 'def h(e, c):\\n    return 42\\n' > $(ARTIFACTS_DIR)/app.py\n",
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("Hello");
        build_one(&Build::Makefile, "Hello", "app.h", src.path(), &dir)
            .await
            .unwrap();
        let built = std::fs::read_to_string(dir.join("app.py")).unwrap();
        assert!(built.contains("return 42"), "{built}");
        // A failing build says what ran and what it printed.
        let err = build_one(&Build::Makefile, "Missing", "app.h", src.path(), &dir)
            .await
            .unwrap_err();
        assert!(
            err.contains("build-Missing") && err.contains("failed"),
            "{err}"
        );
    }
}
