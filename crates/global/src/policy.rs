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
pub struct Selection<'a> {
    /// Indexes of the chosen candidates.
    pub picked: Picked,
    /// Why, in a few words (formatted only when shown).
    pub reason: Reason<'a>,
    /// Whether every record was unhealthy, so all were treated as healthy.
    pub all_down: bool,
    /// Whether the querier's address decided it (then the client-subnet scope is echoed).
    pub by_address: bool,
}

/// The chosen candidates: a range of them, or up to [`MULTIVALUE_MAX`] indexes, held
/// inline so that choosing allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picked {
    /// Candidates `start..end`.
    Range(std::ops::Range<usize>),
    /// These candidates, in order.
    Few {
        /// How many of `idx` count.
        len: usize,
        /// The indexes.
        idx: [usize; MULTIVALUE_MAX],
    },
}

impl Picked {
    fn none() -> Self {
        Picked::Range(0..0)
    }

    fn one(i: usize) -> Self {
        Picked::Range(i..i + 1)
    }

    /// The chosen indexes.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let (range, few) = match self {
            Picked::Range(r) => (r.clone(), &[][..]),
            Picked::Few { len, idx } => (0..0, &idx[..*len]),
        };
        range.chain(few.iter().copied())
    }

    /// The chosen indexes, collected.
    pub fn to_vec(&self) -> Vec<usize> {
        self.iter().collect()
    }
}

/// Why a policy chose what it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason<'a> {
    /// The group is empty.
    NoRecords,
    /// One simple record.
    Simple,
    /// Several simple records.
    SimpleMany,
    /// Weighted among the healthy non-zero weights (or all non-zero ones, all down).
    Weighted,
    /// Every non-zero weight unhealthy: the healthy weight-0 records, equally.
    WeightedZeroOnly,
    /// Every weight 0: equally.
    WeightedAllZero,
    /// Failover's decision, in words.
    Failover(&'static str),
    /// The lowest latency, when known.
    Latency(Option<u32>),
    /// Geolocation: the rank of the matching location, and whether it was unhealthy
    /// while another record of the group was healthy.
    Geolocation(u8, bool),
    /// Geolocation: nothing covers the querier.
    GeolocationNone,
    /// Multivalue: how many answered.
    Multivalue(usize),
    /// IP-based: the querier's CIDR location.
    CidrLocation(&'a str),
    /// IP-based: the `*` default.
    CidrDefault,
    /// IP-based: nothing matches.
    CidrNone,
}

impl std::fmt::Display for Selection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason {
            Reason::NoRecords => f.write_str("no records")?,
            Reason::Simple => f.write_str("simple record")?,
            Reason::SimpleMany => f.write_str("simple records")?,
            Reason::Weighted => f.write_str("weighted")?,
            Reason::WeightedZeroOnly => f.write_str("weighted: only weight-0 records healthy")?,
            Reason::WeightedAllZero => f.write_str("weighted: all weights 0")?,
            Reason::Failover(why) => write!(f, "failover: {why}")?,
            Reason::Latency(Some(ms)) => write!(f, "lowest latency ({ms} ms)")?,
            Reason::Latency(None) => {
                f.write_str("no latency known for this network: first record")?;
            }
            Reason::Geolocation(rank, unhealthy) => {
                let word = match rank {
                    3 => "subdivision",
                    2 => "country",
                    1 => "continent",
                    _ => "default (*)",
                };
                write!(f, "geolocation: {word}")?;
                if unhealthy {
                    return f.write_str(" (no covering record healthy)");
                }
            }
            Reason::GeolocationNone => {
                f.write_str("geolocation: no record for this location and no default")?;
            }
            Reason::Multivalue(n) => write!(f, "multivalue: {n} record(s)")?,
            Reason::CidrLocation(l) => write!(f, "CIDR location {l}")?,
            Reason::CidrDefault => f.write_str("default CIDR record (*)")?,
            Reason::CidrNone => f.write_str("no CIDR location matches and no default")?,
        }
        if self.all_down && !matches!(self.reason, Reason::Failover(_)) {
            f.write_str(" (no record healthy: all treated as healthy)")?;
        }
        Ok(())
    }
}

/// A small random source; the server seeds one per query.
pub trait Dice {
    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64;
}

/// Picks the records of one group that answer a query from `addr`.
pub fn select<'a>(
    cands: &[Candidate<'a>],
    net: &'a Network,
    addr: IpAddr,
    dice: &mut dyn Dice,
) -> Selection<'a> {
    let Some(first) = cands.first() else {
        return Selection {
            picked: Picked::none(),
            reason: Reason::NoRecords,
            all_down: false,
            by_address: false,
        };
    };
    let any_healthy = cands.iter().any(|c| c.healthy);
    // Route 53: with no healthy record, every record counts as healthy.
    let ok = |c: &Candidate<'_>| c.healthy || !any_healthy;
    let sel = |picked: Picked, reason: Reason<'a>, by_address: bool| Selection {
        picked,
        reason,
        all_down: !any_healthy,
        by_address,
    };
    match first.policy {
        Policy::Simple | Policy::Geoproximity { .. } if cands.len() == 1 => {
            sel(Picked::one(0), Reason::Simple, false)
        }
        Policy::Simple => sel(Picked::Range(0..cands.len()), Reason::SimpleMany, false),
        Policy::Weighted { .. } => {
            let (picked, reason) = weighted(cands, any_healthy, dice);
            sel(Picked::one(picked), reason, false)
        }
        Policy::Failover { .. } => {
            let (picked, why) = failover(cands);
            Selection {
                picked,
                reason: Reason::Failover(why),
                all_down: false,
                by_address: false,
            }
        }
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
                Some((i, ms)) => sel(Picked::one(i), Reason::Latency(ms), true),
                None => sel(Picked::none(), Reason::NoRecords, true),
            }
        }
        Policy::Geolocation { .. } => {
            let (picked, reason) = geolocation(cands, net.location(addr), any_healthy);
            sel(picked, reason, true)
        }
        Policy::Multivalue => {
            // A partial Fisher-Yates shuffle over the usable records: a different random
            // eight per query.
            let mut pool: Vec<usize> = (0..cands.len()).filter(|&i| ok(&cands[i])).collect();
            let n = pool.len().min(MULTIVALUE_MAX);
            let mut idx = [0; MULTIVALUE_MAX];
            for (i, slot) in idx.iter_mut().enumerate().take(n) {
                let j = i + usize::try_from(dice.below((pool.len() - i) as u64)).unwrap_or(0);
                pool.swap(i, j);
                *slot = pool[i];
            }
            sel(Picked::Few { len: n, idx }, Reason::Multivalue(n), false)
        }
        Policy::Cidr { collection_id, .. } => {
            let here = net.cidr_location(addr, collection_id);
            let find = |want: &str| {
                cands.iter().position(|c| {
                    ok(c)
                        && matches!(c.policy, Policy::Cidr { location_name, .. } if location_name == want)
                })
            };
            if let Some(l) = here
                && let Some(i) = find(l)
            {
                return sel(Picked::one(i), Reason::CidrLocation(l), true);
            }
            match find("*") {
                Some(i) => sel(Picked::one(i), Reason::CidrDefault, true),
                None => sel(Picked::none(), Reason::CidrNone, true),
            }
        }
    }
}

/// Which candidates a weighted choice is among.
type Pool<'f> = &'f dyn Fn(&Candidate<'_>) -> bool;

/// One record by weight, without collecting the pool: the pool is a predicate, walked twice
/// (once for the total, once for the roll).
fn weighted(
    cands: &[Candidate<'_>],
    any_healthy: bool,
    dice: &mut dyn Dice,
) -> (usize, Reason<'static>) {
    let weight = |c: &Candidate<'_>| match c.policy {
        Policy::Weighted { weight } => u64::try_from(*weight).unwrap_or(0),
        _ => 0,
    };
    let any_healthy_nonzero = cands.iter().any(|c| c.healthy && weight(c) > 0);
    let any_nonzero = cands.iter().any(|c| weight(c) > 0);
    // Which records are in the pool, and whether they share by weight or equally.
    let (in_pool, by_weight, reason): (Pool<'_>, bool, Reason<'static>) = if any_healthy_nonzero {
        (&|c| c.healthy && weight(c) > 0, true, Reason::Weighted)
    } else if any_healthy {
        // Every non-zero record is unhealthy: the healthy zero-weight ones, equally.
        (&|c| c.healthy, false, Reason::WeightedZeroOnly)
    } else if any_nonzero {
        (&|c| weight(c) > 0, true, Reason::Weighted)
    } else {
        (&|_| true, false, Reason::WeightedAllZero)
    };
    let share = |c: &Candidate<'_>| if by_weight { weight(c) } else { 1 };
    let total: u64 = cands.iter().filter(|c| in_pool(c)).map(share).sum();
    let mut roll = dice.below(total.max(1));
    let mut picked = cands.iter().position(in_pool).unwrap_or(0);
    for (i, c) in cands.iter().enumerate().filter(|(_, c)| in_pool(c)) {
        let w = share(c);
        if roll < w {
            picked = i;
            break;
        }
        roll -= w;
    }
    (picked, reason)
}

fn failover(cands: &[Candidate<'_>]) -> (Picked, &'static str) {
    let role = |want: bool| {
        cands
            .iter()
            .position(|c| matches!(c.policy, Policy::Failover { primary } if *primary == want))
    };
    let (primary, secondary) = (role(true), role(false));
    match (primary, secondary) {
        (Some(p), _) if cands[p].healthy => (Picked::one(p), "PRIMARY healthy"),
        (Some(_), Some(s)) if !cands[s].checked => (
            Picked::one(s),
            "PRIMARY unhealthy, SECONDARY has no health check",
        ),
        (Some(_), Some(s)) if cands[s].healthy => {
            (Picked::one(s), "PRIMARY unhealthy, SECONDARY healthy")
        }
        (Some(p), Some(_)) => (
            Picked::one(p),
            "PRIMARY and SECONDARY unhealthy: PRIMARY regardless",
        ),
        (Some(p), None) => (
            Picked::one(p),
            "only a PRIMARY (unhealthy: answered anyway)",
        ),
        (None, Some(s)) => (Picked::one(s), "only a SECONDARY"),
        (None, None) => (Picked::none(), "no records"),
    }
}

fn geolocation(
    cands: &[Candidate<'_>],
    here: Option<&Location>,
    any_healthy: bool,
) -> (Picked, Reason<'static>) {
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
    // The most specific healthy record; when none of the covering ones is healthy (or none
    // in the whole group), the most specific one as if healthy. Ties keep the first.
    let mut best_healthy: Option<(usize, u8)> = None;
    let mut best_any: Option<(usize, u8)> = None;
    for (i, c) in cands.iter().enumerate() {
        let Some(r) = rank(c) else { continue };
        if best_any.is_none_or(|(_, b)| r > b) {
            best_any = Some((i, r));
        }
        if c.healthy && best_healthy.is_none_or(|(_, b)| r > b) {
            best_healthy = Some((i, r));
        }
    }
    match best_healthy.or(best_any) {
        Some((i, r)) => (
            Picked::one(i),
            Reason::Geolocation(r, any_healthy && !cands[i].healthy),
        ),
        None => (Picked::none(), Reason::GeolocationNone),
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
        .to_vec()
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
