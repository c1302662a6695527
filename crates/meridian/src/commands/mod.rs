//! One module per subcommand.

pub(crate) mod buckets;
pub(crate) mod ca;
pub(crate) mod cdn;
pub(crate) mod check;
pub(crate) mod dashboard;
pub(crate) mod demo_app;
pub(crate) mod duration;
pub(crate) mod functions;
pub(crate) mod generate_event;
pub(crate) mod get;
pub(crate) mod global;
pub(crate) mod invoke;
pub(crate) mod logs;
pub(crate) mod outputs;
pub(crate) mod ps;
pub(crate) mod rollout;
pub(crate) mod scale;
pub(crate) mod stat;
pub(crate) mod tables;
pub(crate) mod tap;
pub(crate) mod terraform;
pub(crate) mod top;
pub(crate) mod up;
pub(crate) mod validate;
pub(crate) mod version;
