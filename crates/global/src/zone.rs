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
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
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
    Values(Vec<Value>),
    /// The records of another name.
    Alias {
        /// The target name.
        target: Name,
        /// Its lookup key ([`key_of`]).
        key: Box<[u8]>,
        /// Healthy only while the target is.
        evaluate: bool,
    },
}

/// One value of a record, with the wire forms the UDP path copies instead of encoding.
#[derive(Debug, Clone)]
pub struct Value {
    /// The value.
    pub rdata: RData,
    /// TYPE, CLASS, TTL, RDLENGTH and RDATA as sent (names in RDATA uncompressed): what
    /// follows the owner name in the answer.
    pub(crate) tail: Box<[u8]>,
    /// A CNAME's target.
    pub(crate) next: Option<Next>,
}

/// A CNAME's target, ready to look up and to write.
#[derive(Debug, Clone)]
pub(crate) struct Next {
    /// Its lookup key.
    key: Box<[u8]>,
    /// Its wire form as written.
    wire: Box<[u8]>,
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
    /// The apex's lookup key and its wire form as written.
    origin_key: Box<[u8]>,
    origin_wire: Box<[u8]>,
    soa: Record,
    /// The SOA of a negative answer, from TYPE to RDATA.
    negative_tail: Box<[u8]>,
    /// Every name that exists (empty non-terminals too), by lookup key, with its record
    /// sets.
    names: HashMap<Box<[u8]>, Vec<RecordSet>>,
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
    targets: HashMap<Box<[u8]>, Target>,
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
}

/// The zone data, before health and network are attached.
#[derive(Debug, Default)]
pub struct Builder {
    zones: Vec<Zone>,
    targets: HashMap<Box<[u8]>, Target>,
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

/// A name in wire form (length-prefixed labels, the root's 0 last), lowercased when
/// `lower`. Labels of a `Name` are at most 63 bytes.
fn wire(n: &Name, lower: bool) -> Box<[u8]> {
    let mut k = Vec::with_capacity(n.len() + 2);
    for l in n.iter() {
        k.push(u8::try_from(l.len()).unwrap_or(63));
        if lower {
            k.extend(l.iter().map(u8::to_ascii_lowercase));
        } else {
            k.extend_from_slice(l);
        }
    }
    k.push(0);
    k.into()
}

/// A name as lookups key it: its wire form, lowercased.
pub(crate) fn key_of(n: &Name) -> Box<[u8]> {
    wire(n, true)
}

/// The key of a key's parent (None at the root).
fn parent(key: &[u8]) -> Option<&[u8]> {
    let len = usize::from(*key.first()?);
    if len == 0 {
        return None;
    }
    key.get(1 + len..)
}

/// Whether `suffix` is `key` or one of its ancestors (both keys).
fn is_within(key: &[u8], suffix: &[u8]) -> bool {
    let mut k = key;
    loop {
        if k.len() == suffix.len() {
            return k == suffix;
        }
        if k.len() < suffix.len() {
            return false;
        }
        match parent(k) {
            Some(p) => k = p,
            None => return false,
        }
    }
}

/// TYPE, CLASS (IN), TTL, RDLENGTH and RDATA of a record, names in RDATA uncompressed.
fn tail(rtype: RecordType, ttl: u32, rdata: &RData) -> Result<Box<[u8]>, String> {
    let mut rd = Vec::new();
    let mut enc = BinEncoder::new(&mut rd);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    rdata.emit(&mut enc).map_err(|e| e.to_string())?;
    let len = u16::try_from(rd.len()).map_err(|_| "the value is too long".to_owned())?;
    let mut t = Vec::with_capacity(10 + rd.len());
    t.extend_from_slice(&u16::from(rtype).to_be_bytes());
    t.extend_from_slice(&1u16.to_be_bytes());
    t.extend_from_slice(&ttl.to_be_bytes());
    t.extend_from_slice(&len.to_be_bytes());
    t.extend_from_slice(&rd);
    Ok(t.into())
}

impl Value {
    /// A value with its wire forms for a record of `rtype` and `ttl`.
    pub fn new(rtype: RecordType, ttl: u32, rdata: RData) -> Result<Self, String> {
        let tail = tail(rtype, ttl, &rdata)?;
        let next = match &rdata {
            RData::CNAME(c) => Some(Next {
                key: key_of(&c.0),
                wire: wire(&c.0, false),
            }),
            _ => None,
        };
        Ok(Value { rdata, tail, next })
    }
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
        let soa_data = RData::SOA(SOA::new(mname, rname, 1, 7200, 900, 1_209_600, SOA_MINIMUM));
        let soa = Record::from_rdata(origin.clone(), SOA_TTL, soa_data.clone());
        let values = |rtype, ttl, data: Vec<RData>| -> Result<Vec<Value>, String> {
            data.into_iter()
                .map(|d| Value::new(rtype, ttl, d))
                .collect()
        };
        let built = (|| -> Result<_, String> {
            Ok((
                tail(RecordType::SOA, SOA_TTL.min(SOA_MINIMUM), &soa_data)?,
                values(RecordType::SOA, SOA_TTL, vec![soa_data.clone()])?,
                values(
                    RecordType::NS,
                    NS_TTL,
                    ns.into_iter().map(|n| RData::NS(NS(n))).collect(),
                )?,
            ))
        })();
        let (negative_tail, soa_values, ns_values) = match built {
            Ok(b) => b,
            Err(e) => {
                self.notes
                    .push(format!("zone {}: its SOA or NS: {e}", spec.name));
                return;
            }
        };
        let mut zone = Zone {
            origin_key: key_of(&origin),
            origin_wire: wire(&origin, false),
            origin: origin.clone(),
            soa,
            negative_tail,
            names: HashMap::new(),
        };
        let simple = |label: &str, ttl: u32, values: Vec<Value>| Member {
            label: label.into(),
            policy: Policy::Simple,
            ttl,
            data: Data::Values(values),
            health: None,
        };
        zone.names.insert(
            key_of(&origin),
            vec![
                RecordSet {
                    rtype: RecordType::SOA,
                    members: vec![simple("SOA", SOA_TTL, soa_values)],
                },
                RecordSet {
                    rtype: RecordType::NS,
                    members: vec![simple("NS", NS_TTL, ns_values)],
                },
            ],
        );
        self.zones.push(zone);
    }

    /// An alias target outside the zones.
    pub fn target(&mut self, dns_name: &str, target: Target) {
        if let Some(n) = name(dns_name) {
            self.targets.insert(key_of(&n), target);
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
        let ttl = u32::try_from(spec.ttl.unwrap_or(300)).unwrap_or(300);
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
                key: key_of(&target),
                target,
                evaluate: a.evaluate_target_health,
            }
        } else {
            let mut values = Vec::new();
            for v in &spec.records {
                match parse_value(rtype, v).and_then(|d| Value::new(rtype, ttl, d)) {
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
            ttl,
            data,
            health: spec.health_check_id.as_deref().and_then(&health),
        };
        // The owner and every name between it and the apex exist.
        let mut n = owner.clone();
        while n.num_labels() > zone.origin.num_labels() {
            n = n.base_name();
            zone.names.entry(key_of(&n)).or_default();
        }
        let sets = zone.names.entry(key_of(&owner)).or_default();
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

/// The owner of a record of an answer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owner<'c> {
    /// The question's name, as the querier spelled it.
    Query,
    /// A CNAME's target: the name, and its wire form as written.
    Name(&'c Name, &'c [u8]),
}

/// The data of a record of an answer, borrowed from the catalog.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rdata<'c> {
    /// A value of a record set.
    Value(&'c Value),
    /// An alias target's IPv4 address (TTL [`ALIAS_TTL`]).
    V4(Ipv4Addr),
    /// An alias target's IPv6 address.
    V6(Ipv6Addr),
    /// The zone's SOA in a negative answer (RFC 2308 §3 TTL).
    NegativeSoa(&'c Zone),
}

/// One record of an answer, borrowed from the catalog.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rr<'c> {
    pub(crate) owner: Owner<'c>,
    pub(crate) data: Rdata<'c>,
}

impl Rr<'_> {
    /// The owner's wire form: None for the question's name.
    pub(crate) fn owner_wire(&self) -> Option<&[u8]> {
        match (self.owner, self.data) {
            (_, Rdata::NegativeSoa(z)) => Some(&z.origin_wire),
            (Owner::Query, _) => None,
            (Owner::Name(_, w), _) => Some(w),
        }
    }

    /// Writes TYPE through RDATA.
    pub(crate) fn write_tail(&self, out: &mut Vec<u8>) {
        let fixed = |out: &mut Vec<u8>, rtype: RecordType, addr: &[u8]| {
            out.extend_from_slice(&u16::from(rtype).to_be_bytes());
            out.extend_from_slice(&1u16.to_be_bytes());
            out.extend_from_slice(&ALIAS_TTL.to_be_bytes());
            out.extend_from_slice(&u16::try_from(addr.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(addr);
        };
        match self.data {
            Rdata::Value(v) => out.extend_from_slice(&v.tail),
            Rdata::V4(a) => fixed(out, RecordType::A, &a.octets()),
            Rdata::V6(a) => fixed(out, RecordType::AAAA, &a.octets()),
            Rdata::NegativeSoa(z) => out.extend_from_slice(&z.negative_tail),
        }
    }

    /// As a hickory record, the question's name being `qname`.
    fn record(&self, qname: &Name, ttl_of: impl Fn(&Value) -> u32) -> Record {
        let owner = match self.owner {
            Owner::Query => qname.clone(),
            Owner::Name(n, _) => n.clone(),
        };
        match self.data {
            Rdata::Value(v) => Record::from_rdata(owner, ttl_of(v), v.rdata.clone()),
            Rdata::V4(a) => Record::from_rdata(owner, ALIAS_TTL, RData::A(a.into())),
            Rdata::V6(a) => Record::from_rdata(owner, ALIAS_TTL, RData::AAAA(a.into())),
            Rdata::NegativeSoa(z) => negative_soa(z),
        }
    }
}

/// An answer as references into the catalog: what the UDP path encodes directly.
#[derive(Debug, Default)]
pub(crate) struct Lookup<'c> {
    pub(crate) rcode: ResponseCode,
    pub(crate) authoritative: bool,
    pub(crate) answers: Vec<Rr<'c>>,
    pub(crate) authority: Vec<Rr<'c>>,
    pub(crate) by_address: bool,
    trace: Vec<String>,
    explain: bool,
}

impl Lookup<'_> {
    /// An answer with no records.
    pub(crate) fn empty(rcode: ResponseCode, authoritative: bool) -> Self {
        Lookup {
            rcode,
            authoritative,
            ..Lookup::default()
        }
    }

    /// Empties it for the next query, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.rcode = ResponseCode::NoError;
        self.authoritative = false;
        self.answers.clear();
        self.authority.clear();
        self.by_address = false;
        self.trace.clear();
        self.explain = false;
    }

    /// Records a decision when the query wants them explained; the DNS path never formats.
    fn note(&mut self, line: impl FnOnce() -> String) {
        if self.explain {
            self.trace.push(line());
        }
    }
}

enum Found<'z> {
    Sets(&'z [RecordSet], &'z Zone),
    Missing(&'z Zone),
}

/// The longest name a key holds: 255 bytes.
const MAX_KEY: usize = 255;

impl Catalog {
    fn zone_for(&self, key: &[u8]) -> Option<&Zone> {
        self.zones.iter().find(|z| is_within(key, &z.origin_key))
    }

    fn find(&self, key: &[u8]) -> Option<Found<'_>> {
        let zone = self.zone_for(key)?;
        if let Some(sets) = zone.names.get(key) {
            return Some(Found::Sets(sets, zone));
        }
        // RFC 4592: the closest encloser's wildcard, if the name does not exist.
        let mut p = parent(key);
        while let Some(k) = p {
            if k.len() < zone.origin_key.len() {
                break;
            }
            if zone.names.contains_key(k) {
                let mut wild = [0u8; MAX_KEY + 2];
                let n = k.len() + 2;
                if n > MAX_KEY {
                    return Some(Found::Missing(zone));
                }
                wild[0] = 1;
                wild[1] = b'*';
                wild[2..n].copy_from_slice(k);
                return Some(match zone.names.get(&wild[..n]) {
                    Some(sets) => Found::Sets(sets, zone),
                    None => Found::Missing(zone),
                });
            }
            p = parent(k);
        }
        Some(Found::Missing(zone))
    }

    /// Answers `qname`/`qtype` for a querier.
    pub fn answer(&self, qname: &Name, qtype: RecordType, q: &mut Query<'_>) -> Answer {
        let key = key_of(qname);
        let mut l = Lookup {
            explain: q.explain,
            ..Lookup::default()
        };
        self.lookup(&key, Some(qname), qtype, q, &mut l);
        let records = |rrs: &[Rr<'_>]| -> Vec<Record> {
            rrs.iter()
                .map(|r| r.record(qname, |v| ttl_in_tail(&v.tail)))
                .collect()
        };
        Answer {
            rcode: l.rcode,
            authoritative: l.authoritative,
            answers: records(&l.answers),
            authority: records(&l.authority),
            by_address: l.by_address,
            trace: std::mem::take(&mut l.trace),
        }
    }

    /// Answers the name whose key is `key` into `out` (cleared by the caller); `shown` is the
    /// question's name for explanations.
    pub(crate) fn lookup<'c>(
        &'c self,
        key: &[u8],
        shown: Option<&Name>,
        qtype: RecordType,
        q: &mut Query<'_>,
        out: &mut Lookup<'c>,
    ) {
        out.explain = q.explain && shown.is_some();
        let show = |o: Owner<'_>| match o {
            Owner::Query => shown.map(ToString::to_string).unwrap_or_default(),
            Owner::Name(n, _) => n.to_string(),
        };
        if self.zone_for(key).is_none() {
            out.rcode = ResponseCode::Refused;
            out.note(|| format!("{} is in no zone served here", show(Owner::Query)));
            return;
        }
        out.authoritative = true;
        let mut owner = Owner::Query;
        let mut current: &[u8] = key;
        for _ in 0..MAX_CHAIN {
            let (sets, zone) = match self.find(current) {
                // A CNAME pointing out of the zones: the resolver follows it.
                None => return,
                Some(Found::Missing(z)) => {
                    out.rcode = ResponseCode::NXDomain;
                    out.authority.push(Rr {
                        owner,
                        data: Rdata::NegativeSoa(z),
                    });
                    out.note(|| format!("{}: no such name", show(owner)));
                    return;
                }
                Some(Found::Sets(sets, z)) => (sets, z),
            };
            if let Some(set) = sets.iter().find(|s| s.rtype == qtype) {
                let before = out.answers.len();
                self.rrset(set, owner, &show, qtype, q, out, 0);
                if out.answers.len() == before {
                    out.authority.push(Rr {
                        owner,
                        data: Rdata::NegativeSoa(zone),
                    });
                }
                return;
            }
            let Some(cname) = sets.iter().find(|s| s.rtype == RecordType::CNAME) else {
                out.authority.push(Rr {
                    owner,
                    data: Rdata::NegativeSoa(zone),
                });
                out.note(|| format!("{}: no {qtype} record (NODATA)", show(owner)));
                return;
            };
            let before = out.answers.len();
            self.rrset(cname, owner, &show, RecordType::CNAME, q, out, 0);
            let next = out.answers[before..].iter().find_map(|r| match r.data {
                Rdata::Value(v) => match (&v.rdata, &v.next) {
                    (RData::CNAME(c), Some(n)) => Some((&c.0, &n.key[..], &n.wire[..])),
                    _ => None,
                },
                _ => None,
            });
            let Some((name, k, w)) = next else { return };
            owner = Owner::Name(name, w);
            current = k;
        }
        out.note(|| "CNAME chain longer than 8 links".into());
    }

    /// The records one set answers with at `owner`, its policy applied, into `out.answers`.
    #[allow(clippy::too_many_arguments)]
    fn rrset<'c>(
        &'c self,
        set: &'c RecordSet,
        owner: Owner<'c>,
        show: &dyn Fn(Owner<'_>) -> String,
        qtype: RecordType,
        q: &mut Query<'_>,
        out: &mut Lookup<'c>,
        depth: usize,
    ) {
        // The candidates on the stack for the usual small groups.
        const INLINE: usize = 16;
        static SIMPLE: Policy = Policy::Simple;
        let candidate = |m: &'c Member| Candidate {
            policy: &m.policy,
            healthy: self.member_healthy(m, depth),
            checked: m.health.is_some() || matches!(m.data, Data::Alias { evaluate: true, .. }),
        };
        let mut inline = [Candidate {
            policy: &SIMPLE,
            healthy: true,
            checked: false,
        }; INLINE];
        let heap: Vec<Candidate<'c>>;
        let cands: &[Candidate<'c>] = if set.members.len() <= INLINE {
            for (slot, m) in inline.iter_mut().zip(&set.members) {
                *slot = candidate(m);
            }
            &inline[..set.members.len()]
        } else {
            heap = set.members.iter().map(candidate).collect();
            &heap
        };
        let sel = policy::select(cands, &self.network, q.addr, q.dice);
        out.by_address |= sel.by_address;
        if !matches!(set.rtype, RecordType::SOA | RecordType::NS) {
            out.note(|| {
                let labels: Vec<&str> = sel
                    .picked
                    .iter()
                    .map(|i| set.members[i].label.as_str())
                    .collect();
                format!("{} {qtype}: {} ({sel})", show(owner), labels.join(", "))
            });
        }
        for i in sel.picked.iter() {
            let m = &set.members[i];
            match &m.data {
                Data::Values(values) => out.answers.extend(values.iter().map(|v| Rr {
                    owner,
                    data: Rdata::Value(v),
                })),
                Data::Alias { target, key, .. } => {
                    self.alias(target, key, owner, show, qtype, q, out, depth + 1);
                }
            }
        }
    }

    /// The answer of an alias: the target's records under the alias's name.
    #[allow(clippy::too_many_arguments)]
    fn alias<'c>(
        &'c self,
        target: &Name,
        key: &[u8],
        owner: Owner<'c>,
        show: &dyn Fn(Owner<'_>) -> String,
        qtype: RecordType,
        q: &mut Query<'_>,
        out: &mut Lookup<'c>,
        depth: usize,
    ) {
        if depth > MAX_CHAIN {
            return;
        }
        if let Some(t) = self.targets.get(key) {
            out.note(|| format!("alias → {target} ({})", t.what));
            match qtype {
                RecordType::A => out.answers.extend(t.v4.iter().map(|a| Rr {
                    owner,
                    data: Rdata::V4(*a),
                })),
                RecordType::AAAA => out.answers.extend(t.v6.iter().map(|a| Rr {
                    owner,
                    data: Rdata::V6(*a),
                })),
                _ => {}
            }
            return;
        }
        if let Some(Found::Sets(sets, _)) = self.find(key)
            && let Some(set) = sets.iter().find(|s| s.rtype == qtype)
        {
            self.rrset(set, owner, show, qtype, q, out, depth);
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
                key,
                evaluate: true,
                ..
            } => self.target_healthy(key, depth + 1),
            _ => true,
        }
    }

    /// An alias target is healthy while its health slot is, or, for a record set of the
    /// zones, while at least one of its records is.
    fn target_healthy(&self, key: &[u8], depth: usize) -> bool {
        if depth > MAX_CHAIN {
            return false;
        }
        if let Some(t) = self.targets.get(key) {
            return t.health.is_none_or(|h| self.health.healthy(h));
        }
        match self.find(key) {
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

/// The TTL written in a record's tail.
fn ttl_in_tail(tail: &[u8]) -> u32 {
    tail.get(4..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

/// The SOA for a negative answer: TTL the lesser of the SOA's TTL and MINIMUM (RFC 2308 §3).
fn negative_soa(z: &Zone) -> Record {
    let mut soa = z.soa.clone();
    if let RData::SOA(s) = &soa.data {
        soa.ttl = soa.ttl.min(s.minimum);
    }
    soa
}
