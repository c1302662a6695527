//! Function URLs (`FunctionUrlConfig`) through a real `meridian up`: the URL the banner
//! prints (the one `!GetAtt <Fn>Url.FunctionUrl` names, on this machine) reaches the
//! function with Lambda's payload 2.0 event and maps its answer; CORS as configured;
//! `AuthType: AWS_IAM` refuses unsigned requests and takes ones curl signs with SigV4 for
//! `lambda` with the node's key.

mod observe_support;

use observe_support::{Up, curl, tool};

const HANDLER: &str = r#"
import json, os
def echo(event, context):
    rc = event["requestContext"]
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-served-by": "function-url"},
        "body": json.dumps({
            "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"],
            "query": event.get("queryStringParameters"),
            "routeKey": event["routeKey"],
            "domainName": rc["domainName"],
            "accountId": rc["accountId"],
            "method": rc["http"]["method"],
            "body": event.get("body"),
            "isBase64Encoded": event["isBase64Encoded"],
            "selfUrl": os.environ["SELF_URL"],
        }),
    }

def private(event, context):
    return "only for signed callers"
"#;

const STREAMING: &str = r#"
exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  stream = awslambda.HttpResponseStream.from(stream, {
    statusCode: 202,
    headers: { "content-type": "text/html" },
  });
  stream.write("<p>streamed ");
  stream.write(event.rawPath + "</p>");
  stream.end();
});
"#;

const TEMPLATE: &str = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.echo
      CodeUri: fn/
      Environment:
        Variables:
          SELF_URL: !GetAtt EchoUrl.FunctionUrl
      FunctionUrlConfig:
        AuthType: NONE
        Cors:
          AllowOrigins: ["https://app.example"]
          AllowMethods: ["GET", "POST"]
          MaxAge: 300
  Stream:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      CodeUri: stream/
      FunctionUrlConfig:
        AuthType: NONE
        InvokeMode: RESPONSE_STREAM
  Private:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.private
      CodeUri: fn/
      FunctionUrlConfig:
        AuthType: AWS_IAM
"#;

/// The URL the banner prints for a function's URL.
fn url_of(up: &Up, function: &str) -> String {
    let needle = format!("(function URL -> {function},");
    let line = up
        .banner
        .iter()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no {needle} in {:#?}", up.banner));
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .to_owned()
}

#[test]
fn function_urls_serve_lambdas_event_with_cors_and_iam_auth() {
    let Some(curl_bin) = tool("curl", "apt-get install curl") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("mkdir");
    std::fs::write(app.join("fn/app.py"), HANDLER).expect("write");
    std::fs::create_dir_all(app.join("stream")).expect("mkdir");
    std::fs::write(app.join("stream/index.js"), STREAMING).expect("write");
    std::fs::write(app.join("template.yaml"), TEMPLATE).expect("write");
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    let echo = url_of(&up, "Echo");
    let id = echo
        .strip_prefix("http://")
        .and_then(|u| u.split_once(".lambda-url.us-east-1.localhost:"))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("{echo}"));

    let (status, head, body) = curl(
        &curl_bin,
        &[
            &format!("{echo}orders/7?x=1&x=2"),
            "-H",
            "Origin: https://app.example",
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"n":1}"#,
        ],
    );
    assert_eq!(status, 201, "{head}{body}");
    assert!(head.contains("x-served-by: function-url"), "{head}");
    assert!(
        head.contains("access-control-allow-origin: https://app.example"),
        "{head}"
    );
    let ev: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        ev,
        serde_json::json!({
            "rawPath": "/orders/7",
            "rawQueryString": "x=1&x=2",
            "query": {"x": "1,2"},
            "routeKey": "$default",
            "domainName": format!("{id}.lambda-url.us-east-1.on.aws"),
            "accountId": "anonymous",
            "method": "POST",
            "body": "{\"n\":1}",
            "isBase64Encoded": false,
            // What `!GetAtt EchoUrl.FunctionUrl` gave the function names the same URL.
            "selfUrl": format!("https://{id}.lambda-url.us-east-1.on.aws/"),
        })
    );
    // A preflight from an allowed origin is answered without the function; another
    // origin gets no CORS fields.
    let (status, head, _) = curl(
        &curl_bin,
        &[
            "-X",
            "OPTIONS",
            &echo,
            "-H",
            "Origin: https://app.example",
            "-H",
            "Access-Control-Request-Method: POST",
        ],
    );
    assert_eq!(status, 200);
    assert!(
        head.contains("access-control-allow-methods: get,post"),
        "{head}"
    );
    assert!(head.contains("access-control-max-age: 300"), "{head}");
    let (_, head, _) = curl(&curl_bin, &[&echo, "-H", "Origin: https://evil.example"]);
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    // RESPONSE_STREAM: the streamed prelude and body, sent whole.
    let stream = url_of(&up, "Stream");
    let (status, head, body) = curl(&curl_bin, &[&format!("{stream}page")]);
    assert_eq!(
        (status, body.as_str()),
        (202, "<p>streamed /page</p>"),
        "{head}"
    );
    assert!(head.contains("content-type: text/html"), "{head}");

    // AWS_IAM: unsigned is refused, signed with the node's key is served.
    let private = url_of(&up, "Private");
    let (status, _, body) = curl(&curl_bin, &[&private]);
    assert_eq!((status, body.as_str()), (403, r#"{"Message":"Forbidden"}"#));
    let (key, secret) = up.access_key();
    let (status, head, body) = curl(
        &curl_bin,
        &[
            &private,
            "--aws-sigv4",
            "aws:amz:us-east-1:lambda",
            "--user",
            &format!("{key}:{secret}"),
        ],
    );
    assert_eq!(
        (status, body.as_str()),
        (200, "only for signed callers"),
        "{head}"
    );
    // Signed for another service: refused.
    let (status, _, _) = curl(
        &curl_bin,
        &[
            &private,
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
            "--user",
            &format!("{key}:{secret}"),
        ],
    );
    assert_eq!(status, 403);

    // A CloudFront distribution in front of the function URL, as Terraform writes one
    // (`https-only` to `<id>.lambda-url.us-east-1.on.aws`): the same folder started again
    // (same stack, same URL id) serves it through the edge.
    drop(up);
    std::fs::write(app.join("main.tf"), DISTRIBUTION.replace("URL_ID", &id)).expect("write");
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    let cdn = up.banner_address("  cdn ", "http://");
    assert!(
        up.banner.iter().any(|l| l.contains(&format!(
            "-> http://{id}.lambda-url.us-east-1.on.aws -> gateway"
        ))),
        "{:#?}",
        up.banner
    );
    let (status, head, body) = curl(&curl_bin, &[&format!("{cdn}/via/edge?x=9")]);
    assert_eq!(status, 201, "{head}{body}");
    assert!(head.contains("x-cache: miss from cloudfront"), "{head}");
    let ev: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (&ev["rawPath"], &ev["rawQueryString"], &ev["domainName"]),
        (
            &serde_json::json!("/via/edge"),
            // CachingDisabled keys on no query string, so CloudFront forwards none.
            &serde_json::json!(""),
            &serde_json::json!(format!("{id}.lambda-url.us-east-1.on.aws"))
        )
    );
    let stderr = std::fs::read_to_string(tmp.path().join("up.stderr")).expect("stderr");
    assert!(
        stderr.contains("reached over HTTP (origin_protocol_policy \"https-only\" asks for HTTPS)"),
        "{stderr}"
    );
}

/// A distribution whose one origin is the Echo function's URL.
const DISTRIBUTION: &str = r#"
resource "aws_cloudfront_distribution" "api" {
  enabled = true

  origin {
    domain_name = "URL_ID.lambda-url.us-east-1.on.aws"
    origin_id   = "echo"
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    target_origin_id       = "echo"
    viewer_protocol_policy = "allow-all"
    cache_policy_id        = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
"#;
