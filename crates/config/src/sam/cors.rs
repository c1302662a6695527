//! CORS as SAM and API Gateway write it: an HTTP API's `CorsConfiguration` (SAM's and
//! `AWS::ApiGatewayV2::Api`'s) and a REST API's `Cors` (SAM's, quoted as API Gateway's
//! mapping values are).

use crate::node::Node;

use super::spec::Cors;

/// A list of strings, or one string.
fn strings(n: Option<&Node>) -> Vec<String> {
    match n {
        Some(n) => match n.as_seq() {
            Some(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            None => n.as_str().map(|s| vec![s.to_owned()]).unwrap_or_default(),
        },
        None => Vec::new(),
    }
}

/// An HTTP API's `CorsConfiguration`: `true` (every origin) or the object of
/// `AllowOrigins`, `AllowMethods`, `AllowHeaders`, `ExposeHeaders`, `MaxAge`,
/// `AllowCredentials`.
pub(super) fn http_cors(n: &Node) -> Option<Cors> {
    match n.as_str() {
        Some("true") => {
            return Some(Cors {
                allow_origins: vec!["*".into()],
                allow_methods: vec!["*".into()],
                allow_headers: vec!["*".into()],
                ..Cors::default()
            });
        }
        Some(_) => return None,
        None => {}
    }
    n.as_map()?;
    Some(Cors {
        allow_credentials: n.get("AllowCredentials").and_then(Node::as_str) == Some("true"),
        allow_headers: strings(n.get("AllowHeaders")),
        allow_methods: strings(n.get("AllowMethods")),
        allow_origins: strings(n.get("AllowOrigins")),
        expose_headers: strings(n.get("ExposeHeaders")),
        max_age: n
            .get("MaxAge")
            .and_then(Node::as_str)
            .and_then(|m| m.parse().ok()),
    })
}

/// A REST API's `Cors`: an origin (`"'*'"`, quoted as API Gateway's mapping values are), or
/// the object of `AllowOrigin`, `AllowMethods`, `AllowHeaders`, `MaxAge` (quoted, comma
/// separated) and `AllowCredentials`.
pub(super) fn rest_cors(n: &Node) -> Option<Cors> {
    let unquote = |s: &str| s.trim().trim_matches('\'').to_owned();
    let list = |s: Option<&str>| -> Vec<String> {
        s.map(|s| {
            unquote(s)
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
    };
    if let Some(origin) = n.as_str() {
        return Some(Cors {
            allow_origins: vec![unquote(origin)],
            allow_methods: vec!["*".into()],
            ..Cors::default()
        });
    }
    n.as_map()?;
    let text = |k: &str| n.get(k).and_then(Node::as_str);
    let mut methods = list(text("AllowMethods"));
    if methods.is_empty() {
        methods.push("*".into());
    }
    Some(Cors {
        allow_credentials: text("AllowCredentials") == Some("true"),
        allow_headers: list(text("AllowHeaders")),
        allow_methods: methods,
        allow_origins: list(text("AllowOrigin")),
        expose_headers: Vec::new(),
        max_age: text("MaxAge").and_then(|m| unquote(m).parse().ok()),
    })
}
