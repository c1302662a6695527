//! Buckets: `AWS::S3::Bucket` into [`BucketSpec`]s, with the name checked as S3 checks a
//! CreateBucket request, so that a name the storage plane would refuse is refused here with
//! its `file:line:col`. The bucket's configuration documents (encryption, lifecycle, CORS,
//! notifications...) are accepted and not applied; its notifications come from the
//! functions' `Events: Type: S3`, checked as SAM and S3 check them.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;

use super::raw::{S3EventProps, Text};
use super::spec::{BucketNotification, BucketSpec, KeyFilter, Origin, S3_EVENT_TYPES};

/// The S3 event classes Meridian's buckets raise; the other event types a configuration may
/// name (restores, replication, tiering, ACL and tagging changes) are kept and never fire.
const RAISED_CLASSES: [&str; 3] = [
    "s3:ObjectCreated:",
    "s3:ObjectRemoved:",
    "s3:LifecycleExpiration:",
];
use super::{Compiler, Res, ResInfo};
use crate::de::decode_at;
use crate::diag::{Findings, did_you_mean};
use crate::node::{Entry, Node};
use crate::path::FieldPath;

/// `AWS::S3::Bucket` properties.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct BucketProps {
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
            notifications: Vec::new(),
            origin: Origin {
                file: self.file.clone(),
                span: r.node.span,
            },
        })
    }
}

/// A function's `S3` event, kept until every bucket of the template is read.
#[derive(Debug)]
pub(super) struct PendingS3Event {
    /// The bucket's logical id.
    bucket: String,
    /// The function's logical id.
    function_id: String,
    /// The event's name under `Events`.
    event: String,
    spec: BucketNotification,
}

impl Compiler<'_> {
    /// An `S3` event checked as SAM checks it: `Bucket` a `!Ref` to an `AWS::S3::Bucket` of
    /// the template, `Events` S3 event types, `Filter.S3Key.Rules` named `prefix` or
    /// `suffix` once each.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn s3_event(
        &self,
        function_id: &str,
        function: &str,
        event: &str,
        d: &S3EventProps,
        tagged_ref: bool,
        path: &FieldPath,
        infos: &BTreeMap<String, ResInfo>,
        f: &mut Findings,
    ) -> Option<PendingS3Event> {
        let bucket = match &d.bucket {
            None => {
                f.error(
                    path,
                    "required field \"Bucket\" is missing (!Ref to an AWS::S3::Bucket of this template)",
                );
                return None;
            }
            Some(Text(Err(got))) => {
                f.error(
                    &path.field("Bucket"),
                    format!("expected a !Ref to an AWS::S3::Bucket, got {got}"),
                );
                return None;
            }
            Some(Text(Ok(v))) => v,
        };
        let found = infos
            .iter()
            .find(|(_, i)| i.ref_value == *bucket && i.kind == "AWS::S3::Bucket")
            .map(|(id, _)| id.clone());
        let Some(bucket_id) = found.filter(|_| tagged_ref) else {
            f.error(
                &path.field("Bucket"),
                format!("\"{bucket}\" is not a !Ref to an AWS::S3::Bucket of this template"),
            )
            .hint("S3 events must reference a bucket declared in the same template: Bucket: !Ref <BucketLogicalId>");
            return None;
        };
        let events: Vec<String> = match &d.events {
            None => {
                f.error(
                    path,
                    "required field \"Events\" is missing (an S3 event type such as s3:ObjectCreated:*, or a list)",
                );
                return None;
            }
            Some(list) => {
                let mut out = Vec::new();
                for (i, t) in list.0.iter().enumerate() {
                    let at = if list.0.len() == 1 {
                        path.field("Events")
                    } else {
                        path.field("Events").index(i)
                    };
                    match &t.0 {
                        Ok(e) if S3_EVENT_TYPES.contains(&e.as_str()) => {
                            if !RAISED_CLASSES.iter().any(|c| e.starts_with(c)) {
                                f.warn(
                                    &at,
                                    format!(
                                        "{e} is accepted but never raised by Meridian (s3:ObjectCreated, s3:ObjectRemoved and s3:LifecycleExpiration events are)"
                                    ),
                                );
                            }
                            out.push(e.clone());
                        }
                        Ok(e) => {
                            let err = f.error(&at, format!("\"{e}\" is not an S3 event type"));
                            match did_you_mean(e, S3_EVENT_TYPES.iter().copied()) {
                                Some(c) => err.hint(format!("did you mean \"{c}\"?")),
                                None => {
                                    err.hint("for example s3:ObjectCreated:* or s3:ObjectRemoved:*")
                                }
                            };
                        }
                        Err(got) => {
                            f.error(&at, format!("expected an S3 event type, got {got}"));
                        }
                    }
                }
                if out.len() != list.0.len() {
                    return None;
                }
                if out.is_empty() {
                    f.error(
                        &path.field("Events"),
                        "at least one S3 event type is required",
                    );
                    return None;
                }
                out
            }
        };
        let mut filter = KeyFilter::default();
        let rules = d
            .filter
            .as_ref()
            .and_then(|f| f.s3_key.as_ref())
            .and_then(|k| k.rules.as_ref());
        let rules_path = path.field("Filter").field("S3Key").field("Rules");
        for (i, rule) in rules.into_iter().flatten().enumerate() {
            let at = rules_path.index(i);
            let name = match &rule.name {
                Some(Text(Ok(n))) => n.clone(),
                _ => {
                    f.error(&at, "required field \"Name\" is missing (prefix or suffix)");
                    return None;
                }
            };
            let value = match &rule.value {
                Some(Text(Ok(v))) => v.clone(),
                _ => {
                    f.error(&at, "required field \"Value\" is missing");
                    return None;
                }
            };
            let slot = match name.to_ascii_lowercase().as_str() {
                "prefix" => &mut filter.prefix,
                "suffix" => &mut filter.suffix,
                _ => {
                    f.error(
                        &at.field("Name"),
                        format!("filter rule name \"{name}\" must be either prefix or suffix"),
                    );
                    return None;
                }
            };
            if slot.is_some() {
                f.error(
                    &at.field("Name"),
                    format!(
                        "cannot specify more than one {} rule in a filter",
                        name.to_ascii_lowercase()
                    ),
                );
                return None;
            }
            *slot = Some(value);
        }
        Some(PendingS3Event {
            bucket: bucket_id,
            function_id: function_id.to_owned(),
            event: event.to_owned(),
            spec: BucketNotification {
                id: format!("{function_id}{event}"),
                function: function.to_owned(),
                events,
                filter,
                origin: Origin {
                    file: self.file.clone(),
                    span: crate::node::Span::default(),
                },
            },
        })
    }

    /// Gives each bucket the notifications its functions' `S3` events name, refusing two that
    /// S3 would refuse as overlapping.
    pub(super) fn attach_bucket_events(&mut self, buckets: &mut [BucketSpec], resources: &[Entry]) {
        for p in std::mem::take(&mut self.bucket_events) {
            let Some(b) = buckets.iter_mut().find(|b| b.logical_id == p.bucket) else {
                continue;
            };
            let path = FieldPath::root()
                .field("Properties")
                .field("Events")
                .key(p.event.clone())
                .field("Properties")
                .field("Events");
            let fnode = resources
                .iter()
                .find(|e| e.key.as_str() == Some(p.function_id.as_str()))
                .map(|e| &e.value);
            let mut f = Findings::new();
            let events = (p.spec.events.as_slice(), &p.spec.filter);
            if let Some(other) = b.notifications.iter().find(|n| {
                super::spec::s3_notifications_overlap((n.events.as_slice(), &n.filter), events)
            }) {
                f.error(
                    &path,
                    format!(
                        "these events overlap those of {} on bucket {}: S3 refuses two configurations of a bucket that share an event type for the same keys",
                        other.id, b.logical_id
                    ),
                )
                .hint("give them Filter rules (prefix or suffix) that no key matches both");
            }
            let mut spec = p.spec;
            if let Some(n) = fnode {
                let (span, _) = n.locate(&path);
                spec.origin.span = span;
            }
            if f.is_empty() {
                b.notifications.push(spec);
            } else if let Some(n) = fnode {
                self.flush(f, n, Some(&p.function_id));
            }
        }
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
