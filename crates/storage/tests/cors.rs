//! Browsers may call the DynamoDB endpoint from any origin, as they may call DynamoDB: a
//! preflight allows the method and headers asked for, every answer to a request with an
//! `Origin` names `*`, and a request without one gets no CORS headers.

mod harness;

use harness::{Server, boto3, run_python};

const SCRIPT: &str = r#"
import os, urllib.request
url = os.environ["ENDPOINT"] + "/"
def send(method, **headers):
    req = urllib.request.Request(url, method=method, headers={k.replace("_", "-"): v for k, v in headers.items()},
                                 data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}

status, h = send("OPTIONS", Origin="http://example.com", Access_Control_Request_Method="POST",
                 Access_Control_Request_Headers="x-amz-target, content-type")
assert status == 200, status
assert h["access-control-allow-origin"] == "*", h
assert h["access-control-allow-methods"] == "POST", h
assert h["access-control-allow-headers"] == "x-amz-target, content-type", h
assert "access-control-max-age" in h and "access-control-expose-headers" in h, h
for method in ["GET", "POST"]:
    status, h = send(method, Origin="http://example.com")
    assert h.get("access-control-allow-origin") == "*", (method, h)
    assert "access-control-max-age" not in h and "access-control-allow-methods" not in h, (method, h)
    status, h = send(method)
    assert not any(k.startswith("access-control-") for k in h), (method, h)
# An unsigned POST from a browser is still refused: the origin authorizes nothing.
status, _ = send("POST", Origin="http://example.com")
assert status == 400, status
print("cors")
"#;

#[tokio::test]
async fn any_origin_may_call_and_the_signature_still_decides() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    assert!(
        run_python(&python, &server.url(), SCRIPT)
            .await
            .contains("cors")
    );
}
