//! The global plane: an authoritative DNS answering Route 53's records with their routing
//! policies, and the health checks that steer them.
//!
//! It sits after `config` in the data flow: `Plane::apply` compiles the Terraform modules of
//! a revision (`aws_route53_zone`, `aws_route53_record`, `aws_route53_health_check`, the
//! CIDR collections' locations, and the names aliases point at: load balancers,
//! distributions, buckets) into a [`zone::Catalog`],
//! starts the health checkers, and swaps the catalog into the running [`server::Listener`]
//! (hickory-server's TCP transport with our request handler, and a UDP thread of our own
//! that answers the common queries in batches, allocating nothing per query). A query loads the
//! catalog once; nothing on the query path takes a lock. UDP answers are rate limited per
//! client network and answer (RRL, on by default).

#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod policy;
mod rrl;
pub mod server;
mod wire;
pub mod zone;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;
use meridian_config::terraform::Module;
use meridian_config::terraform::resources::Spec;

pub use hickory_proto::op::ResponseCode;
pub use hickory_proto::rr::RecordType;
pub use policy::{Location, Network};
pub use zone::{Answer, Catalog};

/// The global plane of one node: the catalog the DNS answers from and its health checkers.
#[derive(Debug)]
pub struct Plane {
    catalog: server::Shared,
    checkers: Mutex<Option<health::Checkers>>,
    network: Network,
    interval: Option<Duration>,
}

/// What the catalog holds, for the banner.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Zone apexes.
    pub zones: Vec<String>,
    /// Records served.
    pub records: usize,
    /// Health checks run.
    pub checks: usize,
    /// What is not served, and why.
    pub notes: Vec<String>,
}

impl Plane {
    /// An empty plane; `interval` overrides every check's interval (Route 53 allows 10 or
    /// 30 s; a drill on one machine may want 1 s).
    pub fn new(network: Network, interval: Option<Duration>) -> Self {
        let empty = zone::Builder::default().finish(Arc::default(), network.clone());
        Plane {
            catalog: Arc::new(ArcSwap::from_pointee(empty)),
            checkers: Mutex::new(None),
            network,
            interval,
        }
    }

    /// The catalog a listener answers from.
    pub fn shared(&self) -> server::Shared {
        Arc::clone(&self.catalog)
    }

    /// Compiles the modules' zones, records and checks, starts the checkers and serves the
    /// result. Statuses of checks that keep their id carry over. Needs a Tokio runtime.
    pub fn apply<'a>(&self, modules: impl IntoIterator<Item = &'a Module>) -> Summary {
        let insts: Vec<_> = modules
            .into_iter()
            .flat_map(|m| m.instances.iter())
            .collect();
        let mut b = zone::Builder::default();
        let mut zone_names = std::collections::HashMap::new();
        let mut checks = Vec::new();
        let mut externals = Vec::new();
        let mut summary = Summary::default();
        // IP-based routing: the configured CIDR map, and the collections' locations.
        let mut network = self.network.clone();
        let loopback = |what: String, health: Option<usize>| zone::Target {
            what,
            v4: vec![Ipv4Addr::LOCALHOST],
            v6: vec![std::net::Ipv6Addr::LOCALHOST],
            health,
        };
        for i in &insts {
            let attr = |k: &str| {
                i.attributes
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            match &i.spec {
                Spec::Zone(z) => {
                    b.zone(z);
                    zone_names.insert(z.zone_id.clone(), z.name.clone());
                    summary.zones.push(z.name.clone());
                }
                Spec::HealthCheck(h) => {
                    let mut h = h.clone();
                    if let Some(iv) = self.interval {
                        h.request_interval = i64::try_from(iv.as_secs().max(1)).unwrap_or(10);
                    }
                    checks.push(h);
                }
                Spec::LoadBalancer(lb) => {
                    externals.push(lb.dns_name.to_ascii_lowercase());
                }
                Spec::CidrLocation(l) => {
                    for block in &l.cidr_blocks {
                        match block.parse::<policy::IpNet>() {
                            Ok(net) => network.cidr.push((
                                net.trunc(),
                                l.collection_id.clone(),
                                l.name.clone(),
                            )),
                            Err(_) => summary
                                .notes
                                .push(format!("{}: {block:?} is not a CIDR block", i.address)),
                        }
                    }
                }
                _ => {}
            }
            let _ = attr;
        }
        let table = Arc::new(health::Table::new(&checks, &externals));
        let old = self.catalog.load();
        table.inherit(&old.health);
        for i in &insts {
            let attr = |k: &str| {
                i.attributes
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            match &i.spec {
                Spec::LoadBalancer(lb) => {
                    let slot = table.index(&lb.dns_name.to_ascii_lowercase());
                    b.target(
                        &lb.dns_name,
                        loopback(format!("load balancer {} in {}", lb.name, lb.region), slot),
                    );
                }
                Spec::Distribution(d) => {
                    b.target(
                        &d.domain_name,
                        loopback(format!("CloudFront distribution {}", d.id), None),
                    );
                }
                Spec::S3Bucket(_) => {
                    for k in [
                        "bucket_regional_domain_name",
                        "bucket_domain_name",
                        "website_endpoint",
                    ] {
                        if let Some(n) = attr(k) {
                            b.target(&n, loopback(format!("S3 bucket {}", i.name), None));
                        }
                    }
                }
                _ => {}
            }
        }
        for i in &insts {
            let Spec::Record(r) = &i.spec else { continue };
            let Some(zone) = zone_names.get(&r.zone_id) else {
                summary.notes.push(format!(
                    "{}: zone {} is not declared here",
                    i.address, r.zone_id
                ));
                continue;
            };
            b.record(&i.address, zone, r, |id| table.index(id));
            summary.records += 1;
        }
        summary.notes.append(&mut b.notes);
        summary.checks = checks.len();
        let catalog = b.finish(Arc::clone(&table), network);
        let running = table.start();
        self.catalog.store(Arc::new(catalog));
        if let Ok(mut c) = self.checkers.lock() {
            *c = Some(running);
        }
        summary
    }

    /// Every health check's status.
    pub fn health(&self) -> Vec<health::Status> {
        self.catalog.load().health.statuses()
    }

    /// Sets an alias target's health (a load balancer's), by its DNS name.
    pub fn set_target_health(&self, dns_name: &str, healthy: bool) -> bool {
        self.catalog.load().health.set_external(
            &dns_name.trim_end_matches('.').to_ascii_lowercase(),
            healthy,
        )
    }

    /// Answers a query as the listener would, for `meridian dns query`.
    pub fn query(&self, name: &str, rtype: RecordType, from: IpAddr) -> Option<Answer> {
        let n = Name::from_utf8(if name.ends_with('.') {
            name.to_owned()
        } else {
            format!("{name}.")
        })
        .ok()?;
        let mut dice = server::SplitMix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
        );
        Some(self.catalog.load().answer(
            &n,
            rtype,
            &mut zone::Query {
                addr: from,
                dice: &mut dice,
                explain: true,
            },
        ))
    }
}
