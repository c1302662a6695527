//! S3 buckets and their configuration resources: the origin of the edge and the source and
//! destination of replication.

use std::collections::BTreeMap;

use super::{Computed, Inst, Kind, LOCAL_DOMAIN, LOWER, Spec};
use crate::terraform::schema::{Schema, Sink, Ty, block, computed, opt, optc, req};
use crate::terraform::value::Value;

const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
];
const ENABLED: &[&str] = &["Enabled", "Disabled"];

/// S3's naming rules: 3 to 63 characters, lower-case letters, digits, dots and hyphens,
/// starting and ending with a letter or digit.
pub fn check_bucket_name(v: &Value) -> Result<(), String> {
    let s = v.as_str().unwrap_or_default();
    if !(3..=63).contains(&s.len()) {
        return Err(format!(
            "bucket name \"{s}\" must be 3 to 63 characters long"
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err(format!(
            "bucket name \"{s}\" may hold only lower-case letters, digits, dots and hyphens"
        ));
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(s.chars().next()) || !edge(s.chars().last()) {
        return Err(format!(
            "bucket name \"{s}\" must start and end with a letter or digit"
        ));
    }
    Ok(())
}

static VERSIONING_INLINE: Schema = Schema {
    attrs: &[
        opt("enabled", Ty::Bool).dbool(false),
        opt("mfa_delete", Ty::Bool).dbool(false),
    ],
    blocks: &[],
};
static WEBSITE: Schema = Schema {
    attrs: &[
        opt("index_document", Ty::Str),
        opt("error_document", Ty::Str),
        opt("redirect_all_requests_to", Ty::Str),
        opt("routing_rules", Ty::Json),
    ],
    blocks: &[],
};
static CORS_RULE: Schema = Schema {
    attrs: &[
        opt("allowed_headers", Ty::ListStr),
        req("allowed_methods", Ty::ListStr).one_of(&["GET", "PUT", "HEAD", "POST", "DELETE"]),
        req("allowed_origins", Ty::ListStr),
        opt("expose_headers", Ty::ListStr),
        opt("max_age_seconds", Ty::Int),
        opt("id", Ty::Str),
    ],
    blocks: &[],
};
static LOGGING: Schema = Schema {
    attrs: &[req("target_bucket", Ty::Str), opt("target_prefix", Ty::Str)],
    blocks: &[],
};
static SSE_DEFAULT: Schema = Schema {
    attrs: &[
        req("sse_algorithm", Ty::Str).one_of(&["AES256", "aws:kms", "aws:kms:dsse"]),
        opt("kms_master_key_id", Ty::Str),
    ],
    blocks: &[],
};
static SSE_RULE: Schema = Schema {
    attrs: &[opt("bucket_key_enabled", Ty::Bool)],
    blocks: &[block("apply_server_side_encryption_by_default", &SSE_DEFAULT).max(1)],
};
static SSE_INLINE: Schema = Schema {
    attrs: &[],
    blocks: &[block("rule", &SSE_RULE).one()],
};
static EXPIRATION_INLINE: Schema = Schema {
    attrs: &[
        opt("date", Ty::Str),
        opt("days", Ty::Int),
        opt("expired_object_delete_marker", Ty::Bool),
    ],
    blocks: &[],
};
static TRANSITION_INLINE: Schema = Schema {
    attrs: &[
        opt("date", Ty::Str),
        opt("days", Ty::Int),
        req("storage_class", Ty::Str).one_of(STORAGE_CLASSES),
    ],
    blocks: &[],
};
static NC_EXPIRATION_INLINE: Schema = Schema {
    attrs: &[opt("days", Ty::Int)],
    blocks: &[],
};
static NC_TRANSITION_INLINE: Schema = Schema {
    attrs: &[
        opt("days", Ty::Int),
        req("storage_class", Ty::Str).one_of(STORAGE_CLASSES),
    ],
    blocks: &[],
};
static LIFECYCLE_RULE_INLINE: Schema = Schema {
    attrs: &[
        opt("id", Ty::Str),
        opt("prefix", Ty::Str),
        opt("tags", Ty::MapStr),
        req("enabled", Ty::Bool),
        opt("abort_incomplete_multipart_upload_days", Ty::Int),
    ],
    blocks: &[
        block("expiration", &EXPIRATION_INLINE).max(1),
        block("transition", &TRANSITION_INLINE),
        block("noncurrent_version_expiration", &NC_EXPIRATION_INLINE).max(1),
        block("noncurrent_version_transition", &NC_TRANSITION_INLINE),
    ],
};

static BUCKET_SCHEMA: Schema = Schema {
    attrs: &[
        optc("bucket", Ty::Str).check(check_bucket_name),
        optc("bucket_prefix", Ty::Str).len(1, 37),
        opt("force_destroy", Ty::Bool).dbool(false),
        optc("object_lock_enabled", Ty::Bool),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        opt("acl", Ty::Str).deprecated("use the aws_s3_bucket_acl resource"),
        optc("policy", Ty::Json).deprecated("use the aws_s3_bucket_policy resource"),
        optc("acceleration_status", Ty::Str).one_of(&["Enabled", "Suspended"]),
        optc("request_payer", Ty::Str).one_of(&["Requester", "BucketOwner"]),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("bucket_domain_name", Ty::Str),
        computed("bucket_regional_domain_name", Ty::Str),
        computed("hosted_zone_id", Ty::Str),
        computed("region", Ty::Str),
        computed("website_endpoint", Ty::Str),
        computed("website_domain", Ty::Str),
    ],
    blocks: &[
        block("versioning", &VERSIONING_INLINE)
            .max(1)
            .deprecated("use the aws_s3_bucket_versioning resource"),
        block("website", &WEBSITE)
            .max(1)
            .deprecated("use the aws_s3_bucket_website_configuration resource"),
        block("cors_rule", &CORS_RULE)
            .deprecated("use the aws_s3_bucket_cors_configuration resource"),
        block("logging", &LOGGING)
            .max(1)
            .deprecated("use the aws_s3_bucket_logging resource"),
        block("server_side_encryption_configuration", &SSE_INLINE)
            .max(1)
            .deprecated("use the aws_s3_bucket_server_side_encryption_configuration resource"),
        block("lifecycle_rule", &LIFECYCLE_RULE_INLINE)
            .deprecated("use the aws_s3_bucket_lifecycle_configuration resource"),
    ],
};

/// The Route 53 hosted zone id of S3's endpoints per region (what AWS returns).
pub fn s3_zone(region: &str) -> &'static str {
    match region {
        "us-east-1" => "Z3AQBSTGFYJSTF",
        "us-east-2" => "Z2O1EMRO9K5GLX",
        "us-west-1" => "Z2F56UZL2M1ACD",
        "us-west-2" => "Z3BJ6K6RIION7M",
        "eu-west-1" => "Z1BKCTXD74EZPE",
        "eu-west-2" => "Z3GKZC51ZF0DB4",
        "eu-west-3" => "Z3R1K369G5AVDG",
        "eu-central-1" => "Z21DNDUVLTQW6Q",
        "ap-southeast-1" => "Z3O0J2DXBE1FTB",
        "ap-southeast-2" => "Z1WCIGYICN2BYD",
        "ap-northeast-1" => "Z2M4EHUR26P7ZW",
        "sa-east-1" => "Z7KQH4QJS55SO",
        _ => "Z3AQBSTGFYJSTF",
    }
}

fn bucket_computed(c: &mut Computed<'_>) {
    let name = match (c.s("bucket"), c.s("bucket_prefix")) {
        (Some(b), _) => b,
        (None, Some(p)) => format!("{p}{}", c.ident("bucket", 26, LOWER)),
        (None, None) => format!("terraform-{}", c.ident("bucket", 26, LOWER)),
    };
    let region = c.region.to_owned();
    c.set("bucket", name.clone());
    c.set("id", name.clone());
    c.set("arn", format!("arn:aws:s3:::{name}"));
    c.set("bucket_domain_name", format!("{name}.s3.{LOCAL_DOMAIN}"));
    c.set(
        "bucket_regional_domain_name",
        format!("{name}.s3.{region}.{LOCAL_DOMAIN}"),
    );
    c.set("hosted_zone_id", s3_zone(&region));
    c.set("region", region.clone());
    c.fill("object_lock_enabled", false);
    c.fill("acceleration_status", "");
    c.fill("request_payer", "BucketOwner");
    if c.obj
        .get("website")
        .and_then(Value::as_seq)
        .is_some_and(|w| !w.is_empty())
    {
        c.set(
            "website_endpoint",
            format!("{name}.s3-website-{region}.{LOCAL_DOMAIN}"),
        );
        c.set(
            "website_domain",
            format!("s3-website-{region}.{LOCAL_DOMAIN}"),
        );
    }
    c.tags_all();
}

/// A bucket.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Bucket {
    /// Name.
    pub name: String,
    /// Region.
    pub region: String,
    /// ARN.
    pub arn: String,
    /// `bucket_regional_domain_name`: the host its objects are served under here.
    pub regional_domain_name: String,
    /// `force_destroy`.
    pub force_destroy: bool,
    /// `object_lock_enabled`.
    pub object_lock_enabled: bool,
    /// Inline `versioning { enabled = true }` (deprecated form).
    pub versioning_enabled: bool,
    /// Inline `website` (deprecated form): index and error documents.
    pub website: Option<(Option<String>, Option<String>)>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

fn bucket_spec(i: &Inst<'_>, _: &mut Sink<'_>) -> Spec {
    let r = i.r();
    Spec::S3Bucket(Bucket {
        name: r.s("bucket"),
        region: i.region.to_owned(),
        arn: r.s("arn"),
        regional_domain_name: r.s("bucket_regional_domain_name"),
        force_destroy: r.b("force_destroy"),
        object_lock_enabled: r.b("object_lock_enabled"),
        versioning_enabled: r.block("versioning").is_some_and(|v| v.b("enabled")),
        website: r
            .block("website")
            .map(|w| (w.os("index_document"), w.os("error_document"))),
        tags: r.map("tags"),
    })
}

/// `aws_s3_bucket`.
pub static BUCKET: Kind = Kind {
    name: "aws_s3_bucket",
    schema: &BUCKET_SCHEMA,
    computed: bucket_computed,
    spec: bucket_spec,
    deprecated: None,
};

fn id_is_bucket(c: &mut Computed<'_>) {
    let b = c.s("bucket").unwrap_or_default();
    c.set("id", b);
}

static VERSIONING_CONFIGURATION: Schema = Schema {
    attrs: &[
        req("status", Ty::Str).one_of(&["Enabled", "Suspended", "Disabled"]),
        optc("mfa_delete", Ty::Str).one_of(ENABLED),
    ],
    blocks: &[],
};
static VERSIONING_SCHEMA: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        opt("expected_bucket_owner", Ty::Str),
        opt("mfa", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[block("versioning_configuration", &VERSIONING_CONFIGURATION).one()],
};

/// A bucket's versioning state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Versioning {
    /// The bucket.
    pub bucket: String,
    /// `Enabled`, `Suspended` or `Disabled`.
    pub status: String,
}

/// `aws_s3_bucket_versioning`.
pub static VERSIONING: Kind = Kind {
    name: "aws_s3_bucket_versioning",
    schema: &VERSIONING_SCHEMA,
    computed: id_is_bucket,
    spec: |i, _| {
        let r = i.r();
        Spec::S3Versioning(Versioning {
            bucket: r.s("bucket"),
            status: r
                .block("versioning_configuration")
                .map(|v| v.s("status"))
                .unwrap_or_default(),
        })
    },
    deprecated: None,
};

static POLICY_SCHEMA: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        req("policy", Ty::Json),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};

/// A bucket policy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BucketPolicy {
    /// The bucket.
    pub bucket: String,
    /// The policy document.
    pub policy: serde_json::Value,
}

/// `aws_s3_bucket_policy`.
pub static POLICY: Kind = Kind {
    name: "aws_s3_bucket_policy",
    schema: &POLICY_SCHEMA,
    computed: id_is_bucket,
    spec: |i, sink| {
        let r = i.r();
        let policy: serde_json::Value = serde_json::from_str(&r.s("policy")).unwrap_or_default();
        if policy.get("Statement").is_none() && !r.unknown("policy") {
            i.error(sink, "policy", "the policy has no Statement").hint =
                Some("a policy is {\"Version\": \"2012-10-17\", \"Statement\": [...]}".into());
        }
        Spec::S3Policy(BucketPolicy {
            bucket: r.s("bucket"),
            policy,
        })
    },
    deprecated: None,
};

static PAB_SCHEMA: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        opt("block_public_acls", Ty::Bool).dbool(false),
        opt("block_public_policy", Ty::Bool).dbool(false),
        opt("ignore_public_acls", Ty::Bool).dbool(false),
        opt("restrict_public_buckets", Ty::Bool).dbool(false),
        opt("skip_destroy", Ty::Bool),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};

/// A bucket's public access block.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublicAccessBlock {
    /// The bucket.
    pub bucket: String,
    /// `block_public_acls`.
    pub block_public_acls: bool,
    /// `block_public_policy`.
    pub block_public_policy: bool,
    /// `ignore_public_acls`.
    pub ignore_public_acls: bool,
    /// `restrict_public_buckets`.
    pub restrict_public_buckets: bool,
}

/// `aws_s3_bucket_public_access_block`.
pub static PUBLIC_ACCESS_BLOCK: Kind = Kind {
    name: "aws_s3_bucket_public_access_block",
    schema: &PAB_SCHEMA,
    computed: id_is_bucket,
    spec: |i, _| {
        let r = i.r();
        Spec::S3PublicAccessBlock(PublicAccessBlock {
            bucket: r.s("bucket"),
            block_public_acls: r.b("block_public_acls"),
            block_public_policy: r.b("block_public_policy"),
            ignore_public_acls: r.b("ignore_public_acls"),
            restrict_public_buckets: r.b("restrict_public_buckets"),
        })
    },
    deprecated: None,
};

static CORS_SCHEMA: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        opt("expected_bucket_owner", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[block("cors_rule", &CORS_RULE).min(1).max(100)],
};

/// One CORS rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CorsRule {
    /// `allowed_methods`.
    pub allowed_methods: Vec<String>,
    /// `allowed_origins`.
    pub allowed_origins: Vec<String>,
    /// `allowed_headers`.
    pub allowed_headers: Vec<String>,
    /// `expose_headers`.
    pub expose_headers: Vec<String>,
    /// `max_age_seconds`.
    pub max_age_seconds: Option<i64>,
}

/// A bucket's CORS configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cors {
    /// The bucket.
    pub bucket: String,
    /// Rules.
    pub rules: Vec<CorsRule>,
}

/// `aws_s3_bucket_cors_configuration`.
pub static CORS: Kind = Kind {
    name: "aws_s3_bucket_cors_configuration",
    schema: &CORS_SCHEMA,
    computed: id_is_bucket,
    spec: |i, _| {
        let r = i.r();
        Spec::S3Cors(Cors {
            bucket: r.s("bucket"),
            rules: r
                .blocks("cors_rule")
                .iter()
                .map(|c| CorsRule {
                    allowed_methods: c.list("allowed_methods"),
                    allowed_origins: c.list("allowed_origins"),
                    allowed_headers: c.list("allowed_headers"),
                    expose_headers: c.list("expose_headers"),
                    max_age_seconds: c.oi("max_age_seconds"),
                })
                .collect(),
        })
    },
    deprecated: None,
};

static TAG: Schema = Schema {
    attrs: &[req("key", Ty::Str), req("value", Ty::Str)],
    blocks: &[],
};
static LC_AND: Schema = Schema {
    attrs: &[
        opt("prefix", Ty::Str),
        opt("tags", Ty::MapStr),
        opt("object_size_greater_than", Ty::Int),
        opt("object_size_less_than", Ty::Int),
    ],
    blocks: &[],
};
static LC_FILTER: Schema = Schema {
    attrs: &[
        opt("prefix", Ty::Str),
        opt("object_size_greater_than", Ty::Int),
        opt("object_size_less_than", Ty::Int),
    ],
    blocks: &[block("tag", &TAG).max(1), block("and", &LC_AND).max(1)],
};
static LC_EXPIRATION: Schema = Schema {
    attrs: &[
        opt("date", Ty::Str),
        opt("days", Ty::Int),
        optc("expired_object_delete_marker", Ty::Bool),
    ],
    blocks: &[],
};
static LC_TRANSITION: Schema = Schema {
    attrs: &[
        opt("date", Ty::Str),
        opt("days", Ty::Int),
        req("storage_class", Ty::Str).one_of(STORAGE_CLASSES),
    ],
    blocks: &[],
};
static LC_NC_EXPIRATION: Schema = Schema {
    attrs: &[
        req("noncurrent_days", Ty::Int),
        opt("newer_noncurrent_versions", Ty::Int),
    ],
    blocks: &[],
};
static LC_NC_TRANSITION: Schema = Schema {
    attrs: &[
        req("noncurrent_days", Ty::Int),
        opt("newer_noncurrent_versions", Ty::Int),
        req("storage_class", Ty::Str).one_of(STORAGE_CLASSES),
    ],
    blocks: &[],
};
static LC_ABORT: Schema = Schema {
    attrs: &[opt("days_after_initiation", Ty::Int)],
    blocks: &[],
};
static LC_RULE: Schema = Schema {
    attrs: &[
        req("id", Ty::Str).len(1, 255),
        req("status", Ty::Str).one_of(ENABLED),
        opt("prefix", Ty::Str).deprecated("use filter { prefix = ... }"),
    ],
    blocks: &[
        block("filter", &LC_FILTER).max(1),
        block("expiration", &LC_EXPIRATION).max(1),
        block("transition", &LC_TRANSITION),
        block("noncurrent_version_expiration", &LC_NC_EXPIRATION).max(1),
        block("noncurrent_version_transition", &LC_NC_TRANSITION),
        block("abort_incomplete_multipart_upload", &LC_ABORT).max(1),
    ],
};
static LIFECYCLE_SCHEMA: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        opt("expected_bucket_owner", Ty::Str),
        optc("transition_default_minimum_object_size", Ty::Str)
            .one_of(&["varies_by_storage_class", "all_storage_classes_128K"]),
        computed("id", Ty::Str),
    ],
    blocks: &[block("rule", &LC_RULE).min(1)],
};

/// One lifecycle rule: what expires when.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LifecycleRule {
    /// `id`.
    pub id: String,
    /// Enabled.
    pub enabled: bool,
    /// Key prefix the rule applies to.
    pub prefix: String,
    /// Days after creation when current versions expire.
    pub expiration_days: Option<i64>,
    /// Days after becoming noncurrent when old versions expire.
    pub noncurrent_expiration_days: Option<i64>,
    /// Days after which incomplete multipart uploads are aborted.
    pub abort_multipart_days: Option<i64>,
}

/// A bucket's lifecycle configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lifecycle {
    /// The bucket.
    pub bucket: String,
    /// Rules.
    pub rules: Vec<LifecycleRule>,
}

/// `aws_s3_bucket_lifecycle_configuration`.
pub static LIFECYCLE: Kind = Kind {
    name: "aws_s3_bucket_lifecycle_configuration",
    schema: &LIFECYCLE_SCHEMA,
    computed: id_is_bucket,
    spec: |i, sink| {
        let r = i.r();
        let mut rules = Vec::new();
        for (n, x) in r.blocks("rule").iter().enumerate() {
            let prefix = x
                .block("filter")
                .and_then(|f| {
                    f.os("prefix")
                        .or_else(|| f.block("and").and_then(|a| a.os("prefix")))
                })
                .or_else(|| x.os("prefix"))
                .unwrap_or_default();
            let exp = x.block("expiration");
            if let Some(e) = exp
                && e.os("date").is_some()
                && e.oi("days").is_some()
            {
                i.error(
                    sink,
                    &format!("rule[{n}].expiration"),
                    "expiration takes days or date, not both",
                );
            }
            rules.push(LifecycleRule {
                id: x.s("id"),
                enabled: x.s("status") == "Enabled",
                prefix,
                expiration_days: exp.and_then(|e| e.oi("days")),
                noncurrent_expiration_days: x
                    .block("noncurrent_version_expiration")
                    .and_then(|e| e.oi("noncurrent_days")),
                abort_multipart_days: x
                    .block("abort_incomplete_multipart_upload")
                    .and_then(|e| e.oi("days_after_initiation")),
            });
        }
        Spec::S3Lifecycle(Lifecycle {
            bucket: r.s("bucket"),
            rules,
        })
    },
    deprecated: None,
};

static STATUS: Schema = Schema {
    attrs: &[req("status", Ty::Str).one_of(ENABLED)],
    blocks: &[],
};
static MINUTES: Schema = Schema {
    attrs: &[req("minutes", Ty::Int)],
    blocks: &[],
};
static RTC: Schema = Schema {
    attrs: &[req("status", Ty::Str).one_of(ENABLED)],
    blocks: &[block("time", &MINUTES).one()],
};
static METRICS: Schema = Schema {
    attrs: &[req("status", Ty::Str).one_of(ENABLED)],
    blocks: &[block("event_threshold", &MINUTES).max(1)],
};
static OWNER: Schema = Schema {
    attrs: &[req("owner", Ty::Str).one_of(&["Destination"])],
    blocks: &[],
};
static KMS: Schema = Schema {
    attrs: &[req("replica_kms_key_id", Ty::Str)],
    blocks: &[],
};
static DESTINATION: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        opt("storage_class", Ty::Str).one_of(STORAGE_CLASSES),
        opt("account", Ty::Str),
    ],
    blocks: &[
        block("access_control_translation", &OWNER).max(1),
        block("encryption_configuration", &KMS).max(1),
        block("replication_time", &RTC).max(1),
        block("metrics", &METRICS).max(1),
    ],
};
static RP_AND: Schema = Schema {
    attrs: &[opt("prefix", Ty::Str), opt("tags", Ty::MapStr)],
    blocks: &[],
};
static RP_FILTER: Schema = Schema {
    attrs: &[opt("prefix", Ty::Str)],
    blocks: &[block("tag", &TAG).max(1), block("and", &RP_AND).max(1)],
};
static SSC: Schema = Schema {
    attrs: &[],
    blocks: &[
        block("replica_modifications", &STATUS).max(1),
        block("sse_kms_encrypted_objects", &STATUS).max(1),
    ],
};
static RP_RULE: Schema = Schema {
    attrs: &[
        opt("id", Ty::Str).len(0, 255),
        optc("priority", Ty::Int),
        opt("prefix", Ty::Str).deprecated("use filter { prefix = ... }"),
        req("status", Ty::Str).one_of(ENABLED),
    ],
    blocks: &[
        block("destination", &DESTINATION).one(),
        block("filter", &RP_FILTER).max(1),
        block("delete_marker_replication", &STATUS).max(1),
        block("existing_object_replication", &STATUS).max(1),
        block("source_selection_criteria", &SSC).max(1),
    ],
};
static REPLICATION_SCHEMA: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        req("role", Ty::Str),
        opt("token", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[block("rule", &RP_RULE).min(1).max(1000)],
};

/// One replication rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicationRule {
    /// `id`.
    pub id: String,
    /// Enabled.
    pub enabled: bool,
    /// `priority`.
    pub priority: Option<i64>,
    /// Key prefix (from `filter` or the legacy `prefix`).
    pub prefix: String,
    /// Destination bucket ARN.
    pub destination_bucket: String,
    /// Destination storage class.
    pub storage_class: Option<String>,
    /// Replication Time Control on (the 15-minute objective).
    pub replication_time: bool,
    /// Replication metrics on.
    pub metrics: bool,
    /// Delete markers replicated.
    pub delete_marker_replication: bool,
}

/// A bucket's replication configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replication {
    /// Source bucket.
    pub bucket: String,
    /// IAM role ARN.
    pub role: String,
    /// Rules.
    pub rules: Vec<ReplicationRule>,
}

fn replication_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let rules_r = r.blocks("rule");
    let mut rules = Vec::new();
    for (n, x) in rules_r.iter().enumerate() {
        let d = x.block("destination");
        let rtc = d.and_then(|d| d.block("replication_time"));
        let metrics = d.and_then(|d| d.block("metrics"));
        let p = format!("rule[{n}].destination");
        if let Some(t) = rtc.and_then(|t| t.block("time"))
            && t.i("minutes") != 15
        {
            i.error(
                sink,
                &format!("{p}.replication_time.time.minutes"),
                format!(
                    "replication time minutes must be 15, got {}",
                    t.i("minutes")
                ),
            )
            .hint = Some("S3 Replication Time Control has one objective: 15 minutes".into());
        }
        if let Some(e) = metrics.and_then(|m| m.block("event_threshold"))
            && e.i("minutes") != 15
        {
            i.error(
                sink,
                &format!("{p}.metrics.event_threshold.minutes"),
                format!(
                    "metrics event threshold minutes must be 15, got {}",
                    e.i("minutes")
                ),
            );
        }
        let rtc_on = rtc.is_some_and(|t| t.s("status") == "Enabled");
        let metrics_on = metrics.is_some_and(|m| m.s("status") == "Enabled");
        if rtc_on && !metrics_on {
            i.error(
                sink,
                &format!("{p}.replication_time"),
                "replication time control needs metrics enabled in the same destination",
            );
        }
        if rules_r.len() > 1 && x.block("filter").is_none() {
            i.error(
                sink,
                &format!("rule[{n}]"),
                "with several rules, each rule needs a filter block (and a priority)",
            );
        }
        let prefix = x
            .block("filter")
            .and_then(|f| {
                f.os("prefix")
                    .or_else(|| f.block("and").and_then(|a| a.os("prefix")))
            })
            .or_else(|| x.os("prefix"))
            .unwrap_or_default();
        rules.push(ReplicationRule {
            id: x.s("id"),
            enabled: x.s("status") == "Enabled",
            priority: x.oi("priority"),
            prefix,
            destination_bucket: d.map(|d| d.s("bucket")).unwrap_or_default(),
            storage_class: d.and_then(|d| d.os("storage_class")),
            replication_time: rtc_on,
            metrics: metrics_on,
            delete_marker_replication: x
                .block("delete_marker_replication")
                .is_some_and(|m| m.s("status") == "Enabled"),
        });
    }
    Spec::S3Replication(Replication {
        bucket: r.s("bucket"),
        role: r.s("role"),
        rules,
    })
}

/// `aws_s3_bucket_replication_configuration`.
pub static REPLICATION: Kind = Kind {
    name: "aws_s3_bucket_replication_configuration",
    schema: &REPLICATION_SCHEMA,
    computed: id_is_bucket,
    spec: replication_spec,
    deprecated: None,
};

static ENCRYPTION_SCHEMA: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        opt("expected_bucket_owner", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[block("rule", &SSE_RULE).min(1)],
};

/// A bucket's default encryption.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Encryption {
    /// The bucket.
    pub bucket: String,
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub sse_algorithm: Option<String>,
    /// KMS key, with `aws:kms`.
    pub kms_master_key_id: Option<String>,
}

/// `aws_s3_bucket_server_side_encryption_configuration`.
pub static ENCRYPTION: Kind = Kind {
    name: "aws_s3_bucket_server_side_encryption_configuration",
    schema: &ENCRYPTION_SCHEMA,
    computed: id_is_bucket,
    spec: |i, _| {
        let r = i.r();
        let d = r
            .block("rule")
            .and_then(|x| x.block("apply_server_side_encryption_by_default"));
        Spec::S3Encryption(Encryption {
            bucket: r.s("bucket"),
            sse_algorithm: d.and_then(|d| d.os("sse_algorithm")),
            kms_master_key_id: d.and_then(|d| d.os("kms_master_key_id")),
        })
    },
    deprecated: None,
};
