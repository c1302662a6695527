//! Object Ownership and ACLs with boto3: buckets are `BucketOwnerEnforced` by default (ACLs
//! refused beyond the owner's own), buckets created `ObjectWriter` take canned ACLs whose
//! public grants let anonymous callers (an unsigned boto3 client) list, read and write, the
//! public access block ignores or refuses them, and the ownership controls are put, read
//! and deleted with S3's errors.

mod buckets;

use buckets::{Server, boto3, run_python};

#[tokio::test(flavor = "multi_thread")]
async fn boto3_object_ownership_and_canned_acls() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

ep = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(retries={"total_max_attempts": 1}))
anon = boto3.client("s3", endpoint_url=ep, config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
def err(f, **kw):
    try:
        f(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error from %s %s" % (f.__name__, kw))
ALL = "http://acs.amazonaws.com/groups/global/AllUsers"
def grants(acl):
    return sorted((g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"])

# The default: ACLs disabled.
s3.create_bucket(Bucket="enforced")
rule = s3.get_bucket_ownership_controls(Bucket="enforced")["OwnershipControls"]["Rules"][0]
assert rule == {"ObjectOwnership": "BucketOwnerEnforced"}, rule
assert err(s3.create_bucket, Bucket="pub", ACL="public-read") == ("InvalidBucketAclWithObjectOwnership", 400)
assert err(s3.put_object, Bucket="enforced", Key="k", Body=b"x", ACL="public-read") == ("AccessControlListNotSupported", 400)
s3.put_object(Bucket="enforced", Key="k", Body=b"x", ACL="bucket-owner-full-control")
acl = s3.get_bucket_acl(Bucket="enforced")
assert len(acl["Grants"]) == 1 and acl["Grants"][0]["Permission"] == "FULL_CONTROL", acl
assert acl["Owner"]["ID"] == acl["Grants"][0]["Grantee"]["ID"]
# Only the forms that leave the owner alone in control are accepted: on the owner's own
# upload `private` is one; a canned ACL on PutBucketAcl is not.
s3.put_object(Bucket="enforced", Key="p", Body=b"x", ACL="private")
assert err(s3.put_bucket_acl, Bucket="enforced", ACL="private") == ("AccessControlListNotSupported", 400)
s3.put_bucket_acl(Bucket="enforced", AccessControlPolicy={
    "Owner": acl["Owner"],
    "Grants": [{"Grantee": {"ID": acl["Owner"]["ID"], "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}],
})
assert err(s3.put_bucket_acl, Bucket="enforced", ACL="public-read") == ("AccessControlListNotSupported", 400)
assert err(s3.put_object_acl, Bucket="enforced", Key="k", ACL="public-read") == ("AccessControlListNotSupported", 400)
assert err(anon.get_object, Bucket="enforced", Key="k") == ("AccessDenied", 403)

# ACLs enabled at creation.
s3.create_bucket(Bucket="legacy", ObjectOwnership="ObjectWriter", ACL="public-read")
assert (ALL, "READ") in grants(s3.get_bucket_acl(Bucket="legacy"))
s3.put_object(Bucket="legacy", Key="open", Body=b"everyone", ACL="public-read")
s3.put_object(Bucket="legacy", Key="closed", Body=b"owner")
assert [o["Key"] for o in anon.list_objects_v2(Bucket="legacy")["Contents"]] == ["closed", "open"]
assert anon.get_object(Bucket="legacy", Key="open")["Body"].read() == b"everyone"
assert err(anon.get_object, Bucket="legacy", Key="closed") == ("AccessDenied", 403)
assert err(anon.put_object, Bucket="legacy", Key="new", Body=b"x") == ("AccessDenied", 403)
assert (ALL, "READ") in grants(s3.get_object_acl(Bucket="legacy", Key="open"))
s3.put_object_acl(Bucket="legacy", Key="open", ACL="private")
assert err(anon.get_object, Bucket="legacy", Key="open") == ("AccessDenied", 403)
s3.put_object_acl(Bucket="legacy", Key="closed", GrantRead='uri="%s"' % ALL)
assert anon.get_object(Bucket="legacy", Key="closed")["Body"].read() == b"owner"
# Grants to no account are refused.
assert err(s3.put_object_acl, Bucket="legacy", Key="closed", GrantRead='id="0123456789abcdef"') == ("InvalidArgument", 400)
assert err(s3.put_object_acl, Bucket="legacy", Key="closed", GrantRead='emailAddress="nobody@example.com"') == ("UnresolvableGrantByEmailAddress", 400)
# A public-read-write bucket takes anonymous writes.
s3.put_bucket_acl(Bucket="legacy", ACL="public-read-write")
anon.put_object(Bucket="legacy", Key="dropbox", Body=b"from anyone")
assert s3.get_object(Bucket="legacy", Key="dropbox")["Body"].read() == b"from anyone"

# The public access block ignores public ACLs, or refuses setting them.
s3.put_public_access_block(Bucket="legacy", PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
assert err(anon.get_object, Bucket="legacy", Key="closed") == ("AccessDenied", 403)
assert err(anon.list_objects_v2, Bucket="legacy") == ("AccessDenied", 403)
s3.put_public_access_block(Bucket="legacy", PublicAccessBlockConfiguration={"BlockPublicAcls": True})
assert err(s3.put_object_acl, Bucket="legacy", Key="closed", ACL="public-read") == ("AccessDenied", 403)
s3.delete_public_access_block(Bucket="legacy")

# Ownership controls.
ctl = lambda o: {"Rules": [{"ObjectOwnership": o}]}
assert err(s3.put_bucket_ownership_controls, Bucket="legacy", OwnershipControls=ctl("BucketOwnerEnforced")) == ("InvalidBucketAclWithObjectOwnership", 400)
s3.put_bucket_acl(Bucket="legacy", ACL="private")
s3.put_bucket_ownership_controls(Bucket="legacy", OwnershipControls=ctl("BucketOwnerEnforced"))
assert err(s3.put_bucket_acl, Bucket="legacy", ACL="public-read") == ("AccessControlListNotSupported", 400)
s3.delete_bucket_ownership_controls(Bucket="legacy")
assert err(s3.get_bucket_ownership_controls, Bucket="legacy") == ("OwnershipControlsNotFoundError", 404)
s3.put_bucket_acl(Bucket="legacy", ACL="public-read")
assert err(s3.put_bucket_ownership_controls, Bucket="legacy", OwnershipControls=ctl("Nobody")) == ("MalformedXML", 400)
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
}
