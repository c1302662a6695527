//! `meridian ca root|inspect|rotate`: the mesh certificate authority, and the flags with
//! which `meridian up` runs it (`--trust-domain`, `--workload-cert-ttl`, `--ca-dir`).
//!
//! `root` and `inspect` ask the running node (its admin API); `root` falls back to the CA
//! files when no node runs. `rotate` works on the CA files themselves, then asks the running
//! node to reload them (`SIGHUP` does the same), so both roots are trusted during the overlap
//! and every workload certificate is renewed from the new root at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use meridian_identity::{
    CertInfo, CertificateAuthority, DEFAULT_ROOT_OVERLAP, TrustDomain, rfc3339,
};
use serde::Serialize;

use crate::client::Target;
use crate::output::{OutputFormat, print_structured};

/// The mesh CA flags of `meridian up` (and of `meridian ca rotate`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MeshCaArgs {
    /// SPIFFE trust domain of workload identities (`spiffe://<domain>/ns/<ns>/sa/<sa>`).
    #[arg(
        long,
        value_name = "DOMAIN",
        default_value = "cluster.local",
        env = "MERIDIAN_TRUST_DOMAIN"
    )]
    pub(crate) trust_domain: String,
    /// Lifetime of workload certificates (renewed at about half of it): `24h`, `90m`, `10s`.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub(crate) workload_cert_ttl: Duration,
    /// The CA's folder: a root Meridian generates on first start, or Istio's plugged-in
    /// `ca-cert.pem`, `ca-key.pem`, `root-cert.pem`, `cert-chain.pem` (default:
    /// `<state-dir>/ca`).
    #[arg(long, value_name = "DIR", env = "MERIDIAN_CA_DIR")]
    pub(crate) ca_dir: Option<PathBuf>,
}

impl MeshCaArgs {
    /// The CA folder for a state folder.
    pub(crate) fn dir(&self, state_dir: &Path) -> PathBuf {
        self.ca_dir.clone().unwrap_or_else(|| state_dir.join("ca"))
    }

    /// Loads (or on first start creates) the CA; a corrupted file is refused by name.
    pub(crate) fn load(&self, state_dir: &Path) -> anyhow::Result<Arc<CertificateAuthority>> {
        let td = TrustDomain::new(self.trust_domain.clone())?;
        let dir = self.dir(state_dir);
        let ca = CertificateAuthority::load_or_create(&dir, td).with_context(|| {
            format!(
                "the mesh certificate authority in {} cannot be used; fix or remove the file named above (a new root is generated when the folder is empty)",
                dir.display()
            )
        })?;
        Ok(Arc::new(ca))
    }
}

/// A certificate lifetime: a duration of at least one second.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = super::duration::parse(text)?;
    if d < Duration::from_secs(1) {
        return Err(format!("\"{text}\" is shorter than one second"));
    }
    Ok(d)
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the roots the mesh trusts now (PEM with `-o table`, for `openssl -CAfile`).
    Root {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        ca: MeshCaArgs,
    },
    /// Show a workload's current certificate: SPIFFE ID, validity, issuer, fingerprint.
    Inspect {
        /// The workload: `name`, `deployment/name` or `namespace/name`.
        workload: String,
        #[command(flatten)]
        target: Target,
    },
    /// Replace the root: new certificates come from a new root at once; the old root stays
    /// trusted for the overlap. The running node reloads (as on SIGHUP).
    Rotate {
        /// How long the retired root stays trusted: at least the workload certificate
        /// lifetime.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        overlap: Option<Duration>,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        ca: MeshCaArgs,
    },
}

/// A certificate as printed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CertView {
    subject: String,
    issuer: String,
    serial: String,
    not_before: String,
    not_after: String,
    sans: Vec<String>,
    is_ca: bool,
    fingerprint_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted_until: Option<String>,
}

impl CertView {
    pub(crate) fn new(info: &CertInfo, trusted_until: Option<SystemTime>) -> CertView {
        CertView {
            subject: info.subject.clone(),
            issuer: info.issuer.clone(),
            serial: info.serial.clone(),
            not_before: rfc3339(info.not_before),
            not_after: rfc3339(info.not_after),
            sans: info.sans.clone(),
            is_ca: info.is_ca,
            fingerprint_sha256: info.fingerprint_sha256.clone(),
            trusted_until: trusted_until.map(rfc3339),
        }
    }
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match &args.command {
        Command::Root { target, ca } => root(target, ca, format),
        Command::Inspect { workload, target } => {
            let v = target.call(&meridian_admin::AdminRequest::CaWorkload {
                workload: workload.clone(),
            })?;
            if format == OutputFormat::Table {
                let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_owned();
                println!("workload      {}", s("workload"));
                println!("identity      {}", s("identity"));
                if let Some(c) = v.get("certificate") {
                    let f = |k: &str| c.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_owned();
                    println!("issuer        {}", f("issuer"));
                    println!("serial        {}", f("serial"));
                    println!("not before    {}", f("notBefore"));
                    println!("not after     {}", f("notAfter"));
                    println!("sha256        {}", f("fingerprintSha256"));
                }
                println!(
                    "renews        at about half its lifetime ({})",
                    s("workloadCertTtl")
                );
                print!("{}", s("chainPem"));
            } else {
                print_structured(format, &v)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rotate {
            overlap,
            target,
            ca,
        } => {
            let authority = ca.load(&target.state_dir)?;
            let rotation = authority.rotate(overlap.unwrap_or(DEFAULT_ROOT_OVERLAP))?;
            let reloaded = target.call(&meridian_admin::AdminRequest::CaReload);
            let view = serde_json::json!({
                "retiredRoot": CertView::new(&rotation.retired_root, Some(rotation.retired_root_trusted_until)),
                "newRoot": CertView::new(&rotation.new_root, None),
                "runningNodeReloaded": reloaded.is_ok(),
            });
            if format == OutputFormat::Table {
                println!(
                    "new root      {} ({})",
                    rotation.new_root.subject, rotation.new_root.fingerprint_sha256
                );
                println!(
                    "retired root  {} trusted until {}",
                    rotation.retired_root.subject,
                    rfc3339(rotation.retired_root_trusted_until)
                );
                match reloaded {
                    Ok(_) => println!(
                        "the running node reloaded; workload certificates renew from the new root now"
                    ),
                    Err(e) => println!(
                        "no running node reloaded ({e}); `meridian up` picks the new root when it starts, or send it SIGHUP"
                    ),
                }
            } else {
                print_structured(format, &view)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn root(target: &Target, ca: &MeshCaArgs, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let v = match target.call(&meridian_admin::AdminRequest::CaRoots) {
        Ok(v) => v,
        Err(_) => {
            // No node running: read the files (never creating a CA here).
            let dir = ca.dir(&target.state_dir);
            let file = ["trust-bundle.pem", "root-cert.pem"]
                .iter()
                .map(|f| dir.join(f))
                .find(|p| p.exists())
                .with_context(|| {
                    format!(
                        "no mesh CA in {}; `meridian up` creates one on its first start",
                        dir.display()
                    )
                })?;
            let pem = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let roots: Vec<CertView> = <rustls_pki_types::CertificateDer<'_> as rustls_pki_types::pem::PemObject>::pem_slice_iter(pem.as_bytes())
                .filter_map(Result::ok)
                .filter_map(|der| CertInfo::from_der(&der).ok())
                .map(|info| CertView::new(&info, None))
                .collect();
            serde_json::json!({ "roots": roots, "pem": pem })
        }
    };
    if format == OutputFormat::Table {
        if let Some(roots) = v.get("roots").and_then(|r| r.as_array()) {
            for r in roots {
                let f = |k: &str| r.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_owned();
                let until = r
                    .get("trustedUntil")
                    .and_then(|x| x.as_str())
                    .map(|u| format!(", retired: trusted until {u}"))
                    .unwrap_or_default();
                eprintln!(
                    "# {} (sha256 {}), valid until {}{until}",
                    f("subject"),
                    f("fingerprintSha256"),
                    f("notAfter")
                );
            }
        }
        print!(
            "{}",
            v.get("pem").and_then(|p| p.as_str()).unwrap_or_default()
        );
    } else {
        print_structured(format, &v)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_lifetimes() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("500ms").is_err());
        assert!(parse_duration("1y").is_err());
    }

    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("1e400").is_err());
    }
}
