//! Object Lock with boto3: buckets created with Object Lock are versioned and stay so,
//! default retention applies to new versions, GOVERNANCE yields only to
//! `x-amz-bypass-governance-retention`, COMPLIANCE to nothing, a legal hold blocks deletes
//! until lifted, and DeleteObjects reports each protected version; with S3's errors.

mod buckets;

use buckets::{Server, boto3, run_python};

#[tokio::test(flavor = "multi_thread")]
async fn boto3_retention_legal_hold_and_default_retention() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os, datetime
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
utc = datetime.timezone.utc
far = datetime.datetime(2125, 1, 1, tzinfo=utc)
farther = datetime.datetime(2126, 1, 1, tzinfo=utc)

# Object Lock needs it from creation (or a versioned bucket) and keeps versioning on.
s3.create_bucket(Bucket="plain")
s3.put_object(Bucket="plain", Key="k", Body=b"x")
conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
assert err(s3.put_object_lock_configuration, Bucket="plain", ObjectLockConfiguration=conf) == ("InvalidBucketState", 409)
assert err(s3.get_object_lock_configuration, Bucket="plain") == ("ObjectLockConfigurationNotFoundError", 404)
assert err(s3.put_object_retention, Bucket="plain", Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": far}) == ("InvalidRequest", 400)
assert err(s3.put_object, Bucket="plain", Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON") == ("InvalidRequest", 400)

s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
assert s3.get_bucket_versioning(Bucket="vault")["Status"] == "Enabled"
assert err(s3.put_bucket_versioning, Bucket="vault", VersioningConfiguration={"Status": "Suspended"}) == ("InvalidBucketState", 409)
assert s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
bad = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}}
assert err(s3.put_object_lock_configuration, Bucket="vault", ObjectLockConfiguration=bad) == ("InvalidRetentionPeriod", 400)

# GOVERNANCE: deletes of the version and shortening need the bypass.
v = s3.put_object(Bucket="vault", Key="g", Body=b"gov", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=far)["VersionId"]
h = s3.head_object(Bucket="vault", Key="g")
assert h["ObjectLockMode"] == "GOVERNANCE" and h["ObjectLockRetainUntilDate"] == far, h
assert err(s3.delete_object, Bucket="vault", Key="g", VersionId=v) == ("AccessDenied", 403)
# A delete without a version only adds a delete marker: the locked version stays.
marker = s3.delete_object(Bucket="vault", Key="g")
assert marker["DeleteMarker"]
assert s3.get_object(Bucket="vault", Key="g", VersionId=v)["Body"].read() == b"gov"
# An overwrite adds a version; the locked one stays.
s3.put_object(Bucket="vault", Key="g", Body=b"new")
assert s3.get_object(Bucket="vault", Key="g", VersionId=v)["Body"].read() == b"gov"
s3.put_object_retention(Bucket="vault", Key="g", VersionId=v, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": farther})
assert err(s3.put_object_retention, Bucket="vault", Key="g", VersionId=v, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": far}) == ("AccessDenied", 403)
s3.put_object_retention(Bucket="vault", Key="g", VersionId=v, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": far}, BypassGovernanceRetention=True)
assert s3.get_object_retention(Bucket="vault", Key="g", VersionId=v)["Retention"] == {"Mode": "GOVERNANCE", "RetainUntilDate": far}
assert s3.delete_object(Bucket="vault", Key="g", VersionId=v, BypassGovernanceRetention=True)["ResponseMetadata"]["HTTPStatusCode"] == 204

# COMPLIANCE: nothing shortens it or deletes the version.
c = s3.put_object(Bucket="vault", Key="c", Body=b"c", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=far)["VersionId"]
assert err(s3.delete_object, Bucket="vault", Key="c", VersionId=c, BypassGovernanceRetention=True) == ("AccessDenied", 403)
assert err(s3.put_object_retention, Bucket="vault", Key="c", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": far}, BypassGovernanceRetention=True) == ("AccessDenied", 403)
s3.put_object_retention(Bucket="vault", Key="c", Retention={"Mode": "COMPLIANCE", "RetainUntilDate": farther})

# Legal hold.
l = s3.put_object(Bucket="vault", Key="l", Body=b"l")["VersionId"]
assert err(s3.get_object_legal_hold, Bucket="vault", Key="l") == ("NoSuchObjectLockConfiguration", 404)
assert err(s3.get_object_retention, Bucket="vault", Key="l") == ("NoSuchObjectLockConfiguration", 404)
s3.put_object_legal_hold(Bucket="vault", Key="l", LegalHold={"Status": "ON"})
assert s3.get_object_legal_hold(Bucket="vault", Key="l")["LegalHold"] == {"Status": "ON"}
assert s3.head_object(Bucket="vault", Key="l")["ObjectLockLegalHoldStatus"] == "ON"
assert err(s3.put_object_legal_hold, Bucket="vault", Key="l", LegalHold={"Status": "on"}) == ("MalformedXML", 400)
r = s3.delete_objects(Bucket="vault", Delete={"Objects": [{"Key": "l", "VersionId": l}, {"Key": "c", "VersionId": c}]}, BypassGovernanceRetention=True)
assert sorted((e["Key"], e["Code"]) for e in r["Errors"]) == [("c", "AccessDenied"), ("l", "AccessDenied")], r
s3.put_object_legal_hold(Bucket="vault", Key="l", LegalHold={"Status": "OFF"})
assert s3.delete_object(Bucket="vault", Key="l", VersionId=l)["ResponseMetadata"]["HTTPStatusCode"] == 204

# Default retention applies to new versions, multipart ones included.
s3.put_object_lock_configuration(Bucket="vault", ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}})
assert s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 2}
d = s3.put_object(Bucket="vault", Key="d", Body=b"d")["VersionId"]
until = s3.get_object_retention(Bucket="vault", Key="d")["Retention"]["RetainUntilDate"]
left = until - datetime.datetime.now(utc)
assert datetime.timedelta(days=1, hours=23) < left <= datetime.timedelta(days=2), left
assert err(s3.delete_object, Bucket="vault", Key="d", VersionId=d) == ("AccessDenied", 403)
u = s3.create_multipart_upload(Bucket="vault", Key="mp", ObjectLockLegalHoldStatus="ON")["UploadId"]
p = s3.upload_part(Bucket="vault", Key="mp", UploadId=u, PartNumber=1, Body=b"part")
m = s3.complete_multipart_upload(Bucket="vault", Key="mp", UploadId=u, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})["VersionId"]
h = s3.head_object(Bucket="vault", Key="mp")
assert h["ObjectLockLegalHoldStatus"] == "ON" and h["ObjectLockMode"] == "GOVERNANCE", h
assert err(s3.delete_object, Bucket="vault", Key="mp", VersionId=m, BypassGovernanceRetention=True) == ("AccessDenied", 403)
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
}
