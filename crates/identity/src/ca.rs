//! The mesh certificate authority: a root it generates and keeps in its state directory, or the
//! user's own Istio-style intermediate, and the workload certificates it signs.
//!
//! Generated state directory (0700, every file 0600):
//!
//! | file | content |
//! |---|---|
//! | `root-ca.pem` | the active root: its certificate and its private key, in one file so that they always change together |
//! | `retired-roots.pem` | roots retired by [`rotate`](CertificateAuthority::rotate), each with the end of its overlap |
//! | `trust-bundle.pem` | every root trusted now, for `openssl s_client -CAfile` and non-mesh clients (derived; rewritten at load and rotation) |
//!
//! Plugged-in CA (Istio's `cacerts` layout): `ca-cert.pem` (the signing intermediate),
//! `ca-key.pem` (its key), `root-cert.pem` (the roots to trust), `cert-chain.pem` (optional: the
//! chain from `ca-cert.pem` up to the root, sent after each leaf).
//!
//! Every load checks what it read before issuing anything: PEM structure, exactly one
//! certificate and one key where one is expected, that the key belongs to the certificate, that
//! the certificate is a CA and valid now, and finally that a freshly issued test leaf verifies
//! against the trust bundle both as a server and as a client. A corrupted or half-written file
//! is refused with its name and the reason.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType,
};
use rustls::server::danger::ClientCertVerifier as _;
use rustls_pki_types::pem::{PemObject as _, SectionKind};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    UnixTime,
};
use tokio::sync::watch;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::bundle::{TrustBundle, TrustedRoot};
use crate::cert::{CertInfo, IssuedCert, pem_encode, rfc3339};
use crate::error::CaFileProblem;
use crate::state::{self, Replace};
use crate::verifier::{ExpectedPeer, Rejection, SpiffeClientVerifier, SpiffeServerVerifier};
use crate::{Error, SpiffeId, TrustDomain};

/// Lifetime of a workload certificate unless configured otherwise (Istio's and Linkerd's).
pub const DEFAULT_WORKLOAD_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a retired root stays trusted after [`CertificateAuthority::rotate`] unless told
/// otherwise: twice the default workload lifetime, so every leaf of the old root has been
/// renewed and has expired before its root leaves the bundle.
pub const DEFAULT_ROOT_OVERLAP: Duration = Duration::from_secs(2 * 24 * 60 * 60);

/// Lifetime of a generated root (Istio's self-signed root default).
const ROOT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// Certificates start this much before they are issued, for clocks that differ between nodes.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Lifetime of the test leaf issued at load to prove the CA works end to end.
const SELF_CHECK_TTL: Duration = Duration::from_secs(300);

pub(crate) const ROOT_CA_FILE: &str = "root-ca.pem";
pub(crate) const RETIRED_ROOTS_FILE: &str = "retired-roots.pem";
pub(crate) const TRUST_BUNDLE_FILE: &str = "trust-bundle.pem";
const PLUGGED_CA_CERT: &str = "ca-cert.pem";
const PLUGGED_CA_KEY: &str = "ca-key.pem";
const PLUGGED_ROOT_CERT: &str = "root-cert.pem";
const PLUGGED_CERT_CHAIN: &str = "cert-chain.pem";

/// Where the CA's signing key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaSource {
    /// A root Meridian generated and keeps in `dir`; it can rotate.
    Generated {
        /// The state directory.
        dir: PathBuf,
    },
    /// The user's own CA files in `dir`, signing as an intermediate; the user rotates them.
    Plugged {
        /// The directory holding `ca-cert.pem`, `ca-key.pem`, `root-cert.pem`, `cert-chain.pem`.
        dir: PathBuf,
    },
}

impl std::fmt::Display for CaSource {
    /// `generated in DIR` or `plugged in from DIR`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaSource::Generated { dir } => write!(f, "generated in {}", dir.display()),
            CaSource::Plugged { dir } => write!(f, "plugged in from {}", dir.display()),
        }
    }
}

/// The mesh CA. Issuing is lock-free; rotation swaps the signer and the trust bundle atomically.
pub struct CertificateAuthority {
    pub(crate) trust_domain: TrustDomain,
    pub(crate) source: CaSource,
    pub(crate) signer: ArcSwap<Signer>,
    pub(crate) bundle: TrustBundle,
    pub(crate) rotation_lock: Mutex<()>,
    pub(crate) rotations: watch::Sender<u64>,
}

/// The certificate and key that sign leaves, with the intermediates sent after each leaf.
pub(crate) struct Signer {
    pub(crate) issuer: Issuer<'static, KeyPair>,
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) cert_path: PathBuf,
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
    pub(crate) not_after: SystemTime,
}

impl CertificateAuthority {
    /// Loads the CA kept in `state_dir`, generating a root on first start; if the directory
    /// holds Istio-style plugged-in CA files, those are used instead (see
    /// [`load_plugged`](Self::load_plugged)).
    ///
    /// ```no_run
    /// # use meridian_identity::{CertificateAuthority, TrustDomain};
    /// let ca = CertificateAuthority::load_or_create(".meridian/ca", TrustDomain::new("cluster.local")?)?;
    /// # Ok::<(), meridian_identity::Error>(())
    /// ```
    pub fn load_or_create(
        state_dir: impl AsRef<Path>,
        trust_domain: TrustDomain,
    ) -> Result<Self, Error> {
        let dir = state_dir.as_ref();
        state::prepare_dir(dir)?;
        if has_plugged_files(dir) {
            return Self::load_plugged(dir, trust_domain);
        }
        let loaded = load_generated(dir, &trust_domain, Create::IfMissing)?;
        write_bundle_file(dir, &loaded.bundle)?;
        let ca = Self::assemble(
            trust_domain,
            CaSource::Generated {
                dir: dir.to_owned(),
            },
            loaded,
        );
        ca.log_ready();
        Ok(ca)
    }

    /// Loads the user's own CA from Istio's `cacerts` files in `dir`: `ca-cert.pem` signs
    /// leaves, `root-cert.pem` holds the roots peers trust, `cert-chain.pem` (optional) is sent
    /// after each leaf. The files are only read, never changed.
    ///
    /// ```no_run
    /// # use meridian_identity::{CertificateAuthority, TrustDomain};
    /// let ca = CertificateAuthority::load_plugged("/etc/cacerts", TrustDomain::new("cluster.local")?)?;
    /// # Ok::<(), meridian_identity::Error>(())
    /// ```
    pub fn load_plugged(dir: impl AsRef<Path>, trust_domain: TrustDomain) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let loaded = load_plugged_files(dir, &trust_domain)?;
        let ca = Self::assemble(
            trust_domain,
            CaSource::Plugged {
                dir: dir.to_owned(),
            },
            loaded,
        );
        ca.log_ready();
        Ok(ca)
    }

    /// Reads the CA files again and, if another process rotated the root (`meridian ca
    /// rotate`) or the user replaced the plugged-in files, switches to them exactly as a
    /// rotation does: the bundle first, then the signer, then every workload identity renews.
    /// Returns whether anything changed. Files that fail any check are refused by name and the
    /// CA keeps signing with what it had.
    pub fn reload(&self) -> Result<bool, Error> {
        let _one_at_a_time = self
            .rotation_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let loaded = match &self.source {
            CaSource::Generated { dir } => load_generated(dir, &self.trust_domain, Create::Never)?,
            CaSource::Plugged { dir } => load_plugged_files(dir, &self.trust_domain)?,
        };
        let same_signer = loaded.signer.cert == self.signer.load().cert;
        if same_signer && loaded.bundle.roots() == self.bundle.roots() {
            return Ok(false);
        }
        self.bundle.set_roots(loaded.bundle.roots())?;
        self.signer.store(std::sync::Arc::new(loaded.signer));
        if let CaSource::Generated { dir } = &self.source {
            write_bundle_file(dir, &self.bundle)?;
        }
        self.rotations.send_modify(|generation| *generation += 1);
        tracing::info!(
            trust_domain = %self.trust_domain,
            signer_expires = %rfc3339(self.signer.load().not_after),
            "certificate authority reloaded its changed files ({})",
            self.source
        );
        Ok(true)
    }

    /// One line for operators: the trust domain, where the key comes from, when the signer
    /// expires.
    fn log_ready(&self) {
        tracing::info!(
            trust_domain = %self.trust_domain,
            signer_expires = %rfc3339(self.signer.load().not_after),
            "certificate authority ready ({})",
            self.source
        );
    }

    fn assemble(trust_domain: TrustDomain, source: CaSource, loaded: Loaded) -> Self {
        Self {
            trust_domain,
            source,
            signer: ArcSwap::from_pointee(loaded.signer),
            bundle: loaded.bundle,
            rotation_lock: Mutex::new(()),
            rotations: watch::channel(0).0,
        }
    }

    /// Issues a workload certificate for `id`, valid from a minute ago (clock skew) for `ttl`,
    /// but never beyond the signing certificate's own end.
    ///
    /// ```no_run
    /// # use meridian_identity::{CertificateAuthority, DEFAULT_WORKLOAD_TTL};
    /// # fn f(ca: &CertificateAuthority) -> Result<(), meridian_identity::Error> {
    /// let id = ca.trust_domain().workload_id("default", "reviews")?;
    /// let cert = ca.issue(&id, DEFAULT_WORKLOAD_TTL)?;
    /// # Ok(()) }
    /// ```
    pub fn issue(&self, id: &SpiffeId, ttl: Duration) -> Result<IssuedCert, Error> {
        if ttl < Duration::from_secs(1) {
            return Err(Error::InvalidLifetime {
                ttl,
                reason: "shorter than one second",
            });
        }
        let now = SystemTime::now();
        let not_after = now.checked_add(ttl).ok_or(Error::InvalidLifetime {
            ttl,
            reason: "ends beyond what the clock can represent",
        })?;
        let signer = self.signer.load();
        if now >= signer.not_after {
            return Err(Error::CaFile {
                path: signer.cert_path.clone(),
                problem: CaFileProblem::Expired {
                    not_after: rfc3339(signer.not_after),
                },
            });
        }
        let not_after = not_after.min(signer.not_after);
        self.issue_with_validity(id, now - CLOCK_SKEW, not_after)
    }

    /// Issues a workload certificate with an explicit validity window, e.g. one that ended in
    /// the past to test that peers refuse it.
    pub fn issue_with_validity(
        &self,
        id: &SpiffeId,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<IssuedCert, Error> {
        if !id.is_in(&self.trust_domain) {
            return Err(Error::ForeignTrustDomain {
                id: id.to_string(),
                trust_domain: self.trust_domain.to_string(),
            });
        }
        self.signer.load().issue(id, not_before, not_after)
    }

    /// The trust domain this CA issues identities in.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The roots peers must trust; shared, so rotation updates every holder.
    pub fn trust_bundle(&self) -> TrustBundle {
        self.bundle.clone()
    }

    /// Where the signing key comes from.
    pub fn source(&self) -> &CaSource {
        &self.source
    }

    /// Issues a server certificate for DNS names and IP addresses (the edge's HTTPS
    /// listener): the chain and its private key.
    pub fn issue_server(
        &self,
        names: &[String],
        ttl: Duration,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
        let now = SystemTime::now();
        let signer = self.signer.load();
        let not_after = now
            .checked_add(ttl)
            .ok_or(Error::InvalidLifetime {
                ttl,
                reason: "ends beyond what the clock can represent",
            })?
            .min(signer.not_after);
        signer.issue_server(names, now - CLOCK_SKEW, not_after)
    }

    /// The certificate that signs leaves now (the root when generated, the intermediate when
    /// plugged in).
    pub fn signing_cert(&self) -> CertificateDer<'static> {
        self.signer.load().cert.clone()
    }

    /// What `meridian ca root` prints: every root trusted now, the active one first.
    pub fn root_infos(&self) -> Result<Vec<(CertInfo, Option<SystemTime>)>, Error> {
        self.bundle
            .roots()
            .iter()
            .map(|r| Ok((r.info()?, r.trusted_until)))
            .collect()
    }

    /// A receiver that changes at every root rotation; workload identities renew on it.
    pub fn subscribe_rotations(&self) -> watch::Receiver<u64> {
        self.rotations.subscribe()
    }
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signer = self.signer.load();
        f.debug_struct("CertificateAuthority")
            .field("trust_domain", &self.trust_domain.as_str())
            .field("source", &self.source)
            .field(
                "signing_cert",
                &crate::cert::fingerprint_sha256(&signer.cert),
            )
            .field("signing_cert_not_after", &rfc3339(signer.not_after))
            .field("bundle", &self.bundle)
            .finish()
    }
}

impl Signer {
    /// Checks a signing certificate and key read from `cert_path`/`key_path`, then proves them
    /// by issuing a test leaf and verifying it against `bundle`.
    pub(crate) fn new(
        cert_path: PathBuf,
        key_path: &Path,
        cert: CertificateDer<'static>,
        key: KeyPair,
        intermediates: Vec<CertificateDer<'static>>,
        trust_domain: &TrustDomain,
        bundle: &TrustBundle,
    ) -> Result<Self, Error> {
        let cert_err = |problem| Error::CaFile {
            path: cert_path.clone(),
            problem,
        };
        let (_, x509) = X509Certificate::from_der(&cert).map_err(|e| {
            cert_err(CaFileProblem::BadCertificate {
                reason: e.to_string(),
            })
        })?;
        if !x509.is_ca() {
            return Err(cert_err(CaFileProblem::NotACa));
        }
        if x509.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(Error::CaFile {
                path: key_path.to_owned(),
                problem: CaFileProblem::KeyMismatch {
                    cert: cert_path.clone(),
                },
            });
        }
        let not_before: SystemTime = x509.validity().not_before.to_datetime().into();
        let not_after: SystemTime = x509.validity().not_after.to_datetime().into();
        let now = SystemTime::now();
        if now >= not_after {
            return Err(cert_err(CaFileProblem::Expired {
                not_after: rfc3339(not_after),
            }));
        }
        if now < not_before {
            return Err(cert_err(CaFileProblem::NotYetValid {
                not_before: rfc3339(not_before),
            }));
        }
        let issuer = Issuer::from_ca_cert_der(&cert, key).map_err(|e| {
            cert_err(CaFileProblem::BadCertificate {
                reason: e.to_string(),
            })
        })?;
        let signer = Self {
            issuer,
            cert,
            cert_path: cert_path.clone(),
            intermediates,
            not_after,
        };
        signer.self_check(trust_domain, bundle).map_err(|r| {
            cert_err(CaFileProblem::BrokenChain {
                reason: r.to_string(),
            })
        })?;
        Ok(signer)
    }

    /// Issues a short test leaf and verifies it as a server and as a client certificate.
    fn self_check(
        &self,
        trust_domain: &TrustDomain,
        bundle: &TrustBundle,
    ) -> Result<(), Rejection> {
        let id = trust_domain
            .workload_id("meridian-system", "ca-self-check")
            .map_err(|_| Rejection::Malformed)?;
        let now = SystemTime::now();
        let leaf = self
            .issue(
                &id,
                now - CLOCK_SKEW,
                (now + SELF_CHECK_TTL).min(self.not_after),
            )
            .map_err(|_| Rejection::Malformed)?;
        SpiffeServerVerifier::new(bundle.clone(), ExpectedPeer::Exactly(id))
            .verify(leaf.chain(), now)?;
        let unix_now = UnixTime::since_unix_epoch(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        SpiffeClientVerifier::new(bundle.clone(), true)
            .verify_client_cert(leaf.leaf(), &leaf.chain()[1..], unix_now)
            .map_err(|e| Rejection::from_tls_error(&e).unwrap_or(Rejection::Malformed))?;
        Ok(())
    }

    /// Signs a leaf for `id`: ECDSA P-256, one URI SAN, empty subject, digitalSignature,
    /// serverAuth + clientAuth.
    pub(crate) fn issue_server(
        &self,
        names: &[String],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
        let not_before = whole_seconds(not_before);
        let not_after = whole_seconds(not_after);
        if not_after <= not_before {
            return Err(Error::InvalidValidity);
        }
        let subject = names.first().cloned().unwrap_or_default();
        let signing = |source| Error::Signing {
            subject: subject.clone(),
            source,
        };
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(Error::KeyGeneration)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, subject.clone());
        let mut sans = Vec::new();
        for n in names {
            match n.parse::<std::net::IpAddr>() {
                Ok(ip) => sans.push(SanType::IpAddress(ip)),
                Err(_) => sans.push(SanType::DnsName(n.as_str().try_into().map_err(signing)?)),
            }
        }
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let cert = params.signed_by(&key, &self.issuer).map_err(signing)?;
        let mut chain = Vec::with_capacity(1 + self.intermediates.len());
        chain.push(cert.der().clone());
        chain.extend(self.intermediates.iter().cloned());
        Ok((
            chain,
            PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    }

    pub(crate) fn issue(
        &self,
        id: &SpiffeId,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<IssuedCert, Error> {
        // X.509 times have whole seconds; keep what the certificate will say.
        let not_before = whole_seconds(not_before);
        let not_after = whole_seconds(not_after);
        if not_after <= not_before {
            return Err(Error::InvalidValidity);
        }
        let signing = |source| Error::Signing {
            subject: id.to_string(),
            source,
        };
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(Error::KeyGeneration)?;
        let mut params = CertificateParams::default();
        // An empty subject makes rcgen mark the SAN extension critical, as RFC 5280 and the
        // X.509-SVID spec require: the identity is the URI SAN alone.
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![SanType::URI(id.as_str().try_into().map_err(signing)?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let cert = params.signed_by(&key, &self.issuer).map_err(signing)?;
        let mut chain = Vec::with_capacity(1 + self.intermediates.len());
        chain.push(cert.der().clone());
        chain.extend(self.intermediates.iter().cloned());
        Ok(IssuedCert::new(
            id.clone(),
            chain,
            PrivatePkcs8KeyDer::from(key.serialize_der()),
            not_before,
            not_after,
        ))
    }
}

/// A checked signer and the trust bundle it was checked against.
struct Loaded {
    signer: Signer,
    bundle: TrustBundle,
}

/// Whether a missing generated root may be created.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Create {
    IfMissing,
    Never,
}

fn has_plugged_files(dir: &Path) -> bool {
    [PLUGGED_CA_CERT, PLUGGED_CA_KEY, PLUGGED_ROOT_CERT]
        .iter()
        .any(|f| state::exists(&dir.join(f)))
}

fn write_bundle_file(dir: &Path, bundle: &TrustBundle) -> Result<(), Error> {
    state::write_atomic(
        &state::file(dir, TRUST_BUNDLE_FILE),
        bundle.to_pem().as_bytes(),
        Replace::Overwrite,
    )
}

/// Reads (or on first start creates) the generated root and the retired roots.
fn load_generated(dir: &Path, trust_domain: &TrustDomain, create: Create) -> Result<Loaded, Error> {
    let root_path = state::file(dir, ROOT_CA_FILE);
    let (cert, key) = if state::exists(&root_path) {
        state::restrict_file(&root_path)?;
        read_root_file(&root_path)?
    } else if create == Create::IfMissing {
        create_root_file(&root_path, trust_domain)?
    } else {
        // Reports the missing file by name.
        read_root_file(&root_path)?
    };
    let retired_path = state::file(dir, RETIRED_ROOTS_FILE);
    let retired = if state::exists(&retired_path) {
        state::restrict_file(&retired_path)?;
        crate::rotation::read_retired(&retired_path)?
    } else {
        Vec::new()
    };
    let mut roots = vec![TrustedRoot::current(cert.clone())];
    roots.extend(retired);
    let bundle = TrustBundle::new(trust_domain.clone(), roots)?;
    let signer = Signer::new(
        root_path.clone(),
        &root_path,
        cert,
        key,
        Vec::new(),
        trust_domain,
        &bundle,
    )?;
    Ok(Loaded { signer, bundle })
}

/// Reads and checks Istio's `cacerts` files.
fn load_plugged_files(dir: &Path, trust_domain: &TrustDomain) -> Result<Loaded, Error> {
    let cert_path = dir.join(PLUGGED_CA_CERT);
    let key_path = dir.join(PLUGGED_CA_KEY);
    let root_path = dir.join(PLUGGED_ROOT_CERT);
    let chain_path = dir.join(PLUGGED_CERT_CHAIN);

    let ca_cert = single_cert(&cert_path)?;
    let key = read_key_file(&key_path)?;
    state::warn_if_exposed(&key_path);
    let roots = read_certs(&root_path)?;
    for root in &roots {
        let (_, x509) = X509Certificate::from_der(root).map_err(|e| Error::CaFile {
            path: root_path.clone(),
            problem: CaFileProblem::BadCertificate {
                reason: e.to_string(),
            },
        })?;
        if !x509.is_ca() {
            return Err(Error::CaFile {
                path: root_path,
                problem: CaFileProblem::NotACa,
            });
        }
    }
    let chain = if state::exists(&chain_path) {
        read_certs(&chain_path)?
    } else {
        Vec::new()
    };
    // Send the signing certificate and whatever lies between it and a root; never a root,
    // which peers already hold.
    let mut intermediates: Vec<CertificateDer<'static>> = Vec::new();
    for cert in std::iter::once(ca_cert.clone()).chain(chain) {
        if !roots.contains(&cert) && !intermediates.contains(&cert) {
            intermediates.push(cert);
        }
    }
    let bundle = TrustBundle::new(
        trust_domain.clone(),
        roots.into_iter().map(TrustedRoot::current).collect(),
    )?;
    let signer = Signer::new(
        cert_path,
        &key_path,
        ca_cert,
        key,
        intermediates,
        trust_domain,
        &bundle,
    )?;
    Ok(Loaded { signer, bundle })
}

pub(crate) fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

/// Generates a root: ECDSA P-256, CA without path length limit, valid ten years.
pub(crate) fn generate_root(
    trust_domain: &TrustDomain,
) -> Result<(CertificateDer<'static>, KeyPair), Error> {
    let key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(Error::KeyGeneration)?;
    let now = SystemTime::now();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    // A name of its own (from the key) for every root: path building matches issuer names
    // first, so two roots sharing a name would turn "unknown root" into "bad signature", and
    // during an overlap people need to tell the old root from the new one.
    let key_digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &key.subject_public_key_info());
    let key_id: String = key_digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("Meridian Root CA {key_id}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, trust_domain.as_str());
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = whole_seconds(now - CLOCK_SKEW).into();
    params.not_after = whole_seconds(now + ROOT_VALIDITY).into();
    let cert = params.self_signed(&key).map_err(|source| Error::Signing {
        subject: "root ca".to_owned(),
        source,
    })?;
    Ok((cert.der().clone(), key))
}

/// The root file's content: certificate then key, so one rename replaces both.
pub(crate) fn root_file_pem(cert: &CertificateDer<'_>, key: &KeyPair) -> String {
    let mut pem = pem_encode("CERTIFICATE", cert);
    pem.push_str(&key.serialize_pem());
    pem
}

/// First start: generate and store a root. If another process created one meanwhile, use
/// theirs, so that two processes sharing a state directory never sign with different roots.
fn create_root_file(
    path: &Path,
    trust_domain: &TrustDomain,
) -> Result<(CertificateDer<'static>, KeyPair), Error> {
    let (cert, key) = generate_root(trust_domain)?;
    match state::write_atomic(
        path,
        root_file_pem(&cert, &key).as_bytes(),
        Replace::NoClobber,
    ) {
        Ok(()) => {
            tracing::info!(file = %path.display(), trust_domain = %trust_domain, "generated a new mesh root ca");
            Ok((cert, key))
        }
        Err(Error::Write { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            read_root_file(path)
        }
        Err(e) => Err(e),
    }
}

/// All PEM sections of a CA file.
fn read_sections(path: &Path) -> Result<Vec<(SectionKind, Vec<u8>)>, Error> {
    let bytes = state::read_ca_file(path)?;
    <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::CaFile {
            path: path.to_owned(),
            problem: CaFileProblem::Pem(e),
        })
}

fn certs_in(sections: &[(SectionKind, Vec<u8>)]) -> Vec<CertificateDer<'static>> {
    sections
        .iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der.clone()))
        .collect()
}

/// Exactly one private key among the sections, decoded.
fn key_in(path: &Path, sections: &[(SectionKind, Vec<u8>)]) -> Result<KeyPair, Error> {
    let file_err = |problem| Error::CaFile {
        path: path.to_owned(),
        problem,
    };
    let mut keys = sections.iter().filter_map(|(kind, der)| match kind {
        SectionKind::PrivateKey => {
            Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.clone())))
        }
        SectionKind::RsaPrivateKey => {
            Some(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.clone())))
        }
        SectionKind::EcPrivateKey => {
            Some(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.clone())))
        }
        _ => None,
    });
    let key = match (keys.next(), keys.next()) {
        (None, _) => return Err(file_err(CaFileProblem::NoPrivateKey)),
        (Some(_), Some(_)) => return Err(file_err(CaFileProblem::TooManyKeys)),
        (Some(key), None) => key,
    };
    KeyPair::try_from(&key).map_err(|e| file_err(CaFileProblem::BadKey(e)))
}

fn exactly_one_cert(
    path: &Path,
    certs: Vec<CertificateDer<'static>>,
) -> Result<CertificateDer<'static>, Error> {
    let count = certs.len();
    let mut certs = certs.into_iter();
    match (certs.next(), count) {
        (Some(cert), 1) => Ok(cert),
        (None, _) => Err(Error::CaFile {
            path: path.to_owned(),
            problem: CaFileProblem::NoCertificate,
        }),
        (Some(_), count) => Err(Error::CaFile {
            path: path.to_owned(),
            problem: CaFileProblem::TooManyCertificates { count },
        }),
    }
}

/// The generated root file: one certificate and its key.
pub(crate) fn read_root_file(path: &Path) -> Result<(CertificateDer<'static>, KeyPair), Error> {
    let sections = read_sections(path)?;
    let cert = exactly_one_cert(path, certs_in(&sections))?;
    let key = key_in(path, &sections)?;
    Ok((cert, key))
}

fn single_cert(path: &Path) -> Result<CertificateDer<'static>, Error> {
    let sections = read_sections(path)?;
    exactly_one_cert(path, certs_in(&sections))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = certs_in(&read_sections(path)?);
    if certs.is_empty() {
        return Err(Error::CaFile {
            path: path.to_owned(),
            problem: CaFileProblem::NoCertificate,
        });
    }
    Ok(certs)
}

fn read_key_file(path: &Path) -> Result<KeyPair, Error> {
    key_in(path, &read_sections(path)?)
}
