//! The UDP fast path's wire format: a strict reader for the common query and a writer for
//! its answer, so that a query costs no allocation of its own and no full message build.
//!
//! The reader accepts only the usual shape: a QUERY with exactly one question whose name
//! is uncompressed, class IN, a type that is not a meta type (ANY, AXFR, IXFR, OPT), no
//! answer or authority records, and at most one additional record which must be an OPT of
//! version 0 with well-formed options (a client subnet, if any, of a known family whose
//! address is exactly as long as its source prefix says), and nothing after it. Anything
//! else goes to hickory's parser and the full handler, which decide FORMERR, NOTIMP,
//! BADVERS and the rest; so whatever this reader accepts, hickory reads the same way (the
//! fuzz target checks it).
//!
//! The writer copies the question as sent (its spelling is kept), points answer owners at
//! it (`0xC00C`) or at a suffix of it, and copies each record's precomputed TYPE..RDATA.
//! An answer that does not fit the requester's size is left to the full handler, which
//! truncates it and sets TC.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::server::MAX_UDP_PAYLOAD;
use crate::zone::{Lookup, Rr};

/// The EDNS option code of a client subnet (RFC 7871).
const OPT_SUBNET: u16 = 8;

/// A client subnet as sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subnet<'p> {
    /// 1 (IPv4) or 2 (IPv6).
    family: u16,
    /// SOURCE PREFIX-LENGTH.
    pub(crate) source: u8,
    /// The address bytes as sent (exactly the prefix's length).
    bytes: &'p [u8],
    /// The address, zero-filled.
    pub(crate) addr: IpAddr,
}

/// A query the fast path answers.
#[derive(Debug)]
pub(crate) struct Query<'p> {
    /// The message as received.
    packet: &'p [u8],
    /// Where the question ends (it starts at 12).
    question_end: usize,
    /// The name's lookup key (lowercased wire form).
    key: [u8; 255],
    key_len: usize,
    /// QTYPE.
    pub(crate) qtype: RecordType,
    /// The requester's UDP payload size, when it sent an OPT.
    pub(crate) edns: Option<u16>,
    /// Its client subnet.
    pub(crate) subnet: Option<Subnet<'p>>,
}

impl Query<'_> {
    /// The name's lookup key.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }

    /// The largest answer the requester takes: 512 bytes without EDNS (RFC 1035 §4.2.1),
    /// else its payload size, at least 512 and at most ours.
    pub(crate) fn limit(&self) -> usize {
        usize::from(self.edns.map_or(512, |p| p.clamp(512, MAX_UDP_PAYLOAD)))
    }

    /// The name as sent, in wire form.
    fn name(&self) -> &[u8] {
        &self.packet[12..self.question_end - 4]
    }
}

fn u16_at(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]))
}

/// Reads `packet` if it has the shape the fast path answers.
pub(crate) fn read(packet: &[u8]) -> Option<Query<'_>> {
    let flags = packet.get(2..4)?;
    // QR 0, OPCODE QUERY, TC 0; RCODE 0.
    if flags[0] & 0xfa != 0 || flags[1] & 0x0f != 0 {
        return None;
    }
    let counts = (
        u16_at(packet, 4)?,
        u16_at(packet, 6)?,
        u16_at(packet, 8)?,
        u16_at(packet, 10)?,
    );
    if counts.0 != 1 || counts.1 != 0 || counts.2 != 0 || counts.3 > 1 {
        return None;
    }
    let mut key = [0u8; 255];
    let mut at = 12;
    loop {
        let len = usize::from(*packet.get(at)?);
        // A compression pointer, or a label type other than a plain label.
        if len & 0xc0 != 0 {
            return None;
        }
        let end = at + 1 + len;
        // The whole name, its final 0 included, is at most 255 bytes.
        if end - 12 > 255 || end > packet.len() {
            return None;
        }
        let k = at - 12;
        key[k] = packet[at];
        for (d, s) in key[k + 1..end - 12].iter_mut().zip(&packet[at + 1..end]) {
            *d = s.to_ascii_lowercase();
        }
        at = end;
        if len == 0 {
            break;
        }
    }
    let key_len = at - 12;
    let qtype = u16_at(packet, at)?;
    let qclass = u16_at(packet, at + 2)?;
    // Meta types (0, OPT, 128-255: ANY, AXFR, IXFR, ...) and classes other than IN go to
    // the full handler.
    if qclass != 1 || qtype == 0 || qtype == 41 || (128..=255).contains(&qtype) {
        return None;
    }
    let question_end = at + 4;
    let mut q = Query {
        packet,
        question_end,
        key,
        key_len,
        qtype: RecordType::from(qtype),
        edns: None,
        subnet: None,
    };
    if counts.3 == 0 {
        return (question_end == packet.len()).then_some(q);
    }
    // The OPT: root owner, TYPE 41, CLASS the payload size, TTL extended RCODE 0 and
    // version 0 (flags ignored), then the options.
    let opt = packet.get(question_end..)?;
    if opt.len() < 11 || opt[0] != 0 || u16_at(opt, 1)? != 41 || opt[5] != 0 || opt[6] != 0 {
        return None;
    }
    q.edns = Some(u16_at(opt, 3)?);
    let rdlen = usize::from(u16_at(opt, 9)?);
    let options = opt.get(11..)?;
    if options.len() != rdlen {
        return None;
    }
    let mut o = 0;
    while o < options.len() {
        let code = u16_at(options, o)?;
        let len = usize::from(u16_at(options, o + 2)?);
        let data = options.get(o + 4..o + 4 + len)?;
        if code == OPT_SUBNET {
            if q.subnet.is_some() {
                return None;
            }
            q.subnet = Some(subnet(data)?);
        }
        o += 4 + len;
    }
    Some(q)
}

fn subnet(data: &[u8]) -> Option<Subnet<'_>> {
    let family = u16_at(data, 0)?;
    let source = *data.get(2)?;
    let bytes = data.get(4..)?;
    let want = usize::from(source).div_ceil(8);
    if bytes.len() != want {
        return None;
    }
    let addr = match family {
        1 if source <= 32 => {
            let mut o = [0u8; 4];
            o[..want].copy_from_slice(bytes);
            IpAddr::V4(Ipv4Addr::from(o))
        }
        2 if source <= 128 => {
            let mut o = [0u8; 16];
            o[..want].copy_from_slice(bytes);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return None,
    };
    Some(Subnet {
        family,
        source,
        bytes,
        addr,
    })
}

/// Where a name equal to `wire` (case-insensitively) starts in the question's name, if it is
/// a suffix of it at a label boundary.
fn suffix_offset(qname: &[u8], wire: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < qname.len() {
        let rest = &qname[at..];
        if rest.len() == wire.len() {
            return rest.eq_ignore_ascii_case(wire).then_some(at);
        }
        if rest.len() < wire.len() {
            return None;
        }
        let len = usize::from(rest[0]);
        if len == 0 {
            return None;
        }
        at += 1 + len;
    }
    None
}

fn write_rr(q: &Query<'_>, rr: &Rr<'_>, out: &mut Vec<u8>) {
    match rr.owner_wire() {
        None => out.extend_from_slice(&[0xc0, 0x0c]),
        Some(w) => match suffix_offset(q.name(), w) {
            // The question starts at 12: well within a pointer's 14 bits.
            Some(at) => {
                let ptr = 0xc000 | u16::try_from(12 + at).unwrap_or(0);
                out.extend_from_slice(&ptr.to_be_bytes());
            }
            None => out.extend_from_slice(w),
        },
    }
    rr.write_tail(out);
}

fn count(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

/// Writes the answer to `q` into `out`; `scope` is the client subnet's scope to echo.
/// False when it does not fit the requester's size (nothing usable is left in `out`).
pub(crate) fn write(q: &Query<'_>, answer: &Lookup<'_>, scope: u8, out: &mut Vec<u8>) -> bool {
    out.clear();
    let p = q.packet;
    let rcode = u8::try_from(u16::from(answer.rcode) & 0x0f).unwrap_or(2);
    out.extend_from_slice(&p[..2]);
    // QR, OPCODE 0, AA, RD as asked; CD as asked, RCODE.
    out.push(0x80 | if answer.authoritative { 0x04 } else { 0 } | (p[2] & 0x01));
    out.push((p[3] & 0x10) | rcode);
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&count(answer.answers.len()));
    out.extend_from_slice(&count(answer.authority.len()));
    out.extend_from_slice(&[0, u8::from(q.edns.is_some())]);
    out.extend_from_slice(&p[12..q.question_end]);
    for rr in answer.answers.iter().chain(&answer.authority) {
        write_rr(q, rr, out);
    }
    if q.edns.is_some() {
        out.push(0);
        out.extend_from_slice(&41u16.to_be_bytes());
        out.extend_from_slice(&u16::try_from(q.limit()).unwrap_or(512).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        match q.subnet {
            Some(s) => {
                let len = 4 + s.bytes.len();
                out.extend_from_slice(&count(4 + len));
                out.extend_from_slice(&OPT_SUBNET.to_be_bytes());
                out.extend_from_slice(&count(len));
                out.extend_from_slice(&s.family.to_be_bytes());
                out.push(s.source);
                out.push(scope);
                out.extend_from_slice(s.bytes);
            }
            None => out.extend_from_slice(&[0, 0]),
        }
    }
    out.len() <= q.limit()
}

/// A truncated answer to `q` (TC set, no records): what a rate-limited query gets instead
/// of silence, so a real client retries over TCP.
pub(crate) fn write_truncated(
    q: &Query<'_>,
    rcode: ResponseCode,
    authoritative: bool,
    out: &mut Vec<u8>,
) {
    write(q, &Lookup::empty(rcode, authoritative), 0, out);
    out[2] |= 0x02;
}
