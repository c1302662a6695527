//! The DynamoDB-compatible API: the data types, the expression language, tables and items
//! on the engine, and the JSON 1.0 protocol.

pub mod answer;
pub mod api;
pub mod backup;
mod batch;
pub mod declared;
pub mod encoding;
pub mod error;
pub mod expr;
mod index;
mod input;
mod ion;
mod item;
mod legacy;
pub mod number;
pub(crate) mod partiql;
mod query;
mod resource_policy;
pub mod stored;
pub mod stream;
pub mod table;
mod tags;
mod transact;
mod transfer;
pub use transfer::exercise_import;
pub mod ttl;
pub mod types;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::engine::{Engine, EngineError};
use error::Error;
use table::TableDef;

/// The account id in ARNs (the one the AWS SDKs' test suites expect from local emulators).
pub const ACCOUNT: &str = "123456789012";

/// The DynamoDB service over one engine.
#[derive(Debug)]
pub struct Dynamo {
    engine: Engine,
    catalog: ArcSwap<HashMap<String, Arc<TableDef>>>,
    /// Held by every change to a table's definition (create, delete, UpdateTable, tags,
    /// TTL, declared tables) from reading the cached definition to caching the new one:
    /// two changes made at once would otherwise both start from the same definition and
    /// the second would undo the first, or cache an older definition after a newer one.
    definitions: tokio::sync::Mutex<()>,
    /// Set once any table or stream carries a resource-based policy.
    policies_in_use: std::sync::atomic::AtomicBool,
    /// Exports and imports running, and where the buckets they use are served.
    jobs: transfer::Jobs,
    region: String,
    account: String,
}

/// The operations served, as named in `X-Amz-Target`.
pub const OPERATIONS: &[&str] = &[
    "CreateTable",
    "DeleteTable",
    "DescribeTable",
    "ListTables",
    "UpdateTable",
    "PutItem",
    "GetItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "PutResourcePolicy",
    "GetResourcePolicy",
    "DeleteResourcePolicy",
    "UpdateContinuousBackups",
    "DescribeContinuousBackups",
    "CreateBackup",
    "DescribeBackup",
    "ListBackups",
    "DeleteBackup",
    "RestoreTableFromBackup",
    "RestoreTableToPointInTime",
    "ExportTableToPointInTime",
    "DescribeExport",
    "ListExports",
    "ImportTable",
    "DescribeImport",
    "ListImports",
    "DescribeEndpoints",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

impl Dynamo {
    /// Opens the service on `engine`, loading the table catalog.
    pub fn open(engine: Engine, region: &str) -> Result<Arc<Self>, EngineError> {
        let catalog = engine.read_blocking(table::load_catalog)?;
        let policies = catalog
            .values()
            .any(|d| d.policy.is_some() || !d.stream_policies.is_empty());
        Ok(Arc::new(Self {
            engine,
            catalog: ArcSwap::from_pointee(catalog),
            definitions: tokio::sync::Mutex::new(()),
            policies_in_use: std::sync::atomic::AtomicBool::new(policies),
            jobs: transfer::Jobs::default(),
            region: region.to_owned(),
            account: ACCOUNT.to_owned(),
        }))
    }

    /// DescribeEndpoints: where the SDKs' endpoint discovery should send requests, the
    /// address the client reached (`address`, from its Host header), cached for a day as
    /// DynamoDB says.
    pub fn describe_endpoints(&self, address: Option<&str>) -> Value {
        let address = address.map_or_else(
            || format!("dynamodb.{}.amazonaws.com", self.region),
            str::to_owned,
        );
        serde_json::json!({"Endpoints": [{"Address": address, "CachePeriodInMinutes": 1440}]})
    }

    /// The region in ARNs.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Runs one operation on its JSON input and answers with its JSON text: what serialising
    /// [`Dynamo::call`]'s answer gives, with GetItem, Query and Scan writing their items
    /// straight from the engine's bytes instead of through a `Value` tree, and TagResource and
    /// UntagResource answering with an empty body, as DynamoDB does.
    pub async fn call_text(&self, operation: &str, body: &Value) -> Result<Vec<u8>, Error> {
        let asked = self.tables_asked_by_arn(body);
        if !asked.is_empty() {
            let mut answer = self.call(operation, body).await?;
            name_capacity_as_asked(&mut answer, &asked);
            return Ok(serde_json::to_vec(&answer).unwrap_or_default());
        }
        match operation {
            "GetItem" => self.get_item_text(body).await,
            "Query" => self.query_text(body).await,
            "Scan" => self.scan_text(body).await,
            "TagResource" | "UntagResource" => {
                self.call(operation, body).await?;
                Ok(Vec::new())
            }
            _ => Ok(serde_json::to_vec(&self.call(operation, body).await?).unwrap_or_default()),
        }
    }

    /// The tables a request names by their ARN (TableName, a batch's RequestItems, a
    /// transaction's actions), by the table name each stands for.
    /// (Empty, and allocating nothing, for a request that names its tables by name.)
    fn tables_asked_by_arn(&self, body: &Value) -> HashMap<String, String> {
        let mut asked = HashMap::new();
        let mut note = |given: &str| {
            if let Some(name) = self.table_named(given) {
                asked.insert(name.to_owned(), given.to_owned());
            }
        };
        if let Some(table) = body.get("TableName").and_then(Value::as_str) {
            note(table);
        }
        if let Some(Value::Object(m)) = body.get("RequestItems") {
            m.keys().for_each(|k| note(k));
        }
        for action in body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            action
                .values()
                .filter_map(|spec| spec.get("TableName").and_then(Value::as_str))
                .for_each(&mut note);
        }
        asked
    }

    /// Runs one operation on its JSON input.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, Error> {
        match operation {
            "CreateTable" => self.create_table(body).await,
            "DeleteTable" => self.delete_table(body).await,
            "DescribeTable" => self.describe_table(body).await,
            "ListTables" => self.list_tables(body).await,
            "UpdateTable" => self.update_table(body).await,
            "PutItem" => self.put_item(body).await,
            "GetItem" => self.get_item(body).await,
            "UpdateItem" => self.update_item(body).await,
            "DeleteItem" => self.delete_item(body).await,
            "Query" => self.query(body).await,
            "Scan" => self.scan(body).await,
            "BatchGetItem" => self.batch_get_item(body).await,
            "BatchWriteItem" => self.batch_write_item(body).await,
            "TransactWriteItems" => self.transact_write_items(body).await,
            "TransactGetItems" => self.transact_get_items(body).await,
            "UpdateTimeToLive" => self.update_time_to_live(body).await,
            "DescribeTimeToLive" => self.describe_time_to_live(body).await,
            "TagResource" => self.tag_resource(body).await,
            "UntagResource" => self.untag_resource(body).await,
            "ListTagsOfResource" => self.list_tags_of_resource(body),
            "PutResourcePolicy" => self.put_resource_policy(body).await,
            "GetResourcePolicy" => self.get_resource_policy(body),
            "DeleteResourcePolicy" => self.delete_resource_policy(body).await,
            "UpdateContinuousBackups" => self.update_continuous_backups(body).await,
            "DescribeContinuousBackups" => self.describe_continuous_backups(body),
            "CreateBackup" => self.create_backup(body).await,
            "DescribeBackup" => self.describe_backup(body).await,
            "ListBackups" => self.list_backups(body).await,
            "DeleteBackup" => self.delete_backup(body).await,
            "RestoreTableFromBackup" => self.restore_table_from_backup(body).await,
            "RestoreTableToPointInTime" => self.restore_table_to_point_in_time(body).await,
            "DescribeEndpoints" => Ok(self.describe_endpoints(None)),
            "ExecuteStatement" => self.execute_statement(body).await,
            "BatchExecuteStatement" => self.batch_execute_statement(body).await,
            "ExecuteTransaction" => self.execute_transaction(body).await,
            _ => Err(Error::UnknownOperation(String::new())),
        }
    }
}

/// A table named by its ARN is named so in the answer's ConsumedCapacity too, as DynamoDB
/// answers.
fn name_capacity_as_asked(answer: &mut Value, asked: &HashMap<String, String>) {
    let rename = |c: &mut Value| {
        if let Some(arn) = c
            .get("TableName")
            .and_then(Value::as_str)
            .and_then(|n| asked.get(n))
        {
            c["TableName"] = Value::String(arn.clone());
        }
    };
    match answer.get_mut("ConsumedCapacity") {
        Some(Value::Array(list)) => list.iter_mut().for_each(rename),
        Some(c @ Value::Object(_)) => rename(c),
        _ => {}
    }
}
