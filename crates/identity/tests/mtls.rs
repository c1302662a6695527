//! Real mTLS handshakes over loopback TCP between configurations built by this crate: what is
//! accepted, what is refused and why, renewal under open connections, root rotation, and
//! session resumption.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use harness::{EchoServer, Mesh, bounded, connect, echo};
use meridian_identity::{
    ALPN_H2, ALPN_HTTP11, CertInfo, ClientAuth, ExpectedPeer, Rejection, SpiffeServerVerifier,
    TrustBundle, TrustDomain, TrustedRoot, WorkloadIdentity, peer_identity,
};
use rustls::{ClientConfig, HandshakeKind, ProtocolVersion};

#[tokio::test]
async fn mutual_tls_shares_both_identities() {
    let mesh = Mesh::new();
    let reviews = mesh.workload("default", "reviews");
    let productpage = mesh.workload("default", "productpage");
    let mut server = EchoServer::start(
        reviews
            .server_config(ClientAuth::Required, &[ALPN_H2, ALPN_HTTP11])
            .unwrap(),
    )
    .await;
    let client = productpage
        .client_config(ExpectedPeer::Exactly(reviews.id().clone()), &[ALPN_H2])
        .unwrap();

    let mut stream = connect(client, server.addr).await.unwrap();
    echo(&mut stream, b"hello over mtls").await.unwrap();

    let (_, conn) = stream.get_ref();
    assert_eq!(conn.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(conn.alpn_protocol(), Some(ALPN_H2));
    assert_eq!(peer_identity(conn).unwrap().as_ref(), Some(reviews.id()));
    let accepted = server.next_handshake().await.unwrap();
    assert_eq!(accepted.peer.as_ref(), Some(productpage.id()));
    assert_eq!(accepted.alpn.as_deref(), Some(ALPN_H2));
    assert_eq!(accepted.kind, Some(HandshakeKind::Full));
}

#[tokio::test]
async fn one_of_and_trust_domain_expectations_accept() {
    let mesh = Mesh::new();
    let reviews = mesh.workload("default", "reviews");
    let client_identity = mesh.workload("default", "productpage");
    let server = EchoServer::start(reviews.server_config(ClientAuth::Required, &[]).unwrap()).await;
    for expected in [
        ExpectedPeer::OneOf(vec![mesh.id("default", "ratings"), reviews.id().clone()]),
        ExpectedPeer::AnyInTrustDomain(TrustDomain::new("cluster.local").unwrap()),
    ] {
        let client = client_identity.client_config(expected, &[]).unwrap();
        let mut stream = connect(client, server.addr).await.unwrap();
        echo(&mut stream, b"ok").await.unwrap();
    }
}

/// Connects with `client` and returns the reason the client's verifier gave.
async fn client_refusal(client: Arc<ClientConfig>, server: &EchoServer) -> Rejection {
    let err = connect(client, server.addr)
        .await
        .expect_err("the client should refuse the server");
    Rejection::from_io_error(&err).unwrap_or_else(|| panic!("no reason in {err:?}"))
}

#[tokio::test]
async fn expired_server_certificate_is_refused() {
    let mesh = Mesh::new();
    let server_identity = mesh.fixed(mesh.cert_valid_between("default", "reviews", -7200, -3600));
    let mut server = EchoServer::start(
        server_identity
            .server_config(ClientAuth::Required, &[])
            .unwrap(),
    )
    .await;
    let client = mesh
        .workload("default", "productpage")
        .client_config(ExpectedPeer::Exactly(mesh.id("default", "reviews")), &[])
        .unwrap();

    let reason = client_refusal(client, &server).await;
    assert!(
        matches!(reason, Rejection::Expired { not_after: Some(_) }),
        "{reason:?}"
    );
    assert_eq!(reason.as_str(), "expired");
    // The server learns why from the alert.
    let server_side = server.next_handshake().await.unwrap_err();
    assert_eq!(
        Rejection::from_io_error(&server_side).map(|r| r.as_str()),
        Some("expired")
    );
}

#[tokio::test]
async fn not_yet_valid_server_certificate_is_refused() {
    let mesh = Mesh::new();
    let server_identity = mesh.fixed(mesh.cert_valid_between("default", "reviews", 3600, 7200));
    let server = EchoServer::start(
        server_identity
            .server_config(ClientAuth::Required, &[])
            .unwrap(),
    )
    .await;
    let client = mesh
        .workload("default", "productpage")
        .client_config(ExpectedPeer::Exactly(mesh.id("default", "reviews")), &[])
        .unwrap();
    let reason = client_refusal(client, &server).await;
    assert!(
        matches!(reason, Rejection::NotYetValid { .. }),
        "{reason:?}"
    );
}

#[tokio::test]
async fn expired_client_certificate_is_refused_by_the_server() {
    let mesh = Mesh::new();
    let reviews = mesh.workload("default", "reviews");
    let mut server =
        EchoServer::start(reviews.server_config(ClientAuth::Required, &[]).unwrap()).await;
    let client_identity =
        mesh.fixed(mesh.cert_valid_between("default", "productpage", -7200, -3600));
    let client = client_identity
        .client_config(ExpectedPeer::Exactly(reviews.id().clone()), &[])
        .unwrap();

    // In TLS 1.3 the client finishes before the server has judged its certificate; the refusal
    // reaches it as an alert on its first read.
    if let Ok(mut stream) = connect(client, server.addr).await {
        assert!(echo(&mut stream, b"x").await.is_err());
    }
    let err = server.next_handshake().await.unwrap_err();
    let reason = Rejection::from_io_error(&err).unwrap();
    assert!(matches!(reason, Rejection::Expired { .. }), "{reason:?}");
}

#[tokio::test]
async fn server_from_another_root_is_refused() {
    let mesh = Mesh::new();
    let elsewhere = Mesh::new(); // same trust domain, different root
    let impostor = elsewhere.workload("default", "reviews");
    let server =
        EchoServer::start(impostor.server_config(ClientAuth::Required, &[]).unwrap()).await;
    let client = mesh
        .workload("default", "productpage")
        .client_config(ExpectedPeer::Exactly(mesh.id("default", "reviews")), &[])
        .unwrap();
    assert_eq!(
        client_refusal(client, &server).await,
        Rejection::UnknownRoot
    );
}

#[tokio::test]
async fn client_from_another_root_is_refused() {
    let mesh = Mesh::new();
    let elsewhere = Mesh::new();
    let reviews = mesh.workload("default", "reviews");
    let mut server =
        EchoServer::start(reviews.server_config(ClientAuth::Required, &[]).unwrap()).await;
    // The impostor trusts our root, but its own certificate comes from another one.
    let impostor_cert = elsewhere
        .ca
        .issue(
            &mesh.id("default", "productpage"),
            Duration::from_secs(3600),
        )
        .unwrap();
    let impostor = WorkloadIdentity::fixed(mesh.ca.trust_bundle(), impostor_cert).unwrap();
    let client = impostor
        .client_config(ExpectedPeer::Exactly(reviews.id().clone()), &[])
        .unwrap();
    if let Ok(mut stream) = connect(client, server.addr).await {
        assert!(echo(&mut stream, b"x").await.is_err());
    }
    let err = server.next_handshake().await.unwrap_err();
    assert_eq!(Rejection::from_io_error(&err), Some(Rejection::UnknownRoot));
}

#[tokio::test]
async fn wrong_server_identity_is_refused() {
    let mesh = Mesh::new();
    let ratings = mesh.workload("default", "ratings");
    let server = EchoServer::start(ratings.server_config(ClientAuth::Required, &[]).unwrap()).await;
    let expected = mesh.id("default", "reviews");
    let client = mesh
        .workload("default", "productpage")
        .client_config(ExpectedPeer::Exactly(expected.clone()), &[])
        .unwrap();
    assert_eq!(
        client_refusal(client, &server).await,
        Rejection::WrongIdentity {
            presented: ratings.id().to_string(),
            expected: expected.to_string(),
        }
    );
}

#[tokio::test]
async fn client_from_another_trust_domain_is_refused() {
    let mesh = Mesh::new();
    let other = Mesh::with_trust_domain("other.example");
    // A server whose bundle trusts both roots still only admits its own trust domain.
    let bundle = TrustBundle::new(
        TrustDomain::new("cluster.local").unwrap(),
        mesh.ca
            .trust_bundle()
            .roots()
            .into_iter()
            .chain(other.ca.trust_bundle().roots())
            .collect(),
    )
    .unwrap();
    let server_identity = WorkloadIdentity::fixed(
        bundle.clone(),
        mesh.ca
            .issue(&mesh.id("default", "reviews"), Duration::from_secs(3600))
            .unwrap(),
    )
    .unwrap();
    let mut server = EchoServer::start(
        server_identity
            .server_config(ClientAuth::Required, &[])
            .unwrap(),
    )
    .await;
    let stranger = WorkloadIdentity::fixed(
        bundle,
        other
            .ca
            .issue(
                &other.id("default", "productpage"),
                Duration::from_secs(3600),
            )
            .unwrap(),
    )
    .unwrap();
    let client = stranger
        .client_config(ExpectedPeer::Exactly(mesh.id("default", "reviews")), &[])
        .unwrap();
    if let Ok(mut stream) = connect(client, server.addr).await {
        assert!(echo(&mut stream, b"x").await.is_err());
    }
    let err = server.next_handshake().await.unwrap_err();
    let reason = Rejection::from_io_error(&err).unwrap();
    assert_eq!(reason.as_str(), "wrong_trust_domain", "{reason}");
}

/// A client with the mesh's verifier but no certificate of its own.
fn client_without_certificate(bundle: TrustBundle, expected: ExpectedPeer) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SpiffeServerVerifier::new(bundle, expected)))
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn strict_server_refuses_a_client_without_certificate() {
    let mesh = Mesh::new();
    let reviews = mesh.workload("default", "reviews");
    let mut server =
        EchoServer::start(reviews.server_config(ClientAuth::Required, &[]).unwrap()).await;
    let client = client_without_certificate(
        mesh.ca.trust_bundle(),
        ExpectedPeer::Exactly(reviews.id().clone()),
    );
    if let Ok(mut stream) = connect(client, server.addr).await {
        let err = echo(&mut stream, b"x").await.unwrap_err();
        assert_eq!(
            Rejection::from_io_error(&err),
            Some(Rejection::MissingClientCert)
        );
    }
    let err = server.next_handshake().await.unwrap_err();
    assert_eq!(
        Rejection::from_io_error(&err),
        Some(Rejection::MissingClientCert)
    );
}

#[tokio::test]
async fn permissive_server_lets_a_client_without_certificate_through() {
    let mesh = Mesh::new();
    let reviews = mesh.workload("default", "reviews");
    let mut server =
        EchoServer::start(reviews.server_config(ClientAuth::Optional, &[]).unwrap()).await;
    let client = client_without_certificate(
        mesh.ca.trust_bundle(),
        ExpectedPeer::Exactly(reviews.id().clone()),
    );
    let mut stream = connect(client, server.addr).await.unwrap();
    echo(&mut stream, b"anonymous").await.unwrap();
    assert_eq!(server.next_handshake().await.unwrap().peer, None);

    // A client that does present one is still verified and identified.
    let productpage = mesh.workload("default", "productpage");
    let client = productpage
        .client_config(ExpectedPeer::Exactly(reviews.id().clone()), &[])
        .unwrap();
    let mut stream = connect(client, server.addr).await.unwrap();
    echo(&mut stream, b"identified").await.unwrap();
    assert_eq!(
        server.next_handshake().await.unwrap().peer.as_ref(),
        Some(productpage.id())
    );
}

/// A root, and a leaf it signed with the given SANs, made outside the CA: certificates the
/// CA would never issue.
struct Foreign {
    bundle: TrustBundle,
    leaf: rustls_pki_types::CertificateDer<'static>,
    leaf_key: rcgen::KeyPair,
}

fn foreign_leaf(sans: Vec<rcgen::SanType>) -> Foreign {
    let root_key = rcgen::KeyPair::generate().unwrap();
    let mut root_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let root = root_params.self_signed(&root_key).unwrap();
    let issuer = rcgen::Issuer::new(root_params, root_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params.subject_alt_names = sans;
    leaf_params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let bundle = TrustBundle::new(
        TrustDomain::new("cluster.local").unwrap(),
        vec![TrustedRoot::current(root.der().clone())],
    )
    .unwrap();
    Foreign {
        bundle,
        leaf: leaf.der().clone(),
        leaf_key,
    }
}

fn any_in_cluster_local() -> ExpectedPeer {
    ExpectedPeer::AnyInTrustDomain(TrustDomain::new("cluster.local").unwrap())
}

#[test]
fn certificates_without_exactly_one_spiffe_uri_are_refused() {
    let verify = |sans: Vec<rcgen::SanType>| {
        let foreign = foreign_leaf(sans);
        SpiffeServerVerifier::new(foreign.bundle, any_in_cluster_local())
            .verify(&[foreign.leaf], SystemTime::now())
    };
    let uri = |s: &str| rcgen::SanType::URI(s.try_into().unwrap());
    let dns = rcgen::SanType::DnsName("reviews.default.svc".try_into().unwrap());

    assert_eq!(verify(vec![dns.clone()]), Err(Rejection::NoUriSan));
    assert_eq!(
        verify(vec![
            uri("spiffe://cluster.local/ns/a/sa/b"),
            uri("spiffe://cluster.local/ns/a/sa/c"),
        ]),
        Err(Rejection::MultipleUriSans { count: 2 })
    );
    assert_eq!(
        verify(vec![uri("https://cluster.local/ns/a/sa/b")]).map_err(|r| r.as_str()),
        Err("not_spiffe")
    );
    // A DNS name beside the one SPIFFE URI is fine.
    assert_eq!(
        verify(vec![dns, uri("spiffe://cluster.local/ns/a/sa/b")])
            .unwrap()
            .as_str(),
        "spiffe://cluster.local/ns/a/sa/b"
    );
}

#[tokio::test]
async fn server_without_uri_san_is_refused_in_a_handshake() {
    let foreign = foreign_leaf(vec![rcgen::SanType::DnsName(
        "reviews.default.svc".try_into().unwrap(),
    )]);
    // Any TLS server presenting that certificate.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![foreign.leaf],
            rustls_pki_types::PrivateKeyDer::Pkcs8(foreign.leaf_key.serialize_der().into()),
        )
        .unwrap();
    let server = EchoServer::start(Arc::new(server_config)).await;
    let client = client_without_certificate(foreign.bundle, any_in_cluster_local());
    assert_eq!(client_refusal(client, &server).await, Rejection::NoUriSan);
}

#[tokio::test]
async fn renewal_keeps_connections_open_and_new_handshakes_working() {
    let mesh = Mesh::new();
    // Short lifetimes: renewal every 2 s. Each renewal must land before the previous
    // certificate expires, which leaves 2 s of slack on a busy machine.
    let ttl = Duration::from_secs(4);
    let reviews = mesh.workload_with_ttl("default", "reviews", ttl);
    let productpage = mesh.workload_with_ttl("default", "productpage", ttl);
    let server_config = reviews.server_config(ClientAuth::Required, &[]).unwrap();
    let mut server = EchoServer::start(server_config).await;
    let expected = ExpectedPeer::Exactly(reviews.id().clone());

    let mut long_lived = connect(
        productpage.client_config(expected.clone(), &[]).unwrap(),
        server.addr,
    )
    .await
    .unwrap();
    echo(&mut long_lived, b"before renewal").await.unwrap();
    server.next_handshake().await.unwrap();
    let first_leaf = reviews.certificate().leaf().clone();

    let mut renewals = reviews.subscribe();
    let mut seen_leaves = vec![first_leaf];
    let mut handshakes = 0;
    bounded("two renewals", async {
        while seen_leaves.len() < 3 {
            // A fresh client config each time: no resumption, so the server presents the
            // certificate it holds now.
            let client = productpage.client_config(expected.clone(), &[]).unwrap();
            let mut stream = connect(client, server.addr).await.unwrap();
            echo(&mut stream, b"new connection").await.unwrap();
            server.next_handshake().await.unwrap();
            handshakes += 1;
            let presented = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
            if !seen_leaves.contains(&presented) {
                seen_leaves.push(presented);
            }
            echo(&mut long_lived, b"still here").await.unwrap();
            let _ = tokio::time::timeout(Duration::from_millis(200), renewals.changed()).await;
        }
    })
    .await;
    assert!(handshakes >= 2);
    // The connection opened before both renewals still works.
    echo(&mut long_lived, b"after renewals").await.unwrap();
}

#[tokio::test]
async fn rotation_keeps_old_leaves_trusted_during_the_overlap() {
    let mesh = Mesh::new();
    let old_root = mesh.ca.signing_cert();
    // The server keeps a leaf of the old root (as a peer that has not renewed yet would).
    let server_identity = mesh.fixed(
        mesh.ca
            .issue(&mesh.id("default", "reviews"), Duration::from_secs(3600))
            .unwrap(),
    );
    let mut server = EchoServer::start(
        server_identity
            .server_config(ClientAuth::Required, &[])
            .unwrap(),
    )
    .await;

    let rotation = mesh.ca.rotate(Duration::from_secs(3600)).unwrap();
    assert_eq!(
        rotation.retired_root.fingerprint_sha256,
        meridian_identity::fingerprint_sha256(&old_root)
    );
    assert_eq!(mesh.ca.trust_bundle().roots().len(), 2);

    // A client whose leaf comes from the new root.
    let productpage = mesh.workload("default", "productpage");
    let client_leaf = CertInfo::from_der(productpage.certificate().leaf()).unwrap();
    assert_eq!(client_leaf.issuer, rotation.new_root.subject);
    let server_leaf = CertInfo::from_der(server_identity.certificate().leaf()).unwrap();
    assert_eq!(server_leaf.issuer, rotation.retired_root.subject);

    let client = productpage
        .client_config(ExpectedPeer::Exactly(mesh.id("default", "reviews")), &[])
        .unwrap();
    let mut stream = connect(client, server.addr).await.unwrap();
    echo(&mut stream, b"old and new roots").await.unwrap();
    assert_eq!(
        server.next_handshake().await.unwrap().peer.as_ref(),
        Some(productpage.id())
    );
}

#[tokio::test]
async fn old_leaves_are_refused_once_the_overlap_ends() {
    let mesh = Mesh::new();
    let server_identity = mesh.fixed(
        mesh.ca
            .issue(&mesh.id("default", "reviews"), Duration::from_secs(3600))
            .unwrap(),
    );
    let server = EchoServer::start(
        server_identity
            .server_config(ClientAuth::Required, &[])
            .unwrap(),
    )
    .await;
    let rotation = mesh.ca.rotate(Duration::from_secs(1)).unwrap();
    bounded("the overlap to end", async {
        while SystemTime::now() < rotation.retired_root_trusted_until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(mesh.ca.trust_bundle().roots().len(), 1);
    let client = mesh
        .workload("default", "productpage")
        .client_config(ExpectedPeer::Exactly(mesh.id("default", "reviews")), &[])
        .unwrap();
    assert_eq!(
        client_refusal(client, &server).await,
        Rejection::UnknownRoot
    );
}

#[tokio::test]
async fn second_handshake_is_resumed_and_keeps_identities() {
    let mesh = Mesh::new();
    let reviews = mesh.workload("default", "reviews");
    let productpage = mesh.workload("default", "productpage");
    let mut server = EchoServer::start(
        reviews
            .server_config(ClientAuth::Required, &[ALPN_H2])
            .unwrap(),
    )
    .await;
    let client = productpage
        .client_config(ExpectedPeer::Exactly(reviews.id().clone()), &[ALPN_H2])
        .unwrap();

    let mut first = connect(Arc::clone(&client), server.addr).await.unwrap();
    // Reading the echo also reads the session tickets the server sent after the handshake.
    echo(&mut first, b"first").await.unwrap();
    assert_eq!(
        first.get_ref().1.handshake_kind(),
        Some(HandshakeKind::Full)
    );
    assert_eq!(
        server.next_handshake().await.unwrap().kind,
        Some(HandshakeKind::Full)
    );

    let mut second = connect(Arc::clone(&client), server.addr).await.unwrap();
    echo(&mut second, b"second").await.unwrap();
    let (_, conn) = second.get_ref();
    assert_eq!(conn.handshake_kind(), Some(HandshakeKind::Resumed));
    assert_eq!(peer_identity(conn).unwrap().as_ref(), Some(reviews.id()));
    let accepted = server.next_handshake().await.unwrap();
    assert_eq!(accepted.kind, Some(HandshakeKind::Resumed));
    assert_eq!(accepted.peer.as_ref(), Some(productpage.id()));
}

/// Collects what a tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn refusals_are_logged_with_their_reason_and_the_peer() {
    let mesh = Mesh::new();
    let expired = mesh.cert_valid_between("default", "reviews", -7200, -3600);
    let ratings = mesh
        .ca
        .issue(&mesh.id("default", "ratings"), Duration::from_secs(60))
        .unwrap();
    let verifier = SpiffeServerVerifier::new(
        mesh.ca.trust_bundle(),
        ExpectedPeer::Exactly(mesh.id("default", "reviews")),
    );
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        assert!(verifier.verify(expired.chain(), SystemTime::now()).is_err());
        assert!(verifier.verify(ratings.chain(), SystemTime::now()).is_err());
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(lines[0].contains("WARN"), "{logs}");
    assert!(lines[0].contains("reason=\"expired\""), "{logs}");
    assert!(
        lines[0].contains("peer_identity=spiffe://cluster.local/ns/default/sa/reviews"),
        "{logs}"
    );
    assert!(
        lines[0].contains("refused peer certificate: certificate expired at"),
        "{logs}"
    );
    assert!(lines[1].contains("reason=\"wrong_identity\""), "{logs}");
    assert!(
        lines[1].contains("peer identity spiffe://cluster.local/ns/default/sa/ratings is not the expected spiffe://cluster.local/ns/default/sa/reviews"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_ticket_from_a_permissive_port_does_not_resume_on_a_strict_one() {
    let mesh = Mesh::new();
    let reviews = mesh.workload("default", "reviews");
    let mut permissive =
        EchoServer::start(reviews.server_config(ClientAuth::Optional, &[]).unwrap()).await;
    let mut strict =
        EchoServer::start(reviews.server_config(ClientAuth::Required, &[]).unwrap()).await;
    // One anonymous client, one server name for both ports: the ticket is offered to both.
    let client = client_without_certificate(
        mesh.ca.trust_bundle(),
        ExpectedPeer::Exactly(reviews.id().clone()),
    );
    let mut stream = connect(Arc::clone(&client), permissive.addr).await.unwrap();
    echo(&mut stream, b"anonymous").await.unwrap();
    assert_eq!(permissive.next_handshake().await.unwrap().peer, None);
    let mut again = connect(Arc::clone(&client), permissive.addr).await.unwrap();
    echo(&mut again, b"resumed").await.unwrap();
    assert_eq!(
        permissive.next_handshake().await.unwrap().kind,
        Some(HandshakeKind::Resumed)
    );

    if let Ok(mut stream) = connect(client, strict.addr).await {
        assert!(echo(&mut stream, b"x").await.is_err());
    }
    let err = strict.next_handshake().await.unwrap_err();
    assert_eq!(
        Rejection::from_io_error(&err),
        Some(Rejection::MissingClientCert)
    );
}
