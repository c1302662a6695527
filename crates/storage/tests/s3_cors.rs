//! CORS with boto3 (Put/Get/DeleteBucketCors) and a browser's requests made with urllib: the
//! unauthenticated preflight `OPTIONS`, and the `Access-Control-*` headers on the answers to
//! requests that carry an `Origin`.

mod buckets;

use buckets::{Server, boto3, run_python};

#[tokio::test(flavor = "multi_thread")]
async fn boto3_cors_configuration_preflight_and_response_headers() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os, json, urllib.request, urllib.error
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
def call(method, path, headers):
    req = urllib.request.Request(ep + path, method=method, headers=headers)
    try:
        r = urllib.request.urlopen(req)
        return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

s3.create_bucket(Bucket="web")
s3.put_object(Bucket="web", Key="app.js", Body=b"js")
assert err(s3.get_bucket_cors, Bucket="web") == ("NoSuchCORSConfiguration", 404)
# No rules: a preflight is refused.
status, _, body = call("OPTIONS", "/web/app.js", {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
assert status == 403 and b"CORSResponse" in body, (status, body)

rules = {"CORSRules": [
    {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]}
s3.put_bucket_cors(Bucket="web", CORSConfiguration=rules)
got = s3.get_bucket_cors(Bucket="web")["CORSRules"]
assert got[0]["AllowedOrigins"] == ["https://*.example.com"] and got[0]["MaxAgeSeconds"] == 600, got
bad = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}
assert err(s3.put_bucket_cors, Bucket="web", CORSConfiguration=bad) == ("InvalidRequest", 400)

status, h, _ = call("OPTIONS", "/web/app.js", {"Origin": "https://app.example.com",
    "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type, x-amz-date"})
assert status == 200, status
assert h["Access-Control-Allow-Origin"] == "https://app.example.com", dict(h)
assert h["Access-Control-Allow-Methods"] == "GET, PUT" and h["Access-Control-Max-Age"] == "600", dict(h)
assert h["Access-Control-Allow-Headers"] == "content-type, x-amz-date", dict(h)
assert h["Access-Control-Expose-Headers"] == "ETag", dict(h)
status, _, _ = call("OPTIONS", "/web/app.js", {"Origin": "https://app.example.com",
    "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"})
assert status == 403, status
status, h, _ = call("OPTIONS", "/web", {"Origin": "https://elsewhere.org", "Access-Control-Request-Method": "GET"})
assert status == 200 and h["Access-Control-Allow-Origin"] == "*", (status, dict(h))
status, _, _ = call("OPTIONS", "/web/app.js", {"Origin": "https://elsewhere.org", "Access-Control-Request-Method": "DELETE"})
assert status == 403, status
status, _, _ = call("OPTIONS", "/web/app.js", {"Access-Control-Request-Method": "GET"})
assert status == 400, status

# A request with an Origin gets the headers, whatever its answer (here anonymous, refused).
status, h, _ = call("GET", "/web/app.js", {"Origin": "https://app.example.com"})
assert status == 403 and h["Access-Control-Allow-Origin"] == "https://app.example.com", (status, dict(h))
s3.put_bucket_policy(Bucket="web", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::web/*"}]}))
status, h, body = call("GET", "/web/app.js", {"Origin": "https://app.example.com"})
assert status == 200 and body == b"js" and h["Access-Control-Allow-Origin"] == "https://app.example.com", status
status, h, _ = call("GET", "/web/app.js", {})
assert "Access-Control-Allow-Origin" not in h, dict(h)

s3.delete_bucket_cors(Bucket="web")
assert err(s3.get_bucket_cors, Bucket="web") == ("NoSuchCORSConfiguration", 404)
status, h, _ = call("GET", "/web/app.js", {"Origin": "https://app.example.com"})
assert status == 200 and "Access-Control-Allow-Origin" not in h, dict(h)
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
}
