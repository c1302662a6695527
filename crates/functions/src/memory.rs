//! Enforcing `MemorySize`: a cgroup v2 `memory.max` per execution environment when this
//! process may create child cgroups, otherwise `RLIMIT_DATA` on the runtime process (private
//! writable memory: the heap of Node, Python and native runtimes, without counting the large
//! address-space reservations V8 makes, which `RLIMIT_AS` would).

use std::path::{Path, PathBuf};

/// How memory limits are enforced on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryEnforcement {
    /// A cgroup v2 per instance under this folder (`memory.max`, `memory.swap.max`).
    CgroupV2 {
        /// The parent cgroup Meridian created for its instances.
        parent: PathBuf,
    },
    /// `setrlimit(RLIMIT_DATA)` in the runtime process.
    Rlimit,
}

impl MemoryEnforcement {
    /// Detects what this machine allows: a writable cgroup v2 subtree with the memory
    /// controller, else rlimits.
    pub fn detect(tag: &str) -> Self {
        Self::try_cgroup(tag).unwrap_or(Self::Rlimit)
    }

    fn try_cgroup(tag: &str) -> Option<Self> {
        let root = Path::new("/sys/fs/cgroup");
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).ok()?;
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return None;
        }
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?;
        let mine = root.join(rel.trim_start_matches('/'));
        // Instances go in a sibling of our own cgroup (a cgroup with processes cannot have
        // controllers enabled for children).
        let parent = mine.parent()?.join(format!("meridian-functions-{tag}"));
        std::fs::create_dir_all(&parent).ok()?;
        let enable = std::fs::write(parent.join("cgroup.subtree_control"), "+memory");
        let probe = parent.join("probe");
        let ok = enable.is_ok()
            && std::fs::create_dir(&probe).is_ok()
            && probe.join("memory.max").exists();
        let _ = std::fs::remove_dir(&probe);
        if ok {
            Some(Self::CgroupV2 { parent })
        } else {
            let _ = std::fs::remove_dir(&parent);
            None
        }
    }

    /// A word for `meridian check`.
    pub fn describe(&self) -> String {
        match self {
            Self::CgroupV2 { parent } => format!("cgroup v2 memory.max under {}", parent.display()),
            Self::Rlimit => {
                "RLIMIT_DATA on the runtime process (no writable cgroup v2 memory controller)"
                    .into()
            }
        }
    }
}

/// A cgroup for one instance; removed on drop.
#[derive(Debug)]
pub(crate) struct InstanceCgroup {
    dir: PathBuf,
}

impl InstanceCgroup {
    pub(crate) fn create(parent: &Path, name: &str, memory_mb: u32) -> Option<Self> {
        let dir = parent.join(name);
        std::fs::create_dir(&dir).ok()?;
        let bytes = u64::from(memory_mb) * 1024 * 1024;
        let ok = std::fs::write(dir.join("memory.max"), bytes.to_string()).is_ok();
        let _ = std::fs::write(dir.join("memory.swap.max"), "0");
        if ok {
            Some(Self { dir })
        } else {
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }

    pub(crate) fn add(&self, pid: u32) -> bool {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).is_ok()
    }

    /// Peak memory in bytes, when the kernel reports it.
    pub(crate) fn peak(&self) -> Option<u64> {
        std::fs::read_to_string(self.dir.join("memory.peak"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for InstanceCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Peak resident memory of a process (`VmHWM`), in bytes.
pub(crate) fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
