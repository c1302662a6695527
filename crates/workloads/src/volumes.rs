//! A replica's root: the folder its volumes live in, `<state>/replicas/<replica>/`, given to
//! its processes as `MERIDIAN_ROOT`.
//!
//! A replica is processes on the node's file system, with no mount namespace, so a mount
//! cannot appear at its absolute `mountPath`. Instead:
//!
//! * each volume is a folder `<root>/.volumes/<name>/` holding its files (a ConfigMap's or
//!   Secret's keys, with their modes) or nothing (`emptyDir`, and the kinds Meridian does not
//!   provide);
//! * each mount is a symbolic link at `<root>/<mountPath>` (the absolute path taken as
//!   relative to the root: `/etc/config` is `<root>/etc/config`) to the volume's folder. Two
//!   containers mounting one volume share it, as in a pod. A `subPath` mount is a copy of the
//!   file or folder it names.
//!
//! The root is laid out before the first container (init containers included) starts, and
//! removed when the replica ends. As the kubelet does, a new revision of a ConfigMap or Secret
//! updates the files of running replicas in place (each volume's folder replaced whole), and
//! leaves `subPath` copies as they were; a change of the pod's volumes or mounts themselves
//! changes the template and replaces the replicas.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use meridian_config::k8s::volume::VolumeKind;

use crate::workload::{VolumeSpec, WorkloadSpec};

/// The folder under the root that holds the volumes.
const VOLUMES: &str = ".volumes";

/// `rel` made safe to join under a root: normal components only (validation refuses `..`;
/// this keeps a bad path from leaving the root all the same).
fn under(rel: &str) -> PathBuf {
    Path::new(rel)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Writes the volumes of `spec` under `root` and links each container's mounts to them.
pub(crate) fn prepare(root: &Path, spec: &WorkloadSpec) -> io::Result<()> {
    if root.exists() {
        remove(root)?;
    }
    std::fs::create_dir_all(root)?;
    // Secrets are written here: only the user that runs the replicas may look.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))?;
    for v in &spec.volumes {
        write_volume(&root.join(VOLUMES).join(under(&v.name)), v)?;
    }
    for c in spec.init_containers.iter().chain(&spec.containers) {
        for m in &c.mounts {
            let volume = root.join(VOLUMES).join(under(&m.volume));
            let at = root.join(under(&m.mount_path));
            if at.symlink_metadata().is_ok() {
                continue;
            }
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                // A subPath mount is a copy: the kubelet does not update it either.
                Some(sub) => copy_tree(&volume.join(under(sub)), &at)?,
                None => std::os::unix::fs::symlink(&volume, &at)?,
            }
        }
    }
    Ok(())
}

/// Writes a volume's files into a new folder `dir`.
fn write_volume(dir: &Path, v: &VolumeSpec) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for f in &v.files {
        let path = dir.join(under(&f.path));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.content)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
    }
    Ok(())
}

/// Writes the volumes of a running replica again, with the files of a new revision. Each
/// volume's folder is written beside the old one and renamed over it, so a process sees
/// the old files or the new ones, never a mix; mounts link to the folder by name and follow.
/// `emptyDir` folders, which the process owns, are left alone.
pub(crate) fn update(root: &Path, volumes: &[VolumeSpec]) -> io::Result<()> {
    let base = root.join(VOLUMES);
    if !base.is_dir() {
        // The replica has ended and its root is gone.
        return Ok(());
    }
    for v in volumes
        .iter()
        .filter(|v| v.source.kind() == VolumeKind::Files)
    {
        let name = under(&v.name);
        let current = base.join(&name);
        let fresh = base.join(format!("..{}.new", name.display()));
        let old = base.join(format!("..{}.old", name.display()));
        let _ = remove(&fresh);
        write_volume(&fresh, v)?;
        let _ = remove(&old);
        if current.exists() {
            std::fs::rename(&current, &old)?;
        }
        std::fs::rename(&fresh, &current)?;
        remove(&old)?;
    }
    Ok(())
}

/// Copies a file or folder (a subPath mount), keeping modes; nothing when it is missing.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let Ok(meta) = std::fs::metadata(from) else {
        return std::fs::create_dir_all(to);
    };
    if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        std::fs::set_permissions(to, meta.permissions())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

/// Removes a replica's root, making read-only folders writable first.
pub(crate) fn remove(root: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(root) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            make_writable(root);
            std::fs::remove_dir_all(root)
        }
    }
}

fn make_writable(dir: &Path) {
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  app.conf: "greeting=hi\n"
  other: "o"
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: s3cret}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        command: ["true"]
        volumeMounts:
        - {name: config, mountPath: /etc/app}
        - {name: config, mountPath: /etc/app.conf, subPath: app.conf}
        - {name: both, mountPath: /etc/both, readOnly: true}
        - {name: scratch, mountPath: /tmp/work}
      volumes:
      - name: config
        configMap:
          name: settings
          defaultMode: 0640
          items: [{key: app.conf, path: app.conf}, {key: other, path: nested/other, mode: 0400}]
      - name: both
        projected:
          sources:
          - configMap: {name: settings, items: [{key: other, path: o}]}
          - secret: {name: creds}
      - name: scratch
        emptyDir: {}
"#;

    fn spec() -> WorkloadSpec {
        let bundle = meridian_config::load_str(
            Path::new("app.yaml"),
            APP,
            meridian_config::LoadOptions::default(),
        );
        assert!(
            bundle.is_valid(),
            "{:?}",
            bundle.diagnostics().collect::<Vec<_>>()
        );
        let desired = crate::workload::DesiredState::from_config(bundle.resources(), &[]);
        desired.workloads[0].clone()
    }

    #[test]
    fn mounts_appear_under_the_root_with_their_modes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("replica");
        let spec = spec();
        assert!(spec.has_volumes());
        prepare(&root, &spec).expect("prepare");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
        assert_eq!(read("etc/app/app.conf"), "greeting=hi\n");
        assert_eq!(read("etc/app/nested/other"), "o");
        assert_eq!(read("etc/app.conf"), "greeting=hi\n");
        assert_eq!(read("etc/both/o"), "o");
        assert_eq!(read("etc/both/token"), "s3cret");
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        // `0640` is octal, as kubectl reads it.
        assert_eq!(mode("etc/app/app.conf"), 0o640);
        assert_eq!(mode("etc/app/nested/other"), 0o400);
        assert_eq!(mode("etc/both/token"), 0o644);
        // An emptyDir is an empty folder the process may write to.
        std::fs::write(root.join("tmp/work/out"), "x").expect("write to emptyDir");
        // A new revision of the ConfigMap updates the mounted files in place; the subPath
        // copy keeps what it had, as the kubelet leaves it.
        let mut next = spec.clone();
        for f in &mut next.volumes[0].files {
            f.content = b"greeting=changed\n".to_vec();
        }
        update(&root, &next.volumes).expect("update");
        assert_eq!(read("etc/app/app.conf"), "greeting=changed\n");
        assert_eq!(mode("etc/app/app.conf"), 0o640);
        assert_eq!(read("etc/app.conf"), "greeting=hi\n");
        assert_eq!(read("etc/both/token"), "s3cret");
        assert!(root.join("tmp/work/out").exists(), "emptyDir is left alone");
        // A replica of the same name starts from a fresh root.
        prepare(&root, &spec).expect("prepare again");
        assert!(!root.join("tmp/work/out").exists());
        remove(&root).expect("remove");
        assert!(!root.exists());
    }

    #[test]
    fn paths_never_leave_the_root() {
        assert_eq!(under("/etc/../../x"), PathBuf::from("etc/x"));
        assert_eq!(under("a/./b"), PathBuf::from("a/b"));
    }
}
