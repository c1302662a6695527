//! The data sources configurations commonly read: who and where the caller is, and IAM
//! policy documents. Their values come from the provider configuration and the options.

use std::collections::BTreeMap;

use super::{Computed, Kind, Spec};
use crate::terraform::schema::{Schema, Ty, block, computed, opt, optc, req};
use crate::terraform::value::Value;

static CALLER_SCHEMA: Schema = Schema {
    attrs: &[
        computed("account_id", Ty::Str),
        computed("arn", Ty::Str),
        computed("user_id", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};

fn data(_: &super::Inst<'_>, _: &mut crate::terraform::schema::Sink<'_>) -> Spec {
    Spec::Data
}

static REGION_SCHEMA: Schema = Schema {
    attrs: &[
        optc("name", Ty::Str),
        optc("region", Ty::Str),
        optc("endpoint", Ty::Str),
        optc("id", Ty::Str),
        computed("description", Ty::Str),
    ],
    blocks: &[],
};
static PARTITION_SCHEMA: Schema = Schema {
    attrs: &[
        computed("partition", Ty::Str),
        computed("dns_suffix", Ty::Str),
        computed("reverse_dns_prefix", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};
static AZ_FILTER: Schema = Schema {
    attrs: &[req("name", Ty::Str), req("values", Ty::SetStr)],
    blocks: &[],
};
static AZ_SCHEMA: Schema = Schema {
    attrs: &[
        opt("state", Ty::Str).one_of(&["available", "information", "impaired", "unavailable"]),
        opt("all_availability_zones", Ty::Bool),
        opt("exclude_names", Ty::SetStr),
        opt("exclude_zone_ids", Ty::SetStr),
        computed("names", Ty::ListStr),
        computed("zone_ids", Ty::ListStr),
        computed("group_names", Ty::SetStr),
        computed("id", Ty::Str),
    ],
    blocks: &[block("filter", &AZ_FILTER)],
};
static PRINCIPALS: Schema = Schema {
    attrs: &[req("type", Ty::Str), req("identifiers", Ty::SetStr)],
    blocks: &[],
};
static CONDITION: Schema = Schema {
    attrs: &[
        req("test", Ty::Str),
        req("variable", Ty::Str),
        req("values", Ty::ListStr),
    ],
    blocks: &[],
};
static STATEMENT: Schema = Schema {
    attrs: &[
        opt("sid", Ty::Str),
        opt("effect", Ty::Str)
            .dstr("Allow")
            .one_of(&["Allow", "Deny"]),
        opt("actions", Ty::SetStr),
        opt("not_actions", Ty::SetStr),
        opt("resources", Ty::SetStr),
        opt("not_resources", Ty::SetStr),
    ],
    blocks: &[
        block("principals", &PRINCIPALS),
        block("not_principals", &PRINCIPALS),
        block("condition", &CONDITION),
    ],
};
static POLICY_DOC_SCHEMA: Schema = Schema {
    attrs: &[
        opt("version", Ty::Str)
            .dstr("2012-10-17")
            .one_of(&["2008-10-17", "2012-10-17"]),
        opt("policy_id", Ty::Str),
        opt("source_policy_documents", Ty::ListStr),
        opt("override_policy_documents", Ty::ListStr),
        computed("json", Ty::Str),
        computed("minified_json", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[block("statement", &STATEMENT)],
};

fn one_or_list(v: Vec<String>) -> serde_json::Value {
    if v.len() == 1 {
        serde_json::Value::String(v[0].clone())
    } else {
        serde_json::Value::Array(v.into_iter().map(serde_json::Value::String).collect())
    }
}

/// Renders `aws_iam_policy_document` as AWS writes policies.
fn policy_document(c: &mut Computed<'_>) {
    let obj = Value::object(c.obj.clone());
    let doc = super::R(&obj);
    let mut statements: Vec<serde_json::Value> = Vec::new();
    for src in doc.list("source_policy_documents") {
        if let Ok(j) = serde_json::from_str::<serde_json::Value>(&src)
            && let Some(s) = j.get("Statement").and_then(serde_json::Value::as_array)
        {
            statements.extend(s.iter().cloned());
        }
    }
    for s in doc.blocks("statement") {
        let mut m = serde_json::Map::new();
        if let Some(sid) = s.os("sid") {
            m.insert("Sid".into(), sid.into());
        }
        m.insert("Effect".into(), s.s("effect").into());
        for (k, key) in [
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ] {
            let v = s.list(k);
            if !v.is_empty() {
                m.insert(key.into(), one_or_list(v));
            }
        }
        for (k, key) in [
            ("principals", "Principal"),
            ("not_principals", "NotPrincipal"),
        ] {
            let ps = s.blocks(k);
            if ps.is_empty() {
                continue;
            }
            let mut pm: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for p in ps {
                pm.entry(p.s("type"))
                    .or_default()
                    .extend(p.list("identifiers"));
            }
            let v = if pm.len() == 1 && pm.get("*").is_some_and(|v| v == &["*"]) {
                serde_json::Value::String("*".into())
            } else {
                serde_json::Value::Object(
                    pm.into_iter()
                        .map(|(t, ids)| (t, one_or_list(ids)))
                        .collect(),
                )
            };
            m.insert(key.into(), v);
        }
        let conds = s.blocks("condition");
        if !conds.is_empty() {
            let mut cm: BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
                BTreeMap::new();
            for cnd in conds {
                cm.entry(cnd.s("test"))
                    .or_default()
                    .insert(cnd.s("variable"), one_or_list(cnd.list("values")));
            }
            m.insert(
                "Condition".into(),
                serde_json::Value::Object(
                    cm.into_iter()
                        .map(|(k, v)| (k, serde_json::Value::Object(v)))
                        .collect(),
                ),
            );
        }
        statements.push(serde_json::Value::Object(m));
    }
    let mut root = serde_json::Map::new();
    root.insert("Version".into(), doc.s("version").into());
    if let Some(id) = doc.os("policy_id") {
        root.insert("Id".into(), id.into());
    }
    root.insert("Statement".into(), serde_json::Value::Array(statements));
    let j = serde_json::Value::Object(root);
    let pretty = serde_json::to_string_pretty(&j).unwrap_or_default();
    let min = j.to_string();
    c.set("id", format!("{}", min.len()));
    c.set("json", pretty);
    c.set("minified_json", min);
}

/// The data sources Meridian answers.
pub static KINDS: &[Kind] = &[
    Kind {
        name: "aws_caller_identity",
        schema: &CALLER_SCHEMA,
        computed: |c| {
            let acct = c.account.to_owned();
            c.set("account_id", acct.clone());
            c.set("arn", format!("arn:aws:iam::{acct}:user/meridian"));
            c.set("user_id", "AIDAMERIDIANLOCALUSER");
            c.set("id", acct);
        },
        spec: data,
        deprecated: None,
    },
    Kind {
        name: "aws_region",
        schema: &REGION_SCHEMA,
        computed: |c| {
            let region = c.region.to_owned();
            c.set("name", region.clone());
            c.set("region", region.clone());
            c.set("id", region.clone());
            c.set("endpoint", format!("ec2.{region}.amazonaws.com"));
            c.set("description", region);
        },
        spec: data,
        deprecated: None,
    },
    Kind {
        name: "aws_partition",
        schema: &PARTITION_SCHEMA,
        computed: |c| {
            c.set("partition", "aws");
            c.set("dns_suffix", "amazonaws.com");
            c.set("reverse_dns_prefix", "com.amazonaws");
            c.set("id", "aws");
        },
        spec: data,
        deprecated: None,
    },
    Kind {
        name: "aws_availability_zones",
        schema: &AZ_SCHEMA,
        computed: |c| {
            let region = c.region.to_owned();
            let names: Vec<Value> = ["a", "b", "c"]
                .iter()
                .map(|s| Value::str(format!("{region}{s}")))
                .collect();
            let short: String = region
                .split('-')
                .map(|p| p.chars().next().unwrap_or('x'))
                .collect();
            let ids: Vec<Value> = (1..=3)
                .map(|n| Value::str(format!("{short}-az{n}")))
                .collect();
            c.set("names", Value::list(names));
            c.set("zone_ids", Value::list(ids));
            c.set("group_names", Value::set(vec![Value::str(region.clone())]));
            c.set("id", region);
        },
        spec: data,
        deprecated: None,
    },
    Kind {
        name: "aws_iam_policy_document",
        schema: &POLICY_DOC_SCHEMA,
        computed: policy_document,
        spec: data,
        deprecated: None,
    },
];
