//! Session credentials scoped by a SAM function's `Policies`, used from boto3: what the
//! policy allows works, another table or a forbidden action answers DynamoDB's
//! `AccessDeniedException`, and a session key without its token is not recognised.

mod harness;

use std::path::Path;
use std::time::Duration;

use harness::{Server, boto3, call, run_python};
use meridian_config::sam::{TemplateOptions, load_template_str};
use meridian_storage::keys::Policy;

const TEMPLATE: &str = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: app.handler, InlineCode: x}
Resources:
  Crud:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - DynamoDBCrudPolicy: {TableName: Users}
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - DynamoDBReadPolicy: {TableName: Users}
        - Statement:
            - Effect: Deny
              Action: dynamodb:Scan
              Resource: "*"
"#;

/// The policy of one of the template's functions, as the node gives it.
fn policy(function: &str) -> Policy {
    let t = load_template_str(
        Path::new("template.yaml"),
        TEMPLATE,
        &TemplateOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d:#?}"));
    Policy::from_statements(&t.function(function).expect("function").policies)
}

fn table(name: &str) -> String {
    format!(
        r#"{{"TableName": "{name}", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{{"AttributeName": "userId", "AttributeType": "S"}},
                                 {{"AttributeName": "email", "AttributeType": "S"}}],
        "KeySchema": [{{"AttributeName": "userId", "KeyType": "HASH"}}],
        "GlobalSecondaryIndexes": [{{"IndexName": "byEmail",
            "KeySchema": [{{"AttributeName": "email", "KeyType": "HASH"}}],
            "Projection": {{"ProjectionType": "ALL"}}}}]}}"#
    )
}

const SCRIPT: &str = r#"
import json, os, boto3
from botocore.exceptions import ClientError
ddb = boto3.client("dynamodb", endpoint_url=os.environ["ENDPOINT"],
                   aws_access_key_id=os.environ["KEY_ID"],
                   aws_secret_access_key=os.environ["SECRET"],
                   aws_session_token=os.environ.get("TOKEN") or None)
item = lambda u: {"userId": {"S": u}, "email": {"S": u + "@example.com"}}
def attempt(name, f):
    try:
        f()
        print(json.dumps([name, "ok"]))
    except ClientError as e:
        err = e.response["Error"]
        print(json.dumps([name, err["Code"], err["Message"],
                          e.response["ResponseMetadata"]["HTTPStatusCode"]]))
for name, f in [
    ("put", lambda: ddb.put_item(TableName="Users", Item=item("ada"))),
    ("get", lambda: ddb.get_item(TableName="Users", Key={"userId": {"S": "ada"}})),
    ("query index", lambda: ddb.query(TableName="Users", IndexName="byEmail",
        KeyConditionExpression="email = :e",
        ExpressionAttributeValues={":e": {"S": "ada@example.com"}})),
    ("scan", lambda: ddb.scan(TableName="Users")),
    ("transact", lambda: ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "Users", "Item": item("bob")}},
        {"ConditionCheck": {"TableName": "Users", "Key": {"userId": {"S": "ada"}},
                            "ConditionExpression": "attribute_exists(userId)"}}])),
    ("other table", lambda: ddb.get_item(TableName="Other", Key={"userId": {"S": "ada"}})),
    ("batch across tables", lambda: ddb.batch_write_item(RequestItems={
        "Users": [{"PutRequest": {"Item": item("cy")}}],
        "Other": [{"PutRequest": {"Item": item("cy")}}]})),
    ("list tables", lambda: ddb.list_tables()),
    ("delete table", lambda: ddb.delete_table(TableName="Users")),
]:
    attempt(name, f)
"#;

/// Runs the script with a session; one `[name, outcome...]` per attempt.
async fn attempts(
    python: &Path,
    url: &str,
    id: &str,
    secret: &str,
    token: &str,
) -> Vec<serde_json::Value> {
    let script = format!(
        "import os\nos.environ.update(KEY_ID={id:?}, SECRET={secret:?}, TOKEN={token:?})\n{SCRIPT}"
    );
    run_python(python, url, &script)
        .await
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn outcome<'a>(all: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    all.iter()
        .find(|a| a[0] == name)
        .unwrap_or_else(|| panic!("no attempt {name}: {all:#?}"))
}

const ROLE: &str = "arn:aws:sts::123456789012:assumed-role";
const USERS: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/Users";
const OTHER: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/Other";

#[tokio::test]
async fn a_session_may_do_what_its_policies_allow_and_nothing_else() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let url = server.url();
    for t in ["Users", "Other"] {
        let (status, _, body) = call(&url, "CreateTable", &table(t)).await;
        assert_eq!(status, 200, "{body}");
    }
    let hour = Duration::from_secs(3600);

    let crud = server.keys.issue_session("Crud", policy("Crud"), hour);
    let token = crud.session_token.clone().expect("a session has a token");
    let got = attempts(
        &python,
        &url,
        &crud.access_key_id,
        &crud.secret_access_key,
        &token,
    )
    .await;
    for ok in ["put", "get", "query index", "scan", "transact"] {
        assert_eq!(outcome(&got, ok)[1], "ok", "{ok}: {got:#?}");
    }
    assert_eq!(
        outcome(&got, "other table"),
        &serde_json::json!([
            "other table",
            "AccessDeniedException",
            format!(
                "User: {ROLE}/Crud/Crud is not authorized to perform: dynamodb:GetItem on resource: {OTHER} because no identity-based policy allows the dynamodb:GetItem action"
            ),
            400
        ])
    );
    assert_eq!(
        outcome(&got, "batch across tables")[2],
        format!(
            "User: {ROLE}/Crud/Crud is not authorized to perform: dynamodb:BatchWriteItem on resource: {OTHER} because no identity-based policy allows the dynamodb:BatchWriteItem action"
        )
    );
    assert_eq!(
        outcome(&got, "list tables")[2],
        format!(
            "User: {ROLE}/Crud/Crud is not authorized to perform: dynamodb:ListTables on resource: * because no identity-based policy allows the dynamodb:ListTables action"
        )
    );
    assert_eq!(outcome(&got, "delete table")[1], "AccessDeniedException");

    let reader = server.keys.issue_session("Reader", policy("Reader"), hour);
    let got = attempts(
        &python,
        &url,
        &reader.access_key_id,
        &reader.secret_access_key,
        reader.session_token.as_deref().expect("token"),
    )
    .await;
    assert_eq!(outcome(&got, "get")[1], "ok", "{got:#?}");
    assert_eq!(outcome(&got, "query index")[1], "ok", "{got:#?}");
    assert_eq!(
        outcome(&got, "put")[2],
        format!(
            "User: {ROLE}/Reader/Reader is not authorized to perform: dynamodb:PutItem on resource: {USERS} because no identity-based policy allows the dynamodb:PutItem action"
        )
    );
    assert_eq!(
        outcome(&got, "scan")[2],
        format!(
            "User: {ROLE}/Reader/Reader is not authorized to perform: dynamodb:Scan on resource: {USERS} with an explicit deny in an identity-based policy"
        )
    );
    assert_eq!(outcome(&got, "transact")[1], "AccessDeniedException");

    // Without its token the session key is not a credential.
    let got = attempts(
        &python,
        &url,
        &crud.access_key_id,
        &crud.secret_access_key,
        "",
    )
    .await;
    assert_eq!(
        outcome(&got, "get")[1],
        "UnrecognizedClientException",
        "{got:#?}"
    );

    // Nothing denied was written: the item batch to Users did not land either.
    let (_, _, body) = call(
        &url,
        "GetItem",
        r#"{"TableName": "Users", "Key": {"userId": {"S": "cy"}}}"#,
    )
    .await;
    assert!(body.get("Item").is_none(), "{body}");
    let (_, _, body) = call(
        &url,
        "GetItem",
        r#"{"TableName": "Users", "Key": {"userId": {"S": "bob"}}}"#,
    )
    .await;
    assert_eq!(body["Item"]["email"]["S"], "bob@example.com");
}
