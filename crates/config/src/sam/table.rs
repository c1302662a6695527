//! Tables: `AWS::DynamoDB::Table` and `AWS::Serverless::SimpleTable` into [`TableSpec`]s,
//! checked as DynamoDB checks a CreateTable request (key attributes defined and used, index
//! rules, billing and capacity), so that a template the storage plane would refuse is
//! refused here with its `file:line:col`.

use std::collections::BTreeMap;

use super::raw::{self, Num, Text};
use super::spec::{
    ImportSpec, IndexProjection, IndexSpec, KeyAttribute, Origin, TableSpec, Throughput,
};
use super::{Compiler, Res};
use crate::de::decode_at;
use crate::diag::{Findings, did_you_mean};
use crate::node::Node;
use crate::path::FieldPath;

/// DynamoDB's per-table limits.
const MAX_GSI: usize = 20;
const MAX_LSI: usize = 5;

const VIEW_TYPES: [&str; 4] = ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"];
const TABLE_CLASSES: [&str; 2] = ["STANDARD", "STANDARD_INFREQUENT_ACCESS"];

/// A table or index name as DynamoDB accepts it: 3 to 255 of `[a-zA-Z0-9_.-]`.
fn valid_name(s: &str) -> bool {
    (3..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A CloudFormation boolean: `true`/`false`, written bare or quoted.
fn flag(f: &mut Findings, path: &FieldPath, v: Option<&Text>) -> Option<bool> {
    match v.map(|t| t.0.as_deref()) {
        None => None,
        Some(Ok("true" | "True")) => Some(true),
        Some(Ok("false" | "False")) => Some(false),
        Some(Ok(other)) => {
            f.error(path, format!("expected true or false, got \"{other}\""));
            None
        }
        Some(Err(got)) => {
            f.error(path, format!("expected true or false, got {got}"));
            None
        }
    }
}

/// `PointInTimeRecoverySpecification`: the recovery period in days when it enables
/// point-in-time recovery. Exports need it; no history is kept, so a table cannot be
/// restored to an earlier time, which a warning says.
fn pitr(f: &mut Findings, parent: &FieldPath, p: Option<&super::raw::PitrRaw>) -> Option<i64> {
    let p = p?;
    let path = parent.field("PointInTimeRecoverySpecification");
    let enabled = flag(
        f,
        &path.field("PointInTimeRecoveryEnabled"),
        p.point_in_time_recovery_enabled.as_ref(),
    )
    .unwrap_or(false);
    let days = match p.recovery_period_in_days.as_ref().map(|n| &n.0) {
        None => 35,
        Some(Ok(d)) if (1..=35).contains(d) => *d,
        Some(Ok(d)) => {
            f.error(
                &path.field("RecoveryPeriodInDays"),
                format!("{d} is not a recovery period: 1 to 35 days"),
            );
            return None;
        }
        Some(Err(got)) => {
            f.error(
                &path.field("RecoveryPeriodInDays"),
                format!("expected a number of days, got {got}"),
            );
            return None;
        }
    };
    if !enabled {
        return None;
    }
    f.warn(
        &path,
        "point-in-time recovery is on, so the table can be exported, but Meridian keeps no history: it cannot be restored to an earlier time",
    )
    .at_key();
    Some(days)
}

/// `ImportSourceSpecification`, checked as DynamoDB's ImportTable checks its parameters.
fn import_source(
    f: &mut Findings,
    parent: &FieldPath,
    p: Option<&raw::ImportSourceRaw>,
) -> Option<ImportSpec> {
    let p = p?;
    let path = parent.field("ImportSourceSpecification");
    let mut ok = true;
    let source = p.s3_bucket_source.as_ref();
    if source.is_none() {
        f.error(&path, "required field \"S3BucketSource\" is missing")
            .at_key();
        ok = false;
    }
    let bucket = source.and_then(|s| s.bucket.clone());
    if source.is_some() && bucket.is_none() {
        f.error(
            &path.field("S3BucketSource"),
            "required field \"S3Bucket\" is missing",
        )
        .at_key();
        ok = false;
    }
    let input_format = match p.input_format.as_deref() {
        None => {
            f.error(&path, "required field \"InputFormat\" is missing")
                .at_key();
            ok = false;
            String::new()
        }
        Some(format @ ("DYNAMODB_JSON" | "ION" | "CSV")) => format.to_owned(),
        Some(other) => {
            let e = f.error(
                &path.field("InputFormat"),
                format!("unsupported input format \"{other}\" (DYNAMODB_JSON, CSV or ION)"),
            );
            if let Some(c) = did_you_mean(other, ["DYNAMODB_JSON", "ION", "CSV"]) {
                e.hint(format!("did you mean \"{c}\"?"));
            }
            ok = false;
            String::new()
        }
    };
    let compression = match p.input_compression_type.as_deref() {
        None => "NONE".to_owned(),
        Some(c @ ("GZIP" | "ZSTD" | "NONE")) => c.to_owned(),
        Some(other) => {
            f.error(
                &path.field("InputCompressionType"),
                format!("unsupported compression \"{other}\" (GZIP, ZSTD or NONE)"),
            );
            ok = false;
            String::new()
        }
    };
    let csv = p.input_format_options.as_ref().and_then(|o| o.csv.as_ref());
    if let Some(csv) = csv {
        let cp = path.field("InputFormatOptions").field("Csv");
        if !input_format.is_empty() && input_format != "CSV" {
            f.error(
                &path.field("InputFormatOptions"),
                format!("CSV options apply to InputFormat CSV, not {input_format}"),
            )
            .at_key();
            ok = false;
        }
        if let Some(d) = &csv.delimiter
            && !matches!(d.as_str(), "," | "\t" | ":" | ";" | "|" | " ")
        {
            f.error(
                &cp.field("Delimiter"),
                format!("\"{d}\" is not a delimiter DynamoDB reads: one of , \\t : ; | and space"),
            );
            ok = false;
        }
        if let Some(h) = &csv.header_list
            && (h.is_empty() || h.len() > 255 || h.iter().any(String::is_empty))
        {
            f.error(
                &cp.field("HeaderList"),
                "a HeaderList names 1 to 255 columns, none of them empty",
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let source = source?;
    Some(ImportSpec {
        bucket: bucket?,
        bucket_owner: source.bucket_owner.clone(),
        key_prefix: source.key_prefix.clone(),
        input_format,
        compression,
        csv_delimiter: csv.and_then(|c| c.delimiter.clone()),
        csv_header_list: csv.and_then(|c| c.header_list.clone()),
    })
}

fn units(
    f: &mut Findings,
    parent: &FieldPath,
    field: &'static str,
    n: Option<&Num>,
) -> Option<u64> {
    let path = parent.field(field);
    match n.map(|n| &n.0) {
        None => {
            f.error(parent, format!("required field \"{field}\" is missing"))
                .at_key();
            None
        }
        Some(Ok(v)) if *v >= 1 => u64::try_from(*v).ok(),
        Some(Ok(v)) => {
            f.error(&path, format!("{v} is below the minimum of 1"));
            None
        }
        Some(Err(got)) => {
            f.error(&path, format!("expected a whole number, got {got}"));
            None
        }
    }
}

fn throughput(
    f: &mut Findings,
    path: &FieldPath,
    t: Option<&raw::ThroughputRaw>,
) -> Option<Throughput> {
    let t = t?;
    let read = units(f, path, "ReadCapacityUnits", t.read_capacity_units.as_ref());
    let write = units(
        f,
        path,
        "WriteCapacityUnits",
        t.write_capacity_units.as_ref(),
    );
    Some(Throughput {
        read: read?,
        write: write?,
    })
}

/// A `KeySchema` list: exactly one HASH element, then at most one RANGE element, each
/// naming a defined attribute.
fn key_schema(
    f: &mut Findings,
    path: &FieldPath,
    schema: &[raw::KeySchemaRaw],
    defs: &BTreeMap<String, String>,
) -> Option<(KeyAttribute, Option<KeyAttribute>)> {
    if schema.is_empty() || schema.len() > 2 {
        f.error(
            path,
            format!(
                "a KeySchema has one HASH element and at most one RANGE element, got {} elements",
                schema.len()
            ),
        );
        return None;
    }
    let mut hash = None;
    let mut range = None;
    let mut ok = true;
    for (i, k) in schema.iter().enumerate() {
        let kp = path.index(i);
        let name = k.attribute_name.clone().unwrap_or_default();
        if k.attribute_name.is_none() {
            f.error(&kp, "required field \"AttributeName\" is missing")
                .at_key();
            ok = false;
        }
        let attribute_type = match defs.get(&name) {
            Some(t) => t.clone(),
            None => {
                if k.attribute_name.is_some() {
                    let e = f.error(
                        &kp.field("AttributeName"),
                        format!("key attribute \"{name}\" is not in AttributeDefinitions"),
                    );
                    if let Some(c) = did_you_mean(&name, defs.keys().map(String::as_str)) {
                        e.hint(format!("did you mean \"{c}\"?"));
                    }
                }
                ok = false;
                String::new()
            }
        };
        let attr = KeyAttribute {
            name,
            attribute_type,
        };
        match (i, k.key_type.as_deref()) {
            (0, Some("HASH")) => hash = Some(attr),
            (1, Some("RANGE")) => range = Some(attr),
            (0, Some("RANGE")) => {
                f.error(
                    &kp.field("KeyType"),
                    "the first KeySchema element must be the HASH key",
                );
                ok = false;
            }
            (_, Some("HASH")) => {
                f.error(
                    &kp.field("KeyType"),
                    "a KeySchema has exactly one HASH key, listed first",
                );
                ok = false;
            }
            (_, other) => {
                f.error(
                    &kp.field("KeyType"),
                    format!(
                        "unsupported key type \"{}\" (HASH or RANGE)",
                        other.unwrap_or_default()
                    ),
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    Some((hash?, range))
}

impl Compiler<'_> {
    pub(super) fn simple_table(
        &mut self,
        r: &Res<'_>,
        props: &Node,
        infos: &BTreeMap<String, super::ResInfo>,
        f: &mut Findings,
    ) -> Option<TableSpec> {
        let pp = FieldPath::root().field("Properties");
        let p: raw::SimpleTableProps = decode_at(props, &pp, f)?;
        let (name, kind) = match &p.primary_key {
            Some(k) => (
                k.name.clone().unwrap_or_else(|| "id".into()),
                k.kind.clone().unwrap_or_else(|| "String".into()),
            ),
            None => ("id".into(), "String".into()),
        };
        let attribute_type = match kind.as_str() {
            "String" => "S",
            "Number" => "N",
            "Binary" => "B",
            other => {
                f.error(
                    &pp.field("PrimaryKey").field("Type"),
                    format!("unsupported key type \"{other}\" (String, Number or Binary)"),
                );
                return None;
            }
        };
        let table_name = self.table_name(r, &pp, infos, f)?;
        let tp = throughput(
            f,
            &pp.field("ProvisionedThroughput"),
            p.provisioned_throughput.as_ref(),
        );
        let mut tags = BTreeMap::new();
        for (k, v) in p.tags.iter().flatten() {
            match &v.0 {
                Ok(v) => {
                    tags.insert(k.clone(), v.clone());
                }
                Err(got) => {
                    f.error(
                        &pp.field("Tags").key(k.clone()),
                        format!("expected a string, got {got}"),
                    );
                }
            }
        }
        let origin = self.origin(r.node);
        let key_origin = props
            .get("PrimaryKey")
            .map_or_else(|| origin.clone(), |n| self.origin(n));
        Some(TableSpec {
            logical_id: r.id.clone(),
            name: table_name,
            hash_key: KeyAttribute {
                name,
                attribute_type: attribute_type.into(),
            },
            range_key: None,
            billing_mode: if p.provisioned_throughput.is_some() {
                "PROVISIONED".into()
            } else {
                "PAY_PER_REQUEST".into()
            },
            throughput: tp,
            global_indexes: Vec::new(),
            local_indexes: Vec::new(),
            stream_view_type: None,
            ttl_attribute: None,
            tags,
            deletion_protection: false,
            table_class: None,
            resource_policy: None,
            pitr_days: pitr(f, &pp, p.point_in_time_recovery_specification.as_ref()),
            import: None,
            origin,
            key_origin,
        })
    }

    fn origin(&self, node: &Node) -> Origin {
        Origin {
            file: self.file.clone(),
            span: node.span,
        }
    }

    /// The table's name, checked as DynamoDB checks it.
    fn table_name(
        &self,
        r: &Res<'_>,
        pp: &FieldPath,
        infos: &BTreeMap<String, super::ResInfo>,
        f: &mut Findings,
    ) -> Option<String> {
        let name = infos
            .get(&r.id)
            .map(|i| i.ref_value.clone())
            .unwrap_or_default();
        // A name built with intrinsics may be incomplete here (a parameter without a value is
        // reported where it is declared): only its characters are checked, and the storage
        // plane checks its length when it creates the table.
        let literal = r
            .node
            .get("Properties")
            .and_then(|p| p.get("TableName"))
            .is_none_or(|n| n.tag.is_none());
        let chars_ok = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if (literal && !valid_name(&name)) || !chars_ok {
            f.error(
                &pp.field("TableName"),
                format!(
                    "\"{name}\" is not a valid table name (3 to 255 letters, digits, _, - and .)"
                ),
            );
            return None;
        }
        Some(name)
    }

    #[allow(clippy::too_many_lines)]
    pub(super) fn dynamodb_table(
        &mut self,
        r: &Res<'_>,
        props: &Node,
        infos: &BTreeMap<String, super::ResInfo>,
        f: &mut Findings,
    ) -> Option<TableSpec> {
        let pp = FieldPath::root().field("Properties");
        let p: raw::TableProps = decode_at(props, &pp, f)?;
        let dp = pp.field("AttributeDefinitions");
        let mut defs: BTreeMap<String, String> = BTreeMap::new();
        let mut def_order: Vec<(usize, String)> = Vec::new();
        for (i, d) in p.attribute_definitions.iter().flatten().enumerate() {
            let t = d.attribute_type.clone().unwrap_or_default();
            if !matches!(t.as_str(), "S" | "N" | "B") {
                f.error(
                    &dp.index(i).field("AttributeType"),
                    format!("unsupported attribute type \"{t}\" (S, N or B)"),
                );
            }
            let Some(n) = d.attribute_name.clone() else {
                f.error(&dp.index(i), "required field \"AttributeName\" is missing")
                    .at_key();
                continue;
            };
            if defs.insert(n.clone(), t).is_some() {
                f.error(
                    &dp.index(i).field("AttributeName"),
                    format!("attribute \"{n}\" is defined twice"),
                );
            }
            def_order.push((i, n));
        }
        let Some(schema) = &p.key_schema else {
            f.error(&pp, "required field \"KeySchema\" is missing")
                .at_key();
            return None;
        };
        let key = key_schema(f, &pp.field("KeySchema"), schema, &defs);
        let name = self.table_name(r, &pp, infos, f);

        let billing_mode = p
            .billing_mode
            .clone()
            .unwrap_or_else(|| "PROVISIONED".into());
        let provisioned = match billing_mode.as_str() {
            "PROVISIONED" => true,
            "PAY_PER_REQUEST" => false,
            other => {
                let e = f.error(
                    &pp.field("BillingMode"),
                    format!("unsupported value \"{other}\" (PROVISIONED or PAY_PER_REQUEST)"),
                );
                if let Some(c) = did_you_mean(other, ["PROVISIONED", "PAY_PER_REQUEST"]) {
                    e.hint(format!("did you mean \"{c}\"?"));
                }
                false
            }
        };
        let tp = throughput(
            f,
            &pp.field("ProvisionedThroughput"),
            p.provisioned_throughput.as_ref(),
        );
        match (provisioned, p.provisioned_throughput.is_some()) {
            (true, false) if billing_mode == "PROVISIONED" => {
                f.error(
                    &pp,
                    "a PROVISIONED table needs ProvisionedThroughput (or BillingMode: PAY_PER_REQUEST)",
                )
                .at_key();
            }
            (false, true) if billing_mode == "PAY_PER_REQUEST" => {
                f.error(
                    &pp.field("ProvisionedThroughput"),
                    "ProvisionedThroughput cannot be set when BillingMode is PAY_PER_REQUEST",
                )
                .at_key();
            }
            _ => {}
        }

        let mut index_names: Vec<String> = Vec::new();
        let mut index = |f: &mut Findings,
                         ip: FieldPath,
                         raw: &raw::IndexRaw,
                         local: bool|
         -> Option<IndexSpec> {
            let iname = raw.index_name.clone().unwrap_or_default();
            if raw.index_name.is_none() {
                f.error(&ip, "required field \"IndexName\" is missing")
                    .at_key();
            } else if !valid_name(&iname) {
                f.error(
                    &ip.field("IndexName"),
                    format!(
                        "\"{iname}\" is not a valid index name (3 to 255 letters, digits, _, - and .)"
                    ),
                );
            } else if index_names.contains(&iname) {
                f.error(
                    &ip.field("IndexName"),
                    format!("index name \"{iname}\" is used twice"),
                );
            }
            index_names.push(iname.clone());
            let Some(ks) = &raw.key_schema else {
                f.error(&ip, "required field \"KeySchema\" is missing")
                    .at_key();
                return None;
            };
            let ikey = key_schema(f, &ip.field("KeySchema"), ks, &defs);
            let projection = match &raw.projection {
                None => {
                    f.error(&ip, "required field \"Projection\" is missing")
                        .at_key();
                    None
                }
                Some(pr) => {
                    let pp = ip.field("Projection");
                    let kind = pr.projection_type.as_deref().unwrap_or("KEYS_ONLY");
                    match (kind, &pr.non_key_attributes) {
                        ("ALL", None) => Some(IndexProjection::All),
                        ("KEYS_ONLY", None) => Some(IndexProjection::KeysOnly),
                        ("INCLUDE", Some(a)) if !a.is_empty() => {
                            Some(IndexProjection::Include(a.clone()))
                        }
                        ("INCLUDE", _) => {
                            f.error(&pp, "ProjectionType INCLUDE needs NonKeyAttributes")
                                .at_key();
                            None
                        }
                        ("ALL" | "KEYS_ONLY", Some(_)) => {
                            f.error(
                                &pp.field("NonKeyAttributes"),
                                format!("NonKeyAttributes can only be set with ProjectionType INCLUDE, not {kind}"),
                            )
                            .at_key();
                            None
                        }
                        (other, _) => {
                            f.error(
                                &pp.field("ProjectionType"),
                                format!("unsupported projection type \"{other}\" (ALL, KEYS_ONLY or INCLUDE)"),
                            );
                            None
                        }
                    }
                }
            };
            let itp = throughput(
                f,
                &ip.field("ProvisionedThroughput"),
                raw.provisioned_throughput.as_ref(),
            );
            if local {
                if raw.provisioned_throughput.is_some() {
                    f.error(
                        &ip.field("ProvisionedThroughput"),
                        "a local secondary index shares the table's capacity; remove ProvisionedThroughput",
                    )
                    .at_key();
                }
            } else if provisioned && raw.provisioned_throughput.is_none() {
                f.error(
                    &ip,
                    format!("index {iname} of a PROVISIONED table needs ProvisionedThroughput"),
                )
                .at_key();
            } else if !provisioned && raw.provisioned_throughput.is_some() {
                f.error(
                    &ip.field("ProvisionedThroughput"),
                    "ProvisionedThroughput cannot be set when BillingMode is PAY_PER_REQUEST",
                )
                .at_key();
            }
            let (hash_key, range_key) = ikey?;
            Some(IndexSpec {
                name: iname,
                hash_key,
                range_key,
                projection: projection?,
                throughput: if provisioned { itp } else { None },
            })
        };

        let mut global_indexes = Vec::new();
        let gp = pp.field("GlobalSecondaryIndexes");
        let gsis = p.global_secondary_indexes.as_deref().unwrap_or_default();
        if gsis.len() > MAX_GSI {
            f.error(
                &gp,
                format!(
                    "{} global secondary indexes: a table has at most {MAX_GSI}",
                    gsis.len()
                ),
            )
            .at_key();
        }
        for (i, g) in gsis.iter().enumerate() {
            if let Some(ix) = index(f, gp.index(i), g, false) {
                global_indexes.push(ix);
            }
        }
        let mut local_indexes = Vec::new();
        let lp = pp.field("LocalSecondaryIndexes");
        let lsis = p.local_secondary_indexes.as_deref().unwrap_or_default();
        if lsis.len() > MAX_LSI {
            f.error(
                &lp,
                format!(
                    "{} local secondary indexes: a table has at most {MAX_LSI}",
                    lsis.len()
                ),
            )
            .at_key();
        }
        if !lsis.is_empty() && key.as_ref().is_some_and(|(_, r)| r.is_none()) {
            f.error(&lp, "local secondary indexes need a table with a RANGE key")
                .at_key();
        }
        for (i, l) in lsis.iter().enumerate() {
            let Some(ix) = index(f, lp.index(i), l, true) else {
                continue;
            };
            if let Some((hash, _)) = &key
                && ix.hash_key.name != hash.name
            {
                f.error(
                    &lp.index(i)
                        .field("KeySchema")
                        .index(0)
                        .field("AttributeName"),
                    format!(
                        "a local secondary index has the table's HASH key \"{}\", not \"{}\"",
                        hash.name, ix.hash_key.name
                    ),
                );
                continue;
            }
            if ix.range_key.is_none() {
                f.error(
                    &lp.index(i).field("KeySchema"),
                    "a local secondary index needs a RANGE key",
                );
                continue;
            }
            local_indexes.push(ix);
        }

        // DynamoDB refuses attribute definitions that no key uses.
        let used = |n: &str| {
            schema
                .iter()
                .chain(
                    gsis.iter()
                        .chain(lsis)
                        .flat_map(|i| i.key_schema.iter().flatten()),
                )
                .any(|k| k.attribute_name.as_deref() == Some(n))
        };
        for (i, n) in &def_order {
            if !used(n) {
                f.error(
                    &dp.index(*i).field("AttributeName"),
                    format!("attribute \"{n}\" is defined but no key or index uses it"),
                )
                .hint("AttributeDefinitions lists key attributes only; other attributes need no declaration");
            }
        }

        let stream_view_type = match &p.stream_specification {
            None => None,
            Some(s) => match s.stream_view_type.as_deref() {
                Some(v) if VIEW_TYPES.contains(&v) => Some(v.to_owned()),
                Some(v) => {
                    let e = f.error(
                        &pp.field("StreamSpecification").field("StreamViewType"),
                        format!("unsupported stream view type \"{v}\""),
                    );
                    e.hint(did_you_mean(v, VIEW_TYPES).map_or_else(
                        || format!("one of: {}", VIEW_TYPES.join(", ")),
                        |c| format!("did you mean \"{c}\"?"),
                    ));
                    None
                }
                None => {
                    f.error(
                        &pp.field("StreamSpecification"),
                        "required field \"StreamViewType\" is missing",
                    )
                    .at_key();
                    None
                }
            },
        };
        let ttl_attribute = match &p.time_to_live_specification {
            None => None,
            Some(t) => {
                let tp = pp.field("TimeToLiveSpecification");
                let enabled = flag(f, &tp.field("Enabled"), t.enabled.as_ref());
                if t.enabled.is_none() {
                    f.error(&tp, "required field \"Enabled\" is missing")
                        .at_key();
                }
                match (enabled, &t.attribute_name) {
                    (Some(true), Some(a)) if !a.is_empty() => Some(a.clone()),
                    (Some(true), _) => {
                        f.error(&tp, "TTL needs an AttributeName when Enabled is true")
                            .at_key();
                        None
                    }
                    _ => None,
                }
            }
        };
        let mut tags = BTreeMap::new();
        for (i, t) in p.tags.iter().flatten().enumerate() {
            let tp = pp.field("Tags").index(i);
            let Some(k) = &t.key else {
                f.error(&tp, "required field \"Key\" is missing").at_key();
                continue;
            };
            match t.value.as_ref().map(|v| &v.0) {
                Some(Ok(v)) => {
                    tags.insert(k.clone(), v.clone());
                }
                Some(Err(got)) => {
                    f.error(&tp.field("Value"), format!("expected a string, got {got}"));
                }
                None => {
                    f.error(&tp, "required field \"Value\" is missing").at_key();
                }
            }
        }
        let deletion_protection = flag(
            f,
            &pp.field("DeletionProtectionEnabled"),
            p.deletion_protection_enabled.as_ref(),
        )
        .unwrap_or(false);
        if let Some(c) = &p.table_class
            && !TABLE_CLASSES.contains(&c.as_str())
        {
            f.error(
                &pp.field("TableClass"),
                format!(
                    "unsupported table class \"{c}\" ({})",
                    TABLE_CLASSES.join(" or ")
                ),
            );
        }
        let resource_policy = match &p.resource_policy {
            None => None,
            Some(rp) => match &rp.policy_document {
                Some(doc @ serde_json::Value::Object(_)) => Some(doc.to_string()),
                Some(other) => {
                    f.error(
                        &pp.field("ResourcePolicy").field("PolicyDocument"),
                        format!("expected a policy document (a map), got {other}"),
                    );
                    None
                }
                None => {
                    f.error(
                        &pp.field("ResourcePolicy"),
                        "required field \"PolicyDocument\" is missing",
                    )
                    .at_key();
                    None
                }
            },
        };
        let origin = self.origin(r.node);
        let key_origin = props
            .get("KeySchema")
            .map_or_else(|| origin.clone(), |n| self.origin(n));
        let (hash_key, range_key) = key?;
        Some(TableSpec {
            logical_id: r.id.clone(),
            name: name?,
            hash_key,
            range_key,
            billing_mode,
            throughput: if provisioned { tp } else { None },
            global_indexes,
            local_indexes,
            stream_view_type,
            ttl_attribute,
            tags,
            deletion_protection,
            table_class: p.table_class.clone(),
            resource_policy,
            pitr_days: pitr(f, &pp, p.point_in_time_recovery_specification.as_ref()),
            import: import_source(f, &pp, p.import_source_specification.as_ref()),
            origin,
            key_origin,
        })
    }
}
