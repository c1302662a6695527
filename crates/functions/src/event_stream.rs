//! The AWS event stream encoding (`application/vnd.amazon.eventstream`) used by
//! `InvokeWithResponseStream`: length-prefixed messages with typed headers and CRC32
//! checksums over the prelude and the whole message.

use bytes::{BufMut, Bytes, BytesMut};

/// CRC-32 (IEEE), as the event stream framing uses.
fn crc32(data: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    const TABLE: [u32; 256] = table();
    let mut c = 0xFFFF_FFFFu32;
    for b in data {
        c = TABLE[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// One event: string headers and a payload.
pub(crate) fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = BytesMut::new();
    for (name, value) in headers {
        h.put_u8(u8::try_from(name.len()).unwrap_or(u8::MAX));
        h.put_slice(name.as_bytes());
        h.put_u8(7); // string
        h.put_u16(u16::try_from(value.len()).unwrap_or(u16::MAX));
        h.put_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut m = BytesMut::with_capacity(total);
    m.put_u32(u32::try_from(total).unwrap_or(u32::MAX));
    m.put_u32(u32::try_from(h.len()).unwrap_or(u32::MAX));
    let prelude_crc = crc32(&m[..8]);
    m.put_u32(prelude_crc);
    m.put_slice(&h);
    m.put_slice(payload);
    let message_crc = crc32(&m);
    m.put_u32(message_crc);
    m.freeze()
}

/// An event of type `event_type` (`PayloadChunk`, `InvokeComplete`).
pub(crate) fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    message(
        &[
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn framing() {
        let m = message(&[], b"");
        // The event stream spec's empty message: 16 bytes, prelude and message CRCs.
        assert_eq!(
            m.as_ref(),
            &[
                0, 0, 0, 16, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff
            ]
        );
    }
}
