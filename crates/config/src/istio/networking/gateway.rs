//! Gateway: listeners at the edge of the mesh (ports, hosts, TLS) that VirtualServices bind to.

use std::collections::BTreeMap;

use super::v;
use crate::diag::Findings;
use crate::k8s::meta::validate_labels;
use crate::path::FieldPath;

/// `spec` of a Gateway.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySpec {
    /// Listeners.
    #[serde(default)]
    pub servers: Vec<Server>,
    /// Which gateway workload runs it (`istio: ingressgateway` is Meridian's built-in one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

/// A listener.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    /// Port and protocol.
    pub port: Option<Port>,
    /// Address to bind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Hosts served (`[namespace/]host`, wildcards allowed).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Default endpoint for traffic (unused by HTTP servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_endpoint: Option<String>,
    /// Name, unique within the gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A gateway port.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Port {
    /// Port number.
    pub number: Option<u32>,
    /// HTTP, HTTPS, GRPC, GRPC-WEB, HTTP2, MONGO, TCP or TLS.
    pub protocol: Option<String>,
    /// Port name.
    pub name: Option<String>,
    /// Deprecated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// Server-side TLS.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// Redirect plain HTTP to HTTPS with a 301.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_redirect: Option<bool>,
    /// Mode (PASSTHROUGH when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ServerTlsMode>,
    /// Certificate file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<String>,
    /// Key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// CA bundle to verify client certificates (MUTUAL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// CRL file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
    /// A named credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// Up to two named credentials (RSA and ECDSA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_names: Vec<String>,
    /// Up to two certificate/key pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_certificates: Vec<TlsCertificate>,
    /// Client certificate names accepted (MUTUAL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// Client certificate SPKI hashes accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_spki: Vec<String>,
    /// Client certificate hashes accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_hash: Vec<String>,
    /// Lowest TLS version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_protocol_version: Option<TlsProtocol>,
    /// Highest TLS version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_protocol_version: Option<TlsProtocol>,
    /// Cipher suites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
}

/// A certificate/key pair.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsCertificate {
    /// Certificate file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<String>,
    /// Key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// CA bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
}

/// Server TLS modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    /// Forward TLS by SNI without terminating it.
    Passthrough,
    /// Terminate TLS.
    Simple,
    /// Terminate TLS and require a client certificate.
    Mutual,
    /// Passthrough with SNI-encoded destinations.
    AutoPassthrough,
    /// Terminate with the mesh identity.
    IstioMutual,
    /// Terminate; a client certificate is verified when presented.
    OptionalMutual,
}

/// TLS versions.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TlsProtocol {
    /// Automatic.
    TlsAuto,
    /// TLS 1.0.
    #[serde(rename = "TLSV1_0")]
    Tlsv10,
    /// TLS 1.1.
    #[serde(rename = "TLSV1_1")]
    Tlsv11,
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    Tlsv12,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    Tlsv13,
}

/// Protocols a Gateway port may declare.
pub const GATEWAY_PROTOCOLS: &[&str] = &[
    "HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "TCP", "TLS",
];

impl Port {
    /// The protocol upper-cased.
    pub fn protocol_upper(&self) -> String {
        self.protocol
            .as_deref()
            .unwrap_or_default()
            .to_ascii_uppercase()
    }
}

impl GatewaySpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        validate_labels(f, &at.field("selector"), &self.selector);
        if self.servers.is_empty() {
            f.error(
                &at.field("servers"),
                "gateway must have at least one server",
            );
        }
        let mut server_names: Vec<&str> = Vec::new();
        let mut port_names: Vec<(&str, u32)> = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            let sp = at.field("servers").index(i);
            if let Some(n) = s.name.as_deref() {
                if server_names.contains(&n) {
                    f.error(
                        &sp.field("name"),
                        format!("server names must be unique: \"{n}\""),
                    );
                }
                server_names.push(n);
            }
            s.validate(f, &sp);
            if let Some(p) = &s.port
                && let (Some(name), Some(num)) = (p.name.as_deref(), p.number)
            {
                if port_names
                    .iter()
                    .any(|(n, num2)| *n == name && *num2 != num)
                {
                    f.error(
                        &sp.field("port").field("name"),
                        format!("port names in servers must be unique: duplicate name {name}"),
                    );
                }
                port_names.push((name, num));
            }
        }
    }
}

impl Server {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.hosts.is_empty() {
            f.error(
                &at.field("hosts"),
                "server config must contain at least one host",
            );
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let hp = at.field("hosts").index(i);
            let (ns, host) = match h.split_once('/') {
                Some((ns, host)) => (Some(ns), host),
                None => (None, h.as_str()),
            };
            if let Some(ns) = ns
                && ns != "*"
                && ns != "."
                && let Err(e) = crate::k8s::meta::NameRule::Label.check(ns)
            {
                f.error(
                    &hp,
                    format!("invalid namespace value \"{ns}\" in host \"{h}\": {e}"),
                );
            }
            if let Err(e) = v::check_wildcard_host(host) {
                f.error(&hp, e);
            } else if host != "*" && !host.contains('.') {
                f.error(
                    &hp,
                    format!("invalid host \"{h}\": short names (non FQDN) are not allowed"),
                )
                .hint(format!(
                    "write the full name, such as \"{host}.example.com\""
                ));
            }
        }
        let proto = match &self.port {
            None => {
                f.error(&at.field("port"), "port is required");
                String::new()
            }
            Some(p) => {
                let pp = at.field("port");
                let unix = self
                    .bind
                    .as_deref()
                    .is_some_and(|b| b.starts_with("unix://"));
                match p.number {
                    None | Some(0) if unix => {
                        // Istio accepts the bind; the server is left out of what runs.
                        f.warn(&at.field("bind"), "a unix domain socket is not served: Meridian's gateways listen on TCP ports, so this server is left out")
                            .hint("remove `bind` and give the port a number");
                    }
                    None | Some(0) => {
                        f.error(&pp.field("number"), "port number is required");
                    }
                    Some(n) if unix => {
                        f.error(
                            &pp.field("number"),
                            format!("port number must be 0 for unix domain socket: {n}"),
                        );
                    }
                    n => v::port(f, &pp.field("number"), n),
                }
                match p.protocol.as_deref() {
                    None | Some("") => {
                        f.error(&pp.field("protocol"), "protocol must be set");
                    }
                    Some(proto) => {
                        if !GATEWAY_PROTOCOLS.contains(&proto.to_ascii_uppercase().as_str()) {
                            f.error(
                                &pp.field("protocol"),
                                format!("unrecognized protocol \"{proto}\""),
                            )
                            .hint(format!("one of: {}", GATEWAY_PROTOCOLS.join(", ")));
                        }
                    }
                }
                if p.name.as_deref().is_none_or(str::is_empty) {
                    f.error(&pp.field("name"), "port name must be set");
                }
                p.protocol_upper()
            }
        };
        if let Some(b) = &self.bind
            && b.parse::<std::net::IpAddr>().is_err()
            && !b.starts_with("unix://")
        {
            f.error(
                &at.field("bind"),
                format!("\"{b}\" is not a valid IP address"),
            );
        }
        let tls_proto = proto == "HTTPS" || proto == "TLS";
        match &self.tls {
            None if tls_proto => {
                f.error(&at.field("tls"), format!("server must have TLS settings for HTTPS/TLS protocols (port protocol is {proto})"));
            }
            None => {}
            Some(t) => t.validate(f, &at.field("tls"), &proto),
        }
    }
}

impl ServerTlsSettings {
    fn validate(&self, f: &mut Findings, at: &FieldPath, proto: &str) {
        let redirect_only = self.https_redirect == Some(true) && self.mode.is_none();
        if redirect_only {
            if proto != "HTTPS" && proto != "TLS" {
                return;
            }
            // Istio accepts it with a warning and reads the server as PASSTHROUGH.
            f.warn(
                &at.field("httpsRedirect"),
                "tls.httpsRedirect should only be used with http servers",
            )
            .hint(
                "an HTTPS/TLS server needs a TLS mode; put httpsRedirect on the plain HTTP server",
            );
        }
        let mode = self.mode.unwrap_or(ServerTlsMode::Passthrough);
        let has_files = self.server_certificate.is_some() || self.private_key.is_some();
        let has_cred = self.credential_name.is_some()
            || !self.credential_names.is_empty()
            || !self.tls_certificates.is_empty();
        if self.credential_name.is_some() && !self.credential_names.is_empty() {
            f.error(
                &at.field("credentialNames"),
                "only one of credentialName or credentialNames can be set",
            );
        }
        if !self.credential_names.is_empty() && !self.tls_certificates.is_empty() {
            f.error(
                &at.field("tlsCertificates"),
                "only one of credentialNames or tlsCertificates can be set",
            );
        }
        if self.credential_name.is_some() && !self.tls_certificates.is_empty() {
            f.error(
                &at.field("tlsCertificates"),
                "only one of credentialName or tlsCertificates can be set",
            );
        }
        let file_pair = self.server_certificate.is_some() && self.private_key.is_some();
        if file_pair && has_cred {
            f.error(
                at,
                "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
            );
        }
        if self.credential_names.len() > 2 {
            f.error(
                &at.field("credentialNames"),
                "credentialNames may hold at most 2 entries (one RSA and one ECDSA)",
            );
        }
        if self.tls_certificates.len() > 2 {
            f.warn(
                &at.field("tlsCertificates"),
                format!(
                    "{} TLS can support up to 2 server certificates",
                    if mode == ServerTlsMode::Simple {
                        "SIMPLE"
                    } else {
                        "MUTUAL"
                    }
                ),
            );
        }
        match mode {
            ServerTlsMode::Simple | ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual => {
                if !has_cred {
                    if self.server_certificate.is_none() {
                        f.error(
                            &at.field("serverCertificate"),
                            format!("{} TLS requires a server certificate", mode_name(mode)),
                        );
                    }
                    if self.private_key.is_none() {
                        f.error(
                            &at.field("privateKey"),
                            format!("{} TLS requires a private key", mode_name(mode)),
                        );
                    }
                }
                // Certificates from a Secret carry their CA; files and tlsCertificates do not.
                let from_secret =
                    self.credential_name.is_some() || !self.credential_names.is_empty();
                if mode != ServerTlsMode::Simple && !from_secret && self.ca_certificates.is_none() {
                    f.error(
                        &at.field("caCertificates"),
                        format!(
                            "{} TLS requires CA certificates to verify clients",
                            mode_name(mode)
                        ),
                    );
                }
                for (i, c) in self.tls_certificates.iter().enumerate() {
                    let cp = at.field("tlsCertificates").index(i);
                    if c.server_certificate.is_none() {
                        f.error(
                            &cp.field("serverCertificate"),
                            "required field \"serverCertificate\" is missing",
                        );
                    }
                    if c.private_key.is_none() {
                        f.error(
                            &cp.field("privateKey"),
                            "required field \"privateKey\" is missing",
                        );
                    }
                }
            }
            ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough => {
                if has_files || has_cred {
                    f.warn(at, "certificates are ignored in PASSTHROUGH modes");
                }
                let http_port = matches!(proto, "HTTPS" | "HTTP" | "HTTP2" | "GRPC");
                if http_port && (mode == ServerTlsMode::AutoPassthrough || proto != "HTTPS") {
                    f.error(
                        &at.field("mode"),
                        format!(
                            "{} mode requires a TLS protocol port, got {proto}",
                            mode_name(mode)
                        ),
                    );
                }
            }
            ServerTlsMode::IstioMutual => {
                if has_files || has_cred || self.ca_certificates.is_some() {
                    f.error(at, "ISTIO_MUTUAL TLS cannot have associated private key, server certificate or CA certificates");
                }
            }
        }
        self.validate_client_checks(f, at, mode);
        self.validate_versions_and_ciphers(f, at);
        if let (Some(min), Some(max)) = (self.min_protocol_version, self.max_protocol_version)
            && min != TlsProtocol::TlsAuto
            && max != TlsProtocol::TlsAuto
            && min > max
        {
            f.error(
                &at.field("minProtocolVersion"),
                "minProtocolVersion should not be higher than maxProtocolVersion",
            );
        }
    }
}

/// The TLS 1.2 cipher suites Meridian's TLS (rustls) serves, by the OpenSSL/BoringSSL names
/// Istio and Envoy use. TLS 1.3 suites are not configurable (as in Envoy).
pub const SUPPORTED_CIPHER_SUITES: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// The listed suites Meridian's TLS serves, in their order, each once: what a server offers
/// (its defaults when this is empty).
pub fn served_cipher_suites(listed: &[String]) -> Vec<String> {
    let mut served: Vec<String> = Vec::new();
    for c in listed {
        if SUPPORTED_CIPHER_SUITES.contains(&c.as_str()) && !served.contains(c) {
            served.push(c.clone());
        }
    }
    served
}

/// A `verifyCertificateSpki` entry: the base64 of a SHA-256 hash.
pub fn decode_spki_hash(s: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    bytes.try_into().ok()
}

/// A `verifyCertificateHash` entry: a SHA-256 hash in hex, with or without colons.
pub fn decode_cert_hash(s: &str) -> Option<[u8; 32]> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

impl ServerTlsSettings {
    /// What verifies client certificates: only meaningful when the gateway asks for one.
    fn validate_client_checks(&self, f: &mut Findings, at: &FieldPath, mode: ServerTlsMode) {
        let verifies_clients =
            matches!(mode, ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual);
        for (field, set) in [
            ("subjectAltNames", !self.subject_alt_names.is_empty()),
            (
                "verifyCertificateSpki",
                !self.verify_certificate_spki.is_empty(),
            ),
            (
                "verifyCertificateHash",
                !self.verify_certificate_hash.is_empty(),
            ),
            ("caCrl", self.ca_crl.is_some()),
        ] {
            if set && !verifies_clients {
                f.warn(
                    &at.field(field),
                    format!(
                        "{field} checks client certificates, which a {} server does not ask for; it has no effect",
                        mode_name(mode)
                    ),
                );
            }
        }
        for (i, v) in self.verify_certificate_spki.iter().enumerate() {
            if decode_spki_hash(v).is_none() {
                f.error(
                    &at.field("verifyCertificateSpki").index(i),
                    format!("{v:?} is not a base64-encoded SHA-256 hash"),
                )
                .hint("openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64");
            }
        }
        for (i, v) in self.verify_certificate_hash.iter().enumerate() {
            if decode_cert_hash(v).is_none() {
                f.error(
                    &at.field("verifyCertificateHash").index(i),
                    format!("{v:?} is not a hex-encoded SHA-256 hash (64 digits, colons allowed)"),
                )
                .hint("openssl x509 -noout -fingerprint -sha256");
            }
        }
        if self.credential_names.len() > 1 || self.tls_certificates.len() > 1 {
            let field = if self.credential_names.len() > 1 {
                "credentialNames"
            } else {
                "tlsCertificates"
            };
            f.warn(
                &at.field(field).index(1),
                "only the first certificate is served; a second one (RSA beside ECDSA) is not",
            );
        }
    }

    fn validate_versions_and_ciphers(&self, f: &mut Findings, at: &FieldPath) {
        let old =
            |v: Option<TlsProtocol>| matches!(v, Some(TlsProtocol::Tlsv10 | TlsProtocol::Tlsv11));
        if old(self.max_protocol_version) {
            f.error(
                &at.field("maxProtocolVersion"),
                "TLS 1.0 and 1.1 are not served (Meridian's TLS speaks TLS 1.2 and 1.3)",
            )
            .hint("use TLSV1_2 or TLSV1_3");
        }
        if old(self.min_protocol_version) {
            f.warn(
                &at.field("minProtocolVersion"),
                "TLS 1.0 and 1.1 are not served (Meridian's TLS speaks TLS 1.2 and 1.3): the minimum is TLS 1.2",
            );
        }
        // As Istio (which leaves out the names BoringSSL does not know, and duplicates, with
        // a warning), a suite Meridian's TLS cannot serve is left out with a warning: the
        // server offers the listed suites it can serve, or its defaults when none remains.
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.cipher_suites.iter().enumerate() {
            let here = at.field("cipherSuites").index(i);
            if !seen.insert(c.as_str()) {
                f.warn(
                    &here,
                    format!("cipher suite {c:?} is listed more than once"),
                );
            } else if !SUPPORTED_CIPHER_SUITES.contains(&c.as_str()) {
                let hint =
                    match crate::diag::did_you_mean(c, SUPPORTED_CIPHER_SUITES.iter().copied()) {
                        Some(s) => format!("did you mean {s:?}?"),
                        None => format!("supported: {}", SUPPORTED_CIPHER_SUITES.join(", ")),
                    };
                f.warn(
                    &here,
                    format!("cipher suite {c:?} is not offered: Meridian's TLS does not serve it"),
                )
                .hint(hint);
            }
        }
        if !self.cipher_suites.is_empty() && served_cipher_suites(&self.cipher_suites).is_empty() {
            f.warn(
                &at.field("cipherSuites"),
                format!(
                    "none of the listed cipher suites is served: Meridian's TLS offers its default suites instead ({})",
                    SUPPORTED_CIPHER_SUITES.join(", ")
                ),
            );
        }
        if !self.cipher_suites.is_empty() && self.min_protocol_version == Some(TlsProtocol::Tlsv13)
        {
            f.warn(
                &at.field("cipherSuites"),
                "cipherSuites apply to TLS 1.2 only; with minProtocolVersion TLSV1_3 they have no effect",
            );
        }
    }
}

fn mode_name(m: ServerTlsMode) -> &'static str {
    match m {
        ServerTlsMode::Passthrough => "PASSTHROUGH",
        ServerTlsMode::Simple => "SIMPLE",
        ServerTlsMode::Mutual => "MUTUAL",
        ServerTlsMode::AutoPassthrough => "AUTO_PASSTHROUGH",
        ServerTlsMode::IstioMutual => "ISTIO_MUTUAL",
        ServerTlsMode::OptionalMutual => "OPTIONAL_MUTUAL",
    }
}
