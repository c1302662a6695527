//! `v1` ConfigMap and Secret: named key/value data that workloads read as environment
//! variables (`env.valueFrom.configMapKeyRef`/`secretKeyRef`, `envFrom`).

use std::collections::BTreeMap;

use base64::Engine;
use serde::de::IgnoredAny;

use super::meta::ObjectMeta;
use crate::diag::Findings;
use crate::path::FieldPath;

/// The data of a ConfigMap.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapData {
    /// UTF-8 values by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Base64-encoded binary values by key (kept as written).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, String>,
    /// Whether the data may change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// A ConfigMap as written: the envelope and the data sit side by side (there is no `spec`).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawConfigMap {
    #[allow(dead_code)]
    api_version: Option<IgnoredAny>,
    #[allow(dead_code)]
    kind: Option<IgnoredAny>,
    pub(crate) metadata: Option<ObjectMeta>,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    binary_data: BTreeMap<String, String>,
    immutable: Option<bool>,
}

impl RawConfigMap {
    pub(crate) fn into_parts(self) -> (Option<ObjectMeta>, ConfigMapData) {
        (
            self.metadata,
            ConfigMapData {
                data: self.data,
                binary_data: self.binary_data,
                immutable: self.immutable,
            },
        )
    }
}

impl ConfigMapData {
    /// The API server's checks: valid keys, binary values in base64, no key in both maps.
    pub fn validate(&self, f: &mut Findings, at: &FieldPath) {
        for k in self.data.keys() {
            check_key(f, &at.field("data").key(k.clone()), k);
        }
        for (k, v) in &self.binary_data {
            let p = at.field("binaryData").key(k.clone());
            check_key(f, &p, k);
            if base64::engine::general_purpose::STANDARD.decode(v).is_err() {
                f.error(&p, "illegal base64 data");
            }
            if self.data.contains_key(k) {
                f.error(&p, format!("duplicate of key \"{k}\" present in data"))
                    .at_key();
            }
        }
    }

    /// Every key with its bytes (`binaryData` decoded), as a volume's files hold them.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out: BTreeMap<String, Vec<u8>> = self
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        for (k, v) in &self.binary_data {
            if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(v) {
                out.insert(k.clone(), b);
            }
        }
        out
    }

    /// The value of `key` as text (binary values decoded when they are UTF-8).
    pub fn get(&self, key: &str) -> Option<String> {
        self.data.get(key).cloned().or_else(|| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(self.binary_data.get(key)?)
                .ok()?;
            String::from_utf8(b).ok()
        })
    }
}

/// The data of a Secret. Values are never serialized: `meridian get` shows the keys only.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretData {
    /// Decoded values by key (`data` decoded from base64, then `stringData` over it, as the
    /// API server merges them).
    #[serde(serialize_with = "keys_only")]
    pub data: BTreeMap<String, Vec<u8>>,
    /// `Opaque` when omitted.
    #[serde(rename = "type")]
    pub secret_type: String,
    /// Whether the data may change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

fn keys_only<S: serde::Serializer>(m: &BTreeMap<String, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.keys().map(|k| (k, "<redacted>")))
}

/// A Secret as written.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawSecret {
    #[allow(dead_code)]
    api_version: Option<IgnoredAny>,
    #[allow(dead_code)]
    kind: Option<IgnoredAny>,
    pub(crate) metadata: Option<ObjectMeta>,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
    #[serde(rename = "type")]
    secret_type: Option<String>,
    immutable: Option<bool>,
}

impl RawSecret {
    /// Decodes `data` (reporting what is not base64) and merges `stringData` over it.
    pub(crate) fn into_parts(self, f: &mut Findings) -> (Option<ObjectMeta>, SecretData) {
        let root = FieldPath::root();
        let mut data = BTreeMap::new();
        for (k, v) in self.data {
            let p = root.field("data").key(k.clone());
            check_key(f, &p, &k);
            match base64::engine::general_purpose::STANDARD.decode(&v) {
                Ok(b) => {
                    data.insert(k, b);
                }
                Err(_) => {
                    f.error(&p, "illegal base64 data")
                        .hint("`data` holds base64; put plain text under `stringData`");
                }
            }
        }
        for (k, v) in self.string_data {
            check_key(f, &root.field("stringData").key(k.clone()), &k);
            data.insert(k, v.into_bytes());
        }
        (
            self.metadata,
            SecretData {
                data,
                secret_type: self.secret_type.unwrap_or_else(|| "Opaque".into()),
                immutable: self.immutable,
            },
        )
    }
}

impl SecretData {
    /// The value of `key` as text, when it is UTF-8.
    pub fn get(&self, key: &str) -> Option<String> {
        String::from_utf8(self.data.get(key)?.clone()).ok()
    }
}

/// A ConfigMap or Secret key: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
fn check_key(f: &mut Findings, at: &FieldPath, key: &str) {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        f.error(
            at,
            format!("invalid key \"{key}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.', at most 253 characters, and not be '.' or '..'"),
        )
        .at_key();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_read_as_text_when_utf8() {
        let mut c = ConfigMapData::default();
        c.binary_data.insert("a".into(), "aGk=".into());
        c.data.insert("b".into(), "plain".into());
        assert_eq!(c.get("a").as_deref(), Some("hi"));
        assert_eq!(c.get("b").as_deref(), Some("plain"));
        assert_eq!(c.get("c"), None);
    }

    #[test]
    fn bad_keys_are_refused() {
        for k in ["", ".", "..", "a b", "a/b"] {
            let mut f = Findings::new();
            check_key(&mut f, &FieldPath::root(), k);
            assert!(f.has_errors(), "{k:?} accepted");
        }
        let mut f = Findings::new();
        check_key(&mut f, &FieldPath::root(), "app.properties");
        assert!(!f.has_errors());
    }
}
