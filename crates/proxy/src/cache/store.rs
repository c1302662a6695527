//! Where stored responses live: a memory tier bounded in bytes and a disk tier under the
//! state directory that survives restarts.
//!
//! The memory tier is a segmented LRU (SLRU): a new object enters the probationary
//! segment; a hit there promotes it to the protected segment (80 % of the budget), whose
//! least recently used objects fall back to probation; eviction takes probation's least
//! recently used first. Objects seen once (a crawler walking the site, a large scan) cycle
//! through probation and never push out the objects that are hit repeatedly, which a
//! plain LRU would lose. Admission is by size: an object above an eighth of the budget is
//! kept on disk only, so one large file cannot flush the hot set.
//!
//! The disk tier writes each object to one file (a temporary file renamed into place, so a
//! reader never sees half a file), with a CRC32 over the whole; a file that is truncated or
//! fails its checksum is deleted, never served. Its index (key, size, invalidation path) is
//! rebuilt at start by reading each file's head; the least recently used files go when the
//! disk budget is exceeded.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::policy::Freshness;
use crate::sealed::SealedFile;

/// A stored response.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The storage key (the request key, plus the selected headers when it varies).
    pub key: String,
    /// The path (and keyed query) invalidations match.
    pub path: String,
    /// Status.
    pub status: StatusCode,
    /// Header fields as stored (hop-by-hop fields and `Age` removed).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The file `body` is mapped from, for large bodies ([`crate::sealed`]): sent to plain
    /// HTTP/1.1 clients with `sendfile(2)`.
    pub file: Option<Arc<SealedFile>>,
    /// When it was received (seconds since the epoch).
    pub response_time: u64,
    /// Its corrected initial age.
    pub initial_age: u64,
    /// How it may be reused.
    pub freshness: Freshness,
    /// The request fields it varies on (lowercase; empty: none).
    pub vary: Vec<HeaderName>,
}

impl Entry {
    /// This entry with a large body moved into a sealed file, as the memory tier keeps it.
    #[must_use]
    pub fn sealed(self) -> Entry {
        if self.file.is_some() {
            return self;
        }
        let (body, file) = crate::sealed::seal(self.body);
        Entry { body, file, ..self }
    }

    /// Its current age (RFC 9111 §4.2.3).
    pub fn age(&self, now: u64) -> u64 {
        self.initial_age
            .saturating_add(now.saturating_sub(self.response_time))
    }

    /// Whether it is fresh at `now`.
    pub fn fresh(&self, now: u64) -> bool {
        !self.freshness.no_cache && self.age(now) < self.freshness.lifetime
    }

    /// Seconds it has been stale at `now` (0 while fresh).
    pub fn staleness(&self, now: u64) -> u64 {
        self.age(now).saturating_sub(self.freshness.lifetime)
    }

    /// Bytes it holds, as the budgets count them.
    pub fn weight(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        (self.body.len() + headers + self.key.len() + self.path.len() + 128) as u64
    }
}

/// What the tiers have done, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TierStats {
    /// Objects held.
    pub objects: u64,
    /// Bytes held.
    pub bytes: u64,
    /// Objects evicted for space.
    pub evictions: u64,
}

/// The memory tier.
#[derive(Debug)]
pub struct Memory {
    inner: Mutex<Slru>,
}

#[derive(Debug)]
struct Slot {
    name: Arc<str>,
    entry: Arc<Entry>,
    stamp: u64,
    protected: bool,
    weight: u64,
}

#[derive(Debug, Default)]
struct Slru {
    map: HashMap<Arc<str>, Slot>,
    probation: BTreeMap<u64, Arc<str>>,
    protected: BTreeMap<u64, Arc<str>>,
    tick: u64,
    probation_bytes: u64,
    protected_bytes: u64,
    budget: u64,
    evictions: u64,
}

impl Memory {
    /// A memory tier of `budget` bytes.
    pub fn new(budget: u64) -> Memory {
        Memory {
            inner: Mutex::new(Slru {
                budget,
                ..Slru::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slru> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The object stored under `key`; a hit counts for its recency.
    ///
    /// A hit on a protected object in the newer half of its segment leaves the order as
    /// it is: that object is far from eviction either way, and the hottest objects (hit
    /// again and again) then cost a hash lookup and no reordering.
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let mut s = self.lock();
        let Slru {
            map,
            probation,
            protected,
            probation_bytes,
            protected_bytes,
            tick,
            ..
        } = &mut *s;
        let slot = map.get_mut(key)?;
        let entry = slot.entry.clone();
        if slot.protected {
            let oldest = protected.first_key_value().map_or(0, |(k, _)| *k);
            if slot.stamp >= oldest + (*tick - oldest) / 2 {
                return Some(entry);
            }
        }
        *tick += 1;
        let tick = *tick;
        let name = slot.name.clone();
        if slot.protected {
            protected.remove(&slot.stamp);
        } else {
            probation.remove(&slot.stamp);
            *probation_bytes -= slot.weight;
            *protected_bytes += slot.weight;
            slot.protected = true;
        }
        slot.stamp = tick;
        protected.insert(tick, name);
        s.rebalance();
        Some(entry)
    }

    /// Stores `entry` (replacing what its key held), unless it is too large to admit.
    pub fn insert(&self, entry: Arc<Entry>) -> bool {
        let weight = entry.weight();
        let mut s = self.lock();
        s.remove(&entry.key);
        if weight > s.budget / 8 {
            return false;
        }
        s.tick += 1;
        let tick = s.tick;
        let name: Arc<str> = Arc::from(entry.key.as_str());
        s.probation.insert(tick, name.clone());
        s.probation_bytes += weight;
        s.map.insert(
            name.clone(),
            Slot {
                name,
                entry,
                stamp: tick,
                protected: false,
                weight,
            },
        );
        s.evict();
        true
    }

    /// Drops what `key` holds.
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Drops every object whose invalidation path matches; returns how many.
    pub fn retain(&self, mut drop: impl FnMut(&Entry) -> bool) -> usize {
        let mut s = self.lock();
        let keys: Vec<Arc<str>> = s
            .map
            .iter()
            .filter(|(_, slot)| drop(&slot.entry))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            s.remove(k);
        }
        keys.len()
    }

    /// Objects, bytes, evictions.
    pub fn stats(&self) -> TierStats {
        let s = self.lock();
        TierStats {
            objects: s.map.len() as u64,
            bytes: s.probation_bytes + s.protected_bytes,
            evictions: s.evictions,
        }
    }
}

impl Slru {
    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.map.remove(key) {
            if slot.protected {
                self.protected.remove(&slot.stamp);
                self.protected_bytes -= slot.weight;
            } else {
                self.probation.remove(&slot.stamp);
                self.probation_bytes -= slot.weight;
            }
        }
    }

    /// Moves the protected segment's least recently used objects to probation while it is
    /// above its share.
    fn rebalance(&mut self) {
        let share = self.budget / 5 * 4;
        while self.protected_bytes > share {
            let Some((_, name)) = self.protected.pop_first() else {
                break;
            };
            self.tick += 1;
            let tick = self.tick;
            if let Some(slot) = self.map.get_mut(&name) {
                slot.protected = false;
                slot.stamp = tick;
                self.protected_bytes -= slot.weight;
                self.probation_bytes += slot.weight;
                self.probation.insert(tick, name);
            }
        }
        self.evict();
    }

    fn evict(&mut self) {
        while self.probation_bytes + self.protected_bytes > self.budget {
            let victim = self
                .probation
                .first_key_value()
                .or_else(|| self.protected.first_key_value())
                .map(|(_, k)| k.clone());
            let Some(k) = victim else { break };
            self.remove(&k);
            self.evictions += 1;
        }
    }
}

/// The disk tier.
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    index: Mutex<DiskIndex>,
}

#[derive(Debug, Default)]
struct DiskIndex {
    files: HashMap<u64, DiskSlot>,
    order: BTreeMap<u64, u64>,
    tick: u64,
    bytes: u64,
    budget: u64,
    evictions: u64,
}

#[derive(Debug)]
struct DiskSlot {
    size: u64,
    stamp: u64,
    path: String,
}

const MAGIC: &[u8; 8] = b"MRDCACH1";

/// FNV-1a: file names from keys (the key itself is in the file and compared on read).
fn hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Disk {
    /// Opens (creating) the tier in `dir` with a budget of `budget` bytes, indexing the
    /// files a previous run left; unreadable ones are deleted.
    pub fn open(dir: &Path, budget: u64) -> std::io::Result<Disk> {
        std::fs::create_dir_all(dir)?;
        let mut found: Vec<(std::time::SystemTime, u64, DiskSlot)> = Vec::new();
        for sub in std::fs::read_dir(dir)? {
            let sub = sub?.path();
            if !sub.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&sub)? {
                let f = f?.path();
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Ok(h) = u64::from_str_radix(name, 16) else {
                    // Leftover temporary files of an interrupted write.
                    let _ = std::fs::remove_file(&f);
                    continue;
                };
                match read_file(&f) {
                    Ok(e) if hash(&e.key) == h => {
                        let meta = std::fs::metadata(&f)?;
                        let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                        found.push((
                            mtime,
                            h,
                            DiskSlot {
                                size: meta.len(),
                                stamp: 0,
                                path: e.path,
                            },
                        ));
                    }
                    _ => {
                        let _ = std::fs::remove_file(&f);
                    }
                }
            }
        }
        found.sort_by_key(|(t, _, _)| *t);
        let mut index = DiskIndex {
            budget,
            ..DiskIndex::default()
        };
        for (_, h, mut slot) in found {
            index.tick += 1;
            slot.stamp = index.tick;
            index.bytes += slot.size;
            index.order.insert(index.tick, h);
            index.files.insert(h, slot);
        }
        let disk = Disk {
            dir: dir.to_owned(),
            index: Mutex::new(index),
        };
        disk.evict();
        Ok(disk)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiskIndex> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn file(&self, h: u64) -> PathBuf {
        self.dir
            .join(format!("{:02x}", h >> 56))
            .join(format!("{h:016x}"))
    }

    /// The object stored under `key`, read and checked (blocking: call off the runtime).
    pub fn get(&self, key: &str) -> Option<Entry> {
        let h = hash(key);
        {
            let mut idx = self.lock();
            idx.tick += 1;
            let tick = idx.tick;
            let slot = idx.files.get_mut(&h)?;
            let old = std::mem::replace(&mut slot.stamp, tick);
            idx.order.remove(&old);
            idx.order.insert(tick, h);
        }
        match read_file(&self.file(h)) {
            Ok(e) if e.key == key => Some(e),
            Ok(_) => None,
            Err(_) => {
                // Truncated or corrupted: dropped, never served.
                self.forget(h);
                None
            }
        }
    }

    /// Writes `entry` (blocking: call off the runtime).
    pub fn put(&self, entry: &Entry) -> std::io::Result<()> {
        let h = hash(&entry.key);
        let path = self.file(h);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes = encode(entry);
        let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        {
            let mut idx = self.lock();
            idx.tick += 1;
            let tick = idx.tick;
            if let Some(old) = idx.files.remove(&h) {
                idx.order.remove(&old.stamp);
                idx.bytes -= old.size;
            }
            idx.bytes += bytes.len() as u64;
            idx.order.insert(tick, h);
            idx.files.insert(
                h,
                DiskSlot {
                    size: bytes.len() as u64,
                    stamp: tick,
                    path: entry.path.clone(),
                },
            );
        }
        self.evict();
        Ok(())
    }

    /// Deletes what `key` holds.
    pub fn remove(&self, key: &str) {
        self.forget(hash(key));
    }

    fn forget(&self, h: u64) {
        let removed = {
            let mut idx = self.lock();
            idx.files.remove(&h).map(|old| {
                idx.order.remove(&old.stamp);
                idx.bytes -= old.size;
            })
        };
        if removed.is_some() {
            let _ = std::fs::remove_file(self.file(h));
        }
    }

    /// Deletes every object whose invalidation path `drop` matches; returns how many.
    pub fn retain(&self, mut drop: impl FnMut(&str) -> bool) -> usize {
        let doomed: Vec<u64> = self
            .lock()
            .files
            .iter()
            .filter(|(_, s)| drop(&s.path))
            .map(|(h, _)| *h)
            .collect();
        for h in &doomed {
            self.forget(*h);
        }
        doomed.len()
    }

    fn evict(&self) {
        loop {
            let victim = {
                let mut idx = self.lock();
                if idx.bytes <= idx.budget {
                    return;
                }
                let Some((_, h)) = idx.order.pop_first() else {
                    return;
                };
                if let Some(old) = idx.files.remove(&h) {
                    idx.bytes -= old.size;
                }
                idx.evictions += 1;
                h
            };
            let _ = std::fs::remove_file(self.file(victim));
        }
    }

    /// Objects, bytes, evictions.
    pub fn stats(&self) -> TierStats {
        let idx = self.lock();
        TierStats {
            objects: idx.files.len() as u64,
            bytes: idx.bytes,
            evictions: idx.evictions,
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// The file format: magic, the fields length-prefixed, the body, then a CRC32 of all that
/// precedes it.
fn encode(e: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(e.body.len() + 512);
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, e.key.as_bytes());
    put_bytes(&mut out, e.path.as_bytes());
    out.extend_from_slice(&e.status.as_u16().to_le_bytes());
    for n in [
        e.response_time,
        e.initial_age,
        e.freshness.lifetime,
        e.freshness.stale_while_revalidate,
        e.freshness.stale_if_error.unwrap_or(u64::MAX),
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.push(u8::from(e.freshness.no_cache) | (u8::from(e.freshness.must_revalidate) << 1));
    out.extend_from_slice(&(e.vary.len() as u32).to_le_bytes());
    for v in &e.vary {
        put_bytes(&mut out, v.as_str().as_bytes());
    }
    out.extend_from_slice(&(e.headers.len() as u32).to_le_bytes());
    for (n, v) in &e.headers {
        put_bytes(&mut out, n.as_str().as_bytes());
        put_bytes(&mut out, v.as_bytes());
    }
    put_bytes(&mut out, &e.body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[derive(Debug)]
struct Corrupt;

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        if self.b.len() < n {
            return Err(Corrupt);
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, Corrupt> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, Corrupt> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, Corrupt> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| Corrupt)
    }
}

fn read_file(path: &Path) -> Result<Entry, Corrupt> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|_| Corrupt)?;
    decode(&data)
}

fn decode(data: &[u8]) -> Result<Entry, Corrupt> {
    if data.len() < MAGIC.len() + 4 {
        return Err(Corrupt);
    }
    let (content, crc) = data.split_at(data.len() - 4);
    if crc32fast::hash(content).to_le_bytes() != crc {
        return Err(Corrupt);
    }
    let mut r = Reader { b: content };
    if r.take(MAGIC.len())? != MAGIC {
        return Err(Corrupt);
    }
    let key = r.string()?;
    let path = r.string()?;
    let status_bytes = r.take(2)?;
    let status = StatusCode::from_u16(u16::from_le_bytes([status_bytes[0], status_bytes[1]]))
        .map_err(|_| Corrupt)?;
    let response_time = r.u64()?;
    let initial_age = r.u64()?;
    let lifetime = r.u64()?;
    let swr = r.u64()?;
    let sie = r.u64()?;
    let flags = r.take(1)?[0];
    let mut vary = Vec::new();
    for _ in 0..r.u32()? {
        vary.push(HeaderName::from_bytes(r.bytes()?).map_err(|_| Corrupt)?);
    }
    let mut headers = HeaderMap::new();
    for _ in 0..r.u32()? {
        let n = HeaderName::from_bytes(r.bytes()?).map_err(|_| Corrupt)?;
        let v = HeaderValue::from_bytes(r.bytes()?).map_err(|_| Corrupt)?;
        headers.append(n, v);
    }
    let body = Bytes::copy_from_slice(r.bytes()?);
    if !r.b.is_empty() {
        return Err(Corrupt);
    }
    Ok(Entry {
        key,
        path,
        status,
        headers,
        body,
        file: None,
        response_time,
        initial_age,
        freshness: Freshness {
            lifetime,
            no_cache: flags & 1 != 0,
            must_revalidate: flags & 2 != 0,
            stale_while_revalidate: swr,
            stale_if_error: (sie != u64::MAX).then_some(sie),
        },
        vary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, body_len: usize) -> Entry {
        let mut headers = HeaderMap::new();
        headers.insert("etag", HeaderValue::from_static("\"x\""));
        Entry {
            key: key.to_owned(),
            path: key.to_owned(),
            status: StatusCode::OK,
            headers,
            body: Bytes::from(vec![b'a'; body_len]),
            file: None,
            response_time: 100,
            initial_age: 3,
            freshness: Freshness {
                lifetime: 60,
                no_cache: false,
                must_revalidate: true,
                stale_while_revalidate: 5,
                stale_if_error: None,
            },
            vary: vec![HeaderName::from_static("accept-language")],
        }
    }

    #[test]
    fn memory_budget_is_kept() {
        let m = Memory::new(10_000);
        for i in 0..50 {
            m.insert(Arc::new(entry(&format!("/{i}"), 500)));
        }
        let s = m.stats();
        assert!(s.bytes <= 10_000, "{s:?}");
        assert!(s.evictions > 0);
        assert!(m.get("/49").is_some(), "the newest stays");
        assert!(m.get("/0").is_none(), "the oldest went");
    }

    #[test]
    fn scan_does_not_flush_hot_objects() {
        let m = Memory::new(20_000);
        for i in 0..4 {
            m.insert(Arc::new(entry(&format!("/hot{i}"), 1000)));
            m.get(&format!("/hot{i}"));
        }
        // A scan of objects seen once, four times the budget.
        for i in 0..80 {
            m.insert(Arc::new(entry(&format!("/scan{i}"), 1000)));
        }
        for i in 0..4 {
            assert!(
                m.get(&format!("/hot{i}")).is_some(),
                "hot{i} survived the scan"
            );
        }
    }

    #[test]
    fn large_objects_are_not_admitted() {
        let m = Memory::new(8_000);
        assert!(!m.insert(Arc::new(entry("/big", 2_000))));
        assert!(m.get("/big").is_none());
    }

    #[test]
    fn disk_round_trip_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let d = Disk::open(dir.path(), 1 << 20).unwrap();
        let e = entry("/a", 3000);
        d.put(&e).unwrap();
        drop(d);
        let d = Disk::open(dir.path(), 1 << 20).unwrap();
        let got = d.get("/a").unwrap();
        assert_eq!(got.body, e.body);
        assert_eq!(got.freshness, e.freshness);
        assert_eq!(got.vary, e.vary);
        assert_eq!(got.headers, e.headers);
        assert_eq!(d.stats().objects, 1);
    }

    #[test]
    fn truncated_or_corrupted_files_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let d = Disk::open(dir.path(), 1 << 20).unwrap();
        d.put(&entry("/a", 3000)).unwrap();
        d.put(&entry("/b", 3000)).unwrap();
        let fa = d.file(hash("/a"));
        let len = std::fs::metadata(&fa).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fa)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        assert!(d.get("/a").is_none());
        assert!(!fa.exists(), "the truncated file is deleted");
        let fb = d.file(hash("/b"));
        let mut bytes = std::fs::read(&fb).unwrap();
        bytes[100] ^= 0xff;
        std::fs::write(&fb, bytes).unwrap();
        drop(d);
        let d = Disk::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(d.stats().objects, 0, "a corrupted file is not indexed");
        assert!(d.get("/b").is_none());
    }

    #[test]
    fn disk_budget_and_invalidation() {
        let dir = tempfile::tempdir().unwrap();
        let d = Disk::open(dir.path(), 10_000).unwrap();
        for i in 0..10 {
            d.put(&entry(&format!("/x/{i}"), 2000)).unwrap();
        }
        assert!(d.stats().bytes <= 10_000);
        assert!(d.get("/x/9").is_some());
        assert!(d.retain(|p| p.starts_with("/x/")) > 0);
        assert_eq!(d.stats().objects, 0);
    }
}
