//! Route 53's routing policies: which records of one name and type answer a query.
//!
//! The rules, as AWS documents them (see the research notes on Route 53):
//! * Every policy first drops unhealthy records; a record without a health check (and not an
//!   alias that evaluates its target's health) is always healthy. **When no record of the group
//!   is healthy, all of them are treated as healthy** and the policy picks among them.
//! * Simple: every value of the one record.
//! * Weighted: a record's share is its weight over the sum of weights. Records of weight 0
//!   are considered only when every non-zero record is unhealthy (then with equal chance);
//!   when every record is unhealthy, the non-zero ones answer by weight as if healthy.
//! * Failover: PRIMARY while healthy. PRIMARY unhealthy: SECONDARY when it is healthy or has
//!   no health check; PRIMARY again when SECONDARY is unhealthy too.
//! * Latency: the healthy record whose region has the lowest latency to the querier's network.
//! * Geolocation: the most specific healthy location (subdivision, country, continent, then
//!   the default `*`); no matching record at all is an empty answer (NODATA).
//! * Multivalue: up to eight healthy records, a different random eight per query.
//! * IP-based: the record whose CIDR location holds the querier, else the `*` default.
//!
//! `select` is pure: the caller states each record's health and the querier's network, so
//! the rules are tested as tables.

use std::net::IpAddr;

pub use ipnet::IpNet;
use meridian_config::terraform::resources::aws_dns::Policy;

/// At most this many records answer a multivalue query.
pub const MULTIVALUE_MAX: usize = 8;

/// One record of a group, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its routing policy.
    pub policy: &'a Policy,
    /// Its current health.
    pub healthy: bool,
    /// Whether anything decides its health (a health check, or an alias that evaluates its
    /// target); failover treats an unchecked SECONDARY as always available.
    pub checked: bool,
}

/// A location: continent, country and subdivision codes as Route 53 names them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// Two-letter continent code (`NA`, `EU`, ...).
    pub continent: String,
    /// ISO 3166 country code.
    pub country: String,
    /// Subdivision (a US state), when known.
    pub subdivision: Option<String>,
}

/// What the server knows about networks: where they are and how far each region is.
///
/// On one machine nothing measures latency between real regions, so latency comes from a
/// configured map (network → region → milliseconds); a querier no entry covers is nearest to
/// the node's own region. Geolocation comes from a CIDR map (no GeoIP database is
/// installed); an address no entry covers has no location and gets the default record.
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// The region this node runs in (`us-east` matches `us-east-1`).
    pub local_region: Option<String>,
    /// Latency from regions to networks, most specific network first.
    pub latency: Vec<(IpNet, Vec<(String, u32)>)>,
    /// Locations of networks.
    pub geo: Vec<(IpNet, Location)>,
    /// CIDR collection locations: network, collection id, location name.
    pub cidr: Vec<(IpNet, String, String)>,
}

impl Network {
    fn latency_to(&self, addr: IpAddr, region: &str) -> Option<u32> {
        if let Some((_, table)) = longest(&self.latency, addr) {
            return table.iter().find(|(r, _)| r == region).map(|(_, ms)| *ms);
        }
        let local = self.local_region.as_deref()?;
        (region == local
            || region
                .strip_prefix(local)
                .is_some_and(|t| t.starts_with('-')))
        .then_some(0)
    }

    fn location(&self, addr: IpAddr) -> Option<&Location> {
        longest(&self.geo, addr).map(|(_, l)| l)
    }

    fn cidr_location(&self, addr: IpAddr, collection: &str) -> Option<&str> {
        self.cidr
            .iter()
            .filter(|(net, c, _)| c == collection && net.contains(&addr))
            .max_by_key(|(net, _, _)| net.prefix_len())
            .map(|(_, _, l)| l.as_str())
    }
}

fn longest<T>(table: &[(IpNet, T)], addr: IpAddr) -> Option<&(IpNet, T)> {
    table
        .iter()
        .filter(|(net, _)| net.contains(&addr))
        .max_by_key(|(net, _)| net.prefix_len())
}

/// Which records answer, and why (the reason is what `meridian dns query` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Indexes of the chosen candidates.
    pub picked: Vec<usize>,
    /// Why, in a few words.
    pub reason: String,
    /// Whether the querier's address decided it (then the client-subnet scope is echoed).
    pub by_address: bool,
}

/// A small random source; the server seeds one per query.
pub trait Dice {
    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64;
}

/// Picks the records of one group that answer a query from `addr`.
pub fn select(
    cands: &[Candidate<'_>],
    net: &Network,
    addr: IpAddr,
    dice: &mut dyn Dice,
) -> Selection {
    let Some(first) = cands.first() else {
        return Selection {
            picked: Vec::new(),
            reason: "no records".into(),
            by_address: false,
        };
    };
    let any_healthy = cands.iter().any(|c| c.healthy);
    // Route 53: with no healthy record, every record counts as healthy.
    let ok = |c: &Candidate<'_>| c.healthy || !any_healthy;
    let all_down = if any_healthy {
        ""
    } else {
        " (no record healthy: all treated as healthy)"
    };
    let sel = |picked: Vec<usize>, reason: String, by_address: bool| Selection {
        picked,
        reason: format!("{reason}{all_down}"),
        by_address,
    };
    match first.policy {
        Policy::Simple | Policy::Geoproximity { .. } if cands.len() == 1 => {
            sel(vec![0], "simple record".into(), false)
        }
        Policy::Simple => sel((0..cands.len()).collect(), "simple records".into(), false),
        Policy::Weighted { .. } => weighted(cands, any_healthy, dice, all_down),
        Policy::Failover { .. } => failover(cands),
        Policy::Latency { .. } | Policy::Geoproximity { .. } => {
            let mut best: Option<(usize, Option<u32>)> = None;
            for (i, c) in cands.iter().enumerate().filter(|(_, c)| ok(c)) {
                let region = match c.policy {
                    Policy::Latency { region } => Some(region.as_str()),
                    Policy::Geoproximity { region, .. } => region.as_deref(),
                    _ => None,
                };
                let ms = region.and_then(|r| net.latency_to(addr, r));
                // Known latency beats unknown; ties keep the first record.
                let better = match (&best, ms) {
                    (None, _) => true,
                    (Some((_, None)), Some(_)) => true,
                    (Some((_, Some(b))), Some(m)) => m < *b,
                    _ => false,
                };
                if better {
                    best = Some((i, ms));
                }
            }
            match best {
                Some((i, ms)) => sel(
                    vec![i],
                    match ms {
                        Some(ms) => format!("lowest latency ({ms} ms)"),
                        None => "no latency known for this network: first record".into(),
                    },
                    true,
                ),
                None => sel(Vec::new(), "no records".into(), true),
            }
        }
        Policy::Geolocation { .. } => geolocation(cands, net.location(addr), any_healthy, all_down),
        Policy::Multivalue => {
            let mut pool: Vec<usize> = (0..cands.len()).filter(|&i| ok(&cands[i])).collect();
            // A partial Fisher-Yates shuffle: a different random eight per query.
            let n = pool.len().min(MULTIVALUE_MAX);
            for i in 0..n {
                let j = i + usize::try_from(dice.below((pool.len() - i) as u64)).unwrap_or(0);
                pool.swap(i, j);
            }
            pool.truncate(n);
            sel(pool, format!("multivalue: {n} record(s)"), false)
        }
        Policy::Cidr { collection_id, .. } => {
            let here = net.cidr_location(addr, collection_id);
            let find = |want: &str| {
                cands.iter().enumerate().find(|(_, c)| {
                    ok(c)
                        && matches!(c.policy, Policy::Cidr { location_name, .. } if location_name == want)
                })
            };
            if let Some((i, _)) = here.and_then(find) {
                return sel(
                    vec![i],
                    format!("CIDR location {}", here.unwrap_or("")),
                    true,
                );
            }
            match find("*") {
                Some((i, _)) => sel(vec![i], "default CIDR record (*)".into(), true),
                None => sel(
                    Vec::new(),
                    "no CIDR location matches and no default".into(),
                    true,
                ),
            }
        }
    }
}

fn weighted(
    cands: &[Candidate<'_>],
    any_healthy: bool,
    dice: &mut dyn Dice,
    all_down: &str,
) -> Selection {
    let weight = |c: &Candidate<'_>| match c.policy {
        Policy::Weighted { weight } => u64::try_from(*weight).unwrap_or(0),
        _ => 0,
    };
    let healthy_nonzero: Vec<usize> = (0..cands.len())
        .filter(|&i| cands[i].healthy && weight(&cands[i]) > 0)
        .collect();
    let (pool, by_weight, reason) = if !healthy_nonzero.is_empty() {
        (healthy_nonzero, true, "weighted")
    } else if any_healthy {
        // Every non-zero record is unhealthy: the healthy zero-weight ones, with equal chance.
        let zero: Vec<usize> = (0..cands.len()).filter(|&i| cands[i].healthy).collect();
        (zero, false, "weighted: only weight-0 records healthy")
    } else {
        let nonzero: Vec<usize> = (0..cands.len())
            .filter(|&i| weight(&cands[i]) > 0)
            .collect();
        if nonzero.is_empty() {
            ((0..cands.len()).collect(), false, "weighted: all weights 0")
        } else {
            (nonzero, true, "weighted")
        }
    };
    let total: u64 = if by_weight {
        pool.iter().map(|&i| weight(&cands[i])).sum()
    } else {
        pool.len() as u64
    };
    let mut roll = dice.below(total.max(1));
    let mut picked = pool[0];
    for &i in &pool {
        let w = if by_weight { weight(&cands[i]) } else { 1 };
        if roll < w {
            picked = i;
            break;
        }
        roll -= w;
    }
    Selection {
        picked: vec![picked],
        reason: format!("{reason}{all_down}"),
        by_address: false,
    }
}

fn failover(cands: &[Candidate<'_>]) -> Selection {
    let role = |want: bool| {
        cands
            .iter()
            .position(|c| matches!(c.policy, Policy::Failover { primary } if *primary == want))
    };
    let (primary, secondary) = (role(true), role(false));
    let one = |i: usize, reason: &str| Selection {
        picked: vec![i],
        reason: reason.into(),
        by_address: false,
    };
    match (primary, secondary) {
        (Some(p), _) if cands[p].healthy => one(p, "failover: PRIMARY healthy"),
        (Some(_), Some(s)) if !cands[s].checked => one(
            s,
            "failover: PRIMARY unhealthy, SECONDARY has no health check",
        ),
        (Some(_), Some(s)) if cands[s].healthy => {
            one(s, "failover: PRIMARY unhealthy, SECONDARY healthy")
        }
        (Some(p), Some(_)) => one(
            p,
            "failover: PRIMARY and SECONDARY unhealthy: PRIMARY regardless",
        ),
        (Some(p), None) => one(p, "failover: only a PRIMARY (unhealthy: answered anyway)"),
        (None, Some(s)) => one(s, "failover: only a SECONDARY"),
        (None, None) => Selection {
            picked: Vec::new(),
            reason: "failover: no records".into(),
            by_address: false,
        },
    }
}

fn geolocation(
    cands: &[Candidate<'_>],
    here: Option<&Location>,
    any_healthy: bool,
    all_down: &str,
) -> Selection {
    // Specificity of each record for this location: 3 subdivision, 2 country, 1 continent,
    // 0 the default; None when it does not cover the location.
    let rank = |c: &Candidate<'_>| -> Option<u8> {
        let Policy::Geolocation {
            continent,
            country,
            subdivision,
        } = c.policy
        else {
            return None;
        };
        if country.as_deref() == Some("*") {
            return Some(0);
        }
        let here = here?;
        match (continent, country, subdivision) {
            (_, Some(co), Some(sub)) => (co.eq_ignore_ascii_case(&here.country)
                && here
                    .subdivision
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(sub)))
            .then_some(3),
            (_, Some(co), None) => co.eq_ignore_ascii_case(&here.country).then_some(2),
            (Some(ct), None, _) => ct.eq_ignore_ascii_case(&here.continent).then_some(1),
            _ => None,
        }
    };
    let mut covering: Vec<(usize, u8)> = cands
        .iter()
        .enumerate()
        .filter_map(|(i, c)| rank(c).map(|r| (i, r)))
        .collect();
    covering.sort_by_key(|c| std::cmp::Reverse(c.1));
    let word = |r: u8| match r {
        3 => "subdivision",
        2 => "country",
        1 => "continent",
        _ => "default (*)",
    };
    // The most specific healthy record; when none of the covering ones is healthy (or none
    // in the whole group), the most specific one as if healthy.
    let pick = covering
        .iter()
        .find(|(i, _)| cands[*i].healthy)
        .or(covering.first());
    match pick {
        Some(&(i, r)) => Selection {
            picked: vec![i],
            reason: format!(
                "geolocation: {}{}",
                word(r),
                if any_healthy && !cands[i].healthy {
                    " (no covering record healthy)"
                } else {
                    all_down
                }
            ),
            by_address: true,
        },
        None => Selection {
            picked: Vec::new(),
            reason: "geolocation: no record for this location and no default".into(),
            by_address: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    /// Dice that always roll the given values, in turn.
    struct Fixed(Vec<u64>, usize);
    impl Dice for Fixed {
        fn below(&mut self, n: u64) -> u64 {
            let v = self.0[self.1 % self.0.len()] % n;
            self.1 += 1;
            v
        }
    }

    fn w(weight: i64) -> Policy {
        Policy::Weighted { weight }
    }
    fn fo(primary: bool) -> Policy {
        Policy::Failover { primary }
    }
    fn lat(region: &str) -> Policy {
        Policy::Latency {
            region: region.into(),
        }
    }
    fn geo(continent: Option<&str>, country: Option<&str>, sub: Option<&str>) -> Policy {
        Policy::Geolocation {
            continent: continent.map(Into::into),
            country: country.map(Into::into),
            subdivision: sub.map(Into::into),
        }
    }

    fn run(policies: &[Policy], healthy: &[bool], checked: &[bool], roll: u64) -> Vec<usize> {
        let cands: Vec<Candidate<'_>> = policies
            .iter()
            .zip(healthy)
            .zip(checked)
            .map(|((policy, &healthy), &checked)| Candidate {
                policy,
                healthy,
                checked,
            })
            .collect();
        let net = Network {
            local_region: Some("us-east".into()),
            latency: vec![(
                "10.1.0.0/16".parse().unwrap(),
                vec![("us-east-1".into(), 80), ("eu-west-1".into(), 20)],
            )],
            geo: vec![
                (
                    "10.2.0.0/16".parse().unwrap(),
                    Location {
                        continent: "EU".into(),
                        country: "FR".into(),
                        subdivision: None,
                    },
                ),
                (
                    "10.3.0.0/16".parse().unwrap(),
                    Location {
                        continent: "NA".into(),
                        country: "US".into(),
                        subdivision: Some("WA".into()),
                    },
                ),
            ],
            cidr: Vec::new(),
        };
        let _ = &net;
        select(
            &cands,
            &net,
            ADDR.with(|a| *a.borrow()),
            &mut Fixed(vec![roll], 0),
        )
        .picked
    }

    thread_local! {
        static ADDR: std::cell::RefCell<IpAddr> = std::cell::RefCell::new([127, 0, 0, 1].into());
    }
    fn from(addr: &str) {
        ADDR.with(|a| *a.borrow_mut() = addr.parse().unwrap());
    }

    // Weighted: roll lands in [0, sum); weights 1 and 255 → roll 0 is the first, 1.. the second.
    #[test_case(&[w(1), w(255)], &[true, true], 0 => vec![0]; "weight 1 takes roll 0")]
    #[test_case(&[w(1), w(255)], &[true, true], 1 => vec![1]; "weight 255 takes the rest")]
    #[test_case(&[w(0), w(5)], &[true, true], 0 => vec![1]; "weight 0 gets no traffic while a non-zero record is healthy")]
    #[test_case(&[w(0), w(5)], &[true, false], 0 => vec![0]; "weight 0 answers when every non-zero record is unhealthy")]
    #[test_case(&[w(0), w(0), w(5)], &[true, true, false], 1 => vec![1]; "healthy zero-weight records share equally")]
    #[test_case(&[w(0), w(5), w(5)], &[false, false, false], 0 => vec![1]; "all unhealthy: non-zero records by weight, as if healthy")]
    #[test_case(&[w(0), w(5), w(5)], &[false, false, false], 7 => vec![2]; "all unhealthy: second non-zero record by weight")]
    #[test_case(&[w(0), w(0)], &[true, true], 1 => vec![1]; "all zero: equal chance")]
    #[test_case(&[w(3), w(3)], &[false, true], 0 => vec![1]; "an unhealthy record is dropped")]
    fn weighted(p: &[Policy], h: &[bool], roll: u64) -> Vec<usize> {
        run(p, h, &vec![true; p.len()], roll)
    }

    #[test_case(&[true, true], &[true, true] => vec![0]; "primary healthy")]
    #[test_case(&[true, false], &[true, true] => vec![0]; "primary healthy whatever the secondary")]
    #[test_case(&[false, true], &[true, true] => vec![1]; "primary unhealthy, secondary healthy")]
    #[test_case(&[false, false], &[true, true] => vec![0]; "both unhealthy: primary regardless")]
    #[test_case(&[false, true], &[true, false] => vec![1]; "secondary without a health check is always taken")]
    fn failover(h: &[bool], checked: &[bool]) -> Vec<usize> {
        run(&[fo(true), fo(false)], h, checked, 0)
    }

    #[test]
    fn failover_order_of_declaration_does_not_matter() {
        assert_eq!(
            run(&[fo(false), fo(true)], &[true, true], &[true, true], 0),
            vec![1]
        );
        assert_eq!(
            run(&[fo(false), fo(true)], &[true, false], &[true, true], 0),
            vec![0]
        );
    }

    #[test_case("10.1.2.3", &[true, true] => vec![1]; "the map says eu-west-1 is nearest")]
    #[test_case("10.1.2.3", &[true, false] => vec![0]; "nearest unhealthy: next nearest")]
    #[test_case("10.1.2.3", &[false, false] => vec![1]; "none healthy: nearest as if healthy")]
    #[test_case("127.0.0.1", &[true, true] => vec![0]; "unmapped querier: the node's own region")]
    fn latency(addr: &str, h: &[bool]) -> Vec<usize> {
        from(addr);
        let out = run(&[lat("us-east-1"), lat("eu-west-1")], h, &[true, true], 0);
        from("127.0.0.1");
        out
    }

    #[test_case("10.2.0.1", &[true, true, true, true] => vec![1]; "country beats continent")]
    #[test_case("10.2.0.1", &[true, false, true, true] => vec![2]; "country unhealthy: continent")]
    #[test_case("10.2.0.1", &[true, false, false, true] => vec![0]; "then the default")]
    #[test_case("10.3.0.1", &[true, true, true, true] => vec![3]; "subdivision beats all")]
    #[test_case("192.0.2.1", &[true, true, true, true] => vec![0]; "unmapped address: default")]
    #[test_case("10.2.0.1", &[false, false, false, false] => vec![1]; "none healthy: most specific")]
    fn geolocation(addr: &str, h: &[bool]) -> Vec<usize> {
        from(addr);
        let out = run(
            &[
                geo(None, Some("*"), None),
                geo(None, Some("FR"), None),
                geo(Some("EU"), None, None),
                geo(None, Some("US"), Some("WA")),
            ],
            h,
            &[true; 4],
            0,
        );
        from("127.0.0.1");
        out
    }

    #[test]
    fn geolocation_without_default_is_empty() {
        from("192.0.2.1");
        let out = run(&[geo(Some("EU"), None, None)], &[true], &[true], 0);
        from("127.0.0.1");
        assert!(out.is_empty());
    }

    #[test]
    fn multivalue_answers_at_most_eight_healthy() {
        let p = vec![Policy::Multivalue; 10];
        let mut h = vec![true; 10];
        h[3] = false;
        let out = run(&p, &h, &[true; 10], 5);
        assert_eq!(out.len(), 8);
        assert!(!out.contains(&3));
        let mut dedup = out.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), 8);
        // Three healthy of ten: those three only.
        let h: Vec<bool> = (0..10).map(|i| i < 3).collect();
        let mut out = run(&p, &h, &[true; 10], 1);
        out.sort_unstable();
        assert_eq!(out, vec![0, 1, 2]);
        // None healthy: up to eight of all.
        assert_eq!(run(&p, &[false; 10], &[true; 10], 1).len(), 8);
    }
}
