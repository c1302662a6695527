//! Free ports for replicas: each replica gets its own ports on 127.0.0.1, remembered so two
//! replicas never get the same one while both exist.
//!
//! A port is chosen below the kernel's ephemeral range (`ip_local_port_range`) and checked
//! free by binding it. A port from the ephemeral range (`bind(0)`) would be free when chosen
//! but could be taken, before the replica binds it, as the source port of any connection
//! made on the machine; the replica would then fail to start for as long as that connection
//! lives (seen under load). Only when the range leaves no room below it is `bind(0)` used.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

use meridian_control::endpoints::PortMapping;
use rand::Rng;

use crate::workload::ContainerSpec;

/// The lowest port handed out (above the well-known and commonly configured ones).
const LOWEST: u16 = 20000;

/// Ports below the ephemeral range, when there are enough of them: `[LOWEST, start)`.
fn below_ephemeral() -> Option<(u16, u16)> {
    static RANGE: std::sync::OnceLock<Option<(u16, u16)>> = std::sync::OnceLock::new();
    *RANGE.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
        let start: u16 = text.split_whitespace().next()?.parse().ok()?;
        (start >= LOWEST.saturating_add(1000)).then_some((LOWEST, start))
    })
}

/// The ports handed out to replicas that still exist.
#[derive(Debug, Default)]
pub(crate) struct PortBook {
    taken: Mutex<BTreeSet<u16>>,
}

impl PortBook {
    /// One free port.
    fn take_one(&self) -> std::io::Result<u16> {
        let mut taken = self
            .taken
            .lock()
            .map_err(|_| std::io::Error::other("port book poisoned"))?;
        if let Some((low, high)) = below_ephemeral() {
            let mut rng = rand::rng();
            for _ in 0..256 {
                let port = rng.random_range(low..high);
                if !taken.contains(&port)
                    && TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok()
                {
                    taken.insert(port);
                    return Ok(port);
                }
            }
        }
        for _ in 0..64 {
            let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            let port = l.local_addr()?.port();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_unique_free_and_outside_the_ephemeral_range() {
        let book = PortBook::default();
        let ports: Vec<u16> = (0..200).map(|_| book.take_one().expect("a port")).collect();
        let unique: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len(), "no port handed out twice");
        if let Some((low, high)) = below_ephemeral() {
            assert!(
                ports.iter().all(|p| (low..high).contains(p)),
                "{ports:?} not in {low}..{high}"
            );
        }
        // Free when handed out: the replica can bind it.
        let p = book.take_one().expect("a port");
        TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, p))).expect("bindable");
        // Released ports may be handed out again; taken ones never.
        book.release(&[PortMapping {
            name: None,
            declared: ports[0],
            actual: ports[0],
        }]);
        assert!(!book.taken.lock().expect("lock").contains(&ports[0]));
    }
}
