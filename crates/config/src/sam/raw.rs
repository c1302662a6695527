//! Raw serde shapes of SAM resources, as written (PascalCase, unknown fields refused).
//! Decoded after intrinsics are evaluated; [`super`] turns them into the domain types.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};

/// An integer as CloudFormation accepts it: a number or a numeric string. Holds the text of
/// anything else so validation can say what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Num(pub Result<i64, String>);

impl<'x> serde::Deserialize<'x> for Num {
    fn deserialize<D: de::Deserializer<'x>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Ok(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(i64::try_from(v).map_err(|_| v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                #[allow(clippy::cast_possible_truncation)]
                let r = if v.fract() == 0.0 && v.abs() < 9e15 {
                    Ok(v as i64)
                } else {
                    Err(v.to_string())
                };
                Ok(Num(r))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                Ok(Num(v.trim().parse().map_err(|_| format!("string \"{v}\""))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Num, E> {
                Ok(Num(Err(format!("boolean {v}"))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(Err("null".into())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Num, A::Error> {
                Ok(Num(Err("a list".into())))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Num, A::Error> {
                Ok(Num(Err("an object".into())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string as CloudFormation accepts it: any scalar, written as text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text(pub Result<String, String>);

impl<'x> serde::Deserialize<'x> for Text {
    fn deserialize<D: de::Deserializer<'x>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(Ok(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(Ok(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(Ok(v.to_string())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Ok(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(Ok(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(Err("null".into())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Text, A::Error> {
                Ok(Text(Err("a list".into())))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Text, A::Error> {
                Ok(Text(Err("an object".into())))
            }
        }
        d.deserialize_any(V)
    }
}

/// The keys of a template's top level.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct TemplateRaw {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: Option<Text>,
    pub description: Option<String>,
    pub metadata: Option<IgnoredAny>,
    pub parameters: Option<IgnoredAny>,
    pub rules: Option<IgnoredAny>,
    pub mappings: Option<IgnoredAny>,
    pub conditions: Option<IgnoredAny>,
    pub transform: Option<IgnoredAny>,
    pub globals: Option<GlobalsRaw>,
    pub resources: Option<IgnoredAny>,
    pub outputs: Option<IgnoredAny>,
}

/// `Globals`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct GlobalsRaw {
    pub function: Option<IgnoredAny>,
    pub api: Option<IgnoredAny>,
    pub http_api: Option<IgnoredAny>,
    pub simple_table: Option<IgnoredAny>,
    pub layer_version: Option<IgnoredAny>,
    pub state_machine: Option<IgnoredAny>,
    pub capacity_provider: Option<IgnoredAny>,
}

/// One parameter declaration.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ParameterRaw {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub default: Option<Text>,
    pub allowed_values: Option<Vec<Text>>,
    pub allowed_pattern: Option<String>,
    pub min_length: Option<Num>,
    pub max_length: Option<Num>,
    pub min_value: Option<Num>,
    pub max_value: Option<Num>,
    pub description: Option<String>,
    pub constraint_description: Option<String>,
    pub no_echo: Option<IgnoredAny>,
}

/// The keys of one resource.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ResourceRaw {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub properties: Option<IgnoredAny>,
    pub metadata: Option<IgnoredAny>,
    pub condition: Option<String>,
    pub depends_on: Option<IgnoredAny>,
    pub deletion_policy: Option<IgnoredAny>,
    pub update_replace_policy: Option<IgnoredAny>,
    pub update_policy: Option<IgnoredAny>,
    pub creation_policy: Option<IgnoredAny>,
    pub ignore_globals: Option<IgnoredAny>,
}

/// `AWS::Serverless::LayerVersion` properties.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct LayerVersionProps {
    pub content_uri: Option<IgnoredAny>,
    pub layer_name: Option<String>,
    pub compatible_runtimes: Option<Vec<String>>,
    // Accepted as AWS does, without effect on a local run.
    pub description: Option<IgnoredAny>,
    pub compatible_architectures: Option<IgnoredAny>,
    pub license_info: Option<IgnoredAny>,
    pub retention_policy: Option<IgnoredAny>,
    pub publish_lambda_version: Option<IgnoredAny>,
}

/// `AWS::Serverless::Function` properties.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct FunctionProps {
    pub handler: Option<String>,
    pub runtime: Option<String>,
    pub code_uri: Option<IgnoredAny>,
    pub inline_code: Option<String>,
    pub function_name: Option<String>,
    pub memory_size: Option<Num>,
    pub timeout: Option<Num>,
    pub environment: Option<EnvironmentRaw>,
    pub events: Option<BTreeMap<String, EventRaw>>,
    pub reserved_concurrent_executions: Option<Num>,
    pub package_type: Option<String>,
    pub image_uri: Option<String>,
    pub image_config: Option<ImageConfigRaw>,
    pub architectures: Option<Vec<String>>,
    pub description: Option<String>,
    pub layers: Option<Vec<IgnoredAny>>,
    // Read from the node by `policy`: a string, a map or a list of either.
    pub policies: Option<IgnoredAny>,
    // Accepted as AWS does, without effect on a local run.
    pub role: Option<IgnoredAny>,
    pub role_path: Option<IgnoredAny>,
    pub permissions_boundary: Option<IgnoredAny>,
    pub assume_role_policy_document: Option<IgnoredAny>,
    pub tracing: Option<IgnoredAny>,
    pub tags: Option<IgnoredAny>,
    pub propagate_tags: Option<IgnoredAny>,
    pub vpc_config: Option<IgnoredAny>,
    pub auto_publish_alias: Option<IgnoredAny>,
    pub auto_publish_alias_all_properties: Option<IgnoredAny>,
    pub auto_publish_code_sha256: Option<IgnoredAny>,
    pub version_description: Option<IgnoredAny>,
    pub deployment_preference: Option<IgnoredAny>,
    pub dead_letter_queue: Option<IgnoredAny>,
    pub event_invoke_config: Option<EventInvokeConfigRaw>,
    pub function_url_config: Option<FunctionUrlConfigRaw>,
    pub kms_key_arn: Option<IgnoredAny>,
    pub provisioned_concurrency_config: Option<IgnoredAny>,
    pub ephemeral_storage: Option<IgnoredAny>,
    pub logging_config: Option<IgnoredAny>,
    pub runtime_management_config: Option<IgnoredAny>,
    pub snap_start: Option<IgnoredAny>,
    pub code_signing_config_arn: Option<IgnoredAny>,
    pub file_system_configs: Option<IgnoredAny>,
    pub recursive_loop: Option<IgnoredAny>,
}

/// `FunctionUrlConfig`: the function's own HTTPS endpoint.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct FunctionUrlConfigRaw {
    pub auth_type: Option<String>,
    pub invoke_mode: Option<String>,
    pub cors: Option<CorsRaw>,
}

/// `FunctionUrlConfig.Cors`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CorsRaw {
    pub allow_credentials: Option<bool>,
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_origins: Option<Vec<String>>,
    pub expose_headers: Option<Vec<String>>,
    pub max_age: Option<Num>,
}

/// `EventInvokeConfig`: asynchronous invocations' retries, age and destinations.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct EventInvokeConfigRaw {
    pub maximum_event_age_in_seconds: Option<Num>,
    pub maximum_retry_attempts: Option<Num>,
    pub destination_config: Option<DestinationConfigRaw>,
}

/// `EventInvokeConfig.DestinationConfig`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DestinationConfigRaw {
    pub on_success: Option<DestinationRaw>,
    pub on_failure: Option<DestinationRaw>,
}

/// `OnSuccess` / `OnFailure`: SAM adds `Type` to CloudFormation's `Destination`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DestinationRaw {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub destination: Option<Text>,
}

/// `Environment`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct EnvironmentRaw {
    pub variables: Option<BTreeMap<String, Text>>,
}

/// `ImageConfig`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ImageConfigRaw {
    pub command: Option<Vec<String>>,
    pub entry_point: Option<Vec<String>>,
    pub working_directory: Option<String>,
}

/// One entry of `Events`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct EventRaw {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    #[allow(dead_code)]
    pub properties: Option<IgnoredAny>,
}

/// Properties of an `Api` event.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ApiEventProps {
    pub path: Option<String>,
    pub method: Option<String>,
    pub rest_api_id: Option<Text>,
    pub auth: Option<IgnoredAny>,
    pub request_model: Option<IgnoredAny>,
    pub request_parameters: Option<IgnoredAny>,
    pub timeout_in_millis: Option<Num>,
}

/// Properties of an `HttpApi` event.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct HttpApiEventProps {
    pub path: Option<String>,
    pub method: Option<String>,
    pub api_id: Option<Text>,
    pub payload_format_version: Option<Text>,
    pub timeout_in_millis: Option<Num>,
    pub auth: Option<IgnoredAny>,
    pub route_settings: Option<IgnoredAny>,
}

/// Properties of an `S3` event (a Lambda destination of a bucket's notifications).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct S3EventProps {
    pub bucket: Option<Text>,
    pub events: Option<TextList>,
    pub filter: Option<S3EventFilter>,
}

/// `Filter` of an `S3` event.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct S3EventFilter {
    #[serde(rename = "S3Key")]
    pub s3_key: Option<S3KeyRules>,
}

/// `Filter.S3Key` of an `S3` event.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct S3KeyRules {
    pub rules: Option<Vec<S3KeyRule>>,
}

/// One rule of `Filter.S3Key.Rules`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct S3KeyRule {
    pub name: Option<Text>,
    pub value: Option<Text>,
}

/// A string or a list of strings (CloudFormation accepts either where one or many fit).
#[derive(Debug)]
pub(crate) struct TextList(pub Vec<Text>);

impl<'x> serde::Deserialize<'x> for TextList {
    fn deserialize<D: de::Deserializer<'x>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextList, E> {
                Ok(TextList(vec![Text(Ok(v.to_owned()))]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element::<Text>()? {
                    out.push(t);
                }
                Ok(TextList(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Properties of a `DynamoDB` event (an event source mapping on a table's stream).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct DynamoDbEventProps {
    pub stream: Option<Text>,
    pub starting_position: Option<Text>,
    pub batch_size: Option<Num>,
    pub maximum_retry_attempts: Option<Num>,
    pub enabled: Option<bool>,
    pub bisect_batch_on_function_error: Option<IgnoredAny>,
    pub destination_config: Option<IgnoredAny>,
    pub filter_criteria: Option<IgnoredAny>,
    pub function_response_types: Option<IgnoredAny>,
    pub kms_key_arn: Option<IgnoredAny>,
    pub maximum_batching_window_in_seconds: Option<IgnoredAny>,
    pub maximum_record_age_in_seconds: Option<IgnoredAny>,
    pub metrics_config: Option<IgnoredAny>,
    pub parallelization_factor: Option<IgnoredAny>,
    pub starting_position_timestamp: Option<IgnoredAny>,
    pub tumbling_window_in_seconds: Option<IgnoredAny>,
}

/// `AWS::Serverless::Api` properties.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ApiProps {
    pub stage_name: Option<Text>,
    pub variables: Option<BTreeMap<String, Text>>,
    pub binary_media_types: Option<Vec<String>>,
    pub name: Option<IgnoredAny>,
    pub description: Option<IgnoredAny>,
    pub cors: Option<IgnoredAny>,
    pub auth: Option<IgnoredAny>,
    pub definition_uri: Option<IgnoredAny>,
    pub definition_body: Option<IgnoredAny>,
    pub endpoint_configuration: Option<IgnoredAny>,
    pub method_settings: Option<IgnoredAny>,
    pub tracing_enabled: Option<IgnoredAny>,
    pub open_api_version: Option<IgnoredAny>,
    pub cache_cluster_enabled: Option<IgnoredAny>,
    pub cache_cluster_size: Option<IgnoredAny>,
    pub access_log_setting: Option<IgnoredAny>,
    pub domain: Option<IgnoredAny>,
    pub gateway_responses: Option<IgnoredAny>,
    pub models: Option<IgnoredAny>,
    pub canary_setting: Option<IgnoredAny>,
    pub minimum_compression_size: Option<IgnoredAny>,
    pub mode: Option<IgnoredAny>,
    pub api_key_source_type: Option<IgnoredAny>,
    pub always_deploy: Option<IgnoredAny>,
    pub disable_execute_api_endpoint: Option<IgnoredAny>,
    pub fail_on_warnings: Option<IgnoredAny>,
    pub propagate_tags: Option<IgnoredAny>,
    pub tags: Option<IgnoredAny>,
    pub merge_definitions: Option<IgnoredAny>,
}

/// `AWS::Serverless::HttpApi` properties.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct HttpApiProps {
    pub stage_name: Option<Text>,
    pub stage_variables: Option<BTreeMap<String, Text>>,
    pub name: Option<IgnoredAny>,
    pub description: Option<IgnoredAny>,
    pub cors_configuration: Option<IgnoredAny>,
    pub auth: Option<IgnoredAny>,
    pub definition_uri: Option<IgnoredAny>,
    pub definition_body: Option<IgnoredAny>,
    pub domain: Option<IgnoredAny>,
    pub fail_on_warnings: Option<IgnoredAny>,
    pub access_log_settings: Option<IgnoredAny>,
    pub default_route_settings: Option<IgnoredAny>,
    pub route_settings: Option<IgnoredAny>,
    pub tags: Option<IgnoredAny>,
    pub disable_execute_api_endpoint: Option<IgnoredAny>,
    pub propagate_tags: Option<IgnoredAny>,
}

/// `AWS::Serverless::SimpleTable` properties.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct SimpleTableProps {
    pub primary_key: Option<PrimaryKeyRaw>,
    pub table_name: Option<String>,
    pub provisioned_throughput: Option<ThroughputRaw>,
    pub tags: Option<BTreeMap<String, Text>>,
    // Accepted as AWS does, without effect on a local run.
    #[serde(rename = "SSESpecification")]
    pub sse_specification: Option<IgnoredAny>,
    pub point_in_time_recovery_specification: Option<PitrRaw>,
}

/// `PointInTimeRecoverySpecification`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct PitrRaw {
    pub point_in_time_recovery_enabled: Option<Text>,
    pub recovery_period_in_days: Option<Num>,
}

/// `PrimaryKey` of a SimpleTable.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct PrimaryKeyRaw {
    pub name: Option<String>,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
}

/// `AWS::DynamoDB::Table` properties.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct TableProps {
    pub table_name: Option<String>,
    pub billing_mode: Option<String>,
    pub attribute_definitions: Option<Vec<AttributeDefinitionRaw>>,
    pub key_schema: Option<Vec<KeySchemaRaw>>,
    pub provisioned_throughput: Option<ThroughputRaw>,
    pub global_secondary_indexes: Option<Vec<IndexRaw>>,
    pub local_secondary_indexes: Option<Vec<IndexRaw>>,
    pub stream_specification: Option<StreamSpecificationRaw>,
    pub time_to_live_specification: Option<TimeToLiveRaw>,
    pub tags: Option<Vec<TagRaw>>,
    pub deletion_protection_enabled: Option<Text>,
    pub table_class: Option<String>,
    pub resource_policy: Option<ResourcePolicyRaw>,
    pub point_in_time_recovery_specification: Option<PitrRaw>,
    // Accepted as AWS does, without effect on a local run.
    #[serde(rename = "SSESpecification")]
    pub sse_specification: Option<IgnoredAny>,
    pub contributor_insights_specification: Option<IgnoredAny>,
    pub kinesis_stream_specification: Option<IgnoredAny>,
    pub import_source_specification: Option<ImportSourceRaw>,
    pub on_demand_throughput: Option<IgnoredAny>,
    pub warm_throughput: Option<IgnoredAny>,
}

/// `ImportSourceSpecification`: where a new table's items come from.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ImportSourceRaw {
    #[serde(rename = "S3BucketSource")]
    pub s3_bucket_source: Option<S3BucketSourceRaw>,
    pub input_format: Option<String>,
    pub input_compression_type: Option<String>,
    pub input_format_options: Option<InputFormatOptionsRaw>,
}

/// `ImportSourceSpecification.S3BucketSource`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct S3BucketSourceRaw {
    #[serde(rename = "S3Bucket")]
    pub bucket: Option<String>,
    #[serde(rename = "S3BucketOwner")]
    pub bucket_owner: Option<String>,
    #[serde(rename = "S3KeyPrefix")]
    pub key_prefix: Option<String>,
}

/// `ImportSourceSpecification.InputFormatOptions`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct InputFormatOptionsRaw {
    pub csv: Option<CsvRaw>,
}

/// `InputFormatOptions.Csv`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CsvRaw {
    pub delimiter: Option<String>,
    pub header_list: Option<Vec<String>>,
}

/// A table's `ResourcePolicy`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ResourcePolicyRaw {
    pub policy_document: Option<serde_json::Value>,
}

/// One `AttributeDefinitions` item.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct AttributeDefinitionRaw {
    pub attribute_name: Option<String>,
    pub attribute_type: Option<String>,
}

/// One `KeySchema` item.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct KeySchemaRaw {
    pub attribute_name: Option<String>,
    pub key_type: Option<String>,
}

/// `ProvisionedThroughput`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ThroughputRaw {
    pub read_capacity_units: Option<Num>,
    pub write_capacity_units: Option<Num>,
}

/// One `GlobalSecondaryIndexes` or `LocalSecondaryIndexes` item.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct IndexRaw {
    pub index_name: Option<String>,
    pub key_schema: Option<Vec<KeySchemaRaw>>,
    pub projection: Option<ProjectionRaw>,
    pub provisioned_throughput: Option<ThroughputRaw>,
    // Accepted as AWS does, without effect on a local run.
    pub contributor_insights_specification: Option<IgnoredAny>,
    pub on_demand_throughput: Option<IgnoredAny>,
    pub warm_throughput: Option<IgnoredAny>,
}

/// An index's `Projection`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ProjectionRaw {
    pub projection_type: Option<String>,
    pub non_key_attributes: Option<Vec<String>>,
}

/// `StreamSpecification`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct StreamSpecificationRaw {
    pub stream_view_type: Option<String>,
    pub resource_policy: Option<IgnoredAny>,
}

/// `TimeToLiveSpecification`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct TimeToLiveRaw {
    pub attribute_name: Option<String>,
    pub enabled: Option<Text>,
}

/// One `Tags` item of a CloudFormation resource.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct TagRaw {
    pub key: Option<String>,
    pub value: Option<Text>,
}

/// One `Outputs` entry.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct OutputRaw {
    pub description: Option<Text>,
    pub value: Option<Text>,
    pub export: Option<IgnoredAny>,
    pub condition: Option<String>,
}
