//! Compressed requests and responses, with bodies signed by botocore's own SigV4 signer: a
//! gzip or deflate request body is decoded after its signature is checked, a body that does
//! not decode is a 500 that writes nothing, a small body that expands past 16 MB is refused,
//! and a response over 4 KiB comes back compressed when `Accept-Encoding` asks for it, with
//! the CRC32 of the bytes sent.

mod harness;

use harness::{Server, boto3, run_python};

const SCRIPT: &str = r#"
import gzip, json, os, urllib.error, urllib.request, zlib
import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

creds = boto3.Session().get_credentials()
def call(op, body, **headers):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    h = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + op}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    req = AWSRequest(method="POST", url=os.environ["ENDPOINT"] + "/", data=body, headers=h)
    SigV4Auth(creds, "dynamodb", "us-east-1").add_auth(req)
    raw = urllib.request.Request(req.url, data=body, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(raw) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

status, _, body = call("CreateTable", {"TableName": "Tbl", "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}]})
assert status == 200, body

def put(p, encode, encoding):
    item = {"TableName": "Tbl", "Item": {"p": {"S": p}, "v": {"S": "x" * 10000}}}
    return call("PutItem", encode(json.dumps(item).encode()), Content_Encoding=encoding)
def get(p, **headers):
    return call("GetItem", {"TableName": "Tbl", "Key": {"p": {"S": p}}, "ConsistentRead": True}, **headers)

two = lambda b: gzip.compress(b[:10]) + gzip.compress(b[10:])
for p, encode, encoding in [("gz", gzip.compress, "gzip"), ("two", two, "gzip"),
                            ("zl", zlib.compress, "deflate")]:
    status, _, body = put(p, encode, encoding)
    assert status == 200, (p, status, body)
    status, headers, body = get(p)
    assert status == 200 and json.loads(body)["Item"]["v"]["S"] == "x" * 10000, (p, body)
    assert "content-encoding" not in headers, headers

for p, encode, encoding, want in [
    ("bad", lambda b: b, "gzip", 500),
    ("cut", lambda b: gzip.compress(b)[:-1], "gzip", 500),
    ("junk", lambda b: gzip.compress(b) + b"junk", "gzip", 500),
    ("raw", lambda b: b, "deflate", 500),
    ("odd", lambda b: b, "br", 500),
    ("bomb", lambda b: gzip.compress(b[:-1] + b" " * (20 * 1024 * 1024) + b"}"), "gzip", 413),
]:
    status, _, body = put(p, encode, encoding)
    assert status == want, (p, status, body)
    assert json.loads(body)["__type"].endswith(
        "InternalServerError" if want == 500 else "RequestEntityTooLarge"), body
    status, _, body = get(p)
    assert "Item" not in json.loads(body), (p, body)

for accept, want in [("gzip", "gzip"), ("deflate", "deflate"), ("br, deflate;q=0.5", "deflate"),
                     ("gzip;q=0", None), ("identity", None)]:
    status, headers, body = get("gz", Accept_Encoding=accept)
    assert status == 200 and headers.get("content-encoding") == want, (accept, headers)
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body), (accept, headers)
    plain = {"gzip": gzip.decompress, "deflate": zlib.decompress, None: lambda b: b}[want](body)
    assert json.loads(plain)["Item"]["v"]["S"] == "x" * 10000
    assert len(body) < 1000 or want is None, len(body)
status, headers, _ = call("DescribeTable", {"TableName": "Tbl"}, Accept_Encoding="gzip")
assert status == 200 and "content-encoding" not in headers, headers
print("compressed")
"#;

#[tokio::test]
async fn compressed_requests_and_responses() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    assert!(
        run_python(&python, &server.url(), SCRIPT)
            .await
            .contains("compressed")
    );
}
