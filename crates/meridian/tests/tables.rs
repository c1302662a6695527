//! The course's DynamoDB template through a real `meridian up`: the template's table is
//! created at `up`, `POST /users` (users.js with the AWS SDK v3) stores a user that the AWS
//! CLI and boto3 read back, a function without the policy is refused with DynamoDB's
//! `AccessDeniedException`, `meridian tables` and `check` show the table and endpoint, a
//! key-schema change is refused at its `file:line:col` and an index is added live.

mod observe_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use observe_support::{Up, copy_dir, eventually, tool};

/// A second template beside the course's: the same handler, no policy.
const NO_POLICY: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  NoPolicyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: users.create
      Runtime: nodejs18.x
      Environment:
        Variables:
          TABLE_NAME: Users
      Events:
        CreateUser:
          Type: Api
          Properties:
            Path: /unauthorized/users
            Method: post
"#;

/// The course's Lambda folder (with the packages `.ci/install-test-deps` installed) in
/// `dir/app`; `None` when the packages are missing (a failure under CI).
fn lambda_app(dir: &Path) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lambda");
    if !src
        .join("node_modules/@aws-sdk/lib-dynamodb/package.json")
        .is_file()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "examples/lambda/node_modules is required in CI: .ci/install-test-deps installs it"
        );
        eprintln!("SKIPPED: run `npm ci --prefix examples/lambda` (or .ci/install-test-deps)");
        return None;
    }
    let app = dir.join("app");
    copy_dir(&src, &app);
    std::fs::write(app.join("no-policy-template.yaml"), NO_POLICY).expect("write");
    Some(app)
}

/// The node's key, as a user finds it; the banner's `dynamodb` line shows its id.
fn access_key(up: &Up) -> (String, String) {
    let key = up.access_key();
    let line = up
        .banner
        .iter()
        .find(|l| l.contains("  dynamodb "))
        .expect("dynamodb line");
    assert!(line.contains(&format!("access key {}", key.0)), "{line}");
    key
}

/// `curl -X POST URL -d BODY`: the status and the body.
fn post(curl: &Path, url: &str, body: &str) -> (u16, serde_json::Value) {
    let out = Command::new(curl)
        .args([
            "-sS",
            "-X",
            "POST",
            url,
            "-H",
            "content-type: application/json",
        ])
        .args(["-d", body, "-w", "\n%{http_code}", "--max-time", "60"])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or_else(|_| serde_json::json!(body)),
    )
}

/// An AWS client's environment: the node's key, nothing from the user's files.
fn aws_env(cmd: &mut Command, home: &Path, key: &(String, String)) {
    meridian_testkit::aws_env(cmd, home, &key.0, &key.1);
}

fn aws(aws: &Path, home: &Path, key: &(String, String), args: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(aws);
    cmd.args(args);
    aws_env(&mut cmd, home, key);
    let out = cmd.output().expect("aws runs");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("aws prints JSON")
}

#[test]
fn the_course_dynamodb_template_runs_end_to_end() {
    let (Some(curl), Some(aws_cli), Some(python)) = (
        tool("curl", "apt-get install curl"),
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("python3", "apt-get install python3"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(app) = lambda_app(tmp.path()) else {
        return;
    };
    let mut up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    assert!(
        up.banner
            .iter()
            .any(|l| l.contains("table     Users  (UsersTable in app/dynamodb-template.yaml)")),
        "{:#?}",
        up.banner
    );
    let endpoint = up.banner_address("  dynamodb ", "http://");
    let users = up.banner_address("(POST /users -> CreateUserFunction)", "http://");
    let refused = up.banner_address("(POST /unauthorized/users -> NoPolicyFunction)", "http://");
    let key = access_key(&up);
    let home = tempfile::tempdir().expect("home");

    // The table exists before any request.
    let described = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "dynamodb",
            "describe-table",
            "--table-name",
            "Users",
            "--endpoint-url",
            &endpoint,
        ],
    );
    assert_eq!(described["Table"]["TableStatus"], "ACTIVE");
    assert_eq!(
        described["Table"]["BillingModeSummary"]["BillingMode"],
        "PAY_PER_REQUEST"
    );

    // POST /users: the handler writes through the SDK with its scoped session.
    let (status, created) = post(
        &curl,
        &users,
        r#"{"name": "Ada Lovelace", "email": "ada@example.com"}"#,
    );
    assert_eq!(status, 201, "{created}");
    let id = created["userId"].as_str().expect("a userId").to_owned();
    // The condition in users.js: the same userId again is a conflict, not an overwrite.
    let (status, again) = post(
        &curl,
        &users,
        &format!(r#"{{"userId": "{id}", "name": "Someone", "email": "x@example.com"}}"#),
    );
    assert_eq!(status, 409, "{again}");

    // The AWS CLI reads it back.
    let key_json = format!(r#"{{"userId": {{"S": "{id}"}}}}"#);
    let got = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "dynamodb",
            "get-item",
            "--table-name",
            "Users",
            "--key",
            &key_json,
            "--consistent-read",
            "--endpoint-url",
            &endpoint,
        ],
    );
    assert_eq!(got["Item"]["name"]["S"], "Ada Lovelace", "{got}");
    assert_eq!(got["Item"]["email"]["S"], "ada@example.com");

    // So does boto3.
    let script = format!(
        r#"import boto3, json, os
t = boto3.resource("dynamodb", endpoint_url=os.environ["ENDPOINT"]).Table("Users")
print(json.dumps(t.get_item(Key={{"userId": "{id}"}})["Item"]))"#
    );
    let mut cmd = Command::new(&python);
    cmd.args(["-c", &script]).env("ENDPOINT", &endpoint);
    aws_env(&mut cmd, home.path(), &key);
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(item["name"], "Ada Lovelace");
    assert_eq!(item["userId"], id.as_str());

    // The function without the policy is refused by the table, in DynamoDB's words.
    let (status, denied) = post(
        &curl,
        &refused,
        r#"{"name": "Mallory", "email": "m@example.com"}"#,
    );
    assert_eq!(status, 500, "{denied}");
    assert_eq!(denied["error"], "AccessDeniedException", "{denied}");
    assert_eq!(
        denied["message"],
        "User: arn:aws:sts::123456789012:assumed-role/NoPolicyFunction/NoPolicyFunction is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/Users because no identity-based policy allows the dynamodb:PutItem action"
    );

    // The CLI's quick looks, and the health check.
    let tables = up.cli_json(&["tables", "ls"]);
    assert_eq!(tables[0]["name"], "Users", "{tables}");
    assert_eq!(tables[0]["items"], 1, "only Ada was stored: {tables}");
    let scan = up.cli(&["tables", "scan", "Users", "--limit", "1"]);
    assert!(
        scan.contains("Ada Lovelace") && scan.contains(&id),
        "{scan}"
    );
    // The admin API gives items only with the node's token, as the DynamoDB API only to
    // signed requests; the table list (names and counts) is open as the rest of its reads.
    let (status, body) = observe_support::get(&up.admin, "/api/v1/tables/Users/scan", &[]);
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("Ada"), "{body}");
    assert_eq!(
        observe_support::get(&up.admin, "/api/v1/tables", &[]).0,
        200
    );
    let out = observe_support::meridian()
        .current_dir(tmp.path())
        .args(["tables", "scan", "Nope"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Requested resource not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = up.cli(&["check"]);
    assert!(
        check.contains(&format!(
            "DynamoDB API: {endpoint} answers; 1 table(s); access key {}",
            key.0
        )),
        "{check}"
    );

    // A key-schema change is refused at its position; the table keeps serving.
    let template = app.join("dynamodb-template.yaml");
    let text = std::fs::read_to_string(&template).expect("read");
    std::fs::write(
        &template,
        text.replace("AttributeType: S", "AttributeType: N"),
    )
    .expect("write");
    let stderr = tmp.path().join("up.stderr");
    eventually("the key change refused", Duration::from_secs(30), || {
        std::fs::read_to_string(&stderr).ok().filter(|s| {
            s.contains("app/dynamodb-template.yaml:14:9: UsersTable: table Users exists with key HASH userId (S); the template declares HASH userId (N). A table's key cannot change")
        })
    });
    let got = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "dynamodb",
            "get-item",
            "--table-name",
            "Users",
            "--key",
            &key_json,
            "--endpoint-url",
            &endpoint,
        ],
    );
    assert_eq!(got["Item"]["name"]["S"], "Ada Lovelace");

    // An index is added live and back-filled.
    std::fs::write(
        &template,
        text.replace(
            "        - AttributeName: userId\n          AttributeType: S\n",
            "        - AttributeName: userId\n          AttributeType: S\n        - AttributeName: email\n          AttributeType: S\n",
        )
        .replace(
            "          KeyType: HASH\n",
            "          KeyType: HASH\n      GlobalSecondaryIndexes:\n        - IndexName: byEmail\n          KeySchema:\n            - AttributeName: email\n              KeyType: HASH\n          Projection:\n            ProjectionType: ALL\n",
        ),
    )
    .expect("write");
    up.wait_line("applied revision");
    let tables = up.cli_json(&["tables", "ls"]);
    assert_eq!(tables[0]["indexes"], serde_json::json!(["byEmail (GSI)"]));
    let found = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "dynamodb",
            "query",
            "--table-name",
            "Users",
            "--index-name",
            "byEmail",
            "--key-condition-expression",
            "email = :e",
            "--expression-attribute-values",
            r#"{":e": {"S": "ada@example.com"}}"#,
            "--endpoint-url",
            &endpoint,
        ],
    );
    assert_eq!(found["Count"], 1, "{found}");
}

const STREAM_APP: &str = r#"
import json, os
def record(event, context):
    with open(os.environ["OUT"], "a") as f:
        for r in event["Records"]:
            f.write(json.dumps(r) + "\n")
def flaky(event, context):
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
    with open(os.environ["OUT"], "a") as f:
        f.write(" ".join(keys) + "\n")
    if "poison" in keys:
        raise ValueError("poison")
"#;

fn stream_template(out: &Path) -> String {
    format!(
        r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {{Runtime: python3.11, CodeUri: fn/}}
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: pk, AttributeType: S}}]
      KeySchema: [{{AttributeName: pk, KeyType: HASH}}]
      StreamSpecification: {{StreamViewType: NEW_AND_OLD_IMAGES}}
      TimeToLiveSpecification: {{AttributeName: expires, Enabled: true}}
  Recorder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.record
      Environment: {{Variables: {{OUT: {out}/records}}}}
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Orders.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
  Flaky:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.flaky
      Environment: {{Variables: {{OUT: {out}/attempts}}}}
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Orders.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 1
            MaximumRetryAttempts: 1
"#,
        out = out.display()
    )
}

#[test]
fn a_dynamodb_event_delivers_the_tables_changes_in_order() {
    let (Some(aws_cli), Some(_python)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("python3", "apt-get install python3"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("mkdir");
    std::fs::write(app.join("fn/app.py"), STREAM_APP).expect("write");
    std::fs::write(app.join("template.yaml"), stream_template(tmp.path())).expect("write");
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    let endpoint = up.banner_address("  dynamodb ", "http://");
    let key = access_key(&up);
    let home = tempfile::tempdir().expect("home");
    let run = |args: &[&str]| {
        let mut all = vec!["dynamodb"];
        all.extend_from_slice(args);
        all.extend(["--table-name", "Orders", "--endpoint-url", &endpoint]);
        let mut cmd = Command::new(&aws_cli);
        cmd.args(&all);
        aws_env(&mut cmd, home.path(), &key);
        let out = cmd.output().expect("aws runs");
        assert!(
            out.status.success(),
            "aws {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "put-item",
        "--item",
        r#"{"pk": {"S": "a"}, "n": {"N": "1"}}"#,
    ]);
    run(&[
        "update-item",
        "--key",
        r#"{"pk": {"S": "a"}}"#,
        "--update-expression",
        "SET n = :two",
        "--expression-attribute-values",
        r#"{":two": {"N": "2"}}"#,
    ]);
    run(&["delete-item", "--key", r#"{"pk": {"S": "a"}}"#]);
    run(&["put-item", "--item", r#"{"pk": {"S": "poison"}}"#]);
    run(&["put-item", "--item", r#"{"pk": {"S": "after"}}"#]);
    let described: serde_json::Value =
        serde_json::from_str(&run(&["describe-table"])).expect("json");
    let stream_arn = described["Table"]["LatestStreamArn"]
        .as_str()
        .expect("a stream")
        .to_owned();
    assert!(
        stream_arn.ends_with(":table/Orders/stream/1970-01-01T00:00:00.000"),
        "the ARN !GetAtt Orders.StreamArn gives: {stream_arn}"
    );

    let records: Vec<serde_json::Value> =
        eventually("five records delivered", Duration::from_secs(60), || {
            let text = std::fs::read_to_string(tmp.path().join("records")).ok()?;
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("json line"))
                .collect();
            (lines.len() >= 5).then_some(lines)
        });
    let seen: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["eventName"].as_str().unwrap_or("").to_owned(),
                r["dynamodb"]["Keys"]["pk"]["S"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("INSERT", "a"),
            ("MODIFY", "a"),
            ("REMOVE", "a"),
            ("INSERT", "poison"),
            ("INSERT", "after")
        ]
        .map(|(e, k)| (e.to_owned(), k.to_owned()))
    );
    assert_eq!(records[1]["dynamodb"]["OldImage"]["n"]["N"], "1");
    assert_eq!(records[1]["dynamodb"]["NewImage"]["n"]["N"], "2");
    for r in &records {
        assert_eq!(r["eventSourceARN"], stream_arn.as_str(), "{r}");
        assert_eq!(r["eventSource"], "aws:dynamodb");
    }

    // The poison batch is tried twice (MaximumRetryAttempts: 1), then skipped; the next
    // batch is delivered.
    let attempts = eventually(
        "the batch after the poison",
        Duration::from_secs(60),
        || {
            let text = std::fs::read_to_string(tmp.path().join("attempts")).ok()?;
            text.contains("after").then_some(text)
        },
    );
    assert_eq!(
        attempts.lines().collect::<Vec<_>>(),
        ["a", "a", "a", "poison", "poison", "after"]
    );

    // An expired item is deleted by the node's TTL sweep, and the function sees the
    // deletion as the service's.
    run(&[
        "put-item",
        "--item",
        r#"{"pk": {"S": "stale"}, "expires": {"N": "1700000000"}}"#,
    ]);
    let removed = eventually("the expired item swept", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(tmp.path().join("records")).ok()?;
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
            .find(|r| r["eventName"] == "REMOVE" && r["dynamodb"]["Keys"]["pk"]["S"] == "stale")
    });
    assert_eq!(
        removed["userIdentity"],
        serde_json::json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
    );
    assert_eq!(
        removed["dynamodb"]["OldImage"]["expires"]["N"],
        "1700000000"
    );
}

/// A template's bucket, filled with the AWS CLI, and then a table added to the template with
/// an `ImportSourceSpecification` on it: the revision creates the table by importing the
/// bucket's objects, as CloudFormation does, and the AWS CLI reads the items and the import.
#[test]
fn a_table_declared_with_an_import_source_is_loaded_from_the_bucket() {
    let Some(aws_cli) = tool("aws", ".ci/install-test-deps installs the AWS CLI") else {
        return;
    };
    let bucket_only = "Transform: AWS::Serverless-2016-10-31
Resources:
  Seed:
    Type: AWS::S3::Bucket
    Properties: {BucketName: seed}
";
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    let template = app.join("template.yaml");
    std::fs::write(&template, bucket_only).expect("write");
    let mut up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    let endpoint = up.banner_address("  dynamodb ", "http://");
    let s3 = up.banner_address("  s3 ", "http://");
    let key = access_key(&up);
    let home = tempfile::tempdir().expect("home");

    let rows: String = (0..25)
        .map(|i| {
            format!("{{\"Item\":{{\"userId\":{{\"S\":\"u{i}\"}},\"n\":{{\"N\":\"{i}\"}}}}}}\n")
        })
        .collect();
    // One item, then a record that is no item: that import fails with the item kept.
    let broken = "{\"Item\":{\"userId\":{\"S\":\"b1\"}}}\n{\"NotAnItem\":1}\n";
    for (name, text, to) in [
        ("users.json", rows.as_str(), "s3://seed/export/users.json"),
        ("broken.json", broken, "s3://seed/broken/part.json"),
    ] {
        let file = tmp.path().join(name);
        std::fs::write(&file, text).expect("write");
        let mut cmd = Command::new(&aws_cli);
        cmd.args([
            "s3",
            "cp",
            &file.display().to_string(),
            to,
            "--endpoint-url",
            &s3,
        ]);
        aws_env(&mut cmd, home.path(), &key);
        let out = cmd.output().expect("aws runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    std::fs::write(
        &template,
        format!(
            "{bucket_only}  Users:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Users
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: userId, AttributeType: S}}]
      KeySchema: [{{AttributeName: userId, KeyType: HASH}}]
      ImportSourceSpecification:
        S3BucketSource: {{S3Bucket: !Ref Seed, S3KeyPrefix: export/}}
        InputFormat: DYNAMODB_JSON
  Broken:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Broken
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: userId, AttributeType: S}}]
      KeySchema: [{{AttributeName: userId, KeyType: HASH}}]
      ImportSourceSpecification:
        S3BucketSource: {{S3Bucket: !Ref Seed, S3KeyPrefix: broken/}}
        InputFormat: DYNAMODB_JSON
"
        ),
    )
    .expect("write");
    up.wait_line("applied revision");
    let imports = eventually("the import ended", Duration::from_secs(30), || {
        let got = aws(
            &aws_cli,
            home.path(),
            &key,
            &["dynamodb", "list-imports", "--endpoint-url", &endpoint],
        );
        let list = got["ImportSummaryList"].as_array()?.clone();
        (!list.is_empty() && list.iter().all(|i| i["ImportStatus"] != "IN_PROGRESS"))
            .then_some(list)
    });
    assert_eq!(imports.len(), 2, "{imports:#?}");
    let status = |table: &str| {
        imports
            .iter()
            .find(|i| i["TableArn"].as_str().is_some_and(|a| a.ends_with(table)))
            .map(|i| i["ImportStatus"].clone())
    };
    assert_eq!(status("/Users"), Some("COMPLETED".into()), "{imports:#?}");
    assert_eq!(status("/Broken"), Some("FAILED".into()), "{imports:#?}");
    let item = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "dynamodb",
            "get-item",
            "--table-name",
            "Users",
            "--key",
            r#"{"userId": {"S": "u24"}}"#,
            "--endpoint-url",
            &endpoint,
        ],
    );
    assert_eq!(item["Item"]["n"]["N"], "24", "{item}");
    let tables = up.cli_json(&["tables", "ls"]);
    let items = |name: &str| {
        tables
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == name))
            .map(|t| t["items"].clone())
    };
    assert_eq!(items("Users"), Some(25.into()), "{tables}");
    assert_eq!(items("Broken"), Some(1.into()), "{tables}");

    // The next revision does not import into Broken again; it says why the table holds
    // one item, once.
    let text = std::fs::read_to_string(&template).expect("read");
    std::fs::write(&template, format!("{text}# edited\n")).expect("write");
    up.wait_line("applied revision");
    let stderr = tmp.path().join("up.stderr");
    let said = eventually(
        "the failed import warned of",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&stderr)
                .ok()
                .filter(|s| s.contains("the table's import failed"))
        },
    );
    let warning = said
        .lines()
        .find(|l| l.contains("the table's import failed"))
        .unwrap_or_default();
    assert!(
        warning.contains("table=Broken") && warning.contains("delete the table to import it again"),
        "{warning}"
    );
    assert_eq!(
        said.matches("the table's import failed").count(),
        1,
        "{said}"
    );
}
