//! The serverless plane: AWS Lambda functions from a SAM template, run natively.
//!
//! It sits after the config crate in the data flow: [`meridian_config::sam`] turns a
//! template into validated `FunctionSpec`s, and a [`FunctionHost`] runs them. Each execution
//! environment is a runtime process (the user's `bootstrap` for `provided` runtimes, or a
//! small Node/Python bootstrap this crate ships) talking to its own Lambda Runtime API
//! ([`runtime_api`]) on 127.0.0.1, exactly as AWS specifies it, so the official runtime
//! interface clients work too. Environments serve one invocation at a time, scale out up to
//! the function's reserved concurrency and the host's cap, stay warm, and stop when idle
//! ([`pool`], [`instance`]). In front sit API Gateway's proxy integrations ([`apigw`]) and
//! the Lambda Invoke API ([`invoke`]); [`endpoint`] serves both on a listener.

pub mod apigw;
pub mod azure;
pub mod bootstrap;
pub mod bucket_events;
pub mod build;
pub mod credentials;
pub mod dependencies;
pub mod endpoint;
pub mod error;
pub mod event_queue;
pub(crate) mod event_stream;
pub mod host;
pub(crate) mod instance;
pub mod invocation;
pub mod invoke;
pub mod local;
pub(crate) mod logs;
pub mod memory;
pub mod metrics;
pub(crate) mod pool;
pub mod runtime_api;
pub mod sample;
pub mod stream_events;

pub use apigw::{ApiGateway, ClientAddr, RouteInfo};
pub use credentials::{CredentialSource, SessionCredentials};
pub use endpoint::{Endpoint, serve};
pub use error::{FunctionsError, ThrottleReason};
pub use host::{FunctionHost, FunctionStatus, HostConfig, PreparedFunctions};
pub use invocation::{AzureLabel, InvokeRequest, InvokeResult, Outcome};
pub use memory::MemoryEnforcement;
pub use sample::{SampleEvent, SampleOptions, generate_event};
