//! One Meridian node: every plane of `meridian up`, wired together, and the revision of the
//! desired state they serve. A new revision is applied to each plane in turn; an invalid one
//! never gets here (the store refuses it), so the last good one keeps serving.
//!
//! A revision applies whole or not at all ([`Node::apply`]): whatever can fail is staged on
//! every plane before the first one changes. Inbound sidecar listeners follow the endpoint
//! table: a replica is put behind one as soon as it appears.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use meridian_config::{Bundle, LoadOptions, load_str};
use meridian_control::endpoints::{self, WorkloadRef};
use meridian_control::snapshot::{self, Snapshot};
use meridian_control::store::Revision;
use meridian_functions::{Endpoint, FunctionHost, HostConfig};
use meridian_proxy::{Caller, GatewayPorts, Proxy, ProxyOptions};
use meridian_storage::plane::{PlaneOptions, StoragePlane};
use meridian_telemetry::metrics::Registry;
use meridian_workloads::{DesiredState, NodeInfo, Supervisor, SupervisorOptions, WorkloadSpec};

/// How `meridian up` runs this node.
#[derive(Debug, Clone)]
pub(crate) struct NodeOptions {
    /// Where state lives (logs, CA, run file).
    pub(crate) state_dir: PathBuf,
    /// Node labels for placement (`region` among them).
    pub(crate) labels: BTreeMap<String, String>,
    /// Where Gateway ports listen.
    pub(crate) gateway_ports: GatewayPorts,
    /// What sidecars do with hosts outside the registry.
    pub(crate) outbound_traffic: meridian_proxy::OutboundTrafficPolicy,
    /// Tracing and access logs.
    pub(crate) observe: meridian_observe::Flags,
    /// The mesh CA: trust domain, workload certificate lifetime, folder.
    pub(crate) mesh_ca: crate::commands::ca::MeshCaArgs,
    /// How the gateway learns its clients' addresses.
    pub(crate) gateway_topology: meridian_proxy::GatewayTopology,
    /// Bounds on the gateway's client connections.
    pub(crate) edge_limits: meridian_proxy::ConnectionLimits,
    /// Where the DynamoDB API listens.
    pub(crate) dynamodb_addr: SocketAddr,
    /// Where the S3 API listens.
    pub(crate) s3_addr: SocketAddr,
    /// Access keys given by flag (`--access-key`).
    pub(crate) access_keys: Vec<(String, String)>,
    /// Where the authoritative DNS listens (UDP and TCP), once a Route 53 zone is declared.
    pub(crate) dns_addr: SocketAddr,
    /// Latency and location of networks, for the DNS's routing policies.
    pub(crate) dns_network: meridian_global::Network,
    /// Overrides every health check's interval (a drill on one machine).
    pub(crate) health_check_interval: Option<std::time::Duration>,
    /// Where the CloudFront distributions' edge listens (HTTP).
    pub(crate) cdn_addr: SocketAddr,
    /// Where the CloudFront distributions' edge listens (HTTPS).
    pub(crate) cdn_https_addr: SocketAddr,
    /// How often the distributions' standard logs are written to their buckets.
    pub(crate) cdn_log_interval: std::time::Duration,
    /// Where the CloudFront API (invalidations) listens.
    pub(crate) cloudfront_addr: SocketAddr,
    /// Where the Front Doors' front door listens (HTTP).
    pub(crate) frontdoor_addr: SocketAddr,
    /// Where the Front Doors' front door listens (HTTPS).
    pub(crate) frontdoor_https_addr: SocketAddr,
}

/// A workload's sidecar: where its outbound traffic enters the mesh.
#[derive(Debug, Clone)]
struct Sidecar {
    /// The `HTTP_PROXY` listener.
    http_proxy: SocketAddr,
    /// `(service FQDN, port)` → local listener.
    upstreams: BTreeMap<(String, u16), SocketAddr>,
}

/// The serverless plane: the functions of the SAM templates, served on an internal loopback
/// endpoint that the mesh reaches as a ServiceEntry, behind a Gateway port of its own.
pub(crate) struct Functions {
    pub(crate) host: FunctionHost,
    endpoint: Endpoint,
    /// Azure Functions apps: the Functions host's HTTP surface over the same host.
    pub(crate) azure: meridian_functions::azure::AzureApps,
    azure_endpoint: meridian_functions::azure::AzureEndpoint,
    /// The pollers of the functions' `DynamoDB` events.
    streams: meridian_functions::stream_events::StreamPollers,
    /// The delivery of the buckets' events to the functions, started once the functions of
    /// the first revision are in force.
    bucket_events: Mutex<Option<meridian_functions::bucket_events::BucketEventDelivery>>,
}

/// Declared port of the functions' API Gateway (`sam local start-api`'s default).
pub(crate) const FUNCTIONS_PORT: u16 = 3000;

/// The mesh host of the functions' internal endpoint.
const FUNCTIONS_HOST: &str = "functions.meridian.internal";

/// Declared port of the Azure Functions apps (`func start`'s default).
pub(crate) const AZURE_FUNCTIONS_PORT: u16 = 7071;

/// The mesh host of the Azure Functions apps' internal endpoint.
const AZURE_FUNCTIONS_HOST: &str = "azure-functions.meridian.internal";

/// The running planes.
/// See [`Node::endpoint_sync`].
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct EndpointSync {
    /// The workloads' endpoint table version (ready replicas).
    pub(crate) version: u64,
    /// The version the proxy routes with.
    pub(crate) routing: u64,
    /// The version whose replicas all have inbound sidecars.
    pub(crate) sidecars: u64,
    /// Both caught up.
    pub(crate) synced: bool,
}

pub(crate) struct Node {
    pub(crate) options: NodeOptions,
    pub(crate) registry: Registry,
    pub(crate) supervisor: Supervisor,
    pub(crate) proxy: Proxy,
    pub(crate) observer: Arc<meridian_observe::Observer>,
    pub(crate) functions: Option<Functions>,
    /// Tables and buckets with their API endpoints and access keys.
    pub(crate) storage: Arc<StoragePlane>,
    /// The Terraform modules' CloudFront distributions, when there are some.
    pub(crate) edge: Option<crate::edge::EdgePlane>,
    /// The Terraform modules' Front Doors and the regions' gateways, when there are some.
    pub(crate) frontdoor: Option<crate::frontdoor::FrontDoorPlane>,
    /// Regions a failover drill took out: their load balancers are unhealthy meanwhile.
    regions_out: Mutex<Vec<String>>,
    revision: ArcSwap<Revision>,
    sidecars: Mutex<HashMap<WorkloadRef, Sidecar>>,
    pub(crate) started: SystemTime,
    /// The endpoint table version whose replicas all have their inbound sidecars.
    fronted: std::sync::atomic::AtomicU64,
    /// Compose's published ports (Swarm's routing mesh).
    pub(crate) ingress: meridian_proxy::ingress::Ingress,
    /// The last revision refused while applying.
    refused: Mutex<Option<Refusal>>,
    /// The global plane: the zones the DNS answers and their health checks.
    pub(crate) global: Arc<meridian_global::Plane>,
    /// The DNS listener, bound when the first Route 53 zone is declared.
    dns: Mutex<Option<meridian_global::server::Listener>>,
    /// What the DNS serves, as of the last revision.
    dns_summary: Mutex<meridian_global::Summary>,
    /// `meridian_dns_health_check_healthy{id,type}`: 1 healthy, 0 not.
    dns_health: Option<meridian_telemetry::metrics::GaugeVec>,
    /// `meridian_dns_udp_responses_total{outcome}`: the DNS listener's UDP answers
    /// (`answered`), the ones response rate limiting dropped (`rate_limited`) and, of those,
    /// the ones sent truncated instead (`slipped`).
    dns_udp: Option<meridian_telemetry::metrics::CounterVec>,
}

/// A valid revision that could not be put in force (a port taken, a certificate file
/// unreadable...): the previous one keeps serving.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Refusal {
    /// The refused revision.
    pub(crate) revision: u64,
    /// Why, with its causes.
    pub(crate) reason: String,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("state_dir", &self.options.state_dir)
            .field("revision", &self.revision.load().number)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts every plane on `revision`.
    pub(crate) async fn start(
        options: NodeOptions,
        revision: Arc<Revision>,
    ) -> anyhow::Result<Arc<Node>> {
        std::fs::create_dir_all(&options.state_dir).with_context(|| {
            format!(
                "cannot create the state folder {}",
                options.state_dir.display()
            )
        })?;
        // The CA first: a corrupted CA file stops the node before any workload starts.
        let ca = options.mesh_ca.load(&options.state_dir)?;
        reload_ca_on_hangup(ca.clone());
        let registry = Registry::new();
        let mut node_info = NodeInfo::local();
        for (k, v) in &options.labels {
            node_info = node_info.with_label(k.clone(), v.clone());
        }
        let (publisher, _) = endpoints::channel();
        let supervisor = Supervisor::start(
            SupervisorOptions {
                node: node_info,
                ..SupervisorOptions::new(&options.state_dir)
            },
            publisher,
        )
        .context("cannot start the process supervisor")?;
        let storage = Arc::new(
            StoragePlane::start(PlaneOptions {
                state_dir: options.state_dir.clone(),
                region: AWS_REGION.to_owned(),
                dynamodb_addr: options.dynamodb_addr,
                s3_addr: options.s3_addr,
                access_keys: options.access_keys.clone(),
                ttl_sweep: meridian_storage::plane::SWEEP_INTERVAL,
            })
            .await
            .context("cannot start the storage plane")?,
        );
        let functions = if revision.bundle.sam_templates().next().is_some()
            || revision.bundle.function_apps().next().is_some()
        {
            let host = FunctionHost::new(functions_config(&options.state_dir, &storage))
                .context("cannot start the functions host")?;
            let endpoint = Endpoint::start_with(
                host.clone(),
                SocketAddr::from(([127, 0, 0, 1], 0)),
                Some(function_url_verifier(
                    storage.clone(),
                    host.config().account_id.clone(),
                )),
            )
            .await
            .context("cannot start the functions endpoint")?;
            let azure = meridian_functions::azure::AzureApps::new(host.clone());
            azure.serve_blobs(Arc::new(crate::azure_blobs::BucketBlobs::new(
                storage.clone(),
                AWS_REGION,
            )));
            let azure_endpoint = meridian_functions::azure::AzureEndpoint::start(
                azure.clone(),
                SocketAddr::from(([127, 0, 0, 1], 0)),
            )
            .await
            .context("cannot start the Azure Functions endpoint")?;
            let streams = meridian_functions::stream_events::StreamPollers::new(
                host.clone(),
                Arc::new(TableStreams(storage.clone())),
            );
            Some(Functions {
                host,
                endpoint,
                azure,
                azure_endpoint,
                streams,
                bucket_events: Mutex::new(None),
            })
        } else {
            None
        };
        let snapshot = Arc::new(compile(&revision, functions.as_ref())?);
        // A Gateway certificate that cannot be read stops the node before anything serves.
        meridian_proxy::check_gateway_tls(&snapshot)?;
        let observer = Arc::new(meridian_observe::Observer::new(
            &registry,
            &options.observe,
            options.labels.get("region").map(String::as_str),
        )?);
        let proxy = Proxy::new(
            snapshot,
            supervisor.endpoints(),
            ProxyOptions {
                outbound_traffic: options.outbound_traffic,
                sink: (!options.observe.no_request_telemetry)
                    .then(|| observer.clone() as Arc<dyn meridian_proxy::RecordSink>),
                mesh_identity: Some(meridian_proxy::MeshIdentity {
                    ca: ca.clone(),
                    workload_cert_ttl: options.mesh_ca.workload_cert_ttl,
                }),
                gateway_topology: options.gateway_topology,
                edge_limits: options.edge_limits,
                ..ProxyOptions::default()
            },
        );
        observer.attach(proxy.clone(), supervisor.clone());
        proxy
            .start_gateway_listeners(options.gateway_ports.clone())
            .await
            .map_err(|e| {
                anyhow::anyhow!("{e}; pass --gateway-port-offset, or --gateway-port DECLARED=PORT")
            })?;
        let edge = if crate::edge::distributions(&revision.bundle).is_empty() {
            None
        } else {
            let tls =
                crate::edge::tls_config(&ca).context("cannot issue the edge's certificate")?;
            let mut plane = crate::edge::EdgePlane::start(
                &proxy,
                options.cdn_addr,
                Some((options.cdn_https_addr, tls)),
            )
            .await?;
            let api = crate::cdn_api::CdnApi::new(
                plane.edges.clone(),
                storage.keys.clone(),
                &options.state_dir,
            )?;
            plane.api = Some(api.start(options.cloudfront_addr).await?);
            crate::edge_logs::spawn(
                plane.logs.clone(),
                storage.clone(),
                AWS_REGION,
                options.cdn_log_interval,
            );
            plane.origin_tls = Some(
                crate::frontdoor::backend_tls(&ca)
                    .context("cannot build the edge's TLS client for origins")?,
            );
            plane.cdn_api = Some(api);
            Some(plane)
        };
        let frontdoor = if crate::frontdoor::front_doors(&revision.bundle).is_empty() {
            None
        } else {
            let tls = crate::frontdoor::tls_config(&ca, &revision.bundle)
                .context("cannot issue the front door's certificate")?;
            Some(
                crate::frontdoor::FrontDoorPlane::start(
                    &proxy,
                    options.frontdoor_addr,
                    Some((options.frontdoor_https_addr, tls)),
                    Some(
                        crate::frontdoor::backend_tls(&ca)
                            .context("cannot build the front door's TLS client for backends")?,
                    ),
                )
                .await?,
            )
        };
        let ingress = meridian_proxy::ingress::Ingress::new(
            options.gateway_ports.clone(),
            supervisor.endpoints(),
        );
        let (options_network, options_interval) =
            (options.dns_network.clone(), options.health_check_interval);
        let dns_health = registry
            .gauge_vec(
                "meridian_dns_health_check_healthy",
                "Route 53 health checks and alias targets the DNS follows: 1 healthy, 0 unhealthy.",
                &["id", "type"],
            )
            .map_err(|e| tracing::warn!(error = %e, "DNS health metric"))
            .ok();
        let dns_udp = registry
            .counter_vec(
                "meridian_dns_udp_responses_total",
                "UDP answers of the authoritative DNS: answered (slipped ones included), rate_limited (dropped by response rate limiting) and slipped (of those, sent truncated so that clients retry over TCP).",
                &["outcome"],
            )
            .map_err(|e| tracing::warn!(error = %e, "DNS response metric"))
            .ok();
        let node = Arc::new(Node {
            dns_udp,
            ingress,
            options,
            registry,
            supervisor,
            proxy,
            observer,
            functions,
            storage,
            edge,
            frontdoor,
            regions_out: Mutex::new(Vec::new()),
            revision: ArcSwap::from(revision.clone()),
            sidecars: Mutex::new(HashMap::new()),
            started: SystemTime::now(),
            fronted: std::sync::atomic::AtomicU64::new(0),
            refused: Mutex::new(None),
            global: Arc::new(meridian_global::Plane::new(
                options_network,
                options_interval,
            )),
            dns: Mutex::new(None),
            dns_summary: Mutex::new(meridian_global::Summary::default()),
            dns_health,
        });
        node.clone().follow_endpoints();
        node.follow_load_balancers();
        let summary = node.apply_planes(&revision).await?;
        tracing::debug!(revision = revision.number, %summary, "first revision applied");
        Ok(node)
    }

    /// The revision being served.
    pub(crate) fn revision(&self) -> Arc<Revision> {
        self.revision.load_full()
    }

    /// Applies a new valid revision to every plane, whole or not at all: every step that can
    /// fail runs first (see [`Node::apply_planes`]); when one does, nothing changed, the
    /// refusal is kept for `meridian check`, and the last revision keeps serving.
    pub(crate) async fn apply(
        &self,
        revision: Arc<Revision>,
    ) -> anyhow::Result<meridian_workloads::ApplySummary> {
        match self.apply_planes(&revision).await {
            Ok(summary) => {
                self.revision.store(revision);
                *self.lock_refusal() = None;
                Ok(summary)
            }
            Err(e) => {
                self.registry.control().config_applied(false);
                *self.lock_refusal() = Some(Refusal {
                    revision: revision.number,
                    reason: format!("{e:#}"),
                });
                Err(e)
            }
        }
    }

    /// The last revision refused while applying (cleared by the next applied one).
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        self.lock_refusal().clone()
    }

    fn lock_refusal(&self) -> std::sync::MutexGuard<'_, Option<Refusal>> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stages a revision on every plane, then puts it in force. Staging does all that can
    /// fail and changes nothing that serves: the snapshot compiles; the functions' code is
    /// assembled; the data plane builds the Gateways' TLS configurations and binds new
    /// Gateway ports; each workload's new sidecar listeners bind (their addresses go into
    /// the replicas' environment); new published ports bind. Only then, in an order that
    /// cannot fail: functions, the snapshot (routes to new services exist before their
    /// replicas start), sidecar listeners, published ports, and the supervisor, which starts,
    /// rolls or scales replicas. A refused revision drops what was staged (ports unbound).
    async fn apply_planes(
        &self,
        revision: &Revision,
    ) -> anyhow::Result<meridian_workloads::ApplySummary> {
        let declared: Vec<&meridian_config::sam::TableSpec> = revision
            .bundle
            .sam_templates()
            .flat_map(|t| t.tables.iter())
            .collect();
        let tables = self
            .storage
            .dynamo
            .plan_declared(&declared)
            .context("the templates' tables cannot be applied")?;
        let snapshot = Arc::new(compile(revision, self.functions.as_ref())?);
        let functions = match &self.functions {
            Some(f) => {
                let (mut fns, apis) = revision.bundle.sam_templates().fold(
                    (Vec::new(), Vec::new()),
                    |(mut f, mut a), t| {
                        f.extend(t.functions.iter().cloned());
                        a.extend(t.apis.iter().cloned());
                        (f, a)
                    },
                );
                for outcome in meridian_functions::dependencies::install(&fns).await {
                    match outcome {
                        meridian_functions::dependencies::Install::Installed(dir) => {
                            tracing::info!(dir = %dir.display(), "function packages installed");
                        }
                        meridian_functions::dependencies::Install::Failed { dir, reason } => {
                            tracing::warn!(dir = %dir.display(), %reason, "function packages not installed; its functions fail to import them");
                        }
                    }
                }
                let out = self.options.state_dir.join("build");
                for outcome in meridian_functions::build::run(&mut fns, &out).await {
                    match outcome {
                        meridian_functions::build::Built::Built { function, dir } => {
                            tracing::info!(%function, dir = %dir.display(), "function built");
                        }
                        meridian_functions::build::Built::Failed { function, reason } => {
                            tracing::warn!(%function, %reason, "function not built; it runs its unbuilt code");
                        }
                    }
                }
                // Every function is replaced: code may have changed on disk.
                // Azure Functions apps run on the same host, one worker pool per app.
                let apps: Vec<meridian_config::azure::FunctionApp> =
                    revision.bundle.function_apps().cloned().collect();
                let azure = meridian_functions::azure::prepare(&apps, &f.host)
                    .await
                    .context("the Azure Functions apps cannot be served")?;
                let mut all = fns.clone();
                all.extend(azure.specs);
                Some((
                    f.host
                        .prepare_load(all, apis)
                        .context("the functions host refused the templates")?,
                    fns,
                    azure.table,
                ))
            }
            None => None,
        };
        let staged = self
            .proxy
            .stage(snapshot.clone())
            .await
            .context("the data plane cannot serve the revision")?;
        let compose: Vec<_> = revision.bundle.compose_files().cloned().collect();
        let mut desired = DesiredState::from_config(revision.bundle.resources(), &compose);
        let mut sidecars = Vec::new();
        for w in &mut desired.workloads {
            let (sidecar, fresh) = self.stage_sidecar(w, &snapshot).await?;
            w.extra_env = discovery_env(&sidecar, &snapshot, &w.id.namespace);
            sidecars.push((w.id.clone(), sidecar, fresh));
        }
        let ports = self
            .ingress
            .stage(&meridian_proxy::ingress::published(&compose))
            .await?;
        let dns = self.stage_dns(revision).await?;

        // Tables first, in one durable commit: if the disk refuses it, nothing else has
        // changed and what was staged is dropped.
        let table_changes = tables.summary();
        let imports = self
            .storage
            .dynamo
            .apply_declared(tables)
            .await
            .context("the templates' tables could not be written")?;
        for change in table_changes {
            tracing::info!(%change, "table");
        }
        // What the Azure apps' blob triggers watch: their containers are buckets.
        let blob_watches = functions
            .as_ref()
            .map(|(_, _, azure)| azure.blob_watches())
            .unwrap_or_default();
        // Declared buckets that do not exist yet; an existing one keeps its objects, and one
        // no longer declared stays with them (deleting data is the user's call). A blob
        // trigger's container is made too, as the Functions host makes it on Azurite.
        let buckets: Vec<String> = revision
            .bundle
            .sam_templates()
            .flat_map(|t| t.buckets.iter().map(|b| b.name.clone()))
            .chain(crate::edge::terraform_buckets(&revision.bundle))
            .chain(blob_watches.iter().map(|w| w.container.clone()))
            .collect();
        let created = self
            .storage
            .s3
            .ensure_buckets(&buckets)
            .await
            .context("the templates' buckets could not be created")?;
        for name in created {
            match blob_watches.iter().find(|w| w.container == name) {
                Some(w) => tracing::info!(
                    bucket = %name,
                    app = %w.pool,
                    "bucket created: the container of a blobTrigger did not exist"
                ),
                None => tracing::info!(bucket = %name, "bucket created"),
            }
        }
        // Tables that templates load from buckets, once the buckets exist.
        self.storage
            .dynamo
            .start_declared_imports(imports, self.storage.operator_credential().as_ref())
            .await;
        // The functions' `S3` events are the declared buckets' notification configurations.
        if let Some(f) = &self.functions {
            let declared: Vec<(
                String,
                Vec<meridian_storage::s3::notification::LambdaTarget>,
            )> = revision
                .bundle
                .sam_templates()
                .flat_map(|t| t.buckets.iter())
                .map(|b| {
                    let targets = b
                        .notifications
                        .iter()
                        .map(|n| meridian_storage::s3::notification::LambdaTarget {
                            id: n.id.clone(),
                            function_arn: f.host.arn(&n.function),
                            events: n.events.clone(),
                            filter: n.filter.clone(),
                        })
                        .collect();
                    (b.name.clone(), targets)
                })
                .collect();
            // A blob trigger is an `s3:ObjectCreated:*` configuration on its container
            // (the bucket's whole configuration is declared at once, so it joins the
            // template's targets for the same bucket).
            let mut declared = declared;
            for w in &blob_watches {
                let target = meridian_storage::s3::notification::LambdaTarget {
                    id: w.id.clone(),
                    function_arn: f.host.arn(&w.pool),
                    events: vec!["s3:ObjectCreated:*".to_owned()],
                    filter: meridian_config::sam::KeyFilter {
                        prefix: (!w.prefix.is_empty()).then(|| w.prefix.clone()),
                        suffix: None,
                    },
                };
                match declared.iter_mut().find(|(b, _)| *b == w.container) {
                    Some((_, targets)) => targets.push(target),
                    None => declared.push((w.container.clone(), vec![target])),
                }
            }
            self.storage
                .s3
                .declare_notifications(declared)
                .await
                .map_err(|e| anyhow::anyhow!(e))
                .context("the templates' bucket events could not be applied")?;
        }
        crate::edge::apply_bucket_policies(&revision.bundle, &self.storage, AWS_REGION)
            .await
            .context("the Terraform bucket policies could not be applied")?;
        if let Some(edge) = &self.edge {
            edge.apply(
                &revision.bundle,
                &self.storage,
                &crate::edge::gateways(&self.proxy),
                AWS_REGION,
                &self.options.state_dir,
            )
            .context("the distributions could not be served")?;
        }

        // In force from here; nothing below fails but a supervisor shutting down.
        if let (Some(f), Some((prepared, specs, azure))) = (&self.functions, functions) {
            f.host.commit(prepared);
            f.azure.commit(azure);
            f.streams.sync(&specs);
            lock(&f.bucket_events).get_or_insert_with(|| {
                let host = f.host.clone();
                // Set once with the delivery; an error means it was set before, and the
                // lookup it holds is the same host's.
                let _ = self
                    .storage
                    .s3
                    .set_function_check(Arc::new(move |arn: &str| {
                        meridian_functions::bucket_events::invokable(&host, arn)
                    }));
                meridian_functions::bucket_events::BucketEventDelivery::start(
                    f.host.clone(),
                    Arc::new(BucketEvents(self.storage.clone())),
                )
            });
        }
        self.proxy.commit(staged);
        if let Some(fd) = &self.frontdoor {
            fd.apply(
                &revision.bundle,
                &self.proxy,
                self.options.health_check_interval,
            )
            .await;
        }
        for (id, sidecar, fresh) in sidecars {
            for listener in fresh {
                self.proxy.serve(listener);
            }
            self.lock_sidecars().insert(id, sidecar);
        }
        self.ingress.commit(ports);
        if let Some(listener) = dns {
            *lock(&self.dns) = Some(listener);
        }
        *lock(&self.dns_summary) = self.global.apply(revision.bundle.terraform_modules());
        // Load balancers start as their gateway's readiness says, not healthy by default.
        let table = self.supervisor.endpoints().borrow().clone();
        self.update_load_balancer_health(revision, &table);
        let summary = self
            .supervisor
            .apply(desired)
            .context("the process supervisor refused the new desired state")?;
        self.registry.control().config_applied(true);
        self.registry
            .control()
            .snapshot_version
            .set(i64::try_from(revision.number).unwrap_or(i64::MAX));
        Ok(summary)
    }

    /// The workload's sidecar with listeners for what it lacks: on first use its outbound
    /// listener, and a local port per service that appeared since. The new listeners are
    /// bound, not serving (see [`Node::apply_planes`]).
    async fn stage_sidecar(
        &self,
        w: &WorkloadSpec,
        snapshot: &Snapshot,
    ) -> anyhow::Result<(Sidecar, Vec<meridian_proxy::BoundListener>)> {
        let caller = Caller::new(&w.id, w.labels.clone(), &w.service_account);
        let mut fresh = Vec::new();
        let existing = self.lock_sidecars().get(&w.id).cloned();
        let mut sidecar = match existing {
            Some(s) => s,
            None => {
                let bound = self
                    .proxy
                    .bind_outbound(caller.clone())
                    .await
                    .with_context(|| {
                        format!(
                            "cannot start the sidecar of {}/{}",
                            w.id.namespace, w.id.name
                        )
                    })?;
                let http_proxy = bound.addr();
                fresh.push(bound);
                Sidecar {
                    http_proxy,
                    upstreams: BTreeMap::new(),
                }
            }
        };
        for (fqdn, svc) in &snapshot.services {
            for p in &svc.ports {
                let key = (fqdn.clone(), p.port);
                if sidecar.upstreams.contains_key(&key) {
                    continue;
                }
                let bound = self
                    .proxy
                    .bind_upstream_port(caller.clone(), fqdn, p.port)
                    .await
                    .with_context(|| {
                        format!("cannot start the local port for {fqdn}:{}", p.port)
                    })?;
                sidecar.upstreams.insert(key, bound.addr());
                fresh.push(bound);
            }
        }
        Ok((sidecar, fresh))
    }

    /// Binds the DNS listener when the revision declares the first Route 53 zone.
    async fn stage_dns(
        &self,
        revision: &Revision,
    ) -> anyhow::Result<Option<meridian_global::server::Listener>> {
        let has_zone = revision.bundle.terraform_modules().any(|m| {
            m.instances
                .iter()
                .any(|i| matches!(i.spec, meridian_config::terraform::resources::Spec::Zone(_)))
        });
        if !has_zone || lock(&self.dns).is_some() {
            return Ok(None);
        }
        let addr = self.options.dns_addr;
        let listener = meridian_global::server::Listener::bind(addr, self.global.shared())
            .await
            .map_err(|e| anyhow::anyhow!("{e}; pass --dns-addr (127.0.0.1:0 picks a free port)"))?;
        Ok(Some(listener))
    }

    /// Where the DNS answers, once bound.
    pub(crate) fn dns_addr(&self) -> Option<SocketAddr> {
        lock(&self.dns).as_ref().map(|l| l.addr)
    }

    /// What the DNS serves.
    pub(crate) fn dns_summary(&self) -> meridian_global::Summary {
        lock(&self.dns_summary).clone()
    }

    fn lock_sidecars(&self) -> std::sync::MutexGuard<'_, HashMap<WorkloadRef, Sidecar>> {
        // A panic while holding this lock cannot leave the map half-updated (inserts are
        // single calls), so a poisoned lock is still usable.
        self.sidecars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts every replica behind an inbound sidecar listener as soon as it appears in the
    /// endpoint table, and closes that listener (gracefully) once the replica leaves it.
    /// Keeps each load balancer's health in the DNS (what an alias with
    /// `evaluate_target_health` follows): healthy while its region's gateway has a ready
    /// endpoint. This node is the only gateway of its `--region`; a load balancer of another
    /// region has no gateway here and is unhealthy. Without `--region` nothing is known and
    /// every load balancer stays healthy.
    fn follow_load_balancers(self: &Arc<Self>) {
        let mut watch = self.supervisor.endpoints();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(node) = weak.upgrade() else { return };
                let table = watch.borrow_and_update().clone();
                node.update_load_balancer_health(&node.revision(), &table);
                node.export_dns_health();
                drop(node);
                // A new revision may declare new load balancers: look again every second.
                tokio::select! {
                    changed = watch.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
        });
    }

    /// Publishes every check's status as a gauge, and the DNS listener's UDP counters
    /// (refreshed each second).
    fn export_dns_health(&self) {
        if let Some(c) = &self.dns_udp
            && let Some(listener) = lock(&self.dns).as_ref()
        {
            use std::sync::atomic::Ordering::Relaxed;
            let stats = listener.stats();
            for (outcome, now) in [
                ("answered", stats.answered.load(Relaxed)),
                ("rate_limited", stats.rate_limited.load(Relaxed)),
                ("slipped", stats.slipped.load(Relaxed)),
            ] {
                // The listener's counters only grow; the family follows them.
                if let Ok(counter) = c.with(&[outcome]) {
                    counter.add(now.saturating_sub(counter.get()));
                }
            }
        }
        let Some(g) = &self.dns_health else { return };
        for s in self.global.health() {
            if let Ok(gauge) = g.with(&[&s.id, &s.kind]) {
                gauge.set(i64::from(s.healthy));
            }
        }
    }

    /// Takes a region out (a failover drill) or puts it back: its load balancers follow at
    /// once.
    pub(crate) fn set_region_out(&self, region: &str, out: bool) {
        {
            let mut regions = lock(&self.regions_out);
            regions.retain(|r| r != region);
            if out {
                regions.push(region.to_owned());
            }
        }
        let table = self.supervisor.endpoints().borrow().clone();
        self.update_load_balancer_health(&self.revision(), &table);
    }

    fn update_load_balancer_health(&self, revision: &Revision, table: &endpoints::EndpointTable) {
        let out = lock(&self.regions_out).clone();
        let local = self.options.labels.get("region");
        if local.is_none() && out.is_empty() {
            return;
        }
        let ready = table
            .replicas
            .iter()
            .any(|r| r.state == endpoints::EndpointState::Ready);
        for m in revision.bundle.terraform_modules() {
            for i in &m.instances {
                let meridian_config::terraform::resources::Spec::LoadBalancer(lb) = &i.spec else {
                    continue;
                };
                let taken_out = out
                    .iter()
                    .any(|r| crate::frontdoor::same_region(r, &lb.region));
                // Without --region nothing is known but what a drill took out.
                let healthy = match local {
                    Some(local) => {
                        let here = lb.region == *local
                            || lb
                                .region
                                .strip_prefix(local.as_str())
                                .is_some_and(|t| t.starts_with('-'));
                        here && ready
                    }
                    None => true,
                };
                self.global
                    .set_target_health(&lb.dns_name, healthy && !taken_out);
            }
        }
    }

    fn follow_endpoints(self: Arc<Self>) {
        let mut watch = self.supervisor.endpoints();
        tokio::spawn(async move {
            let mut fronted: HashSet<String> = HashSet::new();
            loop {
                let table = watch.borrow_and_update().clone();
                let present: HashSet<&str> =
                    table.replicas.iter().map(|r| r.replica.as_str()).collect();
                fronted.retain(|r| {
                    let stays = present.contains(r.as_str());
                    if !stays {
                        self.proxy.stop_inbound(r);
                    }
                    stays
                });
                for r in &table.replicas {
                    if fronted.contains(&r.replica) || r.ports.is_empty() {
                        continue;
                    }
                    match self.proxy.start_inbound(r).await {
                        Ok(listeners) => {
                            for l in &listeners {
                                self.observer
                                    .inbound_started(&r.replica, l.declared, l.listen);
                            }
                            fronted.insert(r.replica.clone());
                        }
                        Err(e) => {
                            tracing::warn!(replica = %r.replica, error = %e, "no inbound sidecar")
                        }
                    }
                }
                self.fronted
                    .store(table.version, std::sync::atomic::Ordering::Release);
                if watch.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// How far the data plane has caught up with the workloads' endpoint table (as
    /// `istioctl proxy-status` tells SYNCED from STALE): the table's version, the version
    /// routing was built from, and the version whose replicas all have inbound sidecars.
    pub(crate) fn endpoint_sync(&self) -> EndpointSync {
        let version = self.supervisor.endpoints().borrow().version;
        let routing = self.proxy.endpoints_version();
        let sidecars = self.fronted.load(std::sync::atomic::Ordering::Acquire);
        EndpointSync {
            version,
            routing,
            sidecars,
            synced: routing >= version && sidecars >= version,
        }
    }

    /// Where each Gateway port listens (declared → bound).
    pub(crate) fn gateway_addresses(&self) -> BTreeMap<u16, SocketAddr> {
        self.proxy.gateway_addresses()
    }

    /// Stops every plane: replicas drain and stop, then listeners close.
    pub(crate) async fn shutdown(&self) {
        self.supervisor.shutdown().await;
        if let Some(f) = &self.functions {
            f.host.shutdown();
        }
        self.proxy.shutdown();
    }

    /// The state folder.
    pub(crate) fn state_dir(&self) -> &Path {
        &self.options.state_dir
    }
}

/// A lock whose holders cannot leave its value half-updated (whole assignments), so a
/// poisoned one is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The AWS region of the node's ARNs, signatures and functions (`AWS_REGION`), the one SAM
/// templates are read for.
pub(crate) const AWS_REGION: &str = "us-east-1";

/// The functions host's settings: the AWS endpoints of this node in every function's
/// environment (the SDKs' service-specific and global endpoint variables; the global one is
/// the DynamoDB endpoint, S3 has its own), and credentials
/// scoped to each function's `Policies`.
fn functions_config(state_dir: &Path, storage: &Arc<StoragePlane>) -> HostConfig {
    let mut config = HostConfig::new(state_dir);
    config.region = AWS_REGION.to_owned();
    let url = storage.dynamodb_url();
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
    ] {
        config.extra_env.insert(var.to_owned(), url.clone());
    }
    config
        .extra_env
        .insert("AWS_ENDPOINT_URL_S3".to_owned(), storage.s3_url());
    config.credentials = Some(Arc::new(FunctionCredentials(storage.clone())));
    config
}

/// Issues each execution environment a session of the storage plane that allows what its
/// function's `Policies` allow, and nothing else.
#[derive(Debug)]
struct FunctionCredentials(Arc<StoragePlane>);

impl meridian_functions::CredentialSource for FunctionCredentials {
    fn issue(
        &self,
        function: &meridian_config::sam::FunctionSpec,
    ) -> meridian_functions::SessionCredentials {
        let c = self
            .0
            .function_credentials(&function.name, &function.policies);
        meridian_functions::SessionCredentials {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
            session_token: c.session_token.clone(),
        }
    }

    fn lifetime(&self) -> std::time::Duration {
        meridian_storage::plane::SESSION_TTL
    }
}

/// The functions' `DynamoDB` events read the storage plane's streams.
#[derive(Debug)]
struct TableStreams(Arc<StoragePlane>);

impl meridian_functions::stream_events::StreamSource for TableStreams {
    fn read<'a>(
        &'a self,
        mapping: &'a str,
        table: &'a str,
        from_oldest: bool,
        limit: usize,
    ) -> meridian_functions::stream_events::BoxFuture<
        'a,
        Result<meridian_functions::stream_events::StreamBatch, String>,
    > {
        Box::pin(async move {
            self.0
                .dynamo
                .mapping_batch(mapping, table, from_oldest, limit)
                .await
                .map(|b| meridian_functions::stream_events::StreamBatch {
                    records: b.records,
                    last: b.last,
                })
                .map_err(|e| e.to_string())
        })
    }

    fn commit<'a>(
        &'a self,
        mapping: &'a str,
        table: &'a str,
        position: u64,
    ) -> meridian_functions::stream_events::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0
                .dynamo
                .commit_mapping(mapping, table, position)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// The functions' `S3` events wait in the storage plane's queue of bucket events.
#[derive(Debug)]
struct BucketEvents(Arc<StoragePlane>);

impl meridian_functions::bucket_events::BucketEventSource for BucketEvents {
    fn pending(
        &self,
        limit: usize,
    ) -> meridian_functions::stream_events::BoxFuture<
        '_,
        Result<Vec<meridian_functions::bucket_events::BucketEvent>, String>,
    > {
        Box::pin(async move {
            let events = self
                .0
                .s3
                .pending_events(limit)
                .await
                .map_err(|e| e.to_string())?;
            Ok(events
                .into_iter()
                .map(|e| meridian_functions::bucket_events::BucketEvent {
                    id: e.id,
                    function_arn: e.function_arn,
                    payload: e.payload,
                })
                .collect())
        })
    }

    fn delivered(
        &self,
        ids: Vec<u64>,
    ) -> meridian_functions::stream_events::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.0
                .s3
                .events_delivered(ids)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn changed(&self) -> meridian_functions::stream_events::BoxFuture<'_, ()> {
        Box::pin(self.0.s3.events_queued())
    }
}

fn compile(revision: &Revision, functions: Option<&Functions>) -> anyhow::Result<Snapshot> {
    let Some(f) = functions else {
        return snapshot::compile(&revision.bundle, revision.number)
            .context("cannot compile the snapshot");
    };
    // The functions' API joins the mesh as resources of its own: the internal endpoint as a
    // ServiceEntry, a Gateway port for the API, and a VirtualService routing it there. So API
    // traffic gets the gateway's metrics, logs and policies like any other.
    let mut text = String::new();
    if revision.bundle.sam_templates().next().is_some() {
        text.push_str(&functions_resources(f.endpoint.addr));
    }
    if revision.bundle.function_apps().next().is_some() {
        text.push_str("---\n");
        text.push_str(&azure_resources(f.azure_endpoint.addr));
    }
    let synthetic = load_str(
        Path::new("<meridian: functions>"),
        &text,
        LoadOptions::default(),
    );
    if !synthetic.is_valid() {
        let errors: Vec<String> = synthetic.diagnostics().map(ToString::to_string).collect();
        anyhow::bail!(
            "internal resources for the functions are invalid: {}",
            errors.join("; ")
        );
    }
    let combined = Bundle {
        docs: revision
            .bundle
            .docs
            .iter()
            .cloned()
            .chain(synthetic.docs)
            .collect(),
        ..Bundle::default()
    };
    snapshot::compile(&combined, revision.number).context("cannot compile the snapshot")
}

/// Checks `AWS_IAM` function URL requests: a SigV4 signature for the `lambda` service with
/// one of the node's keys; the caller's account is the node's.
fn function_url_verifier(
    storage: Arc<StoragePlane>,
    account: String,
) -> meridian_functions::apigw::url::Verifier {
    use meridian_storage::sigv4;
    Arc::new(move |parts, body| {
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| sigv4::AuthError::Missing.to_string())?;
        let auth = sigv4::parse_authorization(header).map_err(|e| e.to_string())?;
        if auth.service != "lambda" {
            return Err(format!(
                "signed for the service {}, not lambda",
                auth.service
            ));
        }
        let key = storage
            .keys
            .lookup(&auth.access_key)
            .ok_or_else(|| sigv4::AuthError::UnknownKey.to_string())?;
        let req = sigv4::SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            authority: parts.uri.authority().map(|a| a.as_str()),
            body,
        };
        sigv4::verify(
            &req,
            &auth,
            &key.secret_access_key,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| e.to_string())?;
        Ok(account.clone())
    })
}

fn functions_resources(endpoint: SocketAddr) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: meridian-functions, namespace: istio-system}}
spec:
  hosts: [{FUNCTIONS_HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {port}}}]
  endpoints: [{{address: {ip}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: meridian-functions, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {FUNCTIONS_PORT}, name: http-functions, protocol: HTTP}}
    hosts: [\"*\"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: meridian-functions, namespace: istio-system}}
spec:
  hosts: [\"*\"]
  gateways: [meridian-functions]
  http:
  - route:
    - destination: {{host: {FUNCTIONS_HOST}, port: {{number: 80}}}}
",
        port = endpoint.port(),
        ip = endpoint.ip(),
    )
}

/// The Azure Functions apps' endpoint in the mesh, like the Lambda functions' (see
/// [`functions_resources`]), on `func start`'s port.
fn azure_resources(endpoint: SocketAddr) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: meridian-azure-functions, namespace: istio-system}}
spec:
  hosts: [{AZURE_FUNCTIONS_HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {port}}}]
  endpoints: [{{address: {ip}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: meridian-azure-functions, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {AZURE_FUNCTIONS_PORT}, name: http-azure-functions, protocol: HTTP}}
    hosts: [\"*\"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: meridian-azure-functions, namespace: istio-system}}
spec:
  hosts: [\"*\"]
  gateways: [meridian-azure-functions]
  http:
  - route:
    - destination: {{host: {AZURE_FUNCTIONS_HOST}, port: {{number: 80}}}}
",
        port = endpoint.port(),
        ip = endpoint.ip(),
    )
}

/// Kubernetes-style service discovery plus the sidecar as proxy: `HTTP_PROXY` for clients
/// that honour it, `<SERVICE>_SERVICE_HOST`/`_PORT` (a local port per service, routed as
/// this workload) for those that do not.
fn discovery_env(
    sidecar: &Sidecar,
    snapshot: &Snapshot,
    namespace: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let proxy = format!("http://{}", sidecar.http_proxy);
    env.insert("HTTP_PROXY".into(), proxy.clone());
    env.insert("http_proxy".into(), proxy);
    // The replica's own and local addresses stay direct.
    env.insert("NO_PROXY".into(), "localhost,127.0.0.1,::1".into());
    env.insert("no_proxy".into(), "localhost,127.0.0.1,::1".into());
    for ((fqdn, port), addr) in &sidecar.upstreams {
        // As in Kubernetes, only the services of the workload's own namespace.
        let Some(svc) = snapshot
            .services
            .get(fqdn)
            .filter(|s| s.namespace == namespace)
        else {
            continue;
        };
        let var = svc.name.to_ascii_uppercase().replace(['-', '.'], "_");
        let first = svc.ports.first().map(|p| p.port) == Some(*port);
        if first {
            env.insert(format!("{var}_SERVICE_HOST"), addr.ip().to_string());
            env.insert(format!("{var}_SERVICE_PORT"), addr.port().to_string());
        }
        if let Some(name) = svc
            .ports
            .iter()
            .find(|p| p.port == *port)
            .and_then(|p| p.name.as_ref())
        {
            let pname = name.to_ascii_uppercase().replace('-', "_");
            env.insert(
                format!("{var}_SERVICE_PORT_{pname}"),
                addr.port().to_string(),
            );
        }
    }
    env
}

/// `SIGHUP` makes the CA read its files again (after `meridian ca rotate`, or after the user
/// replaced plugged-in files); files that fail a check are refused and the CA keeps signing
/// with what it had.
fn reload_ca_on_hangup(ca: Arc<meridian_identity::CertificateAuthority>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!(
            "cannot listen for SIGHUP; reload the CA with `meridian ca rotate` or the admin API"
        );
        return;
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match ca.reload() {
                Ok(true) => {
                    tracing::info!("SIGHUP: the mesh CA files changed; workload certificates renew")
                }
                Ok(false) => tracing::info!("SIGHUP: the mesh CA files are unchanged"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: the mesh CA files were refused; still signing with the previous ones")
                }
            }
        }
    });
}
