//! boto3 (the real AWS SDK for Python) against the endpoint: tables, items, conditions,
//! updates, queries, scans, batches, transactions, indexes, the legacy parameters and
//! DynamoDB's errors, each asserted in the script.

mod harness;

use harness::{Server, boto3, run_python};

const PRELUDE: &str = r#"
import os, boto3, botocore
from boto3.dynamodb.conditions import Key, Attr
from decimal import Decimal
c = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"],
                 config=botocore.config.Config(retries={"max_attempts": 0}))
r = boto3.resource("dynamodb", endpoint_url=os.environ["ENDPOINT"])
def refused(code, fn, *args, contains=None, **kw):
    try:
        fn(*args, **kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"]["Message"]
        assert got == code, f"expected {code}, got {got}: {msg}"
        if contains is not None:
            assert contains in msg, f"{contains!r} not in {msg!r}"
        return e.response
    raise AssertionError(f"expected {code}")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn items_conditions_and_updates() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
t = r.create_table(TableName="Users", KeySchema=[{"AttributeName": "userId", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "userId", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
t.wait_until_exists()
t.reload()
assert t.table_status == "ACTIVE"
assert "Users" in c.list_tables()["TableNames"]
refused("ResourceInUseException", c.create_table, TableName="Users",
    KeySchema=[{"AttributeName": "userId", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "userId", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")

t.put_item(Item={"userId": "u1", "name": "Ada", "age": 36, "tags": {"a", "b"}, "n": Decimal("12345678901234567890.123456789012345678")})
got = t.get_item(Key={"userId": "u1"}, ConsistentRead=True)["Item"]
assert got["name"] == "Ada" and got["age"] == 36 and got["tags"] == {"a", "b"}, got
assert got["n"] == Decimal("12345678901234567890.123456789012345678"), got["n"]

# conditions
refused("ConditionalCheckFailedException", t.put_item, Item={"userId": "u1"},
        ConditionExpression="attribute_not_exists(userId)")
e = refused("ConditionalCheckFailedException", t.put_item, Item={"userId": "u1"},
        ConditionExpression="attribute_not_exists(userId)", ReturnValuesOnConditionCheckFailure="ALL_OLD")
assert e["Item"]["name"] == {"S": "Ada"}, e
t.put_item(Item={"userId": "u2", "name": "Bob"}, ConditionExpression="attribute_not_exists(userId)")
old = t.put_item(Item={"userId": "u2", "name": "Bo"}, ReturnValues="ALL_OLD")["Attributes"]
assert old["name"] == "Bob"

# updates
out = t.update_item(Key={"userId": "u1"},
    UpdateExpression="SET age = age + :one, #n = :name, visits = if_not_exists(visits, :zero) + :one, l = list_append(if_not_exists(l, :empty), :l) REMOVE tags ADD tally :one",
    ExpressionAttributeNames={"#n": "name"},
    ExpressionAttributeValues={":one": 1, ":name": "Ada L", ":zero": 0, ":empty": [], ":l": ["x"]},
    ConditionExpression="age > :zero",
    ReturnValues="UPDATED_NEW")["Attributes"]
assert out == {"age": 37, "name": "Ada L", "visits": 1, "l": ["x"], "tally": 1}, out
item = t.get_item(Key={"userId": "u1"})["Item"]
assert "tags" not in item and item["age"] == 37
out = t.update_item(Key={"userId": "u1"}, UpdateExpression="SET l[0] = :v, m = :m",
    ExpressionAttributeValues={":v": "y", ":m": {"deep": {"k": 1}}}, ReturnValues="ALL_NEW")["Attributes"]
assert out["l"] == ["y"] and out["m"]["deep"]["k"] == 1
t.update_item(Key={"userId": "u1"}, UpdateExpression="SET m.deep.k = m.deep.k + :one", ExpressionAttributeValues={":one": 1})
assert t.get_item(Key={"userId": "u1"}, ProjectionExpression="m.deep.k")["Item"] == {"m": {"deep": {"k": 2}}}
# an update on a missing item creates it
t.update_item(Key={"userId": "u9"}, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": "new"})
assert t.get_item(Key={"userId": "u9"})["Item"] == {"userId": "u9", "v": "new"}

# errors, in DynamoDB's words
refused("ValidationException", t.update_item, Key={"userId": "u1"}, UpdateExpression="SET a = ",
        contains='Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "="')
refused("ValidationException", t.update_item, Key={"userId": "u1"}, UpdateExpression="SET userId = :v",
        ExpressionAttributeValues={":v": "x"}, contains="This attribute is part of the key")
refused("ValidationException", t.get_item, Key={"userId": 5}, contains="The provided key element does not match the schema")
refused("ValidationException", t.put_item, Item={"name": "x"}, contains="Missing the key userId in the item")
refused("ValidationException", t.put_item, Item={"userId": "big", "blob": "x" * 410000}, contains="Item size has exceeded the maximum allowed size")
refused("ValidationException", t.put_item, Item={"userId": "u3"}, ConditionExpression="a = :v",
        ExpressionAttributeValues={":v": "1", ":w": "2"}, contains="unused in expressions: keys: {:w}")
refused("ValidationException", t.put_item, Item={"userId": "u3"}, ConditionExpression="status = :v",
        ExpressionAttributeValues={":v": "1"}, contains="reserved keyword; reserved keyword: status")
refused("ResourceNotFoundException", c.get_item, TableName="Nope", Key={"userId": {"S": "x"}})
refused("ValidationException", t.update_item, Key={"userId": "u1"}, UpdateExpression="SET x = nothere + :one",
        ExpressionAttributeValues={":one": 1}, contains="The provided expression refers to an attribute that does not exist in the item")
refused("ValidationException", c.put_item, TableName="Users", Item={"userId": {"S": "u4"}, "n": {"N": "1e200"}},
        contains="Number overflow")
refused("ValidationException", c.put_item, TableName="Users", Item={"userId": {"S": "u4"}, "s": {"SS": ["a", "a"]}},
        contains="contains duplicates")

# attribute names: 65,535 bytes is the longest DynamoDB takes, anywhere a name is given
longest, too_long = "n" * 65535, "n" * 65536
too_large = "1 validation error detected: Attribute name is too large, must be less than 65536 bytes"
t.put_item(Item={"userId": "long", longest: 1, "m": {longest: 2}})
assert t.get_item(Key={"userId": "long"}, ProjectionExpression="#n", ExpressionAttributeNames={"#n": longest},
                  ConsistentRead=True)["Item"] == {longest: 1}
assert c.get_item(TableName="Users", Key={"userId": {"S": "long"}}, AttributesToGet=[longest],
                  ConsistentRead=True)["Item"] == {longest: {"N": "1"}}
t.update_item(Key={"userId": "long"}, UpdateExpression="SET #n = #n + :one", ConditionExpression="#n = :one",
              ExpressionAttributeNames={"#n": longest}, ExpressionAttributeValues={":one": 1})
for fn, kw in [
    (t.put_item, dict(Item={"userId": "long2", too_long: 1})),
    (t.put_item, dict(Item={"userId": "long2", "m": {"deeper": {too_long: 1}}})),
    (t.get_item, dict(Key={"userId": "long"}, ProjectionExpression="#n", ExpressionAttributeNames={"#n": too_long})),
    (c.get_item, dict(TableName="Users", Key={"userId": {"S": "long"}}, AttributesToGet=[too_long])),
    (c.update_item, dict(TableName="Users", Key={"userId": {"S": "long"}},
                         AttributeUpdates={too_long: {"Action": "PUT", "Value": {"N": "1"}}})),
    (c.put_item, dict(TableName="Users", Item={"userId": {"S": "long"}}, Expected={too_long: {"Exists": False}})),
    (t.update_item, dict(Key={"userId": "long"}, UpdateExpression="SET #n = :one",
                         ExpressionAttributeNames={"#n": too_long}, ExpressionAttributeValues={":one": 1})),
    (t.update_item, dict(Key={"userId": "long"}, UpdateExpression="SET a = :one", ConditionExpression="#n = :one",
                         ExpressionAttributeNames={"#n": too_long}, ExpressionAttributeValues={":one": 1})),
    (t.update_item, dict(Key={"userId": "long"}, UpdateExpression="SET doc = :m",
                         ExpressionAttributeValues={":m": {too_long: 1}})),
]:
    e = refused("ValidationException", fn, **kw)
    assert e["Error"]["Message"] == too_large, e["Error"]["Message"]
got = t.get_item(Key={"userId": "long"}, ConsistentRead=True)["Item"]
assert got == {"userId": "long", longest: 2, "m": {longest: 2}}, sorted(k[:8] for k in got)
assert "Item" not in t.get_item(Key={"userId": "long2"}, ConsistentRead=True)

# legacy parameters
c.put_item(TableName="Users", Item={"userId": {"S": "L1"}, "v": {"N": "1"}}, Expected={"userId": {"Exists": False}})
refused("ConditionalCheckFailedException", c.put_item, TableName="Users", Item={"userId": {"S": "L1"}},
        Expected={"v": {"Value": {"N": "2"}}})
c.update_item(TableName="Users", Key={"userId": {"S": "L1"}},
    AttributeUpdates={"v": {"Action": "ADD", "Value": {"N": "5"}}, "w": {"Action": "PUT", "Value": {"S": "x"}}})
got = c.get_item(TableName="Users", Key={"userId": {"S": "L1"}}, AttributesToGet=["v", "w"])["Item"]
assert got == {"v": {"N": "6"}, "w": {"S": "x"}}, got

# delete
gone = t.delete_item(Key={"userId": "u2"}, ReturnValues="ALL_OLD")["Attributes"]
assert gone["name"] == "Bo"
assert "Item" not in t.get_item(Key={"userId": "u2"})
t.delete()
refused("ResourceNotFoundException", c.describe_table, TableName="Users")
print("ok")
"##
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_scans_and_indexes() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
c.create_table(TableName="Orders",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                          {"AttributeName": "status", "AttributeType": "S"}, {"AttributeName": "total", "AttributeType": "N"}],
    GlobalSecondaryIndexes=[{"IndexName": "byStatus", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "total", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    LocalSecondaryIndexes=[{"IndexName": "byTotal", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "total", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "ALL"}}],
    BillingMode="PAY_PER_REQUEST")
t = r.Table("Orders")
with t.batch_writer() as b:
    for i in range(120):
        item = {"pk": "c1" if i < 100 else "c2", "sk": i, "total": 1000 - i, "note": "x" * 10}
        if i % 2 == 0:
            item["status"] = "open"
        b.put_item(Item=item)
q = t.query(KeyConditionExpression=Key("pk").eq("c1") & Key("sk").between(10, 19))
assert [i["sk"] for i in q["Items"]] == list(range(10, 20)), q["Items"]
q = t.query(KeyConditionExpression=Key("pk").eq("c1") & Key("sk").lt(5), ScanIndexForward=False)
assert [i["sk"] for i in q["Items"]] == [4, 3, 2, 1, 0]
# paging with Limit and LastEvaluatedKey
seen, start = [], None
while True:
    kw = {"ExclusiveStartKey": start} if start else {}
    page = t.query(KeyConditionExpression=Key("pk").eq("c1"), Limit=30, **kw)
    seen += [i["sk"] for i in page["Items"]]
    start = page.get("LastEvaluatedKey")
    if not start:
        break
assert seen == list(range(100)), seen
# filter and count
q = t.query(KeyConditionExpression=Key("pk").eq("c1"), FilterExpression=Attr("total").lte(910) & Attr("status").exists(), Select="COUNT")
assert q["Count"] == 5 and q["ScannedCount"] == 100, q
# the GSI is sparse and keys-only
q = t.query(IndexName="byStatus", KeyConditionExpression=Key("status").eq("open") & Key("total").gt(990))
assert sorted(int(i["total"]) for i in q["Items"]) == [992, 994, 996, 998, 1000], q["Items"]
assert set(q["Items"][0].keys()) == {"pk", "sk", "status", "total"}, q["Items"][0]
refused("ValidationException", t.query, IndexName="byStatus", KeyConditionExpression=Key("status").eq("open"), ConsistentRead=True)
# the LSI orders a partition by total
q = t.query(IndexName="byTotal", KeyConditionExpression=Key("pk").eq("c2"), Limit=3)
assert [int(i["total"]) for i in q["Items"]] == [881, 882, 883], q["Items"]
# parallel scan segments cover the table exactly once
keys = []
for seg in range(4):
    start = None
    while True:
        kw = {"ExclusiveStartKey": start} if start else {}
        page = t.scan(Segment=seg, TotalSegments=4, Limit=7, **kw)
        keys += [(i["pk"], i["sk"]) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
assert len(keys) == 120 and len(set(keys)) == 120
refused("ValidationException", t.query, KeyConditionExpression="sk = :v", ExpressionAttributeValues={":v": 1},
        contains="Query condition missed key schema element: pk")
# a GSI added later is back-filled
c.update_table(TableName="Orders", AttributeDefinitions=[{"AttributeName": "note", "AttributeType": "S"}],
    GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "byNote", "KeySchema": [{"AttributeName": "note", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"}}}])
q = t.query(IndexName="byNote", KeyConditionExpression=Key("note").eq("x" * 10), Select="COUNT")
assert q["Count"] == 120, q
d = c.describe_table(TableName="Orders")["Table"]
assert d["ItemCount"] == 120 and len(d["GlobalSecondaryIndexes"]) == 2, d
print("ok")
"##
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_and_transactions() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
c.create_table(TableName="Acc", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
c.batch_write_item(RequestItems={"Acc": [{"PutRequest": {"Item": {"id": {"S": f"a{i}"}, "bal": {"N": "100"}}}} for i in range(25)]})
got = c.batch_get_item(RequestItems={"Acc": {"Keys": [{"id": {"S": f"a{i}"}} for i in range(30)]}})
assert len(got["Responses"]["Acc"]) == 25 and got["UnprocessedKeys"] == {}, got
refused("ValidationException", c.batch_write_item,
    RequestItems={"Acc": [{"PutRequest": {"Item": {"id": {"S": f"b{i}"}}}} for i in range(26)]})
refused("ValidationException", c.batch_get_item, RequestItems={"Acc": {"Keys": [{"id": {"S": "a1"}}, {"id": {"S": "a1"}}]}},
        contains="Provided list of item keys contains duplicates")

def transfer(token=None, amount="30"):
    kw = {"ClientRequestToken": token} if token else {}
    return c.transact_write_items(TransactItems=[
        {"Update": {"TableName": "Acc", "Key": {"id": {"S": "a1"}}, "UpdateExpression": "SET bal = bal - :v",
                    "ConditionExpression": "bal >= :v", "ExpressionAttributeValues": {":v": {"N": amount}}}},
        {"Update": {"TableName": "Acc", "Key": {"id": {"S": "a2"}}, "UpdateExpression": "SET bal = bal + :v",
                    "ExpressionAttributeValues": {":v": {"N": amount}}}},
    ], **kw)
transfer("tok-1")
transfer("tok-1")  # the same token within 10 minutes applies once
def bal(i):
    return c.get_item(TableName="Acc", Key={"id": {"S": i}})["Item"]["bal"]["N"]
assert (bal("a1"), bal("a2")) == ("70", "130"), (bal("a1"), bal("a2"))
refused("IdempotentParameterMismatchException", transfer, "tok-1", "5")
e = refused("TransactionCanceledException", transfer, None, "1000")
reasons = [r["Code"] for r in e["CancellationReasons"]]
assert reasons == ["ConditionalCheckFailed", "None"], e
assert (bal("a1"), bal("a2")) == ("70", "130")
refused("ValidationException", c.transact_write_items, TransactItems=[
    {"Delete": {"TableName": "Acc", "Key": {"id": {"S": "a3"}}}},
    {"ConditionCheck": {"TableName": "Acc", "Key": {"id": {"S": "a3"}}, "ConditionExpression": "attribute_exists(id)"}}],
    contains="multiple operations on one item")
got = c.transact_get_items(TransactItems=[{"Get": {"TableName": "Acc", "Key": {"id": {"S": "a1"}}}},
                                          {"Get": {"TableName": "Acc", "Key": {"id": {"S": "zz"}}}}])
assert got["Responses"][0]["Item"]["bal"]["N"] == "70" and got["Responses"][1] == {}, got
print("ok")
"##
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_and_answers_in_dynamodbs_words() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
import threading
c.create_table(TableName="Vee", KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
    GlobalSecondaryIndexes=[{"IndexName": "byx", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                             "Projection": {"ProjectionType": "ALL"}}],
    BillingMode="PAY_PER_REQUEST")
t = r.Table("Vee")
t.put_item(Item={"p": "a", "x": "x1", "s": {"dog"}, "n": 1, "l": [1, 2]})

def msg(code, fn, **kw):
    return refused(code, fn, **kw)["Error"]["Message"]

# an empty attribute name, wherever a name is given
empty = "1 validation error detected: Empty attribute name"
for fn, kw in [
    (t.put_item, dict(Item={"p": "b", "": 1})),
    (t.get_item, dict(Key={"p": "a"}, ProjectionExpression="#n", ExpressionAttributeNames={"#n": ""})),
    (c.get_item, dict(TableName="Vee", Key={"p": {"S": "a"}}, AttributesToGet=[""])),
    (c.update_item, dict(TableName="Vee", Key={"p": {"S": "a"}}, AttributeUpdates={"": {"Action": "PUT", "Value": {"N": "2"}}})),
    (t.update_item, dict(Key={"p": "a"}, UpdateExpression="SET #n = :v", ExpressionAttributeNames={"#n": ""},
                         ExpressionAttributeValues={":v": 3})),
]:
    assert msg("ValidationException", fn, **kw) == empty
assert "Item" not in t.get_item(Key={"p": "b"}, ConsistentRead=True)

# a key that does not fit the schema cancels a transaction with a ValidationError reason for
# that action and None for the rest; an empty key value refuses the whole request
e = refused("TransactionCanceledException", c.transact_write_items, TransactItems=[
    {"Put": {"TableName": "Vee", "Item": {"p": {"N": "7"}}}},
    {"Put": {"TableName": "Vee", "Item": {"p": {"N": "8"}}}},
    {"Put": {"TableName": "Vee", "Item": {"p": {"S": "c"}}, "ConditionExpression": "attribute_exists(p)"}}])
assert [r["Code"] for r in e["CancellationReasons"]] == ["ValidationError", "None", "None"], e
assert "Type mismatch for key p" in e["CancellationReasons"][0]["Message"], e
assert "Message" not in e["CancellationReasons"][1]
assert msg("ValidationException", c.transact_write_items, TransactItems=[{"Update": {"TableName": "Vee",
    "Key": {"p": {"S": ""}}, "UpdateExpression": "SET q = :v", "ExpressionAttributeValues": {":v": {"N": "0"}}}}]) == \
    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: p"

# the legacy parameters' own rules
assert msg("ValidationException", c.update_item, TableName="Vee", Key={"p": {"S": "a"}},
           AttributeUpdates={"z": {"Action": "PUT", "Value": {"N": "2"}}},
           Expected={"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"S": "dog"}]}}) == \
    "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type"
without = "ConditionalOperator cannot be used without Filter or Expected"
two = "ConditionalOperator can only be used when Filter or Expected has two or more elements"
assert msg("ValidationException", c.update_item, TableName="Vee", Key={"p": {"S": "a"}},
           AttributeUpdates={"z": {"Action": "PUT", "Value": {"N": "2"}}}, Expected={}, ConditionalOperator="OR") == without
assert msg("ValidationException", c.put_item, TableName="Vee", Item={"p": {"S": "a"}}, ConditionalOperator="AND") == without
assert msg("ValidationException", c.put_item, TableName="Vee", Item={"p": {"S": "a"}}, ConditionalOperator="AND",
           Expected={"n": {"Exists": True, "Value": {"N": "1"}}}) == two
assert msg("ValidationException", c.scan, TableName="Vee", ConditionalOperator="OR") == without
assert msg("ValidationException", c.update_item, TableName="Vee", Key={"p": {"S": "a"}},
           AttributeUpdates={"s": {"Action": "ADD", "Value": {"L": [{"S": "cat"}]}}}) == "Type mismatch for attribute to update"

# expressions
t.update_item(Key={"p": "a"}, UpdateExpression="SET z = :v", ConditionExpression="attribute_type(:v, :t)",
              ExpressionAttributeValues={":v": 0, ":t": "N"})
assert t.get_item(Key={"p": "a"}, ConsistentRead=True)["Item"]["z"] == 0
assert msg("ValidationException", t.update_item, Key={"p": "a"}, UpdateExpression="SET z = :v",
           ConditionExpression="attribute_type(n, s)", ExpressionAttributeValues={":v": 1}) == \
    "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
assert msg("ValidationException", t.update_item, Key={"p": "a"}, UpdateExpression="SET z = :v",
           ConditionExpression="contains(s, s)", ExpressionAttributeValues={":v": 1}) == \
    "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: contains, first operand: [s]"
assert msg("ValidationException", t.scan, FilterExpression="l[1] = l[1]") == \
    "Invalid FilterExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [l, [1]]"
assert msg("ValidationException", t.get_item, Key={"p": "a"}, ProjectionExpression="l[99999999999999]") == \
    "Invalid ProjectionExpression: List index is not within the allowable range; index: [99999999999999]"
assert t.get_item(Key={"p": "a"}, ProjectionExpression="l[999]", ConsistentRead=True)["Item"] == {}
assert msg("ValidationException", t.update_item, Key={"p": "a"}, UpdateExpression="SET l = list_append(list_append(:a, :b), :a)",
           ExpressionAttributeValues={":a": [1], ":b": [2]}) == \
    "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: list_append"
t.update_item(Key={"p": "a"}, UpdateExpression="SET l = list_append(if_not_exists(l, :a), :b)",
              ExpressionAttributeValues={":a": [], ":b": [3]})
assert t.get_item(Key={"p": "a"}, ConsistentRead=True)["Item"]["l"] == [1, 2, 3]
deep = "leaf"
for _ in range(40):
    deep = {"a": deep}
assert msg("ValidationException", t.put_item, Item={"p": "d", "deep": deep}) == \
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"

# constraints of the request's shape, in Coral's words (a client that does not check them first)
raw = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"],
                   config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 0}))
schema = dict(KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
              AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}], BillingMode="PROVISIONED")
assert msg("ValidationException", raw.create_table, TableName="Pt1", ProvisionedThroughput={"WriteCapacityUnits": 1},
           **schema) == "1 validation error detected: Value null at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must not be null"
assert msg("ValidationException", raw.create_table, TableName="Pt1", ProvisionedThroughput={}, **schema) == \
    "2 validation errors detected: Value null at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must not be null; Value null at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must not be null"
too_long = "n" * 256
for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
    key = [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "x", "KeyType": "RANGE"}]
    gsi_key = [{"AttributeName": "x", "KeyType": "HASH"}]
    index = {"IndexName": "wide", "KeySchema": key if kind == "LocalSecondaryIndexes" else gsi_key,
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": [too_long]}}
    m = msg("ValidationException", raw.create_table, TableName="Pt2", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in "psx"], **{kind: [index]})
    assert "projection.nonKeyAttributes' failed to satisfy constraint" in m and "less than or equal to 255" in m, m
rawstreams = boto3.client("dynamodbstreams", endpoint_url=os.environ["ENDPOINT"],
                          config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 0}))
refused("ValidationException", rawstreams.list_streams, ExclusiveStartStreamArn="not-a-stream-arn-at-all-but-long-enough")

# a table's ARN stands for its name, in every operation that names a table
arn = c.describe_table(TableName="Vee")["Table"]["TableArn"]
c.put_item(TableName=arn, Item={"p": {"S": "byarn"}, "x": {"S": "x9"}})
assert c.get_item(TableName=arn, Key={"p": {"S": "byarn"}}, ConsistentRead=True)["Item"]["x"] == {"S": "x9"}
c.transact_write_items(TransactItems=[{"Update": {"TableName": arn, "Key": {"p": {"S": "byarn"}},
    "UpdateExpression": "SET y = :y", "ExpressionAttributeValues": {":y": {"N": "1"}}}}])
got = c.batch_get_item(RequestItems={arn: {"Keys": [{"p": {"S": "byarn"}}]}})["Responses"]
assert list(got) == [arn] and got[arn][0]["y"] == {"N": "1"}, got
assert c.query(TableName=arn, IndexName="byx", KeyConditionExpression="x = :x",
               ExpressionAttributeValues={":x": {"S": "x9"}})["Count"] == 1
assert c.describe_table(TableName=arn)["Table"]["TableName"] == "Vee"
# ... and ConsumedCapacity names the table as the request did
cc = c.get_item(TableName=arn, Key={"p": {"S": "byarn"}}, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
assert cc["TableName"] == arn, cc
cc = c.batch_get_item(RequestItems={arn: {"Keys": [{"p": {"S": "byarn"}}]}},
                      ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
assert [x["TableName"] for x in cc] == [arn], cc
assert c.get_item(TableName="Vee", Key={"p": {"S": "byarn"}}, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]["TableName"] == "Vee"
other = arn.replace(":123456789012:", ":999999999999:")
refused("ResourceNotFoundException", c.get_item, TableName=other, Key={"p": {"S": "byarn"}})
c.delete_item(TableName=arn, Key={"p": {"S": "byarn"}})

# the health line names the host the endpoint was addressed as
import urllib.request
health = urllib.request.urlopen(os.environ["ENDPOINT"] + "/").read().decode()
assert health == "healthy: " + os.environ["ENDPOINT"].split("//", 1)[1].rstrip("/") + " ", health

# a read of an index is the index's capacity, the table's share zero
cc = c.query(TableName="Vee", IndexName="byx", KeyConditionExpression="x = :x",
             ExpressionAttributeValues={":x": {"S": "x1"}}, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
assert cc == {"TableName": "Vee", "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.0},
              "GlobalSecondaryIndexes": {"byx": {"CapacityUnits": 0.5}}}, cc
cc = c.scan(TableName="Vee", ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
assert "GlobalSecondaryIndexes" not in cc and cc["Table"]["CapacityUnits"] == cc["CapacityUnits"] > 0, cc

# tags changed at once from two clients are all kept
arn = c.describe_table(TableName="Vee")["Table"]["TableArn"]
errors = []
def churn(key):
    try:
        for _ in range(40):
            c.tag_resource(ResourceArn=arn, Tags=[{"Key": key, "Value": "v"}])
            tags = {x["Key"] for x in c.list_tags_of_resource(ResourceArn=arn)["Tags"]}
            assert key in tags, (key, tags)
            c.untag_resource(ResourceArn=arn, TagKeys=[key])
            tags = {x["Key"] for x in c.list_tags_of_resource(ResourceArn=arn)["Tags"]}
            assert key not in tags, (key, tags)
    except Exception as e:
        errors.append(e)
threads = [threading.Thread(target=churn, args=(k,)) for k in ("A", "B")]
for th in threads: th.start()
for th in threads: th.join()
assert not errors, errors
c.tag_resource(ResourceArn=arn, Tags=[{"Key": "keep", "Value": "1"}])
assert c.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "keep", "Value": "1"}]
print("ok")
"##
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}
