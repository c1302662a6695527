//! Diagnostics: what went wrong, where (`file:line:col`), in which resource, at which field.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::node::Span;
use crate::path::FieldPath;

/// How serious a diagnostic is. Errors make a resource (and the whole change) invalid;
/// warnings are printed and let it through, as `istioctl analyze` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Refuses the resource.
    Error,
    /// Worth a look; accepted.
    Warning,
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file it is in.
    #[serde(serialize_with = "ser_path")]
    pub file: Arc<Path>,
    /// Where in the file.
    pub span: Span,
    /// `Kind/name` of the resource, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The field the message is about (empty for the whole document).
    #[serde(
        serialize_with = "ser_display",
        skip_serializing_if = "FieldPath::is_root"
    )]
    pub field: FieldPath,
    /// What is wrong, lower-case, no trailing period.
    pub message: String,
    /// A likely fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// An `istioctl analyze` message code (IST0101, ...) when the check mirrors one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

fn ser_path<S: serde::Serializer>(p: &Arc<Path>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&p.display())
}

fn ser_display<S: serde::Serializer>(p: &FieldPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

impl Diagnostic {
    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.span)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(r) = &self.resource {
            write!(f, "{r}: ")?;
        }
        if !self.field.is_root() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(code) = self.code {
            write!(f, " [{code}]")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// A problem found before a file's location is attached: the decoder and validators produce
/// these, and [`Findings::locate`] turns them into [`Diagnostic`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The field it is about.
    pub field: FieldPath,
    /// Point at the value rather than at the key (type errors are about the value).
    pub at_value: bool,
    /// A position already known (decoding knows it); otherwise it is looked up by `field`.
    pub span: Option<Span>,
    /// What is wrong.
    pub message: String,
    /// A likely fix.
    pub hint: Option<String>,
    /// An `istioctl analyze` message code.
    pub code: Option<&'static str>,
}

/// Findings for one document, collected by decoding and validation.
#[derive(Debug, Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    /// No findings yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error about `field`.
    pub fn error(&mut self, field: &FieldPath, message: impl Into<String>) -> &mut Finding {
        self.push(Severity::Error, field, message)
    }

    /// Records a warning about `field`.
    pub fn warn(&mut self, field: &FieldPath, message: impl Into<String>) -> &mut Finding {
        self.push(Severity::Warning, field, message)
    }

    /// Records a finding of the given severity about `field`.
    pub fn push(
        &mut self,
        severity: Severity,
        field: &FieldPath,
        message: impl Into<String>,
    ) -> &mut Finding {
        self.0.push(Finding {
            severity,
            field: field.clone(),
            at_value: true,
            span: None,
            message: message.into(),
            hint: None,
            code: None,
        });
        let last = self.0.len() - 1;
        &mut self.0[last]
    }

    /// Adds a finding as it is.
    pub fn add(&mut self, f: Finding) {
        self.0.push(f);
    }

    /// True when an error (not only warnings) was recorded.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|f| f.severity == Severity::Error)
    }

    /// How many errors were recorded.
    pub fn error_count(&self) -> usize {
        self.0
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// The findings, in the order they were found.
    pub fn into_vec(self) -> Vec<Finding> {
        self.0
    }

    /// The findings so far.
    pub fn iter(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter()
    }

    /// Number of findings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Turns findings into located diagnostics, using the document's node tree for positions.
    pub fn locate(
        self,
        file: &Arc<Path>,
        root: &crate::node::Node,
        resource: Option<&str>,
    ) -> Vec<Diagnostic> {
        // A value that failed to decode was replaced by a placeholder; what validation then
        // says about the placeholder is noise. Decoding findings carry their span.
        let decode_failed: Vec<FieldPath> = self
            .0
            .iter()
            .filter(|f| f.span.is_some() && f.severity == Severity::Error)
            .map(|f| f.field.clone())
            .collect();
        let mut out: Vec<Diagnostic> = self
            .0
            .into_iter()
            .filter(|f| {
                f.span.is_some()
                    || !decode_failed
                        .iter()
                        .any(|p| f.field.segments().starts_with(p.segments()) && !p.is_root())
            })
            .map(|f| {
                let span = f.span.unwrap_or_else(|| {
                    if f.at_value {
                        root.locate_value(&f.field).0
                    } else {
                        root.locate(&f.field).0
                    }
                });
                Diagnostic {
                    severity: f.severity,
                    file: file.clone(),
                    span,
                    resource: resource.map(str::to_owned),
                    field: f.field,
                    message: f.message,
                    hint: f.hint,
                    code: f.code,
                }
            })
            .collect();
        out.sort_by_key(|d| d.span);
        out
    }
}

impl Finding {
    /// Adds a hint.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    /// Points at the key of the field rather than its value.
    pub fn at_key(&mut self) -> &mut Self {
        self.at_value = false;
        self
    }

    /// Tags the finding with an `istioctl analyze` code.
    pub fn code(&mut self, code: &'static str) -> &mut Self {
        self.code = Some(code);
        self
    }
}

/// The closest candidate to `word`, if close enough to be a likely typo: at most a third of
/// the word's length in edits (insertions, deletions, substitutions, swapped neighbours), so
/// a word of one or two characters is only ever matched regardless of case (`v3` is not a
/// typo of `v1`). Case differences are free. The first of equally close candidates wins.
///
/// A prefix-weighted score (Jaro-Winkler) is not used: it rates a longer name that merely
/// starts with the word as close (`databse` would suggest `databse-typo`), which is a
/// completion, not a correction.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let most = lower.chars().count() / 3;
    candidates
        .into_iter()
        .filter_map(|c| {
            let d = strsim::osa_distance(&lower, &c.to_ascii_lowercase());
            (d <= most).then_some((c, d))
        })
        .min_by_key(|(_, d)| *d)
        .map(|(c, _)| c)
}

/// A path for diagnostics that are not about one file on disk.
pub fn stdin_path() -> Arc<Path> {
    Arc::from(PathBuf::from("<stdin>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["destination", "weight", "headers"];
        assert_eq!(did_you_mean("weigth", fields), Some("weight"));
        assert_eq!(did_you_mean("Weight", fields), Some("weight"));
        assert_eq!(did_you_mean("destinaton", fields), Some("destination"));
        assert_eq!(did_you_mean("zzz", fields), None);
    }

    #[test]
    fn a_longer_name_that_starts_with_the_word_is_not_a_typo() {
        assert_eq!(did_you_mean("databse", ["api", "databse-typo"]), None);
        assert_eq!(
            did_you_mean("databse", ["api", "database"]),
            Some("database")
        );
        assert_eq!(did_you_mean("dest", ["destination"]), None);
    }

    #[test]
    fn short_words_allow_one_edit() {
        assert_eq!(did_you_mean("tpc", ["tcp", "udp"]), Some("tcp"));
        assert_eq!(did_you_mean("v3", ["v1", "v2"]), None);
        assert_eq!(did_you_mean("V1", ["v1", "v2"]), Some("v1"));
    }
}
