//! APIs written as raw CloudFormation, served like `sam local start-api` serves them: REST
//! APIs (`AWS::ApiGateway::RestApi` with its `Resource` tree, `Method`s whose integration
//! is `AWS_PROXY` to a function of the template, `Stage`/`Deployment` stage names) and HTTP
//! APIs (`AWS::ApiGatewayV2::Api`, with quick create's `Target` or `Route`s whose target is
//! an `Integration`, and `Stage`s). Each becomes the same [`ApiSpec`] and [`ApiRoute`]s an
//! `AWS::Serverless::Api`/`HttpApi` would; what is not served (other integration types,
//! WebSocket APIs, OpenAPI bodies) is a warning at its field.

use std::collections::BTreeMap;

use crate::diag::Findings;
use crate::node::Node;
use crate::path::FieldPath;

use super::spec::{ApiKind, ApiRoute, ApiSpec, FunctionSpec, PayloadFormat, RouteMethod};

/// The kinds this module reads.
pub(super) const KINDS: &[&str] = &[
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Stage",
];

/// One raw API resource: logical id, type, its evaluated properties.
pub(super) struct Raw {
    pub id: String,
    pub kind: String,
    pub props: Node,
}

/// What the raw resources make: the APIs, each route with the function it invokes (an
/// index into the template's functions), and the findings per resource.
#[derive(Default)]
pub(super) struct Resolved {
    pub apis: Vec<ApiSpec>,
    pub routes: Vec<(usize, String, ApiRoute)>,
    pub findings: Vec<(String, Findings)>,
}

fn text<'a>(n: &'a Node, key: &str) -> Option<&'a str> {
    n.get(key).and_then(Node::as_str)
}

/// The function an integration URI or target names: a function ARN, or API Gateway's
/// `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`.
fn function_of(uri: &str, functions: &[FunctionSpec]) -> Option<usize> {
    let arn = uri
        .split_once("/functions/")
        .map_or(uri, |(_, rest)| rest.trim_end_matches("/invocations"));
    let name = arn
        .split_once(":function:")
        .map_or(arn, |(_, n)| n)
        .split(':')
        .next()
        .unwrap_or_default();
    functions
        .iter()
        .position(|f| f.name == name || f.logical_id == name)
}

fn method_of(m: &str) -> Option<RouteMethod> {
    let up = m.to_ascii_uppercase();
    match up.as_str() {
        "ANY" | "X-AMAZON-APIGATEWAY-ANY-METHOD" => Some(RouteMethod::Any),
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" => {
            Some(RouteMethod::Method(up))
        }
        _ => None,
    }
}

/// `GET /items/{id}`, `ANY /{proxy+}` or `$default` as a route's method and path.
fn route_key(key: &str) -> Option<(RouteMethod, Option<String>)> {
    if key == "$default" {
        return Some((RouteMethod::Any, None));
    }
    let (m, p) = key.split_once(' ')?;
    Some((method_of(m)?, Some(p.trim().to_owned())))
}

/// Resolves the raw API resources against the template's functions; `api_id` gives an
/// API's id from its logical id (as `!Ref` gives it).
pub(super) fn resolve(
    raw: &[Raw],
    functions: &[FunctionSpec],
    api_id: impl Fn(&str) -> String,
) -> Resolved {
    let mut out = Resolved::default();
    let props = FieldPath::root().field("Properties");
    // The API a `RestApiId`/`ApiId` names: its logical id, by `!Ref` value or id.
    let api_of = |value: &str, kind: &str| -> Option<String> {
        raw.iter()
            .filter(|r| r.kind == kind)
            .find(|r| api_id(&r.id) == value || r.id == value)
            .map(|r| r.id.clone())
    };
    let stage_of = |api: &str, stage_kind: &str, deployment: bool| -> Option<String> {
        raw.iter()
            .filter(|r| {
                r.kind == stage_kind || (deployment && r.kind == "AWS::ApiGateway::Deployment")
            })
            .filter(|r| {
                let key = if r.kind.starts_with("AWS::ApiGatewayV2") {
                    "ApiId"
                } else {
                    "RestApiId"
                };
                text(&r.props, key).is_some_and(|v| v == api_id(api) || v == api)
            })
            .find_map(|r| text(&r.props, "StageName").map(str::to_owned))
    };

    // What the stages and methods set that is not run here.
    for r in raw {
        let mut f = Findings::new();
        let mut unrun = |field: &'static str, what: &str| {
            if r.props.get(field).is_some() {
                f.warn(&props.field(field), format!("{what} is not applied"));
            }
        };
        match r.kind.as_str() {
            "AWS::ApiGateway::Stage" | "AWS::ApiGateway::Deployment" => {
                unrun(
                    "MethodSettings",
                    "MethodSettings (caching, throttling, logging)",
                );
                unrun("CacheClusterEnabled", "the stage cache");
                unrun(
                    "StageDescription",
                    "StageDescription (caching, throttling, logging)",
                );
            }
            "AWS::ApiGateway::Method" => {
                unrun("RequestValidatorId", "request validation");
                unrun("RequestModels", "request models");
            }
            "AWS::ApiGatewayV2::Route" | "AWS::ApiGatewayV2::Stage" => {
                unrun("AuthorizerId", "the authorizer");
                unrun("DefaultRouteSettings", "DefaultRouteSettings (throttling)");
                unrun("RouteSettings", "RouteSettings (throttling)");
            }
            _ => {}
        }
        out.findings.push((r.id.clone(), f));
    }

    // REST APIs and their resource trees.
    let mut resources: BTreeMap<String, (String, String)> = BTreeMap::new();
    for r in raw.iter().filter(|r| r.kind == "AWS::ApiGateway::Resource") {
        if let (Some(parent), Some(part)) = (text(&r.props, "ParentId"), text(&r.props, "PathPart"))
        {
            resources.insert(r.id.clone(), (parent.to_owned(), part.to_owned()));
        }
    }
    for r in raw.iter().filter(|r| r.kind == "AWS::ApiGateway::RestApi") {
        let mut f = Findings::new();
        for body in ["Body", "BodyS3Location"] {
            if r.props.get(body).is_some() {
                f.warn(
                    &props.field(body),
                    "an OpenAPI definition is not read: only the template's Method resources are served",
                );
            }
        }
        out.apis.push(ApiSpec {
            logical_id: r.id.clone(),
            id: api_id(&r.id),
            kind: ApiKind::Rest,
            stage: stage_of(&r.id, "AWS::ApiGateway::Stage", true).unwrap_or_else(|| "Prod".into()),
            stage_variables: BTreeMap::new(),
            binary_media_types: r
                .props
                .get("BinaryMediaTypes")
                .and_then(Node::as_seq)
                .map(|s| {
                    s.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            implicit: false,
            cors: None,
        });
        out.findings.push((r.id.clone(), f));
    }
    for r in raw.iter().filter(|r| r.kind == "AWS::ApiGateway::Method") {
        let mut f = Findings::new();
        let route = rest_method(r, &resources, functions, &api_of, &api_id, &mut f);
        if let Some((idx, route)) = route {
            out.routes.push((idx, r.id.clone(), route));
        }
        out.findings.push((r.id.clone(), f));
    }

    // HTTP APIs.
    for r in raw.iter().filter(|r| r.kind == "AWS::ApiGatewayV2::Api") {
        let mut f = Findings::new();
        let protocol = text(&r.props, "ProtocolType").unwrap_or("HTTP");
        if protocol != "HTTP" {
            f.warn(
                &props.field("ProtocolType"),
                format!("{protocol} APIs are not served"),
            );
            out.findings.push((r.id.clone(), f));
            continue;
        }
        out.apis.push(ApiSpec {
            logical_id: r.id.clone(),
            id: api_id(&r.id),
            kind: ApiKind::Http,
            stage: stage_of(&r.id, "AWS::ApiGatewayV2::Stage", false)
                .unwrap_or_else(|| "$default".into()),
            stage_variables: BTreeMap::new(),
            binary_media_types: Vec::new(),
            implicit: false,
            cors: r
                .props
                .get("CorsConfiguration")
                .and_then(super::cors::http_cors),
        });
        // Quick create: a `Target` makes a route (`RouteKey`, `$default` without one) to it.
        if let Some(target) = text(&r.props, "Target") {
            match function_of(target, functions) {
                Some(idx) => {
                    let key = text(&r.props, "RouteKey").unwrap_or("$default");
                    match route_key(key) {
                        Some((method, path)) => out.routes.push((
                            idx,
                            r.id.clone(),
                            ApiRoute {
                                event: r.id.clone(),
                                kind: ApiKind::Http,
                                api: r.id.clone(),
                                method,
                                path,
                                payload: PayloadFormat::V2,
                            },
                        )),
                        None => {
                            f.error(
                                &props.field("RouteKey"),
                                format!("invalid route key \"{key}\""),
                            )
                            .hint("write it as \"GET /items\", \"ANY /{proxy+}\" or \"$default\"");
                        }
                    }
                }
                None => {
                    f.warn(
                        &props.field("Target"),
                        format!("the target {target} is no function of this template; its route is not served"),
                    );
                }
            }
        }
        out.findings.push((r.id.clone(), f));
    }
    for r in raw.iter().filter(|r| r.kind == "AWS::ApiGatewayV2::Route") {
        let mut f = Findings::new();
        if let Some(route) = http_route(r, raw, functions, &api_of, &mut f) {
            out.routes.push(route);
        }
        out.findings.push((r.id.clone(), f));
    }
    out
}

/// A REST API method as a route: its resource's path, its `AWS_PROXY` function.
fn rest_method(
    r: &Raw,
    resources: &BTreeMap<String, (String, String)>,
    functions: &[FunctionSpec],
    api_of: &impl Fn(&str, &str) -> Option<String>,
    api_id: &impl Fn(&str) -> String,
    f: &mut Findings,
) -> Option<(usize, ApiRoute)> {
    let props = FieldPath::root().field("Properties");
    let api = text(&r.props, "RestApiId").and_then(|v| api_of(v, "AWS::ApiGateway::RestApi"));
    let Some(api) = api else {
        f.warn(
            &props.field("RestApiId"),
            "RestApiId names no AWS::ApiGateway::RestApi of this template; the method is not served",
        );
        return None;
    };
    let method = text(&r.props, "HttpMethod").and_then(method_of);
    let Some(method) = method else {
        f.error(
            &props.field("HttpMethod"),
            format!(
                "unsupported method {:?}",
                text(&r.props, "HttpMethod").unwrap_or_default()
            ),
        )
        .hint("one of: GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY");
        return None;
    };
    // The path: the resource's parts up to the API's root.
    let root = format!("{}root", api_id(&api));
    let mut parts = Vec::new();
    let mut at = text(&r.props, "ResourceId").unwrap_or_default().to_owned();
    while at != root {
        match resources.get(&at) {
            Some((parent, part)) if parts.len() < 64 => {
                parts.push(part.clone());
                at = parent.clone();
            }
            _ => {
                f.warn(
                    &props.field("ResourceId"),
                    "ResourceId names no resource of the API's tree; the method is not served",
                );
                return None;
            }
        }
    }
    parts.reverse();
    let path = format!("/{}", parts.join("/"));
    let integration = r.props.get("Integration");
    let kind = integration.and_then(|i| text(i, "Type")).unwrap_or("");
    if kind != "AWS_PROXY" {
        f.warn(
            &props.field("Integration").field("Type"),
            format!(
                "{kind:?} integrations are not served (AWS_PROXY to a function of the template is)"
            ),
        );
        return None;
    }
    let uri = integration.and_then(|i| text(i, "Uri")).unwrap_or_default();
    let Some(idx) = function_of(uri, functions) else {
        f.warn(
            &props.field("Integration").field("Uri"),
            format!("{uri} is no function of this template; the method is not served"),
        );
        return None;
    };
    if text(&r.props, "AuthorizationType").is_some_and(|a| a != "NONE") {
        f.warn(
            &props.field("AuthorizationType"),
            "authorizers are not run: the method is served without one",
        );
    }
    Some((
        idx,
        ApiRoute {
            event: r.id.clone(),
            kind: ApiKind::Rest,
            api,
            method,
            path: Some(path),
            payload: PayloadFormat::V1,
        },
    ))
}

/// An HTTP API route whose target is an `AWS_PROXY` integration to a function.
fn http_route(
    r: &Raw,
    raw: &[Raw],
    functions: &[FunctionSpec],
    api_of: &impl Fn(&str, &str) -> Option<String>,
    f: &mut Findings,
) -> Option<(usize, String, ApiRoute)> {
    let props = FieldPath::root().field("Properties");
    let api = text(&r.props, "ApiId").and_then(|v| api_of(v, "AWS::ApiGatewayV2::Api"));
    let Some(api) = api else {
        f.warn(
            &props.field("ApiId"),
            "ApiId names no AWS::ApiGatewayV2::Api of this template; the route is not served",
        );
        return None;
    };
    let key = text(&r.props, "RouteKey").unwrap_or_default();
    let Some((method, path)) = route_key(key) else {
        f.error(
            &props.field("RouteKey"),
            format!("invalid route key \"{key}\""),
        )
        .hint("write it as \"GET /items\", \"ANY /{proxy+}\" or \"$default\"");
        return None;
    };
    let target = text(&r.props, "Target").unwrap_or_default();
    let integration = target.strip_prefix("integrations/").and_then(|id| {
        raw.iter()
            .find(|i| i.kind == "AWS::ApiGatewayV2::Integration" && i.id == id)
    });
    let Some(integration) = integration else {
        f.warn(
            &props.field("Target"),
            format!("the target {target:?} is no integrations/<Integration> of this template; the route is not served"),
        );
        return None;
    };
    let kind = text(&integration.props, "IntegrationType").unwrap_or_default();
    let uri = text(&integration.props, "IntegrationUri").unwrap_or_default();
    let idx = (kind == "AWS_PROXY")
        .then(|| function_of(uri, functions))
        .flatten();
    let Some(idx) = idx else {
        f.warn(
            &props.field("Target"),
            format!("its integration ({kind} {uri}) is not an AWS_PROXY integration to a function of this template; the route is not served"),
        );
        return None;
    };
    let payload = match text(&integration.props, "PayloadFormatVersion") {
        Some("1.0") => PayloadFormat::V1,
        _ => PayloadFormat::V2,
    };
    Some((
        idx,
        r.id.clone(),
        ApiRoute {
            event: r.id.clone(),
            kind: ApiKind::Http,
            api,
            method,
            path,
            payload,
        },
    ))
}
