//! The wire protocol with a raw HTTP client: signatures, body limits, error shapes, the
//! `x-amz-crc32` header, and that bad input neither writes nor stops the server.

mod harness;

use harness::{ACCESS_KEY, SECRET_KEY, Server, call, call_at, call_with, send_signed};

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

/// The signature covers the body: a captured signed request replayed with another body is
/// refused, whatever `x-amz-content-sha256` it declares, and nothing is written.
#[tokio::test]
async fn a_signature_does_not_carry_another_body() {
    let server = Server::start().await;
    let url = server.url();
    let (status, _, body) = call(&url, "CreateTable", CREATE).await;
    assert_eq!(status, 200, "{body}");
    let signed = br#"{"TableName": "Tbl", "Item": {"k": {"S": "harmless"}}}"#;
    let swapped = br#"{"TableName": "Tbl", "Item": {"k": {"S": "forged"}}}"#.to_vec();
    let declared = meridian_storage::sigv4::sha256_hex(signed);
    let key = Some((ACCESS_KEY, SECRET_KEY));
    for extra in [
        vec![("x-amz-content-sha256", declared.as_str())],
        vec![("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        vec![],
    ] {
        let (status, _, body) =
            send_signed(&url, "/", "PutItem", signed, swapped.clone(), key, &extra).await;
        assert_eq!(
            (status, error_type(&body)),
            (400, "InvalidSignatureException"),
            "{extra:?}: {body}"
        );
    }
    let (_, _, scan) = call(&url, "Scan", r#"{"TableName": "Tbl"}"#).await;
    assert_eq!(scan["Count"], 0, "{scan}");
    // The body the signature covers, with its hash declared, goes through.
    let (status, _, body) = send_signed(
        &url,
        "/",
        "PutItem",
        signed,
        signed.to_vec(),
        key,
        &[("x-amz-content-sha256", declared.as_str())],
    )
    .await;
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
        // A body that is not JSON gets DynamoDB's bare SerializationException, with no
        // message; every other refusal explains itself.
        if body.starts_with("{not") {
            assert!(resp.get("message").is_none(), "{resp}");
        } else {
            assert!(
                resp["message"].is_string() || *expected == "UnknownOperationException",
                "{resp}"
            );
        }
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

/// DynamoDB reads at most 16 KB of a request line and of a header section, and answers a
/// bare 400 past either (as ScyllaDB's Alternator tests, run against the service, record).
#[tokio::test]
async fn a_header_section_or_request_line_over_16_kb_is_a_bad_request() {
    let server = Server::start().await;
    let url = server.url();
    let key = Some((ACCESS_KEY, SECRET_KEY));
    let (status, _, body) = call(&url, "CreateTable", CREATE).await;
    assert_eq!(status, 200, "{body}");
    let put = |k: &str| format!(r#"{{"TableName": "Tbl", "Item": {{"k": {{"S": "{k}"}}}}}}"#);
    let small = [("header1", "dog"), ("header2", "cat")];
    let (status, _, body) = call_at(&url, "/", "PutItem", put("a").into(), key, &small).await;
    assert_eq!(status, 200, "unsigned headers are ignored: {body}");
    let (x, y) = ("x".repeat(8192), "y".repeat(8192));
    let large = [("header1", x.as_str()), ("header2", y.as_str())];
    let (status, _, body) = call_at(&url, "/", "PutItem", put("b").into(), key, &large).await;
    assert_eq!((status, &body), (400, &serde_json::Value::Null));
    // Just under the limit is read as usual.
    let under = "z".repeat(16 * 1024 - 400);
    let (status, _, body) = call_at(
        &url,
        "/",
        "PutItem",
        put("c").into(),
        key,
        &[("header1", &under)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/{}", "x".repeat(17_000));
    let (status, _, body) = call_at(&url, &path, "PutItem", put("d").into(), key, &[]).await;
    assert_eq!((status, &body), (400, &serde_json::Value::Null));
    // Only the requests read were written.
    for (k, stored) in [("a", true), ("b", false), ("c", true), ("d", false)] {
        let get = format!(r#"{{"TableName": "Tbl", "Key": {{"k": {{"S": "{k}"}}}}}}"#);
        let (status, _, body) = call(&url, "GetItem", &get).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body.get("Item").is_some(), stored, "{k}: {body}");
    }
}

/// A parallel Scan goes on from a key of its own segment, and refuses one of another
/// (the words are an emulator's, not checked against the service).
#[tokio::test]
async fn a_parallel_scan_goes_on_only_from_a_key_of_its_segment() {
    let server = Server::start().await;
    let url = server.url();
    call(&url, "CreateTable", CREATE).await;
    for i in 0..40 {
        let put = format!(r#"{{"TableName": "Tbl", "Item": {{"k": {{"S": "k{i}"}}}}}}"#);
        let (status, _, body) = call(&url, "PutItem", &put).await;
        assert_eq!(status, 200, "{body}");
    }
    let page = |segment: u32, start: Option<&serde_json::Value>| {
        let mut req = serde_json::json!({
            "TableName": "Tbl", "Limit": 1, "Segment": segment, "TotalSegments": 2
        });
        if let Some(k) = start {
            req["ExclusiveStartKey"] = k.clone();
        }
        let url = url.clone();
        async move { call(&url, "Scan", &req.to_string()).await }
    };
    let (_, _, first) = page(0, None).await;
    let own = first["LastEvaluatedKey"].clone();
    let (_, _, other) = page(1, None).await;
    let foreign = other["LastEvaluatedKey"].clone();
    assert!(own.is_object() && foreign.is_object(), "{first} {other}");
    let (status, _, next) = page(0, Some(&own)).await;
    assert_eq!(status, 200, "{next}");
    assert_ne!(next["Items"][0], first["Items"][0], "the scan went on");
    let (status, _, body) = page(0, Some(&foreign)).await;
    assert_eq!((status, error_type(&body)), (400, "ValidationException"));
    assert_eq!(
        body["message"],
        "The provided Exclusive start key does not map to the provided Segment and TotalSegments values."
    );
}

/// Messages as real DynamoDB words them (each checked against the service by the
/// nubo-db/dynamodb-conformance suite), where operations differ from one another.
#[tokio::test]
async fn messages_are_dynamodbs_own_words() {
    let server = Server::start().await;
    let url = server.url();
    call(&url, "CreateTable", CREATE).await;
    let lsi = r#"{"TableName": "Coll", "BillingMode": "PAY_PER_REQUEST",
      "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"}, {"AttributeName": "l", "AttributeType": "S"}],
      "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
      "LocalSecondaryIndexes": [{"IndexName": "byL", "Projection": {"ProjectionType": "ALL"},
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}]}]}"#;
    let (status, _, body) = call(&url, "CreateTable", lsi).await;
    assert_eq!(status, 200, "{body}");
    let cases: &[(&str, &str, &str)] = &[
        (
            "GetItem",
            r#"{"TableName": "Missing", "Key": {"k": {"S": "a"}}}"#,
            "Requested resource not found",
        ),
        (
            "DescribeTable",
            r#"{"TableName": "Missing"}"#,
            "Requested resource not found: Table: Missing not found",
        ),
        (
            "Query",
            r#"{"TableName": "Tbl", "KeyConditionExpression": "k = :k", "ExpressionAttributeValues": {":k": {"S": "a"}}, "Limit": 0}"#,
            "1 validation error detected: Value at 'Limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            "Scan",
            r#"{"TableName": "Tbl", "Limit": 0}"#,
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            "BatchGetItem",
            r#"{"RequestItems": {}}"#,
            "The requestItems parameter is required for BatchGetItem",
        ),
        (
            "BatchWriteItem",
            r#"{"RequestItems": {}}"#,
            "The requestItems parameter is required for BatchWriteItem",
        ),
        (
            "PutItem",
            r#"{"TableName": "", "Item": {"k": {"S": "a"}}}"#,
            "1 validation error detected: Value '' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        (
            "PutItem",
            r#"{"TableName": "Tbl", "Item": {"k": {"S": "a"}}, "ExpressionAttributeValues": {":v": {"S": "x"}}}"#,
            "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null",
        ),
        (
            "CreateTable",
            r#"{"AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}], "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}], "BillingMode": "PAY_PER_REQUEST"}"#,
            "The parameter 'TableName' is required but was not present in the request",
        ),
        (
            "TransactGetItems",
            r#"{"TransactItems": []}"#,
            "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        (
            "TransactGetItems",
            r#"{"TransactItems": [{"Get": {"TableName": "Tbl", "Key": {"k": {"S": "a"}}}},
                                  {"Get": {"TableName": "Tbl", "Key": {}}}]}"#,
            "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ValidationError]",
        ),
        (
            "ListTagsOfResource",
            r#"{"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/Tbl"}"#,
            "User: arn:aws:iam::123456789012:root is not authorized to perform: dynamodb:ListTagsOfResource on resource: arn:aws:dynamodb:us-east-1:000000000000:table/Tbl because no resource-based policy allows the dynamodb:ListTagsOfResource action",
        ),
        (
            "Query",
            r#"{"TableName": "Coll", "KeyConditionExpression": "pk = :p AND pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}"#,
            "KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "Query",
            r#"{"TableName": "Coll", "KeyConditionExpression": "pk = :p AND sk <> :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}"#,
            "Invalid operator used in KeyConditionExpression: <>",
        ),
        (
            "Query",
            r#"{"TableName": "Coll", "KeyConditionExpression": "sk = :p OR pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}"#,
            "Invalid operator used in KeyConditionExpression: OR",
        ),
        (
            "Query",
            r#"{"TableName": "Coll", "KeyConditionExpression": "pk = :p AND sk.x < :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}"#,
            "KeyConditionExpressions cannot have conditions on nested attributes",
        ),
        (
            "Query",
            r#"{"TableName": "Coll", "KeyConditionExpression": "pk = :p", "FilterExpression": "x = :p", "AttributesToGet": ["y"], "ExpressionAttributeValues": {":p": {"S": "a"}}}"#,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {FilterExpression, KeyConditionExpression}",
        ),
        (
            "CreateTable",
            r#"{"TableName": "Dup", "BillingMode": "PAY_PER_REQUEST", "KeySchema": [{"AttributeName": "xyz", "KeyType": "HASH"}],
              "AttributeDefinitions": [{"AttributeName": "xyz", "AttributeType": "S"}, {"AttributeName": "xyz", "AttributeType": "N"}]}"#,
            "Attribute Name is duplicated: xyz",
        ),
        (
            "UpdateTable",
            r#"{"TableName": "Coll", "GlobalSecondaryIndexUpdates": [{}]}"#,
            "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update or GlobalSecondaryIndexUpdate.Delete must be provided",
        ),
        (
            "UpdateItem",
            r#"{"TableName": "Tbl", "Key": {"k": {"S": "a"}}, "UpdateExpression": "SET v = :big + :one", "ExpressionAttributeValues": {":big": {"N": "1e50"}, ":one": {"N": "1"}}}"#,
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
    ];
    for (op, body, message) in cases {
        let (status, _, answer) = call(&url, op, body).await;
        assert_eq!(status, 400, "{op} {body}: {answer}");
        assert_eq!(answer["message"], *message, "{op} {body}");
    }
    // A write to a table with a local index reports its item collection when asked.
    let (_, _, answer) = call(
        &url,
        "PutItem",
        r#"{"TableName": "Coll", "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}},
            "ReturnItemCollectionMetrics": "SIZE"}"#,
    )
    .await;
    assert_eq!(
        answer["ItemCollectionMetrics"],
        serde_json::json!({"ItemCollectionKey": {"pk": {"S": "p"}}, "SizeEstimateRangeGB": [0.0, 1.0]})
    );
    let (_, _, answer) = call(
        &url,
        "PutItem",
        r#"{"TableName": "Tbl", "Item": {"k": {"S": "p"}}, "ReturnItemCollectionMetrics": "SIZE"}"#,
    )
    .await;
    assert!(
        answer.get("ItemCollectionMetrics").is_none(),
        "no local index, no metrics: {answer}"
    );
}
