//! An app's access keys, as the Functions host keeps them: a master key, host keys and each
//! function's keys, in `<state>/azure/<app>/keys.json` (mode 0600). Missing keys are made on
//! load; rotation replaces one key and keeps the others.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::error::FunctionsError;

/// The keys of one app.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keys {
    /// The master key (`_master`): admin level, every function and the admin API.
    pub master: String,
    /// Host keys by name: every function of the app.
    #[serde(default)]
    pub host: BTreeMap<String, String>,
    /// Function keys: function name → key name → key.
    #[serde(default)]
    pub functions: BTreeMap<String, BTreeMap<String, String>>,
}

/// What a key opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// A function key of the function asked for, or a host key.
    Function,
    /// The master key.
    Admin,
}

/// A new key: 40 random bytes, URL-safe base64 (safe in `?code=`).
pub fn new_key() -> String {
    let bytes: [u8; 40] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn eq_ct(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Keys {
    /// The file of `app` under `state_dir`.
    pub fn path(state_dir: &Path, app: &str) -> PathBuf {
        state_dir.join("azure").join(app).join("keys.json")
    }

    /// Reads the keys of an app, making what is missing (a master key, the `default` host
    /// key, a `default` key per function), and writes them back when something was made.
    pub fn load_or_create(file: &Path, functions: &[String]) -> Result<Self, FunctionsError> {
        let mut keys: Keys = match std::fs::read(file) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| FunctionsError::StateDir {
                path: file.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Keys::default(),
            Err(source) => {
                return Err(FunctionsError::StateDir {
                    path: file.to_path_buf(),
                    source,
                });
            }
        };
        let mut changed = false;
        if keys.master.is_empty() {
            keys.master = new_key();
            changed = true;
        }
        if keys.host.is_empty() {
            keys.host.insert("default".into(), new_key());
            changed = true;
        }
        for f in functions {
            let entry = keys.functions.entry(f.clone()).or_default();
            if entry.is_empty() {
                entry.insert("default".into(), new_key());
                changed = true;
            }
        }
        if changed {
            keys.save(file)?;
        }
        Ok(keys)
    }

    /// Writes the file (a temporary file, fsynced, renamed; mode 0600).
    pub fn save(&self, file: &Path) -> Result<(), FunctionsError> {
        let err = |source| FunctionsError::StateDir {
            path: file.to_path_buf(),
            source,
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = file.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(err)?
        };
        f.write_all(&text)
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        std::fs::rename(&tmp, file).map_err(err)
    }

    /// What `key` opens for `function`, if anything.
    pub fn access(&self, function: &str, key: &str) -> Option<Access> {
        if key.is_empty() {
            return None;
        }
        if eq_ct(&self.master, key) {
            return Some(Access::Admin);
        }
        let host = self.host.values().any(|k| eq_ct(k, key));
        let own = self
            .functions
            .iter()
            .filter(|(f, _)| f.eq_ignore_ascii_case(function))
            .flat_map(|(_, ks)| ks.values())
            .any(|k| eq_ct(k, key));
        (host || own).then_some(Access::Function)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_kept_and_checked() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = Keys::path(dir.path(), "app");
        let k = Keys::load_or_create(&file, &["Hello".into(), "Other".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let again =
            Keys::load_or_create(&file, &["Hello".into()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k, again, "keys survive a reload");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file)
                .unwrap_or_else(|e| panic!("{e}"))
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let own = &k.functions["Hello"]["default"];
        let other = &k.functions["Other"]["default"];
        assert_eq!(k.access("Hello", own), Some(Access::Function));
        assert_eq!(k.access("hello", own), Some(Access::Function));
        assert_eq!(k.access("Hello", other), None, "another function's key");
        assert_eq!(
            k.access("Hello", &k.host["default"]),
            Some(Access::Function)
        );
        assert_eq!(k.access("Hello", &k.master), Some(Access::Admin));
        assert_eq!(k.access("Hello", ""), None);
        assert_eq!(k.access("Hello", "nope"), None);
    }
}
