//! The DynamoDB JSON 1.0 protocol over HTTP: `POST /` with `X-Amz-Target:
//! DynamoDB_20120810.<Operation>`, a SigV4-signed JSON body of at most 16 MB, answered with
//! `application/x-amz-json-1.0`, `x-amzn-RequestId` and the `x-amz-crc32` the SDKs verify.
//! Authentication (SigV4 against the key store) and authorization (a session credential's
//! policy, per table) happen here, before the operation runs.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::Dynamo;
use super::encoding::Coding;
use super::error::Error;
use crate::iam::Caller;
use crate::keys::{Credential, Decision, KeyStore};
use crate::sigv4::{self, AuthError, SignedRequest};

/// DynamoDB's request size limit.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
const TARGET_PREFIX: &str = "DynamoDB_20120810.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// What serves the API: the tables and the keys that may use them.
#[derive(Debug, Clone)]
pub struct Service {
    /// The tables.
    pub dynamo: Arc<Dynamo>,
    /// The credentials.
    pub keys: Arc<KeyStore>,
}

/// A request id as DynamoDB's: 52 characters of `[A-Z0-9]`, one random byte each (the
/// modulo's slight lean to the first letters does not matter to an identifier).
fn request_id() -> [u8; 52] {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 52];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    for b in &mut bytes {
        *b = ALPHABET[usize::from(*b) % ALPHABET.len()];
    }
    bytes
}

/// A response with the headers DynamoDB sends.
pub fn respond(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let crc = crc32fast::hash(&body);
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_bytes(&request_id()) {
        h.insert("x-amzn-requestid", v);
    }
    h.insert("x-amz-crc32", HeaderValue::from(crc));
    resp
}

/// An error response.
pub fn error_response(e: &Error) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    respond(status, serde_json::to_vec(&e.to_json()).unwrap_or_default())
}

fn auth_error(e: AuthError) -> Error {
    match e {
        AuthError::Missing => Error::MissingAuthenticationToken,
        AuthError::Incomplete(m) => Error::IncompleteSignature(m),
        AuthError::UnknownKey => Error::UnrecognizedClient,
        AuthError::Mismatch => Error::InvalidSignature(AuthError::Mismatch.to_string()),
        AuthError::Expired(m) => Error::InvalidSignature(format!("Signature expired: {m}")),
    }
}

/// Checks the signature; returns the caller's credential.
fn authenticate(
    keys: &KeyStore,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Arc<Credential>, Error> {
    let Some(header) = parts.headers.get(http::header::AUTHORIZATION) else {
        return Err(Error::MissingAuthenticationToken);
    };
    let header = header
        .to_str()
        .map_err(|_| Error::IncompleteSignature("Authorization header is not ASCII".into()))?;
    let auth = sigv4::parse_authorization(header).map_err(auth_error)?;
    let cred = keys
        .lookup(&auth.access_key)
        .ok_or(Error::UnrecognizedClient)?;
    if let Some(token) = &cred.session_token {
        let sent = parts
            .headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        if sent != Some(token.as_str()) {
            return Err(Error::UnrecognizedClient);
        }
    }
    let req = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
        body,
    };
    sigv4::verify(
        &req,
        &auth,
        &cred.secret_access_key,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(auth_error)?;
    Ok(cred)
}

/// The IAM actions an operation needs, each with the resource it needs it on, as DynamoDB
/// authorizes them: a query or scan of an index needs its action on the index's ARN; a
/// batch needs its action on every table it names; a transaction needs the item action of
/// each part (IAM has no `TransactWriteItems` action); an operation on no table needs its
/// action on `*`. A PartiQL statement is read with its own parameters, exactly as it will
/// run, so that none runs on a permission it was not checked for.
fn permissions(dynamo: &Dynamo, op: &str, body: &Value) -> Vec<(String, String)> {
    // A table named by its ARN is that resource.
    let arn = |t: &str| {
        if t.starts_with("arn:") {
            t.to_owned()
        } else {
            format!(
                "arn:aws:dynamodb:{}:{}:table/{t}",
                dynamo.region, dynamo.account
            )
        }
    };
    let action = |a: &str| format!("dynamodb:{a}");
    let mut out = Vec::new();
    match op {
        "BatchGetItem" | "BatchWriteItem" => {
            if let Some(Value::Object(m)) = body.get("RequestItems") {
                out.extend(m.keys().map(|t| (action(op), arn(t))));
            }
        }
        "TransactWriteItems" | "TransactGetItems" => {
            for part in body
                .get("TransactItems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Value::Object(m) = part else { continue };
                for (kind, spec) in m {
                    let item_action = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        "Get" => "GetItem",
                        // The operation refuses it with the right message.
                        _ => continue,
                    };
                    if let Some(t) = spec.get("TableName").and_then(Value::as_str) {
                        out.push((action(item_action), arn(t)));
                    }
                }
            }
        }
        // PartiQL needs dynamodb:PartiQL<Verb> on the table (or index) of every statement.
        "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction" => {
            let statements: Vec<&Value> = match op {
                "ExecuteStatement" => vec![body],
                "BatchExecuteStatement" => body
                    .get("Statements")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .collect(),
                _ => body
                    .get("TransactStatements")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .collect(),
            };
            for s in statements {
                let Some(text) = s.get("Statement").and_then(Value::as_str) else {
                    continue;
                };
                // A statement that does not parse with its parameters does not run: the
                // operation refuses it.
                if let Some((verb, table, index)) = super::partiql::permission(text, s) {
                    let resource = match index {
                        Some(i) => format!("{}/index/{i}", arn(&table)),
                        None => arn(&table),
                    };
                    out.push((action(verb), resource));
                }
            }
        }
        // A stream's operations act on the stream's ARN (a shard iterator begins with it).
        "DescribeStream" | "GetShardIterator" | "GetRecords" => {
            let arn = body
                .get("StreamArn")
                .or_else(|| body.get("ShardIterator"))
                .and_then(Value::as_str)
                .and_then(|s| s.split('|').next())
                .unwrap_or("*");
            out.push((action(op), arn.to_owned()));
        }
        "TagResource"
        | "UntagResource"
        | "ListTagsOfResource"
        | "PutResourcePolicy"
        | "GetResourcePolicy"
        | "DeleteResourcePolicy" => {
            let arn = body
                .get("ResourceArn")
                .and_then(Value::as_str)
                .unwrap_or("*");
            out.push((action(op), arn.to_owned()));
        }
        // An export acts on the table (its ARN), an import on the table it creates; a
        // description on the export's or the import's ARN.
        "ExportTableToPointInTime" | "ListExports" | "ListImports" => {
            let arn = body.get("TableArn").and_then(Value::as_str).unwrap_or("*");
            out.push((action(op), arn.to_owned()));
        }
        "ImportTable" => {
            if let Some(t) = body
                .pointer("/TableCreationParameters/TableName")
                .and_then(Value::as_str)
            {
                out.push((action(op), arn(t)));
            }
        }
        // A backup's operations act on the backup; a restore on the table it makes (from a
        // backup) or on the table it restores (to a point in time).
        "DescribeBackup" | "DeleteBackup" => {
            let arn = body.get("BackupArn").and_then(Value::as_str).unwrap_or("*");
            out.push((action(op), arn.to_owned()));
        }
        "RestoreTableFromBackup" => {
            if let Some(t) = body.get("TargetTableName").and_then(Value::as_str) {
                out.push((action(op), arn(t)));
            }
        }
        "RestoreTableToPointInTime" => {
            if let Some(t) = body
                .get("SourceTableArn")
                .or_else(|| body.get("SourceTableName"))
                .and_then(Value::as_str)
            {
                out.push((action(op), arn(t)));
            }
        }
        "DescribeExport" | "DescribeImport" => {
            let field = if op == "DescribeExport" {
                "ExportArn"
            } else {
                "ImportArn"
            };
            let arn = body.get(field).and_then(Value::as_str).unwrap_or("*");
            out.push((action(op), arn.to_owned()));
        }
        "ListStreams" => {
            let resource = body
                .get("TableName")
                .and_then(Value::as_str)
                .map_or_else(|| "*".to_owned(), |t| format!("{}/stream/*", arn(t)));
            out.push((action(op), resource));
        }
        _ => {
            let resource = match (
                body.get("TableName").and_then(Value::as_str),
                body.get("IndexName").and_then(Value::as_str),
            ) {
                (Some(t), Some(i)) if matches!(op, "Query" | "Scan") => {
                    format!("{}/index/{i}", arn(t))
                }
                (Some(t), _) => arn(t),
                (None, _) => "*".to_owned(),
            };
            out.push((action(op), resource));
        }
    }
    if out.is_empty() {
        out.push((action(op), "*".to_owned()));
    }
    out
}

/// Whether `cred` may do `op` with `body`, as IAM decides for DynamoDB: an explicit deny in
/// the resource's policy or the caller's identity policy refuses; otherwise a caller of the
/// tables' account needs either to allow it, and a caller of another account needs both
/// (an operation on no table, `*`, has no resource policy to allow it: only
/// DescribeEndpoints answers another account). The account's own keys (its root)
/// may always read, replace and delete a resource policy, whatever it says.
fn authorize(dynamo: &Dynamo, cred: &Credential, op: &str, body: &Value) -> Result<(), Error> {
    let policies = dynamo.policies_in_use();
    let foreign = cred.account.id != dynamo.account;
    if cred.policy.is_none() && !policies && !foreign {
        return Ok(());
    }
    let caller = Caller::of(Some(cred));
    let keys = crate::iam::caller_keys(&caller);
    let root = cred.policy.is_none() && cred.service.is_none() && !foreign;
    for (action, resource) in permissions(dynamo, op, body) {
        let attached = if policies {
            dynamo.policy_for(&resource)
        } else {
            None
        };
        let evaluated = attached.map(|p| p.evaluate(&caller, &action, &resource, &keys));
        let by_resource = evaluated.map_or(Decision::ImplicitDeny, |e| e.decision);
        // In the table's own account, an allow that names only the account delegates to
        // the caller's identity policy.
        let delegated = !foreign && evaluated.is_some_and(|e| e.delegated);
        let manages_policy = matches!(
            action.as_str(),
            "dynamodb:GetResourcePolicy"
                | "dynamodb:PutResourcePolicy"
                | "dynamodb:DeleteResourcePolicy"
        );
        let by_identity = cred
            .policy
            .as_ref()
            .map_or(Decision::Allow, |p| p.decide(&action, &resource));
        let why = if by_resource == Decision::ExplicitDeny && !(root && manages_policy) {
            "with an explicit deny in a resource-based policy".to_owned()
        } else if by_identity == Decision::ExplicitDeny {
            "with an explicit deny in an identity-based policy".to_owned()
        } else if foreign && action != "dynamodb:DescribeEndpoints" {
            // Another account's key needs this account's resource policy to allow it, on
            // every resource: an operation on no table (`*`, ListTables) lists nothing of
            // another account's.
            match (by_identity, by_resource) {
                (Decision::Allow, Decision::Allow) => continue,
                (Decision::Allow, _) => {
                    format!("because no resource-based policy allows the {action} action")
                }
                _ => format!("because no identity-based policy allows the {action} action"),
            }
        } else if by_identity == Decision::Allow || (by_resource == Decision::Allow && !delegated) {
            continue;
        } else {
            format!("because no identity-based policy allows the {action} action")
        };
        return Err(Error::AccessDenied(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
            cred.principal
        )));
    }
    Ok(())
}

/// Serves one HTTP request.
pub async fn handle<B>(service: &Service, req: Request<B>) -> Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if head_too_large(&req) {
        return respond(StatusCode::BAD_REQUEST, Vec::new());
    }
    let coding = super::encoding::accepted(req.headers());
    let cors = req.headers().contains_key(http::header::ORIGIN);
    if cors && req.method() == http::Method::OPTIONS {
        return preflight(req.headers());
    }
    let mut resp = match serve(service, req).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    };
    if cors {
        allow_origin(resp.headers_mut());
    }
    match coding {
        Some(coding) => compress_response(resp, coding),
        None => resp,
    }
}

/// The most bytes DynamoDB reads of a request line, and of a header section: past either
/// it answers a bare 400 Bad Request before looking at the request.
const MAX_HEAD: usize = 16 * 1024;

/// Whether the request line or the header section is longer than DynamoDB reads, counted as
/// they were on the wire (`name: value` and a line end per header).
fn head_too_large<B>(req: &Request<B>) -> bool {
    let uri = req.uri();
    let target = uri
        .authority()
        .map_or(0, |a| a.as_str().len() + "http://".len())
        + uri.path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + " ".len() + target + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + ": ".len() + value.len() + "\r\n".len())
        .sum();
    line > MAX_HEAD || headers > MAX_HEAD
}

/// What a browser may read of a cross-origin answer: DynamoDB lets any origin call it (the
/// signature, not the origin, is what authorizes a request).
fn allow_origin(h: &mut http::HeaderMap) {
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-amzn-RequestId,x-amzn-ErrorType,x-amz-crc32,Date"),
    );
}

/// A CORS preflight: the method and headers asked for are allowed, for a day.
fn preflight(asked: &http::HeaderMap) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    let h = resp.headers_mut();
    allow_origin(h);
    h.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    for (request, allow) in [
        (
            http::header::ACCESS_CONTROL_REQUEST_METHOD,
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
        ),
        (
            http::header::ACCESS_CONTROL_REQUEST_HEADERS,
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        ),
    ] {
        if let Some(v) = asked.get(&request) {
            h.insert(allow, v.clone());
        }
    }
    resp
}

/// Compresses a response over the threshold; the CRC32 covers the bytes as sent.
fn compress_response(resp: Response<Full<Bytes>>, coding: Coding) -> Response<Full<Bytes>> {
    let (mut parts, body) = resp.into_parts();
    // A `Full` body yields its one frame at once; nothing here waits.
    let bytes = match futures_util::FutureExt::now_or_never(body.collect()) {
        Some(Ok(collected)) => collected.to_bytes(),
        _ => return Response::from_parts(parts, Full::new(Bytes::new())),
    };
    if bytes.len() <= super::encoding::RESPONSE_THRESHOLD {
        return Response::from_parts(parts, Full::new(bytes));
    }
    let Ok(compressed) = super::encoding::compress(coding, &bytes) else {
        return Response::from_parts(parts, Full::new(bytes));
    };
    parts.headers.insert(
        http::header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.as_str()),
    );
    parts.headers.insert(
        "x-amz-crc32",
        HeaderValue::from(crc32fast::hash(&compressed)),
    );
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Full::new(Bytes::from(compressed)))
}

async fn serve<B>(service: &Service, req: Request<B>) -> Result<Response<Full<Bytes>>, Error>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    if parts.method == http::Method::GET && parts.uri.path() == "/" {
        // DynamoDB answers a plain GET with its health line, naming the host it was
        // addressed as; load balancers rely on it.
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or_else(
                || format!("dynamodb.{}.amazonaws.com", service.dynamo.region),
                str::to_owned,
            );
        let mut resp = Response::new(Full::new(Bytes::from(format!("healthy: {host} "))));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        return Ok(resp);
    }
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Error::RequestTooLarge);
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(Error::RequestTooLarge);
        }
        Err(e) => {
            return Err(Error::Serialization(format!(
                "could not read the request body: {e}"
            )));
        }
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The Streams API shares the endpoint, the signature's service and the keys.
    let (op, streams) = match target.strip_prefix(TARGET_PREFIX) {
        Some(op) => (op, false),
        None => (
            target
                .strip_prefix(super::stream::TARGET_PREFIX)
                .unwrap_or(""),
            true,
        ),
    };
    let served = if streams {
        super::stream::OPERATIONS
    } else {
        super::OPERATIONS
    };
    if target.is_empty()
        && parts.method == http::Method::POST
        && crate::sts::is_query(&parts.headers, &body)
    {
        return Ok(match authenticate(&service.keys, &parts, &body) {
            Ok(cred) => crate::sts::answer(&cred, &body),
            Err(e) => crate::sts::refusal(&e),
        });
    }
    if parts.method != http::Method::POST || !served.contains(&op) {
        // Coral checks the signature before it looks for the operation.
        authenticate(&service.keys, &parts, &body)?;
        return Err(Error::UnknownOperation(String::new()));
    }
    let cred = authenticate(&service.keys, &parts, &body)?;
    let body = super::encoding::decode_request(&parts.headers, body, MAX_BODY)?;
    let json: Value = if body.is_empty() {
        Value::Object(Default::default())
    } else {
        // DynamoDB answers a body that is not JSON with a bare SerializationException:
        // no message, so none names a position either.
        serde_json::from_slice(&body).map_err(|e| {
            tracing::debug!(error = %e, "request body is not JSON");
            Error::Serialization(String::new())
        })?
    };
    authorize(&service.dynamo, &cred, op, &json)?;
    let out = if op == "DescribeEndpoints" && !streams {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        serde_json::to_vec(&service.dynamo.describe_endpoints(host)).unwrap_or_default()
    } else if streams {
        serde_json::to_vec(&service.dynamo.call_streams(op, &json).await?).unwrap_or_default()
    } else if super::transfer::OPERATIONS.contains(&op) {
        // Exports and imports reach the bucket as the caller.
        serde_json::to_vec(&service.dynamo.call_transfer(op, &json, &cred).await?)
            .unwrap_or_default()
    } else {
        service.dynamo.call_text(op, &json).await?
    };
    Ok(respond(StatusCode::OK, out))
}
