//! DynamoDB Streams: one ordered change log per table, written in the same commit as the
//! change itself, and the Streams API that reads it.

use std::sync::Arc;

use redb::{ReadableTable as _, TableDefinition, WriteTransaction};
use serde_json::{Value, json};

use super::Dynamo;
use super::error::Error;
use super::input::Input;
use super::stored::decode_item;
use super::table::{ClosedStream, StreamSpec, TableDef, save_def, still_exists};
use super::types::{Item, item_size, item_to_json};
use crate::engine::{EngineError, Plane};

/// The engine table holding a table's stream records.
pub(crate) fn stream_table(def: &TableDef) -> String {
    Plane::Dynamo.table(&format!("stream/{}", def.uid))
}

/// Drops a table's change log (the table deleted, or its last stream expired).
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
        // A write that leaves the item as it was is no change, and DynamoDB records none.
        (Some(o), Some(n)) if o == n => return Ok(()),
        (Some(_), Some(_)) => EventName::Modify,
        (Some(_), None) => EventName::Remove,
        (None, None) => return Ok(()),
    };
    let name = stream_table(def);
    let mut t = txn.open_table(TableDefinition::<u64, &[u8]>::new(&name))?;
    let seq = { t.last()?.map_or(1, |(k, _)| k.value() + 1) };
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
                let enc = super::stored::encode_compact(i);
                bytes.extend_from_slice(&(enc.len() as u32 + 1).to_be_bytes());
                bytes.extend_from_slice(&enc);
            }
            None => bytes.extend_from_slice(&0u32.to_be_bytes()),
        }
    }
    t.insert(seq, bytes.as_slice())?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The DynamoDB Streams API (`X-Amz-Target: DynamoDBStreams_20120810.*`, signed for the
// `dynamodb` service as the SDKs sign it): ListStreams, DescribeStream, GetShardIterator,
// GetRecords over the change log above.
//
// Each stream has one shard that never closes (DynamoDB splits shards as a table grows; one
// node's table does not need to). Sequence numbers are the log's positions as 21 decimal
// digits, so they sort as text and as numbers. A shard iterator is
// `<stream arn>|<shard>|<next position>|<issued, ms>`: opaque to clients, and it expires
// after 15 minutes as DynamoDB's do. Records are kept 24 hours, as DynamoDB keeps them
// (the background sweep trims older ones; the newest always stays, so positions never
// restart). A table's streams share its log: each starts at the position after the last
// record when it was enabled. A disabled stream stays listed, described as DISABLED with a
// closed shard, and readable for 24 hours, as DynamoDB keeps it; enabling the stream again
// makes a new stream with a new ARN.
// ---------------------------------------------------------------------------------------

/// The prefix of the Streams API's `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "DynamoDBStreams_20120810.";

/// The Streams operations served.
pub const OPERATIONS: &[&str] = &[
    "ListStreams",
    "DescribeStream",
    "GetShardIterator",
    "GetRecords",
];

/// How long a stream keeps a record.
pub const RETENTION_SECS: u64 = 24 * 3600;
/// The most records one trim removes from one stream.
const TRIM_BATCH: usize = 10_000;

/// How long a shard iterator stays valid.
const ITERATOR_LIFETIME_MS: u128 = 15 * 60 * 1000;

fn sequence_number(position: u64) -> String {
    format!("{position:021}")
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Whether `arn` has a stream ARN's shape (`arn:...:table/<name>/stream/<label>`).
fn is_stream_arn(arn: &str) -> bool {
    arn.strip_prefix("arn:")
        .and_then(|r| r.split_once(":table/"))
        .and_then(|(_, r)| r.split_once("/stream/"))
        .is_some_and(|(t, l)| !t.is_empty() && !l.is_empty())
}

/// One of a table's streams, as the Streams API reads it.
#[derive(Debug, Clone)]
struct Stream {
    spec: StreamSpec,
    /// The last log position it may hold: set for a disabled stream another one followed.
    bound: Option<u64>,
    /// Disabled (its shard is closed).
    closed: bool,
}

impl Stream {
    /// The log positions it may hold.
    fn range(&self) -> std::ops::RangeInclusive<u64> {
        self.spec.start..=self.bound.unwrap_or(u64::MAX)
    }
}

/// A table's streams: the disabled ones it still keeps, oldest first, then the current one.
fn streams_of(def: &TableDef) -> Vec<Stream> {
    let mut out: Vec<Stream> = def
        .closed_streams
        .iter()
        .map(|c| Stream {
            spec: c.stream.clone(),
            bound: None,
            closed: true,
        })
        .collect();
    if let Some(s) = &def.stream {
        out.push(Stream {
            spec: s.clone(),
            bound: None,
            closed: false,
        });
    }
    for i in 1..out.len() {
        let next_start = out[i].spec.start;
        out[i - 1].bound = Some(next_start.saturating_sub(1));
    }
    out
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The stream's only shard.
fn shard_id(def: &TableDef, stream: &StreamSpec) -> String {
    let digits: String = stream.label.chars().filter(char::is_ascii_digit).collect();
    let uid: String = def
        .uid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("shardId-{digits:0>20}-{uid}")
}

/// A change as the log holds it.
struct Change {
    position: u64,
    event: EventName,
    by_ttl: bool,
    at: u64,
    old: Option<Item>,
    new: Option<Item>,
}

fn decode_change(position: u64, bytes: &[u8]) -> Result<Change, String> {
    let short = || "a stream record is cut short".to_owned();
    let event = match bytes.first() {
        Some(0) => EventName::Insert,
        Some(1) => EventName::Modify,
        Some(2) => EventName::Remove,
        _ => return Err("a stream record has no event".into()),
    };
    let by_ttl = bytes.get(1).ok_or_else(short)? == &1;
    let at = u64::from_be_bytes(
        bytes
            .get(2..10)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(short)?,
    );
    let mut rest = bytes.get(10..).ok_or_else(short)?;
    let mut image = || -> Result<Option<Item>, String> {
        let len = u32::from_be_bytes(
            rest.get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(short)?,
        ) as usize;
        rest = &rest[4..];
        if len == 0 {
            return Ok(None);
        }
        let body = rest.get(..len - 1).ok_or_else(short)?;
        rest = &rest[len - 1..];
        decode_item(body).map(Some)
    };
    let old = image()?;
    let new = image()?;
    Ok(Change {
        position,
        event,
        by_ttl,
        at,
        old,
        new,
    })
}

impl Dynamo {
    /// Runs one Streams operation.
    pub async fn call_streams(&self, operation: &str, body: &Value) -> Result<Value, Error> {
        match operation {
            "ListStreams" => self.list_streams(body),
            "DescribeStream" => self.describe_stream(body).await,
            "GetShardIterator" => self.get_shard_iterator(body).await,
            "GetRecords" => self.get_records(body).await,
            _ => Err(Error::UnknownOperation(String::new())),
        }
    }

    fn stream_arn(&self, def: &TableDef, stream: &StreamSpec) -> String {
        format!("{}/stream/{}", def.arn(self), stream.label)
    }

    /// The table and the stream (its current one, or one it disabled and still keeps) an
    /// ARN names.
    fn stream_of(&self, arn: &str) -> Result<(Arc<TableDef>, Stream), Error> {
        let not_found = || {
            Error::ResourceNotFound(format!(
                "Requested resource not found: Stream: {arn} not found"
            ))
        };
        // A string that is no stream ARN at all is a validation error; a well-formed ARN of
        // a stream that does not exist (here) is not found.
        if !is_stream_arn(arn) {
            return Err(Error::validation("Invalid StreamArn"));
        }
        let prefix = format!("arn:aws:dynamodb:{}:{}:table/", self.region, self.account);
        let (table, label) = arn
            .strip_prefix(&prefix)
            .and_then(|r| r.split_once("/stream/"))
            .ok_or_else(not_found)?;
        let def = self.table(table).map_err(|_| not_found())?;
        let stream = streams_of(&def)
            .into_iter()
            .rev()
            .find(|s| s.spec.label == label)
            .ok_or_else(not_found)?;
        Ok((def, stream))
    }

    /// Carries a table's streams across a change of its definition from `old` to `new`: a
    /// stream that goes (disabled, or replaced) is kept as closed; a new one starts after the
    /// last record of the table's log. Called under the definitions lock, while no stream
    /// is being written if one is beginning.
    pub(crate) async fn carry_streams(
        &self,
        old: &Arc<TableDef>,
        new: &mut TableDef,
    ) -> Result<(), Error> {
        let replaced =
            |o: &StreamSpec, n: &StreamSpec| o.label != n.label || o.view_type != n.view_type;
        if let Some(o) = &old.stream
            && new.stream.as_ref().is_none_or(|n| replaced(o, n))
        {
            new.closed_streams.push(ClosedStream {
                stream: o.clone(),
                closed: now_secs(),
            });
        }
        let begins = match (&old.stream, &new.stream) {
            (None, Some(_)) => true,
            (Some(o), Some(n)) => replaced(o, n),
            _ => false,
        };
        if begins {
            let last = self.log_bounds(old).await?.map_or(0, |(_, last)| last);
            if let Some(n) = &mut new.stream {
                n.start = last + 1;
                let label = n.label.clone();
                // A declared stream keeps its label: the one enabled again is the current one.
                new.closed_streams.retain(|c| c.stream.label != label);
            }
        }
        Ok(())
    }

    /// The first and last positions in a table's change log (`None` when empty).
    async fn log_bounds(&self, def: &Arc<TableDef>) -> Result<Option<(u64, u64)>, Error> {
        self.bounds_in(def, 0..=u64::MAX).await
    }

    /// The first and last positions of the log a stream holds (`None` when it holds none).
    async fn stream_bounds(
        &self,
        def: &Arc<TableDef>,
        stream: &Stream,
    ) -> Result<Option<(u64, u64)>, Error> {
        self.bounds_in(def, stream.range()).await
    }

    /// The first and last positions of a table's change log within `range`.
    async fn bounds_in(
        &self,
        def: &Arc<TableDef>,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<(u64, u64)>, Error> {
        let name = stream_table(def);
        Ok(self
            .engine
            .read(move |txn| {
                let t = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let mut r = t.range(range)?;
                let first = r.next().transpose()?.map(|(k, _)| k.value());
                let last = r.next_back().transpose()?.map(|(k, _)| k.value());
                Ok(first.map(|f| (f, last.unwrap_or(f))))
            })
            .await?)
    }

    fn list_streams(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let table = input.string("TableName")?.map(str::to_owned);
        let limit = input.integer("Limit")?;
        if let Some(l) = limit
            && !(1..=100).contains(&l)
        {
            input.violation(format!(
                "Value '{l}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100, Member must have value greater than or equal to 1"
            ));
        }
        let start = input.string("ExclusiveStartStreamArn")?.map(str::to_owned);
        input.finish()?;
        if start.as_deref().is_some_and(|a| !is_stream_arn(a)) {
            // DynamoDB refuses it too; its words for it are not recorded.
            return Err(Error::validation("Invalid ExclusiveStartStreamArn"));
        }
        let limit = limit.unwrap_or(100) as usize;
        let mut streams: Vec<(String, String, String)> = self
            .tables()
            .iter()
            .filter(|d| {
                table
                    .as_deref()
                    .is_none_or(|t| self.table_named(t).unwrap_or(t) == d.name)
            })
            .flat_map(|d| {
                streams_of(d).into_iter().map(|s| {
                    (
                        self.stream_arn(d, &s.spec),
                        d.name.clone(),
                        s.spec.label.clone(),
                    )
                })
            })
            .collect();
        streams.sort();
        if let Some(s) = &start {
            streams.retain(|(arn, _, _)| arn > s);
        }
        let more = streams.len() > limit;
        streams.truncate(limit);
        let mut out = json!({
            "Streams": streams
                .iter()
                .map(|(arn, t, label)| json!({"StreamArn": arn, "TableName": t, "StreamLabel": label}))
                .collect::<Vec<_>>()
        });
        if more && let Some((arn, _, _)) = streams.last() {
            out["LastEvaluatedStreamArn"] = json!(arn);
        }
        Ok(out)
    }

    async fn describe_stream(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let arn = required(&mut input, "StreamArn", "streamArn")?;
        let _ = input.integer("Limit")?;
        let start = input.string("ExclusiveStartShardId")?.map(str::to_owned);
        let filter = shard_filter(&mut input)?;
        input.finish()?;
        let (def, stream) = self.stream_of(&arn)?;
        let shard = shard_id(&def, &stream.spec);
        let bounds = self.stream_bounds(&def, &stream).await?;
        let first = bounds.map_or(stream.spec.start.max(1), |(f, _)| f);
        if let Some(parent) = &filter
            && *parent != shard
        {
            return Err(Error::validation(format!(
                "Invalid ShardFilter.ShardId value - shard {parent} not found"
            )));
        }
        // Shards are listed in ShardId order after ExclusiveStartShardId. A stream's one
        // shard closes only when the stream is disabled, and has no children for a
        // CHILD_SHARDS filter.
        let shards = if filter.is_some() || start.as_deref().is_some_and(|s| s >= shard.as_str()) {
            vec![]
        } else {
            let mut range = json!({"StartingSequenceNumber": sequence_number(first)});
            if stream.closed {
                let last = bounds.map_or(first, |(_, l)| l);
                range["EndingSequenceNumber"] = json!(sequence_number(last));
            }
            vec![json!({"ShardId": shard, "SequenceNumberRange": range})]
        };
        let created = time::PrimitiveDateTime::parse(
            &stream.spec.label,
            &time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
            ),
        )
        .map_or(def.created, |t| {
            t.assume_utc().unix_timestamp_nanos() as f64 / 1e9
        });
        Ok(json!({"StreamDescription": {
            "StreamArn": arn,
            "StreamLabel": stream.spec.label,
            "StreamStatus": if stream.closed { "DISABLED" } else { "ENABLED" },
            "StreamViewType": stream.spec.view_type,
            "CreationRequestDateTime": created,
            "TableName": def.name,
            "KeySchema": def.key.to_json(),
            "Shards": shards,
        }}))
    }

    async fn get_shard_iterator(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let arn = required(&mut input, "StreamArn", "streamArn")?;
        let shard = required(&mut input, "ShardId", "shardId")?;
        let kind = input.enum_value(
            "ShardIteratorType",
            "shardIteratorType",
            &[
                "TRIM_HORIZON",
                "LATEST",
                "AT_SEQUENCE_NUMBER",
                "AFTER_SEQUENCE_NUMBER",
            ],
        )?;
        if kind.is_none() {
            input.violation(
                "Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null"
                    .into(),
            );
        }
        let sequence = input.string("SequenceNumber")?.map(str::to_owned);
        input.finish()?;
        let (def, stream) = self.stream_of(&arn)?;
        if shard != shard_id(&def, &stream.spec) {
            return Err(Error::ResourceNotFound(format!(
                "Requested resource not found: Shard does not exist: {shard}"
            )));
        }
        let bounds = self.stream_bounds(&def, &stream).await?;
        // Where the stream's records begin when it holds none yet.
        let empty = stream.spec.start.max(1);
        let at = |s: Option<&String>| -> Result<u64, Error> {
            let s = s.ok_or_else(|| {
                Error::validation(format!(
                    "SequenceNumber is required for ShardIteratorType {}",
                    kind.unwrap_or_default()
                ))
            })?;
            s.parse::<u64>()
                .map_err(|_| Error::validation(format!("Invalid SequenceNumber: {s}")))
        };
        let trimmed = |p: u64| {
            if bounds.is_some_and(|(first, _)| p < first) {
                Err(Error::TrimmedDataAccess(
                    "The operation attempted to read past the oldest stream record in a shard"
                        .into(),
                ))
            } else {
                Ok(p)
            }
        };
        if sequence.is_some() && matches!(kind, Some("TRIM_HORIZON" | "LATEST")) {
            // DynamoDB refuses this too; its words for it are not recorded.
            return Err(Error::validation(format!(
                "SequenceNumber is not allowed for ShardIteratorType {}",
                kind.unwrap_or_default()
            )));
        }
        let next = match kind.unwrap_or_default() {
            "TRIM_HORIZON" => bounds.map_or(empty, |(f, _)| f),
            "LATEST" => bounds.map_or(empty, |(_, l)| l + 1),
            "AT_SEQUENCE_NUMBER" => trimmed(at(sequence.as_ref())?)?,
            _ => trimmed(at(sequence.as_ref())? + 1)?,
        };
        Ok(json!({"ShardIterator": format!("{arn}|{shard}|{next}|{}", now_ms())}))
    }

    async fn get_records(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let iterator = required(&mut input, "ShardIterator", "shardIterator")?;
        let limit = input.integer("Limit")?;
        if let Some(l) = limit
            && !(1..=1000).contains(&l)
        {
            input.violation(format!(
                "Value '{l}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000, Member must have value greater than or equal to 1"
            ));
        }
        input.finish()?;
        let limit = limit.unwrap_or(1000) as usize;
        let invalid = || Error::validation(format!("Invalid ShardIterator: {iterator}"));
        let mut parts = iterator.split('|');
        let (Some(arn), Some(shard), Some(next), Some(issued), None) = (
            parts.next(),
            parts.next(),
            parts.next().and_then(|n| n.parse::<u64>().ok()),
            parts.next().and_then(|n| n.parse::<u128>().ok()),
            parts.next(),
        ) else {
            return Err(invalid());
        };
        if now_ms().saturating_sub(issued) > ITERATOR_LIFETIME_MS {
            return Err(Error::ExpiredIterator(
                "Iterator expired. The iterator was created more than 15 minutes ago".into(),
            ));
        }
        let (def, stream) = self.stream_of(arn)?;
        if shard != shard_id(&def, &stream.spec) {
            return Err(invalid());
        }
        if self
            .stream_bounds(&def, &stream)
            .await?
            .is_some_and(|(first, _)| next < first)
        {
            return Err(Error::TrimmedDataAccess(
                "The operation attempted to read past the oldest stream record in a shard".into(),
            ));
        }
        let name = stream_table(&def);
        let end = *stream.range().end();
        let changes = self
            .engine
            .read(move |txn| {
                let t = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(e.into()),
                };
                let mut out = Vec::new();
                if next > end {
                    return Ok(out);
                }
                for entry in t.range(next..=end)?.take(limit) {
                    let (k, v) = entry?;
                    out.push(decode_change(k.value(), v.value()).map_err(|reason| {
                        EngineError::Corrupt {
                            table: name.clone(),
                            reason,
                        }
                    })?);
                }
                Ok(out)
            })
            .await?;
        let after = changes.last().map_or(next, |c| c.position + 1);
        let read_all = changes.len() < limit;
        let records: Vec<Value> = changes
            .iter()
            .map(|c| self.record_json(&def, &stream.spec, c))
            .collect();
        let mut out = json!({ "Records": records });
        // A closed shard read to its end has no next iterator.
        if !(stream.closed && read_all) {
            out["NextShardIterator"] = json!(format!("{arn}|{shard}|{after}|{}", now_ms()));
        }
        Ok(out)
    }

    /// A change as GetRecords shows it, in the stream's view type.
    fn record_json(&self, def: &TableDef, stream: &StreamSpec, c: &Change) -> Value {
        let image = c.new.as_ref().or(c.old.as_ref());
        let keys = image.map(|i| def.key_of(i)).unwrap_or_default();
        let view = stream.view_type.as_str();
        let new = matches!(view, "NEW_IMAGE" | "NEW_AND_OLD_IMAGES")
            .then_some(c.new.as_ref())
            .flatten();
        let old = matches!(view, "OLD_IMAGE" | "NEW_AND_OLD_IMAGES")
            .then_some(c.old.as_ref())
            .flatten();
        let size = item_size(&keys) + new.map_or(0, item_size) + old.map_or(0, item_size);
        let mut d = json!({
            "ApproximateCreationDateTime": c.at,
            "Keys": item_to_json(&keys),
            "SequenceNumber": sequence_number(c.position),
            "SizeBytes": size,
            "StreamViewType": view,
        });
        if let Some(n) = new {
            d["NewImage"] = item_to_json(n);
        }
        if let Some(o) = old {
            d["OldImage"] = item_to_json(o);
        }
        let uid: String = def
            .uid
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(16)
            .collect();
        let mut r = json!({
            "eventID": format!("{uid:0>16}{:016x}", c.position),
            "eventName": match c.event {
                EventName::Insert => "INSERT",
                EventName::Modify => "MODIFY",
                EventName::Remove => "REMOVE",
            },
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": d,
        });
        if c.by_ttl {
            // The Streams API's Identity shape; Lambda's event spells it in lower camel case.
            r["userIdentity"] = json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"});
        }
        r
    }
}

/// A required string member.
/// DescribeStream's `ShardFilter`: the shard whose children are asked for.
fn shard_filter(input: &mut Input<'_>) -> Result<Option<String>, Error> {
    let Some(filter) = input.raw("ShardFilter").cloned() else {
        return Ok(None);
    };
    let Some(filter) = filter.as_object() else {
        return Err(Error::validation(
            "Invalid ShardFilter value - must be object",
        ));
    };
    if filter.get("Type").and_then(Value::as_str) != Some("CHILD_SHARDS") {
        return Err(Error::validation(
            "Invalid ShardFilter.Type value - must be string `CHILD_SHARDS`",
        ));
    }
    match filter.get("ShardId").and_then(Value::as_str) {
        Some(id) if (28..=65).contains(&id.len()) => Ok(Some(id.to_owned())),
        Some(id) => Err(Error::validation(format!(
            "1 validation error detected: Value '{id}' at 'shardFilter.shardId' failed to satisfy constraint: Member must have length greater than or equal to 28"
        ))),
        None => Err(Error::validation(
            "1 validation error detected: Value null at 'shardFilter.shardId' failed to satisfy constraint: Member must not be null",
        )),
    }
}

fn required(input: &mut Input<'_>, field: &str, path: &str) -> Result<String, Error> {
    let v = input.string(field)?.map(str::to_owned);
    if v.is_none() {
        input.violation(format!(
            "Value null at '{path}' failed to satisfy constraint: Member must not be null"
        ));
    }
    Ok(v.unwrap_or_default())
}

/// Where each event source mapping has read a stream to: mapping key → `<label> <position>`.
const MAPPINGS: TableDefinition<&str, &str> = TableDefinition::new("dynamo/mappings");

/// A batch of a stream for an event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The records, as Lambda's event carries them.
    pub records: Vec<Value>,
    /// The position of the last record (what to commit once the batch is processed).
    pub last: u64,
}

impl Dynamo {
    /// The next records of `table`'s stream after the mapping's committed position, as
    /// Lambda's DynamoDB event records (`eventSourceARN`, lower-case `userIdentity`).
    /// A mapping seen for the first time starts at the oldest record, or after the newest
    /// (`LATEST`), and that start is committed so a restart keeps it.
    pub async fn mapping_batch(
        &self,
        key: &str,
        table: &str,
        from_oldest: bool,
        limit: usize,
    ) -> Result<Batch, Error> {
        let def = self.table(table)?;
        let Some(stream) = def.stream.clone() else {
            return Err(Error::ResourceNotFound(format!(
                "Table {table} has no stream enabled"
            )));
        };
        let name = stream_table(&def);
        let first = stream.start;
        let (k, label) = (key.to_owned(), stream.label.clone());
        let committed = self
            .engine
            .read(move |txn| {
                let m = match txn.open_table(MAPPINGS) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                Ok(m.get(k.as_str())?.and_then(|v| {
                    let (l, p) = v.value().rsplit_once(' ')?;
                    (l == label).then(|| p.parse::<u64>().ok()).flatten()
                }))
            })
            .await?;
        let after = match committed {
            Some(p) => p,
            None => {
                let start = if from_oldest {
                    0
                } else {
                    self.log_bounds(&def).await?.map_or(0, |(_, last)| last)
                };
                self.commit_mapping(key, table, start).await?;
                start
            }
        };
        let changes = self
            .engine
            .read(move |txn| {
                let t = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(e.into()),
                };
                let mut out = Vec::new();
                for entry in t.range((after + 1).max(first)..)?.take(limit) {
                    let (k, v) = entry?;
                    out.push(decode_change(k.value(), v.value()).map_err(|reason| {
                        EngineError::Corrupt {
                            table: name.clone(),
                            reason,
                        }
                    })?);
                }
                Ok(out)
            })
            .await?;
        let arn = self.stream_arn(&def, &stream);
        let records = changes
            .iter()
            .map(|c| {
                let mut r = self.record_json(&def, &stream, c);
                r["eventSourceARN"] = json!(arn);
                if c.by_ttl {
                    r["userIdentity"] =
                        json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
                }
                r
            })
            .collect();
        Ok(Batch {
            records,
            last: changes.last().map_or(after, |c| c.position),
        })
    }

    /// Durably records that a mapping has processed `table`'s stream up to `position`.
    pub async fn commit_mapping(&self, key: &str, table: &str, position: u64) -> Result<(), Error> {
        let def = self.table(table)?;
        let Some(stream) = def.stream.clone() else {
            return Ok(());
        };
        let (k, v) = (key.to_owned(), format!("{} {position}", stream.label));
        self.engine
            .write(move |txn| {
                txn.open_table(MAPPINGS)?.insert(k.as_str(), v.as_str())?;
                Ok(Ok::<(), Error>(()))
            })
            .await??;
        Ok(())
    }
}

impl Dynamo {
    /// Drops stream records older than `now - RETENTION_SECS` (epoch seconds), keeping each
    /// stream's newest; returns how many went.
    pub async fn trim_streams(&self, now: u64) -> Result<usize, Error> {
        let cutoff = now.saturating_sub(RETENTION_SECS);
        self.expire_closed_streams(cutoff).await?;
        let mut trimmed = 0;
        for def in self.tables() {
            if def.stream.is_none() && def.closed_streams.is_empty() {
                continue;
            }
            let name = stream_table(&def);
            let def = def.clone();
            trimmed += self
                .engine
                .write(move |txn| {
                    if !still_exists(txn, &def)? {
                        return Ok(Ok::<usize, Error>(0));
                    }
                    let mut t = txn.open_table(TableDefinition::<u64, &[u8]>::new(&name))?;
                    let Some(last) = t.last()?.map(|(k, _)| k.value()) else {
                        return Ok(Ok(0));
                    };
                    let mut old = Vec::new();
                    for entry in t.range(..last)?.take(TRIM_BATCH) {
                        let (k, v) = entry?;
                        let at = v
                            .value()
                            .get(2..10)
                            .and_then(|b| <[u8; 8]>::try_from(b).ok())
                            .map_or(0, u64::from_be_bytes);
                        if at >= cutoff {
                            break;
                        }
                        old.push(k.value());
                    }
                    for k in &old {
                        t.remove(k)?;
                    }
                    Ok(Ok(old.len()))
                })
                .await??;
        }
        Ok(trimmed)
    }

    /// Forgets the streams disabled before `cutoff` (epoch seconds); a table left with no
    /// stream at all has its log dropped.
    async fn expire_closed_streams(&self, cutoff: u64) -> Result<(), Error> {
        for name in self
            .tables()
            .iter()
            .filter(|d| d.closed_streams.iter().any(|c| c.closed < cutoff))
            .map(|d| d.name.clone())
            .collect::<Vec<_>>()
        {
            let _changing = self.definitions.lock().await;
            let Ok(old) = self.table(&name) else { continue };
            let mut def = TableDef::clone(&old);
            def.closed_streams.retain(|c| c.closed >= cutoff);
            if def.closed_streams == old.closed_streams {
                continue;
            }
            let stored = def.clone();
            let gone = def.stream.is_none() && def.closed_streams.is_empty();
            let saved = self
                .engine
                .write(move |txn| {
                    if !still_exists(txn, &old)? {
                        return Ok(Ok::<bool, Error>(false));
                    }
                    if gone {
                        delete_stream_tables(txn, &stored)?;
                    }
                    save_def(txn, &stored)?;
                    Ok(Ok(true))
                })
                .await??;
            if saved {
                self.set_def(Arc::new(def));
            }
        }
        Ok(())
    }
}
