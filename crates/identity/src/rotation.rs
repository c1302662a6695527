//! Root rotation with an overlap: a new root signs from now on, the old one stays in the trust
//! bundle until the overlap ends, so leaves it signed keep working until they are renewed.
//!
//! Order of operations, chosen so that a crash at any point leaves a state that loads: the new
//! root is generated and self-checked in memory; `retired-roots.pem` (now listing the old root)
//! is written; `root-ca.pem` is replaced; then the in-memory bundle gains the new root *before*
//! the signer switches to it, so no peer in this process ever sees a leaf it cannot verify.
//! Finally every workload identity is told to renew from the new root.
//!
//! The retired-roots file is PEM with one comment line above each certificate:
//!
//! ```text
//! # trusted-until: 1777777777 2026-05-03T10:00:00Z
//! -----BEGIN CERTIFICATE-----
//! ```

use std::path::Path;
use std::sync::PoisonError;
use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use crate::bundle::TrustedRoot;
use crate::ca::{
    CaSource, CertificateAuthority, RETIRED_ROOTS_FILE, ROOT_CA_FILE, Signer, TRUST_BUNDLE_FILE,
    generate_root, root_file_pem, whole_seconds,
};
use crate::cert::{CertInfo, pem_encode, rfc3339};
use crate::error::CaFileProblem;
use crate::state::{self, Replace};
use crate::{Error, TrustBundle};

const UNTIL_PREFIX: &str = "# trusted-until:";

/// What a rotation did, for `meridian ca rotate` to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The root that signed until now.
    pub retired_root: CertInfo,
    /// When the retired root leaves the trust bundle.
    pub retired_root_trusted_until: SystemTime,
    /// The root that signs from now on.
    pub new_root: CertInfo,
}

impl CertificateAuthority {
    /// Replaces the root: new leaves come from a new root at once, and the old root stays
    /// trusted for `overlap` (at least the longest workload certificate lifetime, e.g.
    /// [`DEFAULT_ROOT_OVERLAP`](crate::DEFAULT_ROOT_OVERLAP)). Workload identities renew right
    /// away. Only a generated CA rotates; a plugged-in one is rotated by replacing its files.
    ///
    /// ```no_run
    /// # use meridian_identity::{CertificateAuthority, DEFAULT_ROOT_OVERLAP};
    /// # fn f(ca: &CertificateAuthority) -> Result<(), meridian_identity::Error> {
    /// let rotation = ca.rotate(DEFAULT_ROOT_OVERLAP)?;
    /// println!("old root trusted until {:?}", rotation.retired_root_trusted_until);
    /// # Ok(()) }
    /// ```
    pub fn rotate(&self, overlap: Duration) -> Result<Rotation, Error> {
        let dir = match &self.source {
            CaSource::Generated { dir } => dir.clone(),
            CaSource::Plugged { dir } => {
                return Err(Error::RotationUnsupported { dir: dir.clone() });
            }
        };
        let _one_at_a_time = self
            .rotation_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        // Whole seconds, as the retired-roots file keeps it, so a reload sees the same state.
        let until = whole_seconds(now.checked_add(overlap).ok_or(Error::InvalidLifetime {
            ttl: overlap,
            reason: "overlap ends beyond what the clock can represent",
        })?);
        let old = self.signer.load_full();
        let root_path = state::file(&dir, ROOT_CA_FILE);

        let (new_cert, new_key) = generate_root(&self.trust_domain)?;
        let root_pem = root_file_pem(&new_cert, &new_key);
        let mut retired: Vec<TrustedRoot> = self
            .bundle
            .roots()
            .into_iter()
            .filter(|r| r.trusted_until.is_some())
            .collect();
        retired.push(TrustedRoot {
            cert: old.cert.clone(),
            trusted_until: Some(until),
        });
        let mut roots = vec![TrustedRoot::current(new_cert.clone())];
        roots.extend(retired.iter().cloned());
        // Prove the new root before anything is written.
        let trial = TrustBundle::new(self.trust_domain.clone(), roots.clone())?;
        let signer = Signer::new(
            root_path.clone(),
            &root_path,
            new_cert.clone(),
            new_key,
            Vec::new(),
            &self.trust_domain,
            &trial,
        )?;

        state::write_atomic(
            &state::file(&dir, RETIRED_ROOTS_FILE),
            retired_file_text(&retired).as_bytes(),
            Replace::Overwrite,
        )?;
        state::write_atomic(&root_path, root_pem.as_bytes(), Replace::Overwrite)?;
        self.bundle.set_roots(roots)?;
        self.signer.store(std::sync::Arc::new(signer));
        state::write_atomic(
            &state::file(&dir, TRUST_BUNDLE_FILE),
            self.bundle.to_pem().as_bytes(),
            Replace::Overwrite,
        )?;
        self.rotations.send_modify(|generation| *generation += 1);

        let rotation = Rotation {
            retired_root: CertInfo::from_der(&old.cert)?,
            retired_root_trusted_until: until,
            new_root: CertInfo::from_der(&new_cert)?,
        };
        tracing::info!(
            retired_root = %rotation.retired_root.fingerprint_sha256,
            new_root = %rotation.new_root.fingerprint_sha256,
            retired_root_trusted_until = %rfc3339(until),
            "rotated the mesh root ca"
        );
        Ok(rotation)
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The retired-roots file for `roots` (each with `trusted_until` set).
fn retired_file_text(roots: &[TrustedRoot]) -> String {
    let mut text = String::from(
        "# Roots retired by `meridian ca rotate`. Each stays trusted until the time above it.\n",
    );
    for root in roots {
        let until = root.trusted_until.unwrap_or(SystemTime::UNIX_EPOCH);
        text.push_str(&format!(
            "{UNTIL_PREFIX} {} {}\n",
            unix_secs(until),
            rfc3339(until)
        ));
        text.push_str(&pem_encode("CERTIFICATE", &root.cert));
    }
    text
}

/// Reads the retired-roots file; every certificate must have a `trusted-until` line above it.
pub(crate) fn read_retired(path: &Path) -> Result<Vec<TrustedRoot>, Error> {
    let bytes = state::read_ca_file(path)?;
    parse_retired(&bytes).map_err(|problem| Error::CaFile {
        path: path.to_owned(),
        problem,
    })
}

fn parse_retired(bytes: &[u8]) -> Result<Vec<TrustedRoot>, CaFileProblem> {
    let text = std::str::from_utf8(bytes).map_err(|_| CaFileProblem::BadLine {
        line: 1,
        reason: "the file is not text",
    })?;
    let mut roots = Vec::new();
    let mut until: Option<SystemTime> = None;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end()));
    while let Some((number, line)) = lines.next() {
        if let Some(rest) = line.strip_prefix(UNTIL_PREFIX) {
            let secs = rest
                .split_whitespace()
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(CaFileProblem::BadLine {
                    line: number,
                    reason: "trusted-until needs seconds since the unix epoch",
                })?;
            until = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        } else if line == "-----BEGIN CERTIFICATE-----" {
            let mut block = String::from(line);
            block.push('\n');
            let mut ended = false;
            for (_, body) in lines.by_ref() {
                block.push_str(body);
                block.push('\n');
                if body == "-----END CERTIFICATE-----" {
                    ended = true;
                    break;
                }
            }
            if !ended {
                return Err(CaFileProblem::BadLine {
                    line: number,
                    reason: "certificate has no end line (file truncated?)",
                });
            }
            let cert = CertificateDer::from_pem_slice(block.as_bytes())
                .map_err(CaFileProblem::Pem)?
                .into_owned();
            let trusted_until = until.take().ok_or(CaFileProblem::BadLine {
                line: number,
                reason: "certificate without a trusted-until line above it",
            })?;
            roots.push(TrustedRoot {
                cert,
                trusted_until: Some(trusted_until),
            });
        } else if !(line.is_empty() || line.starts_with('#')) {
            return Err(CaFileProblem::BadLine {
                line: number,
                reason: "unexpected text outside a certificate",
            });
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .clone()
    }

    #[test]
    fn retired_file_round_trips() {
        let roots = vec![
            TrustedRoot {
                cert: cert(),
                trusted_until: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            },
            TrustedRoot {
                cert: cert(),
                trusted_until: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
            },
        ];
        let text = retired_file_text(&roots);
        assert!(text.contains("# trusted-until: 1800000000 2027-01-15T08:00:00Z\n"));
        assert_eq!(parse_retired(text.as_bytes()).unwrap(), roots);
    }

    #[test]
    fn truncated_retired_file_is_refused() {
        let roots = vec![TrustedRoot {
            cert: cert(),
            trusted_until: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        }];
        let text = retired_file_text(&roots);
        let cut = &text[..text.len() - 40];
        assert!(matches!(
            parse_retired(cut.as_bytes()),
            Err(CaFileProblem::BadLine { line: 3, .. })
        ));
        let no_until = text.replace("# trusted-until: 1800000000", "# nothing");
        assert!(matches!(
            parse_retired(no_until.as_bytes()),
            Err(CaFileProblem::BadLine { line: 3, .. })
        ));
        let bad_until = text.replace("1800000000", "soon");
        assert!(matches!(
            parse_retired(bad_until.as_bytes()),
            Err(CaFileProblem::BadLine { line: 2, .. })
        ));
    }
}
