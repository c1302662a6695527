//! Field paths such as `spec.http[1].route[0].weight`: how every message names the field it is
//! about, and how [`crate::node::Node::locate`] finds its line.

use std::borrow::Cow;
use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A field of a typed object (`spec`, `http`).
    Field(Cow<'static, str>),
    /// A key of a free-form map (a header name, a label key).
    Key(String),
    /// An index into a list.
    Index(usize),
}

/// A path from a document's root to a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath(Vec<Seg>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a field.
    #[must_use]
    pub fn field(&self, name: impl Into<Cow<'static, str>>) -> Self {
        self.with(Seg::Field(name.into()))
    }

    /// This path extended by a map key.
    #[must_use]
    pub fn key(&self, key: impl Into<String>) -> Self {
        self.with(Seg::Key(key.into()))
    }

    /// This path extended by a list index.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        self.with(Seg::Index(i))
    }

    fn with(&self, seg: Seg) -> Self {
        let mut v = Vec::with_capacity(self.0.len() + 1);
        v.extend_from_slice(&self.0);
        v.push(seg);
        Self(v)
    }

    /// Appends a segment in place.
    pub fn push(&mut self, seg: Seg) {
        self.0.push(seg);
    }

    /// Removes the last segment.
    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// The steps of the path.
    pub fn segments(&self) -> &[Seg] {
        &self.0
    }

    /// True at the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Field(name) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Seg::Key(key) => {
                    if key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    {
                        write!(f, "[{key}]")?;
                    } else {
                        write!(f, "[{key:?}]")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_kubectl() {
        let p = FieldPath::root()
            .field("spec")
            .field("http")
            .index(1)
            .field("route")
            .index(0)
            .field("weight");
        assert_eq!(p.to_string(), "spec.http[1].route[0].weight");
        let h = FieldPath::root().field("headers").key("user-type");
        assert_eq!(h.to_string(), "headers[user-type]");
        let odd = FieldPath::root()
            .field("labels")
            .key("app.kubernetes.io/name");
        assert_eq!(odd.to_string(), "labels[\"app.kubernetes.io/name\"]");
    }
}
