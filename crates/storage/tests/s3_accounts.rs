//! Accounts with boto3 against a `meridian-buckets` process whose flags declare a second
//! account (`--account ID:DISPLAY_NAME`, `--key AK:SK@ID`): each account lists only its
//! buckets and is named in their `Owner` elements; another account is refused
//! (`AccessDenied`), copies from its objects included, until the owner's bucket policy names
//! it, and then only for what the policy grants; a name another account holds is `BucketAlreadyExists`; an ACL grant to the
//! other account's canonical id lets it in where ACLs are enabled. Ownership survives a
//! restart. `x-amz-expected-bucket-owner` refuses a request for another account's bucket.

mod buckets;

use buckets::{Process, boto3, run_python};

const ALT_ACCOUNT: &str = "111122223333";
const ALT_KEY: &str = "AKIAALTACCOUNTKEY";
const ALT_SECRET: &str = "alt/secret/key";

fn flags() -> [String; 4] {
    [
        "--account".into(),
        format!("{ALT_ACCOUNT}:john.doe"),
        "--key".into(),
        format!("{ALT_KEY}:{ALT_SECRET}@{ALT_ACCOUNT}"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_another_account_is_refused_until_a_policy_or_acl_grants_it() {
    let Some(python) = boto3() else { return };
    let state = tempfile::tempdir().expect("tempdir");
    let flags = flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let process = Process::start_with(state.path(), &flags);
    let script = format!(
        r#"
import boto3, os, json
from botocore.config import Config
from botocore.exceptions import ClientError

ep = os.environ["ENDPOINT"]
cfg = Config(retries={{"total_max_attempts": 1}}, read_timeout=20)
main = boto3.client("s3", endpoint_url=ep, config=cfg)
alt = boto3.client("s3", endpoint_url=ep, config=cfg,
    aws_access_key_id="{ALT_KEY}", aws_secret_access_key="{ALT_SECRET}")

def code(f, **kw):
    try:
        f(**kw)
        return "OK"
    except ClientError as e:
        return e.response["Error"]["Code"]

main.create_bucket(Bucket="mine")
main.put_object(Bucket="mine", Key="a", Body=b"hello")
alt.create_bucket(Bucket="theirs")

# Each account lists its own buckets and is the owner named.
mine = main.list_buckets()
theirs = alt.list_buckets()
assert [b["Name"] for b in mine["Buckets"]] == ["mine"], mine
assert [b["Name"] for b in theirs["Buckets"]] == ["theirs"], theirs
assert theirs["Owner"] == {{"ID": "{ALT_ACCOUNT}", "DisplayName": "john.doe"}}, theirs["Owner"]
assert mine["Owner"]["DisplayName"] == "meridian", mine["Owner"]
owner = alt.get_bucket_acl(Bucket="theirs")["Owner"]
assert owner["ID"] == "{ALT_ACCOUNT}", owner

# Another account's bucket: refused, and its name is taken.
for f, kw in [
    (alt.get_object, dict(Bucket="mine", Key="a")),
    (alt.put_object, dict(Bucket="mine", Key="b", Body=b"x")),
    (alt.list_objects_v2, dict(Bucket="mine")),
    (alt.delete_bucket, dict(Bucket="mine")),
    (alt.get_bucket_policy, dict(Bucket="mine")),
]:
    assert code(f, **kw) == "AccessDenied", (f, code(f, **kw))
copy = dict(Bucket="theirs", Key="copied", CopySource={{"Bucket": "mine", "Key": "a"}})
assert code(alt.copy_object, **copy) == "AccessDenied"
upload = alt.create_multipart_upload(Bucket="theirs", Key="parts")["UploadId"]
part_copy = dict(Bucket="theirs", Key="parts", UploadId=upload, PartNumber=1,
    CopySource={{"Bucket": "mine", "Key": "a"}})
assert code(alt.upload_part_copy, **part_copy) == "AccessDenied"
assert code(alt.create_bucket, Bucket="mine") == "BucketAlreadyExists"
assert code(main.create_bucket, Bucket="theirs") == "BucketAlreadyExists"
assert code(main.create_bucket, Bucket="mine") == "OK"  # us-east-1 takes one's own again
assert code(alt.list_objects_v2, Bucket="theirs", ExpectedBucketOwner="{ALT_ACCOUNT}") == "OK"
assert code(main.list_objects_v2, Bucket="mine", ExpectedBucketOwner="{ALT_ACCOUNT}") == "AccessDenied"

# A policy naming the account lets it read, and nothing more.
main.put_bucket_policy(Bucket="mine", Policy=json.dumps({{
    "Version": "2012-10-17",
    "Statement": [{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ALT_ACCOUNT}:root"}},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": ["arn:aws:s3:::mine", "arn:aws:s3:::mine/*"]}}],
}}))
assert alt.get_object(Bucket="mine", Key="a")["Body"].read() == b"hello"
assert code(alt.copy_object, **copy) == "OK"
assert code(alt.copy_object, ExpectedSourceBucketOwner="{ALT_ACCOUNT}", **copy) == "AccessDenied"
assert alt.get_object(Bucket="theirs", Key="copied")["Body"].read() == b"hello"
assert code(alt.upload_part_copy, **part_copy) == "OK"
unknown = json.dumps({{"Statement": [{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::nobody:root"}},
    "Action": "s3:GetObject", "Resource": "arn:aws:s3:::mine/*"}}]}})
assert code(main.put_bucket_policy, Bucket="mine", Policy=unknown) == "MalformedPolicy"
listed = alt.list_objects(Bucket="mine")["Contents"]
assert [o["Key"] for o in listed] == ["a"], listed
assert listed[0]["Owner"]["DisplayName"] == "meridian", listed
assert code(alt.put_object, Bucket="mine", Key="b", Body=b"x") == "AccessDenied"

# Conditions on the request's grant headers and on the object's existing tags.
main.put_object(Bucket="mine", Key="tagged", Body=b"t", Tagging="class=public")
main.put_object(Bucket="mine", Key="untagged", Body=b"u")
main.put_bucket_policy(Bucket="mine", Policy=json.dumps({{"Statement": [
    {{"Effect": "Allow", "Principal": {{"AWS": "{ALT_ACCOUNT}"}}, "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::mine/*", "Condition": {{"StringEquals": {{"s3:ExistingObjectTag/class": "public"}}}}}},
    {{"Effect": "Allow", "Principal": {{"AWS": "{ALT_ACCOUNT}"}}, "Action": "s3:PutObject",
     "Resource": "arn:aws:s3:::mine/*", "Condition": {{"StringEquals": {{"s3:RequestObjectTag/from": "alt"}}}}}},
]}}))
assert alt.get_object(Bucket="mine", Key="tagged")["Body"].read() == b"t"
assert code(alt.get_object, Bucket="mine", Key="untagged") == "AccessDenied"
assert code(alt.put_object, Bucket="mine", Key="in", Body=b"x") == "AccessDenied"
assert code(alt.put_object, Bucket="mine", Key="in", Body=b"x", Tagging="from=alt") == "OK"
# With ACLs disabled another account's `private` is not the bucket owner's full control.
assert code(alt.put_object, Bucket="mine", Key="in", Body=b"x", Tagging="from=alt", ACL="private") == "AccessControlListNotSupported"
assert code(alt.put_object, Bucket="mine", Key="in", Body=b"x", Tagging="from=alt",
    ACL="bucket-owner-full-control") == "OK"

# An ACL grant to the account's canonical id, on a bucket with ACLs enabled.
main.create_bucket(Bucket="shared", ObjectOwnership="ObjectWriter")
assert code(alt.put_object, Bucket="shared", Key="k", Body=b"x") == "AccessDenied"
main.put_bucket_acl(Bucket="shared", GrantWrite='id="{ALT_ACCOUNT}"')
assert alt.put_object(Bucket="shared", Key="k", Body=b"x")["ResponseMetadata"]["HTTPStatusCode"] == 200
grants = main.get_bucket_acl(Bucket="shared")["Grants"]
alt_grant = [g for g in grants if g["Grantee"].get("ID") == "{ALT_ACCOUNT}"]
assert alt_grant == [{{"Grantee": {{"ID": "{ALT_ACCOUNT}", "DisplayName": "john.doe", "Type": "CanonicalUser"}},
    "Permission": "WRITE"}}], grants
assert code(main.put_bucket_acl, Bucket="shared", GrantRead='id="' + "f" * 64 + '"') == "InvalidArgument"
print("ok")
"#
    );
    let out = run_python(&python, &process.url, &script).await;
    assert_eq!(out.trim(), "ok");
    drop(process);

    // Owners are kept with the buckets.
    let process = Process::start_with(state.path(), &flags);
    let script = format!(
        r#"
import boto3, os
from botocore.config import Config
from botocore.exceptions import ClientError
ep = os.environ["ENDPOINT"]
alt = boto3.client("s3", endpoint_url=ep, config=Config(retries={{"total_max_attempts": 1}}),
    aws_access_key_id="{ALT_KEY}", aws_secret_access_key="{ALT_SECRET}")
assert [b["Name"] for b in alt.list_buckets()["Buckets"]] == ["theirs"]
try:
    alt.delete_bucket(Bucket="shared")
    raise SystemExit("another account deleted the bucket")
except ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response
print("ok")
"#
    );
    let out = run_python(&python, &process.url, &script).await;
    assert_eq!(out.trim(), "ok");
}

#[test]
fn a_key_naming_an_undeclared_account_is_refused_at_start() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meridian-buckets"))
        .arg("--state-dir")
        .arg(state.path())
        .args(["--key", "AKIAX:secret@999988887777"])
        .output()
        .expect("run meridian-buckets");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("names account \"999988887777\", which no --account declares"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_bucket_is_meridians_account_and_refused_to_another() {
    let Some(python) = boto3() else { return };
    let server = buckets::Server::start().await;
    server.keys.add_account(
        meridian_storage::keys::Account::parse(&format!("{ALT_ACCOUNT}:john.doe"))
            .expect("account"),
    );
    server
        .keys
        .declare(
            &meridian_storage::keys::KeyDeclaration::parse(&format!(
                "{ALT_KEY}:{ALT_SECRET}@{ALT_ACCOUNT}"
            ))
            .expect("key"),
        )
        .expect("declare");
    let created = server
        .s3
        .ensure_buckets(&["declared".to_owned()])
        .await
        .expect("ensure");
    assert_eq!(created, ["declared"]);
    let script = format!(
        r#"
import boto3, os
from botocore.config import Config
from botocore.exceptions import ClientError
ep = os.environ["ENDPOINT"]
cfg = Config(retries={{"total_max_attempts": 1}})
main = boto3.client("s3", endpoint_url=ep, config=cfg)
alt = boto3.client("s3", endpoint_url=ep, config=cfg,
    aws_access_key_id="{ALT_KEY}", aws_secret_access_key="{ALT_SECRET}")
main.put_object(Bucket="declared", Key="k", Body=b"v")
assert [b["Name"] for b in main.list_buckets()["Buckets"]] == ["declared"]
assert alt.list_buckets()["Buckets"] == []
try:
    alt.get_object(Bucket="declared", Key="k")
    raise SystemExit("another account read a declared bucket")
except ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response
print("ok")
"#
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}
