//! Backups: UpdateContinuousBackups and DescribeContinuousBackups; CreateBackup,
//! DescribeBackup, ListBackups and DeleteBackup; RestoreTableFromBackup and
//! RestoreTableToPointInTime.
//!
//! Point-in-time recovery is a setting of the table, kept in its definition, which
//! ExportTableToPointInTime and RestoreTableToPointInTime require as DynamoDB does.
//! Meridian keeps no history of a table's earlier states: the one point it can export or
//! restore is the present, so the restorable window it reports begins and ends now, and a
//! restore to another time is refused.

use std::sync::Arc;

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Dynamo;
use super::error::Error;
use super::input::Input;
use super::table::{TableDef, now_secs};
use crate::engine::{EngineError, Plane};

/// DynamoDB's default recovery period.
const DEFAULT_RECOVERY_DAYS: i64 = 35;

/// A table's point-in-time recovery setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pitr {
    /// When it was enabled (seconds since the epoch).
    pub enabled_at: f64,
    /// RecoveryPeriodInDays, 1 to 35.
    pub recovery_days: i64,
}

/// `TableNotFoundException`, as the backup, export and import operations word it.
pub(crate) fn table_not_found(name: &str) -> Error {
    Error::named("TableNotFoundException", format!("Table not found: {name}"))
}

fn description(def: &TableDef) -> Value {
    let pitr = match &def.pitr {
        None => json!({"PointInTimeRecoveryStatus": "DISABLED"}),
        Some(p) => {
            let now = now_secs();
            json!({
                "PointInTimeRecoveryStatus": "ENABLED",
                "RecoveryPeriodInDays": p.recovery_days,
                "EarliestRestorableDateTime": now,
                "LatestRestorableDateTime": now,
            })
        }
    };
    json!({"ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": pitr,
    }})
}

impl Dynamo {
    /// The table a backup operation names, or TableNotFoundException.
    fn backup_table(&self, name: &str) -> Result<std::sync::Arc<TableDef>, Error> {
        self.table(name).map_err(|_| table_not_found(name))
    }

    /// DescribeContinuousBackups.
    pub(crate) fn describe_continuous_backups(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        input.finish()?;
        Ok(description(&*self.backup_table(&name)?))
    }

    /// UpdateContinuousBackups.
    pub(crate) async fn update_continuous_backups(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        let spec = input.object("PointInTimeRecoverySpecification")?;
        let enabled = spec
            .and_then(|s| s.get("PointInTimeRecoveryEnabled"))
            .and_then(Value::as_bool);
        match spec {
            None => input.violation(
                "Value null at 'pointInTimeRecoverySpecification' failed to satisfy constraint: Member must not be null"
                    .into(),
            ),
            Some(_) if enabled.is_none() => input.violation(
                "Value null at 'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' failed to satisfy constraint: Member must not be null"
                    .into(),
            ),
            Some(_) => {}
        }
        let days = match spec.and_then(|s| s.get("RecoveryPeriodInDays")) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64() {
                Some(d) if (1..=DEFAULT_RECOVERY_DAYS).contains(&d) => Some(d),
                _ => {
                    input.violation(format!(
                        "Value '{v}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 35, Member must have value greater than or equal to 1"
                    ));
                    None
                }
            },
        };
        input.finish()?;
        let enabled = enabled.unwrap_or(false);
        if !enabled && days.is_some() {
            return Err(Error::validation(
                "RecoveryPeriodInDays can only be specified when PointInTimeRecoveryEnabled is true",
            ));
        }
        let _changing = self.definitions.lock().await;
        let old = self.backup_table(&name)?;
        let pitr = enabled.then(|| Pitr {
            enabled_at: old.pitr.as_ref().map_or_else(now_secs, |p| p.enabled_at),
            recovery_days: days
                .or(old.pitr.as_ref().map(|p| p.recovery_days))
                .unwrap_or(DEFAULT_RECOVERY_DAYS),
        });
        if pitr == old.pitr {
            return Ok(description(&old));
        }
        let mut def = TableDef::clone(&old);
        def.pitr = pitr;
        let answer = description(&def);
        self.replace_def(old, def).await?;
        Ok(answer)
    }
}

// ---------------------------------------------------------------------------------------
// On-demand backups and restores.
//
// A backup copies the table's items, as one read snapshot sees them, into an engine table
// of its own (`dynamo/backup/<id>`), with the table's definition, count and size in its
// record (`dynamo/backups`, by ARN): it stays AVAILABLE after the table is deleted, as
// DynamoDB's do. A restore (from a backup, or from a table's present under point-in-time
// recovery) copies the items into a new table's engine tables in steps, builds its
// indexes, and only then names the table in the catalog: until the restore ends the table
// is not found, then it is ACTIVE with every item (boto3's and the CLI's `table_exists`
// waiters wait for it). As on DynamoDB, a restored table has the source's keys, indexes,
// billing and class, and none of its stream, TTL, tags, policies or point-in-time
// recovery.

/// Backup records by ARN (JSON).
const BACKUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("dynamo/backups");

/// Items copied per write while a backup is taken or a table restored.
const COPY_CHUNK: usize = 2000;

/// How far from the present a `RestoreDateTime` may lie (clocks differ).
const RESTORE_TIME_SLACK: f64 = 60.0;

fn backup_items_table(id: &str) -> String {
    Plane::Dynamo.table(&format!("backup/{id}"))
}

/// The request's `BackupArn`, a violation when it has none.
fn required_backup_arn(input: &mut Input<'_>) -> Result<String, Error> {
    let arn = input.string("BackupArn")?.map(str::to_owned);
    if arn.is_none() {
        input.violation(
            "Value null at 'backupArn' failed to satisfy constraint: Member must not be null"
                .into(),
        );
    }
    Ok(arn.unwrap_or_default())
}

fn backup_not_found(arn: &str) -> Error {
    Error::named(
        "BackupNotFoundException",
        format!("Backup not found: {arn}"),
    )
}

fn table_exists(name: &str) -> Error {
    Error::named(
        "TableAlreadyExistsException",
        format!("Table already exists: {name}"),
    )
}

/// What a copy's source must still be when its snapshot is taken: a table (the one of
/// this uid under its name) or a backup record.
enum Still {
    Table { name: String, uid: String },
    Backup { arn: String },
}

impl Still {
    fn holds(&self, txn: &redb::ReadTransaction) -> Result<bool, EngineError> {
        Ok(match self {
            Self::Table { name, uid } => match txn.open_table(super::table::UIDS) {
                Ok(t) => t.get(name.as_str())?.is_some_and(|v| v.value() == uid),
                Err(redb::TableError::TableDoesNotExist(_)) => false,
                Err(e) => return Err(e.into()),
            },
            Self::Backup { arn } => match txn.open_table(BACKUPS) {
                Ok(t) => t.get(arn.as_str())?.is_some(),
                Err(redb::TableError::TableDoesNotExist(_)) => false,
                Err(e) => return Err(e.into()),
            },
        })
    }

    fn gone(&self) -> Error {
        match self {
            Self::Table { name, .. } => table_not_found(name),
            Self::Backup { arn } => backup_not_found(arn),
        }
    }
}

/// Copies the entries of the engine table `from` (as one snapshot sees them) into `to`, in
/// steps; answers how many, and the items' size recorded for a table source in the same
/// snapshot. `None` when the source was deleted before the snapshot (nothing is copied: a
/// deleted table or backup is not an empty one).
fn copy_entries(
    engine: &crate::engine::Engine,
    from: &str,
    to: &str,
    still: &Still,
) -> Result<Option<(u64, u64)>, EngineError> {
    let runtime = tokio::runtime::Handle::current();
    engine.read_blocking(|txn| {
        if !still.holds(txn)? {
            return Ok(None);
        }
        let size = match (still, txn.open_table(super::table::SIZES)) {
            (Still::Backup { .. }, _) | (_, Err(redb::TableError::TableDoesNotExist(_))) => 0,
            (Still::Table { uid, .. }, Ok(t)) => t.get(uid.as_str())?.map_or(0, |v| v.value()),
            (_, Err(e)) => return Err(e.into()),
        };
        let source = match txn.open_table(TableDefinition::<&[u8], &[u8]>::new(from)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut copied = 0u64;
        let mut chunk: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(COPY_CHUNK);
        let flush = |chunk: Vec<(Vec<u8>, Vec<u8>)>| -> Result<(), EngineError> {
            let to = to.to_owned();
            runtime
                .block_on(engine.write(move |txn| {
                    let mut t = txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&to))?;
                    for (k, v) in &chunk {
                        t.insert(k.as_slice(), v.as_slice())?;
                    }
                    Ok(Ok::<(), ()>(()))
                }))?
                .ok();
            Ok(())
        };
        for e in source.iter()? {
            let (k, v) = e?;
            chunk.push((k.value().to_vec(), v.value().to_vec()));
            copied += 1;
            if chunk.len() == COPY_CHUNK {
                flush(std::mem::take(&mut chunk))?;
            }
        }
        flush(chunk)?;
        Ok(Some((copied, size)))
    })
}

/// The CreateTable request that makes a table like `def` (keys, indexes, billing, class)
/// named `name`, with a restore's overrides applied.
fn restore_request(d: &Dynamo, def: &TableDef, name: &str, body: &Value) -> Value {
    let described = d.describe(def, None, 0, 0);
    let mut req = json!({
        "TableName": name,
        "AttributeDefinitions": described["AttributeDefinitions"],
        "KeySchema": described["KeySchema"],
    });
    let billing = body
        .get("BillingModeOverride")
        .and_then(Value::as_str)
        .unwrap_or(if def.throughput.is_some() {
            "PROVISIONED"
        } else {
            "PAY_PER_REQUEST"
        });
    req["BillingMode"] = json!(billing);
    let units = |t: &Value| json!({"ReadCapacityUnits": t["ReadCapacityUnits"], "WriteCapacityUnits": t["WriteCapacityUnits"]});
    if billing == "PROVISIONED" {
        match body.get("ProvisionedThroughputOverride") {
            Some(t) => req["ProvisionedThroughput"] = t.clone(),
            None if def.throughput.is_some() => {
                req["ProvisionedThroughput"] = units(&described["ProvisionedThroughput"]);
            }
            None => {}
        }
    }
    let table_units = req.get("ProvisionedThroughput").cloned();
    let index = |i: &Value, local: bool| {
        let mut v = json!({"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]});
        if !local && billing == "PROVISIONED" {
            if let Some(t) = i
                .get("ProvisionedThroughput")
                .filter(|t| t["ReadCapacityUnits"] != 0)
            {
                v["ProvisionedThroughput"] = units(t);
            } else if let Some(t) = &table_units {
                v["ProvisionedThroughput"] = t.clone();
            }
        }
        v
    };
    for (field, over, local) in [
        (
            "GlobalSecondaryIndexes",
            "GlobalSecondaryIndexOverride",
            false,
        ),
        ("LocalSecondaryIndexes", "LocalSecondaryIndexOverride", true),
    ] {
        match body.get(over) {
            Some(Value::Array(list)) if list.is_empty() => {}
            Some(list @ Value::Array(_)) => req[field] = list.clone(),
            _ => {
                if let Some(Value::Array(list)) = described.get(field) {
                    req[field] = Value::Array(list.iter().map(|i| index(i, local)).collect());
                }
            }
        }
    }
    // The definitions of the attributes the key and the restored indexes use: an index left
    // out by an override takes its attributes' definitions with it.
    let used: std::collections::HashSet<&str> = std::iter::once(&req["KeySchema"])
        .chain(
            ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"]
                .iter()
                .filter_map(|f| req.get(*f).and_then(Value::as_array))
                .flatten()
                .map(|i| &i["KeySchema"]),
        )
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|k| k["AttributeName"].as_str())
        .collect();
    let definitions: Vec<Value> = described["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["AttributeName"]
                .as_str()
                .is_some_and(|n| used.contains(n))
        })
        .cloned()
        .collect();
    req["AttributeDefinitions"] = Value::Array(definitions);
    if let Some(c) = &def.table_class {
        req["TableClass"] = json!(c);
    }
    req
}

impl Dynamo {
    async fn backup_record(&self, arn: &str) -> Result<Option<Value>, Error> {
        let key = arn.to_owned();
        let found = self
            .engine
            .read(move |txn| {
                let table = match txn.open_table(BACKUPS) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(EngineError::from(e)),
                };
                Ok(table.get(key.as_str())?.map(|v| v.value().to_vec()))
            })
            .await?;
        Ok(found.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn save_backup(&self, arn: &str, record: &Value) -> Result<(), Error> {
        let (arn, bytes) = (
            arn.to_owned(),
            serde_json::to_vec(record).unwrap_or_default(),
        );
        self.engine
            .write(move |txn| {
                txn.open_table(BACKUPS)?
                    .insert(arn.as_str(), bytes.as_slice())?;
                Ok(Ok::<(), Error>(()))
            })
            .await??;
        Ok(())
    }

    /// CreateBackup: the table's items as one snapshot sees them, kept apart.
    pub(crate) async fn create_backup(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        let backup_name = input.string("BackupName")?.map(str::to_owned);
        match &backup_name {
            None => input.violation(
                "Value null at 'backupName' failed to satisfy constraint: Member must not be null"
                    .into(),
            ),
            Some(b)
                if b.len() < 3
                    || b.len() > 255
                    || !b
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) =>
            {
                input.violation(format!(
                    "Value '{b}' at 'backupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+, Member must have length less than or equal to 255, Member must have length greater than or equal to 3"
                ));
            }
            Some(_) => {}
        }
        input.finish()?;
        let backup_name = backup_name.unwrap_or_default();
        let def = self.backup_table(&name)?;
        let now = now_secs();
        let id = format!(
            "{:014}-{:08x}",
            (now * 1000.0) as u64,
            rand::random::<u32>()
        );
        let arn = format!("{}/backup/{id}", def.arn(self));
        let items_table = def.items_table();
        let target = backup_items_table(&id);
        let engine = self.engine.clone();
        let still = Still::Table {
            name: def.name.clone(),
            uid: def.uid.clone(),
        };
        let copied = tokio::task::spawn_blocking(move || {
            copy_entries(&engine, &items_table, &target, &still).map(|c| c.ok_or(still))
        })
        .await
        .map_err(|e| Error::Internal(format!("the backup failed: {e}")))??;
        let (count, size) = copied.map_err(|still| still.gone())?;
        let details = json!({
            "BackupArn": arn,
            "BackupName": backup_name,
            "BackupSizeBytes": size,
            "BackupStatus": "AVAILABLE",
            "BackupType": "USER",
            "BackupCreationDateTime": now,
        });
        let record = json!({
            "id": id,
            "details": details,
            "table": serde_json::to_value(&*def).unwrap_or_default(),
            "tableArn": def.arn(self),
            "count": count,
            "size": size,
        });
        self.save_backup(&arn, &record).await?;
        Ok(json!({ "BackupDetails": details }))
    }

    fn backup_description(&self, record: &Value) -> Value {
        let def: Option<TableDef> = serde_json::from_value(record["table"].clone()).ok();
        let mut source = json!({
            "TableName": def.as_ref().map(|d| d.name.clone()),
            "TableArn": record["tableArn"],
            "TableSizeBytes": record["size"],
            "ItemCount": record["count"],
        });
        let mut features = json!({});
        if let Some(def) = &def {
            let t = self.describe(def, None, 0, 0);
            source["TableId"] = t["TableId"].clone();
            source["KeySchema"] = t["KeySchema"].clone();
            source["TableCreationDateTime"] = t["CreationDateTime"].clone();
            source["ProvisionedThroughput"] = json!({
                "ReadCapacityUnits": t["ProvisionedThroughput"]["ReadCapacityUnits"],
                "WriteCapacityUnits": t["ProvisionedThroughput"]["WriteCapacityUnits"],
            });
            source["BillingMode"] = json!(if def.throughput.is_some() {
                "PROVISIONED"
            } else {
                "PAY_PER_REQUEST"
            });
            for f in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
                if let Some(Value::Array(list)) = t.get(f) {
                    let list: Vec<Value> = list
                        .iter()
                        .map(|i| json!({"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}))
                        .collect();
                    features[f] = Value::Array(list);
                }
            }
            if let Some(s) = t.get("StreamSpecification") {
                features["StreamDescription"] = s.clone();
            }
            if let Some(a) = &def.ttl_attribute {
                features["TimeToLiveDescription"] =
                    json!({"TimeToLiveStatus": "ENABLED", "AttributeName": a});
            }
        }
        json!({
            "BackupDetails": record["details"],
            "SourceTableDetails": source,
            "SourceTableFeatureDetails": features,
        })
    }

    fn backup_arn(body: &Value) -> Result<String, Error> {
        let mut input = Input::new(body)?;
        let arn = required_backup_arn(&mut input)?;
        input.finish()?;
        Ok(arn)
    }

    /// DescribeBackup.
    pub(crate) async fn describe_backup(&self, body: &Value) -> Result<Value, Error> {
        let arn = Self::backup_arn(body)?;
        let record = self
            .backup_record(&arn)
            .await?
            .ok_or_else(|| backup_not_found(&arn))?;
        Ok(json!({ "BackupDescription": self.backup_description(&record) }))
    }

    /// DeleteBackup.
    pub(crate) async fn delete_backup(&self, body: &Value) -> Result<Value, Error> {
        let arn = Self::backup_arn(body)?;
        let record = self
            .backup_record(&arn)
            .await?
            .ok_or_else(|| backup_not_found(&arn))?;
        let mut description = self.backup_description(&record);
        description["BackupDetails"]["BackupStatus"] = json!("DELETED");
        let (key, items) = (
            arn.clone(),
            backup_items_table(record["id"].as_str().unwrap_or_default()),
        );
        self.engine
            .write(move |txn| {
                txn.open_table(BACKUPS)?.remove(key.as_str())?;
                match txn.delete_table(TableDefinition::<&[u8], &[u8]>::new(&items)) {
                    Ok(_) | Err(redb::TableError::TableDoesNotExist(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                Ok(Ok::<(), Error>(()))
            })
            .await??;
        Ok(json!({ "BackupDescription": description }))
    }

    /// ListBackups.
    pub(crate) async fn list_backups(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let table = input.string("TableName")?.map(str::to_owned);
        let limit = input.integer("Limit")?;
        let after = input.string("ExclusiveStartBackupArn")?.map(str::to_owned);
        let kind = input.string("BackupType")?.unwrap_or("USER").to_owned();
        if let Some(l) = limit
            && !(1..=100).contains(&l)
        {
            input.violation(format!(
                "Value '{l}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100, Member must have value greater than or equal to 1"
            ));
        }
        if !["USER", "SYSTEM", "AWS_BACKUP", "ALL"].contains(&kind.as_str()) {
            input.violation(format!(
                "Value '{kind}' at 'backupType' failed to satisfy constraint: Member must satisfy enum value set: [USER, SYSTEM, AWS_BACKUP, ALL]"
            ));
        }
        let lower = body.get("TimeRangeLowerBound").and_then(Value::as_f64);
        let upper = body.get("TimeRangeUpperBound").and_then(Value::as_f64);
        input.finish()?;
        let table = table.map(|t| self.table_named(&t).map_or(t.clone(), str::to_owned));
        let records = self
            .engine
            .read(|txn| {
                let table = match txn.open_table(BACKUPS) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(EngineError::from(e)),
                };
                let mut out = Vec::new();
                for e in table.iter()? {
                    let (k, v) = e?;
                    out.push((k.value().to_owned(), v.value().to_vec()));
                }
                Ok(out)
            })
            .await?;
        let limit = limit.unwrap_or(100) as usize;
        let mut summaries = Vec::new();
        let mut last = None;
        for (arn, bytes) in records {
            if after.as_ref().is_some_and(|a| arn.as_str() <= a.as_str()) {
                continue;
            }
            let Ok(record) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            let d = &record["details"];
            let name = record["table"]["name"].as_str().unwrap_or_default();
            let created = d["BackupCreationDateTime"].as_f64().unwrap_or_default();
            if table.as_deref().is_some_and(|t| t != name)
                || !(kind == "ALL" || kind == "USER")
                || lower.is_some_and(|l| created < l)
                || upper.is_some_and(|u| created >= u)
            {
                continue;
            }
            if summaries.len() == limit {
                break;
            }
            summaries.push(json!({
                "TableName": name,
                "TableId": super::table::uid_as_uuid(record["table"]["uid"].as_str().unwrap_or_default()),
                "TableArn": record["tableArn"],
                "BackupArn": arn,
                "BackupName": d["BackupName"],
                "BackupCreationDateTime": d["BackupCreationDateTime"],
                "BackupStatus": d["BackupStatus"],
                "BackupType": d["BackupType"],
                "BackupSizeBytes": d["BackupSizeBytes"],
            }));
            last = Some(arn);
        }
        let full = summaries.len() == limit;
        let mut out = json!({ "BackupSummaries": summaries });
        if full && let Some(l) = last {
            out["LastEvaluatedBackupArn"] = json!(l);
        }
        Ok(out)
    }

    /// RestoreTableFromBackup.
    pub(crate) async fn restore_table_from_backup(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let target = input.table_name_at("TargetTableName", "targetTableName")?;
        let arn = required_backup_arn(&mut input)?;
        input.finish()?;
        let record = self
            .backup_record(&arn)
            .await?
            .ok_or_else(|| backup_not_found(&arn))?;
        let source: TableDef = serde_json::from_value(record["table"].clone())
            .map_err(|e| Error::Internal(format!("the backup's table cannot be read: {e}")))?;
        let from = backup_items_table(record["id"].as_str().unwrap_or_default());
        let summary = json!({
            "SourceBackupArn": arn,
            "SourceTableArn": record["tableArn"],
            "RestoreDateTime": record["details"]["BackupCreationDateTime"],
        });
        self.restore(
            &source,
            &target,
            body,
            Origin {
                items: from,
                still: Still::Backup { arn: arn.clone() },
                size: record["size"].as_u64(),
            },
            summary,
        )
        .await
    }

    /// RestoreTableToPointInTime: the present of a table with point-in-time recovery (the
    /// one point Meridian keeps).
    pub(crate) async fn restore_table_to_point_in_time(
        &self,
        body: &Value,
    ) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let target = input.table_name_at("TargetTableName", "targetTableName")?;
        let source_name = input
            .string("SourceTableName")?
            .map(str::to_owned)
            .or(input.string("SourceTableArn")?.map(str::to_owned));
        if source_name.is_none() {
            input.violation(
                "Value null at 'sourceTableName' failed to satisfy constraint: Member must not be null"
                    .into(),
            );
        }
        let latest = input.boolean("UseLatestRestorableTime")?.unwrap_or(false);
        let when = body.get("RestoreDateTime").and_then(Value::as_f64);
        input.finish()?;
        let source_name = source_name.unwrap_or_default();
        let source = self.backup_table(&source_name)?;
        if source.pitr.is_none() {
            return Err(Error::named(
                "PointInTimeRecoveryUnavailableException",
                format!(
                    "Point in time recovery is not enabled for table '{}'",
                    source.name
                ),
            ));
        }
        let now = now_secs();
        match (latest, when) {
            (true, Some(_)) => {
                return Err(Error::validation(
                    "Only one of RestoreDateTime or UseLatestRestorableTime can be specified",
                ));
            }
            (false, None) => {
                return Err(Error::validation(
                    "Either RestoreDateTime or UseLatestRestorableTime must be specified",
                ));
            }
            (false, Some(t)) if (t - now).abs() > RESTORE_TIME_SLACK => {
                return Err(Error::named(
                    "InvalidRestoreTimeException",
                    "Meridian keeps no history of a table's earlier states: restore to the latest restorable time",
                ));
            }
            _ => {}
        }
        let summary = json!({
            "SourceTableArn": source.arn(self),
            "RestoreDateTime": now,
        });
        self.restore(
            &source,
            &target,
            body,
            Origin {
                items: source.items_table(),
                still: Still::Table {
                    name: source.name.clone(),
                    uid: source.uid.clone(),
                },
                size: None,
            },
            summary,
        )
        .await
    }

    /// Makes table `target` like `source` (with `body`'s overrides) holding the items
    /// `from` names; the table is named in the catalog once it holds them all.
    async fn restore(
        &self,
        source: &TableDef,
        target: &str,
        body: &Value,
        from: Origin,
        mut summary: Value,
    ) -> Result<Value, Error> {
        if self.table(target).is_ok() {
            return Err(table_exists(target));
        }
        let mut def = self.parse_create_table(&restore_request(self, source, target, body))?;
        def.created = now_secs();
        let engine = self.engine.clone();
        let to_name = def.items_table();
        let (from_name, still, known_size) = (from.items, from.still, from.size);
        let copied = tokio::task::spawn_blocking(move || {
            copy_entries(&engine, &from_name, &to_name, &still).map(|c| c.ok_or(still))
        })
        .await
        .map_err(|e| Error::Internal(format!("the restore failed: {e}")));
        let _changing = self.definitions.lock().await;
        let stored = def.clone();
        let outcome = match copied {
            Ok(Ok(Err(still))) => Err(still.gone()),
            Ok(Ok(Ok((count, snapshot_size)))) => {
                let size = known_size.unwrap_or(snapshot_size);
                self.engine
                    .write(move |txn| {
                        if super::table::name_taken(txn, &stored.name)?.is_some() {
                            return Ok(Err(table_exists(&stored.name)));
                        }
                        super::table::write_new_table(txn, &stored)?;
                        for idx in &stored.indexes {
                            super::index::backfill(txn, &stored, idx)?;
                        }
                        txn.open_table(super::table::SIZES)?
                            .insert(stored.uid.as_str(), size)?;
                        Ok(Ok((count, size)))
                    })
                    .await
                    .map_err(Error::from)
                    .and_then(|r| r)
            }
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(e),
        };
        let (count, size) = match outcome {
            Ok(done) => done,
            Err(e) => {
                // The copied entries belong to no table: they go.
                let items = def.items_table();
                let _ = self
                    .engine
                    .write(move |txn| {
                        match txn.delete_table(TableDefinition::<&[u8], &[u8]>::new(&items)) {
                            Ok(_) | Err(redb::TableError::TableDoesNotExist(_)) => {}
                            Err(e) => return Err(e.into()),
                        }
                        Ok(Ok::<(), ()>(()))
                    })
                    .await;
                return Err(e);
            }
        };
        let def = Arc::new(def);
        self.set_def(def.clone());
        summary["RestoreInProgress"] = json!(false);
        let mut description = self.describe(&def, Some("ACTIVE"), count, size);
        description["RestoreSummary"] = summary;
        Ok(json!({ "TableDescription": description }))
    }
}

/// Where a restore's items come from: a backup's engine table (whose size its record
/// keeps), or a live table's (whose size is read with its items).
struct Origin {
    items: String,
    still: Still,
    size: Option<u64>,
}

impl Dynamo {
    /// Removes the engine tables of restores and backups that a crash cut short: a table's
    /// items no table of the catalog names (a restore names its table only once complete)
    /// and a backup's items no backup record names (a record is written once the copy is
    /// complete). Run once at start, before serving; answers how many went.
    pub async fn sweep_unnamed(&self) -> Result<usize, EngineError> {
        let catalog: std::collections::HashSet<String> = self
            .catalog
            .load()
            .values()
            .map(|d| d.uid.clone())
            .collect();
        let outcome = self
            .engine
            .write(move |txn| {
                let mut live = catalog;
                for e in txn.open_table(super::table::UIDS)?.iter()? {
                    live.insert(e?.1.value().to_owned());
                }
                let mut backups = std::collections::HashSet::new();
                for e in txn.open_table(BACKUPS)?.iter()? {
                    let (_, v) = e?;
                    // A record that cannot be read keeps every backup's items.
                    let Some(id) = serde_json::from_slice::<Value>(v.value())
                        .ok()
                        .and_then(|r| r["id"].as_str().map(str::to_owned))
                    else {
                        return Ok(Ok(0));
                    };
                    backups.insert(id);
                }
                let items = Plane::Dynamo.table("items/");
                let backup = Plane::Dynamo.table("backup/");
                let unnamed: Vec<String> = txn
                    .list_tables()?
                    .map(|t| redb::TableHandle::name(&t).to_owned())
                    .filter(|name| match (name.strip_prefix(&items), name.strip_prefix(&backup)) {
                        (Some(uid), _) => !live.contains(uid),
                        (_, Some(id)) => !backups.contains(id),
                        _ => false,
                    })
                    .collect();
                for name in &unnamed {
                    tracing::info!(table = %name, "removing an engine table that a crash left unnamed");
                    txn.delete_table(TableDefinition::<&[u8], &[u8]>::new(name))?;
                }
                Ok(Ok::<usize, ()>(unnamed.len()))
            })
            .await?;
        Ok(outcome.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What CreateBackup and the restores copy from is checked in the copy's own snapshot:
    /// a table deleted (or deleted and made again) since it was looked up, or a backup
    /// deleted since, copies nothing and says so, where an empty copy would pass for the
    /// data.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_source_deleted_before_the_snapshot_is_not_copied_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::engine::Engine::open(&dir.path().join("db.redb")).unwrap();
        let d = Dynamo::open(engine.clone(), "us-east-1").unwrap();
        let create = json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]});
        d.call("CreateTable", &create).await.unwrap();
        for id in ["a", "b"] {
            d.call(
                "PutItem",
                &json!({"TableName": "tbl", "Item": {"id": {"S": id}}}),
            )
            .await
            .unwrap();
        }
        let old = d.table("tbl").unwrap();
        let copy = |still: Still, from: String, to: &'static str| {
            let engine = engine.clone();
            tokio::task::spawn_blocking(move || copy_entries(&engine, &from, to, &still))
        };
        let table = |def: &TableDef| Still::Table {
            name: def.name.clone(),
            uid: def.uid.clone(),
        };
        let (n, size) = copy(table(&old), old.items_table(), "dynamo/backup/1")
            .await
            .unwrap()
            .unwrap()
            .expect("the table is there");
        assert_eq!(n, 2);
        assert!(size > 0);

        d.call("DeleteTable", &json!({"TableName": "tbl"}))
            .await
            .unwrap();
        let gone = copy(table(&old), old.items_table(), "dynamo/backup/2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gone, None, "a deleted table");
        d.call("CreateTable", &create).await.unwrap();
        let again = copy(table(&old), old.items_table(), "dynamo/backup/3")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again, None, "another table under the same name");

        let unknown = Still::Backup {
            arn: "arn:aws:dynamodb:us-east-1:123456789012:table/tbl/backup/01234567890123-00000000"
                .into(),
        };
        let none = copy(unknown, "dynamo/backup/1".into(), "dynamo/items/x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(none, None, "a backup without its record");
    }
}
