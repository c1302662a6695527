//! Databases: RDS instances (PostgreSQL primaries and cross-region read replicas) and
//! DynamoDB tables (with `replica` blocks: global tables). What the storage and replication
//! planes serve.

use std::collections::BTreeMap;

use super::{Computed, Inst, Kind, LOCAL_DOMAIN, LOWER, Spec, UPPER};
use crate::terraform::schema::{Hint, Schema, Sink, Ty, block, computed, opt, optc, req};
use crate::terraform::value::Value;

const ENGINES: &[&str] = &[
    "postgres",
    "mysql",
    "mariadb",
    "aurora-postgresql",
    "aurora-mysql",
    "oracle-ee",
    "oracle-se2",
    "oracle-ee-cdb",
    "oracle-se2-cdb",
    "sqlserver-ee",
    "sqlserver-se",
    "sqlserver-ex",
    "sqlserver-web",
    "db2-se",
    "db2-ae",
    "custom-oracle-ee",
    "custom-sqlserver-ee",
    "custom-sqlserver-se",
    "custom-sqlserver-web",
];

fn check_identifier(v: &Value) -> Result<(), String> {
    let s = v.as_str().unwrap_or_default();
    if s.is_empty() || s.len() > 63 {
        return Err(format!(
            "identifier \"{s}\" must be 1 to 63 characters long"
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "identifier \"{s}\" may hold only lower-case letters, digits and hyphens"
        ));
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("identifier \"{s}\" must start with a letter"));
    }
    if s.ends_with('-') || s.contains("--") {
        return Err(format!(
            "identifier \"{s}\" cannot end with a hyphen or hold two hyphens in a row"
        ));
    }
    Ok(())
}

static BLUE_GREEN: Schema = Schema {
    attrs: &[opt("enabled", Ty::Bool)],
    blocks: &[],
};
static PITR: Schema = Schema {
    attrs: &[
        opt("restore_time", Ty::Str),
        opt("source_db_instance_identifier", Ty::Str),
        opt("source_db_instance_automated_backups_arn", Ty::Str),
        opt("source_dbi_resource_id", Ty::Str),
        opt("use_latest_restorable_time", Ty::Bool),
    ],
    blocks: &[],
};
static DB_SCHEMA: Schema = Schema {
    attrs: &[
        optc("identifier", Ty::Str).check(check_identifier),
        optc("identifier_prefix", Ty::Str),
        optc("engine", Ty::Str).one_of(ENGINES),
        optc("engine_version", Ty::Str),
        req("instance_class", Ty::Str),
        optc("allocated_storage", Ty::Int).range(5, 65536),
        opt("max_allocated_storage", Ty::Int),
        optc("storage_type", Ty::Str).one_of(&["standard", "gp2", "gp3", "io1", "io2"]),
        optc("storage_encrypted", Ty::Bool),
        optc("kms_key_id", Ty::Str),
        optc("iops", Ty::Int),
        optc("storage_throughput", Ty::Int),
        optc("db_name", Ty::Str),
        optc("username", Ty::Str),
        opt("password", Ty::Str),
        opt("password_wo", Ty::Str),
        opt("password_wo_version", Ty::Int),
        opt("manage_master_user_password", Ty::Bool),
        opt("master_user_secret_kms_key_id", Ty::Str),
        optc("port", Ty::Int).range(1150, 65535),
        optc("multi_az", Ty::Bool),
        optc("availability_zone", Ty::Str),
        opt("publicly_accessible", Ty::Bool).dbool(false),
        optc("backup_retention_period", Ty::Int).range(0, 35),
        optc("backup_window", Ty::Str),
        opt("backup_target", Ty::Str),
        optc("maintenance_window", Ty::Str),
        opt("skip_final_snapshot", Ty::Bool).dbool(false),
        opt("final_snapshot_identifier", Ty::Str),
        opt("deletion_protection", Ty::Bool).dbool(false),
        opt("apply_immediately", Ty::Bool).dbool(false),
        opt("auto_minor_version_upgrade", Ty::Bool).dbool(true),
        opt("allow_major_version_upgrade", Ty::Bool),
        opt("copy_tags_to_snapshot", Ty::Bool).dbool(false),
        optc("db_subnet_group_name", Ty::Str),
        optc("vpc_security_group_ids", Ty::SetStr),
        optc("parameter_group_name", Ty::Str),
        optc("option_group_name", Ty::Str),
        opt("replicate_source_db", Ty::Str),
        optc("replica_mode", Ty::Str).one_of(&["mounted", "open-read-only"]),
        opt("snapshot_identifier", Ty::Str),
        opt("performance_insights_enabled", Ty::Bool).dbool(false),
        optc("performance_insights_retention_period", Ty::Int),
        optc("performance_insights_kms_key_id", Ty::Str),
        opt("monitoring_interval", Ty::Int).dint(0),
        optc("monitoring_role_arn", Ty::Str),
        opt("enabled_cloudwatch_logs_exports", Ty::SetStr),
        opt("iam_database_authentication_enabled", Ty::Bool),
        optc("ca_cert_identifier", Ty::Str),
        optc("license_model", Ty::Str),
        optc("character_set_name", Ty::Str),
        optc("nchar_character_set_name", Ty::Str),
        optc("network_type", Ty::Str).one_of(&["IPV4", "DUAL"]),
        opt("customer_owned_ip_enabled", Ty::Bool),
        opt("upgrade_storage_config", Ty::Bool),
        optc("dedicated_log_volume", Ty::Bool),
        opt("delete_automated_backups", Ty::Bool).dbool(true),
        optc("timezone", Ty::Str),
        optc("engine_lifecycle_support", Ty::Str),
        opt("database_insights_mode", Ty::Str),
        opt("domain", Ty::Str),
        opt("domain_iam_role_name", Ty::Str),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("address", Ty::Str),
        computed("arn", Ty::Str),
        computed("endpoint", Ty::Str),
        computed("hosted_zone_id", Ty::Str),
        computed("id", Ty::Str),
        computed("resource_id", Ty::Str),
        computed("status", Ty::Str),
        computed("latest_restorable_time", Ty::Str),
        computed("replicas", Ty::ListStr),
        computed("listener_endpoint", Ty::Any),
        computed("master_user_secret", Ty::Any),
    ],
    blocks: &[
        block("blue_green_update", &BLUE_GREEN).max(1),
        block("restore_to_point_in_time", &PITR).max(1),
    ],
};

fn default_port(engine: &str) -> i64 {
    match engine {
        "postgres" | "aurora-postgresql" => 5432,
        "mysql" | "mariadb" | "aurora-mysql" => 3306,
        e if e.starts_with("oracle") || e.starts_with("custom-oracle") => 1521,
        e if e.contains("sqlserver") => 1433,
        e if e.starts_with("db2") => 50000,
        _ => 5432,
    }
}

/// The hosted zone of RDS endpoints per region (what AWS returns).
fn rds_zone(region: &str) -> &'static str {
    match region {
        "us-east-1" => "Z2R2ITUGPM61AM",
        "us-east-2" => "ZZ9PNJKJT0RMW",
        "us-west-1" => "Z10WI91S59XXQN",
        "us-west-2" => "Z1PVIF0B656C1W",
        "eu-west-1" => "Z29XKXDKYMONMX",
        "eu-west-2" => "Z1Y7SSXVCM5KS6",
        "eu-central-1" => "Z1RLNUO7B9Q6NB",
        _ => "Z2R2ITUGPM61AM",
    }
}

fn db_computed(c: &mut Computed<'_>) {
    let identifier = match (c.s("identifier"), c.s("identifier_prefix")) {
        (Some(i), _) => i,
        (None, Some(p)) => format!("{p}{}", c.ident("id", 26, LOWER)),
        (None, None) => format!("terraform-{}", c.ident("id", 26, LOWER)),
    };
    let engine = c.s("engine").unwrap_or_default();
    let port = c
        .obj
        .get("port")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| default_port(&engine));
    let region = c.region.to_owned();
    let host = format!(
        "{identifier}.{}.{region}.rds.{LOCAL_DOMAIN}",
        c.ident("host", 12, LOWER)
    );
    let resource_id = format!("db-{}", c.ident("resource", 26, UPPER));
    c.set(
        "arn",
        format!("arn:aws:rds:{region}:{}:db:{identifier}", c.account),
    );
    c.set("identifier", identifier);
    c.set("port", port);
    c.set("address", host.clone());
    c.set("endpoint", format!("{host}:{port}"));
    c.set("hosted_zone_id", rds_zone(&region));
    c.set("id", resource_id.clone());
    c.set("resource_id", resource_id);
    c.set("status", "available");
    c.set("replicas", Value::list(Vec::new()));
    c.fill("multi_az", false);
    c.fill("storage_encrypted", false);
    c.tags_all();
}

/// A database instance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Database {
    /// `identifier`.
    pub identifier: String,
    /// `arn`.
    pub arn: String,
    /// `engine` (empty for a replica, which takes its source's).
    pub engine: String,
    /// `engine_version`.
    pub engine_version: Option<String>,
    /// `instance_class`.
    pub instance_class: String,
    /// `allocated_storage`, GiB.
    pub allocated_storage: Option<i64>,
    /// `storage_encrypted`.
    pub storage_encrypted: bool,
    /// `multi_az`.
    pub multi_az: bool,
    /// `publicly_accessible`.
    pub publicly_accessible: bool,
    /// `backup_retention_period`, days (1 when unset, as RDS does).
    pub backup_retention_period: i64,
    /// `db_name`.
    pub db_name: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// Port.
    pub port: i64,
    /// `address`: the host it answers under here.
    pub address: String,
    /// `replicate_source_db`: the source's identifier or ARN.
    pub replicate_source_db: Option<String>,
    /// Region.
    pub region: String,
}

fn db_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let replica = r.os("replicate_source_db");
    let engine = r.s("engine");
    let from_snapshot =
        r.os("snapshot_identifier").is_some() || r.block("restore_to_point_in_time").is_some();
    if replica.is_none() && !from_snapshot && engine.is_empty() && !r.unknown("engine") {
        i.error(sink, "", "required argument \"engine\" is missing")
            .hint("set engine (postgres), or replicate_source_db for a read replica");
    }
    if replica.is_none()
        && !from_snapshot
        && !engine.starts_with("aurora")
        && r.oi("allocated_storage").is_none()
        && !r.unknown("allocated_storage")
    {
        i.error(
            sink,
            "",
            "required argument \"allocated_storage\" is missing",
        )
        .hint("a database that is not a replica needs its storage size in GiB");
    }
    if replica.is_some() {
        for k in ["username", "db_name", "manage_master_user_password"] {
            if i.spans.has(k) {
                i.error(
                    sink,
                    k,
                    format!("a read replica takes {k} from its source; remove it"),
                );
            }
        }
    }
    if let (Some(max), Some(alloc)) = (r.oi("max_allocated_storage"), r.oi("allocated_storage"))
        && max != 0
        && max < alloc
    {
        i.error(
            sink,
            "max_allocated_storage",
            format!("max_allocated_storage ({max}) must be at least allocated_storage ({alloc})"),
        );
    }
    Spec::Database(Database {
        identifier: r.s("identifier"),
        arn: r.s("arn"),
        engine,
        engine_version: r.os("engine_version"),
        instance_class: r.s("instance_class"),
        allocated_storage: r.oi("allocated_storage"),
        storage_encrypted: r.b("storage_encrypted"),
        multi_az: r.b("multi_az"),
        publicly_accessible: r.b("publicly_accessible"),
        backup_retention_period: r.oi("backup_retention_period").unwrap_or(1),
        db_name: r.os("db_name"),
        username: r.os("username"),
        port: r.i("port"),
        address: r.s("address"),
        replicate_source_db: replica,
        region: i.region.to_owned(),
    })
}

/// `aws_db_instance`.
pub static DB_INSTANCE: Kind = Kind {
    name: "aws_db_instance",
    schema: &DB_SCHEMA,
    computed: db_computed,
    spec: db_spec,
    deprecated: None,
};

static ATTRIBUTE: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("type", Ty::Str).one_of(&["S", "N", "B"]),
    ],
    blocks: &[],
};
static THROUGHPUT: Schema = Schema {
    attrs: &[
        optc("max_read_request_units", Ty::Int),
        optc("max_write_request_units", Ty::Int),
    ],
    blocks: &[],
};
static WARM: Schema = Schema {
    attrs: &[
        optc("read_units_per_second", Ty::Int),
        optc("write_units_per_second", Ty::Int),
    ],
    blocks: &[],
};
static GSI: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        optc("hash_key", Ty::Str),
        opt("range_key", Ty::Str),
        req("projection_type", Ty::Str).one_of(&["ALL", "KEYS_ONLY", "INCLUDE"]),
        opt("non_key_attributes", Ty::SetStr),
        optc("read_capacity", Ty::Int),
        optc("write_capacity", Ty::Int),
    ],
    blocks: &[
        block("on_demand_throughput", &THROUGHPUT).max(1),
        block("warm_throughput", &WARM).max(1),
    ],
};
static LSI: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("range_key", Ty::Str),
        req("projection_type", Ty::Str).one_of(&["ALL", "KEYS_ONLY", "INCLUDE"]),
        opt("non_key_attributes", Ty::ListStr),
    ],
    blocks: &[],
};
static REPLICA: Schema = Schema {
    attrs: &[
        req("region_name", Ty::Str),
        optc("kms_key_arn", Ty::Str),
        opt("point_in_time_recovery", Ty::Bool).dbool(false),
        opt("propagate_tags", Ty::Bool).dbool(false),
        opt("deletion_protection_enabled", Ty::Bool),
        optc("consistency_mode", Ty::Str).one_of(&["EVENTUAL", "STRONG"]),
        computed("arn", Ty::Str),
        computed("stream_arn", Ty::Str),
        computed("stream_label", Ty::Str),
    ],
    blocks: &[],
};
static TTL: Schema = Schema {
    attrs: &[
        optc("attribute_name", Ty::Str),
        opt("enabled", Ty::Bool).dbool(false),
    ],
    blocks: &[],
};
static PITR_D: Schema = Schema {
    attrs: &[
        req("enabled", Ty::Bool),
        optc("recovery_period_in_days", Ty::Int).range(1, 35),
    ],
    blocks: &[],
};
static SSE: Schema = Schema {
    attrs: &[req("enabled", Ty::Bool), optc("kms_key_arn", Ty::Str)],
    blocks: &[],
};
static WITNESS: Schema = Schema {
    attrs: &[req("region_name", Ty::Str)],
    blocks: &[],
};
static TABLE_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str).len(3, 255),
        opt("billing_mode", Ty::Str)
            .dstr("PROVISIONED")
            .one_of(&["PROVISIONED", "PAY_PER_REQUEST"]),
        optc("hash_key", Ty::Str),
        opt("range_key", Ty::Str),
        optc("read_capacity", Ty::Int),
        optc("write_capacity", Ty::Int),
        opt("stream_enabled", Ty::Bool),
        optc("stream_view_type", Ty::Str).one_of(&[
            "KEYS_ONLY",
            "NEW_IMAGE",
            "OLD_IMAGE",
            "NEW_AND_OLD_IMAGES",
        ]),
        optc("table_class", Ty::Str).one_of(&["STANDARD", "STANDARD_INFREQUENT_ACCESS"]),
        opt("deletion_protection_enabled", Ty::Bool),
        opt("restore_source_name", Ty::Str),
        opt("restore_source_table_arn", Ty::Str),
        opt("restore_date_time", Ty::Str),
        opt("restore_to_latest_time", Ty::Bool),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("arn", Ty::Str),
        computed("id", Ty::Str),
        computed("stream_arn", Ty::Str),
        computed("stream_label", Ty::Str),
    ],
    blocks: &[
        block("attribute", &ATTRIBUTE),
        block("global_secondary_index", &GSI),
        block("local_secondary_index", &LSI),
        block("replica", &REPLICA),
        block("ttl", &TTL).max(1),
        block("point_in_time_recovery", &PITR_D).max(1),
        block("server_side_encryption", &SSE).max(1),
        block("on_demand_throughput", &THROUGHPUT).max(1),
        block("warm_throughput", &WARM).max(1),
        block("global_table_witness", &WITNESS).max(1),
    ],
};

/// A secondary index.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Index {
    /// Name.
    pub name: String,
    /// Partition key (the table's for a local index).
    pub hash_key: String,
    /// Sort key.
    pub range_key: Option<String>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
    /// Projected attributes with `INCLUDE`.
    pub non_key_attributes: Vec<String>,
}

/// A DynamoDB table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Table {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Region of the table (the first replica).
    pub region: String,
    /// `PROVISIONED` or `PAY_PER_REQUEST`.
    pub billing_mode: String,
    /// Attribute types by name (`S`, `N`, `B`).
    pub attributes: BTreeMap<String, String>,
    /// Partition key.
    pub hash_key: String,
    /// Sort key.
    pub range_key: Option<String>,
    /// Global secondary indexes.
    pub global_indexes: Vec<Index>,
    /// Local secondary indexes.
    pub local_indexes: Vec<Index>,
    /// TTL attribute, when enabled.
    pub ttl_attribute: Option<String>,
    /// Stream view type, when streams are on.
    pub stream: Option<String>,
    /// Regions of the other replicas (a global table).
    pub replicas: Vec<String>,
    /// Point-in-time recovery.
    pub point_in_time_recovery: bool,
}

#[allow(clippy::too_many_lines)]
fn table_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let attributes: BTreeMap<String, String> = r
        .blocks("attribute")
        .iter()
        .map(|a| (a.s("name"), a.s("type")))
        .collect();
    let hash_key = r.s("hash_key");
    if hash_key.is_empty() && !r.unknown("hash_key") {
        i.error(sink, "", "required argument \"hash_key\" is missing");
    }
    let mut keys: Vec<(String, String)> = vec![(hash_key.clone(), "hash_key".into())];
    if let Some(k) = r.os("range_key") {
        keys.push((k, "range_key".into()));
    }
    let gsis: Vec<Index> = r
        .blocks("global_secondary_index")
        .iter()
        .enumerate()
        .map(|(n, g)| {
            keys.push((
                g.s("hash_key"),
                format!("global_secondary_index[{n}].hash_key"),
            ));
            if let Some(k) = g.os("range_key") {
                keys.push((k, format!("global_secondary_index[{n}].range_key")));
            }
            Index {
                name: g.s("name"),
                hash_key: g.s("hash_key"),
                range_key: g.os("range_key"),
                projection: g.s("projection_type"),
                non_key_attributes: g.list("non_key_attributes"),
            }
        })
        .collect();
    let lsis: Vec<Index> = r
        .blocks("local_secondary_index")
        .iter()
        .enumerate()
        .map(|(n, l)| {
            keys.push((
                l.s("range_key"),
                format!("local_secondary_index[{n}].range_key"),
            ));
            Index {
                name: l.s("name"),
                hash_key: hash_key.clone(),
                range_key: l.os("range_key"),
                projection: l.s("projection_type"),
                non_key_attributes: l.list("non_key_attributes"),
            }
        })
        .collect();
    for (k, path) in &keys {
        if !k.is_empty() && !attributes.contains_key(k) {
            i.error(sink, path, format!("key \"{k}\" has no attribute block"))
                .suggest(k, attributes.keys().map(String::as_str));
        }
    }
    for (n, a) in r.blocks("attribute").iter().enumerate() {
        let name = a.s("name");
        if !keys.iter().any(|(k, _)| *k == name) {
            i.error(
                sink,
                &format!("attribute[{n}].name"),
                format!("attribute \"{name}\" is not a key of the table or of an index"),
            )
            .hint("declare only key attributes; DynamoDB is schemaless for the rest");
        }
    }
    let billing = r.s("billing_mode");
    if billing == "PROVISIONED"
        && (r.oi("read_capacity").is_none() || r.oi("write_capacity").is_none())
    {
        i.error(
            sink,
            "billing_mode",
            "a PROVISIONED table needs read_capacity and write_capacity",
        )
        .hint("or set billing_mode = \"PAY_PER_REQUEST\"");
    }
    let replicas: Vec<String> = r
        .blocks("replica")
        .iter()
        .map(|x| x.s("region_name"))
        .collect();
    for (n, reg) in replicas.iter().enumerate() {
        if reg == i.region {
            i.error(
                sink,
                &format!("replica[{n}].region_name"),
                format!("a replica cannot be in the table's own region ({reg})"),
            );
        }
        if replicas[..n].contains(reg) {
            i.error(
                sink,
                &format!("replica[{n}].region_name"),
                format!("two replicas in {reg}"),
            );
        }
        if let Err(m) = super::check_region(&Value::str(reg.clone())) {
            i.error(sink, &format!("replica[{n}].region_name"), m);
        }
    }
    let stream = r
        .b("stream_enabled")
        .then(|| r.os("stream_view_type"))
        .flatten();
    if !replicas.is_empty() && stream.as_deref() != Some("NEW_AND_OLD_IMAGES") {
        i.error(sink, "replica[0]", "a table with replicas needs stream_enabled = true and stream_view_type = \"NEW_AND_OLD_IMAGES\"");
    }
    if r.b("stream_enabled") && r.os("stream_view_type").is_none() {
        i.error(
            sink,
            "stream_enabled",
            "stream_enabled needs stream_view_type",
        );
    }
    let ttl = r
        .block("ttl")
        .filter(|t| t.b("enabled"))
        .and_then(|t| t.os("attribute_name"));
    Spec::Table(Table {
        name: r.s("name"),
        arn: r.s("arn"),
        region: i.region.to_owned(),
        billing_mode: billing,
        attributes,
        hash_key,
        range_key: r.os("range_key"),
        global_indexes: gsis,
        local_indexes: lsis,
        ttl_attribute: ttl,
        stream,
        replicas,
        point_in_time_recovery: r
            .block("point_in_time_recovery")
            .is_some_and(|p| p.b("enabled")),
    })
}

/// `aws_dynamodb_table`.
pub static DYNAMODB_TABLE: Kind = Kind {
    name: "aws_dynamodb_table",
    schema: &TABLE_SCHEMA,
    computed: |c| {
        let name = c.s("name").unwrap_or_default();
        let region = c.region.to_owned();
        let label = crate::sam::DECLARED_STREAM_LABEL;
        c.set(
            "arn",
            format!("arn:aws:dynamodb:{region}:{}:table/{name}", c.account),
        );
        if c.obj.get("stream_enabled").and_then(Value::as_bool) == Some(true) {
            c.set(
                "stream_arn",
                format!(
                    "arn:aws:dynamodb:{region}:{}:table/{name}/stream/{label}",
                    c.account
                ),
            );
            c.set("stream_label", label);
        }
        c.set("id", name);
        c.tags_all();
    },
    spec: table_spec,
    deprecated: None,
};
