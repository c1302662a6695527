//! The resource types Meridian reads from Terraform: their schemas (Terraform's argument
//! names, defaults and validation), the attributes the provider would compute, and the typed
//! specs the planes consume.
//!
//! Computed attributes get values that work on this machine: names under `.localhost`
//! (which resolves to the loopback address, RFC 6761), so that a reference from one block to
//! another (an origin's `domain_name`, an alias's `dns_name`) names something Meridian serves
//! here, in the shape AWS gives it (`<bucket>.s3.<region>.localhost`,
//! `<id>.cloudfront.localhost`). Identifiers are derived from the resource's address, so
//! they are the same on every load.

pub mod aws_cdn;
pub mod aws_data;
pub mod aws_dns;
pub mod aws_iam;
pub mod aws_lb;
pub mod aws_rds;
pub mod aws_s3;
pub mod azure;
pub mod providers;

use std::collections::BTreeMap;

use crate::node::Span;
use crate::path::FieldPath;

use super::schema::{Schema, Sink, Spans};
use super::value::Value;

/// The domain under which computed DNS names live.
pub const LOCAL_DOMAIN: &str = "localhost";

/// A resource type Meridian knows.
#[derive(Debug)]
pub struct Kind {
    /// Terraform type name.
    pub name: &'static str,
    /// Its schema.
    pub schema: &'static Schema,
    /// Fills the attributes the provider computes.
    pub computed: fn(&mut Computed<'_>),
    /// The typed spec, with the checks of this type.
    pub spec: fn(&Inst<'_>, &mut Sink<'_>) -> Spec,
    /// Set when the provider deprecates the whole type: what to use instead.
    pub deprecated: Option<&'static str>,
}

/// The managed resource types.
pub fn managed(name: &str) -> Option<&'static Kind> {
    MANAGED.iter().copied().find(|k| k.name == name)
}

/// The data source types.
pub fn data(name: &str) -> Option<&'static Kind> {
    aws_data::KINDS.iter().find(|k| k.name == name)
}

/// Names of every managed type, for suggestions.
pub fn managed_names() -> impl Iterator<Item = &'static str> {
    MANAGED.iter().map(|k| k.name)
}

static MANAGED: &[&Kind] = &[
    &aws_s3::BUCKET,
    &aws_s3::VERSIONING,
    &aws_s3::POLICY,
    &aws_s3::PUBLIC_ACCESS_BLOCK,
    &aws_s3::CORS,
    &aws_s3::LIFECYCLE,
    &aws_s3::REPLICATION,
    &aws_s3::ENCRYPTION,
    &aws_cdn::DISTRIBUTION,
    &aws_cdn::OAC,
    &aws_cdn::CACHE_POLICY,
    &aws_cdn::ORIGIN_REQUEST_POLICY,
    &aws_cdn::FUNCTION,
    &aws_dns::ZONE,
    &aws_dns::RECORD,
    &aws_dns::HEALTH_CHECK,
    &aws_dns::CIDR_COLLECTION,
    &aws_dns::CIDR_LOCATION,
    &aws_lb::LB,
    &aws_lb::ALB,
    &aws_lb::LISTENER,
    &aws_lb::TARGET_GROUP,
    &aws_rds::DB_INSTANCE,
    &aws_rds::DYNAMODB_TABLE,
    &aws_iam::ROLE,
    &aws_iam::POLICY,
    &aws_iam::ATTACHMENT,
    &aws_iam::ROLE_POLICY,
    &azure::RESOURCE_GROUP,
    &azure::FRONTDOOR,
    &azure::FD_PROFILE,
    &azure::FD_ENDPOINT,
    &azure::FD_ORIGIN_GROUP,
    &azure::FD_ORIGIN,
    &azure::FD_ROUTE,
];

/// What the provider computes, with what it needs to know.
#[derive(Debug)]
pub struct Computed<'a> {
    /// The resource's name label.
    pub name: &'a str,
    /// Its full address (the seed of generated identifiers).
    pub address: &'a str,
    /// Its region.
    pub region: &'a str,
    /// The AWS account id.
    pub account: &'a str,
    /// The decoded arguments, to complete.
    pub obj: &'a mut BTreeMap<String, Value>,
}

impl Computed<'_> {
    /// A string argument, when set.
    pub fn s(&self, k: &str) -> Option<String> {
        self.obj.get(k).and_then(Value::as_str).map(str::to_owned)
    }

    /// Sets an attribute.
    pub fn set(&mut self, k: &str, v: impl Into<Value>) {
        self.obj.insert(k.to_owned(), v.into());
    }

    /// Sets an attribute the configuration left unset (null).
    pub fn fill(&mut self, k: &str, v: impl Into<Value>) {
        match self.obj.get(k) {
            Some(Value::Null) | None => {
                self.obj.insert(k.to_owned(), v.into());
            }
            _ => {}
        }
    }

    /// A stable identifier of `len` characters from `alphabet`, derived from the address.
    pub fn ident(&self, salt: &str, len: usize, alphabet: &[u8]) -> String {
        stable_id(&format!("{}/{salt}", self.address), len, alphabet)
    }

    /// `tags_all`: the resource's tags (provider default tags are merged by the caller).
    pub fn tags_all(&mut self) {
        let tags = self.obj.get("tags").cloned().unwrap_or(Value::Null);
        let tags = if tags.is_null() {
            Value::map(BTreeMap::new())
        } else {
            tags
        };
        if self.obj.contains_key("tags_all") {
            self.obj.insert("tags_all".into(), tags);
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    #[allow(clippy::cast_precision_loss)]
    fn from(i: i64) -> Self {
        Value::Number(i as f64)
    }
}

/// Upper-case letters and digits, as AWS ids use.
pub const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Lower-case letters and digits.
pub const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A stable pseudo-random identifier (FNV-1a, extended as needed).
pub fn stable_id(seed: &str, len: usize, alphabet: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let n = alphabet.len() as u64;
    (0..len)
        .map(|i| {
            h ^= i as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            #[allow(clippy::cast_possible_truncation)]
            let c = alphabet[(h % n) as usize];
            char::from(c)
        })
        .collect()
}

/// An instance being turned into its spec: its attributes and their positions.
#[derive(Debug)]
pub struct Inst<'a> {
    /// Address, for messages.
    pub address: &'a str,
    /// Every attribute.
    pub obj: &'a Value,
    /// Positions by field path.
    pub spans: &'a Spans,
    /// Where the block is.
    pub span: Span,
    /// Its region.
    pub region: &'a str,
}

impl Inst<'_> {
    /// The root accessor.
    pub fn r(&self) -> R<'_> {
        R(self.obj)
    }

    /// Where `path` (`origin[0].origin_id`) is.
    pub fn at(&self, path: &str) -> Span {
        self.spans.at(path, self.span)
    }

    /// Records an error about `path`.
    pub fn error<'s>(
        &self,
        sink: &'s mut Sink<'_>,
        path: &str,
        msg: impl Into<String>,
    ) -> &'s mut crate::Diagnostic {
        sink.error(self.at(path), &field_path(path), msg)
    }

    /// Records a warning about `path`.
    pub fn warn<'s>(
        &self,
        sink: &'s mut Sink<'_>,
        path: &str,
        msg: impl Into<String>,
    ) -> &'s mut crate::Diagnostic {
        sink.warn(self.at(path), &field_path(path), msg)
    }
}

/// `a.b[0].c` as a field path.
pub fn field_path(p: &str) -> FieldPath {
    let mut out = FieldPath::root();
    for part in p.split('.').filter(|s| !s.is_empty()) {
        let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out = out.field(name.to_owned());
        }
        for idx in rest.split('[') {
            let idx = idx.trim_end_matches(']');
            if let Ok(i) = idx.parse::<usize>() {
                out = out.index(i);
            } else if !idx.is_empty() {
                out = out.key(idx.trim_matches('"').to_owned());
            }
        }
    }
    out
}

/// Reading a decoded object: schema-checked, so absent or null values read as empty.
#[derive(Debug, Clone, Copy)]
pub struct R<'a>(pub &'a Value);

impl<'a> R<'a> {
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.0
            .get(k)
            .filter(|v| !matches!(v, Value::Null | Value::Unknown))
    }

    /// A string, or "".
    pub fn s(&self, k: &str) -> String {
        self.os(k).unwrap_or_default()
    }

    /// A string, when set.
    pub fn os(&self, k: &str) -> Option<String> {
        self.get(k).and_then(Value::to_display)
    }

    /// A bool, false when unset.
    pub fn b(&self, k: &str) -> bool {
        self.get(k).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A bool, when set.
    pub fn ob(&self, k: &str) -> Option<bool> {
        self.get(k).and_then(Value::as_bool)
    }

    /// A whole number, 0 when unset.
    pub fn i(&self, k: &str) -> i64 {
        self.oi(k).unwrap_or(0)
    }

    /// A whole number, when set.
    pub fn oi(&self, k: &str) -> Option<i64> {
        self.get(k).and_then(Value::as_i64)
    }

    /// A list of strings.
    pub fn list(&self, k: &str) -> Vec<String> {
        self.get(k)
            .and_then(Value::as_seq)
            .map(|v| v.iter().filter_map(Value::to_display).collect())
            .unwrap_or_default()
    }

    /// A map of strings.
    pub fn map(&self, k: &str) -> BTreeMap<String, String> {
        self.get(k)
            .and_then(Value::as_map)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.to_display()?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The nested blocks `k`.
    pub fn blocks(&self, k: &str) -> Vec<R<'a>> {
        self.get(k)
            .and_then(Value::as_seq)
            .map(|v| v.iter().map(R).collect())
            .unwrap_or_default()
    }

    /// The first nested block `k`.
    pub fn block(&self, k: &str) -> Option<R<'a>> {
        self.blocks(k).into_iter().next()
    }

    /// True when `k` is unknown (depends on something not served).
    pub fn unknown(&self, k: &str) -> bool {
        matches!(self.0.get(k), Some(Value::Unknown))
    }
}

/// A typed resource, as the planes consume it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Spec {
    /// `aws_s3_bucket`.
    S3Bucket(aws_s3::Bucket),
    /// `aws_s3_bucket_versioning`.
    S3Versioning(aws_s3::Versioning),
    /// `aws_s3_bucket_policy`.
    S3Policy(aws_s3::BucketPolicy),
    /// `aws_s3_bucket_public_access_block`.
    S3PublicAccessBlock(aws_s3::PublicAccessBlock),
    /// `aws_s3_bucket_cors_configuration`.
    S3Cors(aws_s3::Cors),
    /// `aws_s3_bucket_lifecycle_configuration`.
    S3Lifecycle(aws_s3::Lifecycle),
    /// `aws_s3_bucket_replication_configuration`.
    S3Replication(aws_s3::Replication),
    /// `aws_s3_bucket_server_side_encryption_configuration`.
    S3Encryption(aws_s3::Encryption),
    /// `aws_cloudfront_distribution`.
    Distribution(Box<aws_cdn::Distribution>),
    /// `aws_cloudfront_origin_access_control`.
    OriginAccessControl(aws_cdn::OriginAccessControl),
    /// `aws_cloudfront_cache_policy`.
    CachePolicy(aws_cdn::CachePolicy),
    /// `aws_cloudfront_origin_request_policy`.
    OriginRequestPolicy(aws_cdn::OriginRequestPolicy),
    /// `aws_cloudfront_function`.
    CloudFrontFunction(aws_cdn::Function),
    /// `aws_route53_zone`.
    Zone(aws_dns::Zone),
    /// `aws_route53_record`.
    Record(aws_dns::Record),
    /// `aws_route53_health_check`.
    HealthCheck(aws_dns::HealthCheck),
    /// `aws_route53_cidr_collection`.
    CidrCollection(aws_dns::CidrCollection),
    /// `aws_route53_cidr_location`.
    CidrLocation(aws_dns::CidrLocation),
    /// `aws_lb` / `aws_alb`.
    LoadBalancer(aws_lb::LoadBalancer),
    /// `aws_lb_listener`.
    Listener(aws_lb::Listener),
    /// `aws_lb_target_group`.
    TargetGroup(aws_lb::TargetGroup),
    /// `aws_db_instance`.
    Database(aws_rds::Database),
    /// `aws_dynamodb_table`.
    Table(aws_rds::Table),
    /// `aws_iam_role`.
    IamRole(aws_iam::Role),
    /// `aws_iam_policy`.
    IamPolicy(aws_iam::Policy),
    /// `aws_iam_role_policy_attachment` / `aws_iam_role_policy`.
    IamRolePolicy(aws_iam::RolePolicy),
    /// `azurerm_resource_group`.
    ResourceGroup(azure::ResourceGroup),
    /// `azurerm_frontdoor` (Front Door classic).
    FrontDoor(Box<azure::FrontDoor>),
    /// `azurerm_cdn_frontdoor_*` (Front Door Standard/Premium), one part of a profile.
    FrontDoorPart(azure::FrontDoorPart),
    /// A data source's result.
    Data,
    /// A type Meridian reads but does not serve.
    NotServed,
}

impl Spec {
    /// True when a plane serves this spec (false for data sources and unserved types).
    pub fn is_served(&self) -> bool {
        !matches!(self, Spec::Data | Spec::NotServed)
    }
}

/// Checks an AWS region name.
pub fn check_region(v: &Value) -> Result<(), String> {
    let s = v.as_str().unwrap_or_default();
    // <area>-[gov-|iso...-]<direction>-<number>, as every AWS region is named.
    let parts: Vec<&str> = s.split('-').collect();
    let letters = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    let ok = (3..=4).contains(&parts.len())
        && parts[0].len() == 2
        && letters(parts[0])
        && parts[1..parts.len() - 1].iter().all(|p| letters(p))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!("\"{s}\" is not an AWS region (like us-east-1)"))
    }
}
