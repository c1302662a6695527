//! A real gRPC client and server (tonic, prost) talking through a sidecar and the gateway:
//! unary calls, server streaming, and a status code that must arrive intact in trailers.

mod harness;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use harness::{Mesh, Origin};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tonic::codegen::http::uri::PathAndQuery;

#[derive(Clone, PartialEq, prost::Message)]
struct EchoRequest {
    #[prost(string, tag = "1")]
    message: String,
    #[prost(uint32, tag = "2")]
    repeat: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EchoReply {
    #[prost(string, tag = "1")]
    message: String,
}

struct Say;

impl tonic::server::UnaryService<EchoRequest> for Say {
    type Response = EchoReply;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<EchoReply>, tonic::Status>> + Send>>;

    fn call(&mut self, req: tonic::Request<EchoRequest>) -> Self::Future {
        Box::pin(async move {
            let m = req.into_inner().message;
            if m == "fail" {
                return Err(tonic::Status::permission_denied("no"));
            }
            Ok(tonic::Response::new(EchoReply {
                message: format!("echo: {m}"),
            }))
        })
    }
}

struct Repeat;

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, tonic::Status>> + Send>>;

impl tonic::server::ServerStreamingService<EchoRequest> for Repeat {
    type Response = EchoReply;
    type ResponseStream = ReplyStream;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<ReplyStream>, tonic::Status>> + Send>>;

    fn call(&mut self, req: tonic::Request<EchoRequest>) -> Self::Future {
        Box::pin(async move {
            let r = req.into_inner();
            let items: Vec<Result<EchoReply, tonic::Status>> = (0..r.repeat)
                .map(|i| {
                    Ok(EchoReply {
                        message: format!("{} #{i}", r.message),
                    })
                })
                .collect();
            let stream: ReplyStream = Box::pin(futures_util::stream::iter(items));
            Ok(tonic::Response::new(stream))
        })
    }
}

/// A tonic server on h2c, served by hyper.
async fn grpc_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let req = req.map(tonic::body::Body::new);
                    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                        EchoReply,
                        EchoRequest,
                    >::default());
                    let resp = match req.uri().path() {
                        "/echo.Echo/Say" => grpc.unary(Say, req).await,
                        "/echo.Echo/Repeat" => grpc.server_streaming(Repeat, req).await,
                        _ => tonic::Status::unimplemented("no such method").into_http(),
                    };
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 50051, name: grpc}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - match: [{uri: {exact: /echo.Echo/Maintenance}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: echo}}]
  - route: [{destination: {host: echo}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: grpc, protocol: GRPC}
    hosts: ["grpc.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["grpc.example.com"]
  gateways: [edge]
  http:
  - route: [{destination: {host: echo, port: {number: 50051}}}]
"#;

/// A tonic client whose connection goes to `proxy` while its requests name `origin`.
async fn client(proxy: SocketAddr, origin: &str) -> tonic::client::Grpc<tonic::transport::Channel> {
    // The channel's origin is what requests name (`:authority`); the connection goes to
    // the proxy.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{proxy}"))
        .expect("endpoint")
        .origin(origin.parse().expect("origin"))
        .connect()
        .await
        .expect("connect to the proxy");
    tonic::client::Grpc::with_origin(channel, origin.parse().expect("origin"))
}

async fn exercise(mut grpc: tonic::client::Grpc<tonic::transport::Channel>) {
    grpc.ready().await.expect("ready");
    let reply: tonic::Response<EchoReply> = grpc
        .unary(
            tonic::Request::new(EchoRequest {
                message: "hello".into(),
                repeat: 0,
            }),
            PathAndQuery::from_static("/echo.Echo/Say"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("unary call");
    assert_eq!(reply.into_inner().message, "echo: hello");

    grpc.ready().await.expect("ready");
    let status = grpc
        .unary::<EchoRequest, EchoReply, _>(
            tonic::Request::new(EchoRequest {
                message: "fail".into(),
                repeat: 0,
            }),
            PathAndQuery::from_static("/echo.Echo/Say"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("status from the server");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);

    grpc.ready().await.expect("ready");
    let stream = grpc
        .server_streaming::<EchoRequest, EchoReply, _>(
            tonic::Request::new(EchoRequest {
                message: "tick".into(),
                repeat: 5,
            }),
            PathAndQuery::from_static("/echo.Echo/Repeat"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("stream");
    let mut stream = stream.into_inner();
    let mut got = Vec::new();
    while let Some(item) = stream.message().await.expect("item") {
        got.push(item.message);
    }
    assert_eq!(
        got,
        (0..5).map(|i| format!("tick #{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_fault_abort_answers_with_the_grpc_status() {
    let mesh = Mesh::new(MANIFESTS).await;
    let sidecar = mesh.sidecar(&[]).await;
    let mut grpc = client(sidecar, "http://echo:50051").await;
    grpc.ready().await.expect("ready");
    let status = grpc
        .unary::<EchoRequest, EchoReply, _>(
            tonic::Request::new(EchoRequest {
                message: "x".into(),
                repeat: 0,
            }),
            PathAndQuery::from_static("/echo.Echo/Maintenance"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("aborted");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(status.message(), "fault filter abort");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_calls_cross_a_sidecar_and_the_gateway() {
    let mut mesh = Mesh::new(MANIFESTS).await;
    let server = Origin {
        name: "echo".into(),
        addr: grpc_server().await,
        hits: Arc::default(),
        seen: Arc::default(),
    };
    let replica = mesh.replica("echo", &[("app", "echo")], 50051, &server);
    mesh.proxy.start_inbound(&replica).await.expect("inbound");
    mesh.settle().await;

    let sidecar = mesh.sidecar(&[]).await;
    exercise(client(sidecar, "http://echo:50051").await).await;

    let gateway = mesh.gateway().await;
    exercise(client(gateway[&80], "http://grpc.example.com").await).await;
}
