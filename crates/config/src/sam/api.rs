//! `AWS::Serverless::Api` and `AWS::Serverless::HttpApi`: an API's stage, variables, binary
//! media types and CORS, read into an [`ApiSpec`]. Routes come from the functions' events.

use std::collections::BTreeMap;

use crate::de::decode_at;
use crate::diag::Findings;
use crate::node::Node;
use crate::path::FieldPath;

use super::intrinsic::{Ctx, ResInfo};
use super::raw::{self, Text};
use super::{
    ApiKind, ApiSpec, Compiler, IMPLICIT_REST_API, Res, cors, empty_map, synthetic_id, text_map,
    text_or,
};

impl Compiler<'_> {
    pub(super) fn rest_api(
        &mut self,
        r: &Res<'_>,
        props: &Node,
        infos: &BTreeMap<String, ResInfo>,
        f: &mut Findings,
    ) -> Option<ApiSpec> {
        let pp = FieldPath::root().field("Properties");
        let p: raw::ApiProps = decode_at(props, &pp, f)?;
        let stage = match p.stage_name {
            Some(Text(Ok(s))) if !s.is_empty() => s,
            Some(_) => {
                f.error(
                    &pp.field("StageName"),
                    "StageName must be a non-empty string",
                );
                return None;
            }
            None => {
                f.error(&pp, "required field \"StageName\" is missing")
                    .at_key();
                return None;
            }
        };
        Some(ApiSpec {
            logical_id: r.id.clone(),
            id: infos
                .get(&r.id)
                .map(|i| i.ref_value.clone())
                .unwrap_or_default(),
            kind: ApiKind::Rest,
            stage,
            stage_variables: text_map(p.variables),
            binary_media_types: p.binary_media_types.unwrap_or_default(),
            implicit: false,
            cors: props.get("Cors").and_then(cors::rest_cors),
        })
    }

    pub(super) fn http_api(
        &mut self,
        r: &Res<'_>,
        props: &Node,
        infos: &BTreeMap<String, ResInfo>,
        f: &mut Findings,
    ) -> Option<ApiSpec> {
        let pp = FieldPath::root().field("Properties");
        let p: raw::HttpApiProps = decode_at(props, &pp, f)?;
        Some(ApiSpec {
            logical_id: r.id.clone(),
            id: infos
                .get(&r.id)
                .map(|i| i.ref_value.clone())
                .unwrap_or_default(),
            kind: ApiKind::Http,
            stage: text_or(p.stage_name, "$default"),
            stage_variables: text_map(p.stage_variables),
            binary_media_types: Vec::new(),
            implicit: false,
            cors: props.get("CorsConfiguration").and_then(cors::http_cors),
        })
    }
}

/// `ServerlessRestApi` or `ServerlessHttpApi`, made when a function's event uses it: SAM's
/// defaults (stage `Prod`, or `$default`) with the settings of `Globals.Api`/`HttpApi`.
pub(super) fn implicit_api(
    name: &str,
    globals: Option<&Node>,
    ctx: &Ctx<'_>,
    stack_name: &str,
) -> ApiSpec {
    let (kind, stage) = if name == IMPLICIT_REST_API {
        (ApiKind::Rest, "Prod")
    } else {
        (ApiKind::Http, "$default")
    };
    // The implicit APIs take their settings from Globals.
    let g = globals.and_then(|g| {
        g.get(if kind == ApiKind::Rest {
            "Api"
        } else {
            "HttpApi"
        })
    });
    let mut gf = Findings::new();
    let cors = g.and_then(|g| {
        let ev = ctx.eval(g, &FieldPath::root(), &mut Findings::new())?;
        if kind == ApiKind::Rest {
            ev.get("Cors").and_then(cors::rest_cors)
        } else {
            ev.get("CorsConfiguration").and_then(cors::http_cors)
        }
    });
    let (stage, vars, binary) = match g {
        Some(g) => {
            let ev = ctx
                .eval(g, &FieldPath::root(), &mut gf)
                .unwrap_or_else(|| empty_map(g.span));
            if kind == ApiKind::Rest {
                let p: Option<raw::ApiProps> = decode_at(&ev, &FieldPath::root(), &mut gf);
                let p = p.unwrap_or_default();
                (
                    text_or(p.stage_name, stage),
                    text_map(p.variables),
                    p.binary_media_types.unwrap_or_default(),
                )
            } else {
                let p: Option<raw::HttpApiProps> = decode_at(&ev, &FieldPath::root(), &mut gf);
                let p = p.unwrap_or_default();
                (
                    text_or(p.stage_name, stage),
                    text_map(p.stage_variables),
                    Vec::new(),
                )
            }
        }
        None => (stage.to_owned(), BTreeMap::new(), Vec::new()),
    };
    ApiSpec {
        logical_id: name.to_owned(),
        id: synthetic_id(stack_name, name),
        kind,
        stage,
        stage_variables: vars,
        binary_media_types: binary,
        implicit: true,
        cors,
    }
}
