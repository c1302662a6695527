//! Object and bucket tags with boto3 and `aws s3api`: tags set on upload (`x-amz-tagging`,
//! multipart included), by `?tagging`, on versions, through copies with either tagging
//! directive, counted on reads, and refused beyond S3's limits.

mod buckets;

use std::process::Command;

use buckets::{Server, aws_env, boto3, run_python, tool};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_object_and_bucket_tags() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os
from botocore.config import Config
from botocore.exceptions import ClientError

ep = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(retries={"total_max_attempts": 1}))
def err(f, **kw):
    try:
        f(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error from %s %s" % (f.__name__, kw))
def tagset(d):
    return [{"Key": k, "Value": v} for k, v in d.items()]

s3.create_bucket(Bucket="tags")
s3.put_object(Bucket="tags", Key="a", Body=b"x", Tagging="team=web&stage=two%20words")
assert s3.get_object_tagging(Bucket="tags", Key="a")["TagSet"] == tagset({"stage": "two words", "team": "web"})
assert s3.head_object(Bucket="tags", Key="a")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
s3.put_object_tagging(Bucket="tags", Key="a", Tagging={"TagSet": tagset({"only": "one"})})
assert s3.get_object_tagging(Bucket="tags", Key="a")["TagSet"] == tagset({"only": "one"})

# Copies keep the source's tags unless told to replace them.
s3.copy_object(Bucket="tags", Key="b", CopySource={"Bucket": "tags", "Key": "a"})
assert s3.get_object_tagging(Bucket="tags", Key="b")["TagSet"] == tagset({"only": "one"})
s3.copy_object(Bucket="tags", Key="c", CopySource={"Bucket": "tags", "Key": "a"},
               TaggingDirective="REPLACE", Tagging="new=1")
assert s3.get_object_tagging(Bucket="tags", Key="c")["TagSet"] == tagset({"new": "1"})

# Multipart uploads carry the tags given at creation.
u = s3.create_multipart_upload(Bucket="tags", Key="mp", Tagging="mp=yes")["UploadId"]
p = s3.upload_part(Bucket="tags", Key="mp", UploadId=u, PartNumber=1, Body=b"part")
s3.complete_multipart_upload(Bucket="tags", Key="mp", UploadId=u,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
assert s3.get_object_tagging(Bucket="tags", Key="mp")["TagSet"] == tagset({"mp": "yes"})

s3.delete_object_tagging(Bucket="tags", Key="a")
assert s3.get_object_tagging(Bucket="tags", Key="a")["TagSet"] == []
assert "x-amz-tagging-count" not in s3.head_object(Bucket="tags", Key="a")["ResponseMetadata"]["HTTPHeaders"]

# Limits.
eleven = tagset({"k%d" % i: "v" for i in range(11)})
assert err(s3.put_object_tagging, Bucket="tags", Key="a", Tagging={"TagSet": eleven}) == ("InvalidTag", 400)
assert err(s3.put_object, Bucket="tags", Key="d", Body=b"x", Tagging="a=1&a=2") == ("InvalidTag", 400)
assert err(s3.put_object_tagging, Bucket="tags", Key="missing", Tagging={"TagSet": []}) == ("NoSuchKey", 404)

# Versions have their own tags.
s3.put_bucket_versioning(Bucket="tags", VersioningConfiguration={"Status": "Enabled"})
v1 = s3.put_object(Bucket="tags", Key="v", Body=b"1", Tagging="gen=1")["VersionId"]
v2 = s3.put_object(Bucket="tags", Key="v", Body=b"2", Tagging="gen=2")["VersionId"]
r = s3.put_object_tagging(Bucket="tags", Key="v", VersionId=v1, Tagging={"TagSet": tagset({"gen": "one"})})
assert r["VersionId"] == v1
assert s3.get_object_tagging(Bucket="tags", Key="v", VersionId=v1)["TagSet"] == tagset({"gen": "one"})
g = s3.get_object_tagging(Bucket="tags", Key="v")
assert g["TagSet"] == tagset({"gen": "2"}) and g["VersionId"] == v2, g

# Bucket tags.
assert err(s3.get_bucket_tagging, Bucket="tags") == ("NoSuchTagSet", 404)
s3.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": tagset({"cost-center": "42"})})
assert s3.get_bucket_tagging(Bucket="tags")["TagSet"] == tagset({"cost-center": "42"})
s3.delete_bucket_tagging(Bucket="tags")
assert err(s3.get_bucket_tagging, Bucket="tags") == ("NoSuchTagSet", 404)
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_s3api_tagging() {
    if tool("aws", ".ci/install-test-deps installs awscli from PyPI").is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let aws = |args: &[&str]| {
            let mut cmd = Command::new("aws");
            cmd.args(args)
                .args(["--endpoint-url", &url, "--output", "json"]);
            aws_env(&mut cmd, &h);
            let out = cmd.output().expect("aws runs");
            assert!(
                out.status.success(),
                "aws {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
        };
        aws(&["s3api", "create-bucket", "--bucket", "cli-tags"]);
        aws(&[
            "s3api",
            "put-object",
            "--bucket",
            "cli-tags",
            "--key",
            "k",
            "--tagging",
            "a=1",
        ]);
        aws(&[
            "s3api",
            "put-object-tagging",
            "--bucket",
            "cli-tags",
            "--key",
            "k",
            "--tagging",
            "TagSet=[{Key=env,Value=prod}]",
        ]);
        let got = aws(&[
            "s3api",
            "get-object-tagging",
            "--bucket",
            "cli-tags",
            "--key",
            "k",
        ]);
        assert_eq!(got["TagSet"][0]["Key"], "env");
        assert_eq!(got["TagSet"][0]["Value"], "prod");
        aws(&[
            "s3api",
            "put-bucket-tagging",
            "--bucket",
            "cli-tags",
            "--tagging",
            "TagSet=[{Key=owner,Value=ops}]",
        ]);
        let got = aws(&["s3api", "get-bucket-tagging", "--bucket", "cli-tags"]);
        assert_eq!(got["TagSet"][0]["Value"], "ops");
    })
    .await
    .unwrap();
}
