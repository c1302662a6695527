//! Time to Live, with DynamoDB's semantics:
//!
//! * UpdateTimeToLive / DescribeTimeToLive name the attribute that holds each item's expiry
//!   (a Number of epoch seconds); an item without it, or with another type, never expires.
//! * An expired item is not hidden: reads return it until the background sweep deletes it
//!   (DynamoDB deletes "within a few days"; here within one sweep interval).
//! * The sweep deletes as the service, not as a caller: the stream record of the deletion
//!   carries `userIdentity` `{type: Service, principalId: dynamodb.amazonaws.com}`.
//! * An expiry more than five years in the past is ignored, as DynamoDB ignores it (a
//!   millisecond timestamp stored by mistake must not wipe a table).
//!
//! Each sweep reads candidates on a snapshot, then deletes them in one write job that checks
//! each item again (it may have been updated meanwhile) before it deletes it.

use std::sync::Arc;

use redb::{ReadableTable as _, TableDefinition};
use serde_json::{Value, json};

use super::Dynamo;
use super::error::Error;
use super::input::Input;
use super::item::{apply_write_as, read_current};
use super::stored::stored_attribute;
use super::table::{TableDef, still_exists};
use super::types::{AttributeValue, Item};
use crate::engine::EngineError;

/// DynamoDB ignores expiry times older than this.
const FIVE_YEARS: u64 = 5 * 365 * 24 * 3600;

/// The most items one sweep deletes from one table (one write job stays small).
pub const SWEEP_BATCH: usize = 1000;

/// Whether `item` has expired at `now` (epoch seconds) under `attribute`.
fn expired(item: &Item, attribute: &str, now: u64) -> bool {
    expired_value(item.get(attribute), now)
}

/// Whether an item whose expiry attribute holds `value` is expired at `now`.
fn expired_value(value: Option<&AttributeValue>, now: u64) -> bool {
    let Some(AttributeValue::N(n)) = value else {
        return false;
    };
    let Ok(at) = n.to_string().parse::<f64>() else {
        return false;
    };
    let now = now as f64;
    at <= now && at >= now - FIVE_YEARS as f64
}

impl Dynamo {
    /// UpdateTimeToLive.
    pub(crate) async fn update_time_to_live(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        let spec = input.object("TimeToLiveSpecification")?;
        if spec.is_none() {
            input.violation(
                "Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null"
                    .into(),
            );
        }
        let enabled = spec.and_then(|s| s.get("Enabled")).and_then(Value::as_bool);
        let attribute = spec
            .and_then(|s| s.get("AttributeName"))
            .and_then(Value::as_str);
        if spec.is_some() && enabled.is_none() {
            input.violation(
                "Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null"
                    .into(),
            );
        }
        match attribute {
            None if spec.is_some() => input.violation(
                "Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null"
                    .into(),
            ),
            Some(a) if a.is_empty() || a.len() > 255 => input.violation(format!(
                "Value '{a}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255, Member must have length greater than or equal to 1"
            )),
            _ => {}
        }
        input.finish()?;
        let (Some(enabled), Some(attribute)) = (enabled, attribute) else {
            return Err(Error::validation("TimeToLiveSpecification is incomplete"));
        };
        let _changing = self.definitions.lock().await;
        let old = self.table(&name)?;
        match (&old.ttl_attribute, enabled) {
            (Some(_), true) => {
                return Err(Error::validation("TimeToLive is already enabled"));
            }
            (None, false) => {
                return Err(Error::validation("TimeToLive is already disabled"));
            }
            (Some(current), false) if current != attribute => {
                return Err(Error::validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
                )));
            }
            _ => {}
        }
        let mut def = TableDef::clone(&old);
        def.ttl_attribute = enabled.then(|| attribute.to_owned());
        self.replace_def(old, def).await?;
        Ok(json!({
            "TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}
        }))
    }

    /// DescribeTimeToLive.
    pub(crate) async fn describe_time_to_live(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        input.finish()?;
        let def = self.table(&name)?;
        Ok(match &def.ttl_attribute {
            Some(a) => json!({
                "TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}
            }),
            None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
        })
    }

    /// Deletes the items expired at `now` (epoch seconds), at most [`SWEEP_BATCH`] per
    /// table; returns how many were deleted.
    pub async fn sweep_expired(&self, now: u64) -> Result<usize, Error> {
        let mut deleted = 0;
        for def in self.tables() {
            let Some(attribute) = def.ttl_attribute.clone() else {
                continue;
            };
            let candidates = {
                let def = def.clone();
                let attribute = attribute.clone();
                self.engine
                    .read(move |txn| {
                        let name = def.items_table();
                        let items: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
                        let table = match txn.open_table(items) {
                            Ok(t) => t,
                            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                            Err(e) => return Err(e.into()),
                        };
                        let mut out = Vec::new();
                        for entry in table.iter()? {
                            let (k, v) = entry?;
                            let value =
                                stored_attribute(v.value(), &attribute).map_err(|reason| {
                                    EngineError::Corrupt {
                                        table: name.clone(),
                                        reason,
                                    }
                                })?;
                            if expired_value(value.as_ref(), now) {
                                out.push(k.value().to_vec());
                                if out.len() == SWEEP_BATCH {
                                    break;
                                }
                            }
                        }
                        Ok(out)
                    })
                    .await?
            };
            if candidates.is_empty() {
                continue;
            }
            let def = def.clone();
            deleted += self
                .engine
                .write(move |txn| {
                    if !still_exists(txn, &def)? {
                        return Ok(Ok::<usize, Error>(0));
                    }
                    let mut n = 0;
                    for key in &candidates {
                        // Updated or deleted since the snapshot: decided again on what is
                        // there now.
                        let Some(old) = read_current(txn, &def, key)? else {
                            continue;
                        };
                        if !expired(&old, &attribute, now) {
                            continue;
                        }
                        apply_write_as(txn, &def, key, Some(old), None, true)?;
                        n += 1;
                    }
                    Ok(Ok(n))
                })
                .await??;
        }
        Ok(deleted)
    }
}

/// Sweeps every `every` until the returned task is aborted (expired items, and stream
/// records past their 24 hours); a failed sweep is logged and the next one tries again.
pub fn spawn_sweeper(
    dynamo: Arc<Dynamo>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            match dynamo.sweep_expired(now).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired items deleted (TTL)"),
                Err(e) => tracing::warn!(error = %e, "the TTL sweep failed; it runs again"),
            }
            match dynamo.trim_streams(now).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(trimmed = n, "stream records past 24 hours dropped"),
                Err(e) => tracing::warn!(error = %e, "trimming the streams failed; it runs again"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::number::Number;

    fn with(attr: &str, v: AttributeValue) -> Item {
        let mut i = Item::new();
        i.insert(attr.to_owned(), v);
        i
    }

    fn n(text: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(text).unwrap())
    }

    #[test]
    fn only_a_number_in_the_last_five_years_expires() {
        let now = 2_000_000_000;
        assert!(expired(&with("exp", n("1999999999")), "exp", now));
        assert!(expired(&with("exp", n("2000000000")), "exp", now));
        assert!(expired(&with("exp", n("1999999999.5")), "exp", now));
        assert!(!expired(&with("exp", n("2000000001")), "exp", now));
        assert!(
            !expired(&with("exp", n("1")), "exp", now),
            "over five years ago"
        );
        assert!(
            !expired(&with("exp", n("2000000000000")), "exp", now),
            "milliseconds are far in the future"
        );
        assert!(!expired(
            &with("exp", AttributeValue::S("1".into())),
            "exp",
            now
        ));
        assert!(!expired(&with("other", n("1999999999")), "exp", now));
    }
}
