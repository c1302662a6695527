//! The admin token: 32 random bytes, hex, in `<state>/admin.token` (mode 0600), made when a
//! node first starts and kept across restarts. The CLI reads it from the same folder;
//! `MERIDIAN_ADMIN_TOKEN` overrides it for a node elsewhere.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The file name in the state folder.
pub const FILE: &str = "admin.token";

/// The environment variable that overrides the file for clients.
pub const ENV: &str = "MERIDIAN_ADMIN_TOKEN";

/// A node's admin token.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// Why a token could not be read or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The token file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file holds no token.
    #[error("{path} holds no admin token (64 hex digits); remove it and restart `meridian up`")]
    Malformed {
        /// The token file.
        path: PathBuf,
    },
}

impl AdminToken {
    /// The node's token: read from the state folder, or made there (readable by the user
    /// only) when missing.
    pub fn load_or_create(state_dir: &Path) -> Result<AdminToken, TokenError> {
        let path = state_dir.join(FILE);
        match Self::read_file(&path) {
            Ok(t) => return Ok(t),
            Err(TokenError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(e) => return Err(e),
        }
        let bytes: [u8; 32] = rand::random();
        let token = AdminToken(hex(&bytes));
        let io = |source| TokenError::Io {
            path: path.clone(),
            source,
        };
        let tmp = state_dir.join(format!("{FILE}.tmp"));
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?;
            f.write_all(token.0.as_bytes()).map_err(io)?;
            f.write_all(b"\n").map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(token)
    }

    /// The token a client uses: `MERIDIAN_ADMIN_TOKEN`, else the state folder's file.
    pub fn for_client(state_dir: &Path) -> Result<AdminToken, TokenError> {
        if let Ok(t) = std::env::var(ENV)
            && let Some(token) = Self::parse(&t)
        {
            return Ok(token);
        }
        Self::read_file(&state_dir.join(FILE))
    }

    fn read_file(path: &Path) -> Result<AdminToken, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).ok_or_else(|| TokenError::Malformed {
            path: path.to_path_buf(),
        })
    }

    fn parse(text: &str) -> Option<AdminToken> {
        let t = text.trim();
        (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| AdminToken(t.to_ascii_lowercase()))
    }

    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether an `Authorization` header value carries this token (compared in constant
    /// time).
    pub fn accepts(&self, authorization: &[u8]) -> bool {
        use subtle::ConstantTimeEq as _;
        let Some(given) = authorization.strip_prefix(b"Bearer ") else {
            return false;
        };
        let given = given.trim_ascii();
        given.len() == self.0.len() && bool::from(given.ct_eq(self.0.as_bytes()))
    }

    /// A token from known text (tests, fuzzing).
    pub fn from_hex(text: &str) -> Option<AdminToken> {
        Self::parse(text)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_readable_by_the_user_only_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = AdminToken::load_or_create(dir.path()).expect("token");
        let b = AdminToken::load_or_create(dir.path()).expect("token");
        assert_eq!(a, b, "the token survives a restart");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(FILE))
                .expect("meta")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert!(a.accepts(a.bearer().as_bytes()));
        assert!(!a.accepts(b"Bearer 0000"));
        assert!(!a.accepts(a.bearer().trim_start_matches("Bearer ").as_bytes()));
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_new_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), "not a token").expect("write");
        let err = AdminToken::load_or_create(dir.path()).expect_err("refused");
        assert!(err.to_string().contains("holds no admin token"), "{err}");
    }
}
