//! The DNS message path for the fuzzer: bytes off the wire are parsed as the listener parses
//! them and every question is answered from a small catalog; nothing may panic, and every
//! answer must encode and parse back.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use hickory_proto::op::{Message, MessageType, Metadata, OpCode};
use hickory_proto::serialize::binary::BinDecodable;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use meridian_config::terraform::resources::aws_dns::{self, Alias, Policy};

use crate::health::Table;
use crate::policy::Network;
use crate::server::SplitMix;
use crate::zone::{Builder, Catalog, Query};

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

/// Parses `data` as a query and answers it; panics only if an answer does not round-trip.
pub fn dns_message(data: &[u8]) {
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
