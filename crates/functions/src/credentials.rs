//! The credentials an execution environment starts with. On Lambda each environment gets its
//! execution role's session in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN`; here whoever serves the AWS APIs the functions call (the storage
//! plane) issues them, scoped to the function's `Policies`, through a [`CredentialSource`]
//! the node gives the host. An environment is retired before its credentials expire, as
//! Lambda recycles environments.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use meridian_config::sam::FunctionSpec;

/// A session: what goes into an environment's variables.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
}

impl fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl SessionCredentials {
    /// The variables an environment gets.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
        ];
        if let Some(t) = &self.session_token {
            v.push(("AWS_SESSION_TOKEN", t.clone()));
        }
        v
    }
}

/// Issues the session of each new execution environment.
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// Credentials for a new environment of `function`.
    fn issue(&self, function: &FunctionSpec) -> SessionCredentials;

    /// How long issued credentials stay valid.
    fn lifetime(&self) -> Duration;
}

/// How an environment gets its session: the source and the function it runs.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub source: Arc<dyn CredentialSource>,
    pub function: Arc<FunctionSpec>,
}

impl Session {
    /// How long an environment may serve before it is retired: its credentials' lifetime
    /// less a margin for the invocation that may be running.
    pub(crate) fn max_age(&self) -> Duration {
        let life = self.source.lifetime();
        life.saturating_sub(Duration::from_secs(900).min(life / 10))
    }
}
