//! boto3, with its default integrity settings (a CRC32 on every upload, checksums on each
//! multipart part), against the S3 API: objects, headers, conditions, ranges, listings with
//! pagination and URL encoding, multipart through s3transfer, copies, batch deletes,
//! presigned URLs, virtual-hosted-style addressing, and S3's error codes.
//!
//! Retries are off and the read timeout short, so a response a client misreads fails the
//! test instead of being retried away.

mod buckets;

use buckets::{Server, boto3, run_python};

const PRELUDE: &str = r#"
import boto3, os, io, hashlib, datetime, socket, urllib.request, urllib.error
from botocore.config import Config
from botocore.exceptions import ClientError

ep = os.environ["ENDPOINT"]
cfg = Config(retries={"total_max_attempts": 1}, read_timeout=20)
s3 = boto3.client("s3", endpoint_url=ep, config=cfg)

def err(f, **kw):
    try:
        f(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error from %s %s" % (f.__name__, kw))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_objects_headers_conditions_and_ranges() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r#"
s3.create_bucket(Bucket="pyb")
s3.create_bucket(Bucket="pyb")  # us-east-1 answers a repeated create of one's own bucket with 200
body = b"hello world"
r = s3.put_object(Bucket="pyb", Key="k1", Body=body, Metadata={"Color": "blue"},
                  ContentType="text/plain", ContentLanguage="en", Expires=datetime.datetime(2030, 1, 1))
assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), r
assert r["ChecksumCRC32"], r
h = s3.head_object(Bucket="pyb", Key="k1", ChecksumMode="ENABLED")
assert h["ContentLength"] == 11 and h["ContentType"] == "text/plain", h
assert h["Metadata"] == {"color": "blue"}, h["Metadata"]
assert h["ContentLanguage"] == "en", h
assert h["ChecksumCRC32"] == r["ChecksumCRC32"], h
for alg in ["CRC32", "SHA1", "SHA256"]:
    r = s3.put_object(Bucket="pyb", Key="alg/" + alg, Body=b"x" * 1000, ChecksumAlgorithm=alg)
    h = s3.head_object(Bucket="pyb", Key="alg/" + alg, ChecksumMode="ENABLED")
    assert h["Checksum" + alg] == r["Checksum" + alg], (alg, h)
    g = s3.get_object(Bucket="pyb", Key="alg/" + alg, ChecksumMode="ENABLED")
    assert g["Body"].read() == b"x" * 1000
# No checksum named: S3 stores a CRC64NVME of its own.
v4 = boto3.client("s3", endpoint_url=ep, config=Config(signature_version="s3v4"))
req = v4.generate_presigned_url("put_object", Params={"Bucket": "pyb", "Key": "presigned-put"})
assert "X-Amz-Signature=" in req, req
urllib.request.urlopen(urllib.request.Request(req, data=b"via presign", method="PUT")).read()
h = s3.head_object(Bucket="pyb", Key="presigned-put", ChecksumMode="ENABLED")
assert h.get("ChecksumCRC64NVME"), h

# Ranges.
g = s3.get_object(Bucket="pyb", Key="k1", Range="bytes=6-")
assert g["Body"].read() == b"world" and g["ContentRange"] == "bytes 6-10/11", g
g = s3.get_object(Bucket="pyb", Key="k1", Range="bytes=-3")
assert g["Body"].read() == b"rld"
assert err(s3.get_object, Bucket="pyb", Key="k1", Range="bytes=11-") == ("InvalidRange", 416)

# Conditional reads.
etag = s3.head_object(Bucket="pyb", Key="k1")["ETag"]
assert s3.get_object(Bucket="pyb", Key="k1", IfMatch=etag)["Body"].read() == body
assert err(s3.get_object, Bucket="pyb", Key="k1", IfMatch='"nope"') == ("PreconditionFailed", 412)
assert err(s3.get_object, Bucket="pyb", Key="k1", IfNoneMatch=etag) == ("304", 304)
future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
assert err(s3.get_object, Bucket="pyb", Key="k1", IfModifiedSince=future) == ("304", 304)
assert err(s3.get_object, Bucket="pyb", Key="k1", IfUnmodifiedSince=past) == ("PreconditionFailed", 412)
assert s3.get_object(Bucket="pyb", Key="k1", IfModifiedSince=past)["Body"].read() == body

# Conditional writes.
assert err(s3.put_object, Bucket="pyb", Key="k1", Body=b"x", IfNoneMatch="*") == ("PreconditionFailed", 412)
s3.put_object(Bucket="pyb", Key="fresh", Body=b"x", IfNoneMatch="*")
assert err(s3.put_object, Bucket="pyb", Key="k1", Body=b"x", IfMatch='"nope"') == ("PreconditionFailed", 412)
assert err(s3.put_object, Bucket="pyb", Key="missing", Body=b"x", IfMatch=etag) == ("NoSuchKey", 404)
s3.put_object(Bucket="pyb", Key="k1", Body=b"replaced", IfMatch=etag, Metadata={"color": "blue"},
              ContentType="text/plain")
assert s3.get_object(Bucket="pyb", Key="k1")["Body"].read() == b"replaced"

# Copies, with and without new metadata, and their conditions.
s3.copy_object(Bucket="pyb", Key="k2", CopySource={"Bucket": "pyb", "Key": "k1"})
h = s3.head_object(Bucket="pyb", Key="k2")
assert h["Metadata"] == {"color": "blue"} and h["ContentType"] == "text/plain", h
s3.copy_object(Bucket="pyb", Key="k1", CopySource="pyb/k1", MetadataDirective="REPLACE",
               Metadata={"shape": "square"}, ContentType="application/x-new")
h = s3.head_object(Bucket="pyb", Key="k1")
assert h["Metadata"] == {"shape": "square"} and h["ContentType"] == "application/x-new", h
assert err(s3.copy_object, Bucket="pyb", Key="k3", CopySource="pyb/k1",
           CopySourceIfMatch='"nope"') == ("PreconditionFailed", 412)
assert err(s3.copy_object, Bucket="pyb", Key="k1", CopySource="pyb/k1") == ("InvalidRequest", 400)
assert err(s3.copy_object, Bucket="pyb", Key="k3", CopySource="pyb/none") == ("NoSuchKey", 404)

# Errors as S3 sends them.
assert err(s3.get_object, Bucket="pyb", Key="none") == ("NoSuchKey", 404)
assert err(s3.head_object, Bucket="pyb", Key="none") == ("404", 404)
assert err(s3.get_object, Bucket="nobucket", Key="k") == ("NoSuchBucket", 404)
assert err(s3.put_object, Bucket="pyb", Key="k" * 1025, Body=b"x") == ("KeyTooLongError", 400)
assert err(s3.put_object, Bucket="pyb", Key="big-meta", Body=b"x", Metadata={"m": "v" * 2100}) == ("MetadataTooLarge", 400)
assert err(s3.delete_bucket, Bucket="pyb") == ("BucketNotEmpty", 409)
assert s3.put_object(Bucket="pyb", Key="sse", Body=b"x", ServerSideEncryption="AES256")["ServerSideEncryption"] == "AES256"
assert err(s3.get_object_torrent, Bucket="pyb", Key="sse") == ("NotImplemented", 501)

# Empty bodies with Expect: 100-continue, then more requests on the same connections.
for i in range(20):
    s3.put_object(Bucket="pyb", Key="empty%d" % i, Body=b"")
    s3.put_object(Bucket="pyb", Key="small%d" % i, Body=b"y" * 5000)
assert s3.get_object(Bucket="pyb", Key="empty3")["Body"].read() == b""

# Presigned GET (boto3 presigns with SigV2 for endpoints outside AWS unless told otherwise).
url = s3.generate_presigned_url("get_object", Params={"Bucket": "pyb", "Key": "k2"}, ExpiresIn=60)
assert "AWSAccessKeyId=" in url, url
assert urllib.request.urlopen(url).read() == b"replaced"
try:
    urllib.request.urlopen(url.replace("k2", "k1"))
    raise AssertionError("a presigned URL opened another key")
except urllib.error.HTTPError as e:
    assert e.code == 403 and b"SignatureDoesNotMatch" in e.read()

# Virtual-hosted style: <bucket>.localhost resolved to the endpoint.
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real("127.0.0.1" if host.endswith(".localhost") else host, *a, **k)
port = ep.rsplit(":", 1)[1]
vh = boto3.client("s3", endpoint_url="http://localhost:" + port,
                  config=Config(s3={"addressing_style": "virtual"}, retries={"total_max_attempts": 1}))
vh.put_object(Bucket="pyb", Key="vh/key", Body=b"virtual")
assert vh.get_object(Bucket="pyb", Key="vh/key")["Body"].read() == b"virtual"
assert s3.get_object(Bucket="pyb", Key="vh/key")["Body"].read() == b"virtual"
keys = [o["Key"] for o in vh.list_objects_v2(Bucket="pyb", Prefix="vh/")["Contents"]]
assert keys == ["vh/key"], keys
print("ok")
"#
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert!(out.contains("ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_lists_pages_and_encodes() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r#"
s3.create_bucket(Bucket="list")
keys = ["p/k%02d" % i for i in range(25)] + ["p/sub/a", "p/sub/b", "p/other/c", "top",
        "sp ace", "uni/é/ü", "plus+sign", "amp&er<sand>", "tab\tkey",
        "../etc/passwd", "a?b#c", "//double", "~tilde!*'()", "%41%42", "emoji😀"]
for k in keys:
    s3.put_object(Bucket="list", Key=k, Body=k.encode())
got = []
pages = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="list", PaginationConfig={"PageSize": 7}):
    pages += 1
    assert page["KeyCount"] <= 7
    got += [o["Key"] for o in page.get("Contents", [])]
assert got == sorted(keys, key=lambda k: k.encode()), got
assert pages == 6, pages

r = s3.list_objects_v2(Bucket="list", Prefix="p/", Delimiter="/")
assert [c["Prefix"] for c in r["CommonPrefixes"]] == ["p/other/", "p/sub/"], r
assert len(r["Contents"]) == 25 and r["KeyCount"] == 27 and not r["IsTruncated"]
# Common prefixes count against MaxKeys and a continuation resumes after them.
seen = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="list", Delimiter="/", PaginationConfig={"PageSize": 2}):
    seen += [o["Key"] for o in page.get("Contents", [])] + [c["Prefix"] for c in page.get("CommonPrefixes", [])]
assert sorted(seen) == sorted(["p/", "uni/", "top", "sp ace", "plus+sign", "amp&er<sand>", "tab\tkey",
                               "../", "a?b#c", "/", "~tilde!*'()", "%41%42", "emoji😀"]), seen
assert len(seen) == len(set(seen)), seen
r = s3.list_objects_v2(Bucket="list", StartAfter="p/k20", Prefix="p/k")
assert [o["Key"] for o in r["Contents"]] == ["p/k%02d" % i for i in range(21, 25)]
r = s3.list_objects_v2(Bucket="list", MaxKeys=0)
assert r["KeyCount"] == 0 and "Contents" not in r
r = s3.list_objects_v2(Bucket="list", Prefix="uni/", EncodingType="url")
# Asked for by the caller, the encoding is left for the caller to undo.
assert [o["Key"] for o in r["Contents"]] == ["uni/%C3%A9/%C3%BC"], r

# V1 with markers (the paginator follows NextMarker or the last key).
got = []
for page in s3.get_paginator("list_objects").paginate(Bucket="list", PaginationConfig={"PageSize": 10}):
    got += [o["Key"] for o in page.get("Contents", [])]
    for o in page.get("Contents", []):
        assert o["Owner"]["ID"], o
assert got == sorted(keys, key=lambda k: k.encode()), got
r = s3.list_objects(Bucket="list", Delimiter="/", MaxKeys=1, Marker="p/")
assert r["IsTruncated"] and r["NextMarker"] == "plus+sign", r

assert err(s3.list_objects_v2, Bucket="list", ContinuationToken="!!!") == ("InvalidArgument", 400)
assert err(s3.list_objects_v2, Bucket="nolist") == ("NoSuchBucket", 404)

# Batch delete, quiet and not.
r = s3.delete_objects(Bucket="list", Delete={"Objects": [{"Key": k} for k in keys[:20]]})
assert len(r["Deleted"]) == 20 and not r.get("Errors"), r
r = s3.delete_objects(Bucket="list", Delete={"Objects": [{"Key": k} for k in keys[20:]], "Quiet": True})
assert not r.get("Deleted") and not r.get("Errors"), r
assert s3.list_objects_v2(Bucket="list")["KeyCount"] == 0
buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
assert buckets == ["list"], buckets
s3.delete_bucket(Bucket="list")
assert err(s3.head_bucket, Bucket="list") == ("404", 404)
print("ok")
"#
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert!(out.contains("ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_multipart_through_s3transfer_and_by_hand() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r#"
from boto3.s3.transfer import TransferConfig
s3.create_bucket(Bucket="mpu")
data = os.urandom(3 * 1024 * 1024) * 7  # 21 MiB, five parts of 5 MiB
tc = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
s3.upload_fileobj(io.BytesIO(data), "mpu", "big", Config=tc)
h = s3.head_object(Bucket="mpu", Key="big", ChecksumMode="ENABLED")
assert h["ContentLength"] == len(data) and h["ETag"].endswith('-5"'), h
assert h.get("ChecksumCRC32"), h
out = io.BytesIO()
s3.download_fileobj("mpu", "big", out, Config=tc)
assert out.getvalue() == data
part = s3.get_object(Bucket="mpu", Key="big", PartNumber=2)
assert part["Body"].read() == data[5 << 20:10 << 20] and part["PartsCount"] == 5

# By hand: the rules on part sizes, order and ETags.
def upload(sizes, checksum=None):
    kw = {"ChecksumAlgorithm": checksum} if checksum else {}
    u = s3.create_multipart_upload(Bucket="mpu", Key="hand", **kw)["UploadId"]
    parts = []
    for n, size in enumerate(sizes, 1):
        kw = {"ChecksumAlgorithm": checksum} if checksum else {}
        r = s3.upload_part(Bucket="mpu", Key="hand", UploadId=u, PartNumber=n, Body=bytes([n]) * size, **kw)
        p = {"PartNumber": n, "ETag": r["ETag"]}
        if checksum:
            p["Checksum" + checksum] = r["Checksum" + checksum]
        parts.append(p)
    return u, parts

u, parts = upload([1000, 1000])
assert err(s3.complete_multipart_upload, Bucket="mpu", Key="hand", UploadId=u,
           MultipartUpload={"Parts": parts}) == ("EntityTooSmall", 400)
assert err(s3.complete_multipart_upload, Bucket="mpu", Key="hand", UploadId=u,
           MultipartUpload={"Parts": parts[::-1]}) == ("InvalidPartOrder", 400)
assert err(s3.complete_multipart_upload, Bucket="mpu", Key="hand", UploadId=u,
           MultipartUpload={"Parts": [{"PartNumber": 3, "ETag": parts[0]["ETag"]}]}) == ("InvalidPart", 400)
assert err(s3.complete_multipart_upload, Bucket="mpu", Key="hand", UploadId=u,
           MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]}) == ("InvalidPart", 400)
# A single small part is a valid (last) part.
s3.complete_multipart_upload(Bucket="mpu", Key="hand", UploadId=u, MultipartUpload={"Parts": parts[:1]})
assert s3.get_object(Bucket="mpu", Key="hand")["Body"].read() == bytes([1]) * 1000
assert err(s3.list_parts, Bucket="mpu", Key="hand", UploadId=u) == ("NoSuchUpload", 404)

u, parts = upload([5 << 20, 10], checksum="SHA256")
listed = s3.list_parts(Bucket="mpu", Key="hand", UploadId=u)
assert [p["Size"] for p in listed["Parts"]] == [5 << 20, 10] and listed["ChecksumAlgorithm"] == "SHA256"
ups = s3.list_multipart_uploads(Bucket="mpu")["Uploads"]
assert [x["UploadId"] for x in ups] == [u], ups
assert err(s3.complete_multipart_upload, Bucket="mpu", Key="hand", UploadId=u,
           MultipartUpload={"Parts": parts}, IfNoneMatch="*") == ("PreconditionFailed", 412)
r = s3.complete_multipart_upload(Bucket="mpu", Key="hand", UploadId=u, MultipartUpload={"Parts": parts})
assert r["ETag"].endswith('-2"') and r["ChecksumSHA256"].endswith("-2"), r
h = s3.head_object(Bucket="mpu", Key="hand", ChecksumMode="ENABLED")
assert h["ChecksumSHA256"] == r["ChecksumSHA256"] and h["ChecksumType"] == "COMPOSITE", h

# UploadPartCopy: ranges of an existing object become parts.
u = s3.create_multipart_upload(Bucket="mpu", Key="copied")["UploadId"]
r1 = s3.upload_part_copy(Bucket="mpu", Key="copied", UploadId=u, PartNumber=1,
                         CopySource={"Bucket": "mpu", "Key": "big"}, CopySourceRange="bytes=0-5242879")
r2 = s3.upload_part_copy(Bucket="mpu", Key="copied", UploadId=u, PartNumber=2,
                         CopySource={"Bucket": "mpu", "Key": "big"}, CopySourceRange="bytes=10485760-10485859")
assert err(s3.upload_part_copy, Bucket="mpu", Key="copied", UploadId=u, PartNumber=3,
           CopySource={"Bucket": "mpu", "Key": "big"}, CopySourceRange="bytes=0-%d" % len(data)) == ("InvalidArgument", 400)
s3.complete_multipart_upload(Bucket="mpu", Key="copied", UploadId=u, MultipartUpload={"Parts": [
    {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
got = s3.get_object(Bucket="mpu", Key="copied")["Body"].read()
assert got == data[:5 << 20] + data[10 << 20:(10 << 20) + 100]
s3.delete_object(Bucket="mpu", Key="copied")

u, parts = upload([5 << 20])
s3.abort_multipart_upload(Bucket="mpu", Key="hand", UploadId=u)
assert err(s3.upload_part, Bucket="mpu", Key="hand", UploadId=u, PartNumber=1, Body=b"x") == ("NoSuchUpload", 404)
assert err(s3.upload_part, Bucket="mpu", Key="hand", UploadId="bogus", PartNumber=1, Body=b"x") == ("NoSuchUpload", 404)
u = s3.create_multipart_upload(Bucket="mpu", Key="hand")["UploadId"]
assert err(s3.upload_part, Bucket="mpu", Key="hand", UploadId=u, PartNumber=10001, Body=b"x") == ("InvalidArgument", 400)
assert s3.list_multipart_uploads(Bucket="mpu")["Uploads"][0]["UploadId"] == u
print("ok")
"#
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert!(out.contains("ok"), "{out}");
    // Only the two objects' files remain: a failed or aborted upload leaves no part behind
    // (the one upload still open holds none).
    let (data, staged) = server.files();
    assert_eq!(staged, 0);
    assert_eq!(data, 5 + 2, "files left: {data}");
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_lists_buckets_in_pages() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
for b in ["pa", "pb", "pc", "q"]:
    s3.create_bucket(Bucket=b + "-bucket")
r = s3.list_buckets(MaxBuckets=2, Prefix="p")
assert [b["Name"] for b in r["Buckets"]] == ["pa-bucket", "pb-bucket"], r
r = s3.list_buckets(MaxBuckets=2, Prefix="p", ContinuationToken=r["ContinuationToken"])
assert [b["Name"] for b in r["Buckets"]] == ["pc-bucket"] and "ContinuationToken" not in r, r
names = [b["Name"] for p in s3.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 1}) for b in p["Buckets"]]
assert names == ["pa-bucket", "pb-bucket", "pc-bucket", "q-bucket"], names
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
}
