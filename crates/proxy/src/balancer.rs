//! Load balancers over a cluster's endpoints: least request (power of two choices weighted by
//! active requests and warm-up), round robin, random, passthrough, and consistent hashing on a
//! ketama ring or a maglev table. Built once per config or endpoint change; picking takes no
//! lock. Endpoints ejected by outlier detection are skipped, unless the cluster is in panic
//! mode (too few healthy endpoints), when every endpoint is used as Envoy does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use meridian_control::snapshot::{HashAlgorithm, LoadBalancer, Warmup};
use rand::Rng;

use crate::pool::Endpoint;

/// A stable 64-bit hash (FNV-1a with a murmur finaliser): the same key hashes the same in
/// every process and across restarts, which stickiness needs.
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A ketama ring: each endpoint owns `size / n` points.
#[derive(Debug, Clone)]
pub struct Ring {
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// Builds a ring of at least `minimum_size` points over endpoint keys.
    pub fn new(keys: &[&str], minimum_size: u64) -> Ring {
        let n = keys.len().max(1) as u64;
        let per = minimum_size.max(n).div_ceil(n).min(1 << 16);
        let mut points = Vec::with_capacity((per * n) as usize);
        for (i, key) in keys.iter().enumerate() {
            for p in 0..per {
                points.push((hash64(format!("{key}_{p}").as_bytes()), i as u32));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The endpoint index owning `hash`.
    pub fn pick(&self, hash: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let i = self.points.partition_point(|(h, _)| *h < hash);
        Some(self.points[i % self.points.len()].1 as usize)
    }
}

/// A maglev lookup table (Eisenbud et al.): even spread, minimal disruption.
#[derive(Debug, Clone)]
pub struct Maglev {
    table: Vec<u32>,
}

impl Maglev {
    /// Envoy's largest table (validation refuses larger ones; this guards the allocation).
    pub const MAX_SIZE: u64 = 5_000_011;

    /// Builds a table of `size` entries (a prime, at most [`Maglev::MAX_SIZE`]) over
    /// endpoint keys.
    pub fn new(keys: &[&str], size: u64) -> Maglev {
        let m = usize::try_from(size.clamp(2, Self::MAX_SIZE)).unwrap_or(2);
        if keys.is_empty() {
            return Maglev { table: Vec::new() };
        }
        let perms: Vec<(usize, usize)> = keys
            .iter()
            .map(|k| {
                let offset = (hash64(k.as_bytes()) % m as u64) as usize;
                let skip = (hash64(format!("{k}#skip").as_bytes()) % (m as u64 - 1)) as usize + 1;
                (offset, skip)
            })
            .collect();
        let mut next = vec![0usize; keys.len()];
        let mut table = vec![u32::MAX; m];
        let mut filled = 0;
        'outer: loop {
            for (i, (offset, skip)) in perms.iter().enumerate() {
                let mut c = (offset + next[i] * skip) % m;
                while table[c] != u32::MAX {
                    next[i] += 1;
                    c = (offset + next[i] * skip) % m;
                }
                table[c] = i as u32;
                next[i] += 1;
                filled += 1;
                if filled == m {
                    break 'outer;
                }
            }
        }
        Maglev { table }
    }

    /// The endpoint index for `hash`.
    pub fn pick(&self, hash: u64) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        Some(self.table[(hash % self.table.len() as u64) as usize] as usize)
    }
}

#[derive(Debug)]
enum Hashing {
    None,
    Ring(Ring),
    Maglev(Maglev),
}

/// A cluster's endpoints and how to choose among them.
#[derive(Debug)]
pub struct Balancer {
    endpoints: Vec<Arc<Endpoint>>,
    algorithm: LoadBalancer,
    warmup: Option<Warmup>,
    cursor: AtomicUsize,
    hashing: Hashing,
}

/// What a pick may use and must avoid.
#[derive(Debug, Default, Clone, Copy)]
pub struct PickContext<'a> {
    /// The request's hash (consistent hashing).
    pub hash: Option<u64>,
    /// Endpoints already tried (retries prefer others).
    pub avoid: &'a [SocketAddr],
    /// How many times to re-pick to avoid them.
    pub attempts: u32,
    /// The address the client asked for (passthrough).
    pub original: Option<SocketAddr>,
}

impl Balancer {
    /// A balancer over `endpoints`.
    pub fn new(
        endpoints: Vec<Arc<Endpoint>>,
        algorithm: LoadBalancer,
        warmup: Option<Warmup>,
    ) -> Balancer {
        let hashing = match &algorithm {
            LoadBalancer::ConsistentHash(ch) => {
                let keys: Vec<&str> = endpoints.iter().map(|e| e.key.as_str()).collect();
                match ch.algorithm {
                    HashAlgorithm::RingHash { minimum_ring_size } => {
                        Hashing::Ring(Ring::new(&keys, minimum_ring_size))
                    }
                    HashAlgorithm::Maglev { table_size } => {
                        Hashing::Maglev(Maglev::new(&keys, table_size))
                    }
                }
            }
            _ => Hashing::None,
        };
        Balancer {
            endpoints,
            algorithm,
            warmup,
            cursor: AtomicUsize::new(0),
            hashing,
        }
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &LoadBalancer {
        &self.algorithm
    }

    /// Chooses an endpoint, re-picking up to `ctx.attempts` times to avoid tried ones.
    pub fn pick(&self, ctx: PickContext<'_>) -> Option<&Arc<Endpoint>> {
        if self.endpoints.is_empty() {
            return None;
        }
        let mut choice = self.pick_once(&ctx, 0)?;
        let mut n = 0;
        while n < ctx.attempts && ctx.avoid.contains(&choice.addr) {
            n += 1;
            choice = self.pick_once(&ctx, n)?;
        }
        Some(choice)
    }

    fn pick_once(&self, ctx: &PickContext<'_>, retry: u32) -> Option<&Arc<Endpoint>> {
        let avoid_ejected = self
            .endpoints
            .first()
            .is_some_and(|e| e.cluster().detector.avoids_ejected());
        if avoid_ejected {
            return self.pick_healthy(ctx, retry);
        }
        let n = self.endpoints.len();
        if n == 1 {
            return self.endpoints.first();
        }
        let mut rng = rand::rng();
        let index = match (&self.hashing, ctx.hash) {
            (Hashing::Ring(r), Some(h)) => r.pick(h.wrapping_add(u64::from(retry)))?,
            (Hashing::Maglev(m), Some(h)) => m.pick(h.wrapping_add(u64::from(retry)))?,
            _ => match self.algorithm {
                LoadBalancer::RoundRobin => self.cursor.fetch_add(1, Ordering::Relaxed) % n,
                LoadBalancer::Random | LoadBalancer::ConsistentHash(_) => rng.random_range(0..n),
                LoadBalancer::Passthrough => {
                    if let Some(addr) = ctx.original
                        && let Some(i) = self.endpoints.iter().position(|e| e.addr == addr)
                    {
                        i
                    } else {
                        rng.random_range(0..n)
                    }
                }
                LoadBalancer::LeastRequest => {
                    let a = rng.random_range(0..n);
                    let mut b = rng.random_range(0..n - 1);
                    if b >= a {
                        b += 1;
                    }
                    if self.load(a) <= self.load(b) { a } else { b }
                }
            },
        };
        self.endpoints.get(index)
    }

    /// A pick among endpoints not ejected (some are): the hashing algorithms walk on to the
    /// next healthy entry, the others choose among the healthy ones.
    fn pick_healthy(&self, ctx: &PickContext<'_>, retry: u32) -> Option<&Arc<Endpoint>> {
        let healthy: Vec<usize> = (0..self.endpoints.len())
            .filter(|i| !self.endpoints[*i].is_ejected())
            .collect();
        if healthy.is_empty() {
            return None;
        }
        let mut rng = rand::rng();
        let hashed = |pick: &dyn Fn(u64) -> Option<usize>, h: u64| {
            (0..16u64)
                .filter_map(|k| {
                    pick(
                        h.wrapping_add(u64::from(retry))
                            .wrapping_add(k.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    )
                })
                .find(|i| !self.endpoints[*i].is_ejected())
        };
        let index = match (&self.hashing, ctx.hash) {
            (Hashing::Ring(r), Some(h)) => hashed(&|x| r.pick(x), h),
            (Hashing::Maglev(m), Some(h)) => hashed(&|x| m.pick(x), h),
            _ => None,
        };
        let index = index.unwrap_or_else(|| match self.algorithm {
            LoadBalancer::RoundRobin => {
                healthy[self.cursor.fetch_add(1, Ordering::Relaxed) % healthy.len()]
            }
            LoadBalancer::LeastRequest if healthy.len() > 1 => {
                let a = healthy[rng.random_range(0..healthy.len())];
                let b = healthy[rng.random_range(0..healthy.len())];
                if self.load(a) <= self.load(b) { a } else { b }
            }
            _ => healthy[rng.random_range(0..healthy.len())],
        });
        self.endpoints.get(index)
    }

    /// Active requests over weight (warm-up lowers a new endpoint's weight).
    fn load(&self, i: usize) -> f64 {
        let e = &self.endpoints[i];
        let active = f64::from(e.active()) + 1.0;
        match &self.warmup {
            Some(w) => active / w.factor(e.since.elapsed()),
            None => active,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Transport;

    fn endpoints(n: usize) -> Vec<Arc<Endpoint>> {
        (0..n)
            .map(|i| {
                Endpoint::standalone(
                    SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16)),
                    format!("replica-{i}:3000"),
                    Transport::Plain,
                )
            })
            .collect()
    }

    #[test]
    fn round_robin_takes_turns() {
        let b = Balancer::new(endpoints(3), LoadBalancer::RoundRobin, None);
        let picks: Vec<u16> = (0..6)
            .map(|_| b.pick(PickContext::default()).unwrap().addr.port())
            .collect();
        assert_eq!(picks, vec![10_000, 10_001, 10_002, 10_000, 10_001, 10_002]);
    }

    #[test]
    fn least_request_avoids_the_busy_endpoint() {
        let eps = endpoints(2);
        eps[0].active.store(100, Ordering::Relaxed);
        let b = Balancer::new(eps, LoadBalancer::LeastRequest, None);
        for _ in 0..50 {
            assert_eq!(b.pick(PickContext::default()).unwrap().addr.port(), 10_001);
        }
    }

    #[test]
    fn retries_avoid_tried_hosts() {
        let b = Balancer::new(endpoints(2), LoadBalancer::Random, None);
        let avoid = [SocketAddr::from(([127, 0, 0, 1], 10_000))];
        let mut other = 0;
        for _ in 0..200 {
            let ctx = PickContext {
                avoid: &avoid,
                attempts: 5,
                ..PickContext::default()
            };
            if b.pick(ctx).unwrap().addr.port() == 10_001 {
                other += 1;
            }
        }
        assert!(other > 180, "{other}");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("myapp-{i}:3000")).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Every endpoint owns a fair share of the maglev table (within 2% of M/N, as the
        /// paper's construction guarantees).
        #[test]
        fn maglev_spreads_evenly(n in 2usize..12) {
            let keys = keys(n);
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let m = Maglev::new(&refs, 65537);
            let mut counts = vec![0usize; n];
            for e in &m.table {
                counts[*e as usize] += 1;
            }
            let fair = 65537.0 / n as f64;
            for c in counts {
                prop_assert!((c as f64 - fair).abs() / fair < 0.02, "{c} vs {fair}");
            }
        }

        /// Removing one endpoint moves its keys and few others.
        #[test]
        fn hashing_is_stable_when_an_endpoint_leaves(n in 3usize..10, gone in 0usize..3, seeds in prop::collection::vec(any::<u64>(), 200)) {
            let keys = keys(n);
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let mut fewer = refs.clone();
            let removed = fewer.remove(gone % n);
            let (ring, ring2) = (Ring::new(&refs, 1024), Ring::new(&fewer, 1024));
            let (mag, mag2) = (Maglev::new(&refs, 65537), Maglev::new(&fewer, 65537));
            let (mut ring_moved, mut maglev_moved) = (0, 0);
            for h in &seeds {
                let before = refs[ring.pick(*h).unwrap_or(0)];
                let after = fewer[ring2.pick(*h).unwrap_or(0)];
                if before != removed && before != after {
                    ring_moved += 1;
                }
                let before = refs[mag.pick(*h).unwrap_or(0)];
                let after = fewer[mag2.pick(*h).unwrap_or(0)];
                if before != removed && before != after {
                    maglev_moved += 1;
                }
            }
            // Keys of the endpoints that stay mostly stay: the ring grows each remaining
            // endpoint's points (as Envoy's does, to keep the minimum size), and maglev trades
            // perfect stability for balance.
            prop_assert!(ring_moved <= seeds.len() / 4, "ring: {ring_moved} moved");
            prop_assert!(maglev_moved <= seeds.len() / 5, "maglev: {maglev_moved} moved");
        }

        /// The same key always lands on the same endpoint, and keys spread over the ring.
        #[test]
        fn ring_is_deterministic_and_spread(n in 2usize..8) {
            let keys = keys(n);
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let ring = Ring::new(&refs, 1024);
            let again = Ring::new(&refs, 1024);
            let mut counts = vec![0usize; n];
            for user in 0..4000u32 {
                let h = hash64(format!("user-{user}").as_bytes());
                prop_assert_eq!(ring.pick(h), again.pick(h));
                counts[ring.pick(h).unwrap_or(0)] += 1;
            }
            let fair = 4000.0 / n as f64;
            for c in counts {
                prop_assert!((c as f64 - fair).abs() / fair < 0.35, "{c} vs {fair}");
            }
        }
    }
}
