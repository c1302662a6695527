//! BatchGetItem (up to 100 keys, one snapshot) and BatchWriteItem (up to 25 puts and
//! deletes, one commit). Nothing is left unprocessed unless a response would pass 16 MB.

use std::collections::BTreeMap;
use std::sync::Arc;

use redb::TableDefinition;
use serde_json::{Map, Value, json};

use super::Dynamo;
use super::error::Error;
use super::expr::{Path, eval};
use super::index;
use super::input::{Input, refuse_mixed};
use super::item::{
    Mutation, TableUnits, Write, capacity_mode, check_item, check_key, consumed, read_units,
    run_write,
};
use super::table::TableDef;
use super::types::{Item, item_from_json, item_size, item_to_json};

const MAX_GET: usize = 100;
const MAX_WRITE: usize = 25;
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

struct GetSpec {
    /// The table as the request names it (its name or its ARN), as the answer keys it.
    given: String,
    def: Arc<TableDef>,
    keys: Vec<Item>,
    projection: Option<Vec<Path>>,
    raw: Map<String, Value>,
    consistent: bool,
}

fn request_items<'a>(input: &mut Input<'a>) -> Result<&'a Map<String, Value>, Error> {
    match input.object("RequestItems")? {
        Some(m) => Ok(m),
        None => {
            input.violation("Value null at 'requestItems' failed to satisfy constraint: Member must not be null".into());
            input.finish()?;
            Err(Error::validation("RequestItems is required"))
        }
    }
}

impl Dynamo {
    /// BatchGetItem.
    pub(crate) async fn batch_get_item(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let capacity = capacity_mode(&mut input)?;
        let requests = request_items(&mut input)?;
        input.finish()?;
        if requests.is_empty() {
            return Err(Error::validation(
                "The requestItems parameter is required for BatchGetItem",
            ));
        }
        let mut specs = Vec::new();
        let mut total = 0;
        for (name, spec) in requests {
            let Value::Object(obj) = spec else {
                return Err(super::types::shape_error(spec, "structure"));
            };
            let sub = Input::new(spec)?;
            let keys = sub.array("Keys")?.cloned().unwrap_or_default();
            if keys.len() > MAX_GET {
                return Err(Error::validation(format!(
                    "1 validation error detected: Value at 'RequestItems.{name}.member.Keys' failed to satisfy constraint: Member must have length less than or equal to {MAX_GET}"
                )));
            }
            total += keys.len();
            if total > MAX_GET {
                return Err(Error::validation(
                    "Too many items requested for the BatchGetItem call".to_string(),
                ));
            }
            if keys.is_empty() {
                return Err(Error::validation(
                    "1 validation error detected: Value '[]' at 'requestItems.keys' failed to satisfy constraint: Member must have length greater than or equal to 1",
                ));
            }
            // The request's own rules before its table is looked up.
            refuse_mixed(&sub, &["AttributesToGet"], &["ProjectionExpression"])?;
            let ph = sub.placeholders_in(false)?;
            let projection = super::item::read_projection(&sub, &ph)?;
            ph.check_all_used()?;
            let def = self.item_table(name)?;
            let mut parsed: Vec<Item> = Vec::new();
            for k in &keys {
                let key = item_from_json(k)?;
                check_key(&def, &key)?;
                if parsed.contains(&key) {
                    return Err(Error::validation(
                        "Provided list of item keys contains duplicates",
                    ));
                }
                parsed.push(key);
            }
            specs.push(GetSpec {
                given: name.clone(),
                def,
                keys: parsed,
                projection,
                raw: obj.clone(),
                consistent: sub.boolean("ConsistentRead")?.unwrap_or(false),
            });
        }
        let lookups: Vec<(Arc<TableDef>, Vec<Vec<u8>>)> = specs
            .iter()
            .map(|s| {
                (
                    s.def.clone(),
                    s.keys.iter().map(|k| s.def.storage_key(k)).collect(),
                )
            })
            .collect();
        let found: Vec<Vec<Option<Item>>> = self
            .engine
            .read(move |txn| {
                let mut out = Vec::new();
                for (def, keys) in &lookups {
                    let t = match txn
                        .open_table(TableDefinition::<&[u8], &[u8]>::new(&def.items_table()))
                    {
                        Ok(t) => t,
                        Err(redb::TableError::TableDoesNotExist(_)) => {
                            return Ok(Err(Error::item_table_not_found()));
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let mut items = Vec::new();
                    for k in keys {
                        items.push(index::base_item(&t, k)?);
                    }
                    out.push(items);
                }
                Ok(Ok(out))
            })
            .await??;
        let mut responses = Map::new();
        let mut unprocessed = Map::new();
        let mut capacities = Vec::new();
        let mut size = 0usize;
        for (spec, items) in specs.iter().zip(found) {
            let mut list = Vec::new();
            let mut left = Vec::new();
            let mut read = 0usize;
            for (key, item) in spec.keys.iter().zip(items) {
                if size > MAX_RESPONSE {
                    left.push(item_to_json(key));
                    continue;
                }
                if let Some(item) = item {
                    let s = item_size(&item);
                    read += s.div_ceil(4096).max(1) * 4096;
                    size += s;
                    let item = match &spec.projection {
                        Some(p) => eval::project(&item, p),
                        None => item,
                    };
                    list.push(item_to_json(&item));
                } else {
                    read += 4096;
                }
            }
            responses.insert(spec.given.clone(), Value::Array(list));
            if !left.is_empty() {
                let mut raw = spec.raw.clone();
                raw.insert("Keys".into(), Value::Array(left));
                unprocessed.insert(spec.given.clone(), Value::Object(raw));
            }
            if let Some(c) = consumed(
                &spec.def,
                capacity,
                read_units(read, spec.consistent).max(0.5),
                &[],
            ) {
                capacities.push(c);
            }
        }
        let mut out = json!({ "Responses": responses, "UnprocessedKeys": unprocessed });
        if !capacities.is_empty() {
            out["ConsumedCapacity"] = Value::Array(capacities);
        }
        Ok(out)
    }

    /// BatchWriteItem.
    pub(crate) async fn batch_write_item(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let capacity = capacity_mode(&mut input)?;
        input.enum_value(
            "ReturnItemCollectionMetrics",
            "returnItemCollectionMetrics",
            &["SIZE", "NONE"],
        )?;
        let requests = request_items(&mut input)?;
        input.finish()?;
        if requests.is_empty() {
            return Err(Error::validation(
                "The requestItems parameter is required for BatchWriteItem",
            ));
        }
        let total: usize = requests
            .values()
            .map(|v| v.as_array().map_or(0, Vec::len))
            .sum();
        if total > MAX_WRITE
            || requests
                .values()
                .any(|v| v.as_array().is_some_and(Vec::is_empty))
        {
            // DynamoDB echoes the request map before the constraint.
            let echo: Vec<String> = requests
                .iter()
                .map(|(t, v)| {
                    let list: Vec<String> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(Value::to_string)
                        .collect();
                    format!("{t}=[{}]", list.join(", "))
                })
                .collect();
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{{{}}}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
                echo.join(", ")
            )));
        }
        let mut writes = Vec::new();
        for (name, list) in requests {
            let Value::Array(list) = list else {
                return Err(super::types::shape_error(list, "list"));
            };
            let def = self.item_table(name)?;
            let mut seen: Vec<Vec<u8>> = Vec::new();
            for req in list {
                let put = req.get("PutRequest").filter(|v| !v.is_null());
                let del = req.get("DeleteRequest").filter(|v| !v.is_null());
                let (key, mutation) = match (put, del) {
                    (Some(p), None) => {
                        let item = item_from_json(p.get("Item").unwrap_or(&Value::Null))?;
                        check_item(&def, &item)?;
                        (def.key_of(&item), Mutation::Put(item))
                    }
                    (None, Some(d)) => {
                        let key = item_from_json(d.get("Key").unwrap_or(&Value::Null))?;
                        check_key(&def, &key)?;
                        (key, Mutation::Delete)
                    }
                    _ => {
                        return Err(Error::validation(
                            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                        ));
                    }
                };
                let storage_key = def.storage_key(&key);
                if seen.contains(&storage_key) {
                    return Err(Error::validation(
                        "Provided list of item keys contains duplicates",
                    ));
                }
                seen.push(storage_key.clone());
                writes.push(Write {
                    def: def.clone(),
                    key,
                    storage_key,
                    condition: None,
                    mutation,
                    old_on_failure: false,
                });
            }
        }
        let results = self
            .engine
            .write(move |txn| {
                // Batches carry no conditions: the only refusal left is a table deleted
                // meanwhile, checked for every table before anything is written.
                for w in &writes {
                    if !super::table::still_exists(txn, &w.def)? {
                        return Ok(Err(Error::item_table_not_found()));
                    }
                }
                let mut out = Vec::new();
                for w in &writes {
                    match run_write(txn, w)? {
                        Ok(done) => out.push((w.def.clone(), done)),
                        Err(e) => return Err(crate::engine::EngineError::Storage(e.to_string())),
                    }
                }
                Ok(Ok(out))
            })
            .await??;
        let mut per_table: BTreeMap<String, TableUnits> = BTreeMap::new();
        for (def, done) in results {
            let e = per_table
                .entry(def.name.clone())
                .or_insert_with(|| (def.clone(), 0.0, Vec::new()));
            e.1 += done.table_units;
            e.2.extend(done.index_units);
        }
        let mut out = json!({ "UnprocessedItems": {} });
        let capacities: Vec<Value> = per_table
            .values()
            .filter_map(|(def, units, idx)| consumed(def, capacity, *units, idx))
            .collect();
        if !capacities.is_empty() {
            out["ConsumedCapacity"] = Value::Array(capacities);
        }
        Ok(out)
    }
}
