//! Which backend of a pool serves a request, as Azure Front Door documents it
//! ("Traffic routing methods to origin"):
//!
//! 1. Available: enabled and healthy (see [`super::probe`]).
//! 2. The lowest priority value among the available backends.
//! 3. Of those, the backends whose latency is within `additional_latency_milliseconds` of
//!    the fastest (a backend not measured yet counts as the fastest).
//! 4. Weighted round robin over that bucket.
//!
//! When no enabled backend is available, Front Door routes round-robin across all enabled
//! backends of the pool until one recovers. Backends already tried for this request are
//! left out, so an in-flight failover never goes back to the one that just failed.

use std::time::Duration;

/// What selection needs to know about a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Enabled in the configuration.
    pub enabled: bool,
    /// Healthy by its probes, and not suspected after a failed request.
    pub healthy: bool,
    /// 1 (first) to 5.
    pub priority: u8,
    /// 1 to 1000.
    pub weight: u32,
    /// The last probe's latency, when measured.
    pub latency: Option<Duration>,
}

/// The bucket the weighted round robin draws from (indexes into `candidates`), after
/// leaving out `tried`; empty when every enabled backend was tried.
pub fn bucket(candidates: &[Candidate], band: Duration, tried: &[usize]) -> Vec<usize> {
    let open = |i: &usize| candidates[*i].enabled && !tried.contains(i);
    let available: Vec<usize> = (0..candidates.len())
        .filter(open)
        .filter(|i| candidates[*i].healthy)
        .collect();
    if available.is_empty() {
        // Every enabled backend is down: all of them, round robin.
        return (0..candidates.len()).filter(open).collect();
    }
    let Some(first) = available.iter().map(|i| candidates[*i].priority).min() else {
        return Vec::new();
    };
    let group: Vec<usize> = available
        .into_iter()
        .filter(|i| candidates[*i].priority == first)
        .collect();
    let fastest = group.iter().filter_map(|i| candidates[*i].latency).min();
    match fastest {
        None => group,
        Some(f) => group
            .into_iter()
            .filter(|i| candidates[*i].latency.is_none_or(|l| l <= f + band))
            .collect(),
    }
}

/// The `n`-th draw of a weighted round robin over `bucket`: over any run of
/// `sum(weights)` consecutive draws each backend is drawn exactly its weight's times, and
/// draws interleave rather than come in runs (draw `n` maps onto the weights by a
/// stride that is coprime with their sum).
pub fn draw(candidates: &[Candidate], bucket: &[usize], n: u64) -> Option<usize> {
    // 50/50 is 1/1: a cycle as short as the weights allow.
    let common = bucket
        .iter()
        .map(|i| u64::from(candidates[*i].weight.max(1)))
        .fold(0, gcd)
        .max(1);
    let weight = |i: usize| u64::from(candidates[i].weight.max(1)) / common;
    let total: u64 = bucket.iter().map(|i| weight(*i)).sum();
    if total == 0 {
        return None;
    }
    let stride = coprime_stride(total);
    let mut slot = (n % total).wrapping_mul(stride) % total;
    for i in bucket {
        let w = weight(*i);
        if slot < w {
            return Some(*i);
        }
        slot -= w;
    }
    None
}

/// A stride near the golden ratio of `total` that shares no factor with it, so that
/// `n * stride mod total` visits every slot once per `total` draws.
fn coprime_stride(total: u64) -> u64 {
    let mut s = (total * 618 / 1000).max(1);
    while gcd(s, total) != 1 {
        s += 1;
    }
    s
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(priority: u8, weight: u32, latency_ms: Option<u64>, healthy: bool) -> Candidate {
        Candidate {
            enabled: true,
            healthy,
            priority,
            weight,
            latency: latency_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn the_lowest_priority_among_healthy_wins() {
        let cs = [
            c(2, 50, None, true),
            c(1, 50, None, true),
            c(1, 50, None, false),
        ];
        assert_eq!(bucket(&cs, Duration::ZERO, &[]), vec![1]);
    }

    #[test]
    fn a_lower_group_takes_over_when_the_first_is_down() {
        let cs = [
            c(1, 50, None, false),
            c(2, 50, None, true),
            c(3, 50, None, true),
        ];
        assert_eq!(bucket(&cs, Duration::ZERO, &[]), vec![1]);
    }

    #[test]
    fn the_latency_band_is_the_documented_example() {
        // A 15 ms, B 30 ms, C 60 ms, sensitivity 30 ms: A and B.
        let cs = [
            c(1, 50, Some(15), true),
            c(1, 50, Some(30), true),
            c(1, 50, Some(60), true),
        ];
        assert_eq!(bucket(&cs, Duration::from_millis(30), &[]), vec![0, 1]);
        // Sensitivity 0: always the fastest.
        assert_eq!(bucket(&cs, Duration::ZERO, &[]), vec![0]);
    }

    #[test]
    fn all_down_means_all_enabled_round_robin() {
        let mut cs = [
            c(1, 50, None, false),
            c(2, 50, None, false),
            c(1, 50, None, false),
        ];
        cs[2].enabled = false;
        assert_eq!(bucket(&cs, Duration::ZERO, &[]), vec![0, 1]);
    }

    #[test]
    fn tried_backends_are_left_out() {
        let cs = [
            c(1, 50, None, true),
            c(1, 50, None, true),
            c(2, 50, None, true),
        ];
        assert_eq!(bucket(&cs, Duration::ZERO, &[0]), vec![1]);
        assert_eq!(bucket(&cs, Duration::ZERO, &[0, 1]), vec![2]);
        assert!(bucket(&cs, Duration::ZERO, &[0, 1, 2]).is_empty());
    }

    #[test]
    fn weights_are_exact_over_a_cycle_and_interleave() {
        let cs = [c(1, 5, None, true), c(1, 8, None, true)];
        let b = bucket(&cs, Duration::ZERO, &[]);
        let draws: Vec<usize> = (0..13).map(|n| draw(&cs, &b, n).unwrap()).collect();
        assert_eq!(draws.iter().filter(|i| **i == 0).count(), 5);
        assert_eq!(draws.iter().filter(|i| **i == 1).count(), 8);
        // 50/50 alternates.
        let even = [c(1, 50, None, true), c(1, 50, None, true)];
        let b = bucket(&even, Duration::ZERO, &[]);
        let first: Vec<usize> = (7..11).map(|n| draw(&even, &b, n).unwrap()).collect();
        assert_eq!(first, vec![1, 0, 1, 0]);
    }

    fn arb_candidate() -> impl proptest::strategy::Strategy<Value = Candidate> {
        use proptest::prelude::*;
        (
            any::<bool>(),
            any::<bool>(),
            1u8..=5,
            1u32..=1000,
            proptest::option::of(0u64..200),
        )
            .prop_map(|(enabled, healthy, priority, weight, latency)| Candidate {
                enabled,
                healthy,
                priority,
                weight,
                latency: latency.map(Duration::from_millis),
            })
    }

    proptest::proptest! {
        /// The documented rules, as invariants of any pool: the bucket holds only enabled,
        /// untried backends; when one of them is healthy it holds only healthy ones, of the
        /// lowest priority among them, within the band of the fastest of that group.
        #[test]
        fn the_bucket_follows_front_doors_rules(
            cands in proptest::collection::vec(arb_candidate(), 1..8),
            band_ms in 0u64..100,
            tried in proptest::collection::vec(0usize..8, 0..3),
        ) {
            let band = Duration::from_millis(band_ms);
            let b = bucket(&cands, band, &tried);
            let open: Vec<usize> = (0..cands.len())
                .filter(|i| cands[*i].enabled && !tried.contains(i))
                .collect();
            proptest::prop_assert!(b.iter().all(|i| open.contains(i)));
            let healthy: Vec<usize> = open.iter().copied().filter(|i| cands[*i].healthy).collect();
            if healthy.is_empty() {
                proptest::prop_assert_eq!(b, open);
            } else {
                let first = healthy.iter().map(|i| cands[*i].priority).min().unwrap();
                let group: Vec<usize> = healthy
                    .iter()
                    .copied()
                    .filter(|i| cands[*i].priority == first)
                    .collect();
                let fastest = group.iter().filter_map(|i| cands[*i].latency).min();
                proptest::prop_assert!(!b.is_empty());
                for i in &group {
                    let inside = match (fastest, cands[*i].latency) {
                        (Some(f), Some(l)) => l <= f + band,
                        _ => true,
                    };
                    proptest::prop_assert_eq!(b.contains(i), inside);
                }
                proptest::prop_assert!(b.iter().all(|i| group.contains(i)));
            }
        }

        #[test]
        fn every_cycle_matches_the_weights(weights in proptest::collection::vec(1u32..1000, 1..6), start in 0u64..10_000) {
            let cs: Vec<Candidate> = weights.iter().map(|w| c(1, *w, None, true)).collect();
            let b = bucket(&cs, Duration::ZERO, &[]);
            let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
            let mut counts = vec![0u32; cs.len()];
            for n in start..start + total {
                counts[draw(&cs, &b, n).unwrap()] += 1;
            }
            proptest::prop_assert_eq!(counts, weights);
        }
    }
}
