//! Reading manifests from files and folders into a [`Bundle`]: every document decoded,
//! validated on its own and then against the others, with every finding located.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Findings, Severity};
use crate::node::{Document, Limits, Node, Span, parse_stream};
use crate::path::FieldPath;
use crate::resource::{Envelope, IgnoredObject, Resource, ResourceId, decode_resource, type_meta};

/// The largest manifest file accepted. Kubernetes stores objects of at most 1.5 MiB; a file of
/// many objects may be bigger, but not by this much.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// What a YAML/JSON file holds, judged from its first document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    /// Kubernetes/Istio objects (`apiVersion` + `kind`).
    Manifest,
    /// A Compose file (`services:`).
    Compose,
    /// An AWS CloudFormation/SAM template.
    CloudFormation,
}

/// One document of a manifest file after loading.
#[derive(Debug, Clone)]
pub struct LoadedDoc {
    /// The file.
    pub file: Arc<Path>,
    /// Index of the document in its file, from 0.
    pub index: usize,
    /// Where the document starts.
    pub span: Span,
    /// What it is, when that could be read.
    pub id: Option<ResourceId>,
    /// The decoded resource (present even with errors when decoding got that far; the
    /// resource is only used when [`LoadedDoc::is_valid`]).
    pub resource: Option<Resource>,
    /// What it is when it is of a kind Meridian does not read (it has no `resource` then).
    pub ignored: Option<IgnoredObject>,
    /// Its node tree, for locating findings of cross-resource checks.
    pub node: Option<Arc<Node>>,
    /// False when a value failed to decode and a placeholder stands in for it in `resource`;
    /// what the cross-resource checks say about such a document is not shown.
    pub complete: bool,
    /// Problems found in it.
    pub diagnostics: Vec<Diagnostic>,
    /// What Meridian serves a Gateway API object as: the Istio Gateways and VirtualServices
    /// Istio's controller would make of it (empty for other kinds).
    pub translated: Vec<Resource>,
}

impl LoadedDoc {
    /// True when the document decoded (or is of a kind Meridian passes over) and has no
    /// errors.
    pub fn is_valid(&self) -> bool {
        (self.resource.is_some() || self.ignored.is_some())
            && !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A file that a folder scan passed over, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// The file.
    pub file: PathBuf,
    /// Why.
    pub reason: String,
}

/// Everything loaded from a set of paths.
#[derive(Debug, Default)]
pub struct Bundle {
    /// Every manifest document, in file order.
    pub docs: Vec<LoadedDoc>,
    /// Problems with whole files (unreadable, not UTF-8, YAML syntax).
    pub file_errors: Vec<Diagnostic>,
    /// Files of other formats found by a folder scan.
    pub skipped: Vec<Skipped>,
    /// Compose files and CloudFormation templates found, for the planes that read them.
    pub other_formats: Vec<(PathBuf, FileFormat)>,
    /// Compose files, loaded (valid or not).
    pub compose: Vec<crate::compose::Loaded>,
    /// SAM/CloudFormation templates: the template, or every problem found in it.
    pub templates: Vec<(PathBuf, Result<crate::sam::Template, Vec<Diagnostic>>)>,
    /// Terraform root modules (a folder of `.tf` files each), loaded (valid or not).
    pub terraform: Vec<crate::terraform::Loaded>,
    /// Azure Functions apps (a folder holding `host.json`, or an image's Dockerfile built on
    /// Azure Functions' base images), loaded (valid or not).
    pub azure: Vec<crate::azure::Loaded>,
    /// The files whose content makes this configuration: every manifest, template and
    /// Terraform file read, and the variables and template files beside a Terraform module.
    /// Files of a folder scan that are no configuration (logs, scripts) are not inputs.
    pub inputs: Vec<PathBuf>,
}

impl Bundle {
    /// The resources of valid documents.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.docs
            .iter()
            .filter(|d| d.is_valid())
            .filter_map(|d| d.resource.as_ref())
    }

    /// What is served: the resources of valid documents and what their Gateway API objects
    /// translate to, each with the document it comes from.
    pub fn served(&self) -> impl Iterator<Item = (&LoadedDoc, &Resource)> {
        self.docs
            .iter()
            .filter(|d| d.is_valid())
            .flat_map(|d| d.resource.iter().chain(&d.translated).map(move |r| (d, r)))
    }

    /// Every diagnostic: file errors first, then per manifest document, Compose file and
    /// template, in order.
    pub fn diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.file_errors
            .iter()
            .chain(self.docs.iter().flat_map(|d| d.diagnostics.iter()))
            .chain(self.compose.iter().flat_map(|c| c.diagnostics.iter()))
            .chain(self.templates.iter().flat_map(|(_, t)| match t {
                Ok(t) => t.warnings.iter(),
                Err(d) => d.iter(),
            }))
            .chain(self.terraform.iter().flat_map(|t| t.diagnostics.iter()))
            .chain(self.azure.iter().flat_map(|a| a.diagnostics.iter()))
    }

    /// The valid Azure Functions apps.
    pub fn function_apps(&self) -> impl Iterator<Item = &crate::azure::FunctionApp> {
        self.azure.iter().filter_map(crate::azure::Loaded::valid)
    }

    /// The valid Terraform root modules.
    pub fn terraform_modules(&self) -> impl Iterator<Item = &crate::terraform::Module> {
        self.terraform
            .iter()
            .filter_map(crate::terraform::Loaded::valid)
    }

    /// The valid Compose files.
    pub fn compose_files(&self) -> impl Iterator<Item = &crate::compose::ComposeFile> {
        self.compose
            .iter()
            .filter_map(crate::compose::Loaded::valid)
    }

    /// The valid SAM templates.
    pub fn sam_templates(&self) -> impl Iterator<Item = &crate::sam::Template> {
        self.templates.iter().filter_map(|(_, t)| t.as_ref().ok())
    }

    /// Number of errors (not warnings).
    pub fn error_count(&self) -> usize {
        self.diagnostics().filter(|d| d.is_error()).count()
    }

    /// True when nothing is wrong: the bundle may become a snapshot.
    pub fn is_valid(&self) -> bool {
        self.error_count() == 0
    }
}

/// Options for loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Parser limits.
    pub limits: Limits,
    /// Values for templates' pseudo parameters and parameter overrides.
    pub template: crate::sam::TemplateOptions,
    /// Variables for `${VAR}` interpolation in Compose files; the process environment when
    /// `None`.
    pub compose_env: Option<crate::compose::Environment>,
    /// Terraform inputs (`-var`, `-var-file`, `TF_VAR_*`), account and default region.
    pub terraform: crate::terraform::Options,
    /// Objects of kinds Meridian does not read are errors rather than warnings.
    pub strict: bool,
}

/// Loads files and folders (folders recursively, `*.yaml`, `*.yml`, `*.json`; each folder
/// holding `.tf` or `.tf.json` files is a Terraform root module), then runs the
/// cross-resource analysis.
pub fn load_paths(paths: &[PathBuf], opts: LoadOptions) -> Bundle {
    let mut bundle = Bundle::default();
    let mut tf_files: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files = Vec::new();
            collect_dir(p, &mut files, &mut bundle);
            files.sort();
            for f in files {
                if crate::terraform::is_tf(&f) {
                    tf_files.push(f);
                } else {
                    load_file(&f, true, &opts, &mut bundle);
                    bundle.inputs.push(f);
                }
            }
        } else if crate::terraform::is_tf(p) {
            tf_files.push(p.clone());
        } else {
            load_file(p, false, &opts, &mut bundle);
            bundle.inputs.push(p.clone());
        }
    }
    for dir in tf_files.iter().filter_map(|f| f.parent()) {
        let beside = fs::read_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        });
        for entry in beside.into_iter().flatten().flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let terraform_input = [
                ".tf",
                ".tf.json",
                ".tfvars",
                ".tfvars.json",
                ".tftpl",
                ".tpl",
            ]
            .iter()
            .any(|ext| name.ends_with(ext));
            if terraform_input && entry.file_type().is_ok_and(|t| t.is_file()) {
                bundle.inputs.push(entry.path());
            }
        }
    }
    bundle.inputs.sort();
    bundle.inputs.dedup();
    load_terraform(tf_files, &opts, &mut bundle);
    crate::analyze::analyze(&mut bundle);
    crate::k8s::ingress::serve(&mut bundle, opts.strict);
    bundle
}

/// Groups `.tf` files by folder (one module each) and loads every folder that no other
/// loaded module calls as a child module.
fn load_terraform(mut files: Vec<PathBuf>, opts: &LoadOptions, bundle: &mut Bundle) {
    files.sort();
    files.dedup();
    let mut by_dir: Vec<(PathBuf, Vec<crate::terraform::Source>)> = Vec::new();
    for f in files {
        let dir = f
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let text = match read_text(&f) {
            Ok(t) => t,
            Err(d) => {
                bundle.file_errors.push(d);
                continue;
            }
        };
        let src = crate::terraform::Source { path: f, text };
        match by_dir.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, v)) => v.push(src),
            None => by_dir.push((dir, vec![src])),
        }
    }
    let mut configs = Vec::new();
    for (dir, sources) in &by_dir {
        let mut diags = Vec::new();
        let cfg = crate::terraform::read_config(dir, sources, &mut diags);
        configs.push((cfg, diags));
    }
    // Folders that a loaded module calls are that module's business, not roots.
    let called: Vec<PathBuf> = configs
        .iter()
        .flat_map(|(c, _)| {
            c.modules
                .iter()
                .filter_map(|m| m.source.as_ref()?.canonicalize().ok())
        })
        .collect();
    for (cfg, diags) in configs {
        let canon = cfg.dir.canonicalize().unwrap_or_else(|_| cfg.dir.clone());
        if called.contains(&canon) {
            continue;
        }
        bundle.terraform.push(crate::terraform::evaluate_root(
            &cfg,
            diags,
            &opts.terraform,
        ));
    }
}

/// Loads manifests from text (`-f -`, tests, the admin API). A `.tf`/`.tf.json` path is read
/// as a Terraform module of that one file.
pub fn load_str(file: &Path, text: &str, opts: LoadOptions) -> Bundle {
    let mut bundle = Bundle::default();
    if crate::terraform::is_tf(file) {
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let src = crate::terraform::Source {
            path: file.to_path_buf(),
            text: text.to_owned(),
        };
        bundle.terraform.push(crate::terraform::load_sources(
            &dir,
            &[src],
            &opts.terraform,
        ));
        return bundle;
    }
    load_text(Arc::from(file), text, false, &opts, &mut bundle);
    crate::analyze::analyze(&mut bundle);
    crate::k8s::ingress::serve(&mut bundle, opts.strict);
    bundle
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>, bundle: &mut Bundle) {
    // A function app is read as a whole: its JSON files are no manifests.
    if crate::azure::is_app_root(dir) {
        let app = crate::azure::load_app(dir);
        bundle.inputs.extend(app.inputs.iter().cloned());
        bundle.azure.push(app);
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            bundle.file_errors.push(file_error(
                dir,
                Span::default(),
                format!("cannot read folder: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "node_modules" || name == "target" {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_dir(&path, out, bundle),
            Ok(_) => {
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or_default();
                // Variables files are inputs of the Terraform module beside them.
                let tfvars = name.ends_with(".tfvars.json");
                if (matches!(ext, "yaml" | "yml" | "json") && !tfvars)
                    || crate::terraform::is_tf(&path)
                {
                    out.push(path);
                } else if ext == "sh" {
                    bundle.skipped.push(Skipped {
                        file: path,
                        reason: "a shell script: Meridian reads configuration files and does not run scripts"
                            .into(),
                    });
                }
            }
            Err(_) => {}
        }
    }
}

/// Why a file of a folder scan is not read, in the words of what it is.
fn skip_reason(file: &Path, text: &str) -> String {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name == "function.json" && text.contains("\"bindings\"") {
        "an Azure Functions binding file outside a function app: put a host.json (version 2.0) in the app's folder".into()
    } else if text.contains("scrape_configs") {
        "a Prometheus configuration: Meridian does not run Prometheus; point it at the admin address's /metrics and /federate".into()
    } else {
        "not a Kubernetes/Istio manifest, Compose file or SAM template".into()
    }
}

/// Files that tools keep beside code (npm, TypeScript, linters), never configuration.
fn is_tooling_file(file: &Path) -> bool {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    matches!(
        name,
        "package.json"
            | "package-lock.json"
            | "npm-shrinkwrap.json"
            | "tsconfig.json"
            | "jsconfig.json"
            | "composer.json"
            | "composer.lock"
            | ".eslintrc.json"
            | ".prettierrc.json"
    )
}

fn file_error(file: &Path, span: Span, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: Arc::from(file),
        span,
        resource: None,
        field: FieldPath::root(),
        message,
        hint: None,
        code: None,
    }
}

/// Reads a file as UTF-8 text within the size limit.
// A diagnostic is the whole point of the error path here, and it happens once per file.
#[allow(clippy::result_large_err)]
pub fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let err = |span, msg: String| file_error(path, span, msg);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let what = if crate::terraform::is_tf(path) || name.contains(".tfvars") {
        "a Terraform file"
    } else {
        "a manifest file"
    };
    let file =
        fs::File::open(path).map_err(|e| err(Span::default(), format!("cannot read file: {e}")))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_FILE_BYTES {
        return Err(err(
            Span::new(1, 1),
            format!(
                "file is {:.1} MiB, larger than the {} MiB limit for {what}",
                len as f64 / 1_048_576.0,
                MAX_FILE_BYTES / 1_048_576
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // Read one byte past the limit so a file that grows while being read is still refused.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(Span::default(), format!("cannot read file: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(err(
            Span::new(1, 1),
            format!(
                "file is larger than the {} MiB limit for {what}",
                MAX_FILE_BYTES / 1_048_576
            ),
        ));
    }
    decode_utf8(bytes).map_err(|(span, msg)| err(span, msg))
}

/// Bytes to text, with the position of the first invalid byte.
pub fn decode_utf8(mut bytes: Vec<u8>) -> Result<String, (Span, String)> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err((Span::new(1, 1), "file is UTF-16; save it as UTF-8".into()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // `valid` is valid UTF-8 by construction.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        let line = prefix.matches('\n').count() + 1;
        let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let bad = e.as_bytes()[e.utf8_error().valid_up_to()];
        (
            Span::new(
                u32::try_from(line).unwrap_or(u32::MAX),
                u32::try_from(col).unwrap_or(u32::MAX),
            ),
            format!("invalid UTF-8 (byte 0x{bad:02x}); manifests must be UTF-8 text"),
        )
    })
}

fn load_file(path: &Path, from_scan: bool, opts: &LoadOptions, bundle: &mut Bundle) {
    match read_text(path) {
        Ok(text) => load_text(Arc::from(path), &text, from_scan, opts, bundle),
        Err(d) => bundle.file_errors.push(d),
    }
}

/// Judges a file's format from its first non-empty document.
pub fn detect_format(docs: &[Document]) -> Option<FileFormat> {
    let root = docs.iter().find_map(|d| d.root.as_ref())?;
    root.as_map()?;
    if root.get("apiVersion").is_some() || root.get("kind").is_some() {
        return Some(FileFormat::Manifest);
    }
    if root.get("AWSTemplateFormatVersion").is_some()
        || root.get("Transform").is_some()
        || root.get("Resources").is_some()
    {
        return Some(FileFormat::CloudFormation);
    }
    if root.get("services").is_some() {
        return Some(FileFormat::Compose);
    }
    None
}

fn load_text(
    file: Arc<Path>,
    text: &str,
    from_scan: bool,
    opts: &LoadOptions,
    bundle: &mut Bundle,
) {
    let docs = match parse_stream(text, opts.limits) {
        Ok(d) => d,
        Err(e) => {
            bundle
                .file_errors
                .push(file_error(&file, e.span, e.message));
            return;
        }
    };
    match detect_format(&docs) {
        Some(FileFormat::Manifest) => {}
        Some(FileFormat::Compose) => {
            bundle
                .other_formats
                .push((file.to_path_buf(), FileFormat::Compose));
            let env = opts
                .compose_env
                .clone()
                .unwrap_or_else(crate::compose::Environment::from_process);
            bundle
                .compose
                .push(crate::compose::parse_str(&file, text, &env));
            return;
        }
        Some(FileFormat::CloudFormation) => {
            bundle
                .other_formats
                .push((file.to_path_buf(), FileFormat::CloudFormation));
            let t = crate::sam::load_template_str(&file, text, &opts.template);
            bundle.templates.push((file.to_path_buf(), t));
            return;
        }
        None if from_scan => {
            // A package manager's or compiler's own files beside function code are what they
            // say they are; any other file is named, so nothing is skipped without a word.
            if !is_tooling_file(&file) {
                bundle.skipped.push(Skipped {
                    file: file.to_path_buf(),
                    reason: skip_reason(&file, text),
                });
            }
            return;
        }
        None => {}
    }
    for (index, doc) in docs.into_iter().enumerate() {
        let Some(root) = doc.root else { continue };
        let mut f = Findings::new();
        let (id, decoded, ignored) = match type_meta(&root, opts.strict, &mut f) {
            Envelope::Known(tm) => {
                let r = decode_resource(&root, &tm, &mut f);
                (Some(tm.id), r, None)
            }
            Envelope::Ignored(o) => (None, None, Some(o)),
            Envelope::Broken => (None, None, None),
        };
        let complete = decoded.as_ref().is_some_and(|d| d.complete);
        let resource = decoded.map(|d| d.resource);
        let label = id
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| ignored.as_ref().map(ToString::to_string));
        // What is accepted but not served, once the document is valid (an invalid one is
        // not served at all).
        if let Some(r) = resource.as_ref().filter(|_| !f.has_errors()) {
            crate::unserved::check(r, &mut f);
        }
        let diagnostics = f.locate(&file, &root, label.as_deref());
        bundle.docs.push(LoadedDoc {
            file: file.clone(),
            index,
            span: doc.span,
            id,
            resource,
            ignored,
            node: Some(Arc::new(root)),
            complete,
            diagnostics,
            translated: Vec::new(),
        });
    }
}
