//! S3's errors: a code, an HTTP status and a message, written as S3's `<Error>` document
//! with the request id (HEAD responses carry no body, as S3's). Every refusal of the API is
//! one of these; the mapping from code to status lives here and nowhere else.

use std::borrow::Cow;

use super::xml::Writer;

macro_rules! codes {
    ($($name:ident = $status:literal),* $(,)?) => {
        /// S3's error codes, with their HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Code { $(
            #[allow(missing_docs)]
            $name,
        )* }

        impl Code {
            /// The code as S3 writes it.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$name => stringify!($name),)* }
            }

            /// The HTTP status S3 answers with.
            pub fn status(self) -> u16 {
                match self { $(Self::$name => $status,)* }
            }
        }
    };
}

codes! {
    AccessControlListNotSupported = 400,
    AccessDenied = 403,
    AuthorizationHeaderMalformed = 400,
    AuthorizationQueryParametersError = 400,
    BadDigest = 400,
    BadRequest = 400,
    BucketAlreadyExists = 409,
    BucketAlreadyOwnedByYou = 409,
    BucketNotEmpty = 409,
    ConditionalRequestConflict = 409,
    CORSResponse = 403,
    EntityTooLarge = 400,
    EntityTooSmall = 400,
    ExpiredToken = 400,
    IllegalLocationConstraintException = 400,
    IncompleteBody = 400,
    InternalError = 500,
    InvalidAccessKeyId = 403,
    InvalidArgument = 400,
    InvalidBucketAclWithObjectOwnership = 400,
    InvalidBucketName = 400,
    InvalidBucketState = 409,
    InvalidDigest = 400,
    InvalidEncryptionAlgorithmError = 400,
    InvalidLocationConstraint = 400,
    InvalidObjectState = 403,
    InvalidPart = 400,
    InvalidPartNumber = 416,
    InvalidPartOrder = 400,
    InvalidPolicyDocument = 400,
    InvalidRange = 416,
    InvalidRequest = 400,
    InvalidRetentionPeriod = 400,
    InvalidStorageClass = 400,
    InvalidTag = 400,
    InvalidToken = 400,
    KeyTooLongError = 400,
    MalformedPOSTRequest = 400,
    MalformedPolicy = 400,
    MalformedXML = 400,
    MalformedTrailerError = 400,
    MaxMessageLengthExceeded = 400,
    MetadataTooLarge = 400,
    MethodNotAllowed = 405,
    MissingContentLength = 411,
    MissingRequestBodyError = 400,
    MissingSecurityHeader = 400,
    NoSuchBucket = 404,
    NoSuchBucketPolicy = 404,
    NoSuchCORSConfiguration = 404,
    NoSuchKey = 404,
    NoSuchLifecycleConfiguration = 404,
    NoSuchPublicAccessBlockConfiguration = 404,
    NoSuchTagSet = 404,
    NoSuchUpload = 404,
    NoSuchVersion = 404,
    NotImplemented = 501,
    NotModified = 304,
    ObjectLockConfigurationNotFoundError = 404,
    OwnershipControlsNotFoundError = 404,
    PreconditionFailed = 412,
    RequestHeaderSectionTooLarge = 400,
    RequestTimeTooSkewed = 403,
    RequestTimeout = 400,
    ServerSideEncryptionConfigurationNotFoundError = 404,
    ServiceUnavailable = 503,
    SignatureDoesNotMatch = 403,
    TooManyParts = 400,
    UnexpectedContent = 400,
    UnresolvableGrantByEmailAddress = 400,
    XAmzContentSHA256Mismatch = 400,
    NoSuchObjectLockConfiguration = 404,
    InvalidTargetBucketForLogging = 400,
    NoSuchWebsiteConfiguration = 404,
}

/// One S3 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The code.
    pub code: Code,
    /// The message S3 would write.
    pub message: Cow<'static, str>,
    /// Extra elements of the document (`BucketName`, `Key`, `ArgumentName`...).
    pub extra: Vec<(&'static str, String)>,
    /// Headers the error response carries (`x-amz-delete-marker`, `Last-Modified`...).
    pub headers: Vec<(&'static str, String)>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

/// The result of an S3 operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds an element to the error document.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// `NoSuchBucket` for `bucket`.
    pub fn no_such_bucket(bucket: &str) -> Self {
        Self::new(Code::NoSuchBucket, "The specified bucket does not exist")
            .with("BucketName", bucket)
    }

    /// `NoSuchKey` for `key`.
    pub fn no_such_key(key: &str) -> Self {
        Self::new(Code::NoSuchKey, "The specified key does not exist.").with("Key", key)
    }

    /// `NoSuchUpload`.
    pub fn no_such_upload(upload: &str) -> Self {
        Self::new(
            Code::NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", upload)
    }

    /// `MalformedXML`.
    pub fn malformed_xml() -> Self {
        Self::new(
            Code::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    /// `InvalidArgument` naming the argument.
    pub fn invalid_argument(
        message: impl Into<Cow<'static, str>>,
        name: &str,
        value: &str,
    ) -> Self {
        Self::new(Code::InvalidArgument, message)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }

    /// `InvalidRequest`.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }

    /// `AccessDenied`.
    pub fn access_denied() -> Self {
        Self::new(Code::AccessDenied, "Access Denied")
    }

    /// `PreconditionFailed` on `condition`.
    pub fn precondition(condition: &str) -> Self {
        Self::new(
            Code::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", condition)
    }

    /// `InternalError`, for a storage failure (logged where it happens).
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(error = %message, "S3 request failed inside Meridian");
        Self::new(
            Code::InternalError,
            "We encountered an internal error. Please try again.",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The `<Error>` document.
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        let mut w = Writer::bare("Error");
        w.elem("Code", self.code.as_str());
        w.elem("Message", &self.message);
        for (k, v) in &self.extra {
            w.elem(k, v);
        }
        if !resource.is_empty() {
            w.elem("Resource", resource);
        }
        w.elem("RequestId", request_id);
        w.elem("HostId", request_id);
        w.finish("Error")
    }
}

impl From<crate::engine::EngineError> for Error {
    fn from(e: crate::engine::EngineError) -> Self {
        Self::internal(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_s3s() {
        let e = Error::no_such_key("a<b");
        assert_eq!(e.status(), 404);
        assert_eq!(
            e.to_xml("/b/a<b", "RID"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&lt;b</Key><Resource>/b/a&lt;b</Resource><RequestId>RID</RequestId><HostId>RID</HostId></Error>"
        );
        assert_eq!(Code::InvalidRange.status(), 416);
        assert_eq!(Code::NotModified.status(), 304);
    }
}
