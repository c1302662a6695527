//! The validated domain types a SAM template compiles to: what the functions plane runs and
//! serves. Nothing here can be invalid; every value was checked where it was read.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::diag::Diagnostic;
use crate::node::Span;

/// A language runtime Meridian can run natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub enum Runtime {
    /// `nodejs<major>.x`.
    Node {
        /// Major version (18, 20, 22).
        major: u8,
    },
    /// `python3.<minor>`.
    Python {
        /// Minor version of Python 3.
        minor: u8,
    },
    /// `ruby<major>.<minor>`.
    Ruby {
        /// Major version (3).
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// `provided`, `provided.al2` or `provided.al2023`: the user's `bootstrap` executable.
    Provided(ProvidedOs),
}

/// The Amazon Linux generation of a `provided` runtime (only a label here: Meridian runs the
/// bootstrap on the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ProvidedOs {
    /// `provided` (Amazon Linux 1, deprecated).
    Al1,
    /// `provided.al2`.
    Al2,
    /// `provided.al2023`.
    Al2023,
}

impl Runtime {
    /// Every runtime identifier accepted, for error messages.
    pub const SUPPORTED: &'static [&'static str] = &[
        "nodejs18.x",
        "nodejs20.x",
        "nodejs22.x",
        "nodejs24.x",
        "python3.9",
        "python3.10",
        "python3.11",
        "python3.12",
        "python3.13",
        "python3.14",
        "ruby3.2",
        "ruby3.3",
        "ruby3.4",
        "provided",
        "provided.al2",
        "provided.al2023",
    ];

    /// Parses a Lambda runtime identifier such as `nodejs20.x`.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(v) = s.strip_prefix("nodejs").and_then(|v| v.strip_suffix(".x")) {
            let major: u8 = v.parse().ok()?;
            return (16..=24)
                .contains(&major)
                .then_some(Runtime::Node { major });
        }
        if let Some(v) = s.strip_prefix("python3.") {
            let minor: u8 = v.parse().ok()?;
            return (8..=14)
                .contains(&minor)
                .then_some(Runtime::Python { minor });
        }
        if let Some((major, minor)) = s.strip_prefix("ruby").and_then(|v| v.split_once('.')) {
            let (major, minor): (u8, u8) = (major.parse().ok()?, minor.parse().ok()?);
            return (major == 3 && (2..=4).contains(&minor))
                .then_some(Runtime::Ruby { major, minor });
        }
        match s {
            "provided" => Some(Runtime::Provided(ProvidedOs::Al1)),
            "provided.al2" => Some(Runtime::Provided(ProvidedOs::Al2)),
            "provided.al2023" => Some(Runtime::Provided(ProvidedOs::Al2023)),
            _ => None,
        }
    }

    /// True for the runtimes that need a `Handler` (the language runtimes).
    pub fn needs_handler(&self) -> bool {
        !matches!(self, Runtime::Provided(_))
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runtime::Node { major } => write!(f, "nodejs{major}.x"),
            Runtime::Python { minor } => write!(f, "python3.{minor}"),
            Runtime::Ruby { major, minor } => write!(f, "ruby{major}.{minor}"),
            Runtime::Provided(ProvidedOs::Al1) => f.write_str("provided"),
            Runtime::Provided(ProvidedOs::Al2) => f.write_str("provided.al2"),
            Runtime::Provided(ProvidedOs::Al2023) => f.write_str("provided.al2023"),
        }
    }
}

impl From<Runtime> for String {
    fn from(r: Runtime) -> String {
        r.to_string()
    }
}

/// Where a function's code comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// A folder (`CodeUri`), used as `LAMBDA_TASK_ROOT` as it is.
    Dir(PathBuf),
    /// `InlineCode`: the text of the handler module (`index.js`/`index.py` by convention).
    Inline(String),
    /// An image's `COPY`/`ADD` steps: the task root is assembled from these files.
    Layout(Vec<CodeCopy>),
}

/// One file or folder placed into the task root of an image function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CodeCopy {
    /// The source on disk (absolute).
    pub src: PathBuf,
    /// Where it goes, relative to the task root (`/var/task`). For a folder, its contents go
    /// there.
    pub dest: PathBuf,
    /// True when `src` is a folder.
    pub is_dir: bool,
}

/// Where in a file something was declared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// The file.
    #[serde(serialize_with = "ser_path")]
    pub file: Arc<std::path::Path>,
    /// The position.
    pub span: Span,
}

fn ser_path<S: serde::Serializer>(p: &Arc<std::path::Path>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&p.display())
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.span)
    }
}

/// A validated `AWS::Serverless::Function`: everything the functions plane needs to run it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FunctionSpec {
    /// The logical id in the template (`MyFunction`).
    pub logical_id: String,
    /// The function name (`FunctionName`, else the logical id), used by the Invoke API.
    pub name: String,
    /// The runtime.
    pub runtime: Runtime,
    /// The handler (`index.handler`); for `provided` runtimes whatever the user set, passed
    /// as `_HANDLER`.
    pub handler: String,
    /// The code.
    pub code: Code,
    /// `MemorySize` in MB (128 to 10240).
    pub memory_mb: u32,
    /// `Timeout` (1 s to 900 s).
    pub timeout: Duration,
    /// `Environment.Variables` (plus `ENV` of an image), resolved.
    pub environment: BTreeMap<String, String>,
    /// `ReservedConcurrentExecutions`: the most invocations at once (0 throttles all).
    pub reserved_concurrency: Option<u32>,
    /// `EventInvokeConfig`: how asynchronous invocations are retried, kept and reported.
    pub event_invoke: EventInvokeConfig,
    /// The API routes that invoke it.
    pub routes: Vec<ApiRoute>,
    /// Working directory of an image function (`WORKDIR`), relative to the task root;
    /// empty means the task root itself.
    pub working_dir: PathBuf,
    /// `x86_64` or `arm64` (a label; the host's architecture is used).
    pub architecture: String,
    /// Its permissions (`Policies`), as IAM statements: what the short-lived credentials
    /// in its environment allow.
    pub policies: Vec<PolicyStatement>,
    /// Its `DynamoDB` events: the table streams it reads in batches.
    pub stream_events: Vec<StreamEvent>,
    /// The folders of its `Layers` (the template's `AWS::Serverless::LayerVersion`s), in the
    /// order listed: what Lambda extracts into `/opt`, later layers over earlier ones.
    pub layers: Vec<PathBuf>,
    /// The contract its process speaks with the platform.
    pub platform: Platform,
    /// `FunctionUrlConfig`: its own HTTP endpoint.
    pub url: Option<FunctionUrl>,
    /// `Metadata.BuildMethod`: the build `sam build` would run on its code.
    pub build: Option<Build>,
    /// Where its `Runtime` is written (the function's position when it has none).
    pub runtime_at: crate::node::Span,
    /// Where the function was declared.
    pub origin: Origin,
}

/// Which platform's contract a function's process speaks: Lambda's handler and Runtime API,
/// or an Azure Functions app's worker (which Meridian runs through the same Runtime API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub enum Platform {
    /// An AWS Lambda function.
    #[default]
    Lambda,
    /// An Azure Functions app: one worker process serves all its functions.
    AzureFunctions,
}

/// A function's `EventInvokeConfig`, as Lambda applies it to asynchronous (`Event`)
/// invocations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventInvokeConfig {
    /// `MaximumEventAgeInSeconds`: how long an event may wait in the queue (60 s to 6 h;
    /// 6 h by default).
    pub maximum_event_age: Duration,
    /// `MaximumRetryAttempts`: retries after a function error (0 to 2; 2 by default).
    pub maximum_retry_attempts: u8,
    /// `DestinationConfig.OnSuccess` of `Type: Lambda`: the function (of this template) that
    /// receives the record of each successful invocation.
    pub on_success: Option<String>,
    /// `DestinationConfig.OnFailure` of `Type: Lambda`: the function (of this template) that
    /// receives the record of each event that failed every attempt or expired.
    pub on_failure: Option<String>,
}

impl EventInvokeConfig {
    /// Lambda's default maximum event age: 6 hours.
    pub const DEFAULT_MAXIMUM_EVENT_AGE: Duration = Duration::from_secs(6 * 3600);
    /// Lambda's default number of retries after a function error.
    pub const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: u8 = 2;
}

impl Default for EventInvokeConfig {
    fn default() -> Self {
        EventInvokeConfig {
            maximum_event_age: Self::DEFAULT_MAXIMUM_EVENT_AGE,
            maximum_retry_attempts: Self::DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
            on_success: None,
            on_failure: None,
        }
    }
}

/// Which API Gateway flavour a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiKind {
    /// A REST API (`AWS::Serverless::Api`, `Api` events).
    Rest,
    /// An HTTP API (`AWS::Serverless::HttpApi`, `HttpApi` events).
    Http,
}

/// The Lambda proxy payload format of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PayloadFormat {
    /// Payload 1.0 (REST APIs; HTTP APIs that ask for it).
    #[serde(rename = "1.0")]
    V1,
    /// Payload 2.0 (HTTP APIs' default).
    #[serde(rename = "2.0")]
    V2,
}

/// The HTTP method of a route.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub enum RouteMethod {
    /// `ANY`: every method.
    Any,
    /// One method, upper case (`GET`).
    Method(String),
}

impl fmt::Display for RouteMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteMethod::Any => f.write_str("ANY"),
            RouteMethod::Method(m) => f.write_str(m),
        }
    }
}

impl From<RouteMethod> for String {
    fn from(m: RouteMethod) -> String {
        m.to_string()
    }
}

/// A `DynamoDB` event: an event source mapping that invokes the function with batches of a
/// table's stream records, as Lambda's poller does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamEvent {
    /// The event's name in `Events`.
    pub event: String,
    /// `Stream`: the stream's ARN.
    pub stream_arn: String,
    /// The table the ARN names.
    pub table: String,
    /// `StartingPosition`: read from the oldest record (`TRIM_HORIZON`) or only new ones
    /// (`LATEST`).
    pub from_oldest: bool,
    /// `BatchSize`: the most records per invocation (1 to 10,000; 100 by default).
    pub batch_size: u32,
    /// `MaximumRetryAttempts`: retries of a failed batch before it is skipped; `None`
    /// (-1, the default) retries until it succeeds.
    pub maximum_retry_attempts: Option<u32>,
    /// `Enabled`.
    pub enabled: bool,
}

/// An API route (`Events` of type `Api` or `HttpApi`) that invokes a function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiRoute {
    /// The event's name in the template.
    pub event: String,
    /// REST or HTTP API.
    pub kind: ApiKind,
    /// The logical id of the API (`ServerlessRestApi` for the implicit one).
    pub api: String,
    /// The method.
    pub method: RouteMethod,
    /// The resource path template (`/users/{id}`, `/{proxy+}`); `None` is an HTTP API's
    /// `$default` route.
    pub path: Option<String>,
    /// The payload format sent to the function.
    pub payload: PayloadFormat,
}

impl ApiRoute {
    /// The HTTP API route key: `GET /users/{id}`, `ANY /{proxy+}` or `$default`.
    pub fn route_key(&self) -> String {
        match &self.path {
            Some(p) => format!("{} {p}", self.method),
            None => "$default".into(),
        }
    }
}

/// An API (`AWS::Serverless::Api`/`HttpApi`, or the implicit `ServerlessRestApi` /
/// `ServerlessHttpApi`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiSpec {
    /// Logical id.
    pub logical_id: String,
    /// The API id (10 characters, stable for a stack and logical id).
    pub id: String,
    /// REST or HTTP.
    pub kind: ApiKind,
    /// Stage name (`Prod` for the implicit REST API, `$default` for HTTP APIs by default).
    pub stage: String,
    /// Stage variables.
    pub stage_variables: BTreeMap<String, String>,
    /// `BinaryMediaTypes` of a REST API (`image/png`, `*/*`).
    pub binary_media_types: Vec<String>,
    /// True for the APIs SAM creates implicitly.
    pub implicit: bool,
    /// `Cors` (REST) or `CorsConfiguration` (HTTP).
    pub cors: Option<Cors>,
}

/// A table's key attribute.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyAttribute {
    /// Attribute name.
    pub name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// Read and write capacity units of a provisioned table or index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Throughput {
    /// `ReadCapacityUnits`.
    pub read: u64,
    /// `WriteCapacityUnits`.
    pub write: u64,
}

/// Which attributes a secondary index keeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IndexProjection {
    /// Every attribute.
    All,
    /// The table's and the index's keys.
    KeysOnly,
    /// The keys and these attributes (`NonKeyAttributes`).
    Include(Vec<String>),
}

/// A global or local secondary index of a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexSpec {
    /// `IndexName`.
    pub name: String,
    /// The index's partition key.
    pub hash_key: KeyAttribute,
    /// The index's sort key.
    pub range_key: Option<KeyAttribute>,
    /// `Projection`.
    pub projection: IndexProjection,
    /// `ProvisionedThroughput` of a global index of a provisioned table.
    pub throughput: Option<Throughput>,
}

/// A table's `ImportSourceSpecification`: objects in a bucket that a new table is loaded
/// from, as DynamoDB's ImportTable loads them. A table that exists is not imported into.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportSpec {
    /// `S3BucketSource.S3Bucket`.
    pub bucket: String,
    /// `S3BucketSource.S3BucketOwner`: the account that must own the bucket.
    pub bucket_owner: Option<String>,
    /// `S3BucketSource.S3KeyPrefix`.
    pub key_prefix: Option<String>,
    /// `InputFormat`: `DYNAMODB_JSON`, `ION` or `CSV`.
    pub input_format: String,
    /// `InputCompressionType`: `GZIP`, `ZSTD` or `NONE`.
    pub compression: String,
    /// `InputFormatOptions.Csv.Delimiter`.
    pub csv_delimiter: Option<String>,
    /// `InputFormatOptions.Csv.HeaderList`.
    pub csv_header_list: Option<Vec<String>>,
}

/// A DynamoDB table (`AWS::DynamoDB::Table` or `AWS::Serverless::SimpleTable`), as the
/// storage plane creates it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableSpec {
    /// Logical id.
    pub logical_id: String,
    /// Table name (`TableName`, else `<stack>-<logical id>`).
    pub name: String,
    /// Partition key.
    pub hash_key: KeyAttribute,
    /// Sort key.
    pub range_key: Option<KeyAttribute>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    /// The capacity of a `PROVISIONED` table.
    pub throughput: Option<Throughput>,
    /// `GlobalSecondaryIndexes`.
    pub global_indexes: Vec<IndexSpec>,
    /// `LocalSecondaryIndexes`.
    pub local_indexes: Vec<IndexSpec>,
    /// `StreamSpecification.StreamViewType` (`KEYS_ONLY`, `NEW_IMAGE`, `OLD_IMAGE`,
    /// `NEW_AND_OLD_IMAGES`) when the table has a stream.
    pub stream_view_type: Option<String>,
    /// The TTL attribute, when `TimeToLiveSpecification` enables it.
    pub ttl_attribute: Option<String>,
    /// `Tags`.
    pub tags: BTreeMap<String, String>,
    /// `DeletionProtectionEnabled`.
    pub deletion_protection: bool,
    /// `TableClass` (`STANDARD`, `STANDARD_INFREQUENT_ACCESS`).
    pub table_class: Option<String>,
    /// `ResourcePolicy.PolicyDocument`, as JSON text, with its intrinsics resolved.
    pub resource_policy: Option<String>,
    /// `PointInTimeRecoverySpecification`'s recovery period in days (35 unless given), when
    /// it enables point-in-time recovery.
    pub pitr_days: Option<i64>,
    /// `ImportSourceSpecification`: the items a new table is loaded with.
    pub import: Option<ImportSpec>,
    /// Where it was declared.
    pub origin: Origin,
    /// Where its key is declared (`KeySchema`, or a SimpleTable's `PrimaryKey`).
    pub key_origin: Origin,
}

impl TableSpec {
    /// Every attribute a key of the table or of an index uses, with its type, once.
    pub fn key_attributes(&self) -> Vec<KeyAttribute> {
        let mut out: Vec<KeyAttribute> = Vec::new();
        let keys = std::iter::once(&self.hash_key)
            .chain(self.range_key.as_ref())
            .chain(
                self.global_indexes
                    .iter()
                    .chain(&self.local_indexes)
                    .flat_map(|i| std::iter::once(&i.hash_key).chain(i.range_key.as_ref())),
            );
        for k in keys {
            if !out.iter().any(|o| o.name == k.name) {
                out.push(k.clone());
            }
        }
        out
    }
}

/// An S3 bucket (`AWS::S3::Bucket`), as the storage plane creates it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BucketSpec {
    /// Logical id.
    pub logical_id: String,
    /// Bucket name (`BucketName`, else `<stack>-<logical id>` lower-cased).
    pub name: String,
    /// The Lambda destinations of its event notifications: what the template's functions'
    /// `Events: Type: S3` compile to, as SAM writes them into the bucket's
    /// `NotificationConfiguration`.
    pub notifications: Vec<BucketNotification>,
    /// Where it was declared.
    pub origin: Origin,
}

/// The event types S3 accepts in a notification configuration (`Events` of an `S3` event).
pub const S3_EVENT_TYPES: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
];

/// The key filter of a notification: at most one prefix and one suffix.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyFilter {
    /// Keys start with it.
    pub prefix: Option<String>,
    /// Keys end with it.
    pub suffix: Option<String>,
}

impl KeyFilter {
    /// Whether `key` passes.
    pub fn matches(&self, key: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }

    /// Whether some key passes both filters.
    pub fn meets(&self, other: &KeyFilter) -> bool {
        let prefixes = match (&self.prefix, &other.prefix) {
            (Some(a), Some(b)) => a.starts_with(b.as_str()) || b.starts_with(a.as_str()),
            _ => true,
        };
        let suffixes = match (&self.suffix, &other.suffix) {
            (Some(a), Some(b)) => a.ends_with(b.as_str()) || b.ends_with(a.as_str()),
            _ => true,
        };
        prefixes && suffixes
    }
}

/// Whether S3 refuses two notification configurations of one bucket as overlapping: they
/// share an event type (`s3:ObjectCreated:*` shares each `s3:ObjectCreated:` type) and some
/// key passes both filters.
pub fn s3_notifications_overlap(a: (&[String], &KeyFilter), b: (&[String], &KeyFilter)) -> bool {
    let class = |e: &str| {
        e.rsplit_once(':')
            .map_or(e.to_owned(), |(c, _)| c.to_owned())
    };
    let share = |x: &str, y: &str| {
        x == y || ((x.ends_with(":*") || y.ends_with(":*")) && class(x) == class(y))
    };
    a.0.iter().any(|x| b.0.iter().any(|y| share(x, y))) && a.1.meets(b.1)
}

/// A Lambda destination of a bucket's notifications (an `S3` event of a function).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BucketNotification {
    /// The configuration id: the function's logical id and the event's name.
    pub id: String,
    /// The function's name.
    pub function: String,
    /// `Events`: S3 event types.
    pub events: Vec<String>,
    /// `Filter.S3Key.Rules`.
    pub filter: KeyFilter,
    /// Where the event was declared.
    pub origin: Origin,
}

/// Whether an IAM statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

/// The actions or resources an IAM statement names: `Action`/`Resource` (those listed) or
/// `NotAction`/`NotResource` (all but those listed). Patterns take `*` and `?`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Patterns {
    /// Any of these.
    AnyOf(Vec<String>),
    /// Anything but these.
    NoneOf(Vec<String>),
}

/// One statement of a function's permissions, after SAM's policy templates and the managed
/// policies Meridian knows were expanded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyStatement {
    /// Allow or Deny.
    pub effect: Effect,
    /// The actions (`dynamodb:GetItem`, `dynamodb:*`).
    pub actions: Patterns,
    /// The resource ARNs.
    pub resources: Patterns,
}

/// A resolved template output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutputSpec {
    /// Output name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The value with intrinsics resolved.
    pub value: String,
}

/// A resolved parameter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParameterValue {
    /// CloudFormation type (`String`, `Number`, `CommaDelimitedList`, ...).
    pub kind: String,
    /// The value in force (override, else `Default`).
    pub value: String,
}

/// A whole SAM template, validated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Template {
    /// The template file.
    #[serde(serialize_with = "ser_path")]
    pub file: Arc<std::path::Path>,
    /// `Description`.
    pub description: Option<String>,
    /// The stack name in force (for `AWS::StackName`).
    pub stack_name: String,
    /// Parameters and their values.
    pub parameters: BTreeMap<String, ParameterValue>,
    /// The functions.
    pub functions: Vec<FunctionSpec>,
    /// The APIs (implicit ones included when an event uses them).
    pub apis: Vec<ApiSpec>,
    /// The tables.
    pub tables: Vec<TableSpec>,
    /// The buckets.
    pub buckets: Vec<BucketSpec>,
    /// Outputs.
    pub outputs: Vec<OutputSpec>,
    /// Warnings (accepted, but worth a look).
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
}

impl Template {
    /// The function with this name or logical id.
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions
            .iter()
            .find(|f| f.name == name || f.logical_id == name)
    }

    /// The API with this logical id.
    pub fn api(&self, logical_id: &str) -> Option<&ApiSpec> {
        self.apis.iter().find(|a| a.logical_id == logical_id)
    }
}

/// `FunctionUrlConfig`: a function's own endpoint, called with the payload 2.0 event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FunctionUrl {
    /// The URL's id: its host is `<id>.lambda-url.<region>.on.aws`, as
    /// `!GetAtt <Fn>Url.FunctionUrl` says.
    pub id: String,
    /// `AuthType: AWS_IAM`: requests must be signed (SigV4, service `lambda`) with a key the
    /// node knows; `NONE` lets anyone call it.
    pub iam: bool,
    /// `InvokeMode: RESPONSE_STREAM` (served buffered: the whole response at once).
    pub streaming: bool,
    /// `Cors`.
    pub cors: Option<Cors>,
}

/// CORS as API Gateway and function URLs apply it in the function's place: a function URL's
/// `Cors`, an HTTP API's `CorsConfiguration`, a REST API's `Cors` (SAM's preflight method).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Cors {
    /// `AllowCredentials`.
    pub allow_credentials: bool,
    /// `AllowHeaders`.
    pub allow_headers: Vec<String>,
    /// `AllowMethods` (`*` for all).
    pub allow_methods: Vec<String>,
    /// `AllowOrigins` (`*` for all).
    pub allow_origins: Vec<String>,
    /// `ExposeHeaders`.
    pub expose_headers: Vec<String>,
    /// `MaxAge`, seconds.
    pub max_age: Option<u32>,
}

/// A function's build, as `sam build` runs it (`Metadata.BuildMethod`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Build {
    /// `esbuild`: the entry points bundled for Node (`BuildProperties`).
    Esbuild {
        /// `EntryPoints` (the handler's module when empty).
        entry_points: Vec<String>,
        /// `Minify` (true by default, as `sam build`).
        minify: bool,
        /// `Sourcemap`.
        sourcemap: bool,
        /// `Target` (`es2020` by default).
        target: String,
        /// `Format`: `cjs` (default) or `esm`.
        format: String,
        /// `External`: packages left out of the bundle.
        external: Vec<String>,
        /// `MainFields`.
        main_fields: Vec<String>,
    },
    /// `makefile`: `make build-<LogicalId>` in the code folder with `ARTIFACTS_DIR`.
    Makefile,
}
