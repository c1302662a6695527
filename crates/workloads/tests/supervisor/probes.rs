//! Probes of each kind, with Kubernetes' semantics, and Compose's healthcheck.

use meridian_control::endpoints::EndpointState;
use meridian_workloads::ReplicaState;

use crate::support::*;

fn readiness(handler: &str) -> String {
    format!(
        "        ports:\n        - containerPort: 3000\n          name: http\n        readinessProbe:\n          {handler}\n          periodSeconds: 1\n"
    )
}

#[tokio::test]
async fn http_readiness_gates_the_endpoint() {
    let h = Harness::start();
    let yaml = Deployment::new("slow")
        .args(&["--ready-after", "1500ms"])
        .container(&readiness("httpGet: {path: /readyz, port: 3000}"))
        .yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    h.wait_for("running, not ready, the probe's answer shown", 30, |s| {
        of(s, "slow").first().is_some_and(|r| {
            r.state == ReplicaState::Running
                && !r.ready
                && r.last_error.as_deref().is_some_and(|e| {
                    e.contains("readiness probe failed: HTTP probe failed with statuscode: 503")
                })
        })
    })
    .await;
    assert_eq!(
        h.table().replicas[0].state,
        EndpointState::NotReady,
        "running but not ready: not an endpoint"
    );
    let s = h
        .wait_for("ready", 30, |s| ready_count(s, "slow") == 1)
        .await;
    assert_eq!(h.ready_endpoints("slow"), 1);
    assert_eq!(s[0].last_error, None, "ready: no current error");
    h.sup.shutdown().await;
}

#[tokio::test]
async fn tcp_and_exec_readiness() {
    let h = Harness::start();
    let tcp = Deployment::new("tcp")
        .container(&readiness("tcpSocket: {port: http}"))
        .yaml();
    let exec_ok = Deployment::new("execok")
        .container(&readiness(
            "exec: {command: [\"sh\", \"-c\", \"test -n \\\"$POD_NAME\\\"\"]}",
        ))
        .yaml();
    let exec_bad = Deployment::new("execbad")
        .container(&readiness(
            "exec: {command: [\"sh\", \"-c\", \"echo not yet; exit 1\"]}",
        ))
        .yaml();
    h.sup
        .apply(manifests(&format!("{tcp}---\n{exec_ok}---\n{exec_bad}")))
        .expect("apply");
    let s = h
        .wait_for("tcp and exec ready, failing exec reported", 30, |s| {
            ready_count(s, "tcp") == 1
                && ready_count(s, "execok") == 1
                && of(s, "execbad")
                    .first()
                    .is_some_and(|r| r.last_error.is_some())
        })
        .await;
    let bad = of(&s, "execbad")[0];
    assert!(!bad.ready);
    assert_eq!(bad.state, ReplicaState::Running);
    let err = bad.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("command sh failed: exit code 1: not yet"),
        "{err}"
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn failing_liveness_restarts_the_replica() {
    let h = Harness::start();
    let live = "        ports:\n        - containerPort: 3000\n        livenessProbe:\n          httpGet: {path: /healthz, port: 3000}\n          periodSeconds: 1\n          failureThreshold: 2\n";
    let yaml = Deployment::new("sick")
        .args(&["--unhealthy-after", "1s"])
        .container(live)
        .yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for("a restart by liveness", 40, |s| {
            of(s, "sick").first().is_some_and(|r| r.restarts >= 1)
        })
        .await;
    let err = s[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("liveness probe failed"), "{err}");
    h.sup.shutdown().await;
}

#[tokio::test]
async fn failing_startup_probe_restarts_and_holds_readiness() {
    let h = Harness::start();
    let startup = "        startupProbe:\n          exec: {command: [\"false\"]}\n          periodSeconds: 1\n          failureThreshold: 2\n";
    let yaml = Deployment::new("nostart").container(startup).yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for("a restart by the startup probe", 40, |s| {
            of(s, "nostart").first().is_some_and(|r| r.restarts >= 1)
        })
        .await;
    assert!(!s[0].ready, "never ready while the startup probe fails");
    assert!(
        s[0].last_error
            .as_deref()
            .is_some_and(|e| e.contains("startup probe failed")),
        "{:?}",
        s[0].last_error
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn a_replica_that_becomes_ready_shows_no_error() {
    let h = Harness::start();
    let flag = tempfile::NamedTempFile::new().expect("tempfile");
    let path = flag.path().to_owned();
    std::fs::remove_file(&path).expect("remove");
    let readiness = format!(
        "        readinessProbe:\n          exec: {{command: [\"test\", \"-f\", \"{}\"]}}\n          periodSeconds: 1\n",
        path.display()
    );
    let yaml = Deployment::new("late").container(&readiness).yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    h.wait_for("a failing readiness probe", 30, |s| {
        of(s, "late").first().is_some_and(|r| {
            r.last_error
                .as_deref()
                .is_some_and(|e| e.contains("readiness probe failed"))
        })
    })
    .await;
    std::fs::write(&path, "").expect("create");
    let s = h
        .wait_for("ready", 30, |s| ready_count(s, "late") == 1)
        .await;
    assert_eq!(of(&s, "late")[0].last_error, None);
    h.sup.shutdown().await;
}

#[tokio::test]
async fn compose_healthcheck_gates_readiness_and_replaces_unhealthy_replicas() {
    let h = Harness::start();
    let yaml = format!(
        "services:\n  healthy:\n{}    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 200ms\n  sick:\n{}    healthcheck:\n      test: exit 1\n      interval: 200ms\n      retries: 2\n    deploy:\n      restart_policy: {{condition: any, delay: 100ms}}\n",
        compose_command(&[]),
        compose_command(&[])
    );
    h.sup.apply(compose(&yaml)).expect("apply");
    let s = h
        .wait_for("healthy ready, sick replaced", 30, |s| {
            ready_count(s, "healthy") == 1 && of(s, "sick").first().is_some_and(|r| r.restarts >= 1)
        })
        .await;
    let sick = of(&s, "sick")[0];
    assert!(
        sick.last_error
            .as_deref()
            .is_some_and(|e| e.contains("healthcheck")),
        "{:?}",
        sick.last_error
    );
    assert!(
        sick.replica.starts_with("sick.1."),
        "Swarm-style task name: {}",
        sick.replica
    );
    h.sup.shutdown().await;
}

/// As a replica: an HTTPS server on `$PORT` with a self-signed certificate, answering 200.
pub(crate) async fn https_role() -> i32 {
    use hyper_util::rt::TokioIo;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("self-signed");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return 1;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from_static(b"secure ok"),
                )))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

/// As a replica: tonic's gRPC health service on `$PORT`; the first argument says the
/// status of the server as a whole (`serving` or `not-serving`).
pub(crate) async fn grpc_health_role(args: Vec<String>) -> i32 {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let (reporter, service) = tonic_health::server::health_reporter();
    let status = if args.first().map(String::as_str) == Some("serving") {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    match tonic::transport::Server::builder()
        .add_service(service)
        .serve(addr)
        .await
    {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("grpc-health: {e}");
            1
        }
    }
}

#[tokio::test]
async fn https_and_grpc_readiness() {
    let h = Harness::start();
    let https = Deployment::new("secure")
        .role("https")
        .container(&readiness(
            "httpGet: {path: /readyz, port: 3000, scheme: HTTPS}",
        ))
        .yaml();
    let grpc_ok = Deployment::new("grpcok")
        .role("grpc-health")
        .args(&["serving"])
        .container(&readiness("grpc: {port: 3000}"))
        .yaml();
    let grpc_down = Deployment::new("grpcdown")
        .role("grpc-health")
        .args(&["not-serving"])
        .container(&readiness("grpc: {port: 3000}"))
        .yaml();
    let grpc_on_https = Deployment::new("grpconhttps")
        .role("https")
        .container(&readiness("grpc: {port: 3000}"))
        .yaml();
    let all = format!("{https}---\n{grpc_ok}---\n{grpc_down}---\n{grpc_on_https}");
    h.sup.apply(manifests(&all)).expect("apply");
    // The failing ones are watched until their server answers (their first probes may find
    // nothing listening yet).
    let answered = |r: &&meridian_workloads::ReplicaStatus| {
        !r.ready
            && r.last_error
                .as_deref()
                .is_some_and(|e| !e.contains("Connection refused"))
    };
    let s = h
        .wait_for(
            "https and serving gRPC ready, the others failing",
            30,
            |s| {
                ready_count(s, "secure") == 1
                    && ready_count(s, "grpcok") == 1
                    && ["grpcdown", "grpconhttps"]
                        .iter()
                        .all(|w| of(s, w).first().is_some_and(answered))
            },
        )
        .await;
    let error = |w: &str| of(&s, w)[0].last_error.clone().unwrap_or_default();
    assert!(
        error("grpcdown")
            .contains("readiness probe failed: service unhealthy (responded with \"NOT_SERVING\")"),
        "{}",
        error("grpcdown")
    );
    // An HTTPS server is no gRPC server: the probe fails with the RPC's error.
    assert!(
        error("grpconhttps").contains("readiness probe failed: rpc error"),
        "{}",
        error("grpconhttps")
    );
    assert_eq!(h.ready_endpoints("grpcdown"), 0);
    h.sup.shutdown().await;
}
