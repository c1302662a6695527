//! A workload's identity: its current certificate, renewed in the background at about half its
//! lifetime (and at once after a root rotation), swapped atomically.
//!
//! rustls asks the resolvers here for a certificate at every handshake, so a renewal applies to
//! the next handshake while established connections keep the keys they negotiated; nothing is
//! dropped.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::cert::{IssuedCert, rfc3339};
use crate::{CertificateAuthority, Error, SpiffeId, TrustBundle};

/// A workload's mesh identity with a certificate that stays fresh. Cloning shares it.
#[derive(Clone)]
pub struct WorkloadIdentity {
    pub(crate) shared: Arc<Shared>,
    renewal: Option<Arc<Renewal>>,
}

/// What the TLS configurations built from an identity hold on to.
pub(crate) struct Shared {
    pub(crate) id: SpiffeId,
    pub(crate) bundle: TrustBundle,
    current: ArcSwap<Current>,
    generation: watch::Sender<u64>,
}

struct Current {
    issued: Arc<IssuedCert>,
    key: Arc<CertifiedKey>,
}

/// The background renewal task, stopped when the last handle to the identity goes away.
struct Renewal {
    task: JoinHandle<()>,
    nudge: Arc<Notify>,
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WorkloadIdentity {
    /// Issues a certificate for `id` from `ca` and keeps it renewed: at half its lifetime, at
    /// once after a root rotation, and on [`renew_now`](Self::renew_now). Must be called inside
    /// a Tokio runtime.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use meridian_identity::{CertificateAuthority, WorkloadIdentity, DEFAULT_WORKLOAD_TTL};
    /// # fn f(ca: Arc<CertificateAuthority>) -> Result<(), meridian_identity::Error> {
    /// let id = ca.trust_domain().workload_id("default", "reviews")?;
    /// let identity = WorkloadIdentity::start(ca, id, DEFAULT_WORKLOAD_TTL)?;
    /// # Ok(()) }
    /// ```
    pub fn start(
        ca: Arc<CertificateAuthority>,
        id: SpiffeId,
        ttl: Duration,
    ) -> Result<Self, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        // Subscribe before issuing: a rotation from here on must renew this certificate, even
        // one that happens before the task first runs.
        let rotations = ca.subscribe_rotations();
        let issued = ca.issue(&id, ttl)?;
        let shared = Arc::new(Shared::new(ca.trust_bundle(), issued)?);
        let nudge = Arc::new(Notify::new());
        let task = runtime.spawn(renew(
            Arc::clone(&shared),
            ca,
            rotations,
            ttl,
            Arc::clone(&nudge),
        ));
        Ok(Self {
            shared,
            renewal: Some(Arc::new(Renewal { task, nudge })),
        })
    }

    /// An identity with a certificate that is never renewed: for tests, and for certificates
    /// that come from files.
    pub fn fixed(bundle: TrustBundle, cert: IssuedCert) -> Result<Self, Error> {
        Ok(Self {
            shared: Arc::new(Shared::new(bundle, cert)?),
            renewal: None,
        })
    }

    /// The workload's SPIFFE ID.
    pub fn id(&self) -> &SpiffeId {
        &self.shared.id
    }

    /// The certificate in use now.
    pub fn certificate(&self) -> Arc<IssuedCert> {
        Arc::clone(&self.shared.current.load().issued)
    }

    /// The roots this identity's TLS configurations trust.
    pub fn trust_bundle(&self) -> &TrustBundle {
        &self.shared.bundle
    }

    /// A receiver whose value counts renewals; `changed().await` waits for the next one.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.generation.subscribe()
    }

    /// Asks the background task to renew now (no effect on a [`fixed`](Self::fixed) identity).
    pub fn renew_now(&self) {
        if let Some(renewal) = &self.renewal {
            renewal.nudge.notify_one();
        }
    }

    /// A resolver that serves this identity's current certificate, for custom rustls configs.
    pub fn resolver(&self) -> Arc<CertResolver> {
        Arc::new(CertResolver(Arc::clone(&self.shared)))
    }
}

impl fmt::Debug for WorkloadIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.shared.current.load();
        f.debug_struct("WorkloadIdentity")
            .field("id", &self.shared.id.as_str())
            .field("not_after", &rfc3339(current.issued.not_after()))
            .field("renews", &self.renewal.is_some())
            .finish()
    }
}

impl Shared {
    fn new(bundle: TrustBundle, issued: IssuedCert) -> Result<Self, Error> {
        let key = issued.certified_key()?;
        Ok(Self {
            id: issued.id().clone(),
            bundle,
            current: ArcSwap::from_pointee(Current {
                issued: Arc::new(issued),
                key,
            }),
            generation: watch::channel(0).0,
        })
    }

    fn install(&self, issued: IssuedCert) -> Result<(), Error> {
        let key = issued.certified_key()?;
        self.current.store(Arc::new(Current {
            issued: Arc::new(issued),
            key,
        }));
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }
}

/// When to renew a certificate of lifetime `ttl`: at half of it, as Istio and Linkerd do.
pub(crate) fn renew_after(ttl: Duration) -> Duration {
    ttl / 2
}

/// How long to wait after a failed renewal: a tenth of the lifetime, between 1 s and 1 min,
/// so a short-lived certificate gets several tries before it expires.
pub(crate) fn retry_after(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

async fn renew(
    shared: Arc<Shared>,
    ca: Arc<CertificateAuthority>,
    mut rotations: watch::Receiver<u64>,
    ttl: Duration,
    nudge: Arc<Notify>,
) {
    let mut delay = renew_after(ttl);
    loop {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = nudge.notified() => {}
            // The CA outlives this task (the task holds it), so this only fires on rotation.
            Ok(()) = rotations.changed() => {}
        }
        let result = ca.issue(&shared.id, ttl).and_then(|issued| {
            let not_after = issued.not_after();
            shared.install(issued).map(|()| not_after)
        });
        delay = match result {
            Ok(not_after) => {
                tracing::debug!(identity = %shared.id, not_after = %rfc3339(not_after), "renewed workload certificate");
                renew_after(ttl)
            }
            Err(error) => {
                let retry = retry_after(ttl);
                tracing::warn!(identity = %shared.id, %error, retry_in = ?retry, "workload certificate renewal failed; the current certificate stays in use");
                retry
            }
        };
    }
}

/// Serves a workload's current certificate to rustls on both sides of a connection.
pub struct CertResolver(Arc<Shared>);

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.current.load().key))
    }
}

impl ResolvesClientCert for CertResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.current.load().key))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CertResolver")
            .field(&self.0.id.as_str())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule() {
        let day = Duration::from_secs(86_400);
        assert_eq!(renew_after(day), Duration::from_secs(43_200));
        assert_eq!(retry_after(day), Duration::from_secs(60));
        assert_eq!(retry_after(Duration::from_secs(2)), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn renews_at_half_life_and_on_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(
            CertificateAuthority::load_or_create(
                dir.path(),
                crate::TrustDomain::new("td").unwrap(),
            )
            .unwrap(),
        );
        let id = ca.trust_domain().workload_id("ns", "sa").unwrap();
        let ttl = Duration::from_secs(3600);
        let identity = WorkloadIdentity::start(Arc::clone(&ca), id, ttl).unwrap();
        let mut renewals = identity.subscribe();
        let first = identity.certificate();

        // Just before half-life nothing happens; just after, the certificate is new.
        tokio::time::sleep(renew_after(ttl) - Duration::from_secs(1)).await;
        assert!(!renewals.has_changed().unwrap());
        renewals.changed().await.unwrap();
        let second = identity.certificate();
        assert_ne!(first.leaf(), second.leaf());

        // A rotation renews at once, from the new root.
        ca.rotate(Duration::from_secs(7200)).unwrap();
        renewals.changed().await.unwrap();
        let third = identity.certificate();
        assert_ne!(second.leaf(), third.leaf());
        let issuer = crate::CertInfo::from_der(third.leaf()).unwrap().issuer;
        let new_root = crate::CertInfo::from_der(&ca.signing_cert())
            .unwrap()
            .subject;
        assert_eq!(issuer, new_root);

        identity.renew_now();
        renewals.changed().await.unwrap();
        assert_ne!(third.leaf(), identity.certificate().leaf());
    }

    #[tokio::test]
    async fn dropping_the_identity_stops_renewal() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(
            CertificateAuthority::load_or_create(
                dir.path(),
                crate::TrustDomain::new("td").unwrap(),
            )
            .unwrap(),
        );
        let id = ca.trust_domain().workload_id("ns", "sa").unwrap();
        let identity =
            WorkloadIdentity::start(Arc::clone(&ca), id, Duration::from_secs(60)).unwrap();
        let resolver = identity.resolver();
        // The renewal task holds the CA; once it stops, only this test's handle remains.
        drop(identity);
        for _ in 0..100 {
            if Arc::strong_count(&ca) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(Arc::strong_count(&ca), 1);
        // Configurations built earlier keep serving the last certificate.
        assert!(ResolvesClientCert::resolve(&*resolver, &[], &[]).is_some());
    }

    #[tokio::test]
    async fn start_outside_a_runtime_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(
            CertificateAuthority::load_or_create(
                dir.path(),
                crate::TrustDomain::new("td").unwrap(),
            )
            .unwrap(),
        );
        let id = ca.trust_domain().workload_id("ns", "sa").unwrap();
        let result =
            std::thread::spawn(move || WorkloadIdentity::start(ca, id, Duration::from_secs(60)))
                .join()
                .unwrap();
        assert!(matches!(result, Err(Error::NoRuntime)));
    }
}
