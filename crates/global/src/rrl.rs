//! Response rate limiting (RRL) of UDP answers, as BIND and Knot do it.
//!
//! A flood of queries with a forged source makes an authoritative server a reflector; RRL
//! bounds how many identical answers one client network gets per second:
//! * answers are counted per client netblock (/24 for IPv4, /56 for IPv6) and per answer:
//!   a positive answer (or NODATA) by its name and type; NXDOMAIN, and errors (REFUSED,
//!   FORMERR...), each in one bucket per netblock, so that random names do not escape the
//!   limit;
//! * each bucket holds one second of answers and refills at the rate (a token bucket);
//! * an answer over the rate is dropped, except every `slip`-th one, which is sent
//!   truncated (TC set, no records), so that a real client behind the address retries over
//!   TCP, which is never limited;
//! * buckets live in a fixed table indexed by a keyed hash: memory does not grow with the
//!   number of sources, and a collision only resets a bucket (the limit fails open).
//!
//! Defaults: 200 answers per second (NSD's default rate), slip 2 (BIND's), /24 and /56
//! (BIND's prefixes), 65,536 buckets.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;

/// Response rate limiting of UDP answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Answers per second per client netblock and answer; 0 turns limiting off.
    pub responses_per_second: u32,
    /// Every `slip`-th limited answer is sent truncated instead of dropped (0: never,
    /// 1: always).
    pub slip: u32,
    /// The IPv4 netblock a client is counted in.
    pub ipv4_prefix: u8,
    /// The IPv6 netblock a client is counted in.
    pub ipv6_prefix: u8,
    /// Buckets in the table (rounded up to a power of two).
    pub table_size: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            responses_per_second: 200,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            table_size: 65_536,
        }
    }
}

impl RateLimit {
    /// No limiting.
    pub fn off() -> Self {
        RateLimit {
            responses_per_second: 0,
            ..RateLimit::default()
        }
    }
}

/// What an answer counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// An answer with records, or NODATA: by name and type.
    Answer = 1,
    /// NXDOMAIN: one bucket per netblock.
    NxDomain = 2,
    /// Any other RCODE: one bucket per netblock.
    Error = 3,
}

impl Class {
    pub(crate) fn of(rcode: ResponseCode) -> Self {
        match rcode {
            ResponseCode::NoError => Class::Answer,
            ResponseCode::NXDomain => Class::NxDomain,
            _ => Class::Error,
        }
    }
}

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Send it.
    Send,
    /// Drop it.
    Drop,
    /// Send it truncated.
    Slip,
}

/// One thousandth of an answer: the unit buckets count in, so that a bucket refills by
/// `rate` units per millisecond.
const UNIT: i64 = 1000;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The key's hash (never 0 in use).
    tag: u64,
    /// Answers left, in thousandths.
    tokens: i64,
    /// When it was last refilled, in milliseconds since the limiter started.
    at: u64,
    /// Answers limited so far, for the slip.
    limited: u32,
}

/// The limiter of one UDP thread.
#[derive(Debug)]
pub(crate) struct Limiter {
    rate: i64,
    slip: u32,
    v4_mask: u32,
    v6_mask: u128,
    seed: u64,
    table: Vec<Bucket>,
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Limiter {
    pub(crate) fn new(cfg: &RateLimit) -> Self {
        let on = cfg.responses_per_second > 0;
        let size = if on {
            cfg.table_size.clamp(1, 1 << 24).next_power_of_two()
        } else {
            0
        };
        let v4 = u32::from(cfg.ipv4_prefix.min(32));
        let v6 = u32::from(cfg.ipv6_prefix.min(128));
        // A random key, so that a sender cannot aim its queries at another's bucket.
        let seed = std::collections::hash_map::RandomState::new();
        Limiter {
            rate: i64::from(cfg.responses_per_second),
            slip: cfg.slip,
            v4_mask: u32::MAX.checked_shl(32 - v4).unwrap_or(0),
            v6_mask: u128::MAX.checked_shl(128 - v6).unwrap_or(0),
            seed: std::hash::BuildHasher::hash_one(&seed, 0x5252_4c00u32),
            table: vec![Bucket::default(); size],
        }
    }

    fn key(&self, src: IpAddr, class: Class, name: &[u8], qtype: u16) -> u64 {
        let mut h = mix(self.seed ^ ((class as u64) << 16 | u64::from(qtype)));
        match src {
            IpAddr::V4(a) => h = mix(h ^ u64::from(u32::from(a) & self.v4_mask)),
            IpAddr::V6(a) => {
                let n = u128::from(a) & self.v6_mask;
                h = mix(h ^ (n >> 64) as u64 ^ 0x6);
                h = mix(h ^ n as u64);
            }
        }
        for chunk in name.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = mix(h ^ u64::from_le_bytes(word));
        }
        h | 1
    }

    /// Counts an answer of `class` to `src` (for a positive answer, of `name`'s key and
    /// `qtype`) at `now_ms`, and says what to do with it.
    pub(crate) fn check(
        &mut self,
        now_ms: u64,
        src: IpAddr,
        class: Class,
        name: &[u8],
        qtype: u16,
    ) -> Verdict {
        if self.table.is_empty() {
            return Verdict::Send;
        }
        let (name, qtype) = match class {
            Class::Answer => (name, qtype),
            Class::NxDomain | Class::Error => (&[][..], 0),
        };
        let tag = self.key(src, class, name, qtype);
        let full = self.rate * UNIT;
        let i = usize::try_from(tag).unwrap_or(0) & (self.table.len() - 1);
        let b = &mut self.table[i];
        if b.tag != tag {
            *b = Bucket {
                tag,
                tokens: full,
                at: now_ms,
                limited: 0,
            };
        }
        let elapsed = i64::try_from(now_ms.saturating_sub(b.at)).unwrap_or(i64::MAX);
        b.tokens = b
            .tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(full);
        b.at = now_ms;
        if b.tokens >= UNIT {
            b.tokens -= UNIT;
            return Verdict::Send;
        }
        b.limited = b.limited.wrapping_add(1);
        if self.slip > 0 && b.limited.is_multiple_of(self.slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, slip: u32) -> Limiter {
        Limiter::new(&RateLimit {
            responses_per_second: rate,
            slip,
            ..RateLimit::default()
        })
    }

    #[test]
    fn a_second_of_answers_then_the_rate() {
        let mut l = limiter(10, 0);
        let a: IpAddr = [192, 0, 2, 1].into();
        let sent = (0..50)
            .filter(|_| l.check(0, a, Class::Answer, b"\x01a\0", 1) == Verdict::Send)
            .count();
        assert_eq!(sent, 10, "one second's worth at once");
        // 300 ms later: three more.
        let sent = (0..50)
            .filter(|_| l.check(300, a, Class::Answer, b"\x01a\0", 1) == Verdict::Send)
            .count();
        assert_eq!(sent, 3);
    }

    #[test]
    fn buckets_are_per_netblock_and_answer() {
        let mut l = limiter(1, 0);
        let a: IpAddr = [192, 0, 2, 1].into();
        let same_net: IpAddr = [192, 0, 2, 200].into();
        let other_net: IpAddr = [198, 51, 100, 1].into();
        assert_eq!(l.check(0, a, Class::Answer, b"\x01a\0", 1), Verdict::Send);
        assert_eq!(
            l.check(0, same_net, Class::Answer, b"\x01a\0", 1),
            Verdict::Drop
        );
        assert_eq!(
            l.check(0, other_net, Class::Answer, b"\x01a\0", 1),
            Verdict::Send
        );
        assert_eq!(l.check(0, a, Class::Answer, b"\x01b\0", 1), Verdict::Send);
        assert_eq!(l.check(0, a, Class::Answer, b"\x01a\0", 28), Verdict::Send);
        // Every NXDOMAIN of a netblock shares one bucket, whatever the name.
        assert_eq!(l.check(0, a, Class::NxDomain, b"\x01x\0", 1), Verdict::Send);
        assert_eq!(l.check(0, a, Class::NxDomain, b"\x01y\0", 1), Verdict::Drop);
        let v6a: IpAddr = "2001:db8:0:1::1".parse().unwrap_or(a);
        let v6b: IpAddr = "2001:db8:0:2::1".parse().unwrap_or(a);
        let v6c: IpAddr = "2001:db8:1::1".parse().unwrap_or(a);
        assert_eq!(l.check(0, v6a, Class::Answer, b"\x01a\0", 1), Verdict::Send);
        assert_eq!(
            l.check(0, v6b, Class::Answer, b"\x01a\0", 1),
            Verdict::Drop,
            "same /56"
        );
        assert_eq!(l.check(0, v6c, Class::Answer, b"\x01a\0", 1), Verdict::Send);
    }

    #[test]
    fn every_slip_th_limited_answer_is_truncated() {
        let mut l = limiter(1, 3);
        let a: IpAddr = [192, 0, 2, 1].into();
        let v: Vec<Verdict> = (0..7)
            .map(|_| l.check(0, a, Class::Answer, b"\x01a\0", 1))
            .collect();
        use Verdict::*;
        assert_eq!(v, vec![Send, Drop, Drop, Slip, Drop, Drop, Slip]);
    }

    #[test]
    fn off_sends_everything() {
        let mut l = Limiter::new(&RateLimit::off());
        let a: IpAddr = [192, 0, 2, 1].into();
        assert!((0..1000).all(|_| l.check(0, a, Class::Answer, b"\0", 1) == Verdict::Send));
    }
}
