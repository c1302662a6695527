//! DynamoDB's errors: one enum, mapped in one place to the `__type`, HTTP status and body
//! the SDKs key on (`com.amazonaws.dynamodb.v20120810#<Name>`, `message`).

use serde_json::{Value, json};

use super::types::Item;

/// Why one action of a transaction stopped it, in the order of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct CancellationReason {
    /// `None`, `ConditionalCheckFailed`, `ValidationError`, `TransactionConflict`...
    pub code: &'static str,
    /// The message, when the code is not `None`.
    pub message: Option<String>,
    /// The item as it was, for `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
    pub item: Option<Item>,
}

impl CancellationReason {
    /// An action that did not cause the cancellation.
    pub fn none() -> Self {
        Self {
            code: "None",
            message: None,
            item: None,
        }
    }
}

/// A refusal in DynamoDB's terms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request that breaks a rule of the API (400).
    #[error("{0}")]
    Validation(String),
    /// A body that does not have the shape of the operation's input (400).
    #[error("{0}")]
    Serialization(String),
    /// The table or index does not exist (400).
    #[error("{0}")]
    ResourceNotFound(String),
    /// The table exists already or is being changed (400).
    #[error("{0}")]
    ResourceInUse(String),
    /// A ConditionExpression or Expected was false (400).
    #[error("The conditional request failed")]
    ConditionalCheckFailed {
        /// The item as it was, when `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`.
        item: Option<Item>,
    },
    /// A PartiQL INSERT of an item whose key exists (400).
    #[error("{0}")]
    DuplicateItem(String),
    /// A transaction was cancelled; the reasons are in request order (400).
    #[error("{message}")]
    TransactionCanceled {
        /// DynamoDB's summary: `Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]`.
        message: String,
        /// One per action.
        reasons: Vec<CancellationReason>,
    },
    /// A ClientRequestToken reused with a different request (400).
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    /// Another transaction with the same token is still running (400).
    #[error("{0}")]
    TransactionInProgress(String),
    /// Too many tables, indexes or concurrent control-plane operations (400).
    #[error("{0}")]
    LimitExceeded(String),
    /// The caller's policy does not allow the action on the resource (400).
    #[error("{0}")]
    AccessDenied(String),
    /// No resource-based policy, or not the revision the request expects (400).
    #[error("{0}")]
    PolicyNotFound(String),
    /// No Authorization header (400).
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,
    /// An access key Meridian does not know (400).
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The signature does not match, or the request is too old (400).
    #[error("{0}")]
    InvalidSignature(String),
    /// An Authorization header that is not a complete SigV4 header (400).
    #[error("{0}")]
    IncompleteSignature(String),
    /// An X-Amz-Target naming no operation (400).
    #[error("{0}")]
    UnknownOperation(String),
    /// A request body over DynamoDB's 16 MB (413).
    #[error("Request must be smaller than 16777216 bytes for the DynamoDB operation")]
    RequestTooLarge,
    /// A stream's shard iterator older than 15 minutes (400).
    #[error("{0}")]
    ExpiredIterator(String),
    /// A position of a stream older than its oldest record (400).
    #[error("{0}")]
    TrimmedDataAccess(String),
    /// The server failed; the client may retry (500).
    #[error("{0}")]
    Internal(String),
    /// One of the errors of backups, exports and imports, named by its type
    /// (`TableNotFoundException`, `ExportNotFoundException`...) (400).
    #[error("{message}")]
    Named {
        /// The type after `#`.
        ty: &'static str,
        /// The message.
        message: String,
    },
}

impl Error {
    /// A ValidationException.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation(message.into())
    }

    /// `ResourceNotFoundException` for a table, as DynamoDB words it.
    pub fn table_not_found(name: &str) -> Self {
        Self::ResourceNotFound(format!(
            "Requested resource not found: Table: {name} not found"
        ))
    }

    /// An error named by its type.
    pub fn named(ty: &'static str, message: impl Into<String>) -> Self {
        Self::Named {
            ty,
            message: message.into(),
        }
    }

    /// `ResourceNotFoundException` for a table an item operation names (GetItem, Query,
    /// batches, transactions...): DynamoDB does not name the table there.
    pub fn item_table_not_found() -> Self {
        Self::ResourceNotFound("Requested resource not found".into())
    }

    /// A cancelled transaction, with DynamoDB's summary of its reasons (one per action, in
    /// request order).
    pub fn cancelled(reasons: Vec<CancellationReason>) -> Self {
        let codes: Vec<&str> = reasons.iter().map(|r| r.code).collect();
        Self::TransactionCanceled {
            message: format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            reasons,
        }
    }

    /// The short name after `#` in `__type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Validation(_) => "ValidationException",
            Self::Serialization(_) => "SerializationException",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::ResourceInUse(_) => "ResourceInUseException",
            Self::ConditionalCheckFailed { .. } => "ConditionalCheckFailedException",
            Self::DuplicateItem(_) => "DuplicateItemException",
            Self::TransactionCanceled { .. } => "TransactionCanceledException",
            Self::IdempotentParameterMismatch(_) => "IdempotentParameterMismatchException",
            Self::TransactionInProgress(_) => "TransactionInProgressException",
            Self::LimitExceeded(_) => "LimitExceededException",
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::PolicyNotFound(_) => "PolicyNotFoundException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::RequestTooLarge => "RequestEntityTooLarge",
            Self::ExpiredIterator(_) => "ExpiredIteratorException",
            Self::TrimmedDataAccess(_) => "TrimmedDataAccessException",
            Self::Internal(_) => "InternalServerError",
            Self::Named { ty, .. } => ty,
        }
    }

    /// The namespace DynamoDB puts before `#`: the service's own errors, and the Coral
    /// framework's for validation, serialization, authentication and unknown operations.
    fn namespace(&self) -> &'static str {
        match self {
            Self::Validation(_) => "com.amazon.coral.validate",
            Self::Serialization(_)
            | Self::UnknownOperation(_)
            | Self::MissingAuthenticationToken
            | Self::UnrecognizedClient
            | Self::InvalidSignature(_)
            | Self::IncompleteSignature(_)
            | Self::AccessDenied(_)
            | Self::RequestTooLarge => "com.amazon.coral.service",
            _ => "com.amazonaws.dynamodb.v20120810",
        }
    }

    /// The HTTP status DynamoDB answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Internal(_) => 500,
            Self::RequestTooLarge => 413,
            _ => 400,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        let ty = format!("{}#{}", self.namespace(), self.type_name());
        let mut body = json!({ "__type": ty, "message": self.to_string() });
        match self {
            Self::Serialization(m) if m.is_empty() => {
                if let Some(b) = body.as_object_mut() {
                    b.remove("message");
                }
            }
            Self::ConditionalCheckFailed { item: Some(item) } => {
                body["Item"] = super::types::item_to_json(item);
            }
            Self::TransactionCanceled { reasons, .. } => {
                let reasons: Vec<Value> = reasons
                    .iter()
                    .map(|r| {
                        let mut v = json!({ "Code": r.code });
                        if let Some(m) = &r.message {
                            v["Message"] = json!(m);
                        }
                        if let Some(item) = &r.item {
                            v["Item"] = super::types::item_to_json(item);
                        }
                        v
                    })
                    .collect();
                body["CancellationReasons"] = Value::Array(reasons);
            }
            _ => {}
        }
        body
    }
}

impl From<crate::engine::EngineError> for Error {
    fn from(e: crate::engine::EngineError) -> Self {
        tracing::error!(error = %e, "storage engine failure");
        Self::Internal(format!("storage engine failure: {e}"))
    }
}
