//! Event notifications: a bucket's notification configuration (`?notification`), and the
//! events its object changes raise for the Lambda functions it names, as S3 sends them.
//!
//! * The configuration is the bucket's `LambdaFunctionConfigurations` (S3's XML calls them
//!   `CloudFunctionConfiguration`): an id, a function ARN, the event types
//!   (`s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`...) and an optional key filter (one
//!   prefix rule, one suffix rule). It is checked as S3 checks it: known event types, well
//!   formed ARNs, filter rules named `prefix` or `suffix` at most once each, and no two
//!   configurations sharing an event type with overlapping filters. Queue and topic
//!   destinations are refused, as S3 refuses a destination it cannot validate. A template's
//!   `Events: Type: S3` compile to the same configuration ([`S3::declare_notifications`]).
//! * An object change (Put, Post, Copy, CompleteMultipartUpload, Delete,
//!   DeleteMarkerCreated) that a configuration matches adds a pending event to
//!   `s3/events`, in the same commit as the object's row: an acknowledged write's event
//!   survives a crash. Each event is S3's record (`eventVersion` 2.1) with its destination.
//! * Whoever delivers (the node, to the functions' asynchronous queues) reads the pending
//!   events in order ([`S3::pending_events`]) and removes each once the function's queue
//!   holds it ([`S3::events_delivered`]): at least once, as S3 invokes Lambda.
//!
//! | table | key → value (JSON) |
//! |---|---|
//! | `s3/notifications` | bucket name → [`Config`] |
//! | `s3/events` | sequence (8 bytes, big-endian) → [`Pending`] |
//! | `s3/event-sequence` | `last` → the last sequence given |

use std::future::Future;

use meridian_config::sam::{KeyFilter, S3_EVENT_TYPES, s3_notifications_overlap};

use http::{Response, StatusCode};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::api::{self, Body, Ctx};
use super::error::{Error, Result};
use super::store::{self, BUCKETS, get_bucket};
use super::xml::{self, Writer};
use super::{S3, iso8601, now_ms};
use crate::engine::EngineError;
use crate::iam::Caller;

pub(crate) const NOTIFICATIONS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("s3/notifications");
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("s3/events");
/// The last sequence given, which only grows: the queue empties as events are delivered,
/// and a change's `sequencer` must still sort after every earlier one.
const SEQUENCE: TableDefinition<&str, u64> = TableDefinition::new("s3/event-sequence");

/// Whether `event` is an event type S3 accepts in a configuration. Meridian raises the
/// `ObjectCreated`, `ObjectRemoved` and `LifecycleExpiration` ones; the others are kept and
/// never fire.
fn known_event_type(event: &str) -> bool {
    S3_EVENT_TYPES.contains(&event)
}

/// One `LambdaFunctionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaTarget {
    /// `Id` (generated when the request has none, as S3 does).
    pub id: String,
    /// `LambdaFunctionArn`.
    pub function_arn: String,
    /// `Events`: S3 event types (`s3:ObjectCreated:*`).
    pub events: Vec<String>,
    /// The `prefix` and `suffix` filter rules.
    pub filter: KeyFilter,
}

impl LambdaTarget {
    fn wants(&self, event: &str, key: &str) -> bool {
        let (class, _) = event.rsplit_once(':').unwrap_or((event, ""));
        self.events.iter().any(|e| {
            e.strip_prefix("s3:")
                .is_some_and(|e| e == event || e.strip_suffix(":*") == Some(class))
        }) && self.filter.matches(key)
    }
}

/// A bucket's notification configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The Lambda destinations.
    pub lambda: Vec<LambdaTarget>,
    /// Whether `EventBridgeConfiguration` was set (kept and shown; nothing is sent).
    #[serde(default)]
    pub event_bridge: bool,
}

/// A pending event: S3's record and where it goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The function's ARN.
    pub function_arn: String,
    /// The record (one element of `Records`).
    pub record: serde_json::Value,
}

/// A pending event as the deliverer reads it.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    /// Its place in the queue, to acknowledge it with.
    pub id: u64,
    /// The function's ARN.
    pub function_arn: String,
    /// The invocation payload: `{"Records": [record]}`.
    pub payload: String,
}

/// Who made a change and through which request, as the record names them.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    request_id: String,
    source_ip: String,
    principal: String,
}

impl Origin {
    /// The origin of a request `request_id` by `caller`.
    pub(crate) fn new(request_id: &str, caller: &Caller) -> Self {
        let principal = match caller {
            Caller::Anonymous => "ANONYMOUS_PRINCIPAL".to_owned(),
            Caller::Account { arn, .. } => match arn.strip_suffix(":root") {
                // The account's own keys: S3 names the account.
                Some(acct) => acct.rsplit(':').next().unwrap_or(acct).to_owned(),
                None => format!("AWS:{}", arn.rsplit(':').next().unwrap_or(arn)),
            },
            Caller::Service { service, .. } => service.clone(),
        };
        Self {
            request_id: request_id.to_owned(),
            source_ip: PEER
                .try_with(|p| p.to_string())
                .unwrap_or_else(|_| "127.0.0.1".to_owned()),
            principal,
        }
    }

    /// The service itself (a change no request made).
    fn internal() -> Self {
        Self {
            request_id: String::new(),
            source_ip: "127.0.0.1".to_owned(),
            principal: "s3.amazonaws.com".to_owned(),
        }
    }
}

tokio::task_local! {
    /// The client address of the connection serving the current request.
    pub(crate) static PEER: std::net::IpAddr;
    /// The request being served, for the events its changes raise.
    static ORIGIN: Origin;
}

/// Runs `f` as the request `origin` (its changes' events name it).
pub(crate) async fn as_request<T>(origin: Origin, f: impl Future<Output = T>) -> T {
    ORIGIN.scope(origin, f).await
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// `ObjectCreated:Put`.
    Put,
    /// `ObjectCreated:Post` (a browser upload).
    Post,
    /// `ObjectCreated:Copy`.
    Copy,
    /// `ObjectCreated:CompleteMultipartUpload`.
    CompleteMultipartUpload,
    /// `ObjectRemoved:Delete`.
    Delete,
    /// `ObjectRemoved:DeleteMarkerCreated`.
    DeleteMarkerCreated,
    /// `LifecycleExpiration:Delete`: a lifecycle rule removed an object or a version.
    LifecycleDelete,
    /// `LifecycleExpiration:DeleteMarkerCreated`: a lifecycle rule expired the current
    /// version of a versioned object.
    LifecycleDeleteMarkerCreated,
}

impl Change {
    /// The `eventName` S3 writes.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Change::Put => "ObjectCreated:Put",
            Change::Post => "ObjectCreated:Post",
            Change::Copy => "ObjectCreated:Copy",
            Change::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
            Change::Delete => "ObjectRemoved:Delete",
            Change::DeleteMarkerCreated => "ObjectRemoved:DeleteMarkerCreated",
            Change::LifecycleDelete => "LifecycleExpiration:Delete",
            Change::LifecycleDeleteMarkerCreated => "LifecycleExpiration:DeleteMarkerCreated",
        }
    }

    fn created(self) -> bool {
        matches!(
            self,
            Change::Put | Change::Post | Change::Copy | Change::CompleteMultipartUpload
        )
    }
}

/// The object a change is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) key: &'a str,
    /// Size and ETag of a created object.
    pub(crate) object: Option<(u64, &'a str)>,
    pub(crate) version_id: Option<&'a str>,
}

/// A key as S3 writes it in a record: form-URL-encoded (a space is `+`), `/` kept.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What a request's changes need to record their events inside a write transaction (which
/// runs on the engine's thread): who asked, and where.
#[derive(Debug, Clone)]
pub(crate) struct Raiser {
    origin: Origin,
    region: String,
}

impl S3 {
    /// The raiser of the current request's events.
    pub(crate) fn raiser(&self) -> Raiser {
        Raiser {
            origin: ORIGIN
                .try_with(Origin::clone)
                .unwrap_or_else(|_| Origin::internal()),
            region: self.region.clone(),
        }
    }
}

impl Raiser {
    /// Adds the events `change` raises in `bucket` (none when no configuration matches), in
    /// the caller's write transaction.
    pub(crate) fn record(
        &self,
        txn: &redb::WriteTransaction,
        bucket: &str,
        change: Change,
        subject: Subject<'_>,
    ) -> std::result::Result<(), EngineError> {
        record(txn, &self.origin, &self.region, bucket, change, subject)
    }
}

fn record(
    txn: &redb::WriteTransaction,
    origin: &Origin,
    region: &str,
    bucket: &str,
    change: Change,
    subject: Subject<'_>,
) -> std::result::Result<(), EngineError> {
    let config: Config = match txn.open_table(NOTIFICATIONS)?.get(bucket)? {
        Some(v) => store::decode("s3/notifications", v.value())?,
        None => return Ok(()),
    };
    let event = change.as_str();
    let targets: Vec<&LambdaTarget> = config
        .lambda
        .iter()
        .filter(|t| t.wants(event, subject.key))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    // The bucket owner's canonical id, as S3 names it in `ownerIdentity`.
    let owner = store::get_bucket(&txn.open_table(store::BUCKETS)?, bucket)?
        .map(|meta| store::owner(&meta).canonical_id)
        .unwrap_or_else(|| crate::keys::LOCAL_CANONICAL_ID.to_owned());
    let mut sequence = txn.open_table(SEQUENCE)?;
    let last = sequence.get("last")?.map_or(0, |v| v.value());
    let first = last + 1;
    sequence.insert("last", last + targets.len() as u64)?;
    let sequencer = format!("{first:018X}");
    let mut events = txn.open_table(EVENTS)?;
    for (next, t) in (first..).zip(targets) {
        let mut object = serde_json::json!({ "key": encode_key(subject.key) });
        if change.created()
            && let Some((size, etag)) = subject.object
        {
            object["size"] = size.into();
            object["eTag"] = etag.into();
        }
        if let Some(v) = subject.version_id {
            object["versionId"] = v.into();
        }
        object["sequencer"] = sequencer.clone().into();
        let record = serde_json::json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": region,
            "eventTime": iso8601(now_ms()),
            "eventName": event,
            "userIdentity": { "principalId": origin.principal },
            "requestParameters": { "sourceIPAddress": origin.source_ip },
            "responseElements": {
                "x-amz-request-id": origin.request_id,
                "x-amz-id-2": origin.request_id,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": t.id,
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": { "principalId": owner },
                    "arn": format!("arn:aws:s3:::{bucket}"),
                },
                "object": object,
            },
        });
        let pending = Pending {
            function_arn: t.function_arn.clone(),
            record,
        };
        events.insert(next, store::encode(&pending).as_slice())?;
    }
    Ok(())
}

/// Creates the tables of this module.
pub(crate) fn create_tables(txn: &redb::WriteTransaction) -> std::result::Result<(), EngineError> {
    txn.open_table(NOTIFICATIONS)?;
    txn.open_table(EVENTS)?;
    txn.open_table(SEQUENCE)?;
    Ok(())
}

fn invalid(message: &'static str, name: &str, value: &str) -> Error {
    Error::invalid_argument(message, name, value)
}

/// A function ARN as S3 accepts it: `arn:aws:lambda:<region>:<account>:function:<name>`,
/// optionally with a version or alias.
fn well_formed_function_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() == 7 || parts.len() == 8)
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "lambda"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "function"
        && !parts[6].is_empty()
        && parts[6]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses and checks a `NotificationConfiguration` document.
pub(crate) fn parse(doc: &[u8]) -> Result<Config> {
    let root = xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "NotificationConfiguration" {
        return Err(Error::malformed_xml());
    }
    for kind in ["QueueConfiguration", "TopicConfiguration"] {
        if let Some(c) = root.children(kind).next() {
            let dest = c
                .text_of(if kind == "QueueConfiguration" {
                    "Queue"
                } else {
                    "Topic"
                })
                .unwrap_or("");
            return Err(invalid(
                "Unable to validate the following destination configurations",
                dest,
                "Meridian delivers events to Lambda functions only",
            ));
        }
    }
    let mut lambda = Vec::new();
    for c in root.children("CloudFunctionConfiguration") {
        let arn = c.text_of("CloudFunction").map(str::trim).unwrap_or("");
        if arn.is_empty() {
            return Err(Error::malformed_xml());
        }
        if !well_formed_function_arn(arn) {
            return Err(invalid("The ARN is not well formed", "CloudFunction", arn));
        }
        let events: Vec<String> = c
            .children("Event")
            .map(|e| e.text.trim().to_owned())
            .collect();
        if events.is_empty() {
            return Err(Error::malformed_xml());
        }
        if let Some(bad) = events.iter().find(|e| !known_event_type(e)) {
            return Err(invalid(
                "The event is not supported for notifications",
                "Event",
                bad,
            ));
        }
        let mut filter = KeyFilter::default();
        if let Some(element) = c.child("Filter") {
            let Some(key) = element.child("S3Key") else {
                return Err(Error::malformed_xml());
            };
            for rule in key.children("FilterRule") {
                let name = rule.text_of("Name").unwrap_or("");
                let value = rule.text_of("Value").unwrap_or("").to_owned();
                let slot = match name.to_ascii_lowercase().as_str() {
                    "prefix" => &mut filter.prefix,
                    "suffix" => &mut filter.suffix,
                    _ => {
                        return Err(invalid(
                            "filter rule name must be either prefix or suffix",
                            "FilterRule",
                            name,
                        ));
                    }
                };
                if slot.is_some() {
                    let message = if name.eq_ignore_ascii_case("prefix") {
                        "Cannot specify more than one prefix rule in a filter."
                    } else {
                        "Cannot specify more than one suffix rule in a filter."
                    };
                    return Err(invalid(message, "FilterRule", name));
                }
                *slot = Some(value);
            }
        }
        let id = match c.text_of("Id").map(str::trim) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => generated_id(),
        };
        lambda.push(LambdaTarget {
            id,
            function_arn: arn.to_owned(),
            events,
            filter,
        });
    }
    check_overlaps(&lambda)?;
    Ok(Config {
        lambda,
        event_bridge: root.child("EventBridgeConfiguration").is_some(),
    })
}

/// S3's id for a configuration sent without one.
fn generated_id() -> String {
    use base64::Engine as _;
    let bytes = uuid::Uuid::new_v4();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(bytes.as_bytes())
        .replace(['+', '/'], "")
}

/// Refuses two configurations that one change of one key could both match.
fn check_overlaps(targets: &[LambdaTarget]) -> Result<()> {
    for (i, a) in targets.iter().enumerate() {
        for b in &targets[i + 1..] {
            if s3_notifications_overlap((&a.events, &a.filter), (&b.events, &b.filter)) {
                return Err(invalid(
                    "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                    "Event",
                    &a.events.join(", "),
                ));
            }
        }
    }
    Ok(())
}

/// The configuration as GetBucketNotificationConfiguration answers it.
fn document(config: &Config) -> String {
    let mut w = Writer::new("NotificationConfiguration");
    for t in &config.lambda {
        w.open("CloudFunctionConfiguration").elem("Id", &t.id);
        if t.filter.prefix.is_some() || t.filter.suffix.is_some() {
            w.open("Filter").open("S3Key");
            for (name, value) in [("Prefix", &t.filter.prefix), ("Suffix", &t.filter.suffix)] {
                if let Some(v) = value {
                    w.open("FilterRule")
                        .elem("Name", name)
                        .elem("Value", v)
                        .close("FilterRule");
                }
            }
            w.close("S3Key").close("Filter");
        }
        w.elem("CloudFunction", &t.function_arn);
        for e in &t.events {
            w.elem("Event", e);
        }
        w.close("CloudFunctionConfiguration");
    }
    if config.event_bridge {
        w.open("EventBridgeConfiguration")
            .close("EventBridgeConfiguration");
    }
    w.finish("NotificationConfiguration")
}

impl S3 {
    /// PutBucketNotificationConfiguration.
    pub(crate) async fn put_bucket_notification(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let config = parse(&doc)?;
        self.check_destinations(&config)?;
        self.set_notifications(bucket, config).await?;
        Ok(api::empty(StatusCode::OK))
    }

    /// S3 checks that it may invoke each destination before it stores a configuration, and
    /// names every one it cannot, numbered, in one `InvalidArgument`.
    fn check_destinations(&self, config: &Config) -> Result<()> {
        const NAMES: [(&str, &str); 10] = [
            ("ArgumentName1", "ArgumentValue1"),
            ("ArgumentName2", "ArgumentValue2"),
            ("ArgumentName3", "ArgumentValue3"),
            ("ArgumentName4", "ArgumentValue4"),
            ("ArgumentName5", "ArgumentValue5"),
            ("ArgumentName6", "ArgumentValue6"),
            ("ArgumentName7", "ArgumentValue7"),
            ("ArgumentName8", "ArgumentValue8"),
            ("ArgumentName9", "ArgumentValue9"),
            ("ArgumentName10", "ArgumentValue10"),
        ];
        let mut unknown: Vec<&str> = Vec::new();
        for t in &config.lambda {
            if !self.function_exists(&t.function_arn) && !unknown.contains(&t.function_arn.as_str())
            {
                unknown.push(&t.function_arn);
            }
        }
        if unknown.is_empty() {
            return Ok(());
        }
        let mut e = Error::new(
            super::error::Code::InvalidArgument,
            "Unable to validate the following destination configurations",
        );
        for (arn, (name, value)) in unknown.iter().zip(NAMES) {
            e = e
                .with(name, *arn)
                .with(value, format!("Not authorized to invoke function [{arn}]"));
        }
        Err(e)
    }

    /// GetBucketNotificationConfiguration: an empty configuration when none was set.
    pub(crate) async fn get_bucket_notification(&self, bucket: &str) -> Result<Response<Body>> {
        let b = bucket.to_owned();
        let config = self
            .engine
            .read(move |txn| {
                if get_bucket(&txn.open_table(BUCKETS)?, &b)?.is_none() {
                    return Ok(None);
                }
                match txn.open_table(NOTIFICATIONS)?.get(b.as_str())? {
                    Some(v) => Ok(Some(store::decode("s3/notifications", v.value())?)),
                    None => Ok(Some(Config::default())),
                }
            })
            .await?
            .ok_or_else(|| Error::no_such_bucket(bucket))?;
        Ok(api::xml(StatusCode::OK, document(&config)))
    }

    async fn set_notifications(&self, bucket: &str, config: Config) -> Result<()> {
        let b = bucket.to_owned();
        self.engine
            .write(move |txn| {
                if get_bucket(&txn.open_table(BUCKETS)?, &b)?.is_none() {
                    return Ok(Err(Error::no_such_bucket(&b)));
                }
                let mut t = txn.open_table(NOTIFICATIONS)?;
                if config == Config::default() {
                    t.remove(b.as_str())?;
                } else {
                    t.insert(b.as_str(), store::encode(&config).as_slice())?;
                }
                Ok(Ok(()))
            })
            .await?
    }

    /// Sets the Lambda destinations of buckets a template declares (what its functions'
    /// `Events: Type: S3` compile to), each bucket's whole configuration in one commit; an
    /// empty list clears a bucket's. Refused, with nothing written, when a list does not
    /// hold as S3 checks a PutBucketNotificationConfiguration.
    pub async fn declare_notifications(
        &self,
        buckets: Vec<(String, Vec<LambdaTarget>)>,
    ) -> std::result::Result<(), String> {
        for (bucket, targets) in &buckets {
            if let Some(t) = targets
                .iter()
                .find(|t| !well_formed_function_arn(&t.function_arn))
            {
                return Err(format!(
                    "{bucket}: the ARN {} is not well formed",
                    t.function_arn
                ));
            }
            if let Some(e) = targets
                .iter()
                .flat_map(|t| &t.events)
                .find(|e| !known_event_type(e))
            {
                return Err(format!("{bucket}: {e} is not an S3 event type"));
            }
            check_overlaps(targets).map_err(|e| format!("{bucket}: {}", e.message))?;
        }
        self.engine
            .write(move |txn| {
                let present = txn.open_table(BUCKETS)?;
                let mut t = txn.open_table(NOTIFICATIONS)?;
                for (bucket, lambda) in buckets {
                    if get_bucket(&present, &bucket)?.is_none() {
                        continue;
                    }
                    let mut config: Config = match t.get(bucket.as_str())? {
                        Some(v) => store::decode("s3/notifications", v.value())?,
                        None => Config::default(),
                    };
                    config.lambda = lambda;
                    if config == Config::default() {
                        t.remove(bucket.as_str())?;
                    } else {
                        t.insert(bucket.as_str(), store::encode(&config).as_slice())?;
                    }
                }
                Ok(Ok::<(), ()>(()))
            })
            .await
            .map_err(|e| e.to_string())?
            .ok();
        Ok(())
    }

    /// Up to `limit` pending events, oldest first.
    pub async fn pending_events(
        &self,
        limit: usize,
    ) -> std::result::Result<Vec<PendingEvent>, EngineError> {
        self.engine
            .read(move |txn| {
                let mut out = Vec::new();
                for e in txn.open_table(EVENTS)?.iter()?.take(limit) {
                    let (k, v) = e?;
                    let p: Pending = store::decode("s3/events", v.value())?;
                    out.push(PendingEvent {
                        id: k.value(),
                        function_arn: p.function_arn,
                        payload: serde_json::json!({ "Records": [p.record] }).to_string(),
                    });
                }
                Ok(out)
            })
            .await
    }

    /// Removes delivered events from the queue.
    pub async fn events_delivered(&self, ids: Vec<u64>) -> std::result::Result<(), EngineError> {
        self.engine
            .write(move |txn| {
                let mut t = txn.open_table(EVENTS)?;
                for id in ids {
                    t.remove(id)?;
                }
                Ok(Ok::<(), ()>(()))
            })
            .await?
            .ok();
        Ok(())
    }

    /// Resolves once an object change may have queued events since the last call.
    pub async fn events_queued(&self) {
        self.events.notified().await;
    }

    /// Wakes the deliverer after a commit that may have queued events.
    pub(crate) fn events_changed(&self) {
        self.events.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::error::Code;

    fn config(xml: &str) -> Result<Config> {
        parse(xml.as_bytes())
    }

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:thumbs";

    #[test]
    fn a_configuration_reads_and_writes_as_s3s_xml() {
        let c = config(&format!(
            "<NotificationConfiguration><CloudFunctionConfiguration><Id>thumbs</Id>\
             <CloudFunction>{ARN}</CloudFunction><Event>s3:ObjectCreated:*</Event>\
             <Filter><S3Key><FilterRule><Name>prefix</Name><Value>images/</Value></FilterRule>\
             <FilterRule><Name>Suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter>\
             </CloudFunctionConfiguration></NotificationConfiguration>"
        ))
        .unwrap();
        let t = &c.lambda[0];
        assert_eq!(
            (
                t.id.as_str(),
                t.filter.prefix.as_deref(),
                t.filter.suffix.as_deref()
            ),
            ("thumbs", Some("images/"), Some(".jpg"))
        );
        let doc = document(&c);
        assert!(
            doc.contains("<Name>Prefix</Name><Value>images/</Value>"),
            "{doc}"
        );
        assert_eq!(parse(doc.as_bytes()).unwrap(), c);
        assert!(t.wants("ObjectCreated:Put", "images/a.jpg"));
        assert!(t.wants("ObjectCreated:CompleteMultipartUpload", "images/a.jpg"));
        assert!(!t.wants("ObjectRemoved:Delete", "images/a.jpg"));
        assert!(!t.wants("ObjectCreated:Put", "images/a.png"));
        assert!(!t.wants("ObjectCreated:Put", "docs/a.jpg"));
    }

    #[test]
    fn bad_configurations_get_s3s_errors() {
        let one = |inner: &str| {
            format!(
                "<NotificationConfiguration><CloudFunctionConfiguration>{inner}</CloudFunctionConfiguration></NotificationConfiguration>"
            )
        };
        let cases = [
            (
                one(&format!(
                    "<CloudFunction>{ARN}</CloudFunction><Event>s3:ObjectCreated:Nope</Event>"
                )),
                "The event is not supported for notifications",
            ),
            (
                one(
                    "<CloudFunction>arn:aws:lambda:us-east-1:1:function:f</CloudFunction><Event>s3:ObjectCreated:*</Event>",
                ),
                "The ARN is not well formed",
            ),
            (
                one(&format!(
                    "<CloudFunction>{ARN}</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>middle</Name><Value>x</Value></FilterRule></S3Key></Filter>"
                )),
                "filter rule name must be either prefix or suffix",
            ),
            (
                one(&format!(
                    "<CloudFunction>{ARN}</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>a</Value></FilterRule><FilterRule><Name>Prefix</Name><Value>b</Value></FilterRule></S3Key></Filter>"
                )),
                "Cannot specify more than one prefix rule in a filter.",
            ),
        ];
        for (doc, message) in cases {
            let e = config(&doc).unwrap_err();
            assert_eq!(
                (e.code, e.message.as_ref()),
                (Code::InvalidArgument, message),
                "{doc}"
            );
        }
        let two = format!(
            "<NotificationConfiguration>\
             <CloudFunctionConfiguration><CloudFunction>{ARN}</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration>\
             <CloudFunctionConfiguration><CloudFunction>{ARN}</CloudFunction><Event>s3:ObjectCreated:Put</Event></CloudFunctionConfiguration>\
             </NotificationConfiguration>"
        );
        assert!(
            config(&two)
                .unwrap_err()
                .message
                .starts_with("Configurations overlap")
        );
        let disjoint = two.replace(
            "<Event>s3:ObjectCreated:Put</Event>",
            "<Event>s3:ObjectCreated:Put</Event><Filter><S3Key><FilterRule><Name>suffix</Name><Value>.png</Value></FilterRule></S3Key></Filter>",
        ).replace(
            "<Event>s3:ObjectCreated:*</Event></Cloud",
            "<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter></Cloud",
        );
        assert_eq!(config(&disjoint).unwrap().lambda.len(), 2);
        assert_eq!(config("<Nope/>").unwrap_err().code, Code::MalformedXML);
    }

    #[test]
    fn keys_are_form_url_encoded_as_in_s3s_records() {
        assert_eq!(
            encode_key("photos/my cat (1).jpg"),
            "photos/my+cat+%281%29.jpg"
        );
        assert_eq!(encode_key("a+b=c"), "a%2Bb%3Dc");
        assert_eq!(encode_key("café"), "caf%C3%A9");
    }
}
