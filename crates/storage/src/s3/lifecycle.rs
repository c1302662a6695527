//! Lifecycle: a bucket's rules (`?lifecycle`) and the background sweep that applies their
//! expirations.
//!
//! The configuration is kept as sent (S3 answers GetBucketLifecycleConfiguration with the
//! rules as put) after validation, with a generated `ID` in each rule sent without one, as S3
//! gives them; the sweep reads the rules it acts on: `Expiration`
//! (`Days` after an object's last modification, or a `Date`) on current objects, which in a
//! versioned bucket adds a delete marker as S3 does, and `NoncurrentVersionExpiration`
//! (`NoncurrentDays` after a version stopped being current), which removes the version.
//! Rules select objects by prefix and tags (`Filter` with `Prefix`, `Tag` or `And`, or the
//! legacy rule-level `Prefix`). Transitions are accepted and stored (there is one storage
//! class here), never acted on. Each bucket's expirations commit in one engine transaction,
//! and files are unlinked after it.

use std::sync::{Arc, Weak};

use http::{Response, StatusCode};
use redb::ReadableTable as _;

use super::api::{self, Body, Ctx};
use super::error::{Code, Error, Result};
use super::notification::{Change, Subject};
use super::store::{self, BUCKETS, OBJECTS, ObjectMeta, VERSIONS, object_key, successor};
use super::xml::{self, Element};
use super::{S3, version};

const DAY_MS: i64 = 86_400_000;

/// How often the sweep runs.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// What one rule expires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rule {
    enabled: bool,
    prefix: String,
    tags: Vec<(String, String)>,
    /// Current objects: days after modification.
    days: Option<i64>,
    /// Current objects: from this instant (Unix ms).
    date: Option<i64>,
    /// Noncurrent versions: days after they stopped being current.
    noncurrent_days: Option<i64>,
}

impl Rule {
    fn selects(&self, key: &str, object: &ObjectMeta) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| object.tags.iter().any(|o| o == t))
    }
}

fn invalid(message: &'static str) -> Error {
    Error::new(Code::InvalidArgument, message)
}

fn positive(e: &Element, name: &str, what: &'static str) -> Result<Option<i64>> {
    match e.text_of(name) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(invalid(what)),
        },
    }
}

fn tag(e: &Element) -> Result<(String, String)> {
    Ok((
        e.text_of("Key")
            .ok_or_else(Error::malformed_xml)?
            .to_owned(),
        e.text_of("Value").unwrap_or("").to_owned(),
    ))
}

/// Parses and validates a `LifecycleConfiguration`.
pub(crate) fn parse(doc: &[u8]) -> Result<Vec<Rule>> {
    let root = xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "LifecycleConfiguration" {
        return Err(Error::malformed_xml());
    }
    let mut rules = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    for r in root.children("Rule") {
        if let Some(id) = r.text_of("ID") {
            if id.len() > 255 {
                return Err(invalid("ID length should not exceed allowed limit of 255"));
            }
            if ids.contains(&id) {
                return Err(invalid(
                    "Rule ID must be unique. Found same ID for more than one rule",
                ));
            }
            ids.push(id);
        }
        let enabled = match r.text_of("Status") {
            Some("Enabled") => true,
            Some("Disabled") => false,
            _ => return Err(Error::malformed_xml()),
        };
        let mut rule = Rule {
            enabled,
            ..Rule::default()
        };
        match (r.child("Filter"), r.text_of("Prefix")) {
            (Some(_), Some(_)) => return Err(Error::malformed_xml()),
            (None, Some(p)) => rule.prefix = p.to_owned(),
            (Some(f), None) => {
                if let Some(p) = f.text_of("Prefix") {
                    rule.prefix = p.to_owned();
                }
                if let Some(t) = f.child("Tag") {
                    rule.tags.push(tag(t)?);
                }
                if let Some(and) = f.child("And") {
                    if let Some(p) = and.text_of("Prefix") {
                        rule.prefix = p.to_owned();
                    }
                    for t in and.children("Tag") {
                        rule.tags.push(tag(t)?);
                    }
                }
            }
            (None, None) => {}
        }
        if let Some(e) = r.child("Expiration") {
            rule.days = positive(
                e,
                "Days",
                "'Days' for Expiration action must be a positive integer",
            )?;
            if let Some(d) = e.text_of("Date") {
                let t =
                    time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| invalid("'Date' must be at midnight GMT"))?;
                if t.time() != time::Time::MIDNIGHT || t.offset() != time::UtcOffset::UTC {
                    return Err(invalid("'Date' must be at midnight GMT"));
                }
                rule.date = Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
            }
            let marker = e.text_of("ExpiredObjectDeleteMarker").is_some();
            if rule.days.is_some() && rule.date.is_some()
                || rule.days.is_none() && rule.date.is_none() && !marker
            {
                return Err(Error::malformed_xml());
            }
        }
        if let Some(n) = r.child("NoncurrentVersionExpiration") {
            rule.noncurrent_days = positive(
                n,
                "NoncurrentDays",
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            )?;
        }
        rules.push(rule);
    }
    if rules.is_empty() || rules.len() > 1000 {
        return Err(Error::malformed_xml());
    }
    Ok(rules)
}

impl S3 {
    /// PutBucketLifecycleConfiguration.
    pub(crate) async fn put_bucket_lifecycle(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 1 << 20).await?;
        inbound.finish()?;
        parse(&doc)?;
        let text = String::from_utf8(doc).map_err(|_| Error::malformed_xml())?;
        let text = with_rule_ids(&text, generated_id);
        self.update_bucket(bucket, move |meta| {
            meta.lifecycle = Some(text);
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::OK))
    }

    /// GetBucketLifecycleConfiguration: the rules as put, with the ids S3 gives rules put
    /// without one.
    pub(crate) async fn get_bucket_lifecycle(&self, bucket: &str) -> Result<Response<Body>> {
        match self.bucket_meta(bucket).await?.lifecycle {
            Some(doc) => Ok(api::xml(StatusCode::OK, doc)),
            None => Err(Error::new(
                Code::NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist",
            )
            .with("BucketName", bucket)),
        }
    }

    /// DeleteBucketLifecycle.
    pub(crate) async fn delete_bucket_lifecycle(&self, bucket: &str) -> Result<Response<Body>> {
        self.update_bucket(bucket, |meta| {
            meta.lifecycle = None;
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }

    /// Applies every bucket's expiration rules as of `now` (Unix ms); returns how many
    /// objects and versions expired.
    pub async fn expire(&self, now: i64) -> std::result::Result<usize, crate::engine::EngineError> {
        let buckets = self
            .engine
            .read(|txn| {
                let mut out = Vec::new();
                for e in redb::ReadableTable::iter(&txn.open_table(BUCKETS)?)? {
                    let (k, v) = e?;
                    let meta: store::BucketMeta = store::decode("s3/buckets", v.value())?;
                    if let Some(doc) = &meta.lifecycle
                        && let Ok(rules) = parse(doc.as_bytes())
                    {
                        out.push((k.value().to_owned(), rules));
                    }
                }
                Ok(out)
            })
            .await?;
        let mut expired = 0;
        for (bucket, rules) in buckets {
            let rules: Vec<Rule> = rules.into_iter().filter(|r| r.enabled).collect();
            if rules.is_empty() {
                continue;
            }
            // No request makes these changes: their events name S3 itself.
            let raiser = self.raiser();
            let (n, files) = self
                .engine
                .write(move |txn| {
                    expire_bucket(txn, &raiser, &bucket, &rules, now).map(Ok::<_, ()>)
                })
                .await?
                .unwrap_or_default();
            expired += n;
            self.files.remove(files).await;
        }
        if expired > 0 {
            self.events_changed();
        }
        Ok(expired)
    }

    /// Runs [`S3::expire`] every `every` while the plane lives.
    pub fn spawn_lifecycle(self: &Arc<Self>, every: std::time::Duration) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(s3) = weak.upgrade() else { return };
                if let Err(e) = s3.prune_completed(super::now_ms()).await {
                    tracing::warn!(error = ?e, "cannot forget finished multipart uploads");
                }
                match s3.expire(super::now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "lifecycle rules expired objects"),
                    Err(e) => tracing::warn!(error = %e, "lifecycle sweep failed"),
                }
            }
        });
    }
}

/// Expires what `rules` select in `bucket`; returns the count and the files released.
fn expire_bucket(
    txn: &redb::WriteTransaction,
    raiser: &super::notification::Raiser,
    bucket: &str,
    rules: &[Rule],
    now: i64,
) -> std::result::Result<(usize, Vec<String>), crate::engine::EngineError> {
    let Some(meta) = store::get_bucket(&txn.open_table(BUCKETS)?, bucket)? else {
        return Ok((0, Vec::new()));
    };
    let lower = object_key(bucket, "");
    let upper = successor(&lower).unwrap_or_default();
    let skip = lower.len();
    let mut current = Vec::new();
    {
        let objects = txn.open_table(OBJECTS)?;
        for e in objects.range(lower.as_slice()..upper.as_slice())? {
            let (k, v) = e?;
            let Ok(key) = std::str::from_utf8(&k.value()[skip..]) else {
                continue;
            };
            let o: ObjectMeta = store::decode("s3/objects", v.value())?;
            let due = rules.iter().any(|r| {
                r.selects(key, &o)
                    && (r.days.is_some_and(|d| o.modified + d * DAY_MS <= now)
                        || r.date.is_some_and(|d| d <= now))
            });
            if due {
                current.push(key.to_owned());
            }
        }
    }
    let mut noncurrent = Vec::new();
    if meta.versioning.is_some() && rules.iter().any(|r| r.noncurrent_days.is_some()) {
        let versions = txn.open_table(VERSIONS)?;
        // Rows are newest first under each key: a version became noncurrent when the one
        // before it was made.
        let mut newer: Option<(String, i64)> = None;
        for e in versions.range(lower.as_slice()..upper.as_slice())? {
            let (k, v) = e?;
            let Some((key, _)) = version::split_key(k.value(), bucket.len()) else {
                continue;
            };
            let row: store::VersionRow = store::decode("s3/versions", v.value())?;
            if let Some((nk, since)) = &newer
                && nk == key
                && let Some(o) = &row.object
            {
                let due = rules.iter().any(|r| {
                    r.selects(key, o)
                        && r.noncurrent_days.is_some_and(|d| since + d * DAY_MS <= now)
                });
                // Object Lock keeps a protected version even from its lifecycle rules.
                let locked = super::lock::check_delete(o, false, now).is_err();
                if due && !locked {
                    noncurrent.push((
                        key.to_owned(),
                        row.version_id.clone().unwrap_or_else(|| "null".to_owned()),
                    ));
                }
            }
            newer = Some((key.to_owned(), row.modified));
        }
    }
    let mut files = Vec::new();
    let count = current.len() + noncurrent.len();
    // Each expiry raises S3's `LifecycleExpiration` event: `Delete` when it removed an object
    // or a version, `DeleteMarkerCreated` when it hid a versioned object behind a marker.
    let deletes = noncurrent
        .into_iter()
        .map(|(key, id)| (key, Some(id)))
        .chain(current.into_iter().map(|key| (key, None)));
    for (key, id) in deletes {
        let d = version::delete(txn, &meta, bucket, &key, id.as_deref())?;
        let change = if id.is_none() && d.marker {
            Change::LifecycleDeleteMarkerCreated
        } else {
            Change::LifecycleDelete
        };
        let subject = Subject {
            key: &key,
            object: None,
            version_id: d.version_id.as_deref(),
        };
        raiser.record(txn, bucket, change, subject)?;
        files.extend(d.released);
    }
    Ok((count, files))
}

/// A rule id as S3 generates one for a rule put without (48 characters, base64 of random
/// bytes).
fn generated_id() -> String {
    let bytes: [u8; 36] = rand::random();
    super::checksum::base64(&bytes)
}

/// `doc` with an `<ID>` from `id` in each `<Rule>` that has none, as S3 stores rules.
fn with_rule_ids(doc: &str, mut id: impl FnMut() -> String) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    while let Some(i) = rest.find("<Rule>") {
        let (head, tail) = rest.split_at(i + "<Rule>".len());
        out.push_str(head);
        let end = tail.find("</Rule>").unwrap_or(tail.len());
        if !tail[..end].contains("<ID>") {
            out.push_str("<ID>");
            xml::escape(&id(), &mut out);
            out.push_str("</ID>");
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_put_without_an_id_get_one() {
        let doc = "<LifecycleConfiguration><Rule><Status>Enabled</Status></Rule>\
                   <Rule><ID>kept</ID><Status>Enabled</Status></Rule></LifecycleConfiguration>";
        let mut n = 0;
        let out = with_rule_ids(doc, || {
            n += 1;
            format!("gen{n}")
        });
        assert_eq!(
            out,
            "<LifecycleConfiguration><Rule><ID>gen1</ID><Status>Enabled</Status></Rule>\
             <Rule><ID>kept</ID><Status>Enabled</Status></Rule></LifecycleConfiguration>"
        );
        assert_eq!(generated_id().len(), 48);
        assert_eq!(parse(out.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn rules_are_validated_as_s3_does() {
        let ok = parse(
            br#"<LifecycleConfiguration><Rule><ID>logs</ID><Filter><And><Prefix>logs/</Prefix>
            <Tag><Key>tmp</Key><Value>1</Value></Tag></And></Filter><Status>Enabled</Status>
            <Expiration><Days>30</Days></Expiration>
            <NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays></NoncurrentVersionExpiration>
            </Rule></LifecycleConfiguration>"#,
        )
        .unwrap();
        assert_eq!(ok[0].prefix, "logs/");
        assert_eq!(ok[0].days, Some(30));
        assert_eq!(ok[0].noncurrent_days, Some(7));
        let rule = |body: &str| {
            parse(
                format!("<LifecycleConfiguration><Rule>{body}</Rule></LifecycleConfiguration>")
                    .as_bytes(),
            )
        };
        assert_eq!(
            rule("<Status>Enabled</Status><Expiration><Days>0</Days></Expiration>")
                .unwrap_err()
                .code,
            Code::InvalidArgument
        );
        assert_eq!(
            rule(
                "<Status>Enabled</Status><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>"
            )
            .unwrap_err()
            .code,
            Code::InvalidArgument
        );
        assert_eq!(
            rule("<Status>On</Status><Expiration><Days>1</Days></Expiration>")
                .unwrap_err()
                .code,
            Code::MalformedXML
        );
        assert!(
            rule(
                "<Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration>"
            )
            .is_ok()
        );
    }
}
