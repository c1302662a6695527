//! The storage plane as a node runs it: the engine in `<state>/storage/meridian.redb`, the
//! access keys beside it, object files in `<state>/storage/s3`, and the DynamoDB and S3
//! endpoints on listeners of their own. The binary starts one [`StoragePlane`], applies the
//! tables and buckets of each revision through it ([`Dynamo::plan_declared`],
//! [`S3::ensure_buckets`]), and asks it for the credentials each function runs with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use meridian_config::sam::PolicyStatement;
use serde::Serialize;

use crate::dynamo::Dynamo;
use crate::dynamo::api::Service;
use crate::engine::{Engine, EngineError};
use crate::keys::{Credential, KeyError, KeyStore, Policy};
use crate::s3::S3;
use crate::s3::declared::BucketSummary;
use crate::server::Endpoint;

/// Why the plane could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaneError {
    /// The key file could not be read or created.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The engine could not open its file.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The object directory could not be prepared.
    #[error(transparent)]
    Objects(#[from] crate::s3::OpenError),
    /// An endpoint's address could not be bound.
    #[error("cannot listen on {addr} for the {api} API: {source}{hint}")]
    Listen {
        /// `DynamoDB` or `S3`.
        api: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
        /// What to do about it.
        hint: &'static str,
    },
}

/// How to start the plane.
#[derive(Debug, Clone)]
pub struct PlaneOptions {
    /// The node's state folder; the plane keeps its files in `storage/` under it.
    pub state_dir: PathBuf,
    /// The AWS region in ARNs and signatures.
    pub region: String,
    /// Where the DynamoDB endpoint listens (port 0 for any).
    pub dynamodb_addr: SocketAddr,
    /// Where the S3 endpoint listens (port 0 for any).
    pub s3_addr: SocketAddr,
    /// Long-term keys given by flag, in addition to those in the key file.
    pub access_keys: Vec<(String, String)>,
    /// How often expired items are deleted ([`SWEEP_INTERVAL`] unless a test says).
    pub ttl_sweep: Duration,
}

/// How often the TTL sweep runs: DynamoDB deletes within days; locally an expired item
/// should go while someone is watching.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A table as `meridian tables ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TableSummary {
    /// TableName.
    pub name: String,
    /// Items in the table.
    pub items: u64,
    /// Bytes of items, as DynamoDB counts them.
    pub size_bytes: u64,
    /// Secondary indexes (`byEmail (GSI)`).
    pub indexes: Vec<String>,
    /// The stream's view type, when the table has a stream.
    pub stream: Option<String>,
    /// The TTL attribute, when TTL is on.
    pub ttl_attribute: Option<String>,
}

/// The running storage plane.
#[derive(Debug)]
pub struct StoragePlane {
    /// The tables.
    pub dynamo: Arc<Dynamo>,
    /// The buckets.
    pub s3: Arc<S3>,
    /// The credentials.
    pub keys: Arc<KeyStore>,
    endpoint: Endpoint,
    s3_endpoint: crate::s3::api::Endpoint,
    sweeper: tokio::task::JoinHandle<()>,
}

impl Drop for StoragePlane {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

/// How long a function's credentials last: Lambda's longest role session. An execution
/// environment is retired before its credentials expire.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

impl StoragePlane {
    /// Opens the engine and the keys, and starts the endpoint.
    pub async fn start(opts: PlaneOptions) -> Result<Self, PlaneError> {
        let dir = opts.state_dir.join("storage");
        let keys = KeyStore::open(&dir)?;
        for (id, secret) in &opts.access_keys {
            keys.add(id, secret);
        }
        let engine = Engine::open(&dir.join("meridian.redb"))?;
        let dynamo = Dynamo::open(engine.clone(), &opts.region)?;
        // What a crash left of a backup or a restore goes before anything is served.
        if let Err(e) = dynamo.sweep_unnamed().await {
            tracing::warn!(error = %e, "cannot remove what a cut-short backup or restore left");
        }
        let s3 = S3::open(engine, &dir.join("s3"), &opts.region).await?;
        let keys = Arc::new(keys);
        let endpoint = Endpoint::start(
            Service {
                dynamo: dynamo.clone(),
                keys: keys.clone(),
            },
            opts.dynamodb_addr,
        )
        .await
        .map_err(|source| PlaneError::Listen {
            api: "DynamoDB",
            addr: opts.dynamodb_addr,
            hint: if source.kind() == std::io::ErrorKind::AddrInUse {
                " (is another `meridian up` or DynamoDB Local running?); pass --dynamodb-addr 127.0.0.1:0 for any free port"
            } else {
                ""
            },
            source,
        })?;
        let s3_endpoint = crate::s3::api::Endpoint::start(
            crate::s3::api::Service {
                s3: s3.clone(),
                keys: keys.clone(),
                domain: "localhost".to_owned(),
                body_idle_timeout: crate::s3::api::BODY_IDLE_TIMEOUT,
            },
            opts.s3_addr,
        )
        .await
        .map_err(|source| PlaneError::Listen {
            api: "S3",
            addr: opts.s3_addr,
            hint: if source.kind() == std::io::ErrorKind::AddrInUse {
                " (is another `meridian up` or MinIO running?); pass --s3-addr 127.0.0.1:0 for any free port"
            } else {
                ""
            },
            source,
        })?;
        dynamo.serve_buckets_at(s3_endpoint.addr);
        let sweeper = crate::dynamo::ttl::spawn_sweeper(dynamo.clone(), opts.ttl_sweep);
        Ok(Self {
            dynamo,
            s3,
            keys,
            endpoint,
            s3_endpoint,
            sweeper,
        })
    }

    /// Where the DynamoDB endpoint listens.
    pub fn dynamodb_addr(&self) -> SocketAddr {
        self.endpoint.addr
    }

    /// `http://<addr>` of the DynamoDB endpoint.
    pub fn dynamodb_url(&self) -> String {
        self.endpoint.url()
    }

    /// Where the S3 endpoint listens.
    pub fn s3_addr(&self) -> SocketAddr {
        self.s3_endpoint.addr
    }

    /// `http://<addr>` of the S3 endpoint.
    pub fn s3_url(&self) -> String {
        self.s3_endpoint.url()
    }

    /// Every bucket with its object count and bytes.
    pub async fn buckets(&self) -> Result<Vec<BucketSummary>, EngineError> {
        self.s3.summaries().await
    }

    /// The first long-term access key id (what the banner shows) and the file that holds
    /// the secrets.
    pub fn access_key(&self) -> (Option<String>, Option<&Path>) {
        (
            self.keys.long_term().into_iter().next().map(|(id, _)| id),
            self.keys.file(),
        )
    }

    /// The operator's credential (the first long-term key's): what acts for the templates,
    /// as a stack acts with its deployer's rights.
    pub fn operator_credential(&self) -> Option<Arc<Credential>> {
        let (id, _) = self.keys.long_term().into_iter().next()?;
        self.keys.lookup(&id)
    }

    /// Short-lived credentials for a function's execution environment, allowing exactly what
    /// its statements allow.
    pub fn function_credentials(
        &self,
        function: &str,
        statements: &[PolicyStatement],
    ) -> Arc<Credential> {
        self.keys
            .issue_session(function, Policy::from_statements(statements), SESSION_TTL)
    }

    /// Every table with its size, indexes and stream.
    pub async fn tables(&self) -> Result<Vec<TableSummary>, crate::dynamo::error::Error> {
        let mut out = Vec::new();
        for def in self.dynamo.tables() {
            let (items, size_bytes, _) = self.dynamo.counts(&def).await?;
            out.push(TableSummary {
                name: def.name.clone(),
                items,
                size_bytes,
                indexes: def
                    .indexes
                    .iter()
                    .map(|i| format!("{} ({})", i.name, if i.local { "LSI" } else { "GSI" }))
                    .collect(),
                stream: def.stream.as_ref().map(|s| s.view_type.clone()),
                ttl_attribute: def.ttl_attribute.clone(),
            });
        }
        Ok(out)
    }
}
