//! Browser uploads (PostObject) with boto3's `generate_presigned_post` (SigV4 policies) and a
//! hand-signed SigV2 policy, posted as `multipart/form-data` by urllib3: conditions
//! enforced, fields after the file ignored, `success_action_status` and
//! `success_action_redirect`, `content-length-range`, SSE fields, and S3's errors.

mod buckets;

use buckets::{Server, boto3, run_python};

#[tokio::test(flavor = "multi_thread")]
async fn boto3_presigned_posts_upload_with_policies() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os, base64, hmac, hashlib, json, datetime, urllib3
from botocore.config import Config

ep = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(retries={"total_max_attempts": 1}, signature_version="s3v4"))
http = urllib3.PoolManager()
def post(url, fields, body, filename="f.txt"):
    fields = list(fields.items()) + [("file", (filename, body))]
    return http.request_encode_body("POST", url, fields=fields, redirect=False)
def code(r):
    d = r.data.decode()
    return d.split("<Code>")[1].split("</Code>")[0] if "<Code>" in d else d

s3.create_bucket(Bucket="forms")
# SigV4, as SDKs make them.
p = s3.generate_presigned_post("forms", "up/${filename}", Fields={"Content-Type": "text/plain", "x-amz-meta-who": "me"},
                               Conditions=[["starts-with", "$key", "up/"], {"Content-Type": "text/plain"},
                                           {"x-amz-meta-who": "me"}, ["content-length-range", 1, 100]])
r = post(p["url"], p["fields"], b"hello", filename="a.txt")
assert r.status == 204, (r.status, r.data)
g = s3.get_object(Bucket="forms", Key="up/a.txt")
assert g["Body"].read() == b"hello" and g["ContentType"] == "text/plain" and g["Metadata"] == {"who": "me"}
assert r.headers["ETag"] == g["ETag"]
# Too large for the policy's range: nothing is stored.
r = post(p["url"], p["fields"], b"x" * 101, filename="big.txt")
assert r.status == 400 and code(r) == "EntityTooLarge", (r.status, r.data)
assert "Contents" not in s3.list_objects_v2(Bucket="forms", Prefix="up/big")
# A field the policy does not name, or one it forbids.
r = post(p["url"], dict(p["fields"], **{"x-amz-meta-extra": "1"}), b"x")
assert r.status == 403 and code(r) == "AccessDenied", (r.status, r.data)
r = post(p["url"], dict(p["fields"], key="down/x"), b"x")
assert r.status == 403 and code(r) == "AccessDenied", (r.status, r.data)
# A tampered signature.
r = post(p["url"], dict(p["fields"], **{"x-amz-signature": "0" * 64}), b"x")
assert r.status == 403 and code(r) == "SignatureDoesNotMatch", (r.status, r.data)

# success_action_status 201 answers the PostResponse document; a redirect answers 303.
p = s3.generate_presigned_post("forms", "s201", Fields={"success_action_status": "201"},
                               Conditions=[{"success_action_status": "201"}])
r = post(p["url"], p["fields"], b"created")
assert r.status == 201 and b"<Key>s201</Key>" in r.data, (r.status, r.data)
p = s3.generate_presigned_post("forms", "redir", Fields={"success_action_redirect": "http://example.com/done"},
                               Conditions=[{"success_action_redirect": "http://example.com/done"}])
r = post(p["url"], p["fields"], b"moved")
assert r.status == 303 and r.headers["Location"].startswith("http://example.com/done?bucket=forms&key=redir&etag="), (r.status, r.headers)

# Encrypted at rest when the form asks for it.
p = s3.generate_presigned_post("forms", "sealed", Fields={"x-amz-server-side-encryption": "AES256"},
                               Conditions=[{"x-amz-server-side-encryption": "AES256"}])
r = post(p["url"], p["fields"], b"secret")
assert r.status == 204 and r.headers["x-amz-server-side-encryption"] == "AES256"
assert s3.get_object(Bucket="forms", Key="sealed")["ServerSideEncryption"] == "AES256"

# SigV2 policies, as older browser code signs them.
secret = os.environ["AWS_SECRET_ACCESS_KEY"]
def v2(policy_doc):
    policy = base64.b64encode(json.dumps(policy_doc).encode())
    sig = base64.b64encode(hmac.new(secret.encode(), policy, hashlib.sha1).digest())
    return {"AWSAccessKeyId": os.environ["AWS_ACCESS_KEY_ID"], "policy": policy.decode(), "signature": sig.decode()}
exp = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
doc = {"expiration": exp, "conditions": [{"bucket": "forms"}, ["starts-with", "$key", "v2"], {"acl": "private"}]}
r = post(ep + "/forms", dict({"key": "v2obj", "acl": "private"}, **v2(doc)), b"two")
assert r.status == 204, (r.status, r.data)
assert s3.get_object(Bucket="forms", Key="v2obj")["Body"].read() == b"two"
old = dict(doc, expiration="2001-01-01T00:00:00Z")
r = post(ep + "/forms", dict({"key": "v2obj", "acl": "private"}, **v2(old)), b"two")
assert r.status == 403 and b"Policy expired" in r.data, (r.status, r.data)
r = post(ep + "/forms", dict({"key": "v2obj", "acl": "private"}, **dict(v2(doc), AWSAccessKeyId="AKIANOSUCHKEY0000000")), b"two")
assert r.status == 403 and code(r) == "InvalidAccessKeyId", (r.status, r.data)
nocond = {"expiration": exp}
r = post(ep + "/forms", dict({"key": "v2obj"}, **v2(nocond)), b"two")
assert r.status == 400 and code(r) == "InvalidPolicyDocument", (r.status, r.data)
# Anonymous forms need a bucket policy.
r = post(ep + "/forms", {"key": "anon"}, b"x")
assert r.status == 403 and code(r) == "AccessDenied", (r.status, r.data)
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
}
