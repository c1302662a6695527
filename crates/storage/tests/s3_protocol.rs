//! The S3 protocol at the byte level, for what real clients send only in some configurations
//! (aws-chunked bodies, signed chunks, trailers) and what they never send (bodies that lie,
//! bad signatures, expired URLs, invalid names): each gets S3's error, and no refused write
//! ever becomes visible or leaves a file behind.

mod buckets;

use buckets::{
    ACCESS_KEY, Payload, Req, Server, chunked_body, presign, raw, raw_stalled, send, send_built,
};
use meridian_storage::s3::checksum::{self, Algorithm};
use meridian_storage::sigv4::{self, ChunkSigning};

async fn bucket(url: &str, name: &str) {
    let r = send(url, Req::new("PUT", &format!("/{name}"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn get(url: &str, path: &str) -> buckets::Resp {
    send(url, Req::new("GET", path)).await
}

/// Asserts nothing under `bucket` is listed.
async fn empty(url: &str, bucket: &str) {
    let r = send(
        url,
        Req::new("GET", &format!("/{bucket}")).query("list-type=2"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<KeyCount>0</KeyCount>"), "{}", r.text());
}

fn md5_b64(data: &[u8]) -> String {
    let mut m = checksum::Md5::default();
    m.update(data);
    checksum::base64(&m.finish())
}

#[tokio::test]
async fn bodies_that_lie_are_refused_and_never_visible() {
    let server = Server::start().await;
    let url = server.url();
    bucket(&url, "bad").await;

    // Content-MD5 of other bytes.
    let r = send(
        &url,
        Req::new("PUT", "/bad/md5")
            .header("content-md5", &md5_b64(b"other"))
            .body(b"payload".to_vec()),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "BadDigest".into()),
        "{}",
        r.text()
    );
    // Content-MD5 that is not an MD5.
    let r = send(
        &url,
        Req::new("PUT", "/bad/md5")
            .header("content-md5", "bm90IG1kNQ==")
            .body(b"payload".to_vec()),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidDigest".into()));
    // A checksum header of other bytes, for each algorithm.
    for a in checksum::ALGORITHMS {
        let r = send(
            &url,
            Req::new("PUT", "/bad/sum")
                .header(a.header(), &checksum::of(a, b"other"))
                .body(b"payload".to_vec()),
        )
        .await;
        assert_eq!((r.status, r.code()), (400, "BadDigest".into()), "{a:?}");
    }
    // Two checksum headers.
    let r = send(
        &url,
        Req::new("PUT", "/bad/sum")
            .header(
                "x-amz-checksum-crc32",
                &checksum::of(Algorithm::Crc32, b"payload"),
            )
            .header(
                "x-amz-checksum-sha1",
                &checksum::of(Algorithm::Sha1, b"payload"),
            )
            .body(b"payload".to_vec()),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequest".into()));
    // A signed payload hash of other bytes.
    let r = send(
        &url,
        Req::new("PUT", "/bad/sha")
            .payload(Payload::Declared(sigv4::sha256_hex(b"other")))
            .body(b"payload".to_vec()),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "XAmzContentSHA256Mismatch".into())
    );
    // A body shorter than its Content-Length: the client stops and half-closes.
    let uri: http::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().to_string();
    let (headers, _, _) = Req::new("PUT", "/bad/short")
        .payload(Payload::Unsigned)
        .head(&authority);
    let mut head = String::from("PUT /bad/short HTTP/1.1\r\ncontent-length: 100\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let answer = raw(&url, &head, &[b'x'; 50]).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>IncompleteBody</Code>"), "{answer}");
    // An aws-chunked body whose decoded length differs from what it declared.
    let r = send(
        &url,
        Req::new("PUT", "/bad/chunked")
            .payload(Payload::Declared(
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            ))
            .header("content-encoding", "aws-chunked")
            .header("x-amz-decoded-content-length", "10")
            .body(chunked_body(&[b"12345"], None, &[])),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "IncompleteBody".into()));
    // ... and one longer than it declared.
    let r = send(
        &url,
        Req::new("PUT", "/bad/chunked")
            .payload(Payload::Declared(
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            ))
            .header("x-amz-decoded-content-length", "3")
            .body(chunked_body(&[b"12345"], None, &[])),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    // A malformed aws-chunked body.
    let r = send(
        &url,
        Req::new("PUT", "/bad/chunked")
            .payload(Payload::Declared(
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            ))
            .header("x-amz-decoded-content-length", "5")
            .body(b"5\r\n12345XX0\r\n\r\n".to_vec()),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequest".into()));
    // A trailer checksum of other bytes.
    let r = send(
        &url,
        Req::new("PUT", "/bad/trailer")
            .payload(Payload::Declared(
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            ))
            .header("content-encoding", "aws-chunked")
            .header("x-amz-decoded-content-length", "7")
            .header("x-amz-trailer", "x-amz-checksum-crc32c")
            .body(chunked_body(
                &[b"pay", b"load"],
                None,
                &[(
                    "x-amz-checksum-crc32c",
                    &checksum::of(Algorithm::Crc32c, b"other"),
                )],
            )),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "BadDigest".into()));
    // A trailer announced but never sent.
    let r = send(
        &url,
        Req::new("PUT", "/bad/trailer")
            .payload(Payload::Declared(
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            ))
            .header("x-amz-decoded-content-length", "7")
            .header("x-amz-trailer", "x-amz-checksum-crc32c")
            .body(chunked_body(&[b"payload"], None, &[])),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "MalformedTrailerError".into()));

    empty(&url, "bad").await;
    assert_eq!(server.files(), (0, 0), "a refused body left a file");
}

#[tokio::test]
async fn aws_chunked_bodies_signed_and_unsigned_with_trailers() {
    let server = Server::start().await;
    let url = server.url();
    bucket(&url, "chunks").await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let parts: Vec<&[u8]> = data.chunks(65_536).collect();
    let crc = checksum::of(Algorithm::Crc64Nvme, &data);

    // Unsigned payload, checksum in the trailer (the SDKs' default over HTTPS).
    let r = send(
        &url,
        Req::new("PUT", "/chunks/unsigned")
            .payload(Payload::Declared(
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            ))
            .header("content-encoding", "aws-chunked")
            .header("x-amz-decoded-content-length", &data.len().to_string())
            .header("x-amz-trailer", "x-amz-checksum-crc64nvme")
            .body(chunked_body(
                &parts,
                None,
                &[("x-amz-checksum-crc64nvme", &crc)],
            )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-amz-checksum-crc64nvme"), crc);
    let g = send(
        &url,
        Req::new("GET", "/chunks/unsigned").header("x-amz-checksum-mode", "ENABLED"),
    )
    .await;
    assert_eq!(g.body, data);
    assert_eq!(g.header("x-amz-checksum-crc64nvme"), crc);
    // `aws-chunked` is the transfer's encoding, not the object's.
    assert_eq!(g.header("content-encoding"), "");

    // Signed chunks, then signed chunks with a signed trailer.
    for (name, trailer) in [("signed", false), ("signed-trailer", true)] {
        let marker = if trailer {
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        } else {
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        };
        let mut req = Req::new("PUT", &format!("/chunks/{name}"))
            .payload(Payload::Declared(marker.into()))
            .header("content-encoding", "aws-chunked")
            .header("x-amz-decoded-content-length", &data.len().to_string());
        if trailer {
            req = req.header("x-amz-trailer", "x-amz-checksum-crc64nvme");
        }
        let trailers: Vec<(&str, &str)> = if trailer {
            vec![("x-amz-checksum-crc64nvme", crc.as_str())]
        } else {
            Vec::new()
        };
        let r = send_built(&url, req.clone(), |seed, amz, _| {
            let signing = ChunkSigning::new(buckets::SECRET_KEY, amz, "us-east-1", "s3", seed);
            chunked_body(&parts, Some(signing), &trailers)
        })
        .await;
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        assert_eq!(get(&url, &format!("/chunks/{name}")).await.body, data);

        // A chunk altered in flight breaks the chain.
        let r = send_built(&url, req.clone(), |seed, amz, _| {
            let signing = ChunkSigning::new(buckets::SECRET_KEY, amz, "us-east-1", "s3", seed);
            let mut body = chunked_body(&parts, Some(signing), &trailers);
            let at = body.len() / 2;
            body[at] ^= 1;
            body
        })
        .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "SignatureDoesNotMatch".into()),
            "{name}"
        );
        // Chunks signed with another secret.
        let r = send_built(&url, req.clone(), |seed, amz, _| {
            let signing = ChunkSigning::new("another secret", amz, "us-east-1", "s3", seed);
            chunked_body(&parts, Some(signing), &trailers)
        })
        .await;
        assert_eq!((r.status, r.code()), (403, "SignatureDoesNotMatch".into()));
    }
    // Unsigned chunks under a signed-chunks declaration.
    let r = send(
        &url,
        Req::new("PUT", "/chunks/mixed")
            .payload(Payload::Declared(
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into(),
            ))
            .header("x-amz-decoded-content-length", &data.len().to_string())
            .body(chunked_body(&parts, None, &[])),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        get(&url, "/chunks/mixed").await.code(),
        "NoSuchKey",
        "a refused body became visible"
    );
    assert_eq!(server.files().1, 0);
}

#[tokio::test]
async fn signatures_keys_clocks_and_presigned_urls() {
    let server = Server::start().await;
    let url = server.url();
    bucket(&url, "auth").await;
    let r = send(&url, Req::new("PUT", "/auth/k").body(b"v".to_vec())).await;
    assert_eq!(r.status, 200);

    let r = send(&url, Req::new("GET", "/auth/k").secret(Some("wrong"))).await;
    assert_eq!((r.status, r.code()), (403, "SignatureDoesNotMatch".into()));
    // The error document names its request, as the header does.
    let rid = r.header("x-amz-request-id").to_owned();
    assert!(!rid.is_empty() && r.text().contains(&format!("<RequestId>{rid}</RequestId>")));
    let r = send(&url, Req::new("GET", "/auth/k").secret(None)).await;
    assert_eq!((r.status, r.code()), (403, "AccessDenied".into()));
    let mut skewed = Req::new("GET", "/auth/k");
    skewed.clock_offset = -3600;
    let r = send(&url, skewed).await;
    assert_eq!((r.status, r.code()), (403, "RequestTimeTooSkewed".into()));
    let r = send(
        &url,
        Req::new("GET", "/auth/k")
            .secret(None)
            .header("authorization", "AWS AKID:c2lnbmF0dXJl"),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequest".into()));
    // A payload marker S3 does not know.
    let r = send(
        &url,
        Req::new("PUT", "/auth/k2").payload(Payload::Declared("SOMETHING".into())),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidArgument".into()));

    // Presigned: valid, expired, not yet valid, forged, over a week.
    let ok = presign(&url, "GET", "/auth/k", 300, 0);
    let r = send(&url, Req::new("GET", &ok).secret(None)).await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"v"[..]),
        "{}",
        r.text()
    );
    let expired = presign(&url, "GET", "/auth/k", 60, -3600);
    let r = send(&url, Req::new("GET", &expired).secret(None)).await;
    assert_eq!((r.status, r.code()), (403, "AccessDenied".into()));
    assert!(r.text().contains("Request has expired"), "{}", r.text());
    let future = presign(&url, "GET", "/auth/k", 60, 3600);
    let r = send(&url, Req::new("GET", &future).secret(None)).await;
    assert_eq!((r.status, r.code()), (403, "AccessDenied".into()));
    let forged = ok.replace("/auth/k?", "/auth/k2?");
    let r = send(&url, Req::new("GET", &forged).secret(None)).await;
    assert_eq!((r.status, r.code()), (403, "SignatureDoesNotMatch".into()));
    let week = presign(&url, "GET", "/auth/k", 604_801, 0);
    let r = send(&url, Req::new("GET", &week).secret(None)).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "AuthorizationQueryParametersError".into())
    );
    let unknown = ok.replace(ACCESS_KEY, "AKIDUNKNOWN");
    let r = send(&url, Req::new("GET", &unknown).secret(None)).await;
    assert_eq!((r.status, r.code()), (403, "InvalidAccessKeyId".into()));
}

#[tokio::test]
async fn names_keys_xml_and_multipart_rules() {
    let server = Server::start().await;
    let url = server.url();
    for bad in ["Bad_Name", "ab", "-abc", "a..b", "192.168.0.1", "xn--abc"] {
        let r = send(&url, Req::new("PUT", &format!("/{bad}"))).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "InvalidBucketName".into()),
            "{bad}"
        );
    }
    bucket(&url, "rules").await;
    let long = "k".repeat(1025);
    let r = send(
        &url,
        Req::new("PUT", &format!("/rules/{long}")).body(b"v".to_vec()),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "KeyTooLongError".into()));
    let ok = "k".repeat(1024);
    let r = send(
        &url,
        Req::new("PUT", &format!("/rules/{ok}")).body(b"v".to_vec()),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send(&url, Req::new("DELETE", &format!("/rules/{ok}"))).await;
    assert_eq!(r.status, 204);

    // S3 reads 8 KiB of request headers; past that the request is refused unread.
    let padding = "p".repeat(8 * 1024);
    let r = send(
        &url,
        Req::new("PUT", "/rules/padded")
            .header("x-padding", &padding)
            .body(b"v".to_vec()),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "RequestHeaderSectionTooLarge".into()),
        "{}",
        r.text()
    );
    assert!(
        r.text().contains("<MaxSizeAllowed>8192</MaxSizeAllowed>"),
        "{}",
        r.text()
    );
    assert_eq!(get(&url, "/rules/padded").await.status, 404);
    let r = send(
        &url,
        Req::new("PUT", "/rules/padded")
            .header("x-padding", &padding[..6 * 1024])
            .body(b"v".to_vec()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(&url, Req::new("DELETE", "/rules/padded")).await;
    assert_eq!(r.status, 204);

    // Location constraints: the endpoint's region only, and never us-east-1 spelled out.
    let cfg = |region: &str| {
        format!(
            "<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
    };
    let r = send(
        &url,
        Req::new("PUT", "/other-region").body(cfg("eu-west-1")),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "IllegalLocationConstraintException".into())
    );
    let r = send(
        &url,
        Req::new("PUT", "/other-region").body(cfg("us-east-1")),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidLocationConstraint".into())
    );
    let r = send(
        &url,
        Req::new("PUT", "/other-region").body(b"<not xml".to_vec()),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "MalformedXML".into()));

    // Malformed request documents.
    for doc in [
        &b"<Delete><Object></Object></Delete>"[..],
        b"<Delete>",
        b"<Other/>",
    ] {
        let r = send(
            &url,
            Req::new("POST", "/rules")
                .query("delete")
                .header("content-md5", &md5_b64(doc))
                .body(doc.to_vec()),
        )
        .await;
        assert_eq!((r.status, r.code()), (400, "MalformedXML".into()));
    }

    // Multipart: a small part that is not the last, parts out of order, a missing part.
    let r = send(&url, Req::new("POST", "/rules/mp").query("uploads")).await;
    let text = r.text();
    let id = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|t| t.split("</UploadId>").next())
        .unwrap()
        .to_owned();
    let mut etags = Vec::new();
    for n in 1..=2 {
        let r = send(
            &url,
            Req::new("PUT", "/rules/mp")
                .query(&format!("partNumber={n}&uploadId={id}"))
                .body(vec![n as u8; 1000]),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        etags.push(r.header("etag").to_owned());
    }
    let complete = |order: &[usize]| {
        let mut doc = String::from("<CompleteMultipartUpload>");
        for &n in order {
            doc.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                etags.get(n - 1).map_or("\"x\"", String::as_str)
            ));
        }
        doc.push_str("</CompleteMultipartUpload>");
        Req::new("POST", "/rules/mp")
            .query(&format!("uploadId={id}"))
            .body(doc)
    };
    let r = send(&url, complete(&[1, 2])).await;
    assert_eq!((r.status, r.code()), (400, "EntityTooSmall".into()));
    let r = send(&url, complete(&[2, 1])).await;
    assert_eq!((r.status, r.code()), (400, "InvalidPartOrder".into()));
    let r = send(&url, complete(&[1, 3])).await;
    assert_eq!((r.status, r.code()), (400, "InvalidPart".into()));
    let r = send(&url, complete(&[])).await;
    assert_eq!((r.status, r.code()), (400, "MalformedXML".into()));
    let r = send(
        &url,
        Req::new("PUT", "/rules/mp")
            .query(&format!("partNumber=0&uploadId={id}"))
            .body(b"x".to_vec()),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidArgument".into()));
    empty(&url, "rules").await;
    let r = send(
        &url,
        Req::new("DELETE", "/rules/mp").query(&format!("uploadId={id}")),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = send(
        &url,
        Req::new("DELETE", "/rules/mp").query(&format!("uploadId={id}")),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "NoSuchUpload".into()));
    assert_eq!(server.files(), (0, 0), "an aborted upload left its parts");

    // Range and conditions at the edges.
    let r = send(
        &url,
        Req::new("PUT", "/rules/r").body(b"0123456789".to_vec()),
    )
    .await;
    let etag = r.header("etag").to_owned();
    let g = send(
        &url,
        Req::new("GET", "/rules/r").header("range", "bytes=10-"),
    )
    .await;
    assert_eq!((g.status, g.code()), (416, "InvalidRange".into()));
    assert_eq!(g.header("content-range"), "bytes */10");
    let g = send(
        &url,
        Req::new("GET", "/rules/r").header("range", "bytes=2-4"),
    )
    .await;
    assert_eq!((g.status, g.body.as_slice()), (206, &b"234"[..]));
    let g = send(
        &url,
        Req::new("HEAD", "/rules/r").header("if-none-match", &etag),
    )
    .await;
    assert_eq!(g.status, 304);
    assert_eq!(g.header("etag"), etag);
    let g = send(
        &url,
        Req::new("HEAD", "/rules/r").header("if-match", "\"other\""),
    )
    .await;
    assert_eq!((g.status, g.body.len()), (412, 0));
    // Unversioned: version `null` is the object, any other id is refused.
    let g = send(&url, Req::new("GET", "/rules/r").query("versionId=null")).await;
    assert_eq!((g.status, g.body.as_slice()), (200, &b"0123456789"[..]));
    let g = send(
        &url,
        Req::new("GET", "/rules/r").query("versionId=3HL4kqtJlcpXroDTDmJ"),
    )
    .await;
    assert_eq!((g.status, g.code()), (400, "InvalidArgument".into()));
    // Virtual-hosted style by Host header.
    let g = send(
        &url,
        Req::new("GET", "/r").header(
            "host",
            &format!("rules.localhost:{}", server.endpoint.addr.port()),
        ),
    )
    .await;
    assert_eq!(g.status, 200, "{}", g.text());
}

#[tokio::test]
async fn an_upload_that_stops_sending_is_ended_and_leaves_nothing() {
    let server = Server::start_with(std::time::Duration::from_millis(500)).await;
    let url = server.url();
    bucket(&url, "stall").await;
    let uri: http::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().to_string();
    let (headers, _, _) = Req::new("PUT", "/stall/k")
        .payload(Payload::Unsigned)
        .head(&authority);
    let mut head = String::from("PUT /stall/k HTTP/1.1\r\ncontent-length: 1000\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let answer = raw_stalled(&url, &head, &[b'x'; 100]).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
    empty(&url, "stall").await;
    assert_eq!(server.files(), (0, 0));
}
