//! CORS: a bucket's rules (`?cors`), the preflight `OPTIONS` a browser sends before a
//! cross-origin request (answered without credentials, as S3), and the
//! `Access-Control-*` headers on the responses to requests that carry an `Origin`.
//!
//! A rule matches when one of its origins matches the `Origin` (at most one `*` wildcard),
//! its methods include the method asked, and, for a preflight, every header named in
//! `Access-Control-Request-Headers` matches one of its allowed headers. The first matching
//! rule answers.

use http::{HeaderMap, Method, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::S3;
use super::api::{self, Body, Ctx, set};
use super::error::{Code, Error, Result};
use super::xml::{self, Writer};
use crate::keys::wildcard_match;

/// One CORS rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rule {
    /// `ID`.
    pub id: Option<String>,
    /// `AllowedOrigin`s.
    pub origins: Vec<String>,
    /// `AllowedMethod`s.
    pub methods: Vec<String>,
    /// `AllowedHeader`s.
    pub headers: Vec<String>,
    /// `ExposeHeader`s.
    pub expose: Vec<String>,
    /// `MaxAgeSeconds`.
    pub max_age: Option<u64>,
}

const METHODS: &[&str] = &["GET", "PUT", "HEAD", "POST", "DELETE"];

/// Parses a `CORSConfiguration` document.
pub(crate) fn parse(doc: &[u8]) -> Result<Vec<Rule>> {
    let root = xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "CORSConfiguration" {
        return Err(Error::malformed_xml());
    }
    let texts = |e: &xml::Element, name: &str| -> Vec<String> {
        e.children(name).map(|c| c.text.trim().to_owned()).collect()
    };
    let mut rules = Vec::new();
    for r in root.children("CORSRule") {
        let rule = Rule {
            id: r.text_of("ID").map(str::to_owned),
            origins: texts(r, "AllowedOrigin"),
            methods: texts(r, "AllowedMethod"),
            headers: texts(r, "AllowedHeader"),
            expose: texts(r, "ExposeHeader"),
            max_age: match r.text_of("MaxAgeSeconds") {
                None => None,
                Some(v) => Some(v.parse().map_err(|_| Error::malformed_xml())?),
            },
        };
        if rule.origins.is_empty() || rule.methods.is_empty() {
            return Err(Error::malformed_xml());
        }
        if let Some(m) = rule.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(Error::invalid_request(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if let Some(o) = rule.origins.iter().find(|o| o.matches('*').count() > 1) {
            return Err(Error::invalid_request(format!(
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            )));
        }
        if let Some(h) = rule.headers.iter().find(|h| h.matches('*').count() > 1) {
            return Err(Error::invalid_request(format!(
                "AllowedHeader \"{h}\" can not have more than one wildcard."
            )));
        }
        rules.push(rule);
    }
    if rules.is_empty() || rules.len() > 100 {
        return Err(Error::malformed_xml());
    }
    Ok(rules)
}

fn document(rules: &[Rule]) -> String {
    let mut w = Writer::new("CORSConfiguration");
    for r in rules {
        w.open("CORSRule");
        if let Some(id) = &r.id {
            w.elem("ID", id);
        }
        for h in &r.headers {
            w.elem("AllowedHeader", h);
        }
        for m in &r.methods {
            w.elem("AllowedMethod", m);
        }
        for o in &r.origins {
            w.elem("AllowedOrigin", o);
        }
        for e in &r.expose {
            w.elem("ExposeHeader", e);
        }
        if let Some(a) = r.max_age {
            w.elem("MaxAgeSeconds", &a.to_string());
        }
        w.close("CORSRule");
    }
    w.finish("CORSConfiguration")
}

/// The first rule allowing `origin` to use `method` with `headers` (lower case).
fn matching<'a>(
    rules: &'a [Rule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a Rule> {
    rules.iter().find(|r| {
        r.origins.iter().any(|o| wildcard_match(o, origin))
            && r.methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                r.headers
                    .iter()
                    .any(|a| wildcard_match(&a.to_ascii_lowercase(), h))
            })
    })
}

/// Sets the `Access-Control-*` headers of `rule` answering `origin`.
fn allow(h: &mut HeaderMap, rule: &Rule, origin: &str, preflight_headers: Option<&str>) {
    let any = rule.origins.iter().any(|o| o == "*");
    set(
        h,
        "access-control-allow-origin",
        if any { "*" } else { origin },
    );
    set(h, "access-control-allow-methods", &rule.methods.join(", "));
    if !any {
        set(h, "access-control-allow-credentials", "true");
    }
    if let Some(req) = preflight_headers {
        set(h, "access-control-allow-headers", req);
    }
    if !rule.expose.is_empty() {
        set(h, "access-control-expose-headers", &rule.expose.join(", "));
    }
    if let Some(a) = rule.max_age {
        set(h, "access-control-max-age", &a.to_string());
    }
    set(
        h,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

impl S3 {
    async fn cors_rules(&self, bucket: &str) -> Result<Option<Vec<Rule>>> {
        Ok(self.bucket_meta(bucket).await?.cors)
    }

    /// PutBucketCors.
    pub(crate) async fn put_bucket_cors(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let rules = parse(&doc)?;
        self.update_bucket(bucket, move |meta| {
            meta.cors = Some(rules);
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::OK))
    }

    /// GetBucketCors.
    pub(crate) async fn get_bucket_cors(&self, bucket: &str) -> Result<Response<Body>> {
        match self.cors_rules(bucket).await? {
            Some(rules) => Ok(api::xml(StatusCode::OK, document(&rules))),
            None => Err(Error::new(
                Code::NoSuchCORSConfiguration,
                "The CORS configuration does not exist",
            )
            .with("BucketName", bucket)),
        }
    }

    /// DeleteBucketCors.
    pub(crate) async fn delete_bucket_cors(&self, bucket: &str) -> Result<Response<Body>> {
        self.update_bucket(bucket, |meta| {
            meta.cors = None;
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }

    /// A preflight `OPTIONS` on `bucket` (or one of its keys).
    pub(crate) async fn preflight(
        &self,
        headers: &HeaderMap,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let Some(origin) = text("origin") else {
            return Err(Error::new(
                Code::BadRequest,
                "Insufficient information. Origin request header needed.",
            ));
        };
        let Some(method) = text("access-control-request-method") else {
            return Err(Error::new(
                Code::BadRequest,
                "Invalid Access-Control-Request-Method: null",
            ));
        };
        let requested = text("access-control-request-headers");
        let wanted: Vec<String> = requested
            .map(|r| {
                r.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let refused = || {
            Error::new(
                Code::CORSResponse,
                "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            )
        };
        let rules = self.cors_rules(bucket).await?.ok_or_else(refused)?;
        let rule = matching(&rules, origin, method, &wanted).ok_or_else(refused)?;
        let mut r = api::empty(StatusCode::OK);
        allow(r.headers_mut(), rule, origin, requested);
        Ok(r)
    }

    /// Adds the `Access-Control-*` headers to the response of a request from `origin`.
    pub(crate) async fn cors_response(
        &self,
        bucket: &str,
        origin: &str,
        method: &Method,
        response: &mut Response<Body>,
    ) {
        let Ok(Some(rules)) = self.cors_rules(bucket).await else {
            return;
        };
        // A HEAD is allowed by a rule allowing GET, as S3.
        let m = if *method == Method::HEAD {
            "GET"
        } else {
            method.as_str()
        };
        let rule = matching(&rules, origin, m, &[]).or_else(|| {
            (*method == Method::HEAD).then(|| matching(&rules, origin, "HEAD", &[]))?
        });
        if let Some(rule) = rule {
            allow(response.headers_mut(), rule, origin, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_match_as_s3() {
        let rules = parse(
            br#"<CORSConfiguration><CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin>
            <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>
            <AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>
            <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>
            <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>
            </CORSConfiguration>"#,
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        let h = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let first = matching(
            &rules,
            "https://app.example.com",
            "PUT",
            &h(&["x-amz-date", "content-type"]),
        );
        assert_eq!(first.map(|r| r.max_age), Some(Some(600)));
        assert!(
            matching(
                &rules,
                "https://app.example.com",
                "PUT",
                &h(&["authorization"])
            )
            .is_none()
        );
        assert_eq!(
            matching(&rules, "https://other.org", "GET", &[]).map(|r| r.origins[0].as_str()),
            Some("*")
        );
        assert!(matching(&rules, "https://other.org", "DELETE", &[]).is_none());
        let bad = parse(b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>");
        assert_eq!(bad.unwrap_err().code, Code::InvalidRequest);
    }
}
