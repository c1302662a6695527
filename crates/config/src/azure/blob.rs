//! Blob paths of the `blobTrigger` and `blob` bindings: `container/blob`, where the blob part
//! (and, outside a trigger, the container) may hold binding expressions, as the Functions
//! host's blob extension reads them.
//!
//! * A trigger's path is a pattern: `samples-workitems/{name}`, `images/{name}.{ext}`,
//!   `input/original-{id}.png`. Its container is literal; each `{expr}` captures any run of
//!   characters (slashes included: `{name}` of `a/b.txt` is the whole name), greedily, as the
//!   host's regular expression does, so `{name}.{ext}` of `a.b.c` gives `a.b` and `c`. The
//!   captures fill the invocation's binding data.
//! * An input or output binding's path is a template resolved per invocation from the binding
//!   data (`{name}`, route parameters, query values), and the host's own expressions:
//!   `{rand-guid}`, `{DateTime}` (`2018-02-16T17-59-55Z`), `{DateTime:yyyy-MM-dd}`,
//!   `{sys.randguid}`, `{sys.utcnow}`.
//! * `{{` and `}}` are literal braces.

use std::collections::BTreeMap;
use std::fmt;

/// A piece of a blob path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `{name}` or `{name:format}`.
    Expr {
        name: String,
        format: Option<String>,
    },
}

/// Why a blob path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobPathError {
    /// Nothing before the first `/`, or an empty path.
    #[error("the path '{0}' names no container; blob paths are 'container/blob'")]
    NoContainer(String),
    /// A container name Azure (and S3) would refuse.
    #[error(
        "the container name '{0}' is invalid: container names have 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit"
    )]
    Container(String),
    /// A trigger's container with a binding expression.
    #[error("the container of a blobTrigger path cannot hold binding expressions ('{0}')")]
    TriggerContainerExpression(String),
    /// A trigger's path without a blob part (`container/`).
    #[error("the path '{0}' has an empty blob name pattern after the container")]
    EmptyBlob(String),
    /// `{` without `}`, a lone `}`, or `{}`.
    #[error("the binding expression at offset {offset} of '{path}' is malformed: {reason}")]
    Expression {
        /// The path.
        path: String,
        /// Where the expression starts.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A trigger pattern with a format specifier (`{name:x}`), which only outputs resolve.
    #[error(
        "the blobTrigger pattern '{0}' has a format specifier; trigger patterns capture plain names"
    )]
    TriggerFormat(String),
}

/// A `container/blob` path with binding expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPath {
    text: String,
    /// The container's parts (literal for a trigger).
    container: Vec<Part>,
    /// The blob name's parts.
    blob: Vec<Part>,
}

impl fmt::Display for BlobPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether `name` is a container name Azure accepts (and so a valid S3 bucket name too).
pub fn valid_container(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn parse_parts(path: &str, base: usize, whole: &str) -> Result<Vec<Part>, BlobPathError> {
    let err = |offset: usize, reason: &'static str| BlobPathError::Expression {
        path: whole.to_owned(),
        offset: base + offset,
        reason,
    };
    let mut parts = Vec::new();
    let mut lit = String::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                lit.push('{');
                i += 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                lit.push('}');
                i += 2;
            }
            b'}' => return Err(err(i, "'}' without '{' (write '}}' for a literal brace)")),
            b'{' => {
                let Some(len) = path[i + 1..].find('}') else {
                    return Err(err(i, "'{' without '}'"));
                };
                let inner = &path[i + 1..i + 1 + len];
                if inner.contains('{') {
                    return Err(err(i, "'{' inside an expression"));
                }
                let (name, format) = match inner.split_once(':') {
                    Some((n, f)) => (n, Some(f.to_owned())),
                    None => (inner, None),
                };
                if name.is_empty() {
                    return Err(err(i, "an expression needs a name ('{name}')"));
                }
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                {
                    return Err(err(
                        i,
                        "expression names have only letters, digits, '_', '-' and '.'",
                    ));
                }
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                parts.push(Part::Expr {
                    name: name.to_owned(),
                    format,
                });
                i += len + 2;
            }
            _ => {
                // Multi-byte characters are copied whole.
                let c = path[i..].chars().next().unwrap_or_default();
                lit.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Literal(lit));
    }
    Ok(parts)
}

impl BlobPath {
    /// Parses an input or output binding's path.
    pub fn parse(text: &str) -> Result<Self, BlobPathError> {
        let (container, blob, blob_at) = match text.split_once('/') {
            Some((c, b)) => (c, b, c.len() + 1),
            None => (text, "", text.len()),
        };
        if container.is_empty() {
            return Err(BlobPathError::NoContainer(text.to_owned()));
        }
        let container_parts = parse_parts(container, 0, text)?;
        if let [Part::Literal(c)] = container_parts.as_slice()
            && !valid_container(c)
        {
            return Err(BlobPathError::Container(c.clone()));
        }
        Ok(Self {
            text: text.to_owned(),
            container: container_parts,
            blob: parse_parts(blob, blob_at, text)?,
        })
    }

    /// Parses a `blobTrigger`'s path: a literal container and a blob name pattern. A path that
    /// is only a container matches every blob in it.
    pub fn parse_trigger(text: &str) -> Result<Self, BlobPathError> {
        let p = Self::parse(text)?;
        if p.container_name().is_none() {
            return Err(BlobPathError::TriggerContainerExpression(text.to_owned()));
        }
        if text.ends_with('/') && p.blob.is_empty() {
            return Err(BlobPathError::EmptyBlob(text.to_owned()));
        }
        if p.blob.iter().any(|x| {
            matches!(
                x,
                Part::Expr {
                    format: Some(_),
                    ..
                }
            )
        }) {
            return Err(BlobPathError::TriggerFormat(text.to_owned()));
        }
        Ok(p)
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The container, when it holds no expression.
    pub fn container_name(&self) -> Option<&str> {
        match self.container.as_slice() {
            [Part::Literal(c)] => Some(c),
            _ => None,
        }
    }

    /// The literal start of the blob name, before any expression: the key prefix a trigger
    /// watches.
    pub fn prefix(&self) -> &str {
        match self.blob.first() {
            Some(Part::Literal(l)) => l,
            _ => "",
        }
    }

    /// The names a trigger's pattern captures, in order.
    pub fn captures(&self) -> Vec<&str> {
        self.blob
            .iter()
            .filter_map(|p| match p {
                Part::Expr { name, .. } => Some(name.as_str()),
                Part::Literal(_) => None,
            })
            .collect()
    }

    /// Matches a blob name against a trigger's pattern: the captured values by expression
    /// name, or `None` when it does not match. Each expression takes the longest run that
    /// lets the rest match.
    pub fn matches(&self, blob: &str) -> Option<BTreeMap<String, String>> {
        if self.blob.is_empty() {
            return Some(BTreeMap::new());
        }
        let mut out = BTreeMap::new();
        match_parts(&self.blob, blob, &mut out).then_some(out)
    }

    /// Resolves an input or output path: `(container, blob)`, each expression replaced by
    /// `lookup(name, format)`; the first expression `lookup` cannot resolve is the error.
    pub fn resolve(
        &self,
        mut lookup: impl FnMut(&str, Option<&str>) -> Option<String>,
    ) -> Result<(String, String), String> {
        let mut render = |parts: &[Part]| -> Result<String, String> {
            let mut s = String::new();
            for p in parts {
                match p {
                    Part::Literal(l) => s.push_str(l),
                    Part::Expr { name, format } => match lookup(name, format.as_deref()) {
                        Some(v) => s.push_str(&v),
                        None => return Err(name.clone()),
                    },
                }
            }
            Ok(s)
        };
        let container = render(&self.container)?;
        let blob = render(&self.blob)?;
        Ok((container, blob))
    }
}

fn match_parts(parts: &[Part], s: &str, out: &mut BTreeMap<String, String>) -> bool {
    match parts.split_first() {
        None => s.is_empty(),
        Some((Part::Literal(l), rest)) => s
            .strip_prefix(l.as_str())
            .is_some_and(|r| match_parts(rest, r, out)),
        Some((Part::Expr { name, .. }, rest)) => {
            // Longest first, as a greedy `(.*)`.
            let ends: Vec<usize> = s
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(s.len()))
                .collect();
            for &end in ends.iter().rev() {
                if match_parts(rest, &s[end..], out) {
                    match out.get(name) {
                        // The same name twice must capture the same text.
                        Some(prev) if prev != &s[..end] => continue,
                        _ => {
                            out.insert(name.clone(), s[..end].to_owned());
                            return true;
                        }
                    }
                }
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(pattern: &str, blob: &str) -> Option<Vec<(String, String)>> {
        BlobPath::parse_trigger(pattern)
            .unwrap()
            .matches(blob)
            .map(|m| m.into_iter().collect())
    }

    #[test]
    fn trigger_patterns_capture_as_the_host_does() {
        assert_eq!(
            caps("samples-workitems/{name}", "a/b.txt"),
            Some(vec![("name".into(), "a/b.txt".into())])
        );
        assert_eq!(
            caps("images/{name}.{ext}", "a.b.c"),
            Some(vec![
                ("ext".into(), "c".into()),
                ("name".into(), "a.b".into())
            ])
        );
        assert_eq!(
            caps("input/original-{id}.png", "original-7.png"),
            Some(vec![("id".into(), "7".into())])
        );
        assert_eq!(caps("input/original-{id}.png", "copy-7.png"), None);
        assert_eq!(caps("images/{name}.{ext}", "noext"), None);
        assert_eq!(caps("images", "anything/at/all"), Some(vec![]));
        assert_eq!(
            caps("images/{{literal}}{n}", "{literal}x"),
            Some(vec![("n".into(), "x".into())])
        );
    }

    #[test]
    fn prefixes_are_the_literal_start() {
        assert_eq!(
            BlobPath::parse_trigger("c0n/in/{name}").unwrap().prefix(),
            "in/"
        );
        assert_eq!(BlobPath::parse_trigger("con/{name}").unwrap().prefix(), "");
    }

    #[test]
    fn outputs_resolve_from_binding_data() {
        let p = BlobPath::parse("out/{name}-{DateTime:yyyy}.txt").unwrap();
        let r = p.resolve(|n, f| match (n, f) {
            ("name", None) => Some("a".into()),
            ("DateTime", Some("yyyy")) => Some("2026".into()),
            _ => None,
        });
        assert_eq!(r, Ok(("out".into(), "a-2026.txt".into())));
        assert_eq!(p.resolve(|_, _| None), Err("name".into()));
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in [
            "/x",
            "Upper/x",
            "ab/x",
            "a--b/x",
            "con/{x",
            "con/x}",
            "con/{}",
            "con/{a b}",
        ] {
            assert!(BlobPath::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            BlobPath::parse_trigger("{c}/x"),
            Err(BlobPathError::TriggerContainerExpression(_))
        ));
        assert!(matches!(
            BlobPath::parse_trigger("con/"),
            Err(BlobPathError::EmptyBlob(_))
        ));
        assert!(matches!(
            BlobPath::parse_trigger("con/{n:x}"),
            Err(BlobPathError::TriggerFormat(_))
        ));
    }
}
