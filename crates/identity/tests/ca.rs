//! The CA on disk: first start, reload, permissions, corrupted files, Istio-style plugged-in
//! CA files, rotation across restarts, and what issued certificates contain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use meridian_identity::{
    CaFileProblem, CaSource, CertInfo, CertificateAuthority, DEFAULT_WORKLOAD_TTL, Error,
    ExpectedPeer, SpiffeServerVerifier, TrustDomain, fingerprint_sha256,
};
use test_case::test_case;
use x509_parser::prelude::{FromDer as _, X509Certificate};

fn td() -> TrustDomain {
    TrustDomain::new("cluster.local").unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn state_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state").join("ca");
    (tmp, dir)
}

#[test]
fn first_start_creates_an_owner_only_root_and_later_starts_reload_it() {
    let (_tmp, dir) = state_dir();
    let ca = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    assert_eq!(ca.source(), &CaSource::Generated { dir: dir.clone() });
    assert_eq!(mode(&dir), 0o700);
    for file in ["root-ca.pem", "trust-bundle.pem"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let root = CertInfo::from_der(&ca.signing_cert()).unwrap();
    assert!(root.is_ca);
    assert!(
        root.subject.contains("Meridian Root CA"),
        "{}",
        root.subject
    );
    assert!(root.subject.contains("O=cluster.local"), "{}", root.subject);

    let again = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    assert_eq!(again.signing_cert(), ca.signing_cert());
    // The bundle file is what openssl -CAfile reads.
    let bundle =
        CertInfo::from_pem(&fs::read_to_string(dir.join("trust-bundle.pem")).unwrap()).unwrap();
    assert_eq!(bundle.len(), 1);
    assert_eq!(bundle[0].fingerprint_sha256, root.fingerprint_sha256);
}

#[test]
fn loosened_permissions_are_tightened_at_load() {
    let (_tmp, dir) = state_dir();
    CertificateAuthority::load_or_create(&dir, td()).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir.join("root-ca.pem"), fs::Permissions::from_mode(0o644)).unwrap();
    CertificateAuthority::load_or_create(&dir, td()).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("root-ca.pem")), 0o600);
}

/// Ways a root file can be damaged; each must be refused naming the file.
enum Damage {
    TruncateTo(f64),
    Empty,
    Garbage,
    FlipKeyByte,
    SwapKey,
    DropCertificate,
}

#[test_case(Damage::TruncateTo(0.5) ; "cut in the certificate")]
#[test_case(Damage::TruncateTo(0.9) ; "cut in the key")]
#[test_case(Damage::Empty ; "empty")]
#[test_case(Damage::Garbage ; "garbage")]
#[test_case(Damage::FlipKeyByte ; "flipped key byte")]
#[test_case(Damage::SwapKey ; "key of another root")]
#[test_case(Damage::DropCertificate ; "key without certificate")]
fn damaged_root_file_is_refused(damage: Damage) {
    let (_tmp, dir) = state_dir();
    CertificateAuthority::load_or_create(&dir, td()).unwrap();
    let path = dir.join("root-ca.pem");
    let pem = fs::read_to_string(&path).unwrap();
    let key_start = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
    let damaged = match damage {
        Damage::TruncateTo(fraction) => pem[..(pem.len() as f64 * fraction) as usize].to_owned(),
        Damage::Empty => String::new(),
        Damage::Garbage => "this is not a certificate authority\n".to_owned(),
        Damage::FlipKeyByte => {
            let mut bytes = pem.clone().into_bytes();
            // A base64 character in the middle of the key's body.
            let at = key_start + 28 + 60;
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        }
        Damage::SwapKey => {
            let (_other_tmp, other_dir) = state_dir();
            CertificateAuthority::load_or_create(&other_dir, td()).unwrap();
            let other = fs::read_to_string(other_dir.join("root-ca.pem")).unwrap();
            let other_key = &other[other.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
            format!("{}{}", &pem[..key_start], other_key)
        }
        Damage::DropCertificate => pem[key_start..].to_owned(),
    };
    fs::write(&path, damaged).unwrap();

    let err = CertificateAuthority::load_or_create(&dir, td()).unwrap_err();
    let message = err.to_string();
    match err {
        Error::CaFile { path: at, problem } => {
            assert_eq!(at, path, "{message}");
            assert!(
                matches!(
                    problem,
                    CaFileProblem::Pem(_)
                        | CaFileProblem::NoCertificate
                        | CaFileProblem::NoPrivateKey
                        | CaFileProblem::BadKey(_)
                        | CaFileProblem::KeyMismatch { .. }
                ),
                "{message}"
            );
        }
        other => panic!("expected a ca file error, got {other}"),
    }
    assert!(message.contains("root-ca.pem"), "{message}");
    // Nothing was written over the damaged file: the user can still inspect or restore it.
    assert!(path.exists());
}

#[test]
fn half_written_key_messages_name_file_and_reason() {
    let (_tmp, dir) = state_dir();
    CertificateAuthority::load_or_create(&dir, td()).unwrap();
    let path = dir.join("root-ca.pem");
    let pem = fs::read_to_string(&path).unwrap();
    let key_end = pem.find("-----END PRIVATE KEY-----").unwrap();
    fs::write(&path, &pem[..key_end]).unwrap();
    let message = CertificateAuthority::load_or_create(&dir, td())
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(&format!("ca file {}: corrupted pem:", path.display())),
        "{message}"
    );
    assert!(message.contains("missing section end marker"), "{message}");
}

#[test]
fn rotation_survives_a_restart() {
    let (_tmp, dir) = state_dir();
    let ca = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    let old = ca.signing_cert();
    let rotation = ca.rotate(Duration::from_secs(3600)).unwrap();
    assert_eq!(mode(&dir.join("retired-roots.pem")), 0o600);

    let reloaded = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    assert_eq!(reloaded.signing_cert(), ca.signing_cert());
    assert_ne!(reloaded.signing_cert(), old);
    let roots = reloaded.root_infos().unwrap();
    assert_eq!(roots.len(), 2);
    assert_eq!(
        roots[0].0.fingerprint_sha256,
        rotation.new_root.fingerprint_sha256
    );
    assert_eq!(roots[0].1, None);
    assert_eq!(roots[1].0.fingerprint_sha256, fingerprint_sha256(&old));
    assert_eq!(roots[1].1, Some(rotation.retired_root_trusted_until));
    assert!(
        !ca.reload().unwrap(),
        "the rotating process already has what is on disk"
    );
    let bundle = fs::read_to_string(dir.join("trust-bundle.pem")).unwrap();
    assert_eq!(CertInfo::from_pem(&bundle).unwrap().len(), 2);
}

#[test]
fn a_second_rotation_keeps_every_root_still_in_its_overlap() {
    let (_tmp, dir) = state_dir();
    let ca = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    ca.rotate(Duration::from_secs(3600)).unwrap();
    ca.rotate(Duration::from_secs(3600)).unwrap();
    assert_eq!(ca.trust_bundle().roots().len(), 3);
    let reloaded = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    assert_eq!(reloaded.trust_bundle().roots().len(), 3);
}

#[test]
fn workload_certificates_carry_exactly_one_spiffe_uri_and_are_short_lived() {
    let (_tmp, dir) = state_dir();
    let ca = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    let id = ca
        .trust_domain()
        .workload_id("bookinfo", "reviews")
        .unwrap();
    let cert = ca.issue(&id, DEFAULT_WORKLOAD_TTL).unwrap();
    assert_eq!(cert.id(), &id);
    assert_eq!(cert.chain().len(), 1);

    let info = cert.info().unwrap();
    assert_eq!(
        info.sans,
        vec!["URI:spiffe://cluster.local/ns/bookinfo/sa/reviews".to_owned()]
    );
    assert_eq!(info.spiffe_id(), Some(id.clone()));
    assert_eq!(info.subject, "");
    assert!(!info.is_ca);
    assert_eq!(info.fingerprint_sha256, fingerprint_sha256(cert.leaf()));
    assert_eq!(
        info.issuer,
        CertInfo::from_der(&ca.signing_cert()).unwrap().subject
    );
    // 24 h plus the minute of back-dating for clock skew.
    assert_eq!(
        info.not_after.duration_since(info.not_before).unwrap(),
        DEFAULT_WORKLOAD_TTL + Duration::from_secs(60)
    );
    assert_eq!(info.not_after, cert.not_after());
    let rows = info.rows();
    assert_eq!(rows[0], ("subject", "-".to_owned()));
    assert!(rows.iter().any(|(label, _)| *label == "sha256 fingerprint"));

    // ECDSA P-256, a critical SAN extension (empty subject), not a CA, both TLS usages.
    let (_, x509) = X509Certificate::from_der(cert.leaf()).unwrap();
    let spki = x509.public_key();
    assert_eq!(spki.algorithm.algorithm.to_id_string(), "1.2.840.10045.2.1");
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .unwrap()
        .as_oid()
        .unwrap();
    assert_eq!(curve.to_id_string(), "1.2.840.10045.3.1.7");
    assert!(x509.subject_alternative_name().unwrap().unwrap().critical);
    assert!(!x509.is_ca());
    let eku = x509.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert!(cert.key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(CertInfo::from_pem(&cert.chain_pem()).unwrap()[0], info);
    // The key never shows in debug output.
    assert!(!format!("{cert:?}").contains("PRIVATE"));
}

#[test]
fn configurable_lifetime_and_refused_requests() {
    let (_tmp, dir) = state_dir();
    let ca = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    let id = ca.trust_domain().workload_id("a", "b").unwrap();
    let hour = ca.issue(&id, Duration::from_secs(3600)).unwrap();
    assert_eq!(
        hour.not_after().duration_since(hour.not_before()).unwrap(),
        Duration::from_secs(3600 + 60)
    );
    assert!(matches!(
        ca.issue(&id, Duration::ZERO),
        Err(Error::InvalidLifetime { .. })
    ));
    let foreign = TrustDomain::new("elsewhere")
        .unwrap()
        .workload_id("a", "b")
        .unwrap();
    assert_eq!(
        ca.issue(&foreign, Duration::from_secs(60))
            .unwrap_err()
            .to_string(),
        "spiffe id spiffe://elsewhere/ns/a/sa/b is not in this ca's trust domain cluster.local"
    );
    let now = SystemTime::now();
    assert!(matches!(
        ca.issue_with_validity(&id, now, now),
        Err(Error::InvalidValidity)
    ));
}

/// Istio's `cacerts` files made with rcgen: a root and an intermediate it signed.
struct Cacerts {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn ca_params(cn: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params
}

fn cacerts() -> Cacerts {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cacerts");
    fs::create_dir(&dir).unwrap();
    let root_key = rcgen::KeyPair::generate().unwrap();
    let root_params = ca_params("Corp Root CA");
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = rcgen::Issuer::new(root_params, root_key);
    let int_key = rcgen::KeyPair::generate().unwrap();
    let int = ca_params("Corp Mesh Intermediate")
        .signed_by(&int_key, &root_issuer)
        .unwrap();
    fs::write(dir.join("root-cert.pem"), root.pem()).unwrap();
    fs::write(dir.join("ca-cert.pem"), int.pem()).unwrap();
    fs::write(dir.join("ca-key.pem"), int_key.serialize_pem()).unwrap();
    fs::write(
        dir.join("cert-chain.pem"),
        format!("{}{}", int.pem(), root.pem()),
    )
    .unwrap();
    Cacerts { _tmp: tmp, dir }
}

#[test]
fn plugged_in_istio_ca_signs_as_an_intermediate() {
    let cacerts = cacerts();
    // Found in the state directory by load_or_create, as `istioctl` users lay them out.
    let ca = CertificateAuthority::load_or_create(&cacerts.dir, td()).unwrap();
    assert_eq!(
        ca.source(),
        &CaSource::Plugged {
            dir: cacerts.dir.clone()
        }
    );
    assert!(!cacerts.dir.join("root-ca.pem").exists());
    let id = ca.trust_domain().workload_id("default", "reviews").unwrap();
    let cert = ca.issue(&id, Duration::from_secs(3600)).unwrap();
    // Leaf, then the intermediate; never the root.
    assert_eq!(cert.chain().len(), 2);
    assert_eq!(
        CertInfo::from_der(&cert.chain()[1]).unwrap().subject,
        "CN=Corp Mesh Intermediate"
    );
    let roots = ca.root_infos().unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].0.subject, "CN=Corp Root CA");
    let verified = SpiffeServerVerifier::new(ca.trust_bundle(), ExpectedPeer::Exactly(id.clone()))
        .verify(cert.chain(), SystemTime::now())
        .unwrap();
    assert_eq!(verified, id);
    assert!(matches!(
        ca.rotate(Duration::from_secs(60)),
        Err(Error::RotationUnsupported { .. })
    ));
    // Without cert-chain.pem the intermediate is still sent.
    fs::remove_file(cacerts.dir.join("cert-chain.pem")).unwrap();
    let ca = CertificateAuthority::load_plugged(&cacerts.dir, td()).unwrap();
    assert_eq!(
        ca.issue(&id, Duration::from_secs(60))
            .unwrap()
            .chain()
            .len(),
        2
    );
}

#[test]
fn plugged_in_files_that_do_not_fit_are_refused_by_name() {
    let refused = |cacerts: &Cacerts| {
        let err = CertificateAuthority::load_plugged(&cacerts.dir, td()).unwrap_err();
        let message = err.to_string();
        match err {
            Error::CaFile { path, problem } => (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                problem,
                message,
            ),
            other => panic!("expected a ca file error, got {other}"),
        }
    };

    // The root's key instead of the intermediate's.
    let c = cacerts();
    let other_key = rcgen::KeyPair::generate().unwrap();
    fs::write(c.dir.join("ca-key.pem"), other_key.serialize_pem()).unwrap();
    let (file, problem, message) = refused(&c);
    assert_eq!(file, "ca-key.pem", "{message}");
    assert!(
        matches!(problem, CaFileProblem::KeyMismatch { .. }),
        "{message}"
    );

    // A root-cert.pem that did not sign ca-cert.pem.
    let c = cacerts();
    let stranger = cacerts();
    fs::copy(
        stranger.dir.join("root-cert.pem"),
        c.dir.join("root-cert.pem"),
    )
    .unwrap();
    fs::remove_file(c.dir.join("cert-chain.pem")).unwrap();
    let (file, problem, message) = refused(&c);
    assert_eq!(file, "ca-cert.pem", "{message}");
    assert!(
        matches!(problem, CaFileProblem::BrokenChain { .. }),
        "{message}"
    );

    // A missing root.
    let c = cacerts();
    fs::remove_file(c.dir.join("root-cert.pem")).unwrap();
    let (file, problem, message) = refused(&c);
    assert_eq!(file, "root-cert.pem", "{message}");
    assert!(matches!(problem, CaFileProblem::Missing), "{message}");

    // A leaf where the signing CA should be.
    let c = cacerts();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["not-a-ca".to_owned()])
        .unwrap()
        .self_signed(&leaf_key)
        .unwrap();
    fs::write(c.dir.join("ca-cert.pem"), leaf.pem()).unwrap();
    fs::write(c.dir.join("ca-key.pem"), leaf_key.serialize_pem()).unwrap();
    let (file, problem, message) = refused(&c);
    assert_eq!(file, "ca-cert.pem", "{message}");
    assert!(matches!(problem, CaFileProblem::NotACa), "{message}");

    // A truncated key.
    let c = cacerts();
    let key = fs::read_to_string(c.dir.join("ca-key.pem")).unwrap();
    fs::write(c.dir.join("ca-key.pem"), &key[..key.len() / 2]).unwrap();
    let (file, problem, message) = refused(&c);
    assert_eq!(file, "ca-key.pem", "{message}");
    assert!(matches!(problem, CaFileProblem::Pem(_)), "{message}");
}

#[tokio::test]
async fn reload_picks_up_a_rotation_made_by_another_process() {
    let (_tmp, dir) = state_dir();
    let running = std::sync::Arc::new(CertificateAuthority::load_or_create(&dir, td()).unwrap());
    let workload = meridian_identity::WorkloadIdentity::start(
        std::sync::Arc::clone(&running),
        running
            .trust_domain()
            .workload_id("default", "reviews")
            .unwrap(),
        DEFAULT_WORKLOAD_TTL,
    )
    .unwrap();
    let mut renewals = workload.subscribe();

    // `meridian ca rotate` in another process.
    let cli = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    let rotation = cli.rotate(Duration::from_secs(3600)).unwrap();

    assert!(running.reload().unwrap());
    assert_eq!(running.signing_cert(), cli.signing_cert());
    assert_eq!(running.trust_bundle().roots().len(), 2);
    tokio::time::timeout(Duration::from_secs(15), renewals.changed())
        .await
        .expect("the workload renews after a reload")
        .unwrap();
    let leaf = CertInfo::from_der(workload.certificate().leaf()).unwrap();
    assert_eq!(leaf.issuer, rotation.new_root.subject);
    assert!(!running.reload().unwrap(), "nothing changed since");
}

#[test]
fn reload_refuses_damaged_files_and_keeps_signing() {
    let (_tmp, dir) = state_dir();
    let ca = CertificateAuthority::load_or_create(&dir, td()).unwrap();
    let root = ca.signing_cert();
    let path = dir.join("root-ca.pem");
    let pem = fs::read_to_string(&path).unwrap();
    fs::write(&path, &pem[..pem.len() - 30]).unwrap();
    match ca.reload() {
        Err(Error::CaFile { path: at, .. }) => assert_eq!(at, path),
        other => panic!("expected the damaged file to be refused, got {other:?}"),
    }
    let id = ca.trust_domain().workload_id("a", "b").unwrap();
    let leaf = ca.issue(&id, Duration::from_secs(60)).unwrap();
    assert_eq!(
        leaf.info().unwrap().issuer,
        CertInfo::from_der(&root).unwrap().subject
    );
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        ca.reload(),
        Err(Error::CaFile {
            problem: CaFileProblem::Missing,
            ..
        })
    ));
}

#[test]
fn reload_switches_to_replaced_plugged_in_files() {
    let c = cacerts();
    let ca = CertificateAuthority::load_plugged(&c.dir, td()).unwrap();
    assert!(!ca.reload().unwrap());
    let replacement = cacerts();
    for file in [
        "ca-cert.pem",
        "ca-key.pem",
        "root-cert.pem",
        "cert-chain.pem",
    ] {
        fs::copy(replacement.dir.join(file), c.dir.join(file)).unwrap();
    }
    assert!(ca.reload().unwrap());
    let id = ca.trust_domain().workload_id("a", "b").unwrap();
    let chain = ca
        .issue(&id, Duration::from_secs(60))
        .unwrap()
        .chain()
        .to_vec();
    let new_intermediate = fs::read_to_string(replacement.dir.join("ca-cert.pem")).unwrap();
    assert_eq!(
        CertInfo::from_der(&chain[1]).unwrap(),
        CertInfo::from_pem(&new_intermediate).unwrap()[0]
    );
}
