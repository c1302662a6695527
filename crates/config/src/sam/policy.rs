//! A function's permissions: its `Policies` (SAM policy templates, AWS managed policy names,
//! inline policy documents, or a list of those) expanded into IAM statements, which the
//! storage plane enforces on the short-lived credentials the function runs with.
//!
//! * Policy templates expand as SAM's `policy_templates.json` defines them (the DynamoDB, S3
//!   and Lambda ones, whose actions Meridian serves); the other templates SAM knows grant
//!   actions on services Meridian does not run, so they expand to nothing. A missing template
//!   parameter is an error, as in SAM.
//! * Managed policies: the DynamoDB, S3 and Lambda execution ones expand to their actions;
//!   an unknown one is a warning (it grants nothing here).
//! * Policy documents: `Effect`, `Action`/`NotAction`, `Resource`/`NotResource`. A
//!   `Condition` is not evaluated, so it fails closed: an Allow with one is dropped, a Deny
//!   with one denies unconditionally; both are warnings the user sees. `Principal` is an
//!   error, as IAM refuses it in an identity policy.

use super::Compiler;
use super::spec::{Effect, Patterns, PolicyStatement};
use crate::diag::{Findings, did_you_mean};
use crate::node::{Node, Value};
use crate::path::FieldPath;

/// Every policy template SAM defines, with its parameters.
const TEMPLATES: &[(&str, &[&str])] = &[
    ("AMIDescribePolicy", &[]),
    ("AWSSecretsManagerGetSecretValuePolicy", &["SecretArn"]),
    ("AWSSecretsManagerRotationPolicy", &["FunctionName"]),
    ("AcmGetCertificatePolicy", &["CertificateArn"]),
    ("AthenaQueryPolicy", &["WorkGroupName"]),
    ("CloudFormationDescribeStacksPolicy", &[]),
    ("CloudWatchDashboardPolicy", &[]),
    ("CloudWatchDescribeAlarmHistoryPolicy", &[]),
    ("CloudWatchPutMetricPolicy", &[]),
    ("CodeCommitCrudPolicy", &["RepositoryName"]),
    ("CodeCommitReadPolicy", &["RepositoryName"]),
    ("CodePipelineLambdaExecutionPolicy", &[]),
    ("CodePipelineReadOnlyPolicy", &["PipelineName"]),
    ("ComprehendBasicAccessPolicy", &[]),
    ("CostExplorerReadOnlyPolicy", &[]),
    ("DynamoDBBackupFullAccessPolicy", &["TableName"]),
    ("DynamoDBCrudPolicy", &["TableName"]),
    ("DynamoDBReadPolicy", &["TableName"]),
    ("DynamoDBReconfigurePolicy", &["TableName"]),
    ("DynamoDBRestoreFromBackupPolicy", &["TableName"]),
    ("DynamoDBStreamReadPolicy", &["StreamName", "TableName"]),
    ("DynamoDBWritePolicy", &["TableName"]),
    ("EC2CopyImagePolicy", &["ImageId"]),
    ("EC2DescribePolicy", &[]),
    ("EFSWriteAccessPolicy", &["AccessPoint", "FileSystem"]),
    ("EKSDescribePolicy", &[]),
    ("EcsRunTaskPolicy", &["TaskDefinition"]),
    ("ElasticMapReduceAddJobFlowStepsPolicy", &["ClusterId"]),
    ("ElasticMapReduceCancelStepsPolicy", &["ClusterId"]),
    ("ElasticMapReduceModifyInstanceFleetPolicy", &["ClusterId"]),
    ("ElasticMapReduceModifyInstanceGroupsPolicy", &["ClusterId"]),
    (
        "ElasticMapReduceSetTerminationProtectionPolicy",
        &["ClusterId"],
    ),
    ("ElasticMapReduceTerminateJobFlowsPolicy", &["ClusterId"]),
    ("ElasticsearchHttpPostPolicy", &["DomainName"]),
    ("EventBridgePutEventsPolicy", &["EventBusName"]),
    ("FilterLogEventsPolicy", &["LogGroupName"]),
    ("FirehoseCrudPolicy", &["DeliveryStreamName"]),
    ("FirehoseWritePolicy", &["DeliveryStreamName"]),
    ("KMSDecryptPolicy", &["KeyId"]),
    ("KMSEncryptPolicy", &["KeyId"]),
    ("KMSEncryptPolicy_v2", &["KeyId"]),
    ("KinesisCrudPolicy", &["StreamName"]),
    ("KinesisStreamReadPolicy", &["StreamName"]),
    ("LambdaInvokePolicy", &["FunctionName"]),
    ("MobileAnalyticsWriteOnlyAccessPolicy", &[]),
    ("OrganizationsListAccountsPolicy", &[]),
    ("PinpointEndpointAccessPolicy", &["PinpointApplicationId"]),
    ("PollyFullAccessPolicy", &["LexiconName"]),
    ("RekognitionDetectOnlyPolicy", &[]),
    ("RekognitionFacesManagementPolicy", &["CollectionId"]),
    ("RekognitionFacesPolicy", &[]),
    ("RekognitionLabelsPolicy", &[]),
    ("RekognitionNoDataAccessPolicy", &["CollectionId"]),
    ("RekognitionReadPolicy", &["CollectionId"]),
    ("RekognitionWriteOnlyAccessPolicy", &["CollectionId"]),
    ("Route53ChangeResourceRecordSetsPolicy", &["HostedZoneId"]),
    ("S3CrudPolicy", &["BucketName"]),
    ("S3FullAccessPolicy", &["BucketName"]),
    ("S3ReadPolicy", &["BucketName"]),
    ("S3WritePolicy", &["BucketName"]),
    ("SESBulkTemplatedCrudPolicy", &["IdentityName"]),
    (
        "SESBulkTemplatedCrudPolicy_v2",
        &["IdentityName", "TemplateName"],
    ),
    ("SESCrudPolicy", &["IdentityName"]),
    ("SESEmailTemplateCrudPolicy", &[]),
    ("SESSendBouncePolicy", &["IdentityName"]),
    ("SNSCrudPolicy", &["TopicName"]),
    ("SNSPublishMessagePolicy", &["TopicName"]),
    ("SQSPollerPolicy", &["QueueName"]),
    ("SQSSendMessagePolicy", &["QueueName"]),
    ("SSMParameterReadPolicy", &["ParameterName"]),
    ("SSMParameterWithSlashPrefixReadPolicy", &["ParameterName"]),
    (
        "SageMakerCreateEndpointConfigPolicy",
        &["EndpointConfigName"],
    ),
    ("SageMakerCreateEndpointPolicy", &["EndpointName"]),
    ("ServerlessRepoReadWriteAccessPolicy", &[]),
    ("StepFunctionsCallbackPolicy", &["StateMachineName"]),
    ("StepFunctionsExecutionPolicy", &["StateMachineName"]),
    ("StepFunctionsExecutionPolicy_v2", &["StateMachineName"]),
    ("TextractDetectAnalyzePolicy", &[]),
    ("TextractGetResultPolicy", &[]),
    ("TextractPolicy", &[]),
    ("VPCAccessPolicy", &[]),
];

const CRUD: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:Scan",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
    "dynamodb:ConditionCheckItem",
];
const READ: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
];
const WRITE: &[&str] = &[
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
];
const STREAM_READ: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];
const S3_READ: &[&str] = &[
    "s3:GetObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetObjectVersion",
    "s3:GetLifecycleConfiguration",
];
const S3_CRUD: &[&str] = &[
    "s3:GetObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:DeleteObject",
];
const S3_WRITE: &[&str] = &[
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutLifecycleConfiguration",
];
const S3_FULL_OBJECTS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
];
const S3_FULL_BUCKET: &[&str] = &[
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
];

/// AWS managed policies whose actions Meridian serves, by name.
const MANAGED: &[(&str, &[&str])] = &[
    ("AmazonDynamoDBFullAccess", &["dynamodb:*"]),
    (
        "AmazonDynamoDBReadOnlyAccess",
        &[
            "dynamodb:BatchGetItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:Describe*",
            "dynamodb:Get*",
            "dynamodb:List*",
            "dynamodb:PartiQLSelect",
            "dynamodb:Query",
            "dynamodb:Scan",
        ],
    ),
    ("AWSLambdaDynamoDBExecutionRole", STREAM_READ),
    ("AWSLambdaInvocation-DynamoDB", STREAM_READ),
    ("AmazonS3FullAccess", &["s3:*"]),
    (
        "AmazonS3ReadOnlyAccess",
        &["s3:Get*", "s3:List*", "s3:Describe*"],
    ),
    ("AWSLambdaExecute", &["s3:GetObject", "s3:PutObject"]),
    ("AWSLambda_FullAccess", &["dynamodb:*", "lambda:*", "s3:*"]),
    ("AWSLambdaRole", &["lambda:InvokeFunction"]),
];

/// Managed policies that grant nothing Meridian serves (logs, tracing, networking): accepted
/// without a word.
const MANAGED_ELSEWHERE: &[&str] = &[
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
    "AWSXRayDaemonWriteAccess",
    "AWSXrayWriteOnlyAccess",
    "CloudWatchLambdaInsightsExecutionRolePolicy",
    "CloudWatchLogsFullAccess",
];

fn allow(actions: &[&str], resources: Vec<String>) -> PolicyStatement {
    PolicyStatement {
        effect: Effect::Allow,
        actions: Patterns::AnyOf(actions.iter().map(|a| (*a).to_owned()).collect()),
        resources: Patterns::AnyOf(resources),
    }
}

impl Compiler<'_> {
    /// The statements of a function's `Policies` (an evaluated node), with findings at
    /// `path` (`Properties.Policies`).
    pub(super) fn policies(
        &self,
        node: Option<&Node>,
        path: &FieldPath,
        f: &mut Findings,
    ) -> Vec<PolicyStatement> {
        let mut out = Vec::new();
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return out;
        };
        match &node.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.policy(item, &path.index(i), f, &mut out);
                }
            }
            _ => self.policy(node, path, f, &mut out),
        }
        out
    }

    fn policy(
        &self,
        node: &Node,
        path: &FieldPath,
        f: &mut Findings,
        out: &mut Vec<PolicyStatement>,
    ) {
        match &node.value {
            Value::Scalar(..) => {
                let name = node.as_str().unwrap_or_default();
                self.managed(name, path, f, out);
            }
            Value::Map(entries) => {
                if node.get("Statement").is_some() {
                    self.document(node, path, f, out);
                    return;
                }
                let [entry] = entries.as_slice() else {
                    f.error(
                        path,
                        "expected a policy template ({TemplateName: {Parameter: value}}), a managed policy name or a policy document ({Statement: [...]})",
                    );
                    return;
                };
                let name = entry.key.as_str().unwrap_or_default();
                self.template(name, &entry.value, &path.key(name.to_owned()), f, out);
            }
            Value::Seq(_) => {
                f.error(path, "expected a policy, not a list");
            }
        }
    }

    fn managed(
        &self,
        name: &str,
        path: &FieldPath,
        f: &mut Findings,
        out: &mut Vec<PolicyStatement>,
    ) {
        // `arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole` names a managed
        // policy by ARN; the last segment is its name.
        let short = name
            .strip_prefix("arn:aws:iam::aws:policy/")
            .map_or(name, |rest| rest.rsplit('/').next().unwrap_or(rest));
        if let Some((_, actions)) = MANAGED.iter().find(|(n, _)| *n == short) {
            out.push(allow(actions, vec!["*".to_owned()]));
        } else if !MANAGED_ELSEWHERE.contains(&short) {
            f.warn(
                path,
                format!("managed policy {name} is not known to Meridian: it grants nothing here"),
            )
            .hint("use a SAM policy template (DynamoDBCrudPolicy, S3ReadPolicy...) or an inline policy document");
        }
    }

    fn template(
        &self,
        name: &str,
        params: &Node,
        path: &FieldPath,
        f: &mut Findings,
        out: &mut Vec<PolicyStatement>,
    ) {
        let Some((_, wanted)) = TEMPLATES.iter().find(|(n, _)| *n == name) else {
            let e = f.error(path, format!("unknown policy template \"{name}\""));
            e.at_key();
            if let Some(c) = did_you_mean(name, TEMPLATES.iter().map(|(n, _)| *n)) {
                e.hint(format!("did you mean \"{c}\"?"));
            }
            return;
        };
        let mut values = Vec::with_capacity(wanted.len());
        let given = params.as_map().unwrap_or_default();
        if params.as_map().is_none() && !params.is_null() {
            f.error(
                path,
                format!("the parameters of {name} must be a map ({{}} when it takes none)"),
            );
            return;
        }
        let mut missing = false;
        for p in *wanted {
            match params.get(p) {
                Some(v) => match v.as_str() {
                    Some(s) if v.as_map().is_none() && v.as_seq().is_none() => {
                        values.push(s.to_owned());
                    }
                    _ => {
                        f.error(
                            &path.field(*p),
                            format!("{name}'s {p} must be a string, got {}", v.kind_name()),
                        );
                        missing = true;
                    }
                },
                None => {
                    f.error(path, format!("{name} needs the parameter {p}"))
                        .at_key();
                    missing = true;
                }
            }
        }
        for e in given {
            let k = e.key.as_str().unwrap_or_default();
            if !wanted.contains(&k) {
                let w = f.warn(
                    &path.field(k.to_owned()),
                    format!("{name} has no parameter {k}; it is ignored"),
                );
                w.at_key();
                if let Some(c) = did_you_mean(k, wanted.iter().copied()) {
                    w.hint(format!("did you mean \"{c}\"?"));
                }
            }
        }
        if missing {
            return;
        }
        let (region, account) = (&self.opts.region, &self.opts.account_id);
        let table = |t: &str| format!("arn:aws:dynamodb:{region}:{account}:table/{t}");
        let bucket = |b: &str| format!("arn:aws:s3:::{b}");
        let first = values.first().map(String::as_str).unwrap_or_default();
        match name {
            "DynamoDBCrudPolicy" | "DynamoDBReadPolicy" | "DynamoDBWritePolicy" => {
                let actions = match name {
                    "DynamoDBCrudPolicy" => CRUD,
                    "DynamoDBReadPolicy" => READ,
                    _ => WRITE,
                };
                out.push(allow(
                    actions,
                    vec![table(first), format!("{}/index/*", table(first))],
                ));
            }
            "DynamoDBReconfigurePolicy" => {
                out.push(allow(&["dynamodb:UpdateTable"], vec![table(first)]));
            }
            "DynamoDBStreamReadPolicy" => {
                // Parameters in the template's order: StreamName, TableName.
                let (stream, t) = (first, values.get(1).map(String::as_str).unwrap_or_default());
                out.push(allow(
                    &[
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                    ],
                    vec![format!("{}/stream/{stream}", table(t))],
                ));
                out.push(allow(
                    &["dynamodb:ListStreams"],
                    vec![format!("{}/stream/*", table(t))],
                ));
            }
            "DynamoDBBackupFullAccessPolicy" => {
                out.push(allow(
                    &[
                        "dynamodb:CreateBackup",
                        "dynamodb:DescribeContinuousBackups",
                    ],
                    vec![table(first)],
                ));
                out.push(allow(
                    &[
                        "dynamodb:DeleteBackup",
                        "dynamodb:DescribeBackup",
                        "dynamodb:ListBackups",
                    ],
                    vec![format!("{}/backup/*", table(first))],
                ));
            }
            "DynamoDBRestoreFromBackupPolicy" => {
                out.push(allow(
                    &["dynamodb:RestoreTableFromBackup"],
                    vec![format!("{}/backup/*", table(first))],
                ));
                out.push(allow(
                    &[
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:GetItem",
                        "dynamodb:Query",
                        "dynamodb:Scan",
                        "dynamodb:BatchWriteItem",
                    ],
                    vec![table(first)],
                ));
            }
            "S3ReadPolicy" | "S3CrudPolicy" | "S3WritePolicy" => {
                let actions = match name {
                    "S3ReadPolicy" => S3_READ,
                    "S3CrudPolicy" => S3_CRUD,
                    _ => S3_WRITE,
                };
                out.push(allow(
                    actions,
                    vec![bucket(first), format!("{}/*", bucket(first))],
                ));
            }
            "S3FullAccessPolicy" => {
                out.push(allow(S3_FULL_OBJECTS, vec![format!("{}/*", bucket(first))]));
                out.push(allow(S3_FULL_BUCKET, vec![bucket(first)]));
            }
            "LambdaInvokePolicy" => {
                out.push(allow(
                    &["lambda:InvokeFunction"],
                    vec![format!(
                        "arn:aws:lambda:{region}:{account}:function:{first}*"
                    )],
                ));
            }
            // The other templates grant actions of services Meridian does not run.
            _ => {}
        }
    }

    fn document(
        &self,
        node: &Node,
        path: &FieldPath,
        f: &mut Findings,
        out: &mut Vec<PolicyStatement>,
    ) {
        if let Some(v) = node.get("Version").and_then(Node::as_str)
            && !matches!(v, "2012-10-17" | "2008-10-17")
        {
            f.error(
                &path.field("Version"),
                format!("unsupported policy language version \"{v}\" (2012-10-17)"),
            );
        }
        for e in node.as_map().unwrap_or_default() {
            let k = e.key.as_str().unwrap_or_default();
            if !matches!(k, "Version" | "Statement" | "Id") {
                let w = f.error(
                    &path.field(k.to_owned()),
                    format!("unknown field \"{k}\" in a policy document"),
                );
                w.at_key();
                if let Some(c) = did_you_mean(k, ["Version", "Statement", "Id"]) {
                    w.hint(format!("did you mean \"{c}\"?"));
                }
            }
        }
        let sp = path.field("Statement");
        let Some(statements) = node.get("Statement") else {
            return;
        };
        let list: Vec<(FieldPath, &Node)> = match &statements.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (sp.index(i), n))
                .collect(),
            Value::Map(_) => vec![(sp.clone(), statements)],
            Value::Scalar(..) => {
                f.error(&sp, "Statement must be a statement or a list of them");
                return;
            }
        };
        for (p, s) in list {
            if let Some(st) = statement(s, &p, f) {
                out.push(st);
            }
        }
    }
}

/// A list of strings, or one string.
fn strings(node: &Node, path: &FieldPath, f: &mut Findings) -> Option<Vec<String>> {
    match &node.value {
        Value::Scalar(..) => Some(vec![node.as_str().unwrap_or_default().to_owned()]),
        Value::Seq(items) => {
            let mut v = Vec::with_capacity(items.len());
            for (i, n) in items.iter().enumerate() {
                match n.as_str() {
                    Some(s) if n.as_map().is_none() => v.push(s.to_owned()),
                    _ => {
                        f.error(
                            &path.index(i),
                            format!("expected a string, got {}", n.kind_name()),
                        );
                        return None;
                    }
                }
            }
            Some(v)
        }
        Value::Map(_) => {
            f.error(path, "expected a string or a list of strings, got a map");
            None
        }
    }
}

fn patterns(
    node: &Node,
    path: &FieldPath,
    f: &mut Findings,
    listed: &'static str,
    negated: &'static str,
) -> Option<Patterns> {
    match (node.get(listed), node.get(negated)) {
        (Some(n), None) => strings(n, &path.field(listed), f).map(Patterns::AnyOf),
        (None, Some(n)) => strings(n, &path.field(negated), f).map(Patterns::NoneOf),
        (Some(_), Some(_)) => {
            f.error(
                &path.field(negated),
                format!("a statement has {listed} or {negated}, not both"),
            )
            .at_key();
            None
        }
        (None, None) => {
            f.error(path, format!("a statement needs {listed} (or {negated})"))
                .at_key();
            None
        }
    }
}

fn statement(node: &Node, path: &FieldPath, f: &mut Findings) -> Option<PolicyStatement> {
    const FIELDS: [&str; 8] = [
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Principal",
    ];
    let Some(entries) = node.as_map() else {
        f.error(
            path,
            format!("a statement is a map, got {}", node.kind_name()),
        );
        return None;
    };
    for e in entries {
        let k = e.key.as_str().unwrap_or_default();
        if k == "Principal" || k == "NotPrincipal" {
            f.error(
                &path.field(k.to_owned()),
                "a function's policy is an identity policy, which has no Principal",
            )
            .at_key();
            return None;
        }
        if !FIELDS.contains(&k) {
            let w = f.error(
                &path.field(k.to_owned()),
                format!("unknown field \"{k}\" in a policy statement"),
            );
            w.at_key();
            if let Some(c) = did_you_mean(k, FIELDS) {
                w.hint(format!("did you mean \"{c}\"?"));
            }
        }
    }
    let effect = match node.get("Effect").and_then(Node::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => {
            f.error(
                &path.field("Effect"),
                format!("unsupported effect \"{other}\" (Allow or Deny)"),
            );
            return None;
        }
        None => {
            f.error(path, "required field \"Effect\" is missing")
                .at_key();
            return None;
        }
    };
    let actions = patterns(node, path, f, "Action", "NotAction");
    let resources = patterns(node, path, f, "Resource", "NotResource");
    let (actions, resources) = (actions?, resources?);
    if node.get("Condition").is_some() {
        match effect {
            Effect::Allow => {
                f.warn(
                    &path.field("Condition"),
                    "Meridian does not evaluate policy conditions: this Allow grants nothing here",
                )
                .at_key();
                return None;
            }
            Effect::Deny => {
                f.warn(
                    &path.field("Condition"),
                    "Meridian does not evaluate policy conditions: this Deny applies always",
                )
                .at_key();
            }
        }
    }
    Some(PolicyStatement {
        effect,
        actions,
        resources,
    })
}
