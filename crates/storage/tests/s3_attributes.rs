//! GetObjectAttributes with boto3: ETag, checksum, size and storage class of single and
//! multipart objects, the parts paged with `MaxParts`/`PartNumberMarker` and their own
//! checksums, versions, and SSE-C objects only with their key.

mod buckets;

use buckets::{Server, boto3, run_python};

#[tokio::test(flavor = "multi_thread")]
async fn boto3_object_attributes() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os, base64, hashlib
from botocore.config import Config
from botocore.exceptions import ClientError

ep = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(retries={"total_max_attempts": 1}))
ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
s3.create_bucket(Bucket="attrs")
r = s3.put_object(Bucket="attrs", Key="one", Body=b"A" * 1024, ChecksumAlgorithm="SHA256")
a = s3.get_object_attributes(Bucket="attrs", Key="one", ObjectAttributes=ALL)
assert a["ETag"] == r["ETag"].strip('"') and a["ObjectSize"] == 1024 and a["StorageClass"] == "STANDARD", a
assert a["Checksum"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"A" * 1024).digest()).decode()
assert "ObjectParts" not in a and "VersionId" not in a

part = 5 << 20
u = s3.create_multipart_upload(Bucket="attrs", Key="mp", ChecksumAlgorithm="SHA256")["UploadId"]
parts, sums = [], []
for n in range(1, 4):
    body = bytes([n]) * (part if n < 3 else 100)
    p = s3.upload_part(Bucket="attrs", Key="mp", UploadId=u, PartNumber=n, Body=body, ChecksumAlgorithm="SHA256")
    parts.append({"PartNumber": n, "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]})
    sums.append(p["ChecksumSHA256"])
s3.complete_multipart_upload(Bucket="attrs", Key="mp", UploadId=u, MultipartUpload={"Parts": parts})
a = s3.get_object_attributes(Bucket="attrs", Key="mp", ObjectAttributes=ALL)
op = a["ObjectParts"]
assert op["TotalPartsCount"] == 3 and not op["IsTruncated"], op
assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in op["Parts"]] == [(1, part, sums[0]), (2, part, sums[1]), (3, 100, sums[2])], op
a = s3.get_object_attributes(Bucket="attrs", Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1, PartNumberMarker=1)
op = a["ObjectParts"]
assert op["IsTruncated"] and op["NextPartNumberMarker"] == 2 and [p["PartNumber"] for p in op["Parts"]] == [2], op

s3.put_bucket_versioning(Bucket="attrs", VersioningConfiguration={"Status": "Enabled"})
v = s3.put_object(Bucket="attrs", Key="v", Body=b"old")["VersionId"]
s3.put_object(Bucket="attrs", Key="v", Body=b"newer")
a = s3.get_object_attributes(Bucket="attrs", Key="v", VersionId=v, ObjectAttributes=["ObjectSize"])
assert a["ObjectSize"] == 3 and a["VersionId"] == v, a

key = bytes(range(32))
ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(key).decode(),
        "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode()}
s3.put_object(Bucket="attrs", Key="c", Body=b"secret", **ssec)
try:
    s3.get_object_attributes(Bucket="attrs", Key="c", ObjectAttributes=ALL)
    raise AssertionError("attributes of an SSE-C object without its key")
except ClientError as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
assert s3.get_object_attributes(Bucket="attrs", Key="c", ObjectAttributes=["ObjectSize"], **ssec)["ObjectSize"] == 6
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
}
