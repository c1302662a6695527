//! Properties of how a gateway connection starts, checked over arbitrary bytes (the fuzz
//! target `gateway_hello` and its regression corpus call
//! [`crate::fuzz::gateway_connection_start`]):
//!
//! * a PROXY protocol header parses to the same outcome whole and when it arrives byte by
//!   byte, and never claims more bytes than it was given;
//! * a TLS ClientHello (parsed by rustls' acceptor, as the gateway does) yields an SNI, and
//!   the Gateway server picked for it is the one Istio's rules pick: a server naming the
//!   host exactly, else the longest matching wildcard, else the first TLS server.
//!
//! Any violation panics; no input may hang or panic otherwise.

use std::sync::{Arc, OnceLock};

use meridian_control::snapshot::{GatewayListener, Snapshot};

use crate::proxy_protocol;

/// A gateway with exact, wildcard and catch-all servers on port 443.
fn gateway() -> &'static GatewayListener {
    static SNAPSHOT: OnceLock<Option<Arc<Snapshot>>> = OnceLock::new();
    let snapshot = SNAPSHOT.get_or_init(|| {
        let yaml = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: ["api.example.com"]
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: ["*.example.com"]
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
  - port: {number: 443, name: https-c, protocol: HTTPS}
    hosts: ["*.eu.example.com"]
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
"#;
        let bundle = meridian_config::load_str(
            std::path::Path::new("fuzz.yaml"),
            yaml,
            meridian_config::LoadOptions::default(),
        );
        meridian_control::snapshot::compile(&bundle, 1)
            .ok()
            .map(Arc::new)
    });
    match snapshot.as_ref().and_then(|s| s.gateway(443)) {
        Some(g) => g,
        None => unreachable!("the fuzz gateway compiles"),
    }
}

/// Runs the properties over `data`: its first byte says whether a PROXY header comes first.
pub(crate) fn check(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        let Ok(Some((_, len))) = proxy_protocol::parse_prefix(rest) else {
            return;
        };
        assert!(len <= rest.len(), "a header longer than its input");
        // Arriving byte by byte: incomplete until its last byte, then the same header.
        if len <= 1024 {
            for n in 0..len {
                assert!(
                    matches!(proxy_protocol::parse_prefix(&rest[..n]), Ok(None)),
                    "complete after {n} of {len} bytes"
                );
            }
        }
        rest = &rest[len..];
    }
    let mut acceptor = rustls::server::Acceptor::default();
    let mut input = rest;
    while !input.is_empty() {
        match acceptor.read_tls(&mut input) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    let Ok(Some(accepted)) = acceptor.accept() else {
        return;
    };
    let sni = accepted.client_hello().server_name().map(str::to_owned);
    let gw = gateway();
    let Some(server) = gw.server_for_sni(sni.as_deref()) else {
        unreachable!("a TLS gateway always has a server to answer with")
    };
    let Some(sni) = sni.map(|s| s.to_ascii_lowercase()) else {
        assert_eq!(
            server.hosts,
            ["api.example.com"],
            "no SNI: the first server"
        );
        return;
    };
    let exact = gw.servers.iter().any(|s| s.hosts.contains(&sni));
    if exact {
        assert!(server.hosts.contains(&sni), "{sni}: the exact server");
        return;
    }
    let best = gw
        .servers
        .iter()
        .flat_map(|s| s.hosts.iter())
        .filter_map(|h| h.strip_prefix('*'))
        .filter(|suffix| sni.ends_with(suffix) && sni.len() > suffix.len())
        .map(str::len)
        .max();
    match best {
        Some(len) => assert!(
            server
                .hosts
                .iter()
                .any(|h| h.strip_prefix('*').is_some_and(|s| s.len() == len)),
            "{sni}: the longest wildcard"
        ),
        None => assert_eq!(server.hosts, ["api.example.com"], "{sni}: the first server"),
    }
}
