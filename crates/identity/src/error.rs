//! The crate's error type: what went wrong loading, issuing or configuring, with the file or
//! value at fault.

use std::path::PathBuf;
use std::time::Duration;

/// Errors from the certificate authority, workload identities and TLS configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string is not a valid SPIFFE ID.
    #[error("invalid spiffe id {value:?}: {reason}")]
    InvalidSpiffeId {
        /// The offending value.
        value: String,
        /// What rule it breaks.
        reason: &'static str,
    },

    /// A string is not a valid SPIFFE trust domain.
    #[error("invalid trust domain {value:?}: {reason}")]
    InvalidTrustDomain {
        /// The offending value.
        value: String,
        /// What rule it breaks.
        reason: &'static str,
    },

    /// A CA file is missing, unreadable, corrupted or inconsistent; nothing is issued from it.
    #[error("ca file {}: {problem}", path.display())]
    CaFile {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        problem: CaFileProblem,
    },

    /// The state directory cannot be created, read or secured.
    #[error("ca state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// Writing a CA file failed; the previous version of the file is left intact.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// Generating a key pair failed.
    #[error("generating a key pair: {0}")]
    KeyGeneration(#[source] rcgen::Error),

    /// Building or signing a certificate failed.
    #[error("signing a certificate for {subject}: {source}")]
    Signing {
        /// What was being signed (a SPIFFE ID or "root ca").
        subject: String,
        /// The underlying error.
        source: rcgen::Error,
    },

    /// A SPIFFE ID from another trust domain was asked of this CA.
    #[error("spiffe id {id} is not in this ca's trust domain {trust_domain}")]
    ForeignTrustDomain {
        /// The requested identity.
        id: String,
        /// The CA's trust domain.
        trust_domain: String,
    },

    /// A certificate lifetime is unusable.
    #[error("invalid certificate lifetime {ttl:?}: {reason}")]
    InvalidLifetime {
        /// The requested lifetime.
        ttl: Duration,
        /// Why it cannot be used.
        reason: &'static str,
    },

    /// A validity window ends before it starts.
    #[error("invalid validity window: not-after is not later than not-before")]
    InvalidValidity,

    /// Root rotation was asked of a CA whose keys the user manages.
    #[error(
        "the ca uses plugged-in certificates from {}; rotate by replacing those files",
        dir.display()
    )]
    RotationUnsupported {
        /// The directory holding the user's CA files.
        dir: PathBuf,
    },

    /// A background renewal task needs a Tokio runtime and none is running.
    #[error("workload identities renew in the background and need a running tokio runtime")]
    NoRuntime,

    /// rustls refused a configuration or key.
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),

    /// A certificate could not be parsed (for inspection or identity extraction).
    #[error("certificate cannot be parsed: {reason}")]
    BadCertificate {
        /// What the parser reported.
        reason: String,
    },

    /// PEM text holds no certificate.
    #[error("no pem certificate found")]
    NoCertificate,
}

/// What is wrong with a CA file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaFileProblem {
    /// The file does not exist although the CA needs it.
    #[error("file is missing")]
    Missing,
    /// The file exists but cannot be read.
    #[error("cannot be read: {0}")]
    Unreadable(#[source] std::io::Error),
    /// The PEM structure is broken (truncated, bad base64, stray section start).
    #[error("corrupted pem: {0}")]
    Pem(#[source] rustls_pki_types::pem::Error),
    /// No certificate section where one is required.
    #[error("no certificate in the file")]
    NoCertificate,
    /// More than one certificate where exactly one is expected.
    #[error("{count} certificates where exactly one is expected")]
    TooManyCertificates {
        /// How many were found.
        count: usize,
    },
    /// No private key section where one is required.
    #[error("no private key in the file")]
    NoPrivateKey,
    /// More than one private key.
    #[error("more than one private key in the file")]
    TooManyKeys,
    /// A private key section is present but does not decode as a key.
    #[error("private key cannot be used: {0}")]
    BadKey(#[source] rcgen::Error),
    /// A certificate section is present but does not decode as X.509.
    #[error("certificate cannot be parsed: {reason}")]
    BadCertificate {
        /// What the parser reported.
        reason: String,
    },
    /// The certificate is not a CA certificate (basicConstraints CA:FALSE or missing).
    #[error("certificate is not a ca certificate")]
    NotACa,
    /// The private key does not belong to the certificate.
    #[error("private key does not match the certificate in {}", cert.display())]
    KeyMismatch {
        /// The certificate the key should belong to.
        cert: PathBuf,
    },
    /// The CA certificate's validity has ended.
    #[error("ca certificate expired at {not_after}")]
    Expired {
        /// Its notAfter, RFC 3339.
        not_after: String,
    },
    /// The CA certificate is not valid yet.
    #[error("ca certificate is not valid before {not_before}")]
    NotYetValid {
        /// Its notBefore, RFC 3339.
        not_before: String,
    },
    /// A certificate in the chain is not signed by the next one, or the chain does not end at
    /// a root in `root-cert.pem`.
    #[error("certificate chain does not lead to a trusted root: {reason}")]
    BrokenChain {
        /// Which link failed.
        reason: String,
    },
    /// A line of the retired-roots file is not understood.
    #[error("line {line}: {reason}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}
