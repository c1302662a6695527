//! Secondary indexes' and Query's rules through boto3, each refusal in DynamoDB's words:
//! index key sizes (on writes and on a backfill), index names, projections, UpdateTable's
//! attribute definitions, starting keys, legacy comparison operators, tag requests,
//! and what DeleteTable describes.

mod harness;

use harness::{Server, boto3, run_python};

const PRELUDE: &str = r#"
import os, boto3, botocore
cfg = botocore.config.Config(retries={"max_attempts": 0}, parameter_validation=False)
c = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"], config=cfg)
r = boto3.resource("dynamodb", endpoint_url=os.environ["ENDPOINT"], config=cfg)
def refused(fn, *args, contains, code="ValidationException", **kw):
    try:
        fn(*args, **kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"]["Message"]
        assert got == code, f"{got}: {msg}"
        assert contains in msg, f"{contains!r} not in {msg!r}"
        return
    raise AssertionError(f"expected {code} with {contains!r}")
S = lambda n: {"AttributeName": n, "AttributeType": "S"}
H = lambda n: {"AttributeName": n, "KeyType": "HASH"}
R = lambda n: {"AttributeName": n, "KeyType": "RANGE"}
ALL = {"ProjectionType": "ALL"}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn index_keys_names_and_projections_follow_dynamodbs_rules() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
t = r.create_table(TableName="Docs", BillingMode="PAY_PER_REQUEST", KeySchema=[H("p")],
    AttributeDefinitions=[S("p"), S("x"), S("c")],
    GlobalSecondaryIndexes=[{"IndexName": "by-x", "KeySchema": [H("x")], "Projection": ALL},
                            {"IndexName": "c-x", "KeySchema": [H("c"), R("x")], "Projection": ALL}])
t.wait_until_exists()
# Index keys: 2048 bytes for a HASH value, 1024 for the RANGE values.
t.put_item(Item={"p": "ok", "x": "a" * 1024, "c": "c"})
refused(t.put_item, Item={"p": "long", "x": "a" * 2049},
        contains="Size of hashkey has exceeded the maximum size limit of2048 bytes")
refused(t.put_item, Item={"p": "long", "x": "a" * 1025, "c": "c"},
        contains="Aggregated size of all range keys has exceeded the size limit of 1024 bytes")
assert "Item" not in t.get_item(Key={"p": "long"})

# A backfill leaves out the items whose value is too long for the new index's key.
t.put_item(Item={"p": "big", "c": "k", "y": "b" * 1500})
t.put_item(Item={"p": "small", "c": "k", "y": "b"})
t.put_item(Item={"p": "empty", "c": "k", "y": ""})
c.update_table(TableName="Docs", AttributeDefinitions=[S("c"), S("y")],
    GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "c-y", "KeySchema": [H("c"), R("y")], "Projection": ALL}}])
got = t.query(IndexName="c-y", KeyConditionExpression="c = :c", ExpressionAttributeValues={":c": "k"})["Items"]
assert [i["p"] for i in got] == ["small"], got
c.update_table(TableName="Docs", AttributeDefinitions=[S("y")],
    GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by-y", "KeySchema": [H("y")], "Projection": ALL}}])
assert sorted(i["p"] for i in t.scan(IndexName="by-y")["Items"]) == ["big", "small"]

# UpdateTable: the new index's definitions are in the request, and keep their types.
refused(c.update_table, TableName="Docs",
    GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "again", "KeySchema": [H("x")], "Projection": ALL}}],
    contains="AttributeDefinitions is not specified for index: again")
refused(c.update_table, TableName="Docs", AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "N"}],
    GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "again", "KeySchema": [H("x")], "Projection": ALL}}],
    contains="Attributes cannot be redefined. Please check that your attribute has the same type as previously defined. "
             "Existing schema: Schema:[SchemaElement: key{x:S:HASH}] New schema: Schema:[SchemaElement: key{x:N:HASH}]")

# Index names, projections and definitions.
def create(gsi, defs=("p", "x")):
    c.create_table(TableName="Bad", BillingMode="PAY_PER_REQUEST", KeySchema=[H("p")],
        AttributeDefinitions=[S(d) for d in defs], GlobalSecondaryIndexes=[gsi])
refused(create, {"IndexName": "a@b", "KeySchema": [H("x")], "Projection": ALL},
        contains="Value 'a@b' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: "
                 "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
refused(create, {"IndexName": "n" * 256, "KeySchema": [H("x")], "Projection": ALL},
        contains="Member must have length less than or equal to 255")
refused(create, {"IndexName": "gsi", "KeySchema": [H("x")],
                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "a"]}},
        contains="Duplicate element in NonKeyAttributes: a")
refused(create, {"IndexName": "gsi", "KeySchema": [H("x")],
                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", 1]}},
        code="SerializationException", contains="NUMBER_VALUE cannot be converted to String")
refused(create, {"IndexName": "gsi", "KeySchema": [H("x")], "Projection": ALL}, defs=("p", "x" * 256),
        contains="at 'attributeDefinitions.2.member.attributeName' failed to satisfy constraint: "
                 "Member must have length less than or equal to 255")
refused(lambda: c.create_table(TableName="Bad", BillingMode="PAY_PER_REQUEST", KeySchema=[H("p"), R("c")],
        AttributeDefinitions=[S("p"), S("c")],
        LocalSecondaryIndexes=[{"IndexName": "lsi", "KeySchema": [H("p"), R("p")], "Projection": ALL}]),
        contains="Both the Hash Key and the Range Key element in the KeySchema have the same name")
assert "Bad" not in c.list_tables()["TableNames"]

# A global index answers only with what it projects; a local one fetches the rest.
u = r.create_table(TableName="Slim", BillingMode="PAY_PER_REQUEST", KeySchema=[H("p"), R("c")],
    AttributeDefinitions=[S("p"), S("c"), S("x")],
    GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [H("x")],
                             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}}],
    LocalSecondaryIndexes=[{"IndexName": "lsi", "KeySchema": [H("p"), R("x")], "Projection": {"ProjectionType": "KEYS_ONLY"}}])
u.wait_until_exists()
u.put_item(Item={"p": "1", "c": "1", "x": "k", "a": "A", "b": "B"})
gq = lambda **kw: u.query(IndexName="gsi", KeyConditionExpression="x = :x", ExpressionAttributeValues={":x": "k"}, **kw)
refused(gq, ProjectionExpression="b, a", contains="Global secondary index gsi does not project b")
assert gq(ProjectionExpression="a")["Items"] == [{"a": "A"}]
lq = lambda **kw: u.query(IndexName="lsi", KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": "1"}, **kw)
assert lq(ProjectionExpression="b")["Items"] == [{"b": "B"}]
assert set(lq()["Items"][0]) == {"p", "c", "x"}
print("ok")
"##
    );
    assert_eq!(
        run_python(&python, &server.url(), &script).await.trim(),
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_keys_operators_and_deletetable_answer_as_dynamodb() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
t = r.create_table(TableName="Events", BillingMode="PAY_PER_REQUEST", KeySchema=[H("p"), R("c")],
    AttributeDefinitions=[S("p"), S("c"), S("x")],
    GlobalSecondaryIndexes=[{"IndexName": "by-x", "KeySchema": [H("x")], "Projection": ALL}])
t.wait_until_exists()
for c_ in ("1", "2", "3"):
    t.put_item(Item={"p": "a", "c": c_, "x": "k"})
q = lambda **kw: t.query(KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": "a"}, **kw)
assert [i["c"] for i in q(ExclusiveStartKey={"p": "a", "c": "1"})["Items"]] == ["2", "3"]
refused(q, ExclusiveStartKey={"p": "b", "c": "1"},
        contains="The provided starting key is outside query boundaries based on provided conditions")
refused(t.query, KeyConditionExpression="p = :p AND c = :c", ExpressionAttributeValues={":p": "a", ":c": "2"},
        ExclusiveStartKey={"p": "a", "c": "3"},
        contains="The provided starting key is outside query boundaries based on provided conditions")
refused(t.query, IndexName="by-x", KeyConditionExpression="x = :x", ExpressionAttributeValues={":x": "k"},
        ExclusiveStartKey={"p": "a", "c": "1", "x": "k", "y": "extra"},
        contains="The provided starting key is invalid")
# An index with only a HASH attribute: the table's key is no sort key of it.
refused(t.query, IndexName="by-x", KeyConditionExpression="x = :x AND c = :c",
        ExpressionAttributeValues={":x": "k", ":c": "1"}, contains="Query key condition not supported")

s = r.create_table(TableName="Single", BillingMode="PAY_PER_REQUEST", KeySchema=[H("p")],
    AttributeDefinitions=[S("p")])
s.wait_until_exists()
refused(s.query, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": "a"},
        ExclusiveStartKey={"p": "a"},
        contains="The provided exclusive start key is invalid: ExclusiveStartKey: {p=AttributeValue: {S:a}}")

refused(t.query, KeyConditions={"p": {"ComparisonOperator": "DOG", "AttributeValueList": ["a"]}},
        contains="1 validation error detected: Value 'DOG' at 'keyConditions.p.member.comparisonOperator' failed to satisfy constraint: "
                 "Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]")
refused(t.scan, ScanFilter={"x": {"ComparisonOperator": "eq", "AttributeValueList": ["k"]}},
        contains="Value 'eq' at 'scanFilter.x.member.comparisonOperator' failed to satisfy constraint")

refused(c.tag_resource, ResourceArn="I_do_not_exist", Tags=[{"Key": "k", "Value": "v"}],
        contains="One or more parameter values were invalid: ARNs must start with 'arn:': I_do_not_exist")
arn = c.describe_table(TableName="Events")["Table"]["TableArn"]
refused(c.tag_resource, ResourceArn=arn, Tags=[], contains="Atleast one Tag needs to be provided as Input.")
c.tag_resource(ResourceArn=arn, Tags=[{"Key": str(i), "Value": "v"} for i in range(50)])
refused(c.tag_resource, ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "v"}],
        contains="Number of Tags exceed the current limit for the provided ResourceArn")

gone = c.delete_table(TableName="Events")["TableDescription"]
assert gone["TableStatus"] == "DELETING" and gone["TableName"] == "Events", gone
for f in ("CreationDateTime", "KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes"):
    assert f not in gone, f
assert gone["ItemCount"] == 3 and "TableSizeBytes" in gone, gone
print("ok")
"##
    );
    assert_eq!(
        run_python(&python, &server.url(), &script).await.trim(),
        "ok"
    );
}
