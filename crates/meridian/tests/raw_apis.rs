//! APIs written as raw CloudFormation (`AWS::ApiGateway::*`, `AWS::ApiGatewayV2::*`, the
//! shapes serverless-patterns uses) served through a real `meridian up`, as `sam local
//! start-api` serves them: a REST API's resource tree and `AWS_PROXY` method (payload 1.0),
//! an HTTP API's route and integration (payload 2.0), and a quick-create API's `$default`.

mod observe_support;

use observe_support::{Up, get};

const HANDLER: &str = r#"
import json
def h(event, context):
    return {
        "statusCode": 200,
        "body": json.dumps({
            "version": event.get("version", "1.0"),
            "path": event.get("path") or event.get("rawPath"),
            "id": (event.get("pathParameters") or {}).get("id"),
            "fields": sorted(k.lower() for k in (event.get("headers") or {})),
        }),
    }
"#;

const TEMPLATE: &str = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Items:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.h
      Runtime: python3.11
  Rest:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: items
  ItemsResource:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Rest
      ParentId: !GetAtt Rest.RootResourceId
      PathPart: items
  ItemResource:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Rest
      ParentId: !Ref ItemsResource
      PathPart: "{id}"
  GetItem:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Rest
      ResourceId: !Ref ItemResource
      HttpMethod: GET
      AuthorizationType: NONE
      Integration:
        Type: AWS_PROXY
        IntegrationHttpMethod: POST
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Items.Arn}/invocations
  Permission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref Items
      Principal: apigateway.amazonaws.com
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: http
      ProtocolType: HTTP
      CorsConfiguration:
        AllowOrigins: ["https://shop.example"]
        AllowMethods: [GET, POST]
        MaxAge: 600
  HttpIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Items.Arn
      PayloadFormatVersion: "2.0"
  HttpRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: POST /orders
      Target: !Sub integrations/${HttpIntegration}
"#;

#[test]
fn raw_rest_and_http_apis_serve_their_routes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("mkdir");
    std::fs::write(app.join("fn/app.py"), HANDLER).expect("write");
    std::fs::write(app.join("template.yaml"), TEMPLATE).expect("write");
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    let api = up.banner_address("(GET /items/{id} -> Items)", "http://");
    let addr = api
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("addr")
        .to_owned();
    let json = |body: &str| -> serde_json::Value { serde_json::from_str(body).expect(body) };

    let (status, body) = get(&addr, "/items/42", &[]);
    assert_eq!(status, 200, "{body}");
    let mut rest = json(&body);
    // The function sees the client's fields and API Gateway's, not the mesh gateway's.
    let fields = rest["fields"].take();
    let fields: Vec<&str> = fields
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(
        fields.contains(&"x-forwarded-port") && fields.contains(&"x-amzn-trace-id"),
        "{fields:?}"
    );
    assert!(
        !fields.iter().any(|f| f.starts_with("x-envoy-")),
        "{fields:?}"
    );
    assert_eq!(
        rest,
        serde_json::json!({"version": "1.0", "path": "/items/42", "id": "42", "fields": null})
    );
    // The HTTP API's route, payload 2.0.
    let out = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", &format!("http://{addr}/orders")])
        .output()
        .expect("curl");
    let mut http = json(&String::from_utf8_lossy(&out.stdout));
    http["fields"].take();
    assert_eq!(
        http,
        serde_json::json!({"version": "2.0", "path": "/orders", "id": null, "fields": null})
    );
    // The HTTP API's CORS: the preflight is answered without the function, and the
    // response to an allowed origin carries the fields.
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://shop.example",
            "-H",
            "Access-Control-Request-Method: POST",
            &format!("http://{addr}/orders"),
        ])
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("access-control-allow-origin: https://shop.example")
            && head.contains("access-control-allow-methods: get,post")
            && head.contains("access-control-max-age: 600"),
        "{head}"
    );
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            "-X",
            "POST",
            "-H",
            "Origin: https://shop.example",
            &format!("http://{addr}/orders"),
        ])
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        head.contains("access-control-allow-origin: https://shop.example"),
        "{head}"
    );

    // No route: the REST API's answer.
    let (status, _) = get(&addr, "/nothing", &[]);
    assert_eq!(status, 403);
}
