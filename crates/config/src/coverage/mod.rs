//! The field-coverage test: every field of every model Meridian accepts (Istio, Kubernetes,
//! Compose, SAM) is either read by a plane or said not to be, with a warning at its
//! `file:line:col`, so that a field can never again be accepted and silently dropped.
//!
//! The fields are not listed by hand: [`trace`] walks each raw type's `Deserialize` impl and
//! records every struct and field it asks for. [`table`] classifies each one; a field the
//! walk meets and the table does not know fails the test with what to do. For each noted
//! field, [`proof`] loads a minimal document that sets it, as `meridian validate` does, and
//! the test looks for the warning at that line.

mod proof;
mod table;
mod trace;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::diag::Severity;
use crate::gateway_api;
use crate::istio::networking::{
    DestinationRuleSpec, GatewaySpec, ServiceEntrySpec, VirtualServiceSpec,
};
use crate::istio::security::{AuthorizationPolicySpec, PeerAuthenticationSpec};
use crate::k8s;
use crate::resource::RawObject;
use crate::sam::raw;
use table::Class;

pub(crate) use crate::compose::service::IGNORED_SERVICE_FIELDS as IGNORED_COMPOSE_FIELDS;
pub(crate) use crate::k8s::deployment::{IGNORED_CONTAINER_FIELDS, IGNORED_POD_FIELDS};

type Walker = fn(&str, &mut trace::Walk) -> Result<(), trace::TraceError>;

fn root<T: DeserializeOwned>(name: &'static str) -> (&'static str, Walker) {
    (name, trace::walk::<T>)
}

/// Every raw type Meridian decodes input into, named by where it sits. A new kind or model
/// is one line here (and its structs in the table).
fn roots() -> Vec<(&'static str, Walker)> {
    vec![
        root::<RawObject<VirtualServiceSpec>>("VirtualService"),
        root::<RawObject<DestinationRuleSpec>>("DestinationRule"),
        root::<RawObject<GatewaySpec>>("Gateway"),
        root::<RawObject<ServiceEntrySpec>>("ServiceEntry"),
        root::<RawObject<PeerAuthenticationSpec>>("PeerAuthentication"),
        root::<RawObject<AuthorizationPolicySpec>>("AuthorizationPolicy"),
        root::<RawObject<gateway_api::GatewayClassSpec>>("GatewayClass"),
        root::<RawObject<gateway_api::GatewaySpec>>("Gateway (gateway.networking.k8s.io)"),
        root::<RawObject<gateway_api::HttpRouteSpec>>("HTTPRoute"),
        root::<RawObject<gateway_api::GrpcRouteSpec>>("GRPCRoute"),
        root::<RawObject<gateway_api::ReferenceGrantSpec>>("ReferenceGrant"),
        root::<RawObject<k8s::service::ServiceSpec>>("Service"),
        root::<RawObject<k8s::deployment::DeploymentSpec>>("Deployment"),
        root::<RawObject<k8s::ingress::IngressSpec>>("Ingress"),
        root::<RawObject<k8s::ingress::IngressClassSpec>>("IngressClass"),
        root::<k8s::service_account::RawServiceAccount>("ServiceAccount"),
        root::<k8s::namespace::RawNamespace>("Namespace"),
        root::<k8s::config_map::RawConfigMap>("ConfigMap"),
        root::<k8s::config_map::RawSecret>("Secret"),
        root::<crate::compose::RawFile>("compose"),
        root::<crate::compose::service::RawService>("compose.services.<name>"),
        root::<raw::TemplateRaw>("template"),
        root::<raw::ParameterRaw>("Parameters.<name>"),
        root::<raw::ResourceRaw>("Resources.<id>"),
        root::<raw::OutputRaw>("Outputs.<name>"),
        root::<raw::FunctionProps>("AWS::Serverless::Function"),
        root::<raw::LayerVersionProps>("AWS::Serverless::LayerVersion"),
        root::<raw::ApiProps>("AWS::Serverless::Api"),
        root::<raw::HttpApiProps>("AWS::Serverless::HttpApi"),
        root::<raw::SimpleTableProps>("AWS::Serverless::SimpleTable"),
        root::<raw::TableProps>("AWS::DynamoDB::Table"),
        root::<crate::sam::bucket::BucketProps>("AWS::S3::Bucket"),
        root::<raw::ApiEventProps>("Events.<name>(Api)"),
        root::<raw::HttpApiEventProps>("Events.<name>(HttpApi)"),
        root::<raw::S3EventProps>("Events.<name>(S3)"),
        root::<raw::DynamoDbEventProps>("Events.<name>(DynamoDB)"),
    ]
}

fn walk_all() -> trace::Walk {
    let mut walk = trace::Walk::default();
    for (name, walker) in roots() {
        if let Err(e) = walker(name, &mut walk) {
            panic!("the walk of {name} stopped: {e}");
        }
    }
    walk
}

/// The table by `Struct.field`; a field classified twice fails here.
fn classified() -> BTreeMap<String, Class> {
    let mut out = BTreeMap::new();
    let mut twice = Vec::new();
    for e in table::entries() {
        for f in e.fields() {
            let key = format!("{}.{f}", e.ty);
            if out.insert(key.clone(), e.class).is_some() {
                twice.push(key);
            }
        }
    }
    assert!(
        twice.is_empty(),
        "classified twice in coverage/table.rs: {twice:?}"
    );
    out
}

#[test]
fn every_accepted_field_is_served_or_noted() {
    let walk = walk_all();
    let table = classified();
    let mut unclassified = Vec::new();
    for (ty, met) in &walk.structs {
        for f in met.fields {
            if !table.contains_key(&format!("{ty}.{f}")) {
                unclassified.push(format!("  {}.{f}  ({ty}.{f})", met.path));
            }
        }
    }
    assert!(
        unclassified.is_empty(),
        "these fields are accepted but nobody said what becomes of them:\n{}\n\
         Classify each in crates/config/src/coverage/table.rs: `served` with the plane that \
         reads it; `noted` with a document that sets it, after adding the warning that says \
         what is missing beside the model (at the field, as unserved.rs does); `inert` when \
         it has no behaviour to serve.",
        unclassified.join("\n")
    );
    let stale: Vec<&String> = table
        .keys()
        .filter(|k| {
            let (ty, f) = k.rsplit_once('.').unwrap_or_default();
            !walk.structs.get(ty).is_some_and(|m| m.fields.contains(&f))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "coverage/table.rs classifies fields no model has (renamed or removed?): {stale:?}"
    );
}

#[test]
fn every_kind_is_walked() {
    let walked: Vec<&str> = roots().iter().map(|(name, _)| *name).collect();
    for kind in crate::resource::Kind::ALL {
        assert!(
            walked.contains(&kind.as_str()),
            "kind {kind} is accepted but its fields are not walked: add \
             `root::<RawObject<Its spec type>>(\"{kind}\")` to roots() in \
             crates/config/src/coverage/mod.rs, then classify what the test lists"
        );
    }
}

#[test]
fn every_classification_says_why() {
    for (key, class) in classified() {
        let why = match class {
            Class::Served(why) | Class::Inert(why) | Class::Within(why) => why,
            Class::Noted(_) | Class::Refused(_) => continue,
        };
        assert!(
            !why.trim().is_empty(),
            "{key} does not say why it is classified so"
        );
    }
}

#[test]
fn every_inside_field_is_inside_a_noted_one() {
    let table = classified();
    for (key, class) in &table {
        if let Class::Within(of) = class {
            assert!(
                matches!(table.get(*of), Some(Class::Noted(_) | Class::Refused(_))),
                "{key} is classified as inside {of}, which is not noted or refused"
            );
        }
    }
}

#[test]
fn every_noted_field_warns_at_its_line() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut failures = Vec::new();
    for e in table::entries() {
        let (doc, severity) = match e.class {
            Class::Noted(doc) => (doc, Severity::Warning),
            Class::Refused(doc) => (doc, Severity::Error),
            _ => continue,
        };
        for field in e.fields() {
            let out = proof::run(doc, dir.path());
            let key = format!("{}.{field}", e.ty);
            let problem = if out.line == 0 {
                Some("its document marks no line with #<".to_owned())
            } else if severity == Severity::Warning
                && out
                    .diagnostics
                    .iter()
                    .any(|d| d.severity == Severity::Error)
            {
                Some("its document does not load without errors".to_owned())
            } else {
                match out.at_field(field) {
                    Some(d) if d.severity == severity => None,
                    Some(d) => Some(format!("the finding at its line is a {:?}", d.severity)),
                    None => Some(format!(
                        "no {severity:?} names {field} at line {}",
                        out.line
                    )),
                }
            };
            if let Some(p) = problem {
                failures.push(format!(
                    "{key}: {p}\n  document:\n{}\n  findings:\n{}",
                    indent(&out.text),
                    out.listing()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn indent(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("    {:>3} {l}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Resource types a template may hold that Meridian does not run: each is a warning at its
/// `Type` (those it runs are the roots above, and the raw API Gateway kinds).
const UNRUN_RESOURCE_TYPES: &[&str] = &[
    "AWS::Serverless::Application",
    "AWS::Serverless::StateMachine",
    "AWS::Serverless::Connector",
    "AWS::Serverless::GraphQLApi",
    "AWS::Serverless::CapacityProvider",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventSourceMapping",
    "AWS::IAM::Role",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Events::Rule",
    "AWS::Logs::LogGroup",
    "AWS::StepFunctions::StateMachine",
];

/// Event types of a function that Meridian does not deliver: each is a warning at its
/// `Type` (Api, HttpApi, S3 and DynamoDB are the roots above).
const UNDELIVERED_EVENT_TYPES: &[&str] = &[
    "Schedule",
    "ScheduleV2",
    "SQS",
    "SNS",
    "Kinesis",
    "EventBridgeRule",
    "CloudWatchEvent",
    "CloudWatchLogs",
    "IoTRule",
    "AlexaSkill",
    "Cognito",
    "MSK",
    "MQ",
    "SelfManagedKafka",
    "DocumentDB",
];

#[test]
fn every_unrun_resource_type_and_undelivered_event_type_warns() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut failures = Vec::new();
    let docs = UNRUN_RESOURCE_TYPES
        .iter()
        .map(|t| format!("R:\n    Type: {t} #<\n    Properties: {{}}"))
        .chain(UNDELIVERED_EVENT_TYPES.iter().map(|t| {
            format!(
                "Fn2:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: index.handler\n      InlineCode: \"def handler(e, c):\\n  return 1\\n\"\n      Events:\n        Ev:\n          Type: {t} #<\n          Properties: {{}}"
            )
        }));
    for resource in docs {
        let text = format!(
            "AWSTemplateFormatVersion: \"2010-09-09\"\nTransform: AWS::Serverless-2016-10-31\nResources:\n  {resource}\n"
        );
        let leaked: &'static str = Box::leak(text.into_boxed_str());
        let out = proof::run(proof::Doc::Yaml(leaked), dir.path());
        let warned = out.at_field("Type").is_some_and(|d| {
            d.severity == Severity::Warning
                && (d.message.contains("not run") || d.message.contains("not delivered"))
        });
        if !warned {
            failures.push(format!(
                "no warning at line {} that it is not run:\n{}\n{}",
                out.line,
                indent(&out.text),
                out.listing()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
