//! Resource-based policies on tables and streams: PutResourcePolicy, GetResourcePolicy,
//! DeleteResourcePolicy and CreateTable's `ResourcePolicy`, kept in the table's definition
//! with a revision id, and enforced on every request as IAM evaluates a resource policy in
//! the table's account (`authorize` in `api.rs`).
//!
//! A revision id is the time the policy was put, in milliseconds, so later revisions compare
//! greater as DynamoDB's do; putting the same document again changes nothing and answers the
//! same revision. A request may name the revision it expects (`ExpectedRevisionId`,
//! `NO_POLICY` for none) and is refused if another is current.
//!
//! The document is IAM's policy grammar (the parser and evaluator of bucket policies):
//! `dynamodb:` actions, and resources that are the table's ARN, its indexes' or its streams'
//! (or patterns matching them). An explicit deny refuses whoever asks, except that the
//! account's own keys (its root) may always read, replace and delete the policy, so that a
//! policy cannot lock its owner out. A caller of another account needs both its own
//! identity's allow and the policy's.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::Dynamo;
use super::error::Error;
use super::input::Input;
use super::table::{ResourcePolicy, TableDef, parse_table_arn};
use super::tags::arn_member;
use crate::iam::{PolicyDocument, Rules};

/// The largest policy document DynamoDB accepts, in bytes.
const MAX_POLICY: usize = 20 * 1024;

/// `ExpectedRevisionId` for "no policy yet".
const NO_POLICY: &str = "NO_POLICY";

/// What a `ResourceArn` names: a table, or one of its streams (by label).
struct Target {
    def: Arc<TableDef>,
    stream: Option<String>,
}

impl Target {
    fn current(&self) -> Option<&ResourcePolicy> {
        match &self.stream {
            None => self.def.policy.as_ref(),
            Some(label) => self.def.stream_policies.get(label),
        }
    }

    /// How DynamoDB's messages name the resource.
    fn described(&self) -> String {
        match &self.stream {
            None => format!("table {}", self.def.name),
            Some(label) => format!("stream {label} of table {}", self.def.name),
        }
    }
}

/// Parses `document` as the policy of the resource `arn` (a table's or a stream's).
fn parse(document: &str, arn: &str) -> Result<PolicyDocument, Error> {
    if document.len() > MAX_POLICY {
        return Err(Error::validation(format!(
            "Resource-based policy document must be at most {MAX_POLICY} bytes"
        )));
    }
    let within = |r: &str| {
        r == "*"
            || crate::keys::wildcard_match(r, arn)
            || r.strip_prefix(arn)
                .is_some_and(|rest| rest.starts_with("/index/") || rest.starts_with("/stream/"))
    };
    PolicyDocument::parse_with(
        document.as_bytes(),
        &Rules {
            action_prefix: "dynamodb:",
            resource: &within,
        },
    )
    .map_err(|e| Error::validation(format!("Invalid resource-based policy: {}", e.message)))
}

/// A revision later than `after`: now, in milliseconds.
fn next_revision(after: Option<&ResourcePolicy>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let floor = after
        .and_then(|p| p.revision.parse::<u64>().ok())
        .map_or(0, |r| r + 1);
    now.max(floor).to_string()
}

impl Dynamo {
    /// The table or stream a `ResourceArn` names.
    fn policy_target(&self, arn: &str, op: &str) -> Result<Target, Error> {
        let invalid = || Error::validation(format!("Invalid ResourceArn provided as input {arn}"));
        let Some((region, account, name, part)) = parse_table_arn(arn) else {
            return Err(invalid());
        };
        let stream = match part.strip_prefix("/stream/") {
            _ if name.is_empty() => return Err(invalid()),
            None if part.is_empty() => None,
            Some(label) if !label.is_empty() && !label.contains('/') => Some(label.to_owned()),
            _ => return Err(invalid()),
        };
        if !self.is_here(region, account) {
            return Err(self.not_here(arn, op));
        }
        let def = self.table(name).map_err(|_| Error::table_not_found(name))?;
        if let Some(label) = &stream {
            let known = def.stream.as_ref().is_some_and(|s| &s.label == label)
                || def.closed_streams.iter().any(|c| &c.stream.label == label);
            if !known {
                return Err(Error::ResourceNotFound(format!(
                    "Requested resource not found: Stream: {arn} not found"
                )));
            }
        }
        Ok(Target { def, stream })
    }

    /// Whether any table or stream has had a resource-based policy since the process began:
    /// until one has, requests skip looking for policies.
    pub(crate) fn policies_in_use(&self) -> bool {
        self.policies_in_use
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The parsed policy that governs `resource` (a table's, an index's or a stream's ARN in
    /// this region and account), if one is attached.
    pub(crate) fn policy_for(&self, resource: &str) -> Option<Arc<PolicyDocument>> {
        let (region, account, name, part) = parse_table_arn(resource)?;
        if !self.is_here(region, account) {
            return None;
        }
        let def = self.table(name).ok()?;
        // A stream has its own policy; the table's covers the table and its indexes.
        let (attached, own) = match part.strip_prefix("/stream/") {
            Some(label) => (def.stream_policies.get(label)?, resource),
            None => (
                def.policy.as_ref()?,
                &resource[..resource.len() - part.len()],
            ),
        };
        attached
            .parsed
            .get_or_init(|| parse(&attached.document, own).ok().map(Arc::new))
            .clone()
    }

    /// Reads CreateTable's `ResourcePolicy` for the table `arn` (checked, not yet attached).
    pub(crate) fn creation_policy(
        document: Option<&str>,
        arn: &str,
    ) -> Result<Option<ResourcePolicy>, Error> {
        let Some(document) = document else {
            return Ok(None);
        };
        let parsed = parse(document, arn)?;
        let policy = ResourcePolicy {
            document: document.to_owned(),
            revision: next_revision(None),
            parsed: Default::default(),
        };
        let _ = policy.parsed.set(Some(Arc::new(parsed)));
        Ok(Some(policy))
    }

    /// Notes that a definition carries a policy (a table created with one).
    pub(crate) fn note_policies(&self, def: &TableDef) {
        if def.policy.is_some() || !def.stream_policies.is_empty() {
            self.policies_in_use
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// PutResourcePolicy.
    pub(crate) async fn put_resource_policy(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let arn = arn_member(&mut input)?;
        let document = input.string("Policy")?.map(str::to_owned);
        if document.is_none() {
            input.violation(
                "Value null at 'policy' failed to satisfy constraint: Member must not be null"
                    .into(),
            );
        }
        let expected = input.string("ExpectedRevisionId")?.map(str::to_owned);
        let _ = input.boolean("ConfirmRemoveSelfResourceAccess")?;
        input.finish()?;
        let document = document.unwrap_or_default();
        let _changing = self.definitions.lock().await;
        let target = self.policy_target(&arn, "PutResourcePolicy")?;
        let current = target.current();
        check_expected(&target, current, expected.as_deref())?;
        let parsed = parse(&document, &arn)?;
        if let Some(c) = current
            && c.document == document
        {
            return Ok(json!({ "RevisionId": c.revision }));
        }
        let policy = ResourcePolicy {
            document,
            revision: next_revision(current),
            parsed: Default::default(),
        };
        let _ = policy.parsed.set(Some(Arc::new(parsed)));
        let revision = policy.revision.clone();
        self.policies_in_use
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.save_policy(&target, Some(policy)).await?;
        Ok(json!({ "RevisionId": revision }))
    }

    /// GetResourcePolicy.
    pub(crate) fn get_resource_policy(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let arn = arn_member(&mut input)?;
        input.finish()?;
        let target = self.policy_target(&arn, "GetResourcePolicy")?;
        match target.current() {
            Some(p) => Ok(json!({ "Policy": p.document, "RevisionId": p.revision })),
            None => Err(not_found(&arn)),
        }
    }

    /// DeleteResourcePolicy.
    pub(crate) async fn delete_resource_policy(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let arn = arn_member(&mut input)?;
        let expected = input.string("ExpectedRevisionId")?.map(str::to_owned);
        input.finish()?;
        let _changing = self.definitions.lock().await;
        let target = self.policy_target(&arn, "DeleteResourcePolicy")?;
        let Some(current) = target.current() else {
            return Err(not_found(&arn));
        };
        check_expected(&target, Some(current), expected.as_deref())?;
        let revision = current.revision.clone();
        self.save_policy(&target, None).await?;
        Ok(json!({ "RevisionId": revision }))
    }

    /// Writes the target's definition with `policy` in place of its current one.
    async fn save_policy(
        &self,
        target: &Target,
        policy: Option<ResourcePolicy>,
    ) -> Result<(), Error> {
        let old = target.def.clone();
        let mut def = TableDef::clone(&old);
        match (&target.stream, policy) {
            (None, p) => def.policy = p,
            (Some(label), Some(p)) => {
                def.stream_policies.insert(label.clone(), p);
            }
            (Some(label), None) => {
                def.stream_policies.remove(label);
            }
        }
        self.replace_def(old, def).await
    }
}

/// Refuses a change that expects another revision than the current one.
fn check_expected(
    target: &Target,
    current: Option<&ResourcePolicy>,
    expected: Option<&str>,
) -> Result<(), Error> {
    const PREFIX: &str = "Resource-based policy not found for the provided ResourceArn: ";
    let what = target.described();
    match (expected, current) {
        (None, _) | (Some(NO_POLICY), None) => Ok(()),
        (Some(NO_POLICY), Some(c)) => Err(Error::PolicyNotFound(format!(
            "{PREFIX}Requested policy update expecting none to be present for {what}, but a policy exists with revision id {}.",
            c.revision
        ))),
        (Some(e), Some(c)) if e == c.revision => Ok(()),
        (Some(e), Some(c)) => Err(Error::PolicyNotFound(format!(
            "{PREFIX}Requested update for policy with revision id {e}, but the policy associated to target {what} has revision id {}.",
            c.revision
        ))),
        (Some(e), None) => Err(Error::PolicyNotFound(format!(
            "{PREFIX}Requested update for policy with revision id {e}, but no policy is associated to target {what}."
        ))),
    }
}

fn not_found(arn: &str) -> Error {
    Error::PolicyNotFound(format!(
        "Resource-based policy not found for the provided ResourceArn: {arn}"
    ))
}
