//! A load-test target: one HTTP/1.1 origin answering "ok", and a sidecar outbound listener
//! routing `Host: myapp` to it. Prints the addresses and runs until interrupted:
//! `cargo run --release -p meridian-proxy --example loadtarget`, then
//! `wrk -H 'Host: myapp' http://<proxy>/` (issue 5's benchmark script starts it this way).

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
use meridian_proxy::{Caller, Proxy, ProxyOptions};

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
    // The origin runs on a thread of its own so the proxy's thread is the proxy's alone.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let origin_addr = std_listener.local_addr()?;
    std::thread::spawn(move || origin_thread(std_listener));
    run_proxy(origin_addr).await
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

async fn run_proxy(origin_addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let bundle = meridian_config::load_str(
        Path::new("loadtarget.yaml"),
        MANIFESTS,
        meridian_config::LoadOptions::default(),
    );
    let snapshot = meridian_control::snapshot::compile(&bundle, 1)?;
    let (publisher, watch) = meridian_control::endpoints::channel();
    publisher.send(Arc::new(EndpointTable {
        version: 1,
        replicas: vec![ReplicaEndpoint {
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
        }],
    }))?;
    let proxy = Proxy::new(Arc::new(snapshot), watch, ProxyOptions::default());
    let caller = Caller {
        workload: Arc::from("default/loadgen"),
        namespace: "default".into(),
        labels: Default::default(),
        service_account: "default".into(),
    };
    let outbound = proxy.start_outbound(caller).await?;
    println!("origin {origin_addr}");
    println!("proxy {outbound}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
