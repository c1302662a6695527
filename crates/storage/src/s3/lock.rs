//! Object Lock: a bucket created with `x-amz-bucket-object-lock-enabled` (or a versioned
//! bucket given an `?object-lock` configuration) keeps versions from deletion while they are
//! under retention (GOVERNANCE, which `x-amz-bypass-governance-retention` overrides, or
//! COMPLIANCE, which nothing does) or a legal hold. Lock-enabled buckets are versioned, so
//! an overwrite adds a version and never removes a locked one; only a delete of a version
//! could, and that is what is checked, in the commit that would delete it.

use http::{HeaderMap, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::S3;
use super::api::{self, Body, Ctx};
use super::store::{BUCKETS, get_bucket};

use super::error::{Code, Error, Result};
use super::store::ObjectMeta;
use super::xml::{self, Writer};

/// A retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Users with `s3:BypassGovernanceRetention` may override it.
    Governance,
    /// No one may shorten it or delete the version before it ends.
    Compliance,
}

impl Mode {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }

    /// As S3 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

/// A version's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The mode.
    pub mode: Mode,
    /// Until when, Unix milliseconds.
    pub until: i64,
}

/// A bucket's Object Lock configuration; present means enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLock {
    /// The default retention of new versions: mode, and a period in days or years.
    pub default: Option<DefaultRetention>,
}

/// The default retention rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    /// The mode.
    pub mode: Mode,
    /// The period in days, or
    pub days: Option<u32>,
    /// in years.
    pub years: Option<u32>,
}

impl DefaultRetention {
    fn retention(&self, now: i64) -> Retention {
        let day = 86_400_000i64;
        let span = match (self.days, self.years) {
            (Some(d), _) => i64::from(d).saturating_mul(day),
            (None, Some(y)) => i64::from(y).saturating_mul(365).saturating_mul(day),
            (None, None) => 0,
        };
        Retention {
            mode: self.mode,
            until: now.saturating_add(span),
        }
    }
}

fn missing_config() -> Error {
    Error::invalid_request("Bucket is missing Object Lock Configuration")
}

/// Parses an ISO 8601 time (`2030-01-01T00:00:00Z`, fractions allowed) into Unix ms.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parses a `PutObjectLockConfiguration` document.
pub fn parse_config(doc: &[u8]) -> Result<BucketLock> {
    let root = xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "ObjectLockConfiguration"
        || root.text_of("ObjectLockEnabled") != Some("Enabled")
    {
        return Err(Error::malformed_xml());
    }
    let Some(rule) = root.child("Rule") else {
        return Ok(BucketLock::default());
    };
    let d = rule
        .child("DefaultRetention")
        .ok_or_else(Error::malformed_xml)?;
    let mode = d
        .text_of("Mode")
        .and_then(Mode::parse)
        .ok_or_else(Error::malformed_xml)?;
    let period = |name: &str| -> Result<Option<u32>> {
        let Some(v) = d.text_of(name) else {
            return Ok(None);
        };
        match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => u32::try_from(n)
                .map(Some)
                .map_err(|_| Error::malformed_xml()),
            Ok(_) => Err(Error::new(
                Code::InvalidRetentionPeriod,
                "Default retention period must be a positive integer value.",
            )),
            Err(_) => Err(Error::malformed_xml()),
        }
    };
    let (days, years) = (period("Days")?, period("Years")?);
    if days.is_some_and(|d| d > 36_500) || years.is_some_and(|y| y > 100) {
        return Err(Error::new(
            Code::InvalidRetentionPeriod,
            "Default retention period is too large.",
        ));
    }
    if days.is_some() == years.is_some() {
        return Err(Error::malformed_xml());
    }
    Ok(BucketLock {
        default: Some(DefaultRetention { mode, days, years }),
    })
}

/// Writes a bucket's configuration as `GetObjectLockConfiguration` answers it.
pub fn render_config(lock: &BucketLock) -> String {
    let mut w = Writer::new("ObjectLockConfiguration");
    w.elem("ObjectLockEnabled", "Enabled");
    if let Some(d) = &lock.default {
        w.open("Rule").open("DefaultRetention");
        w.elem("Mode", d.mode.as_str());
        if let Some(n) = d.days {
            w.elem("Days", &n.to_string());
        }
        if let Some(n) = d.years {
            w.elem("Years", &n.to_string());
        }
        w.close("DefaultRetention").close("Rule");
    }
    w.finish("ObjectLockConfiguration")
}

/// The retention and legal hold a new version gets: the request's headers, else the
/// bucket's default retention.
pub fn for_new_version(
    headers: &HeaderMap,
    lock: Option<&BucketLock>,
    now: i64,
) -> Result<(Option<Retention>, Option<bool>)> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let mode = h("x-amz-object-lock-mode");
    let until = h("x-amz-object-lock-retain-until-date");
    let hold = h("x-amz-object-lock-legal-hold");
    if lock.is_none() {
        if mode.is_some() || until.is_some() || hold.is_some() {
            return Err(missing_config());
        }
        return Ok((None, None));
    }
    let hold = match hold {
        None => None,
        Some("OFF") => Some(false),
        Some("ON") => Some(true),
        Some(v) => {
            return Err(Error::invalid_argument(
                "Legal Hold must be either of 'ON' or 'OFF'",
                "x-amz-object-lock-legal-hold",
                v,
            ));
        }
    };
    let retention = match (mode, until) {
        (None, None) => lock
            .and_then(|l| l.default.as_ref())
            .map(|d| d.retention(now)),
        (Some(m), Some(u)) => {
            let mode = Mode::parse(m).ok_or_else(|| {
                Error::invalid_argument("Unknown wormMode directive.", "x-amz-object-lock-mode", m)
            })?;
            let until = parse_time(u).ok_or_else(|| {
                Error::invalid_argument(
                    "The retain until date must be provided in ISO 8601 format",
                    "x-amz-object-lock-retain-until-date",
                    u,
                )
            })?;
            if until <= now {
                return Err(Error::invalid_argument(
                    "The retain until date must be in the future!",
                    "x-amz-object-lock-retain-until-date",
                    u,
                ));
            }
            Some(Retention { mode, until })
        }
        _ => {
            return Err(Error::invalid_argument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
                "x-amz-object-lock-mode",
                mode.unwrap_or(""),
            ));
        }
    };
    Ok((retention, hold))
}

/// Whether `headers` carry `x-amz-bypass-governance-retention: true`.
pub fn bypass(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-bypass-governance-retention")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn access_denied() -> Error {
    Error::new(
        Code::AccessDenied,
        "Access Denied because object protected by object lock.",
    )
}

/// Refuses deleting `object` while a legal hold or an unexpired retention protects it.
pub fn check_delete(object: &ObjectMeta, bypass: bool, now: i64) -> Result<()> {
    if object.legal_hold == Some(true) {
        return Err(access_denied());
    }
    match object.retention {
        Some(r) if r.until > now && (r.mode == Mode::Compliance || !bypass) => Err(access_denied()),
        _ => Ok(()),
    }
}

/// Parses a `PutObjectRetention` document.
pub fn parse_retention(doc: &[u8]) -> Result<Option<Retention>> {
    let root = xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "Retention" {
        return Err(Error::malformed_xml());
    }
    let (mode, until) = (root.text_of("Mode"), root.text_of("RetainUntilDate"));
    if mode.is_none() && until.is_none() {
        return Ok(None);
    }
    let mode = mode
        .and_then(Mode::parse)
        .ok_or_else(Error::malformed_xml)?;
    let until = until
        .and_then(parse_time)
        .ok_or_else(Error::malformed_xml)?;
    Ok(Some(Retention { mode, until }))
}

/// Whether `new` may replace `old` on a version: a COMPLIANCE retention can only be
/// lengthened; an unexpired GOVERNANCE one can be shortened, removed or changed in mode only
/// with the bypass header.
pub fn check_change(
    old: Option<&Retention>,
    new: Option<&Retention>,
    bypass: bool,
    now: i64,
) -> Result<()> {
    let Some(old) = old.filter(|o| o.until > now) else {
        return Ok(());
    };
    let weakens = match new {
        None => true,
        Some(n) => n.until < old.until || n.mode != old.mode,
    };
    if !weakens {
        return Ok(());
    }
    match old.mode {
        Mode::Compliance => Err(access_denied()),
        Mode::Governance if bypass => Ok(()),
        Mode::Governance => Err(access_denied()),
    }
}

/// Writes a version's retention as `GetObjectRetention` answers it.
pub fn render_retention(r: &Retention) -> String {
    let mut w = Writer::new("Retention");
    w.elem("Mode", r.mode.as_str())
        .elem("RetainUntilDate", &super::iso8601(r.until));
    w.finish("Retention")
}

/// Parses a `PutObjectLegalHold` document.
pub fn parse_legal_hold(doc: &[u8]) -> Result<bool> {
    let root = xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "LegalHold" {
        return Err(Error::malformed_xml());
    }
    match root.text_of("Status") {
        Some("ON") => Ok(true),
        Some("OFF") => Ok(false),
        _ => Err(Error::malformed_xml()),
    }
}

/// Writes a legal hold as `GetObjectLegalHold` answers it.
pub fn render_legal_hold(on: bool) -> String {
    let mut w = Writer::new("LegalHold");
    w.elem("Status", if on { "ON" } else { "OFF" });
    w.finish("LegalHold")
}

/// The headers GET and HEAD add for a locked version.
pub fn response_headers(h: &mut HeaderMap, object: &ObjectMeta) {
    if let Some(r) = &object.retention {
        super::api::set(h, "x-amz-object-lock-mode", r.mode.as_str());
        super::api::set(
            h,
            "x-amz-object-lock-retain-until-date",
            &super::iso8601(r.until),
        );
    }
    if let Some(on) = object.legal_hold {
        super::api::set(
            h,
            "x-amz-object-lock-legal-hold",
            if on { "ON" } else { "OFF" },
        );
    }
}

/// The error of the Object Lock APIs on a bucket without Object Lock.
pub fn not_enabled() -> Error {
    missing_config()
}

impl S3 {
    /// PutObjectLockConfiguration: enables Object Lock on a versioned bucket, sets the
    /// default retention.
    pub(crate) async fn put_object_lock_config(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        self.require_bucket(bucket).await?;
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        if doc.is_empty() {
            return Err(Error::new(
                Code::MissingRequestBodyError,
                "Request Body is empty",
            ));
        }
        let config = parse_config(&doc)?;
        self.update_bucket(bucket, move |meta| {
            if meta.object_lock.is_none()
                && meta.versioning != Some(super::store::Versioning::Enabled)
            {
                return Err(Error::new(
                    Code::InvalidBucketState,
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                ));
            }
            meta.object_lock = Some(config);
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::OK))
    }

    /// GetObjectLockConfiguration.
    pub(crate) async fn get_object_lock_config(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let Some(lock) = meta.object_lock else {
            return Err(Error::new(
                Code::ObjectLockConfigurationNotFoundError,
                "Object Lock configuration does not exist for this bucket",
            )
            .with("BucketName", bucket));
        };
        Ok(api::xml(StatusCode::OK, render_config(&lock)))
    }

    /// Changes a version's lock settings with `change` (which may refuse) in a bucket with
    /// Object Lock.
    async fn relock(
        &self,
        ctx: &Ctx,
        bucket: &str,
        key: &str,
        change: impl FnOnce(&mut ObjectMeta) -> Result<()> + Send + 'static,
    ) -> Result<Response<Body>> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let version = ctx.param("versionId").map(str::to_owned);
        let id = self
            .engine
            .write(move |txn| {
                let Some(meta) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                if meta.object_lock.is_none() {
                    return Ok(Err(not_enabled()));
                }
                super::version::update_object(txn, &meta, &b, &k, version.as_deref(), change)
            })
            .await??;
        let mut r = api::empty(StatusCode::OK);
        if let Some(v) = id {
            api::set(r.headers_mut(), "x-amz-version-id", &v);
        }
        Ok(r)
    }

    /// The version a lock read names, in a bucket with Object Lock.
    async fn locked_object(&self, ctx: &Ctx, bucket: &str, key: &str) -> Result<ObjectMeta> {
        let meta = self.bucket_meta(bucket).await?;
        if meta.object_lock.is_none() {
            return Err(not_enabled());
        }
        let version = ctx.param("versionId");
        Ok(self.open_object(bucket, key, version, false).await?.0)
    }

    /// PutObjectRetention.
    pub(crate) async fn put_object_retention(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let new = parse_retention(&doc)?;
        let bypass = bypass(&ctx.headers);
        let now = super::now_ms();
        self.relock(ctx, bucket, key, move |o| {
            check_change(o.retention.as_ref(), new.as_ref(), bypass, now)?;
            o.retention = new;
            Ok(())
        })
        .await
    }

    /// GetObjectRetention.
    pub(crate) async fn get_object_retention(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let o = self.locked_object(ctx, bucket, key).await?;
        let Some(r) = o.retention else {
            return Err(Error::new(
                Code::NoSuchObjectLockConfiguration,
                "The specified object does not have a ObjectLock configuration",
            ));
        };
        Ok(api::xml(StatusCode::OK, render_retention(&r)))
    }

    /// PutObjectLegalHold.
    pub(crate) async fn put_legal_hold(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let on = parse_legal_hold(&doc)?;
        self.relock(ctx, bucket, key, move |o| {
            o.legal_hold = Some(on);
            Ok(())
        })
        .await
    }

    /// GetObjectLegalHold.
    pub(crate) async fn get_legal_hold(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let o = self.locked_object(ctx, bucket, key).await?;
        let Some(on) = o.legal_hold else {
            return Err(Error::new(
                Code::NoSuchObjectLockConfiguration,
                "The specified object does not have a ObjectLock configuration",
            ));
        };
        Ok(api::xml(StatusCode::OK, render_legal_hold(on)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_parse_as_s3_validates_them() {
        let doc = |body: &str| {
            format!(
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>{body}</DefaultRetention></Rule></ObjectLockConfiguration>"
            )
        };
        let ok = parse_config(doc("<Mode>GOVERNANCE</Mode><Days>1</Days>").as_bytes()).unwrap();
        assert_eq!(
            ok.default,
            Some(DefaultRetention {
                mode: Mode::Governance,
                days: Some(1),
                years: None
            })
        );
        let code = |b: &str| parse_config(doc(b).as_bytes()).unwrap_err().code;
        assert_eq!(
            code("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"),
            Code::MalformedXML
        );
        assert_eq!(
            code("<Mode>GOVERNANCE</Mode><Days>0</Days>"),
            Code::InvalidRetentionPeriod
        );
        assert_eq!(
            code("<Mode>GOVERNANCE</Mode><Years>-1</Years>"),
            Code::InvalidRetentionPeriod
        );
        assert_eq!(
            code("<Mode>governance</Mode><Years>1</Years>"),
            Code::MalformedXML
        );
        assert_eq!(
            code("<Mode>COMPLIANCE</Mode><Years>4294967295</Years>"),
            Code::InvalidRetentionPeriod
        );
        let far = DefaultRetention {
            mode: Mode::Compliance,
            days: None,
            years: Some(u32::MAX),
        };
        assert_eq!(far.retention(0).until, i64::MAX);
    }

    #[test]
    fn retention_can_only_weaken_with_bypass_and_never_in_compliance() {
        let now = 1_000;
        let g = Retention {
            mode: Mode::Governance,
            until: 5_000,
        };
        let c = Retention {
            mode: Mode::Compliance,
            until: 5_000,
        };
        let longer = Retention {
            mode: Mode::Governance,
            until: 9_000,
        };
        let shorter = Retention {
            mode: Mode::Governance,
            until: 2_000,
        };
        assert!(check_change(Some(&g), Some(&longer), false, now).is_ok());
        assert!(check_change(Some(&g), Some(&shorter), false, now).is_err());
        assert!(check_change(Some(&g), Some(&shorter), true, now).is_ok());
        assert!(check_change(Some(&g), Some(&c), false, now).is_err());
        assert!(check_change(Some(&g), Some(&c), true, now).is_ok());
        assert!(check_change(Some(&c), Some(&g), true, now).is_err());
        assert!(check_change(Some(&c), None, true, now).is_err());
        // Expired retention no longer protects.
        assert!(check_change(Some(&c), None, false, 6_000).is_ok());
    }
}
