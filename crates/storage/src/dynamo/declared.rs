//! Tables declared in templates (`AWS::DynamoDB::Table`, `AWS::Serverless::SimpleTable`):
//! planned against the tables that exist, then applied in one commit, so that a revision's
//! tables appear, change, or stay as they were together.
//!
//! Planning changes nothing and is where a revision is refused: each declaration is checked
//! as DynamoDB checks a CreateTable request, and a change DynamoDB cannot make to an existing
//! table (its key schema, its local indexes) is refused with the declaration's position. What
//! DynamoDB can change on a live table is applied live, as CloudFormation would: global
//! indexes added (back-filled), removed or replaced, the stream enabled, disabled or given
//! another view type, TTL, tags, billing and capacity, deletion protection, table class.
//!
//! A table no longer declared is kept with its items (deleting data because a file changed is
//! not undoable); `aws dynamodb delete-table` removes it.
//!
//! A new table with an `ImportSourceSpecification` is created by an import, as CloudFormation
//! creates it: the import job lists the bucket, creates the table and loads the objects in
//! the background, acting as the operator's access key (a template is the operator's). Its
//! progress is DescribeImport's and ListImports'; a table that exists is never imported into,
//! and while a table is being imported a revision leaves it to the import.

use std::collections::HashMap;
use std::sync::Arc;

use meridian_config::sam::{ImportSpec, IndexProjection, IndexSpec, TableSpec};
use serde_json::{Value, json};

use super::Dynamo;
use super::error::Error;
use super::table::{self, IndexDef, TableDef};
use crate::keys::Credential;

/// Why declared tables cannot be applied; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct PlanRefusal(pub Vec<String>);

/// One table's change.
#[derive(Debug, Clone)]
enum Step {
    Create(TableDef),
    /// Created by an import: the table and the ImportTable request.
    Import(TableDef, Value),
    Update {
        old: Arc<TableDef>,
        new: TableDef,
        created: Vec<IndexDef>,
        deleted: Vec<IndexDef>,
        what: Vec<String>,
    },
}

/// The declared tables that imports create, once the rest of a plan is applied, and the
/// declared tables an import created earlier (whose import may have failed).
#[derive(Debug, Default)]
#[must_use = "the imports start only when given to Dynamo::start_declared_imports"]
pub struct DeclaredImports {
    start: Vec<(TableDef, Value)>,
    imported: Vec<Arc<TableDef>>,
}

/// What applying a revision's tables changes, computed by [`Dynamo::plan_declared`].
#[derive(Debug, Clone, Default)]
pub struct TablePlan {
    steps: Vec<Step>,
    /// Tables that exist and that their declaration imports.
    imported: Vec<Arc<TableDef>>,
}

impl TablePlan {
    /// True when the tables are already as declared.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// One line per changed table (`created Users`, `Orders: index byEmail added`).
    pub fn summary(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Create(d) => format!("created {}", d.name),
                Step::Import(d, request) => format!(
                    "importing {} from s3://{}/{}",
                    d.name,
                    request["S3BucketSource"]["S3Bucket"]
                        .as_str()
                        .unwrap_or_default(),
                    request["S3BucketSource"]["S3KeyPrefix"]
                        .as_str()
                        .unwrap_or_default()
                ),
                Step::Update { new, what, .. } => format!("{}: {}", new.name, what.join(", ")),
            })
            .collect()
    }
}

fn key_schema(hash: &str, range: Option<&str>) -> Value {
    let mut v = vec![json!({"AttributeName": hash, "KeyType": "HASH"})];
    if let Some(r) = range {
        v.push(json!({"AttributeName": r, "KeyType": "RANGE"}));
    }
    Value::Array(v)
}

fn index_json(i: &IndexSpec) -> Value {
    let projection = match &i.projection {
        IndexProjection::All => json!({"ProjectionType": "ALL"}),
        IndexProjection::KeysOnly => json!({"ProjectionType": "KEYS_ONLY"}),
        IndexProjection::Include(a) => {
            json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": a})
        }
    };
    let mut v = json!({
        "IndexName": i.name,
        "KeySchema": key_schema(&i.hash_key.name, i.range_key.as_ref().map(|k| k.name.as_str())),
        "Projection": projection,
    });
    if let Some(t) = i.throughput {
        v["ProvisionedThroughput"] =
            json!({"ReadCapacityUnits": t.read, "WriteCapacityUnits": t.write});
    }
    v
}

/// The CreateTable request a declaration stands for.
fn create_request(spec: &TableSpec) -> Value {
    let attrs: Vec<Value> = spec
        .key_attributes()
        .iter()
        .map(|a| json!({"AttributeName": a.name, "AttributeType": a.attribute_type}))
        .collect();
    let mut req = json!({
        "TableName": spec.name,
        "AttributeDefinitions": attrs,
        "KeySchema": key_schema(&spec.hash_key.name, spec.range_key.as_ref().map(|k| k.name.as_str())),
        "BillingMode": spec.billing_mode,
        "DeletionProtectionEnabled": spec.deletion_protection,
    });
    if let Some(t) = spec.throughput {
        req["ProvisionedThroughput"] =
            json!({"ReadCapacityUnits": t.read, "WriteCapacityUnits": t.write});
    }
    if !spec.global_indexes.is_empty() {
        req["GlobalSecondaryIndexes"] =
            Value::Array(spec.global_indexes.iter().map(index_json).collect());
    }
    if !spec.local_indexes.is_empty() {
        req["LocalSecondaryIndexes"] =
            Value::Array(spec.local_indexes.iter().map(index_json).collect());
    }
    if let Some(v) = &spec.stream_view_type {
        req["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": v});
    }
    if let Some(policy) = &spec.resource_policy {
        req["ResourcePolicy"] = Value::String(policy.clone());
    }
    if !spec.tags.is_empty() {
        req["Tags"] = Value::Array(
            spec.tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect(),
        );
    }
    if let Some(c) = &spec.table_class {
        req["TableClass"] = json!(c);
    }
    req
}

/// The ImportTable request an `ImportSourceSpecification` stands for; its
/// TableCreationParameters are the declaration's, as far as ImportTable takes them.
fn import_request(spec: &TableSpec, import: &ImportSpec) -> Value {
    let create = create_request(spec);
    let mut params = serde_json::Map::new();
    for field in [
        "TableName",
        "AttributeDefinitions",
        "KeySchema",
        "BillingMode",
        "ProvisionedThroughput",
        "GlobalSecondaryIndexes",
    ] {
        if let Some(v) = create.get(field) {
            params.insert(field.to_owned(), v.clone());
        }
    }
    let mut source = json!({ "S3Bucket": import.bucket });
    if let Some(owner) = &import.bucket_owner {
        source["S3BucketOwner"] = json!(owner);
    }
    if let Some(prefix) = &import.key_prefix {
        source["S3KeyPrefix"] = json!(prefix);
    }
    let mut req = json!({
        "S3BucketSource": source,
        "InputFormat": import.input_format,
        "InputCompressionType": import.compression,
        "TableCreationParameters": params,
    });
    if import.csv_delimiter.is_some() || import.csv_header_list.is_some() {
        let mut csv = serde_json::Map::new();
        if let Some(d) = &import.csv_delimiter {
            csv.insert("Delimiter".into(), json!(d));
        }
        if let Some(h) = &import.csv_header_list {
            csv.insert("HeaderList".into(), json!(h));
        }
        req["InputFormatOptions"] = json!({ "Csv": csv });
    }
    req
}

fn describe_key(def: &TableDef) -> String {
    let attr = |a: &table::KeyAttr| format!("{} ({})", a.name, a.ty.as_str());
    match def.key.sort() {
        Some(r) => format!("HASH {}, RANGE {}", attr(def.key.partition()), attr(r)),
        None => format!("HASH {}", attr(def.key.partition())),
    }
}

/// The changes from `old` to the declared `new` (which has a fresh uid and stream label),
/// or why DynamoDB cannot make them.
fn diff(old: &Arc<TableDef>, mut new: TableDef, spec: &TableSpec) -> Result<Option<Step>, String> {
    if old.key != new.key {
        return Err(format!(
            "{}: {}: table {} exists with key {}; the template declares {}. A table's key cannot change: delete the table (aws dynamodb delete-table --table-name {}) to create it anew, or give the new one another TableName",
            spec.key_origin,
            spec.logical_id,
            old.name,
            describe_key(old),
            describe_key(&new),
            old.name
        ));
    }
    let locals = |d: &TableDef| {
        let mut v: Vec<IndexDef> = d.indexes.iter().filter(|i| i.local).cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    if locals(old) != locals(&new) {
        return Err(format!(
            "{}: {}: the local secondary indexes of table {} differ from the template's; DynamoDB creates them with the table only: delete the table to create it anew, or give the new one another TableName",
            spec.origin, spec.logical_id, old.name
        ));
    }
    new.uid.clone_from(&old.uid);
    new.created = old.created;
    new.closed_streams.clone_from(&old.closed_streams);
    // A policy the template declares replaces the table's when its document differs; one
    // put through the API stays while the template declares none. Streams' policies are put
    // through the API only.
    let declared_policy_changed = match (&old.policy, &new.policy) {
        (Some(o), Some(n)) if o.document == n.document => {
            new.policy.clone_from(&old.policy);
            false
        }
        (_, Some(_)) => true,
        (_, None) => {
            new.policy.clone_from(&old.policy);
            false
        }
    };
    new.stream_policies.clone_from(&old.stream_policies);
    // Point-in-time recovery the template enables is kept as it was enabled (its period
    // follows the template); one enabled through the API stays while the template says
    // nothing of it.
    let declared_pitr_changed = match (&old.pitr, &mut new.pitr) {
        (Some(o), Some(n)) => {
            n.enabled_at = o.enabled_at;
            o.recovery_days != n.recovery_days
        }
        (None, Some(_)) => true,
        (_, None) => {
            new.pitr.clone_from(&old.pitr);
            false
        }
    };
    let mut what = Vec::new();
    let mut created = Vec::new();
    let mut deleted = Vec::new();
    for o in old.indexes.iter().filter(|i| !i.local) {
        match new.index(&o.name) {
            None => {
                deleted.push(o.clone());
                what.push(format!("index {} removed", o.name));
            }
            Some(n) if n.key != o.key || n.projection != o.projection => {
                deleted.push(o.clone());
                created.push(n.clone());
                what.push(format!("index {} replaced", o.name));
            }
            Some(n) if n.throughput != o.throughput => {
                what.push(format!("index {} capacity", o.name));
            }
            Some(_) => {}
        }
    }
    for n in new.indexes.iter().filter(|i| !i.local) {
        if old.index(&n.name).is_none() {
            created.push(n.clone());
            what.push(format!("index {} added", n.name));
        }
    }
    match (&old.stream, &new.stream) {
        (Some(o), Some(n)) if o.view_type == n.view_type => new.stream = old.stream.clone(),
        (Some(_), Some(n)) => what.push(format!("stream {}", n.view_type)),
        (None, Some(n)) => what.push(format!("stream {} enabled", n.view_type)),
        (Some(_), None) => what.push("stream disabled".into()),
        (None, None) => {}
    }
    if old.ttl_attribute != new.ttl_attribute {
        what.push(match &new.ttl_attribute {
            Some(a) => format!("TTL on {a}"),
            None => "TTL disabled".into(),
        });
    }
    if old.tags != new.tags {
        what.push("tags".into());
    }
    if declared_policy_changed {
        what.push("resource policy".into());
    }
    if declared_pitr_changed {
        what.push("point-in-time recovery".into());
    }
    if old.throughput != new.throughput {
        what.push(match new.throughput {
            Some((r, w)) => format!("capacity {r}/{w}"),
            None => "PAY_PER_REQUEST".into(),
        });
    }
    if old.deletion_protection != new.deletion_protection {
        what.push(format!("deletion protection {}", new.deletion_protection));
    }
    // A template without TableClass leaves the table's as it is.
    if spec.table_class.is_none() {
        new.table_class.clone_from(&old.table_class);
    }
    if old.table_class != new.table_class {
        what.push("table class".into());
    }
    if what.is_empty() {
        return Ok(None);
    }
    Ok(Some(Step::Update {
        old: old.clone(),
        new,
        created,
        deleted,
        what,
    }))
}

impl Dynamo {
    /// Plans the tables of a revision against the catalog. Changes nothing; refuses, with
    /// every reason and its position, what DynamoDB would refuse.
    pub fn plan_declared(&self, specs: &[&TableSpec]) -> Result<TablePlan, PlanRefusal> {
        let mut refusals = Vec::new();
        let mut steps = Vec::new();
        let mut imported = Vec::new();
        let mut seen: HashMap<&str, &TableSpec> = HashMap::new();
        for spec in specs {
            if let Some(first) = seen.insert(spec.name.as_str(), spec) {
                refusals.push(format!(
                    "{}: {}: table {} is also declared at {} ({})",
                    spec.origin, spec.logical_id, spec.name, first.origin, first.logical_id
                ));
                continue;
            }
            let mut new = match self.parse_create_table(&create_request(spec)) {
                Ok(d) => d,
                Err(e) => {
                    refusals.push(format!(
                        "{}: {}: DynamoDB refuses the table: {} ({})",
                        spec.origin,
                        spec.logical_id,
                        e,
                        e.type_name()
                    ));
                    continue;
                }
            };
            new.ttl_attribute.clone_from(&spec.ttl_attribute);
            new.pitr = spec.pitr_days.map(|recovery_days| super::backup::Pitr {
                enabled_at: super::table::now_secs(),
                recovery_days,
            });
            if let Some(stream) = &mut new.stream {
                meridian_config::sam::DECLARED_STREAM_LABEL.clone_into(&mut stream.label);
            }
            match self.table(&spec.name) {
                // An import of this process is loading it (it may not have created it yet).
                Err(_) if self.jobs.is_importing(&spec.name) => {}
                Err(_) => match &spec.import {
                    Some(import) => steps.push(Step::Import(new, import_request(spec, import))),
                    None => steps.push(Step::Create(new)),
                },
                Ok(old) => {
                    if spec.import.is_some() {
                        imported.push(old.clone());
                    }
                    match diff(&old, new, spec) {
                        Ok(Some(step)) => steps.push(step),
                        Ok(None) => {}
                        Err(r) => refusals.push(r),
                    }
                }
            }
        }
        if refusals.is_empty() {
            Ok(TablePlan { steps, imported })
        } else {
            Err(PlanRefusal(refusals))
        }
    }

    /// Applies a plan in one commit: every table is created or changed, or none is (a table
    /// created or changed through the API since the plan refuses the whole plan). The
    /// tables that imports create are answered, to start with
    /// [`Dynamo::start_declared_imports`] once the buckets they read exist.
    pub async fn apply_declared(&self, plan: TablePlan) -> Result<DeclaredImports, Error> {
        let (imports, steps): (Vec<Step>, Vec<Step>) = plan
            .steps
            .into_iter()
            .partition(|s| matches!(s, Step::Import(..)));
        self.apply_steps(steps).await?;
        Ok(DeclaredImports {
            start: imports
                .into_iter()
                .filter_map(|s| match s {
                    Step::Import(def, request) => Some((def, request)),
                    _ => None,
                })
                .collect(),
            imported: plan.imported,
        })
    }

    /// Starts the imports that create declared tables, acting as `importer`. One that cannot
    /// start is logged, and the next revision tries again. A declared table whose import
    /// failed (or was cut short by a stop) is warned of once: it holds only what the import
    /// wrote, and is imported again only once deleted.
    pub async fn start_declared_imports(
        self: &Arc<Self>,
        imports: DeclaredImports,
        importer: Option<&Arc<Credential>>,
    ) {
        for def in &imports.imported {
            match self.failed_import_of(def).await {
                Ok(Some(failed)) => {
                    let arn = failed["ImportArn"].as_str().unwrap_or_default();
                    if self.jobs.first_warning(arn) {
                        tracing::warn!(
                            table = %def.name,
                            import = %arn,
                            reason = %failed["FailureMessage"].as_str().unwrap_or_default(),
                            "the table's import failed: it holds only the items read before; delete the table to import it again"
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(table = %def.name, error = %e, "cannot read the table's imports")
                }
            }
        }
        for (def, request) in imports.start {
            let name = def.name.clone();
            let Some(cred) = importer else {
                tracing::warn!(table = %name, "not imported: there is no access key to read the bucket with");
                continue;
            };
            match self.import_declared(def, &request, cred).await {
                Ok(arn) => tracing::info!(table = %name, import = %arn, "import started"),
                Err(e) => {
                    tracing::warn!(table = %name, error = %e, "the table's import cannot start");
                }
            }
        }
    }

    async fn apply_steps(&self, mut steps: Vec<Step>) -> Result<(), Error> {
        if steps.is_empty() {
            return Ok(());
        }
        let _changing = self.definitions.lock().await;
        for step in &mut steps {
            if let Step::Update { old, new, .. } = step {
                self.carry_streams(old, new).await?;
            }
        }
        let plan = TablePlan {
            steps,
            imported: Vec::new(),
        };
        let steps = plan.steps.clone();
        self.engine
            .write(move |txn| {
                // Every check before the first write: a refusal leaves the commit as it was.
                for step in &steps {
                    match step {
                        Step::Create(def) => {
                            if let Some(refusal) = table::name_taken(txn, &def.name)? {
                                return Ok(Err(refusal));
                            }
                        }
                        Step::Update { old, .. } => {
                            if !table::still_exists(txn, old)? {
                                return Ok(Err(Error::table_not_found(&old.name)));
                            }
                        }
                        Step::Import(..) => {}
                    }
                }
                for step in &steps {
                    match step {
                        Step::Create(def) => table::write_new_table(txn, def)?,
                        Step::Update {
                            new,
                            created,
                            deleted,
                            ..
                        } => table::write_table_update(txn, new, created, deleted)?,
                        Step::Import(..) => {}
                    }
                }
                Ok(Ok(()))
            })
            .await??;
        for step in plan.steps {
            let def = match step {
                Step::Create(def) | Step::Update { new: def, .. } => def,
                Step::Import(..) => continue,
            };
            self.note_policies(&def);
            self.set_def(Arc::new(def));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use meridian_config::sam::{TemplateOptions, load_template_str};
    use serde_json::json;

    use super::*;
    use crate::engine::Engine;

    const ORDERS: &str = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
%ATTRS%
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
%REST%
"#;

    fn template(attrs: &str, rest: &str) -> Vec<TableSpec> {
        let text = ORDERS.replace("%ATTRS%", attrs).replace("%REST%", rest);
        load_template_str(
            Path::new("template.yaml"),
            &text,
            &TemplateOptions::default(),
        )
        .unwrap_or_else(|d| panic!("{d:#?}"))
        .tables
    }

    async fn open() -> (tempfile::TempDir, Arc<Dynamo>) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("db.redb")).unwrap();
        (dir, Dynamo::open(engine, "us-east-1").unwrap())
    }

    async fn apply(d: &Arc<Dynamo>, specs: &[TableSpec]) -> Vec<String> {
        let refs: Vec<&TableSpec> = specs.iter().collect();
        let plan = d.plan_declared(&refs).unwrap();
        let summary = plan.summary();
        let imports = d.apply_declared(plan).await.unwrap();
        d.start_declared_imports(imports, None).await;
        summary
    }

    #[tokio::test]
    async fn declared_tables_are_created_once_then_changed_live() {
        let (_dir, d) = open().await;
        let first = template("", "");
        assert_eq!(apply(&d, &first).await, vec!["created Orders"]);
        assert!(apply(&d, &first).await.is_empty(), "a second plan is empty");
        d.call(
            "PutItem",
            &json!({"TableName": "Orders", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}, "email": {"S": "x@y"}}}),
        )
        .await
        .unwrap();

        let second = template(
            "        - {AttributeName: email, AttributeType: S}",
            "      GlobalSecondaryIndexes:
        - IndexName: byEmail
          KeySchema: [{AttributeName: email, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      Tags: [{Key: team, Value: shop}]",
        );
        assert_eq!(
            apply(&d, &second).await,
            vec!["Orders: index byEmail added, stream NEW_IMAGE enabled, TTL on expires, tags"]
        );
        // The new index was back-filled with the existing item.
        let q = d
            .call(
                "Query",
                &json!({"TableName": "Orders", "IndexName": "byEmail",
                    "KeyConditionExpression": "email = :e",
                    "ExpressionAttributeValues": {":e": {"S": "x@y"}}}),
            )
            .await
            .unwrap();
        assert_eq!(q["Count"], 1);
        let def = d.table("Orders").unwrap();
        assert_eq!(def.ttl_attribute.as_deref(), Some("expires"));
        assert_eq!(
            def.stream.as_ref().unwrap().label,
            meridian_config::sam::DECLARED_STREAM_LABEL,
            "the stream's ARN is the one !GetAtt Orders.StreamArn gives"
        );
        let label = def.stream.as_ref().unwrap().label.clone();
        assert!(apply(&d, &second).await.is_empty());
        assert_eq!(
            d.table("Orders").unwrap().stream.as_ref().unwrap().label,
            label,
            "an unchanged stream keeps its ARN"
        );
        // Back to the first declaration: the index, stream, TTL and tags go; items stay.
        assert_eq!(
            apply(&d, &first).await,
            vec!["Orders: index byEmail removed, stream disabled, TTL disabled, tags"]
        );
        let got = d
            .call(
                "GetItem",
                &json!({"TableName": "Orders", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}}}),
            )
            .await
            .unwrap();
        assert_eq!(got["Item"]["email"]["S"], "x@y");
    }

    #[tokio::test]
    async fn a_declared_resource_policy_is_attached_and_replaced_by_the_template() {
        let (_dir, d) = open().await;
        let policy = |action: &str| {
            format!(
                "      ResourcePolicy:
        PolicyDocument:
          Version: '2012-10-17'
          Statement:
            - Effect: Deny
              Principal: '*'
              Action: {action}
              Resource: '*'"
            )
        };
        let first = template("", &policy("dynamodb:DeleteItem"));
        assert_eq!(apply(&d, &first).await, vec!["created Orders"]);
        let attached = d.table("Orders").unwrap().policy.clone().expect("a policy");
        let doc: Value = serde_json::from_str(&attached.document).unwrap();
        assert_eq!(doc["Statement"][0]["Action"], "dynamodb:DeleteItem");
        assert!(
            apply(&d, &first).await.is_empty(),
            "the same policy changes nothing"
        );

        let second = template("", &policy("dynamodb:PutItem"));
        assert_eq!(apply(&d, &second).await, vec!["Orders: resource policy"]);
        let replaced = d.table("Orders").unwrap().policy.clone().expect("a policy");
        assert!(replaced.document.contains("dynamodb:PutItem"));
        assert_ne!(replaced.revision, attached.revision);

        // A template that declares none leaves the table's policy as it is.
        assert!(apply(&d, &template("", "")).await.is_empty());
        assert_eq!(d.table("Orders").unwrap().policy.as_ref(), Some(&replaced));

        // A document DynamoDB would refuse refuses the plan.
        let specs = template("", &policy("s3:GetObject"));
        let refs: Vec<&TableSpec> = specs.iter().collect();
        let refusal = d.plan_declared(&refs).expect_err("refused");
        assert!(
            format!("{refusal:?}").contains("Policy has invalid action"),
            "{refusal:?}"
        );
    }

    #[tokio::test]
    async fn declared_point_in_time_recovery_is_enabled_and_one_set_through_the_api_stays() {
        let (_dir, d) = open().await;
        let pitr = |days: u32| {
            format!(
                "      PointInTimeRecoverySpecification:
        PointInTimeRecoveryEnabled: true
        RecoveryPeriodInDays: {days}"
            )
        };
        assert_eq!(
            apply(&d, &template("", &pitr(7))).await,
            vec!["created Orders"]
        );
        let first = d.table("Orders").unwrap().pitr.clone().expect("enabled");
        assert_eq!(first.recovery_days, 7);
        assert!(apply(&d, &template("", &pitr(7))).await.is_empty());
        assert_eq!(
            apply(&d, &template("", &pitr(10))).await,
            vec!["Orders: point-in-time recovery"]
        );
        let changed = d.table("Orders").unwrap().pitr.clone().expect("enabled");
        assert_eq!(
            (changed.recovery_days, changed.enabled_at),
            (10, first.enabled_at)
        );
        // A template that says nothing of it leaves the table's setting.
        assert!(apply(&d, &template("", "")).await.is_empty());
        assert_eq!(d.table("Orders").unwrap().pitr.as_ref(), Some(&changed));
    }

    #[tokio::test]
    async fn a_key_change_is_refused_at_the_key_schema_and_nothing_changes() {
        let (_dir, d) = open().await;
        apply(&d, &template("", "")).await;
        let text = ORDERS.replace("%ATTRS%", "").replace("%REST%", "").replace(
            "{AttributeName: sk, AttributeType: S}",
            "{AttributeName: sk, AttributeType: N}",
        );
        let changed = load_template_str(
            Path::new("template.yaml"),
            &text,
            &TemplateOptions::default(),
        )
        .unwrap()
        .tables;
        let mut both = template("", "");
        both[0].name = "Other".into();
        both.push(changed[0].clone());
        let refs: Vec<&TableSpec> = both.iter().collect();
        let err = d.plan_declared(&refs).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(
            err.0[0].starts_with(
                "template.yaml:13:9: Orders: table Orders exists with key HASH pk (S), RANGE sk (S); the template declares HASH pk (S), RANGE sk (N). A table's key cannot change"
            ),
            "{err}"
        );
        // Refused whole: the other table was not created.
        assert!(d.table("Other").is_err());
    }

    #[tokio::test]
    async fn a_table_made_through_the_api_since_the_plan_refuses_the_whole_plan() {
        let (_dir, d) = open().await;
        let specs = template("", "");
        let mut two = specs.clone();
        two[0].name = "First".into();
        two.push(specs[0].clone());
        let refs: Vec<&TableSpec> = two.iter().collect();
        let plan = d.plan_declared(&refs).unwrap();
        d.call(
            "CreateTable",
            &json!({"TableName": "Orders", "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}),
        )
        .await
        .unwrap();
        let err = d.apply_declared(plan).await.unwrap_err();
        assert_eq!(err.type_name(), "ResourceInUseException");
        assert!(d.table("First").is_err(), "nothing of the plan was written");
    }
}
