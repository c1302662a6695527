//! One Meridian node: every plane of `meridian up`, wired together, and the revision of the
//! desired state they serve. A new revision is applied to each plane in turn; an invalid one
//! never gets here (the store refuses it), so the last good one keeps serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use meridian_control::endpoints;
use meridian_control::store::Revision;
use meridian_telemetry::metrics::Registry;
use meridian_workloads::{DesiredState, NodeInfo, Supervisor, SupervisorOptions};

/// How `meridian up` runs this node.
#[derive(Debug, Clone)]
pub(crate) struct NodeOptions {
    /// Where state lives (logs, CA, run file).
    pub(crate) state_dir: PathBuf,
    /// Node labels for placement (`region` among them).
    pub(crate) labels: BTreeMap<String, String>,
}

/// The running planes.
pub(crate) struct Node {
    pub(crate) options: NodeOptions,
    pub(crate) registry: Registry,
    pub(crate) supervisor: Supervisor,
    revision: ArcSwap<Revision>,
    pub(crate) started: SystemTime,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("state_dir", &self.options.state_dir)
            .field("revision", &self.revision.load().number)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts every plane on `revision`.
    pub(crate) fn start(
        options: NodeOptions,
        revision: Arc<Revision>,
    ) -> anyhow::Result<Arc<Node>> {
        std::fs::create_dir_all(&options.state_dir).with_context(|| {
            format!(
                "cannot create the state folder {}",
                options.state_dir.display()
            )
        })?;
        let registry = Registry::new();
        let mut node_info = NodeInfo::local();
        for (k, v) in &options.labels {
            node_info = node_info.with_label(k.clone(), v.clone());
        }
        let (publisher, _watch) = endpoints::channel();
        let supervisor = Supervisor::start(
            SupervisorOptions {
                node: node_info,
                ..SupervisorOptions::new(&options.state_dir)
            },
            publisher,
        )
        .context("cannot start the process supervisor")?;
        let node = Arc::new(Node {
            options,
            registry,
            supervisor,
            revision: ArcSwap::from(revision.clone()),
            started: SystemTime::now(),
        });
        node.apply_planes(&revision)?;
        Ok(node)
    }

    /// The revision being served.
    pub(crate) fn revision(&self) -> Arc<Revision> {
        self.revision.load_full()
    }

    /// Applies a new valid revision to every plane.
    pub(crate) fn apply(&self, revision: Arc<Revision>) -> anyhow::Result<()> {
        self.apply_planes(&revision)?;
        self.revision.store(revision);
        Ok(())
    }

    fn apply_planes(&self, revision: &Revision) -> anyhow::Result<()> {
        let compose: Vec<_> = revision.bundle.compose_files().cloned().collect();
        let desired = DesiredState::from_config(revision.bundle.resources(), &compose);
        let summary = self
            .supervisor
            .apply(desired)
            .context("the process supervisor refused the new desired state")?;
        tracing::info!(revision = revision.number, ?summary, "applied");
        self.registry.control().config_applied(true);
        Ok(())
    }

    /// Stops every plane: replicas drain and stop.
    pub(crate) async fn shutdown(&self) {
        self.supervisor.shutdown().await;
    }

    /// The state folder.
    pub(crate) fn state_dir(&self) -> &Path {
        &self.options.state_dir
    }
}
