//! Access keys: the long-term keys kept in the state directory (`storage/keys.json`, mode
//! 0600, created with one random key on first start), keys given by flag or file, and
//! short-lived session credentials issued to functions with a policy that scopes them.
//!
//! Every key belongs to an [`Account`]. A node has one, Meridian's own ([`Account::local`]),
//! which holds the key file's keys and every session; `meridian-buckets` can declare others
//! (`--account ID:DISPLAY_NAME`, `--key ACCESS:SECRET@ID`), so the S3 plane sees what AWS
//! accounts see of each other: buckets owned by their creator, refused to other accounts
//! unless a bucket policy lets them in. The tables plane serves every key the same tables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// Why the key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not the expected JSON.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One allow or deny statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Allow (`true`) or Deny.
    pub allow: bool,
    /// Action patterns (`dynamodb:GetItem`, `dynamodb:*`).
    pub actions: Vec<String>,
    /// `NotAction`: the statement covers every action but those listed.
    #[serde(default)]
    pub not_actions: bool,
    /// Resource ARN patterns (`*` and `?` wildcards).
    pub resources: Vec<String>,
    /// `NotResource`: the statement covers every resource but those listed.
    #[serde(default)]
    pub not_resources: bool,
}

impl Statement {
    /// An Allow of `actions` on `resources`.
    pub fn allow(actions: &[&str], resources: &[&str]) -> Self {
        Self {
            allow: true,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            not_actions: false,
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
            not_resources: false,
        }
    }

    /// Whether the statement covers `action` on `resource`: action names are
    /// case-insensitive, resource ARNs case-sensitive, as in IAM.
    fn covers(&self, action: &str, resource: &str) -> bool {
        let action = action.to_ascii_lowercase();
        let named = self
            .actions
            .iter()
            .any(|a| wildcard_match(&a.to_ascii_lowercase(), &action));
        let on = self.resources.iter().any(|r| wildcard_match(r, resource));
        named != self.not_actions && on != self.not_resources
    }
}

/// An IAM-style identity policy: denied unless a statement allows and none denies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Policy {
    /// The statements.
    pub statements: Vec<Statement>,
}

/// The outcome of a policy check; the two denials read differently in AccessDenied messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows and none denies.
    Allow,
    /// No statement allows.
    ImplicitDeny,
    /// A Deny statement covers the request.
    ExplicitDeny,
}

/// `*` matches any run, `?` one character; case-sensitive as IAM is for resources.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

impl Policy {
    /// Whether `action` on `resource` is allowed: an explicit deny wins, then an allow.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.decide(action, resource) == Decision::Allow
    }

    /// IAM's evaluation for an identity policy: an explicit deny wins, then an allow,
    /// else the implicit deny.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        if self
            .statements
            .iter()
            .any(|s| !s.allow && s.covers(action, resource))
        {
            Decision::ExplicitDeny
        } else if self
            .statements
            .iter()
            .any(|s| s.allow && s.covers(action, resource))
        {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    /// The policy of a function's IAM statements (its SAM `Policies`, expanded).
    pub fn from_statements(statements: &[meridian_config::sam::PolicyStatement]) -> Self {
        use meridian_config::sam::{Effect, Patterns};
        let split = |p: &Patterns| match p {
            Patterns::AnyOf(v) => (v.clone(), false),
            Patterns::NoneOf(v) => (v.clone(), true),
        };
        Self {
            statements: statements
                .iter()
                .map(|s| {
                    let (actions, not_actions) = split(&s.actions);
                    let (resources, not_resources) = split(&s.resources);
                    Statement {
                        allow: s.effect == Effect::Allow,
                        actions,
                        not_actions,
                        resources,
                        not_resources,
                    }
                })
                .collect(),
        }
    }
}

/// An account: what owns buckets and objects, as S3's `Owner` elements and a bucket
/// policy's `Principal` name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    /// The account id in ARNs (`arn:aws:iam::<id>:root`).
    pub id: String,
    /// The canonical user id in `Owner` elements and ACL grants.
    pub canonical_id: String,
    /// The display name in `Owner` elements.
    pub display_name: String,
}

/// The canonical user id of Meridian's own account.
pub const LOCAL_CANONICAL_ID: &str =
    "6d6572696469616e6d6572696469616e6d6572696469616e6d65726964696161";

/// Why an `--account` or `--key` declaration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeclarationError {
    /// Not `ID:DISPLAY_NAME`.
    #[error("account {0:?} is not ID:DISPLAY_NAME (e.g. 111122223333:alice)")]
    Account(String),
    /// Not `ACCESS:SECRET` or `ACCESS:SECRET@ACCOUNT`.
    #[error("key {0:?} is not ACCESS_KEY:SECRET or ACCESS_KEY:SECRET@ACCOUNT_ID")]
    Key(String),
    /// A key names an account no `--account` declared.
    #[error("key {key} names account {account:?}, which no --account declares")]
    UnknownAccount {
        /// The access key id.
        key: String,
        /// The account it names.
        account: String,
    },
}

impl Account {
    /// Meridian's own account: the owner of a node's buckets, holding the key file's keys.
    pub fn local() -> Self {
        Self {
            id: crate::dynamo::ACCOUNT.to_owned(),
            canonical_id: LOCAL_CANONICAL_ID.to_owned(),
            display_name: "meridian".to_owned(),
        }
    }

    /// Parses `ID:DISPLAY_NAME`. The id is both the account in ARNs and the canonical user
    /// id in `Owner` elements, so an S3 client sees the id it was configured with.
    pub fn parse(declared: &str) -> Result<Self, DeclarationError> {
        match declared.split_once(':') {
            Some((id, name))
                if !id.is_empty()
                    && !name.is_empty()
                    && id.bytes().all(|b| b.is_ascii_graphic() && b != b'@') =>
            {
                Ok(Self {
                    id: id.to_owned(),
                    canonical_id: id.to_owned(),
                    display_name: name.to_owned(),
                })
            }
            _ => Err(DeclarationError::Account(declared.to_owned())),
        }
    }

    /// `arn:aws:iam::<id>:root`, the account as a principal.
    pub fn root_arn(&self) -> String {
        format!("arn:aws:iam::{}:root", self.id)
    }
}

/// A long-term key as declared: `ACCESS:SECRET` (Meridian's account) or
/// `ACCESS:SECRET@ACCOUNT_ID` (a declared account's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDeclaration {
    /// The access key id.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The account id after `@`, if any.
    pub account: Option<String>,
}

impl KeyDeclaration {
    /// Parses `ACCESS:SECRET[@ACCOUNT_ID]`; a secret never holds `@` (AWS's are base64).
    pub fn parse(declared: &str) -> Result<Self, DeclarationError> {
        let (pair, account) = match declared.rsplit_once('@') {
            Some((p, a)) if !a.is_empty() => (p, Some(a.to_owned())),
            Some(_) => return Err(DeclarationError::Key(declared.to_owned())),
            None => (declared, None),
        };
        match pair.split_once(':') {
            Some((a, s)) if !a.is_empty() && !s.is_empty() => Ok(Self {
                access_key_id: a.to_owned(),
                secret_access_key: s.to_owned(),
                account,
            }),
            _ => Err(DeclarationError::Key(declared.to_owned())),
        }
    }
}

/// A credential Meridian accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// Present for session credentials; the request must carry it.
    pub session_token: Option<String>,
    /// `None` for full access (the operator's keys).
    pub policy: Option<Policy>,
    /// When a session credential stops working.
    pub expires: Option<SystemTime>,
    /// Who this is, for AccessDenied messages (`arn:aws:sts::...:assumed-role/...`).
    pub principal: String,
    /// For a credential standing for an AWS service principal, which one and for what.
    pub service: Option<ServicePrincipal>,
    /// The account the credential belongs to.
    pub account: Arc<Account>,
}

/// An AWS service acting for one of its resources, as a bucket policy's
/// `"Principal": {"Service": ...}` and `aws:SourceArn` condition see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    /// The service's principal name (`cloudfront.amazonaws.com`).
    pub service: String,
    /// The resource it acts for (`arn:aws:cloudfront::<account>:distribution/<id>`).
    pub source_arn: String,
    /// That resource's account.
    pub source_account: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    access_key_id: String,
    secret_access_key: String,
}

/// The credentials Meridian knows.
#[derive(Debug)]
pub struct KeyStore {
    keys: ArcSwap<HashMap<String, Arc<Credential>>>,
    file: Option<PathBuf>,
    local: Arc<Account>,
    /// The accounts besides Meridian's, by id.
    accounts: ArcSwap<HashMap<String, Arc<Account>>>,
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl KeyStore {
    /// A store with no keys (tests add their own).
    pub fn empty() -> Self {
        Self {
            keys: ArcSwap::from_pointee(HashMap::new()),
            file: None,
            local: Arc::new(Account::local()),
            accounts: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// Loads `<dir>/keys.json`, creating it with one random key when absent.
    pub fn open(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join("keys.json");
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file: KeyFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| KeyError::Format {
                path: path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = KeyFile {
                    keys: vec![StoredKey {
                        access_key_id: format!("AKIA{}", random_string(16, UPPER)),
                        secret_access_key: random_string(40, SECRET),
                    }],
                };
                write_private(&path, &serde_json::to_vec_pretty(&file).unwrap_or_default())
                    .map_err(io)?;
                file
            }
            Err(e) => return Err(io(e)),
        };
        let store = Self {
            file: Some(path),
            ..Self::empty()
        };
        for k in file.keys {
            store.add(&k.access_key_id, &k.secret_access_key);
        }
        Ok(store)
    }

    /// The key file, when there is one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Adds a long-term key of Meridian's account with full access.
    pub fn add(&self, access_key_id: &str, secret: &str) {
        self.add_to(self.local.clone(), access_key_id, secret);
    }

    /// Declares an account besides Meridian's (replacing one with the same id).
    pub fn add_account(&self, account: Account) {
        let account = Arc::new(account);
        self.accounts.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(account.id.clone(), account.clone());
            m
        });
    }

    /// Adds a declared key: to Meridian's account, or to the declared account it names.
    pub fn declare(&self, key: &KeyDeclaration) -> Result<(), DeclarationError> {
        let account = match &key.account {
            None => self.local.clone(),
            Some(id) => self
                .account(id)
                .ok_or_else(|| DeclarationError::UnknownAccount {
                    key: key.access_key_id.clone(),
                    account: id.clone(),
                })?,
        };
        self.add_to(account, &key.access_key_id, &key.secret_access_key);
        Ok(())
    }

    fn add_to(&self, account: Arc<Account>, access_key_id: &str, secret: &str) {
        self.insert(Credential {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: None,
            policy: None,
            expires: None,
            principal: account.root_arn(),
            service: None,
            account,
        });
    }

    /// Meridian's own account.
    pub fn local_account(&self) -> Arc<Account> {
        self.local.clone()
    }

    /// The account with this id: Meridian's or a declared one.
    pub fn account(&self, id: &str) -> Option<Arc<Account>> {
        if id == self.local.id {
            return Some(self.local.clone());
        }
        self.accounts.load().get(id).cloned()
    }

    /// The account whose canonical user id this is, as ACL grants name accounts.
    pub fn account_by_canonical_id(&self, canonical_id: &str) -> Option<Arc<Account>> {
        if canonical_id == self.local.canonical_id {
            return Some(self.local.clone());
        }
        self.accounts
            .load()
            .values()
            .find(|a| a.canonical_id == canonical_id)
            .cloned()
    }

    fn insert(&self, c: Credential) {
        let c = Arc::new(c);
        self.keys.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(c.access_key_id.clone(), c.clone());
            m
        });
    }

    /// The long-term keys (for the banner and `meridian check`), sorted.
    pub fn long_term(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .keys
            .load()
            .values()
            .filter(|c| c.session_token.is_none() && c.service.is_none())
            .map(|c| (c.access_key_id.clone(), c.secret_access_key.clone()))
            .collect();
        v.sort();
        v
    }

    /// Issues session credentials limited by `policy`, valid for `ttl`.
    pub fn issue_session(&self, role: &str, policy: Policy, ttl: Duration) -> Arc<Credential> {
        let now = SystemTime::now();
        // Forget expired sessions while adding one, so the map stays bounded.
        self.keys.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.retain(|_, c| c.expires.is_none_or(|e| e > now));
            m
        });
        let c = Credential {
            access_key_id: format!("ASIA{}", random_string(16, UPPER)),
            secret_access_key: random_string(40, SECRET),
            session_token: Some(random_string(96, SECRET)),
            policy: Some(policy),
            expires: Some(now + ttl),
            principal: format!("arn:aws:sts::{}:assumed-role/{role}/{role}", self.local.id),
            service: None,
            account: self.local.clone(),
        };
        self.insert(c.clone());
        Arc::new(c)
    }

    /// Issues a credential for an AWS service principal acting for `source_arn` (a
    /// CloudFront distribution reading its S3 origin with origin access control). Requests
    /// signed with it are no one's in the account: only a bucket policy naming
    /// `{"Service": service}` (and, usually, `aws:SourceArn`) lets them in. It does not
    /// expire, is not listed with the long-term keys, and lives as long as the process.
    pub fn issue_service(&self, service: &str, source_arn: &str) -> Arc<Credential> {
        let c = Credential {
            access_key_id: format!("AKIA{}", random_string(16, UPPER)),
            secret_access_key: random_string(40, SECRET),
            session_token: None,
            policy: Some(Policy::default()),
            expires: None,
            principal: service.to_owned(),
            service: Some(ServicePrincipal {
                service: service.to_owned(),
                source_arn: source_arn.to_owned(),
                source_account: source_arn.split(':').nth(4).unwrap_or("").to_owned(),
            }),
            account: self.local.clone(),
        };
        self.insert(c.clone());
        Arc::new(c)
    }

    /// The credential for an access key, if known and not expired.
    pub fn lookup(&self, access_key_id: &str) -> Option<Arc<Credential>> {
        let c = self.keys.load().get(access_key_id).cloned()?;
        match c.expires {
            Some(e) if e <= SystemTime::now() => None,
            _ => Some(c),
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match(
            "arn:aws:dynamodb:*:*:table/Users",
            "arn:aws:dynamodb:us-east-1:1:table/Users"
        ));
        assert!(wildcard_match(
            "arn:aws:dynamodb:*:*:table/Users/index/*",
            "arn:aws:dynamodb:r:1:table/Users/index/byEmail"
        ));
        assert!(!wildcard_match(
            "arn:aws:dynamodb:*:*:table/Users",
            "arn:aws:dynamodb:r:1:table/Other"
        ));
        assert!(wildcard_match("dynamodb:*", "dynamodb:GetItem"));
        assert!(wildcard_match("a?c", "abc"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let mut deny = Statement::allow(&["dynamodb:DeleteItem"], &["*"]);
        deny.allow = false;
        let p = Policy {
            statements: vec![Statement::allow(&["dynamodb:*"], &["*"]), deny],
        };
        assert!(p.allows("dynamodb:GetItem", "arn:x"));
        assert!(!p.allows("dynamodb:DeleteItem", "arn:x"));
        assert!(!Policy::default().allows("dynamodb:GetItem", "arn:x"));
    }

    #[test]
    fn not_action_and_not_resource_cover_the_rest() {
        let mut s = Statement::allow(&["dynamodb:DeleteItem"], &["arn:t/Users"]);
        s.not_actions = true;
        let p = Policy {
            statements: vec![s.clone()],
        };
        assert!(p.allows("dynamodb:GetItem", "arn:t/Users"));
        assert!(!p.allows("dynamodb:DeleteItem", "arn:t/Users"));
        assert!(!p.allows("dynamodb:GetItem", "arn:t/Other"));
        s.not_actions = false;
        s.not_resources = true;
        let p = Policy {
            statements: vec![s],
        };
        assert!(p.allows("dynamodb:deleteitem", "arn:t/Other"));
        assert!(!p.allows("dynamodb:DeleteItem", "arn:t/Users"));
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeyStore::open(dir.path()).unwrap().long_term();
        let again = KeyStore::open(dir.path()).unwrap().long_term();
        assert_eq!(first, again);
        assert_eq!(first.len(), 1);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn keys_are_declared_with_their_account() {
        let store = KeyStore::empty();
        let alt = Account::parse("111122223333:john.doe").unwrap();
        assert_eq!(alt.canonical_id, "111122223333");
        assert_eq!(alt.root_arn(), "arn:aws:iam::111122223333:root");
        store.add_account(alt.clone());
        for (declared, account) in [
            ("AKIAMAIN:secret/with+slash==", &*store.local_account()),
            ("AKIAALT:nopq@111122223333", &alt),
        ] {
            store
                .declare(&KeyDeclaration::parse(declared).unwrap())
                .unwrap();
            let access = declared.split(':').next().unwrap();
            let c = store.lookup(access).unwrap();
            assert_eq!(&*c.account, account, "{declared}");
            assert_eq!(c.principal, account.root_arn());
        }
        assert_eq!(
            store.declare(&KeyDeclaration::parse("AKIAX:s@999").unwrap()),
            Err(DeclarationError::UnknownAccount {
                key: "AKIAX".into(),
                account: "999".into()
            })
        );
        for bad in ["AKIA", "AKIA:", ":s", "AKIA:s@"] {
            assert!(KeyDeclaration::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "id", "id:", ":name"] {
            assert!(Account::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            store.account_by_canonical_id("111122223333").as_deref(),
            Some(&alt)
        );
    }

    #[test]
    fn sessions_expire() {
        let store = KeyStore::empty();
        let c = store.issue_session("fn", Policy::default(), Duration::from_secs(0));
        assert!(store.lookup(&c.access_key_id).is_none());
        let c = store.issue_session("fn", Policy::default(), Duration::from_secs(60));
        assert_eq!(
            store.lookup(&c.access_key_id).unwrap().session_token,
            c.session_token
        );
    }
}
