//! Every field of the proxy events, payload 1.0 (REST API) and 2.0 (HTTP API), against the
//! documented examples (API Gateway developer guide; SAM's AwsProxy.json and HttpApi.json),
//! and the response mapping back.

mod harness;

use std::collections::BTreeSet;

use harness::*;
use serde_json::Value;

const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: nodejs20.x
    CodeUri: src
Resources:
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      Variables: {color: blue}
      BinaryMediaTypes: ["image~1png"]
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: echo.handler
      Events:
        Items:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: "/users/{id}/items", Method: post}
        Proxy:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: "/files/{proxy+}", Method: ANY}
        Root:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: /, Method: get}
        V2:
          Type: HttpApi
          Properties: {Path: "/v2/{name}", Method: PUT}
        V2Default:
          Type: HttpApi
        V1OnHttp:
          Type: HttpApi
          Properties: {Path: /v1http, Method: GET, PayloadFormatVersion: "1.0"}
  Shaper:
    Type: AWS::Serverless::Function
    Properties:
      Handler: shape.handler
      Events:
        Rest:
          Type: Api
          Properties: {Path: "/shape/{kind}", Method: GET}
        Http:
          Type: HttpApi
          Properties: {Path: "/hshape/{kind}", Method: GET}
"#;

const ECHO: &str = "exports.handler = async (event) => ({ statusCode: 200, headers: {'content-type': 'application/json'}, body: JSON.stringify(event) });";

const SHAPE: &str = r#"
exports.handler = async (event) => {
  switch (event.pathParameters.kind) {
    case 'multi': return { statusCode: 201, headers: { 'x-one': 'a', 'x-both': 'h' }, multiValueHeaders: { 'x-many': ['1', '2'], 'x-both': ['m1', 'm2'] }, body: 'multi' };
    case 'binary': return { statusCode: 200, headers: { 'content-type': 'image/png' }, body: Buffer.from([0, 1, 2, 255]).toString('base64'), isBase64Encoded: true };
    case 'cookies': return { statusCode: 200, cookies: ['a=1; Path=/', 'b=2'], body: 'c' };
    case 'plain': return { hello: 'world' };
    case 'string': return 'just a string';
    case 'nostatus': return { body: 'x' };
  }
};
"#;

async fn harness() -> Harness {
    Harness::start(TEMPLATE, &[("src/echo.js", ECHO), ("src/shape.js", SHAPE)]).await
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn rest_api_payload_1_0() {
    let h = harness().await;
    let r = h
        .request(
            "POST",
            "/users/42/items?tag=a&tag=b&q=hello%20world",
            &[
                ("user-agent", "curl/8.0"),
                ("content-type", "application/json"),
                ("x-multi", "one"),
                ("x-multi", "two"),
            ],
            r#"{"name":"n"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json();
    assert_eq!(
        keys(&e),
        set(&[
            "resource",
            "path",
            "httpMethod",
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "stageVariables",
            "requestContext",
            "body",
            "isBase64Encoded",
        ])
    );
    assert_eq!(e["resource"], "/users/{id}/items");
    assert_eq!(e["path"], "/users/42/items");
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(e["headers"]["User-Agent"], "curl/8.0");
    assert_eq!(
        e["headers"]["X-Multi"], "two",
        "headers keep the last value"
    );
    assert_eq!(
        e["multiValueHeaders"]["X-Multi"],
        serde_json::json!(["one", "two"])
    );
    assert_eq!(
        e["queryStringParameters"],
        serde_json::json!({"tag": "b", "q": "hello world"})
    );
    assert_eq!(
        e["multiValueQueryStringParameters"],
        serde_json::json!({"tag": ["a", "b"], "q": ["hello world"]})
    );
    assert_eq!(e["pathParameters"], serde_json::json!({"id": "42"}));
    assert_eq!(e["stageVariables"], serde_json::json!({"color": "blue"}));
    assert_eq!(e["body"], r#"{"name":"n"}"#);
    assert_eq!(e["isBase64Encoded"], false);
    let c = &e["requestContext"];
    for k in [
        "accountId",
        "apiId",
        "domainName",
        "domainPrefix",
        "extendedRequestId",
        "httpMethod",
        "identity",
        "path",
        "protocol",
        "requestId",
        "requestTime",
        "requestTimeEpoch",
        "resourceId",
        "resourcePath",
        "stage",
    ] {
        assert!(c.get(k).is_some(), "requestContext.{k} is missing: {c}");
    }
    assert_eq!(c["accountId"], "123456789012");
    assert_eq!(c["stage"], "dev");
    assert_eq!(c["path"], "/dev/users/42/items");
    assert_eq!(c["resourcePath"], "/users/{id}/items");
    assert_eq!(c["httpMethod"], "POST");
    assert_eq!(c["protocol"], "HTTP/1.1");
    assert_eq!(
        c["requestId"].as_str(),
        r.header("x-amzn-requestid").as_deref()
    );
    assert_eq!(
        c["domainName"],
        format!(
            "{}.execute-api.us-east-1.amazonaws.com",
            c["apiId"].as_str().unwrap_or_default()
        )
    );
    assert!(
        c["requestTimeEpoch"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
    let rt = c["requestTime"].as_str().unwrap_or_default();
    assert!(
        rt.len() == 26 && rt.ends_with(" +0000") && &rt[2..3] == "/",
        "{rt}"
    );
    let id = &c["identity"];
    for k in [
        "cognitoIdentityPoolId",
        "accountId",
        "cognitoIdentityId",
        "caller",
        "accessKey",
        "sourceIp",
        "cognitoAuthenticationType",
        "cognitoAuthenticationProvider",
        "userArn",
        "userAgent",
        "user",
    ] {
        assert!(id.get(k).is_some(), "identity.{k} is missing");
    }
    assert_eq!(id["sourceIp"], "127.0.0.1");
    assert_eq!(id["userAgent"], "curl/8.0");
    assert!(id["user"].is_null());
}

#[tokio::test]
async fn rest_api_nulls_greedy_paths_and_binary() {
    let h = harness().await;
    let e = h.get("/").await.json();
    assert_eq!(e["resource"], "/");
    assert!(e["queryStringParameters"].is_null());
    assert!(e["multiValueQueryStringParameters"].is_null());
    assert!(e["pathParameters"].is_null());
    assert!(e["body"].is_null());
    let e = h
        .request(
            "PATCH",
            "/dev/files/a/b%20c.txt",
            &[("content-type", "image/png")],
            vec![0u8, 159, 146, 150],
        )
        .await
        .json();
    assert_eq!(e["resource"], "/files/{proxy+}");
    assert_eq!(e["httpMethod"], "PATCH");
    assert_eq!(e["pathParameters"]["proxy"], "a/b c.txt");
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(e["body"], "AJ+Slg==");
}

#[tokio::test]
async fn http_api_payload_2_0() {
    let h = harness().await;
    let r = h
        .request(
            "PUT",
            "/v2/ana?parameter1=value1&parameter1=value2&parameter2=value",
            &[
                ("user-agent", "agent"),
                ("cookie", "cookie1=a; cookie2=b"),
                ("header2", "value1"),
                ("header2", "value2"),
                ("content-type", "text/plain"),
            ],
            "Hello from Lambda",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json();
    assert_eq!(
        keys(&e),
        set(&[
            "version",
            "routeKey",
            "rawPath",
            "rawQueryString",
            "cookies",
            "headers",
            "queryStringParameters",
            "requestContext",
            "body",
            "pathParameters",
            "isBase64Encoded",
        ])
    );
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "PUT /v2/{name}");
    assert_eq!(e["rawPath"], "/v2/ana");
    assert_eq!(
        e["rawQueryString"],
        "parameter1=value1&parameter1=value2&parameter2=value"
    );
    assert_eq!(e["cookies"], serde_json::json!(["cookie1=a", "cookie2=b"]));
    assert_eq!(e["headers"]["header2"], "value1,value2");
    assert!(e["headers"].get("cookie").is_none());
    assert_eq!(
        e["queryStringParameters"],
        serde_json::json!({"parameter1": "value1,value2", "parameter2": "value"})
    );
    assert_eq!(e["pathParameters"], serde_json::json!({"name": "ana"}));
    assert_eq!(e["body"], "Hello from Lambda");
    assert_eq!(e["isBase64Encoded"], false);
    let c = &e["requestContext"];
    assert_eq!(
        keys(c),
        set(&[
            "accountId",
            "apiId",
            "domainName",
            "domainPrefix",
            "http",
            "requestId",
            "routeKey",
            "stage",
            "time",
            "timeEpoch"
        ])
    );
    assert_eq!(c["routeKey"], "PUT /v2/{name}");
    assert_eq!(c["stage"], "$default");
    assert_eq!(
        c["http"],
        serde_json::json!({"method": "PUT", "path": "/v2/ana", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "agent"})
    );
    assert_eq!(
        c["requestId"].as_str(),
        r.header("apigw-requestid").as_deref()
    );
    assert!(
        c["timeEpoch"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
}

#[tokio::test]
async fn http_api_default_route_binary_and_v1_option() {
    let h = harness().await;
    let e = h
        .request(
            "POST",
            "/anything/else",
            &[("content-type", "application/octet-stream")],
            vec![1u8, 2, 3],
        )
        .await
        .json();
    assert_eq!(e["routeKey"], "$default");
    assert_eq!(e["rawQueryString"], "");
    assert!(e.get("cookies").is_none() && e.get("queryStringParameters").is_none());
    assert!(e.get("pathParameters").is_none() && e.get("stageVariables").is_none());
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(e["body"], "AQID");
    let e = h.get("/v1http").await.json();
    assert_eq!(e["version"], "1.0");
    assert_eq!(e["resource"], "/v1http");
    assert_eq!(e["requestContext"]["stage"], "$default");
}

#[tokio::test]
async fn responses_map_back() {
    let h = harness().await;
    let r = h.get("/shape/multi").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-one").as_deref(), Some("a"));
    let many: Vec<_> = r.headers.get_all("x-many").iter().collect();
    assert_eq!(many, vec!["1", "2"]);
    let both: Vec<_> = r.headers.get_all("x-both").iter().collect();
    assert_eq!(both, vec!["m1", "m2"]);
    assert_eq!(r.text(), "multi");
    let r = h.get("/shape/binary").await;
    assert_eq!(r.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(r.body.as_ref(), &[0u8, 1, 2, 255]);
    let r = h.get("/shape/nostatus").await;
    assert_eq!(r.status, 502, "REST needs statusCode");
    // HTTP API 2.0.
    let r = h.get("/hshape/cookies").await;
    let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, vec!["a=1; Path=/", "b=2"]);
    let r = h.get("/hshape/plain").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.json(), serde_json::json!({"hello": "world"}));
    let r = h.get("/hshape/string").await;
    assert_eq!(r.text(), "just a string");
}
