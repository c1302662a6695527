//! Reading the Dockerfile of a `PackageType: Image` function built on an AWS Lambda base
//! image, so the function runs natively without a container engine.
//!
//! `FROM public.ecr.aws/lambda/<nodejs|python|provided>:<tag>` gives the runtime, `COPY`/`ADD`
//! into `${LAMBDA_TASK_ROOT}` give the code, `ENV` the environment, `WORKDIR` the working
//! directory and `CMD` the handler. Steps that need a real image build (`RUN`, multi-stage
//! `COPY --from`) are reported: the former as a warning, the latter as an error.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Severity};
use crate::node::Span;
use crate::path::FieldPath;

use super::spec::{CodeCopy, ProvidedOs, Runtime};

/// Where Lambda base images put the function code.
pub const TASK_ROOT: &str = "/var/task";
/// Where Lambda base images put the runtime.
pub const RUNTIME_DIR: &str = "/var/runtime";

/// What a Lambda image's Dockerfile says about the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecipe {
    /// The runtime of the base image.
    pub runtime: Runtime,
    /// `CMD` (the handler), if any.
    pub handler: Option<String>,
    /// `ENV` values, in order of declaration, substituted.
    pub env: BTreeMap<String, String>,
    /// `WORKDIR`, relative to the task root (empty for the task root).
    pub workdir: PathBuf,
    /// The files placed into the task root.
    pub copies: Vec<CodeCopy>,
    /// Warnings (accepted, worth a look).
    pub warnings: Vec<Diagnostic>,
}

const SUPPORTED_BASES: &str = "public.ecr.aws/lambda/nodejs:<18|20|22>, \
public.ecr.aws/lambda/python:<3.9..3.13> or public.ecr.aws/lambda/provided:<al2|al2023>";

/// Maps a base image reference to a runtime.
pub fn runtime_of_image(image: &str) -> Result<Runtime, String> {
    let (repo, tag) = split_image(image);
    let family = repo
        .strip_prefix("public.ecr.aws/lambda/")
        .or_else(|| repo.strip_prefix("amazon/aws-lambda-"))
        .ok_or_else(|| {
            format!(
                "base image \"{image}\" is not an AWS Lambda base image; Meridian runs functions \
                 natively from images built FROM {SUPPORTED_BASES}"
            )
        })?;
    let tag = tag.unwrap_or("latest");
    let bad_tag =
        || format!("unsupported tag \"{tag}\" for {repo}; Meridian supports {SUPPORTED_BASES}");
    match family {
        "nodejs" => {
            if tag == "latest" {
                return Ok(Runtime::Node { major: 22 });
            }
            let major: u8 = tag
                .split(['.', '-'])
                .next()
                .and_then(|m| m.parse().ok())
                .ok_or_else(bad_tag)?;
            Runtime::parse(&format!("nodejs{major}.x")).ok_or_else(bad_tag)
        }
        "python" => {
            if tag == "latest" {
                return Ok(Runtime::Python { minor: 13 });
            }
            let mut parts = tag.split(['.', '-']);
            let (Some("3"), Some(minor)) = (parts.next(), parts.next()) else {
                return Err(bad_tag());
            };
            Runtime::parse(&format!("python3.{minor}")).ok_or_else(bad_tag)
        }
        "provided" => {
            if tag == "latest" || tag.starts_with("al2023") {
                Ok(Runtime::Provided(ProvidedOs::Al2023))
            } else if tag.starts_with("al2") {
                Ok(Runtime::Provided(ProvidedOs::Al2))
            } else {
                Err(bad_tag())
            }
        }
        other => Err(format!(
            "the Lambda base image for \"{other}\" is not supported; Meridian runs {SUPPORTED_BASES}"
        )),
    }
}

fn split_image(image: &str) -> (&str, Option<&str>) {
    let image = image.split('@').next().unwrap_or(image);
    // A tag follows the last ':' after the last '/' (a registry port has a '/' after it).
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i + 1..])),
        None => (image, None),
    }
}

struct Reader<'a> {
    file: Arc<Path>,
    context: &'a Path,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn diag(&self, severity: Severity, span: Span, message: String) -> Diagnostic {
        Diagnostic {
            severity,
            file: self.file.clone(),
            span,
            resource: None,
            field: FieldPath::root(),
            message,
            hint: None,
            code: None,
        }
    }

    fn error(&mut self, span: Span, message: String) {
        let d = self.diag(Severity::Error, span, message);
        self.errors.push(d);
    }

    fn warn(&mut self, span: Span, message: String) {
        let d = self.diag(Severity::Warning, span, message);
        self.warnings.push(d);
    }
}

/// One instruction: keyword, arguments, where the arguments start.
pub(crate) struct Instruction {
    pub(crate) keyword: String,
    pub(crate) args: String,
    pub(crate) span: Span,
    pub(crate) args_span: Span,
}

pub(crate) fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut cur: Option<Instruction> = None;
    for (i, line) in text.lines().enumerate() {
        let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || (cur.is_none() && trimmed.is_empty()) {
            continue;
        }
        let (body, continues) = match trimmed.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (trimmed.trim_end(), false),
        };
        match cur.as_mut() {
            Some(ins) => {
                ins.args.push(' ');
                ins.args.push_str(body.trim());
            }
            None => {
                let indent = line.len() - trimmed.len();
                let kw_len = body.find(char::is_whitespace).unwrap_or(body.len());
                let rest = &body[kw_len..];
                let args = rest.trim_start();
                let args_col = indent + kw_len + (rest.len() - args.len());
                cur = Some(Instruction {
                    keyword: body[..kw_len].to_ascii_uppercase(),
                    args: args.to_owned(),
                    span: Span::new(lineno, u32::try_from(indent + 1).unwrap_or(1)),
                    args_span: Span::new(lineno, u32::try_from(args_col + 1).unwrap_or(1)),
                });
            }
        }
        if !continues && let Some(ins) = cur.take() {
            out.push(ins);
        }
    }
    out.extend(cur);
    out
}

/// Substitutes `$VAR`, `${VAR}` and `${VAR:-default}` from `vars`.
pub(crate) fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let rest = &s[i + 1..];
        if let Some(inner) = rest.strip_prefix('{')
            && let Some(end) = inner.find('}')
        {
            let expr = &inner[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(default.unwrap_or_default()),
            }
            for _ in 0..end + 2 {
                chars.next();
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
            continue;
        }
        out.push_str(vars.get(&name).map(String::as_str).unwrap_or_default());
        for _ in 0..name.len() {
            chars.next();
        }
    }
    out
}

/// Splits arguments: the JSON array form (`["a", "b"]`) or whitespace-separated words.
fn words(args: &str) -> Result<Vec<String>, String> {
    let t = args.trim();
    if t.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(t)
            .map_err(|e| format!("invalid JSON array form: {e}"));
    }
    Ok(t.split_whitespace().map(str::to_owned).collect())
}

/// Normalises an absolute image path, resolving `.` and `..`.
fn normalize_abs(p: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(p).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Reads a Lambda image Dockerfile. `context` is the build context (`DockerContext`), and
/// `build_args` the `DockerBuildArgs`.
pub fn read_dockerfile(
    path: &Path,
    context: &Path,
    build_args: &BTreeMap<String, String>,
) -> Result<ImageRecipe, Vec<Diagnostic>> {
    let text = crate::load::read_text(path).map_err(|d| vec![d])?;
    let mut r = Reader {
        file: Arc::from(path),
        context,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut runtime = None;
    let mut handler = None;
    let mut env = BTreeMap::new();
    let mut workdir = PathBuf::from(TASK_ROOT);
    let mut copies = Vec::new();
    let mut warned_run = false;
    let mut saw_from = false;

    for ins in instructions(&text) {
        let args = substitute(&ins.args, &vars);
        match ins.keyword.as_str() {
            "ARG" => {
                let (name, default) = match args.split_once('=') {
                    Some((n, d)) => (n.trim().to_owned(), Some(d.trim().trim_matches('"'))),
                    None => (args.trim().to_owned(), None),
                };
                let v = build_args
                    .get(&name)
                    .cloned()
                    .or_else(|| default.map(str::to_owned))
                    .unwrap_or_default();
                vars.insert(name, v);
            }
            "FROM" => {
                let w: Vec<&str> = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let Some(image) = w.first() else {
                    r.error(ins.span, "FROM needs an image".into());
                    continue;
                };
                saw_from = true;
                // A new stage starts over (multi-stage builds: the last stage is the image).
                env.clear();
                copies.clear();
                handler = None;
                workdir = PathBuf::from(TASK_ROOT);
                vars.insert("LAMBDA_TASK_ROOT".into(), TASK_ROOT.into());
                vars.insert("LAMBDA_RUNTIME_DIR".into(), RUNTIME_DIR.into());
                match runtime_of_image(image) {
                    Ok(rt) => runtime = Some(rt),
                    Err(msg) => {
                        runtime = None;
                        r.error(ins.args_span, msg);
                    }
                }
            }
            "ENV" => {
                for (k, v) in env_pairs(&ins.args) {
                    let v = substitute(&v, &vars);
                    vars.insert(k.clone(), v.clone());
                    env.insert(k, v);
                }
            }
            "WORKDIR" => {
                let p = args.trim();
                workdir = if p.starts_with('/') {
                    normalize_abs(p)
                } else {
                    normalize_abs(&format!("{}/{p}", workdir.display()))
                };
            }
            "COPY" | "ADD" => {
                let mut w = match words(&args) {
                    Ok(w) => w,
                    Err(e) => {
                        r.error(ins.args_span, e);
                        continue;
                    }
                };
                if let Some(from) = w.iter().find(|a| a.starts_with("--from")) {
                    r.error(
                        ins.args_span,
                        format!(
                            "{} {from} copies from another build stage, which needs a container \
                             build; put the built files in the build context instead",
                            ins.keyword
                        ),
                    );
                    continue;
                }
                w.retain(|a| !a.starts_with("--"));
                if w.len() < 2 {
                    r.error(
                        ins.args_span,
                        format!("{} needs a source and a destination", ins.keyword),
                    );
                    continue;
                }
                let dest = w.pop().unwrap_or_default();
                plan_copy(&mut r, &ins, &w, &dest, &workdir, &mut copies);
            }
            "CMD" => match words(&args) {
                Ok(w) if !w.is_empty() => handler = Some(w.join(" ")),
                Ok(_) => r.error(ins.args_span, "CMD needs the handler".into()),
                Err(e) => r.error(ins.args_span, e),
            },
            "RUN" => {
                if !warned_run {
                    warned_run = true;
                    r.warn(
                        ins.span,
                        format!(
                            "RUN steps are not executed: Meridian runs the function from the build \
                             context natively; run \"{}\" there yourself if the code needs it",
                            ins.args.trim()
                        ),
                    );
                }
            }
            "ENTRYPOINT" => r.warn(
                ins.span,
                "ENTRYPOINT is ignored: Meridian starts the base image's runtime itself".into(),
            ),
            "EXPOSE" | "LABEL" | "USER" | "HEALTHCHECK" | "SHELL" | "STOPSIGNAL" | "VOLUME"
            | "ONBUILD" | "MAINTAINER" => {}
            other => r.error(
                ins.span,
                format!("unknown Dockerfile instruction \"{other}\""),
            ),
        }
    }
    if !saw_from {
        r.error(
            Span::new(1, 1),
            "the Dockerfile has no FROM instruction".into(),
        );
    }
    let wd = workdir
        .strip_prefix(TASK_ROOT)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    match runtime {
        Some(runtime) if r.errors.is_empty() => Ok(ImageRecipe {
            runtime,
            handler,
            env,
            workdir: wd,
            copies,
            warnings: r.warnings,
        }),
        _ => {
            let mut all = r.errors;
            all.extend(r.warnings);
            Err(all)
        }
    }
}

pub(crate) fn env_pairs(args: &str) -> Vec<(String, String)> {
    let t = args.trim();
    let first = t.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        // Legacy form: `ENV KEY value with spaces`.
        let value = t[first.len()..].trim().to_owned();
        return vec![(first.to_owned(), value)];
    }
    let mut out = Vec::new();
    let mut rest = t;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_owned();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (q[..end].to_owned(), q.get(end + 1..).unwrap_or_default())
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        out.push((key, value));
        rest = next.trim_start();
    }
    out
}

fn plan_copy(
    r: &mut Reader<'_>,
    ins: &Instruction,
    sources: &[String],
    dest: &str,
    workdir: &Path,
    copies: &mut Vec<CodeCopy>,
) {
    let abs_dest = if dest.starts_with('/') {
        normalize_abs(dest)
    } else {
        normalize_abs(&format!("{}/{dest}", workdir.display()))
    };
    // Base images run the code from the task root; the runtime folder is where a `provided`
    // image's `bootstrap` goes. Both land in the assembled task root.
    let rel = abs_dest
        .strip_prefix(TASK_ROOT)
        .or_else(|_| abs_dest.strip_prefix(RUNTIME_DIR));
    let Ok(rel) = rel else {
        r.error(
            ins.args_span,
            format!(
                "{} destination {} is outside ${{LAMBDA_TASK_ROOT}} ({TASK_ROOT}); Meridian \
                 assembles the function's code from files copied there",
                ins.keyword,
                abs_dest.display()
            ),
        );
        return;
    };
    // The task root (and the WORKDIR) exist in the base image, so a file copied there keeps
    // its name, as Docker does for an existing folder.
    let dest_is_dir = dest.ends_with('/')
        || dest == "."
        || sources.len() > 1
        || rel.as_os_str().is_empty()
        || abs_dest == workdir;
    for src in sources {
        if src.starts_with("http://") || src.starts_with("https://") {
            r.error(
                ins.args_span,
                format!("ADD from a URL ({src}) is not supported; download the file into the build context"),
            );
            continue;
        }
        let matches = expand(r.context, src);
        if matches.is_empty() {
            r.error(
                ins.args_span,
                format!(
                    "{} source \"{src}\" not found in the build context {}",
                    ins.keyword,
                    r.context.display()
                ),
            );
            continue;
        }
        for m in matches {
            let is_dir = m.is_dir();
            let target = if is_dir {
                rel.to_path_buf()
            } else if dest_is_dir || matches_many(src) {
                rel.join(m.file_name().unwrap_or_default())
            } else {
                rel.to_path_buf()
            };
            copies.push(CodeCopy {
                src: m,
                dest: target,
                is_dir,
            });
        }
    }
}

fn matches_many(src: &str) -> bool {
    src.contains(['*', '?'])
}

/// The files a COPY source names: a path, or a `*`/`?` pattern in its last component.
fn expand(context: &Path, src: &str) -> Vec<PathBuf> {
    let rel = src.trim_start_matches("./");
    let full = context.join(rel);
    if !matches_many(rel) {
        return if full.exists() {
            vec![full]
        } else {
            Vec::new()
        };
    }
    let (dir, pattern) = match rel.rsplit_once('/') {
        Some((d, p)) => (context.join(d), p),
        None => (context.to_path_buf(), rel),
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| glob_match(pattern, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_images_map_to_runtimes() {
        let ok = |s: &str| runtime_of_image(s).map(|r| r.to_string());
        assert_eq!(
            ok("public.ecr.aws/lambda/nodejs:18").as_deref(),
            Ok("nodejs18.x")
        );
        assert_eq!(
            ok("public.ecr.aws/lambda/nodejs:20-x86_64").as_deref(),
            Ok("nodejs20.x")
        );
        assert_eq!(
            ok("public.ecr.aws/lambda/python:3.12").as_deref(),
            Ok("python3.12")
        );
        assert_eq!(
            ok("public.ecr.aws/lambda/python:3.11.2024.01.05-arm64").as_deref(),
            Ok("python3.11")
        );
        assert_eq!(
            ok("public.ecr.aws/lambda/provided:al2").as_deref(),
            Ok("provided.al2")
        );
        assert_eq!(
            ok("public.ecr.aws/lambda/provided:al2023").as_deref(),
            Ok("provided.al2023")
        );
        assert_eq!(
            ok("amazon/aws-lambda-nodejs:22").as_deref(),
            Ok("nodejs22.x")
        );
        let e = runtime_of_image("node:18-alpine").expect_err("refused");
        assert!(e.contains("not an AWS Lambda base image"), "{e}");
        assert!(runtime_of_image("public.ecr.aws/lambda/java:21").is_err());
        assert!(runtime_of_image("public.ecr.aws/lambda/nodejs:12").is_err());
    }

    #[test]
    fn substitution_and_env_forms() {
        let mut vars = BTreeMap::new();
        vars.insert("LAMBDA_TASK_ROOT".to_owned(), "/var/task".to_owned());
        assert_eq!(substitute("${LAMBDA_TASK_ROOT}/x", &vars), "/var/task/x");
        assert_eq!(substitute("$LAMBDA_TASK_ROOT/", &vars), "/var/task/");
        assert_eq!(substitute("${NOPE:-d}", &vars), "d");
        assert_eq!(
            env_pairs("A=1 B=\"two words\""),
            vec![("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert_eq!(env_pairs("A one two"), vec![("A".into(), "one two".into())]);
    }

    #[test]
    fn glob() {
        assert!(glob_match("*.js", "index.js"));
        assert!(!glob_match("*.js", "index.py"));
        assert!(glob_match("a?c", "abc"));
    }
}
