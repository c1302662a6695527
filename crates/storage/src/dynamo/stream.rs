//! DynamoDB Streams: one ordered change log per table, written in the same commit as the
//! change itself.

use redb::{TableDefinition, WriteTransaction};

use super::table::TableDef;
use crate::engine::{EngineError, Plane};

/// The engine table holding a table's stream records.
pub(crate) fn stream_table(def: &TableDef) -> String {
    Plane::Dynamo.table(&format!("stream/{}", def.uid))
}

/// Drops a table's stream records (table deleted or stream disabled).
pub(crate) fn delete_stream_tables(
    txn: &WriteTransaction,
    def: &TableDef,
) -> Result<(), EngineError> {
    let name = stream_table(def);
    let t: TableDefinition<u64, &[u8]> = TableDefinition::new(&name);
    txn.delete_table(t)?;
    Ok(())
}

/// Which change a stream record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventName {
    /// A new item.
    Insert,
    /// A changed item.
    Modify,
    /// A removed item.
    Remove,
}

/// Appends a change to the table's stream, in the same transaction as the change, when the
/// table has a stream. `by_ttl` marks deletions made by the TTL sweep.
pub(crate) fn record(
    txn: &WriteTransaction,
    def: &TableDef,
    old: Option<&super::types::Item>,
    new: Option<&super::types::Item>,
    by_ttl: bool,
) -> Result<(), EngineError> {
    if def.stream.is_none() {
        return Ok(());
    }
    let event = match (old, new) {
        (None, Some(_)) => EventName::Insert,
        (Some(_), Some(_)) => EventName::Modify,
        (Some(_), None) => EventName::Remove,
        (None, None) => return Ok(()),
    };
    let name = stream_table(def);
    let mut t = txn.open_table(TableDefinition::<u64, &[u8]>::new(&name))?;
    let seq = {
        use redb::ReadableTable as _;
        t.last()?.map_or(1, |(k, _)| k.value() + 1)
    };
    let mut bytes = Vec::with_capacity(64);
    bytes.push(match event {
        EventName::Insert => 0,
        EventName::Modify => 1,
        EventName::Remove => 2,
    });
    bytes.push(u8::from(by_ttl));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    bytes.extend_from_slice(&now.to_be_bytes());
    for image in [old, new] {
        match image {
            Some(i) => {
                let enc = super::stored::encode_item(i);
                bytes.extend_from_slice(&(enc.len() as u32 + 1).to_be_bytes());
                bytes.extend_from_slice(&enc);
            }
            None => bytes.extend_from_slice(&0u32.to_be_bytes()),
        }
    }
    t.insert(seq, bytes.as_slice())?;
    Ok(())
}
