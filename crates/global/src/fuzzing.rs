//! The DNS message path for the fuzzer: bytes off the wire are parsed as the listener parses
//! them and every question is answered from a small catalog; nothing may panic, and every
//! answer must encode and parse back. A message the UDP fast path reads must read the same
//! with hickory's parser, and the fast path's answer must parse back with hickory as the
//! full handler's answer.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use hickory_proto::op::{Message, MessageType, Metadata, OpCode};
use hickory_proto::rr::Record;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::serialize::binary::BinDecodable;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use meridian_config::terraform::resources::aws_dns::{self, Alias, Policy};

use crate::health::Table;
use crate::policy::Network;
use crate::server::SplitMix;
use crate::wire;
use crate::zone::{Builder, Catalog, Lookup, Query, key_of};

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut b = Builder::default();
        b.zone(&aws_dns::Zone {
            zone_id: "Z1".into(),
            name: "example.com".into(),
            private: false,
            name_servers: vec!["ns-1.route53.localhost".into()],
        });
        let rec = |name: &str, t: &str, values: &[&str], policy: Policy, alias: Option<Alias>| {
            aws_dns::Record {
                zone_id: "Z1".into(),
                name: name.into(),
                record_type: t.into(),
                ttl: Some(60),
                records: values.iter().map(|v| (*v).to_owned()).collect(),
                set_identifier: None,
                health_check_id: None,
                policy,
                alias,
            }
        };
        let none = |_: &str| None;
        b.record(
            "www",
            "example.com",
            &rec("www", "A", &["192.0.2.1"], Policy::Simple, None),
            none,
        );
        b.record(
            "web",
            "example.com",
            &rec("web", "CNAME", &["www.example.com"], Policy::Simple, None),
            none,
        );
        b.record(
            "loop",
            "example.com",
            &rec("loop", "CNAME", &["loop.example.com"], Policy::Simple, None),
            none,
        );
        b.record(
            "w1",
            "example.com",
            &rec(
                "w",
                "A",
                &["192.0.2.2"],
                Policy::Weighted { weight: 1 },
                None,
            ),
            none,
        );
        b.record(
            "w0",
            "example.com",
            &rec(
                "w",
                "A",
                &["192.0.2.3"],
                Policy::Weighted { weight: 0 },
                None,
            ),
            none,
        );
        b.record(
            "apex",
            "example.com",
            &rec(
                "example.com",
                "A",
                &[],
                Policy::Simple,
                Some(Alias {
                    name: "www.example.com".into(),
                    zone_id: "Z1".into(),
                    evaluate_target_health: true,
                }),
            ),
            none,
        );
        b.record(
            "wild",
            "example.com",
            &rec("*.example.com", "TXT", &["any"], Policy::Simple, None),
            none,
        );
        b.finish(Arc::new(Table::default()), Network::default())
    })
}

/// Parses `data` as a query and answers it; panics only if an answer does not round-trip,
/// or if the fast path and hickory disagree.
pub fn dns_message(data: &[u8]) {
    fast_path_agrees(data);
    let src = std::net::SocketAddr::from(([192, 0, 2, 53], 5353));
    let Ok(req) = Request::from_bytes(data.to_vec(), src, Protocol::Udp) else {
        return;
    };
    let addr: IpAddr = src.ip();
    for q in req.queries.queries() {
        let mut dice = SplitMix(data.len() as u64);
        let answer = catalog().answer(
            q.original().name(),
            q.query_type(),
            &mut Query {
                addr,
                dice: &mut dice,
                explain: false,
            },
        );
        let mut msg = Message::new(0, MessageType::Response, OpCode::Query);
        msg.metadata = Metadata::response_from_request(&req.metadata);
        msg.metadata.response_code = answer.rcode;
        msg.add_query(q.original().clone());
        msg.add_answers(answer.answers);
        msg.add_authorities(answer.authority);
        if let Ok(bytes) = msg.to_vec() {
            assert!(
                Message::from_bytes(&bytes).is_ok(),
                "an answer does not parse back"
            );
        }
    }
}

/// Whether the UDP fast path reads `data` (else the full handler answers it).
pub fn fast_path_reads(data: &[u8]) -> bool {
    wire::read(data).is_some()
}

/// What the UDP fast path reads, hickory reads the same; what it answers, the full
/// handler answers.
fn fast_path_agrees(data: &[u8]) {
    let Some(q) = wire::read(data) else { return };
    let src = std::net::SocketAddr::from(([192, 0, 2, 53], 5353));
    let Ok(req) = Request::from_bytes(data.to_vec(), src, Protocol::Udp) else {
        panic!("the fast path reads a message hickory refuses");
    };
    assert_eq!(req.queries.queries().len(), 1, "one question");
    let hq = &req.queries.queries()[0];
    let name = hq.original().name();
    assert_eq!(&*key_of(name), q.key(), "the name");
    assert_eq!(hq.query_type(), q.qtype, "the type");
    assert_eq!(req.metadata.op_code, OpCode::Query);
    assert_eq!(req.metadata.message_type, MessageType::Query);
    let edns = req.edns.as_ref();
    assert_eq!(edns.is_some(), q.edns.is_some(), "OPT present");
    assert!(edns.is_none_or(|e| e.version() == 0), "EDNS version 0");
    let subnet = edns.and_then(|e| match e.option(EdnsCode::Subnet) {
        Some(EdnsOption::Subnet(cs)) => Some((cs.addr(), cs.source_prefix())),
        _ => None,
    });
    assert_eq!(
        subnet,
        q.subnet.map(|s| (s.addr, s.source)),
        "client subnet"
    );

    // The same dice both ways, so that weighted and multivalue choose alike.
    let addr = q.subnet.map_or(src.ip(), |s| s.addr);
    let mut lookup = Lookup::default();
    catalog().lookup(
        q.key(),
        None,
        q.qtype,
        &mut Query {
            addr,
            dice: &mut SplitMix(7),
            explain: false,
        },
        &mut lookup,
    );
    let mut out = Vec::new();
    if !wire::write(&q, &lookup, 0, &mut out) {
        return;
    }
    let Ok(fast) = Message::from_bytes(&out) else {
        panic!("the fast path's answer does not parse");
    };
    let full = catalog().answer(
        name,
        q.qtype,
        &mut Query {
            addr,
            dice: &mut SplitMix(7),
            explain: false,
        },
    );
    assert_eq!(fast.metadata.id, req.metadata.id);
    let mut header = Metadata::response_from_request(&req.metadata);
    header.response_code = full.rcode;
    header.authoritative = full.authoritative;
    assert_eq!(
        fast.metadata, header,
        "the header as hickory's response builder makes it"
    );
    assert_eq!(fast.metadata.response_code, full.rcode);
    assert_eq!(fast.metadata.authoritative, full.authoritative);
    assert_eq!(fast.queries.len(), 1);
    assert_eq!(fast.queries[0].name(), name, "the question as asked");
    let same = |a: &[Record], b: &[Record]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.name == y.name && x.ttl == y.ttl && x.data == y.data)
    };
    assert!(same(&fast.answers, &full.answers), "answer section");
    assert!(
        same(&fast.authorities, &full.authority),
        "authority section"
    );
    assert_eq!(fast.edns.is_some(), q.edns.is_some(), "OPT in the answer");
}
