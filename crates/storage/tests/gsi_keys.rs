//! Global secondary indexes with multi-attribute keys (up to four HASH and four RANGE
//! attributes), through boto3: CreateTable and UpdateTable, DescribeTable, writes that
//! enter and leave the index, Query on every HASH attribute and a left prefix of the RANGE
//! attributes, the order items come back in, paging, and DynamoDB's refusals. Then the
//! catalog with such an index across a restart of the `meridian-tables` process.

mod harness;

use harness::{Process, Server, boto3, call, run_python};

const PRELUDE: &str = r#"
import os, boto3, botocore
from decimal import Decimal
cfg = botocore.config.Config(retries={"max_attempts": 0}, parameter_validation=False)
c = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"], config=cfg)
r = boto3.resource("dynamodb", endpoint_url=os.environ["ENDPOINT"], config=cfg)
def refused(fn, *args, contains, **kw):
    try:
        fn(*args, **kw)
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        msg = e.response["Error"]["Message"]
        assert code == "ValidationException", f"{code}: {msg}"
        assert contains in msg, f"{contains!r} not in {msg!r}"
        return
    raise AssertionError(f"expected a ValidationException with {contains!r}")
def keys(index, cond, **kw):
    out, start = [], None
    while True:
        if start is not None:
            kw["ExclusiveStartKey"] = start
        page = t.query(IndexName=index, KeyConditionExpression=cond, **kw)
        out += [i["id"] for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return out
"#;

#[tokio::test(flavor = "multi_thread")]
async fn multi_attribute_gsis_are_created_kept_and_queried() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
S = lambda n: {"AttributeName": n, "AttributeType": "S"}
N = lambda n: {"AttributeName": n, "AttributeType": "N"}
H = lambda n: {"AttributeName": n, "KeyType": "HASH"}
R = lambda n: {"AttributeName": n, "KeyType": "RANGE"}
t = r.create_table(TableName="Matches", BillingMode="PAY_PER_REQUEST",
    KeySchema=[H("id")],
    AttributeDefinitions=[S("id"), S("tournament"), S("area"), S("round"), N("seq"), S("player")],
    GlobalSecondaryIndexes=[
        {"IndexName": "bracket", "Projection": {"ProjectionType": "ALL"},
         "KeySchema": [H("tournament"), H("area"), R("round"), R("seq")]},
        {"IndexName": "by-player", "Projection": {"ProjectionType": "KEYS_ONLY"},
         "KeySchema": [H("player"), R("round"), R("seq")]},
    ])
t.wait_until_exists()
desc = c.describe_table(TableName="Matches")["Table"]
gsis = {g["IndexName"]: g for g in desc["GlobalSecondaryIndexes"]}
assert gsis["bracket"]["KeySchema"] == [H("tournament"), H("area"), R("round"), R("seq")], gsis
assert gsis["by-player"]["KeySchema"] == [H("player"), R("round"), R("seq")], gsis
assert sorted(a["AttributeName"] for a in desc["AttributeDefinitions"]) == \
    ["area", "id", "player", "round", "seq", "tournament"]

rows = [
    ("m1", "WINTER", "EU", "final", 1, "ada"),
    ("m2", "WINTER", "EU", "semi", 2, "ada"),
    ("m3", "WINTER", "EU", "semi", 10, "bob"),
    ("m4", "WINTER", "EU", "quarter", 3, "bob"),
    ("m5", "WINTER", "US", "semi", 1, "ada"),
    ("m6", "SUMMER", "EU", "semi", 1, "ada"),
]
for (i, tour, reg, rnd, m, p) in rows:
    t.put_item(Item={"id": i, "tournament": tour, "area": reg, "round": rnd, "seq": m, "player": p})
# Missing one RANGE attribute: not in the index.
t.put_item(Item={"id": "m7", "tournament": "WINTER", "area": "EU", "round": "semi", "player": "ada"})

WE = {":t": "WINTER", ":r": "EU"}
base = "tournament = :t AND area = :r"
# Every HASH attribute: items in (round, seq) order, numbers numerically.
assert keys("bracket", base, ExpressionAttributeValues=WE) == ["m1", "m4", "m2", "m3"]
assert keys("bracket", base, ExpressionAttributeValues=WE, ScanIndexForward=False) == ["m3", "m2", "m4", "m1"]
# A left prefix of the RANGE attributes, clauses in any order.
assert keys("bracket", "round = :s AND " + base, ExpressionAttributeValues={**WE, ":s": "semi"}) == ["m2", "m3"]
assert keys("bracket", base + " AND round = :s AND #m = :m", ExpressionAttributeNames={"#m": "seq"},
            ExpressionAttributeValues={**WE, ":s": "semi", ":m": 10}) == ["m3"]
# A range condition on the last attribute named.
assert keys("bracket", base + " AND round = :s AND #m > :m", ExpressionAttributeNames={"#m": "seq"},
            ExpressionAttributeValues={**WE, ":s": "semi", ":m": 2}) == ["m3"]
assert keys("bracket", base + " AND round > :s", ExpressionAttributeValues={**WE, ":s": "quarter"}) == ["m2", "m3"]
assert keys("bracket", base + " AND begins_with(round, :p)", ExpressionAttributeValues={**WE, ":p": "qu"}) == ["m4"]
assert keys("bracket", base + " AND round = :s AND #m BETWEEN :a AND :b", ExpressionAttributeNames={"#m": "seq"},
            ExpressionAttributeValues={**WE, ":s": "semi", ":a": 2, ":b": 9}) == ["m2"]
# The legacy KeyConditions, as DynamoDB takes them on such an index.
got = t.query(IndexName="bracket", KeyConditions={
    "tournament": {"ComparisonOperator": "EQ", "AttributeValueList": ["WINTER"]},
    "area": {"ComparisonOperator": "EQ", "AttributeValueList": ["EU"]},
    "round": {"ComparisonOperator": "EQ", "AttributeValueList": ["semi"]}})["Items"]
assert [i["id"] for i in got] == ["m2", "m3"], got
# A KEYS_ONLY index shows the table's and its own key attributes.
got = t.query(IndexName="by-player", KeyConditionExpression="player = :p", ExpressionAttributeValues={":p": "ada"})["Items"]
# (m5 and m6 share their index key: they come in the table's key order between the others.)
ids = [i["id"] for i in got]
assert ids[0] == "m1" and ids[-1] == "m2" and sorted(ids) == ["m1", "m2", "m5", "m6"], ids
assert set(got[0]) == {"id", "player", "round", "seq"}, got[0]

# Pages: LastEvaluatedKey carries every key attribute, and paging loses nothing.
page = t.query(IndexName="bracket", KeyConditionExpression=base, ExpressionAttributeValues=WE, Limit=2)
assert set(page["LastEvaluatedKey"]) == {"id", "tournament", "area", "round", "seq"}, page
for limit in (1, 2, 3):
    assert keys("bracket", base, ExpressionAttributeValues=WE, Limit=limit) == ["m1", "m4", "m2", "m3"]
assert len(t.scan(IndexName="bracket")["Items"]) == 6

# Writes move items in and out of the index.
t.update_item(Key={"id": "m3"}, UpdateExpression="REMOVE area")
assert keys("bracket", base, ExpressionAttributeValues=WE) == ["m1", "m4", "m2"]
t.update_item(Key={"id": "m3"}, UpdateExpression="SET area = :r", ExpressionAttributeValues={":r": "US"})
assert keys("bracket", base, ExpressionAttributeValues={":t": "WINTER", ":r": "US"}) == ["m5", "m3"]
t.delete_item(Key={"id": "m5"})
assert keys("bracket", base, ExpressionAttributeValues={":t": "WINTER", ":r": "US"}) == ["m3"]

# Query refusals, in DynamoDB's words.
q = lambda cond, vals, **kw: t.query(IndexName="bracket", KeyConditionExpression=cond, ExpressionAttributeValues=vals, **kw)
refused(q, "tournament = :t", {":t": "WINTER"},
        contains="HASH key attributes area must have equality conditions")
refused(q, "tournament = :t AND area > :r", WE,
        contains="HASH key attributes area must have equality conditions")
refused(q, base + " AND #m = :m", {**WE, ":m": 1}, ExpressionAttributeNames={"#m": "seq"},
        contains="RANGE key attributes round must have equality conditions specified in the query because a condition is present on key attribute seq")
refused(q, base + " AND round > :s AND #m = :m", {**WE, ":s": "a", ":m": 1}, ExpressionAttributeNames={"#m": "seq"},
        contains="RANGE key attributes round must have equality conditions specified in the query because a condition is present on key attribute seq")
refused(q, base, {":t": 1, ":r": "EU"}, contains="Condition parameter type does not match schema type")
refused(q, base, {**WE, ":s": "semi"}, FilterExpression="round = :s",
        contains="Filter Expression can only contain non-primary key attributes: Primary key attribute: round")
refused(q, base, WE, ConsistentRead=True, contains="Consistent reads are not supported on global secondary indexes")
refused(q, base, WE, ExclusiveStartKey={"id": "m1", "tournament": "WINTER", "area": "EU", "round": "final"},
        contains="The provided starting key is invalid")
refused(q, base, WE, ExclusiveStartKey={"id": "m1", "tournament": "WINTER", "area": "EU", "round": "final", "seq": 1, "x": "y"},
        contains="The provided starting key is invalid")

# Writes must type every key attribute of the index.
refused(t.put_item, Item={"id": "bad", "tournament": "WINTER", "area": 5, "round": "a", "seq": 1},
        contains="Type mismatch for Index Key area Expected: S Actual: N IndexName: bracket")
refused(t.put_item, Item={"id": "bad", "tournament": "WINTER", "area": "", "round": "a", "seq": 1},
        contains="cannot contain an empty string value. IndexName: bracket, IndexKey: area")

# CreateTable refusals.
def create(ks, defs, name="Bad", lsi=None):
    kw = {"TableName": name, "BillingMode": "PAY_PER_REQUEST", "KeySchema": [H("id")] if lsi is None else [H("id"), R("at")],
          "AttributeDefinitions": [S("id")] + [S(d) for d in defs]}
    if lsi is None:
        kw["GlobalSecondaryIndexes"] = [{"IndexName": "gsi", "KeySchema": ks, "Projection": {"ProjectionType": "ALL"}}]
    else:
        kw["LocalSecondaryIndexes"] = [{"IndexName": "lsi", "KeySchema": ks, "Projection": {"ProjectionType": "ALL"}}]
    c.create_table(**kw)
refused(create, [H(f"a{i}") for i in range(5)], [f"a{i}" for i in range(5)],
        contains="The KeySchema exceeds the maximum allowed number of HASH key attributes")
refused(create, [H("h")] + [R(f"r{i}") for i in range(5)], ["h"] + [f"r{i}" for i in range(5)],
        contains="The KeySchema exceeds the maximum allowed number of RANGE key attributes")
refused(create, [H("a"), R("b"), H("c")], ["a", "b", "c"],
        contains="All HASH key attributes must precede RANGE key attributes in the KeySchema")
refused(create, [H("a"), H("b"), R("a")], ["a", "b"], contains="The KeySchema contains multiple key attributes with the same name")
refused(create, [H("a"), H("b")], ["a"],
        contains="Some index key attributes are not defined in AttributeDefinitions. Keys: [b]")
# A table's and a local index's key stay one HASH and at most one RANGE attribute.
refused(lambda: c.create_table(TableName="Bad", BillingMode="PAY_PER_REQUEST", KeySchema=[H("a"), H("b")],
        AttributeDefinitions=[S("a"), S("b")]), contains="The first KeySchemaElement is not a HASH key type")
refused(create, [H("id"), R("a"), R("b")], ["at", "a", "b"], lsi=True,
        contains="Member must have length less than or equal to 2")
assert "Bad" not in c.list_tables()["TableNames"]

# UpdateTable: a new multi-attribute index back-fills from the items already there.
c.update_table(TableName="Matches", AttributeDefinitions=[S("area"), S("player")],
    GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by-area", "Projection": {"ProjectionType": "ALL"},
        "KeySchema": [H("area"), H("player")]}}])
got = t.query(IndexName="by-area", KeyConditionExpression="area = :r AND player = :p",
              ExpressionAttributeValues={":r": "EU", ":p": "ada"})["Items"]
assert sorted(i["id"] for i in got) == ["m1", "m2", "m6", "m7"], got
c.update_table(TableName="Matches", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-area"}}])
refused(t.query, IndexName="by-area", KeyConditionExpression="area = :r AND player = :p",
        ExpressionAttributeValues={":r": "EU", ":p": "ada"}, contains="does not have the specified index: by-area")
print("ok")
"##
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_attribute_index_survives_a_restart() {
    let state = tempfile::tempdir().expect("tempdir");
    let first = Process::start(state.path());
    let (status, _, body) = call(
        &first.url,
        "CreateTable",
        r#"{"TableName": "Orders", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "shop", "AttributeType": "S"}, {"AttributeName": "day", "AttributeType": "S"},
                {"AttributeName": "seq", "AttributeType": "N"}],
            "GlobalSecondaryIndexes": [{"IndexName": "daily", "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [{"AttributeName": "shop", "KeyType": "HASH"}, {"AttributeName": "day", "KeyType": "HASH"},
                              {"AttributeName": "seq", "KeyType": "RANGE"}]}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for (id, n) in [("a", 3), ("b", 1), ("c", 2)] {
        let item = format!(
            r#"{{"TableName": "Orders", "Item": {{"id": {{"S": "{id}"}}, "shop": {{"S": "s1"}},
                "day": {{"S": "mon"}}, "seq": {{"N": "{n}"}}}}}}"#
        );
        let (status, _, body) = call(&first.url, "PutItem", &item).await;
        assert_eq!(status, 200, "{body}");
    }
    first.kill9();

    let second = Process::start(state.path());
    let (status, _, body) = call(&second.url, "DescribeTable", r#"{"TableName": "Orders"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["Table"]["GlobalSecondaryIndexes"][0]["KeySchema"],
        serde_json::json!([
            {"AttributeName": "shop", "KeyType": "HASH"},
            {"AttributeName": "day", "KeyType": "HASH"},
            {"AttributeName": "seq", "KeyType": "RANGE"},
        ])
    );
    let (status, _, body) = call(
        &second.url,
        "Query",
        r##"{"TableName": "Orders", "IndexName": "daily",
            "KeyConditionExpression": "shop = :s AND #d = :d",
            "ExpressionAttributeNames": {"#d": "day"},
            "ExpressionAttributeValues": {":s": {"S": "s1"}, ":d": {"S": "mon"}}}"##,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["Items"]
        .as_array()
        .expect("Items")
        .iter()
        .filter_map(|i| i["id"]["S"].as_str())
        .collect();
    assert_eq!(ids, ["b", "c", "a"]);
}
