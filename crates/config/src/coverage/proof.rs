//! Minimal documents that set one field, so the test can run them through the same loading
//! `meridian validate` does and look for the warning at that field's line. The field's line is
//! the one that ends with the marker `#<`.

use std::path::Path;

use crate::diag::Diagnostic;
use crate::load::{LoadOptions, load_str};
use crate::path::Seg;

/// Ends the line of the field a document is about.
pub(super) const MARK: &str = "#<";

/// A document that sets a field: a whole one, or one line in a small valid document.
#[derive(Debug, Clone, Copy)]
pub(super) enum Doc {
    /// A whole document; the field's line ends with [`MARK`].
    Yaml(&'static str),
    /// A line of a Deployment's pod spec.
    Pod(&'static str),
    /// A line of the Deployment's container.
    Container(&'static str),
    /// A line of a Service's spec.
    Service(&'static str),
    /// A line of a Service's port.
    ServicePort(&'static str),
    /// A line of a ServiceAccount.
    ServiceAccount(&'static str),
    /// A line of a Compose service.
    Compose(&'static str),
    /// A line of a Compose service's `deploy`.
    ComposeDeploy(&'static str),
    /// A line at the top level of a Compose file.
    ComposeTop(&'static str),
    /// A line of an `AWS::Serverless::Function`'s properties.
    Function(&'static str),
    /// A line of the properties of a resource of this type (beside what it needs to load).
    Resource(&'static str, &'static str),
    /// A line of the properties of an event of this type.
    Event(&'static str, &'static str),
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        command: [sleep, \"1\"]
        ports: [{containerPort: 8080}]
        CONTAINER
      POD
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    PORT
  SPEC
";

const SERVICE_ACCOUNT: &str = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reviews
LINE
";

const COMPOSE: &str = "\
services:
  web:
    command: [sleep, \"1\"]
    deploy:
      replicas: 1
      DEPLOY
    SERVICE
TOP
";

const TEMPLATE: &str = "\
AWSTemplateFormatVersion: \"2010-09-09\"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: \"def handler(event, context):\\n  return 1\\n\"
      FUNCTION
      Events:
        Ev:
          Type: EVENT_TYPE
          Properties:
            EVENT_PROPS
            EVENT
  RESOURCE
";

/// What a resource of each type needs beside the line under test to load without errors.
fn resource_base(kind: &str) -> &'static str {
    match kind {
        "AWS::DynamoDB::Table" => {
            "AttributeDefinitions: [{AttributeName: id, AttributeType: S}]\n      KeySchema: [{AttributeName: id, KeyType: HASH}]\n      BillingMode: PAY_PER_REQUEST"
        }
        "AWS::Serverless::LayerVersion" => "ContentUri: .",
        "AWS::Serverless::Api" => "StageName: Prod",
        _ => "",
    }
}

/// What an event of each type needs beside the line under test.
fn event_base(kind: &str) -> &'static str {
    match kind {
        "Api" | "HttpApi" => "Path: /\n            Method: get",
        _ => "{}",
    }
}

impl Doc {
    /// The document's text, with the field's line marked.
    pub(super) fn text(self) -> String {
        let mark = |line: &str| format!("{line} {MARK}");
        let fill = |base: &str, slot: &str, line: &str| {
            let mut out = String::new();
            for l in base.lines() {
                if l.trim() == slot {
                    out.push_str(&l.replace(slot, &mark(line)));
                    out.push('\n');
                } else if l.trim().chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    && !l.trim().is_empty()
                {
                    // Another slot: left empty.
                } else {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            out
        };
        match self {
            Doc::Yaml(text) => text.to_owned(),
            Doc::Pod(line) => fill(DEPLOYMENT, "POD", line),
            Doc::Container(line) => fill(DEPLOYMENT, "CONTAINER", line),
            Doc::Service(line) => fill(SERVICE, "SPEC", line),
            Doc::ServicePort(line) => fill(SERVICE, "PORT", line),
            Doc::ServiceAccount(line) => fill(SERVICE_ACCOUNT, "LINE", line),
            Doc::Compose(line) => fill(COMPOSE, "SERVICE", line),
            Doc::ComposeDeploy(line) => fill(COMPOSE, "DEPLOY", line),
            Doc::ComposeTop(line) => fill(COMPOSE, "TOP", line),
            Doc::Function(line) => fill(
                &TEMPLATE
                    .replace("EVENT_TYPE", "Api")
                    .replace("EVENT_PROPS", event_base("Api")),
                "FUNCTION",
                line,
            ),
            Doc::Resource(kind, line) => {
                let base = resource_base(kind);
                let resource = if base.is_empty() {
                    format!("R:\n    Type: {kind}\n    Properties:\n      PROPS")
                } else {
                    format!("R:\n    Type: {kind}\n    Properties:\n      {base}\n      PROPS")
                };
                let base = TEMPLATE
                    .replace("EVENT_TYPE", "Api")
                    .replace("EVENT_PROPS", event_base("Api"))
                    .replace("RESOURCE", &resource);
                fill(&base, "PROPS", line)
            }
            Doc::Event(kind, line) => fill(
                &TEMPLATE
                    .replace("EVENT_TYPE", kind)
                    .replace("EVENT_PROPS", event_base(kind)),
                "EVENT",
                line,
            ),
        }
    }

    /// The file name the document is loaded as (a template wants a folder of its own, for
    /// the code paths it may name).
    fn file(self) -> &'static str {
        match self {
            Doc::Compose(_) | Doc::ComposeDeploy(_) | Doc::ComposeTop(_) => "compose.yaml",
            Doc::Function(_) | Doc::Resource(..) | Doc::Event(..) => "template.yaml",
            _ => "manifest.yaml",
        }
    }
}

/// What loading a document said, and the line of its marked field.
pub(super) struct Outcome {
    pub(super) text: String,
    pub(super) line: u32,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    /// Every diagnostic, one per line, for a failure message.
    pub(super) fn listing(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| {
                format!(
                    "    {:?} {}:{} {}: {}",
                    d.severity, d.span.line, d.span.col, d.field, d.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The diagnostic at the marked line whose field path names `field`.
    pub(super) fn at_field(&self, field: &str) -> Option<&Diagnostic> {
        self.diagnostics.iter().find(|d| {
            d.span.line == self.line
                && d.field
                    .segments()
                    .iter()
                    .any(|s| matches!(s, Seg::Field(name) if name == field))
        })
    }
}

/// Loads `doc` as `meridian validate` loads a file.
pub(super) fn run(doc: Doc, dir: &Path) -> Outcome {
    let text = doc.text();
    let line = text
        .lines()
        .position(|l| l.trim_end().ends_with(MARK))
        .and_then(|i| u32::try_from(i + 1).ok())
        .unwrap_or(0);
    let bundle = load_str(&dir.join(doc.file()), &text, LoadOptions::default());
    Outcome {
        line,
        diagnostics: bundle.diagnostics().cloned().collect(),
        text,
    }
}
