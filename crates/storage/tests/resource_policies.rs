//! Resource-based policies on tables, with a raw signed client: what a policy grants a role
//! or another account works, what it denies is refused even to the account's own keys, the
//! account can always take the policy back, revisions guard changes, bad documents are
//! refused, and a policy outlives a `kill -9`.

mod harness;

use std::time::Duration;

use harness::{Process, Server, call, call_at};
use meridian_storage::keys::{Account, KeyDeclaration, Policy};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/Shared";

fn create(policy: Option<&Value>) -> String {
    let mut req = json!({
        "TableName": "Shared", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]
    });
    if let Some(p) = policy {
        req["ResourcePolicy"] = Value::String(p.to_string());
    }
    req.to_string()
}

fn get(k: &str) -> String {
    json!({"TableName": "Shared", "Key": {"k": {"S": k}}}).to_string()
}

fn put(k: &str) -> String {
    json!({"TableName": "Shared", "Item": {"k": {"S": k}}}).to_string()
}

fn statement(effect: &str, principal: Value, actions: &[&str]) -> Value {
    json!({"Effect": effect, "Principal": principal, "Action": actions, "Resource": ARN})
}

fn document(statements: &[Value]) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn put_policy(doc: &Value, expected: Option<&str>) -> String {
    let mut req = json!({"ResourceArn": ARN, "Policy": doc.to_string()});
    if let Some(e) = expected {
        req["ExpectedRevisionId"] = Value::String(e.to_owned());
    }
    req.to_string()
}

/// GetResourcePolicy or DeleteResourcePolicy of `arn`, as the account's keys.
async fn on_policy(url: &str, op: &str, arn: &str) -> (u16, Value) {
    let (status, _, body) = call(url, op, &json!({"ResourceArn": arn}).to_string()).await;
    (status, body)
}

fn error(body: &Value) -> (&str, &str) {
    (
        body["__type"]
            .as_str()
            .and_then(|t| t.rsplit('#').next())
            .unwrap_or(""),
        body["message"].as_str().unwrap_or(""),
    )
}

/// A signed request with another key (and a session's token).
async fn call_as(url: &str, key: (&str, &str, Option<&str>), op: &str, body: &str) -> (u16, Value) {
    let token: Vec<(&str, &str)> = key
        .2
        .map(|t| ("x-amz-security-token", t))
        .into_iter()
        .collect();
    let (status, _, body) = call_at(
        url,
        "/",
        op,
        body.as_bytes().to_vec(),
        Some((key.0, key.1)),
        &token,
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn a_tables_policy_grants_denies_and_stays_its_owners() {
    let server = Server::start().await;
    let url = server.url();
    let (status, _, body) = call(&url, "CreateTable", &create(None)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(&url, "PutItem", &put("a")).await;
    assert_eq!(status, 200, "{body}");

    // A function's session whose own policy allows nothing.
    let session = server
        .keys
        .issue_session("Reader", Policy::default(), Duration::from_secs(3600));
    let token = session.session_token.clone().expect("token");
    let reader = (
        session.access_key_id.as_str(),
        session.secret_access_key.as_str(),
        Some(token.as_str()),
    );
    let (status, body) = call_as(&url, reader, "GetItem", &get("a")).await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body),
        (
            "AccessDeniedException",
            format!("User: arn:aws:sts::123456789012:assumed-role/Reader/Reader is not authorized to perform: dynamodb:GetItem on resource: {ARN} because no identity-based policy allows the dynamodb:GetItem action").as_str()
        )
    );

    // The table's policy grants the role GetItem and denies everyone DeleteItem.
    let policy = document(&[
        statement(
            "Allow",
            json!({"AWS": "arn:aws:iam::123456789012:role/Reader"}),
            &["dynamodb:GetItem"],
        ),
        statement("Deny", json!("*"), &["dynamodb:DeleteItem"]),
    ]);
    let (status, _, body) = call(&url, "PutResourcePolicy", &put_policy(&policy, None)).await;
    assert_eq!(status, 200, "{body}");
    let first = body["RevisionId"].as_str().expect("a revision").to_owned();
    let (status, body) = call_as(&url, reader, "GetItem", &get("a")).await;
    assert_eq!(
        (status, &body["Item"]["k"]["S"]),
        (200, &json!("a")),
        "{body}"
    );
    let (status, body) = call_as(&url, reader, "PutItem", &put("b")).await;
    assert_eq!(
        (status, error(&body).0),
        (400, "AccessDeniedException"),
        "the policy grants GetItem only"
    );
    let delete = json!({"TableName": "Shared", "Key": {"k": {"S": "a"}}}).to_string();
    let (status, _, body) = call(&url, "DeleteItem", &delete).await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body).1,
        format!(
            "User: arn:aws:iam::123456789012:root is not authorized to perform: dynamodb:DeleteItem on resource: {ARN} with an explicit deny in a resource-based policy"
        )
    );

    // Another account: its keys may do what their identity allows only where the policy
    // grants it too.
    server
        .keys
        .add_account(Account::parse("111122223333:other").expect("account"));
    server
        .keys
        .declare(&KeyDeclaration::parse("AKIAOTHER:othersecret@111122223333").expect("key"))
        .expect("declared");
    let other = ("AKIAOTHER", "othersecret", None);
    let (status, body) = call_as(&url, other, "GetItem", &get("a")).await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body).1,
        format!(
            "User: arn:aws:iam::111122223333:root is not authorized to perform: dynamodb:GetItem on resource: {ARN} because no resource-based policy allows the dynamodb:GetItem action"
        )
    );
    let granted = document(&[
        statement(
            "Allow",
            json!({"AWS": "arn:aws:iam::123456789012:role/Reader"}),
            &["dynamodb:GetItem"],
        ),
        statement("Deny", json!("*"), &["dynamodb:DeleteItem"]),
        statement(
            "Allow",
            json!({"AWS": "111122223333"}),
            &["dynamodb:GetItem"],
        ),
    ]);
    let (status, _, body) = call(
        &url,
        "PutResourcePolicy",
        &put_policy(&granted, Some(&first)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let second = body["RevisionId"].as_str().expect("a revision").to_owned();
    assert!(second > first, "{second} after {first}");
    let (status, body) = call_as(&url, other, "GetItem", &get("a")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call_as(&url, other, "PutItem", &put("c")).await;
    assert_eq!((status, error(&body).0), (400, "AccessDeniedException"));
    // A PartiQL write with a parameter is checked as the write it is, and a listing of
    // this account's tables is not another account's to make.
    let insert = json!({"Statement": "INSERT INTO \"Shared\" VALUE ?",
        "Parameters": [{"M": {"k": {"S": "forged"}}}]})
    .to_string();
    let (status, body) = call_as(&url, other, "ExecuteStatement", &insert).await;
    assert_eq!(
        (status, error(&body).1),
        (
            400,
            format!("User: arn:aws:iam::111122223333:root is not authorized to perform: dynamodb:PartiQLInsert on resource: {ARN} because no resource-based policy allows the dynamodb:PartiQLInsert action").as_str()
        ),
        "{body}"
    );
    let (status, _, body) = call(&url, "GetItem", &get("forged")).await;
    assert_eq!((status, body.get("Item")), (200, None), "{body}");
    let (status, body) = call_as(&url, other, "ListTables", "{}").await;
    assert_eq!(
        (status, error(&body).0),
        (400, "AccessDeniedException"),
        "{body}"
    );

    // A change against an old revision is refused, and changes nothing.
    let (status, _, body) = call(
        &url,
        "PutResourcePolicy",
        &put_policy(&policy, Some(&first)),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body),
        (
            "PolicyNotFoundException",
            format!("Resource-based policy not found for the provided ResourceArn: Requested update for policy with revision id {first}, but the policy associated to target table Shared has revision id {second}.").as_str()
        )
    );

    // A policy that denies everything to everyone still lets the account's own keys read
    // and remove it.
    let locked = document(&[statement("Deny", json!("*"), &["dynamodb:*"])]);
    let (status, _, body) = call(&url, "PutResourcePolicy", &put_policy(&locked, None)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(&url, "GetItem", &get("a")).await;
    assert_eq!((status, error(&body).0), (400, "AccessDeniedException"));
    let (status, body) = on_policy(&url, "GetResourcePolicy", ARN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Policy"], locked.to_string());
    let (status, body) = on_policy(&url, "DeleteResourcePolicy", ARN).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(&url, "GetItem", &get("a")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call_as(&url, other, "GetItem", &get("a")).await;
    assert_eq!(
        (status, error(&body).0),
        (400, "AccessDeniedException"),
        "the grant went with the policy"
    );

    // Documents DynamoDB would not take.
    let elsewhere = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": "*", "Action": "dynamodb:GetItem",
        "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/Other"}]});
    let s3_action = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": "*", "Action": "s3:GetObject", "Resource": ARN}]});
    for bad in [
        json!({"ResourceArn": ARN, "Policy": "{"}).to_string(),
        put_policy(&elsewhere, None),
        put_policy(&s3_action, None),
    ] {
        let (status, _, body) = call(&url, "PutResourcePolicy", &bad).await;
        assert_eq!(
            (status, error(&body).0),
            (400, "ValidationException"),
            "{bad}"
        );
    }
    let (status, body) = on_policy(&url, "GetResourcePolicy", ARN).await;
    assert_eq!(
        (status, error(&body).0),
        (400, "PolicyNotFoundException"),
        "{body}"
    );
}

#[tokio::test]
async fn a_policy_given_at_creation_outlives_a_kill_9() {
    let state = tempfile::tempdir().expect("tempdir");
    let deny = document(&[statement("Deny", json!("*"), &["dynamodb:DeleteItem"])]);
    let revision = {
        let p = Process::start(state.path());
        let (status, _, body) = call(&p.url, "CreateTable", &create(Some(&deny))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = on_policy(&p.url, "GetResourcePolicy", ARN).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Policy"], deny.to_string());
        let revision = body["RevisionId"].as_str().expect("revision").to_owned();
        p.kill9();
        revision
    };
    let p = Process::start(state.path());
    let (status, body) = on_policy(&p.url, "GetResourcePolicy", ARN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["RevisionId"], revision.as_str());
    let (status, _, body) = call(&p.url, "PutItem", &put("a")).await;
    assert_eq!(status, 200, "{body}");
    let delete = json!({"TableName": "Shared", "Key": {"k": {"S": "a"}}}).to_string();
    let (status, _, body) = call(&p.url, "DeleteItem", &delete).await;
    assert_eq!(
        (status, error(&body).0),
        (400, "AccessDeniedException"),
        "{body}"
    );
}

#[tokio::test]
async fn a_streams_policy_is_its_own() {
    let server = Server::start().await;
    let url = server.url();
    let mut req: Value = serde_json::from_str(&create(None)).expect("json");
    req["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"});
    let (status, _, body) = call(&url, "CreateTable", &req.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let stream = body["TableDescription"]["LatestStreamArn"]
        .as_str()
        .expect("a stream")
        .to_owned();
    let deny = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "Principal": "*", "Action": "dynamodb:DescribeStream", "Resource": stream}]});
    let attach = json!({"ResourceArn": stream, "Policy": deny.to_string()}).to_string();
    let (status, _, body) = call(&url, "PutResourcePolicy", &attach).await;
    assert_eq!(status, 200, "{body}");
    let describe = json!({"StreamArn": stream}).to_string();
    let (status, _, body) = call(&url, "DynamoDBStreams_20120810.DescribeStream", &describe).await;
    assert_eq!(
        (status, error(&body).0),
        (400, "AccessDeniedException"),
        "{body}"
    );
    // The table has no policy of its own: its items are served.
    let (status, _, body) = call(&url, "PutItem", &put("s")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = on_policy(&url, "GetResourcePolicy", ARN).await;
    assert_eq!((status, error(&body).0), (400, "PolicyNotFoundException"));
    let (status, body) = on_policy(&url, "GetResourcePolicy", &stream).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Policy"], deny.to_string());
    let unknown = format!("{ARN}/stream/2000-01-01T00:00:00.000");
    let (status, body) = on_policy(&url, "GetResourcePolicy", &unknown).await;
    assert_eq!(
        (status, error(&body).0),
        (400, "ResourceNotFoundException"),
        "{body}"
    );
}

/// A table's policy that names the table's own account delegates to the account's
/// principals: a session still needs its own policy to allow the request. One that names
/// the session's role lets it in by itself.
#[tokio::test]
async fn an_account_principal_delegates_to_the_sessions_own_policy() {
    let server = Server::start().await;
    let url = server.url();
    let (status, _, body) = call(&url, "CreateTable", &create(None)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(&url, "PutItem", &put("a")).await;
    assert_eq!(status, 200, "{body}");
    let session = server.keys.issue_session(
        "Streams",
        Policy {
            statements: vec![meridian_storage::keys::Statement::allow(
                &["dynamodb:DescribeStream"],
                &["*"],
            )],
        },
        Duration::from_secs(3600),
    );
    let key = (
        session.access_key_id.as_str(),
        session.secret_access_key.as_str(),
        session.session_token.as_deref(),
    );
    let mut outcomes = Vec::new();
    for principal in [
        "123456789012",
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:role/Streams",
    ] {
        let doc = document(&[statement(
            "Allow",
            json!({"AWS": principal}),
            &["dynamodb:GetItem"],
        )]);
        let (status, _, body) = call(&url, "PutResourcePolicy", &put_policy(&doc, None)).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = call_as(&url, key, "GetItem", &get("a")).await;
        outcomes.push((principal, status, error(&body).0.to_owned()));
    }
    assert_eq!(
        outcomes,
        [
            ("123456789012", 400, "AccessDeniedException".to_owned()),
            (
                "arn:aws:iam::123456789012:root",
                400,
                "AccessDeniedException".to_owned()
            ),
            ("arn:aws:iam::123456789012:role/Streams", 200, String::new()),
        ]
    );
}
