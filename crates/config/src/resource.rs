//! The accepted kinds, their API versions, and the envelope every object shares.

use std::fmt;

use serde::de::{DeserializeOwned, IgnoredAny};

use crate::de::decode;
use crate::diag::{Findings, Severity};
use crate::gateway_api as gw;
use crate::istio::networking::{
    DestinationRuleSpec, GatewaySpec, ServiceEntrySpec, VirtualServiceSpec,
};
use crate::istio::security::{AuthorizationPolicySpec, PeerAuthenticationSpec};
use crate::k8s::config_map::{ConfigMapData, RawConfigMap, RawSecret, SecretData};
use crate::k8s::deployment::DeploymentSpec;
use crate::k8s::ingress::{IngressClassSpec, IngressSpec};
use crate::k8s::meta::{NameRule, ObjectMeta};
use crate::k8s::namespace::{NamespaceData, RawNamespace};
use crate::k8s::service::ServiceSpec;
use crate::k8s::service_account::{RawServiceAccount, ServiceAccountData};
use crate::node::Node;
use crate::path::FieldPath;

/// Every kind Meridian reads from Kubernetes-style manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Kind {
    /// `v1` Namespace.
    Namespace,
    /// `v1` ServiceAccount.
    ServiceAccount,
    /// `v1` ConfigMap.
    ConfigMap,
    /// `v1` Secret.
    Secret,
    /// `v1` Service.
    Service,
    /// `apps/v1` Deployment.
    Deployment,
    /// `networking.istio.io` VirtualService.
    VirtualService,
    /// `networking.istio.io` DestinationRule.
    DestinationRule,
    /// `networking.istio.io` Gateway.
    Gateway,
    /// `networking.istio.io` ServiceEntry.
    ServiceEntry,
    /// `security.istio.io` PeerAuthentication.
    PeerAuthentication,
    /// `security.istio.io` AuthorizationPolicy.
    AuthorizationPolicy,
    /// `networking.k8s.io/v1` IngressClass.
    IngressClass,
    /// `networking.k8s.io/v1` Ingress, served as Istio's ingress serves it.
    Ingress,
    /// `gateway.networking.k8s.io` GatewayClass.
    GatewayClass,
    /// `gateway.networking.k8s.io` Gateway (Istio's Gateway shares the name; the group tells
    /// them apart).
    KubernetesGateway,
    /// `gateway.networking.k8s.io` HTTPRoute.
    HttpRoute,
    /// `gateway.networking.k8s.io` GRPCRoute.
    GrpcRoute,
    /// `gateway.networking.k8s.io` ReferenceGrant.
    ReferenceGrant,
}

impl Kind {
    /// All kinds, in the order they are applied (workloads before the routes that use them).
    pub const ALL: [Kind; 19] = [
        Kind::Namespace,
        Kind::ServiceAccount,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Service,
        Kind::Deployment,
        Kind::ServiceEntry,
        Kind::DestinationRule,
        Kind::Gateway,
        Kind::VirtualService,
        Kind::ReferenceGrant,
        Kind::GatewayClass,
        Kind::KubernetesGateway,
        Kind::HttpRoute,
        Kind::GrpcRoute,
        Kind::PeerAuthentication,
        Kind::AuthorizationPolicy,
        Kind::IngressClass,
        Kind::Ingress,
    ];

    /// The `kind:` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Service => "Service",
            Kind::Deployment => "Deployment",
            Kind::VirtualService => "VirtualService",
            Kind::DestinationRule => "DestinationRule",
            Kind::Gateway => "Gateway",
            Kind::ServiceEntry => "ServiceEntry",
            Kind::PeerAuthentication => "PeerAuthentication",
            Kind::AuthorizationPolicy => "AuthorizationPolicy",
            Kind::IngressClass => "IngressClass",
            Kind::Ingress => "Ingress",
            Kind::GatewayClass => "GatewayClass",
            Kind::KubernetesGateway => "Gateway",
            Kind::HttpRoute => "HTTPRoute",
            Kind::GrpcRoute => "GRPCRoute",
            Kind::ReferenceGrant => "ReferenceGrant",
        }
    }

    /// API group (empty for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Namespace
            | Kind::ServiceAccount
            | Kind::ConfigMap
            | Kind::Secret
            | Kind::Service => "",
            Kind::Deployment => "apps",
            Kind::VirtualService | Kind::DestinationRule | Kind::Gateway | Kind::ServiceEntry => {
                "networking.istio.io"
            }
            Kind::PeerAuthentication | Kind::AuthorizationPolicy => "security.istio.io",
            Kind::IngressClass | Kind::Ingress => "networking.k8s.io",
            Kind::GatewayClass
            | Kind::KubernetesGateway
            | Kind::HttpRoute
            | Kind::GrpcRoute
            | Kind::ReferenceGrant => gw::GROUP,
        }
    }

    /// Versions accepted within the group.
    pub fn versions(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace
            | Kind::ServiceAccount
            | Kind::ConfigMap
            | Kind::Secret
            | Kind::Service
            | Kind::Deployment
            | Kind::IngressClass
            | Kind::Ingress => &["v1"],
            Kind::VirtualService | Kind::DestinationRule | Kind::Gateway | Kind::ServiceEntry => {
                &["v1", "v1beta1", "v1alpha3"]
            }
            Kind::PeerAuthentication | Kind::AuthorizationPolicy => &["v1", "v1beta1"],
            Kind::GatewayClass
            | Kind::KubernetesGateway
            | Kind::HttpRoute
            | Kind::GrpcRoute
            | Kind::ReferenceGrant => &["v1", "v1beta1", "v1alpha2"],
        }
    }

    /// The name `kubectl` prints (`virtualservice.networking.istio.io`, `deployment.apps`,
    /// `service`).
    pub fn qualified_name(self) -> String {
        let lower = self.as_str().to_ascii_lowercase();
        if self.group().is_empty() {
            lower
        } else {
            format!("{lower}.{}", self.group())
        }
    }

    /// Looks a kind up by its `kind:` value (the first of that name: Istio's Gateway before
    /// the Gateway API's).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Looks a kind up by API group and `kind:` value, falling back to the name alone.
    pub fn from_group_name(group: &str, name: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == name && k.group() == group)
            .or_else(|| Kind::from_name(name))
    }

    fn name_rule(self) -> NameRule {
        match self {
            Kind::Service => NameRule::Rfc1035Label,
            Kind::Namespace => NameRule::Label,
            _ => NameRule::Subdomain,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which object: kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ResourceId {
    /// Kind.
    pub kind: Kind,
    /// Namespace (`default` when the manifest names none).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace == crate::k8s::meta::DEFAULT_NAMESPACE {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// An object: its metadata and spec.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    /// The `apiVersion` it was written with.
    pub api_version: String,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The kind-specific part.
    pub spec: S,
}

impl<S> Object<S> {
    /// Name.
    pub fn name(&self) -> &str {
        self.metadata.name()
    }

    /// Namespace.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace()
    }
}

/// A decoded object of any kind.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind")]
#[allow(clippy::large_enum_variant)]
pub enum Resource {
    /// A Namespace.
    Namespace(Object<NamespaceData>),
    /// A ServiceAccount.
    ServiceAccount(Object<ServiceAccountData>),
    /// A ConfigMap.
    ConfigMap(Object<ConfigMapData>),
    /// A Secret.
    Secret(Object<SecretData>),
    /// A Service.
    Service(Object<ServiceSpec>),
    /// A Deployment.
    Deployment(Object<DeploymentSpec>),
    /// A VirtualService.
    VirtualService(Object<VirtualServiceSpec>),
    /// A DestinationRule.
    DestinationRule(Object<DestinationRuleSpec>),
    /// A Gateway.
    Gateway(Object<GatewaySpec>),
    /// A ServiceEntry.
    ServiceEntry(Object<ServiceEntrySpec>),
    /// A PeerAuthentication.
    PeerAuthentication(Object<PeerAuthenticationSpec>),
    /// An AuthorizationPolicy.
    AuthorizationPolicy(Object<AuthorizationPolicySpec>),
    /// An IngressClass.
    IngressClass(Object<IngressClassSpec>),
    /// An Ingress.
    Ingress(Object<IngressSpec>),
    /// A Gateway API GatewayClass.
    GatewayClass(Object<gw::GatewayClassSpec>),
    /// A Gateway API Gateway.
    KubernetesGateway(Object<gw::GatewaySpec>),
    /// A Gateway API HTTPRoute.
    HttpRoute(Object<gw::HttpRouteSpec>),
    /// A Gateway API GRPCRoute.
    GrpcRoute(Object<gw::GrpcRouteSpec>),
    /// A Gateway API ReferenceGrant.
    ReferenceGrant(Object<gw::ReferenceGrantSpec>),
}

macro_rules! each_kind {
    ($self:expr, $o:ident => $e:expr) => {
        match $self {
            Resource::Namespace($o) => $e,
            Resource::ServiceAccount($o) => $e,
            Resource::ConfigMap($o) => $e,
            Resource::Secret($o) => $e,
            Resource::Service($o) => $e,
            Resource::Deployment($o) => $e,
            Resource::VirtualService($o) => $e,
            Resource::DestinationRule($o) => $e,
            Resource::Gateway($o) => $e,
            Resource::ServiceEntry($o) => $e,
            Resource::PeerAuthentication($o) => $e,
            Resource::AuthorizationPolicy($o) => $e,
            Resource::IngressClass($o) => $e,
            Resource::Ingress($o) => $e,
            Resource::GatewayClass($o) => $e,
            Resource::KubernetesGateway($o) => $e,
            Resource::HttpRoute($o) => $e,
            Resource::GrpcRoute($o) => $e,
            Resource::ReferenceGrant($o) => $e,
        }
    };
}

impl Resource {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Resource::Namespace(_) => Kind::Namespace,
            Resource::ServiceAccount(_) => Kind::ServiceAccount,
            Resource::ConfigMap(_) => Kind::ConfigMap,
            Resource::Secret(_) => Kind::Secret,
            Resource::Service(_) => Kind::Service,
            Resource::Deployment(_) => Kind::Deployment,
            Resource::VirtualService(_) => Kind::VirtualService,
            Resource::DestinationRule(_) => Kind::DestinationRule,
            Resource::Gateway(_) => Kind::Gateway,
            Resource::ServiceEntry(_) => Kind::ServiceEntry,
            Resource::PeerAuthentication(_) => Kind::PeerAuthentication,
            Resource::AuthorizationPolicy(_) => Kind::AuthorizationPolicy,
            Resource::IngressClass(_) => Kind::IngressClass,
            Resource::Ingress(_) => Kind::Ingress,
            Resource::GatewayClass(_) => Kind::GatewayClass,
            Resource::KubernetesGateway(_) => Kind::KubernetesGateway,
            Resource::HttpRoute(_) => Kind::HttpRoute,
            Resource::GrpcRoute(_) => Kind::GrpcRoute,
            Resource::ReferenceGrant(_) => Kind::ReferenceGrant,
        }
    }

    /// Its metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        each_kind!(self, o => &o.metadata)
    }

    /// Kind, namespace and name.
    pub fn id(&self) -> ResourceId {
        ResourceId {
            kind: self.kind(),
            namespace: self.metadata().namespace().to_owned(),
            name: self.metadata().name().to_owned(),
        }
    }
}

/// The envelope as written: everything optional so that each missing part is a finding.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawObject<S> {
    #[allow(dead_code)]
    api_version: Option<IgnoredAny>,
    #[allow(dead_code)]
    kind: Option<IgnoredAny>,
    metadata: Option<ObjectMeta>,
    spec: Option<S>,
    #[allow(dead_code)]
    status: Option<IgnoredAny>,
}

/// What a document says it is, read before typed decoding so that every message can name it.
#[derive(Debug, Clone)]
pub(crate) struct TypeMeta {
    pub(crate) kind: Kind,
    pub(crate) api_version: String,
    pub(crate) id: ResourceId,
}

/// An object of a kind Meridian does not run or serve: kept (with a warning that says what
/// Meridian does instead) so that files written for a cluster load as they are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredObject {
    /// The `kind:` value.
    pub kind: String,
    /// The `apiVersion:` value.
    pub api_version: String,
    /// Namespace (`default` when the manifest names none).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl IgnoredObject {
    /// The name `kubectl` prints (`ingress.networking.k8s.io/bookinfo`).
    pub fn qualified_name(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match self.api_version.rsplit_once('/') {
            Some((group, _)) => format!("{kind}.{group}/{}", self.name),
            None => format!("{kind}/{}", self.name),
        }
    }
}

impl fmt::Display for IgnoredObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace == crate::k8s::meta::DEFAULT_NAMESPACE {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// What the envelope of a document says.
#[derive(Debug)]
pub(crate) enum Envelope {
    /// A kind Meridian reads.
    Known(TypeMeta),
    /// A kind Meridian does not run or serve.
    Ignored(IgnoredObject),
    /// Too broken to say (the findings say why).
    Broken,
}

/// Reads `apiVersion`, `kind` and `metadata.name`/`namespace` from a document. Kinds Meridian
/// does not read are warnings (errors when `strict`).
pub(crate) fn type_meta(root: &Node, strict: bool, f: &mut Findings) -> Envelope {
    let here = FieldPath::root();
    if root.as_map().is_none() {
        f.error(
            &here,
            format!("expected an object, got {}", root.kind_name()),
        );
        return Envelope::Broken;
    }
    let api_version = root.get("apiVersion").and_then(Node::as_str);
    let kind_text = root.get("kind").and_then(Node::as_str);
    if api_version.is_none() || kind_text.is_none() {
        unknown_envelope_keys(root, f);
    }
    let Some(kind_text) = kind_text else {
        f.error(&here.field("kind"), "required field \"kind\" is missing");
        return Envelope::Broken;
    };
    let (group, version) = api_version
        .unwrap_or_default()
        .rsplit_once('/')
        .unwrap_or(("", api_version.unwrap_or_default()));
    let known = Kind::from_group_name(group, kind_text);
    let Some(api_version) = api_version else {
        let finding = f.error(
            &here.field("apiVersion"),
            "required field \"apiVersion\" is missing",
        );
        if let Some(kind) = known {
            finding.hint(format!(
                "{kind} uses apiVersion {}",
                preferred_api_version(kind)
            ));
        }
        return Envelope::Broken;
    };
    let meta = root.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .unwrap_or("<unnamed>");
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str)
        .unwrap_or(crate::k8s::meta::DEFAULT_NAMESPACE);
    let ignored = || {
        Envelope::Ignored(IgnoredObject {
            kind: kind_text.to_owned(),
            api_version: api_version.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    };
    let severity = if strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    if let Some(u) = crate::other_kinds::lookup(group, kind_text) {
        let finding = f.push(
            severity,
            &here.field("kind"),
            format!("{kind_text} {}: {}", u.what, u.instead),
        );
        if let Some(h) = u.hint {
            finding.hint(h);
        }
        return ignored();
    }
    let Some(kind) = known else {
        // Both Gateways share a name; list it once.
        let mut names: Vec<&str> = Vec::new();
        for k in Kind::ALL.map(Kind::as_str) {
            if !names.contains(&k) {
                names.push(k);
            }
        }
        let hint = crate::diag::did_you_mean(kind_text, names.iter().copied())
            .map(|k| format!("did you mean \"{k}\"?"))
            .unwrap_or_else(|| format!("Meridian reads: {}", names.join(", ")));
        f.push(
            severity,
            &here.field("kind"),
            format!("unknown kind \"{kind_text}\" in apiVersion \"{api_version}\": Meridian does not read it and ignores the object"),
        )
        .hint(hint);
        return ignored();
    };
    if group != kind.group() || !kind.versions().contains(&version) {
        let accepted: Vec<String> = kind
            .versions()
            .iter()
            .map(|v| {
                if kind.group().is_empty() {
                    (*v).to_owned()
                } else {
                    format!("{}/{v}", kind.group())
                }
            })
            .collect();
        f.error(
            &here.field("apiVersion"),
            format!("no kind \"{kind}\" in apiVersion \"{api_version}\""),
        )
        .hint(format!("use {}", accepted.join(" or ")));
        return Envelope::Broken;
    }
    Envelope::Known(TypeMeta {
        kind,
        api_version: api_version.to_owned(),
        id: ResourceId {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        },
    })
}

/// When the envelope is broken, typed decoding does not run; name the misspelled keys here.
fn unknown_envelope_keys(root: &Node, f: &mut Findings) {
    const ENVELOPE: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];
    for e in root.as_map().unwrap_or_default() {
        let key = e.key.as_str().unwrap_or_default();
        if ENVELOPE.contains(&key) {
            continue;
        }
        let finding = f
            .error(
                &FieldPath::root().field(key.to_owned()),
                format!("unknown field \"{key}\""),
            )
            .at_key();
        finding.span = Some(e.key.span);
        if let Some(c) = crate::diag::did_you_mean(key, ENVELOPE) {
            finding.hint(format!("did you mean \"{c}\"?"));
        }
    }
}

fn preferred_api_version(kind: Kind) -> String {
    let v = kind.versions()[0];
    if kind.group().is_empty() {
        v.to_owned()
    } else {
        format!("{}/{v}", kind.group())
    }
}

/// A document of a known kind, decoded and validated.
pub(crate) struct Decoded {
    /// The resource.
    pub resource: Resource,
    /// False when a value failed to decode and a placeholder stands in for it.
    pub complete: bool,
}

/// Decodes and validates one document of a known kind.
pub(crate) fn decode_resource(root: &Node, tm: &TypeMeta, f: &mut Findings) -> Option<Decoded> {
    let mut complete = true;
    let resource = decode_kind(root, tm, f, &mut complete)?;
    Some(Decoded { resource, complete })
}

/// Decodes `node`, clearing `complete` when the decoder had to put placeholders in.
fn decode_counted<T: DeserializeOwned>(
    node: &Node,
    f: &mut Findings,
    complete: &mut bool,
) -> Option<T> {
    let before = f.error_count();
    let decoded = decode(node, f);
    *complete &= f.error_count() == before;
    decoded
}

fn decode_kind(
    root: &Node,
    tm: &TypeMeta,
    f: &mut Findings,
    complete: &mut bool,
) -> Option<Resource> {
    fn object<S: DeserializeOwned + Default>(
        root: &Node,
        tm: &TypeMeta,
        f: &mut Findings,
        complete: &mut bool,
        validate: impl FnOnce(&Object<S>, &mut Findings, &FieldPath),
    ) -> Option<Object<S>> {
        let raw: RawObject<S> = decode_counted(root, f, complete)?;
        let root_path = FieldPath::root();
        let metadata = match raw.metadata {
            Some(m) => {
                m.validate(f, &root_path.field("metadata"), tm.kind.name_rule());
                m
            }
            None => {
                f.error(
                    &root_path.field("metadata"),
                    "required field \"metadata\" is missing",
                )
                .hint("add `metadata: {name: ...}`");
                ObjectMeta::default()
            }
        };
        let (spec, present) = match raw.spec {
            Some(s) => (s, true),
            None => {
                f.error(
                    &root_path.field("spec"),
                    "required field \"spec\" is missing",
                );
                (S::default(), false)
            }
        };
        let obj = Object {
            api_version: tm.api_version.clone(),
            metadata,
            spec,
        };
        if present {
            validate(&obj, f, &root_path.field("spec"));
        }
        Some(obj)
    }

    /// Kinds without `spec`: the data sits beside the envelope.
    fn body_object<D>(
        meta: Option<ObjectMeta>,
        data: D,
        tm: &TypeMeta,
        f: &mut Findings,
    ) -> Object<D> {
        let metadata = match meta {
            Some(m) => {
                m.validate(f, &FieldPath::root().field("metadata"), tm.kind.name_rule());
                m
            }
            None => {
                f.error(
                    &FieldPath::root().field("metadata"),
                    "required field \"metadata\" is missing",
                )
                .hint("add `metadata: {name: ...}`");
                ObjectMeta::default()
            }
        };
        Object {
            api_version: tm.api_version.clone(),
            metadata,
            spec: data,
        }
    }

    Some(match tm.kind {
        Kind::Namespace => {
            let (m, d) = decode_counted::<RawNamespace>(root, f, complete)?.into_parts();
            Resource::Namespace(body_object(m, d, tm, f))
        }
        Kind::ServiceAccount => {
            let raw = decode_counted::<RawServiceAccount>(root, f, complete)?;
            raw.unserved(f);
            let (m, d) = raw.into_parts();
            Resource::ServiceAccount(body_object(m, d, tm, f))
        }
        Kind::ConfigMap => {
            let (m, d) = decode_counted::<RawConfigMap>(root, f, complete)?.into_parts();
            d.validate(f, &FieldPath::root());
            Resource::ConfigMap(body_object(m, d, tm, f))
        }
        Kind::Secret => {
            let (m, d) = decode_counted::<RawSecret>(root, f, complete)?.into_parts(f);
            Resource::Secret(body_object(m, d, tm, f))
        }
        Kind::Service => Resource::Service(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<ServiceSpec>, f, at| {
                o.spec.validate(f, at);
            },
        )?),
        Kind::Deployment => Resource::Deployment(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<DeploymentSpec>, f, at| {
                o.spec.validate(f, at);
            },
        )?),
        Kind::VirtualService => Resource::VirtualService(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<VirtualServiceSpec>, f, at| {
                o.spec.validate(f, at);
                crate::istio::validation::export_to_in_namespace(
                    f,
                    &at.field("exportTo"),
                    &o.spec.export_to,
                    o.metadata.namespace(),
                    false,
                );
            },
        )?),
        Kind::DestinationRule => Resource::DestinationRule(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<DestinationRuleSpec>, f, at| {
                o.spec.validate(f, at);
                crate::istio::validation::export_to_in_namespace(
                    f,
                    &at.field("exportTo"),
                    &o.spec.export_to,
                    o.metadata.namespace(),
                    o.spec.workload_selector.is_some(),
                );
            },
        )?),
        Kind::Gateway => Resource::Gateway(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<GatewaySpec>, f, at| {
                o.spec.validate(f, at);
            },
        )?),
        Kind::ServiceEntry => Resource::ServiceEntry(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<ServiceEntrySpec>, f, at| {
                o.spec.validate(f, at);
                o.spec.validate_waypoint(f, at, &o.metadata.labels);
                crate::istio::validation::export_to_in_namespace(
                    f,
                    &at.field("exportTo"),
                    &o.spec.export_to,
                    o.metadata.namespace(),
                    false,
                );
            },
        )?),
        Kind::PeerAuthentication => Resource::PeerAuthentication(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<PeerAuthenticationSpec>, f, at| {
                o.spec.validate(f, at);
            },
        )?),
        Kind::AuthorizationPolicy => Resource::AuthorizationPolicy(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<AuthorizationPolicySpec>, f, at| {
                o.spec.validate(f, at);
                crate::istio::security::authorization_policy::validate_dry_run(
                    f,
                    &o.spec,
                    &o.metadata.annotations,
                );
            },
        )?),
        Kind::GatewayClass => Resource::GatewayClass(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<gw::GatewayClassSpec>, f, at| o.spec.validate(f, at),
        )?),
        Kind::KubernetesGateway => Resource::KubernetesGateway(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<gw::GatewaySpec>, f, at| o.spec.validate(f, at),
        )?),
        Kind::HttpRoute => Resource::HttpRoute(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<gw::HttpRouteSpec>, f, at| o.spec.validate(f, at),
        )?),
        Kind::GrpcRoute => Resource::GrpcRoute(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<gw::GrpcRouteSpec>, f, at| o.spec.validate(f, at),
        )?),
        Kind::ReferenceGrant => Resource::ReferenceGrant(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<gw::ReferenceGrantSpec>, f, at| o.spec.validate(f, at),
        )?),
        Kind::IngressClass => Resource::IngressClass(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<IngressClassSpec>, f, at| o.spec.validate(f, at),
        )?),
        Kind::Ingress => Resource::Ingress(object(
            root,
            tm,
            f,
            complete,
            |o: &Object<IngressSpec>, f, at| crate::k8s::ingress::validate(o, f, at),
        )?),
    })
}
