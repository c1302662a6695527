//! Secondary indexes: an index entry is `index key ‖ base key → base key`, kept in the same
//! commit as the item. An item without the index's key attributes has no entry (a sparse
//! index), as in DynamoDB.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::error::Error;
use super::item::{MAX_HASH_KEY, MAX_RANGE_KEY, key_part_size};
use super::stored;
use super::table::{IndexDef, KeyAttr, KeySchema, TableDef, for_each_item};
use super::types::{AttributeValue, Item};
use crate::engine::EngineError;

/// The index key of `item`, or `None` when the item lacks one of the index's key attributes
/// (every HASH and every RANGE attribute of a multi-attribute key must be present). The
/// RANGE values follow the partition prefix one after the other, each self-delimiting, so
/// entries order by the first RANGE attribute, then the second, and so on.
pub(crate) fn index_key(idx: &IndexDef, item: &Item, base_key: &[u8]) -> Option<Vec<u8>> {
    let typed = |a: &KeyAttr| item.get(&a.name).filter(|v| a.ty.matches(v));
    let hash: Vec<&AttributeValue> = idx.key.hash.iter().map(typed).collect::<Option<_>>()?;
    let range: Vec<&AttributeValue> = idx.key.range.iter().map(typed).collect::<Option<_>>()?;
    let mut key = stored::composite_partition_prefix(&hash);
    for v in range {
        stored::encode_sort_key(v, &mut key);
    }
    key.extend_from_slice(base_key);
    Some(key)
}

/// The index-side prefix for a Query on `idx` (or the table) with the partition values
/// `hash` (in KeySchema order) and equalities on the first RANGE attributes `range`.
pub(crate) fn query_prefix(hash: &[AttributeValue], range: &[AttributeValue]) -> Vec<u8> {
    let hash: Vec<&AttributeValue> = hash.iter().collect();
    let mut prefix = stored::composite_partition_prefix(&hash);
    for v in range {
        stored::encode_sort_key(v, &mut prefix);
    }
    prefix
}

/// Refuses index key values longer than DynamoDB allows: each HASH attribute 2048 bytes,
/// the RANGE attributes together 1024 bytes, as for a table's key.
fn check_key_sizes(idx: &IndexDef, item: &Item) -> Result<(), Error> {
    let size = |attrs: &[KeyAttr]| -> Vec<usize> {
        attrs
            .iter()
            .filter_map(|a| item.get(&a.name).map(key_part_size))
            .collect()
    };
    if size(&idx.key.hash).into_iter().any(|s| s > MAX_HASH_KEY) {
        return Err(Error::validation(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if size(&idx.key.range).into_iter().sum::<usize>() > MAX_RANGE_KEY {
        return Err(Error::validation(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    Ok(())
}

/// Refuses an item whose index key attributes have the wrong type, are empty or too long.
pub(crate) fn check_index_keys(def: &TableDef, item: &Item) -> Result<(), Error> {
    for idx in &def.indexes {
        check_key_sizes(idx, item)?;
        for attr in idx.key.attrs() {
            let Some(v) = item.get(&attr.name) else {
                continue;
            };
            if !attr.ty.matches(v) {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    attr.name,
                    attr.ty.as_str(),
                    v.type_name(),
                    idx.name
                )));
            }
            let empty = match v {
                AttributeValue::S(s) => s.is_empty(),
                AttributeValue::B(b) => b.is_empty(),
                _ => false,
            };
            if empty {
                return Err(Error::validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {}",
                    if matches!(v, AttributeValue::S(_)) {
                        "string"
                    } else {
                        "binary"
                    },
                    idx.name,
                    attr.name
                )));
            }
        }
    }
    Ok(())
}

/// Moves the index entries of one item from `old` to `new`; returns the write units each
/// index consumed (by index name), for ReturnConsumedCapacity.
pub(crate) fn update_indexes(
    txn: &WriteTransaction,
    def: &TableDef,
    base_key: &[u8],
    old: Option<&Item>,
    new: Option<&Item>,
) -> Result<Vec<(String, bool, f64)>, EngineError> {
    let mut units = Vec::new();
    for idx in &def.indexes {
        let old_key = old.and_then(|o| index_key(idx, o, base_key));
        let new_key = new.and_then(|n| index_key(idx, n, base_key));
        if old_key.is_none() && new_key.is_none() {
            continue;
        }
        let name = idx.engine_table(&def.uid);
        let mut table = txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&name))?;
        let mut cost = 0.0;
        if old_key != new_key {
            if let Some(k) = &old_key {
                table.remove(k.as_slice())?;
                cost += write_units(old.map_or(0, |o| projected_size(idx, &def.key, o)));
            }
            if let Some(k) = &new_key {
                table.insert(k.as_slice(), base_key)?;
                cost += write_units(new.map_or(0, |n| projected_size(idx, &def.key, n)));
            }
        } else if let Some(n) = new {
            cost += write_units(projected_size(idx, &def.key, n));
        }
        units.push((idx.name.clone(), idx.local, cost));
    }
    Ok(units)
}

fn projected_size(idx: &IndexDef, key: &KeySchema, item: &Item) -> usize {
    super::types::item_size(&idx.project(key, item))
}

/// One write unit per KB, at least one.
pub(crate) fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Builds a new index's entries from the items already in the table.
pub(crate) fn backfill(
    txn: &WriteTransaction,
    def: &TableDef,
    idx: &IndexDef,
) -> Result<(), EngineError> {
    let items_name = def.items_table();
    let items = txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&items_name))?;
    let name = idx.engine_table(&def.uid);
    let mut index = txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&name))?;
    // An item already in the table whose value cannot be in the new index's key (too long,
    // or an empty string or binary) is left out of the index, as DynamoDB's backfill leaves it.
    for_each_item(&items, |key, item| {
        let empty = idx.key.attrs().any(|a| match item.get(&a.name) {
            Some(AttributeValue::S(s)) => s.is_empty(),
            Some(AttributeValue::B(b)) => b.is_empty(),
            _ => false,
        });
        if empty || check_key_sizes(idx, &item).is_err() {
            return Ok(());
        }
        if let Some(k) = index_key(idx, &item, key) {
            index.insert(k.as_slice(), key)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Reads the base item an index entry points at.
pub(crate) fn base_item(
    items: &impl ReadableTable<&'static [u8], &'static [u8]>,
    base_key: &[u8],
) -> Result<Option<Item>, EngineError> {
    match items.get(base_key)? {
        Some(v) => {
            stored::decode_item(v.value())
                .map(Some)
                .map_err(|reason| EngineError::Corrupt {
                    table: "dynamo/items".into(),
                    reason,
                })
        }
        None => Ok(None),
    }
}
