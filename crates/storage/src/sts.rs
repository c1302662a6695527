//! AWS STS's `GetCallerIdentity` on the tables endpoint: the one STS call code makes to learn
//! who it is (its account id, to build ARNs; `aws sts get-caller-identity` to check a
//! configuration). SDKs send every service to `AWS_ENDPOINT_URL` when no service-specific
//! endpoint is set, which is the tables endpoint in a function's environment, so the call
//! arrives here: STS's query protocol (a form-encoded POST naming its `Action`, signed for
//! `sts`), answered in STS's XML. Other STS actions are refused as STS refuses an action it
//! does not have.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::dynamo::error::Error;
use crate::keys::Credential;

const VERSION: &str = "2011-06-15";
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Whether a request is in STS's query protocol: no `X-Amz-Target` (every JSON-protocol
/// request names its operation there), a form-encoded body, and an `Action` in it.
pub(crate) fn is_query(headers: &http::HeaderMap, body: &[u8]) -> bool {
    !headers.contains_key("x-amz-target")
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        && form_urlencoded::parse(body).any(|(k, _)| k == "Action")
}

/// The answer to an authenticated query-protocol request.
pub(crate) fn answer(caller: &Credential, body: &[u8]) -> Response<Full<Bytes>> {
    let mut action = None;
    let mut version = None;
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "Action" => action = Some(v.into_owned()),
            "Version" => version = Some(v.into_owned()),
            _ => {}
        }
    }
    let version = version.as_deref().unwrap_or(VERSION);
    match action.as_deref() {
        Some("GetCallerIdentity") => {
            let (arn, user_id) = identity(caller);
            let rid = uuid::Uuid::new_v4().to_string();
            let xml = format!(
                "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  \
                 <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    \
                 <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    \
                 <RequestId>{rid}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
                escape(&arn),
                escape(&user_id),
                escape(&caller.account.id),
            );
            xml_response(StatusCode::OK, xml, &rid)
        }
        Some(other) => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {other} for version {version}"),
        ),
        None => error(StatusCode::BAD_REQUEST, "MissingAction", "Missing Action"),
    }
}

/// A refusal of the request's signature, in STS's words and shape.
pub(crate) fn refusal(e: &Error) -> Response<Full<Bytes>> {
    match e {
        Error::MissingAuthenticationToken => error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ),
        Error::UnrecognizedClient => error(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        Error::IncompleteSignature(m) => error(StatusCode::BAD_REQUEST, "IncompleteSignature", m),
        Error::InvalidSignature(m) if m.starts_with("Signature expired") => {
            error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", m)
        }
        _ => error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ),
    }
}

/// The caller's ARN and user id as STS reports them: an account's keys are its root user
/// (whose user id is the account id); a session is its role's, with the session's name after
/// the role's id.
fn identity(caller: &Credential) -> (String, String) {
    let arn = caller.principal.clone();
    if caller.session_token.is_none() || !arn.contains(":assumed-role/") {
        let user_id = if arn.ends_with(":root") {
            caller.account.id.clone()
        } else {
            caller.access_key_id.clone()
        };
        return (arn, user_id);
    }
    let mut parts = arn.rsplit('/');
    let session = parts.next().unwrap_or_default().to_owned();
    let role = parts.next().unwrap_or_default();
    (
        arn.clone(),
        format!("{}:{session}", role_id(&caller.account.id, role)),
    )
}

/// A role's unique id (`AROA` and 17 characters), the same for the same account and role.
fn role_id(account: &str, role: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{account}/{role}").as_bytes(),
    );
    let id: String = digest
        .as_ref()
        .iter()
        .take(17)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("AROA{id}")
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let rid = uuid::Uuid::new_v4().to_string();
    let xml = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>Sender</Type>\n    \
         <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
         <RequestId>{rid}</RequestId>\n</ErrorResponse>\n",
        escape(message)
    );
    xml_response(status, xml, &rid)
}

fn xml_response(status: StatusCode, xml: String, rid: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(xml)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(rid) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roles_id_is_stable_and_shaped_as_iams() {
        let a = role_id("000000000000", "fn-role");
        assert_eq!(a, role_id("000000000000", "fn-role"));
        assert_ne!(a, role_id("000000000000", "other-role"));
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AROA"));
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
    }
}
