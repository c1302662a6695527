//! IAM's resource-based policies, as the services that take them (S3's bucket policies,
//! DynamoDB's table and stream policies) read and evaluate them: the policy grammar and its
//! validation ([`PolicyDocument::parse_with`], under the attaching service's [`Rules`]), who
//! asks ([`Caller`]), the global condition keys of a caller ([`caller_keys`]), and a
//! policy's own decision on a request ([`PolicyDocument::decision`]). Each service words
//! the refusals of a bad document its own way and combines the policy's decision with the
//! caller's identity as IAM does for it.
//!
//! Who asks: an account's own keys (full access to its account, as the account root), a
//! session limited by its identity policy, an AWS service principal (a credential issued by
//! [`crate::keys::KeyStore::issue_service`], carrying the `aws:SourceArn` it acts for), or
//! nobody (an anonymous request).
//!
//! Conditions: the operators `String(Not)Equals(IgnoreCase)`, `String(Not)Like`,
//! `Arn(Not)Equals`, `Arn(Not)Like`, `Bool`, `Null`, the numeric and date ones, and their
//! `...IfExists` forms, on the keys the request has. A key the request lacks fails a
//! positive operator and satisfies a negated one, as IAM.

use serde_json::Value;

use crate::keys::{Decision, wildcard_match};

/// Why a policy document is refused: the message S3 gives in its `MalformedPolicy` (other
/// services reword it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The message.
    pub message: String,
}

type Result<T> = std::result::Result<T, PolicyError>;

fn malformed(message: impl Into<String>) -> PolicyError {
    PolicyError {
        message: message.into(),
    }
}

/// The largest policy S3 and DynamoDB accept, in bytes.
pub const MAX_POLICY: usize = 20 * 1024;

/// Who makes a request, as a policy's `Principal` sees it.
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

/// A parsed resource-based policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

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

impl PolicyDocument {
    /// Parses and validates `doc` as a resource policy under `rules`: IAM's policy grammar,
    /// refused in S3's words (other services reword them).
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

    /// The policy's decision on `action` over `resource` for `caller`, with the request's
    /// condition keys (lower-case names), and where an allow came from.
    pub(crate) fn evaluate(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        keys: &[(String, String)],
    ) -> Evaluation {
        let action = action.to_ascii_lowercase();
        let applies = |s: &Statement| {
            let p = principal_match(&s.principals, caller).is_some() != s.not_principal;
            let a = s
                .actions
                .iter()
                .any(|pat| wildcard_match(&pat.to_ascii_lowercase(), &action))
                != s.not_actions;
            let r = s.resources.iter().any(|pat| wildcard_match(pat, resource)) != s.not_resources;
            p && a && r && s.conditions.iter().all(|c| condition_holds(c, keys))
        };
        let none = |decision| Evaluation {
            decision,
            public: false,
            delegated: false,
        };
        if self.statements.iter().any(|s| !s.allow && applies(s)) {
            return none(Decision::ExplicitDeny);
        }
        let allowing: Vec<&Statement> = self
            .statements
            .iter()
            .filter(|s| s.allow && applies(s))
            .collect();
        if allowing.is_empty() {
            return none(Decision::ImplicitDeny);
        }
        Evaluation {
            decision: Decision::Allow,
            public: allowing
                .iter()
                .all(|s| s.principals == Principals::Anyone && s.conditions.is_empty()),
            delegated: allowing.iter().all(|s| {
                !s.not_principal && principal_match(&s.principals, caller) == Some(Matched::Account)
            }),
        }
    }
}

/// What a resource policy decided, and where an allow came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evaluation {
    pub(crate) decision: Decision,
    /// The allow came from public statements alone (`"*"`, no conditions).
    pub(crate) public: bool,
    /// The allow came from statements that name the caller's account alone (`"123456789012"`,
    /// `arn:aws:iam::123456789012:root`). An account principal delegates to the account: its
    /// principals still need their own identity policy to allow the request, so in the
    /// resource's own account such an allow adds nothing to what the caller's identity
    /// allows.
    pub(crate) delegated: bool,
}

/// How a statement's principals matched a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matched {
    /// By its account.
    Account,
    /// By itself: its ARN, its role, anyone, or its service.
    Principal,
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

fn principal_match(p: &Principals, caller: &Caller) -> Option<Matched> {
    let named = match p {
        Principals::Anyone => return Some(Matched::Principal),
        Principals::Named(n) => n,
    };
    match caller {
        Caller::Anonymous => None,
        Caller::Service { service, .. } => named
            .iter()
            .any(|(k, v)| k == "Service" && v.eq_ignore_ascii_case(service))
            .then_some(Matched::Principal),
        Caller::Account { arn, .. } => {
            let account = arn.split(':').nth(4).unwrap_or("");
            // An assumed role's session also answers to its role's ARN.
            let role = arn
                .strip_prefix(&format!("arn:aws:sts::{account}:assumed-role/"))
                .and_then(|r| r.split('/').next())
                .map(|r| format!("arn:aws:iam::{account}:role/{r}"));
            let root = format!("arn:aws:iam::{account}:root");
            let aws = || named.iter().filter(|(k, _)| k == "AWS").map(|(_, v)| v);
            if aws().any(|v| v == arn || role.as_deref() == Some(v.as_str())) {
                Some(Matched::Principal)
            } else if aws().any(|v| *v == account || *v == root) {
                // The account's own keys are its root: naming the account names them.
                if *arn == root {
                    Some(Matched::Principal)
                } else {
                    Some(Matched::Account)
                }
            } else {
                None
            }
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
