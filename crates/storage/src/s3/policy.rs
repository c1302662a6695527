//! Bucket policies and the public access block: validation of the JSON document as S3 does
//! (`MalformedPolicy`), and evaluation as IAM does for a resource policy in the bucket
//! owner's account.
//!
//! Who asks ([`Caller`]): an account's own keys (full access to its account, as the account
//! root), a session limited by its identity policy, an AWS service principal (a credential
//! issued by [`crate::keys::KeyStore::issue_service`], carrying the `aws:SourceArn` it acts
//! for), or nobody (an anonymous request).
//!
//! The decision ([`decide`]): an explicit Deny in the bucket policy refuses, whoever asks.
//! For a caller of the bucket owner's account, the request is then allowed when its identity
//! allows it (the account's keys; a session's policy) or a bucket policy statement allows it
//! for this principal. A caller of another account needs both, as IAM's cross-account
//! evaluation: its identity allows (an account's keys do) and the bucket policy grants it.
//! With `RestrictPublicBuckets`, a public policy grants nothing to anonymous callers or other
//! accounts (only to service principals and the owner's account). With `BlockPublicPolicy`, a
//! public policy cannot be put.
//!
//! Conditions: the operators `String(Not)Equals(IgnoreCase)`, `String(Not)Like`,
//! `Arn(Not)Equals`, `Arn(Not)Like`, `Bool`, `Null` and their `...IfExists` forms, on the keys
//! the request has (`aws:SourceArn`, `aws:SourceAccount`, `aws:SecureTransport`,
//! `aws:PrincipalType`, `aws:userid`, `s3:prefix`, `s3:delimiter`, `s3:max-keys`,
//! `s3:VersionId`, `s3:x-amz-acl`, `s3:x-amz-grant-*`, `s3:RequestObjectTag/<key>`, and
//! `s3:ExistingObjectTag/<key>`, read from the object only when a policy asks...). A key the
//! request lacks fails a positive operator and satisfies a negated one, as IAM.

use serde_json::Value;

use super::error::{Code, Error, Result};
use crate::keys::{Decision, wildcard_match};

/// The largest policy S3 accepts, in bytes.
pub const MAX_POLICY: usize = 20 * 1024;

/// Who makes a request, as a bucket policy's `Principal` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// An IAM principal of an account: its ARN, and `None` for full access or its identity
    /// policy.
    Account {
        /// `arn:aws:iam::<account>:root`, `arn:aws:sts::<account>:assumed-role/...`.
        arn: String,
        /// The identity policy; `None` for the account's own keys.
        policy: Option<crate::keys::Policy>,
        /// The account it belongs to.
        account: std::sync::Arc<crate::keys::Account>,
    },
    /// An AWS service acting for one of its resources.
    Service {
        /// `cloudfront.amazonaws.com`.
        service: String,
        /// The resource it acts for (`aws:SourceArn`).
        source_arn: String,
        /// That resource's account (`aws:SourceAccount`).
        source_account: String,
    },
}

/// The principals a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principals {
    /// `"*"` or `{"AWS": "*"}`.
    Anyone,
    /// `(kind, value)`: `AWS` ARNs or account ids, `Service` names, `CanonicalUser` ids.
    Named(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    /// The operator, lower case, without `IfExists`.
    op: String,
    if_exists: bool,
    /// The key, lower case.
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    allow: bool,
    principals: Principals,
    not_principal: bool,
    actions: Vec<String>,
    not_actions: bool,
    resources: Vec<String>,
    not_resources: bool,
    conditions: Vec<Condition>,
}

/// A parsed bucket policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPolicy {
    statements: Vec<Statement>,
}

fn malformed(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(Code::MalformedPolicy, message)
}

/// A string or a list of strings (booleans and numbers as their text).
fn strings(v: &Value, field: &str) -> Result<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(malformed(format!("Invalid value for {field}"))),
    };
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err(malformed(format!("Empty value for {field}"))),
        other => Ok(vec![one(other)?]),
    }
}

const OPERATORS: &[&str] = &[
    "stringequals",
    "stringnotequals",
    "stringequalsignorecase",
    "stringnotequalsignorecase",
    "stringlike",
    "stringnotlike",
    "arnequals",
    "arnnotequals",
    "arnlike",
    "arnnotlike",
    "bool",
    "null",
    "numericequals",
    "numericnotequals",
    "numericlessthan",
    "numericlessthanequals",
    "numericgreaterthan",
    "numericgreaterthanequals",
    "ipaddress",
    "notipaddress",
    "dateequals",
    "datenotequals",
    "datelessthan",
    "datelessthanequals",
    "dategreaterthan",
    "dategreaterthanequals",
];

/// What a policy document may name, for the service whose resource it is attached to.
pub(crate) struct Rules<'a> {
    /// The prefix of the service's actions (`s3:`, `dynamodb:`).
    pub action_prefix: &'a str,
    /// Whether a `Resource` entry names the resource the policy is attached to (or a part of
    /// it).
    pub resource: &'a dyn Fn(&str) -> bool,
}

impl BucketPolicy {
    /// Parses and validates `doc` as the policy of `bucket`, with S3's refusals.
    pub fn parse(doc: &[u8], bucket: &str) -> Result<Self> {
        let in_bucket = |r: &str| {
            r.strip_prefix("arn:aws:s3:::")
                .map(|rest| rest.split('/').next().unwrap_or(rest))
                .is_some_and(|b| wildcard_match(b, bucket))
        };
        Self::parse_with(
            doc,
            &Rules {
                action_prefix: "s3:",
                resource: &in_bucket,
            },
        )
    }

    /// Parses and validates `doc` as a resource policy under `rules`: IAM's policy grammar,
    /// refused in S3's words (other services' callers reword them).
    pub(crate) fn parse_with(doc: &[u8], rules: &Rules<'_>) -> Result<Self> {
        if doc.len() > MAX_POLICY {
            return Err(malformed("Policies must be less than 20 KB"));
        }
        let root: Value = serde_json::from_slice(doc)
            .map_err(|_| malformed("This policy contains invalid Json"))?;
        let Value::Object(root) = root else {
            return Err(malformed("This policy contains invalid Json"));
        };
        for k in root.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!("Unknown field {k}")));
            }
        }
        if let Some(v) = root.get("Version")
            && !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17"))
        {
            return Err(malformed("Policy has an invalid version"));
        }
        let statements = match root.get("Statement") {
            None => return Err(malformed("Missing required field Statement")),
            Some(Value::Array(s)) if s.is_empty() => {
                return Err(malformed("Missing required field Statement"));
            }
            Some(Value::Array(s)) => s.iter().collect::<Vec<_>>(),
            Some(s @ Value::Object(_)) => vec![s],
            Some(_) => return Err(malformed("Invalid value for Statement")),
        };
        let statements = statements
            .into_iter()
            .map(|s| statement(s, rules))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { statements })
    }

    /// The account ids its `AWS` principals name (`111122223333`,
    /// `arn:aws:iam::111122223333:root`, `arn:aws:iam::111122223333:role/r`).
    pub fn named_accounts(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().flat_map(|s| match &s.principals {
            Principals::Anyone => Vec::new(),
            Principals::Named(n) => n
                .iter()
                .filter(|(kind, _)| kind == "AWS")
                .map(|(_, v)| {
                    if v.starts_with("arn:") {
                        v.split(':').nth(4).unwrap_or("")
                    } else {
                        v.as_str()
                    }
                })
                .collect(),
        })
    }

    /// Whether a condition of the policy names a key starting with `prefix` (lower case).
    pub fn mentions(&self, prefix: &str) -> bool {
        self.statements
            .iter()
            .any(|s| s.conditions.iter().any(|c| c.key.starts_with(prefix)))
    }

    /// Whether the policy grants access to anyone: an Allow for every principal (`*`) that
    /// no condition narrows to particular sources.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.allow
                && !s.not_principal
                && s.principals == Principals::Anyone
                && s.conditions.is_empty()
        })
    }

    /// The policy's own decision on `action` over `resource` for `caller` (an explicit deny,
    /// an allow, or neither), with the request's condition keys (lower-case names).
    pub(crate) fn decision(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        keys: &[(String, String)],
    ) -> Decision {
        self.evaluate(caller, action, resource, keys).0
    }

    /// The bucket policy's decision on `action` over `resource` for `caller`, with the
    /// request's condition keys (lower-case names). The second value says whether an allow
    /// came from a public statement.
    fn evaluate(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        keys: &[(String, String)],
    ) -> (Decision, bool) {
        let action = action.to_ascii_lowercase();
        let applies = |s: &Statement| {
            let p = principal_matches(&s.principals, caller) != s.not_principal;
            let a = s
                .actions
                .iter()
                .any(|pat| wildcard_match(&pat.to_ascii_lowercase(), &action))
                != s.not_actions;
            let r = s.resources.iter().any(|pat| wildcard_match(pat, resource)) != s.not_resources;
            p && a && r && s.conditions.iter().all(|c| condition_holds(c, keys))
        };
        if self.statements.iter().any(|s| !s.allow && applies(s)) {
            return (Decision::ExplicitDeny, false);
        }
        let allowing: Vec<&Statement> = self
            .statements
            .iter()
            .filter(|s| s.allow && applies(s))
            .collect();
        if allowing.is_empty() {
            return (Decision::ImplicitDeny, false);
        }
        let public = allowing
            .iter()
            .all(|s| s.principals == Principals::Anyone && s.conditions.is_empty());
        (Decision::Allow, public)
    }
}

fn statement(v: &Value, rules: &Rules<'_>) -> Result<Statement> {
    let Value::Object(s) = v else {
        return Err(malformed("Invalid value for Statement"));
    };
    for k in s.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!("Unknown field {k}")));
        }
    }
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        Some(other) => return Err(malformed(format!("Invalid effect: {other}"))),
        None => return Err(malformed("Missing required field Effect")),
    };
    let (principal, not_principal) = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(p), None) => (p, false),
        (None, Some(p)) => (p, true),
        (None, None) => return Err(malformed("Missing required field Principal")),
        (Some(_), Some(_)) => return Err(malformed("Invalid principal in policy")),
    };
    let principals = match principal {
        Value::String(s) if s == "*" => Principals::Anyone,
        Value::Object(m) if !m.is_empty() => {
            let mut named = Vec::new();
            let mut anyone = false;
            for (kind, values) in m {
                if !matches!(
                    kind.as_str(),
                    "AWS" | "Service" | "CanonicalUser" | "Federated"
                ) {
                    return Err(malformed("Invalid principal in policy"));
                }
                for value in strings(values, "Principal")? {
                    if kind == "AWS" && value == "*" {
                        anyone = true;
                    } else if kind == "AWS"
                        && !(value.starts_with("arn:aws:iam::")
                            || value.starts_with("arn:aws:sts::")
                            || (value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())))
                    {
                        return Err(malformed("Invalid principal in policy"));
                    } else {
                        named.push((kind.clone(), value));
                    }
                }
            }
            if anyone {
                Principals::Anyone
            } else {
                Principals::Named(named)
            }
        }
        _ => return Err(malformed("Invalid principal in policy")),
    };
    let (actions, not_actions) = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), None) => (strings(a, "Action")?, false),
        (None, Some(a)) => (strings(a, "NotAction")?, true),
        _ => return Err(malformed("Missing required field Action")),
    };
    for a in &actions {
        let lower = a.to_ascii_lowercase();
        if !(lower == "*"
            || lower.starts_with(rules.action_prefix) && lower.len() > rules.action_prefix.len())
        {
            return Err(malformed("Policy has invalid action"));
        }
    }
    let (resources, not_resources) = match (s.get("Resource"), s.get("NotResource")) {
        (Some(r), None) => (strings(r, "Resource")?, false),
        (None, Some(r)) => (strings(r, "NotResource")?, true),
        _ => return Err(malformed("Missing required field Resource")),
    };
    if resources.iter().any(|r| !(rules.resource)(r)) {
        return Err(malformed("Policy has invalid resource"));
    }
    let mut conditions = Vec::new();
    if let Some(c) = s.get("Condition") {
        let Value::Object(ops) = c else {
            return Err(malformed("Invalid Condition"));
        };
        for (op, block) in ops {
            let lower = op.to_ascii_lowercase();
            let (base, if_exists) = match lower.strip_suffix("ifexists") {
                Some(b) => (b.to_owned(), true),
                None => (lower.clone(), false),
            };
            let base = base
                .strip_prefix("forallvalues:")
                .or_else(|| base.strip_prefix("foranyvalue:"))
                .unwrap_or(&base)
                .to_owned();
            if !OPERATORS.contains(&base.as_str()) {
                return Err(malformed(format!("Invalid Condition type : {op}")));
            }
            let Value::Object(keys) = block else {
                return Err(malformed(format!("Invalid Condition block: {op}")));
            };
            for (key, values) in keys {
                conditions.push(Condition {
                    op: base.clone(),
                    if_exists,
                    key: key.to_ascii_lowercase(),
                    values: strings(values, "Condition")?,
                });
            }
        }
    }
    Ok(Statement {
        allow,
        principals,
        not_principal,
        actions,
        not_actions,
        resources,
        not_resources,
        conditions,
    })
}

fn principal_matches(p: &Principals, caller: &Caller) -> bool {
    let named = match p {
        Principals::Anyone => return true,
        Principals::Named(n) => n,
    };
    match caller {
        Caller::Anonymous => false,
        Caller::Service { service, .. } => named
            .iter()
            .any(|(k, v)| k == "Service" && v.eq_ignore_ascii_case(service)),
        Caller::Account { arn, .. } => {
            let account = arn.split(':').nth(4).unwrap_or("");
            // An assumed role's session also answers to its role's ARN.
            let role = arn
                .strip_prefix(&format!("arn:aws:sts::{account}:assumed-role/"))
                .and_then(|r| r.split('/').next())
                .map(|r| format!("arn:aws:iam::{account}:role/{r}"));
            named.iter().any(|(k, v)| {
                k == "AWS"
                    && (v == arn
                        || *v == account
                        || *v == format!("arn:aws:iam::{account}:root")
                        || role.as_deref() == Some(v.as_str()))
            })
        }
    }
}

fn condition_holds(c: &Condition, keys: &[(String, String)]) -> bool {
    let present: Vec<&str> = keys
        .iter()
        .filter(|(k, _)| *k == c.key)
        .map(|(_, v)| v.as_str())
        .collect();
    if c.op == "null" {
        let want_absent = c.values.iter().any(|v| v == "true");
        return present.is_empty() == want_absent;
    }
    if present.is_empty() {
        return c.if_exists || c.op.contains("not");
    }
    let any = |f: &dyn Fn(&str, &str) -> bool| {
        present
            .iter()
            .any(|have| c.values.iter().any(|want| f(want, have)))
    };
    match c.op.as_str() {
        "stringequals" | "arnequals" => any(&|w, h| w == h),
        "stringnotequals" | "arnnotequals" => !any(&|w, h| w == h),
        "stringequalsignorecase" => any(&|w, h| w.eq_ignore_ascii_case(h)),
        "stringnotequalsignorecase" => !any(&|w, h| w.eq_ignore_ascii_case(h)),
        "stringlike" | "arnlike" => any(&|w, h| wildcard_match(w, h)),
        "stringnotlike" | "arnnotlike" => !any(&|w, h| wildcard_match(w, h)),
        "bool" => any(&|w, h| w.eq_ignore_ascii_case(h)),
        "numericequals" => any(&|w, h| num(w) == num(h) && num(h).is_some()),
        "numericnotequals" => !any(&|w, h| num(w) == num(h)),
        "numericlessthan" => any(&|w, h| matches!((num(h), num(w)), (Some(h), Some(w)) if h < w)),
        "numericlessthanequals" => {
            any(&|w, h| matches!((num(h), num(w)), (Some(h), Some(w)) if h <= w))
        }
        "numericgreaterthan" => {
            any(&|w, h| matches!((num(h), num(w)), (Some(h), Some(w)) if h > w))
        }
        "numericgreaterthanequals" => {
            any(&|w, h| matches!((num(h), num(w)), (Some(h), Some(w)) if h >= w))
        }
        // Keys of these operators (source IPs, dates) are not in the request context.
        _ => false,
    }
}

fn num(s: &str) -> Option<f64> {
    s.parse().ok()
}

/// A bucket's access settings, as the request path needs them.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The account that owns the bucket.
    pub owner: crate::keys::Account,
    /// The policy.
    pub policy: Option<BucketPolicy>,
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets.
    pub block: [bool; 4],
    /// Whether ACLs are evaluated (Object Ownership allows them and the public access block
    /// does not say to ignore public ones).
    pub acls: bool,
    /// The bucket's ACL beyond the owner's full control, when ACLs are evaluated.
    pub grants: Vec<super::acl::Grant>,
}

impl Caller {
    /// The caller a request's credential makes (`None`: an anonymous request).
    pub fn of(cred: Option<&crate::keys::Credential>) -> Self {
        match cred {
            None => Self::Anonymous,
            Some(c) => match &c.service {
                Some(s) => Self::Service {
                    service: s.service.clone(),
                    source_arn: s.source_arn.clone(),
                    source_account: s.source_account.clone(),
                },
                None => Self::Account {
                    arn: c.principal.clone(),
                    policy: c.policy.clone(),
                    account: c.account.clone(),
                },
            },
        }
    }

    /// Whether the caller belongs to the account with id `owner`.
    pub fn in_account(&self, owner: &str) -> bool {
        matches!(self, Self::Account { account, .. } if account.id == owner)
    }
}

/// The global condition keys of a caller (lower-case names), over a plain HTTP connection.
pub(crate) fn caller_keys(caller: &Caller) -> Vec<(String, String)> {
    let mut keys = vec![("aws:securetransport".to_owned(), "false".to_owned())];
    let mut push = |k: &str, v: &str| keys.push((k.to_owned(), v.to_owned()));
    match caller {
        Caller::Anonymous => push("aws:principaltype", "Anonymous"),
        Caller::Account { arn, .. } => {
            push("aws:principalarn", arn);
            if let Some(a) = arn.split(':').nth(4) {
                push("aws:principalaccount", a);
            }
            let kind = if arn.ends_with(":root") {
                "Account"
            } else {
                "AssumedRole"
            };
            push("aws:principaltype", kind);
        }
        Caller::Service {
            source_arn,
            source_account,
            ..
        } => {
            push("aws:sourcearn", source_arn);
            push("aws:sourceaccount", source_account);
            push("aws:principaltype", "AWSService");
        }
    }
    keys
}

/// Whether `caller` may do `action` on `resource` given the bucket's `access`.
pub fn decide(
    access: Option<&Access>,
    caller: &Caller,
    action: &str,
    resource: &str,
    keys: &[(String, String)],
) -> Decision {
    let (bucket, public) = match access.and_then(|a| a.policy.as_ref()) {
        Some(p) => p.evaluate(caller, action, resource, keys),
        None => (Decision::ImplicitDeny, false),
    };
    if bucket == Decision::ExplicitDeny {
        return Decision::ExplicitDeny;
    }
    // Without a bucket (ListBuckets) or a bucket row (a name no one owns yet), the caller
    // acts in its own account.
    let own = access.is_none_or(|a| caller.in_account(&a.owner.id));
    let identity = match caller {
        Caller::Account { policy: None, .. } => Decision::Allow,
        Caller::Account {
            policy: Some(p), ..
        } => p.decide(action, resource),
        Caller::Anonymous | Caller::Service { .. } => Decision::ImplicitDeny,
    };
    if identity == Decision::ExplicitDeny {
        return Decision::ExplicitDeny;
    }
    if own && identity == Decision::Allow {
        return Decision::Allow;
    }
    // With RestrictPublicBuckets only service principals and the owner's account may use
    // what a public policy grants.
    let restricted = access.is_some_and(|a| a.block[3]);
    let outsider = !own && !matches!(caller, Caller::Service { .. });
    if bucket == Decision::Allow && !(public && restricted && outsider) {
        // Another account's principal also needs its own identity's allow.
        if own || identity == Decision::Allow || !matches!(caller, Caller::Account { .. }) {
            return Decision::Allow;
        }
    }
    Decision::ImplicitDeny
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: &str) -> Result<BucketPolicy> {
        BucketPolicy::parse(doc.as_bytes(), "site")
    }

    #[test]
    fn policies_are_validated_as_s3_does() {
        for (doc, message) in [
            ("{", "This policy contains invalid Json"),
            (
                r#"{"Version":"2012-10-17"}"#,
                "Missing required field Statement",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#,
                "Missing required field Principal",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
                "Policy has invalid resource",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:Run","Resource":"arn:aws:s3:::site/*"}]}"#,
                "Policy has invalid action",
            ),
            (
                r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::site"}]}"#,
                "Invalid effect: Maybe",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::site","Condition":{"Sometimes":{"a":"b"}}}]}"#,
                "Invalid Condition type : Sometimes",
            ),
        ] {
            let e = parse(doc).unwrap_err();
            assert_eq!(e.code, Code::MalformedPolicy, "{doc}");
            assert_eq!(e.message, message, "{doc}");
        }
    }

    #[test]
    fn evaluation_as_iam_explicit_deny_wins() {
        let p = parse(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/public/*"},
            {"Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Action":"s3:GetObject",
             "Resource":"arn:aws:s3:::site/*",
             "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:cloudfront::123456789012:distribution/E*"}}},
            {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"],
             "Condition":{"Bool":{"aws:SecureTransport":"false"},"StringLike":{"s3:prefix":"secret/*"}}},
            {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:List*","Resource":"arn:aws:s3:::site",
             "Condition":{"StringEquals":{"s3:prefix":["public/",""]}}}
        ]}"#,
        )
        .unwrap();
        let access = Access {
            owner: crate::keys::Account::local(),
            policy: Some(p.clone()),
            block: [false; 4],
            acls: false,
            grants: Vec::new(),
        };
        let insecure = vec![("aws:securetransport".to_owned(), "false".to_owned())];
        let anon = Caller::Anonymous;
        let d = |caller: &Caller, action, resource, keys: &[(String, String)]| {
            decide(Some(&access), caller, action, resource, keys)
        };
        assert_eq!(
            d(
                &anon,
                "s3:GetObject",
                "arn:aws:s3:::site/public/a",
                &insecure
            ),
            Decision::Allow
        );
        assert_eq!(
            d(
                &anon,
                "s3:GetObject",
                "arn:aws:s3:::site/private/a",
                &insecure
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            d(
                &anon,
                "s3:PutObject",
                "arn:aws:s3:::site/public/a",
                &insecure
            ),
            Decision::ImplicitDeny
        );
        let cf = |arn: &str| Caller::Service {
            service: "cloudfront.amazonaws.com".into(),
            source_arn: arn.into(),
            source_account: "123456789012".into(),
        };
        let keys_of = |arn: &str| {
            let mut k = insecure.clone();
            k.push(("aws:sourcearn".into(), arn.into()));
            k
        };
        let dist = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE";
        assert_eq!(
            d(
                &cf(dist),
                "s3:GetObject",
                "arn:aws:s3:::site/private/a",
                &keys_of(dist)
            ),
            Decision::Allow
        );
        let other = "arn:aws:cloudfront::999999999999:distribution/EOTHER";
        assert_eq!(
            d(
                &cf(other),
                "s3:GetObject",
                "arn:aws:s3:::site/private/a",
                &keys_of(other)
            ),
            Decision::ImplicitDeny
        );
        // s3:prefix conditions on listings; the Deny beats even the account's own keys.
        let list = |prefix: &str| {
            let mut k = insecure.clone();
            k.push(("s3:prefix".into(), prefix.into()));
            k
        };
        assert_eq!(
            d(
                &anon,
                "s3:ListBucket",
                "arn:aws:s3:::site",
                &list("public/")
            ),
            Decision::Allow
        );
        assert_eq!(
            d(&anon, "s3:ListBucket", "arn:aws:s3:::site", &list("other/")),
            Decision::ImplicitDeny
        );
        let root = Caller::Account {
            arn: "arn:aws:iam::123456789012:root".into(),
            policy: None,
            account: std::sync::Arc::new(crate::keys::Account::local()),
        };
        assert_eq!(
            d(&root, "s3:ListBucket", "arn:aws:s3:::site", &list("other/")),
            Decision::Allow
        );
        assert_eq!(
            d(
                &root,
                "s3:ListBucket",
                "arn:aws:s3:::site",
                &list("secret/x")
            ),
            Decision::ExplicitDeny
        );
        assert!(p.is_public());

        // RestrictPublicBuckets: the public grant is void for anonymous callers only.
        let restricted = Access {
            owner: crate::keys::Account::local(),
            policy: Some(p),
            block: [false, false, false, true],
            acls: false,
            grants: Vec::new(),
        };
        assert_eq!(
            decide(
                Some(&restricted),
                &anon,
                "s3:GetObject",
                "arn:aws:s3:::site/public/a",
                &insecure
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                Some(&restricted),
                &cf(dist),
                "s3:GetObject",
                "arn:aws:s3:::site/x",
                &keys_of(dist)
            ),
            Decision::Allow
        );
        // No policy: anonymous refused, the account allowed.
        assert_eq!(
            decide(None, &anon, "s3:GetObject", "arn:aws:s3:::site/a", &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(None, &root, "s3:GetObject", "arn:aws:s3:::site/a", &[]),
            Decision::Allow
        );

        // Another account: refused without a grant, let in by a statement naming it.
        let alt = Caller::Account {
            arn: "arn:aws:iam::111122223333:root".into(),
            policy: None,
            account: std::sync::Arc::new(crate::keys::Account::parse("111122223333:alt").unwrap()),
        };
        let owned = Access {
            owner: crate::keys::Account::local(),
            ..Access::default()
        };
        let object = "arn:aws:s3:::site/a";
        assert_eq!(
            decide(Some(&owned), &alt, "s3:GetObject", object, &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(None, &alt, "s3:ListAllMyBuckets", "*", &[]),
            Decision::Allow
        );
        let granted = Access {
            policy: Some(
                parse(
                    r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
                    "Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#,
                )
                .unwrap(),
            ),
            ..owned.clone()
        };
        assert_eq!(
            decide(Some(&granted), &alt, "s3:GetObject", object, &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(Some(&granted), &alt, "s3:PutObject", object, &[]),
            Decision::ImplicitDeny
        );
        // A public policy under RestrictPublicBuckets lets no other account in.
        let public = Access {
            policy: Some(
                parse(
                    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#,
                )
                .unwrap(),
            ),
            block: [false, false, false, true],
            ..owned
        };
        assert_eq!(
            decide(Some(&public), &alt, "s3:GetObject", object, &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(Some(&public), &root, "s3:GetObject", object, &[]),
            Decision::Allow
        );
    }
}
