//! The AWS CLI (`aws dynamodb ... --endpoint-url`) against the endpoint.

mod harness;

use std::process::Command;

use harness::{Server, aws_env, tool};

fn aws(url: &str, home: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let Some(aws) = tool("aws", ".ci/install-test-deps installs awscli from PyPI") else {
        return serde_json::Value::Null;
    };
    let mut cmd = Command::new(aws);
    cmd.arg("dynamodb")
        .args(args)
        .args(["--endpoint-url", url, "--output", "json"]);
    aws_env(&mut cmd, home);
    let out = cmd.output().expect("aws runs");
    assert!(
        out.status.success(),
        "aws dynamodb {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out.stdout).expect("aws prints JSON")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aws_cli_creates_writes_reads_and_queries() {
    if tool("aws", ".ci/install-test-deps installs awscli from PyPI").is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let created = aws(
            &url,
            &h,
            &[
                "create-table",
                "--table-name",
                "Users",
                "--attribute-definitions",
                "AttributeName=userId,AttributeType=S",
                "--key-schema",
                "AttributeName=userId,KeyType=HASH",
                "--billing-mode",
                "PAY_PER_REQUEST",
            ],
        );
        assert_eq!(created["TableDescription"]["TableStatus"], "CREATING");
        aws(&url, &h, &["wait", "table-exists", "--table-name", "Users"]);
        aws(
            &url,
            &h,
            &[
                "put-item",
                "--table-name",
                "Users",
                "--item",
                r#"{"userId": {"S": "u1"}, "name": {"S": "Ada"}, "age": {"N": "36"}}"#,
            ],
        );
        let got = aws(
            &url,
            &h,
            &[
                "get-item",
                "--table-name",
                "Users",
                "--key",
                r#"{"userId": {"S": "u1"}}"#,
            ],
        );
        assert_eq!(got["Item"]["name"]["S"], "Ada");
        let updated = aws(
            &url,
            &h,
            &[
                "update-item",
                "--table-name",
                "Users",
                "--key",
                r#"{"userId": {"S": "u1"}}"#,
                "--update-expression",
                "SET age = age + :one",
                "--expression-attribute-values",
                r#"{":one": {"N": "1"}}"#,
                "--return-values",
                "UPDATED_NEW",
            ],
        );
        assert_eq!(updated["Attributes"]["age"]["N"], "37");
        let q = aws(
            &url,
            &h,
            &[
                "query",
                "--table-name",
                "Users",
                "--key-condition-expression",
                "userId = :u",
                "--expression-attribute-values",
                r#"{":u": {"S": "u1"}}"#,
            ],
        );
        assert_eq!(q["Count"], 1);
        let s = aws(&url, &h, &["scan", "--table-name", "Users"]);
        assert_eq!(s["Items"][0]["userId"]["S"], "u1");
        let listed = aws(&url, &h, &["list-tables"]);
        assert_eq!(listed["TableNames"][0], "Users");
        aws(
            &url,
            &h,
            &[
                "delete-item",
                "--table-name",
                "Users",
                "--key",
                r#"{"userId": {"S": "u1"}}"#,
            ],
        );
        let described = aws(&url, &h, &["describe-table", "--table-name", "Users"]);
        assert_eq!(described["Table"]["ItemCount"], 0);
        aws(&url, &h, &["delete-table", "--table-name", "Users"]);
        aws(&url, &h, &["list-tables"])
    })
    .await
    .unwrap();
    assert_eq!(out["TableNames"], serde_json::json!([]));
}

/// The AWS CLI's failure: its stderr (`An error occurred (Type) when calling ...: message`).
fn aws_fails(url: &str, home: &std::path::Path, args: &[&str]) -> String {
    let aws = tool("aws", ".ci/install-test-deps installs awscli from PyPI").expect("aws");
    let mut cmd = Command::new(aws);
    cmd.arg("dynamodb")
        .args(args)
        .args(["--endpoint-url", url, "--output", "json"]);
    aws_env(&mut cmd, home);
    let out = cmd.output().expect("aws runs");
    assert!(!out.status.success(), "aws dynamodb {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aws_cli_tags_tables_sets_ttl_and_discovers_the_endpoint() {
    if tool("aws", ".ci/install-test-deps installs awscli from PyPI").is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_owned();
    tokio::task::spawn_blocking(move || {
        aws(
            &url,
            &h,
            &[
                "create-table",
                "--table-name",
                "Tagged",
                "--attribute-definitions",
                "AttributeName=id,AttributeType=S",
                "--key-schema",
                "AttributeName=id,KeyType=HASH",
                "--billing-mode",
                "PAY_PER_REQUEST",
                "--tags",
                "Key=team,Value=shop",
            ],
        );
        let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/Tagged";
        aws(
            &url,
            &h,
            &[
                "tag-resource",
                "--resource-arn",
                arn,
                "--tags",
                "Key=env,Value=dev",
                "Key=team,Value=ops",
            ],
        );
        let listed = aws(&url, &h, &["list-tags-of-resource", "--resource-arn", arn]);
        assert_eq!(
            listed["Tags"],
            serde_json::json!([{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "ops"}])
        );
        aws(
            &url,
            &h,
            &["untag-resource", "--resource-arn", arn, "--tag-keys", "env"],
        );
        let listed = aws(&url, &h, &["list-tags-of-resource", "--resource-arn", arn]);
        assert_eq!(
            listed["Tags"],
            serde_json::json!([{"Key": "team", "Value": "ops"}])
        );
        assert_eq!(
            aws_fails(
                &url,
                &h,
                &[
                    "list-tags-of-resource",
                    "--resource-arn",
                    "arn:aws:dynamodb:us-east-1:123456789012:table/Nope"
                ]
            ),
            "An error occurred (ResourceNotFoundException) when calling the ListTagsOfResource operation: Requested resource not found: ResourcArn: arn:aws:dynamodb:us-east-1:123456789012:table/Nope not found"
        );
        assert!(
            aws_fails(
                &url,
                &h,
                &[
                    "tag-resource",
                    "--resource-arn",
                    arn,
                    "--tags",
                    "Key=aws:x,Value=y"
                ]
            )
            .contains("Tag keys starting with 'aws:' are reserved for system use")
        );

        let ttl = aws(
            &url,
            &h,
            &[
                "update-time-to-live",
                "--table-name",
                "Tagged",
                "--time-to-live-specification",
                "Enabled=true,AttributeName=expires",
            ],
        );
        assert_eq!(
            ttl["TimeToLiveSpecification"],
            serde_json::json!({"Enabled": true, "AttributeName": "expires"})
        );
        let described = aws(&url, &h, &["describe-time-to-live", "--table-name", "Tagged"]);
        assert_eq!(
            described["TimeToLiveDescription"]["TimeToLiveStatus"],
            "ENABLED"
        );

        let endpoints = aws(&url, &h, &["describe-endpoints"]);
        let address = url.strip_prefix("http://").expect("http url");
        assert_eq!(
            endpoints["Endpoints"],
            serde_json::json!([{"Address": address, "CachePeriodInMinutes": 1440}])
        );
    })
    .await
    .unwrap();
}

/// `aws sts ...` against the endpoint with the given key; returns (success, stdout, stderr).
fn sts(
    url: &str,
    home: &std::path::Path,
    key: (&str, &str, Option<&str>),
    args: &[&str],
) -> (bool, String, String) {
    let aws = tool("aws", ".ci/install-test-deps installs awscli from PyPI").expect("aws");
    let mut cmd = Command::new(aws);
    cmd.arg("sts")
        .args(args)
        .args(["--endpoint-url", url, "--output", "json"]);
    meridian_testkit::aws_env(&mut cmd, home, key.0, key.1);
    if let Some(token) = key.2 {
        cmd.env("AWS_SESSION_TOKEN", token);
    }
    let out = cmd.output().expect("aws runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// STS's GetCallerIdentity answers on the endpoint SDKs send every service to
/// (`AWS_ENDPOINT_URL`), for the operator's keys and for a function's session, which needs
/// no permission for it; other STS actions and bad signatures get STS's errors.
#[tokio::test(flavor = "multi_thread")]
async fn sts_get_caller_identity_names_the_caller() {
    if tool("aws", ".ci/install-test-deps installs awscli from PyPI").is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let session = server.keys.issue_session(
        "fn-role",
        meridian_storage::keys::Policy::default(),
        std::time::Duration::from_secs(3600),
    );
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let operator = (harness::ACCESS_KEY, harness::SECRET_KEY, None);
        let (ok, out, err) = sts(&url, &h, operator, &["get-caller-identity"]);
        assert!(ok, "{err}");
        let me: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(me["Account"], "123456789012");
        assert_eq!(me["Arn"], "arn:aws:iam::123456789012:root");
        assert_eq!(me["UserId"], "123456789012");

        let token = session.session_token.clone().expect("token");
        let (ok, out, err) = sts(
            &url,
            &h,
            (
                &session.access_key_id,
                &session.secret_access_key,
                Some(&token),
            ),
            &["get-caller-identity"],
        );
        assert!(ok, "{err}");
        let me: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(me["Account"], "123456789012");
        assert_eq!(
            me["Arn"],
            "arn:aws:sts::123456789012:assumed-role/fn-role/fn-role"
        );
        let user_id = me["UserId"].as_str().expect("a user id");
        assert!(
            user_id.starts_with("AROA") && user_id.ends_with(":fn-role"),
            "{user_id}"
        );

        let (ok, _, err) = sts(
            &url,
            &h,
            (harness::ACCESS_KEY, "wrong", None),
            &["get-caller-identity"],
        );
        assert!(!ok);
        assert!(err.contains("(SignatureDoesNotMatch)"), "{err}");
        let (ok, _, err) = sts(
            &url,
            &h,
            operator,
            &[
                "assume-role",
                "--role-arn",
                "arn:aws:iam::123456789012:role/x",
                "--role-session-name",
                "s1",
            ],
        );
        assert!(!ok);
        assert!(
            err.contains("(InvalidAction)")
                && err.contains("Could not find operation AssumeRole for version 2011-06-15"),
            "{err}"
        );
    })
    .await
    .unwrap();
}

/// The AWS CLI's exports and imports: point-in-time recovery switched on and described, a
/// table exported into a bucket and its export described and listed, the export's data
/// imported into a new table that then serves the item.
#[tokio::test(flavor = "multi_thread")]
async fn the_aws_cli_exports_a_table_and_imports_it_back() {
    let Some(cli) = tool("aws", ".ci/install-test-deps installs awscli from PyPI") else {
        return;
    };
    let (server, buckets) = Server::start_with_buckets().await;
    let url = server.url();
    let s3 = format!("http://{}", buckets.addr);
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut mb = Command::new(cli);
        mb.args(["s3api", "create-bucket", "--bucket", "backups"])
            .args(["--endpoint-url", &s3]);
        aws_env(&mut mb, &h);
        assert!(mb.output().expect("aws runs").status.success());
        let key = ["--key-schema", "AttributeName=id,KeyType=HASH"];
        let attrs = ["--attribute-definitions", "AttributeName=id,AttributeType=S"];
        let mut create = vec!["create-table", "--table-name", "Orders"];
        create.extend(attrs);
        create.extend(key);
        create.extend(["--billing-mode", "PAY_PER_REQUEST"]);
        aws(&url, &h, &create);
        aws(
            &url,
            &h,
            &[
                "put-item",
                "--table-name",
                "Orders",
                "--item",
                r#"{"id":{"S":"o-1"},"total":{"N":"12.50"}}"#,
            ],
        );
        let arn = aws(&url, &h, &["describe-table", "--table-name", "Orders"])["Table"]
            ["TableArn"]
            .as_str()
            .expect("arn")
            .to_owned();
        let off = aws(
            &url,
            &h,
            &["describe-continuous-backups", "--table-name", "Orders"],
        );
        assert_eq!(
            off["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
                ["PointInTimeRecoveryStatus"],
            "DISABLED"
        );
        let refused = aws_fails(
            &url,
            &h,
            &[
                "export-table-to-point-in-time",
                "--table-arn",
                &arn,
                "--s3-bucket",
                "backups",
            ],
        );
        assert!(
            refused.contains("PointInTimeRecoveryUnavailableException"),
            "{refused}"
        );
        aws(
            &url,
            &h,
            &[
                "update-continuous-backups",
                "--table-name",
                "Orders",
                "--point-in-time-recovery-specification",
                "PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays=7",
            ],
        );
        let started = aws(
            &url,
            &h,
            &[
                "export-table-to-point-in-time",
                "--table-arn",
                &arn,
                "--s3-bucket",
                "backups",
                "--s3-prefix",
                "daily",
            ],
        );
        let export_arn = started["ExportDescription"]["ExportArn"]
            .as_str()
            .expect("export arn")
            .to_owned();
        let ended = |args: &[&str], wrapper: &str, field: &str| {
            for _ in 0..200 {
                let d = aws(&url, &h, args)[wrapper].clone();
                if d[field] != "IN_PROGRESS" {
                    return d;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            panic!("{args:?} did not end");
        };
        let export = ended(
            &["describe-export", "--export-arn", &export_arn],
            "ExportDescription",
            "ExportStatus",
        );
        assert_eq!(export["ExportStatus"], "COMPLETED", "{export}");
        assert_eq!(export["ItemCount"], 1, "{export}");
        let listed = aws(&url, &h, &["list-exports", "--table-arn", &arn]);
        assert_eq!(listed["ExportSummaries"][0]["ExportArn"], export_arn.as_str());

        let data = format!(
            "S3Bucket=backups,S3KeyPrefix={}/data/",
            export["ExportManifest"]
                .as_str()
                .expect("manifest")
                .rsplit_once('/')
                .expect("a directory")
                .0
        );
        let mut import = vec![
            "import-table",
            "--s3-bucket-source",
            &data,
            "--input-format",
            "DYNAMODB_JSON",
            "--input-compression-type",
            "GZIP",
            "--table-creation-parameters",
        ];
        let params = r#"{"TableName":"OrdersCopy","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}"#;
        import.push(params);
        let started = aws(&url, &h, &import);
        let import_arn = started["ImportTableDescription"]["ImportArn"]
            .as_str()
            .expect("import arn")
            .to_owned();
        let imported = ended(
            &["describe-import", "--import-arn", &import_arn],
            "ImportTableDescription",
            "ImportStatus",
        );
        assert_eq!(imported["ImportStatus"], "COMPLETED", "{imported}");
        assert_eq!(imported["ImportedItemCount"], 1, "{imported}");
        let item = aws(
            &url,
            &h,
            &[
                "get-item",
                "--table-name",
                "OrdersCopy",
                "--key",
                r#"{"id":{"S":"o-1"}}"#,
            ],
        );
        assert_eq!(item["Item"]["total"]["N"], "12.5");
        let imports = aws(&url, &h, &["list-imports"]);
        assert_eq!(
            imports["ImportSummaryList"][0]["ImportArn"],
            import_arn.as_str()
        );
    })
    .await
    .expect("join");
}
