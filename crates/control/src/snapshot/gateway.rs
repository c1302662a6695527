//! Gateway listeners: the Gateway servers of the built-in ingress gateway grouped by port,
//! each port with its TLS settings per server and the route table of the VirtualServices
//! bound to those servers.

use serde::Serialize;

use super::table::RouteTable;

/// One listening port of the ingress gateway.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayListener {
    /// The port as declared (the proxy may bind it at an offset).
    pub port: u16,
    /// Whether the listener terminates TLS.
    pub tls: bool,
    /// The servers on this port.
    pub servers: Vec<GatewayServer>,
    /// Virtual hosts of the bound VirtualServices.
    pub routes: RouteTable,
}

impl GatewayListener {
    /// The server whose hosts cover `sni` (exact before wildcard), else the first TLS one.
    pub fn server_for_sni(&self, sni: Option<&str>) -> Option<&GatewayServer> {
        let tls_servers = || self.servers.iter().filter(|s| s.tls.is_some());
        if let Some(sni) = sni {
            let sni = sni.to_ascii_lowercase();
            if let Some(s) = tls_servers().find(|s| s.hosts.contains(&sni)) {
                return Some(s);
            }
            let mut best: Option<(&GatewayServer, usize)> = None;
            for s in tls_servers() {
                for h in &s.hosts {
                    if let Some(suffix) = h.strip_prefix('*')
                        && (suffix.is_empty()
                            || (sni.ends_with(suffix) && sni.len() > suffix.len()))
                        && best.is_none_or(|(_, len)| suffix.len() > len)
                    {
                        best = Some((s, suffix.len()));
                    }
                }
            }
            if let Some((s, _)) = best {
                return Some(s);
            }
        }
        tls_servers().next()
    }
}

/// A Gateway server.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayServer {
    /// `namespace/name` of its Gateway.
    pub gateway: String,
    /// Server name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Declared protocol (upper case).
    pub protocol: String,
    /// Host patterns (namespace part removed), lower case.
    pub hosts: Vec<String>,
    /// TLS termination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
}

/// Server TLS modes Meridian terminates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    /// Server certificate only.
    Simple,
    /// Client certificate required.
    Mutual,
    /// Client certificate verified when presented.
    OptionalMutual,
}

/// TLS settings of a server, with certificate paths resolved against the manifest's folder.
/// Every field is enforced by the gateway; what Meridian cannot enforce is refused when the
/// Gateway is validated.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTls {
    /// Mode.
    pub mode: ServerTlsMode,
    /// Certificate chain file (PEM).
    pub server_certificate: String,
    /// Private key file (PEM).
    pub private_key: String,
    /// CA bundle for client certificates (MUTUAL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// Certificate revocation lists (PEM) for client certificates; reread when the file
    /// changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
    /// Accepted client certificate names: a client certificate must carry one of them as a
    /// DNS, URI, IP or email SAN.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// SHA-256 hashes of the SubjectPublicKeyInfo of accepted client certificates.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "hex_list")]
    pub verify_certificate_spki: Vec<[u8; 32]>,
    /// SHA-256 hashes of accepted client certificates.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "hex_list")]
    pub verify_certificate_hash: Vec<[u8; 32]>,
    /// Lowest TLS version.
    pub min_protocol_version: TlsVersion,
    /// Highest TLS version.
    pub max_protocol_version: TlsVersion,
    /// TLS 1.2 cipher suites, by their OpenSSL names, in preference order (empty: the
    /// defaults).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    /// The certificates of a Kubernetes Secret named by `credentialName`, read from the
    /// bundle when the snapshot was compiled; when set, `server_certificate`,
    /// `private_key` and `ca_certificates` name the Secret's keys instead of files. Never
    /// serialized: the key stays out of every dump.
    #[serde(skip)]
    pub credential: Option<std::sync::Arc<Credential>>,
}

/// A TLS credential from a Kubernetes Secret, in PEM.
#[derive(Clone)]
pub struct Credential {
    /// `namespace/name` of the Secret.
    pub secret: String,
    /// The certificate chain (`tls.crt`, or `cert` in Istio's generic form).
    pub certificate_chain: Vec<u8>,
    /// The private key (`tls.key`, or `key`).
    pub private_key: Vec<u8>,
    /// The CA bundle for client certificates (`ca.crt` or `cacert`, in the same Secret or
    /// in `<name>-cacert`).
    pub ca_certificates: Option<Vec<u8>>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("secret", &self.secret)
            .field("private_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// TLS versions the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    Tls13,
}

fn hex_list<S: serde::Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
    use std::fmt::Write as _;
    s.collect_seq(v.iter().map(|h| {
        h.iter().fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    }))
}
