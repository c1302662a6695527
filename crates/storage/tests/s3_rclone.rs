//! rclone (Debian's package, aws-sdk-go underneath) against the S3 API: copy, sync, list,
//! check, ranged reads and deletes, with multipart uploads forced by a small cutoff.

mod buckets;

use std::path::Path;
use std::process::Command;

use buckets::{ACCESS_KEY, SECRET_KEY, Server, tool};

fn rclone(url: &str, home: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("rclone");
    cmd.args(args)
        .args(["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"])
        .env("RCLONE_CONFIG", home.join("rclone.conf"))
        .env("RCLONE_CONFIG_M_TYPE", "s3")
        .env("RCLONE_CONFIG_M_PROVIDER", "Other")
        .env("RCLONE_CONFIG_M_ENDPOINT", url)
        .env("RCLONE_CONFIG_M_ACCESS_KEY_ID", ACCESS_KEY)
        .env("RCLONE_CONFIG_M_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("RCLONE_CONFIG_M_REGION", "us-east-1")
        .env("HOME", home)
        // aws-sdk-go refuses a custom CA bundle on rclone's transport, and plain HTTP needs
        // none.
        .env_remove("AWS_CA_BUNDLE");
    let out = cmd.output().expect("rclone runs");
    assert!(
        out.status.success(),
        "rclone {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn rclone_copies_syncs_checks_reads_ranges_and_deletes() {
    if tool("rclone", ".ci/install-test-deps installs Debian's rclone").is_none() {
        return;
    }
    let server = Server::start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (h, w) = (home.path().to_owned(), work.path().to_owned());
    tokio::task::spawn_blocking(move || {
        let src = w.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        let big: Vec<u8> = (0..(12u32 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(src.join("a.txt"), b"alpha").unwrap();
        std::fs::write(src.join("sub/b.txt"), b"0123456789").unwrap();
        std::fs::write(src.join("big.bin"), &big).unwrap();
        std::fs::write(src.join("gone.txt"), b"deleted by sync").unwrap();

        rclone(&url, &h, &["mkdir", "m:rcl"]);
        rclone(&url, &h, &["copy", src.to_str().unwrap(), "m:rcl/dir"]);
        let ls = rclone(&url, &h, &["ls", "m:rcl"]);
        for line in ["5 dir/a.txt", "10 dir/sub/b.txt", "12582912 dir/big.bin"] {
            assert!(ls.contains(line), "{line} missing from:\n{ls}");
        }
        // Sizes and MD5s (rclone keeps the MD5 of multipart uploads in metadata).
        rclone(&url, &h, &["check", src.to_str().unwrap(), "m:rcl/dir"]);

        // Ranged reads.
        let cat = rclone(
            &url,
            &h,
            &[
                "cat",
                "--offset",
                "3",
                "--count",
                "4",
                "m:rcl/dir/sub/b.txt",
            ],
        );
        assert_eq!(cat, "3456");
        let cat = rclone(&url, &h, &["cat", "--offset", "7", "m:rcl/dir/sub/b.txt"]);
        assert_eq!(cat, "789");

        // Sync: a change, a removal.
        std::fs::write(src.join("a.txt"), b"alpha, changed").unwrap();
        std::fs::remove_file(src.join("gone.txt")).unwrap();
        rclone(&url, &h, &["sync", src.to_str().unwrap(), "m:rcl/dir"]);
        let ls = rclone(&url, &h, &["ls", "m:rcl"]);
        assert!(!ls.contains("gone.txt"), "{ls}");
        assert!(ls.contains("14 dir/a.txt"), "{ls}");
        rclone(&url, &h, &["check", src.to_str().unwrap(), "m:rcl/dir"]);

        let back = w.join("back");
        rclone(&url, &h, &["copy", "m:rcl/dir", back.to_str().unwrap()]);
        assert_eq!(std::fs::read(back.join("big.bin")).unwrap(), big);
        assert_eq!(
            std::fs::read(back.join("a.txt")).unwrap(),
            b"alpha, changed"
        );

        let json = rclone(&url, &h, &["lsjson", "-R", "m:rcl/dir"]);
        let entries: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            entries
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["IsDir"] == false)
                .count(),
            3,
            "{json}"
        );

        rclone(&url, &h, &["delete", "m:rcl/dir/sub"]);
        assert!(!rclone(&url, &h, &["ls", "m:rcl"]).contains("b.txt"));
        rclone(&url, &h, &["purge", "m:rcl"]);
        let lsd = rclone(&url, &h, &["lsd", "m:"]);
        assert!(!lsd.contains("rcl"), "{lsd}");
    })
    .await
    .unwrap();
    assert_eq!(server.files(), (0, 0));
}
