//! TransactWriteItems and TransactGetItems: serializable because every action of a
//! transaction runs inside one write job (or one read snapshot) of the single writer. All
//! conditions are checked before any action is applied; a ClientRequestToken makes a retry
//! within ten minutes answer the first outcome instead of applying twice.

use std::sync::Arc;

use redb::{ReadableTable, TableDefinition};
use serde_json::{Value, json};

use super::Dynamo;
use super::error::{CancellationReason, Error};
use super::expr::{self, Kind, Path, eval};
use super::index;
use super::input::{Input, refuse_orphan_placeholders};
use super::item::{
    Mutation, TableUnits, Write, apply_write, capacity_mode, check_item, check_key, check_write,
    consumed, fits_key_schema,
};
use super::table::TableDef;
use super::types::{Item, item_to_json};

const MAX_ACTIONS: usize = 100;
/// The most bytes of items one transaction may write.
const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// One Get of TransactGetItems: the table, the storage key, the projection.
type GetAction = (Arc<TableDef>, Vec<u8>, Option<Vec<Path>>);
/// How long DynamoDB remembers a ClientRequestToken.
const TOKEN_TTL_SECS: u64 = 600;
/// `dynamo/tokens`: token → (expiry secs, request digest).
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("dynamo/tokens");

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn digest(body: &Value) -> Vec<u8> {
    let mut canonical = body.clone();
    if let Value::Object(m) = &mut canonical {
        m.remove("ClientRequestToken");
        m.remove("ReturnConsumedCapacity");
    }
    let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes)
        .as_ref()
        .to_vec()
}

impl Dynamo {
    /// TransactWriteItems.
    pub(crate) async fn transact_write_items(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let capacity = capacity_mode(&mut input)?;
        let token = input.string("ClientRequestToken")?.map(str::to_owned);
        if let Some(t) = &token
            && (t.is_empty() || t.len() > 36)
        {
            input.violation(format!(
                    "Value '{t}' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36"
                ));
        }
        let actions = match input.array("TransactItems")? {
            Some(a) => a,
            None => {
                input.violation("Value null at 'transactItems' failed to satisfy constraint: Member must not be null".into());
                input.finish()?;
                return Err(Error::validation("TransactItems is required"));
            }
        };
        if actions.is_empty() || actions.len() > MAX_ACTIONS {
            input.violation(format!(
                "Value '{}' at 'transactItems' failed to satisfy constraint: Member must have length {} {}",
                if actions.is_empty() { "[]" } else { "[...]" },
                if actions.is_empty() { "greater than or equal to" } else { "less than or equal to" },
                if actions.is_empty() { 1 } else { MAX_ACTIONS }
            ));
        }
        input.finish()?;
        let mut writes: Vec<Write> = Vec::new();
        // The first action whose key or item is invalid cancels the transaction with a
        // ValidationError reason for it and None for every other action, as DynamoDB
        // reports it; the request's own checks (expressions, placeholders, duplicates)
        // still answer with a ValidationException for the whole request.
        let mut invalid: Option<(usize, String)> = None;
        for (at, a) in actions.iter().enumerate() {
            let Value::Object(obj) = a else {
                return Err(super::types::shape_error(a, "structure"));
            };
            let present: Vec<(&String, &Value)> =
                obj.iter().filter(|(_, v)| !v.is_null()).collect();
            let [(kind, spec)] = present.as_slice() else {
                return Err(Error::validation(
                    "TransactItems can only contain one of Check, Put, Update or Delete",
                ));
            };
            let mut sub = Input::new(spec)?;
            let name = sub.table_name()?;
            let on_failure = sub.enum_value(
                "ReturnValuesOnConditionCheckFailure",
                "returnValuesOnConditionCheckFailure",
                &["ALL_OLD", "NONE"],
            )? == Some("ALL_OLD");
            sub.finish()?;
            let def = self.item_table(&name)?;
            let exprs: &[&str] = match kind.as_str() {
                "Update" => &["ConditionExpression", "UpdateExpression"],
                _ => &["ConditionExpression"],
            };
            refuse_orphan_placeholders(&sub, exprs)?;
            let ph = sub.placeholders_in(false)?;
            let condition = match sub.string("ConditionExpression")? {
                Some(src) => Some(expr::parse_condition(src, Kind::Condition, &ph)?),
                None => None,
            };
            // A key that does not fit the schema is the action's ValidationError, found after
            // the request's own checks of every action (its expressions and placeholders);
            // any other refusal of the key or item is the request's.
            let checked =
                |fits: bool, result: Result<(), Error>, invalid: &mut Option<(usize, String)>| {
                    match result {
                        Ok(()) => Ok(true),
                        Err(e) if !fits => {
                            invalid.get_or_insert((at, e.to_string()));
                            Ok(false)
                        }
                        Err(e) => Err(e),
                    }
                };
            let (key, mutation, valid) = match kind.as_str() {
                "Put" => {
                    let item = sub.item("Item")?.unwrap_or_default();
                    let fits = fits_key_schema(&def, &item, false);
                    let valid = checked(fits, check_item(&def, &item), &mut invalid)?;
                    (def.key_of(&item), Mutation::Put(item), valid)
                }
                "Delete" | "ConditionCheck" | "Update" => {
                    let key = sub.item("Key")?.unwrap_or_default();
                    let fits = fits_key_schema(&def, &key, true);
                    let valid = checked(fits, check_key(&def, &key), &mut invalid)?;
                    let m = match kind.as_str() {
                        "Delete" => Mutation::Delete,
                        "ConditionCheck" => {
                            if condition.is_none() {
                                return Err(Error::validation(
                                    "1 validation error detected: Value null at 'transactItems.1.member.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null",
                                ));
                            }
                            Mutation::Check
                        }
                        _ => {
                            let src = sub.string("UpdateExpression")?.unwrap_or_default();
                            let u = expr::parse_update(src, &ph)?;
                            let key_names: Vec<&str> = def.key.names().collect();
                            if let Some(p) = u.paths().find(|p| key_names.contains(&p.root())) {
                                return Err(Error::validation(format!(
                                    "One or more parameter values were invalid: Cannot update attribute {}. This attribute is part of the key",
                                    p.root()
                                )));
                            }
                            Mutation::Update(u)
                        }
                    };
                    (key, m, valid)
                }
                other => {
                    return Err(Error::Serialization(format!(
                        "Unknown transaction action {other}"
                    )));
                }
            };
            ph.check_all_used()?;
            if !valid {
                continue;
            }
            let storage_key = def.storage_key(&key);
            if writes
                .iter()
                .any(|w| w.def.uid == def.uid && w.storage_key == storage_key)
            {
                return Err(Error::validation(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            writes.push(Write {
                def,
                key,
                storage_key,
                condition,
                mutation,
                old_on_failure: on_failure,
            });
        }
        if let Some((at, message)) = invalid {
            let reasons: Vec<CancellationReason> = (0..actions.len())
                .map(|i| {
                    if i == at {
                        CancellationReason {
                            code: "ValidationError",
                            message: Some(message.clone()),
                            item: None,
                        }
                    } else {
                        CancellationReason::none()
                    }
                })
                .collect();
            return Err(Error::cancelled(reasons));
        }
        // DynamoDB's 4 MB bound on what a transaction writes.
        let written: usize = writes
            .iter()
            .map(|w| match &w.mutation {
                Mutation::Put(item) => super::types::item_size(item),
                _ => super::types::item_size(&w.key),
            })
            .sum();
        if written > MAX_TRANSACTION_BYTES {
            return Err(Error::validation(
                "Transaction request cannot be larger than 4 MB",
            ));
        }
        let request_digest = digest(body);
        let defs: Vec<Arc<TableDef>> = writes.iter().map(|w| w.def.clone()).collect();
        let units = self
            .engine
            .write(move |txn| {
                let now = now_secs();
                if let Some(t) = &token {
                    let tokens = txn.open_table(TOKENS)?;
                    let seen = tokens.get(t.as_str())?.map(|v| v.value().to_vec());
                    drop(tokens);
                    if let Some(seen) = seen {
                        let expiry = seen.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes);
                        if expiry > now {
                            if seen[8..] == request_digest[..] {
                                return Ok(Ok(Vec::new()));
                            }
                            return Ok(Err(Error::IdempotentParameterMismatch(
                                "The request uses the same client token as a previous, but non-identical request.".into(),
                            )));
                        }
                    }
                }
                let mut checked = Vec::with_capacity(writes.len());
                let mut reasons = Vec::with_capacity(writes.len());
                let mut cancelled = false;
                for w in &writes {
                    match check_write(txn, w)? {
                        Ok(images) => {
                            checked.push(Some(images));
                            reasons.push(CancellationReason::none());
                        }
                        Err(Error::ConditionalCheckFailed { item }) => {
                            cancelled = true;
                            checked.push(None);
                            reasons.push(CancellationReason {
                                code: "ConditionalCheckFailed",
                                message: Some("The conditional request failed".into()),
                                item,
                            });
                        }
                        Err(Error::ResourceNotFound(m)) => return Ok(Err(Error::ResourceNotFound(m))),
                        Err(e) => {
                            cancelled = true;
                            checked.push(None);
                            reasons.push(CancellationReason {
                                code: "ValidationError",
                                message: Some(e.to_string()),
                                item: None,
                            });
                        }
                    }
                }
                if cancelled {
                    return Ok(Err(Error::cancelled(reasons)));
                }
                let mut units = Vec::with_capacity(writes.len());
                for (w, images) in writes.iter().zip(checked) {
                    let Some((old, new)) = images else { continue };
                    if matches!(w.mutation, Mutation::Check) || (old.is_none() && new.is_none()) {
                        units.push((1.0, Vec::new()));
                        continue;
                    }
                    let done = apply_write(txn, &w.def, &w.storage_key, old, new)?;
                    units.push((done.table_units, done.index_units));
                }
                if let Some(t) = &token {
                    let mut tokens = txn.open_table(TOKENS)?;
                    let mut v = (now + TOKEN_TTL_SECS).to_be_bytes().to_vec();
                    v.extend_from_slice(&request_digest);
                    tokens.insert(t.as_str(), v.as_slice())?;
                }
                Ok(Ok(units))
            })
            .await??;
        let mut out = json!({});
        if capacity.is_some_and(|c| c != "NONE") {
            let mut per: Vec<TableUnits> = Vec::new();
            for (i, def) in defs.iter().enumerate() {
                let (t, idx) = units.get(i).cloned().unwrap_or((1.0, Vec::new()));
                match per.iter_mut().find(|p| p.0.uid == def.uid) {
                    Some(p) => {
                        p.1 += 2.0 * t;
                        p.2.extend(idx.into_iter().map(|(n, l, u)| (n, l, 2.0 * u)));
                    }
                    None => per.push((
                        def.clone(),
                        2.0 * t,
                        idx.into_iter().map(|(n, l, u)| (n, l, 2.0 * u)).collect(),
                    )),
                }
            }
            let list: Vec<Value> = per
                .iter()
                .filter_map(|(d, t, i)| consumed(d, capacity, *t, i))
                .collect();
            out["ConsumedCapacity"] = Value::Array(list);
        }
        Ok(out)
    }

    /// TransactGetItems.
    pub(crate) async fn transact_get_items(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let capacity = capacity_mode(&mut input)?;
        let Some(actions) = input.array("TransactItems")? else {
            input.violation("Value null at 'transactItems' failed to satisfy constraint: Member must not be null".into());
            input.finish()?;
            return Err(Error::validation("TransactItems is required"));
        };
        if actions.is_empty() || actions.len() > MAX_ACTIONS {
            input.violation(format!(
                "Value '{}' at 'transactItems' failed to satisfy constraint: Member must have length {} {}",
                if actions.is_empty() { "[]" } else { "[...]" },
                if actions.is_empty() { "greater than or equal to" } else { "less than or equal to" },
                if actions.is_empty() { 1 } else { MAX_ACTIONS }
            ));
        }
        input.finish()?;
        let mut gets: Vec<GetAction> = Vec::new();
        // An action whose key is invalid cancels the transaction with a ValidationError
        // reason for it, as DynamoDB reports per-action validation.
        let mut invalid: Vec<Option<String>> = Vec::new();
        for a in actions {
            let Some(spec) = a.get("Get").filter(|v| !v.is_null()) else {
                return Err(Error::validation(
                    "TransactGetItems can only contain Get actions",
                ));
            };
            let mut sub = Input::new(spec)?;
            let name = sub.table_name()?;
            sub.finish()?;
            let def = self.item_table(&name)?;
            let key = sub.item("Key")?.unwrap_or_default();
            if let Err(e) = check_key(&def, &key) {
                invalid.push(Some(e.to_string()));
                continue;
            }
            invalid.push(None);
            refuse_orphan_placeholders(&sub, &["ProjectionExpression"])?;
            let ph = sub.placeholders_in(false)?;
            let projection = match sub.string("ProjectionExpression")? {
                Some(src) => Some(expr::parse_projection(src, &ph)?),
                None => None,
            };
            ph.check_all_used()?;
            let storage_key = def.storage_key(&key);
            if gets
                .iter()
                .any(|(d, k, _)| d.uid == def.uid && *k == storage_key)
            {
                return Err(Error::validation(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            gets.push((def, storage_key, projection));
        }
        if invalid.iter().any(Option::is_some) {
            let reasons: Vec<CancellationReason> = invalid
                .into_iter()
                .map(|m| match m {
                    Some(message) => CancellationReason {
                        code: "ValidationError",
                        message: Some(message),
                        item: None,
                    },
                    None => CancellationReason::none(),
                })
                .collect();
            return Err(Error::cancelled(reasons));
        }
        let lookups: Vec<(Arc<TableDef>, Vec<u8>)> = gets
            .iter()
            .map(|(d, k, _)| (d.clone(), k.clone()))
            .collect();
        let found: Vec<Option<Item>> = self
            .engine
            .read(move |txn| {
                let mut out = Vec::new();
                for (def, key) in &lookups {
                    let t = match txn
                        .open_table(TableDefinition::<&[u8], &[u8]>::new(&def.items_table()))
                    {
                        Ok(t) => t,
                        Err(redb::TableError::TableDoesNotExist(_)) => {
                            return Ok(Err(Error::item_table_not_found()));
                        }
                        Err(e) => return Err(e.into()),
                    };
                    out.push(index::base_item(&t, key)?);
                }
                Ok(Ok(out))
            })
            .await??;
        let responses: Vec<Value> = gets
            .iter()
            .zip(found)
            .map(|((_, _, projection), item)| match item {
                Some(item) => {
                    let item = match projection {
                        Some(p) => eval::project(&item, p),
                        None => item,
                    };
                    json!({ "Item": item_to_json(&item) })
                }
                None => json!({}),
            })
            .collect();
        let mut out = json!({ "Responses": responses });
        if capacity.is_some_and(|c| c != "NONE") {
            let list: Vec<Value> = gets
                .iter()
                .filter_map(|(d, _, _)| consumed(d, capacity, 2.0, &[]))
                .collect();
            out["ConsumedCapacity"] = Value::Array(list);
        }
        Ok(out)
    }
}
