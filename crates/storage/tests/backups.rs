//! On-demand backups and restores with boto3: a backup keeps the table as it was when taken
//! (later writes do not reach it, deleting the table does not remove it), a restore makes a
//! new table with those items and working indexes, a restore to a point in time copies a
//! table's present, and the refusals are DynamoDB's. A backup outlives a `kill -9`.

mod harness;

use harness::{Process, Server, boto3, run_python};

const PRELUDE: &str = r#"
import json, os
import boto3
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")

def scan_all(name, **kw):
    items, start = [], {}
    while True:
        page = ddb.scan(TableName=name, **kw, **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

def keys(name, **kw):
    return sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in scan_all(name, **kw))

def refused(code, call, **kw):
    try:
        call(**kw)
    except ddb.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
        return e.response["Error"]["Message"]
    raise SystemExit(f"{call.__name__} was not refused with {code}")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_keeps_the_table_as_it_was_and_a_restore_brings_it_back_with_its_indexes() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                          {"AttributeName": "owner", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    GlobalSecondaryIndexes=[{"IndexName": "byOwner", "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                             "Projection": {"ProjectionType": "ALL"}}],
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    Tags=[{"Key": "team", "Value": "shop"}])
for c in range(0, 500, 25):
    ddb.batch_write_item(RequestItems={"orders": [{"PutRequest": {"Item": dict(
        {"pk": {"S": f"p{i % 9}"}, "sk": {"N": str(i)}, "total": {"N": str(i * 3)}},
        **({"owner": {"S": f"o{i % 4}"}} if i % 2 == 0 else {}))}} for i in range(c, c + 25)]})
before = keys("orders")
backup = ddb.create_backup(TableName="orders", BackupName="nightly-1")["BackupDetails"]
assert backup["BackupStatus"] == "AVAILABLE" and backup["BackupType"] == "USER", backup
assert backup["BackupSizeBytes"] > 0, backup
import re
assert re.fullmatch(r"arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/[0-9]{14}-[0-9a-f]{8}", backup["BackupArn"]), backup

# Later writes do not reach the backup.
for i in range(10):
    ddb.delete_item(TableName="orders", Key={"pk": {"S": f"p{i % 9}"}, "sk": {"N": str(i)}})
ddb.put_item(TableName="orders", Item={"pk": {"S": "late"}, "sk": {"N": "1"}})
assert keys("orders") != before

d = ddb.describe_backup(BackupArn=backup["BackupArn"])["BackupDescription"]
assert d["SourceTableDetails"]["ItemCount"] == 500, d
assert d["SourceTableDetails"]["TableName"] == "orders", d
assert d["SourceTableFeatureDetails"]["GlobalSecondaryIndexes"][0]["IndexName"] == "byOwner", d
listed = ddb.list_backups(TableName="orders")["BackupSummaries"]
assert [b["BackupArn"] for b in listed] == [backup["BackupArn"]], listed
# TimeRangeLowerBound is inclusive, TimeRangeUpperBound exclusive.
at = listed[0]["BackupCreationDateTime"]
assert len(ddb.list_backups(TimeRangeLowerBound=at)["BackupSummaries"]) == 1
assert ddb.list_backups(TimeRangeUpperBound=at)["BackupSummaries"] == []

restored = ddb.restore_table_from_backup(TargetTableName="orders-restored", BackupArn=backup["BackupArn"])["TableDescription"]
assert restored["RestoreSummary"]["SourceBackupArn"] == backup["BackupArn"], restored
assert restored["ItemCount"] == 500, restored
assert restored["TableSizeBytes"] == d["SourceTableDetails"]["TableSizeBytes"] > 0, (restored, d)
ddb.get_waiter("table_exists").wait(TableName="orders-restored")
assert keys("orders-restored") == before
# The index is built: every even order has an owner.
owned = ddb.query(TableName="orders-restored", IndexName="byOwner",
    KeyConditionExpression="#o = :o", ExpressionAttributeNames={"#o": "owner"},
    ExpressionAttributeValues={":o": {"S": "o2"}})["Items"]
assert len(owned) == 125, len(owned)
t = ddb.describe_table(TableName="orders-restored")["Table"]
assert "StreamSpecification" not in t, t
assert ddb.list_tags_of_resource(ResourceArn=t["TableArn"])["Tags"] == []

refused("TableAlreadyExistsException", ddb.restore_table_from_backup,
    TargetTableName="orders-restored", BackupArn=backup["BackupArn"])
# An override that leaves the index out leaves its attribute's definition out too.
bare = ddb.restore_table_from_backup(TargetTableName="orders-bare", BackupArn=backup["BackupArn"],
    GlobalSecondaryIndexOverride=[])["TableDescription"]
assert "GlobalSecondaryIndexes" not in bare, bare
assert [a["AttributeName"] for a in bare["AttributeDefinitions"]] == ["pk", "sk"], bare
assert keys("orders-bare") == before
refused("BackupNotFoundException", ddb.describe_backup, BackupArn=backup["BackupArn"] + "0")

# A backup outlives its table, and a restore may change the billing.
ddb.delete_table(TableName="orders")
again = ddb.restore_table_from_backup(TargetTableName="orders", BackupArn=backup["BackupArn"],
    BillingModeOverride="PROVISIONED",
    ProvisionedThroughputOverride={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})["TableDescription"]
assert again["ProvisionedThroughput"]["ReadCapacityUnits"] == 5, again
assert keys("orders") == before
gone = ddb.delete_backup(BackupArn=backup["BackupArn"])["BackupDescription"]
assert gone["BackupDetails"]["BackupStatus"] == "DELETED", gone
refused("BackupNotFoundException", ddb.describe_backup, BackupArn=backup["BackupArn"])
assert ddb.list_backups()["BackupSummaries"] == []

# Point in time: the table's present, under point-in-time recovery only.
refused("PointInTimeRecoveryUnavailableException", ddb.restore_table_to_point_in_time,
    SourceTableName="orders", TargetTableName="orders-pitr", UseLatestRestorableTime=True)
ddb.update_continuous_backups(TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
import datetime
refused("InvalidRestoreTimeException", ddb.restore_table_to_point_in_time,
    SourceTableName="orders", TargetTableName="orders-pitr",
    RestoreDateTime=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
ddb.put_item(TableName="orders", Item={"pk": {"S": "now"}, "sk": {"N": "2"}})
pitr = ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders-pitr",
    UseLatestRestorableTime=True)["TableDescription"]
assert pitr["RestoreSummary"]["SourceTableArn"].endswith(":table/orders"), pitr
assert keys("orders-pitr") == keys("orders")
print("ok")
"##
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_outlives_a_kill_9() {
    let Some(python) = boto3() else { return };
    let state = tempfile::tempdir().expect("tempdir");
    let first = Process::start(state.path());
    let out = run_python(
        &python,
        &first.url,
        &format!(
            "{PRELUDE}{}",
            r#"
ddb.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
for c in range(0, 3000, 25):
    ddb.batch_write_item(RequestItems={"ledger": [{"PutRequest": {"Item":
        {"pk": {"S": f"a{i % 13}"}, "sk": {"N": str(i)}}}} for i in range(c, c + 25)]})
print(ddb.create_backup(TableName="ledger", BackupName="before-crash")["BackupDetails"]["BackupArn"])
"#
        ),
    )
    .await;
    let arn = out.trim().to_owned();
    first.kill9();
    let second = Process::start(state.path());
    let out = run_python(
        &python,
        &second.url,
        &format!(
            "{PRELUDE}
ddb.delete_table(TableName=\"ledger\")
ddb.restore_table_from_backup(TargetTableName=\"ledger\", BackupArn={arn:?})
k = keys(\"ledger\")
assert k == sorted((f\"a{{i % 13}}\", i) for i in range(3000)), len(k)
print(\"ok\")
"
        ),
    )
    .await;
    assert_eq!(out.trim(), "ok");
}

/// What a crash leaves of a backup or a restore (an engine table of items no table or
/// backup record names) is removed at start; a table's items and a backup's items are not.
#[tokio::test(flavor = "multi_thread")]
async fn what_a_cut_short_backup_or_restore_left_is_swept_and_nothing_else() {
    use redb::TableDefinition;
    let server = Server::start().await;
    let url = server.url();
    let table = serde_json::json!({
        "TableName": "live", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]
    });
    let (status, _, body) = harness::call(&url, "CreateTable", &table.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let item = r#"{"TableName":"live","Item":{"k":{"S":"kept"}}}"#;
    let (status, _, body) = harness::call(&url, "PutItem", item).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = harness::call(
        &url,
        "CreateBackup",
        r#"{"TableName":"live","BackupName":"kept-backup"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let backup = body["BackupDetails"]["BackupArn"]
        .as_str()
        .expect("arn")
        .to_owned();
    // A restore and a backup that a crash cut short.
    let orphans = [
        "dynamo/items/0123456789abcdef",
        "dynamo/backup/01796690000000-0badf00d",
    ];
    server
        .engine
        .write(move |txn| {
            for name in orphans {
                txn.open_table(TableDefinition::<&[u8], &[u8]>::new(name))?
                    .insert(b"key".as_slice(), b"value".as_slice())?;
            }
            Ok(Ok::<(), ()>(()))
        })
        .await
        .expect("engine")
        .expect("write");
    assert_eq!(server.dynamo.sweep_unnamed().await.expect("sweep"), 2);
    assert_eq!(server.dynamo.sweep_unnamed().await.expect("sweep"), 0);
    let left = server
        .engine
        .read(move |txn| {
            Ok(orphans
                .iter()
                .filter(|n| {
                    txn.open_table(TableDefinition::<&[u8], &[u8]>::new(n))
                        .is_ok()
                })
                .count())
        })
        .await
        .expect("engine");
    assert_eq!(left, 0, "the unnamed tables are gone");
    let (status, _, body) = harness::call(
        &url,
        "GetItem",
        r#"{"TableName":"live","Key":{"k":{"S":"kept"}}}"#,
    )
    .await;
    assert_eq!(
        (status, &body["Item"]["k"]["S"]),
        (200, &serde_json::json!("kept"))
    );
    let restore = serde_json::json!({"TargetTableName": "restored", "BackupArn": backup});
    let (status, _, body) =
        harness::call(&url, "RestoreTableFromBackup", &restore.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["TableDescription"]["ItemCount"], 1, "{body}");
}
