//! The authoritative DNS listener: hickory-server's UDP and TCP transport with our request
//! handler answering from the current catalog.
//!
//! hickory-server serves TCP. UDP runs on our own receive loop, because hickory's spawns a
//! task per datagram, which measured at a third of Knot's rate on one core: each datagram is
//! parsed with hickory's request parser (a malformed one with a readable header gets
//! FORMERR) and answered inline, encoded by hickory's response encoder with the
//! requester's size as the limit (512 bytes without EDNS, else its EDNS payload size), which
//! truncates and sets TC so the client retries over TCP. The handler decides everything
//! else:
//! * only QUERY is implemented (NOTIMP otherwise), with exactly one question (FORMERR);
//! * EDNS version above 0 is BADVERS (RFC 6891 §6.1.3); the response carries OPT when the
//!   query did, advertising at most 1,232 bytes (the DNS flag day's size);
//! * a client subnet (RFC 7871) replaces the source address for the routing policies, and is
//!   echoed with a scope: its source prefix when the address chose the answer, else 0;
//! * ANY is answered minimally as RFC 8482 suggests (one synthesized HINFO);
//! * zone transfers are REFUSED; classes other than IN are REFUSED.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::policy::Dice;
use crate::zone::{Answer, Catalog, Query};

/// The largest UDP payload this server sends (DNS flag day 2020).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// How long an idle TCP connection is kept.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The catalog the server answers from; swapped whole on a configuration change.
pub type Shared = Arc<ArcSwap<Catalog>>;

/// The request handler.
#[derive(Debug, Clone)]
pub struct Handler {
    catalog: Shared,
    seed: Arc<AtomicU64>,
}

impl Handler {
    /// A handler answering from `catalog`.
    pub fn new(catalog: Shared) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Handler {
            catalog,
            seed: Arc::new(AtomicU64::new(seed)),
        }
    }

    fn dice(&self) -> SplitMix {
        SplitMix(
            self.seed
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed),
        )
    }
}

/// SplitMix64: enough randomness for weighted shares, one atomic add per query.
#[derive(Debug)]
pub struct SplitMix(pub u64);

impl Dice for SplitMix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Multiply-shift: unbiased enough for n far below 2^64.
        ((u128::from(z) * u128::from(n.max(1))) >> 64) as u64
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let mut meta = Metadata::response_from_request(&request.metadata);
        let builder = MessageResponseBuilder::from_message_request(request);

        // The response's OPT: our size, and the client subnet echoed with its scope.
        let mut edns_out: Option<Edns> = None;
        let mut subnet: Option<ClientSubnet> = None;
        if let Some(edns) = &request.edns {
            let mut e = Edns::new();
            e.set_max_payload(edns.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            e.set_version(0);
            if let Some(EdnsOption::Subnet(cs)) = edns.option(EdnsCode::Subnet) {
                subnet = Some(*cs);
            }
            edns_out = Some(e);
        }

        let rcode_only = |code: ResponseCode| code;
        let refuse = if request.metadata.message_type != MessageType::Query {
            Some(rcode_only(ResponseCode::FormErr))
        } else if request.metadata.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            Some(ResponseCode::BADVERS)
        } else if request.queries.queries().len() != 1 {
            Some(ResponseCode::FormErr)
        } else {
            None
        };
        if let Some(code) = refuse {
            meta.response_code = code;
            let mut b = builder;
            if let Some(e) = &edns_out {
                b.edns(e);
            }
            return send(&mut response, b.build_no_records(meta)).await;
        }
        let query = &request.queries.queries()[0];
        let qtype = query.query_type();
        let qname = query.original().name().clone();

        let catalog = self.catalog.load();
        let addr = subnet
            .as_ref()
            .map_or(request.src().ip(), ClientSubnet::addr);
        let mut dice = self.dice();
        let answer = if query.query_class() != DNSClass::IN {
            Answer {
                rcode: ResponseCode::Refused,
                ..Answer::default()
            }
        } else if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            Answer {
                rcode: ResponseCode::Refused,
                authoritative: false,
                ..Answer::default()
            }
        } else if qtype == RecordType::ANY {
            let mut a = catalog.answer(
                &qname,
                RecordType::SOA,
                &mut Query {
                    addr,
                    dice: &mut dice,
                    explain: false,
                },
            );
            if a.rcode == ResponseCode::NoError {
                a.answers = vec![Record::from_rdata(
                    qname.clone(),
                    3600,
                    RData::HINFO(HINFO::new("RFC8482".into(), String::new())),
                )];
                a.authority.clear();
            }
            a
        } else {
            catalog.answer(
                &qname,
                qtype,
                &mut Query {
                    addr,
                    dice: &mut dice,
                    explain: false,
                },
            )
        };
        meta.response_code = answer.rcode;
        meta.authoritative = answer.authoritative;
        if let (Some(e), Some(cs)) = (&mut edns_out, subnet) {
            let scope = if answer.by_address {
                cs.source_prefix()
            } else {
                0
            };
            let mut echo = cs;
            echo.set_scope_prefix(scope);
            e.options_mut().insert(EdnsOption::Subnet(echo));
        }
        let mut b = builder;
        if let Some(e) = &edns_out {
            b.edns(e);
        }
        let msg = b.build(
            meta,
            answer.answers.iter(),
            answer.authority.iter(),
            std::iter::empty(),
            std::iter::empty(),
        );
        send(&mut response, msg).await
    }
}

async fn send<'a, R: ResponseHandler>(
    response: &mut R,
    msg: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> ResponseInfo {
    let fallback = *msg.metadata();
    match response.send_response(msg).await {
        Ok(info) => info,
        Err(e) => {
            tracing::debug!(error = %e, "sending a DNS response");
            let mut header = hickory_proto::op::Header {
                metadata: fallback,
                counts: hickory_proto::op::HeaderCounts::default(),
            };
            header.metadata.response_code = ResponseCode::ServFail;
            header.into()
        }
    }
}

/// A running DNS listener.
pub struct Listener {
    server: Server<Handler>,
    udp: tokio::task::JoinHandle<()>,
    /// The address it answers on (UDP and TCP share the port).
    pub addr: SocketAddr,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Binding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The UDP socket.
    #[error("DNS on {addr} (UDP): {source}")]
    Udp {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The TCP listener on the same port.
    #[error("DNS on {addr} (TCP): {source}")]
    Tcp {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

impl Listener {
    /// Binds UDP and TCP on `addr` (port 0: a free port both protocols share).
    pub async fn bind(addr: SocketAddr, catalog: Shared) -> Result<Self, BindError> {
        // With port 0, the UDP port the kernel picks may be taken for TCP: try a few.
        let mut last = None;
        for _ in 0..16 {
            let udp = tokio::net::UdpSocket::bind(addr)
                .await
                .map_err(|source| BindError::Udp { addr, source })?;
            let bound = udp
                .local_addr()
                .map_err(|source| BindError::Udp { addr, source })?;
            match tokio::net::TcpListener::bind(bound).await {
                Ok(tcp) => {
                    let handler = Handler::new(catalog);
                    let udp_task = tokio::spawn(udp_loop(Arc::new(udp), handler.clone()));
                    let mut server = Server::new(handler);
                    server.register_listener(tcp, TCP_IDLE, 64 * 1024);
                    return Ok(Listener {
                        server,
                        udp: udp_task,
                        addr: bound,
                    });
                }
                Err(source) if addr.port() == 0 => last = Some(source),
                Err(source) => return Err(BindError::Tcp { addr, source }),
            }
        }
        Err(BindError::Tcp {
            addr,
            source: last.unwrap_or_else(|| std::io::Error::other("no free port")),
        })
    }

    /// Stops answering.
    pub async fn shutdown(mut self) {
        self.udp.abort();
        let _ = self.server.shutdown_gracefully().await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.udp.abort();
    }
}

/// Sends one UDP answer, encoded with the requester's size as the limit.
#[derive(Clone)]
struct UdpReply {
    socket: Arc<tokio::net::UdpSocket>,
    dst: SocketAddr,
}

#[async_trait::async_trait]
impl ResponseHandler for UdpReply {
    async fn send_response<'a>(
        &mut self,
        response: hickory_server::zone_handler::MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, hickory_server::net::NetError> {
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = hickory_proto::serialize::binary::BinEncoder::new(&mut bytes);
        // RFC 1035 §4.2.1: 512 bytes without EDNS; else what the requester advertised.
        encoder.set_max_size(response.edns().map_or(512, Edns::max_payload));
        let info = response
            .destructive_emit(&mut encoder)
            .map_err(|e| hickory_server::net::NetError::from(e.to_string()))?;
        self.socket.send_to(&bytes, self.dst).await?;
        Ok(info)
    }
}

/// Receives datagrams and answers each before the next: the handler never waits on I/O
/// but the send, so a task per datagram would only add scheduling.
async fn udp_loop(socket: Arc<tokio::net::UdpSocket>, handler: Handler) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, src) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors from earlier sends surface here on some systems; keep serving.
                tracing::debug!(error = %e, "DNS UDP receive");
                continue;
            }
        };
        let packet = &buf[..n];
        // Never answer a response (QR set): two servers would echo errors at each other.
        if src.port() == 0 || packet.get(2).is_some_and(|b| b & 0x80 != 0) {
            continue;
        }
        match Request::from_bytes(
            packet.to_vec(),
            src,
            hickory_server::net::xfer::Protocol::Udp,
        ) {
            Ok(request) => {
                let reply = UdpReply {
                    socket: Arc::clone(&socket),
                    dst: src,
                };
                handler
                    .handle_request::<_, hickory_server::net::runtime::TokioTime>(&request, reply)
                    .await;
            }
            // A readable header but a malformed message: FORMERR, nothing else echoed.
            Err(_) if n >= 12 => {
                let mut formerr = [0u8; 12];
                formerr[..2].copy_from_slice(&packet[..2]);
                formerr[2] = 0x80 | (packet[2] & 0x78) | (packet[2] & 0x01);
                formerr[3] = 1;
                let _ = socket.send_to(&formerr, src).await;
            }
            Err(_) => {}
        }
    }
}
