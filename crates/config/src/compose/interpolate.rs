//! Compose variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}` and `$$` for
//! a literal `$`, applied to every scalar value of the file before it is decoded (as
//! `docker compose` does), so `replicas: ${REPLICAS:-3}` is still a number afterwards.

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::Findings;
use crate::node::{Node, Value};
use crate::path::FieldPath;

/// The variables interpolation reads: the process environment, over a project's `.env` file.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// No variables at all (tests, or a caller that wants full control).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The variables of this process.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// Exactly these variables.
    pub fn from_map(vars: BTreeMap<String, String>) -> Self {
        Self { vars }
    }

    /// Adds the variables of a `.env` file in `dir` that are not set already (the
    /// environment wins over `.env`, as in Compose). A missing file is not an error.
    pub fn with_dotenv(mut self, dir: &Path) -> Self {
        if let Ok(text) = std::fs::read_to_string(dir.join(".env")) {
            for (k, v) in parse_env_lines(&text) {
                self.vars.entry(k).or_insert(v);
            }
        }
        self
    }

    /// Sets one variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// Parses `KEY=VALUE` lines (`.env` and `env_file`): `#` comments, blank lines, an optional
/// `export ` prefix, and single- or double-quoted values.
pub fn parse_env_lines(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, ""),
        };
        if k.is_empty() {
            continue;
        }
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_owned()
        } else {
            // An unquoted value ends at ` #` (an inline comment).
            v.split(" #").next().unwrap_or(v).trim_end().to_owned()
        };
        out.push((k.to_owned(), v));
    }
    out
}

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InterpolationError {
    /// `${` without a closing brace, or a bad name.
    Syntax(String),
    /// `${VAR:?message}` with `VAR` unset (or empty, for `:?`).
    Required { name: String, message: String },
}

/// Interpolates one string.
pub(crate) fn interpolate(text: &str, env: &Environment) -> Result<String, InterpolationError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| {
                InterpolationError::Syntax(format!(
                    "invalid interpolation format for \"{text}\": missing closing brace"
                ))
            })?;
            out.push_str(&expand(&body[..end], text, env)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                // A lone `$` stays as written, as Compose does.
                out.push('$');
            } else {
                out.push_str(env.get(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Index of the `}` closing a `${`, allowing nested `${...}` in defaults.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn expand(body: &str, whole: &str, env: &Environment) -> Result<String, InterpolationError> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(InterpolationError::Syntax(format!(
            "invalid interpolation format for \"{whole}\": \"${{{body}}}\" does not start with a variable name"
        )));
    }
    let op = &body[name_len..];
    let value = env.get(name);
    let (colon, op) = match op.strip_prefix(':') {
        Some(o) => (true, o),
        None => (false, op),
    };
    // With `:`, an empty value counts as unset.
    let set = value.is_some_and(|v| !(colon && v.is_empty()));
    let Some(kind) = op.chars().next() else {
        if colon {
            return Err(InterpolationError::Syntax(format!(
                "invalid interpolation format for \"{whole}\": \"${{{body}}}\" ends with ':'"
            )));
        }
        return Ok(value.unwrap_or_default().to_owned());
    };
    let arg = &op[kind.len_utf8()..];
    match kind {
        '-' => {
            if set {
                Ok(value.unwrap_or_default().to_owned())
            } else {
                interpolate(arg, env)
            }
        }
        '+' => {
            if set {
                interpolate(arg, env)
            } else {
                Ok(String::new())
            }
        }
        '?' => {
            if set {
                Ok(value.unwrap_or_default().to_owned())
            } else {
                Err(InterpolationError::Required {
                    name: name.to_owned(),
                    message: interpolate(arg, env)?,
                })
            }
        }
        _ => Err(InterpolationError::Syntax(format!(
            "invalid interpolation format for \"{whole}\": unknown operator in \"${{{body}}}\""
        ))),
    }
}

/// Interpolates every scalar value of the tree in place (keys are left alone), reporting
/// problems at the scalar's position.
pub(crate) fn interpolate_tree(
    node: &mut Node,
    path: &FieldPath,
    env: &Environment,
    f: &mut Findings,
) {
    match &mut node.value {
        Value::Scalar(text, _) => match interpolate(text, env) {
            Ok(v) => *text = v,
            Err(e) => {
                let finding = match e {
                    InterpolationError::Syntax(m) => f.error(path, m),
                    InterpolationError::Required { name, message } => {
                        let m = if message.is_empty() {
                            format!("required variable {name} is missing a value")
                        } else {
                            format!("required variable {name} is missing a value: {message}")
                        };
                        let fi = f.error(path, m);
                        fi.hint(format!("set {name} in the environment or in the .env file"));
                        fi
                    }
                };
                finding.span = Some(node.span);
            }
        },
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &path.index(i), env, f);
            }
        }
        Value::Map(entries) => {
            for e in entries.iter_mut() {
                let key = e.key.as_str().unwrap_or_default().to_owned();
                interpolate_tree(&mut e.value, &path.field(key), env, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn env() -> Environment {
        let mut e = Environment::empty();
        e.set("REGION", "us-east");
        e.set("EMPTY", "");
        e
    }

    #[test_case("plain", "plain")]
    #[test_case("$REGION", "us-east")]
    #[test_case("${REGION}", "us-east")]
    #[test_case("a-${REGION}-b", "a-us-east-b")]
    #[test_case("${MISSING:-eu-west}", "eu-west")]
    #[test_case("${EMPTY:-fallback}", "fallback")]
    #[test_case("${EMPTY-fallback}", "")]
    #[test_case("${MISSING-fallback}", "fallback")]
    #[test_case("${REGION:+set}", "set")]
    #[test_case("${MISSING:+set}", "")]
    #[test_case("$$HOME", "$HOME")]
    #[test_case("${MISSING:-${REGION}}", "us-east"; "nested default")]
    #[test_case("cost $ 5", "cost $ 5")]
    #[test_case("$MISSING", "")]
    fn interpolates_like_compose(text: &str, want: &str) {
        assert_eq!(interpolate(text, &env()).as_deref(), Ok(want));
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        assert_eq!(
            interpolate("${TOKEN:?set a token}", &env()),
            Err(InterpolationError::Required {
                name: "TOKEN".into(),
                message: "set a token".into()
            })
        );
        assert!(matches!(
            interpolate("${REGION", &env()),
            Err(InterpolationError::Syntax(_))
        ));
        assert!(matches!(
            interpolate("${1A}", &env()),
            Err(InterpolationError::Syntax(_))
        ));
    }

    #[test]
    fn env_files_parse() {
        let got = parse_env_lines("# c\nA=1\nexport B = \"two words\"\nC='x#y'\nD=v # note\nE\n");
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x#y".into()),
                ("D".into(), "v".into()),
                ("E".into(), String::new()),
            ]
        );
    }
}
