//! Sample events, as `sam local generate-event apigateway aws-proxy|http-api` prints them,
//! built by the same code that builds the gateway's real events.

use std::str::FromStr;

use bytes::Bytes;
use http::Request;
use meridian_config::sam::{ApiKind, ApiRoute, ApiSpec, PayloadFormat, RouteMethod};

use crate::apigw::event::{self, RequestInfo};
use crate::apigw::route::Router;

/// Which sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleEvent {
    /// `apigateway aws-proxy`: a REST API proxy event (payload 1.0).
    ApiGatewayAwsProxy,
    /// `apigateway http-api`: an HTTP API event (payload 2.0).
    ApiGatewayHttpApi,
}

impl SampleEvent {
    /// Every `(service, event)` pair, for help texts.
    pub const ALL: &'static [(&'static str, &'static str)] =
        &[("apigateway", "aws-proxy"), ("apigateway", "http-api")];

    /// From SAM's `<service> <event>` words.
    pub fn from_words(service: &str, event: &str) -> Option<Self> {
        match (service, event) {
            ("apigateway", "aws-proxy") => Some(Self::ApiGatewayAwsProxy),
            ("apigateway", "http-api") => Some(Self::ApiGatewayHttpApi),
            _ => None,
        }
    }
}

impl FromStr for SampleEvent {
    type Err = String;

    /// Parses `apigateway aws-proxy` or `apigateway/http-api`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut w = s.split([' ', '/']).filter(|w| !w.is_empty());
        let (a, b) = (w.next().unwrap_or_default(), w.next().unwrap_or_default());
        Self::from_words(a, b).ok_or_else(|| {
            let all: Vec<String> = Self::ALL.iter().map(|(s, e)| format!("{s} {e}")).collect();
            format!("unknown sample event \"{s}\" (known: {})", all.join(", "))
        })
    }
}

/// What to put in a sample event (SAM's `--method`, `--path`, `--body`, `--stage`...).
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// HTTP method.
    pub method: String,
    /// Request path (without the stage).
    pub path: String,
    /// Request body.
    pub body: String,
    /// Stage name.
    pub stage: String,
    /// Region.
    pub region: String,
    /// Account id.
    pub account_id: String,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            method: "POST".into(),
            path: "/examplepath".into(),
            body: "eyJ0ZXN0IjoiYm9keSJ9".into(),
            stage: "prod".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }
}

/// Builds a sample event.
pub fn generate_event(kind: SampleEvent, opts: &SampleOptions) -> serde_json::Value {
    let (api_kind, payload, stage) = match kind {
        SampleEvent::ApiGatewayAwsProxy => (ApiKind::Rest, PayloadFormat::V1, opts.stage.clone()),
        SampleEvent::ApiGatewayHttpApi => (ApiKind::Http, PayloadFormat::V2, "$default".to_owned()),
    };
    let route = ApiRoute {
        event: "Sample".into(),
        kind: api_kind,
        api: "SampleApi".into(),
        method: RouteMethod::Any,
        path: match kind {
            SampleEvent::ApiGatewayAwsProxy => Some("/{proxy+}".into()),
            SampleEvent::ApiGatewayHttpApi => None,
        },
        payload,
    };
    let api = ApiSpec {
        logical_id: "SampleApi".into(),
        id: "1234567890".into(),
        kind: api_kind,
        stage,
        stage_variables: [("baz".to_owned(), "qux".to_owned())].into_iter().collect(),
        binary_media_types: Vec::new(),
        implicit: true,
        cors: None,
    };
    let router = Router::single("sample", api, route, &opts.region, &opts.account_id);
    let path = if opts.path.starts_with('/') {
        opts.path.clone()
    } else {
        format!("/{}", opts.path)
    };
    let req = Request::builder()
        .method(opts.method.as_str())
        .uri(format!("{path}?foo=bar"))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8",
        )
        .header("accept-encoding", "gzip, deflate, sdch")
        .header("accept-language", "en-US,en;q=0.8")
        .header("cache-control", "max-age=0")
        .header(
            "host",
            format!("1234567890.execute-api.{}.amazonaws.com", opts.region),
        )
        .header("user-agent", "Custom User Agent String")
        .header("x-forwarded-for", "127.0.0.1, 127.0.0.2")
        .header("x-forwarded-port", "443")
        .header("x-forwarded-proto", "https")
        .body(Bytes::from(opts.body.clone()));
    let Ok(req) = req else {
        return serde_json::Value::Null;
    };
    let Some(matched) = router.find(req.method().as_str(), req.uri().path()) else {
        return serde_json::Value::Null;
    };
    let info = RequestInfo {
        method: req.method().as_str(),
        raw_path: req.uri().path(),
        raw_query: req.uri().query().unwrap_or_default(),
        headers: req.headers(),
        body: req.body(),
        source_ip: "127.0.0.1".into(),
        protocol: "HTTP/1.1",
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
        time: time::OffsetDateTime::now_utc(),
        region: &opts.region,
        account_id: &opts.account_id,
    };
    event::build(&info, &matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_the_documented_shape() {
        let v1 = generate_event(SampleEvent::ApiGatewayAwsProxy, &SampleOptions::default());
        assert_eq!(v1["resource"], "/{proxy+}");
        assert_eq!(v1["path"], "/examplepath");
        assert_eq!(v1["pathParameters"]["proxy"], "examplepath");
        assert_eq!(v1["requestContext"]["path"], "/prod/examplepath");
        assert_eq!(v1["multiValueQueryStringParameters"]["foo"][0], "bar");
        let v2 = generate_event(SampleEvent::ApiGatewayHttpApi, &SampleOptions::default());
        assert_eq!(v2["version"], "2.0");
        assert_eq!(v2["routeKey"], "$default");
        assert_eq!(v2["rawQueryString"], "foo=bar");
        assert!("apigateway http-api".parse::<SampleEvent>().is_ok());
        assert!("s3 put".parse::<SampleEvent>().is_err());
    }
}
