//! PartiQL through boto3 (the real AWS SDK for Python): ExecuteStatement with each statement
//! form DynamoDB accepts, parameters and literals, pages, BatchExecuteStatement,
//! ExecuteTransaction, DynamoDB's errors, and the PartiQL IAM actions.

mod harness;

use std::path::Path;
use std::time::Duration;

use harness::{Server, boto3, call, run_python};
use meridian_config::sam::{TemplateOptions, load_template_str};
use meridian_storage::keys::Policy;

const PRELUDE: &str = r#"
import os, boto3, botocore
c = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"],
                 config=botocore.config.Config(retries={"max_attempts": 0}))
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
def run(statement, *params, **kw):
    if params:
        kw["Parameters"] = list(params)
    return c.execute_statement(Statement=statement, **kw)
def get(pk, sk):
    return c.get_item(TableName="Orders", Key={"pk": {"S": pk}, "sk": {"N": str(sk)}}, ConsistentRead=True).get("Item")
c.create_table(TableName="Orders",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                          {"AttributeName": "status", "AttributeType": "S"}],
    GlobalSecondaryIndexes=[{"IndexName": "byStatus", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                             "Projection": {"ProjectionType": "ALL"}}],
    BillingMode="PAY_PER_REQUEST")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn statements_parameters_literals_and_errors() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r##"
# INSERT with literals of every kind, and with parameters
out = run("""INSERT INTO "Orders" VALUE {'pk': 'a', 'sk': 1, 'status': 'open', 'total': -12.50,
          'tags': <<'x', 'y'>>, 'sizes': <<1, 2>>, 'lines': [1, 'two', true, null], 'addr': {'city': 'Oslo', 'zip': '0150'}}""")
assert out["Items"] == [], out
it = get("a", 1)
assert it == {"pk": {"S": "a"}, "sk": {"N": "1"}, "status": {"S": "open"}, "total": {"N": "-12.5"},
              "tags": {"SS": ["x", "y"]}, "sizes": {"NS": ["1", "2"]},
              "lines": {"L": [{"N": "1"}, {"S": "two"}, {"BOOL": True}, {"NULL": True}]},
              "addr": {"M": {"city": {"S": "Oslo"}, "zip": {"S": "0150"}}}}, it
for sk in range(2, 8):
    run("INSERT INTO Orders VALUE {'pk': ?, 'sk': ?, 'status': ?, 'n': ?}",
        {"S": "a"}, {"N": str(sk)}, {"S": "open" if sk % 2 else "done"}, {"N": str(sk * 10)})
run("INSERT INTO Orders VALUE {'pk': 'b', 'sk': 1, 'status': 'open', 'n': 5}")
# a duplicate key, in DynamoDB's words, and nothing written
e = refused("DuplicateItemException", run, "INSERT INTO Orders VALUE {'pk': 'a', 'sk': 1, 'other': 1}",
            contains="Duplicate primary key exists in table")
assert "other" not in get("a", 1)

# SELECT: a Query on the partition key, with sort key and filter conditions
items = run('SELECT * FROM "Orders" WHERE pk = ?', {"S": "a"})["Items"]
assert [i["sk"]["N"] for i in items] == ["1", "2", "3", "4", "5", "6", "7"], items
items = run("SELECT sk, n FROM Orders WHERE pk = 'a' AND sk BETWEEN 2 AND 5")["Items"]
assert items == [{"sk": {"N": str(s)}, "n": {"N": str(s * 10)}} for s in range(2, 6)], items
def sks(statement, *params):
    return sorted(int(i["sk"]["N"]) for i in run(statement, *params)["Items"])
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND sk > 5") == [6, 7]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND sk >= 5") == [5, 6, 7]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND sk < 3") == [1, 2]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND sk <= 3") == [1, 2, 3]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND n <> 30 AND n >= 20") == [2, 4, 5, 6, 7]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND n IN [20, 40, 999]") == [2, 4]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND (n = 20 OR n = 70)") == [2, 7]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND n IS NOT MISSING AND NOT n < 60") == [6, 7]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND begins_with(status, 'do')") == [2, 4, 6]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND n IS MISSING") == [1]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND tags IS NOT MISSING") == [1]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND attribute_exists(addr.city)") == [1]
assert sks("SELECT sk FROM Orders WHERE pk = 'a' AND addr.city = 'Oslo' AND lines[1] = 'two'") == [1]
# a nested path is answered under its last name, as PartiQL does
assert run("SELECT addr.city, \"addr\".zip, pk FROM Orders WHERE pk = 'a' AND sk = 1")["Items"] == [
    {"city": {"S": "Oslo"}, "zip": {"S": "0150"}, "pk": {"S": "a"}}], run("SELECT addr.city FROM Orders WHERE pk = 'a' AND sk = 1")
# a Scan without the partition key, and a key condition that only a Scan can serve
assert sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in run("SELECT pk, sk FROM Orders WHERE sk = 1")["Items"]) == [("a", 1), ("b", 1)]
assert sks("SELECT * FROM Orders WHERE pk = 'a' AND (sk = 1 OR sk = 7)") == [1, 7]
assert len(run("SELECT * FROM Orders")["Items"]) == 8
# an index
assert sks('SELECT * FROM "Orders"."byStatus" WHERE status = ?', {"S": "done"}) == [2, 4, 6]
e = refused("ValidationException", run, 'SELECT * FROM "Orders"."nope" WHERE status = 1')
assert e["Error"]["Message"] == "The table does not have the specified index", e
e = refused("ValidationException", run, 'SELECT * FROM "Orders"."byStatus"."x" WHERE status = 1')
assert e["Error"]["Message"] == "A path may contain at most 2 components in the FROM clause", e
e = refused("ValidationException", run, 'SELECT * FROM "Orders"."" WHERE status = 1')
assert e["Error"]["Message"] == "Path component cannot be an empty string", e
e = refused("ValidationException", run, 'SELECT * FROM "Orders"."byStatus" WHERE status = 1', ConsistentRead=True)
assert e["Error"]["Message"] == "Strongly consistent read is not supported on Global Secondary Indexes", e

# ReturnConsumedCapacity is answered as the Query's
out = run("SELECT * FROM Orders WHERE pk = 'a'", ReturnConsumedCapacity="TOTAL")
assert out["ConsumedCapacity"]["TableName"] == "Orders" and out["ConsumedCapacity"]["CapacityUnits"] > 0, out

# Limit and NextToken page through a Query and a Scan
for statement in ["SELECT sk FROM Orders WHERE pk = 'a'", "SELECT sk FROM Orders"]:
    seen, token, pages = [], None, 0
    while True:
        kw = {"Limit": 3}
        if token:
            kw["NextToken"] = token
        out = run(statement, **kw)
        pages += 1
        assert len(out["Items"]) <= 3, out
        seen += [int(i["sk"]["N"]) for i in out["Items"]]
        token = out.get("NextToken")
        if not token:
            break
    assert pages >= 3, (statement, seen, pages)
    assert sorted(seen) == (list(range(1, 8)) if "WHERE" in statement else sorted(list(range(1, 8)) + [1])), seen
refused("ValidationException", run, "SELECT * FROM Orders", NextToken="not-a-token!")

# UPDATE: SET with literals, parameters and arithmetic, REMOVE, on the full key
run("UPDATE Orders SET n = 1 WHERE pk = 'a' AND sk = 1")
run("UPDATE Orders SET n = n + 5, status = ?, note = 'hi' REMOVE tags WHERE pk = 'a' AND sk = 1", {"S": "done"})
run("UPDATE Orders SET n = n - 1 SET addr.city = 'Bergen' WHERE pk = 'a' AND sk = 1")
it = get("a", 1)
assert it["n"] == {"N": "5"} and it["status"] == {"S": "done"} and it["note"] == {"S": "hi"}, it
assert "tags" not in it and it["addr"]["M"]["city"] == {"S": "Bergen"}, it
# RETURNING answers the item as UpdateItem's ReturnValues would
out = run("UPDATE Orders SET n = 5 WHERE pk = 'a' AND sk = 1 RETURNING MODIFIED OLD *")["Items"]
assert out == [{"n": {"N": "5"}}], out
out = run("UPDATE Orders SET note = 'hi' WHERE pk = 'a' AND sk = 1 RETURNING MODIFIED NEW *")["Items"]
assert out == [{"note": {"S": "hi"}}], out
out = run("UPDATE Orders SET n = 5 WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *")["Items"]
assert out[0]["pk"] == {"S": "a"} and out[0]["n"] == {"N": "5"}, out
# with a condition: false leaves the item as it was
refused("ConditionalCheckFailedException", run, "UPDATE Orders SET n = 100 WHERE pk = 'a' AND sk = 1 AND n > 50")
assert get("a", 1)["n"] == {"N": "5"}
run("UPDATE Orders SET n = 100 WHERE pk = 'a' AND sk = 1 AND n < 50")
assert get("a", 1)["n"] == {"N": "100"}
# an UPDATE never creates an item
refused("ConditionalCheckFailedException", run, "UPDATE Orders SET n = 1 WHERE pk = 'zz' AND sk = 1")
assert get("zz", 1) is None
# the full key is required
refused("ValidationException", run, "UPDATE Orders SET n = 1 WHERE pk = 'a'",
        contains="Where clause does not contain a mandatory equality on all key attributes")

# DELETE on the full key, with a condition
refused("ConditionalCheckFailedException", run, "DELETE FROM Orders WHERE pk = 'a' AND sk = 2 AND n = 999")
assert get("a", 2) is not None
run('DELETE FROM "Orders" WHERE pk = ? AND sk = ? AND n = 20', {"S": "a"}, {"N": "2"})
assert get("a", 2) is None
e = refused("ValidationException", run, "DELETE FROM Orders WHERE pk = 'a' AND sk = 3 RETURNING ALL NEW *")
assert e["Error"]["Message"] == "Invalid returning clause: RETURNING ALL NEW *. Only RETURNING ALL OLD * is allowed in DELETE statements.", e
out = run("DELETE FROM Orders WHERE pk = 'a' AND sk = 3 RETURNING ALL OLD *")["Items"]
assert out[0]["sk"] == {"N": "3"} and out[0]["n"] == {"N": "30"}, out
assert get("a", 3) is None
refused("ValidationException", run, "DELETE FROM Orders WHERE sk = 3",
        contains="Where clause does not contain a mandatory equality on all key attributes")

# comparisons of non-scalar values: sets and maps by content, lists by order
c.put_item(TableName="Orders", Item={"pk": {"S": "cmp"}, "sk": {"N": "1"}, "ss": {"SS": ["a", "b", "c"]},
    "l": {"L": [{"S": "a"}, {"S": "b"}]}, "m": {"M": {"x": {"N": "1"}, "y": {"N": "2"}}}, "flag": {"BOOL": True}})
def hits(clause, *params):
    return len(run(f"SELECT pk FROM Orders WHERE pk = 'cmp' AND sk = 1 AND {clause}", *params)["Items"])
assert hits("ss = ?", {"SS": ["c", "a", "b"]}) == 1 and hits("ss <> ?", {"SS": ["a", "b", "d"]}) == 1
assert hits("l = ?", {"L": [{"S": "b"}, {"S": "a"}]}) == 0 and hits("l = ?", {"L": [{"S": "a"}, {"S": "b"}]}) == 1
assert hits("m = ?", {"M": {"y": {"N": "2"}, "x": {"N": "1"}}}) == 1
assert hits("flag = ?", {"BOOL": True}) == 1 and hits("flag <> ?", {"BOOL": True}) == 0
e = refused("ValidationException", hits, "flag < ?", {"BOOL": True})
assert e["Error"]["Message"] == "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL", e
# a conditioned write on a set compares by content
run("UPDATE Orders SET touched = 'yes' WHERE pk = 'cmp' AND sk = 1 AND ss = ?", {"SS": ["b", "c", "a"]})
assert get("cmp", 1)["touched"] == {"S": "yes"}

# syntax errors and bad parameters
for bad in ["SELEC * FROM Orders", "SELECT * FROM", "SELECT * FROM Orders WHERE", "SELECT * FROM Orders WHERE pk = 'a",
            "INSERT INTO Orders VALUE 'x'", "UPDATE Orders WHERE pk = 'a'", "SELECT * FROM Orders WHERE pk == 'a'",
            "DELETE Orders WHERE pk = 'a' AND sk = 1"]:
    refused("ValidationException", run, bad, contains="Statement wasn't well formed, can't be processed")
e = refused("ValidationException", run, "SLECT * FROM Orders")
assert e["Error"]["Message"] == "Statement wasn't well formed, can't be processed: Expected data manipulation", e
refused("ValidationException", run, "SELECT * FROM Orders WHERE pk = ?",
        contains="Number of parameters in request and statement don't match")
refused("ValidationException", run, "SELECT * FROM Orders", {"S": "extra"},
        contains="Number of parameters in request and statement don't match")
refused("ResourceNotFoundException", run, "SELECT * FROM Nope WHERE pk = 'a'")
refused("ResourceNotFoundException", run, "INSERT INTO Nope VALUE {'pk': 'a'}")
# a key of the wrong type, as PutItem refuses it
refused("ValidationException", run, "INSERT INTO Orders VALUE {'pk': 'a', 'sk': 'one'}")
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
def stmt(s, *params):
    d = {"Statement": s}
    if params:
        d["Parameters"] = list(params)
    return d

# BatchExecuteStatement: writes, each answered on its own
out = c.batch_execute_statement(Statements=[
    stmt("INSERT INTO Orders VALUE {'pk': 'a', 'sk': 1, 'n': 1}"),
    stmt("INSERT INTO Orders VALUE {'pk': ?, 'sk': 2, 'n': 2}", {"S": "a"}),
    stmt("INSERT INTO Orders VALUE {'pk': 'a', 'sk': 1, 'n': 9}"),
    stmt("UPDATE Orders SET n = 9 WHERE pk = 'a' AND sk = 5"),
    stmt("SELEC nonsense"),
])["Responses"]
assert "Error" not in out[0] and "Error" not in out[1], out
assert out[0]["TableName"] == "Orders", out
assert out[2]["Error"]["Code"] == "DuplicateItem", out
assert out[3]["Error"]["Code"] == "ConditionalCheckFailed", out
assert out[4]["Error"]["Code"] == "ValidationError", out
assert get("a", 1)["n"] == {"N": "1"} and get("a", 2)["n"] == {"N": "2"}
# reads by full key
out = c.batch_execute_statement(Statements=[
    stmt("SELECT n FROM Orders WHERE pk = 'a' AND sk = 1"),
    stmt("SELECT * FROM Orders WHERE pk = 'a' AND sk = ?", {"N": "2"}),
    stmt("SELECT * FROM Orders WHERE pk = 'a' AND sk = 3"),
    stmt("SELECT * FROM Orders WHERE pk = 'a'"),
])["Responses"]
assert out[0]["Item"] == {"n": {"N": "1"}}, out
assert out[1]["Item"]["n"] == {"N": "2"}, out
assert "Item" not in out[2] and "Error" not in out[2], out
assert out[3]["Error"]["Code"] == "ValidationError", out
assert "must specify the primary key in the where clause" in out[3]["Error"]["Message"], out
# RETURNING in a batch answers the item
out = c.batch_execute_statement(Statements=[
    stmt("UPDATE Orders SET n = 7 WHERE pk = 'a' AND sk = 1 RETURNING MODIFIED NEW *"),
    stmt("UPDATE Orders REMOVE nothing WHERE pk = 'a' AND sk = 2 RETURNING MODIFIED NEW *"),
    stmt("DELETE FROM Orders WHERE pk = 'a' AND sk = 2 RETURNING MODIFIED OLD *"),
])["Responses"]
assert out[0]["Item"] == {"n": {"N": "7"}}, out
assert "Item" not in out[1] and "Error" not in out[1] and out[1]["TableName"] == "Orders", out
assert out[2]["Error"] == {"Code": "ValidationError", "Message":
    "Invalid returning clause: RETURNING MODIFIED OLD *. Only RETURNING ALL OLD * is allowed in DELETE statements."}, out
c.execute_statement(Statement="UPDATE Orders SET n = 1 WHERE pk = 'a' AND sk = 1")
refused("ValidationException", c.batch_execute_statement, Statements=[
    stmt("SELECT * FROM Orders WHERE pk = 'a' AND sk = 1"),
    stmt("DELETE FROM Orders WHERE pk = 'a' AND sk = 1")])
refused("ValidationException", c.batch_execute_statement,
    Statements=[stmt(f"SELECT * FROM Orders WHERE pk = 'a' AND sk = {i}") for i in range(26)])

# ExecuteTransaction: all writes apply together...
c.execute_transaction(TransactStatements=[
    stmt("INSERT INTO Orders VALUE {'pk': 'b', 'sk': 1, 'n': 10}"),
    stmt("UPDATE Orders SET n = n - 1 WHERE pk = 'a' AND sk = 1 AND n >= 1"),
    stmt("DELETE FROM Orders WHERE pk = 'a' AND sk = 2"),
], ClientRequestToken="tok-1")
assert get("b", 1)["n"] == {"N": "10"} and get("a", 1)["n"] == {"N": "0"} and get("a", 2) is None
# ...or not at all, with the reasons in DynamoDB's codes
e = refused("TransactionCanceledException", c.execute_transaction, TransactStatements=[
    stmt("INSERT INTO Orders VALUE {'pk': 'c', 'sk': 1}"),
    stmt("INSERT INTO Orders VALUE {'pk': 'b', 'sk': 1}"),
    stmt("UPDATE Orders SET n = n - 1 WHERE pk = 'a' AND sk = 1 AND n >= 1"),
], contains="[None, DuplicateItem, ConditionalCheckFailed]")
assert [r["Code"] for r in e["CancellationReasons"]] == ["None", "DuplicateItem", "ConditionalCheckFailed"], e
assert get("c", 1) is None and get("a", 1)["n"] == {"N": "0"}
# reads in a transaction
out = c.execute_transaction(TransactStatements=[
    stmt("SELECT n FROM Orders WHERE pk = 'b' AND sk = 1"),
    stmt("SELECT * FROM Orders WHERE pk = 'zz' AND sk = 1"),
])["Responses"]
assert out[0]["Item"] == {"n": {"N": "10"}} and out[1] == {}, out
refused("ValidationException", c.execute_transaction, TransactStatements=[
    stmt("SELECT * FROM Orders WHERE pk = 'b' AND sk = 1"),
    stmt("DELETE FROM Orders WHERE pk = 'b' AND sk = 1")])
refused("ValidationException", c.execute_transaction, TransactStatements=[stmt("UPDATE Orders SET n = 1 WHERE pk = 'b'")],
        contains="Where clause does not contain a mandatory equality on all key attributes")
refused("ValidationException", c.execute_transaction, TransactStatements=[stmt("INSERT INTO Orders")],
        contains="Statement wasn't well formed, can't be processed")
e = refused("ValidationException", c.execute_transaction, TransactStatements=[
    stmt("INSERT INTO Orders VALUE {'pk': 'd', 'sk': 1}"),
    stmt("UPDATE Orders SET n = 1 WHERE pk = 'b' AND sk = 1 RETURNING ALL NEW *")])
assert e["Error"]["Message"] == "Validation failed in TransactStatements[1]: RETURNING clause is not supported in ExecuteTransaction.", e
e = refused("ValidationException", c.execute_transaction, TransactStatements=[
    stmt("SELECT * FROM Orders.byStatus WHERE status = 'open'")])
assert e["Error"]["Message"] == "Validation failed in TransactStatements[0]: Reads on indices are not supported within transactions.", e
assert get("b", 1)["n"] == {"N": "10"} and get("d", 1) is None
print("ok")
"##
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

const TEMPLATE: &str = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: app.handler, InlineCode: x}
Resources:
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:PartiQLSelect]
              Resource: arn:aws:dynamodb:us-east-1:123456789012:table/Users
"#;

#[tokio::test]
async fn partiql_needs_the_partiql_actions() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let url = server.url();
    let (status, _, body) = call(
        &url,
        "CreateTable",
        r#"{"TableName": "Users", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "userId", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "userId", "KeyType": "HASH"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let t = load_template_str(
        Path::new("template.yaml"),
        TEMPLATE,
        &TemplateOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d:#?}"));
    let policy = Policy::from_statements(&t.function("Reader").expect("function").policies);
    let cred = server
        .keys
        .issue_session("Reader", policy, Duration::from_secs(3600));
    let script = format!(
        r#"
import os, boto3, botocore
c = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"],
    aws_access_key_id={id:?}, aws_secret_access_key={secret:?}, aws_session_token={token:?})
assert c.execute_statement(Statement="SELECT * FROM Users")["Items"] == []
for s in ["INSERT INTO Users VALUE {{'userId': 'a'}}", "UPDATE Users SET x = 1 WHERE userId = 'a'",
          "DELETE FROM Users WHERE userId = 'a'"]:
    try:
        c.execute_statement(Statement=s)
        raise AssertionError(s)
    except botocore.exceptions.ClientError as e:
        print(e.response["Error"]["Code"], e.response["Error"]["Message"])
"#,
        id = cred.access_key_id,
        secret = cred.secret_access_key,
        token = cred.session_token.clone().unwrap_or_default(),
    );
    let out = run_python(&python, &url, &script).await;
    let lines: Vec<&str> = out.lines().collect();
    let users = "arn:aws:dynamodb:us-east-1:123456789012:table/Users";
    let role = "arn:aws:sts::123456789012:assumed-role/Reader/Reader";
    let expected: Vec<String> = ["PartiQLInsert", "PartiQLUpdate", "PartiQLDelete"]
        .iter()
        .map(|a| {
            format!(
                "AccessDeniedException User: {role} is not authorized to perform: dynamodb:{a} on resource: {users} because no identity-based policy allows the dynamodb:{a} action"
            )
        })
        .collect();
    assert_eq!(lines, expected, "{out}");
}
