//! The authoritative DNS listener: hickory-server's TCP transport with our request handler,
//! and our own UDP path, both answering from the current catalog.
//!
//! UDP runs on one thread of its own (hickory's UDP loop spawns a task per datagram): it
//! blocks in `recvmmsg` for up to 32 datagrams, answers them, and sends the answers with
//! one `sendmmsg`. A query of the usual shape (see the `wire` module) is answered with no
//! allocation of its own (the lists an answer borrows into are allocated once per batch):
//! its name is looked up by its wire form, the answer borrows the catalog's records, and
//! the message is written from their precomputed wire forms into a reused buffer. Every other datagram goes through hickory's request parser (a malformed one with
//! a readable header gets FORMERR) and the full handler, encoded by hickory's encoder with
//! the requester's size as the limit (512 bytes without EDNS, else its EDNS payload size),
//! which truncates and sets TC so the client retries over TCP; an answer the fast path
//! finds too large goes there too. UDP answers are rate limited (see [`RateLimit`]); TCP
//! answers are not. Both paths follow the same rules:
//! * only QUERY is implemented (NOTIMP otherwise), with exactly one question (FORMERR);
//! * EDNS version above 0 is BADVERS (RFC 6891 §6.1.3); the response carries OPT when the
//!   query did, advertising at most 1,232 bytes (the DNS flag day's size);
//! * a client subnet (RFC 7871) replaces the source address for the routing policies, and is
//!   echoed with a scope: its source prefix when the address chose the answer, else 0;
//! * ANY is answered minimally as RFC 8482 suggests (one synthesized HINFO);
//! * zone transfers are REFUSED; classes other than IN are REFUSED.

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::zone_handler::MessageResponseBuilder;

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

use crate::policy::Dice;
pub use crate::rrl::RateLimit;
use crate::rrl::{Class, Limiter, Verdict};
use crate::wire;
use crate::zone::{Answer, Catalog, Lookup, Query};

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

/// What the full handler answers a request: header, OPT and records, owned.
struct Reply {
    meta: Metadata,
    edns: Option<Edns>,
    answer: Answer,
}

impl Handler {
    /// Answers a parsed request: every rule of this module, for TCP and for the UDP
    /// queries the fast path leaves (errors, ANY, zone transfers, answers to truncate).
    fn reply(&self, request: &Request) -> Reply {
        let mut meta = Metadata::response_from_request(&request.metadata);

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

        let refuse = if request.metadata.message_type != MessageType::Query {
            Some(ResponseCode::FormErr)
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
            return Reply {
                meta,
                edns: edns_out,
                answer: Answer::default(),
            };
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
        Reply {
            meta,
            edns: edns_out,
            answer,
        }
    }

    /// The full handler's UDP answer to `request`, encoded into `out` with the requester's
    /// size as the limit (truncated, TC set, when it does not fit).
    fn reply_udp(&self, request: &Request, out: &mut Vec<u8>) -> Result<(), String> {
        let r = self.reply(request);
        let mut b = MessageResponseBuilder::from_message_request(request);
        if let Some(e) = &r.edns {
            b.edns(e);
        }
        let msg = b.build(
            r.meta,
            r.answer.answers.iter(),
            r.answer.authority.iter(),
            std::iter::empty(),
            std::iter::empty(),
        );
        out.clear();
        let mut encoder = hickory_proto::serialize::binary::BinEncoder::new(out);
        // RFC 1035 §4.2.1: 512 bytes without EDNS; else what the requester advertised.
        encoder.set_max_size(r.edns.as_ref().map_or(512, Edns::max_payload));
        msg.destructive_emit(&mut encoder)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let r = self.reply(request);
        let mut b = MessageResponseBuilder::from_message_request(request);
        if let Some(e) = &r.edns {
            b.edns(e);
        }
        let msg = b.build(
            r.meta,
            r.answer.answers.iter(),
            r.answer.authority.iter(),
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

/// How the listener behaves beyond its address.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Response rate limiting of UDP answers.
    pub rate_limit: RateLimit,
}

/// What the UDP path has done since the listener started.
#[derive(Debug, Default)]
pub struct Stats {
    /// UDP answers sent (slipped ones included).
    pub answered: AtomicU64,
    /// Answers the rate limit dropped.
    pub rate_limited: AtomicU64,
    /// Of those, the ones answered truncated instead (TC set), so real clients retry
    /// over TCP.
    pub slipped: AtomicU64,
}

/// A running DNS listener.
pub struct Listener {
    server: Server<Handler>,
    udp: UdpThread,
    stats: Arc<Stats>,
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
    /// Binds UDP and TCP on `addr` (port 0: a free port both protocols share), with the
    /// default options (response rate limiting at [`RateLimit::default`]).
    pub async fn bind(addr: SocketAddr, catalog: Shared) -> Result<Self, BindError> {
        Self::bind_with(addr, catalog, Options::default()).await
    }

    /// Binds UDP and TCP on `addr` with `options`.
    pub async fn bind_with(
        addr: SocketAddr,
        catalog: Shared,
        options: Options,
    ) -> Result<Self, BindError> {
        // With port 0, the UDP port the kernel picks may be taken for TCP: try a few.
        let mut last = None;
        for _ in 0..16 {
            let udp = std::net::UdpSocket::bind(addr)
                .map_err(|source| BindError::Udp { addr, source })?;
            let bound = udp
                .local_addr()
                .map_err(|source| BindError::Udp { addr, source })?;
            match tokio::net::TcpListener::bind(bound).await {
                Ok(tcp) => {
                    let handler = Handler::new(catalog);
                    let stats = Arc::new(Stats::default());
                    let udp = UdpThread::start(
                        udp,
                        handler.clone(),
                        Limiter::new(&options.rate_limit),
                        Arc::clone(&stats),
                    )
                    .map_err(|source| BindError::Udp { addr, source })?;
                    let mut server = Server::new(handler);
                    server.register_listener(tcp, TCP_IDLE, 64 * 1024);
                    return Ok(Listener {
                        server,
                        udp,
                        stats,
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

    /// What the UDP path has done so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops answering.
    pub async fn shutdown(mut self) {
        self.udp.stop();
        let _ = self.server.shutdown_gracefully().await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.udp.stop();
    }
}

/// Datagrams received (and answers sent) per system call.
const BATCH: usize = 32;
/// The largest query read; a longer datagram gets FORMERR.
const MAX_QUERY: usize = 4096;
/// How long the UDP thread waits for a datagram before looking whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(250);

/// The UDP side: one thread that blocks in `recvmmsg`, answers the batch it got and sends
/// the answers with one `sendmmsg`. No task, no wakeup through the runtime: the answer
/// path never waits for anything but the socket.
struct UdpThread {
    socket: Arc<std::net::UdpSocket>,
    stop: Arc<AtomicBool>,
}

impl UdpThread {
    fn start(
        socket: std::net::UdpSocket,
        handler: Handler,
        limiter: Limiter,
        stats: Arc<Stats>,
    ) -> std::io::Result<Self> {
        socket.set_read_timeout(Some(STOP_POLL))?;
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&socket), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("dns-udp".into())
            .spawn(move || {
                UdpLoop::new(handler, limiter, stats).run(&s, &st);
            })?;
        Ok(UdpThread { socket, stop })
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the thread out of its receive at once (Linux reports ENOTCONN for an
        // unconnected UDP socket, and wakes the reader all the same).
        let _ = socket2::SockRef::from(&*self.socket).shutdown(std::net::Shutdown::Read);
    }
}

/// A received datagram: its length, whether it was cut, and its sender.
#[derive(Clone, Copy)]
struct Received {
    len: usize,
    cut: bool,
    from: Option<SocketAddr>,
}

/// The UDP thread's state: buffers reused for every batch.
struct UdpLoop {
    handler: Handler,
    limiter: Limiter,
    stats: Arc<Stats>,
    queries: Vec<u8>,
    answers: Vec<Vec<u8>>,
    to: Vec<Option<SockaddrStorage>>,
    dice: SplitMix,
    started: std::time::Instant,
}

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(std::net::SocketAddrV4::from(*v4)));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(std::net::SocketAddrV6::from(*v6)))
}

impl UdpLoop {
    fn new(handler: Handler, limiter: Limiter, stats: Arc<Stats>) -> Self {
        let dice = handler.dice();
        UdpLoop {
            handler,
            limiter,
            stats,
            queries: vec![0u8; BATCH * MAX_QUERY],
            answers: (0..BATCH)
                .map(|_| Vec::with_capacity(usize::from(MAX_UDP_PAYLOAD)))
                .collect(),
            to: vec![None; BATCH],
            dice,
            started: std::time::Instant::now(),
        }
    }

    fn run(&mut self, socket: &std::net::UdpSocket, stop: &AtomicBool) {
        let fd = socket.as_raw_fd();
        let mut rx: MultiHeaders<SockaddrStorage> = MultiHeaders::preallocate(BATCH, None);
        let mut tx: MultiHeaders<SockaddrStorage> = MultiHeaders::preallocate(BATCH, None);
        let mut got = [Received {
            len: 0,
            cut: false,
            from: None,
        }; BATCH];
        while !stop.load(Ordering::Relaxed) {
            let n = {
                let mut chunks = self.queries.chunks_exact_mut(MAX_QUERY);
                let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
                    std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
                match recvmmsg(fd, &mut rx, iovs.iter_mut(), MsgFlags::MSG_WAITFORONE, None) {
                    Ok(msgs) => {
                        let mut n = 0;
                        for (slot, m) in got.iter_mut().zip(msgs) {
                            *slot = Received {
                                len: m.bytes,
                                cut: m.flags.contains(MsgFlags::MSG_TRUNC),
                                from: m.address.as_ref().and_then(socket_addr),
                            };
                            n += 1;
                        }
                        n
                    }
                    Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => 0,
                    Err(e) => {
                        // ICMP errors from earlier sends surface here on some systems.
                        tracing::debug!(error = %e, "DNS UDP receive");
                        0
                    }
                }
            };
            let ready = self.answer_batch(&got[..n]);
            self.send(fd, &mut tx, ready);
        }
    }

    /// Answers the batch; returns how many answers are ready in `answers`/`to`.
    fn answer_batch(&mut self, got: &[Received]) -> usize {
        let UdpLoop {
            handler,
            limiter,
            stats,
            queries,
            answers,
            to,
            dice,
            started,
        } = self;
        let catalog = handler.catalog.load();
        let mut lookup = Lookup::default();
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut ready = 0;
        for (i, r) in got.iter().enumerate() {
            let Some(src) = r.from else { continue };
            let packet = &queries[i * MAX_QUERY..i * MAX_QUERY + r.len.min(MAX_QUERY)];
            // Never answer a response (QR set): two servers would echo errors at each
            // other. A packet shorter than a header gets nothing.
            if src.port() == 0 || packet.len() < 12 || packet[2] & 0x80 != 0 {
                continue;
            }
            let out = &mut answers[ready];
            let verdict = if r.cut {
                formerr(packet, out);
                limiter.check(now_ms, src.ip(), Class::Error, &[], 0)
            } else if let Some(q) = wire::read(packet) {
                lookup.clear();
                let addr = q.subnet.map_or(src.ip(), |s| s.addr);
                catalog.lookup(
                    q.key(),
                    None,
                    q.qtype,
                    &mut Query {
                        addr,
                        dice,
                        explain: false,
                    },
                    &mut lookup,
                );
                let class = Class::of(lookup.rcode);
                let verdict = limiter.check(now_ms, src.ip(), class, q.key(), u16::from(q.qtype));
                let scope = match q.subnet {
                    Some(s) if lookup.by_address => s.source,
                    _ => 0,
                };
                match verdict {
                    Verdict::Slip => {
                        wire::write_truncated(&q, lookup.rcode, lookup.authoritative, out);
                    }
                    Verdict::Drop => {}
                    Verdict::Send => {
                        if !wire::write(&q, &lookup, scope, out) {
                            full(handler, packet, src, out);
                        }
                    }
                }
                verdict
            } else {
                full(handler, packet, src, out);
                let rcode = ResponseCode::from(0, out.get(3).map_or(2, |b| b & 0x0f));
                let verdict = limiter.check(now_ms, src.ip(), Class::of(rcode), &[], 0);
                if verdict == Verdict::Slip && out.len() >= 12 {
                    // The header alone, truncated: the question is not known to be sound.
                    out.truncate(12);
                    out[2] |= 0x02;
                    out[4..12].fill(0);
                }
                verdict
            };
            match verdict {
                Verdict::Drop => {
                    stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Verdict::Slip => {
                    stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    stats.slipped.fetch_add(1, Ordering::Relaxed);
                }
                Verdict::Send => {}
            }
            if out.is_empty() {
                continue;
            }
            to[ready] = Some(SockaddrStorage::from(src));
            ready += 1;
        }
        stats.answered.fetch_add(ready as u64, Ordering::Relaxed);
        ready
    }

    /// Sends `answers[..n]`, as many per system call as the kernel takes.
    fn send(&mut self, fd: std::os::fd::RawFd, tx: &mut MultiHeaders<SockaddrStorage>, n: usize) {
        let mut start = 0;
        while start < n {
            let iovs: Vec<[IoSlice<'_>; 1]> = self.answers[start..n]
                .iter()
                .map(|a| [IoSlice::new(a)])
                .collect();
            let none: [ControlMessage<'_>; 0] = [];
            match sendmmsg(fd, tx, &iovs, &self.to[start..n], none, MsgFlags::empty()) {
                Ok(sent) => start += sent.count().max(1),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    // One answer the kernel refuses (an unreachable address): skip it.
                    tracing::debug!(error = %e, "DNS UDP send");
                    start += 1;
                }
            }
        }
    }
}

/// The full handler's answer (hickory's parser and encoder) into `out`; a malformed
/// message with a readable header gets FORMERR.
fn full(handler: &Handler, packet: &[u8], src: SocketAddr, out: &mut Vec<u8>) {
    match Request::from_bytes(
        packet.to_vec(),
        src,
        hickory_server::net::xfer::Protocol::Udp,
    ) {
        Ok(request) => {
            if let Err(e) = handler.reply_udp(&request, out) {
                tracing::debug!(error = %e, "encoding a DNS answer");
                out.clear();
            }
        }
        Err(_) => formerr(packet, out),
    }
}

/// FORMERR for a message whose header is readable: its id, opcode and RD, nothing else.
fn formerr(packet: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0u8; 12]);
    out[..2].copy_from_slice(&packet[..2]);
    out[2] = 0x80 | (packet[2] & 0x78) | (packet[2] & 0x01);
    out[3] = 1;
}
