//! mTLS handshake cost between two sidecar configurations, in memory (no sockets): a full
//! handshake (TLS 1.3, X25519MLKEM768, ECDSA P-256 both ways, SPIFFE verification both ways)
//! against a resumed one (ticket), plus the cost of issuing a workload certificate.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use meridian_identity::{
    CertificateAuthority, ClientAuth, ExpectedPeer, TrustDomain, WorkloadIdentity,
};
use rustls::client::Resumption;
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, HandshakeKind, ServerConfig, ServerConnection,
};
use rustls_pki_types::ServerName;

struct Pair {
    _dir: tempfile::TempDir,
    ca: CertificateAuthority,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::load_or_create(
        dir.path(),
        TrustDomain::new("cluster.local").unwrap(),
    )
    .unwrap();
    let identity = |sa: &str| {
        let id = ca.trust_domain().workload_id("default", sa).unwrap();
        WorkloadIdentity::fixed(
            ca.trust_bundle(),
            ca.issue(&id, Duration::from_secs(86_400)).unwrap(),
        )
        .unwrap()
    };
    let reviews = identity("reviews");
    let productpage = identity("productpage");
    let server = reviews
        .server_config(ClientAuth::Required, &[meridian_identity::ALPN_H2])
        .unwrap();
    let client = productpage
        .client_config(
            ExpectedPeer::Exactly(reviews.id().clone()),
            &[meridian_identity::ALPN_H2],
        )
        .unwrap();
    Pair {
        _dir: dir,
        ca,
        server,
        client,
    }
}

/// Moves everything `from` has to send into `to` and lets `to` process it.
fn transfer<A, B>(from: &mut ConnectionCommon<A>, to: &mut ConnectionCommon<B>) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rd = &buf[..];
    while !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
    }
    to.process_new_packets().unwrap();
}

/// One complete handshake, including the session tickets sent after it.
fn handshake(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) -> Option<HandshakeKind> {
    let name = ServerName::try_from("reviews.default.svc").unwrap();
    let mut c = ClientConnection::new(Arc::clone(client), name).unwrap();
    let mut s = ServerConnection::new(Arc::clone(server)).unwrap();
    while c.is_handshaking() || s.is_handshaking() {
        transfer(&mut c, &mut s);
        transfer(&mut s, &mut c);
    }
    transfer(&mut s, &mut c);
    c.handshake_kind()
}

fn handshakes(criterion: &mut Criterion) {
    let pair = pair();
    let mut full_client = (*pair.client).clone();
    full_client.resumption = Resumption::disabled();
    let full_client = Arc::new(full_client);
    assert_eq!(
        handshake(&full_client, &pair.server),
        Some(HandshakeKind::Full)
    );
    assert_eq!(
        handshake(&pair.client, &pair.server),
        Some(HandshakeKind::Full)
    );
    assert_eq!(
        handshake(&pair.client, &pair.server),
        Some(HandshakeKind::Resumed)
    );

    let mut group = criterion.benchmark_group("mtls_handshake");
    group.bench_function("full", |b| {
        b.iter(|| black_box(handshake(&full_client, &pair.server)))
    });
    group.bench_function("resumed", |b| {
        b.iter(|| {
            // Every timed handshake really resumes: each one brings new tickets.
            let kind = handshake(&pair.client, &pair.server);
            assert_eq!(kind, Some(HandshakeKind::Resumed));
            black_box(kind)
        })
    });
    group.finish();

    let id = pair
        .ca
        .trust_domain()
        .workload_id("default", "reviews")
        .unwrap();
    criterion.bench_function("issue_workload_certificate", |b| {
        b.iter(|| black_box(pair.ca.issue(&id, Duration::from_secs(86_400)).unwrap()))
    });
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
