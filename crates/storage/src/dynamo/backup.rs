//! Continuous backups: UpdateContinuousBackups and DescribeContinuousBackups.
//!
//! Point-in-time recovery is a setting of the table, kept in its definition, which
//! ExportTableToPointInTime requires as DynamoDB does. Meridian keeps no history of a
//! table's earlier states: the one point it can export is the present, so the restorable
//! window it reports begins and ends now, and RestoreTableToPointInTime is not served.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Dynamo;
use super::error::Error;
use super::input::Input;
use super::table::{TableDef, now_secs};

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
