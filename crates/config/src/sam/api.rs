//! `AWS::Serverless::Api` and `AWS::Serverless::HttpApi`: an API's stage, variables, binary
//! media types and CORS, read into an [`ApiSpec`]. Routes come from the functions' events.

use std::collections::BTreeMap;

use crate::de::decode_at;
use crate::diag::Findings;
use crate::node::Node;
use crate::path::FieldPath;

use super::intrinsic::ResInfo;
use super::raw::{self, Text};
use super::{ApiKind, ApiSpec, Compiler, Res, cors, text_map, text_or};

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
