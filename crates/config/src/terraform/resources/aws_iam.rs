//! IAM roles and policies: kept with their documents, and used where a policy is checked (the
//! replication role must let S3 assume it).

use super::{Inst, Kind, Spec, UPPER};
use crate::terraform::schema::{Schema, Sink, Ty, block, computed, opt, optc, req};

fn policy_doc(i: &Inst<'_>, sink: &mut Sink<'_>, key: &str) -> serde_json::Value {
    let r = i.r();
    if r.unknown(key) {
        return serde_json::Value::Null;
    }
    let doc: serde_json::Value = serde_json::from_str(&r.s(key)).unwrap_or_default();
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(s)) => s.clone(),
        Some(s @ serde_json::Value::Object(_)) => vec![s.clone()],
        _ => {
            i.error(sink, key, "the policy document has no Statement")
                .hint =
                Some("a policy is {\"Version\": \"2012-10-17\", \"Statement\": [...]}".into());
            return doc;
        }
    };
    for (n, s) in statements.iter().enumerate() {
        match s.get("Effect").and_then(serde_json::Value::as_str) {
            Some("Allow" | "Deny") => {}
            Some(other) => {
                i.error(
                    sink,
                    key,
                    format!(
                        "statement {n} has Effect \"{other}\"; it must be \"Allow\" or \"Deny\""
                    ),
                );
            }
            None => {
                i.error(
                    sink,
                    key,
                    format!("statement {n} has no Effect; it must be \"Allow\" or \"Deny\""),
                );
            }
        }
    }
    doc
}

/// The service principals a trust policy lets assume the role (`s3.amazonaws.com`).
pub fn trusted_services(doc: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(s)) => s.clone(),
        Some(s) => vec![s.clone()],
        None => Vec::new(),
    };
    for s in statements {
        if s.get("Effect").and_then(serde_json::Value::as_str) != Some("Allow") {
            continue;
        }
        match s.get("Principal").and_then(|p| p.get("Service")) {
            Some(serde_json::Value::String(v)) => out.push(v.clone()),
            Some(serde_json::Value::Array(v)) => {
                out.extend(v.iter().filter_map(|x| x.as_str().map(str::to_owned)))
            }
            _ => {}
        }
    }
    out
}

static INLINE: Schema = Schema {
    attrs: &[opt("name", Ty::Str), opt("policy", Ty::Json)],
    blocks: &[],
};
static ROLE_SCHEMA: Schema = Schema {
    attrs: &[
        optc("name", Ty::Str).len(1, 64),
        optc("name_prefix", Ty::Str).len(1, 38),
        req("assume_role_policy", Ty::Json),
        opt("description", Ty::Str).len(0, 1000),
        opt("force_detach_policies", Ty::Bool).dbool(false),
        optc("managed_policy_arns", Ty::SetStr).deprecated("use aws_iam_role_policy_attachment"),
        opt("max_session_duration", Ty::Int)
            .dint(3600)
            .range(3600, 43200),
        opt("path", Ty::Str).dstr("/"),
        opt("permissions_boundary", Ty::Str),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("arn", Ty::Str),
        computed("id", Ty::Str),
        computed("unique_id", Ty::Str),
        computed("create_date", Ty::Str),
    ],
    blocks: &[block("inline_policy", &INLINE).deprecated("use aws_iam_role_policy")],
};

/// An IAM role.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Role {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// The trust policy.
    pub assume_role_policy: serde_json::Value,
    /// Services that may assume it.
    pub trusted_services: Vec<String>,
}

fn name_of(c: &mut super::Computed<'_>) -> String {
    match (c.s("name"), c.s("name_prefix")) {
        (Some(n), _) => n,
        (None, Some(p)) => format!("{p}{}", c.ident("name", 26, b"0123456789")),
        (None, None) => format!("terraform-{}", c.ident("name", 26, b"0123456789")),
    }
}

/// `aws_iam_role`.
pub static ROLE: Kind = Kind {
    name: "aws_iam_role",
    schema: &ROLE_SCHEMA,
    computed: |c| {
        let name = name_of(c);
        let path = c.s("path").unwrap_or_else(|| "/".into());
        c.set(
            "arn",
            format!("arn:aws:iam::{}:role{path}{name}", c.account),
        );
        c.set("id", name.clone());
        c.set("name", name);
        c.set("unique_id", format!("AROA{}", c.ident("uid", 17, UPPER)));
        c.set("create_date", "1970-01-01T00:00:00Z");
        c.tags_all();
    },
    spec: |i, sink| {
        let r = i.r();
        let doc = policy_doc(i, sink, "assume_role_policy");
        Spec::IamRole(Role {
            name: r.s("name"),
            arn: r.s("arn"),
            trusted_services: trusted_services(&doc),
            assume_role_policy: doc,
        })
    },
    deprecated: None,
};

static POLICY_SCHEMA: Schema = Schema {
    attrs: &[
        optc("name", Ty::Str).len(1, 128),
        optc("name_prefix", Ty::Str),
        opt("path", Ty::Str).dstr("/"),
        opt("description", Ty::Str),
        req("policy", Ty::Json),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("arn", Ty::Str),
        computed("id", Ty::Str),
        computed("policy_id", Ty::Str),
        computed("attachment_count", Ty::Int),
    ],
    blocks: &[],
};

/// An IAM managed policy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Policy {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// The document.
    pub document: serde_json::Value,
}

/// `aws_iam_policy`.
pub static POLICY: Kind = Kind {
    name: "aws_iam_policy",
    schema: &POLICY_SCHEMA,
    computed: |c| {
        let name = name_of(c);
        let path = c.s("path").unwrap_or_else(|| "/".into());
        let arn = format!("arn:aws:iam::{}:policy{path}{name}", c.account);
        c.set("id", arn.clone());
        c.set("arn", arn);
        c.set("name", name);
        c.set("policy_id", format!("ANPA{}", c.ident("pid", 17, UPPER)));
        c.set("attachment_count", 0i64);
        c.tags_all();
    },
    spec: |i, sink| {
        let r = i.r();
        let document = policy_doc(i, sink, "policy");
        Spec::IamPolicy(Policy {
            name: r.s("name"),
            arn: r.s("arn"),
            document,
        })
    },
    deprecated: None,
};

static ATTACHMENT_SCHEMA: Schema = Schema {
    attrs: &[
        req("role", Ty::Str),
        req("policy_arn", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};

/// A policy attached to a role, by ARN or inline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RolePolicy {
    /// The role's name.
    pub role: String,
    /// The attached policy's ARN.
    pub policy_arn: Option<String>,
    /// An inline document.
    pub document: Option<serde_json::Value>,
}

/// `aws_iam_role_policy_attachment`.
pub static ATTACHMENT: Kind = Kind {
    name: "aws_iam_role_policy_attachment",
    schema: &ATTACHMENT_SCHEMA,
    computed: |c| {
        let role = c.s("role").unwrap_or_default();
        c.set("id", format!("{role}-{}", c.ident("id", 26, b"0123456789")));
    },
    spec: |i, _| {
        let r = i.r();
        Spec::IamRolePolicy(RolePolicy {
            role: r.s("role"),
            policy_arn: r.os("policy_arn"),
            document: None,
        })
    },
    deprecated: None,
};

static ROLE_POLICY_SCHEMA: Schema = Schema {
    attrs: &[
        optc("name", Ty::Str),
        optc("name_prefix", Ty::Str),
        req("role", Ty::Str),
        req("policy", Ty::Json),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};

/// `aws_iam_role_policy`.
pub static ROLE_POLICY: Kind = Kind {
    name: "aws_iam_role_policy",
    schema: &ROLE_POLICY_SCHEMA,
    computed: |c| {
        let name = name_of(c);
        let role = c.s("role").unwrap_or_default();
        c.set("id", format!("{role}:{name}"));
        c.set("name", name);
    },
    spec: |i, sink| {
        let r = i.r();
        let document = policy_doc(i, sink, "policy");
        Spec::IamRolePolicy(RolePolicy {
            role: r.s("role"),
            policy_arn: None,
            document: Some(document),
        })
    },
    deprecated: None,
};
