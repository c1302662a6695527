//! A load-test target: Meridian's data plane on one thread, with one listener and one upstream.
//! The listener is a sidecar's local port for the `myapp` service (every request on it is
//! routed to `myapp`, whatever its `Host`; HTTP/1.1 and h2c), and `myapp`'s one replica is
//! `--origin ADDR`, or a built-in HTTP/1.1 origin answering "ok" on a thread of its own.
//! With `--hop plain|mtls` the replica sits behind its own inbound sidecar in the same
//! process, so a request crosses two sidecars (client sidecar → server sidecar → origin), in
//! plaintext or with the mesh's automatic mTLS (a throw-away CA); `--mtls-check` exits 0 when
//! this build has the mesh's mTLS (the benchmark script asks before measuring the hop).
//! Prints the addresses and runs until interrupted:
//! `cargo run --release -p meridian-proxy --example loadtarget -- --origin 127.0.0.1:8000`,
//! then `wrk http://<proxy>/` (`bench/proxy.sh` starts it this way, pinned to one core; the
//! listener's port is free-chosen, its IP is `--listen`'s).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use meridian_control::endpoints::{
    EndpointState, EndpointTable, PortMapping, ReplicaEndpoint, WorkloadKind, WorkloadRef,
};
use meridian_identity::{CertificateAuthority, TrustDomain};
use meridian_proxy::{Caller, MeshIdentity, Proxy, ProxyOptions};

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: myapp}
spec:
  selector: {app: myapp}
  ports: [{port: 80, name: http, targetPort: 3000}]
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut listen: std::net::SocketAddr = "127.0.0.1:0".parse()?;
    let mut origin: Option<std::net::SocketAddr> = None;
    let mut hop: Option<Hop> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().unwrap_or_default().parse()?,
            "--origin" => origin = Some(args.next().unwrap_or_default().parse()?),
            "--hop" => {
                hop = Some(match args.next().as_deref() {
                    Some("plain") => Hop::Plain,
                    Some("mtls") => Hop::Mtls,
                    other => anyhow::bail!("--hop takes plain or mtls, not {other:?}"),
                });
            }
            "--mtls-check" => return Ok(()),
            other => anyhow::bail!(
                "unknown argument {other}; use --listen ADDR --origin ADDR [--hop plain|mtls]"
            ),
        }
    }
    let origin_addr = match origin {
        Some(o) => o,
        None => {
            // The origin runs on a thread of its own so the proxy's thread is the proxy's alone.
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            std_listener.set_nonblocking(true)?;
            let addr = std_listener.local_addr()?;
            std::thread::spawn(move || origin_thread(std_listener));
            addr
        }
    };
    run_proxy(origin_addr, listen, hop).await
}

/// Two sidecars on the way: in plaintext, or with the mesh's mTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Plain,
    Mtls,
}

fn origin_thread(listener: std::net::TcpListener) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async move {
        let Ok(origin) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        while let Ok((tcp, _)) = origin.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
}

async fn run_proxy(
    origin_addr: std::net::SocketAddr,
    listen: std::net::SocketAddr,
    hop: Option<Hop>,
) -> anyhow::Result<()> {
    let bundle = meridian_config::load_str(
        Path::new("loadtarget.yaml"),
        MANIFESTS,
        meridian_config::LoadOptions::default(),
    );
    let snapshot = meridian_control::snapshot::compile(&bundle, 1)?;
    let (publisher, watch) = meridian_control::endpoints::channel();
    let replica = ReplicaEndpoint {
        workload: WorkloadRef {
            kind: WorkloadKind::Deployment,
            namespace: "default".into(),
            name: "myapp".into(),
        },
        replica: "myapp-0".into(),
        labels: [("app".to_owned(), "myapp".to_owned())].into(),
        service_account: "default".into(),
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ports: vec![PortMapping {
            name: None,
            declared: 3000,
            actual: origin_addr.port(),
        }],
        state: EndpointState::Ready,
    };
    publisher.send(Arc::new(EndpointTable {
        version: 1,
        replicas: vec![replica.clone()],
    }))?;
    let ca_dir = tempfile::tempdir()?;
    let mesh_identity = match hop {
        Some(Hop::Mtls) => Some(MeshIdentity {
            ca: Arc::new(CertificateAuthority::load_or_create(
                ca_dir.path(),
                TrustDomain::new("cluster.local")?,
            )?),
            workload_cert_ttl: std::time::Duration::from_secs(24 * 3600),
        }),
        _ => None,
    };
    let proxy = Proxy::new(
        Arc::new(snapshot),
        watch,
        ProxyOptions {
            bind: listen.ip(),
            mesh_identity,
            ..ProxyOptions::default()
        },
    );
    if hop.is_some() {
        // Wait for the table, then put the replica behind its inbound sidecar.
        while proxy.endpoints_version() < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        proxy.start_inbound(&replica).await?;
    }
    let caller = Caller {
        workload: Arc::from("default/loadgen"),
        namespace: "default".into(),
        labels: Default::default(),
        service_account: "default".into(),
    };
    let outbound = proxy
        .start_upstream_port(caller, "myapp.default.svc.cluster.local", 80)
        .await?;
    println!("origin {origin_addr}");
    println!("proxy {outbound}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
