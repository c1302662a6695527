//! Kubernetes object metadata and the small shared types (`IntOrString`, quantities, label
//! selectors), with the API server's naming rules.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};

use crate::diag::Findings;
use crate::path::FieldPath;

/// `metadata` of every object. Server-populated fields are accepted (so `kubectl get -o yaml`
/// output loads) and ignored.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Server-populated and unsupported fields are accepted (so real exports load) and never read.
#[allow(dead_code)]
pub struct ObjectMeta {
    /// Object name.
    pub name: Option<String>,
    /// Prefix for generated names; not supported (names must be stable here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// Namespace; `default` when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing)]
    uid: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    resource_version: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    generation: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    creation_timestamp: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    deletion_timestamp: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    deletion_grace_period_seconds: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    owner_references: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    finalizers: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    managed_fields: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    self_link: Option<IgnoredAny>,
}

/// The namespace objects land in when they do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

impl ObjectMeta {
    /// The name, or empty when missing (validation reports that).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The namespace, `default` when omitted.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }

    /// Checks name, namespace, labels and annotations.
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath, name_rule: NameRule) {
        match &self.name {
            None if self.generate_name.is_some() => {
                f.error(&at.field("generateName"), "generateName is not supported")
                    .hint("give the object a fixed metadata.name");
            }
            None => {
                f.error(&at.field("name"), "required field \"name\" is missing");
            }
            Some(n) => {
                if let Err(e) = name_rule.check(n) {
                    f.error(&at.field("name"), format!("invalid name \"{n}\": {e}"));
                }
            }
        }
        if let Some(ns) = &self.namespace
            && let Err(e) = NameRule::Label.check(ns)
        {
            f.error(
                &at.field("namespace"),
                format!("invalid namespace \"{ns}\": {e}"),
            );
        }
        validate_labels(f, &at.field("labels"), &self.labels);
        let ann = at.field("annotations");
        for k in self.annotations.keys() {
            if let Err(e) = check_qualified_name(k) {
                f.error(
                    &ann.key(k.clone()),
                    format!("invalid annotation key \"{k}\": {e}"),
                )
                .at_key();
            }
        }
    }
}

/// Which of Kubernetes' naming rules an object's name follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: lower-case alphanumerics, `-` and `.`, up to 253 characters.
    Subdomain,
    /// RFC 1123 label: lower-case alphanumerics and `-`, up to 63 characters.
    Label,
    /// RFC 1035 label (Service names): as `Label`, and starting with a letter.
    Rfc1035Label,
}

impl NameRule {
    /// Checks a name, returning the reason it is invalid.
    pub fn check(self, name: &str) -> Result<(), String> {
        match self {
            NameRule::Subdomain => check_subdomain(name),
            NameRule::Label => check_label(name, 63),
            NameRule::Rfc1035Label => {
                check_label(name, 63)?;
                if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                    return Err("must start with a lower-case letter (RFC 1035 label)".into());
                }
                Ok(())
            }
        }
    }
}

fn check_label(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > max {
        return Err(format!("must be no more than {max} characters"));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !s.chars().all(ok_char) {
        return Err(
            "must consist of lower case alphanumeric characters or '-' (RFC 1123 label)".into(),
        );
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must start and end with an alphanumeric character".into());
    }
    Ok(())
}

fn check_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    for part in s.split('.') {
        check_label(part, 63).map_err(|_| {
            "must consist of lower case alphanumeric characters, '-' or '.', and must start \
             and end with an alphanumeric character (RFC 1123 subdomain)"
                .to_owned()
        })?;
    }
    Ok(())
}

/// A label or annotation key: `[prefix/]name`.
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        check_subdomain(p).map_err(|e| format!("prefix {e}"))?;
    }
    if name.is_empty() || name.len() > 63 {
        return Err("name part must be 1 to 63 characters".into());
    }
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let edges = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok || !edges {
        return Err(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and \
                    must start and end with an alphanumeric character"
                .into(),
        );
    }
    Ok(())
}

/// A label value: empty, or up to 63 characters like a qualified name's name part.
pub fn check_label_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    if v.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let ok = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let edges = v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok || !edges {
        return Err(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start \
                    and end with an alphanumeric character"
                .into(),
        );
    }
    Ok(())
}

/// Checks every key and value of a label map.
pub(crate) fn validate_labels(f: &mut Findings, at: &FieldPath, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        if let Err(e) = check_qualified_name(k) {
            f.error(
                &at.key(k.clone()),
                format!("invalid label key \"{k}\": {e}"),
            )
            .at_key();
        }
        if let Err(e) = check_label_value(v) {
            f.error(
                &at.key(k.clone()),
                format!("invalid label value \"{v}\": {e}"),
            );
        }
    }
}

/// A label selector (`matchLabels` and `matchExpressions`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Exact label matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: Option<String>,
    /// How the key relates to the values.
    pub operator: Option<SelectorOperator>,
    /// Values for `In`/`NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Operators of a set-based requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum SelectorOperator {
    /// The label's value is one of the values.
    In,
    /// The label's value is none of the values (or the label is absent).
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy the selector. An empty selector matches everything.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let key = r.key.as_deref().unwrap_or_default();
                let got = labels.get(key);
                match r.operator {
                    Some(SelectorOperator::In) => got.is_some_and(|v| r.values.contains(v)),
                    Some(SelectorOperator::NotIn) => got.is_none_or(|v| !r.values.contains(v)),
                    Some(SelectorOperator::Exists) => got.is_some(),
                    Some(SelectorOperator::DoesNotExist) => got.is_none(),
                    None => false,
                }
            })
    }

    /// True when the selector has no requirement at all.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        validate_labels(f, &at.field("matchLabels"), &self.match_labels);
        for (i, r) in self.match_expressions.iter().enumerate() {
            let p = at.field("matchExpressions").index(i);
            match &r.key {
                None => {
                    f.error(&p.field("key"), "required field \"key\" is missing");
                }
                Some(k) => {
                    if let Err(e) = check_qualified_name(k) {
                        f.error(&p.field("key"), format!("invalid label key \"{k}\": {e}"));
                    }
                }
            }
            match r.operator {
                None => {
                    f.error(
                        &p.field("operator"),
                        "required field \"operator\" is missing",
                    );
                }
                Some(SelectorOperator::In | SelectorOperator::NotIn) if r.values.is_empty() => {
                    f.error(
                        &p.field("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    );
                }
                Some(SelectorOperator::Exists | SelectorOperator::DoesNotExist)
                    if !r.values.is_empty() =>
                {
                    f.error(
                        &p.field("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    );
                }
                _ => {}
            }
        }
    }
}

/// Kubernetes' `IntOrString` (ports by number or name, `maxSurge: 25%`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A number.
    Int(i64),
    /// Text.
    String(String),
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for IntOrString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i64::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("{v} is out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl IntOrString {
    /// Resolves an absolute number or a percentage of `total`, rounding as Kubernetes does
    /// (`round_up` for maxSurge, down for maxUnavailable).
    pub fn scaled(&self, total: u32, round_up: bool) -> Result<u32, String> {
        match self {
            IntOrString::Int(i) => u32::try_from(*i).map_err(|_| format!("{i} must be >= 0")),
            IntOrString::String(s) => {
                let pct: u64 = s
                    .strip_suffix('%')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| {
                        format!("\"{s}\" must be an integer or a percentage like \"25%\"")
                    })?;
                let num = pct * u64::from(total);
                let v = if round_up {
                    num.div_ceil(100)
                } else {
                    num / 100
                };
                u32::try_from(v).map_err(|_| format!("\"{s}\" is too large"))
            }
        }
    }
}

/// A resource quantity (`500m`, `128Mi`, `1`, `2.5Gi`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Quantity(match IntOrString::deserialize(d)? {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(s) => s,
        }))
    }
}

impl Quantity {
    /// The value in base units (bytes, cores) as a float, or why it does not parse.
    pub fn value(&self) -> Result<f64, String> {
        let s = self.0.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(s.len());
        let (num, suffix) = s.split_at(split);
        let n: f64 = num.parse().map_err(|_| {
            format!(
                "quantity \"{}\" is not a number with an optional suffix",
                self.0
            )
        })?;
        let mult = match suffix {
            "" => 1.0,
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            "Ki" => 1024.0,
            "Mi" => 1024.0 * 1024.0,
            "Gi" => 1024.0 * 1024.0 * 1024.0,
            "Ti" => 1024.0f64.powi(4),
            "Pi" => 1024.0f64.powi(5),
            "Ei" => 1024.0f64.powi(6),
            _ => {
                return Err(format!(
                    "quantity \"{}\" has an unknown suffix \"{suffix}\"",
                    self.0
                ));
            }
        };
        if n < 0.0 {
            return Err(format!("quantity \"{}\" must not be negative", self.0));
        }
        Ok(n * mult)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("myapp", NameRule::Rfc1035Label, true)]
    #[test_case("1app", NameRule::Rfc1035Label, false)]
    #[test_case("1app", NameRule::Label, true)]
    #[test_case("my.app", NameRule::Subdomain, true)]
    #[test_case("My-App", NameRule::Subdomain, false)]
    #[test_case("app-", NameRule::Label, false)]
    fn names(name: &str, rule: NameRule, ok: bool) {
        assert_eq!(rule.check(name).is_ok(), ok, "{name}");
    }

    #[test]
    fn percentages_scale_like_kubernetes() {
        let p = IntOrString::String("25%".into());
        assert_eq!(p.scaled(10, true), Ok(3));
        assert_eq!(p.scaled(10, false), Ok(2));
        assert_eq!(IntOrString::Int(1).scaled(10, true), Ok(1));
    }

    #[test]
    fn quantities() {
        assert_eq!(Quantity("500m".into()).value(), Ok(0.5));
        assert_eq!(Quantity("128Mi".into()).value(), Ok(134_217_728.0));
        assert!(Quantity("12Qi".into()).value().is_err());
    }

    #[test]
    fn selectors_match() {
        let mut labels = BTreeMap::new();
        labels.insert("app".to_owned(), "myapp".to_owned());
        labels.insert("version".to_owned(), "v1".to_owned());
        let s = LabelSelector {
            match_labels: [("app".to_owned(), "myapp".to_owned())].into(),
            match_expressions: vec![LabelSelectorRequirement {
                key: Some("version".into()),
                operator: Some(SelectorOperator::In),
                values: vec!["v1".into(), "v2".into()],
            }],
        };
        assert!(s.matches(&labels));
        labels.insert("version".to_owned(), "v3".to_owned());
        assert!(!s.matches(&labels));
    }
}
