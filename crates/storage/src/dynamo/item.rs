//! Single-item operations (PutItem, GetItem, UpdateItem, DeleteItem) and the write path that
//! batches and transactions share: a write is first checked against the item as it is
//! (condition, update, new size, index key types) and only then applied, so a refused write
//! changes nothing in its group commit.

use std::sync::Arc;

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde_json::{Value, json};

use super::Dynamo;
use super::answer;
use super::error::Error;
use super::expr::{self, Action, Condition, Kind, Path, Placeholders, Update, eval};
use super::index;
use super::input::{Input, refuse_mixed, refuse_orphan_placeholders};
use super::legacy;
use super::stored::{decode_item, encode_item, write_item_json};
use super::table::{SIZES, TableDef, still_exists};
use super::types::{AttributeValue, Item, MAX_ITEM_SIZE, item_size, item_to_json};
use crate::engine::EngineError;

pub(crate) const MAX_HASH_KEY: usize = 2048;
pub(crate) const MAX_RANGE_KEY: usize = 1024;

/// Write units per index: name, whether local, units.
pub(crate) type IndexUnits = Vec<(String, bool, f64)>;
/// An item before and after a write.
pub(crate) type Images = (Option<Item>, Option<Item>);
/// Write units of one table: its definition, table units, index units.
pub(crate) type TableUnits = (Arc<TableDef>, f64, IndexUnits);

/// What a write does to its item.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Replace it.
    Put(Item),
    /// Remove it.
    Delete,
    /// Apply update actions (creating it from its key when absent).
    Update(Update),
    /// Change nothing (a transaction's ConditionCheck).
    Check,
}

/// A write, validated and ready for the writer.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    pub def: Arc<TableDef>,
    pub key: Item,
    pub storage_key: Vec<u8>,
    pub condition: Option<Condition>,
    pub mutation: Mutation,
    pub old_on_failure: bool,
}

/// The result of one applied write.
#[derive(Debug, Clone, Default)]
pub(crate) struct Written {
    pub old: Option<Item>,
    pub new: Option<Item>,
    pub table_units: f64,
    pub index_units: Vec<(String, bool, f64)>,
}

fn is_empty_key(v: &AttributeValue) -> Option<&'static str> {
    match v {
        AttributeValue::S(s) if s.is_empty() => Some("string"),
        AttributeValue::B(b) if b.is_empty() => Some("binary"),
        _ => None,
    }
}

/// Whether `item` has every key attribute of the table with its declared type (and, for a
/// `key`, nothing else): what [`check_key`] and [`check_item`] refuse first. DynamoDB reports
/// that mismatch in a transaction as the action's ValidationError, and the other refusals
/// (an empty key value, a size) as the request's ValidationException.
pub(crate) fn fits_key_schema(def: &TableDef, item: &Item, key: bool) -> bool {
    (!key || item.len() == def.key.names().count())
        && def
            .key
            .attrs()
            .all(|a| item.get(&a.name).is_some_and(|v| a.ty.matches(v)))
}

pub(crate) fn key_part_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        other => other.size(),
    }
}

/// Checks a `Key` parameter: exactly the key attributes, with their types.
pub(crate) fn check_key(def: &TableDef, key: &Item) -> Result<(), Error> {
    let expected = def.key.names().count();
    let mismatch = || Error::validation("The provided key element does not match the schema");
    if key.len() != expected {
        return Err(mismatch());
    }
    for attr in def.key.attrs() {
        let v = key.get(&attr.name).ok_or_else(mismatch)?;
        if !attr.ty.matches(v) {
            return Err(mismatch());
        }
        if let Some(kind) = is_empty_key(v) {
            return Err(Error::validation(format!(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {}",
                attr.name
            )));
        }
    }
    check_key_sizes(def, key)
}

fn check_key_sizes(def: &TableDef, item: &Item) -> Result<(), Error> {
    if let Some(v) = item.get(&def.key.partition().name)
        && key_part_size(v) > MAX_HASH_KEY
    {
        return Err(Error::validation(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if let Some(r) = def.key.sort()
        && let Some(v) = item.get(&r.name)
        && key_part_size(v) > MAX_RANGE_KEY
    {
        return Err(Error::validation(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    Ok(())
}

/// Checks an item to put: key attributes present with their types, sizes, index keys.
pub(crate) fn check_item(def: &TableDef, item: &Item) -> Result<(), Error> {
    for attr in def.key.attrs() {
        let Some(v) = item.get(&attr.name) else {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Missing the key {} in the item",
                attr.name
            )));
        };
        if !attr.ty.matches(v) {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
                attr.name,
                attr.ty.as_str(),
                v.type_name()
            )));
        }
        if let Some(kind) = is_empty_key(v) {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {}",
                attr.name
            )));
        }
    }
    if item_size(item) > MAX_ITEM_SIZE {
        return Err(Error::validation(
            "Item size has exceeded the maximum allowed size",
        ));
    }
    check_key_sizes(def, item)?;
    index::check_index_keys(def, item)
}

/// The ReturnConsumedCapacity answer, or `None` for NONE.
pub(crate) fn consumed(
    def: &TableDef,
    mode: Option<&str>,
    table_units: f64,
    index_units: &[(String, bool, f64)],
) -> Option<Value> {
    let total: f64 = table_units + index_units.iter().map(|(_, _, u)| u).sum::<f64>();
    match mode {
        Some("TOTAL") => Some(json!({"TableName": def.name, "CapacityUnits": total})),
        Some("INDEXES") => {
            let mut v = json!({"TableName": def.name, "CapacityUnits": total, "Table": {"CapacityUnits": table_units}});
            let gsi: serde_json::Map<String, Value> = index_units
                .iter()
                .filter(|(_, local, _)| !local)
                .map(|(n, _, u)| (n.clone(), json!({"CapacityUnits": u})))
                .collect();
            let lsi: serde_json::Map<String, Value> = index_units
                .iter()
                .filter(|(_, local, _)| *local)
                .map(|(n, _, u)| (n.clone(), json!({"CapacityUnits": u})))
                .collect();
            if !gsi.is_empty() {
                v["GlobalSecondaryIndexes"] = Value::Object(gsi);
            }
            if !lsi.is_empty() {
                v["LocalSecondaryIndexes"] = Value::Object(lsi);
            }
            Some(v)
        }
        _ => None,
    }
}

/// Reads ReturnConsumedCapacity.
pub(crate) fn capacity_mode<'a>(input: &mut Input<'a>) -> Result<Option<&'a str>, Error> {
    input.enum_value(
        "ReturnConsumedCapacity",
        "returnConsumedCapacity",
        &["INDEXES", "TOTAL", "NONE"],
    )
}

/// Parses the condition of a write: ConditionExpression or Expected.
pub(crate) fn write_condition(
    input: &Input<'_>,
    ph: &Placeholders,
) -> Result<Option<Condition>, Error> {
    refuse_mixed(
        input,
        &["Expected", "ConditionalOperator"],
        &["ConditionExpression"],
    )?;
    if let Some(src) = input.string("ConditionExpression")? {
        return expr::parse_condition(src, Kind::Condition, ph).map(Some);
    }
    if let Some(e) = input.raw("Expected") {
        return legacy::expected(e, input.string("ConditionalOperator")?);
    }
    if input.has("ConditionalOperator") {
        return Err(Error::validation(legacy::OPERATOR_WITHOUT_CONDITIONS));
    }
    Ok(None)
}

pub(crate) fn open_items<'t>(
    txn: &'t WriteTransaction,
    def: &TableDef,
) -> Result<redb::Table<'t, &'static [u8], &'static [u8]>, EngineError> {
    Ok(txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&def.items_table()))?)
}

/// The current item under `key`, inside the write transaction.
pub(crate) fn read_current(
    txn: &WriteTransaction,
    def: &TableDef,
    key: &[u8],
) -> Result<Option<Item>, EngineError> {
    let items = open_items(txn, def)?;
    let found = items.get(key)?;
    match found {
        Some(v) => decode_item(v.value())
            .map(Some)
            .map_err(|reason| EngineError::Corrupt {
                table: def.items_table(),
                reason,
            }),
        None => Ok(None),
    }
}

/// Checks a write against the item as it is: the table still exists, the condition holds,
/// the update applies, the new item is valid. Writes nothing.
pub(crate) fn check_write(
    txn: &WriteTransaction,
    w: &Write,
) -> Result<Result<Images, Error>, EngineError> {
    if !still_exists(txn, &w.def)? {
        return Ok(Err(Error::item_table_not_found()));
    }
    let old = read_current(txn, &w.def, &w.storage_key)?;
    if let Some(c) = &w.condition {
        let empty = Item::new();
        if !eval::evaluate(c, old.as_ref().unwrap_or(&empty)) {
            let item = if w.old_on_failure { old } else { None };
            return Ok(Err(Error::ConditionalCheckFailed { item }));
        }
    }
    let new = match &w.mutation {
        Mutation::Put(item) => Some(item.clone()),
        Mutation::Delete => None,
        Mutation::Check => return Ok(Ok((old.clone(), old))),
        Mutation::Update(u) => {
            let base = old.clone().unwrap_or_else(|| w.key.clone());
            let new = match eval::apply_update_to(&base, u, old.is_some()) {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            };
            if item_size(&new) > MAX_ITEM_SIZE {
                return Ok(Err(Error::validation(
                    "Item size to update has exceeded the maximum allowed size",
                )));
            }
            if let Err(e) = index::check_index_keys(&w.def, &new) {
                return Ok(Err(e));
            }
            // An update that only removes, on an item that does not exist, creates nothing:
            // DynamoDB writes the key-only item only when some action sets a value.
            let only_removes = !u.actions.is_empty()
                && u.actions
                    .iter()
                    .all(|a| matches!(a, Action::Remove(_) | Action::Delete(..)));
            if old.is_none() && only_removes {
                None
            } else {
                Some(new)
            }
        }
    };
    Ok(Ok((old, new)))
}

/// Applies a checked write: the item, its index entries, the table size and the stream.
pub(crate) fn apply_write(
    txn: &WriteTransaction,
    def: &TableDef,
    key: &[u8],
    old: Option<Item>,
    new: Option<Item>,
) -> Result<Written, EngineError> {
    apply_write_as(txn, def, key, old, new, false)
}

/// [`apply_write`], by the TTL sweep (`by_ttl`: the stream record names the service) or by
/// a caller.
pub(crate) fn apply_write_as(
    txn: &WriteTransaction,
    def: &TableDef,
    key: &[u8],
    old: Option<Item>,
    new: Option<Item>,
    by_ttl: bool,
) -> Result<Written, EngineError> {
    {
        let mut items = open_items(txn, def)?;
        match &new {
            Some(n) => {
                items.insert(key, encode_item(n).as_slice())?;
            }
            None => {
                items.remove(key)?;
            }
        }
    }
    let index_units = index::update_indexes(txn, def, key, old.as_ref(), new.as_ref())?;
    let (old_size, new_size) = (
        old.as_ref().map_or(0, item_size),
        new.as_ref().map_or(0, item_size),
    );
    if old_size != new_size {
        let mut sizes = txn.open_table(SIZES)?;
        let current = sizes.get(def.uid.as_str())?.map_or(0, |v| v.value());
        let next = (current + new_size as u64).saturating_sub(old_size as u64);
        sizes.insert(def.uid.as_str(), next)?;
    }
    super::stream::record(txn, def, old.as_ref(), new.as_ref(), by_ttl)?;
    let table_units = index::write_units(old_size.max(new_size));
    Ok(Written {
        old,
        new,
        table_units,
        index_units,
    })
}

/// Checks and applies one write; a refusal leaves everything as it was.
pub(crate) fn run_write(
    txn: &WriteTransaction,
    w: &Write,
) -> Result<Result<Written, Error>, EngineError> {
    let (old, new) = match check_write(txn, w)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    if matches!(w.mutation, Mutation::Check) {
        return Ok(Ok(Written {
            old,
            new,
            ..Default::default()
        }));
    }
    if old.is_none() && new.is_none() {
        return Ok(Ok(Written {
            table_units: 1.0,
            ..Default::default()
        }));
    }
    apply_write(txn, &w.def, &w.storage_key, old, new).map(Ok)
}

/// `ReturnItemCollectionMetrics`: true for `SIZE`.
fn wants_collection_metrics(input: &mut Input<'_>) -> Result<bool, Error> {
    Ok(input.enum_value(
        "ReturnItemCollectionMetrics",
        "returnItemCollectionMetrics",
        &["SIZE", "NONE"],
    )? == Some("SIZE"))
}

/// The item collection metrics DynamoDB returns for a write to a table with local secondary
/// indexes: the collection's hash key, and its size as a range in GB (a collection here
/// stays far under the 10 GB an LSI allows, so the range is DynamoDB's lowest).
fn collection_metrics(def: &TableDef, key: &Item) -> Option<Value> {
    if !def.indexes.iter().any(|i| i.local) {
        return None;
    }
    let hash = key.get(&def.key.partition().name)?;
    let mut collection = Item::new();
    collection.insert(def.key.partition().name.clone(), hash.clone());
    Some(json!({
        "ItemCollectionKey": item_to_json(&collection),
        "SizeEstimateRangeGB": [0.0, 1.0],
    }))
}

fn return_values<'a>(input: &mut Input<'a>, allowed: &[&str]) -> Result<&'a str, Error> {
    let v = input.enum_value(
        "ReturnValues",
        "returnValues",
        &["ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW"],
    )?;
    input.finish()?;
    let v = v.unwrap_or("NONE");
    if !allowed.contains(&v) {
        return Err(Error::validation("Return values set to invalid value"));
    }
    Ok(v)
}

fn old_on_failure(input: &mut Input<'_>) -> Result<bool, Error> {
    Ok(input.enum_value(
        "ReturnValuesOnConditionCheckFailure",
        "returnValuesOnConditionCheckFailure",
        &["ALL_OLD", "NONE"],
    )? == Some("ALL_OLD"))
}

/// The projection of a read: ProjectionExpression or AttributesToGet.
pub(crate) fn read_projection(
    input: &Input<'_>,
    ph: &Placeholders,
) -> Result<Option<Vec<Path>>, Error> {
    refuse_mixed(input, &["AttributesToGet"], &["ProjectionExpression"])?;
    if let Some(src) = input.string("ProjectionExpression")? {
        return expr::parse_projection(src, ph).map(Some);
    }
    if let Some(a) = input.raw("AttributesToGet") {
        return legacy::attributes_to_get(a).map(Some);
    }
    Ok(None)
}

impl Dynamo {
    /// Runs a PutItem's or DeleteItem's write and answers as both do: the item collection's
    /// metrics, the old item if `ALL_OLD` was asked for, the capacity consumed.
    async fn put_or_delete(
        &self,
        w: Write,
        metrics: bool,
        all_old: bool,
        capacity: Option<&str>,
    ) -> Result<Value, Error> {
        let def = w.def.clone();
        let collection = metrics.then(|| collection_metrics(&def, &w.key)).flatten();
        let written = self.engine.write(move |txn| run_write(txn, &w)).await??;
        let mut out = json!({});
        if let Some(m) = collection {
            out["ItemCollectionMetrics"] = m;
        }
        if all_old && let Some(old) = &written.old {
            out["Attributes"] = item_to_json(old);
        }
        if let Some(c) = consumed(&def, capacity, written.table_units, &written.index_units) {
            out["ConsumedCapacity"] = c;
        }
        Ok(out)
    }

    /// PutItem.
    pub(crate) async fn put_item(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        if !input.has("Item") {
            input.violation(
                "Value null at 'item' failed to satisfy constraint: Member must not be null".into(),
            );
        }
        let capacity = capacity_mode(&mut input)?;
        let metrics = wants_collection_metrics(&mut input)?;
        let on_failure = old_on_failure(&mut input)?;
        let rv = return_values(&mut input, &["NONE", "ALL_OLD"])?;
        let item = input.item("Item")?.unwrap_or_default();
        refuse_orphan_placeholders(&input, &["ConditionExpression"])?;
        let def = self.item_table(&name)?;
        check_item(&def, &item)?;
        let ph = input.placeholders()?;
        let condition = write_condition(&input, &ph)?;
        ph.check_all_used()?;
        let w = Write {
            storage_key: def.storage_key(&item),
            key: def.key_of(&item),
            def: def.clone(),
            condition,
            mutation: Mutation::Put(item),
            old_on_failure: on_failure,
        };
        self.put_or_delete(w, metrics, rv == "ALL_OLD", capacity)
            .await
    }

    /// DeleteItem.
    pub(crate) async fn delete_item(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        if !input.has("Key") {
            input.violation(
                "Value null at 'key' failed to satisfy constraint: Member must not be null".into(),
            );
        }
        let capacity = capacity_mode(&mut input)?;
        let metrics = wants_collection_metrics(&mut input)?;
        let on_failure = old_on_failure(&mut input)?;
        let rv = return_values(&mut input, &["NONE", "ALL_OLD"])?;
        let key = input.item("Key")?.unwrap_or_default();
        refuse_orphan_placeholders(&input, &["ConditionExpression"])?;
        let def = self.item_table(&name)?;
        check_key(&def, &key)?;
        let ph = input.placeholders()?;
        let condition = write_condition(&input, &ph)?;
        ph.check_all_used()?;
        let w = Write {
            storage_key: def.storage_key(&key),
            key,
            def: def.clone(),
            condition,
            mutation: Mutation::Delete,
            old_on_failure: on_failure,
        };
        self.put_or_delete(w, metrics, rv == "ALL_OLD", capacity)
            .await
    }

    /// UpdateItem.
    pub(crate) async fn update_item(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        if !input.has("Key") {
            input.violation(
                "Value null at 'key' failed to satisfy constraint: Member must not be null".into(),
            );
        }
        let capacity = capacity_mode(&mut input)?;
        let metrics = wants_collection_metrics(&mut input)?;
        let on_failure = old_on_failure(&mut input)?;
        let rv = return_values(
            &mut input,
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        let key = input.item("Key")?.unwrap_or_default();
        refuse_mixed(
            &input,
            &["AttributeUpdates", "Expected"],
            &["UpdateExpression", "ConditionExpression"],
        )?;
        refuse_orphan_placeholders(&input, &["ConditionExpression", "UpdateExpression"])?;
        let def = self.item_table(&name)?;
        check_key(&def, &key)?;
        let ph = input.placeholders()?;
        let key_names: Vec<&str> = def.key.names().collect();
        let update = if let Some(src) = input.string("UpdateExpression")? {
            let u = expr::parse_update(src, &ph)?;
            if let Some(p) = u.paths().find(|p| key_names.contains(&p.root())) {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Cannot update attribute {}. This attribute is part of the key",
                    p.root()
                )));
            }
            u
        } else if let Some(a) = input.raw("AttributeUpdates") {
            legacy::attribute_updates(a, &key_names)?
        } else {
            Update::default()
        };
        let condition = write_condition(&input, &ph)?;
        ph.check_all_used()?;
        let paths: Vec<Path> = update.paths().cloned().collect();
        let w = Write {
            storage_key: def.storage_key(&key),
            key,
            def: def.clone(),
            condition,
            mutation: Mutation::Update(update),
            old_on_failure: on_failure,
        };
        let collection = metrics.then(|| collection_metrics(&def, &w.key)).flatten();
        let written = self.engine.write(move |txn| run_write(txn, &w)).await??;
        let mut out = json!({});
        if let Some(m) = collection {
            out["ItemCollectionMetrics"] = m;
        }
        let attrs = match rv {
            "ALL_OLD" => written.old.clone(),
            "ALL_NEW" => written.new.clone(),
            "UPDATED_OLD" => written.old.as_ref().map(|o| eval::project(o, &paths)),
            "UPDATED_NEW" => written.new.as_ref().map(|n| eval::project(n, &paths)),
            _ => None,
        };
        if let Some(a) = attrs.filter(|a| !a.is_empty()) {
            out["Attributes"] = item_to_json(&a);
        }
        if let Some(c) = consumed(&def, capacity, written.table_units, &written.index_units) {
            out["ConsumedCapacity"] = c;
        }
        Ok(out)
    }

    /// GetItem.
    pub(crate) async fn get_item(&self, body: &Value) -> Result<Value, Error> {
        let get = self.parse_get_item(body)?;
        let item = self.get_one(&get.def, get.storage_key).await?;
        let mut out = json!({});
        let size = item.as_ref().map_or(0, item_size);
        if let Some(item) = item {
            let item = match &get.projection {
                Some(p) => eval::project(&item, p),
                None => item,
            };
            out["Item"] = item_to_json(&item);
        }
        let units = read_units(size, get.consistent);
        if let Some(c) = consumed(&get.def, get.capacity, units, &[]) {
            out["ConsumedCapacity"] = c;
        }
        Ok(out)
    }

    /// GetItem answered as JSON text: the same answer as [`Dynamo::get_item`]'s, with the item
    /// written from its stored bytes while the snapshot is open (no [`Item`] is built unless
    /// a projection needs one).
    pub(crate) async fn get_item_text(&self, body: &Value) -> Result<Vec<u8>, Error> {
        let get = self.parse_get_item(body)?;
        let items_table = get.def.items_table();
        let projection = get.projection.as_ref();
        // The item's text and its size; `None` when there is no item.
        let found = self.engine.read_point(|txn| {
            let t = match txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&items_table)) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    return Ok(Err(Error::item_table_not_found()));
                }
                Err(e) => return Err(e.into()),
            };
            let Some(stored) = t.get(get.storage_key.as_slice())? else {
                return Ok(Ok(None));
            };
            let corrupt = |reason| EngineError::Corrupt {
                table: "dynamo/items".into(),
                reason,
            };
            let mut text = Vec::with_capacity(stored.value().len() * 2 + 64);
            let size = match projection {
                None => write_item_json(stored.value(), &mut text).map_err(corrupt)?,
                Some(p) => {
                    let item = decode_item(stored.value()).map_err(corrupt)?;
                    answer::item(&eval::project(&item, p), &mut text);
                    item_size(&item)
                }
            };
            Ok(Ok(Some((text, size))))
        })??;
        let size = found.as_ref().map_or(0, |(_, size)| *size);
        let units = read_units(size, get.consistent);
        // Members in sorted order, as the tree answer serialises.
        let mut out = Vec::with_capacity(found.as_ref().map_or(0, |(t, _)| t.len()) + 96);
        out.push(b'{');
        let capacity = consumed(&get.def, get.capacity, units, &[]);
        if let Some(c) = &capacity {
            out.extend_from_slice(b"\"ConsumedCapacity\":");
            answer::value(c, &mut out);
        }
        if let Some((text, _)) = found {
            if capacity.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"Item\":");
            out.extend_from_slice(&text);
        }
        out.push(b'}');
        Ok(out)
    }

    /// What GetItem's input asks for, checked.
    fn parse_get_item<'a>(&self, body: &'a Value) -> Result<GetItem<'a>, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        if !input.has("Key") {
            input.violation(
                "Value null at 'key' failed to satisfy constraint: Member must not be null".into(),
            );
        }
        let capacity = capacity_mode(&mut input)?;
        input.finish()?;
        let consistent = input.boolean("ConsistentRead")?.unwrap_or(false);
        let key = input.item("Key")?.unwrap_or_default();
        refuse_orphan_placeholders(&input, &["ProjectionExpression"])?;
        let def = self.item_table(&name)?;
        check_key(&def, &key)?;
        let ph = input.placeholders()?;
        let projection = read_projection(&input, &ph)?;
        ph.check_all_used()?;
        let storage_key = def.storage_key(&key);
        Ok(GetItem {
            def,
            storage_key,
            projection,
            capacity,
            consistent,
        })
    }

    /// Reads one item by storage key.
    pub(crate) async fn get_one(
        &self,
        def: &Arc<TableDef>,
        key: Vec<u8>,
    ) -> Result<Option<Item>, Error> {
        let found = self.engine.read_point(|txn| {
            let t = match txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&def.items_table())) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    return Ok(Err(Error::item_table_not_found()));
                }
                Err(e) => return Err(e.into()),
            };
            Ok(Ok(index::base_item(&t, &key)?))
        })??;
        Ok(found)
    }
}

/// A checked GetItem input.
struct GetItem<'a> {
    def: Arc<TableDef>,
    storage_key: Vec<u8>,
    projection: Option<Vec<Path>>,
    capacity: Option<&'a str>,
    consistent: bool,
}

/// Read units: 4 KB per unit, at least one, halved for eventually consistent reads.
pub(crate) fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}
