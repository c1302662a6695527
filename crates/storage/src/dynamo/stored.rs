//! How items and keys are laid out in the engine.
//!
//! A primary key becomes `hash(partition key) ‖ partition key ‖ sort key`:
//! * the 8-byte hash first spreads partitions over the key space as DynamoDB's partitioner
//!   does, so a Scan returns items in no particular partition order and `Segment` `i` of
//!   `TotalSegments` `n` is simply the `i`-th slice of the hash range;
//! * the partition key is length-prefixed, so one partition's items are contiguous;
//! * the sort key is encoded so that byte order is DynamoDB's order (numbers numerically,
//!   strings and binaries bytewise) and self-delimiting, so Query ranges are byte ranges and
//!   an index key can be followed by the base table's key.
//!
//! An item is stored in its JSON answer form (`{"name":{"S":"x"},...}`, exactly the text an
//! answer carries) after its size, so reads that return whole items (GetItem, Query and Scan
//! without a projection) copy it as it is; reads that need the item itself (conditions,
//! updates, filters, projections, index keys) parse it back with a strict reader of that one
//! spelling. Writing the answer once per write instead of once per read takes about a quarter
//! of a 100-item Query's work away. The JSON takes more bytes than the compact tagged binary
//! form items were stored in before (a third more for an item of four attributes with a
//! 100-byte string, 175 bytes against 133; less for long strings, more for many small
//! numbers). Items in the compact form are still read, and stream records keep their images
//! in it.

use super::answer;
use super::number::Number;
use super::types::{AttributeValue, Item, item_size};

/// The 64-bit partition hash (FNV-1a with a 64-bit finaliser): stable across versions and
/// platforms, since it is on disk.
pub fn partition_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The bytes a scalar key value is hashed and compared by.
fn scalar_bytes(v: &AttributeValue) -> Vec<u8> {
    match v {
        AttributeValue::S(s) => s.as_bytes().to_vec(),
        AttributeValue::N(n) => n.to_string().into_bytes(),
        AttributeValue::B(b) => b.clone(),
        // Key values are checked to be scalars before they are encoded.
        _ => Vec::new(),
    }
}

/// `hash ‖ len ‖ partition key`: the prefix every item of one partition shares.
pub fn partition_prefix(pk: &AttributeValue) -> Vec<u8> {
    let bytes = scalar_bytes(pk);
    let mut out = Vec::with_capacity(12 + bytes.len());
    out.extend_from_slice(&partition_hash(&bytes).to_be_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// The partition prefix of a key with several HASH attributes: their values, each in the
/// self-delimiting sort key encoding so no two tuples share bytes, hashed and prefixed as
/// one partition key is. One attribute keeps [`partition_prefix`]'s layout, which indexes
/// written before keys could have several attributes use.
pub fn composite_partition_prefix(values: &[&AttributeValue]) -> Vec<u8> {
    if let [one] = values {
        return partition_prefix(one);
    }
    let mut bytes = Vec::new();
    for v in values {
        encode_sort_key(v, &mut bytes);
    }
    let mut out = Vec::with_capacity(12 + bytes.len());
    out.extend_from_slice(&partition_hash(&bytes).to_be_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// The full storage key of a primary key.
pub fn primary_key(pk: &AttributeValue, sk: Option<&AttributeValue>) -> Vec<u8> {
    let mut out = partition_prefix(pk);
    if let Some(sk) = sk {
        encode_sort_key(sk, &mut out);
    }
    out
}

/// Appends the order-preserving, self-delimiting encoding of a sort key value.
pub fn encode_sort_key(v: &AttributeValue, out: &mut Vec<u8>) {
    match v {
        AttributeValue::S(s) => escaped(s.as_bytes(), out, true),
        AttributeValue::B(b) => escaped(b, out, true),
        AttributeValue::N(n) => encode_number(n, out),
        _ => {}
    }
}

/// The prefix of every sort key that begins with `prefix` (for `begins_with`).
pub fn sort_key_prefix(v: &AttributeValue, out: &mut Vec<u8>) {
    match v {
        AttributeValue::S(s) => escaped(s.as_bytes(), out, false),
        AttributeValue::B(b) => escaped(b, out, false),
        _ => {}
    }
}

/// `0x00` becomes `0x00 0xFF`; the end is `0x00 0x01`, below any continuation.
fn escaped(bytes: &[u8], out: &mut Vec<u8>, terminate: bool) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    if terminate {
        out.extend_from_slice(&[0x00, 0x01]);
    }
}

/// Zero is `0x80`; a positive number is `0x81`, its biased exponent and its digits (1..=10)
/// ended by `0x00`; a negative one is `0x7F` and the complement of the same bytes, so that a
/// larger magnitude sorts lower.
fn encode_number(n: &Number, out: &mut Vec<u8>) {
    if n.is_zero() {
        out.push(0x80);
        return;
    }
    let mut body = Vec::with_capacity(3 + n.digits().len());
    let biased = (n.exponent() + 0x4000) as u16;
    body.extend_from_slice(&biased.to_be_bytes());
    body.extend(n.digits().bytes().map(|c| c - b'0' + 1));
    body.push(0x00);
    if n.is_negative() {
        out.push(0x7F);
        out.extend(body.iter().map(|b| !b));
    } else {
        out.push(0x81);
        out.extend_from_slice(&body);
    }
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The first byte of an item stored in its answer form: `WITH_ANSWER`, the item's size, the
/// answer's length (four bytes, little-endian) and the answer, which must end the bytes
/// exactly, so a cut anywhere is seen. An item in the compact form starts with its attribute
/// count, which is never zero (an item holds its key), so the two never meet.
const WITH_ANSWER: u8 = 0;

/// Serialises an item as a table stores it: in its answer form.
pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.push(WITH_ANSWER);
    write_len(item_size(item), &mut out);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    answer::item(item, &mut out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out
}

/// Serialises an item in the compact form (stream records keep their images so).
pub fn encode_compact(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_len(item.len(), &mut out);
    for (k, v) in item {
        write_bytes(k.as_bytes(), &mut out);
        encode_value(v, &mut out);
    }
    out
}

/// A stored item: its answer form and size, or its compact form.
enum Stored<'a> {
    Answer(&'a [u8], usize),
    Compact(&'a [u8]),
}

fn stored(bytes: &[u8]) -> Result<Stored<'_>, String> {
    if bytes.first() != Some(&WITH_ANSWER) {
        return Ok(Stored::Compact(bytes));
    }
    let mut r = Reader { bytes, pos: 1 };
    let size = r.len()?;
    let len = bytes
        .get(r.pos..r.pos + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or("truncated item")? as usize;
    let answer = bytes.get(r.pos + 4..).ok_or("truncated item")?;
    match answer.len().cmp(&len) {
        std::cmp::Ordering::Less => Err("truncated item".into()),
        std::cmp::Ordering::Greater => Err("trailing bytes after the item".into()),
        std::cmp::Ordering::Equal => Ok(Stored::Answer(answer, size)),
    }
}

fn write_len(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_bytes(b: &[u8], out: &mut Vec<u8>) {
    write_len(b.len(), out);
    out.extend_from_slice(b);
}

fn encode_value(v: &AttributeValue, out: &mut Vec<u8>) {
    match v {
        AttributeValue::S(s) => {
            out.push(0);
            write_bytes(s.as_bytes(), out);
        }
        AttributeValue::N(n) => {
            out.push(1);
            write_bytes(n.to_string().as_bytes(), out);
        }
        AttributeValue::B(b) => {
            out.push(2);
            write_bytes(b, out);
        }
        AttributeValue::Bool(false) => out.push(3),
        AttributeValue::Bool(true) => out.push(4),
        AttributeValue::Null => out.push(5),
        AttributeValue::M(m) => {
            out.push(6);
            write_len(m.len(), out);
            for (k, v) in m {
                write_bytes(k.as_bytes(), out);
                encode_value(v, out);
            }
        }
        AttributeValue::L(l) => {
            out.push(7);
            write_len(l.len(), out);
            for v in l {
                encode_value(v, out);
            }
        }
        AttributeValue::Ss(v) => {
            out.push(8);
            write_len(v.len(), out);
            for s in v {
                write_bytes(s.as_bytes(), out);
            }
        }
        AttributeValue::Ns(v) => {
            out.push(9);
            write_len(v.len(), out);
            for n in v {
                write_bytes(n.to_string().as_bytes(), out);
            }
        }
        AttributeValue::Bs(v) => {
            out.push(10);
            write_len(v.len(), out);
            for b in v {
                write_bytes(b, out);
            }
        }
    }
}

/// Deserialises an item; `Err` names what did not decode.
pub fn decode_item(bytes: &[u8]) -> Result<Item, String> {
    let bytes = match stored(bytes)? {
        Stored::Answer(answer, _) => {
            let mut r = AnswerReader {
                bytes: answer,
                pos: 0,
            };
            let item = r.item(0)?;
            if r.pos != answer.len() {
                return Err("trailing bytes after the item".into());
            }
            return Ok(item);
        }
        Stored::Compact(bytes) => bytes,
    };
    let mut r = Reader { bytes, pos: 0 };
    let item = r.map(0)?;
    if r.pos != bytes.len() {
        return Err("trailing bytes after the item".into());
    }
    Ok(item)
}

/// One top-level attribute of a stored item, read without building the rest of the item
/// (the TTL sweep reads the expiry attribute of every item of a table).
pub fn stored_attribute(bytes: &[u8], name: &str) -> Result<Option<AttributeValue>, String> {
    match stored(bytes)? {
        Stored::Answer(answer, _) => AnswerReader {
            bytes: answer,
            pos: 0,
        }
        .attribute(name),
        Stored::Compact(_) => Ok(decode_item(bytes)?.remove(name)),
    }
}

/// Writes a stored item's JSON form to `out` without decoding it into an [`Item`]: the text
/// serialising `item_to_json(&decode_item(bytes)?)` gives, byte for byte, and the item's size
/// as `item_size` counts it. An item stored in its answer form is copied; one in the
/// compact form is rendered from it, refusing what [`decode_item`] refuses with the same
/// reasons (`out` then holds part of the item).
pub fn write_item_json(bytes: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
    let bytes = match stored(bytes)? {
        Stored::Answer(answer, size) => {
            out.extend_from_slice(answer);
            return Ok(size);
        }
        Stored::Compact(bytes) => bytes,
    };
    let mut r = Reader { bytes, pos: 0 };
    let (_, size) = r.map_json(0, out)?;
    if r.pos != bytes.len() {
        return Err("trailing bytes after the item".into());
    }
    Ok(size)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or("truncated item")?;
        self.pos += 1;
        Ok(b)
    }

    fn len(&mut self) -> Result<usize, String> {
        // Names, strings and counts are nearly all under 128: one byte.
        let first = self.byte()?;
        if first & 0x80 == 0 {
            return Ok(usize::from(first));
        }
        let mut n = usize::from(first & 0x7F);
        for shift in (7..64).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err("length too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("truncated item")?;
        let all: &'a [u8] = self.bytes;
        let out = &all[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "a string is not UTF-8".to_owned())
    }

    fn number(&mut self) -> Result<Number, String> {
        let s = self.string()?;
        Number::parse(&s).map_err(|e| e.to_string())
    }

    fn map(&mut self, depth: usize) -> Result<Item, String> {
        let n = self.len()?;
        let mut m = Item::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value(depth + 1)?;
            m.insert(k, v);
        }
        Ok(m)
    }

    /// A string's JSON form; returns its length. Plain ASCII (the usual string) is copied
    /// as it is, checked for UTF-8 and for escapes in one scan.
    fn string_json(&mut self, out: &mut Vec<u8>) -> Result<usize, String> {
        let b = self.bytes()?;
        if answer::plain_ascii(b) {
            answer::quoted(b, out);
        } else {
            let s = std::str::from_utf8(b).map_err(|_| "a string is not UTF-8".to_owned())?;
            answer::string(s, out);
        }
        Ok(b.len())
    }

    /// A number's JSON string; returns its size. Numbers are stored in their `Display` form,
    /// copied as they are; any other spelling goes through [`Number`] as decoding does.
    fn number_json(&mut self, out: &mut Vec<u8>) -> Result<usize, String> {
        let text = self.bytes()?;
        out.push(b'"');
        let size = match Number::display_size(text) {
            // Digits, `-` and `.` only: copied as they are.
            Some(size) => {
                out.extend_from_slice(text);
                size
            }
            None => {
                // Refused in the words decoding uses, which reads a number as a string.
                let text =
                    std::str::from_utf8(text).map_err(|_| "a string is not UTF-8".to_owned())?;
                let n = Number::parse(text).map_err(|e| e.to_string())?;
                out.extend_from_slice(n.to_string().as_bytes());
                n.size()
            }
        };
        out.push(b'"');
        Ok(size)
    }

    /// A map's JSON object, as [`Reader::map`] reads it; returns its member count and the sum
    /// of each name's length and its value's size.
    fn map_json(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<(usize, usize), String> {
        let n = self.len()?;
        let mut size = 0;
        out.push(b'{');
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            size += self.string_json(out)?;
            out.push(b':');
            size += self.value_json(depth + 1, out)?;
        }
        out.push(b'}');
        Ok((n, size))
    }

    /// A value's JSON form, as [`Reader::value`] reads it; returns its size.
    fn value_json(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<usize, String> {
        if depth > 64 {
            return Err("nesting too deep".into());
        }
        // Each set or list element after the first is preceded by a comma.
        let comma = |i: usize, out: &mut Vec<u8>| {
            if i > 0 {
                out.push(b',');
            }
        };
        let size = match self.byte()? {
            0 => {
                out.extend_from_slice(b"{\"S\":");
                self.string_json(out)?
            }
            1 => {
                out.extend_from_slice(b"{\"N\":");
                self.number_json(out)?
            }
            2 => {
                let b = self.bytes()?;
                out.extend_from_slice(b"{\"B\":");
                answer::base64(b, out);
                b.len()
            }
            3 => {
                out.extend_from_slice(b"{\"BOOL\":false");
                1
            }
            4 => {
                out.extend_from_slice(b"{\"BOOL\":true");
                1
            }
            5 => {
                out.extend_from_slice(b"{\"NULL\":true");
                1
            }
            6 => {
                out.extend_from_slice(b"{\"M\":");
                let (n, size) = self.map_json(depth, out)?;
                // Each member adds a byte to its name's length (`AttributeValue::size`).
                3 + size + n
            }
            7 => {
                let n = self.len()?;
                out.extend_from_slice(b"{\"L\":[");
                let mut size = 3 + n;
                for i in 0..n {
                    comma(i, out);
                    size += self.value_json(depth + 1, out)?;
                }
                out.push(b']');
                size
            }
            8 => {
                let n = self.len()?;
                out.extend_from_slice(b"{\"SS\":[");
                let mut size = 0;
                for i in 0..n {
                    comma(i, out);
                    size += self.string_json(out)?;
                }
                out.push(b']');
                size
            }
            9 => {
                let n = self.len()?;
                out.extend_from_slice(b"{\"NS\":[");
                let mut size = 0;
                for i in 0..n {
                    comma(i, out);
                    size += self.number_json(out)?;
                }
                out.push(b']');
                size
            }
            10 => {
                let n = self.len()?;
                out.extend_from_slice(b"{\"BS\":[");
                let mut size = 0;
                for i in 0..n {
                    comma(i, out);
                    let b = self.bytes()?;
                    answer::base64(b, out);
                    size += b.len();
                }
                out.push(b']');
                size
            }
            t => return Err(format!("unknown value tag {t}")),
        };
        out.push(b'}');
        Ok(size)
    }

    fn value(&mut self, depth: usize) -> Result<AttributeValue, String> {
        if depth > 64 {
            return Err("nesting too deep".into());
        }
        Ok(match self.byte()? {
            0 => AttributeValue::S(self.string()?),
            1 => AttributeValue::N(self.number()?),
            2 => AttributeValue::B(self.bytes()?.to_vec()),
            3 => AttributeValue::Bool(false),
            4 => AttributeValue::Bool(true),
            5 => AttributeValue::Null,
            6 => AttributeValue::M(self.map(depth)?),
            7 => {
                let n = self.len()?;
                let mut l = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    l.push(self.value(depth + 1)?);
                }
                AttributeValue::L(l)
            }
            8 => {
                let n = self.len()?;
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    v.push(self.string()?);
                }
                AttributeValue::Ss(v)
            }
            9 => {
                let n = self.len()?;
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    v.push(self.number()?);
                }
                AttributeValue::Ns(v)
            }
            10 => {
                let n = self.len()?;
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    v.push(self.bytes()?.to_vec());
                }
                AttributeValue::Bs(v)
            }
            t => return Err(format!("unknown value tag {t}")),
        })
    }
}

/// Reads an item back from its answer form: only the spelling [`answer::item`] writes (no
/// whitespace, members and tags as it writes them); anything else is refused as corrupt.
struct AnswerReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> AnswerReader<'a> {
    fn truncated() -> String {
        "truncated item".into()
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or_else(Self::truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn expect(&mut self, text: &[u8]) -> Result<(), String> {
        if self.bytes.get(self.pos..self.pos + text.len()) != Some(text) {
            return Err(format!(
                "expected `{}` at byte {} of the item",
                String::from_utf8_lossy(text),
                self.pos
            ));
        }
        self.pos += text.len();
        Ok(())
    }

    /// A JSON string's raw text, quotes excluded, and whether it holds escapes.
    fn raw_string(&mut self) -> Result<(&'a [u8], bool), String> {
        self.expect(b"\"")?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.byte()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.byte()?;
                }
                _ => {}
            }
        }
        let all: &'a [u8] = self.bytes;
        Ok((&all[start..self.pos - 1], escaped))
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.pos;
        let (raw, escaped) = self.raw_string()?;
        if escaped {
            // Rare (quotes, backslashes, control characters): serde_json unescapes the
            // string as it escaped it.
            return serde_json::from_slice(&self.bytes[start..self.pos])
                .map_err(|_| "a string is not valid JSON".to_owned());
        }
        String::from_utf8(raw.to_vec()).map_err(|_| "a string is not UTF-8".to_owned())
    }

    fn number(&mut self) -> Result<Number, String> {
        let (raw, _) = self.raw_string()?;
        let text = std::str::from_utf8(raw).map_err(|_| "a number is not UTF-8".to_owned())?;
        Number::parse(text).map_err(|e| e.to_string())
    }

    fn binary(&mut self) -> Result<Vec<u8>, String> {
        use base64::Engine as _;
        let (raw, _) = self.raw_string()?;
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| "a binary is not base64".to_owned())
    }

    /// `open e,... close` (or an empty one), each element read by `f`; `what` names the
    /// container in the error.
    fn sequence(
        &mut self,
        (open, close): (u8, u8),
        what: &str,
        mut f: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        self.expect(&[open])?;
        if self.bytes.get(self.pos) == Some(&close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            f(self)?;
            match self.byte()? {
                b',' => {}
                b if b == close => return Ok(()),
                _ => return Err(format!("malformed {what} in the item")),
            }
        }
    }

    /// `[e,...]`, each element read by `f`.
    fn array<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let mut out = Vec::new();
        self.sequence((b'[', b']'), "list", |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn item(&mut self, depth: usize) -> Result<Item, String> {
        let mut m = Item::new();
        self.sequence((b'{', b'}'), "map", |r| {
            let k = r.string()?;
            r.expect(b":")?;
            let v = r.value(depth + 1)?;
            m.insert(k, v);
            Ok(())
        })?;
        Ok(m)
    }

    fn boolean(&mut self) -> Result<bool, String> {
        if self.bytes[self.pos..].starts_with(b"true") {
            self.pos += 4;
            return Ok(true);
        }
        self.expect(b"false")?;
        Ok(false)
    }

    /// The value of the top-level member `name`, the others passed over unread.
    fn attribute(&mut self, name: &str) -> Result<Option<AttributeValue>, String> {
        self.expect(b"{")?;
        if self.bytes.get(self.pos) == Some(&b'}') {
            return Ok(None);
        }
        loop {
            let start = self.pos;
            let (raw, escaped) = self.raw_string()?;
            let found = if escaped {
                serde_json::from_slice::<String>(&self.bytes[start..self.pos])
                    .map_err(|_| "a string is not valid JSON".to_owned())?
                    == name
            } else {
                raw == name.as_bytes()
            };
            self.expect(b":")?;
            if found {
                return self.value(1).map(Some);
            }
            self.skip_value(1)?;
            match self.byte()? {
                b',' => {}
                b'}' => return Ok(None),
                _ => return Err("malformed map in the item".into()),
            }
        }
    }

    /// Passes over a value, checking its shape but building nothing.
    fn skip_value(&mut self, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err("nesting too deep".into());
        }
        self.expect(b"{")?;
        let (tag, _) = self.raw_string()?;
        self.expect(b":")?;
        match tag {
            b"S" | b"N" | b"B" => {
                self.raw_string()?;
            }
            b"BOOL" => {
                self.boolean()?;
            }
            b"NULL" => self.expect(b"true")?,
            b"M" => self.sequence((b'{', b'}'), "map", |r| {
                r.raw_string()?;
                r.expect(b":")?;
                r.skip_value(depth + 1)
            })?,
            b"L" => self.sequence((b'[', b']'), "list", |r| r.skip_value(depth + 1))?,
            b"SS" | b"NS" | b"BS" => {
                self.sequence((b'[', b']'), "list", |r| r.raw_string().map(drop))?;
            }
            other => {
                return Err(format!(
                    "unknown value tag {}",
                    String::from_utf8_lossy(other)
                ));
            }
        }
        self.expect(b"}")
    }

    fn value(&mut self, depth: usize) -> Result<AttributeValue, String> {
        if depth > 64 {
            return Err("nesting too deep".into());
        }
        self.expect(b"{")?;
        let (tag, _) = self.raw_string()?;
        self.expect(b":")?;
        let v = match tag {
            b"S" => AttributeValue::S(self.string()?),
            b"N" => AttributeValue::N(self.number()?),
            b"B" => AttributeValue::B(self.binary()?),
            b"BOOL" => AttributeValue::Bool(self.boolean()?),
            b"NULL" => {
                self.expect(b"true")?;
                AttributeValue::Null
            }
            b"M" => AttributeValue::M(self.item(depth)?),
            b"L" => AttributeValue::L(self.array(|r| r.value(depth + 1))?),
            b"SS" => AttributeValue::Ss(self.array(Self::string)?),
            b"NS" => AttributeValue::Ns(self.array(Self::number)?),
            b"BS" => AttributeValue::Bs(self.array(Self::binary)?),
            other => {
                return Err(format!(
                    "unknown value tag {}",
                    String::from_utf8_lossy(other)
                ));
            }
        };
        self.expect(b"}")?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::{item_size, item_to_json};
    use super::*;
    use proptest::prelude::*;

    fn num(s: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(s).unwrap())
    }

    fn sk(v: &AttributeValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_sort_key(v, &mut out);
        out
    }

    #[test]
    fn number_sort_keys_sort_numerically() {
        let ordered = [
            "-1000", "-99.5", "-1", "-0.001", "0", "0.001", "0.0011", "1", "9", "10", "1e100",
        ];
        for pair in ordered.windows(2) {
            assert!(
                sk(&num(pair[0])) < sk(&num(pair[1])),
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn string_sort_keys_are_bytewise_and_self_delimiting() {
        let ordered = ["", "a", "a\0", "a\0b", "ab", "b"];
        for pair in ordered.windows(2) {
            let a = sk(&AttributeValue::S(pair[0].into()));
            let b = sk(&AttributeValue::S(pair[1].into()));
            assert!(a < b, "{:?} < {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn one_hash_attribute_keeps_the_partition_layout_indexes_already_use() {
        let v = AttributeValue::S("tenant".into());
        assert_eq!(composite_partition_prefix(&[&v]), partition_prefix(&v));
    }

    #[test]
    fn several_hash_attributes_never_share_a_partition_by_concatenation() {
        let (a, bc) = (
            AttributeValue::S("a".into()),
            AttributeValue::S("bc".into()),
        );
        let (ab, c) = (
            AttributeValue::S("ab".into()),
            AttributeValue::S("c".into()),
        );
        assert_ne!(
            composite_partition_prefix(&[&a, &bc]),
            composite_partition_prefix(&[&ab, &c])
        );
    }

    proptest! {
        #[test]
        fn composite_sort_keys_order_as_tuples(
            a in ".{0,4}", b in -1e6f64..1e6, c in ".{0,4}", d in -1e6f64..1e6,
        ) {
            let (x, y) = (Number::parse(&format!("{b}")).unwrap(), Number::parse(&format!("{d}")).unwrap());
            let mut left = sk(&AttributeValue::S(a.clone()));
            left.extend(sk(&AttributeValue::N(x.clone())));
            let mut right = sk(&AttributeValue::S(c.clone()));
            right.extend(sk(&AttributeValue::N(y.clone())));
            let expected = a.as_bytes().cmp(c.as_bytes()).then(x.cmp(&y));
            prop_assert_eq!(left.cmp(&right), expected);
        }
    }

    proptest! {
        #[test]
        fn numbers_order_like_their_values(a in -1e9f64..1e9, b in -1e9f64..1e9) {
            let (x, y) = (Number::parse(&format!("{a}")).unwrap(), Number::parse(&format!("{b}")).unwrap());
            let (ex, ey) = (sk(&AttributeValue::N(x.clone())), sk(&AttributeValue::N(y.clone())));
            prop_assert_eq!(ex.cmp(&ey), x.cmp(&y));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_item(&bytes);
        }
    }

    proptest! {
        #[test]
        fn a_stored_item_is_written_as_its_decoded_tree(
            item in super::super::answer::tests::any_item(),
        ) {
            let stored = encode_item(&item);
            let mut text = Vec::new();
            let size = write_item_json(&stored, &mut text).unwrap();
            let tree = serde_json::to_vec(&item_to_json(&decode_item(&stored).unwrap())).unwrap();
            prop_assert_eq!(String::from_utf8(text).unwrap(), String::from_utf8(tree).unwrap());
            prop_assert_eq!(size, item_size(&item));
        }

        #[test]
        fn writing_arbitrary_bytes_refuses_what_decoding_refuses(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            // The compact form alone (an answer form is copied, not checked: see below).
            prop_assume!(bytes.first() != Some(&WITH_ANSWER));
            // Bytes that decode may still hold what `encode_item` never writes (names out of
            // order, twice), so only the verdict and the reason are compared.
            let written = write_item_json(&bytes, &mut Vec::new());
            match decode_item(&bytes) {
                Ok(_) => prop_assert!(written.is_ok()),
                Err(reason) => prop_assert_eq!(written, Err(reason)),
            }
        }
    }

    proptest! {
        #[test]
        fn an_item_stored_in_its_answer_form_reads_back_as_it_was(
            item in super::super::answer::tests::any_item(),
        ) {
            prop_assert_eq!(decode_item(&encode_item(&item)).unwrap(), item);
        }

        #[test]
        fn one_attribute_reads_as_it_does_in_the_whole_item(
            item in super::super::answer::tests::any_item(),
            other in "\\PC{1,8}",
        ) {
            prop_assume!(!item.is_empty());
            let (stored, compact) = (encode_item(&item), encode_compact(&item));
            for name in item.keys().chain(std::iter::once(&other)) {
                prop_assert_eq!(&stored_attribute(&stored, name).unwrap(), &item.get(name).cloned());
                prop_assert_eq!(&stored_attribute(&compact, name).unwrap(), &item.get(name).cloned());
            }
        }

        #[test]
        fn an_item_stored_in_its_answer_form_and_cut_anywhere_is_refused(
            item in super::super::answer::tests::any_item(),
            cut in any::<prop::sample::Index>(),
        ) {
            let stored = encode_item(&item);
            let cut = &stored[..cut.index(stored.len())];
            prop_assert!(decode_item(cut).is_err());
            prop_assert!(write_item_json(cut, &mut Vec::new()).is_err());
            let mut longer = stored.clone();
            longer.push(b'}');
            prop_assert!(decode_item(&longer).is_err());
            prop_assert!(write_item_json(&longer, &mut Vec::new()).is_err());
        }

        #[test]
        fn reading_an_arbitrary_answer_form_never_panics(
            text in proptest::collection::vec(
                prop_oneof![
                    Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b'"'), Just(b':'),
                    Just(b','), Just(b'\\'), Just(b'S'), Just(b'N'), Just(b'L'), Just(b'M'),
                    any::<u8>(),
                ],
                0..48,
            ),
        ) {
            let mut stored = vec![WITH_ANSWER, 1];
            stored.extend_from_slice(&(text.len() as u32).to_le_bytes());
            stored.extend_from_slice(&text);
            let _ = decode_item(&stored);
        }

        #[test]
        fn an_item_in_the_compact_form_reads_as_it_always_did(
            item in super::super::answer::tests::any_item(),
        ) {
            // A stored item always holds its key.
            prop_assume!(!item.is_empty());
            let compact = encode_compact(&item);
            prop_assert_ne!(compact.first(), Some(&WITH_ANSWER));
            prop_assert_eq!(decode_item(&compact).unwrap(), item.clone());
            let (mut from_compact, mut from_stored) = (Vec::new(), Vec::new());
            let size = write_item_json(&compact, &mut from_compact).unwrap();
            prop_assert_eq!(size, write_item_json(&encode_item(&item), &mut from_stored).unwrap());
            prop_assert_eq!(from_compact, from_stored);
        }
    }

    #[test]
    fn a_number_stored_in_another_spelling_is_written_as_decoding_writes_it() {
        // An item as written before numbers were kept normalised would hold `1.50`.
        let mut stored = Vec::new();
        write_len(1, &mut stored);
        write_bytes(b"n", &mut stored);
        stored.push(1);
        write_bytes(b"1.50", &mut stored);
        let mut text = Vec::new();
        let size = write_item_json(&stored, &mut text).unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), r#"{"n":{"N":"1.5"}}"#);
        assert_eq!(size, item_size(&decode_item(&stored).unwrap()));
    }

    #[test]
    fn items_round_trip() {
        let v = serde_json::json!({
            "s": {"S": "x"}, "n": {"N": "-1.5"}, "b": {"B": "AAE="}, "t": {"BOOL": true},
            "z": {"NULL": true}, "l": {"L": [{"S": "a"}, {"M": {"k": {"BOOL": false}}}]},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": ["AA=="]}
        });
        let item = super::super::types::item_from_json(&v).unwrap();
        assert_eq!(decode_item(&encode_item(&item)).unwrap(), item);
    }
}
