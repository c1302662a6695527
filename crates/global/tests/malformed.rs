//! Hostile input: the fuzzer's regressions (`fuzz/regressions/dns_message/`) replayed through
//! the message path, and malformed packets sent to a real listener, which answers FORMERR or
//! nothing and keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use meridian_global::server::Listener;
use meridian_global::{Network, Plane};

#[test]
fn fuzz_regressions_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/dns_message");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        meridian_global::fuzzing::dns_message(&bytes);
        n += 1;
    }
    assert!(n >= 5, "the regression corpus is there");
}

fn query(id: u16, name: &[u8]) -> Vec<u8> {
    let mut q = vec![
        (id >> 8) as u8,
        id as u8,
        0x00,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    q.extend_from_slice(name);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

fn name(labels: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels {
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

async fn exchange(sock: &tokio::net::UdpSocket, packet: &[u8]) -> Option<Vec<u8>> {
    sock.send(packet).await.unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[tokio::test]
async fn malformed_packets_get_formerr_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        r#"
provider "aws" {
  region = "us-east-1"
}
resource "aws_route53_zone" "main" {
  name = "example.com"
}
resource "aws_route53_record" "www" {
  zone_id = aws_route53_zone.main.zone_id
  name    = "www"
  type    = "A"
  ttl     = 60
  records = ["192.0.2.1"]
}
"#,
    )
    .unwrap();
    let bundle = meridian_config::load_paths(&[dir.path().to_path_buf()], Default::default());
    let plane = Plane::new(Network::default(), None);
    plane.apply(bundle.terraform_modules());
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), plane.shared())
        .await
        .unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(listener.addr).await.unwrap();

    let good = query(7, &name(&[b"www", b"example", b"com"]));
    let ok = exchange(&sock, &good).await.expect("an answer");
    assert_eq!(ok[3] & 0x0f, 0, "NOERROR");

    // A name that points at itself (a compression loop).
    let mut looped = vec![0x00, 0x08, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c];
    looped.extend_from_slice(&[0, 1, 0, 1]);
    // A name longer than 255 bytes.
    let long: Vec<&[u8]> = vec![&[b'a'; 63]; 5];
    let huge = query(9, &name(&long));
    // A question cut short.
    let cut = good[..good.len() - 3].to_vec();
    for (what, packet) in [
        ("compression loop", looped),
        ("name over 255 bytes", huge),
        ("truncated question", cut),
    ] {
        if let Some(r) = exchange(&sock, &packet).await {
            assert_eq!(r[3] & 0x0f, 1, "{what}: FORMERR");
            assert_eq!(r[2] & 0x80, 0x80, "{what}: a response");
        }
    }
    // Eleven bytes is not a DNS header: no answer at all.
    assert!(exchange(&sock, &[0u8; 11]).await.is_none());
    // Still serving.
    let again = exchange(&sock, &query(10, &name(&[b"WWW", b"example", b"com"]))).await;
    assert_eq!(again.expect("still answering")[3] & 0x0f, 0);
}

/// Queries of every shape the UDP fast path reads (EDNS, client subnets of both families,
/// mixed case, CNAMEs, wildcards, names in no zone), and a few hundred thousand mutations of
/// them: what the fast path reads, hickory reads the same, and the fast path's answers match
/// the full handler's (the fuzz target's check, run on a fixed corpus).
#[test]
fn the_fast_path_agrees_with_hickory() {
    let opt = |options: &[u8]| {
        let mut o = vec![0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0];
        o.extend_from_slice(&(options.len() as u16).to_be_bytes());
        o.extend_from_slice(options);
        o
    };
    let with_opt = |mut q: Vec<u8>, options: &[u8]| {
        q[11] = 1;
        q.extend_from_slice(&opt(options));
        q
    };
    let ecs4 = [0, 8, 0, 7, 0, 1, 24, 0, 10, 2, 3];
    let ecs6 = [0, 8, 0, 10, 0, 2, 48, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 1];
    let cookie = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    let mut seeds = Vec::new();
    for n in [
        name(&[b"www", b"example", b"com"]),
        name(&[b"WwW", b"ExAmPlE", b"CoM"]),
        name(&[b"web", b"example", b"com"]),
        name(&[b"loop", b"example", b"com"]),
        name(&[b"w", b"example", b"com"]),
        name(&[b"nothing", b"here", b"example", b"com"]),
        name(&[b"example", b"com"]),
        name(&[b"example", b"org"]),
        name(&[]),
    ] {
        let q = query(0x1234, &n);
        seeds.push(q.clone());
        seeds.push(with_opt(q.clone(), &[]));
        seeds.push(with_opt(q.clone(), &ecs4));
        seeds.push(with_opt(q.clone(), &ecs6));
        seeds.push(with_opt(q.clone(), &[&cookie[..], &ecs4[..]].concat()));
        for qtype in [2u8, 6, 16, 28, 5] {
            let mut t = q.clone();
            let at = t.len() - 3;
            t[at] = qtype;
            seeds.push(t);
        }
    }
    // SplitMix64: a fixed sequence of mutations.
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let read = seeds
        .iter()
        .filter(|s| meridian_global::fuzzing::fast_path_reads(s))
        .count();
    assert_eq!(read, seeds.len(), "every seed has the fast path's shape");
    let mut n = 0;
    for seed in &seeds {
        meridian_global::fuzzing::dns_message(seed);
        for _ in 0..2_000 {
            let mut m = seed.clone();
            for _ in 0..=(next() % 3) {
                let at = (next() as usize) % m.len();
                match next() % 4 {
                    0 => m[at] = next() as u8,
                    1 => m[at] ^= 1 << (next() % 8),
                    2 => m.truncate(at.max(1)),
                    _ => m.insert(at, next() as u8),
                }
            }
            meridian_global::fuzzing::dns_message(&m);
            n += 1;
        }
    }
    assert!(n > 100_000);
}
