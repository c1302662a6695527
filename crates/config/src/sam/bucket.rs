//! Buckets: `AWS::S3::Bucket` into [`BucketSpec`]s, with the name checked as S3 checks a
//! CreateBucket request, so that a name the storage plane would refuse is refused here with
//! its `file:line:col`. The bucket's configuration documents (encryption, lifecycle, CORS,
//! notifications...) are accepted and not applied.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;

use super::spec::{BucketSpec, Origin};
use super::{Compiler, Res};
use crate::de::decode_at;
use crate::diag::Findings;
use crate::node::Node;
use crate::path::FieldPath;

/// `AWS::S3::Bucket` properties.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
struct BucketProps {
    bucket_name: Option<String>,
    abac_status: Option<IgnoredAny>,
    accelerate_configuration: Option<IgnoredAny>,
    access_control: Option<IgnoredAny>,
    analytics_configurations: Option<IgnoredAny>,
    bucket_encryption: Option<IgnoredAny>,
    cors_configuration: Option<IgnoredAny>,
    intelligent_tiering_configurations: Option<IgnoredAny>,
    inventory_configurations: Option<IgnoredAny>,
    lifecycle_configuration: Option<IgnoredAny>,
    logging_configuration: Option<IgnoredAny>,
    metadata_configuration: Option<IgnoredAny>,
    metadata_table_configuration: Option<IgnoredAny>,
    metrics_configurations: Option<IgnoredAny>,
    notification_configuration: Option<IgnoredAny>,
    object_lock_configuration: Option<IgnoredAny>,
    object_lock_enabled: Option<IgnoredAny>,
    ownership_controls: Option<IgnoredAny>,
    public_access_block_configuration: Option<IgnoredAny>,
    replication_configuration: Option<IgnoredAny>,
    tags: Option<IgnoredAny>,
    versioning_configuration: Option<IgnoredAny>,
    website_configuration: Option<IgnoredAny>,
}

/// A bucket name as S3 accepts it: 3 to 63 lowercase letters, digits, dots and hyphens,
/// starting and ending with a letter or digit, no two adjacent dots, not an IP address.
pub(crate) fn valid_bucket_name(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !s.contains("..")
        && s.parse::<std::net::Ipv4Addr>().is_err()
}

/// The name CloudFormation gives a bucket without `BucketName`: `<stack>-<logical id>`,
/// lower-cased, limited to S3's characters and length. CloudFormation adds a random suffix;
/// here the name stays the same from one `meridian up` to the next, so the bucket and its
/// objects are found again.
pub(crate) fn generated_bucket_name(stack: &str, logical_id: &str) -> String {
    let mut name: String = format!("{stack}-{logical_id}")
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    name.truncate(63);
    let name = name.trim_matches('-').to_owned();
    if name.len() < 3 {
        format!("{name}-bucket")
    } else {
        name
    }
}

impl Compiler<'_> {
    pub(super) fn s3_bucket(
        &mut self,
        r: &Res<'_>,
        props: &Node,
        infos: &BTreeMap<String, super::ResInfo>,
        f: &mut Findings,
    ) -> Option<BucketSpec> {
        let pp = FieldPath::root().field("Properties");
        let _: BucketProps = decode_at(props, &pp, f)?;
        let name = infos
            .get(&r.id)
            .map(|i| i.ref_value.clone())
            .unwrap_or_default();
        if !valid_bucket_name(&name) {
            f.error(
                &pp.field("BucketName"),
                format!(
                    "\"{name}\" is not a valid bucket name (3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)"
                ),
            );
            return None;
        }
        Some(BucketSpec {
            logical_id: r.id.clone(),
            name,
            origin: Origin {
                file: self.file.clone(),
                span: r.node.span,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.v1", "a1b2c3"] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "a..b",
            "192.168.1.1",
            "a_b",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn generated_names_are_valid() {
        assert_eq!(generated_bucket_name("my-app", "Uploads"), "my-app-uploads");
        let long = generated_bucket_name(&"S".repeat(80), "Photos_Bucket");
        assert!(valid_bucket_name(&long), "{long}");
        assert!(valid_bucket_name(&generated_bucket_name("", "B")));
    }
}
