//! Server-side encryption with boto3 and the AWS CLI: SSE-S3, SSE-KMS (Meridian-managed keys
//! per key id) and SSE-C on single and multipart uploads, ranges across the 64 KiB sealed
//! segments, copies and part copies between every kind, bucket default encryption, S3's
//! errors for missing, wrong and malformed keys, and the bytes on disk not holding the
//! plaintext.

mod buckets;

use std::path::Path;
use std::process::Command;

use buckets::{Server, aws_env, boto3, run_python, tool};

/// Whether any file under `dir` contains `needle`.
fn on_disk(dir: &Path, needle: &[u8]) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.filter_map(Result::ok).any(|e| {
        let p = e.path();
        if p.is_dir() {
            on_disk(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}

const SCRIPT: &str = r#"
import boto3, os, hashlib, base64
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
def hdrs(r):
    return r["ResponseMetadata"]["HTTPHeaders"]
def ssec(raw):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(raw).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(raw).digest()).decode()}
def copy_ssec(raw):
    return {"Copy" + "Source" + k: v for k, v in ssec(raw).items()}
KEY_A, KEY_B = bytes(range(32)), bytes(range(32, 64))
# A body with a marker the test looks for on disk, longer than several sealed segments.
marker = b"MERIDIAN-PLAINTEXT-MARKER-"
body = (marker + bytes(range(200))) * 2000
s3.create_bucket(Bucket="enc")

# SSE-S3.
r = s3.put_object(Bucket="enc", Key="s3", Body=body, ServerSideEncryption="AES256")
assert hdrs(r)["x-amz-server-side-encryption"] == "AES256"
g = s3.get_object(Bucket="enc", Key="s3")
assert g["ServerSideEncryption"] == "AES256" and g["Body"].read() == body
assert s3.head_object(Bucket="enc", Key="s3")["ServerSideEncryption"] == "AES256"
for start, end in [(0, 0), (65535, 65536), (65536, 131071), (100000, 300000), (len(body) - 5, len(body) - 1)]:
    got = s3.get_object(Bucket="enc", Key="s3", Range="bytes=%d-%d" % (start, end))["Body"].read()
    assert got == body[start:end + 1], (start, end)
assert s3.get_object(Bucket="enc", Key="s3", Range="bytes=-70000")["Body"].read() == body[-70000:]
# Reads do not name an encryption.
assert err(s3.get_object, Bucket="enc", Key="s3", **{"SSECustomerAlgorithm": "AES256", **ssec(KEY_A)})[1] == 400
assert err(s3.put_object, Bucket="enc", Key="x", Body=b"x", ServerSideEncryption="AES128")[0] == "InvalidArgument"
# Empty objects.
s3.put_object(Bucket="enc", Key="empty", Body=b"", ServerSideEncryption="AES256")
assert s3.get_object(Bucket="enc", Key="empty")["Body"].read() == b""

# SSE-KMS: each key id names a key Meridian keeps.
r = s3.put_object(Bucket="enc", Key="kms", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId="app-key")
assert r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == "app-key"
g = s3.get_object(Bucket="enc", Key="kms")
assert g["SSEKMSKeyId"] == "app-key" and g["Body"].read() == body
assert err(s3.put_object, Bucket="enc", Key="x", Body=b"x", SSEKMSKeyId="app-key") == ("InvalidArgument", 400)

# SSE-C.
r = s3.put_object(Bucket="enc", Key="c", Body=body, **ssec(KEY_A))
assert r["SSECustomerAlgorithm"] == "AES256" and r["SSECustomerKeyMD5"] == ssec(KEY_A)["SSECustomerKeyMD5"]
assert err(s3.get_object, Bucket="enc", Key="c") == ("InvalidRequest", 400)
assert err(s3.head_object, Bucket="enc", Key="c")[1] == 400
assert err(s3.get_object, Bucket="enc", Key="c", **ssec(KEY_B))[1] == 400
assert s3.get_object(Bucket="enc", Key="c", **ssec(KEY_A))["Body"].read() == body
assert s3.get_object(Bucket="enc", Key="c", Range="bytes=65530-65545", **ssec(KEY_A))["Body"].read() == body[65530:65546]
bad_md5 = dict(ssec(KEY_A), SSECustomerKeyMD5=ssec(KEY_B)["SSECustomerKeyMD5"])
assert err(s3.put_object, Bucket="enc", Key="x", Body=b"x", **bad_md5) == ("InvalidArgument", 400)
short = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(b"short").decode(),
         "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(b"short").digest()).decode()}
assert err(s3.put_object, Bucket="enc", Key="x", Body=b"x", **short) == ("InvalidArgument", 400)
assert err(s3.put_object, Bucket="enc", Key="x", Body=b"x", ServerSideEncryption="AES256", **ssec(KEY_A)) == ("InvalidArgument", 400)
# Plain objects refuse customer keys.
s3.put_object(Bucket="enc", Key="plain", Body=b"clear")
assert err(s3.get_object, Bucket="enc", Key="plain", **ssec(KEY_A)) == ("InvalidRequest", 400)

# Multipart with SSE-C: every part must carry the upload's key, and so must Complete.
part = os.urandom(5 << 20)
u = s3.create_multipart_upload(Bucket="enc", Key="mp", **ssec(KEY_A))["UploadId"]
assert err(s3.upload_part, Bucket="enc", Key="mp", UploadId=u, PartNumber=1, Body=part) == ("InvalidRequest", 400)
assert err(s3.upload_part, Bucket="enc", Key="mp", UploadId=u, PartNumber=1, Body=part, **ssec(KEY_B))[1] == 400
p1 = s3.upload_part(Bucket="enc", Key="mp", UploadId=u, PartNumber=1, Body=part, **ssec(KEY_A))
p2 = s3.upload_part(Bucket="enc", Key="mp", UploadId=u, PartNumber=2, Body=b"tail" * 1000, **ssec(KEY_A))
parts = {"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]}
assert err(s3.complete_multipart_upload, Bucket="enc", Key="mp", UploadId=u, MultipartUpload=parts)[1] == 400
s3.complete_multipart_upload(Bucket="enc", Key="mp", UploadId=u, MultipartUpload=parts, **ssec(KEY_A))
whole = part + b"tail" * 1000
assert s3.get_object(Bucket="enc", Key="mp", **ssec(KEY_A))["Body"].read() == whole
edge = (5 << 20) - 10
got = s3.get_object(Bucket="enc", Key="mp", Range="bytes=%d-%d" % (edge, edge + 100), **ssec(KEY_A))["Body"].read()
assert got == whole[edge:edge + 101]
assert s3.get_object(Bucket="enc", Key="mp", PartNumber=2, **ssec(KEY_A))["Body"].read() == b"tail" * 1000

# Copies between every kind, re-encrypting as needed.
src = {"s3": ({}, {}), "kms": ({}, {}), "c": (copy_ssec(KEY_A), {})}
dst = {"plain": ({}, {}), "s3": ({"ServerSideEncryption": "AES256"}, {}),
       "kms": ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "other-key"}, {}),
       "c": (ssec(KEY_B), ssec(KEY_B))}
for s_name, (s_copy, _) in src.items():
    for d_name, (d_args, d_get) in dst.items():
        k = "copy-%s-%s" % (s_name, d_name)
        s3.copy_object(Bucket="enc", Key=k, CopySource={"Bucket": "enc", "Key": s_name}, **s_copy, **d_args)
        g = s3.get_object(Bucket="enc", Key=k, **d_get)
        assert g["Body"].read() == body, k
        assert g.get("ServerSideEncryption") == {"s3": "AES256", "kms": "aws:kms"}.get(d_name), (k, g.get("ServerSideEncryption"))
assert err(s3.copy_object, Bucket="enc", Key="x", CopySource={"Bucket": "enc", "Key": "c"}) == ("InvalidRequest", 400)
# An object re-encrypted in place.
s3.copy_object(Bucket="enc", Key="plain", CopySource={"Bucket": "enc", "Key": "plain"}, ServerSideEncryption="AES256")
assert s3.get_object(Bucket="enc", Key="plain")["ServerSideEncryption"] == "AES256"

# UploadPartCopy from an SSE-C source into an SSE-KMS upload.
u = s3.create_multipart_upload(Bucket="enc", Key="pc", ServerSideEncryption="aws:kms", SSEKMSKeyId="k2")["UploadId"]
assert err(s3.upload_part_copy, Bucket="enc", Key="pc", UploadId=u, PartNumber=1,
           CopySource={"Bucket": "enc", "Key": "c"})[1] == 400
r = s3.upload_part_copy(Bucket="enc", Key="pc", UploadId=u, PartNumber=1, CopySource={"Bucket": "enc", "Key": "c"},
                        CopySourceRange="bytes=1000-70000", **copy_ssec(KEY_A))
assert r["ServerSideEncryption"] == "aws:kms"
s3.complete_multipart_upload(Bucket="enc", Key="pc", UploadId=u,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
assert s3.get_object(Bucket="enc", Key="pc")["Body"].read() == body[1000:70001]

# Bucket default encryption.
s3.create_bucket(Bucket="dflt")
assert err(s3.get_bucket_encryption, Bucket="dflt") == ("ServerSideEncryptionConfigurationNotFoundError", 404)
s3.put_bucket_encryption(Bucket="dflt", ServerSideEncryptionConfiguration={"Rules": [
    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "bucket-key"}}]})
rule = s3.get_bucket_encryption(Bucket="dflt")["ServerSideEncryptionConfiguration"]["Rules"][0]
assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "bucket-key"}, rule
r = s3.put_object(Bucket="dflt", Key="d", Body=body)
assert r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == "bucket-key"
assert s3.get_object(Bucket="dflt", Key="d")["Body"].read() == body
# A request's own encryption wins over the default.
assert s3.put_object(Bucket="dflt", Key="e", Body=b"x", ServerSideEncryption="AES256")["ServerSideEncryption"] == "AES256"
assert s3.delete_bucket_encryption(Bucket="dflt")["ResponseMetadata"]["HTTPStatusCode"] == 204
assert err(s3.get_bucket_encryption, Bucket="dflt")[0] == "ServerSideEncryptionConfigurationNotFoundError"
assert "ServerSideEncryption" not in s3.put_object(Bucket="dflt", Key="f", Body=b"x")
assert err(s3.put_bucket_encryption, Bucket="dflt", ServerSideEncryptionConfiguration={"Rules": [
    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "DES"}}]}) == ("MalformedXML", 400)
# The copies made in the clear go, so that what stays must all be ciphertext.
for s_name in src:
    s3.delete_object(Bucket="enc", Key="copy-%s-plain" % s_name)
print("ok")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_sse_s3_kms_and_customer_keys() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let out = run_python(&python, &server.url(), SCRIPT).await;
    assert!(out.contains("ok"), "{out}");
    // Every object is encrypted at rest: no file holds the marker of the plaintext, and the
    // master key is private to its owner.
    let s3 = server.dir.path().join("s3");
    assert!(
        !on_disk(&s3.join("data"), b"MERIDIAN-PLAINTEXT-MARKER-"),
        "plaintext found on disk"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(s3.join("sse.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_object_is_plaintext_on_disk_and_the_check_sees_it() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = r#"
import boto3, os
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
s3.create_bucket(Bucket="clear")
s3.put_object(Bucket="clear", Key="k", Body=b"MERIDIAN-PLAINTEXT-MARKER-" * 10)
print("ok")
"#;
    let out = run_python(&python, &server.url(), script).await;
    assert!(out.contains("ok"), "{out}");
    assert!(on_disk(
        &server.dir.path().join("s3/data"),
        b"MERIDIAN-PLAINTEXT-MARKER-"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_copies_with_sse_and_sse_c() {
    let Some(aws) = tool("aws", "the AWS CLI") else {
        return;
    };
    let server = Server::start().await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("f.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let key = "0123456789abcdef0123456789abcdef";
    let aws = |args: &[&str]| {
        let mut c = Command::new(&aws);
        aws_env(&mut c, home.path());
        c.arg("--endpoint-url").arg(server.url()).args(args);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    aws(&["s3", "mb", "s3://cli"]);
    let f = file.to_str().unwrap();
    aws(&["s3", "cp", f, "s3://cli/s3.bin", "--sse", "AES256"]);
    aws(&[
        "s3",
        "cp",
        f,
        "s3://cli/c.bin",
        "--sse-c",
        "AES256",
        "--sse-c-key",
        key,
    ]);
    let head = aws(&["s3api", "head-object", "--bucket", "cli", "--key", "s3.bin"]);
    assert!(
        head.contains("\"ServerSideEncryption\": \"AES256\""),
        "{head}"
    );
    let back = home.path().join("back.bin");
    let b = back.to_str().unwrap();
    aws(&["s3", "cp", "s3://cli/s3.bin", b]);
    assert!(std::fs::read(&back).unwrap() == data);
    aws(&[
        "s3",
        "cp",
        "s3://cli/c.bin",
        b,
        "--sse-c",
        "AES256",
        "--sse-c-key",
        key,
    ]);
    assert!(std::fs::read(&back).unwrap() == data);
}
