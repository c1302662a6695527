//! Kinds other than those Meridian reads: the ones it recognises and does not run or serve,
//! each with what Meridian does instead. Files written for a cluster hold them next to the
//! kinds Meridian reads (Istio's samples ship a Role beside a Deployment, an HTTPRoute beside
//! a Service); they load with a warning that says so, and fail only when strict mode asks for
//! every object to be used.

/// Why a kind is passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unserved {
    /// What the kind is for, in a few words (`is not served yet`, `is not run`).
    pub what: &'static str,
    /// What Meridian does instead.
    pub instead: &'static str,
    /// How to get the same effect, when there is a way.
    pub hint: Option<&'static str>,
}

const fn u(what: &'static str, instead: &'static str, hint: Option<&'static str>) -> Unserved {
    Unserved {
        what,
        instead,
        hint,
    }
}

const NOT_RUN: Unserved = u(
    "is not run",
    "Meridian runs Deployments (their pod template, as processes)",
    Some("put the pod spec under a Deployment's `spec.template`"),
);

const GATEWAY_API: Unserved = u(
    "(Kubernetes Gateway API) is not served yet",
    "Meridian's gateway serves Gateway API Gateways with their HTTPRoutes and GRPCRoutes, and Istio Gateways with their VirtualServices",
    Some(
        "route HTTP and gRPC with an HTTPRoute or GRPCRoute; TCP and TLS routes are not served yet",
    ),
);

const RBAC: Unserved = u(
    "has nothing to guard",
    "Meridian has no Kubernetes API; traffic between workloads is authorized by AuthorizationPolicy",
    None,
);

/// The kinds known by `(group, kind)`, the group being the part of `apiVersion` before `/`
/// (empty for the core group).
const TABLE: &[(&str, &[&str], Unserved)] = &[
    ("", &["Pod", "ReplicationController"], NOT_RUN),
    ("apps", &["StatefulSet", "DaemonSet", "ReplicaSet"], NOT_RUN),
    (
        "batch",
        &["Job", "CronJob"],
        u(
            "is not run",
            "Meridian runs long-lived Deployments, not jobs to completion",
            Some("run the job's command yourself, or as a Deployment's init container"),
        ),
    ),
    (
        "",
        &["PersistentVolumeClaim", "PersistentVolume"],
        u(
            "is not provided",
            "replicas run as processes on the node's file system, without volumes",
            None,
        ),
    ),
    (
        "storage.k8s.io",
        &["StorageClass", "CSIDriver", "VolumeAttachment"],
        u(
            "is not provided",
            "replicas run as processes on the node's file system, without volumes",
            None,
        ),
    ),
    (
        "",
        &["Endpoints"],
        u(
            "is not read",
            "Meridian builds a Service's endpoints from the replicas its selector picks",
            Some("for endpoints outside the mesh, declare a ServiceEntry"),
        ),
    ),
    (
        "discovery.k8s.io",
        &["EndpointSlice"],
        u(
            "is not read",
            "Meridian builds a Service's endpoints from the replicas its selector picks",
            Some("for endpoints outside the mesh, declare a ServiceEntry"),
        ),
    ),
    (
        "",
        &["LimitRange", "ResourceQuota"],
        u(
            "is not enforced",
            "Meridian applies each container's own `resources.limits`",
            None,
        ),
    ),
    (
        "autoscaling",
        &["HorizontalPodAutoscaler"],
        u(
            "is not applied",
            "Meridian keeps a Deployment's `replicas` and does not scale on load",
            Some("change the count with `meridian scale`"),
        ),
    ),
    (
        "policy",
        &["PodDisruptionBudget"],
        u(
            "is not needed",
            "a Meridian node evicts no replica; rollouts follow the Deployment's strategy",
            None,
        ),
    ),
    (
        "policy",
        &["PodSecurityPolicy"],
        u(
            "is not applied",
            "replicas run as processes of the user who started Meridian",
            None,
        ),
    ),
    (
        "networking.k8s.io",
        &["NetworkPolicy"],
        u(
            "is not enforced",
            "traffic between workloads is authorized by AuthorizationPolicy",
            None,
        ),
    ),
    (
        "gateway.networking.k8s.io",
        &[
            "TCPRoute",
            "TLSRoute",
            "UDPRoute",
            "BackendTLSPolicy",
            "BackendLBPolicy",
            "ListenerSet",
            "XListenerSet",
            "XBackendTrafficPolicy",
        ],
        GATEWAY_API,
    ),
    (
        "rbac.authorization.k8s.io",
        &["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"],
        RBAC,
    ),
    (
        "apiextensions.k8s.io",
        &["CustomResourceDefinition"],
        u(
            "is not served",
            "Meridian reads the kinds it knows from files and has no Kubernetes API for others",
            None,
        ),
    ),
    (
        "admissionregistration.k8s.io",
        &[
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ],
        u(
            "is not called",
            "Meridian checks what it reads itself, as Istio's webhook would (`meridian validate`)",
            None,
        ),
    ),
    (
        "networking.istio.io",
        &["Sidecar"],
        u(
            "is not applied yet",
            "every sidecar sees every Service and ServiceEntry of the mesh",
            None,
        ),
    ),
    (
        "networking.istio.io",
        &["EnvoyFilter"],
        u(
            "has nothing to patch",
            "Meridian's proxy is not Envoy",
            None,
        ),
    ),
    (
        "networking.istio.io",
        &["WorkloadEntry", "WorkloadGroup"],
        u(
            "is not applied yet",
            "workloads outside Meridian are reached through a ServiceEntry",
            Some("list the addresses under a ServiceEntry's `endpoints`"),
        ),
    ),
    (
        "networking.istio.io",
        &["ProxyConfig"],
        u(
            "is not applied",
            "Meridian's proxy is configured by `meridian up`'s flags",
            None,
        ),
    ),
    (
        "security.istio.io",
        &["RequestAuthentication"],
        u(
            "is not applied yet",
            "JWTs are neither checked nor turned into request principals, so AuthorizationPolicy rules on `requestPrincipals` never match",
            None,
        ),
    ),
    (
        "telemetry.istio.io",
        &["Telemetry"],
        u(
            "is not applied yet",
            "Meridian always exports Istio's standard metrics, access logs and traces as `meridian up`'s flags set them",
            None,
        ),
    ),
    (
        "extensions.istio.io",
        &["WasmPlugin"],
        u("is not run", "Meridian's proxy loads no Wasm", None),
    ),
    (
        "install.istio.io",
        &["IstioOperator"],
        u(
            "has nothing to install",
            "`meridian up` runs the mesh's control plane, sidecars and gateway itself",
            None,
        ),
    ),
    (
        "monitoring.coreos.com",
        &["ServiceMonitor", "PodMonitor", "PrometheusRule"],
        u(
            "is not read",
            "Meridian serves its metrics on the admin address (`/metrics`, `/stats/prometheus`, `/federate`)",
            Some("point Prometheus at `meridian up`'s admin address"),
        ),
    ),
];

/// What Meridian does instead of the kind `kind` of API group `group`, when it is one it
/// knows and does not serve.
pub fn lookup(group: &str, kind: &str) -> Option<Unserved> {
    TABLE
        .iter()
        .find(|(g, kinds, _)| *g == group && kinds.contains(&kind))
        .map(|(_, _, u)| *u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_decides() {
        assert_eq!(
            lookup("gateway.networking.k8s.io", "TCPRoute"),
            Some(GATEWAY_API)
        );
        assert_eq!(lookup("gateway.networking.k8s.io", "Gateway"), None);
        assert_eq!(lookup("networking.istio.io", "Gateway"), None);
        assert_eq!(lookup("", "Pod"), Some(NOT_RUN));
        assert_eq!(lookup("apps", "Pod"), None);
        assert_eq!(lookup("", "Service"), None);
    }

    #[test]
    fn every_kind_is_listed_once_per_group() {
        let mut seen = std::collections::BTreeSet::new();
        for (g, kinds, _) in TABLE {
            for k in *kinds {
                assert!(seen.insert((*g, *k)), "{g}/{k} twice");
                let served =
                    crate::Kind::from_group_name(g, k).is_some_and(|kind| kind.group() == *g);
                assert!(!served, "{g}/{k} is served");
            }
        }
    }
}
