//! The trust bundle: the roots a sidecar accepts peer certificates from.
//!
//! During a root rotation the bundle holds the new root and the retired one, the latter only
//! until its overlap ends. Verifiers read the bundle once per handshake through an
//! `ArcSwap`, so a rotation is seen by the next handshake without locks; a retired root drops
//! out lazily, on the first handshake after its overlap ends.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::CertificateDer;

use crate::cert::{CertInfo, pem_encode};
use crate::{Error, TrustDomain};

/// A root the mesh trusts; a retired root carries the moment its trust ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedRoot {
    /// The root certificate.
    pub cert: CertificateDer<'static>,
    /// `None` for a current root; for a root retired by rotation, the end of its overlap.
    pub trusted_until: Option<SystemTime>,
}

impl TrustedRoot {
    /// A root trusted without end (until its own notAfter).
    pub fn current(cert: CertificateDer<'static>) -> Self {
        Self {
            cert,
            trusted_until: None,
        }
    }

    /// Whether the root is still trusted at `now`.
    pub fn is_trusted_at(&self, now: SystemTime) -> bool {
        self.trusted_until.is_none_or(|until| now < until)
    }

    /// What the certificate says, for display.
    pub fn info(&self) -> Result<CertInfo, Error> {
        CertInfo::from_der(&self.cert)
    }
}

/// The set of roots a sidecar trusts, shared by every verifier built from it and updated in
/// place by root rotation. Cloning shares the same bundle.
#[derive(Clone)]
pub struct TrustBundle {
    inner: Arc<Inner>,
}

struct Inner {
    trust_domain: TrustDomain,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<Snapshot>,
}

/// One immutable state of the bundle with the rustls structures prebuilt from it.
pub(crate) struct Snapshot {
    roots: Vec<TrustedRoot>,
    store: Arc<RootCertStore>,
    /// `None` when no root is left, so that every client certificate is refused.
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
    next_retirement: Option<SystemTime>,
}

impl TrustBundle {
    /// A bundle of the given roots for `trust_domain`, e.g. one received from the control
    /// plane. Roots whose `trusted_until` has passed are dropped.
    ///
    /// ```no_run
    /// # use meridian_identity::{TrustBundle, TrustDomain, TrustedRoot};
    /// # fn f(root: rustls_pki_types::CertificateDer<'static>) -> Result<(), meridian_identity::Error> {
    /// let bundle = TrustBundle::new(TrustDomain::new("cluster.local")?, vec![TrustedRoot::current(root)])?;
    /// # Ok(()) }
    /// ```
    pub fn new(trust_domain: TrustDomain, roots: Vec<TrustedRoot>) -> Result<Self, Error> {
        let provider = crate::tls::provider();
        let snapshot = Snapshot::build(roots, SystemTime::now(), &provider)?;
        Ok(Self {
            inner: Arc::new(Inner {
                trust_domain,
                provider,
                current: ArcSwap::from_pointee(snapshot),
            }),
        })
    }

    /// The trust domain whose identities this bundle vouches for.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.inner.trust_domain
    }

    /// The roots trusted now.
    pub fn roots(&self) -> Vec<TrustedRoot> {
        self.snapshot(SystemTime::now()).roots.clone()
    }

    /// The roots trusted now as PEM, for `openssl s_client -CAfile` and non-mesh clients.
    pub fn to_pem(&self) -> String {
        self.snapshot(SystemTime::now())
            .roots
            .iter()
            .map(|r| pem_encode("CERTIFICATE", &r.cert))
            .collect()
    }

    /// Replaces the roots, e.g. with a bundle the control plane pushed after a rotation;
    /// verifiers see the change at their next handshake.
    pub fn set_roots(&self, roots: Vec<TrustedRoot>) -> Result<(), Error> {
        let snapshot = Snapshot::build(roots, SystemTime::now(), &self.inner.provider)?;
        self.inner.current.store(Arc::new(snapshot));
        Ok(())
    }

    /// The bundle as of `now`, dropping retired roots whose overlap has ended.
    pub(crate) fn snapshot(&self, now: SystemTime) -> Arc<Snapshot> {
        loop {
            let current = self.inner.current.load_full();
            if current.next_retirement.is_none_or(|t| now < t) {
                return current;
            }
            let pruned = match Snapshot::build(current.roots.clone(), now, &self.inner.provider) {
                Ok(pruned) => Arc::new(pruned),
                // Rebuilding from roots that already built once cannot fail in practice; if it
                // does, keep serving the previous state rather than no state.
                Err(_) => return current,
            };
            let previous = self
                .inner
                .current
                .compare_and_swap(&current, Arc::clone(&pruned));
            if Arc::ptr_eq(&previous, &current) {
                tracing::info!(
                    trust_domain = %self.inner.trust_domain,
                    "a retired root's overlap ended; it is no longer trusted"
                );
                return pruned;
            }
            // A rotation replaced the bundle meanwhile: look again at the new state.
        }
    }
}

impl Snapshot {
    fn build(
        roots: Vec<TrustedRoot>,
        now: SystemTime,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Self, Error> {
        let mut kept: Vec<TrustedRoot> = Vec::with_capacity(roots.len());
        for root in roots.into_iter().filter(|r| r.is_trusted_at(now)) {
            match kept.iter_mut().find(|k| k.cert == root.cert) {
                // The same root listed twice (a crash mid-rotation can do that): trust it as
                // long as the longer of the two says.
                Some(existing) => {
                    existing.trusted_until = match (existing.trusted_until, root.trusted_until) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                None => kept.push(root),
            }
        }
        let mut store = RootCertStore::empty();
        for root in &kept {
            store.add(root.cert.clone())?;
        }
        let store = Arc::new(store);
        let client_verifier = if store.is_empty() {
            None
        } else {
            Some(
                WebPkiClientVerifier::builder_with_provider(
                    Arc::clone(&store),
                    Arc::clone(provider),
                )
                // Peers pick their certificate without hints: each has exactly one.
                .clear_root_hint_subjects()
                .build()
                .map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?,
            )
        };
        let next_retirement = kept.iter().filter_map(|r| r.trusted_until).min();
        Ok(Self {
            roots: kept,
            store,
            client_verifier,
            next_retirement,
        })
    }

    pub(crate) fn store(&self) -> &RootCertStore {
        &self.store
    }

    pub(crate) fn client_verifier(&self) -> Option<&Arc<dyn ClientCertVerifier>> {
        self.client_verifier.as_ref()
    }
}

impl fmt::Debug for TrustBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.inner.current.load();
        f.debug_struct("TrustBundle")
            .field("trust_domain", &self.inner.trust_domain)
            .field("roots", &snapshot.roots.len())
            .field("next_retirement", &snapshot.next_retirement)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn root(cn: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn retired_root_leaves_at_its_time() {
        let (a, b) = (root("a"), root("b"));
        let until = SystemTime::now() + Duration::from_secs(3600);
        let bundle = TrustBundle::new(
            TrustDomain::new("td").unwrap(),
            vec![
                TrustedRoot::current(a.clone()),
                TrustedRoot {
                    cert: b.clone(),
                    trusted_until: Some(until),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            bundle.snapshot(until - Duration::from_secs(1)).roots.len(),
            2
        );
        let after = bundle.snapshot(until);
        assert_eq!(after.roots.len(), 1);
        assert_eq!(after.roots[0].cert, a);
        assert_eq!(after.store().len(), 1);
        // The pruned state is what later readers see.
        assert_eq!(bundle.inner.current.load().roots.len(), 1);
    }

    #[test]
    fn duplicates_and_past_roots_are_dropped() {
        let a = root("a");
        let bundle = TrustBundle::new(
            TrustDomain::new("td").unwrap(),
            vec![
                TrustedRoot::current(a.clone()),
                TrustedRoot {
                    cert: a.clone(),
                    trusted_until: Some(SystemTime::now() + Duration::from_secs(60)),
                },
                TrustedRoot {
                    cert: root("old"),
                    trusted_until: Some(SystemTime::now() - Duration::from_secs(1)),
                },
            ],
        )
        .unwrap();
        let roots = bundle.roots();
        assert_eq!(roots, vec![TrustedRoot::current(a)]);
        assert!(bundle.to_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
    }

    #[test]
    fn empty_bundle_has_no_client_verifier() {
        let bundle = TrustBundle::new(TrustDomain::new("td").unwrap(), vec![]).unwrap();
        assert!(
            bundle
                .snapshot(SystemTime::now())
                .client_verifier()
                .is_none()
        );
    }
}
