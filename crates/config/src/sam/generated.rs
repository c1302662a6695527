//! The resources the SAM transform adds to a template, by the logical ids its documentation
//! gives them ("Generated AWS CloudFormation resources for AWS SAM"), so that templates can
//! reference them as they do on AWS: `!GetAtt HelloWorldFunctionRole.Arn`,
//! `!GetAtt StreamingFunctionUrl.FunctionUrl`, `!Ref ServerlessRestApiProdStage`, and the
//! `!Ref MyFunction.Alias` / `.Version` forms of `AutoPublishAlias`.

use std::collections::BTreeMap;

use super::intrinsic::{Pseudo, ResInfo};
use super::{IMPLICIT_HTTP_API, IMPLICIT_REST_API, Res, synthetic_id};
use crate::node::Node;

/// Event types whose function gets a `<Function><Event>Permission`.
const PERMITTED: &[&str] = &[
    "Api",
    "HttpApi",
    "S3",
    "SNS",
    "Schedule",
    "CloudWatchEvent",
    "EventBridgeRule",
    "CloudWatchLogs",
    "IoTRule",
    "Cognito",
    "AlexaSkill",
];

/// Event types that become a resource named `<Function><Event>`, and its type.
fn event_resource(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "SQS" | "Kinesis" | "DynamoDB" | "MQ" | "MSK" | "SelfManagedKafka" | "DocumentDB" => {
            "AWS::Lambda::EventSourceMapping"
        }
        "Schedule" | "CloudWatchEvent" | "EventBridgeRule" => "AWS::Events::Rule",
        "ScheduleV2" => "AWS::Scheduler::Schedule",
        "SNS" => "AWS::SNS::Subscription",
        "CloudWatchLogs" => "AWS::Logs::SubscriptionFilter",
        "IoTRule" => "AWS::IoT::TopicRule",
        _ => return None,
    })
}

/// A physical name as CloudFormation makes one: `<stack>-<logical id>-<suffix>`.
fn physical_name(stack: &str, id: &str) -> String {
    format!("{stack}-{id}-{}", synthetic_id(stack, id).to_uppercase())
}

/// The literal string at `key` of a resource's properties (not an intrinsic).
fn literal<'n>(props: Option<&'n Node>, key: &str) -> Option<&'n str> {
    props?
        .get(key)
        .filter(|n| n.tag.is_none())
        .and_then(Node::as_str)
}

/// Adds the generated resources of `resources` to `infos`; ids the template declares itself
/// are left as declared.
pub(super) fn add(
    resources: &[Res<'_>],
    infos: &mut BTreeMap<String, ResInfo>,
    stack: &str,
    pseudo: &Pseudo,
) {
    let (region, account) = (&pseudo.region, &pseudo.account_id);
    let mut out: Vec<(String, &str, String)> = Vec::new();
    let mut implicit_rest = false;
    let mut implicit_http = false;
    for r in resources {
        let props = r.node.get("Properties");
        match r.kind.as_str() {
            "AWS::Serverless::Function" => {
                let name = infos
                    .get(&r.id)
                    .map_or_else(|| r.id.clone(), |i| i.ref_value.clone());
                let arn = format!("arn:aws:lambda:{region}:{account}:function:{name}");
                let id = &r.id;
                if props.and_then(|p| p.get("Role")).is_none() {
                    let role = format!("{id}Role");
                    let physical = physical_name(stack, &role);
                    out.push((role, "AWS::IAM::Role", physical));
                }
                if props.and_then(|p| p.get("FunctionUrlConfig")).is_some() {
                    out.push((format!("{id}Url"), "AWS::Lambda::Url", arn.clone()));
                }
                if let Some(alias) = literal(props, "AutoPublishAlias") {
                    out.push((
                        format!("{id}Version"),
                        "AWS::Lambda::Version",
                        format!("{arn}:1"),
                    ));
                    let clean: String = alias.chars().filter(char::is_ascii_alphanumeric).collect();
                    out.push((
                        format!("{id}Alias{clean}"),
                        "AWS::Lambda::Alias",
                        format!("{arn}:{alias}"),
                    ));
                }
                let events = props
                    .and_then(|p| p.get("Events"))
                    .and_then(Node::as_map)
                    .unwrap_or_default();
                for e in events {
                    let Some(ev) = e.key.as_str() else { continue };
                    let event_props = e.value.get("Properties");
                    let Some(kind) = e.value.get("Type").and_then(Node::as_str) else {
                        continue;
                    };
                    if PERMITTED.contains(&kind) {
                        // An Api event's permission names the stage it serves.
                        let stage = if kind == "Api" {
                            match event_props.and_then(|p| p.get("RestApiId")) {
                                None => {
                                    implicit_rest = true;
                                    "Prod".to_owned()
                                }
                                Some(api) => api
                                    .as_str()
                                    .or_else(|| api.get("Ref").and_then(Node::as_str))
                                    .and_then(|api| {
                                        resources.iter().find(|x| x.id == api).and_then(|x| {
                                            literal(x.node.get("Properties"), "StageName")
                                        })
                                    })
                                    .unwrap_or("Prod")
                                    .chars()
                                    .filter(char::is_ascii_alphanumeric)
                                    .collect(),
                            }
                        } else {
                            if kind == "HttpApi"
                                && event_props.and_then(|p| p.get("ApiId")).is_none()
                            {
                                implicit_http = true;
                            }
                            String::new()
                        };
                        out.push((
                            format!("{id}{ev}Permission{stage}"),
                            "AWS::Lambda::Permission",
                            physical_name(stack, &format!("{id}{ev}Permission{stage}")),
                        ));
                    }
                    if let Some(kind) = event_resource(kind) {
                        let own = format!("{id}{ev}");
                        let value = match kind {
                            "AWS::Events::Rule" | "AWS::Scheduler::Schedule" => {
                                physical_name(stack, &own)
                            }
                            "AWS::SNS::Subscription" => format!(
                                "arn:aws:sns:{region}:{account}:{}:{}",
                                physical_name(stack, &own),
                                uuid_like(stack, &own)
                            ),
                            _ => uuid_like(stack, &own),
                        };
                        out.push((own, kind, value));
                    }
                }
            }
            "AWS::Serverless::Api" => {
                let stage: String = literal(props, "StageName")
                    .unwrap_or("Prod")
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                let name = literal(props, "StageName").unwrap_or("Prod").to_owned();
                out.push((
                    format!("{}{stage}Stage", r.id),
                    "AWS::ApiGateway::Stage",
                    name,
                ));
            }
            "AWS::Serverless::HttpApi" => match literal(props, "StageName") {
                None | Some("$default") => out.push((
                    format!("{}ApiGatewayDefaultStage", r.id),
                    "AWS::ApiGatewayV2::Stage",
                    "$default".to_owned(),
                )),
                Some(s) => {
                    let clean: String = s.chars().filter(char::is_ascii_alphanumeric).collect();
                    out.push((
                        format!("{}{clean}Stage", r.id),
                        "AWS::ApiGatewayV2::Stage",
                        s.to_owned(),
                    ));
                }
            },
            _ => {}
        }
    }
    if implicit_rest {
        out.push((
            format!("{IMPLICIT_REST_API}ProdStage"),
            "AWS::ApiGateway::Stage",
            "Prod".into(),
        ));
    }
    if implicit_http {
        out.push((
            format!("{IMPLICIT_HTTP_API}ApiGatewayDefaultStage"),
            "AWS::ApiGatewayV2::Stage",
            "$default".into(),
        ));
    }
    for (id, kind, ref_value) in out {
        infos.entry(id).or_insert_with(|| ResInfo {
            kind: kind.to_owned(),
            ref_value,
        });
    }
}

/// An identifier in a UUID's shape, stable for a stack and logical id (what `!Ref` gives for
/// an event source mapping or a subscription).
fn uuid_like(stack: &str, id: &str) -> String {
    let hex: String = (0..4)
        .flat_map(|i| {
            let h = synthetic_id(stack, &format!("{id}#{i}"));
            h.bytes()
                .map(|b| char::from(b"0123456789abcdef"[usize::from(b) % 16]))
                .collect::<Vec<_>>()
        })
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The id in a function URL's host name: 32 lowercase letters and digits.
pub(super) fn url_id(stack: &str, id: &str) -> String {
    (0..4)
        .map(|i| synthetic_id(stack, &format!("{id}Url#{i}")))
        .collect::<String>()
        .chars()
        .take(32)
        .collect()
}
