//! Certificates: an issued workload certificate with its key, and reading any certificate for
//! people (subject, SANs, validity, serial, issuer, fingerprint) as `meridian ca root` and
//! `meridian ca inspect` print them.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{Error, SpiffeId};

/// A workload certificate as issued: the chain (leaf first, then any intermediates, never the
/// root) and its private key.
pub struct IssuedCert {
    id: SpiffeId,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl IssuedCert {
    pub(crate) fn new(
        id: SpiffeId,
        chain: Vec<CertificateDer<'static>>,
        key: PrivatePkcs8KeyDer<'static>,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Self {
        Self {
            id,
            chain,
            key,
            not_before,
            not_after,
        }
    }

    /// The identity in the certificate's URI SAN.
    pub fn id(&self) -> &SpiffeId {
        &self.id
    }

    /// Leaf first, then the intermediates a peer needs to reach the root.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `new` is only called with a chain that starts with the leaf.
        &self.chain[0]
    }

    /// The private key (PKCS#8 DER).
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }

    /// Start of validity (backdated a little for clock skew between nodes).
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The chain as PEM, leaf first.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| pem_encode("CERTIFICATE", c))
            .collect()
    }

    /// The private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", self.key.secret_pkcs8_der())
    }

    /// What the leaf says, for display.
    pub fn info(&self) -> Result<CertInfo, Error> {
        CertInfo::from_der(self.leaf())
    }

    /// The rustls form of this certificate and key.
    pub(crate) fn certified_key(&self) -> Result<Arc<CertifiedKey>, Error> {
        let provider = crate::tls::provider();
        Ok(Arc::new(CertifiedKey::from_der(
            self.chain.clone(),
            self.private_key(),
            &provider,
        )?))
    }
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("IssuedCert")
            .field("id", &self.id.as_str())
            .field("chain_len", &self.chain.len())
            .field("not_before", &rfc3339(self.not_before))
            .field("not_after", &rfc3339(self.not_after))
            .finish_non_exhaustive()
    }
}

/// What a certificate says, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name, e.g. `CN=Meridian Root CA, O=cluster.local`; empty for
    /// workload certificates, whose identity is their URI SAN.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number as colon-separated hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Subject alternative names as `URI:…`, `DNS:…`, `IP:…`, `EMAIL:…`.
    pub sans: Vec<String>,
    /// Whether basicConstraints says CA:TRUE.
    pub is_ca: bool,
    /// SHA-256 of the DER, colon-separated upper-case hex (as `openssl x509 -fingerprint`).
    pub fingerprint_sha256: String,
    /// SHA-256 of the DER (what Istio's `verifyCertificateHash` pins).
    pub sha256: [u8; 32],
    /// SHA-256 of the DER SubjectPublicKeyInfo (what `verifyCertificateSpki` pins).
    pub spki_sha256: [u8; 32],
}

impl CertInfo {
    /// Reads one DER certificate.
    ///
    /// ```
    /// # use meridian_identity::CertInfo;
    /// # fn show(der: &[u8]) -> Result<(), meridian_identity::Error> {
    /// let info = CertInfo::from_der(der)?;
    /// println!("{} expires {}", info.subject, meridian_identity::rfc3339(info.not_after));
    /// # Ok(()) }
    /// ```
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| Error::BadCertificate {
            reason: e.to_string(),
        })?;
        let sans = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext.value.general_names.iter().map(san_label).collect(),
            Ok(None) => Vec::new(),
            Err(e) => {
                return Err(Error::BadCertificate {
                    reason: format!("subject alternative names: {e}"),
                });
            }
        };
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            not_before: cert.validity().not_before.to_datetime().into(),
            not_after: cert.validity().not_after.to_datetime().into(),
            sans,
            is_ca: cert.is_ca(),
            fingerprint_sha256: fingerprint_sha256(der),
            sha256: sha256(der),
            spki_sha256: sha256(cert.public_key().raw),
        })
    }

    /// Reads every certificate in PEM text, in order (a chain or a bundle).
    pub fn from_pem(pem: &str) -> Result<Vec<Self>, Error> {
        let ders = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::BadCertificate {
                reason: format!("pem: {e}"),
            })?;
        if ders.is_empty() {
            return Err(Error::NoCertificate);
        }
        ders.iter().map(|der| Self::from_der(der)).collect()
    }

    /// The SAN values without their type (`URI:`, `DNS:`, `IP:`, `EMAIL:`), as Envoy matches
    /// `match_subject_alt_names` against any type.
    pub fn san_values(&self) -> impl Iterator<Item = &str> {
        self.sans
            .iter()
            .map(|s| s.split_once(':').map_or(s.as_str(), |(_, v)| v))
    }

    /// The SPIFFE ID when the certificate has exactly one URI SAN and it is a valid one.
    pub fn spiffe_id(&self) -> Option<SpiffeId> {
        let mut uris = self.sans.iter().filter_map(|san| san.strip_prefix("URI:"));
        match (uris.next(), uris.next()) {
            (Some(uri), None) => SpiffeId::parse(uri).ok(),
            _ => None,
        }
    }

    /// Time left until `not_after`, or `None` once expired.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.not_after.duration_since(now).ok()
    }

    /// Label/value rows for a CLI table, in a stable order.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let or_dash = |s: &str| {
            if s.is_empty() {
                "-".to_owned()
            } else {
                s.to_owned()
            }
        };
        vec![
            ("subject", or_dash(&self.subject)),
            ("sans", or_dash(&self.sans.join(", "))),
            ("issuer", or_dash(&self.issuer)),
            ("serial", self.serial.clone()),
            ("not before", rfc3339(self.not_before)),
            ("not after", rfc3339(self.not_after)),
            ("ca", if self.is_ca { "yes" } else { "no" }.to_owned()),
            ("sha256 fingerprint", self.fingerprint_sha256.clone()),
        ]
    }
}

/// SHA-256 of bytes.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 fingerprint of DER bytes as colon-separated upper-case hex.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let mut out = String::with_capacity(digest.as_ref().len() * 3);
    for (i, byte) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// DER bytes as one PEM section with 64-column lines.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    let _ = writeln!(out, "-----BEGIN {label}-----");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

/// A time as RFC 3339 in UTC, e.g. `2026-05-01T12:00:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| format!("{} seconds since the epoch", t.unix_timestamp()))
}

fn san_label(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::URI(uri) => format!("URI:{uri}"),
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::RFC822Name(mail) => format!("EMAIL:{mail}"),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => {
                let octets: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
                format!("IP:{}", std::net::Ipv4Addr::from(octets))
            }
            16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(bytes);
                format!("IP:{}", std::net::Ipv6Addr::from(octets))
            }
            _ => "IP:<malformed>".to_owned(),
        },
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_known_digest() {
        // SHA-256 of the empty string.
        assert_eq!(
            fingerprint_sha256(b""),
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        );
    }

    #[test]
    fn rfc3339_is_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
        assert_eq!(rfc3339(t), "1970-01-02T00:00:00Z");
    }

    #[test]
    fn pem_round_trips() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(back.as_ref(), der.as_slice());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            CertInfo::from_der(b"not a certificate"),
            Err(Error::BadCertificate { .. })
        ));
        assert!(matches!(
            CertInfo::from_pem("hello"),
            Err(Error::NoCertificate)
        ));
    }
}
