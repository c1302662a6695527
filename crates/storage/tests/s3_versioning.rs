//! Bucket versioning with real clients: boto3 and `aws s3api` enable and suspend versioning,
//! write versions, read and delete them by id, meet delete markers (`x-amz-delete-marker`,
//! 405 on a marker's id) and page through ListObjectVersions; and `kill -9` during
//! versioned writes keeps every acknowledged version readable by its id.

mod buckets;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buckets::{Process, Req, Server, aws_env, boto3, run_python, send, tool, try_send};
use serde_json::Value;

const PRELUDE: &str = r#"
import boto3, os
from botocore.config import Config
from botocore.exceptions import ClientError

ep = os.environ["ENDPOINT"]
cfg = Config(retries={"total_max_attempts": 1}, read_timeout=20)
s3 = boto3.client("s3", endpoint_url=ep, config=cfg)

def err(f, **kw):
    try:
        f(**kw)
    except ClientError as e:
        return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                e.response["ResponseMetadata"]["HTTPHeaders"])
    raise AssertionError("no error from %s %s" % (f.__name__, kw))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_versions_delete_markers_and_listing() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    let script = format!(
        "{PRELUDE}{}",
        r#"
s3.create_bucket(Bucket="ver")
assert "Status" not in s3.get_bucket_versioning(Bucket="ver")
# An object written before versioning becomes the `null` version.
s3.put_object(Bucket="ver", Key="k", Body=b"null-body")
assert "VersionId" not in s3.head_object(Bucket="ver", Key="k")
s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Enabled"
assert s3.head_object(Bucket="ver", Key="k")["VersionId"] == "null"

v1 = s3.put_object(Bucket="ver", Key="k", Body=b"one")["VersionId"]
v2 = s3.put_object(Bucket="ver", Key="k", Body=b"two")["VersionId"]
assert v1 != v2 and v1 != "null", (v1, v2)
g = s3.get_object(Bucket="ver", Key="k")
assert g["Body"].read() == b"two" and g["VersionId"] == v2
assert s3.get_object(Bucket="ver", Key="k", VersionId=v1)["Body"].read() == b"one"
assert s3.get_object(Bucket="ver", Key="k", VersionId="null")["Body"].read() == b"null-body"
assert s3.head_object(Bucket="ver", Key="k", VersionId=v1)["ContentLength"] == 3
code, status, _ = err(s3.get_object, Bucket="ver", Key="k", VersionId="0" * 32)
assert (code, status) == ("NoSuchVersion", 404), code
code, status, _ = err(s3.get_object, Bucket="ver", Key="k", VersionId="bogus")
assert (code, status) == ("InvalidArgument", 400), code

# A delete makes a marker; the key reads as absent, its versions stay.
d = s3.delete_object(Bucket="ver", Key="k")
assert d["DeleteMarker"] is True and d["VersionId"], d
marker = d["VersionId"]
code, status, headers = err(s3.get_object, Bucket="ver", Key="k")
assert (code, status) == ("NoSuchKey", 404), code
assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker, headers
code, status, headers = err(s3.head_object, Bucket="ver", Key="k", VersionId=marker)
assert status == 405 and headers["x-amz-delete-marker"] == "true", (status, headers)
assert s3.list_objects_v2(Bucket="ver")["KeyCount"] == 0
assert s3.get_object(Bucket="ver", Key="k", VersionId=v2)["Body"].read() == b"two"

l = s3.list_object_versions(Bucket="ver")
vs = [(v["VersionId"], v["IsLatest"]) for v in l["Versions"]]
assert vs == [(v2, False), (v1, False), ("null", False)], vs
dms = [(m["Key"], m["VersionId"], m["IsLatest"]) for m in l["DeleteMarkers"]]
assert dms == [("k", marker, True)], dms

# Deleting the marker by id brings the newest version back.
d = s3.delete_object(Bucket="ver", Key="k", VersionId=marker)
assert d["DeleteMarker"] is True and d["VersionId"] == marker, d
assert s3.get_object(Bucket="ver", Key="k")["Body"].read() == b"two"
# Deleting the current version by id makes the previous one current.
s3.delete_object(Bucket="ver", Key="k", VersionId=v2)
assert s3.get_object(Bucket="ver", Key="k")["Body"].read() == b"one"

# Copy from a version.
c = s3.copy_object(Bucket="ver", Key="copy", CopySource={"Bucket": "ver", "Key": "k", "VersionId": "null"})
assert c["CopySourceVersionId"] == "null" and c["VersionId"], c
assert s3.get_object(Bucket="ver", Key="copy")["Body"].read() == b"null-body"

# Paging versions with key and version-id markers, and a delimiter.
for i in range(3):
    s3.put_object(Bucket="ver", Key="p/a", Body=b"%d" % i)
s3.put_object(Bucket="ver", Key="p/b", Body=b"b")
s3.put_object(Bucket="ver", Key="q/x/1", Body=b"q")
seen = []
kw = {"Bucket": "ver", "Prefix": "p/", "MaxKeys": 2}
while True:
    page = s3.list_object_versions(**kw)
    seen += [(v["Key"], v["IsLatest"]) for v in page.get("Versions", [])]
    if not page["IsTruncated"]:
        break
    kw["KeyMarker"], kw["VersionIdMarker"] = page["NextKeyMarker"], page["NextVersionIdMarker"]
assert seen == [("p/a", True), ("p/a", False), ("p/a", False), ("p/b", True)], seen
page = s3.list_object_versions(Bucket="ver", Delimiter="/")
assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["p/", "q/"], page
assert {v["Key"] for v in page["Versions"]} == {"copy", "k"}, page

# Batch delete of versions and keys.
vs = [v["VersionId"] for v in s3.list_object_versions(Bucket="ver", Prefix="p/a")["Versions"]]
r = s3.delete_objects(Bucket="ver", Delete={"Objects": [{"Key": "p/a", "VersionId": v} for v in vs] + [{"Key": "p/b"}]})
done = {(d["Key"], d.get("VersionId"), d.get("DeleteMarker")) for d in r["Deleted"]}
assert ("p/a", vs[0], None) in done and len(done) == 4, done
assert [d for d in r["Deleted"] if d["Key"] == "p/b"][0]["DeleteMarkerVersionId"]
assert "Versions" not in s3.list_object_versions(Bucket="ver", Prefix="p/a")

# Suspended: writes replace the `null` version, other versions stay.
s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Suspended"})
assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Suspended"
r = s3.put_object(Bucket="ver", Key="k", Body=b"s1")
assert "VersionId" not in r, r
s3.put_object(Bucket="ver", Key="k", Body=b"s2")
vs = [(v["VersionId"], v["IsLatest"]) for v in s3.list_object_versions(Bucket="ver", Prefix="k")["Versions"]]
assert vs == [("null", True), (v1, False)], vs
assert s3.get_object(Bucket="ver", Key="k", VersionId="null")["Body"].read() == b"s2"
d = s3.delete_object(Bucket="ver", Key="k")
assert d["DeleteMarker"] is True and d["VersionId"] == "null", d
l = s3.list_object_versions(Bucket="ver", Prefix="k")
assert [v["VersionId"] for v in l["Versions"]] == [v1], l
assert [m["VersionId"] for m in l["DeleteMarkers"]] == ["null"], l

# A bucket holding versions or markers is not empty.
code, status, _ = err(s3.delete_bucket, Bucket="ver")
assert (code, status) == ("BucketNotEmpty", 409), code
code, status, _ = err(s3.put_bucket_versioning, Bucket="ver", VersioningConfiguration={"Status": "On"})
assert code == "MalformedXML", code
print("ok")
"#
    );
    let out = run_python(&python, &server.url(), &script).await;
    assert!(out.contains("ok"), "{out}");
    // Only files of versions a row names remain: v1, copy, p/b (under its marker) and q/x/1;
    // the `null` versions replaced or deleted while suspended took their files with them.
    let (data, staged) = server.files();
    assert_eq!(staged, 0);
    assert_eq!(data, 4, "files left: {data}");
}

fn cli() -> Option<PathBuf> {
    tool("aws", ".ci/install-test-deps installs awscli from PyPI")
}

fn aws(url: &str, home: &Path, args: &[&str]) -> Value {
    let mut cmd = Command::new("aws");
    cmd.args(args)
        .args(["--endpoint-url", url, "--output", "json"]);
    aws_env(&mut cmd, home);
    let out = cmd.output().expect("aws runs");
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned()))
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_s3api_versioning() {
    if cli().is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (h, w) = (home.path().to_owned(), work.path().to_owned());
    tokio::task::spawn_blocking(move || {
        aws(&url, &h, &["s3api", "create-bucket", "--bucket", "cli-ver"]);
        aws(
            &url,
            &h,
            &[
                "s3api",
                "put-bucket-versioning",
                "--bucket",
                "cli-ver",
                "--versioning-configuration",
                "Status=Enabled",
            ],
        );
        let got = aws(
            &url,
            &h,
            &["s3api", "get-bucket-versioning", "--bucket", "cli-ver"],
        );
        assert_eq!(got["Status"], "Enabled");
        let body = w.join("b");
        let mut ids = Vec::new();
        for text in ["first", "second"] {
            std::fs::write(&body, text).unwrap();
            let put = aws(
                &url,
                &h,
                &[
                    "s3api",
                    "put-object",
                    "--bucket",
                    "cli-ver",
                    "--key",
                    "doc",
                    "--body",
                    body.to_str().unwrap(),
                ],
            );
            ids.push(put["VersionId"].as_str().unwrap().to_owned());
        }
        let out = w.join("out");
        let got = aws(
            &url,
            &h,
            &[
                "s3api",
                "get-object",
                "--bucket",
                "cli-ver",
                "--key",
                "doc",
                "--version-id",
                &ids[0],
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(got["VersionId"], ids[0].as_str());
        assert_eq!(std::fs::read(&out).unwrap(), b"first");
        let del = aws(
            &url,
            &h,
            &[
                "s3api",
                "delete-object",
                "--bucket",
                "cli-ver",
                "--key",
                "doc",
            ],
        );
        assert_eq!(del["DeleteMarker"], true);
        let list = aws(
            &url,
            &h,
            &["s3api", "list-object-versions", "--bucket", "cli-ver"],
        );
        let versions: Vec<&str> = list["Versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["VersionId"].as_str().unwrap())
            .collect();
        assert_eq!(versions, [ids[1].as_str(), ids[0].as_str()]);
        assert_eq!(list["DeleteMarkers"][0]["IsLatest"], true);
        assert_eq!(
            list["DeleteMarkers"][0]["VersionId"],
            del["VersionId"].as_str().unwrap()
        );
    })
    .await
    .unwrap();
}

/// `kill -9` while writers add versions of a few keys: every acknowledged version is
/// readable by its id with its bytes after the restart, and the listing names no version the
/// store cannot serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_versions_survive_kill_9() {
    const WRITERS: usize = 4;
    fn content(w: usize, n: usize) -> Vec<u8> {
        let len = 1 + (w * 7919 + n * 104_729) % 100_000;
        (0..len).map(|i| (i * 31 + w * 7 + n) as u8).collect()
    }
    let state = tempfile::tempdir().unwrap();
    let server = Process::start(state.path());
    let url = server.url.clone();
    assert_eq!(send(&url, Req::new("PUT", "/vdur")).await.status, 200);
    let r = send(
        &url,
        Req::new("PUT", "/vdur")
            .query("versioning")
            .body("<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let acked: Arc<Mutex<Vec<(usize, usize, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (url, acked) = (url.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0usize.. {
                let url = url.clone();
                let done = tokio::time::timeout(
                    Duration::from_secs(30),
                    tokio::spawn(async move {
                        try_send(
                            &url,
                            Req::new("PUT", &format!("/vdur/k{w}")).body(content(w, n)),
                        )
                        .await
                        .filter(|r| r.status == 200)
                        .map(|r| r.header("x-amz-version-id").to_owned())
                    }),
                )
                .await;
                match done {
                    Ok(Ok(Some(id))) => acked.lock().unwrap().push((w, n, id)),
                    _ => return,
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < 120 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 120, "only {} acknowledged", acked.len());

    let server = Process::start(state.path());
    let url = server.url.clone();
    for (w, n, id) in &acked {
        let r = send(
            &url,
            Req::new("GET", &format!("/vdur/k{w}")).query(&format!("versionId={id}")),
        )
        .await;
        assert_eq!(r.status, 200, "version {id} of k{w} lost: {}", r.text());
        assert!(r.body == content(*w, *n), "version {id} of k{w} torn");
    }
    let list = send(&url, Req::new("GET", "/vdur").query("versions")).await;
    let text = list.text();
    let listed = text.matches("<Version>").count();
    assert!(listed >= acked.len(), "{listed} listed for {}", acked.len());
    for v in text.split("<Version>").skip(1) {
        let key = v
            .split("<Key>")
            .nth(1)
            .unwrap()
            .split("</Key>")
            .next()
            .unwrap();
        let id = v
            .split("<VersionId>")
            .nth(1)
            .unwrap()
            .split("</VersionId>")
            .next()
            .unwrap();
        let r = send(
            &url,
            Req::new("HEAD", &format!("/vdur/{key}")).query(&format!("versionId={id}")),
        )
        .await;
        assert_eq!(r.status, 200, "listed version {id} of {key} unreadable");
    }
}
