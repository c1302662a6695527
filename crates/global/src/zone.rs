//! The zones the DNS serves, compiled from Route 53's Terraform, and how a query is answered
//! from them.
//!
//! * Names are matched case-insensitively; the answer's owner keeps the query's spelling.
//! * The zone is the longest origin that holds the name; a name in no zone is REFUSED (an
//!   authoritative-only server).
//! * A name that exists with no record of the type (an empty non-terminal included) is
//!   NODATA: NOERROR, empty answer, the SOA in authority. A name that does not exist is
//!   NXDOMAIN with the SOA. Per RFC 2308 §3 the SOA's TTL there is the lesser of its own TTL
//!   and its MINIMUM.
//! * A CNAME is followed inside the zones served here (at most 8 links); the RCODE is the
//!   last name's (RFC 6604).
//! * Route 53 alias records answer as records of the target (A/AAAA of a load balancer, or
//!   the target record set's answer), never as a CNAME; `evaluate_target_health` makes the
//!   alias as healthy as its target.
//! * Wildcards (`*.example.com`) answer names below their parent that do not exist (RFC 4592).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{CNAME, NS, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use meridian_config::terraform::resources::aws_dns::{self, Policy};

use crate::health::Table;
use crate::policy::{self, Candidate, Dice, Network};

/// How many CNAME or alias links a lookup follows.
const MAX_CHAIN: usize = 8;
/// Route 53's SOA and NS TTLs.
const SOA_TTL: u32 = 900;
const NS_TTL: u32 = 172_800;
/// Route 53's negative-caching TTL (the SOA MINIMUM).
const SOA_MINIMUM: u32 = 86_400;
/// The TTL Route 53 gives alias answers of a load balancer.
const ALIAS_TTL: u32 = 60;

/// What one record answers with.
#[derive(Debug, Clone)]
pub enum Data {
    /// Its own values.
    Values(Vec<RData>),
    /// The records of another name.
    Alias {
        /// The target name.
        target: LowerName,
        /// Healthy only while the target is.
        evaluate: bool,
    },
}

/// One `aws_route53_record` (or a record the zone itself holds, like its SOA).
#[derive(Debug, Clone)]
pub struct Member {
    /// Where it comes from (`aws_route53_record.primary`).
    pub label: String,
    /// Its routing policy.
    pub policy: Policy,
    /// TTL of its values.
    pub ttl: u32,
    /// What it answers.
    pub data: Data,
    /// Its health check's index in the health table.
    pub health: Option<usize>,
}

/// The records of one name and type.
#[derive(Debug, Clone)]
pub struct RecordSet {
    /// Type.
    pub rtype: RecordType,
    /// Its records, in the order declared.
    pub members: Vec<Member>,
}

/// One hosted zone.
#[derive(Debug)]
pub struct Zone {
    /// Its apex.
    pub origin: Name,
    soa: Record,
    /// Every name that exists (empty non-terminals too), with its record sets.
    names: HashMap<LowerName, Vec<RecordSet>>,
}

/// A name outside the zones that aliases point at (a load balancer, a distribution).
#[derive(Debug, Clone)]
pub struct Target {
    /// What it is, for messages.
    pub what: String,
    /// IPv4 addresses.
    pub v4: Vec<Ipv4Addr>,
    /// IPv6 addresses.
    pub v6: Vec<Ipv6Addr>,
    /// Its health slot.
    pub health: Option<usize>,
}

/// Every zone and alias target, with the health table their records refer to.
#[derive(Debug)]
pub struct Catalog {
    zones: Vec<Zone>,
    targets: HashMap<LowerName, Target>,
    /// Health of checks and targets.
    pub health: Arc<Table>,
    /// Where queriers are.
    pub network: Network,
}

/// An answer: the RCODE and the sections.
#[derive(Debug, Default)]
pub struct Answer {
    /// RCODE.
    pub rcode: ResponseCode,
    /// Authoritative (false for REFUSED).
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// Whether the querier's address chose the answer (client-subnet scope).
    pub by_address: bool,
    /// Which records answered and why, one line per decision (when the query asks).
    pub trace: Vec<String>,
    pub(crate) explain: bool,
}

impl Answer {
    /// Records a decision when the query wants them explained; the DNS path never formats.
    fn note(&mut self, line: impl FnOnce() -> String) {
        if self.explain {
            self.trace.push(line());
        }
    }
}

/// The zone data, before health and network are attached.
#[derive(Debug, Default)]
pub struct Builder {
    zones: Vec<Zone>,
    targets: HashMap<LowerName, Target>,
    /// What could not be served, for the user.
    pub notes: Vec<String>,
}

fn name(s: &str) -> Option<Name> {
    let s = s.trim();
    let s = if s.ends_with('.') {
        s.to_owned()
    } else {
        format!("{s}.")
    };
    Name::from_utf8(&s).ok()
}

impl Builder {
    /// Adds a hosted zone with Route 53's SOA and NS records at its apex.
    pub fn zone(&mut self, spec: &aws_dns::Zone) {
        let Some(origin) = name(&spec.name) else {
            self.notes
                .push(format!("zone {:?}: not a valid DNS name", spec.name));
            return;
        };
        let ns: Vec<Name> = spec.name_servers.iter().filter_map(|n| name(n)).collect();
        let mname = ns.first().cloned().unwrap_or_else(|| origin.clone());
        let rname = Name::from_ascii("hostmaster")
            .and_then(|h| h.append_domain(&origin))
            .unwrap_or_else(|_| origin.clone());
        let soa = Record::from_rdata(
            origin.clone(),
            SOA_TTL,
            RData::SOA(SOA::new(mname, rname, 1, 7200, 900, 1_209_600, SOA_MINIMUM)),
        );
        let mut zone = Zone {
            origin: origin.clone(),
            soa: soa.clone(),
            names: HashMap::new(),
        };
        let simple = |label: &str, ttl: u32, values: Vec<RData>| Member {
            label: label.into(),
            policy: Policy::Simple,
            ttl,
            data: Data::Values(values),
            health: None,
        };
        zone.names.insert(
            LowerName::new(&origin),
            vec![
                RecordSet {
                    rtype: RecordType::SOA,
                    members: vec![simple("SOA", SOA_TTL, vec![soa.data.clone()])],
                },
                RecordSet {
                    rtype: RecordType::NS,
                    members: vec![simple(
                        "NS",
                        NS_TTL,
                        ns.into_iter().map(|n| RData::NS(NS(n))).collect(),
                    )],
                },
            ],
        );
        self.zones.push(zone);
    }

    /// An alias target outside the zones.
    pub fn target(&mut self, dns_name: &str, target: Target) {
        if let Some(n) = name(dns_name) {
            self.targets.insert(LowerName::new(&n), target);
        }
    }

    /// Adds a record to the zone whose id it names; `health` resolves check ids.
    pub fn record(
        &mut self,
        label: &str,
        zone_name: &str,
        spec: &aws_dns::Record,
        health: impl Fn(&str) -> Option<usize>,
    ) {
        let Some(zone_origin) = name(zone_name) else {
            return;
        };
        let Some(zone) = self.zones.iter_mut().find(|z| z.origin == zone_origin) else {
            self.notes
                .push(format!("{label}: its zone {zone_name} is not declared"));
            return;
        };
        // Terraform's `name` is either the full name or relative to the zone.
        let written = spec.name.trim().trim_end_matches('.').to_ascii_lowercase();
        let origin_txt = zone
            .origin
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let full = if written.is_empty() || written == origin_txt {
            origin_txt.clone()
        } else if written.ends_with(&format!(".{origin_txt}")) {
            written
        } else {
            format!("{written}.{origin_txt}")
        };
        let Some(owner) = name(&full) else {
            self.notes
                .push(format!("{label}: {full:?} is not a valid DNS name"));
            return;
        };
        let Ok(rtype) = spec.record_type.to_ascii_uppercase().parse::<RecordType>() else {
            self.notes.push(format!(
                "{label}: record type {} is not served",
                spec.record_type
            ));
            return;
        };
        let data = if let Some(a) = &spec.alias {
            let Some(target) = name(&a.name) else {
                self.notes.push(format!(
                    "{label}: alias {:?} is not a valid DNS name",
                    a.name
                ));
                return;
            };
            if !matches!(rtype, RecordType::A | RecordType::AAAA) {
                self.notes.push(format!(
                    "{label}: alias records of type {rtype} are not served (A and AAAA are)"
                ));
                return;
            }
            Data::Alias {
                target: LowerName::new(&target),
                evaluate: a.evaluate_target_health,
            }
        } else {
            let mut values = Vec::new();
            for v in &spec.records {
                match parse_value(rtype, v) {
                    Ok(d) => values.push(d),
                    Err(e) => {
                        self.notes.push(format!("{label}: value {v:?}: {e}"));
                        return;
                    }
                }
            }
            Data::Values(values)
        };
        if rtype == RecordType::CNAME && owner == zone.origin {
            self.notes.push(format!(
                "{label}: a CNAME at the zone apex {full} is not served (it would hide the SOA and NS; use an alias record)"
            ));
            return;
        }
        let member = Member {
            label: label.into(),
            policy: spec.policy.clone(),
            ttl: u32::try_from(spec.ttl.unwrap_or(300)).unwrap_or(300),
            data,
            health: spec.health_check_id.as_deref().and_then(&health),
        };
        // The owner and every name between it and the apex exist.
        let mut n = owner.clone();
        while n.num_labels() > zone.origin.num_labels() {
            n = n.base_name();
            zone.names.entry(LowerName::new(&n)).or_default();
        }
        let sets = zone.names.entry(LowerName::new(&owner)).or_default();
        let set = match sets.iter_mut().position(|s| s.rtype == rtype) {
            Some(i) => &mut sets[i],
            None => {
                sets.push(RecordSet {
                    rtype,
                    members: Vec::new(),
                });
                let last = sets.len() - 1;
                &mut sets[last]
            }
        };
        // Route 53 refuses one name and type under two policies; the loader warned, and the
        // records of the policy declared first answer.
        if let Some(first) = set
            .members
            .iter()
            .find(|m| m.label != "SOA" && m.label != "NS")
        {
            if first.policy.word() != member.policy.word() {
                self.notes.push(format!(
                    "{label}: {full} {rtype} already answers by {} routing ({}); this {} record is not served",
                    first.policy.word(),
                    first.label,
                    member.policy.word()
                ));
                return;
            }
        } else if rtype == RecordType::NS || rtype == RecordType::SOA {
            // A declared apex NS or SOA replaces the zone's own.
            set.members.clear();
        }
        set.members.push(member);
    }

    /// Attaches health and network: a catalog ready to answer.
    pub fn finish(self, health: Arc<Table>, network: Network) -> Catalog {
        let mut zones = self.zones;
        // Longest origin first, so the first zone that holds a name is the closest.
        zones.sort_by_key(|z| std::cmp::Reverse(z.origin.num_labels()));
        Catalog {
            zones,
            targets: self.targets,
            health,
            network,
        }
    }
}

fn parse_value(rtype: RecordType, v: &str) -> Result<RData, String> {
    match rtype {
        // Route 53 TXT values are character strings of at most 255 bytes; Terraform passes
        // longer text split with `""`, and unquoted text as one string.
        RecordType::TXT => {
            let parts: Vec<String> = v
                .split("\"\"")
                .flat_map(|p| {
                    p.as_bytes()
                        .chunks(255)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect::<Vec<_>>()
                })
                .collect();
            Ok(RData::TXT(TXT::new(parts)))
        }
        RecordType::CNAME => name(v)
            .map(|n| RData::CNAME(CNAME(n)))
            .ok_or_else(|| "not a valid DNS name".into()),
        _ => RData::try_from_str(rtype, v).map_err(|e| e.to_string()),
    }
}

/// A per-query view: the querier and its dice.
#[derive(Debug)]
pub struct Query<'a> {
    /// The querier's address (its client subnet when it sent one).
    pub addr: IpAddr,
    /// Random source.
    pub dice: &'a mut dyn DiceDebug,
    /// Whether to say which records answered and why (`meridian dns query`).
    pub explain: bool,
}

/// Dice that can be shown in a Debug dump.
pub trait DiceDebug: Dice + std::fmt::Debug {}
impl<T: Dice + std::fmt::Debug> DiceDebug for T {}

enum Found<'z> {
    Sets(&'z [RecordSet], &'z Zone),
    Missing(&'z Zone),
}

impl Catalog {
    fn zone_for(&self, n: &LowerName) -> Option<&Zone> {
        self.zones
            .iter()
            .find(|z| LowerName::new(&z.origin).zone_of(n))
    }

    fn find(&self, n: &LowerName) -> Option<Found<'_>> {
        let zone = self.zone_for(n)?;
        if let Some(sets) = zone.names.get(n) {
            return Some(Found::Sets(sets, zone));
        }
        // RFC 4592: the closest encloser's wildcard, if the name does not exist.
        let origin_labels = zone.origin.num_labels();
        let mut parent = n.base_name();
        while parent.num_labels() >= origin_labels {
            if zone.names.contains_key(&parent) {
                let wild = LowerName::new(&Name::from(&parent).into_wildcard());
                return Some(match zone.names.get(&wild) {
                    Some(sets) => Found::Sets(sets, zone),
                    None => Found::Missing(zone),
                });
            }
            if parent.num_labels() == 0 {
                break;
            }
            parent = parent.base_name();
        }
        Some(Found::Missing(zone))
    }

    /// Answers `qname`/`qtype` for a querier.
    pub fn answer(&self, qname: &Name, qtype: RecordType, q: &mut Query<'_>) -> Answer {
        let mut out = Answer {
            explain: q.explain,
            ..Answer::default()
        };
        let lower = LowerName::new(qname);
        if self.zone_for(&lower).is_none() {
            out.rcode = ResponseCode::Refused;
            out.note(|| format!("{qname} is in no zone served here"));
            return out;
        }
        out.authoritative = true;
        let mut owner = qname.clone();
        let mut current = lower;
        for _ in 0..MAX_CHAIN {
            let (sets, zone) = match self.find(&current) {
                // A CNAME pointing out of the zones: the resolver follows it.
                None => return out,
                Some(Found::Missing(z)) => {
                    out.rcode = ResponseCode::NXDomain;
                    out.authority.push(negative_soa(z));
                    out.note(|| format!("{owner}: no such name"));
                    return out;
                }
                Some(Found::Sets(sets, z)) => (sets, z),
            };
            if let Some(set) = sets.iter().find(|s| s.rtype == qtype) {
                let records = self.rrset(set, &owner, qtype, q, &mut out, 0);
                if records.is_empty() {
                    out.authority.push(negative_soa(zone));
                }
                out.answers.extend(records);
                return out;
            }
            let Some(cname) = sets.iter().find(|s| s.rtype == RecordType::CNAME) else {
                out.authority.push(negative_soa(zone));
                out.note(|| format!("{owner}: no {qtype} record (NODATA)"));
                return out;
            };
            let records = self.rrset(cname, &owner, RecordType::CNAME, q, &mut out, 0);
            let next = records.iter().find_map(|r| match &r.data {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            });
            out.answers.extend(records);
            let Some(next) = next else { return out };
            owner = next;
            current = LowerName::new(&owner);
        }
        out.note(|| "CNAME chain longer than 8 links".into());
        out
    }

    /// The records one set answers with at `owner`, its policy applied.
    fn rrset(
        &self,
        set: &RecordSet,
        owner: &Name,
        qtype: RecordType,
        q: &mut Query<'_>,
        out: &mut Answer,
        depth: usize,
    ) -> Vec<Record> {
        let cands: Vec<Candidate<'_>> = set
            .members
            .iter()
            .map(|m| Candidate {
                policy: &m.policy,
                healthy: self.member_healthy(m, depth),
                checked: m.health.is_some() || matches!(m.data, Data::Alias { evaluate: true, .. }),
            })
            .collect();
        let sel = policy::select(&cands, &self.network, q.addr, q.dice);
        out.by_address |= sel.by_address;
        if !matches!(set.rtype, RecordType::SOA | RecordType::NS) {
            out.note(|| {
                let labels: Vec<&str> = sel
                    .picked
                    .iter()
                    .map(|&i| set.members[i].label.as_str())
                    .collect();
                format!("{owner} {qtype}: {} ({})", labels.join(", "), sel.reason)
            });
        }
        let mut records = Vec::new();
        for i in sel.picked {
            let m = &set.members[i];
            match &m.data {
                Data::Values(values) => records.extend(
                    values
                        .iter()
                        .map(|v| Record::from_rdata(owner.clone(), m.ttl, v.clone())),
                ),
                Data::Alias { target, .. } => {
                    records.extend(self.alias(target, owner, qtype, q, out, depth + 1));
                }
            }
        }
        records
    }

    /// The answer of an alias: the target's records under the alias's name.
    fn alias(
        &self,
        target: &LowerName,
        owner: &Name,
        qtype: RecordType,
        q: &mut Query<'_>,
        out: &mut Answer,
        depth: usize,
    ) -> Vec<Record> {
        if depth > MAX_CHAIN {
            return Vec::new();
        }
        if let Some(t) = self.targets.get(target) {
            out.note(|| format!("alias → {} ({})", Name::from(target), t.what));
            return match qtype {
                RecordType::A => t
                    .v4
                    .iter()
                    .map(|a| Record::from_rdata(owner.clone(), ALIAS_TTL, RData::A((*a).into())))
                    .collect(),
                RecordType::AAAA => t
                    .v6
                    .iter()
                    .map(|a| Record::from_rdata(owner.clone(), ALIAS_TTL, RData::AAAA((*a).into())))
                    .collect(),
                _ => Vec::new(),
            };
        }
        match self.find(target) {
            Some(Found::Sets(sets, _)) => match sets.iter().find(|s| s.rtype == qtype) {
                Some(set) => {
                    let mut r = self.rrset(set, owner, qtype, q, out, depth);
                    for rec in &mut r {
                        rec.name = owner.clone();
                    }
                    r
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    fn member_healthy(&self, m: &Member, depth: usize) -> bool {
        if let Some(h) = m.health
            && !self.health.healthy(h)
        {
            return false;
        }
        match &m.data {
            Data::Alias {
                target,
                evaluate: true,
            } => self.target_healthy(target, depth + 1),
            _ => true,
        }
    }

    /// An alias target is healthy while its health slot is, or, for a record set of the
    /// zones, while at least one of its records is.
    fn target_healthy(&self, target: &LowerName, depth: usize) -> bool {
        if depth > MAX_CHAIN {
            return false;
        }
        if let Some(t) = self.targets.get(target) {
            return t.health.is_none_or(|h| self.health.healthy(h));
        }
        match self.find(target) {
            Some(Found::Sets(sets, _)) => sets
                .iter()
                .filter(|s| matches!(s.rtype, RecordType::A | RecordType::AAAA))
                .flat_map(|s| s.members.iter())
                .any(|o| self.member_healthy(o, depth)),
            _ => false,
        }
    }

    /// The zones' apexes, for messages.
    pub fn origins(&self) -> Vec<String> {
        self.zones.iter().map(|z| z.origin.to_string()).collect()
    }
}

/// The SOA for a negative answer: TTL the lesser of the SOA's TTL and MINIMUM (RFC 2308 §3).
fn negative_soa(z: &Zone) -> Record {
    let mut soa = z.soa.clone();
    if let RData::SOA(s) = &soa.data {
        soa.ttl = soa.ttl.min(s.minimum);
    }
    soa
}
