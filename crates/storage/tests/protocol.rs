//! The wire protocol with a raw HTTP client: signatures, body limits, error shapes, the
//! `x-amz-crc32` header, and that bad input neither writes nor stops the server.

mod harness;

use harness::{ACCESS_KEY, Server, call, call_with};

const CREATE: &str = r#"{"TableName": "Tbl", "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
  "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}"#;

fn error_type(body: &serde_json::Value) -> &str {
    body["__type"]
        .as_str()
        .and_then(|t| t.rsplit('#').next())
        .unwrap_or("")
}

#[tokio::test]
async fn unsigned_and_badly_signed_requests_are_refused() {
    let server = Server::start().await;
    let url = server.url();
    let (status, _, body) = call_with(&url, "ListTables", b"{}".to_vec(), None).await;
    assert_eq!(
        (status, error_type(&body)),
        (400, "MissingAuthenticationTokenException")
    );
    let (status, _, body) = call_with(
        &url,
        "ListTables",
        b"{}".to_vec(),
        Some(("AKIDUNKNOWN", "x")),
    )
    .await;
    assert_eq!(
        (status, error_type(&body)),
        (400, "UnrecognizedClientException")
    );
    let (status, _, body) = call_with(
        &url,
        "ListTables",
        b"{}".to_vec(),
        Some((ACCESS_KEY, "wrong")),
    )
    .await;
    assert_eq!(
        (status, error_type(&body)),
        (400, "InvalidSignatureException")
    );
    let (status, _, body) = call(&url, "ListTables", "{}").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn responses_carry_the_crc32_and_request_id() {
    let server = Server::start().await;
    let (status, headers, body) = call(&server.url(), "CreateTable", CREATE).await;
    assert_eq!(status, 200, "{body}");
    // The harness checks the value against the bytes received.
    assert!(headers.contains_key("x-amz-crc32"), "{headers:?}");
    assert_eq!(headers["content-type"], "application/x-amz-json-1.0");
    assert_eq!(headers["x-amzn-requestid"].len(), 52);
}

#[tokio::test]
async fn bad_input_gets_dynamodb_errors_and_writes_nothing() {
    let server = Server::start().await;
    let url = server.url();
    call(&url, "CreateTable", CREATE).await;
    let cases: &[(&str, &str, &str)] = &[
        ("PutItem", "{not json", "SerializationException"),
        (
            "PutItem",
            r#"{"TableName": "Tbl", "Item": {"k": {"N": "1"}}}"#,
            "ValidationException",
        ),
        (
            "PutItem",
            r#"{"TableName": "Tbl", "Item": {"k": {"S": "a"}, "x": {"S": 5}}}"#,
            "SerializationException",
        ),
        (
            "PutItem",
            r#"{"TableName": "Tbl", "Item": {"k": {"S": "a"}, "x": {}}}"#,
            "ValidationException",
        ),
        (
            "PutItem",
            r#"{"TableName": "Missing", "Item": {"k": {"S": "a"}}}"#,
            "ResourceNotFoundException",
        ),
        (
            "PutItem",
            r#"{"TableName": "Tbl", "Item": {"k": {"S": "a"}}, "ConditionExpression": "a = = b"}"#,
            "ValidationException",
        ),
        (
            "PutItem",
            r##"{"TableName": "Tbl", "Item": {"k": {"S": "a"}}, "ConditionExpression": "#x = :v", "ExpressionAttributeValues": {":v": {"S": "1"}}}"##,
            "ValidationException",
        ),
        (
            "PutItem",
            r#"{"TableName": "ab", "Item": {"k": {"S": "a"}}}"#,
            "ValidationException",
        ),
        ("Frobnicate", "{}", "UnknownOperationException"),
    ];
    for (op, body, expected) in cases {
        let (status, _, resp) = call(&url, op, body).await;
        assert_eq!(
            (status, error_type(&resp)),
            (400, *expected),
            "{op} {body}: {resp}"
        );
        assert!(
            resp["message"].is_string() || *expected == "UnknownOperationException",
            "{resp}"
        );
    }
    let (_, _, scan) = call(&url, "Scan", r#"{"TableName": "Tbl"}"#).await;
    assert_eq!(scan["Count"], 0, "{scan}");
    let (status, _, resp) = call(&url, "PutItem", r#"{"TableName": "ab", "Item": {}}"#).await;
    assert_eq!(status, 400);
    assert_eq!(
        resp["message"],
        "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3"
    );
}

#[tokio::test]
async fn a_body_over_16_mb_is_refused_without_reading_it_all() {
    let server = Server::start().await;
    let body = vec![b' '; 17 * 1024 * 1024];
    let (status, _, resp) = call_with(
        &server.url(),
        "PutItem",
        body,
        Some((ACCESS_KEY, harness::SECRET_KEY)),
    )
    .await;
    assert_eq!(status, 413, "{resp}");
    // The server keeps serving.
    let (status, _, _) = call(&server.url(), "ListTables", "{}").await;
    assert_eq!(status, 200);
}
