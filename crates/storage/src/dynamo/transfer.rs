//! Exports to S3 and imports from S3: ExportTableToPointInTime, DescribeExport, ListExports,
//! ImportTable, DescribeImport and ListImports.
//!
//! Both run in the background, as on DynamoDB, and reach the bucket through the buckets
//! endpoint signed as the caller ([`crate::s3client`]): what the caller may not do in the
//! bucket, the export or import fails with S3's refusal, as DynamoDB's does.
//!
//! * An export writes the table as one read snapshot sees it, in DynamoDB's layout:
//!   `<prefix>/AWSDynamoDB/<ExportId>/_started`, `data/<name>.json.gz` (one
//!   `{"Item":{...}}` line per item, gzip), `manifest-files.json`, `manifest-summary.json`
//!   and their `.checksum` files (the MD5 in hex). Only the present can be exported (no
//!   history is kept), so `ExportTime` must be omitted or name the present; the formats are
//!   DYNAMODB_JSON and ION (`data/<name>.ion.gz`: `$ion_1_0`, then one `{Item:{...}}` per
//!   line, [`super::ion`]), and the type FULL_EXPORT.
//! * An import creates its table once the bucket is listed, then reads every object under
//!   the prefix (GZIP, ZSTD or none) as DYNAMODB_JSON (`{"Item":{...}}` objects, one after
//!   another), ION (`{Item:{...}}` structs) or CSV (the header line, or `HeaderList`, names the columns; key columns take
//!   their attribute definitions' types, the others are strings, an empty cell is no
//!   attribute), and writes items in batches. A record that is not an item, or an item the
//!   table refuses, is counted as an error and skipped (a record that does not parse ends
//!   that object, as DynamoDB may skip the rest of a malformed object); an import with
//!   errors ends FAILED with the items it could write kept, as DynamoDB's does.
//!
//! Descriptions are kept in the engine (`dynamo/exports`, `dynamo/imports`), so they
//! survive a restart; a job that a restart interrupted is reported FAILED.

use std::io::Read;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::Digest as _;
use redb::{ReadableTable, TableDefinition};
use serde_json::{Map, Value, json};

use super::Dynamo;
use super::backup::table_not_found;
use super::error::Error;
use super::table::now_secs;
use crate::engine::EngineError;
use crate::keys::Credential;
use crate::s3client::{Buckets, ChannelReader, S3Client, S3Failure};

/// Export descriptions by ARN (JSON).
const EXPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("dynamo/exports");
/// Import descriptions by ARN (JSON).
const IMPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("dynamo/imports");

/// A data file is closed once this many bytes of items went into it.
const DATA_FILE_BYTES: usize = 64 << 20;
/// Items written per batch by an import.
const IMPORT_BATCH: usize = 25;
/// Batches an import writes at once.
const IMPORT_WRITERS: usize = 8;
/// How long after its job ended a ClientToken still names it (DynamoDB's 8 hours).
const CLIENT_TOKEN_SECS: f64 = 8.0 * 3600.0;
/// How far from the present an `ExportTime` may lie (clocks differ).
const EXPORT_TIME_SLACK: f64 = 60.0;

/// The operations of this module.
pub(crate) const OPERATIONS: &[&str] = &[
    "ExportTableToPointInTime",
    "DescribeExport",
    "ListExports",
    "ImportTable",
    "DescribeImport",
    "ListImports",
];

/// Which kind of job.
#[derive(Clone, Copy)]
enum Kind {
    Export,
    Import,
}

impl Kind {
    fn table(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Self::Export => EXPORTS,
            Self::Import => IMPORTS,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Import => "import",
        }
    }

    fn status_field(self) -> &'static str {
        match self {
            Self::Export => "ExportStatus",
            Self::Import => "ImportStatus",
        }
    }
}

/// What the jobs of this process share: when it opened the engine (a job that started
/// before and is still IN_PROGRESS was cut short by a restart: every job this process
/// starts records its end), where the buckets are served, and the tables that imports of
/// this process are loading (a template's table is not imported twice at once).
#[derive(Debug)]
pub(crate) struct Jobs {
    opened: f64,
    buckets: std::sync::OnceLock<Buckets>,
    importing: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Failed imports a revision has warned of (once each).
    warned: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Default for Jobs {
    fn default() -> Self {
        Self {
            opened: now_secs(),
            buckets: std::sync::OnceLock::new(),
            importing: std::sync::Mutex::default(),
            warned: std::sync::Mutex::default(),
        }
    }
}

impl Jobs {
    fn importing(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.importing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True while an import of this process is loading the table `name`.
    pub(crate) fn is_importing(&self, name: &str) -> bool {
        self.importing().contains(name)
    }

    /// True the first time it is asked of `arn`.
    pub(crate) fn first_warning(&self, arn: &str) -> bool {
        self.warned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(arn.to_owned())
    }
}

fn random_id() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    format!("{:08x}", rng.random::<u32>())
}

fn data_file_name() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::rng();
    (0..26)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    md5::Md5::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn iso(secs: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The string member `field` of `body`, refusing another type.
fn string_field<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Error> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::Serialization(format!(
            "Unexpected value type in payload at '{field}'"
        ))),
    }
}

fn object(body: &Value) -> Result<&Map<String, Value>, Error> {
    body.as_object()
        .ok_or_else(|| Error::Serialization(String::new()))
}

fn missing(field: &str) -> String {
    format!("Value null at '{field}' failed to satisfy constraint: Member must not be null")
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Option<String> {
    (!allowed.contains(&value)).then(|| {
        format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        )
    })
}

fn refuse(violations: Vec<String>) -> Result<(), Error> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(super::input::violations_error(&violations))
    }
}

impl Dynamo {
    /// Serves exports and imports through the buckets endpoint at `buckets`; set once,
    /// before serving. Without it, exports and imports fail: there are no buckets.
    pub fn serve_buckets_at(&self, buckets: std::net::SocketAddr) {
        let _ = self.jobs.buckets.set(Buckets {
            addr: buckets,
            region: self.region.clone(),
        });
    }

    /// Runs one of this module's operations for `cred`.
    pub(crate) async fn call_transfer(
        self: &Arc<Self>,
        operation: &str,
        body: &Value,
        cred: &Arc<Credential>,
    ) -> Result<Value, Error> {
        match operation {
            "ExportTableToPointInTime" => self.export_table(body, cred).await,
            "DescribeExport" => self.describe_job(Kind::Export, body).await,
            "ListExports" => self.list_jobs(Kind::Export, body).await,
            "ImportTable" => self.import_table(body, cred).await,
            "DescribeImport" => self.describe_job(Kind::Import, body).await,
            "ListImports" => self.list_jobs(Kind::Import, body).await,
            _ => Err(Error::UnknownOperation(String::new())),
        }
    }

    /// A client of the buckets acting as `cred`, for a bucket `owner` must own when given
    /// (the job's `S3BucketOwner`).
    fn client(&self, cred: &Arc<Credential>, owner: Option<&str>) -> Result<S3Client, S3Failure> {
        let buckets = self.jobs.buckets.get().cloned().ok_or_else(|| S3Failure {
            status: 0,
            code: String::new(),
            message:
                "this endpoint serves no buckets: run the tables with the buckets (`meridian up`)"
                    .into(),
        })?;
        Ok(S3Client::new(
            buckets,
            cred.clone(),
            owner.map(str::to_owned),
        ))
    }

    async fn save_job(&self, kind: Kind, arn: &str, desc: &Value) -> Result<(), Error> {
        let (arn, bytes) = (arn.to_owned(), serde_json::to_vec(desc).unwrap_or_default());
        self.engine
            .write(move |txn| {
                txn.open_table(kind.table())?
                    .insert(arn.as_str(), bytes.as_slice())?;
                Ok(Ok::<(), Error>(()))
            })
            .await??;
        Ok(())
    }

    /// Records a job's end: COMPLETED, or FAILED with `failure`'s code and message.
    async fn end_job(
        &self,
        kind: Kind,
        arn: &str,
        mut desc: Value,
        failure: Option<(String, String)>,
    ) {
        desc["EndTime"] = json!(now_secs());
        match failure {
            None => desc[kind.status_field()] = json!("COMPLETED"),
            Some((code, message)) => {
                tracing::warn!(job = %arn, code = %code, "{} failed: {message}", kind.noun());
                desc[kind.status_field()] = json!("FAILED");
                desc["FailureCode"] = json!(code);
                desc["FailureMessage"] = json!(message);
            }
        }
        if let Err(e) = self.save_job(kind, arn, &desc).await {
            tracing::error!(job = %arn, error = %e, "cannot record the {}'s end", kind.noun());
        }
    }

    /// The latest import that created the table `def` (this table, not an earlier one of its
    /// name), when it failed: the table holds only what that import wrote.
    pub(crate) async fn failed_import_of(
        &self,
        def: &super::table::TableDef,
    ) -> Result<Option<Value>, Error> {
        let (arn, id) = (def.arn(self), super::table::uid_as_uuid(&def.uid));
        let latest = self
            .jobs_of(Kind::Import)
            .await?
            .into_iter()
            .filter(|d| d["TableArn"] == arn.as_str() && d["TableId"] == id.as_str())
            .max_by(|a, b| {
                let start = |d: &Value| d["StartTime"].as_f64().unwrap_or_default();
                start(a).total_cmp(&start(b))
            });
        Ok(latest.filter(|d| d["ImportStatus"] == "FAILED"))
    }

    /// Every description of `kind`, in ARN order, with interrupted jobs reported FAILED.
    async fn jobs_of(&self, kind: Kind) -> Result<Vec<Value>, Error> {
        let all = self
            .engine
            .read(move |txn| {
                let table = match txn.open_table(kind.table()) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(EngineError::from(e)),
                };
                let mut out = Vec::new();
                for e in table.iter()? {
                    let (_, v) = e?;
                    if let Ok(desc) = serde_json::from_slice::<Value>(v.value()) {
                        out.push(desc);
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(all
            .into_iter()
            .map(|d| settled(kind, d, self.jobs.opened))
            .collect())
    }

    async fn job(&self, kind: Kind, arn: &str) -> Result<Option<Value>, Error> {
        let key = arn.to_owned();
        let found = self
            .engine
            .read(move |txn| {
                let table = match txn.open_table(kind.table()) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(EngineError::from(e)),
                };
                Ok(table.get(key.as_str())?.map(|v| v.value().to_vec()))
            })
            .await?;
        Ok(found
            .and_then(|b| serde_json::from_slice(&b).ok())
            .map(|d| settled(kind, d, self.jobs.opened)))
    }

    async fn describe_job(&self, kind: Kind, body: &Value) -> Result<Value, Error> {
        let body = object(body)?;
        let (field, path, wrapper, not_found) = match kind {
            Kind::Export => (
                "ExportArn",
                "exportArn",
                "ExportDescription",
                "ExportNotFoundException",
            ),
            Kind::Import => (
                "ImportArn",
                "importArn",
                "ImportTableDescription",
                "ImportNotFoundException",
            ),
        };
        let Some(arn) = string_field(body, field)? else {
            return Err(Error::validation(format!(
                "1 validation error detected: {}",
                missing(path)
            )));
        };
        match self.job(kind, arn).await? {
            Some(desc) => Ok(json!({ wrapper: desc })),
            None => Err(Error::named(
                not_found,
                match kind {
                    Kind::Export => format!("Export not found: {arn}"),
                    Kind::Import => format!("Import not found: {arn}"),
                },
            )),
        }
    }

    async fn list_jobs(&self, kind: Kind, body: &Value) -> Result<Value, Error> {
        let body = object(body)?;
        let table_arn = string_field(body, "TableArn")?;
        let (size_field, max) = match kind {
            Kind::Export => ("MaxResults", 25),
            Kind::Import => ("PageSize", 25),
        };
        let limit = match body.get(size_field) {
            None | Some(Value::Null) => max,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=max).contains(&n) => n,
                _ => {
                    return Err(Error::validation(format!(
                        "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must have value less than or equal to {max}, Member must have value greater than or equal to 1",
                        if size_field == "MaxResults" {
                            "maxResults"
                        } else {
                            "pageSize"
                        }
                    )));
                }
            },
        } as usize;
        let after = string_field(body, "NextToken")?;
        let arn_field = match kind {
            Kind::Export => "ExportArn",
            Kind::Import => "ImportArn",
        };
        let mut all: Vec<Value> = self
            .jobs_of(kind)
            .await?
            .into_iter()
            .filter(|d| table_arn.is_none_or(|t| d["TableArn"] == t))
            .filter(|d| after.is_none_or(|a| d[arn_field].as_str().is_some_and(|x| x > a)))
            .collect();
        let more = all.len() > limit;
        all.truncate(limit);
        let summaries: Vec<Value> = all
            .iter()
            .map(|d| {
                let mut s = Map::new();
                let fields: &[&str] = match kind {
                    Kind::Export => &["ExportArn", "ExportStatus", "ExportType"],
                    Kind::Import => &[
                        "ImportArn",
                        "ImportStatus",
                        "TableArn",
                        "S3BucketSource",
                        "InputFormat",
                        "StartTime",
                        "EndTime",
                    ],
                };
                for f in fields {
                    if let Some(v) = d.get(*f) {
                        s.insert((*f).to_owned(), v.clone());
                    }
                }
                Value::Object(s)
            })
            .collect();
        let mut out = match kind {
            Kind::Export => json!({ "ExportSummaries": summaries }),
            Kind::Import => json!({ "ImportSummaryList": summaries }),
        };
        if more && let Some(last) = all.last().and_then(|d| d[arn_field].as_str()) {
            out["NextToken"] = json!(last);
        }
        Ok(out)
    }

    /// The job of `kind` a client token names, if one was started with it. As on DynamoDB,
    /// a token is valid until 8 hours after its job ended; then it starts a new job.
    async fn by_token(&self, kind: Kind, token: &str) -> Result<Option<Value>, Error> {
        let now = now_secs();
        Ok(self.jobs_of(kind).await?.into_iter().find(|d| {
            d["ClientToken"] == token
                && d["EndTime"]
                    .as_f64()
                    .is_none_or(|end| now - end < CLIENT_TOKEN_SECS)
        }))
    }

    /// ExportTableToPointInTime.
    async fn export_table(
        self: &Arc<Self>,
        body: &Value,
        cred: &Arc<Credential>,
    ) -> Result<Value, Error> {
        let obj = object(body)?;
        let mut violations = Vec::new();
        let table_arn = string_field(obj, "TableArn")?;
        if table_arn.is_none() {
            violations.push(missing("tableArn"));
        }
        let bucket = string_field(obj, "S3Bucket")?;
        if bucket.is_none() {
            violations.push(missing("s3Bucket"));
        }
        let format = string_field(obj, "ExportFormat")?.unwrap_or("DYNAMODB_JSON");
        violations.extend(one_of("exportFormat", format, &["DYNAMODB_JSON", "ION"]));
        let export_type = string_field(obj, "ExportType")?.unwrap_or("FULL_EXPORT");
        violations.extend(one_of(
            "exportType",
            export_type,
            &["FULL_EXPORT", "INCREMENTAL_EXPORT"],
        ));
        let sse = string_field(obj, "S3SseAlgorithm")?;
        if let Some(a) = sse {
            violations.extend(one_of("s3SseAlgorithm", a, &["AES256", "KMS"]));
        }
        refuse(violations)?;
        let (Some(table_arn), Some(bucket)) = (table_arn, bucket) else {
            return Err(Error::validation("TableArn and S3Bucket are required"));
        };
        if export_type == "INCREMENTAL_EXPORT" {
            return Err(Error::validation(
                "ExportType INCREMENTAL_EXPORT is not supported by Meridian, which keeps no history of a table's changes: request a FULL_EXPORT",
            ));
        }
        let now = now_secs();
        if let Some(t) = obj.get("ExportTime").filter(|v| !v.is_null()) {
            let t = t.as_f64().ok_or_else(|| {
                Error::Serialization("Unexpected value type in payload at 'ExportTime'".into())
            })?;
            if (t - now).abs() > EXPORT_TIME_SLACK {
                return Err(Error::named(
                    "InvalidExportTimeException",
                    "Meridian keeps no history of a table's earlier states: ExportTime must be omitted or name the present",
                ));
            }
        }
        let client_token = string_field(obj, "ClientToken")?;
        let prefix = string_field(obj, "S3Prefix")?;
        let bucket_owner = string_field(obj, "S3BucketOwner")?;
        let kms_key = string_field(obj, "S3SseKmsKeyId")?;
        let def = self
            .table_named(table_arn)
            .and_then(|n| self.table(n).ok())
            .ok_or_else(|| table_not_found(table_arn))?;
        if def.pitr.is_none() {
            return Err(Error::named(
                "PointInTimeRecoveryUnavailableException",
                format!(
                    "Point in time recovery is not enabled for table '{}'",
                    def.name
                ),
            ));
        }
        if let Some(token) = client_token
            && let Some(existing) = self.by_token(Kind::Export, token).await?
        {
            // Every parameter of the request, as the job's description recorded it.
            let same = existing["TableArn"] == table_arn
                && existing["S3Bucket"] == bucket
                && existing["S3Prefix"].as_str() == prefix
                && existing["S3BucketOwner"].as_str() == bucket_owner
                && existing["S3SseAlgorithm"] == sse.unwrap_or("AES256")
                && existing["S3SseKmsKeyId"].as_str() == kms_key
                && existing["ExportFormat"] == format
                && existing["ExportType"] == export_type;
            if !same {
                return Err(Error::named(
                    "ExportConflictException",
                    "There was a conflict when writing to the specified S3 bucket.",
                ));
            }
            return Ok(json!({ "ExportDescription": existing }));
        }
        let id = format!("{:014}-{}", (now * 1000.0) as u64, random_id());
        let arn = format!("{}/export/{id}", def.arn(self));
        let mut desc = json!({
            "ExportArn": arn,
            "ExportStatus": "IN_PROGRESS",
            "StartTime": now,
            "TableArn": def.arn(self),
            "TableId": super::table::uid_as_uuid(&def.uid),
            "ExportTime": now,
            "ClientToken": client_token.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
            "S3Bucket": bucket,
            "S3SseAlgorithm": sse.unwrap_or("AES256"),
            "ExportFormat": format,
            "ExportType": export_type,
        });
        if let Some(p) = prefix {
            desc["S3Prefix"] = json!(p);
        }
        if let Some(o) = bucket_owner {
            desc["S3BucketOwner"] = json!(o);
        }
        if let Some(k) = kms_key {
            desc["S3SseKmsKeyId"] = json!(k);
        }
        self.save_job(Kind::Export, &arn, &desc).await?;
        let answer = json!({ "ExportDescription": desc.clone() });
        let this = self.clone();
        let client = self.client(cred, bucket_owner).map(|c| match sse {
            Some(a) => c.encrypting(a, kms_key),
            None => c,
        });
        tokio::spawn(async move {
            let outcome = match client {
                Ok(client) => this.run_export(&client, &mut desc, &id).await,
                Err(f) => Err(f),
            };
            let failure = outcome.err().map(|f| f.described());
            this.end_job(Kind::Export, &arn, desc, failure).await;
        });
        Ok(answer)
    }

    /// Writes the export's files; fills in its counts and manifest.
    async fn run_export(
        self: &Arc<Self>,
        client: &S3Client,
        desc: &mut Value,
        id: &str,
    ) -> Result<(), S3Failure> {
        let bucket = desc["S3Bucket"].as_str().unwrap_or_default().to_owned();
        let dir = match desc["S3Prefix"].as_str() {
            Some(p) if !p.is_empty() => format!("{}/AWSDynamoDB/{id}", p.trim_end_matches('/')),
            _ => format!("AWSDynamoDB/{id}"),
        };
        client
            .put_object(&bucket, &format!("{dir}/_started"), Bytes::new())
            .await?;
        let table_arn = desc["TableArn"].as_str().unwrap_or_default().to_owned();
        let deleted = || S3Failure {
            status: 0,
            code: String::new(),
            message: format!("the table {table_arn} was deleted during the export"),
        };
        // The table the export was asked of: not one made since under the same name.
        let def = self
            .table_named(&table_arn)
            .and_then(|n| self.table(n).ok())
            .filter(|d| desc["TableId"] == super::table::uid_as_uuid(&d.uid).as_str())
            .ok_or_else(deleted)?;
        // The snapshot is read on a blocking thread, which hands each data file to the
        // uploads as it closes.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<u8>, u64)>(1);
        let engine = self.engine.clone();
        let items_name = def.items_table();
        let (name, uid) = (def.name.clone(), def.uid.clone());
        let ion = desc["ExportFormat"] == "ION";
        let reader = tokio::task::spawn_blocking(move || {
            engine.read_blocking(|txn| {
                // A table deleted before the snapshot is not an empty one.
                let exists = match txn.open_table(super::table::UIDS) {
                    Ok(t) => t.get(name.as_str())?.is_some_and(|v| v.value() == uid),
                    Err(redb::TableError::TableDoesNotExist(_)) => false,
                    Err(e) => return Err(EngineError::from(e)),
                };
                if !exists {
                    return Err(EngineError::Storage(format!(
                        "the table {name} was deleted during the export"
                    )));
                }
                let items = TableDefinition::<&[u8], &[u8]>::new(&items_name);
                let mut billed = 0u64;
                let mut file =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                let (mut in_file, mut raw) = (0u64, 0usize);
                let mut line = Vec::with_capacity(256);
                let (mut json, mut text) = (Vec::new(), String::new());
                let mut sent = false;
                let table = match txn.open_table(items) {
                    Ok(t) => Some(t),
                    Err(redb::TableError::TableDoesNotExist(_)) => None,
                    Err(e) => return Err(EngineError::from(e)),
                };
                // A table's items table exists from its creation on; an export of a
                // table without one writes an empty data file.
                if let Some(table) = table {
                    for e in table.iter()? {
                        let (_, v) = e?;
                        line.clear();
                        let size = if ion {
                            // Each data file begins with Ion's version marker.
                            if in_file == 0 {
                                line.extend_from_slice(b"$ion_1_0\n");
                            }
                            json.clear();
                            let size = super::stored::write_item_json(v.value(), &mut json)
                                .map_err(EngineError::Storage)?;
                            let item: Map<String, Value> = serde_json::from_slice(&json)
                                .map_err(|e| EngineError::Storage(e.to_string()))?;
                            text.clear();
                            super::ion::write_item(&item, &mut text)
                                .map_err(EngineError::Storage)?;
                            line.extend_from_slice(text.as_bytes());
                            size
                        } else {
                            line.extend_from_slice(b"{\"Item\":");
                            let size = super::stored::write_item_json(v.value(), &mut line)
                                .map_err(EngineError::Storage)?;
                            line.extend_from_slice(b"}\n");
                            size
                        };
                        billed += size as u64;
                        std::io::Write::write_all(&mut file, &line)
                            .map_err(|e| EngineError::Storage(e.to_string()))?;
                        in_file += 1;
                        raw += line.len();
                        if raw >= DATA_FILE_BYTES {
                            let done = std::mem::replace(
                                &mut file,
                                flate2::write::GzEncoder::new(
                                    Vec::new(),
                                    flate2::Compression::default(),
                                ),
                            );
                            let bytes = done
                                .finish()
                                .map_err(|e| EngineError::Storage(e.to_string()))?;
                            if tx.blocking_send((bytes, in_file)).is_err() {
                                return Ok(billed);
                            }
                            sent = true;
                            (in_file, raw) = (0, 0);
                        }
                    }
                }
                // An empty table still gets its (empty) data file, as DynamoDB writes one.
                if in_file > 0 || !sent {
                    let bytes = file
                        .finish()
                        .map_err(|e| EngineError::Storage(e.to_string()))?;
                    let _ = tx.blocking_send((bytes, in_file));
                }
                Ok(billed)
            })
        });
        let mut manifest = String::new();
        let mut items = 0u64;
        let mut upload_failure = None;
        while let Some((bytes, n)) = rx.recv().await {
            let extension = if desc["ExportFormat"] == "ION" {
                "ion"
            } else {
                "json"
            };
            let key = format!("{dir}/data/{}.{extension}.gz", data_file_name());
            let md5 = base64::engine::general_purpose::STANDARD.encode(md5_of(&bytes));
            match client.put_object(&bucket, &key, Bytes::from(bytes)).await {
                Ok(etag) => {
                    items += n;
                    manifest.push_str(
                        &json!({"itemCount": n, "md5Checksum": md5, "etag": etag, "dataFileS3Key": key})
                            .to_string(),
                    );
                    manifest.push('\n');
                }
                Err(f) => {
                    upload_failure = Some(f);
                    break;
                }
            }
        }
        drop(rx);
        let billed = reader
            .await
            .map_err(S3Failure::internal)?
            .map_err(S3Failure::internal)?;
        if let Some(f) = upload_failure {
            return Err(f);
        }
        let files_key = format!("{dir}/manifest-files.json");
        let summary_key = format!("{dir}/manifest-summary.json");
        let summary = json!({
            "version": "2020-06-30",
            "exportArn": desc["ExportArn"],
            "startTime": iso(desc["StartTime"].as_f64().unwrap_or_default()),
            "endTime": iso(now_secs()),
            "tableArn": table_arn,
            "tableId": desc["TableId"],
            "exportTime": iso(desc["ExportTime"].as_f64().unwrap_or_default()),
            "s3Bucket": bucket,
            "s3Prefix": desc.get("S3Prefix").cloned().unwrap_or(Value::Null),
            "s3SseAlgorithm": desc["S3SseAlgorithm"],
            "s3SseKmsKeyId": desc.get("S3SseKmsKeyId").cloned().unwrap_or(Value::Null),
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": billed,
            "itemCount": items,
            "outputFormat": desc["ExportFormat"],
            "exportType": desc["ExportType"],
        })
        .to_string();
        for (key, body) in [(files_key, manifest), (summary_key.clone(), summary)] {
            let checksum = hex(&md5_of(body.as_bytes()));
            client.put_object(&bucket, &key, Bytes::from(body)).await?;
            let checksum_key = format!("{}.checksum", key.trim_end_matches(".json"));
            client
                .put_object(&bucket, &checksum_key, Bytes::from(checksum))
                .await?;
        }
        desc["ExportManifest"] = json!(summary_key);
        desc["ItemCount"] = json!(items);
        desc["BilledSizeBytes"] = json!(billed);
        Ok(())
    }

    /// ImportTable.
    async fn import_table(
        self: &Arc<Self>,
        body: &Value,
        cred: &Arc<Credential>,
    ) -> Result<Value, Error> {
        self.import_into(body, cred, None).await
    }

    /// Starts the import a template declares (`ImportSourceSpecification`) into the table
    /// `def`, which it creates, acting as `cred`. `request` is the ImportTable request the
    /// declaration stands for. Answers the import's ARN.
    pub(crate) async fn import_declared(
        self: &Arc<Self>,
        def: super::table::TableDef,
        request: &Value,
        cred: &Arc<Credential>,
    ) -> Result<String, Error> {
        let answer = self.import_into(request, cred, Some(def)).await?;
        Ok(answer["ImportTableDescription"]["ImportArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// ImportTable, into `preset` when given (with what a template declares beyond
    /// TableCreationParameters: stream, TTL, tags...), else into the table the request's
    /// TableCreationParameters describe.
    async fn import_into(
        self: &Arc<Self>,
        body: &Value,
        cred: &Arc<Credential>,
        preset: Option<super::table::TableDef>,
    ) -> Result<Value, Error> {
        let obj = object(body)?;
        let mut violations = Vec::new();
        let source = match obj.get("S3BucketSource") {
            None | Some(Value::Null) => {
                violations.push(missing("s3BucketSource"));
                None
            }
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                return Err(Error::Serialization(
                    "Unexpected value type in payload at 'S3BucketSource'".into(),
                ));
            }
        };
        let bucket = match source {
            Some(s) => {
                let b = string_field(s, "S3Bucket")?;
                if b.is_none() {
                    violations.push(missing("s3BucketSource.s3Bucket"));
                }
                b
            }
            None => None,
        };
        let format = string_field(obj, "InputFormat")?;
        match format {
            None => violations.push(missing("inputFormat")),
            Some(f) => {
                violations.extend(one_of("inputFormat", f, &["DYNAMODB_JSON", "ION", "CSV"]))
            }
        }
        let compression = string_field(obj, "InputCompressionType")?.unwrap_or("NONE");
        violations.extend(one_of(
            "inputCompressionType",
            compression,
            &["GZIP", "ZSTD", "NONE"],
        ));
        let params = match obj.get("TableCreationParameters") {
            None | Some(Value::Null) => {
                violations.push(missing("tableCreationParameters"));
                None
            }
            Some(v @ Value::Object(_)) => Some(v),
            Some(_) => {
                return Err(Error::Serialization(
                    "Unexpected value type in payload at 'TableCreationParameters'".into(),
                ));
            }
        };
        refuse(violations)?;
        let (Some(source), Some(bucket), Some(format), Some(params)) =
            (source, bucket, format, params)
        else {
            return Err(Error::validation(
                "S3BucketSource, InputFormat and TableCreationParameters are required",
            ));
        };
        let csv = Csv::of(obj.get("InputFormatOptions"), format)?;
        // The table is checked as CreateTable checks it, and must not exist yet.
        let def = match preset {
            Some(def) => def,
            None => self.parse_create_table(params)?,
        };
        // A request repeated with its ClientToken answers the job it started, whatever
        // that job did since (the table it created exists now).
        let client_token = string_field(obj, "ClientToken")?;
        if let Some(token) = client_token
            && let Some(existing) = self.by_token(Kind::Import, token).await?
        {
            let options = obj.get("InputFormatOptions").filter(|v| !v.is_null());
            let same = existing["S3BucketSource"] == Value::Object(source.clone())
                && existing["InputFormat"] == format
                && existing["InputCompressionType"] == compression
                && existing.get("InputFormatOptions") == options
                && existing["TableCreationParameters"] == *params;
            if !same {
                return Err(Error::named(
                    "ImportConflictException",
                    "There was a conflict when importing from the specified S3 source. This can occur when the current import conflicts with a previous import request that had the same client token.",
                ));
            }
            return Ok(json!({ "ImportTableDescription": existing }));
        }
        if self.table(&def.name).is_ok() {
            return Err(Error::ResourceInUse(format!(
                "Table already exists: {}",
                def.name
            )));
        }
        let now = now_secs();
        let table_arn = def.arn(self);
        let id = format!("{:014}-{}", (now * 1000.0) as u64, random_id());
        let arn = format!("{table_arn}/import/{id}");
        let mut desc = json!({
            "ImportArn": arn,
            "ImportStatus": "IN_PROGRESS",
            "TableArn": table_arn,
            "TableId": super::table::uid_as_uuid(&def.uid),
            "ClientToken": client_token.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
            "S3BucketSource": Value::Object(source.clone()),
            "ErrorCount": 0,
            "InputFormat": format,
            "InputCompressionType": compression,
            "TableCreationParameters": params,
            "StartTime": now,
            "ProcessedSizeBytes": 0,
            "ProcessedItemCount": 0,
            "ImportedItemCount": 0,
        });
        if let Some(o) = obj.get("InputFormatOptions").filter(|v| !v.is_null()) {
            desc["InputFormatOptions"] = o.clone();
        }
        self.save_job(Kind::Import, &arn, &desc).await?;
        let answer = json!({ "ImportTableDescription": desc.clone() });
        let this = self.clone();
        let client = self.client(cred, source.get("S3BucketOwner").and_then(Value::as_str));
        let source = Source {
            bucket: bucket.to_owned(),
            prefix: source
                .get("S3KeyPrefix")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            compression: compression.to_owned(),
            format: match (csv, format) {
                (Some(csv), _) => Format::Csv(csv),
                (None, "ION") => Format::Ion,
                (None, _) => Format::DynamoDbJson,
            },
        };
        let table = def.name.clone();
        self.jobs.importing().insert(table.clone());
        tokio::spawn(async move {
            let mut counts = Counts::default();
            let outcome = match client {
                Ok(client) => this.run_import(&client, def, &source, &mut counts).await,
                Err(f) => Err(Failure::S3(f)),
            };
            desc["ErrorCount"] = json!(counts.errors);
            desc["ProcessedItemCount"] = json!(counts.processed);
            desc["ImportedItemCount"] = json!(counts.imported);
            desc["ProcessedSizeBytes"] = json!(counts.bytes);
            let failure = match outcome {
                Err(Failure::S3(f)) => Some(f.described()),
                Err(Failure::Table(e)) => Some(("UNKNOWN".to_owned(), e.to_string())),
                Ok(()) if counts.errors > 0 => Some((
                    "ItemValidationError".to_owned(),
                    "Some of the items failed validation checks and were not imported. Please check CloudWatch error logs for more details.".to_owned(),
                )),
                Ok(()) => None,
            };
            if failure.is_none() {
                tracing::info!(
                    %table,
                    items = counts.imported,
                    bytes = counts.bytes,
                    "import completed"
                );
            }
            this.end_job(Kind::Import, &arn, desc, failure).await;
            this.jobs.importing().remove(&table);
        });
        Ok(answer)
    }

    /// Lists the source, creates the table and loads every object into it.
    async fn run_import(
        self: &Arc<Self>,
        client: &S3Client,
        def: super::table::TableDef,
        source: &Source,
        counts: &mut Counts,
    ) -> Result<(), Failure> {
        let objects = client
            .list(&source.bucket, &source.prefix)
            .await
            .map_err(Failure::S3)?;
        let name = def.name.clone();
        let key_types: Vec<(String, String)> = def
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.ty.as_str().to_owned()))
            .collect();
        self.create_def(def).await.map_err(Failure::Table)?;
        for object in objects {
            counts.bytes += object.size;
            let body = client
                .get_object(&source.bucket, &object.key)
                .await
                .map_err(Failure::S3)?;
            let reader = ChannelReader::of(body);
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Record>(IMPORT_BATCH * 4);
            let (compression, format, key_types) = (
                source.compression.clone(),
                source.format.clone(),
                key_types.clone(),
            );
            let parser = tokio::task::spawn_blocking(move || {
                parse_object(reader, &compression, &format, &key_types, &tx)
            });
            // Several batches are written at once, so that the engine's group commit makes
            // one durable commit of them (duplicates among them overwrite each other in no
            // particular order, as DynamoDB's import says of its own).
            let mut writing = futures_util::stream::FuturesUnordered::new();
            let mut batch = Vec::with_capacity(IMPORT_BATCH);
            while let Some(record) = rx.recv().await {
                counts.processed += 1;
                match record {
                    Record::Item(item) => {
                        batch.push(item);
                        if batch.len() == IMPORT_BATCH {
                            if writing.len() >= IMPORT_WRITERS
                                && let Some(done) = writing.next().await
                            {
                                counts.add(done?);
                            }
                            writing.push(self.write_batch(&name, std::mem::take(&mut batch)));
                        }
                    }
                    Record::Invalid(why) => {
                        tracing::info!(object = %object.key, "import record skipped: {why}");
                        counts.errors += 1;
                    }
                }
            }
            if !batch.is_empty() {
                writing.push(self.write_batch(&name, batch));
            }
            while let Some(done) = writing.next().await {
                counts.add(done?);
            }
            let ended = match parser.await {
                Ok(ended) => ended,
                Err(e) => Err(format!("its reader stopped: {e}")),
            };
            if let Err(why) = ended {
                tracing::info!(object = %object.key, "rest of the object skipped: {why}");
                counts.processed += 1;
                counts.errors += 1;
            }
        }
        Ok(())
    }

    /// Writes items in one batch; when the table refuses the batch, item by item, counting
    /// the ones it refuses.
    async fn write_batch(&self, table: &str, items: Vec<Value>) -> Result<Written, Failure> {
        let mut counts = Written::default();
        let puts: Vec<Value> = items
            .iter()
            .map(|i| json!({"PutRequest": {"Item": i}}))
            .collect();
        let batch = json!({ "RequestItems": { table: puts } });
        match self.call("BatchWriteItem", &batch).await {
            Ok(answer)
                if answer["UnprocessedItems"]
                    .as_object()
                    .is_none_or(Map::is_empty) =>
            {
                counts.imported += items.len() as u64;
                return Ok(counts);
            }
            Err(Error::ResourceNotFound(m)) => {
                return Err(Failure::Table(Error::ResourceNotFound(m)));
            }
            _ => {}
        }
        for item in items {
            match self
                .call("PutItem", &json!({"TableName": table, "Item": item}))
                .await
            {
                Ok(_) => counts.imported += 1,
                Err(Error::Validation(why)) => {
                    tracing::info!(table = %table, "import item refused: {why}");
                    counts.errors += 1;
                }
                Err(e) => return Err(Failure::Table(e)),
            }
        }
        Ok(counts)
    }
}

/// A description as it stands: one IN_PROGRESS that started before this process opened
/// the engine was interrupted by a restart.
fn settled(kind: Kind, mut desc: Value, opened: f64) -> Value {
    let started = desc["StartTime"].as_f64().unwrap_or_default();
    if desc[kind.status_field()] == "IN_PROGRESS" && started < opened {
        desc[kind.status_field()] = json!("FAILED");
        desc["FailureCode"] = json!("UNKNOWN");
        desc["FailureMessage"] = json!("Meridian stopped while this job ran; request it again");
    }
    desc
}

/// Why an import stopped.
enum Failure {
    S3(S3Failure),
    Table(Error),
}

impl S3Failure {
    fn internal(e: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            code: String::new(),
            message: format!("the export failed: {e}"),
        }
    }
}

#[derive(Default)]
struct Counts {
    processed: u64,
    imported: u64,
    errors: u64,
    bytes: u64,
}

impl Counts {
    fn add(&mut self, w: Written) {
        self.imported += w.imported;
        self.errors += w.errors;
    }
}

/// What one batch wrote and refused.
#[derive(Default)]
struct Written {
    imported: u64,
    errors: u64,
}

/// Where an import reads from.
struct Source {
    bucket: String,
    prefix: String,
    compression: String,
    format: Format,
}

/// How an import's objects are written.
#[derive(Clone)]
enum Format {
    DynamoDbJson,
    Ion,
    Csv(Csv),
}

/// CSV's options: the delimiter and the header, when not the first line.
#[derive(Clone)]
struct Csv {
    delimiter: u8,
    header: Option<Vec<String>>,
}

impl Csv {
    fn of(options: Option<&Value>, format: &str) -> Result<Option<Self>, Error> {
        if format != "CSV" {
            return Ok(None);
        }
        let csv = options.and_then(|o| o.get("Csv"));
        let wrong = |at: &str| {
            Err(Error::Serialization(format!(
                "Unexpected value type in payload at 'InputFormatOptions.Csv.{at}'"
            )))
        };
        if let Some(d) = csv.and_then(|c| c.get("Delimiter"))
            && !d.is_string()
        {
            return wrong("Delimiter");
        }
        if let Some(h) = csv.and_then(|c| c.get("HeaderList"))
            && !h.as_array().is_some_and(|h| h.iter().all(Value::is_string))
        {
            return wrong("HeaderList");
        }
        let delimiter = match csv.and_then(|c| c.get("Delimiter")).and_then(Value::as_str) {
            None => b',',
            Some(d) if d.len() == 1 && matches!(d, "," | "\t" | ":" | ";" | "|" | " ") => {
                d.as_bytes()[0]
            }
            Some(d) => {
                return Err(Error::validation(format!(
                    "1 validation error detected: Value '{d}' at 'inputFormatOptions.csv.delimiter' failed to satisfy constraint: Member must satisfy regular expression pattern: [,;:|\\t ]"
                )));
            }
        };
        let header = csv
            .and_then(|c| c.get("HeaderList"))
            .and_then(Value::as_array)
            .map(|h| {
                h.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
        Ok(Some(Self { delimiter, header }))
    }
}

/// One record of an import's source.
enum Record {
    Item(Value),
    Invalid(String),
}

/// The most bytes one record of an import may take (an item is at most 400 KB; its text a
/// few times that): a longer one ends its object, so that no object, however crafted, makes
/// the reader hold more than this of it.
const RECORD_CAP: usize = 4 << 20;
/// The largest ZSTD window an import decodes with, zstd's own default limit
/// (`--long=27`): the window is what a decoder must keep of what it decoded.
const ZSTD_WINDOW_CAP: u64 = 128 << 20;

/// A reader that fails once `used` (which the caller zeroes at each record's end) passes
/// [`RECORD_CAP`].
struct Capped<R> {
    inner: R,
    used: std::rc::Rc<std::cell::Cell<usize>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let used = self.used.get() + n;
        self.used.set(used);
        if used > RECORD_CAP {
            return Err(std::io::Error::other("record too long"));
        }
        Ok(n)
    }
}

/// A ZSTD stream of one frame or more (as `zstd` writes when its input is split, or
/// `cat a.zst b.zst`), skippable frames skipped, each frame's window checked against
/// [`ZSTD_WINDOW_CAP`] before anything is decoded.
struct ZstdFrames<R> {
    source: std::io::BufReader<R>,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: Read> ZstdFrames<R> {
    fn new(source: R) -> Self {
        Self {
            source: std::io::BufReader::with_capacity(256 << 10, source),
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame; false at the end of the stream.
    fn next_frame(&mut self) -> std::io::Result<bool> {
        use std::io::{BufRead as _, Error};
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            let mut magic = [0u8; 4];
            self.source.read_exact(&mut magic)?;
            let magic_number = u32::from_le_bytes(magic);
            if magic_number & 0xFFFF_FFF0 == 0x184D_2A50 {
                let mut len = [0u8; 4];
                self.source.read_exact(&mut len)?;
                let len = u64::from(u32::from_le_bytes(len));
                let skipped =
                    std::io::copy(&mut (&mut self.source).take(len), &mut std::io::sink())?;
                if skipped < len {
                    return Err(Error::other("a skippable frame is cut short"));
                }
                continue;
            }
            if magic_number != 0xFD2F_B528 {
                return Err(Error::other("not a ZSTD frame"));
            }
            // The frame header (RFC 8878, 3.1.1.1): its descriptor says what follows.
            let mut header = magic.to_vec();
            let mut descriptor = [0u8; 1];
            self.source.read_exact(&mut descriptor)?;
            let d = descriptor[0];
            header.push(d);
            let single_segment = d & 0x20 != 0;
            let window_len = usize::from(!single_segment);
            let dictionary_len = [0, 1, 2, 4][usize::from(d & 3)];
            let content_size_len = match d >> 6 {
                0 => usize::from(single_segment),
                1 => 2,
                2 => 4,
                _ => 8,
            };
            let start = header.len();
            header.resize(start + window_len + dictionary_len + content_size_len, 0);
            self.source.read_exact(&mut header[start..])?;
            let window = if single_segment {
                let at = start + dictionary_len;
                let size = header[at..]
                    .iter()
                    .rev()
                    .fold(0u64, |v, b| (v << 8) | u64::from(*b));
                if content_size_len == 2 {
                    size + 256
                } else {
                    size
                }
            } else {
                let w = header[start];
                let base = 1u64 << (10 + u32::from(w >> 3));
                base + base / 8 * u64::from(w & 7)
            };
            if window > ZSTD_WINDOW_CAP {
                return Err(Error::other(format!(
                    "a ZSTD frame with a window of {} MiB (the most is {} MiB)",
                    window >> 20,
                    ZSTD_WINDOW_CAP >> 20
                )));
            }
            self.decoder
                .reset(&mut header.as_slice().chain(&mut self.source))
                .map_err(Error::other)?;
            self.in_frame = true;
            return Ok(true);
        }
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                if self.decoder.can_collect() > 0 {
                    return self.decoder.read(buf);
                }
                if self.decoder.is_finished() {
                    self.in_frame = false;
                    continue;
                }
                self.decoder
                    .decode_blocks(
                        &mut self.source,
                        ruzstd::decoding::BlockDecodingStrategy::UptoBytes(buf.len()),
                    )
                    .map_err(std::io::Error::other)?;
            } else if !self.next_frame()? {
                return Ok(0);
            }
        }
    }
}

/// Reads one object (decompressing it) and sends its records; an error that ends the
/// object early is returned.
fn parse_object(
    reader: impl Read + 'static,
    compression: &str,
    format: &Format,
    key_types: &[(String, String)],
    tx: &tokio::sync::mpsc::Sender<Record>,
) -> Result<(), String> {
    let reader: Box<dyn Read> = match compression {
        "GZIP" => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        "ZSTD" => Box::new(ZstdFrames::new(reader)),
        _ => Box::new(reader),
    };
    let used = std::rc::Rc::new(std::cell::Cell::new(0));
    let reader = Capped {
        inner: std::io::BufReader::with_capacity(256 << 10, reader),
        used: used.clone(),
    };
    let too_long = || format!("a record longer than {} MiB", RECORD_CAP >> 20);
    match format {
        Format::Ion => {
            // Read in 64 KiB steps: a record may run past the cap by that much.
            let mut ion =
                super::ion::Reader::new(std::io::BufReader::with_capacity(64 << 10, reader));
            loop {
                let value = ion.next_value().map_err(|e| {
                    if used.get() > RECORD_CAP {
                        too_long()
                    } else {
                        format!("not Ion text: {e}")
                    }
                })?;
                used.set(0);
                let record = match value {
                    None => return Ok(()),
                    Some(super::ion::TopLevel::Item(item)) => Record::Item(item),
                    Some(super::ion::TopLevel::NotAnItem(why)) => Record::Invalid(why),
                };
                if tx.blocking_send(record).is_err() {
                    return Ok(());
                }
            }
        }
        Format::DynamoDbJson => {
            for value in serde_json::Deserializer::from_reader(reader).into_iter::<Value>() {
                let value = value.map_err(|e| {
                    if used.get() > RECORD_CAP {
                        too_long()
                    } else {
                        format!("not DynamoDB JSON: {e}")
                    }
                })?;
                used.set(0);
                let record = match value {
                    Value::Object(mut m)
                        if m.len() == 1 && m.get("Item").is_some_and(Value::is_object) =>
                    {
                        Record::Item(m.remove("Item").unwrap_or_default())
                    }
                    _ => Record::Invalid(
                        "a record must be an object whose only member is \"Item\"".into(),
                    ),
                };
                if tx.blocking_send(record).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        }
        Format::Csv(csv) => {
            let mut r = csv::ReaderBuilder::new()
                .delimiter(csv.delimiter)
                .has_headers(csv.header.is_none())
                .flexible(true)
                .from_reader(reader);
            let header: Vec<String> = match &csv.header {
                Some(h) => h.clone(),
                None => r
                    .headers()
                    .map_err(|e| format!("unreadable CSV header: {e}"))?
                    .iter()
                    .map(str::to_owned)
                    .collect(),
            };
            for row in r.records() {
                let row = row.map_err(|e| {
                    if used.get() > RECORD_CAP {
                        too_long()
                    } else {
                        format!("unreadable CSV: {e}")
                    }
                })?;
                used.set(0);
                let record = if row.len() > header.len() {
                    Record::Invalid(format!(
                        "a row of {} cells under a header of {}",
                        row.len(),
                        header.len()
                    ))
                } else {
                    let mut item = Map::new();
                    for (name, cell) in header.iter().zip(row.iter()) {
                        if cell.is_empty() {
                            continue;
                        }
                        let ty = key_types
                            .iter()
                            .find(|(n, _)| n == name)
                            .map_or("S", |(_, t)| t.as_str());
                        item.insert(name.clone(), json!({ ty: cell }));
                    }
                    Record::Item(Value::Object(item))
                };
                if tx.blocking_send(record).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        }
    }
}

/// Reads `data` as one import object, the way an import reads it: the first byte picks
/// the compression (none, GZIP, ZSTD) and the format (DynamoDB JSON, Ion, CSV with a header
/// line, CSV with `;` and a given header), the rest is the object. The entry point of the
/// `dynamo_import` fuzz target and of its regression replay; never panics, never hangs, and
/// answers how many records were items.
pub fn exercise_import(data: &[u8]) -> usize {
    let Some((&choice, object)) = data.split_first() else {
        return 0;
    };
    let compression = ["NONE", "GZIP", "ZSTD"][usize::from(choice % 3)];
    let format = match (choice / 3) % 4 {
        0 => Format::DynamoDbJson,
        1 => Format::Ion,
        2 => Format::Csv(Csv {
            delimiter: b',',
            header: None,
        }),
        _ => Format::Csv(Csv {
            delimiter: b';',
            header: Some(vec!["id".into(), "v".into()]),
        }),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let drain = std::thread::spawn(move || {
        let mut items = 0;
        while let Some(r) = rx.blocking_recv() {
            items += usize::from(matches!(r, Record::Item(_)));
        }
        items
    });
    let keys = [("id".to_owned(), "N".to_owned())];
    let _ = parse_object(
        std::io::Cursor::new(object.to_vec()),
        compression,
        &format,
        &keys,
        &tx,
    );
    drop(tx);
    drain.join().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(
        bytes: &[u8],
        compression: &str,
        csv: Option<&Csv>,
    ) -> (Vec<String>, Result<(), String>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let keys = [("id".to_owned(), "N".to_owned())];
        let format = csv.cloned().map_or(Format::DynamoDbJson, Format::Csv);
        let ended = parse_object(
            std::io::Cursor::new(bytes.to_vec()),
            compression,
            &format,
            &keys,
            &tx,
        );
        drop(tx);
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(match r {
                Record::Item(v) => v.to_string(),
                Record::Invalid(why) => format!("invalid: {why}"),
            });
        }
        (out, ended)
    }

    #[test]
    fn dynamodb_json_records_follow_each_other_with_or_without_line_ends() {
        let (got, ended) = records(
            br#"{"Item":{"id":{"N":"1"}}}
{"Item":{"id":{"N":"2"}}}{"Item":{"id":{"N":"3"}}} {"id":{"N":"4"}}"#,
            "NONE",
            None,
        );
        assert_eq!(ended, Ok(()));
        assert_eq!(
            got,
            [
                r#"{"id":{"N":"1"}}"#,
                r#"{"id":{"N":"2"}}"#,
                r#"{"id":{"N":"3"}}"#,
                "invalid: a record must be an object whose only member is \"Item\"",
            ]
        );
    }

    #[test]
    fn a_record_that_does_not_parse_ends_its_object() {
        let (got, ended) = records(
            br#"{"Item":{"id":{"N":"1"}}} {"Item": nope} {"Item":{}}"#,
            "NONE",
            None,
        );
        assert_eq!(got, [r#"{"id":{"N":"1"}}"#]);
        assert!(ended.is_err_and(|e| e.starts_with("not DynamoDB JSON")));
    }

    #[test]
    fn gzip_and_zstd_sources_are_decompressed() {
        let text = br#"{"Item":{"id":{"N":"7"}}}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text).unwrap();
        let (got, _) = records(&gz.finish().unwrap(), "GZIP", None);
        assert_eq!(got, [r#"{"id":{"N":"7"}}"#]);
        // `printf '{"Item":{"id":{"N":"7"}}}' | zstd -19`
        let zst: &[u8] = &[
            0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0xc9, 0x00, 0x00, 0x7b, 0x22, 0x49, 0x74, 0x65,
            0x6d, 0x22, 0x3a, 0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x7b, 0x22, 0x4e, 0x22, 0x3a,
            0x22, 0x37, 0x22, 0x7d, 0x7d, 0x7d, 0xdf, 0x79, 0x05, 0xc7,
        ];
        let (got, ended) = records(zst, "ZSTD", None);
        assert_eq!(ended, Ok(()));
        assert_eq!(got, [r#"{"id":{"N":"7"}}"#]);
        let (_, ended) = records(b"not zstd at all", "ZSTD", None);
        assert!(ended.is_err());
    }

    #[test]
    fn csv_options_of_the_wrong_type_are_refused_not_ignored() {
        let of = |options: Value| Csv::of(Some(&options), "CSV").map(|c| c.is_some());
        for (bad, at) in [
            (json!({"Csv": {"Delimiter": 59}}), "Delimiter"),
            (json!({"Csv": {"HeaderList": "id,name"}}), "HeaderList"),
            (json!({"Csv": {"HeaderList": ["id", 2]}}), "HeaderList"),
        ] {
            let e = of(bad).expect_err("refused");
            assert_eq!(e.type_name(), "SerializationException");
            assert!(e.to_string().contains(at), "{e}");
        }
        let e = of(json!({"Csv": {"Delimiter": "/"}})).expect_err("refused");
        assert_eq!(e.type_name(), "ValidationException");
        assert_eq!(
            of(json!({"Csv": {"Delimiter": ";", "HeaderList": ["id"]}})).ok(),
            Some(true)
        );
    }

    #[test]
    fn every_zstd_frame_is_read_and_skippable_frames_are_skipped() {
        let frame = |text: &str| {
            ruzstd::encoding::compress_to_vec(
                text.as_bytes(),
                ruzstd::encoding::CompressionLevel::Fastest,
            )
        };
        let mut stream = frame(r#"{"Item":{"id":{"N":"1"}}}"#);
        // A skippable frame: its magic, its length, and bytes no decoder reads.
        stream.extend_from_slice(&[0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        stream.extend(frame(r#"{"Item":{"id":{"N":"2"}}}"#));
        let (got, ended) = records(&stream, "ZSTD", None);
        assert_eq!(ended, Ok(()));
        assert_eq!(got, [r#"{"id":{"N":"1"}}"#, r#"{"id":{"N":"2"}}"#]);
        // A frame cut short ends the object with an error, after the frames before it.
        let mut cut = frame(r#"{"Item":{"id":{"N":"1"}}}"#);
        let second = frame(r#"{"Item":{"id":{"N":"2"}}}"#);
        cut.extend_from_slice(&second[..second.len() - 3]);
        let (got, ended) = records(&cut, "ZSTD", None);
        assert_eq!(got, [r#"{"id":{"N":"1"}}"#]);
        assert!(ended.is_err(), "{got:?}");
    }

    #[test]
    fn a_zstd_frame_asking_for_a_huge_window_is_refused_before_decoding() {
        // Window descriptor 0xF8: 2^41 bytes.
        let by_descriptor: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x01, 0x00, 0x00];
        let (_, ended) = records(by_descriptor, "ZSTD", None);
        let why = ended.expect_err("refused");
        assert!(why.contains("window of 2097152 MiB"), "{why}");
        // A single segment whose content size (8 bytes) is 2^40: its window.
        let by_size: &[u8] = &[
            0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0, 0x01, 0x00, 0x00,
        ];
        let (_, ended) = records(by_size, "ZSTD", None);
        let why = ended.expect_err("refused");
        assert!(why.contains("window of 1048576 MiB"), "{why}");
    }

    #[test]
    fn a_record_longer_than_the_cap_ends_its_object() {
        // Past the cap by more than what the readers buffer ahead of a record.
        let long = "a".repeat(RECORD_CAP + (64 << 10));
        let json = format!(
            "{{\"Item\":{{\"id\":{{\"N\":\"1\"}}}}}}\n{{\"Item\":{{\"id\":{{\"N\":\"2\"}},\"s\":{{\"S\":\"{long}"
        );
        let (got, ended) = records(json.as_bytes(), "NONE", None);
        assert_eq!(got.len(), 1, "only the first record is read");
        assert_eq!(got[0], r#"{"id":{"N":"1"}}"#);
        assert_eq!(ended, Err("a record longer than 4 MiB".to_owned()));
        // A quote never closed makes one field of the rest of the object.
        let csv = Csv {
            delimiter: b',',
            header: None,
        };
        let text = format!("id,s\n1,x\n2,\"{long}");
        let (got, ended) = records(text.as_bytes(), "NONE", Some(&csv));
        assert_eq!(got.len(), 1, "only the first row is read");
        assert_eq!(got[0], r#"{"id":{"N":"1"},"s":{"S":"x"}}"#);
        assert_eq!(ended, Err("a record longer than 4 MiB".to_owned()));
        // Records under the cap are read however long the object (5 MB here).
        let many: String = (0..1000)
            .map(|i| format!("{i},{}\n", "b".repeat(5000)))
            .collect();
        let (got, ended) = records(format!("id,s\n{many}").as_bytes(), "NONE", Some(&csv));
        assert_eq!(ended, Ok(()));
        assert_eq!(got.len(), 1000);
    }

    #[test]
    fn csv_cells_are_strings_but_keys_take_their_types_and_empty_cells_are_absent() {
        let csv = Csv {
            delimiter: b';',
            header: None,
        };
        let (got, ended) = records(
            b"id;name;age\n1;Ada;36\n2;;\n3;x;1;extra\n",
            "NONE",
            Some(&csv),
        );
        assert_eq!(ended, Ok(()));
        assert_eq!(
            got,
            [
                r#"{"age":{"S":"36"},"id":{"N":"1"},"name":{"S":"Ada"}}"#,
                r#"{"id":{"N":"2"}}"#,
                "invalid: a row of 4 cells under a header of 3",
            ]
        );
        let given = Csv {
            delimiter: b',',
            header: Some(vec!["id".into(), "name".into()]),
        };
        let (got, _) = records(b"5,Bo\n", "NONE", Some(&given));
        assert_eq!(got, [r#"{"id":{"N":"5"},"name":{"S":"Bo"}}"#]);
    }
}
