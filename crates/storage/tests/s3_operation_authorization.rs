//! A request is authorized as the operation it runs. The operation is chosen once, from the
//! method and the sub-resources, for the policy check and for the handler alike, so a query
//! flag that one of them reads and the other ignores cannot turn a permitted read into a
//! write or a delete.

mod harness;

use std::time::Duration;

use harness::{Server, boto3, run_python};
use meridian_storage::keys::{Credential, Policy, Statement};

/// A session's credential as boto3 client arguments.
fn creds(c: &Credential) -> String {
    format!(
        "dict(aws_access_key_id={:?}, aws_secret_access_key={:?}, aws_session_token={:?})",
        c.access_key_id,
        c.secret_access_key,
        c.session_token.clone().unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sub_resource_flag_does_not_turn_a_permitted_read_into_a_write() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let hour = Duration::from_secs(3600);
    let reader = server.keys.issue_session(
        "Reader",
        Policy {
            statements: vec![Statement::allow(
                &["s3:Get*", "s3:ListBucket", "s3:PutBucketTagging"],
                &["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"],
            )],
        },
        hour,
    );
    let script = format!(
        r#"
import os, urllib.request, urllib.error
import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
S3 = "http://{addr}"
owner = boto3.client("s3", endpoint_url=S3, region_name="us-east-1")
owner.create_bucket(Bucket="bkt")
owner.put_object(Bucket="bkt", Key="k", Body=b"kept")
reader = Credentials({ak:?}, {sk:?}, {token:?})

def raw(method, path, body=b""):
    req = AWSRequest(method=method, url=S3 + path, data=body)
    S3SigV4Auth(reader, "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(req.url, data=body if body else None, method=method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code

checks = []
# What the policy allows works: the session is valid.
got = raw("GET", "/bkt/k?acl"); checks.append(('"GET", "/bkt/k?acl"', got, got == 200))
got = raw("GET", "/bkt/k"); checks.append(('"GET", "/bkt/k"', got, got == 200))
got = raw("PUT", "/bkt?tagging", b'<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>'); checks.append(('"PUT", "/bkt?tagging", b\'<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>\'', got, got == 204))
# Flags a read carries, on a write or a delete: refused as the write or delete they run.
got = raw("DELETE", "/bkt/k?acl"); checks.append(('"DELETE", "/bkt/k?acl"', got, got == 403))
got = raw("DELETE", "/bkt/k?attributes"); checks.append(('"DELETE", "/bkt/k?attributes"', got, got == 403))
got = raw("PUT", "/bkt/k?attributes", b"overwritten"); checks.append(('"PUT", "/bkt/k?attributes", b"overwritten"', got, got == 403))
got = raw("PUT", "/bkt/k?retention", b"overwritten"); checks.append(('"PUT", "/bkt/k?retention", b"overwritten"', got, got in (400, 403)))
lifecycle = b'<LifecycleConfiguration><Rule><ID>all</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>'
got = raw("PUT", "/bkt?tagging&lifecycle", lifecycle); checks.append(('"PUT", "/bkt?tagging&lifecycle", lifecycle', got, got == 403))
# A multi-object delete answers 200 with the key it may not delete among its errors.
got = raw("POST", "/bkt?delete&tagging", b'<Delete><Object><Key>k</Key></Object></Delete>'); checks.append(('"POST", "/bkt?delete&tagging", b\'<Delete><Object><Key>k</Key></Object></Delete>\'', got, got == 200))
assert all(ok for _, _, ok in checks), [c for c in checks if not c[2]]
# Nothing of it happened.
assert owner.get_object(Bucket="bkt", Key="k")["Body"].read() == b"kept"
try:
    owner.get_bucket_lifecycle_configuration(Bucket="bkt")
    raise SystemExit("a lifecycle was set")
except owner.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchLifecycleConfiguration", e.response
print("ok")
"#,
        addr = buckets.addr,
        ak = reader.access_key_id,
        sk = reader.secret_access_key,
        token = reader.session_token.clone().unwrap_or_default(),
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

/// DeleteObjects deletes what the caller may delete key by key, as S3 authorizes it: a
/// grant on the bucket alone deletes nothing, and a grant on some keys deletes those.
#[tokio::test(flavor = "multi_thread")]
async fn a_multi_object_delete_is_authorized_key_by_key() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let hour = Duration::from_secs(3600);
    let alice = server.keys.issue_session(
        "Alice",
        Policy {
            statements: vec![Statement::allow(
                &["s3:ListBucket", "s3:DeleteObject"],
                &["arn:aws:s3:::home", "arn:aws:s3:::home/alice/*"],
            )],
        },
        hour,
    );
    let keys_only = server.keys.issue_session(
        "KeysOnly",
        Policy {
            statements: vec![Statement::allow(
                &["s3:DeleteObject"],
                &["arn:aws:s3:::home/*"],
            )],
        },
        hour,
    );
    let script = format!(
        r#"
import boto3
S3 = "http://{addr}"
owner = boto3.client("s3", endpoint_url=S3, region_name="us-east-1")
owner.create_bucket(Bucket="home")
for k in ["alice/a", "bob/b", "bob/c"]:
    owner.put_object(Bucket="home", Key=k, Body=b"x")
alice = boto3.client("s3", endpoint_url=S3, region_name="us-east-1", **{alice})
r = alice.delete_objects(Bucket="home", Delete={{"Objects": [{{"Key": "alice/a"}}, {{"Key": "bob/b"}}]}})
assert [d["Key"] for d in r.get("Deleted", [])] == ["alice/a"], r
assert [(e["Key"], e["Code"]) for e in r.get("Errors", [])] == [("bob/b", "AccessDenied")], r
keys_only = boto3.client("s3", endpoint_url=S3, region_name="us-east-1", **{keys_only})
r = keys_only.delete_objects(Bucket="home", Delete={{"Objects": [{{"Key": "bob/c"}}]}})
assert [d["Key"] for d in r.get("Deleted", [])] == ["bob/c"], r
left = sorted(o["Key"] for o in owner.list_objects_v2(Bucket="home").get("Contents", []))
assert left == ["bob/b"], left
print("ok")
"#,
        addr = buckets.addr,
        alice = creds(&alice),
        keys_only = creds(&keys_only),
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

/// A presigned URL grants what its signature covers: headers it did not sign that would act
/// with the signer's rights (an ACL, a copy source) are refused, as S3 refuses them.
#[tokio::test(flavor = "multi_thread")]
async fn a_presigned_url_refuses_headers_it_did_not_sign() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let script = format!(
        r#"
import urllib.request, urllib.error
import boto3
from botocore.config import Config
S3 = "http://{addr}"
owner = boto3.client("s3", endpoint_url=S3, region_name="us-east-1", config=Config(signature_version="s3v4"))
owner.create_bucket(Bucket="bkt")
owner.put_object(Bucket="bkt", Key="secret", Body=b"only the owner reads this")
url = owner.generate_presigned_url("put_object", Params={{"Bucket": "bkt", "Key": "upload"}}, ExpiresIn=300)

def put(headers):
    r = urllib.request.Request(url, data=b"uploaded", method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, b""
    except urllib.error.HTTPError as e:
        return e.code, e.read()

status, body = put({{"x-amz-copy-source": "bkt/secret"}})
assert status == 403 and b"<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>" in body, (status, body)
status, body = put({{"x-amz-acl": "public-read"}})
assert status == 403 and b"There were headers present in the request which were not signed" in body, (status, body)
try:
    owner.head_object(Bucket="bkt", Key="upload")
    raise SystemExit("a refused upload was stored")
except owner.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "404", e.response
status, _ = put({{}})
assert status == 200, status
assert owner.get_object(Bucket="bkt", Key="upload")["Body"].read() == b"uploaded"
print("ok")
"#,
        addr = buckets.addr,
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert_eq!(out.trim(), "ok");
}

/// A bucket policy that names the bucket owner's account delegates to that account's
/// principals: a session of the account still needs its own policy to allow the request, as
/// in IAM. One that names the session's role lets it in by itself.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_principal_delegates_to_the_sessions_own_policy() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    let hour = Duration::from_secs(3600);
    let tables_only = server.keys.issue_session(
        "TablesOnly",
        Policy {
            statements: vec![Statement::allow(&["dynamodb:*"], &["*"])],
        },
        hour,
    );
    let reader = server.keys.issue_session(
        "Reader",
        Policy {
            statements: vec![Statement::allow(&["s3:GetObject"], &["arn:aws:s3:::bkt/*"])],
        },
        hour,
    );
    let script = format!(
        r#"
import json
import boto3
S3 = "http://{addr}"
owner = boto3.client("s3", endpoint_url=S3, region_name="us-east-1")
owner.create_bucket(Bucket="bkt")
owner.put_object(Bucket="bkt", Key="k", Body=b"v")
account = boto3.client("sts", endpoint_url="{ddb}", region_name="us-east-1").get_caller_identity()["Account"]
def policy(principal):
    owner.put_bucket_policy(Bucket="bkt", Policy=json.dumps({{"Version": "2012-10-17", "Statement": [
        {{"Effect": "Allow", "Principal": {{"AWS": principal}}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*"}}]}}))
def get(creds):
    c = boto3.client("s3", endpoint_url=S3, region_name="us-east-1", **creds)
    try:
        return c.get_object(Bucket="bkt", Key="k")["Body"].read().decode()
    except c.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
outcomes = []
for principal in [account, f"arn:aws:iam::{{account}}:root", f"arn:aws:iam::{{account}}:role/TablesOnly"]:
    policy(principal)
    outcomes.append((principal.rsplit(":", 1)[-1], get({tables_only}), get({reader})))
print(json.dumps(outcomes))
"#,
        addr = buckets.addr,
        ddb = server.url(),
        tables_only = creds(&tables_only),
        reader = creds(&reader),
    );
    let out = run_python(&python, &server.url(), &script).await;
    let got: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(
        got,
        serde_json::json!([
            ["123456789012", "AccessDenied", "v"],
            ["root", "AccessDenied", "v"],
            ["role/TablesOnly", "v", "v"],
        ]),
        "the account delegates; the role is named"
    );
}

/// An ACL grant to an account is a grant to its principals as far as their own policies
/// allow: a session whose policy does not allow the request is refused, as S3 evaluates the
/// user's context before the bucket's ACL.
#[tokio::test(flavor = "multi_thread")]
async fn an_acl_grant_to_the_account_does_not_pass_a_sessions_policy() {
    let Some(python) = boto3() else { return };
    let (server, buckets) = Server::start_with_buckets().await;
    server.keys.add_account(
        meridian_storage::keys::Account::parse("111122223333:other").expect("account"),
    );
    server
        .keys
        .declare(
            &meridian_storage::keys::KeyDeclaration::parse("AKIAOTHER:othersecret@111122223333")
                .expect("key"),
        )
        .expect("declared");
    let hour = Duration::from_secs(3600);
    let tables_only = server.keys.issue_session(
        "TablesOnly",
        Policy {
            statements: vec![Statement::allow(&["dynamodb:*"], &["*"])],
        },
        hour,
    );
    let lister = server.keys.issue_session(
        "Lister",
        Policy {
            statements: vec![Statement::allow(
                &["s3:ListBucket"],
                &["arn:aws:s3:::theirs"],
            )],
        },
        hour,
    );
    let script = format!(
        r#"
import json
import boto3
S3 = "http://{addr}"
main = boto3.client("s3", endpoint_url=S3, region_name="us-east-1")
other = boto3.client("s3", endpoint_url=S3, region_name="us-east-1",
    aws_access_key_id="AKIAOTHER", aws_secret_access_key="othersecret")
main.create_bucket(Bucket="mine")
local_id = main.list_buckets()["Owner"]["ID"]
other.create_bucket(Bucket="theirs", ObjectOwnership="ObjectWriter")
other.put_object(Bucket="theirs", Key="k", Body=b"v")
other.put_bucket_acl(Bucket="theirs", GrantRead=f'id="{{local_id}}"')
def listing(creds):
    c = boto3.client("s3", endpoint_url=S3, region_name="us-east-1", **creds)
    try:
        return [o["Key"] for o in c.list_objects_v2(Bucket="theirs")["Contents"]]
    except c.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
print(json.dumps([listing({{}}), listing({tables_only}), listing({lister})]))
"#,
        addr = buckets.addr,
        tables_only = creds(&tables_only),
        lister = creds(&lister),
    );
    let out = run_python(&python, &server.url(), &script).await;
    let got: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(got, serde_json::json!([["k"], "AccessDenied", ["k"]]));
}
