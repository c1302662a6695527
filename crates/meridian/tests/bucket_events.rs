//! Bucket events through a real `meridian up`: a function's `Events: Type: S3` becomes the
//! bucket's notification configuration (the AWS CLI reads it back), uploads, copies,
//! multipart uploads and deletes made with the AWS CLI reach the functions in S3's record
//! shape, filtered by event type and key; a configuration put with the CLI works the same;
//! an acknowledged upload's event survives a `kill -9`; and the course-style example in
//! `examples/uploads` (Node, `@aws-sdk/client-s3`) writes an upload's metadata beside it.

mod observe_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use observe_support::{Up, copy_dir, eventually, tool};

const APP: &str = r#"import json, os
def record(event, context):
    with open(os.environ["OUT"], "a") as f:
        for r in event["Records"]:
            f.write(json.dumps(r) + "\n")
"#;

fn template(out: &Path) -> String {
    format!(
        r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {{Runtime: python3.11, CodeUri: fn/, ReservedConcurrentExecutions: 1}}
Resources:
  Photos:
    Type: AWS::S3::Bucket
    Properties: {{BucketName: photos}}
  Created:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.record
      Environment: {{Variables: {{OUT: {out}/created}}}}
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Photos
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules: [{{Name: prefix, Value: in/}}]
  Removed:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.record
      Environment: {{Variables: {{OUT: {out}/removed}}}}
      Events:
        Gone:
          Type: S3
          Properties:
            Bucket: !Ref Photos
            Events: [s3:ObjectRemoved:*]
"#,
        out = out.display()
    )
}

/// The AWS CLI against the node's S3 endpoint.
struct Cli<'a> {
    aws: &'a Path,
    home: &'a Path,
    key: (String, String),
    endpoint: String,
}

impl Cli<'_> {
    fn output(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.aws)
            .args(args)
            .args(["--endpoint-url", &self.endpoint])
            .env("AWS_ACCESS_KEY_ID", &self.key.0)
            .env("AWS_SECRET_ACCESS_KEY", &self.key.1)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.home.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", self.home)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .output()
            .expect("aws runs")
    }

    /// Runs a command that must succeed; its stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.run(args)).expect("json")
    }
}

/// The records a function wrote, once there are `n`.
fn records(file: &Path, n: usize) -> Vec<serde_json::Value> {
    eventually(
        &format!("{n} records in {}", file.display()),
        Duration::from_secs(90),
        || {
            let text = std::fs::read_to_string(file).ok()?;
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("json line"))
                .collect();
            (lines.len() >= n).then_some(lines)
        },
    )
}

fn names(records: &[serde_json::Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            (
                r["eventName"].as_str().unwrap_or("").to_owned(),
                r["s3"]["object"]["key"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn uploads_copies_and_deletes_reach_the_functions_in_s3s_record_shape() {
    let (Some(aws_cli), Some(_python)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("python3", "apt-get install python3"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("mkdir");
    std::fs::write(app.join("fn/app.py"), APP).expect("write");
    std::fs::write(app.join("template.yaml"), template(tmp.path())).expect("write");
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    assert!(
        up.banner
            .iter()
            .any(|l| l.contains("events  s3:ObjectCreated:* prefix in/ -> function Created")),
        "{:#?}",
        up.banner
    );
    let home = tempfile::tempdir().expect("home");
    let cli = Cli {
        aws: &aws_cli,
        home: home.path(),
        key: up.access_key(),
        endpoint: up.banner_address("  s3 ", "http://"),
    };

    // The template's events are the bucket's notification configuration.
    let config = cli.json(&[
        "s3api",
        "get-bucket-notification-configuration",
        "--bucket",
        "photos",
    ]);
    let mut lambdas = config["LambdaFunctionConfigurations"]
        .as_array()
        .expect("configurations")
        .clone();
    lambdas.sort_by_key(|c| c["Id"].as_str().unwrap_or("").to_owned());
    assert_eq!(
        serde_json::Value::Array(lambdas),
        serde_json::json!([
            {
                "Id": "CreatedUpload",
                "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:Created",
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "in/"}]}}
            },
            {
                "Id": "RemovedGone",
                "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:Removed",
                "Events": ["s3:ObjectRemoved:*"]
            }
        ])
    );

    let body = b"a photo, or nearly".to_vec();
    let photo = tmp.path().join("photo.jpg");
    std::fs::write(&photo, &body).expect("write");
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 9 << 20]).expect("write");
    // Outside the prefix: no event for Created.
    cli.run(&[
        "s3",
        "cp",
        photo.to_str().expect("path"),
        "s3://photos/elsewhere/a.jpg",
    ]);
    cli.run(&[
        "s3",
        "cp",
        photo.to_str().expect("path"),
        "s3://photos/in/my photo (1).jpg",
    ]);
    cli.run(&[
        "s3api",
        "copy-object",
        "--bucket",
        "photos",
        "--key",
        "in/copy.jpg",
        "--copy-source",
        "photos/in/my photo (1).jpg",
    ]);
    // Over the CLI's 8 MiB threshold: a multipart upload.
    cli.run(&[
        "s3",
        "cp",
        big.to_str().expect("path"),
        "s3://photos/in/big.bin",
    ]);
    // A key that does not exist: nothing is removed, no event.
    cli.run(&[
        "s3api",
        "delete-object",
        "--bucket",
        "photos",
        "--key",
        "in/none",
    ]);
    cli.run(&["s3", "rm", "s3://photos/in/copy.jpg"]);

    let created = records(&tmp.path().join("created"), 3);
    assert_eq!(
        names(&created),
        pairs(&[
            ("ObjectCreated:Put", "in/my+photo+%281%29.jpg"),
            ("ObjectCreated:Copy", "in/copy.jpg"),
            ("ObjectCreated:CompleteMultipartUpload", "in/big.bin"),
        ])
    );
    let put = &created[0];
    assert_eq!(put["eventVersion"], "2.1");
    assert_eq!(put["eventSource"], "aws:s3");
    assert_eq!(put["awsRegion"], "us-east-1");
    assert_eq!(put["requestParameters"]["sourceIPAddress"], "127.0.0.1");
    assert!(
        put["userIdentity"]["principalId"]
            .as_str()
            .is_some_and(|p| !p.is_empty()),
        "{put}"
    );
    let request_id = put["responseElements"]["x-amz-request-id"]
        .as_str()
        .expect("request id");
    assert!(!request_id.is_empty());
    assert_eq!(put["responseElements"]["x-amz-id-2"], request_id);
    time::OffsetDateTime::parse(
        put["eventTime"].as_str().expect("eventTime"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("an ISO-8601 eventTime");
    let s3 = &put["s3"];
    assert_eq!(s3["s3SchemaVersion"], "1.0");
    assert_eq!(s3["configurationId"], "CreatedUpload");
    assert_eq!(s3["bucket"]["name"], "photos");
    assert_eq!(s3["bucket"]["arn"], "arn:aws:s3:::photos");
    assert!(s3["bucket"]["ownerIdentity"]["principalId"].is_string());
    assert_eq!(s3["object"]["size"], body.len());
    assert_eq!(s3["object"]["eTag"], md5_hex(&body));
    assert!(s3["object"].get("versionId").is_none(), "{s3}");
    let sequencers: Vec<&str> = created
        .iter()
        .map(|r| r["s3"]["object"]["sequencer"].as_str().expect("sequencer"))
        .collect();
    assert!(
        sequencers.windows(2).all(|w| w[0] < w[1])
            && sequencers
                .iter()
                .all(|s| s.bytes().all(|b| b.is_ascii_hexdigit())),
        "{sequencers:?}"
    );
    assert_eq!(created[2]["s3"]["object"]["size"], 9 << 20);
    assert!(
        created[2]["s3"]["object"]["eTag"]
            .as_str()
            .is_some_and(|e| e.ends_with("-2")),
        "{}",
        created[2]
    );

    let removed = records(&tmp.path().join("removed"), 1);
    assert_eq!(
        names(&removed),
        pairs(&[("ObjectRemoved:Delete", "in/copy.jpg")])
    );
    let gone = &removed[0]["s3"];
    assert_eq!(gone["configurationId"], "RemovedGone");
    assert!(gone["object"].get("size").is_none(), "{gone}");

    // A bucket made with the CLI, configured with the CLI.
    cli.run(&["s3", "mb", "s3://drafts"]);
    let put_config = |doc: &str| {
        cli.output(&[
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            "drafts",
            "--notification-configuration",
            doc,
        ])
    };
    let refused = put_config(
        r#"{"LambdaFunctionConfigurations": [{"LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:Created", "Events": ["s3:ObjectCreated:Sent"]}]}"#,
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("(InvalidArgument)")
            && stderr.contains("The event is not supported for notifications"),
        "{stderr}"
    );
    let missing = put_config(
        r#"{"LambdaFunctionConfigurations": [{"LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:Missing", "Events": ["s3:ObjectCreated:*"]}]}"#,
    );
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("(InvalidArgument)")
            && stderr.contains("Unable to validate the following destination configurations"),
        "{stderr}"
    );
    let accepted = put_config(
        r#"{"LambdaFunctionConfigurations": [{"Id": "pngs", "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:Created", "Events": ["s3:ObjectCreated:Put"], "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".png"}]}}}]}"#,
    );
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    cli.run(&[
        "s3",
        "cp",
        photo.to_str().expect("path"),
        "s3://drafts/a.jpg",
    ]);
    cli.run(&[
        "s3",
        "cp",
        photo.to_str().expect("path"),
        "s3://drafts/b.png",
    ]);
    let created = records(&tmp.path().join("created"), 4);
    assert_eq!(created.len(), 4, "{created:#?}");
    assert_eq!(created[3]["s3"]["bucket"]["name"], "drafts");
    assert_eq!(created[3]["s3"]["object"]["key"], "b.png");
    assert_eq!(created[3]["s3"]["configurationId"], "pngs");
}

#[test]
fn an_acknowledged_uploads_event_survives_a_kill_9() {
    let (Some(aws_cli), Some(_python)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("python3", "apt-get install python3"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("mkdir");
    std::fs::write(app.join("fn/app.py"), APP).expect("write");
    std::fs::write(app.join("template.yaml"), template(tmp.path())).expect("write");
    let home = tempfile::tempdir().expect("home");
    let photo = tmp.path().join("photo.jpg");
    std::fs::write(&photo, b"kept").expect("write");
    {
        let mut up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
        let cli = Cli {
            aws: &aws_cli,
            home: home.path(),
            key: up.access_key(),
            endpoint: up.banner_address("  s3 ", "http://"),
        };
        for i in 0..5 {
            cli.run(&[
                "s3",
                "cp",
                photo.to_str().expect("path"),
                &format!("s3://photos/in/{i}.jpg"),
            ]);
        }
        up.child.kill().expect("kill -9");
        up.child.wait().expect("wait");
    }
    let _up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    let created = records(&tmp.path().join("created"), 5);
    let mut keys: Vec<String> = names(&created).into_iter().map(|(_, k)| k).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys,
        (0..5).map(|i| format!("in/{i}.jpg")).collect::<Vec<_>>(),
        "every acknowledged upload's event, at least once"
    );
}

#[test]
fn the_uploads_example_writes_each_uploads_metadata_beside_it() {
    let (Some(aws_cli), Some(_node)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("node", "apt-get install nodejs"),
    ) else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/uploads");
    if !example
        .join("node_modules/@aws-sdk/client-s3/package.json")
        .is_file()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "examples/uploads needs its packages in CI: .ci/install-test-deps runs npm ci there"
        );
        eprintln!("SKIPPED: npm ci --prefix examples/uploads has not run");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&example, &tmp.path().join("uploads"));
    let up = Up::start(tmp.path(), "uploads", &["--gateway-port", "3000=0"]);
    let home = tempfile::tempdir().expect("home");
    let cli = Cli {
        aws: &aws_cli,
        home: home.path(),
        key: up.access_key(),
        endpoint: up.banner_address("  s3 ", "http://"),
    };
    let report = tmp.path().join("report 2026.txt");
    std::fs::write(&report, "quarterly numbers").expect("write");
    cli.run(&[
        "s3",
        "cp",
        report.to_str().expect("path"),
        "s3://meridian-uploads-example/incoming/report 2026.txt",
        "--content-type",
        "text/plain",
    ]);
    let dest = tmp.path().join("metadata.json");
    let metadata: serde_json::Value = eventually(
        "the function's metadata object",
        Duration::from_secs(120),
        || {
            let out = cli.output(&[
                "s3",
                "cp",
                "s3://meridian-uploads-example/metadata/incoming/report 2026.txt.json",
                dest.to_str().expect("path"),
            ]);
            if !out.status.success() {
                return None;
            }
            serde_json::from_slice(&std::fs::read(&dest).ok()?).ok()
        },
    );
    assert_eq!(metadata["key"], "incoming/report 2026.txt");
    assert_eq!(metadata["size"], "quarterly numbers".len());
    assert_eq!(metadata["contentType"], "text/plain");
    assert_eq!(metadata["eventName"], "ObjectCreated:Put");
    assert_eq!(metadata["eTag"], md5_hex(b"quarterly numbers"));
}
