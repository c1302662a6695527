//! A pod's `volumes` and a container's `volumeMounts`, as far as processes can have them.
//!
//! A replica is a set of processes on the node's file system, not containers with a mount
//! namespace, so a volume is served as files in the replica's own folder (its root,
//! `$MERIDIAN_ROOT`, under the state folder): a `mountPath` (absolute in Kubernetes) is
//! mapped under that root, so `/etc/config` is `$MERIDIAN_ROOT/etc/config`. The process
//! finds its files there (or through `$(MERIDIAN_ROOT)` in its command), not at the absolute
//! path.
//!
//! * `configMap`, `secret` and `projected` (of those) volumes: a file per key (or per
//!   `items` entry, at its `path`), with the key's content and the entry's `mode`, else the
//!   volume's `defaultMode`, else 0644. A missing ConfigMap, Secret or key is an error of
//!   the replica unless `optional`. A new revision that changes the data writes the files
//!   again: the Deployment's template changed, so its replicas are replaced.
//! * `emptyDir`: a fresh, empty folder per replica.
//! * Any other kind (`hostPath`, `persistentVolumeClaim`, cloud disks, ...) is a warning:
//!   its mounts are empty folders.
//! * `subPath` mounts one file or folder of the volume at the mount path; `readOnly` is
//!   accepted (the files are written with their modes, and processes run as the user that
//!   started Meridian).

use std::collections::BTreeMap;

use serde::de::IgnoredAny;

use crate::diag::Findings;
use crate::path::FieldPath;

/// A volume of a pod.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct Volume {
    /// Name, which mounts refer to.
    pub name: Option<String>,
    /// The keys of a ConfigMap as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// The keys of a Secret as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    /// Several sources in one folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projected: Option<ProjectedVolumeSource>,
    /// A fresh folder per replica.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    #[serde(default, skip_serializing)]
    host_path: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    persistent_volume_claim: Option<IgnoredAny>,
    #[serde(default, rename = "downwardAPI", skip_serializing)]
    downward_api: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    ephemeral: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    csi: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    nfs: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    image: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    git_repo: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    aws_elastic_block_store: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    gce_persistent_disk: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    azure_disk: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    azure_file: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    cephfs: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    cinder: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    fc: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    flex_volume: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    flocker: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    glusterfs: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    iscsi: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    photon_persistent_disk: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    portworx_volume: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    quobyte: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    rbd: Option<IgnoredAny>,
    #[serde(default, rename = "scaleIO", skip_serializing)]
    scale_io: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    storageos: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    vsphere_volume: Option<IgnoredAny>,
}

/// A ConfigMap volume.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapVolumeSource {
    /// The ConfigMap, in the pod's namespace.
    pub name: Option<String>,
    /// Which keys, at which paths (every key, at its name, when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Mode of the files (0644 when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// A missing ConfigMap or key is no error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret volume.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretVolumeSource {
    /// The Secret, in the pod's namespace.
    pub secret_name: Option<String>,
    /// Which keys, at which paths (every key, at its name, when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Mode of the files (0644 when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// A missing Secret or key is no error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A projected volume.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectedVolumeSource {
    /// The sources, in order.
    #[serde(default)]
    pub sources: Vec<VolumeProjection>,
    /// Mode of the files (0644 when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
}

/// One source of a projected volume.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct VolumeProjection {
    /// Keys of a ConfigMap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map: Option<Projection>,
    /// Keys of a Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Projection>,
    #[serde(default, rename = "downwardAPI", skip_serializing)]
    downward_api: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    service_account_token: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    cluster_trust_bundle: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pod_certificate: Option<IgnoredAny>,
}

/// The ConfigMap or Secret of a projection.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Projection {
    /// Its name.
    pub name: Option<String>,
    /// Which keys, at which paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// A missing object or key is no error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A key and the path of its file.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyToPath {
    /// The key.
    pub key: Option<String>,
    /// The file, relative to the volume.
    pub path: Option<String>,
    /// Its mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

/// An emptyDir volume (`medium` and `sizeLimit` are accepted; the folder is on disk).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmptyDirVolumeSource {
    /// `Memory` for a tmpfs in Kubernetes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// Size limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<super::meta::Quantity>,
}

/// A mount of a volume into a container.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct VolumeMount {
    /// The volume.
    pub name: Option<String>,
    /// Where (mapped under the replica's root).
    pub mount_path: Option<String>,
    /// One file or folder of the volume rather than all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// Read-only mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing)]
    sub_path_expr: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    mount_propagation: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    recursive_read_only: Option<IgnoredAny>,
}

/// The volume kinds Meridian does not provide, by field name.
pub(crate) const UNSERVED_KINDS: [&str; 26] = [
    "hostPath",
    "persistentVolumeClaim",
    "downwardAPI",
    "ephemeral",
    "csi",
    "nfs",
    "image",
    "gitRepo",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "fc",
    "flexVolume",
    "flocker",
    "glusterfs",
    "iscsi",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

/// What a volume is, for serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// Files from ConfigMaps and Secrets.
    Files,
    /// An empty folder.
    EmptyDir,
    /// A kind Meridian does not provide, by its field name.
    Unserved(&'static str),
    /// No source (an error).
    None,
}

impl Volume {
    /// Which kind of volume this is (the first source written, when there are several).
    pub fn kind(&self) -> VolumeKind {
        if self.config_map.is_some() || self.secret.is_some() || self.projected.is_some() {
            return VolumeKind::Files;
        }
        if self.empty_dir.is_some() {
            return VolumeKind::EmptyDir;
        }
        // In the order of UNSERVED_KINDS.
        let set: [bool; 26] = [
            self.host_path.is_some(),
            self.persistent_volume_claim.is_some(),
            self.downward_api.is_some(),
            self.ephemeral.is_some(),
            self.csi.is_some(),
            self.nfs.is_some(),
            self.image.is_some(),
            self.git_repo.is_some(),
            self.aws_elastic_block_store.is_some(),
            self.gce_persistent_disk.is_some(),
            self.azure_disk.is_some(),
            self.azure_file.is_some(),
            self.cephfs.is_some(),
            self.cinder.is_some(),
            self.fc.is_some(),
            self.flex_volume.is_some(),
            self.flocker.is_some(),
            self.glusterfs.is_some(),
            self.iscsi.is_some(),
            self.photon_persistent_disk.is_some(),
            self.portworx_volume.is_some(),
            self.quobyte.is_some(),
            self.rbd.is_some(),
            self.scale_io.is_some(),
            self.storageos.is_some(),
            self.vsphere_volume.is_some(),
        ];
        UNSERVED_KINDS
            .into_iter()
            .zip(set)
            .find(|(_, set)| *set)
            .map_or(VolumeKind::None, |(name, _)| VolumeKind::Unserved(name))
    }
}

/// Checks a mode as the API server does: 0 to 0777.
fn check_mode(mode: Option<i32>, f: &mut Findings, at: &FieldPath) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        f.error(
            at,
            format!(
                "invalid value {m}: must be a number between 0 and 0777 (octal), both inclusive"
            ),
        );
    }
}

/// A file path inside a volume: relative, no `..` element.
fn check_relative(path: Option<&str>, f: &mut Findings, at: &FieldPath) {
    match path.filter(|p| !p.is_empty()) {
        None => {
            f.error(at, "required field \"path\" is missing");
        }
        Some(p) if p.starts_with('/') => {
            f.error(
                at,
                format!("invalid value \"{p}\": must be a relative path"),
            );
        }
        Some(p) if p.split('/').any(|e| e == "..") => {
            f.error(at, format!("invalid value \"{p}\": must not contain '..'"));
        }
        Some(_) => {}
    }
}

fn check_items(items: &[KeyToPath], f: &mut Findings, at: &FieldPath) {
    for (i, item) in items.iter().enumerate() {
        let ip = at.field("items").index(i);
        if item.key.as_deref().is_none_or(str::is_empty) {
            f.error(&ip.field("key"), "required field \"key\" is missing");
        }
        check_relative(item.path.as_deref(), f, &ip.field("path"));
        check_mode(item.mode, f, &ip.field("mode"));
    }
}

/// The API server's checks of a pod's volumes, and a warning for each kind Meridian does not
/// provide.
pub(crate) fn validate_volumes(volumes: &[Volume], f: &mut Findings, at: &FieldPath) {
    let mut names: Vec<&str> = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let vp = at.index(i);
        match v.name.as_deref().filter(|n| !n.is_empty()) {
            None => {
                f.error(&vp.field("name"), "required field \"name\" is missing");
            }
            Some(n) => {
                if let Err(e) = super::meta::NameRule::Label.check(n) {
                    f.error(&vp.field("name"), format!("invalid value \"{n}\": {e}"));
                }
                if names.contains(&n) {
                    f.error(&vp.field("name"), format!("Duplicate value: \"{n}\""));
                }
                names.push(n);
            }
        }
        if let Some(c) = &v.config_map {
            let cp = vp.field("configMap");
            if c.name.as_deref().is_none_or(str::is_empty) {
                f.error(&cp.field("name"), "required field \"name\" is missing");
            }
            check_items(&c.items, f, &cp);
            check_mode(c.default_mode, f, &cp.field("defaultMode"));
        }
        if let Some(s) = &v.secret {
            let sp = vp.field("secret");
            if s.secret_name.as_deref().is_none_or(str::is_empty) {
                f.error(
                    &sp.field("secretName"),
                    "required field \"secretName\" is missing",
                );
            }
            check_items(&s.items, f, &sp);
            check_mode(s.default_mode, f, &sp.field("defaultMode"));
        }
        if let Some(p) = &v.projected {
            let pp = vp.field("projected");
            check_mode(p.default_mode, f, &pp.field("defaultMode"));
            for (j, src) in p.sources.iter().enumerate() {
                let sp = pp.field("sources").index(j);
                for (field, proj) in [("configMap", &src.config_map), ("secret", &src.secret)] {
                    if let Some(proj) = proj {
                        let at = sp.field(field);
                        if proj.name.as_deref().is_none_or(str::is_empty) {
                            f.error(&at.field("name"), "required field \"name\" is missing");
                        }
                        check_items(&proj.items, f, &at);
                    }
                }
                for (field, set) in [
                    ("downwardAPI", src.downward_api.is_some()),
                    ("serviceAccountToken", src.service_account_token.is_some()),
                    ("clusterTrustBundle", src.cluster_trust_bundle.is_some()),
                    ("podCertificate", src.pod_certificate.is_some()),
                ] {
                    if set {
                        f.warn(
                            &sp.field(field),
                            "not served: Meridian projects ConfigMaps and Secrets only; this source's files are not written",
                        );
                    }
                }
            }
        }
        match v.kind() {
            VolumeKind::None => {
                f.error(&vp, "must specify a volume type");
            }
            VolumeKind::Unserved(kind) => {
                f.warn(
                    &vp.field(kind),
                    format!("{kind} volumes are not provided: replicas are processes on this node's file system, so each mount of \"{}\" is an empty folder under the replica's root", v.name.as_deref().unwrap_or_default()),
                );
            }
            VolumeKind::Files | VolumeKind::EmptyDir => {}
        }
        if let Some(e) = &v.empty_dir {
            let ep = vp.field("emptyDir");
            if e.medium.as_deref().is_some_and(|m| !m.is_empty()) {
                f.warn(
                    &ep.field("medium"),
                    "not served: an emptyDir is a folder on the node's disk under the replica's root, not a tmpfs",
                );
            }
            if e.size_limit.is_some() {
                f.warn(
                    &ep.field("sizeLimit"),
                    "not enforced: the folder may grow as far as the node's disk",
                );
            }
        }
    }
}

/// The API server's checks of a container's mounts against the pod's volumes.
pub(crate) fn validate_mounts(
    mounts: &[VolumeMount],
    volumes: &[Volume],
    f: &mut Findings,
    at: &FieldPath,
) {
    let mut paths: Vec<&str> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let mp = at.index(i);
        match m.name.as_deref().filter(|n| !n.is_empty()) {
            None => {
                f.error(&mp.field("name"), "required field \"name\" is missing");
            }
            Some(n) if !volumes.iter().any(|v| v.name.as_deref() == Some(n)) => {
                let names: Vec<&str> = volumes.iter().filter_map(|v| v.name.as_deref()).collect();
                let finding = f.error(&mp.field("name"), format!("not found: \"{n}\""));
                if let Some(c) = crate::diag::did_you_mean(n, names.iter().copied()) {
                    finding.hint(format!("did you mean \"{c}\"?"));
                } else if names.is_empty() {
                    finding.hint("declare it under the pod's `volumes`");
                }
            }
            Some(_) => {}
        }
        match m.mount_path.as_deref().filter(|p| !p.is_empty()) {
            None => {
                f.error(
                    &mp.field("mountPath"),
                    "required field \"mountPath\" is missing",
                );
            }
            Some(p) => {
                let duplicate = paths.contains(&p);
                if duplicate {
                    f.error(&mp.field("mountPath"), "must be unique");
                }
                paths.push(p);
                let under = p.trim_start_matches('/');
                if !duplicate {
                    f.warn(
                    &mp.field("mountPath"),
                    format!("mounted at $MERIDIAN_ROOT/{under}, the replica's own folder: replicas are processes without a file system of their own, so the files are there, not at \"{p}\""),
                )
                .hint(format!("read them at $MERIDIAN_ROOT/{under}, or pass `$(MERIDIAN_ROOT)/{under}` in the command"));
                }
                if p.split('/').any(|e| e == "..") {
                    f.error(
                        &mp.field("mountPath"),
                        format!("invalid value \"{p}\": must not contain '..'"),
                    );
                }
            }
        }
        if let Some(s) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if s.starts_with('/') {
                f.error(
                    &mp.field("subPath"),
                    format!("invalid value \"{s}\": must be a relative path"),
                );
            } else if s.split('/').any(|e| e == "..") {
                f.error(
                    &mp.field("subPath"),
                    format!("invalid value \"{s}\": must not contain '..'"),
                );
            }
        }
        if m.sub_path_expr.is_some() {
            f.warn(
                &mp.field("subPathExpr"),
                "not served: the whole volume is mounted at mountPath",
            );
        }
        if m.read_only == Some(true) || m.recursive_read_only.is_some() {
            let field = if m.read_only == Some(true) {
                "readOnly"
            } else {
                "recursiveReadOnly"
            };
            f.warn(
                &mp.field(field),
                "not enforced: the files keep their own modes, and the replica runs as the user that started Meridian",
            );
        }
        if m.mount_propagation.is_some() {
            f.warn(
                &mp.field("mountPropagation"),
                "not served: a mount is a link under the replica's root, so there are no mounts to propagate",
            );
        }
    }
}

/// One file of a mount, resolved from the ConfigMaps and Secrets of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MountedFile {
    /// Path relative to the mount.
    pub path: String,
    /// Unix mode.
    pub mode: u32,
    /// Content (never shown: it may be a Secret's).
    #[serde(skip_serializing)]
    pub content: Vec<u8>,
}

/// What a source of a files volume resolves to, or why it is missing.
pub type KeyLookup<'a> = dyn Fn(&str) -> Option<BTreeMap<String, Vec<u8>>> + 'a;

/// The files of a volume: every key of each source (or its `items`), with their modes.
/// `config_map` and `secret` look an object up by name (its keys and bytes). A missing object
/// or key that is not `optional` is a problem, returned beside the files that exist: where
/// Kubernetes would hold the pod back, Meridian starts the replica without them.
pub fn volume_files(
    v: &Volume,
    config_map: &KeyLookup<'_>,
    secret: &KeyLookup<'_>,
) -> (Vec<MountedFile>, Vec<String>) {
    let mut out: Vec<MountedFile> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut add = |what: &str,
                   name: &str,
                   data: Option<BTreeMap<String, Vec<u8>>>,
                   items: &[KeyToPath],
                   default_mode: Option<i32>,
                   optional: bool| {
        let default_mode = default_mode
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0o644);
        let Some(data) = data else {
            if !optional {
                problems.push(format!("{what} \"{name}\" is not declared"));
            }
            return;
        };
        if items.is_empty() {
            for (k, content) in data {
                out.push(MountedFile {
                    path: k,
                    mode: default_mode,
                    content,
                });
            }
            return;
        }
        for item in items {
            let key = item.key.as_deref().unwrap_or_default();
            let Some(content) = data.get(key) else {
                if !optional {
                    problems.push(format!("{what} \"{name}\" has no key \"{key}\""));
                }
                continue;
            };
            out.push(MountedFile {
                path: item.path.clone().unwrap_or_else(|| key.to_owned()),
                mode: item
                    .mode
                    .and_then(|m| u32::try_from(m).ok())
                    .unwrap_or(default_mode),
                content: content.clone(),
            });
        }
    };
    if let Some(c) = &v.config_map {
        let name = c.name.as_deref().unwrap_or_default();
        add(
            "ConfigMap",
            name,
            config_map(name),
            &c.items,
            c.default_mode,
            c.optional == Some(true),
        );
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.as_deref().unwrap_or_default();
        add(
            "Secret",
            name,
            secret(name),
            &s.items,
            s.default_mode,
            s.optional == Some(true),
        );
    }
    if let Some(p) = &v.projected {
        for src in &p.sources {
            for (what, proj, lookup) in [
                ("ConfigMap", &src.config_map, config_map),
                ("Secret", &src.secret, secret),
            ] {
                if let Some(proj) = proj {
                    let name = proj.name.as_deref().unwrap_or_default();
                    add(
                        what,
                        name,
                        lookup(name),
                        &proj.items,
                        p.default_mode,
                        proj.optional == Some(true),
                    );
                }
            }
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        (name == "settings").then(|| {
            [
                ("a.conf".to_owned(), b"a=1".to_vec()),
                ("b.conf".to_owned(), b"b=2".to_vec()),
            ]
            .into()
        })
    }

    fn volume(json: serde_json::Value) -> Volume {
        serde_json::from_value(json).expect("volume")
    }

    #[test]
    fn what_a_pod_declares_is_checked_and_what_is_not_provided_is_said() {
        let b = crate::load::load_str(
            std::path::Path::new("app.yaml"),
            "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        command: [\"true\"]
        volumeMounts:
        - {name: confg, mountPath: /etc/config}
        - {name: data, mountPath: /var/data}
        - {name: data, mountPath: /var/data}
      volumes:
      - {name: config, configMap: {name: settings, items: [{key: a, path: /abs}]}}
      - {name: data, hostPath: {path: /srv}}
      - {name: nothing}
",
            crate::LoadOptions::default(),
        );
        let m: Vec<String> = b.diagnostics().map(ToString::to_string).collect();
        for want in [
            "app.yaml:13:18: Deployment/web: spec.template.spec.containers[0].volumeMounts[0].name: not found: \"confg\" (did you mean \"config\"?)",
            "volumeMounts[0].mountPath: mounted at $MERIDIAN_ROOT/etc/config",
            "volumeMounts[2].mountPath: must be unique",
            "spec.template.spec.volumes[0].configMap.items[0].path: invalid value \"/abs\": must be a relative path",
            "warning: Deployment/web: spec.template.spec.volumes[1].hostPath: hostPath volumes are not provided",
            "spec.template.spec.volumes[2]: must specify a volume type",
        ] {
            assert!(m.iter().any(|l| l.contains(want)), "{want}: {m:#?}");
        }
    }

    #[test]
    fn a_missing_config_map_is_a_warning_at_its_volume() {
        let b = crate::load::load_str(
            std::path::Path::new("app.yaml"),
            "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, command: [\"true\"], volumeMounts: [{name: config, mountPath: /etc/config}]}
      volumes:
      - {name: config, configMap: {name: settings}}
      - {name: maybe, secret: {secretName: creds, optional: true}}
",
            crate::LoadOptions::default(),
        );
        assert!(b.is_valid());
        let m: Vec<String> = b.diagnostics().map(ToString::to_string).collect();
        assert!(
            m.iter().any(|l| l.contains("spec.template.spec.volumes[0]: ConfigMap \"settings\" is not declared in namespace \"default\": Kubernetes would hold the pods back until it exists; Meridian starts them without its files")),
            "{m:#?}"
        );
        assert!(!m.iter().any(|l| l.contains("creds")), "{m:#?}");
    }

    #[test]
    fn every_key_is_a_file_with_the_default_mode() {
        let v = volume(
            serde_json::json!({"name": "c", "configMap": {"name": "settings", "defaultMode": 0o400}}),
        );
        let (files, problems) = volume_files(&v, &lookup, &|_| None);
        assert!(problems.is_empty());
        let got: Vec<(&str, u32, &[u8])> = files
            .iter()
            .map(|f| (f.path.as_str(), f.mode, f.content.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("a.conf", 0o400, &b"a=1"[..]),
                ("b.conf", 0o400, &b"b=2"[..])
            ]
        );
    }

    #[test]
    fn items_choose_keys_paths_and_modes() {
        let v = volume(
            serde_json::json!({"name": "c", "projected": {"defaultMode": 0o600, "sources": [
                {"configMap": {"name": "settings", "items": [
                    {"key": "b.conf", "path": "conf/b", "mode": 0o444},
                    {"key": "a.conf", "path": "a"}
                ]}}
            ]}}),
        );
        let (files, _) = volume_files(&v, &lookup, &|_| None);
        let got: Vec<(&str, u32)> = files.iter().map(|f| (f.path.as_str(), f.mode)).collect();
        assert_eq!(got, [("conf/b", 0o444), ("a", 0o600)]);
    }

    #[test]
    fn missing_objects_and_keys_fail_unless_optional() {
        let v = volume(serde_json::json!({"name": "c", "configMap": {"name": "other"}}));
        assert_eq!(
            volume_files(&v, &lookup, &|_| None),
            (
                Vec::new(),
                vec!["ConfigMap \"other\" is not declared".to_owned()]
            )
        );
        let v = volume(
            serde_json::json!({"name": "c", "configMap": {"name": "other", "optional": true}}),
        );
        assert_eq!(
            volume_files(&v, &lookup, &|_| None),
            (Vec::new(), Vec::new())
        );
        let v = volume(
            serde_json::json!({"name": "c", "secret": {"secretName": "settings", "items": [{"key": "x", "path": "x"}]}}),
        );
        assert_eq!(
            volume_files(&v, &|_| None, &lookup),
            (
                Vec::new(),
                vec!["Secret \"settings\" has no key \"x\"".to_owned()]
            )
        );
    }
}
