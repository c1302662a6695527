//! Matching requests to API routes as API Gateway does: static segments beat `{param}`,
//! which beats `{proxy+}`; a specific method beats `ANY`; an HTTP API's `$default` route
//! catches the rest. A leading stage segment (`/Prod/hello`) is accepted too.

use std::sync::Arc;

use meridian_config::sam::{ApiKind, ApiRoute, ApiSpec, FunctionSpec, RouteMethod};

use crate::host::HostConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Static(String),
    Param(String),
    Greedy(String),
}

/// A route of the router.
#[derive(Debug)]
pub(crate) struct Route {
    pub function: String,
    pub api: Arc<ApiSpec>,
    pub route: ApiRoute,
    segs: Vec<Seg>,
}

/// A matched route with its path parameters.
#[derive(Debug)]
pub(crate) struct Matched<'a> {
    pub route: &'a Route,
    pub params: Vec<(String, String)>,
}

/// Every route of the configuration, plus what the events need about the host.
#[derive(Debug, Default)]
pub(crate) struct Router {
    routes: Vec<Route>,
    pub region: String,
    pub account_id: String,
}

fn split(path: &str) -> Vec<&str> {
    let p = path.strip_prefix('/').unwrap_or(path);
    let p = p.strip_suffix('/').unwrap_or(p);
    if p.is_empty() {
        Vec::new()
    } else {
        p.split('/').collect()
    }
}

fn compile(path: &str) -> Vec<Seg> {
    split(path)
        .into_iter()
        .map(
            |s| match s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                Some(inner) => match inner.strip_suffix('+') {
                    Some(g) => Seg::Greedy(g.to_owned()),
                    None => Seg::Param(inner.to_owned()),
                },
                None => Seg::Static(s.to_owned()),
            },
        )
        .collect()
}

impl Router {
    pub(crate) fn build<'a>(
        functions: impl Iterator<Item = &'a FunctionSpec>,
        apis: &[ApiSpec],
        cfg: &HostConfig,
    ) -> Self {
        let apis: Vec<Arc<ApiSpec>> = apis.iter().cloned().map(Arc::new).collect();
        let mut routes = Vec::new();
        for f in functions {
            for r in &f.routes {
                let api = apis
                    .iter()
                    .find(|a| a.logical_id == r.api)
                    .cloned()
                    .unwrap_or_else(|| {
                        Arc::new(ApiSpec {
                            logical_id: r.api.clone(),
                            id: meridian_config::sam::synthetic_id("meridian", &r.api),
                            kind: r.kind,
                            stage: if r.kind == ApiKind::Rest {
                                "Prod".into()
                            } else {
                                "$default".into()
                            },
                            stage_variables: Default::default(),
                            binary_media_types: Vec::new(),
                            implicit: true,
                            cors: None,
                        })
                    });
                routes.push(Route {
                    function: f.name.clone(),
                    api,
                    segs: r.path.as_deref().map(compile).unwrap_or_default(),
                    route: r.clone(),
                });
            }
        }
        Self {
            routes,
            region: cfg.region.clone(),
            account_id: cfg.account_id.clone(),
        }
    }

    /// A router of one route (sample events).
    pub(crate) fn single(
        function: &str,
        api: ApiSpec,
        route: ApiRoute,
        region: &str,
        account_id: &str,
    ) -> Self {
        Self {
            routes: vec![Route {
                function: function.to_owned(),
                api: Arc::new(api),
                segs: route.path.as_deref().map(compile).unwrap_or_default(),
                route,
            }],
            region: region.to_owned(),
            account_id: account_id.to_owned(),
        }
    }

    /// True when the router has any route.
    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// True when some route belongs to a REST API (for the "no route" answer).
    pub(crate) fn has_rest(&self) -> bool {
        self.routes.iter().any(|r| r.route.kind == ApiKind::Rest)
    }

    /// Every route, for listings.
    pub(crate) fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// The best route for a request, trying without and then without a leading stage.
    pub(crate) fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let segs = split(path);
        // A real route, then a real route after a stage segment, then `$default`.
        if let Some(m) = self.find_segs(method, &segs, None, false) {
            return Some(m);
        }
        if let Some((first, rest)) = segs.split_first()
            && let Some(m) = self.find_segs(method, rest, Some(first), false)
        {
            return Some(m);
        }
        self.find_segs(method, &segs, None, true)
    }

    fn find_segs(
        &self,
        method: &str,
        segs: &[&str],
        stage: Option<&str>,
        default_route: bool,
    ) -> Option<Matched<'_>> {
        let mut best: Option<(Vec<u8>, Matched<'_>)> = None;
        for r in &self.routes {
            if let Some(s) = stage
                && r.api.stage != s
            {
                continue;
            }
            if r.route.path.is_none() != default_route {
                continue;
            }
            let method_rank = match &r.route.method {
                RouteMethod::Any => 1,
                RouteMethod::Method(m) if m == method => 2,
                RouteMethod::Method(_) => continue,
            };
            let Some((mut rank, params)) = (match &r.route.path {
                None => Some((vec![0], Vec::new())),
                Some(_) => match_segs(&r.segs, segs),
            }) else {
                continue;
            };
            rank.push(method_rank);
            if best.as_ref().is_none_or(|(b, _)| rank > *b) {
                best = Some((rank, Matched { route: r, params }));
            }
        }
        best.map(|(_, m)| m)
    }
}

/// Matches route segments against request segments; the rank orders candidates (higher is
/// more specific).
/// A match's rank and its path parameters.
type SegMatch = (Vec<u8>, Vec<(String, String)>);

fn match_segs(route: &[Seg], req: &[&str]) -> Option<SegMatch> {
    let mut rank = vec![1];
    let mut params = Vec::new();
    for (i, seg) in route.iter().enumerate() {
        match seg {
            Seg::Static(s) => {
                if req.get(i) != Some(&s.as_str()) {
                    return None;
                }
                rank.push(3);
            }
            Seg::Param(name) => {
                let v = req.get(i).filter(|v| !v.is_empty())?;
                params.push((name.clone(), percent_decode(v)));
                rank.push(2);
            }
            Seg::Greedy(name) => {
                if req.len() <= i {
                    return None;
                }
                params.push((name.clone(), percent_decode(&req[i..].join("/"))));
                rank.push(1);
                return Some((rank, params));
            }
        }
    }
    (route.len() == req.len()).then_some((rank, params))
}

/// Decodes `%XX` escapes (invalid ones are kept as written; `+` stays `+`, as API Gateway
/// leaves it in paths and query values).
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(route: &str, path: &str) -> Option<Vec<(String, String)>> {
        match_segs(&compile(route), &split(path)).map(|(_, p)| p)
    }

    #[test]
    fn segments_params_and_greedy() {
        assert_eq!(m("/hello", "/hello"), Some(vec![]));
        assert_eq!(m("/hello", "/hello/"), Some(vec![]));
        assert_eq!(m("/hello", "/bye"), None);
        assert_eq!(
            m("/users/{id}", "/users/42"),
            Some(vec![("id".into(), "42".into())])
        );
        assert_eq!(m("/users/{id}", "/users/42/x"), None);
        assert_eq!(
            m("/{proxy+}", "/a/b%20c/d"),
            Some(vec![("proxy".into(), "a/b c/d".into())])
        );
        assert_eq!(m("/{proxy+}", "/"), None);
        assert_eq!(m("/", "/"), Some(vec![]));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
