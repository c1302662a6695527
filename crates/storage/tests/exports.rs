//! Exports to S3 and imports from S3, with boto3 against the tables and the buckets of one
//! plane: an export writes every item in DynamoDB's layout and an import of it gives the
//! same table back; a CSV import types its key and counts the rows the table refuses; an
//! export reaches the bucket as its caller, so the bucket refuses what the caller may not.

mod harness;

use std::time::Duration;

use harness::{Server, boto3, run_python};
use meridian_storage::keys::{Policy, Statement};

/// The script's prelude: clients of both endpoints, and a wait for a job to end.
fn script(s3: &str, body: &str) -> String {
    format!(
        r#"
import base64, gzip, hashlib, json, os, time
import boto3
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
s3 = boto3.client("s3", endpoint_url="{s3}", region_name="us-east-1")

def wait(describe, field):
    for _ in range(600):
        d = describe()
        if d[field] != "IN_PROGRESS":
            return d
        time.sleep(0.05)
    raise SystemExit("the job did not end")

def wait_export(arn):
    return wait(lambda: ddb.describe_export(ExportArn=arn)["ExportDescription"], "ExportStatus")

def wait_import(arn):
    return wait(lambda: ddb.describe_import(ImportArn=arn)["ImportTableDescription"], "ImportStatus")

def scan_all(name):
    items, start = [], {{}}
    while True:
        page = ddb.scan(TableName=name, **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {{"ExclusiveStartKey": page["LastEvaluatedKey"]}}
{body}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_holds_every_item_and_importing_it_gives_the_table_back() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let s3 = format!("http://{}", buckets.addr);
    let out = run_python(
        &python,
        &server.url(),
        &script(
            &s3,
            r#"
s3.create_bucket(Bucket="exports")
keys = dict(
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
    BillingMode="PAY_PER_REQUEST",
)
ddb.create_table(TableName="src", **keys)
arn = ddb.describe_table(TableName="src")["Table"]["TableArn"]
items = []
for i in range(300):
    items.append({
        "pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)},
        "big": {"N": "1234567890123456789012345678901234567.8"},
        "b": {"B": bytes([i % 256, 0, 255])}, "ss": {"SS": ["a", f"x{i}"]},
        "m": {"M": {"l": {"L": [{"N": "1.5"}, {"NULL": True}, {"BOOL": False}]}}},
        "e": {"S": ""},
    })
for c in range(0, len(items), 25):
    ddb.batch_write_item(RequestItems={"src": [{"PutRequest": {"Item": it}} for it in items[c:c + 25]]})

try:
    ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports")
    raise SystemExit("an export without point-in-time recovery was accepted")
except ddb.exceptions.PointInTimeRecoveryUnavailableException as e:
    assert "Point in time recovery is not enabled for table 'src'" in str(e), e
pitr = ddb.update_continuous_backups(TableName="src",
    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
assert pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="nightly",
    ClientToken="export-1")["ExportDescription"]
assert started["ExportStatus"] == "IN_PROGRESS", started
again = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="nightly",
    ClientToken="export-1")["ExportDescription"]
assert again["ExportArn"] == started["ExportArn"], "a client token starts one export"
try:
    ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="nightly",
        S3SseAlgorithm="KMS", ClientToken="export-1")
    raise SystemExit("a client token was taken for other parameters")
except ddb.exceptions.ExportConflictException:
    pass
d = wait_export(started["ExportArn"])
assert d["ExportStatus"] == "COMPLETED", d
assert d["ItemCount"] == 300 and d["BilledSizeBytes"] > 0, d
assert d["ExportManifest"].startswith("nightly/AWSDynamoDB/"), d

summary = json.loads(s3.get_object(Bucket="exports", Key=d["ExportManifest"])["Body"].read())
assert summary["itemCount"] == 300 and summary["exportArn"] == d["ExportArn"], summary
checksum = s3.get_object(Bucket="exports", Key=d["ExportManifest"].replace(".json", ".checksum"))["Body"].read()
raw = s3.get_object(Bucket="exports", Key=d["ExportManifest"])["Body"].read()
assert checksum.decode() == hashlib.md5(raw).hexdigest()
files = [json.loads(l) for l in s3.get_object(Bucket="exports", Key=summary["manifestFilesS3Key"])["Body"].read().decode().splitlines()]
rows = []
for f in files:
    body = s3.get_object(Bucket="exports", Key=f["dataFileS3Key"])["Body"].read()
    assert base64.b64encode(hashlib.md5(body).digest()).decode() == f["md5Checksum"], f
    lines = gzip.decompress(body).decode().splitlines()
    assert len(lines) == f["itemCount"], f
    rows += [json.loads(l)["Item"] for l in lines]
def wire(item):
    return json.dumps({k: ({"B": base64.b64encode(v["B"]).decode()} if "B" in v else v) for k, v in item.items()}, sort_keys=True)
assert sorted(json.dumps(r, sort_keys=True) for r in rows) == sorted(wire(i) for i in items)
listed = ddb.list_exports(TableArn=arn)["ExportSummaries"]
assert listed == [{"ExportArn": d["ExportArn"], "ExportStatus": "COMPLETED", "ExportType": "FULL_EXPORT"}], listed
# The export's objects are encrypted as it asks.
k = wait_export(ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="kms",
    S3SseAlgorithm="KMS", S3SseKmsKeyId="exports-key")["ExportDescription"]["ExportArn"])
assert k["ExportStatus"] == "COMPLETED" and k["S3SseKmsKeyId"] == "exports-key", k
head = s3.head_object(Bucket="exports", Key=k["ExportManifest"])
assert head["ServerSideEncryption"] == "aws:kms" and "exports-key" in head["SSEKMSKeyId"], head

data = d["ExportManifest"].rsplit("/", 1)[0] + "/data/"
importing = dict(S3BucketSource={"S3Bucket": "exports", "S3KeyPrefix": data},
    InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
    TableCreationParameters=dict(TableName="copy", **keys), ClientToken="import-1")
imp = ddb.import_table(**importing)["ImportTableDescription"]
assert imp["TableArn"].endswith(":table/copy"), imp
done = wait_import(imp["ImportArn"])
# The same request again (an SDK's retry) answers the same import, though its table exists now.
assert ddb.import_table(**importing)["ImportTableDescription"]["ImportArn"] == imp["ImportArn"]
try:
    ddb.import_table(**dict(importing, InputCompressionType="NONE"))
    raise SystemExit("a client token was taken for other parameters")
except ddb.exceptions.ImportConflictException:
    pass
assert done["ImportStatus"] == "COMPLETED", done
assert (done["ProcessedItemCount"], done["ImportedItemCount"], done["ErrorCount"]) == (300, 300, 0), done
key = lambda i: (i["pk"]["S"], int(i["sk"]["N"]))
assert sorted(scan_all("copy"), key=key) == sorted(scan_all("src"), key=key)
assert ddb.list_imports(TableArn=imp["TableArn"])["ImportSummaryList"][0]["ImportStatus"] == "COMPLETED"

try:
    ddb.import_table(S3BucketSource={"S3Bucket": "exports"}, InputFormat="DYNAMODB_JSON",
        TableCreationParameters=dict(TableName="copy", **keys))
    raise SystemExit("an import into an existing table was accepted")
except ddb.exceptions.ResourceInUseException:
    pass
print("ok")
"#,
        ),
    )
    .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_csv_import_types_its_key_and_counts_the_rows_the_table_refuses() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let s3 = format!("http://{}", buckets.addr);
    let out = run_python(
        &python,
        &server.url(),
        &script(
            &s3,
            r#"
s3.create_bucket(Bucket="incoming")
s3.put_object(Bucket="incoming", Key="users/a.csv", Body=b"id,name,age\n1,Ada,36\n2,,\nnot-a-number,Bo,3\n")
s3.put_object(Bucket="incoming", Key="users/b.csv", Body=b"id,name,age\n4,Cy,40\n")
# A key with spaces at its ends, a plus and a letter beyond ASCII is listed and read as it is.
s3.put_object(Bucket="incoming", Key="users/ c+d é.csv ", Body=b"id,name,age\n5,Di,50\n")
s3.put_object(Bucket="incoming", Key="other/c.csv", Body=b"id,name\n9,Zed\n")
imp = ddb.import_table(S3BucketSource={"S3Bucket": "incoming", "S3KeyPrefix": "users/"},
    InputFormat="CSV", InputCompressionType="NONE",
    TableCreationParameters={"TableName": "users", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}]})["ImportTableDescription"]
d = wait_import(imp["ImportArn"])
assert d["ImportStatus"] == "FAILED" and d["FailureCode"] == "ItemValidationError", d
assert (d["ProcessedItemCount"], d["ImportedItemCount"], d["ErrorCount"]) == (5, 4, 1), d
items = {i["id"]["N"]: i for i in scan_all("users")}
assert items == {
    "1": {"id": {"N": "1"}, "name": {"S": "Ada"}, "age": {"S": "36"}},
    "2": {"id": {"N": "2"}},
    "4": {"id": {"N": "4"}, "name": {"S": "Cy"}, "age": {"S": "40"}},
    "5": {"id": {"N": "5"}, "name": {"S": "Di"}, "age": {"S": "50"}},
}, items

missing = ddb.import_table(S3BucketSource={"S3Bucket": "no-such-bucket"}, InputFormat="CSV",
    TableCreationParameters={"TableName": "never", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})["ImportTableDescription"]
d = wait_import(missing["ImportArn"])
assert d["ImportStatus"] == "FAILED" and d["FailureCode"] == "S3NoSuchBucket", d
assert "never" not in ddb.list_tables()["TableNames"]
# A source bucket of another owner than the one named is refused by S3.
other = ddb.import_table(S3BucketSource={"S3Bucket": "incoming", "S3KeyPrefix": "users/", "S3BucketOwner": "111122223333"},
    InputFormat="CSV",
    TableCreationParameters={"TableName": "users2", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}]})["ImportTableDescription"]
d = wait_import(other["ImportArn"])
assert d["ImportStatus"] == "FAILED" and d["FailureCode"] == "S3AccessDenied", d
assert "users2" not in ddb.list_tables()["TableNames"]
try:
    ddb.describe_import(ImportArn=missing["ImportArn"] + "x")
    raise SystemExit("an unknown import was described")
except ddb.exceptions.ImportNotFoundException:
    pass
print("ok")
"#,
        ),
    )
    .await;
    assert_eq!(out.trim(), "ok");
}

/// A caller allowed to export the table but not to write the bucket gets an export that
/// fails with S3's refusal; once its policy allows the bucket's writes, the export
/// completes.
#[tokio::test(flavor = "multi_thread")]
async fn an_export_writes_to_the_bucket_as_its_caller() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let s3 = format!("http://{}", buckets.addr);
    let hour = Duration::from_secs(3600);
    let tables = Statement::allow(&["dynamodb:*"], &["*"]);
    let tables_only = server.keys.issue_session(
        "Exporter",
        Policy {
            statements: vec![tables.clone()],
        },
        hour,
    );
    let with_bucket = server.keys.issue_session(
        "Exporter",
        Policy {
            statements: vec![
                tables,
                Statement::allow(&["s3:PutObject"], &["arn:aws:s3:::exports/*"]),
            ],
        },
        hour,
    );
    let creds = |c: &meridian_storage::keys::Credential| {
        format!(
            "dict(aws_access_key_id={:?}, aws_secret_access_key={:?}, aws_session_token={:?})",
            c.access_key_id,
            c.secret_access_key,
            c.session_token.clone().unwrap_or_default()
        )
    };
    let body = r#"
s3.create_bucket(Bucket="exports")
ddb.create_table(TableName="tbl", BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
ddb.put_item(TableName="tbl", Item={"k": {"S": "one"}})
ddb.update_continuous_backups(TableName="tbl", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
arn = ddb.describe_table(TableName="tbl")["Table"]["TableArn"]
outcomes = []
for creds in [TABLES_ONLY, WITH_BUCKET]:
    role = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1", **creds)
    started = role.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports")["ExportDescription"]
    d = wait(lambda: role.describe_export(ExportArn=started["ExportArn"])["ExportDescription"], "ExportStatus")
    outcomes.append((d["ExportStatus"], d.get("FailureCode"), d.get("ItemCount")))
print(json.dumps(outcomes))
"#
    .replace("TABLES_ONLY", &creds(&tables_only))
    .replace("WITH_BUCKET", &creds(&with_bucket));
    let out = run_python(&python, &server.url(), &script(&s3, &body)).await;
    let outcomes: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(
        outcomes,
        serde_json::json!([["FAILED", "S3AccessDenied", null], ["COMPLETED", null, 1]])
    );
}

/// Export and import descriptions are durable: after `kill -9` an export that completed is
/// still described with its counts, and an import the kill cut short is reported FAILED
/// (never left IN_PROGRESS), its table holding what it had written.
#[tokio::test(flavor = "multi_thread")]
async fn descriptions_outlive_a_kill_9_and_a_cut_import_is_failed() {
    let Some(python) = boto3() else { return };
    let state = tempfile::tempdir().expect("tempdir");
    let first = harness::Process::start(state.path());
    let s3 = first
        .buckets
        .clone()
        .expect("meridian-tables names its buckets endpoint");
    let out = run_python(
        &python,
        &first.url,
        &script(
            &s3,
            r#"
s3.create_bucket(Bucket="exports")
keys = dict(BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
ddb.create_table(TableName="src", **keys)
for c in range(0, 3000, 25):
    ddb.batch_write_item(RequestItems={"src": [{"PutRequest": {"Item": {"k": {"S": f"k{i}"}, "v": {"S": "x" * 200}}}} for i in range(c, c + 25)]})
ddb.update_continuous_backups(TableName="src", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
arn = ddb.describe_table(TableName="src")["Table"]["TableArn"]
d = wait_export(ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports")["ExportDescription"]["ExportArn"])
assert d["ExportStatus"] == "COMPLETED" and d["ItemCount"] == 3000, d
imp = ddb.import_table(S3BucketSource={"S3Bucket": "exports", "S3KeyPrefix": d["ExportManifest"].rsplit("/", 1)[0] + "/data/"},
    InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
    TableCreationParameters=dict(TableName="copy", **keys))["ImportTableDescription"]
print(json.dumps([d["ExportArn"], imp["ImportArn"]]))
"#,
        ),
    )
    .await;
    let arns: Vec<String> = serde_json::from_str(out.trim()).expect("json");
    first.kill9();
    let second = harness::Process::start(state.path());
    let s3 = second.buckets.clone().expect("buckets");
    let out = run_python(
        &python,
        &second.url,
        &script(
            &s3,
            &format!(
                r#"
e = ddb.describe_export(ExportArn={export:?})["ExportDescription"]
assert e["ExportStatus"] == "COMPLETED" and e["ItemCount"] == 3000, e
assert json.loads(s3.get_object(Bucket="exports", Key=e["ExportManifest"])["Body"].read())["itemCount"] == 3000
i = ddb.describe_import(ImportArn={import_:?})["ImportTableDescription"]
copied = len(scan_all("copy")) if "copy" in ddb.list_tables()["TableNames"] else 0
if i["ImportStatus"] == "COMPLETED":
    assert i["ImportedItemCount"] == 3000 and copied == 3000, (i, copied)
else:
    assert i["ImportStatus"] == "FAILED", i
    assert i["FailureMessage"] == "Meridian stopped while this job ran; request it again", i
    assert copied <= 3000
print(i["ImportStatus"], copied)
"#,
                export = arns[0],
                import_ = arns[1]
            ),
        ),
    )
    .await;
    assert!(
        out.starts_with("COMPLETED") || out.starts_with("FAILED"),
        "{out}"
    );
    println!("the import after the restart: {}", out.trim());
}

/// A template's table with an `ImportSourceSpecification` is created by an import of the
/// bucket, as CloudFormation creates it: with the template's stream and TTL, once, and
/// never imported into again. One whose bucket is missing is not created, and the next
/// revision tries again.
#[tokio::test(flavor = "multi_thread")]
async fn a_declared_import_source_creates_and_loads_the_table_once() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let s3 = format!("http://{}", buckets.addr);
    run_python(
        &python,
        &server.url(),
        &script(
            &s3,
            r#"
s3.create_bucket(Bucket="seed")
rows = "".join(f"u{i};name {i};{i * 10}\n" for i in range(40))
s3.put_object(Bucket="seed", Key="users/part-1.csv.gz", Body=gzip.compress(rows.encode()))
s3.put_object(Bucket="seed", Key="other/ignored.csv.gz", Body=gzip.compress(b"x;y;z\n"))
"#,
        ),
    )
    .await;
    let template = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Users:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Users
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      ImportSourceSpecification:
        S3BucketSource: {S3Bucket: seed, S3KeyPrefix: users/}
        InputFormat: CSV
        InputCompressionType: GZIP
        InputFormatOptions: {Csv: {Delimiter: ";", HeaderList: [id, name, score]}}
  Ghost:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Ghost
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ImportSourceSpecification:
        S3BucketSource: {S3Bucket: no-such-bucket}
        InputFormat: DYNAMODB_JSON
"#;
    let t = meridian_config::sam::load_template_str(
        &server.dir.path().join("template.yaml"),
        template,
        &meridian_config::sam::TemplateOptions::default(),
    )
    .expect("the template loads");
    let specs: Vec<_> = t.tables.iter().collect();
    let operator = server.keys.lookup(harness::ACCESS_KEY).expect("the key");
    let d = server.dynamo.clone();

    let plan = d.plan_declared(&specs).expect("plans");
    assert_eq!(
        plan.summary(),
        vec![
            "importing Users from s3://seed/users/",
            "importing Ghost from s3://no-such-bucket/"
        ]
    );
    let imports = d.apply_declared(plan).await.expect("applies");
    d.start_declared_imports(imports, Some(&operator)).await;

    // Every import listed once it ended, by table name.
    let ended = |n: usize| {
        let (python, url, s3) = (python.clone(), server.url(), s3.clone());
        async move {
            let body = format!(
                r#"
for _ in range(600):
    jobs = ddb.list_imports()["ImportSummaryList"]
    if len(jobs) == {n} and all(j["ImportStatus"] != "IN_PROGRESS" for j in jobs):
        break
    time.sleep(0.05)
print(json.dumps(sorted([j["TableArn"].rsplit("/", 1)[1], j["ImportStatus"]] for j in jobs)))
"#
            );
            let out = run_python(&python, &url, &script(&s3, &body)).await;
            serde_json::from_str::<serde_json::Value>(out.trim()).expect("the statuses")
        }
    };
    assert_eq!(
        ended(2).await,
        serde_json::json!([["Ghost", "FAILED"], ["Users", "COMPLETED"]])
    );

    let users = d.table("Users").expect("the import created Users");
    assert_eq!(users.ttl_attribute.as_deref(), Some("expires"));
    assert_eq!(
        users.stream.as_ref().map(|s| s.view_type.as_str()),
        Some("NEW_IMAGE")
    );
    let item = d
        .call(
            "GetItem",
            &serde_json::json!({"TableName": "Users", "Key": {"id": {"S": "u7"}}}),
        )
        .await
        .expect("GetItem");
    assert_eq!(
        item["Item"],
        serde_json::json!({"id": {"S": "u7"}, "name": {"S": "name 7"}, "score": {"S": "70"}})
    );
    let (count, _, _) = d.counts(&users).await.expect("counts");
    assert_eq!(count, 40, "only the objects under the prefix are read");
    assert!(
        d.table("Ghost").is_err(),
        "a failed import creates no table"
    );

    // The next revision leaves Users to what it holds and tries Ghost again.
    d.call(
        "DeleteItem",
        &serde_json::json!({"TableName": "Users", "Key": {"id": {"S": "u0"}}}),
    )
    .await
    .expect("DeleteItem");
    let again = d.plan_declared(&specs).expect("plans");
    assert_eq!(
        again.summary(),
        vec!["importing Ghost from s3://no-such-bucket/"]
    );
    let imports = d.apply_declared(again).await.expect("applies");
    d.start_declared_imports(imports, Some(&operator)).await;
    assert_eq!(
        ended(3).await,
        serde_json::json!([
            ["Ghost", "FAILED"],
            ["Ghost", "FAILED"],
            ["Users", "COMPLETED"]
        ])
    );
    let (count, _, _) = d.counts(&users).await.expect("counts");
    assert_eq!(count, 39, "Users was not imported into again");
}

/// ION, checked with Amazon's own Ion library (`amazon.ion`): an ION export is Ion that
/// `simpleion` reads back into the table's items, sets annotated as DynamoDB's export
/// annotates them, and Ion that `simpleion` writes imports into the same items.
#[tokio::test(flavor = "multi_thread")]
async fn ion_exports_and_imports_are_the_ion_amazons_library_reads_and_writes() {
    let Some(python) = boto3() else { return };
    let has_ion = std::process::Command::new(&python)
        .args(["-c", "import amazon.ion.simpleion"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_ion {
        harness::missing("amazon.ion is not importable (.ci/install-test-deps installs it)");
        return;
    }
    let (server, buckets) = Server::start_with_buckets().await;
    let s3 = format!("http://{}", buckets.addr);
    let out = run_python(
        &python,
        &server.url(),
        &script(
            &s3,
            r#"
from decimal import Decimal
from amazon.ion import simpleion
from amazon.ion.core import IonType
from amazon.ion.simple_types import IonPyList

s3.create_bucket(Bucket="ion")
keys = dict(KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
ddb.create_table(TableName="src", **keys)
items = [
    {"id": {"S": f"i{i}"}, "n": {"N": str(i * 7)}, "d": {"N": "-12.5"}, "big": {"N": "1E+100"},
     "b": {"B": bytes([i, 0, 255])}, "t": {"BOOL": i % 2 == 0}, "z": {"NULL": True},
     "s": {"S": "quote \" back \\ é\n"}, "l": {"L": [{"S": "x"}, {"M": {"k": {"N": "1"}}}]},
     "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x01", b"\x02"]},
     "odd name": {"S": "x"}}
    for i in range(30)
]
for it in items:
    ddb.put_item(TableName="src", Item=it)
ddb.update_continuous_backups(TableName="src", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
arn = ddb.describe_table(TableName="src")["Table"]["TableArn"]
d = wait_export(ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="ion", S3Prefix="out",
    ExportFormat="ION")["ExportDescription"]["ExportArn"])
assert d["ExportStatus"] == "COMPLETED" and d["ExportFormat"] == "ION" and d["ItemCount"] == 30, d
summary = json.loads(s3.get_object(Bucket="ion", Key=d["ExportManifest"])["Body"].read())
assert summary["outputFormat"] == "ION", summary
files = [json.loads(l) for l in s3.get_object(Bucket="ion", Key=summary["manifestFilesS3Key"])["Body"].read().decode().splitlines()]
values = []
for f in files:
    assert f["dataFileS3Key"].endswith(".ion.gz"), f
    text = gzip.decompress(s3.get_object(Bucket="ion", Key=f["dataFileS3Key"])["Body"].read())
    values += list(simpleion.loads(text, single_value=False))
assert len(values) == 30, len(values)
got = {v["Item"]["id"]: v["Item"] for v in values}
one = got["i3"]
assert one["n"] == Decimal(21) and one["d"] == Decimal("-12.5") and one["big"] == Decimal("1E100"), one
assert bytes(one["b"]) == bytes([3, 0, 255]), one
assert one["t"] == False and got["i4"]["t"] == True, (one, got["i4"])
assert one["z"] is None or one["z"].ion_type == IonType.NULL, one
assert one["s"] == "quote \" back \\ é\n" and one["odd name"] == "x", one
assert one["l"][0] == "x" and one["l"][1]["k"] == Decimal(1), one
assert one["ss"].ion_annotations[0].text == "$dynamodb_SS" and sorted(one["ss"]) == ["a", "b"], one
assert one["ns"].ion_annotations[0].text == "$dynamodb_NS" and sorted(one["ns"]) == [Decimal(1), Decimal("2.5")], one
assert one["bs"].ion_annotations[0].text == "$dynamodb_BS" and sorted(bytes(x) for x in one["bs"]) == [b"\x01", b"\x02"], one

# Ion written by Amazon's library, as text and as a stream of values, imports as items.
def annotated(kind, members):
    return IonPyList.from_value(IonType.LIST, members, annotations=(f"$dynamodb_{kind}",))
written = [
    {"Item": {"id": f"w{i}", "n": i, "d": Decimal("0.125"), "f": 2.5, "b": b"\x00\x01",
              "m": {"nested": [True, None, "s"]}, "ss": annotated("SS", ["p", "q"]),
              "ns": annotated("NS", [Decimal(1), 2])}}
    for i in range(20)
]
s3.put_object(Bucket="ion", Key="in/part-1.ion.gz",
    Body=gzip.compress(simpleion.dumps(written, sequence_as_stream=True, binary=False).encode()))
imp = wait_import(ddb.import_table(S3BucketSource={"S3Bucket": "ion", "S3KeyPrefix": "in/"},
    InputFormat="ION", InputCompressionType="GZIP",
    TableCreationParameters=dict(TableName="from-ion", **keys))["ImportTableDescription"]["ImportArn"])
assert imp["ImportStatus"] == "COMPLETED" and imp["ImportedItemCount"] == 20, imp
item = ddb.get_item(TableName="from-ion", Key={"id": {"S": "w4"}})["Item"]
assert item["n"] == {"N": "4"} and item["d"] == {"N": "0.125"} and item["b"] == {"B": b"\x00\x01"}, item
assert float(item["f"]["N"]) == 2.5, item
assert item["m"] == {"M": {"nested": {"L": [{"BOOL": True}, {"NULL": True}, {"S": "s"}]}}}, item
assert sorted(item["ss"]["SS"]) == ["p", "q"] and sorted(item["ns"]["NS"]) == ["1", "2"], item

# The export imports back into the same table.
back = wait_import(ddb.import_table(S3BucketSource={"S3Bucket": "ion", "S3KeyPrefix": d["ExportManifest"].rsplit("/", 1)[0] + "/data/"},
    InputFormat="ION", InputCompressionType="GZIP",
    TableCreationParameters=dict(TableName="round-trip", **keys))["ImportTableDescription"]["ImportArn"])
assert back["ImportStatus"] == "COMPLETED" and back["ImportedItemCount"] == 30, back
assert sorted(json.dumps(i, sort_keys=True, default=str) for i in scan_all("round-trip")) == \
    sorted(json.dumps(i, sort_keys=True, default=str) for i in scan_all("src"))
print("ok")
"#,
        ),
    )
    .await;
    assert_eq!(out.trim(), "ok");
}

/// While an import loads its table, DescribeTable says CREATING, as DynamoDB does: the
/// table is ACTIVE only once the import has ended, so a waiter for it waits for its items.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_being_imported_is_creating_until_the_import_ends() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let s3 = format!("http://{}", buckets.addr);
    let out = run_python(
        &python,
        &server.url(),
        &script(
            &s3,
            r#"
s3.create_bucket(Bucket="big")
rows = "".join(json.dumps({"Item": {"id": {"S": f"k{i}"}, "v": {"S": "x" * 100}}}) + "\n" for i in range(20000))
s3.put_object(Bucket="big", Key="all.json.gz", Body=gzip.compress(rows.encode()))
arn = ddb.import_table(S3BucketSource={"S3Bucket": "big"}, InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
    TableCreationParameters={"TableName": "big", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})["ImportTableDescription"]["ImportArn"]
seen = []
for _ in range(3000):
    try:
        status = ddb.describe_table(TableName="big")["Table"]["TableStatus"]
    except ddb.exceptions.ResourceNotFoundException:
        status = "none yet"
    job = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]["ImportStatus"]
    seen.append(status)
    if status == "ACTIVE":
        # ACTIVE comes only after the import's end is recorded.
        assert job == "COMPLETED", (status, job)
        break
    time.sleep(0.01)
assert seen[-1] == "ACTIVE" and "CREATING" in seen, seen[:5] + seen[-5:]
assert ddb.describe_table(TableName="big")["Table"]["ItemCount"] == 20000
print("ok")
"#,
        ),
    )
    .await;
    assert_eq!(out.trim(), "ok");
}
