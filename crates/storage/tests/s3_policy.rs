//! Bucket policies and the public access block with real clients: boto3 (signed, unsigned
//! for anonymous requests, and signed with a CloudFront service credential) and `aws
//! s3api`. Anonymous requests are refused unless the policy allows them, an explicit Deny
//! beats the account's own keys, conditions (`aws:SourceArn`, `s3:prefix`,
//! `aws:SecureTransport`) decide, and the public access block voids or refuses public
//! policies.

mod buckets;

use std::path::PathBuf;
use std::process::Command;

use buckets::{Server, aws_env, boto3, run_python, tool};
use serde_json::Value;

const DISTRIBUTION: &str = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE";

#[tokio::test(flavor = "multi_thread")]
async fn boto3_bucket_policy_anonymous_service_principal_and_public_access_block() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let cf = server
        .keys
        .issue_service("cloudfront.amazonaws.com", DISTRIBUTION);
    let other = server.keys.issue_service(
        "cloudfront.amazonaws.com",
        "arn:aws:cloudfront::123456789012:distribution/EOTHER",
    );
    let script = format!(
        r#"
import boto3, os, json
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

ep = os.environ["ENDPOINT"]
cfg = Config(retries={{"total_max_attempts": 1}}, read_timeout=20)
s3 = boto3.client("s3", endpoint_url=ep, config=cfg)
anon = boto3.client("s3", endpoint_url=ep, config=Config(signature_version=UNSIGNED, retries={{"total_max_attempts": 1}}))
def service(ak, sk):
    return boto3.client("s3", endpoint_url=ep, config=cfg, aws_access_key_id=ak, aws_secret_access_key=sk)
cf = service("{cf_ak}", "{cf_sk}")
other = service("{o_ak}", "{o_sk}")

def err(f, **kw):
    try:
        f(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error from %s %s" % (f.__name__, kw))

s3.create_bucket(Bucket="site")
for k in ["public/index.html", "private/data", "locked/keep"]:
    s3.put_object(Bucket="site", Key=k, Body=b"body of " + k.encode())

# No policy: anonymous and service callers are refused, the account is not.
assert err(anon.get_object, Bucket="site", Key="public/index.html") == ("AccessDenied", 403)
assert err(anon.list_objects_v2, Bucket="site") == ("AccessDenied", 403)
assert err(cf.get_object, Bucket="site", Key="private/data") == ("AccessDenied", 403)
assert err(s3.get_bucket_policy, Bucket="site") == ("NoSuchBucketPolicy", 404)
assert err(s3.get_public_access_block, Bucket="site") == ("NoSuchPublicAccessBlockConfiguration", 404)

# Validation.
assert err(s3.put_bucket_policy, Bucket="site", Policy="{{not json") == ("MalformedPolicy", 400)
bad = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": "*",
       "Action": "s3:GetObject", "Resource": "arn:aws:s3:::elsewhere/*"}}]}}
assert err(s3.put_bucket_policy, Bucket="site", Policy=json.dumps(bad)) == ("MalformedPolicy", 400)
bad["Statement"][0]["Resource"] = "arn:aws:s3:::site/*"
bad["Statement"][0]["Action"] = "sqs:SendMessage"
assert err(s3.put_bucket_policy, Bucket="site", Policy=json.dumps(bad)) == ("MalformedPolicy", 400)

policy = {{"Version": "2012-10-17", "Statement": [
    {{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::site/public/*"}},
    {{"Sid": "CloudFrontOAC", "Effect": "Allow", "Principal": {{"Service": "cloudfront.amazonaws.com"}},
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*",
     "Condition": {{"StringEquals": {{"AWS:SourceArn": "{dist}"}}}}}},
    {{"Sid": "ListPublic", "Effect": "Allow", "Principal": {{"AWS": "*"}}, "Action": "s3:ListBucket",
     "Resource": "arn:aws:s3:::site", "Condition": {{"StringLike": {{"s3:prefix": "public/*"}}}}}},
    {{"Sid": "Keep", "Effect": "Deny", "Principal": "*", "Action": ["s3:DeleteObject*", "s3:PutObject"],
     "Resource": "arn:aws:s3:::site/locked/*"}},
    {{"Sid": "TlsOnlyForUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
     "Resource": "arn:aws:s3:::site/tls/*", "Condition": {{"Bool": {{"aws:SecureTransport": "false"}}}}}}
]}}
s3.put_bucket_policy(Bucket="site", Policy=json.dumps(policy))
assert json.loads(s3.get_bucket_policy(Bucket="site")["Policy"]) == policy
assert s3.get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"] is True

assert anon.get_object(Bucket="site", Key="public/index.html")["Body"].read() == b"body of public/index.html"
assert err(anon.get_object, Bucket="site", Key="private/data") == ("AccessDenied", 403)
assert err(anon.put_object, Bucket="site", Key="public/new", Body=b"x") == ("AccessDenied", 403)
assert [o["Key"] for o in anon.list_objects_v2(Bucket="site", Prefix="public/")["Contents"]] == ["public/index.html"]
assert err(anon.list_objects_v2, Bucket="site", Prefix="private/") == ("AccessDenied", 403)

# The distribution's origin access: every object, read only, this distribution only.
assert cf.get_object(Bucket="site", Key="private/data")["Body"].read() == b"body of private/data"
assert err(cf.put_object, Bucket="site", Key="private/data", Body=b"x") == ("AccessDenied", 403)
assert err(other.get_object, Bucket="site", Key="private/data") == ("AccessDenied", 403)

# An explicit Deny beats the account's own keys.
assert err(s3.delete_object, Bucket="site", Key="locked/keep") == ("AccessDenied", 403)
assert err(s3.put_object, Bucket="site", Key="locked/keep", Body=b"x") == ("AccessDenied", 403)
assert err(s3.put_object, Bucket="site", Key="tls/x", Body=b"x") == ("AccessDenied", 403)
assert s3.get_object(Bucket="site", Key="locked/keep")["Body"].read() == b"body of locked/keep"

# RestrictPublicBuckets voids the public grants for anonymous callers only.
s3.put_public_access_block(Bucket="site", PublicAccessBlockConfiguration={{"RestrictPublicBuckets": True}})
got = s3.get_public_access_block(Bucket="site")["PublicAccessBlockConfiguration"]
assert got == {{"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
               "RestrictPublicBuckets": True}}, got
assert err(anon.get_object, Bucket="site", Key="public/index.html") == ("AccessDenied", 403)
assert cf.get_object(Bucket="site", Key="public/index.html")["Body"].read()
# BlockPublicPolicy refuses a public policy.
s3.put_public_access_block(Bucket="site", PublicAccessBlockConfiguration={{
    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}})
assert err(s3.put_bucket_policy, Bucket="site", Policy=json.dumps(policy)) == ("AccessDenied", 403)
s3.delete_public_access_block(Bucket="site")
assert err(s3.get_public_access_block, Bucket="site") == ("NoSuchPublicAccessBlockConfiguration", 404)
assert anon.get_object(Bucket="site", Key="public/index.html")["Body"].read()

s3.delete_bucket_policy(Bucket="site")
assert err(s3.get_bucket_policy, Bucket="site") == ("NoSuchBucketPolicy", 404)
assert err(anon.get_object, Bucket="site", Key="public/index.html") == ("AccessDenied", 403)
s3.delete_object(Bucket="site", Key="locked/keep")
print("ok")
"#,
        cf_ak = cf.access_key_id,
        cf_sk = cf.secret_access_key,
        o_ak = other.access_key_id,
        o_sk = other.secret_access_key,
        dist = DISTRIBUTION,
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert!(out.contains("ok"), "{out}");
}

fn cli() -> Option<PathBuf> {
    tool("aws", ".ci/install-test-deps installs awscli from PyPI")
}

fn aws(url: &str, home: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("aws");
    cmd.args(args)
        .args(["--endpoint-url", url, "--output", "json"]);
    aws_env(&mut cmd, home);
    cmd.output().expect("aws runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_s3api_bucket_policy_and_public_access_block() {
    if cli().is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let ok = |args: &[&str]| {
            let out = aws(&url, &h, args);
            assert!(
                out.status.success(),
                "aws {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)
        };
        ok(&["s3api", "create-bucket", "--bucket", "cli-pol"]);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::cli-pol/*"}]}"#;
        ok(&[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            "cli-pol",
            "--policy",
            policy,
        ]);
        let got = ok(&["s3api", "get-bucket-policy", "--bucket", "cli-pol"]);
        assert_eq!(got["Policy"], policy);
        ok(&[
            "s3api",
            "put-public-access-block",
            "--bucket",
            "cli-pol",
            "--public-access-block-configuration",
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
        ]);
        let got = ok(&["s3api", "get-public-access-block", "--bucket", "cli-pol"]);
        assert_eq!(
            got["PublicAccessBlockConfiguration"]["BlockPublicPolicy"],
            true
        );
        let refused = aws(
            &url,
            &h,
            &[
                "s3api",
                "put-bucket-policy",
                "--bucket",
                "cli-pol",
                "--policy",
                policy,
            ],
        );
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("AccessDenied"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
        let bad = aws(
            &url,
            &h,
            &[
                "s3api",
                "put-bucket-policy",
                "--bucket",
                "cli-pol",
                "--policy",
                "{\"Statement\":[]}",
            ],
        );
        assert!(String::from_utf8_lossy(&bad.stderr).contains("MalformedPolicy"));
        ok(&["s3api", "delete-public-access-block", "--bucket", "cli-pol"]);
        ok(&["s3api", "delete-bucket-policy", "--bucket", "cli-pol"]);
        let gone = aws(&url, &h, &["s3api", "get-bucket-policy", "--bucket", "cli-pol"]);
        assert!(String::from_utf8_lossy(&gone.stderr).contains("NoSuchBucketPolicy"));
    })
    .await
    .unwrap();
}
