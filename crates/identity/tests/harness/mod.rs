//! A small harness for real TLS handshakes over loopback TCP: a mesh (a CA in a temporary
//! state directory), workloads with identities, an echo server that reports each accepted
//! connection, and a client. Every wait is bounded.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use meridian_identity::{
    CertificateAuthority, IssuedCert, SpiffeId, TrustDomain, WorkloadIdentity, peer_identity,
};
use rustls::{ClientConfig, HandshakeKind, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector, client};

/// Upper bound of any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(15);

pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {WAIT:?}"),
    }
}

/// A CA in a temporary state directory.
pub struct Mesh {
    pub ca: Arc<CertificateAuthority>,
    pub dir: tempfile::TempDir,
}

impl Mesh {
    pub fn new() -> Self {
        Self::with_trust_domain("cluster.local")
    }

    pub fn with_trust_domain(td: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(
            dir.path().join("ca"),
            TrustDomain::new(td).unwrap(),
        )
        .unwrap();
        Self {
            ca: Arc::new(ca),
            dir,
        }
    }

    pub fn id(&self, ns: &str, sa: &str) -> SpiffeId {
        self.ca.trust_domain().workload_id(ns, sa).unwrap()
    }

    /// A workload whose certificate renews itself (default 24 h lifetime).
    pub fn workload(&self, ns: &str, sa: &str) -> WorkloadIdentity {
        self.workload_with_ttl(ns, sa, meridian_identity::DEFAULT_WORKLOAD_TTL)
    }

    pub fn workload_with_ttl(&self, ns: &str, sa: &str, ttl: Duration) -> WorkloadIdentity {
        WorkloadIdentity::start(Arc::clone(&self.ca), self.id(ns, sa), ttl).unwrap()
    }

    /// A workload holding exactly this certificate, never renewed.
    pub fn fixed(&self, cert: IssuedCert) -> WorkloadIdentity {
        WorkloadIdentity::fixed(self.ca.trust_bundle(), cert).unwrap()
    }

    /// A certificate whose validity window is `[now + from, now + to]`.
    pub fn cert_valid_between(&self, ns: &str, sa: &str, from: i64, to: i64) -> IssuedCert {
        let at = |secs: i64| {
            if secs >= 0 {
                SystemTime::now() + Duration::from_secs(secs.unsigned_abs())
            } else {
                SystemTime::now() - Duration::from_secs(secs.unsigned_abs())
            }
        };
        self.ca
            .issue_with_validity(&self.id(ns, sa), at(from), at(to))
            .unwrap()
    }
}

/// What the server saw of one connection.
#[derive(Debug)]
pub struct Accepted {
    pub peer: Option<SpiffeId>,
    pub kind: Option<HandshakeKind>,
    pub alpn: Option<Vec<u8>>,
}

/// An echo server on 127.0.0.1:0 that reports every handshake's outcome.
pub struct EchoServer {
    pub addr: SocketAddr,
    outcomes: mpsc::UnboundedReceiver<io::Result<Accepted>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EchoServer {
    pub async fn start(config: Arc<ServerConfig>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, outcomes) = mpsc::unbounded_channel();
        let acceptor = TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(mut tls) => {
                            let (_, conn) = tls.get_ref();
                            let accepted = Accepted {
                                peer: peer_identity(conn).unwrap(),
                                kind: conn.handshake_kind(),
                                alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                            };
                            let _ = tx.send(Ok(accepted));
                            let mut buf = vec![0u8; 4096];
                            loop {
                                match tls.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if tls.write_all(&buf[..n]).await.is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            }
        });
        Self {
            addr,
            outcomes,
            task,
        }
    }

    /// The outcome of the next handshake the server finished (or failed).
    pub async fn next_handshake(&mut self) -> io::Result<Accepted> {
        bounded("server handshake", self.outcomes.recv())
            .await
            .expect("server task ended")
    }
}

/// Connects over TCP and runs the TLS handshake as a client.
pub async fn connect(
    config: Arc<ClientConfig>,
    addr: SocketAddr,
) -> io::Result<client::TlsStream<TcpStream>> {
    bounded("client connect", async {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("reviews.default.svc").unwrap();
        TlsConnector::from(config).connect(name, tcp).await
    })
    .await
}

/// Sends `msg` and reads it back from the echo server.
pub async fn echo(stream: &mut client::TlsStream<TcpStream>, msg: &[u8]) -> io::Result<()> {
    bounded("echo", async {
        stream.write_all(msg).await?;
        stream.flush().await?;
        let mut back = vec![0u8; msg.len()];
        stream.read_exact(&mut back).await?;
        assert_eq!(back, msg);
        Ok(())
    })
    .await
}
