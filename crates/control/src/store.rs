//! The resource store for one node: the files and folders `meridian up` was given. It loads
//! them into a [`Bundle`], and when they change on disk, loads them again and offers the new
//! bundle only if it is valid; an invalid change is reported whole and the last good revision
//! keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::hash::{Hash, Hasher};

use meridian_config::sam::Code;
use meridian_config::{Bundle, Diagnostic, LoadOptions, load_paths};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// A valid set of resources, numbered.
#[derive(Debug)]
pub struct Revision {
    /// Counts up from 1 with each accepted change.
    pub number: u64,
    /// The resources.
    pub bundle: Bundle,
}

/// What happened after the files changed.
#[derive(Debug)]
pub enum Change {
    /// The new files are valid: a new revision.
    Accepted(Arc<Revision>),
    /// The new files have errors: nothing changes; here is why.
    Refused(Vec<Diagnostic>),
}

/// Why the store cannot watch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file system watcher could not start.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: notify::Error,
    },
}

/// Files and folders holding the desired state.
#[derive(Debug, Clone)]
pub struct FileStore {
    paths: Vec<PathBuf>,
    options: LoadOptions,
    /// Quiet time after the last file event before reloading (editors write in bursts).
    pub debounce: Duration,
}

impl FileStore {
    /// A store over these paths.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            options: LoadOptions::default(),
            debounce: Duration::from_millis(250),
        }
    }

    /// A store over these paths, loaded with `options` (Terraform inputs, template values).
    pub fn with_options(paths: Vec<PathBuf>, options: LoadOptions) -> Self {
        Self {
            options,
            ..Self::new(paths)
        }
    }

    /// The paths.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Loads everything now.
    pub fn load(&self) -> Bundle {
        load_paths(&self.paths, self.options.clone())
    }

    /// Watches the paths; every burst of changes that alters the configuration's content is
    /// reloaded and reported on the returned channel, numbered from `first.number + 1`. A
    /// burst that leaves every input as it was (a log written into a watched folder, a file
    /// saved unchanged) is no change. The watcher lives as long as the receiver.
    pub fn watch(self, first: &Revision) -> Result<mpsc::Receiver<Change>, StoreError> {
        let first_revision = first.number;
        let mut last_inputs = fingerprint(&first.bundle);
        let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && relevant(&ev)
            {
                let _ = raw_tx.send(());
            }
        })
        .map_err(|source| StoreError::Watch {
            path: PathBuf::new(),
            source,
        })?;
        for p in &self.paths {
            let mode = if p.is_dir() {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            watcher.watch(p, mode).map_err(|source| StoreError::Watch {
                path: p.clone(),
                source,
            })?;
        }
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            // Keep the watcher alive for as long as this task runs.
            let _watcher = watcher;
            let mut number = first_revision;
            while raw_rx.recv().await.is_some() {
                // Debounce: wait until the files have been quiet for a moment.
                loop {
                    match tokio::time::timeout(self.debounce, raw_rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                let store = self.clone();
                let Ok((bundle, inputs)) = tokio::task::spawn_blocking(move || {
                    let bundle = store.load();
                    let inputs = fingerprint(&bundle);
                    (bundle, inputs)
                })
                .await
                else {
                    continue;
                };
                if inputs == last_inputs {
                    continue;
                }
                last_inputs = inputs;
                let change = if bundle.is_valid() {
                    number += 1;
                    Change::Accepted(Arc::new(Revision { number, bundle }))
                } else {
                    Change::Refused(
                        bundle
                            .diagnostics()
                            .filter(|d| d.is_error())
                            .cloned()
                            .collect(),
                    )
                };
                if tx.send(change).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

/// A digest of everything the configuration is made of: the content of every input file, and
/// the size and modification time of every file of a function's code (code folders can be
/// large; a rewrite changes one or the other).
fn fingerprint(bundle: &Bundle) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for f in &bundle.inputs {
        f.hash(&mut h);
        std::fs::read(f).ok().hash(&mut h);
    }
    for t in bundle.sam_templates() {
        for f in &t.functions {
            let mut roots: Vec<&Path> = f.layers.iter().map(PathBuf::as_path).collect();
            match &f.code {
                Code::Dir(d) => roots.push(d),
                Code::Layout(copies) => roots.extend(copies.iter().map(|c| c.src.as_path())),
                Code::Inline(text) => text.hash(&mut h),
            }
            for root in roots {
                stat_tree(root, &mut h, 0);
            }
        }
    }
    h.finish()
}

/// Hashes path, size and modification time of every file under `path`, skipping hidden
/// folders and installed dependencies, to a bounded depth.
fn stat_tree(path: &Path, h: &mut std::hash::DefaultHasher, depth: usize) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    path.hash(h);
    if meta.is_file() {
        meta.len().hash(h);
        meta.modified().ok().hash(h);
        return;
    }
    if depth >= 16 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    let mut children: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != "node_modules" && name != "target"
        })
        .map(|e| e.path())
        .collect();
    children.sort();
    for c in children {
        stat_tree(&c, h, depth + 1);
    }
}

/// Ignores events that cannot change the desired state: reads, and files under the state
/// folder or build outputs.
fn relevant(ev: &notify::Event) -> bool {
    if matches!(ev.kind, EventKind::Access(_) | EventKind::Other) {
        return false;
    }
    ev.paths.iter().any(|p| !ignored(p))
}

fn ignored(p: &Path) -> bool {
    p.components().any(|c| {
        let s = c.as_os_str().to_string_lossy();
        s == ".meridian" || s == ".git" || s == "target" || s == "node_modules"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n";
    const BAD: &str =
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{prot: 80}]}\n";

    async fn next(rx: &mut mpsc::Receiver<Change>) -> Change {
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("a change within 20s")
            .expect("channel open")
    }

    #[tokio::test]
    async fn accepts_valid_changes_and_refuses_invalid_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("svc.yaml");
        std::fs::write(&file, GOOD).expect("write");
        let store = FileStore::new(vec![dir.path().to_path_buf()]);
        let first = Revision {
            number: 1,
            bundle: store.load(),
        };
        assert!(first.bundle.is_valid());
        let mut rx = store.watch(&first).expect("watch");

        std::fs::write(&file, BAD).expect("write");
        match next(&mut rx).await {
            Change::Refused(d) => assert!(
                d.iter()
                    .any(|d| d.to_string().contains("unknown field \"prot\"")),
                "{d:?}"
            ),
            Change::Accepted(r) => panic!("accepted an invalid change as revision {}", r.number),
        }

        std::fs::write(&file, GOOD.replace("name: a", "name: b")).expect("write");
        match next(&mut rx).await {
            Change::Accepted(r) => {
                assert_eq!(r.number, 2);
                assert_eq!(
                    r.bundle.resources().next().map(|r| r.id().name),
                    Some("b".to_owned())
                );
            }
            Change::Refused(d) => panic!("refused a valid change: {d:?}"),
        }
    }

    #[tokio::test]
    async fn files_that_are_no_configuration_make_no_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("svc.yaml");
        std::fs::write(&file, GOOD).expect("write");
        let store = FileStore::new(vec![dir.path().to_path_buf()]);
        let first = Revision {
            number: 1,
            bundle: store.load(),
        };
        let mut rx = store.watch(&first).expect("watch");

        // A log written beside the manifests, and the manifest saved unchanged.
        std::fs::write(dir.path().join("up.log"), "request served\n").expect("write");
        std::fs::write(&file, GOOD).expect("write");
        tokio::time::sleep(Duration::from_millis(600)).await;
        std::fs::write(dir.path().join("up.log"), "request served\nagain\n").expect("write");
        tokio::time::sleep(Duration::from_millis(600)).await;

        std::fs::write(&file, GOOD.replace("name: a", "name: c")).expect("write");
        match next(&mut rx).await {
            Change::Accepted(r) => {
                // Had the log made a revision, this one would not be the second.
                assert_eq!(r.number, 2);
                assert_eq!(
                    r.bundle.resources().next().map(|r| r.id().name),
                    Some("c".to_owned())
                );
            }
            Change::Refused(d) => panic!("refused a valid change: {d:?}"),
        }
    }

    #[test]
    fn state_and_build_folders_are_ignored() {
        assert!(ignored(Path::new("/x/.meridian/logs/a.log")));
        assert!(ignored(Path::new("/x/target/debug/a")));
        assert!(!ignored(Path::new("/x/examples/a.yaml")));
    }
}
