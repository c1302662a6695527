//! Buckets through a real `meridian up`: a SAM template's `AWS::S3::Bucket`s exist at `up`, a
//! function with `S3CrudPolicy` on one puts an object with boto3 through
//! `AWS_ENDPOINT_URL_S3` and its scoped session, a function with only `S3ReadPolicy` is
//! refused with S3's `AccessDenied`, the AWS CLI lists the object, and `meridian buckets ls`
//! and `meridian check` show the buckets and the endpoint.

mod observe_support;

use std::path::Path;
use std::process::Command;

use observe_support::{Up, tool};

const APP: &str = r#"import json, os
import boto3
from botocore.exceptions import ClientError

def put(event, context):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=os.environ["BUCKET"], Key="greetings/hello.txt", Body=b"hello from a function")
    return {"statusCode": 201, "body": json.dumps({"bucket": os.environ["BUCKET"]})}

def put_read_only(event, context):
    s3 = boto3.client("s3")
    try:
        s3.put_object(Bucket=os.environ["BUCKET"], Key="nope.txt", Body=b"x")
    except ClientError as e:
        return {"statusCode": 403, "body": json.dumps({"code": e.response["Error"]["Code"]})}
    return {"statusCode": 201, "body": "{}"}
"#;

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.11, CodeUri: fn/}
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: meridian-uploads
      VersioningConfiguration: {Status: Enabled}
  Scratch:
    Type: AWS::S3::Bucket
  Writer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.put
      Environment: {Variables: {BUCKET: !Ref Uploads, ARN: !GetAtt Uploads.Arn}}
      Policies:
        - S3CrudPolicy: {BucketName: !Ref Uploads}
      Events:
        Put: {Type: Api, Properties: {Path: /put, Method: post}}
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.put_read_only
      Environment: {Variables: {BUCKET: !Ref Uploads}}
      Policies:
        - S3ReadPolicy: {BucketName: !Ref Uploads}
      Events:
        Put: {Type: Api, Properties: {Path: /read-only/put, Method: post}}
"#;

/// The node's key, as a user finds it; the banner's `s3` line shows its id.
fn access_key(up: &Up) -> (String, String) {
    let key = up.access_key();
    let line = up
        .banner
        .iter()
        .find(|l| l.contains("  s3 "))
        .expect("s3 line");
    assert!(line.contains(&format!("(access key {})", key.0)), "{line}");
    key
}

/// `curl -X POST URL`: the status and the body.
fn post(curl: &Path, url: &str) -> (u16, serde_json::Value) {
    let out = Command::new(curl)
        .args(["-sS", "-X", "POST", url, "-d", "{}"])
        .args(["-w", "\n%{http_code}", "--max-time", "60"])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or_else(|_| serde_json::json!(body)),
    )
}

fn aws(aws: &Path, home: &Path, key: &(String, String), args: &[&str]) -> String {
    let mut cmd = Command::new(aws);
    cmd.args(args);
    meridian_testkit::aws_env(&mut cmd, home, &key.0, &key.1);
    let out = cmd.output().expect("aws runs");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `python3` imports boto3 (functions run with the system's Python, as Lambda's
/// Python runtimes ship boto3).
fn python_has_boto3(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_declared_bucket_takes_a_functions_object_and_the_aws_cli_lists_it() {
    let (Some(curl), Some(aws_cli), Some(python)) = (
        tool("curl", "apt-get install curl"),
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("python3", "apt-get install python3"),
    ) else {
        return;
    };
    if !python_has_boto3(&python) {
        assert!(
            std::env::var_os("CI").is_none(),
            "boto3 is required in CI: .ci/install-test-deps installs it"
        );
        eprintln!("SKIPPED: boto3 is not installed (.ci/install-test-deps installs it)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("mkdir");
    std::fs::write(app.join("fn/app.py"), APP).expect("write");
    std::fs::write(app.join("template.yaml"), TEMPLATE).expect("write");
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    assert!(
        up.banner
            .iter()
            .any(|l| l.contains("bucket    meridian-uploads  (Uploads in app/template.yaml)")),
        "{:#?}",
        up.banner
    );
    let endpoint = up.banner_address("  s3 ", "http://");
    let key = access_key(&up);
    let home = tempfile::tempdir().expect("home");

    // Both buckets exist before any request; the undeclared name is generated.
    let listed = aws(
        &aws_cli,
        home.path(),
        &key,
        &["s3", "ls", "--endpoint-url", &endpoint],
    );
    assert!(listed.contains("meridian-uploads"), "{listed}");
    let generated = listed
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .find(|n| *n != "meridian-uploads")
        .unwrap_or_else(|| panic!("the generated bucket: {listed}"))
        .to_owned();
    assert!(generated.ends_with("-scratch"), "{generated}");

    // The writer puts an object with its scoped session.
    let (status, body) = post(
        &curl,
        &up.banner_address("(POST /put -> Writer)", "http://"),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["bucket"], "meridian-uploads");
    let objects = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "s3",
            "ls",
            "s3://meridian-uploads",
            "--recursive",
            "--endpoint-url",
            &endpoint,
        ],
    );
    assert!(objects.contains(" 21 greetings/hello.txt"), "{objects}");
    let copy = tmp.path().join("hello.txt");
    aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "s3",
            "cp",
            "s3://meridian-uploads/greetings/hello.txt",
            copy.to_str().expect("utf-8 path"),
            "--endpoint-url",
            &endpoint,
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&copy).expect("read"),
        "hello from a function"
    );

    // A read-only policy does not allow a put.
    let (status, body) = post(
        &curl,
        &up.banner_address("(POST /read-only/put -> Reader)", "http://"),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "AccessDenied");

    // `meridian buckets ls` sums up the buckets; `check` probes the endpoint.
    let ls = up.cli_json(&["buckets", "ls"]);
    let uploads = ls
        .as_array()
        .and_then(|a| a.iter().find(|b| b["name"] == "meridian-uploads"))
        .unwrap_or_else(|| panic!("{ls}"));
    assert_eq!(uploads["objects"], 1, "{ls}");
    assert_eq!(uploads["bytes"], 21, "{ls}");
    let scratch = ls
        .as_array()
        .and_then(|a| a.iter().find(|b| b["name"] == generated.as_str()))
        .unwrap_or_else(|| panic!("{ls}"));
    assert_eq!(scratch["objects"], 0, "{ls}");
    let table = up.cli(&["buckets", "ls"]);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["meridian-uploads", "1", "21", "us-east-1"]),
        "{table}"
    );
    let check = up.cli(&["check"]);
    assert!(
        check.contains(&format!(
            "S3 API: {endpoint} answers; 2 bucket(s); access key {}",
            key.0
        )),
        "{check}"
    );
}
