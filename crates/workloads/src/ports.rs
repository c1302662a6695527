//! Free ports for replicas: each replica gets its own ports on 127.0.0.1, found by binding
//! port 0, and remembered so two replicas never get the same one while both exist.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

use meridian_control::endpoints::PortMapping;

use crate::workload::ContainerSpec;

/// The ports handed out to replicas that still exist.
#[derive(Debug, Default)]
pub(crate) struct PortBook {
    taken: Mutex<BTreeSet<u16>>,
}

impl PortBook {
    /// One free port.
    fn take_one(&self) -> std::io::Result<u16> {
        for _ in 0..64 {
            let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            let port = l.local_addr()?.port();
            let mut taken = self
                .taken
                .lock()
                .map_err(|_| std::io::Error::other("port book poisoned"))?;
            if taken.insert(port) {
                return Ok(port);
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free port found on 127.0.0.1",
        ))
    }

    /// Ports for a replica: one per declared container port, in declaration order, or a
    /// single undeclared one (`PORT`) when the pod declares none.
    pub(crate) fn allocate(
        &self,
        containers: &[ContainerSpec],
    ) -> std::io::Result<Vec<PortMapping>> {
        let mut out: Vec<PortMapping> = Vec::new();
        for c in containers {
            for p in &c.ports {
                if out.iter().any(|m| m.declared == p.port) {
                    continue;
                }
                out.push(PortMapping {
                    name: p.name.clone(),
                    declared: p.port,
                    actual: self.take_one()?,
                });
            }
        }
        if out.is_empty() {
            let actual = self.take_one()?;
            // Nothing was declared: the replica's one port is published under its own number.
            out.push(PortMapping {
                name: None,
                declared: actual,
                actual,
            });
        }
        Ok(out)
    }

    /// Returns a replica's ports.
    pub(crate) fn release(&self, ports: &[PortMapping]) {
        if let Ok(mut taken) = self.taken.lock() {
            for p in ports {
                taken.remove(&p.actual);
            }
        }
    }
}
