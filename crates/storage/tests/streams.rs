//! TTL and DynamoDB Streams with boto3: expired items stay readable until the sweep, the
//! sweep's deletions show in the stream as the service's, and ListStreams, DescribeStream,
//! GetShardIterator (every iterator type) and GetRecords (every view type) answer as
//! DynamoDB does.

mod harness;

use harness::{Server, boto3, run_python};

const WRITE: &str = r#"
import os, time, boto3
from botocore.exceptions import ClientError
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"])
def table(name, view):
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
for name, view in [("Both", "NEW_AND_OLD_IMAGES"), ("Keys", "KEYS_ONLY"),
                   ("New", "NEW_IMAGE"), ("Old", "OLD_IMAGE")]:
    table(name, view)

spec = {"Enabled": True, "AttributeName": "exp"}
assert ddb.update_time_to_live(TableName="Both", TimeToLiveSpecification=spec)[
    "TimeToLiveSpecification"] == spec
assert ddb.describe_time_to_live(TableName="Both")["TimeToLiveDescription"] == {
    "TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
assert ddb.describe_time_to_live(TableName="Keys")["TimeToLiveDescription"] == {
    "TimeToLiveStatus": "DISABLED"}
for again, message in [(spec, "TimeToLive is already enabled"),
                       ({"Enabled": False, "AttributeName": "other"},
                        "TimeToLive is active on a different AttributeName: current AttributeName is exp")]:
    try:
        ddb.update_time_to_live(TableName="Both", TimeToLiveSpecification=again)
        raise SystemExit("accepted " + str(again))
    except ClientError as e:
        assert e.response["Error"] == {"Code": "ValidationException", "Message": message}, e.response

now = int(time.time())
for t in ["Both", "Keys", "New", "Old"]:
    ddb.put_item(TableName=t, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    ddb.update_item(TableName=t, Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :two",
                    ExpressionAttributeValues={":two": {"N": "2"}})
ddb.put_item(TableName="Both", Item={"pk": {"S": "expired"}, "exp": {"N": str(now - 10)}})
ddb.put_item(TableName="Both", Item={"pk": {"S": "later"}, "exp": {"N": str(now + 3600)}})
ddb.put_item(TableName="Both", Item={"pk": {"S": "text"}, "exp": {"S": str(now - 10)}})
ddb.delete_item(TableName="Both", Key={"pk": {"S": "a"}})
# Expired, not yet swept: still there, as on DynamoDB.
assert "Item" in ddb.get_item(TableName="Both", Key={"pk": {"S": "expired"}}, ConsistentRead=True)
print("written")
"#;

const READ: &str = r#"
import os, boto3
from botocore.exceptions import ClientError
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"])
streams = boto3.client("dynamodbstreams", endpoint_url=os.environ["ENDPOINT"])
assert "Item" not in ddb.get_item(TableName="Both", Key={"pk": {"S": "expired"}}, ConsistentRead=True)
for kept in ["later", "text"]:
    assert "Item" in ddb.get_item(TableName="Both", Key={"pk": {"S": kept}}), kept

listed = streams.list_streams()["Streams"]
assert sorted(s["TableName"] for s in listed) == ["Both", "Keys", "New", "Old"], listed
arn = ddb.describe_table(TableName="Both")["Table"]["LatestStreamArn"]
only = streams.list_streams(TableName="Both")["Streams"]
assert [s["StreamArn"] for s in only] == [arn], only
page = streams.list_streams(Limit=2)
assert len(page["Streams"]) == 2 and "LastEvaluatedStreamArn" in page, page
rest = streams.list_streams(ExclusiveStartStreamArn=page["LastEvaluatedStreamArn"])
assert len(rest["Streams"]) == 2 and "LastEvaluatedStreamArn" not in rest, rest

def records(table, kind="TRIM_HORIZON", **extra):
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert d["StreamStatus"] == "ENABLED" and d["TableName"] == table, d
    assert d["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}], d
    shard = d["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind,
                                    **extra)["ShardIterator"]
    got = streams.get_records(ShardIterator=it)
    nxt = streams.get_records(ShardIterator=got["NextShardIterator"])
    assert nxt["Records"] == [], nxt
    return got["Records"], arn, shard

both, arn, shard = records("Both")
assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in both] == [
    ("INSERT", "a"), ("MODIFY", "a"), ("INSERT", "expired"), ("INSERT", "later"),
    ("INSERT", "text"), ("REMOVE", "a"), ("REMOVE", "expired")], both
for r in both:
    assert r["eventSource"] == "aws:dynamodb" and r["awsRegion"] == "us-east-1", r
    assert r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES", r
modify = both[1]["dynamodb"]
assert modify["OldImage"]["v"] == {"N": "1"} and modify["NewImage"]["v"] == {"N": "2"}, modify
assert "NewImage" not in both[5]["dynamodb"] and both[5]["dynamodb"]["OldImage"]["v"] == {"N": "2"}
# Only the sweep's deletion is the service's.
assert both[6]["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}, both[6]
assert all("userIdentity" not in r for r in both[:6]), both
seqs = [r["dynamodb"]["SequenceNumber"] for r in both]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
assert len({r["eventID"] for r in both}) == len(both)

at, _, _ = records("Both", "AT_SEQUENCE_NUMBER", SequenceNumber=seqs[4])
assert [r["dynamodb"]["SequenceNumber"] for r in at] == seqs[4:], at
after, _, _ = records("Both", "AFTER_SEQUENCE_NUMBER", SequenceNumber=seqs[4])
assert [r["dynamodb"]["SequenceNumber"] for r in after] == seqs[5:], after

# LATEST starts after what is there.
it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                ShardIteratorType="LATEST")["ShardIterator"]
assert streams.get_records(ShardIterator=it)["Records"] == []
ddb.put_item(TableName="Both", Item={"pk": {"S": "new"}})
new = streams.get_records(ShardIterator=it)["Records"]
assert [(r["eventName"], r["dynamodb"]["NewImage"]["pk"]["S"]) for r in new] == [("INSERT", "new")], new
first = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
page = streams.get_records(ShardIterator=first, Limit=3)
assert [r["dynamodb"]["SequenceNumber"] for r in page["Records"]] == seqs[:3], page
page = streams.get_records(ShardIterator=page["NextShardIterator"], Limit=3)
assert [r["dynamodb"]["SequenceNumber"] for r in page["Records"]] == seqs[3:6], page

def images(table):
    return [sorted(k for k in ("NewImage", "OldImage") if k in r["dynamodb"])
            for r in records(table)[0]]
assert images("Keys") == [[], []]
assert images("New") == [["NewImage"], ["NewImage"]]
assert images("Old") == [[], ["OldImage"]]

for call, code in [
    (lambda: streams.describe_stream(StreamArn=arn.replace("/stream/", "/stream/x")),
     "ResourceNotFoundException"),
    (lambda: streams.get_shard_iterator(StreamArn=arn, ShardId="shardId-00000000000000000000-nope",
                                        ShardIteratorType="LATEST"),
     "ResourceNotFoundException"),
    (lambda: streams.get_records(ShardIterator="garbage"), "ValidationException"),
    (lambda: streams.get_records(ShardIterator=arn + "|" + shard + "|1|1"),
     "ExpiredIteratorException"),
]:
    try:
        call()
        raise SystemExit("accepted")
    except ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
print("read")
"#;

const TRIMMED: &str = r#"
import os, boto3
from botocore.exceptions import ClientError
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"])
streams = boto3.client("dynamodbstreams", endpoint_url=os.environ["ENDPOINT"])
arn = ddb.describe_table(TableName="Both")["Table"]["LatestStreamArn"]
shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
def read(**how):
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **how)["ShardIterator"]
    return streams.get_records(ShardIterator=it)["Records"]
# A day later only the newest record is left, and positions go on from it.
kept = read(ShardIteratorType="TRIM_HORIZON")
assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in kept] == ["new"], kept
ddb.put_item(TableName="Both", Item={"pk": {"S": "next"}})
both = read(ShardIteratorType="TRIM_HORIZON")
seqs = [r["dynamodb"]["SequenceNumber"] for r in both]
assert len(seqs) == 2 and seqs[0] < seqs[1], both
try:
    read(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber="000000000000000000001")
    raise SystemExit("read a trimmed record")
except ClientError as e:
    assert e.response["Error"]["Code"] == "TrimmedDataAccessException", e.response
print("trimmed")
"#;

#[tokio::test]
async fn ttl_deletions_show_in_streams_of_every_view_type() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let url = server.url();
    assert!(run_python(&python, &url, WRITE).await.contains("written"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert_eq!(server.dynamo.sweep_expired(now).await.expect("sweep"), 1);
    assert_eq!(
        server.dynamo.sweep_expired(now).await.expect("sweep"),
        0,
        "nothing left to sweep"
    );
    assert!(run_python(&python, &url, READ).await.contains("read"));
    // Records are kept 24 hours: a day later, a trim leaves each stream its newest.
    let trimmed = server
        .dynamo
        .trim_streams(now + 2 * 24 * 3600)
        .await
        .expect("trim");
    assert!(trimmed > 0);
    assert!(run_python(&python, &url, TRIMMED).await.contains("trimmed"));
}

const NO_CHANGE: &str = r#"
import os, boto3
from botocore.exceptions import ClientError
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"])
from botocore.config import Config
# Without the client's own checks, so that the server's answers to bad input are seen.
streams = boto3.client("dynamodbstreams", endpoint_url=os.environ["ENDPOINT"],
                       config=Config(parameter_validation=False))
ddb.create_table(TableName="Tbl", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
key = {"pk": {"S": "a"}}
ddb.put_item(TableName="Tbl", Item={"pk": {"S": "a"}, "x": {"N": "2"}})
# None of these changes anything, and DynamoDB records none of them.
ddb.put_item(TableName="Tbl", Item={"pk": {"S": "a"}, "x": {"N": "2"}})
ddb.update_item(TableName="Tbl", Key=key, UpdateExpression="REMOVE g")
ddb.delete_item(TableName="Tbl", Key={"pk": {"S": "missing"}})
# An update that only removes does not create the item it names.
ddb.update_item(TableName="Tbl", Key={"pk": {"S": "b"}}, UpdateExpression="REMOVE g")
ddb.update_item(TableName="Tbl", Key={"pk": {"S": "c"}},
                AttributeUpdates={"g": {"Action": "DELETE"}})
for k in ["b", "c"]:
    assert "Item" not in ddb.get_item(TableName="Tbl", Key={"pk": {"S": k}}, ConsistentRead=True), k
# An update that sets something does.
ddb.update_item(TableName="Tbl", Key={"pk": {"S": "d"}}, UpdateExpression="SET y = :one REMOVE g",
                ExpressionAttributeValues={":one": {"N": "1"}})
arn = ddb.describe_table(TableName="Tbl")["Table"]["LatestStreamArn"]
shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
got = [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"])
       for r in streams.get_records(ShardIterator=it)["Records"]]
assert got == [("INSERT", "a"), ("INSERT", "d")], got

# The one shard has no children; filters and ARNs are validated as DynamoDB does.
children = streams.describe_stream(StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": shard})
assert children["StreamDescription"]["Shards"] == [], children
after = streams.describe_stream(StreamArn=arn, ExclusiveStartShardId="shardId-zzzzzzzzzzzzzzzzzzzzz")
assert after["StreamDescription"]["Shards"] == [], after
for call, code, message in [
    (lambda: streams.describe_stream(StreamArn=arn, ShardFilter={"Type": "foo", "ShardId": shard}),
     "ValidationException", "Invalid ShardFilter.Type value - must be string `CHILD_SHARDS`"),
    (lambda: streams.describe_stream(StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS"}),
     "ValidationException", "1 validation error detected: Value null at 'shardFilter.shardId' failed to satisfy constraint: Member must not be null"),
    (lambda: streams.describe_stream(StreamArn="not-an-arn"), "ValidationException", "Invalid StreamArn"),
    (lambda: ddb.update_table(TableName="Tbl", StreamSpecification={"StreamEnabled": False})
             and ddb.update_table(TableName="Tbl", StreamSpecification={"StreamEnabled": False}),
     "ValidationException", "Table has no stream to disable: TableName: Tbl"),
]:
    try:
        call()
        raise SystemExit("accepted")
    except ClientError as e:
        assert e.response["Error"] == {"Code": code, "Message": message}, e.response
print("unchanged")
"#;

#[tokio::test]
async fn writes_that_change_nothing_leave_no_record() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    assert!(
        run_python(&python, &server.url(), NO_CHANGE)
            .await
            .contains("unchanged")
    );
}

const PATHS: &str = r#"
import os, boto3
from botocore.exceptions import ClientError
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"])
ddb.create_table(TableName="Paths", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
key = {"pk": {"S": "a"}}
ddb.put_item(TableName="Paths", Item={"pk": {"S": "a"}, "s": {"S": "hello"},
                                      "l": {"L": [{"S": "one"}, {"S": "two"}]}})
# On an item that exists, removing through a string or a missing attribute is refused.
for expr in ["REMOVE s.c", "REMOVE s[0]", "REMOVE absent.c"]:
    try:
        ddb.update_item(TableName="Paths", Key=key, UpdateExpression=expr)
        raise SystemExit("accepted " + expr)
    except ClientError as e:
        assert e.response["Error"] == {"Code": "ValidationException",
            "Message": "The document path provided in the update expression is invalid for update"}, e.response
# Past the end of a list, several SETs append in index order.
ddb.update_item(TableName="Paths", Key=key, UpdateExpression="SET l[84] = :a, l[17] = :b",
                ExpressionAttributeValues={":a": {"S": "a"}, ":b": {"S": "b"}})
got = ddb.get_item(TableName="Paths", Key=key, ConsistentRead=True)["Item"]["l"]["L"]
assert [v["S"] for v in got] == ["one", "two", "b", "a"], got
# On an item that does not exist, removing anything is no error and creates nothing.
ddb.update_item(TableName="Paths", Key={"pk": {"S": "none"}}, UpdateExpression="REMOVE x.y")
assert "Item" not in ddb.get_item(TableName="Paths", Key={"pk": {"S": "none"}}, ConsistentRead=True)
print("paths")
"#;

#[tokio::test]
async fn update_paths_are_checked_against_the_stored_item() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    assert!(
        run_python(&python, &server.url(), PATHS)
            .await
            .contains("paths")
    );
}

const DISABLED: &str = r#"
import os, boto3
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"])
streams = boto3.client("dynamodbstreams", endpoint_url=os.environ["ENDPOINT"])
ddb.create_table(TableName="Flip", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
first = ddb.describe_table(TableName="Flip")["Table"]["LatestStreamArn"]
def shard(arn):
    d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert len(d["Shards"]) == 1, d
    return d, d["Shards"][0]
def read(arn, kind="TRIM_HORIZON"):
    _, s = shard(arn)
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType=kind)["ShardIterator"]
    keys, pages = [], 0
    while it and pages < 10:
        got = streams.get_records(ShardIterator=it, Limit=2)
        keys += [r["dynamodb"]["Keys"]["pk"]["S"] for r in got["Records"]]
        it, pages = got.get("NextShardIterator"), pages + 1
        if not got["Records"] and it:
            break
    return keys, it is None
for k in ["a", "b", "c"]:
    ddb.put_item(TableName="Flip", Item={"pk": {"S": k}})
ddb.update_table(TableName="Flip", StreamSpecification={"StreamEnabled": False})

# The disabled stream is still listed, described as DISABLED with a closed shard, and read
# to its end, where its shard gives no next iterator.
assert [s["StreamArn"] for s in streams.list_streams(TableName="Flip")["Streams"]] == [first]
d, s = shard(first)
assert d["StreamStatus"] == "DISABLED" and d["StreamViewType"] == "KEYS_ONLY", d
assert int(s["SequenceNumberRange"]["EndingSequenceNumber"]) > int(s["SequenceNumberRange"]["StartingSequenceNumber"]), s
assert read(first) == (["a", "b", "c"], True), read(first)
# DescribeTable still names it the latest stream, with no StreamSpecification.
t = ddb.describe_table(TableName="Flip")["Table"]
assert t["LatestStreamArn"] == first and "StreamSpecification" not in t, t

# Writes while no stream is enabled are in no stream; enabling again makes a new stream
# that starts empty, and the old one keeps only its own records.
ddb.put_item(TableName="Flip", Item={"pk": {"S": "unseen"}})
ddb.update_table(TableName="Flip", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
second = ddb.describe_table(TableName="Flip")["Table"]["LatestStreamArn"]
assert second != first
assert read(second)[0] == []
ddb.put_item(TableName="Flip", Item={"pk": {"S": "d"}})
assert read(second)[0] == ["d"]
d, s = shard(second)
assert d["StreamStatus"] == "ENABLED" and "EndingSequenceNumber" not in s["SequenceNumberRange"], d
assert read(first) == (["a", "b", "c"], True)
assert sorted(s["StreamArn"] for s in streams.list_streams(TableName="Flip")["Streams"]) == sorted([first, second])
print("kept")
"#;

#[tokio::test]
async fn a_disabled_stream_stays_readable_and_a_new_one_starts_empty() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    assert!(
        run_python(&python, &server.url(), DISABLED)
            .await
            .contains("kept")
    );
}
