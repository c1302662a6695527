//! Browser uploads: `POST /<bucket>` with a `multipart/form-data` body (PostObject).
//!
//! The form's fields come before its `file` field and are read into memory (bounded); the
//! policy document they carry is checked (its signature, SigV4 `x-amz-signature` or SigV2
//! `signature`, its expiration, and every condition against the fields, each field needing
//! a condition) before a byte of the file is stored. The file then streams to disk as a
//! PutObject body does, up to the form's closing boundary; fields after it are ignored, as
//! S3 ignores them. The upload commits as a PutObject would, and the answer follows
//! `success_action_redirect` or `success_action_status`.

use base64::Engine as _;
use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use super::S3;
use super::api::{self, Body, Ctx, set};
use super::body::Inbound;
use super::checksum;
use super::error::{Code, Error, Result};
use super::object::WriteCondition;
use super::store::ObjectMeta;
use super::xml::Writer;
use crate::iam::Caller;
use crate::keys::KeyStore;

/// The most the fields before the file may hold.
const MAX_FIELDS: usize = 1 << 20;

fn malformed() -> Error {
    Error::new(
        Code::MalformedPOSTRequest,
        "The body of your POST request is not well-formed multipart/form-data.",
    )
}

fn invalid_policy(why: &str) -> Error {
    Error::new(
        Code::InvalidPolicyDocument,
        format!("Invalid Policy: {why}"),
    )
}

fn policy_failed(why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::AccessDenied,
        format!("Invalid according to Policy: {why}"),
    )
}

/// Whether a request is a browser upload.
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

fn boundary(headers: &HeaderMap) -> Result<String> {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or_else(malformed)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = 0;
    while let Some(i) = hay.get(at..)?.iter().position(|b| *b == first) {
        let i = at + i;
        if hay.get(i..i + needle.len()) == Some(needle) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

/// The body of a form being read.
struct Reader<'a> {
    inbound: &'a mut Inbound,
    buf: BytesMut,
    eof: bool,
}

impl Reader<'_> {
    async fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        match self.inbound.next().await? {
            Some(d) => {
                self.buf.extend_from_slice(&d);
                Ok(true)
            }
            None => {
                self.eof = true;
                Ok(false)
            }
        }
    }

    /// Reads up to `needle`, which is consumed; `None` past `limit` bytes or at the end.
    async fn until(&mut self, needle: &[u8], limit: usize) -> Result<Bytes> {
        loop {
            if let Some(i) = find(&self.buf, needle) {
                let out = self.buf.split_to(i).freeze();
                self.buf.advance(needle.len());
                return Ok(out);
            }
            if self.buf.len() > limit || !self.fill().await? {
                return Err(malformed());
            }
        }
    }
}

/// One part's `Content-Disposition` name and filename, and its `Content-Type`.
pub(crate) fn part_head(head: &[u8]) -> Result<(String, Option<String>, Option<String>)> {
    let text = std::str::from_utf8(head).map_err(|_| malformed())?;
    let (mut name, mut filename, mut ctype) = (None, None, None);
    for line in text.split("\r\n") {
        let Some((h, v)) = line.split_once(':') else {
            continue;
        };
        if h.trim().eq_ignore_ascii_case("content-disposition") {
            for p in v.split(';').skip(1) {
                if let Some((k, val)) = p.trim().split_once('=') {
                    let val = val.trim().trim_matches('"').to_owned();
                    match k.trim().to_ascii_lowercase().as_str() {
                        "name" => name = Some(val),
                        "filename" => filename = Some(val),
                        _ => {}
                    }
                }
            }
        } else if h.trim().eq_ignore_ascii_case("content-type") {
            ctype = Some(v.trim().to_owned());
        }
    }
    Ok((name.ok_or_else(malformed)?, filename, ctype))
}

/// The form's fields (lower-case names, values), the file's name and content type; the
/// reader is left at the start of the file's bytes.
async fn read_fields(
    r: &mut Reader<'_>,
    boundary: &str,
) -> Result<(Vec<(String, String)>, Option<String>, Option<String>)> {
    let open = format!("--{boundary}");
    r.until(open.as_bytes(), MAX_FIELDS).await?;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut size = 0;
    loop {
        // After a delimiter: `--` ends the form, CRLF starts a part.
        while r.buf.len() < 2 {
            if !r.fill().await? {
                return Err(malformed());
            }
        }
        if r.buf.starts_with(b"--") {
            return Err(Error::invalid_argument(
                "POST requires exactly one file upload per request.",
                "file",
                "0",
            ));
        }
        let head = r.until(b"\r\n\r\n", 16 << 10).await?;
        let (name, filename, ctype) = part_head(head.strip_prefix(b"\r\n").unwrap_or(&head))?;
        if name.eq_ignore_ascii_case("file") {
            return Ok((fields, filename, ctype));
        }
        let delim = format!("\r\n--{boundary}");
        let value = r.until(delim.as_bytes(), MAX_FIELDS).await?;
        size += name.len() + value.len();
        if size > MAX_FIELDS {
            return Err(Error::new(
                Code::MaxMessageLengthExceeded,
                "Your request was too big.",
            ));
        }
        let value = String::from_utf8(value.to_vec()).map_err(|_| malformed())?;
        fields.push((name.to_ascii_lowercase(), value));
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The credential a form is signed with (none: anonymous) and its decoded policy document.
type Signed = (
    Option<std::sync::Arc<crate::keys::Credential>>,
    Option<Vec<u8>>,
);

/// Checks a signature against a secret key.
type Verifier = Box<dyn Fn(&str) -> bool>;

/// The caller the form's signature names (SigV4 or SigV2), or anonymous when it carries
/// none; the policy document, decoded, when there is one.
fn authenticate(keys: &KeyStore, fields: &[(String, String)]) -> Result<Signed> {
    let f = |n: &str| field(fields, n);
    let policy = f("policy");
    let v4 = f("x-amz-algorithm").is_some() || f("x-amz-signature").is_some();
    let v2 = f("awsaccesskeyid").is_some() || f("signature").is_some();
    if !v4 && !v2 {
        if policy.is_some() {
            return Err(Error::invalid_argument(
                "Bucket POST must contain a field named 'AWSAccessKeyId'.  If it is specified, please check the order of the fields.",
                "AWSAccessKeyId",
                "",
            ));
        }
        return Ok((None, None));
    }
    let Some(policy) = policy else {
        return Err(Error::invalid_argument(
            "Bucket POST must contain a field named 'policy'.  If it is specified, please check the order of the fields.",
            "policy",
            "",
        ));
    };
    let (access_key, verified): (&str, Verifier) = if v4 {
        if f("x-amz-algorithm") != Some("AWS4-HMAC-SHA256") {
            return Err(Error::invalid_argument(
                "Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm.",
                "x-amz-algorithm",
                f("x-amz-algorithm").unwrap_or(""),
            ));
        }
        let (Some(cred), Some(sig)) = (f("x-amz-credential"), f("x-amz-signature")) else {
            return Err(Error::invalid_argument(
                "Bucket POST must contain a field named 'x-amz-signature'.  If it is specified, please check the order of the fields.",
                "x-amz-signature",
                "",
            ));
        };
        let parts: Vec<&str> = cred.split('/').collect();
        let [ak, date, region, service, "aws4_request"] = parts.as_slice() else {
            return Err(Error::invalid_argument(
                "Error parsing the X-Amz-Credential parameter.",
                "x-amz-credential",
                cred,
            ));
        };
        let (date, region, service, sig) = (
            (*date).to_owned(),
            (*region).to_owned(),
            (*service).to_owned(),
            sig.to_owned(),
        );
        let policy = policy.to_owned();
        (
            ak,
            Box::new(move |secret: &str| {
                let key = crate::sigv4::signing_key(secret, &date, &region, &service);
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
                let mac = aws_lc_rs::hmac::sign(&key, policy.as_bytes());
                checksum::hex(mac.as_ref()).eq_ignore_ascii_case(&sig)
            }),
        )
    } else {
        let Some(ak) = f("awsaccesskeyid") else {
            return Err(Error::invalid_argument(
                "Bucket POST must contain a field named 'AWSAccessKeyId'.  If it is specified, please check the order of the fields.",
                "AWSAccessKeyId",
                "",
            ));
        };
        let Some(sig) = f("signature") else {
            return Err(Error::invalid_argument(
                "Bucket POST must contain a field named 'Signature'.  If it is specified, please check the order of the fields.",
                "Signature",
                "",
            ));
        };
        let given = checksum::unbase64(sig).unwrap_or_default();
        let policy = policy.to_owned();
        (
            ak,
            Box::new(move |secret: &str| {
                let key = aws_lc_rs::hmac::Key::new(
                    aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                    secret.as_bytes(),
                );
                aws_lc_rs::hmac::verify(&key, policy.as_bytes(), &given).is_ok()
            }),
        )
    };
    let Some(cred) = keys.lookup(access_key) else {
        return Err(Error::new(
            Code::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .with("AWSAccessKeyId", access_key));
    };
    if !verified(&cred.secret_access_key) {
        return Err(Error::new(
            Code::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ));
    }
    let doc = base64::engine::general_purpose::STANDARD
        .decode(policy.trim())
        .map_err(|_| invalid_policy("Policy is not valid base64."))?;
    Ok((Some(cred), Some(doc)))
}

/// Fields no condition needs to name.
fn exempt(name: &str) -> bool {
    matches!(
        name,
        "awsaccesskeyid"
            | "signature"
            | "policy"
            | "file"
            | "x-amz-signature"
            | "x-amz-security-token"
    ) || name.starts_with("x-ignore-")
        || name.starts_with("x-amz-checksum-")
}

/// Checks the policy document against the form: expiration, each condition, every field
/// covered. Returns the allowed range of the file's length.
pub(crate) fn check_policy(
    doc: &[u8],
    bucket: &str,
    fields: &[(String, String)],
) -> Result<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_slice(doc)
        .map_err(|_| invalid_policy("Policy could not be parsed as a valid JSON."))?;
    let obj = v
        .as_object()
        .ok_or_else(|| invalid_policy("Policy could not be parsed as a valid JSON."))?;
    let expiration = obj
        .get("expiration")
        .ok_or_else(|| invalid_policy("Policy missing expiration."))?
        .as_str()
        .ok_or_else(|| invalid_policy("Invalid 'expiration' value."))?;
    // ISO 8601 with its `T`: RFC 3339's space-separated form is not what S3 accepts.
    let expires = Some(expiration)
        .filter(|e| e.as_bytes().get(10) == Some(&b'T'))
        .and_then(super::lock::parse_time)
        .ok_or_else(|| invalid_policy(&format!("Invalid 'expiration' value: '{expiration}'")))?;
    let conditions = obj
        .get("conditions")
        .ok_or_else(|| invalid_policy("Policy missing conditions."))?
        .as_array()
        .ok_or_else(|| invalid_policy("Invalid 'conditions' value."))?;
    if expires < super::now_ms() {
        return Err(policy_failed("Policy expired."));
    }
    let value_of = |name: &str| -> Option<&str> {
        if name == "bucket" {
            Some(bucket)
        } else {
            field(fields, name)
        }
    };
    let mut covered: Vec<String> = Vec::new();
    let mut range = (0, u64::MAX);
    for c in conditions {
        match c {
            serde_json::Value::Object(m) if m.is_empty() => {
                return Err(invalid_policy(
                    "Invalid Simple-Condition: an empty condition.",
                ));
            }
            serde_json::Value::Object(m) => {
                for (k, want) in m {
                    let name = k.to_ascii_lowercase();
                    let want = want.as_str().ok_or_else(|| {
                        invalid_policy(
                            "Invalid Policy: Invalid Simple-Condition: value must be a string.",
                        )
                    })?;
                    if value_of(&name) != Some(want) {
                        return Err(policy_failed(format!(
                            "Policy Condition failed: [\"eq\", \"${k}\", \"{want}\"]"
                        )));
                    }
                    covered.push(name);
                }
            }
            serde_json::Value::Array(a) => {
                let op = a
                    .first()
                    .and_then(|o| o.as_str())
                    .map(str::to_ascii_lowercase)
                    .ok_or_else(|| invalid_policy("Invalid Condition."))?;
                if op == "content-length-range" {
                    let n = |i: usize| a.get(i).and_then(serde_json::Value::as_i64);
                    let (Some(lo), Some(hi)) = (n(1), n(2)) else {
                        return Err(invalid_policy(
                            "Invalid content-length-range: the range needs a minimum and a maximum.",
                        ));
                    };
                    if lo < 0 || hi < 0 || a.len() != 3 {
                        return Err(invalid_policy("Invalid content-length-range."));
                    }
                    range = (lo as u64, hi as u64);
                    continue;
                }
                let (Some(target), Some(want)) = (
                    a.get(1).and_then(|t| t.as_str()),
                    a.get(2).and_then(|t| t.as_str()),
                ) else {
                    return Err(invalid_policy("Invalid Condition."));
                };
                let name = target
                    .strip_prefix('$')
                    .ok_or_else(|| {
                        invalid_policy("Invalid Condition: the field must begin with $.")
                    })?
                    .to_ascii_lowercase();
                let got = value_of(&name).unwrap_or("");
                let holds = match op.as_str() {
                    "eq" => got == want,
                    "starts-with" => {
                        if name == "content-type" {
                            got.split(',').all(|t| t.trim().starts_with(want))
                        } else {
                            got.starts_with(want)
                        }
                    }
                    _ => return Err(invalid_policy("Invalid Condition: unknown operator.")),
                };
                if !holds {
                    return Err(policy_failed(format!(
                        "Policy Condition failed: [\"{op}\", \"{target}\", \"{want}\"]"
                    )));
                }
                covered.push(name);
            }
            _ => return Err(invalid_policy("Invalid Condition.")),
        }
    }
    for (name, _) in fields {
        if !exempt(name) && !covered.iter().any(|c| c == name) {
            return Err(policy_failed(format!("Extra input fields: {name}")));
        }
    }
    Ok(range)
}

/// The request headers a PutObject with these fields would carry.
fn headers_of(fields: &[(String, String)], file_type: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &str, v: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(n, v);
        }
    };
    if let Some(t) = file_type {
        put("content-type", t);
    }
    for (name, value) in fields {
        let n = name.as_str();
        if n == "acl" {
            put("x-amz-acl", value);
        } else if matches!(
            n,
            "content-type"
                | "cache-control"
                | "content-disposition"
                | "content-encoding"
                | "content-language"
                | "expires"
        ) || (n.starts_with("x-amz-")
            && !matches!(
                n,
                "x-amz-signature"
                    | "x-amz-credential"
                    | "x-amz-algorithm"
                    | "x-amz-date"
                    | "x-amz-security-token"
            ))
        {
            put(n, value);
        }
    }
    h
}

impl S3 {
    /// PostObject: a browser upload with a policy.
    pub(crate) async fn post_object(
        &self,
        keys: &KeyStore,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let boundary = boundary(&ctx.headers)?;
        let bucket_meta = self.bucket_meta(bucket).await?;
        let mut inbound = ctx.body(None)?;
        let mut reader = Reader {
            inbound: &mut inbound,
            buf: BytesMut::new(),
            eof: false,
        };
        let (mut fields, filename, file_type) = read_fields(&mut reader, &boundary).await?;
        // `${filename}` in the key is the file's name, before the policy judges the key.
        for (name, value) in &mut fields {
            if name == "key" && value.contains("${filename}") {
                *value = value.replace("${filename}", filename.as_deref().unwrap_or(""));
            }
        }
        let (cred, policy) = authenticate(keys, &fields)?;
        let range = match &policy {
            Some(doc) => check_policy(doc, bucket, &fields)?,
            None => (0, u64::MAX),
        };
        let Some(key) = field(&fields, "key") else {
            return Err(Error::invalid_argument(
                "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
                "key",
                "",
            ));
        };
        let key = key.to_owned();
        if key.is_empty() || key.len() > api::MAX_KEY {
            return Err(Error::invalid_argument(
                "User key must have a length greater than 0.",
                "key",
                &key,
            ));
        }
        // The signer's own access, then the bucket's policy, decide as for a PutObject.
        ctx.caller = match &cred {
            Some(c) => Caller::Account {
                arn: c.principal.clone(),
                policy: c.policy.clone(),
                account: c.account.clone(),
            },
            None => Caller::Anonymous,
        };
        ctx.key = Some(key.clone());
        ctx.method = http::Method::PUT;
        api::authorize(self, ctx).await?;
        let headers = headers_of(&fields, file_type.as_deref());
        let stored = super::object::stored_headers(&headers)?;
        let tags = super::tagging::from_header(
            headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()),
        )?
        .unwrap_or_default();
        let (sse, customer) =
            super::sse::requested(&headers, bucket_meta.encryption.as_ref(), &self.region)?;
        let sealing = sse
            .as_ref()
            .and_then(|e| self.sse_keys.object_key(e, customer.as_ref()));
        let (retention, legal_hold) = super::lock::for_new_version(
            &headers,
            bucket_meta.object_lock.as_ref(),
            super::now_ms(),
        )?;
        let (acl, owner) = super::acl::for_new_object(&headers, keys, &bucket_meta, &ctx.caller)?;
        // The file, up to the closing boundary.
        let delim = format!("\r\n--{boundary}");
        let mut staged = self.files.create_sealed(sealing).await?;
        let mut md5 = checksum::Md5::default();
        let declared = checksum::ALGORITHMS
            .into_iter()
            .find_map(|a| field(&fields, a.header()).map(|v| (a, v.to_owned())));
        if let Some((a, v)) = &declared
            && !a.valid(v)
        {
            return Err(Error::invalid_request(format!(
                "Value for {} header is invalid.",
                a.header()
            )));
        }
        let mut hasher = declared.as_ref().map(|(a, _)| checksum::Hasher::new(*a));
        let mut size: u64 = 0;
        loop {
            if let Some(i) = find(&reader.buf, delim.as_bytes()) {
                let last = reader.buf.split_to(i);
                md5.update(&last);
                if let Some(h) = &mut hasher {
                    h.update(&last);
                }
                size += last.len() as u64;
                staged.write(&last).await?;
                break;
            }
            let keep = delim.len().saturating_sub(1);
            if reader.buf.len() > keep {
                let n = reader.buf.len() - keep;
                let chunk = reader.buf.split_to(n);
                md5.update(&chunk);
                if let Some(h) = &mut hasher {
                    h.update(&chunk);
                }
                size += chunk.len() as u64;
                if size > range.1 {
                    return Err(Error::new(
                        Code::EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size",
                    ));
                }
                staged.write(&chunk).await?;
            }
            if !reader.fill().await? {
                return Err(malformed());
            }
        }
        // What follows the file is ignored, but read, so the body is checked whole.
        reader.buf.clear();
        while reader.fill().await? {
            reader.buf.clear();
        }
        inbound.finish()?;
        if size > range.1 {
            return Err(Error::new(
                Code::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            ));
        }
        if size < range.0 {
            return Err(Error::new(
                Code::EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed size",
            ));
        }
        let checksum = match (declared, hasher) {
            (Some((algorithm, want)), Some(h)) => {
                let value = h.finish_base64();
                if value != want {
                    return Err(Error::new(
                        Code::BadDigest,
                        format!(
                            "The {} you specified did not match the calculated checksum.",
                            algorithm.as_str()
                        ),
                    ));
                }
                Some(checksum::Checksum {
                    algorithm,
                    value,
                    kind: checksum::Kind::FullObject,
                })
            }
            _ => None,
        };
        let segment = staged.commit().await?;
        let etag = checksum::hex(&md5.finish());
        let meta = ObjectMeta {
            size,
            etag: etag.clone(),
            modified: super::now_ms(),
            segments: vec![segment.clone()],
            headers: stored,
            checksum,
            parts: None,
            version_id: None,
            tags,
            sse: sse.clone(),
            retention,
            legal_hold,
            acl,
            part_checksums: Vec::new(),
            owner,
        };
        let version = self
            .commit_object(
                bucket,
                &key,
                meta,
                WriteCondition::default(),
                vec![segment],
                super::notification::Change::Post,
            )
            .await?;
        let location = format!("/{bucket}/{}", key);
        let quoted = format!("\"{etag}\"");
        let mut r = if let Some(redirect) = field(&fields, "success_action_redirect")
            .or_else(|| field(&fields, "redirect"))
            .filter(|u| !u.is_empty())
        {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let sep = if redirect.contains('?') { '&' } else { '?' };
            let target = format!(
                "{redirect}{sep}bucket={}&key={}&etag={}",
                enc(bucket),
                enc(&key),
                enc(&quoted)
            );
            let mut r = api::empty(StatusCode::SEE_OTHER);
            set(r.headers_mut(), "location", &target);
            r
        } else {
            match field(&fields, "success_action_status") {
                Some("200") => api::empty(StatusCode::OK),
                Some("201") => {
                    let mut w = Writer::new("PostResponse");
                    w.elem("Location", &location)
                        .elem("Bucket", bucket)
                        .elem("Key", &key)
                        .elem("ETag", &quoted);
                    api::xml(StatusCode::CREATED, w.finish("PostResponse"))
                }
                _ => api::empty(StatusCode::NO_CONTENT),
            }
        };
        let h = r.headers_mut();
        set(h, "etag", &quoted);
        if !h.contains_key("location") {
            set(h, "location", &location);
        }
        if let Some(v) = &version {
            set(h, "x-amz-version-id", v);
        }
        super::sse::response_headers(h, sse.as_ref());
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn policies_are_checked_condition_by_condition() {
        let doc = br#"{"expiration": "2999-01-01T00:00:00Z", "conditions": [
            {"bucket": "b"}, ["starts-with", "$key", "up/"], ["content-length-range", 1, 10]]}"#;
        let ok = fields(&[("key", "up/a"), ("policy", "x")]);
        assert_eq!(check_policy(doc, "b", &ok).unwrap(), (1, 10));
        let e = check_policy(doc, "other", &ok).unwrap_err();
        assert_eq!(e.code, Code::AccessDenied);
        let e = check_policy(doc, "b", &fields(&[("key", "down/a")])).unwrap_err();
        assert_eq!(e.code, Code::AccessDenied);
        let extra = fields(&[("key", "up/a"), ("x-amz-meta-a", "1")]);
        assert!(
            check_policy(doc, "b", &extra)
                .unwrap_err()
                .message
                .contains("Extra input")
        );
        let expired = br#"{"expiration": "2000-01-01T00:00:00Z", "conditions": []}"#;
        assert_eq!(
            check_policy(expired, "b", &[]).unwrap_err().code,
            Code::AccessDenied
        );
        let missing = br#"{"conditions": []}"#;
        assert_eq!(
            check_policy(missing, "b", &[]).unwrap_err().code,
            Code::InvalidPolicyDocument
        );
    }

    #[test]
    fn boundaries_are_found_anywhere() {
        assert_eq!(find(b"abc\r\n--b", b"\r\n--b"), Some(3));
        assert_eq!(find(b"\r\r\n--", b"\r\n--b"), None);
        assert_eq!(find(b"", b"x"), None);
    }
}
