"""Times an export to S3, an import from S3, a backup and a restore against a DynamoDB
endpoint and its S3.

Usage: transfer.py DYNAMODB_URL S3_URL ITEMS

Loads ITEMS items of about 200 bytes (BatchWriteItem, not timed), enables point-in-time
recovery, then times ExportTableToPointInTime from the request to COMPLETED, and
ImportTable of the same items (one gzip'd DynamoDB JSON object uploaded beforehand) from the
request to COMPLETED, then CreateBackup (to AVAILABLE) and RestoreTableFromBackup (to the
table ACTIVE), checking each job's item count. Prints one JSON line.
"""

import gzip
import json
import sys
import time

import boto3

ddb_url, s3_url, items = sys.argv[1], sys.argv[2], int(sys.argv[3])
creds = dict(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="benchsecret")
ddb = boto3.client("dynamodb", endpoint_url=ddb_url, **creds)
s3 = boto3.client("s3", endpoint_url=s3_url, **creds)

keys = dict(
    BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
)
s3.create_bucket(Bucket="transfer-bench")
ddb.create_table(TableName="source", **keys)


def item(i):
    return {"pk": {"S": f"item-{i:08d}"}, "n": {"N": str(i)}, "body": {"S": "x" * 160}}


for c in range(0, items, 25):
    ddb.batch_write_item(
        RequestItems={"source": [{"PutRequest": {"Item": item(i)}} for i in range(c, min(c + 25, items))]}
    )
ddb.update_continuous_backups(
    TableName="source", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
)
arn = ddb.describe_table(TableName="source")["Table"]["TableArn"]


def wait(describe, field):
    while True:
        d = describe()
        if d[field] != "IN_PROGRESS":
            return d
        time.sleep(0.02)


t0 = time.monotonic()
e = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="transfer-bench", S3Prefix="export")
d = wait(lambda: ddb.describe_export(ExportArn=e["ExportDescription"]["ExportArn"])["ExportDescription"], "ExportStatus")
export_s = time.monotonic() - t0
assert d["ExportStatus"] == "COMPLETED", d
assert d.get("ItemCount", items) == items, d

data = "".join(json.dumps({"Item": item(i)}) + "\n" for i in range(items)).encode()
s3.put_object(Bucket="transfer-bench", Key="import/items.json.gz", Body=gzip.compress(data, 6))
t0 = time.monotonic()
i = ddb.import_table(
    S3BucketSource={"S3Bucket": "transfer-bench", "S3KeyPrefix": "import/"},
    InputFormat="DYNAMODB_JSON",
    InputCompressionType="GZIP",
    TableCreationParameters=dict(TableName="copy", **keys),
)
d = wait(lambda: ddb.describe_import(ImportArn=i["ImportTableDescription"]["ImportArn"])["ImportTableDescription"], "ImportStatus")
import_s = time.monotonic() - t0
assert d["ImportStatus"] == "COMPLETED", d
assert d["ImportedItemCount"] == items, d


def count(name):
    n, start = 0, {}
    while True:
        page = ddb.scan(TableName=name, Select="COUNT", **start)
        n += page["Count"]
        if "LastEvaluatedKey" not in page:
            return n
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


t0 = time.monotonic()
b = ddb.create_backup(TableName="source", BackupName="bench")["BackupDetails"]
if b["BackupStatus"] != "AVAILABLE":
    wait(lambda: ddb.describe_backup(BackupArn=b["BackupArn"])["BackupDescription"]["BackupDetails"], "BackupStatus")
backup_s = time.monotonic() - t0
t0 = time.monotonic()
ddb.restore_table_from_backup(TargetTableName="restored", BackupArn=b["BackupArn"])
while ddb.describe_table(TableName="restored")["Table"]["TableStatus"] != "ACTIVE":
    time.sleep(0.02)
restore_s = time.monotonic() - t0
assert count("restored") == items
print(json.dumps({"items": items, "export_s": round(export_s, 3), "import_s": round(import_s, 3),
                  "backup_s": round(backup_s, 3), "restore_s": round(restore_s, 3)}))
