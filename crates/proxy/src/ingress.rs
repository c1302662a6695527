//! Swarm's routing mesh for Compose `ports:`: each published port gets a TCP listener on the
//! node, and every connection to it goes to one of the service's ready replicas (round robin),
//! to the port the replica listens on for the declared `target`, as Docker's ingress network
//! does with IPVS. Plain TCP: what the connection carries is the service's business.
//!
//! Published ports follow the node's Gateway port policy (`--gateway-port`,
//! `--gateway-port-offset`): below 1024 they move up by the offset when not root.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::GatewayPorts;
use meridian_config::compose::ComposeFile;
use meridian_control::endpoints::{EndpointState, EndpointWatch, WorkloadKind, WorkloadRef};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A published port that could not listen.
#[derive(Debug, thiserror::Error)]
#[error("cannot publish port {published} of service {service} on 127.0.0.1:{port}: {source}")]
pub struct PublishError {
    /// The port as published.
    pub published: u16,
    /// The Compose service.
    pub service: String,
    /// The port it tried to bind.
    pub port: u16,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// What a published port forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The Compose service.
    pub workload: WorkloadRef,
    /// The container port (`target`).
    pub port: u16,
}

/// A published port in service.
#[derive(Debug)]
struct Listener {
    target: Arc<Mutex<Target>>,
    bound: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The node's published ports.
#[derive(Debug)]
pub struct Ingress {
    policy: GatewayPorts,
    endpoints: EndpointWatch,
    listeners: Mutex<BTreeMap<u16, Listener>>,
}

/// The published TCP ports of Compose files: published → target.
pub fn published(files: &[ComposeFile]) -> BTreeMap<u16, Target> {
    let mut out = BTreeMap::new();
    for file in files {
        for s in &file.services {
            for p in &s.ports {
                let Some(published) = p.published else {
                    continue;
                };
                if p.protocol != "tcp" {
                    tracing::warn!(service = %s.name, published, "only TCP ports are published");
                    continue;
                }
                out.insert(
                    published,
                    Target {
                        workload: WorkloadRef {
                            kind: WorkloadKind::ComposeService,
                            namespace: meridian_config::k8s::meta::DEFAULT_NAMESPACE.to_owned(),
                            name: s.name.clone(),
                        },
                        port: p.target,
                    },
                );
            }
        }
    }
    out
}

/// Published ports bound and not yet serving (see [`Ingress::stage`]).
#[derive(Debug)]
pub struct StagedPorts {
    wanted: BTreeMap<u16, Target>,
    fresh: Vec<(u16, TcpListener, SocketAddr)>,
}

impl Ingress {
    /// Published ports bind under `policy`; connections go to the ready replicas of
    /// `endpoints`.
    pub fn new(policy: GatewayPorts, endpoints: EndpointWatch) -> Ingress {
        Ingress {
            policy,
            endpoints,
            listeners: Mutex::new(BTreeMap::new()),
        }
    }

    /// Serves exactly `wanted`: new ports start listening, removed ones close (connections
    /// in progress go on), changed targets apply to new connections. If a new port cannot
    /// bind, nothing changes.
    pub async fn apply(&self, wanted: &BTreeMap<u16, Target>) -> Result<(), PublishError> {
        let staged = self.stage(wanted).await?;
        self.commit(staged);
        Ok(())
    }

    /// Binds the ports of `wanted` that are not listening yet, without serving them or
    /// changing anything else; dropping the result releases them.
    pub async fn stage(&self, wanted: &BTreeMap<u16, Target>) -> Result<StagedPorts, PublishError> {
        let have: Vec<u16> = self
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        let mut fresh = Vec::new();
        for (published, target) in wanted.iter().filter(|(p, _)| !have.contains(p)) {
            let port = self.policy.bind_port(*published);
            let fail = |source| PublishError {
                published: *published,
                service: target.workload.name.clone(),
                port,
                source,
            };
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .await
                .map_err(fail)?;
            let bound = listener.local_addr().map_err(fail)?;
            fresh.push((*published, listener, bound));
        }
        Ok(StagedPorts {
            wanted: wanted.clone(),
            fresh,
        })
    }

    /// Puts staged ports in force: new ones serve, removed ones close, targets change.
    pub fn commit(&self, staged: StagedPorts) {
        let StagedPorts { wanted, fresh } = staged;
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        listeners.retain(|p, _| wanted.contains_key(p));
        for (published, l) in &*listeners {
            if let Some(target) = wanted.get(published) {
                *l.target
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = target.clone();
            }
        }
        for (published, listener, bound) in fresh {
            let Some(target) = wanted.get(&published) else {
                continue;
            };
            let target = Arc::new(Mutex::new(target.clone()));
            let task = tokio::spawn(serve(listener, target.clone(), self.endpoints.clone()));
            listeners.insert(
                published,
                Listener {
                    target,
                    bound,
                    task,
                },
            );
        }
    }

    /// Published port → where it listens and what it forwards to.
    pub fn addresses(&self) -> BTreeMap<u16, (SocketAddr, Target)> {
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(p, l)| {
                let target = l
                    .target
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                (*p, (l.bound, target))
            })
            .collect()
    }
}

async fn serve(listener: TcpListener, target: Arc<Mutex<Target>>, endpoints: EndpointWatch) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "published port: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let target = target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let endpoints = endpoints.clone();
        let next = next.clone();
        tokio::spawn(async move {
            // The ready replicas' addresses for the target port, in a stable order.
            let candidates: Vec<SocketAddr> = {
                let table = endpoints.borrow();
                table
                    .replicas
                    .iter()
                    .filter(|r| r.workload == target.workload && r.state == EndpointState::Ready)
                    .filter_map(|r| {
                        r.ports
                            .iter()
                            .find(|m| m.declared == target.port)
                            .map(|m| SocketAddr::new(r.ip, m.actual))
                    })
                    .collect()
            };
            if candidates.is_empty() {
                tracing::debug!(%peer, service = %target.workload.name, "no ready replica for a published port");
                return;
            }
            let first = next.fetch_add(1, Ordering::Relaxed);
            // A replica that refuses the connection is skipped for the next one.
            for i in 0..candidates.len() {
                let addr = candidates[(first + i) % candidates.len()];
                let Ok(mut upstream) = TcpStream::connect(addr).await else {
                    continue;
                };
                let _ = upstream.set_nodelay(true);
                let mut client = client;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                return;
            }
        });
    }
}
