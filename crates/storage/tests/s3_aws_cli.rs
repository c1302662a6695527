//! The AWS CLI (`aws s3 ...` and `aws s3api ...` with `--endpoint-url`) against the S3 API,
//! with the CLI's default integrity settings (CRC32 checksums on uploads).

mod buckets;

use std::path::{Path, PathBuf};
use std::process::Command;

use buckets::{Server, aws_env, tool};
use serde_json::Value;

fn cli() -> Option<PathBuf> {
    tool("aws", ".ci/install-test-deps installs awscli from PyPI")
}

fn run(url: &str, home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("aws");
    cmd.args(args)
        .args(["--endpoint-url", url, "--output", "json"]);
    if args.first() == Some(&"s3") && matches!(args.get(1), Some(&("cp" | "sync" | "rm" | "mv"))) {
        cmd.arg("--only-show-errors");
    }
    aws_env(&mut cmd, home);
    cmd.output().expect("aws runs")
}

/// Runs `aws ARGS`, asserts success, returns its JSON output (Null when none).
fn aws(url: &str, home: &Path, args: &[&str]) -> Value {
    let out = run(url, home, args);
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned()))
}

/// Runs `aws ARGS`, asserts failure, returns its stderr.
fn aws_fails(url: &str, home: &Path, args: &[&str]) -> String {
    let out = run(url, home, args);
    assert!(!out.status.success(), "aws {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_s3_syncs_copies_lists_presigns_and_removes() {
    if cli().is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (h, w) = (home.path().to_owned(), work.path().to_owned());
    let curl = tool("curl", "apt-get install curl");
    tokio::task::spawn_blocking(move || {
        let src = w.join("src");
        std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("index.html", b"<h1>hello</h1>".to_vec()),
            ("sub/b.txt", pattern(1000, 1)),
            ("sub/deeper/c.bin", pattern(300_000, 2)),
            ("space name.txt", b"spaces".to_vec()),
            ("plus+and&amp.txt", b"symbols".to_vec()),
            ("empty", Vec::new()),
            // Above the CLI's 8 MiB multipart threshold: three parts.
            ("big.bin", pattern(17 << 20, 3)),
        ];
        for (name, data) in &files {
            std::fs::write(src.join(name), data).unwrap();
        }
        aws(&url, &h, &["s3", "mb", "s3://cli-bucket"]);
        let listed = aws(&url, &h, &["s3", "ls"]);
        assert!(listed.as_str().unwrap().contains("cli-bucket"), "{listed}");

        aws(
            &url,
            &h,
            &["s3", "sync", src.to_str().unwrap(), "s3://cli-bucket/site/"],
        );
        let ls = aws(
            &url,
            &h,
            &["s3", "ls", "--recursive", "s3://cli-bucket/site/"],
        );
        let ls = ls.as_str().unwrap().to_owned();
        for (name, data) in &files {
            let line = ls
                .lines()
                .find(|l| l.ends_with(&format!("site/{name}")))
                .unwrap_or_else(|| panic!("{name} not listed:\n{ls}"));
            assert!(line.contains(&format!(" {} site/", data.len())), "{line}");
        }
        // A second sync finds nothing to do: sizes and times round-trip.
        let again = run(
            &url,
            &h,
            &["s3", "sync", src.to_str().unwrap(), "s3://cli-bucket/site/"],
        );
        assert!(again.status.success());
        assert!(String::from_utf8_lossy(&again.stdout).trim().is_empty());

        let dst = w.join("dst");
        aws(
            &url,
            &h,
            &["s3", "sync", "s3://cli-bucket/site/", dst.to_str().unwrap()],
        );
        for (name, data) in &files {
            assert_eq!(&std::fs::read(dst.join(name)).unwrap(), data, "{name}");
        }

        // A delimiter listing shows the top level and the common prefix.
        let top = aws(&url, &h, &["s3", "ls", "s3://cli-bucket/site/"]);
        let top = top.as_str().unwrap();
        assert!(top.contains("PRE sub/"), "{top}");
        assert!(!top.contains("b.txt"), "{top}");

        let one = w.join("one.bin");
        aws(
            &url,
            &h,
            &[
                "s3",
                "cp",
                "s3://cli-bucket/site/big.bin",
                one.to_str().unwrap(),
            ],
        );
        assert_eq!(std::fs::read(&one).unwrap(), files[6].1);
        // A bucket-side copy above the multipart threshold: UploadPartCopy.
        aws(
            &url,
            &h,
            &[
                "s3",
                "cp",
                "s3://cli-bucket/site/big.bin",
                "s3://cli-bucket/copied/big.bin",
            ],
        );
        let head = aws(
            &url,
            &h,
            &[
                "s3api",
                "head-object",
                "--bucket",
                "cli-bucket",
                "--key",
                "copied/big.bin",
            ],
        );
        assert!(head["PartsCount"].as_u64().unwrap_or(0) > 1, "{head}");
        aws(
            &url,
            &h,
            &[
                "s3",
                "cp",
                "s3://cli-bucket/copied/big.bin",
                one.to_str().unwrap(),
            ],
        );
        assert_eq!(std::fs::read(&one).unwrap(), files[6].1);

        // A presigned URL works for a plain HTTP client, and only for that object: the CLI
        // v1 presigns with SigV2 by default, and with SigV4 when configured to.
        let v2 = aws(
            &url,
            &h,
            &["s3", "presign", "s3://cli-bucket/site/sub/b.txt"],
        );
        let v2 = v2.as_str().unwrap().trim().to_owned();
        assert!(v2.contains("AWSAccessKeyId="), "{v2}");
        if let Some(curl) = &curl {
            let got = Command::new(curl)
                .args(["-sS", "-f", &v2])
                .output()
                .unwrap();
            assert!(
                got.status.success(),
                "{}",
                String::from_utf8_lossy(&got.stderr)
            );
            assert_eq!(got.stdout, files[1].1);
        }
        std::fs::write(
            h.join("config"),
            "[default]\ns3 =\n    signature_version = s3v4\n",
        )
        .unwrap();
        let presigned = aws(
            &url,
            &h,
            &[
                "s3",
                "presign",
                "s3://cli-bucket/site/sub/b.txt",
                "--expires-in",
                "300",
            ],
        );
        let presigned = presigned.as_str().unwrap().trim().to_owned();
        assert!(presigned.contains("X-Amz-Signature="), "{presigned}");
        if let Some(curl) = &curl {
            let got = Command::new(curl)
                .args(["-sS", "-f", &presigned])
                .output()
                .unwrap();
            assert!(
                got.status.success(),
                "{}",
                String::from_utf8_lossy(&got.stderr)
            );
            assert_eq!(got.stdout, files[1].1);
            let forged = presigned.replace("sub/b.txt", "index.html");
            let got = Command::new(curl)
                .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", &forged])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&got.stdout), "403");
        }

        aws(
            &url,
            &h,
            &["s3", "rm", "--recursive", "s3://cli-bucket/site/sub/"],
        );
        let ls = aws(&url, &h, &["s3", "ls", "--recursive", "s3://cli-bucket/"]);
        assert!(!ls.as_str().unwrap().contains("sub/"));
        let refused = aws_fails(&url, &h, &["s3", "rb", "s3://cli-bucket"]);
        assert!(refused.contains("BucketNotEmpty"), "{refused}");
        aws(&url, &h, &["s3", "rm", "--recursive", "s3://cli-bucket/"]);
        aws(&url, &h, &["s3", "rb", "s3://cli-bucket"]);
        let missing = aws_fails(&url, &h, &["s3", "ls", "s3://cli-bucket"]);
        assert!(missing.contains("NoSuchBucket"), "{missing}");
    })
    .await
    .unwrap();
    // Every file was removed with its object, and nothing is left staged.
    assert_eq!(server.files(), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_s3api_objects_headers_copy_ranges_and_multipart() {
    if cli().is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (h, w) = (home.path().to_owned(), work.path().to_owned());
    tokio::task::spawn_blocking(move || {
        aws(&url, &h, &["s3api", "create-bucket", "--bucket", "api"]);
        let loc = aws(&url, &h, &["s3api", "get-bucket-location", "--bucket", "api"]);
        assert_eq!(loc["LocationConstraint"], Value::Null);
        aws(&url, &h, &["s3api", "head-bucket", "--bucket", "api"]);

        let body = w.join("body.txt");
        std::fs::write(&body, b"0123456789abcdefghij").unwrap();
        let put = aws(
            &url,
            &h,
            &[
                "s3api", "put-object", "--bucket", "api", "--key", "dir/obj.txt", "--body",
                body.to_str().unwrap(), "--content-type", "text/plain", "--cache-control",
                "max-age=60", "--content-disposition", "inline", "--metadata",
                "color=blue,shape=round",
            ],
        );
        assert_eq!(
            put["ETag"],
            format!("\"{:032x}\"", md5_of(b"0123456789abcdefghij"))
        );
        let head = aws(
            &url,
            &h,
            &["s3api", "head-object", "--bucket", "api", "--key", "dir/obj.txt", "--checksum-mode", "ENABLED"],
        );
        assert_eq!(head["ContentLength"], 20);
        assert_eq!(head["ContentType"], "text/plain");
        assert_eq!(head["CacheControl"], "max-age=60");
        assert_eq!(head["ContentDisposition"], "inline");
        assert_eq!(head["Metadata"]["color"], "blue");
        assert_eq!(head["Metadata"]["shape"], "round");
        assert!(head["ChecksumCRC32"].is_string(), "{head}");

        let part = w.join("part.out");
        let got = aws(
            &url,
            &h,
            &[
                "s3api", "get-object", "--bucket", "api", "--key", "dir/obj.txt", "--range",
                "bytes=10-14", part.to_str().unwrap(),
            ],
        );
        assert_eq!(got["ContentRange"], "bytes 10-14/20");
        assert_eq!(std::fs::read(&part).unwrap(), b"abcde");
        let unsatisfiable = aws_fails(
            &url,
            &h,
            &[
                "s3api", "get-object", "--bucket", "api", "--key", "dir/obj.txt", "--range",
                "bytes=50-60", part.to_str().unwrap(),
            ],
        );
        assert!(unsatisfiable.contains("InvalidRange"), "{unsatisfiable}");

        let copied = aws(
            &url,
            &h,
            &[
                "s3api", "copy-object", "--bucket", "api", "--key", "copy.txt", "--copy-source",
                "api/dir/obj.txt", "--metadata-directive", "REPLACE", "--content-type",
                "application/x-test", "--metadata", "color=red",
            ],
        );
        assert_eq!(copied["CopyObjectResult"]["ETag"], put["ETag"]);
        let head = aws(&url, &h, &["s3api", "head-object", "--bucket", "api", "--key", "copy.txt"]);
        assert_eq!(head["ContentType"], "application/x-test");
        assert_eq!(head["Metadata"]["color"], "red");
        assert_eq!(head["Metadata"].get("shape"), None);

        let v2 = aws(
            &url,
            &h,
            &["s3api", "list-objects-v2", "--bucket", "api", "--delimiter", "/"],
        );
        assert_eq!(v2["Contents"].as_array().unwrap().len(), 1, "{v2}");
        assert_eq!(v2["CommonPrefixes"].as_array().unwrap().len(), 1, "{v2}");
        assert_eq!(v2["Contents"][0]["Key"], "copy.txt");
        assert_eq!(v2["CommonPrefixes"][0]["Prefix"], "dir/");
        let v1 = aws(&url, &h, &["s3api", "list-objects", "--bucket", "api", "--prefix", "dir/"]);
        assert_eq!(v1["Contents"][0]["Key"], "dir/obj.txt");
        assert_eq!(v1["Contents"][0]["Size"], 20);

        // Multipart by hand: a 5 MiB part and a short last part.
        let created = aws(
            &url,
            &h,
            &["s3api", "create-multipart-upload", "--bucket", "api", "--key", "mp.bin"],
        );
        let id = created["UploadId"].as_str().unwrap().to_owned();
        let p1 = pattern(5 << 20, 7);
        let p2 = pattern(1234, 8);
        std::fs::write(w.join("p1"), &p1).unwrap();
        std::fs::write(w.join("p2"), &p2).unwrap();
        let mut etags = Vec::new();
        for (n, f) in [(1, "p1"), (2, "p2")] {
            let up = aws(
                &url,
                &h,
                &[
                    "s3api", "upload-part", "--bucket", "api", "--key", "mp.bin", "--upload-id",
                    &id, "--part-number", &n.to_string(), "--body", w.join(f).to_str().unwrap(),
                ],
            );
            etags.push(up["ETag"].as_str().unwrap().to_owned());
        }
        let parts = aws(
            &url,
            &h,
            &["s3api", "list-parts", "--bucket", "api", "--key", "mp.bin", "--upload-id", &id],
        );
        assert_eq!(parts["Parts"].as_array().unwrap().len(), 2);
        assert_eq!(parts["Parts"][0]["Size"], 5 << 20);
        let uploads = aws(&url, &h, &["s3api", "list-multipart-uploads", "--bucket", "api"]);
        assert_eq!(uploads["Uploads"][0]["UploadId"], id.as_str());
        let doc = serde_json::json!({"Parts": [
            {"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}]});
        let done = aws(
            &url,
            &h,
            &[
                "s3api", "complete-multipart-upload", "--bucket", "api", "--key", "mp.bin",
                "--upload-id", &id, "--multipart-upload", &doc.to_string(),
            ],
        );
        assert!(done["ETag"].as_str().unwrap().ends_with("-2\""), "{done}");
        let out = w.join("mp.out");
        let got = aws(
            &url,
            &h,
            &["s3api", "get-object", "--bucket", "api", "--key", "mp.bin", out.to_str().unwrap()],
        );
        assert_eq!(got["PartsCount"], 2);
        let mut whole = p1.clone();
        whole.extend_from_slice(&p2);
        assert_eq!(std::fs::read(&out).unwrap(), whole);
        let part2 = aws(
            &url,
            &h,
            &[
                "s3api", "get-object", "--bucket", "api", "--key", "mp.bin", "--part-number", "2",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(part2["ContentLength"], 1234);
        assert_eq!(std::fs::read(&out).unwrap(), p2);

        let del = aws(
            &url,
            &h,
            &[
                "s3api", "delete-objects", "--bucket", "api", "--delete",
                r#"{"Objects": [{"Key": "copy.txt"}, {"Key": "mp.bin"}, {"Key": "never-existed"}]}"#,
            ],
        );
        assert_eq!(del["Deleted"].as_array().unwrap().len(), 3);
        let v2 = aws(&url, &h, &["s3api", "list-objects-v2", "--bucket", "api"]);
        assert_eq!(v2["Contents"].as_array().unwrap().len(), 1, "{v2}");
        let missing = aws_fails(
            &url,
            &h,
            &["s3api", "head-object", "--bucket", "api", "--key", "copy.txt"],
        );
        assert!(missing.contains("404"), "{missing}");
    })
    .await
    .unwrap();
}

fn md5_of(data: &[u8]) -> u128 {
    use md5::Digest as _;
    u128::from_be_bytes(md5::Md5::digest(data).into())
}
