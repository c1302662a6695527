//! A request's lifecycle, from the server that read it ([`crate::server`], [`crate::h1`]) to
//! the response head, on one load of the routing state: authorization, then by listener kind
//! the edge cache, the front door, the inbound sidecar's forward to its replica, or
//! `outbound`, whose steps each have a module:
//!
//! * `route`: the authority the request names, its virtual host and first matching route,
//!   what a route answers itself (HTTPS redirect, redirect, direct response), the weighted
//!   destination and its cluster;
//! * `policy`: the route's CORS and fault injection;
//! * `rewrite`: the request head as sent upstream (forwarding headers, header rules, rewrites,
//!   protocol);
//! * `forward`: the consistent-hash key, the body kept replayable, tries, retries and back-off;
//! * `mirror`, `tunnel`, `passthrough`: shadow copies, upgrades, and hosts outside the
//!   registry under `ALLOW_ANY`.
//!
//! Then the response's header rules, and the request's record.
//!
//! The steps that run on every request are `#[inline(always)]`: each has one call site, in
//! `outbound`, and inlined it compiles as the one body it was, without a call or a copy of
//! the head it returns (callgrind counted about 300 more instructions per request without).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use meridian_control::snapshot::LoadBalancer;
use rand::Rng;

use self::forward::Affinity;
pub(crate) use self::passthrough::Passthrough;
use self::policy::Cors;
use self::rewrite::UpstreamHead;
use self::route::{Action, Routing};
use crate::Caller;
use crate::balancer::PickContext;
use crate::body::{InBody, ResponseBody};
use crate::cluster::Resolved;
use crate::connection::{Connection, X_FORWARDED_CLIENT_CERT};
use crate::error::ProxyError;
use crate::headers::{self as hh, strip_hop_by_hop};
use crate::pool::{Endpoint, Protocol};
use crate::record::{Phase, RecordSink, Reporter, RequestRecord, ResponseFlags};
use crate::upstream::{self, SendOptions};

mod forward;
mod mirror;
mod passthrough;
mod policy;
mod rewrite;
mod route;
mod tunnel;

/// Request bodies up to this size are buffered so they can be retried and mirrored; larger
/// or unknown-length bodies stream (and are retried only if never sent).
pub(crate) const BUFFER_LIMIT: u64 = 64 * 1024;

/// What a listener is for.
#[derive(Debug)]
pub(crate) enum ListenerKind {
    /// A workload's `HTTP_PROXY` endpoint.
    Outbound,
    /// A workload's local port for one service.
    Upstream {
        /// Service host the port stands for.
        host: String,
        /// Service port.
        port: u16,
    },
    /// An ingress gateway port.
    Gateway {
        /// The declared port.
        port: u16,
    },
    /// A CloudFront distribution's edge (its cache in front of its origin).
    Edge {
        /// The distributions, by host.
        edges: Arc<crate::cache::Edges>,
        /// Terminates TLS with this configuration.
        tls: Option<Arc<rustls::ServerConfig>>,
    },
    /// A global front door (Azure Front Door's model) in front of regional gateways.
    FrontDoor {
        /// The Front Doors, by frontend host.
        doors: Arc<crate::frontdoor::FrontDoors>,
        /// Terminates TLS with this configuration.
        tls: Option<Arc<rustls::ServerConfig>>,
    },
    /// In front of a replica.
    Inbound {
        /// The replica's own address.
        endpoint: Arc<Endpoint>,
        /// The declared (container) port: PeerAuthentication's and AuthorizationPolicy's.
        port: u16,
        /// The workload identity's TLS configurations, when the mesh has a CA.
        tls: Option<Arc<crate::mtls::InboundTls>>,
    },
}

/// Everything a connection's requests share.
#[derive(Debug)]
pub(crate) struct ListenerCtx {
    pub(crate) state: Arc<arc_swap::ArcSwap<Resolved>>,
    pub(crate) sink: Option<Arc<dyn RecordSink>>,
    pub(crate) kind: ListenerKind,
    pub(crate) caller: Arc<Caller>,
    pub(crate) scheme: &'static str,
    /// Set when sidecars pass unknown hosts through (Istio's `ALLOW_ANY`).
    pub(crate) passthrough: Option<Arc<Passthrough>>,
    /// Endpoints of the hosts that wildcard destinations reach (the same map).
    pub(crate) dynamic: Arc<Passthrough>,
    /// HTTP/1.1 through Meridian's own codec ([`crate::h1`]) rather than hyper's.
    pub(crate) fast_http1: bool,
    /// Bounds on this listener's connections.
    pub(crate) limits: crate::limits::ConnectionLimits,
    /// How a gateway listener learns its clients' addresses.
    pub(crate) topology: crate::forwarded::GatewayTopology,
}

/// What the lifecycle learned, for the record.
#[derive(Debug)]
struct Trace {
    flags: ResponseFlags,
    phase: Phase,
    attempts: u32,
    /// The cluster, with the routing state it belongs to (so the record needs no second
    /// load of the state).
    cluster: Option<(Arc<Resolved>, usize)>,
    upstream: Option<SocketAddr>,
}

/// Serves one request.
pub(crate) async fn handle(
    ctx: Arc<ListenerCtx>,
    peer: SocketAddr,
    conn: Arc<Connection>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    Ok(serve(&ctx, peer, &conn, req.map(InBody::Incoming)).await)
}

/// Serves one request, whichever codec read it.
pub(crate) async fn serve(
    ctx: &ListenerCtx,
    peer: SocketAddr,
    conn: &Arc<Connection>,
    mut req: Request<InBody>,
) -> Response<ResponseBody> {
    let start = Instant::now();
    let mut trace = Trace {
        flags: ResponseFlags::NONE,
        phase: Phase::RequestHeaders,
        attempts: 0,
        cluster: None,
        upstream: None,
    };
    let mut carry = None;
    let head = match &ctx.sink {
        Some(sink) => {
            let (mut parts, body) = req.into_parts();
            carry = sink.arrive(crate::record::Arrival {
                reporter: reporter_of(&ctx.kind),
                workload: &ctx.caller,
                gateway: matches!(ctx.kind, ListenerKind::Gateway { .. }),
                downstream: peer,
                method: &parts.method,
                uri: &parts.uri,
                version: parts.version,
                headers: &mut parts.headers,
            });
            let authority = match parts.uri.authority() {
                Some(a) => a.to_string(),
                None => parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
            };
            let head = (
                parts.method.clone(),
                parts.uri.clone(),
                parts.version,
                parts.headers.get(&hh::X_REQUEST_ID).cloned(),
                authority,
                body.size_hint().exact().unwrap_or(0),
            );
            req = Request::from_parts(parts, body);
            Some(head)
        }
        None => None,
    };
    let version = req.version();
    // One load of the routing state: authorization and routing decide on the same one.
    let state = ctx.state.load_full();
    let client = client_address(ctx, conn, peer, req.headers());
    // AuthorizationPolicy at the inbound sidecar and at the gateway, before anything else.
    let policy_port = match &ctx.kind {
        ListenerKind::Inbound { port, .. } | ListenerKind::Gateway { port } => Some(*port),
        _ => None,
    };
    let denied = policy_port.and_then(|port| {
        let at = crate::authz::Addresses {
            source: peer,
            client,
            port,
        };
        crate::authz::check(&state.snapshot, &ctx.caller, conn, at, &req).err()
    });
    let result = match (&ctx.kind, &denied) {
        (_, Some(_)) => Ok(crate::authz::denied()),
        (ListenerKind::Edge { edges, .. }, None) => {
            drop(state);
            Ok(edges.serve(req, ctx.scheme, peer).await)
        }
        (ListenerKind::FrontDoor { doors, .. }, None) => {
            drop(state);
            Ok(doors.serve(req, ctx.scheme, client).await)
        }
        (ListenerKind::Inbound { endpoint, .. }, None) => {
            drop(state);
            set_client_cert_header(&mut req, conn);
            inbound(endpoint, req, &mut trace).await
        }
        (_, None) => {
            let from = Downstream {
                client,
                remote: conn.proxied.map_or(peer.ip(), |a| a.ip()),
            };
            outbound(ctx, state, from, req, &mut trace).await
        }
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            let mut r = local_reply(&e, &mut trace);
            // The replica behind this sidecar refused the connection: tell the calling
            // sidecar the request was never processed (it may retry it elsewhere).
            if let (ListenerKind::Inbound { .. }, ProxyError::ConnectFailure { .. }) =
                (&ctx.kind, &e)
            {
                r.headers_mut().insert(
                    hh::X_MERIDIAN_UNREACHED.clone(),
                    HeaderValue::from_static("connect-failure"),
                );
            }
            r
        }
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        *resp.version_mut() = version;
    }
    trace.phase = Phase::ResponseHeaders;
    if let (Some(sink), Some((method, uri, protocol, request_id, authority, request_bytes))) =
        (&ctx.sink, head)
    {
        let record = RequestRecord {
            reporter: reporter_of(&ctx.kind),
            source_workload: Some(ctx.caller.workload.clone()),
            downstream: peer,
            method,
            authority,
            path: uri
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default(),
            protocol,
            status: resp.status().as_u16(),
            flags: trace.flags,
            cluster: trace
                .cluster
                .as_ref()
                .and_then(|(state, c)| state.snapshot.cluster(*c))
                .map(|c| c.name.clone()),
            upstream: trace.upstream,
            attempts: trace.attempts,
            request_id,
            start,
            duration: start.elapsed(),
            phase: trace.phase,
            request_bytes,
            response_bytes: 0,
            grpc_status: crate::body::grpc_status(resp.headers()),
            carry,
            source_principal: conn.principal.clone(),
            destination_principal: match &ctx.kind {
                ListenerKind::Inbound { tls: Some(t), .. } => Some(Arc::from(t.id.as_str())),
                _ => None,
            },
            connection_security: conn.security,
            response_code_details: denied,
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            // A tunnel from here on: recorded at its head.
            sink.record(record);
        } else {
            // Recorded when the body ends: the duration to the last byte, the bytes sent.
            resp = resp.map(|b| b.recorded(record, sink.clone()));
        }
    }
    resp
}

/// Who sent a request, as the gateway's and sidecars' rules need it.
#[derive(Debug, Clone, Copy)]
struct Downstream {
    /// The trusted client address ([`crate::forwarded`]).
    client: std::net::IpAddr,
    /// The downstream remote address: the PROXY protocol's source, else the peer's.
    remote: std::net::IpAddr,
}

/// The trusted client address: at the gateway by its topology, at a sidecar the rightmost
/// `X-Forwarded-For` entry.
fn client_address(
    ctx: &ListenerCtx,
    conn: &Connection,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> std::net::IpAddr {
    match ctx.kind {
        ListenerKind::Gateway { .. } => crate::forwarded::gateway_client(
            headers,
            conn.proxied.map_or(peer.ip(), |a| a.ip()),
            ctx.topology.num_trusted_proxies,
        ),
        _ => crate::forwarded::sidecar_client(headers, peer.ip()),
    }
}

/// `X-Forwarded-Client-Cert` as Istio's inbound sidecar sets it: whatever the client sent is
/// dropped (it could be forged), and an mTLS peer is described to the workload.
fn set_client_cert_header<B>(req: &mut Request<B>, conn: &Connection) {
    let headers = req.headers_mut();
    headers.remove(&X_FORWARDED_CLIENT_CERT);
    if let Some(xfcc) = &conn.xfcc {
        headers.insert(X_FORWARDED_CLIENT_CERT.clone(), xfcc.clone());
    }
}

fn reporter_of(kind: &ListenerKind) -> Reporter {
    match kind {
        ListenerKind::Inbound { .. } => Reporter::Destination,
        _ => Reporter::Source,
    }
}

/// The one place errors become responses.
fn local_reply(e: &ProxyError, trace: &mut Trace) -> Response<ResponseBody> {
    let (status, flag, body) = e.local_reply();
    trace.flags.insert(flag);
    let mut resp = Response::new(ResponseBody::full(body.clone()));
    *resp.status_mut() = status;
    if !body.is_empty() {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    if matches!(e, ProxyError::Overflow) {
        resp.headers_mut().insert(
            hh::X_ENVOY_OVERLOADED.clone(),
            HeaderValue::from_static("true"),
        );
    }
    resp
}

fn respond(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(body));
    *resp.status_mut() = status;
    resp
}

async fn inbound(
    endpoint: &Arc<Endpoint>,
    mut req: Request<InBody>,
    trace: &mut Trace,
) -> Result<Response<ResponseBody>, ProxyError> {
    trace.upstream = Some(endpoint.addr);
    trace.attempts = 1;
    let upgrade = matches!(req.body(), InBody::Incoming(_))
        && req.version() == Version::HTTP_11
        && hh::is_upgrade(req.headers());
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers, upgrade);
    let protocol = if parts.version == Version::HTTP_2 {
        Protocol::Http2
    } else {
        Protocol::Http1
    };
    if protocol == Protocol::Http2 && parts.uri.authority().is_none() {
        parts.uri = absolute_uri("http", "localhost", &parts.uri)?;
    }
    let req = Request::from_parts(parts, body.into_request_body());
    trace.phase = Phase::UpstreamRequest;
    if let Some(on_upgrade) = on_upgrade {
        return Box::pin(tunnel::forward(
            endpoint,
            req,
            on_upgrade,
            Duration::from_secs(10),
            trace,
        ))
        .await;
    }
    let opts = SendOptions {
        protocol,
        connect_timeout: Duration::from_secs(10),
        idle_timeout: Some(Duration::from_secs(3600)),
        max_requests_per_connection: 0,
    };
    let (resp, lease) = upstream::send(endpoint, req, opts)
        .await
        .map_err(|(e, _)| e)?;
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    // Only the sidecar may say its replica was unreachable.
    parts.headers.remove(&hh::X_MERIDIAN_UNREACHED);
    Ok(Response::from_parts(
        parts,
        ResponseBody::upstream(body, lease, None),
    ))
}

#[allow(clippy::too_many_lines)]
async fn outbound(
    ctx: &ListenerCtx,
    state: Arc<Resolved>,
    from: Downstream,
    mut req: Request<InBody>,
    trace: &mut Trace,
) -> Result<Response<ResponseBody>, ProxyError> {
    let snap = &state.snapshot;
    // The fast path hands upgrades to hyper: a buffered body is never one.
    let upgrade = matches!(req.body(), InBody::Incoming(_))
        && req.version() == Version::HTTP_11
        && hh::is_upgrade(req.headers());
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let target = route::target_of(ctx, &parts)?;
    trace.phase = Phase::Route;
    let matched = match route::route(ctx, snap, &target, &parts)? {
        Routing::Route(m) => m,
        Routing::Passthrough(pass) => {
            let host = target.host().to_owned();
            // Boxed: rare, and its future would enlarge every request's.
            return Box::pin(passthrough::forward(
                pass,
                &host,
                target.port,
                parts,
                body,
                trace,
            ))
            .await;
        }
        Routing::Redirect(resp) => return Ok(resp),
    };
    let route = matched.route;

    trace.phase = Phase::Cors;
    let cors_origin = match policy::cors(route, &parts) {
        Cors::Forward(origin) => origin,
        Cors::Reply(resp) => return Ok(resp),
    };

    let matched_prefix = matched
        .matched
        .and_then(|m| route.matches.get(m))
        .and_then(|m| m.uri.as_ref())
        .and_then(|u| u.matcher.prefix());
    let forward_to = match route::action(route, ctx.scheme, &target, &parts.uri, matched_prefix) {
        Action::Forward(w) => w,
        Action::Reply(resp) => return Ok(resp),
    };
    let (dest, cluster_index) = match route::destination(matched.host, forward_to, target.port)? {
        route::Picked::Cluster(dest, c) => (dest, c),
        route::Picked::Dynamic(dest, port) => {
            // A wildcard destination: the host the request names, resolved by DNS. Boxed as
            // the passthrough is: rare, and its future would enlarge every request's.
            return Box::pin(passthrough::wildcard(
                ctx,
                &state,
                from,
                &matched,
                dest,
                &target,
                port,
                parts,
                body,
                on_upgrade,
                cors_origin,
                trace,
            ))
            .await;
        }
    };
    if ctx.sink.is_some() {
        trace.cluster = Some((state.clone(), cluster_index));
    }
    let (Some(cluster), Some(runtime)) = (
        snap.cluster(cluster_index),
        state.clusters.get(cluster_index),
    ) else {
        return Err(ProxyError::NoCluster(dest.host.clone()));
    };

    trace.phase = Phase::Fault;
    if let Some(fault) = &route.fault
        && let Some(resp) = policy::inject(fault, trace).await?
    {
        return Ok(resp);
    }

    let UpstreamHead {
        template,
        authority,
        protocol,
    } = rewrite::upstream_head(
        ctx,
        from,
        &matched,
        dest,
        &target,
        cluster.protocol,
        upgrade,
        parts,
    )?;

    let (hash, set_cookie) = forward::hash_key(runtime, &template, from.client);
    let body = forward::replayable(body).await?;

    mirror::spawn_all(&state, route, &template, &authority, &body, target.port);

    let send = SendOptions {
        protocol,
        connect_timeout: cluster.policy.connection_pool.connect_timeout,
        idle_timeout: cluster.policy.connection_pool.idle_timeout,
        max_requests_per_connection: cluster.policy.connection_pool.max_requests_per_connection,
    };

    if let Some(on_upgrade) = on_upgrade {
        trace.phase = Phase::Balance;
        let ep = runtime
            .balancer
            .pick(PickContext {
                hash,
                ..PickContext::default()
            })
            .ok_or_else(|| ProxyError::NoHealthyUpstream(cluster.name.clone()))?
            .clone();
        trace.upstream = Some(ep.addr);
        trace.attempts = 1;
        let req = template.request(1, body);
        return Box::pin(tunnel::forward(
            &ep,
            req,
            on_upgrade,
            send.connect_timeout,
            trace,
        ))
        .await;
    }

    // PASSTHROUGH keeps the address the client named, when it named one of the endpoints.
    let original = match runtime.balancer.algorithm() {
        LoadBalancer::Passthrough => target.text().parse::<SocketAddr>().ok(),
        _ => None,
    };
    // The route timeout covers the whole response, as Envoy's: the head must arrive in
    // time (tries and back-offs included), and the body must end by the same deadline.
    let deadline = route.timeout.map(|t| tokio::time::Instant::now() + t);
    let (resp, lease) = forward::forward(
        route,
        forward::Upstreams::Cluster(runtime),
        &cluster.name,
        template,
        body,
        send,
        Affinity { hash, original },
        deadline,
        trace,
    )
    .await?;
    let mut resp = routed_response(resp, lease, dest, route, cors_origin, deadline, trace);
    if let Some(c) = set_cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// An upstream's answer to a routed request, as the viewer gets it: hop-by-hop fields gone,
/// the destination's and the route's response header rules and CORS applied, and the body
/// bound by the route's deadline.
fn routed_response(
    resp: Response<crate::body::UpstreamBody>,
    lease: crate::pool::Lease,
    dest: &meridian_control::snapshot::RouteDestination,
    route: &meridian_control::snapshot::HttpRoute,
    cors_origin: Option<HeaderValue>,
    deadline: Option<tokio::time::Instant>,
    trace: &mut Trace,
) -> Response<ResponseBody> {
    let (mut rparts, rbody) = resp.into_parts();
    strip_hop_by_hop(&mut rparts.headers, false);
    dest.headers.response.apply(&mut rparts.headers);
    route.headers.response.apply(&mut rparts.headers);
    if let (Some(origin), Some(cors)) = (cors_origin, &route.cors) {
        policy::cors_response_headers(cors, origin, &mut rparts.headers);
    }
    trace.phase = Phase::ResponseBody;
    let deadline = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
    Response::from_parts(rparts, ResponseBody::upstream(rbody, lease, deadline))
}

fn roll_percent(p: f64) -> bool {
    p >= 100.0 || (p > 0.0 && rand::rng().random::<f64>() * 100.0 < p)
}

fn absolute_uri(scheme: &str, authority: &str, uri: &Uri) -> Result<Uri, ProxyError> {
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|e| ProxyError::BadRequest(e.to_string()))
}
