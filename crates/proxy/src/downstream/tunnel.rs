//! Upgrades (WebSocket and other `Upgrade` handshakes over HTTP/1.1): the handshake goes
//! upstream on a connection of its own; on `101 Switching Protocols` the two upgraded
//! connections are spliced on a task of their own until either side closes.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::Trace;
use crate::body::{RequestBody, ResponseBody, UpstreamBody};
use crate::error::ProxyError;
use crate::headers::strip_hop_by_hop;
use crate::pool::Endpoint;
use crate::record::Phase;
use crate::upstream;

/// Forwards an upgrade handshake on its own connection; on `101` the two upgraded
/// connections are spliced until either side closes.
pub(super) async fn forward(
    ep: &Arc<Endpoint>,
    req: Request<RequestBody>,
    downstream: hyper::upgrade::OnUpgrade,
    connect_timeout: Duration,
    trace: &mut Trace,
) -> Result<Response<ResponseBody>, ProxyError> {
    let (mut resp, lease) = upstream::send_upgrade(ep, req, connect_timeout)
        .await
        .map_err(|(e, _)| e)?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        return Ok(Response::from_parts(
            parts,
            ResponseBody::upstream(UpstreamBody::hyper(body), lease, None),
        ));
    }
    trace.phase = Phase::Tunnel;
    let upstream = hyper::upgrade::on(&mut resp);
    tokio::spawn(async move {
        let _lease = lease;
        let (down, up) = tokio::join!(downstream, upstream);
        if let (Ok(down), Ok(up)) = (down, up) {
            let mut down = TokioIo::new(down);
            let mut up = TokioIo::new(up);
            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
        }
    });
    let (parts, _) = resp.into_parts();
    Ok(Response::from_parts(parts, ResponseBody::empty()))
}
