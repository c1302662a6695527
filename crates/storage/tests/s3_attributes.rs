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
import boto3, os, base64, hashlib, zlib
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
done = s3.complete_multipart_upload(Bucket="attrs", Key="mp", UploadId=u, MultipartUpload={"Parts": parts})
a = s3.get_object_attributes(Bucket="attrs", Key="mp", ObjectAttributes=ALL)
# The checksum of the parts' checksums, without the `-3` a HEAD or GET gives with it.
composite = base64.b64encode(hashlib.sha256(b"".join(base64.b64decode(x) for x in sums)).digest()).decode()
assert done["ChecksumSHA256"] == composite + "-3", done
assert a["Checksum"] == {"ChecksumSHA256": composite, "ChecksumType": "COMPOSITE"}, a["Checksum"]
op = a["ObjectParts"]
assert op["TotalPartsCount"] == 3 and not op["IsTruncated"], op
assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in op["Parts"]] == [(1, part, sums[0]), (2, part, sums[1]), (3, 100, sums[2])], op
a = s3.get_object_attributes(Bucket="attrs", Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1, PartNumberMarker=1)
op = a["ObjectParts"]
assert op["IsTruncated"] and op["NextPartNumberMarker"] == 2 and [p["PartNumber"] for p in op["Parts"]] == [2], op

# A copy that asks for another algorithm gets the checksum of its bytes with it, and the
# website redirect it names, whatever the metadata directive.
c = s3.copy_object(Bucket="attrs", Key="copy", CopySource="attrs/one", ChecksumAlgorithm="CRC32",
                   WebsiteRedirectLocation="/elsewhere")
crc = base64.b64encode(zlib.crc32(b"A" * 1024).to_bytes(4, "big")).decode()
assert c["CopyObjectResult"]["ChecksumCRC32"] == crc, c
a = s3.get_object_attributes(Bucket="attrs", Key="copy", ObjectAttributes=["Checksum"])
assert a["Checksum"] == {"ChecksumCRC32": crc, "ChecksumType": "FULL_OBJECT"}, a
g = s3.get_object(Bucket="attrs", Key="copy")
assert g["WebsiteRedirectLocation"] == "/elsewhere" and g["Body"].read() == b"A" * 1024, g
c = s3.copy_object(Bucket="attrs", Key="copy2", CopySource="attrs/mp", ChecksumAlgorithm="SHA256")
assert c["CopyObjectResult"]["ChecksumSHA256"] == composite + "-3", "the same algorithm keeps the source's"

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

#[tokio::test(flavor = "multi_thread")]
async fn boto3_full_object_checksums_on_complete_and_none_on_part_reads() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os, zlib, base64
from botocore.config import Config
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], config=Config(retries={"total_max_attempts": 1}))
s3.create_bucket(Bucket="sums")
def crc(b):
    return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()
bodies = [bytes([c]) * (5 << 20) for c in b"AB"] + [b"tail"]
def upload():
    u = s3.create_multipart_upload(Bucket="sums", Key="k", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")["UploadId"]
    parts = []
    for i, b in enumerate(bodies):
        r = s3.upload_part(Bucket="sums", Key="k", UploadId=u, PartNumber=i + 1, Body=b, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": i + 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    return u, parts
# The x-amz-checksum-crc32 of a Complete is the whole object's, checked against the parts.
u, parts = upload()
try:
    s3.complete_multipart_upload(Bucket="sums", Key="k", UploadId=u, MultipartUpload={"Parts": parts}, ChecksumCRC32=crc(b"wrong"))
    raise AssertionError("a wrong full-object checksum was accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "BadDigest", e.response
whole = b"".join(bodies)
r = s3.complete_multipart_upload(Bucket="sums", Key="k", UploadId=u, MultipartUpload={"Parts": parts}, ChecksumCRC32=crc(whole))
assert r["ChecksumCRC32"] == crc(whole) and r["ChecksumType"] == "FULL_OBJECT", r
# A retried Complete (its answer lost) gets the same answer; the upload itself is gone.
again = s3.complete_multipart_upload(Bucket="sums", Key="k", UploadId=u, MultipartUpload={"Parts": parts})
assert again["ETag"] == r["ETag"] and again["ChecksumCRC32"] == r["ChecksumCRC32"], again
try:
    s3.abort_multipart_upload(Bucket="sums", Key="k", UploadId=u)
    raise AssertionError("a finished upload was aborted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchUpload", e.response
try:
    s3.complete_multipart_upload(Bucket="sums", Key="k", UploadId="0" * 32, MultipartUpload={"Parts": parts})
    raise AssertionError("an unknown upload completed")
except ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchUpload", e.response
# A part of it: the full-object checksum does not apply to a part, and is left out.
g = s3.get_object(Bucket="sums", Key="k", PartNumber=2, ChecksumMode="ENABLED")
assert "ChecksumCRC32" not in g and "ChecksumType" not in g and g["Body"].read() == bodies[1], g
assert s3.head_object(Bucket="sums", Key="k", ChecksumMode="ENABLED")["ChecksumCRC32"] == crc(whole)
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
}
