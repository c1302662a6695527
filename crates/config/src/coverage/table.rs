//! Every field of every accepted model, by the Rust name of the struct that declares it (a
//! name two models share is written `Name@Root`, the root of the walk that met it second),
//! and what becomes of it. The test fails on a field missing here, on an entry naming no
//! field, and on a noted field whose document does not warn at its line.

use super::proof::Doc::{
    self, Compose, ComposeDeploy, ComposeTop, Container, Event, Function, Pod, Resource, Service,
    ServiceAccount, ServicePort, Yaml,
};

/// What becomes of a field.
#[derive(Debug, Clone, Copy)]
pub(super) enum Class {
    /// Read by a plane: which one, for what.
    Served(&'static str),
    /// Accepted and not served: the document sets it and a warning at its line says so.
    Noted(Doc),
    /// Refused: the document sets it and an error at its line says so.
    Refused(Doc),
    /// Nothing to serve: descriptions, tags, what only an API server or a cloud reads.
    Inert(&'static str),
    /// Inside a field that is noted or refused as a whole (`Struct.field`).
    Within(&'static str),
}

/// Fields of one struct that share a class.
pub(super) struct Entry {
    pub(super) ty: &'static str,
    fields: Fields,
    pub(super) class: Class,
}

enum Fields {
    Many(&'static [&'static str]),
    One(&'static str),
}

impl Entry {
    pub(super) fn fields(&self) -> &[&'static str] {
        match &self.fields {
            Fields::Many(list) => list,
            Fields::One(field) => std::slice::from_ref(field),
        }
    }
}

/// Served by the gateway through the Gateway API's translation.
const GATEWAY_API: &str = "Gateway API: the gateway serves it as Istio's translation of it";

const fn served(ty: &'static str, fields: &'static [&'static str], by: &'static str) -> Entry {
    Entry {
        ty,
        fields: Fields::Many(fields),
        class: Class::Served(by),
    }
}

const fn inert(ty: &'static str, fields: &'static [&'static str], why: &'static str) -> Entry {
    Entry {
        ty,
        fields: Fields::Many(fields),
        class: Class::Inert(why),
    }
}

const fn within(ty: &'static str, fields: &'static [&'static str], of: &'static str) -> Entry {
    Entry {
        ty,
        fields: Fields::Many(fields),
        class: Class::Within(of),
    }
}

const fn noted(ty: &'static str, field: &'static str, doc: Doc) -> Entry {
    Entry {
        ty,
        fields: Fields::One(field),
        class: Class::Noted(doc),
    }
}

const fn refused(ty: &'static str, field: &'static str, doc: Doc) -> Entry {
    Entry {
        ty,
        fields: Fields::One(field),
        class: Class::Refused(doc),
    }
}

const ROUTES: &str = "proxy: HTTP routing (control/snapshot/compile.rs, route.rs)";
const CLUSTERS: &str = "proxy: upstream clusters (control/snapshot/cluster.rs)";
const GATEWAY: &str = "proxy: ingress gateway (control/snapshot/compile.rs, gateway.rs)";
const AUTHZ: &str = "proxy: authorization (control/snapshot/authz.rs)";
const PEER_AUTHN: &str = "proxy: inbound mTLS (control/snapshot/peer_authn.rs)";
const ENTRIES: &str = "proxy: destinations outside the workloads (control/snapshot/compile.rs)";
const ENVELOPE: &str = "config: the object's kind, name, namespace and labels";
const SERVICES: &str = "proxy: service ports and endpoints (control/snapshot/compile.rs)";
const WORKLOADS: &str = "workloads: replicas, rollout and probes (workloads/src/workload.rs)";
const ENV: &str = "workloads: the replicas' environment (workloads/src/environment.rs)";
const COMPOSE: &str = "workloads: Compose services as process workloads";
const TEMPLATE: &str = "config: the template's evaluation (sam/mod.rs, sam/intrinsic.rs)";
const FUNCTIONS: &str = "functions: the Lambda runtime host (functions/src)";
const APIS: &str = "proxy: the API gateway's routes to functions";
const TABLES: &str = "storage: DynamoDB tables (storage/src)";
const BUCKETS: &str = "storage: S3 buckets and their notifications";
const STREAMS: &str = "functions: stream event source mappings";
const API_SERVER: &str =
    "written by a Kubernetes API server; a file given to Meridian has no server behind it";
const LABEL: &str = "a name or description for people and consoles; no behaviour hangs on it";
const CLOUD_TAGS: &str = "tags for AWS billing and consoles; no behaviour hangs on them";
const NO_IMAGES: &str = "Meridian runs a container's command as a process and pulls no image; a container without a command is an error that names its image";
const STACK: &str = "how CloudFormation creates, updates and deletes the stack; a local run has no stack operations";

const VS_TCP: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: db
spec:
  hosts: [db]
  tcp:
  - route: [{destination: {host: db}}] #<
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {selector: {app: db}, ports: [{port: 5432, name: tcp}]}
";

const VS_TLS: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: db
spec:
  hosts: [db]
  tls:
  - match: [{sniHosts: [db]}] #<
    route: [{destination: {host: db}}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {selector: {app: db}, ports: [{port: 5432, name: tls}]}
";

const VS_HTTP: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts: [web]
  http:
  - match:
    - uri: {prefix: /}
      MATCH
    ROUTE
    route: [{destination: {host: web}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, name: http}]}
";

/// `VS_HTTP` with `line` in its match (`MATCH`) or in its route (`ROUTE`), marked.
fn vs_http(slot: &str, line: &str) -> &'static str {
    let text: String = VS_HTTP
        .lines()
        .filter_map(|l| match l.trim() {
            s if s == slot => Some(format!("{}{line} #<\n", &l[..l.len() - s.len()])),
            "MATCH" | "ROUTE" => None,
            _ => Some(format!("{l}\n")),
        })
        .collect();
    Box::leak(text.into_boxed_str())
}

const DR: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web
spec:
  host: web
  trafficPolicy:
    LINE
";

const DR_EXPORT: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web
spec:
  host: web
  exportTo: [.] #<
";

const DR_SELECTOR: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web
spec:
  host: web
  workloadSelector: {matchLabels: {app: client}} #<
";

fn dr(line: &str) -> &'static str {
    Box::leak(DR.replace("LINE", &format!("{line} #<")).into_boxed_str())
}

const GW: &str = "\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, protocol: HTTP, name: http}
    hosts: ['*']
    LINE
";

fn gw(line: &str) -> &'static str {
    Box::leak(GW.replace("LINE", &format!("{line} #<")).into_boxed_str())
}

const SE: &str = "\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
spec:
  hosts: [ext.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - address: 10.0.0.1
    ENDPOINT
  SPEC
";

fn se(spec: &str, endpoint: &str) -> &'static str {
    let mark = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("{s} #<")
        }
    };
    Box::leak(
        SE.replace("SPEC", &mark(spec))
            .replace("ENDPOINT", &mark(endpoint))
            .into_boxed_str(),
    )
}

const AP: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ap
spec:
  LINE
  rules: [{to: [{operation: {paths: [/admin]}}]}]
";

fn ap(line: &str) -> &'static str {
    Box::leak(AP.replace("LINE", &format!("{line} #<")).into_boxed_str())
}

const NAMESPACE_META: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  generateName: shop- #<
";

const AP_CUSTOM: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ap
spec:
  action: CUSTOM
  provider: {name: ext-authz} #<
  rules: [{to: [{operation: {paths: [/admin]}}]}]
";

const TEMPLATE_TOP: &str = "\
AWSTemplateFormatVersion: \"2010-09-09\"
Transform: AWS::Serverless-2016-10-31
Rules: #<
  Always: {Assertions: [{Assert: {\"Fn::Equals\": [a, a]}}]}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.12, Handler: index.handler, InlineCode: \"def handler(e, c):\\n  return 1\\n\"}
";

const TEMPLATE_GLOBALS: &str = "\
AWSTemplateFormatVersion: \"2010-09-09\"
Transform: AWS::Serverless-2016-10-31
Globals:
  LayerVersion: {RetentionPolicy: Retain} #1
  StateMachine: {Tracing: {Enabled: true}} #2
  CapacityProvider: {} #3
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.12, Handler: index.handler, InlineCode: \"def handler(e, c):\\n  return 1\\n\"}
";

fn globals(n: &str) -> &'static str {
    let text: String = TEMPLATE_GLOBALS
        .lines()
        .map(|l| match l.rsplit_once(" #") {
            Some((body, tag)) if tag == n => format!("{body} #<\n"),
            Some((body, _)) => format!("{body}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    Box::leak(text.into_boxed_str())
}

/// The classification. Adding a kind: walk its raw type in `mod.rs` (one line) and add its
/// structs here.
/// A Gateway API Gateway of Istio's class with one HTTP listener; `SPEC` is a line of its
/// spec, `LISTENER` one of its listener.
const K8S_GW: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: istio
  SPEC
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    LISTENER
";

fn k8s_gw_spec(line: &str) -> &'static str {
    let doc = K8S_GW
        .replace("SPEC", &format!("{line} #<"))
        .replace("LISTENER", "tls: {certificateRefs: [{name: cert}]}");
    Box::leak(doc.into_boxed_str())
}

fn k8s_gw_listener(line: &str) -> &'static str {
    let doc = K8S_GW
        .replace("  SPEC\n", "")
        .replace("LISTENER", &format!("{line} #<"));
    Box::leak(doc.into_boxed_str())
}

/// An HTTPRoute with one rule to a Service of the document; `RULE` is a line of the rule.
const K8S_ROUTE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: web, port: 80}]
    RULE
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, name: http}]}
";

fn k8s_route_rule(line: &str) -> &'static str {
    Box::leak(
        K8S_ROUTE
            .replace("RULE", &format!("{line} #<"))
            .into_boxed_str(),
    )
}

/// A GRPCRoute of the same shape.
fn k8s_grpc_rule(line: &str) -> &'static str {
    let doc = K8S_ROUTE
        .replacen("kind: HTTPRoute", "kind: GRPCRoute", 1)
        .replace("RULE", &format!("{line} #<"));
    Box::leak(doc.into_boxed_str())
}

pub(super) fn entries() -> Vec<Entry> {
    let fn_noted = |field: &'static str| noted("FunctionProps", field, Function(line(field)));
    let mut v = vec![
        // --- Gateway API (translated into Istio Gateways and VirtualServices).
        served(
            "GatewayClassSpec",
            &["controllerName"],
            "Gateway API: a class of another controller is not served, with a warning",
        ),
        inert("GatewayClassSpec", &["description"], "a description"),
        inert(
            "GatewayClassSpec",
            &["parametersRef"],
            "Istio's controller reads no GatewayClass parameters",
        ),
        inert(
            "ParametersReference",
            &["group", "kind", "name", "namespace"],
            "Istio's controller reads no GatewayClass parameters",
        ),
        served(
            "GatewaySpec@Gateway (gateway.networking.k8s.io)",
            &["gatewayClassName", "listeners"],
            GATEWAY_API,
        ),
        noted(
            "GatewaySpec@Gateway (gateway.networking.k8s.io)",
            "addresses",
            Yaml(k8s_gw_spec("addresses: [{value: 10.0.0.1}]")),
        ),
        within(
            "GatewayAddress",
            &["type", "value"],
            "GatewaySpec@Gateway (gateway.networking.k8s.io).addresses",
        ),
        inert(
            "GatewaySpec@Gateway (gateway.networking.k8s.io)",
            &["infrastructure"],
            "labels and annotations for the deployment a controller would create; Meridian's gateway is built in",
        ),
        inert(
            "GatewayInfrastructure",
            &["labels", "annotations"],
            "labels and annotations for the deployment a controller would create; Meridian's gateway is built in",
        ),
        noted(
            "GatewayInfrastructure",
            "parametersRef",
            Yaml(k8s_gw_spec(
                "infrastructure: {parametersRef: {group: \"\", kind: ConfigMap, name: p}}",
            )),
        ),
        noted(
            "GatewaySpec@Gateway (gateway.networking.k8s.io)",
            "backendTLS",
            Yaml(k8s_gw_spec(
                "backendTLS: {clientCertificateRef: {name: client}}",
            )),
        ),
        within(
            "GatewayBackendTls",
            &["clientCertificateRef"],
            "GatewaySpec@Gateway (gateway.networking.k8s.io).backendTLS",
        ),
        noted(
            "GatewaySpec@Gateway (gateway.networking.k8s.io)",
            "allowedListeners",
            Yaml(k8s_gw_spec("allowedListeners: {namespaces: {from: Same}}")),
        ),
        within(
            "AllowedListeners",
            &["namespaces"],
            "GatewaySpec@Gateway (gateway.networking.k8s.io).allowedListeners",
        ),
        served(
            "Listener",
            &[
                "name",
                "hostname",
                "port",
                "protocol",
                "tls",
                "allowedRoutes",
            ],
            GATEWAY_API,
        ),
        served(
            "GatewayTlsConfig",
            &["mode", "certificateRefs"],
            GATEWAY_API,
        ),
        inert(
            "GatewayTlsConfig",
            &["options"],
            "implementation-specific TLS options; Istio's gateway defines none",
        ),
        noted(
            "GatewayTlsConfig",
            "frontendValidation",
            Yaml(k8s_gw_listener(
                "tls: {certificateRefs: [{name: cert}], frontendValidation: {caCertificateRefs: [{name: ca, kind: ConfigMap, group: \"\"}]}}",
            )),
        ),
        within(
            "FrontendTlsValidation",
            &["caCertificateRefs", "mode"],
            "GatewayTlsConfig.frontendValidation",
        ),
        served(
            "SecretObjectReference",
            &["group", "kind", "name", "namespace"],
            GATEWAY_API,
        ),
        served("AllowedRoutes", &["namespaces", "kinds"], GATEWAY_API),
        served("RouteNamespaces", &["from", "selector"], GATEWAY_API),
        served("RouteGroupKind", &["group", "kind"], GATEWAY_API),
        served("ReferenceGrantSpec", &["from", "to"], GATEWAY_API),
        served(
            "ReferenceGrantFrom",
            &["group", "kind", "namespace"],
            GATEWAY_API,
        ),
        served("ReferenceGrantTo", &["group", "kind", "name"], GATEWAY_API),
        served(
            "HttpRouteSpec",
            &["parentRefs", "hostnames", "rules"],
            GATEWAY_API,
        ),
        served(
            "GrpcRouteSpec",
            &["parentRefs", "hostnames", "rules"],
            GATEWAY_API,
        ),
        served(
            "ParentReference",
            &["group", "kind", "name", "namespace", "port", "sectionName"],
            GATEWAY_API,
        ),
        served(
            "HttpRouteRule",
            &[
                "name",
                "matches",
                "filters",
                "backendRefs",
                "timeouts",
                "retry",
            ],
            GATEWAY_API,
        ),
        noted(
            "HttpRouteRule",
            "sessionPersistence",
            Yaml(k8s_route_rule("sessionPersistence: {sessionName: s}")),
        ),
        served(
            "GrpcRouteRule",
            &["name", "matches", "filters", "backendRefs"],
            GATEWAY_API,
        ),
        noted(
            "GrpcRouteRule",
            "sessionPersistence",
            Yaml(k8s_grpc_rule("sessionPersistence: {sessionName: s}")),
        ),
        within(
            "SessionPersistence",
            &[
                "sessionName",
                "absoluteTimeout",
                "idleTimeout",
                "type",
                "cookieConfig",
            ],
            "HttpRouteRule.sessionPersistence",
        ),
        within(
            "CookieConfig",
            &["lifetimeType"],
            "HttpRouteRule.sessionPersistence",
        ),
        served(
            "HttpRouteMatch",
            &["path", "headers", "queryParams", "method"],
            GATEWAY_API,
        ),
        served("HttpPathMatch", &["type", "value"], GATEWAY_API),
        served("HttpHeaderMatch", &["type", "name", "value"], GATEWAY_API),
        served("GrpcRouteMatch", &["method", "headers"], GATEWAY_API),
        served(
            "GrpcMethodMatch",
            &["type", "service", "method"],
            GATEWAY_API,
        ),
        served(
            "HttpRouteFilter",
            &[
                "type",
                "requestHeaderModifier",
                "responseHeaderModifier",
                "requestMirror",
                "requestRedirect",
                "urlRewrite",
                "cors",
            ],
            GATEWAY_API,
        ),
        noted(
            "HttpRouteFilter",
            "extensionRef",
            Yaml(k8s_route_rule(
                "filters: [{type: ExtensionRef, extensionRef: {group: example.com, kind: Filter, name: f}}]",
            )),
        ),
        within(
            "LocalObjectReference",
            &["group", "kind", "name"],
            "HttpRouteFilter.extensionRef",
        ),
        noted(
            "HttpRouteFilter",
            "externalAuth",
            Yaml(k8s_route_rule(
                "filters: [{type: ExternalAuth, externalAuth: {protocol: HTTP, backendRef: {name: auth, port: 80}}}]",
            )),
        ),
        served("HeaderModifier", &["set", "add", "remove"], GATEWAY_API),
        served(
            "RequestMirror",
            &["backendRef", "percent", "fraction"],
            GATEWAY_API,
        ),
        served("Fraction", &["numerator", "denominator"], GATEWAY_API),
        served(
            "BackendRef",
            &["group", "kind", "name", "namespace", "port"],
            GATEWAY_API,
        ),
        served(
            "RequestRedirect",
            &["scheme", "hostname", "path", "port", "statusCode"],
            GATEWAY_API,
        ),
        served("UrlRewrite", &["hostname", "path"], GATEWAY_API),
        served(
            "HttpPathModifier",
            &["type", "replaceFullPath", "replacePrefixMatch"],
            GATEWAY_API,
        ),
        served(
            "CorsFilter",
            &[
                "allowOrigins",
                "allowCredentials",
                "allowMethods",
                "allowHeaders",
                "exposeHeaders",
                "maxAge",
            ],
            GATEWAY_API,
        ),
        served(
            "HttpBackendRef",
            &[
                "group",
                "kind",
                "name",
                "namespace",
                "port",
                "weight",
                "filters",
            ],
            GATEWAY_API,
        ),
        served(
            "HttpRouteTimeouts",
            &["request", "backendRequest"],
            GATEWAY_API,
        ),
        served(
            "HttpRouteRetry",
            &["attempts", "backoff", "codes"],
            GATEWAY_API,
        ),
        // --- Kubernetes envelope, shared by every manifest kind.
        served(
            "RawObject",
            &["apiVersion", "kind", "metadata", "spec"],
            ENVELOPE,
        ),
        inert("RawObject", &["status"], API_SERVER),
        served(
            "ObjectMeta",
            &["name", "namespace", "labels", "annotations"],
            ENVELOPE,
        ),
        refused("ObjectMeta", "generateName", Yaml(NAMESPACE_META)),
        inert(
            "ObjectMeta",
            &[
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "ownerReferences",
                "finalizers",
                "managedFields",
                "selfLink",
            ],
            API_SERVER,
        ),
        // --- VirtualService.
        served(
            "VirtualServiceSpec",
            &["hosts", "gateways", "http", "exportTo"],
            ROUTES,
        ),
        noted("VirtualServiceSpec", "tcp", Yaml(VS_TCP)),
        noted("VirtualServiceSpec", "tls", Yaml(VS_TLS)),
        within("TcpRoute", &["match", "route"], "VirtualServiceSpec.tcp"),
        within("TlsRoute", &["match", "route"], "VirtualServiceSpec.tls"),
        within(
            "L4MatchAttributes",
            &[
                "destinationSubnets",
                "port",
                "sourceSubnet",
                "sourceLabels",
                "gateways",
                "sourceNamespace",
            ],
            "VirtualServiceSpec.tcp",
        ),
        within(
            "TlsMatchAttributes",
            &[
                "sniHosts",
                "destinationSubnets",
                "port",
                "sourceLabels",
                "gateways",
                "sourceNamespace",
            ],
            "VirtualServiceSpec.tls",
        ),
        within(
            "RouteDestination",
            &["destination", "weight"],
            "VirtualServiceSpec.tcp",
        ),
        served(
            "HttpRoute",
            &[
                "name",
                "match",
                "route",
                "redirect",
                "directResponse",
                "delegate",
                "rewrite",
                "timeout",
                "retries",
                "fault",
                "mirror",
                "mirrors",
                "mirrorPercent",
                "mirrorPercentage",
                "corsPolicy",
                "headers",
            ],
            ROUTES,
        ),
        served(
            "HttpMatchRequest",
            &[
                "name",
                "uri",
                "scheme",
                "method",
                "authority",
                "headers",
                "port",
                "sourceLabels",
                "gateways",
                "queryParams",
                "ignoreUriCase",
                "withoutHeaders",
                "sourceNamespace",
            ],
            ROUTES,
        ),
        noted(
            "HttpMatchRequest",
            "statPrefix",
            Yaml(vs_http("MATCH", "statPrefix: web")),
        ),
        served("StringMatch", &["exact", "prefix", "regex"], ROUTES),
        served(
            "HttpRouteDestination",
            &["destination", "weight", "headers"],
            ROUTES,
        ),
        served("Destination", &["host", "subset", "port"], ROUTES),
        served("PortSelector", &["number"], ROUTES),
        served("Headers", &["request", "response"], ROUTES),
        served("HeaderOperations", &["set", "add", "remove"], ROUTES),
        served(
            "HttpRedirect",
            &[
                "uri",
                "authority",
                "port",
                "derivePort",
                "scheme",
                "redirectCode",
                "prefixRewrite",
            ],
            ROUTES,
        ),
        served(
            "HttpRewrite",
            &["uri", "authority", "uriRegexRewrite"],
            ROUTES,
        ),
        served("RegexRewrite", &["match", "rewrite"], ROUTES),
        served("HttpDirectResponse", &["status", "body"], ROUTES),
        served("HttpBody", &["string", "bytes"], ROUTES),
        served(
            "HttpRetry",
            &[
                "attempts",
                "perTryTimeout",
                "retryOn",
                "retryIgnorePreviousHosts",
                "backoff",
            ],
            ROUTES,
        ),
        noted(
            "HttpRetry",
            "retryRemoteLocalities",
            Yaml(vs_http(
                "ROUTE",
                "retries: {attempts: 2, retryRemoteLocalities: true}",
            )),
        ),
        served("HttpFaultInjection", &["delay", "abort"], ROUTES),
        served(
            "FaultAbort",
            &["httpStatus", "grpcStatus", "percentage"],
            ROUTES,
        ),
        refused(
            "FaultAbort",
            "http2Error",
            Yaml(vs_http(
                "ROUTE",
                "fault: {abort: {http2Error: PROTOCOL_ERROR, percentage: {value: 1}}}",
            )),
        ),
        served(
            "FaultDelay",
            &["percent", "fixedDelay", "percentage"],
            ROUTES,
        ),
        refused(
            "FaultDelay",
            "exponentialDelay",
            Yaml(vs_http(
                "ROUTE",
                "fault: {delay: {exponentialDelay: 1s, percentage: {value: 1}}}",
            )),
        ),
        served("Percent", &["value"], ROUTES),
        served("HttpMirrorPolicy", &["destination", "percentage"], ROUTES),
        served(
            "CorsPolicy",
            &[
                "allowOrigin",
                "allowOrigins",
                "allowMethods",
                "allowHeaders",
                "exposeHeaders",
                "maxAge",
                "allowCredentials",
                "unmatchedPreflights",
            ],
            ROUTES,
        ),
        served("Delegate", &["name", "namespace"], ROUTES),
        // --- DestinationRule.
        served(
            "DestinationRuleSpec",
            &["host", "trafficPolicy", "subsets"],
            CLUSTERS,
        ),
        noted("DestinationRuleSpec", "exportTo", Yaml(DR_EXPORT)),
        noted("DestinationRuleSpec", "workloadSelector", Yaml(DR_SELECTOR)),
        served(
            "WorkloadSelector",
            &["matchLabels"],
            "proxy: which sidecars a PeerAuthentication or AuthorizationPolicy applies to",
        ),
        served("Subset", &["name", "labels", "trafficPolicy"], CLUSTERS),
        served(
            "TrafficPolicy",
            &[
                "loadBalancer",
                "connectionPool",
                "outlierDetection",
                "tls",
                "portLevelSettings",
            ],
            CLUSTERS,
        ),
        noted(
            "TrafficPolicy",
            "tunnel",
            Yaml(dr(
                "tunnel: {protocol: CONNECT, targetHost: proxy, targetPort: 8080}",
            )),
        ),
        noted(
            "TrafficPolicy",
            "proxyProtocol",
            Yaml(dr("proxyProtocol: {version: V1}")),
        ),
        noted(
            "TrafficPolicy",
            "retryBudget",
            Yaml(dr("retryBudget: {percent: {value: 20}}")),
        ),
        within(
            "TunnelSettings",
            &["protocol", "targetHost", "targetPort"],
            "TrafficPolicy.tunnel",
        ),
        within("ProxyProtocol", &["version"], "TrafficPolicy.proxyProtocol"),
        within(
            "RetryBudget",
            &["percent", "minRetryConcurrency"],
            "TrafficPolicy.retryBudget",
        ),
        served(
            "PortTrafficPolicy",
            &[
                "port",
                "loadBalancer",
                "connectionPool",
                "outlierDetection",
                "tls",
            ],
            CLUSTERS,
        ),
        served(
            "LoadBalancerSettings",
            &["simple", "consistentHash", "warmupDurationSecs", "warmup"],
            CLUSTERS,
        ),
        noted(
            "LoadBalancerSettings",
            "localityLbSetting",
            Yaml(dr("loadBalancer: {localityLbSetting: {enabled: true}}")),
        ),
        within(
            "LocalityLbSetting",
            &["distribute", "failover", "failoverPriority", "enabled"],
            "LoadBalancerSettings.localityLbSetting",
        ),
        noted(
            "LoadBalancerSettings",
            "zoneAwareLbSetting",
            Yaml(dr(
                "loadBalancer: {zoneAwareLbSetting: {failover: [{from: us-east, to: eu-west}]}}",
            )),
        ),
        within(
            "ZoneAwareLbSetting",
            &["enabled", "failover", "failoverPriority"],
            "LoadBalancerSettings.zoneAwareLbSetting",
        ),
        within(
            "ZoneAwareFailover",
            &["from", "to"],
            "LoadBalancerSettings.zoneAwareLbSetting",
        ),
        within(
            "LocalityDistribute",
            &["from", "to"],
            "LoadBalancerSettings.localityLbSetting",
        ),
        within(
            "LocalityFailover",
            &["from", "to"],
            "LoadBalancerSettings.localityLbSetting",
        ),
        served(
            "ConsistentHashLb",
            &[
                "httpHeaderName",
                "httpCookie",
                "useSourceIp",
                "httpQueryParameterName",
                "ringHash",
                "maglev",
                "minimumRingSize",
            ],
            CLUSTERS,
        ),
        served("HttpCookie", &["name", "path", "ttl"], CLUSTERS),
        noted(
            "HttpCookie",
            "attributes",
            Yaml(dr(
                "loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: 0s, attributes: [{name: SameSite, value: Strict}]}}}",
            )),
        ),
        within(
            "CookieAttribute",
            &["name", "value"],
            "HttpCookie.attributes",
        ),
        served("RingHash", &["minimumRingSize"], CLUSTERS),
        served("MagLev", &["tableSize"], CLUSTERS),
        served(
            "WarmupConfiguration",
            &["duration", "minimumPercent", "aggression"],
            CLUSTERS,
        ),
        served("ConnectionPoolSettings", &["tcp", "http"], CLUSTERS),
        served(
            "TcpSettings",
            &[
                "maxConnections",
                "connectTimeout",
                "tcpKeepalive",
                "maxConnectionDuration",
                "idleTimeout",
            ],
            CLUSTERS,
        ),
        served("TcpKeepalive", &["probes", "time", "interval"], CLUSTERS),
        served(
            "HttpSettings",
            &[
                "http1MaxPendingRequests",
                "http2MaxRequests",
                "maxRequestsPerConnection",
                "maxRetries",
                "idleTimeout",
                "h2UpgradePolicy",
                "useClientProtocol",
                "maxConcurrentStreams",
            ],
            CLUSTERS,
        ),
        noted(
            "HttpSettings",
            "http2KeepAlive",
            Yaml(dr(
                "connectionPool: {http: {http2KeepAlive: {interval: 15s, timeout: 5s}}}",
            )),
        ),
        within(
            "Http2KeepAlive",
            &["interval", "timeout"],
            "HttpSettings.http2KeepAlive",
        ),
        served(
            "OutlierDetection",
            &[
                "consecutiveErrors",
                "splitExternalLocalOriginErrors",
                "consecutiveLocalOriginFailures",
                "consecutiveGatewayErrors",
                "consecutive5xxErrors",
                "interval",
                "baseEjectionTime",
                "maxEjectionPercent",
                "minHealthPercent",
            ],
            CLUSTERS,
        ),
        served(
            "ClientTlsSettings",
            &[
                "mode",
                "clientCertificate",
                "privateKey",
                "caCertificates",
                "credentialName",
                "subjectAltNames",
                "sni",
                "insecureSkipVerify",
                "caCrl",
            ],
            CLUSTERS,
        ),
        // --- Gateway.
        served("GatewaySpec", &["servers", "selector"], GATEWAY),
        served("Server", &["port", "hosts", "tls", "name"], GATEWAY),
        noted("Server", "bind", Yaml(gw("bind: 127.0.0.1"))),
        noted(
            "Server",
            "defaultEndpoint",
            Yaml(gw("defaultEndpoint: 127.0.0.1:8080")),
        ),
        served("Port", &["number", "protocol"], GATEWAY),
        inert("Port", &["name"], LABEL),
        noted("Port", "targetPort", Yaml(GW_TARGET_PORT)),
        served(
            "ServerTlsSettings",
            &[
                "httpsRedirect",
                "mode",
                "serverCertificate",
                "privateKey",
                "caCertificates",
                "caCrl",
                "credentialName",
                "credentialNames",
                "tlsCertificates",
                "subjectAltNames",
                "verifyCertificateSpki",
                "verifyCertificateHash",
                "minProtocolVersion",
                "maxProtocolVersion",
                "cipherSuites",
            ],
            GATEWAY,
        ),
        served(
            "TlsCertificate",
            &["serverCertificate", "privateKey", "caCertificates"],
            GATEWAY,
        ),
        // --- ServiceEntry.
        served(
            "ServiceEntrySpec",
            &[
                "hosts",
                "ports",
                "resolution",
                "endpoints",
                "workloadSelector",
            ],
            ENTRIES,
        ),
        noted(
            "ServiceEntrySpec",
            "exportTo",
            Yaml(se("exportTo: [.]", "")),
        ),
        noted(
            "ServiceEntrySpec",
            "addresses",
            Yaml(se("addresses: [10.0.0.9]", "")),
        ),
        noted(
            "ServiceEntrySpec",
            "location",
            Yaml(se("location: MESH_INTERNAL", "")),
        ),
        noted(
            "ServiceEntrySpec",
            "subjectAltNames",
            Yaml(se("subjectAltNames: [ext]", "")),
        ),
        served(
            "ServicePort",
            &["number", "protocol", "name", "targetPort"],
            ENTRIES,
        ),
        served("EntryWorkloadSelector", &["labels"], ENTRIES),
        served("WorkloadEntry", &["address"], ENTRIES),
        noted(
            "WorkloadEntry",
            "ports",
            Yaml(se("", "ports: {http: 8080}")),
        ),
        noted("WorkloadEntry", "labels", Yaml(se("", "labels: {v: a}"))),
        noted("WorkloadEntry", "network", Yaml(se("", "network: east"))),
        noted(
            "WorkloadEntry",
            "locality",
            Yaml(se("", "locality: us-east/a")),
        ),
        noted("WorkloadEntry", "weight", Yaml(se("", "weight: 3"))),
        noted(
            "WorkloadEntry",
            "serviceAccount",
            Yaml(se("", "serviceAccount: ext")),
        ),
        // --- PeerAuthentication and AuthorizationPolicy.
        served(
            "PeerAuthenticationSpec",
            &["selector", "mtls", "portLevelMtls"],
            PEER_AUTHN,
        ),
        served("MutualTls", &["mode"], PEER_AUTHN),
        served(
            "AuthorizationPolicySpec",
            &["selector", "rules", "action"],
            AUTHZ,
        ),
        noted(
            "AuthorizationPolicySpec",
            "targetRef",
            Yaml(ap(
                "targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}",
            )),
        ),
        noted(
            "AuthorizationPolicySpec",
            "targetRefs",
            Yaml(ap(
                "targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]",
            )),
        ),
        noted("AuthorizationPolicySpec", "provider", Yaml(AP_CUSTOM)),
        within(
            "PolicyTargetReference",
            &["group", "kind", "name", "namespace"],
            "AuthorizationPolicySpec.targetRef",
        ),
        within(
            "ExtensionProvider",
            &["name"],
            "AuthorizationPolicySpec.provider",
        ),
        served("Rule", &["from", "to", "when"], AUTHZ),
        served("From", &["source"], AUTHZ),
        served("To", &["operation"], AUTHZ),
        served(
            "Source",
            &[
                "principals",
                "notPrincipals",
                "requestPrincipals",
                "notRequestPrincipals",
                "trustDomains",
                "notTrustDomains",
                "namespaces",
                "notNamespaces",
                "serviceAccounts",
                "notServiceAccounts",
                "ipBlocks",
                "notIpBlocks",
                "remoteIpBlocks",
                "notRemoteIpBlocks",
            ],
            AUTHZ,
        ),
        served(
            "Operation",
            &[
                "hosts",
                "notHosts",
                "ports",
                "notPorts",
                "methods",
                "notMethods",
                "paths",
                "notPaths",
            ],
            AUTHZ,
        ),
        served("Condition", &["key", "values", "notValues"], AUTHZ),
        // --- Service.
        served("ServiceSpec", &["ports", "selector"], SERVICES),
        noted("ServiceSpec", "type", Service("type: LoadBalancer")),
        noted(
            "ServiceSpec",
            "externalName",
            Service("externalName: db.example.com"),
        ),
        noted(
            "ServiceSpec",
            "sessionAffinity",
            Service("sessionAffinity: ClientIP"),
        ),
        noted(
            "ServiceSpec",
            "sessionAffinityConfig",
            Service("sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}"),
        ),
        noted(
            "ServiceSpec",
            "publishNotReadyAddresses",
            Service("publishNotReadyAddresses: true"),
        ),
        noted("ServiceSpec", "clusterIP", Service("clusterIP: 10.96.0.12")),
        inert(
            "ServiceSpec",
            &["clusterIPs", "ipFamilies", "ipFamilyPolicy"],
            "how an API server allocates the cluster IP; clusterIP, the address itself, is warned about",
        ),
        noted(
            "ServiceSpec",
            "externalIPs",
            Service("externalIPs: [1.2.3.4]"),
        ),
        noted(
            "ServiceSpec",
            "externalTrafficPolicy",
            Service("externalTrafficPolicy: Local"),
        ),
        noted(
            "ServiceSpec",
            "loadBalancerIP",
            Service("loadBalancerIP: 1.2.3.4"),
        ),
        noted(
            "ServiceSpec",
            "loadBalancerSourceRanges",
            Service("loadBalancerSourceRanges: [10.0.0.0/8]"),
        ),
        noted(
            "ServiceSpec",
            "loadBalancerClass",
            Service("loadBalancerClass: example.com/lb"),
        ),
        noted(
            "ServiceSpec",
            "allocateLoadBalancerNodePorts",
            Service("allocateLoadBalancerNodePorts: false"),
        ),
        noted(
            "ServiceSpec",
            "healthCheckNodePort",
            Service("healthCheckNodePort: 30000"),
        ),
        noted(
            "ServiceSpec",
            "internalTrafficPolicy",
            Service("internalTrafficPolicy: Local"),
        ),
        noted(
            "ServiceSpec",
            "trafficDistribution",
            Service("trafficDistribution: PreferClose"),
        ),
        served(
            "ServicePort@Service",
            &["name", "protocol", "appProtocol", "port", "targetPort"],
            SERVICES,
        ),
        noted(
            "ServicePort@Service",
            "nodePort",
            ServicePort("nodePort: 30080"),
        ),
        // --- Deployment.
        served(
            "DeploymentSpec",
            &[
                "replicas",
                "selector",
                "template",
                "strategy",
                "minReadySeconds",
                "revisionHistoryLimit",
                "progressDeadlineSeconds",
                "paused",
            ],
            WORKLOADS,
        ),
        served("DeploymentStrategy", &["type", "rollingUpdate"], WORKLOADS),
        served("RollingUpdate", &["maxSurge", "maxUnavailable"], WORKLOADS),
        served(
            "LabelSelector",
            &["matchLabels", "matchExpressions"],
            WORKLOADS,
        ),
        served(
            "LabelSelectorRequirement",
            &["key", "operator", "values"],
            WORKLOADS,
        ),
        served("PodTemplateSpec", &["metadata", "spec"], WORKLOADS),
        served(
            "PodSpec",
            &[
                "containers",
                "initContainers",
                "restartPolicy",
                "terminationGracePeriodSeconds",
                "nodeSelector",
                "serviceAccountName",
                "serviceAccount",
                "hostname",
                "volumes",
            ],
            WORKLOADS,
        ),
        served(
            "Volume",
            &["name", "configMap", "secret", "projected", "emptyDir"],
            WORKLOADS,
        ),
        served(
            "ConfigMapVolumeSource",
            &["name", "items", "defaultMode", "optional"],
            WORKLOADS,
        ),
        served(
            "SecretVolumeSource",
            &["secretName", "items", "defaultMode", "optional"],
            WORKLOADS,
        ),
        served(
            "ProjectedVolumeSource",
            &["sources", "defaultMode"],
            WORKLOADS,
        ),
        served("VolumeProjection", &["configMap", "secret"], WORKLOADS),
        served("Projection", &["name", "items", "optional"], WORKLOADS),
        served("KeyToPath", &["key", "path", "mode"], WORKLOADS),
        served(
            "IngressSpec",
            &["ingressClassName", "defaultBackend", "tls", "rules"],
            INGRESS,
        ),
        served("IngressBackend", &["service"], INGRESS),
        noted("IngressBackend", "resource", Yaml(INGRESS_RESOURCE_BACKEND)),
        within(
            "TypedLocalObjectReference",
            &["apiGroup", "kind", "name"],
            "IngressBackend.resource",
        ),
        served("IngressServiceBackend", &["name", "port"], INGRESS),
        served("ServiceBackendPort", &["name", "number"], INGRESS),
        served("IngressTls", &["hosts", "secretName"], INGRESS),
        served("IngressRule", &["host", "http"], INGRESS),
        served("HttpIngressRuleValue", &["paths"], INGRESS),
        served("HttpIngressPath", &["path", "pathType", "backend"], INGRESS),
        served("IngressClassSpec", &["controller"], INGRESS),
        inert(
            "IngressClassSpec",
            &["parameters"],
            "Istio's ingress controller reads no IngressClass parameters",
        ),
        inert(
            "IngressClassParametersReference",
            &["apiGroup", "kind", "name", "namespace", "scope"],
            "Istio's ingress controller reads no IngressClass parameters",
        ),
        noted(
            "EmptyDirVolumeSource",
            "medium",
            Pod("volumes: [{name: v, emptyDir: {medium: Memory}}]"),
        ),
        noted(
            "EmptyDirVolumeSource",
            "sizeLimit",
            Pod("volumes: [{name: v, emptyDir: {sizeLimit: 1Gi}}]"),
        ),
        served("VolumeMount", &["name", "mountPath", "subPath"], WORKLOADS),
        noted("VolumeMount", "readOnly", Yaml(MOUNT_READ_ONLY)),
        noted(
            "VolumeMount",
            "recursiveReadOnly",
            Yaml(MOUNT_RECURSIVE_READ_ONLY),
        ),
        noted("VolumeMount", "subPathExpr", Yaml(MOUNT_SUB_PATH_EXPR)),
        noted("VolumeMount", "mountPropagation", Yaml(MOUNT_PROPAGATION)),
        served(
            "Container",
            &[
                "name",
                "command",
                "args",
                "workingDir",
                "env",
                "ports",
                "readinessProbe",
                "livenessProbe",
                "startupProbe",
                "resources",
                "envFrom",
                "volumeMounts",
            ],
            WORKLOADS,
        ),
        inert("Container", &["image", "imagePullPolicy"], NO_IMAGES),
        served(
            "ContainerPort",
            &["name", "containerPort", "protocol"],
            WORKLOADS,
        ),
        noted("ContainerPort", "hostPort", Yaml(CONTAINER_PORT_HOST)),
        noted("ContainerPort", "hostIP", Yaml(CONTAINER_PORT_HOST_IP)),
        served(
            "Probe",
            &[
                "httpGet",
                "tcpSocket",
                "exec",
                "grpc",
                "initialDelaySeconds",
                "periodSeconds",
                "timeoutSeconds",
                "successThreshold",
                "failureThreshold",
                "terminationGracePeriodSeconds",
            ],
            WORKLOADS,
        ),
        served(
            "HttpGetAction",
            &["path", "port", "host", "scheme", "httpHeaders"],
            WORKLOADS,
        ),
        served("HttpHeader", &["name", "value"], WORKLOADS),
        served("TcpSocketAction", &["port", "host"], WORKLOADS),
        served("ExecAction", &["command"], WORKLOADS),
        served("GrpcAction", &["port", "service"], WORKLOADS),
        served("ResourceRequirements", &["limits", "requests"], WORKLOADS),
        served("EnvVar", &["name", "value", "valueFrom"], ENV),
        served(
            "EnvVarSource",
            &[
                "fieldRef",
                "resourceFieldRef",
                "configMapKeyRef",
                "secretKeyRef",
            ],
            ENV,
        ),
        served("ObjectFieldSelector", &["apiVersion", "fieldPath"], ENV),
        served(
            "ResourceFieldSelector",
            &["containerName", "resource", "divisor"],
            ENV,
        ),
        served("KeySelector", &["name", "key", "optional"], ENV),
        served(
            "EnvFromSource",
            &["prefix", "configMapRef", "secretRef"],
            ENV,
        ),
        served("ObjectRef", &["name", "optional"], ENV),
        // --- ServiceAccount, Namespace, ConfigMap, Secret.
        served(
            "RawServiceAccount",
            &["apiVersion", "kind", "metadata"],
            "identity: the replicas' SPIFFE identity",
        ),
        noted(
            "RawServiceAccount",
            "automountServiceAccountToken",
            ServiceAccount("automountServiceAccountToken: false"),
        ),
        noted(
            "RawServiceAccount",
            "secrets",
            ServiceAccount("secrets: [{name: token}]"),
        ),
        noted(
            "RawServiceAccount",
            "imagePullSecrets",
            ServiceAccount("imagePullSecrets: [{name: registry}]"),
        ),
        served(
            "RawNamespace",
            &["apiVersion", "kind", "metadata"],
            ENVELOPE,
        ),
        inert("RawNamespace", &["spec", "status"], API_SERVER),
        served(
            "RawConfigMap",
            &["apiVersion", "kind", "metadata", "data", "binaryData"],
            ENV,
        ),
        inert(
            "RawConfigMap",
            &["immutable"],
            "guards against updates through an API server; the file is the only source",
        ),
        served(
            "RawSecret",
            &["apiVersion", "kind", "metadata", "data", "stringData"],
            ENV,
        ),
        inert(
            "RawSecret",
            &["type", "immutable"],
            "checks and guards of an API server; the values are read all the same",
        ),
        // --- Compose.
        served("RawFile", &["name", "services"], COMPOSE),
        noted("RawFile", "version", ComposeTop("version: \"3.8\"")),
        noted("RawFile", "networks", ComposeTop("networks: {front: {}}")),
        noted("RawFile", "volumes", ComposeTop("volumes: {data: {}}")),
        noted(
            "RawFile",
            "configs",
            ComposeTop("configs: {app: {file: ./app.conf}}"),
        ),
        noted(
            "RawFile",
            "secrets",
            ComposeTop("secrets: {token: {file: ./token}}"),
        ),
        refused("RawFile", "include", ComposeTop("include: [other.yaml]")),
        inert("RawService", &["image"], NO_IMAGES),
        served(
            "RawService",
            &[
                "command",
                "entrypoint",
                "environment",
                "env_file",
                "working_dir",
                "ports",
                "deploy",
                "stop_grace_period",
                "stop_signal",
                "healthcheck",
                "depends_on",
                "restart",
                "scale",
            ],
            COMPOSE,
        ),
        inert(
            "RawService",
            &["labels"],
            "container labels: kept and shown, no behaviour hangs on them",
        ),
        refused("RawService", "extends", Compose("extends: {service: base}")),
        noted("RawService", "networks", Compose("networks: [front]")),
        served(
            "RawDeploy",
            &[
                "mode",
                "replicas",
                "placement",
                "update_config",
                "rollback_config",
                "restart_policy",
                "resources",
            ],
            COMPOSE,
        ),
        inert(
            "RawDeploy",
            &["labels"],
            "service labels: kept and shown, no behaviour hangs on them",
        ),
        noted(
            "RawDeploy",
            "endpoint_mode",
            ComposeDeploy("endpoint_mode: dnsrr"),
        ),
        served(
            "RawPlacement",
            &["constraints", "max_replicas_per_node"],
            COMPOSE,
        ),
        noted(
            "RawPlacement",
            "preferences",
            ComposeDeploy("placement: {preferences: [{spread: node.labels.zone}]}"),
        ),
        served(
            "RawUpdate",
            &[
                "parallelism",
                "delay",
                "failure_action",
                "monitor",
                "max_failure_ratio",
                "order",
            ],
            COMPOSE,
        ),
        served(
            "RawRestart",
            &["condition", "delay", "max_attempts", "window"],
            COMPOSE,
        ),
        served("RawResources", &["limits"], COMPOSE),
        noted(
            "RawResources",
            "reservations",
            ComposeDeploy("resources: {reservations: {memory: 64M}}"),
        ),
        served(
            "RawAmounts",
            &["memory"],
            "workloads: the replicas' memory limit (workloads/src/replica.rs)",
        ),
        noted(
            "RawAmounts",
            "cpus",
            ComposeDeploy("resources: {limits: {cpus: \"0.5\"}}"),
        ),
        noted(
            "RawAmounts",
            "pids",
            ComposeDeploy("resources: {limits: {pids: 100}}"),
        ),
        noted(
            "RawAmounts",
            "generic_resources",
            ComposeDeploy(
                "resources: {limits: {generic_resources: [{discrete_resource_spec: {kind: gpu, value: 1}}]}}",
            ),
        ),
        noted(
            "RawAmounts",
            "devices",
            ComposeDeploy("resources: {limits: {devices: [{capabilities: [gpu]}]}}"),
        ),
        served(
            "RawHealthcheck",
            &[
                "test",
                "interval",
                "timeout",
                "retries",
                "start_period",
                "start_interval",
                "disable",
            ],
            COMPOSE,
        ),
        // --- SAM template.
        served(
            "TemplateRaw",
            &[
                "AWSTemplateFormatVersion",
                "Parameters",
                "Mappings",
                "Conditions",
                "Transform",
                "Globals",
                "Resources",
                "Outputs",
            ],
            TEMPLATE,
        ),
        inert("TemplateRaw", &["Description", "Metadata"], LABEL),
        noted("TemplateRaw", "Rules", Yaml(TEMPLATE_TOP)),
        served(
            "GlobalsRaw",
            &["Function", "Api", "HttpApi", "SimpleTable"],
            TEMPLATE,
        ),
        noted("GlobalsRaw", "LayerVersion", Yaml(globals("1"))),
        noted("GlobalsRaw", "StateMachine", Yaml(globals("2"))),
        noted("GlobalsRaw", "CapacityProvider", Yaml(globals("3"))),
        served(
            "ParameterRaw",
            &[
                "Type",
                "Default",
                "AllowedValues",
                "AllowedPattern",
                "MinLength",
                "MaxLength",
                "MinValue",
                "MaxValue",
            ],
            TEMPLATE,
        ),
        inert(
            "ParameterRaw",
            &["Description", "ConstraintDescription", "NoEcho"],
            LABEL,
        ),
        served(
            "ResourceRaw",
            &[
                "Type",
                "Properties",
                "Metadata",
                "Condition",
                "IgnoreGlobals",
            ],
            TEMPLATE,
        ),
        inert(
            "ResourceRaw",
            &[
                "DependsOn",
                "DeletionPolicy",
                "UpdateReplacePolicy",
                "UpdatePolicy",
                "CreationPolicy",
            ],
            STACK,
        ),
        served("OutputRaw", &["Value", "Condition"], TEMPLATE),
        inert("OutputRaw", &["Description", "Export"], LABEL),
        // --- AWS::Serverless::Function.
        served(
            "FunctionProps",
            &[
                "Handler",
                "Runtime",
                "CodeUri",
                "InlineCode",
                "FunctionName",
                "MemorySize",
                "Timeout",
                "Environment",
                "Events",
                "ReservedConcurrentExecutions",
                "PackageType",
                "ImageConfig",
                "Architectures",
                "Layers",
                "Policies",
                "EventInvokeConfig",
                "FunctionUrlConfig",
            ],
            FUNCTIONS,
        ),
        inert("FunctionProps", &["Description"], LABEL),
        inert("FunctionProps", &["Tags", "PropagateTags"], CLOUD_TAGS),
        noted(
            "FunctionProps",
            "Role",
            Function("Role: arn:aws:iam::123456789012:role/app"),
        ),
        fn_noted("RolePath"),
        fn_noted("PermissionsBoundary"),
        fn_noted("AssumeRolePolicyDocument"),
        fn_noted("Tracing"),
        fn_noted("VpcConfig"),
        fn_noted("AutoPublishAlias"),
        fn_noted("AutoPublishAliasAllProperties"),
        fn_noted("AutoPublishCodeSha256"),
        fn_noted("VersionDescription"),
        fn_noted("DeploymentPreference"),
        fn_noted("DeadLetterQueue"),
        fn_noted("KmsKeyArn"),
        fn_noted("ProvisionedConcurrencyConfig"),
        fn_noted("EphemeralStorage"),
        fn_noted("LoggingConfig"),
        fn_noted("RuntimeManagementConfig"),
        fn_noted("SnapStart"),
        fn_noted("CodeSigningConfigArn"),
        fn_noted("FileSystemConfigs"),
        fn_noted("RecursiveLoop"),
        fn_noted("ImageUri"),
        served("EnvironmentRaw", &["Variables"], FUNCTIONS),
        served(
            "ImageConfigRaw",
            &["Command", "EntryPoint", "WorkingDirectory"],
            FUNCTIONS,
        ),
        served(
            "EventInvokeConfigRaw",
            &[
                "MaximumEventAgeInSeconds",
                "MaximumRetryAttempts",
                "DestinationConfig",
            ],
            FUNCTIONS,
        ),
        served(
            "DestinationConfigRaw",
            &["OnSuccess", "OnFailure"],
            FUNCTIONS,
        ),
        served("DestinationRaw", &["Type", "Destination"], FUNCTIONS),
        served(
            "FunctionUrlConfigRaw",
            &["AuthType", "InvokeMode", "Cors"],
            FUNCTIONS,
        ),
        served(
            "CorsRaw",
            &[
                "AllowCredentials",
                "AllowHeaders",
                "AllowMethods",
                "AllowOrigins",
                "ExposeHeaders",
                "MaxAge",
            ],
            FUNCTIONS,
        ),
        served("EventRaw", &["Type", "Properties"], FUNCTIONS),
        // --- Events.
        served("ApiEventProps", &["Path", "Method", "RestApiId"], APIS),
        noted(
            "ApiEventProps",
            "Auth",
            Event("Api", "Auth: {ApiKeyRequired: true}"),
        ),
        noted(
            "ApiEventProps",
            "RequestModel",
            Event("Api", "RequestModel: {Model: User, Required: true}"),
        ),
        noted(
            "ApiEventProps",
            "RequestParameters",
            Event(
                "Api",
                "RequestParameters: [method.request.header.Authorization]",
            ),
        ),
        noted(
            "ApiEventProps",
            "TimeoutInMillis",
            Event("Api", "TimeoutInMillis: 5000"),
        ),
        served(
            "HttpApiEventProps",
            &["Path", "Method", "ApiId", "PayloadFormatVersion"],
            APIS,
        ),
        noted(
            "HttpApiEventProps",
            "Auth",
            Event("HttpApi", "Auth: {Authorizer: NONE}"),
        ),
        noted(
            "HttpApiEventProps",
            "RouteSettings",
            Event("HttpApi", "RouteSettings: {ThrottlingBurstLimit: 10}"),
        ),
        noted(
            "HttpApiEventProps",
            "TimeoutInMillis",
            Event("HttpApi", "TimeoutInMillis: 5000"),
        ),
        served("S3EventProps", &["Bucket", "Events", "Filter"], BUCKETS),
        served("S3EventFilter", &["S3Key"], BUCKETS),
        served("S3KeyRules", &["Rules"], BUCKETS),
        served("S3KeyRule", &["Name", "Value"], BUCKETS),
        served(
            "DynamoDbEventProps",
            &[
                "Stream",
                "StartingPosition",
                "BatchSize",
                "MaximumRetryAttempts",
                "Enabled",
            ],
            STREAMS,
        ),
        noted(
            "DynamoDbEventProps",
            "BisectBatchOnFunctionError",
            Yaml(stream_event("BisectBatchOnFunctionError: true")),
        ),
        noted(
            "DynamoDbEventProps",
            "DestinationConfig",
            Yaml(stream_event(
                "DestinationConfig: {OnFailure: {Destination: arn:aws:sqs:us-east-1:123456789012:dlq}}",
            )),
        ),
        noted(
            "DynamoDbEventProps",
            "FilterCriteria",
            Yaml(stream_event("FilterCriteria: {Filters: [{Pattern: '{}'}]}")),
        ),
        noted(
            "DynamoDbEventProps",
            "FunctionResponseTypes",
            Yaml(stream_event(
                "FunctionResponseTypes: [ReportBatchItemFailures]",
            )),
        ),
        noted(
            "DynamoDbEventProps",
            "KmsKeyArn",
            Yaml(stream_event(
                "KmsKeyArn: arn:aws:kms:us-east-1:123456789012:key/k",
            )),
        ),
        noted(
            "DynamoDbEventProps",
            "MaximumBatchingWindowInSeconds",
            Yaml(stream_event("MaximumBatchingWindowInSeconds: 5")),
        ),
        noted(
            "DynamoDbEventProps",
            "MaximumRecordAgeInSeconds",
            Yaml(stream_event("MaximumRecordAgeInSeconds: 60")),
        ),
        noted(
            "DynamoDbEventProps",
            "MetricsConfig",
            Yaml(stream_event("MetricsConfig: {Metrics: [EventCount]}")),
        ),
        noted(
            "DynamoDbEventProps",
            "ParallelizationFactor",
            Yaml(stream_event("ParallelizationFactor: 2")),
        ),
        noted(
            "DynamoDbEventProps",
            "StartingPositionTimestamp",
            Yaml(stream_event("StartingPositionTimestamp: 1700000000")),
        ),
        noted(
            "DynamoDbEventProps",
            "TumblingWindowInSeconds",
            Yaml(stream_event("TumblingWindowInSeconds: 30")),
        ),
        // --- Layers.
        served(
            "LayerVersionProps",
            &["ContentUri", "LayerName", "CompatibleRuntimes"],
            FUNCTIONS,
        ),
        inert(
            "LayerVersionProps",
            &["Description", "LicenseInfo", "CompatibleArchitectures"],
            "labels AWS shows and checks when it publishes the layer; the layer's folder is read as it is",
        ),
        noted(
            "LayerVersionProps",
            "RetentionPolicy",
            Resource("AWS::Serverless::LayerVersion", "RetentionPolicy: Retain"),
        ),
        noted(
            "LayerVersionProps",
            "PublishLambdaVersion",
            Resource(
                "AWS::Serverless::LayerVersion",
                "PublishLambdaVersion: true",
            ),
        ),
        // --- AWS::Serverless::Api and HttpApi.
        served(
            "ApiProps",
            &["StageName", "Variables", "BinaryMediaTypes", "Cors"],
            APIS,
        ),
        inert(
            "ApiProps",
            &[
                "Name",
                "Description",
                "OpenApiVersion",
                "FailOnWarnings",
                "Mode",
                "AlwaysDeploy",
            ],
            "how AWS names and deploys the API; the routes are served the same",
        ),
        inert("ApiProps", &["Tags", "PropagateTags"], CLOUD_TAGS),
        served(
            "HttpApiProps",
            &["StageName", "StageVariables", "CorsConfiguration"],
            APIS,
        ),
        inert(
            "HttpApiProps",
            &["Name", "Description", "FailOnWarnings"],
            "how AWS names and deploys the API; the routes are served the same",
        ),
        inert("HttpApiProps", &["Tags", "PropagateTags"], CLOUD_TAGS),
        // --- Tables.
        served(
            "SimpleTableProps",
            &["PrimaryKey", "TableName", "ProvisionedThroughput", "Tags"],
            TABLES,
        ),
        noted(
            "SimpleTableProps",
            "SSESpecification",
            Resource(
                "AWS::Serverless::SimpleTable",
                "SSESpecification: {SSEEnabled: true}",
            ),
        ),
        noted(
            "SimpleTableProps",
            "PointInTimeRecoverySpecification",
            Resource(
                "AWS::Serverless::SimpleTable",
                "PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}",
            ),
        ),
        served(
            "PitrRaw",
            &["PointInTimeRecoveryEnabled", "RecoveryPeriodInDays"],
            TABLES,
        ),
        served("PrimaryKeyRaw", &["Name", "Type"], TABLES),
        served(
            "ThroughputRaw",
            &["ReadCapacityUnits", "WriteCapacityUnits"],
            TABLES,
        ),
        served(
            "TableProps",
            &[
                "TableName",
                "BillingMode",
                "AttributeDefinitions",
                "KeySchema",
                "ProvisionedThroughput",
                "GlobalSecondaryIndexes",
                "LocalSecondaryIndexes",
                "StreamSpecification",
                "TimeToLiveSpecification",
                "Tags",
                "DeletionProtectionEnabled",
                "TableClass",
                "ResourcePolicy",
                "ImportSourceSpecification",
            ],
            TABLES,
        ),
        served("ResourcePolicyRaw", &["PolicyDocument"], TABLES),
        served(
            "ImportSourceRaw",
            &[
                "S3BucketSource",
                "InputFormat",
                "InputCompressionType",
                "InputFormatOptions",
            ],
            TABLES,
        ),
        served(
            "S3BucketSourceRaw",
            &["S3Bucket", "S3BucketOwner", "S3KeyPrefix"],
            TABLES,
        ),
        served("InputFormatOptionsRaw", &["Csv"], TABLES),
        served("CsvRaw", &["Delimiter", "HeaderList"], TABLES),
        served(
            "AttributeDefinitionRaw",
            &["AttributeName", "AttributeType"],
            TABLES,
        ),
        served("KeySchemaRaw", &["AttributeName", "KeyType"], TABLES),
        served(
            "IndexRaw",
            &[
                "IndexName",
                "KeySchema",
                "Projection",
                "ProvisionedThroughput",
            ],
            TABLES,
        ),
        noted(
            "IndexRaw",
            "ContributorInsightsSpecification",
            Resource("AWS::DynamoDB::Table", GSI_INSIGHTS),
        ),
        noted(
            "IndexRaw",
            "OnDemandThroughput",
            Resource("AWS::DynamoDB::Table", GSI_ON_DEMAND),
        ),
        noted(
            "IndexRaw",
            "WarmThroughput",
            Resource("AWS::DynamoDB::Table", GSI_WARM),
        ),
        served(
            "ProjectionRaw",
            &["ProjectionType", "NonKeyAttributes"],
            TABLES,
        ),
        served("StreamSpecificationRaw", &["StreamViewType"], TABLES),
        noted(
            "StreamSpecificationRaw",
            "ResourcePolicy",
            Resource(
                "AWS::DynamoDB::Table",
                "StreamSpecification: {StreamViewType: NEW_IMAGE, ResourcePolicy: {PolicyDocument: {}}}",
            ),
        ),
        served("TimeToLiveRaw", &["AttributeName", "Enabled"], TABLES),
        served("TagRaw", &["Key", "Value"], TABLES),
        // --- Buckets.
        served("BucketProps", &["BucketName"], BUCKETS),
        inert("BucketProps", &["Tags"], CLOUD_TAGS),
    ];
    v.push(noted(
        "TableProps",
        "PointInTimeRecoverySpecification",
        Resource(
            "AWS::DynamoDB::Table",
            "PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}",
        ),
    ));
    for field in [
        "SSESpecification",
        "ContributorInsightsSpecification",
        "KinesisStreamSpecification",
        "OnDemandThroughput",
        "WarmThroughput",
    ] {
        v.push(noted(
            "TableProps",
            field,
            Resource("AWS::DynamoDB::Table", line(field)),
        ));
    }
    for field in [
        "Auth",
        "DefinitionUri",
        "DefinitionBody",
        "MergeDefinitions",
        "Domain",
        "AccessLogSetting",
        "MethodSettings",
        "CacheClusterEnabled",
        "CacheClusterSize",
        "CanarySetting",
        "GatewayResponses",
        "Models",
        "MinimumCompressionSize",
        "TracingEnabled",
        "DisableExecuteApiEndpoint",
        "ApiKeySourceType",
        "EndpointConfiguration",
    ] {
        v.push(noted(
            "ApiProps",
            field,
            Resource("AWS::Serverless::Api", line(field)),
        ));
    }
    for field in [
        "Auth",
        "DefinitionUri",
        "DefinitionBody",
        "Domain",
        "AccessLogSettings",
        "DefaultRouteSettings",
        "RouteSettings",
        "DisableExecuteApiEndpoint",
    ] {
        v.push(noted(
            "HttpApiProps",
            field,
            Resource("AWS::Serverless::HttpApi", line(field)),
        ));
    }
    for field in [
        "AbacStatus",
        "AccelerateConfiguration",
        "AccessControl",
        "AnalyticsConfigurations",
        "BucketEncryption",
        "CorsConfiguration",
        "IntelligentTieringConfigurations",
        "InventoryConfigurations",
        "LifecycleConfiguration",
        "LoggingConfiguration",
        "MetadataConfiguration",
        "MetadataTableConfiguration",
        "MetricsConfigurations",
        "NotificationConfiguration",
        "ObjectLockConfiguration",
        "ObjectLockEnabled",
        "OwnershipControls",
        "PublicAccessBlockConfiguration",
        "ReplicationConfiguration",
        "VersioningConfiguration",
        "WebsiteConfiguration",
    ] {
        v.push(noted(
            "BucketProps",
            field,
            Resource("AWS::S3::Bucket", line(field)),
        ));
    }
    for field in super::IGNORED_POD_FIELDS {
        v.push(noted("PodSpec", field, Pod(line(field))));
    }
    for kind in crate::k8s::volume::UNSERVED_KINDS {
        let doc = format!("volumes: [{{name: v, {kind}: {{}}}}]");
        v.push(noted("Volume", kind, Pod(Box::leak(doc.into_boxed_str()))));
    }
    for source in [
        "downwardAPI",
        "serviceAccountToken",
        "clusterTrustBundle",
        "podCertificate",
    ] {
        let doc = format!("volumes: [{{name: v, projected: {{sources: [{{{source}: {{}}}}]}}}}]");
        v.push(noted(
            "VolumeProjection",
            source,
            Pod(Box::leak(doc.into_boxed_str())),
        ));
    }
    for field in super::IGNORED_CONTAINER_FIELDS {
        v.push(noted("Container", field, Container(line(field))));
    }
    for field in super::IGNORED_COMPOSE_FIELDS {
        v.push(noted("RawService", field, Compose(line(field))));
    }
    v
}

/// `field: <a value of the shape it takes>`, as one line.
fn line(field: &str) -> &'static str {
    let value = match field {
        // Booleans and numbers.
        "hostNetwork"
        | "hostIPC"
        | "hostPID"
        | "hostUsers"
        | "automountServiceAccountToken"
        | "enableServiceLinks"
        | "setHostnameAsFQDN"
        | "shareProcessNamespace"
        | "stdin"
        | "tty"
        | "stdinOnce"
        | "privileged"
        | "init"
        | "stdin_open"
        | "read_only"
        | "CacheClusterEnabled"
        | "TracingEnabled"
        | "DisableExecuteApiEndpoint"
        | "ObjectLockEnabled"
        | "MergeDefinitions"
        | "AutoPublishAliasAllProperties" => "true",
        "activeDeadlineSeconds" | "priority" | "MinimumCompressionSize" => "10",
        // Lists.
        "volumes"
        | "tolerations"
        | "imagePullSecrets"
        | "topologySpreadConstraints"
        | "ephemeralContainers"
        | "hostAliases"
        | "readinessGates"
        | "resourceClaims"
        | "schedulingGates"
        | "volumeMounts"
        | "resizePolicy"
        | "volumeDevices"
        | "cap_add"
        | "cap_drop"
        | "security_opt"
        | "dns"
        | "dns_search"
        | "extra_hosts"
        | "expose"
        | "links"
        | "tmpfs"
        | "devices"
        | "secrets"
        | "configs"
        | "profiles"
        | "networks"
        | "FileSystemConfigs"
        | "MethodSettings"
        | "MetricsConfigurations"
        | "AnalyticsConfigurations"
        | "InventoryConfigurations"
        | "IntelligentTieringConfigurations" => "[]",
        // Strings.
        "dnsPolicy"
        | "priorityClassName"
        | "schedulerName"
        | "nodeName"
        | "preemptionPolicy"
        | "runtimeClassName"
        | "subdomain"
        | "terminationMessagePath"
        | "terminationMessagePolicy"
        | "imagePullPolicy"
        | "container_name"
        | "hostname"
        | "domainname"
        | "user"
        | "pid"
        | "ipc"
        | "network_mode"
        | "platform"
        | "pull_policy"
        | "shm_size"
        | "mem_limit"
        | "cpus"
        | "build"
        | "Tracing"
        | "RolePath"
        | "PermissionsBoundary"
        | "AutoPublishAlias"
        | "AutoPublishCodeSha256"
        | "VersionDescription"
        | "KmsKeyArn"
        | "CodeSigningConfigArn"
        | "ImageUri"
        | "DefinitionUri"
        | "CacheClusterSize"
        | "ApiKeySourceType"
        | "AccessControl"
        | "AbacStatus" => "x",
        // Objects.
        _ => "{}",
    };
    Box::leak(format!("{field}: {value}").into_boxed_str())
}

const INGRESS: &str = "gateway: an Ingress of Istio's class made into a Gateway and VirtualServices (config/src/k8s/ingress.rs)";

const INGRESS_RESOURCE_BACKEND: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: istio
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend: {resource: {kind: Bucket, name: b}} #<
";

const MOUNT_READ_ONLY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        command: [sleep, \"1\"]
        volumeMounts:
        - {name: v, mountPath: /x, readOnly: true} #<
      volumes: [{name: v, emptyDir: {}}]
";

const MOUNT_RECURSIVE_READ_ONLY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        command: [sleep, \"1\"]
        volumeMounts:
        - {name: v, mountPath: /x, recursiveReadOnly: Disabled} #<
      volumes: [{name: v, emptyDir: {}}]
";

const MOUNT_SUB_PATH_EXPR: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        command: [sleep, \"1\"]
        volumeMounts:
        - {name: v, mountPath: /x, subPathExpr: $(POD_NAME)} #<
      volumes: [{name: v, emptyDir: {}}]
";

const MOUNT_PROPAGATION: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        command: [sleep, \"1\"]
        volumeMounts:
        - {name: v, mountPath: /x, mountPropagation: None} #<
      volumes: [{name: v, emptyDir: {}}]
";

const GW_TARGET_PORT: &str = "\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, protocol: HTTP, name: http, targetPort: 8081} #<
    hosts: ['*']
";

const CONTAINER_PORT_HOST: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        command: [sleep, \"1\"]
        ports:
        - containerPort: 8080
          hostPort: 80 #<
";

const CONTAINER_PORT_HOST_IP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        command: [sleep, \"1\"]
        ports:
        - containerPort: 8080
          hostIP: 127.0.0.1 #<
";

const GSI_INSIGHTS: &str = concat!(
    "GlobalSecondaryIndexes: [{IndexName: byId, KeySchema: [{AttributeName: id, KeyType: HASH}], Projection: {ProjectionType: ALL}",
    ", ContributorInsightsSpecification: {Enabled: true}}]"
);
const GSI_ON_DEMAND: &str = concat!(
    "GlobalSecondaryIndexes: [{IndexName: byId, KeySchema: [{AttributeName: id, KeyType: HASH}], Projection: {ProjectionType: ALL}",
    ", OnDemandThroughput: {MaxReadRequestUnits: 10}}]"
);
const GSI_WARM: &str = concat!(
    "GlobalSecondaryIndexes: [{IndexName: byId, KeySchema: [{AttributeName: id, KeyType: HASH}], Projection: {ProjectionType: ALL}",
    ", WarmThroughput: {ReadUnitsPerSecond: 10}}]"
);

const STREAM_TEMPLATE: &str = "\
AWSTemplateFormatVersion: \"2010-09-09\"
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: \"def handler(e, c):\\n  return 1\\n\"
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: LATEST
            LINE
";

fn stream_event(line: &str) -> &'static str {
    Box::leak(
        STREAM_TEMPLATE
            .replace("LINE", &format!("{line} #<"))
            .into_boxed_str(),
    )
}
