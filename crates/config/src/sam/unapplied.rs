//! Properties a template may set because AWS accepts them, which change what runs on AWS but
//! are not applied by Meridian: each is a warning at its key naming what does not happen, so
//! a template that loads is never silently half-applied. Properties with no effect on a run
//! at all (descriptions, tags, names of cloud resources) are not listed here.

use crate::diag::Findings;
use crate::node::Node;
use crate::path::FieldPath;

/// A property and what is missing when it is set.
type Unapplied = (&'static str, &'static str);

const ROLE: &str = "IAM roles are not read: the function gets the permissions of its Policies only";
const VERSIONS: &str =
    "versions and aliases are not published: every invocation runs the template's current code";

/// `AWS::Serverless::Function` (and `Globals.Function`).
pub(super) const FUNCTION: &[Unapplied] = &[
    ("RolePath", ROLE),
    ("PermissionsBoundary", ROLE),
    ("AssumeRolePolicyDocument", ROLE),
    (
        "Tracing",
        "no X-Ray trace segments are recorded for the function",
    ),
    (
        "VpcConfig",
        "the function reaches the node's network, not a VPC's subnets and security groups",
    ),
    ("AutoPublishAlias", VERSIONS),
    ("AutoPublishAliasAllProperties", VERSIONS),
    ("AutoPublishCodeSha256", VERSIONS),
    ("VersionDescription", VERSIONS),
    (
        "DeploymentPreference",
        "gradual deployments are not run: new code takes all traffic at once",
    ),
    (
        "DeadLetterQueue",
        "failed asynchronous events go to no queue or topic (EventInvokeConfig's OnFailure to a function of the template is served)",
    ),
    (
        "KmsKeyArn",
        "environment variables are not encrypted with a customer key",
    ),
    (
        "ProvisionedConcurrencyConfig",
        "no instances are kept initialised ahead of requests",
    ),
    (
        "EphemeralStorage",
        "/tmp is the node's temporary folder, not sized per function",
    ),
    (
        "LoggingConfig",
        "logs go to Meridian's function log in its own format, not to a CloudWatch log group",
    ),
    (
        "RuntimeManagementConfig",
        "the runtime is the node's interpreter; its version is not pinned or updated",
    ),
    (
        "SnapStart",
        "no snapshots are taken: every instance starts from its handler's init",
    ),
    ("CodeSigningConfigArn", "code signatures are not checked"),
    (
        "FileSystemConfigs",
        "no EFS file system is mounted into the function",
    ),
    (
        "RecursiveLoop",
        "recursive invocation loops are not detected or stopped",
    ),
    (
        "ImageUri",
        "the image is not pulled: Meridian runs the function natively from its Dockerfile (Metadata.Dockerfile, or the Dockerfile beside the template)",
    ),
];

/// `AWS::Serverless::LayerVersion`.
pub(super) const LAYER_VERSION: &[Unapplied] = &[
    (
        "RetentionPolicy",
        "layer versions are not kept or deleted: the layer is read from its folder",
    ),
    ("PublishLambdaVersion", VERSIONS),
];

/// Stage and deployment settings shared by `AWS::Serverless::Api` and `HttpApi`.
const DEFINITION: &str =
    "an OpenAPI definition is not read: only the routes of the functions' events are served";
const DOMAIN: &str = "no custom domain is served: the API answers on Meridian's gateway port";
const ACCESS_LOG: &str = "no access log is written for the stage";
const EXECUTE_API: &str = "the default endpoint is served all the same";

/// `AWS::Serverless::Api` (and `Globals.Api`).
pub(super) const API: &[Unapplied] = &[
    (
        "Auth",
        "authorizers, API keys and usage plans are not run: every route is served without them",
    ),
    ("DefinitionUri", DEFINITION),
    ("DefinitionBody", DEFINITION),
    ("MergeDefinitions", DEFINITION),
    ("Domain", DOMAIN),
    ("AccessLogSetting", ACCESS_LOG),
    (
        "MethodSettings",
        "throttling, caching and logging per method are not applied",
    ),
    (
        "CacheClusterEnabled",
        "responses are not cached by the stage",
    ),
    ("CacheClusterSize", "responses are not cached by the stage"),
    (
        "CanarySetting",
        "no canary stage takes a share of the traffic",
    ),
    (
        "GatewayResponses",
        "gateway errors keep Meridian's default bodies and headers",
    ),
    ("Models", "request bodies are not validated against models"),
    (
        "MinimumCompressionSize",
        "responses are not compressed by the stage",
    ),
    (
        "TracingEnabled",
        "no X-Ray trace segments are recorded for the stage",
    ),
    ("DisableExecuteApiEndpoint", EXECUTE_API),
    ("ApiKeySourceType", "API keys are not checked"),
    (
        "EndpointConfiguration",
        "the API is served on Meridian's gateway port, neither edge-optimised nor private to a VPC",
    ),
];

/// `AWS::Serverless::HttpApi` (and `Globals.HttpApi`).
pub(super) const HTTP_API: &[Unapplied] = &[
    (
        "Auth",
        "authorizers are not run: every route is served without one",
    ),
    ("DefinitionUri", DEFINITION),
    ("DefinitionBody", DEFINITION),
    ("Domain", DOMAIN),
    ("AccessLogSettings", ACCESS_LOG),
    (
        "DefaultRouteSettings",
        "throttling and metrics per route are not applied",
    ),
    (
        "RouteSettings",
        "throttling and metrics per route are not applied",
    ),
    ("DisableExecuteApiEndpoint", EXECUTE_API),
];

/// The properties of an `Api` event.
pub(super) const API_EVENT: &[Unapplied] = &[
    (
        "Auth",
        "the route is served without its authorizer or API key",
    ),
    (
        "RequestModel",
        "the request body is not validated against the model",
    ),
    (
        "RequestParameters",
        "required request parameters are not checked",
    ),
    (
        "TimeoutInMillis",
        "the integration timeout is not applied: the function's Timeout bounds the request",
    ),
];

/// The properties of an `HttpApi` event.
pub(super) const HTTP_API_EVENT: &[Unapplied] = &[
    ("Auth", "the route is served without its authorizer"),
    (
        "RouteSettings",
        "throttling and metrics for the route are not applied",
    ),
    (
        "TimeoutInMillis",
        "the integration timeout is not applied: the function's Timeout bounds the request",
    ),
];

/// Tables, `AWS::DynamoDB::Table` and `AWS::Serverless::SimpleTable`.
pub(super) const TABLE: &[Unapplied] = &[
    (
        "SSESpecification",
        "items are stored unencrypted by the node (no encryption at rest)",
    ),
    (
        "ContributorInsightsSpecification",
        "no Contributor Insights metrics are kept",
    ),
    (
        "OnDemandThroughput",
        "requests are not capped at a maximum throughput",
    ),
    (
        "WarmThroughput",
        "the table is not pre-warmed: it has no capacity to warm",
    ),
    (
        "KinesisStreamSpecification",
        "changes are not sent to a Kinesis stream (StreamSpecification's DynamoDB stream is)",
    ),
];

/// Each of a table's `GlobalSecondaryIndexes` and `LocalSecondaryIndexes`.
const INDEX: &[Unapplied] = &[
    (
        "ContributorInsightsSpecification",
        "no Contributor Insights metrics are kept",
    ),
    (
        "OnDemandThroughput",
        "requests are not capped at a maximum throughput",
    ),
    (
        "WarmThroughput",
        "the index is not pre-warmed: it has no capacity to warm",
    ),
];

/// A table's `StreamSpecification`.
const STREAM: &[Unapplied] = &[(
    "ResourcePolicy",
    "the stream's resource policy is not attached: put it with PutResourcePolicy once the stream exists",
)];

/// Warns about what is nested in a table's properties: its indexes and its stream.
pub(super) fn table_parts(props: &Node, at: &FieldPath, f: &mut Findings) {
    for key in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        for (i, index) in props
            .get(key)
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            check(index, &at.field(key).index(i), INDEX, f);
        }
    }
    if let Some(stream) = props.get("StreamSpecification") {
        check(stream, &at.field("StreamSpecification"), STREAM, f);
    }
}

/// Warns about the template sections and `Globals` sections that are not applied.
pub(super) fn template(root: &Node, f: &mut Findings) {
    let top = FieldPath::root();
    if root.get("Rules").is_some() {
        f.warn(
            &top.field("Rules"),
            "Rules are accepted but not evaluated by Meridian: parameter values are not checked against their assertions",
        )
        .at_key();
    }
    let Some(globals) = root.get("Globals") else {
        return;
    };
    for (key, missing) in [
        (
            "LayerVersion",
            "its properties are not merged into the layers; set them on each AWS::Serverless::LayerVersion",
        ),
        (
            "StateMachine",
            "AWS::Serverless::StateMachine resources are not run",
        ),
        (
            "CapacityProvider",
            "AWS::Serverless::CapacityProvider resources are not run",
        ),
    ] {
        if globals.get(key).is_some() {
            f.warn(
                &top.field("Globals").field(key),
                format!("Globals.{key} is accepted but not applied by Meridian: {missing}"),
            )
            .at_key();
        }
    }
}

/// `AWS::S3::Bucket`: its configuration documents beside the name.
pub(super) const BUCKET: &[Unapplied] = &[
    (
        "AbacStatus",
        "attribute-based access control is not evaluated: access follows the functions' Policies",
    ),
    (
        "AccelerateConfiguration",
        "transfer acceleration does not apply to a local bucket",
    ),
    ("AccessControl", "the canned ACL is not applied"),
    (
        "AnalyticsConfigurations",
        "no storage class analysis is run",
    ),
    (
        "BucketEncryption",
        "objects are stored unencrypted by the node (no SSE)",
    ),
    (
        "CorsConfiguration",
        "no CORS headers are answered for the bucket",
    ),
    (
        "IntelligentTieringConfigurations",
        "objects are not moved between tiers",
    ),
    (
        "InventoryConfigurations",
        "no inventory reports are written",
    ),
    (
        "LifecycleConfiguration",
        "objects do not expire or change class",
    ),
    ("LoggingConfiguration", "no server access logs are written"),
    (
        "MetadataConfiguration",
        "no metadata tables are kept for the bucket",
    ),
    (
        "MetadataTableConfiguration",
        "no metadata tables are kept for the bucket",
    ),
    (
        "MetricsConfigurations",
        "no request metrics are filtered per prefix",
    ),
    (
        "NotificationConfiguration",
        "notifications are taken from the functions' S3 events only",
    ),
    (
        "ObjectLockConfiguration",
        "objects are not locked: they can be deleted or overwritten",
    ),
    (
        "ObjectLockEnabled",
        "objects are not locked: they can be deleted or overwritten",
    ),
    (
        "OwnershipControls",
        "object ownership rules are not applied",
    ),
    (
        "PublicAccessBlockConfiguration",
        "public access settings are not applied",
    ),
    ("ReplicationConfiguration", "objects are not replicated"),
    (
        "VersioningConfiguration",
        "versioning is not turned on by the template",
    ),
    (
        "WebsiteConfiguration",
        "the bucket is not served as a website",
    ),
];

/// Warns about each property of `list` set in `props` (the evaluated properties at `at`).
pub(super) fn check(props: &Node, at: &FieldPath, list: &[Unapplied], f: &mut Findings) {
    for (key, missing) in list {
        if props.get(key).is_some() {
            f.warn(
                &at.field(*key),
                format!("{key} is accepted but not applied by Meridian: {missing}"),
            )
            .at_key();
        }
    }
}
