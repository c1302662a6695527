//! The process supervisor: Deployment and Compose replicas as supervised processes, with
//! probes, restarts, placement and rolling updates.
//!
//! It sits after `config` and `control` in the data flow: the binary turns loaded
//! resources into a [`DesiredState`] and hands it to [`Supervisor::apply`]; the supervisor
//! runs every replica as a process group on 127.0.0.1 with its own ports, and publishes the
//! [`meridian_control::endpoints::EndpointTable`] (which replica listens where, and whether
//! it is ready) that the data plane routes by. `meridian ps`, `logs`, `scale` and `rollout`
//! are methods of [`Supervisor`]; the environment replicas get is listed in
//! [`environment`](crate#environment).
//!
//! # Environment
//!
//! | variable | value |
//! |---|---|
//! | `PORT` | the real port of the container's first declared port (or of the one port a replica that declares none gets) |
//! | `PORT_<n>` | for each declared container port `n`, its real port (`PORT_3000=41234`) |
//! | `PORT_<NAME>` | for each named port, its real port (`PORT_METRICS`: upper-cased, `-` → `_`) |
//! | `POD_NAME`, `HOSTNAME` | the replica's name |
//! | `POD_NAMESPACE`, `POD_IP`, `NODE_NAME` | namespace, `127.0.0.1`, the node's host name |
//! | `MERIDIAN_WORKLOAD`, `MERIDIAN_VERSION` | the workload's name and `version` label |
//! | `PATH` | the folder of the running `meridian` first |
//! | caller's | [`WorkloadSpec::extra_env`] (`<SERVICE>_SERVICE_HOST`/`_PORT`, `HTTP_PROXY`) |
//! | `MERIDIAN_ROOT` | for a replica with volumes, its root: a `mountPath` `/etc/config` is `$MERIDIAN_ROOT/etc/config` (see `volumes`) |
//!
//! then the declared `env` (with `$(VAR)` and `fieldRef`); `PORT` and `PORT_*` always win.

mod environment;
mod error;
mod logs;
mod placement;
mod ports;
pub mod pre_exec;
mod probe;
mod process;
mod replica;
mod restart;
mod rollout;
mod status;
mod supervisor;
mod volumes;
mod workload;

pub use error::WorkloadError;
pub use logs::{LogLine, LogQuery, LogReader, Stream, log_path};
pub use placement::NodeInfo;
pub use restart::Backoff;
pub use status::{
    Event, LastExit, ReplicaState, ReplicaStatus, RevisionInfo, RolloutPhase, RolloutStatus,
};
pub use supervisor::{ApplySummary, Supervisor, SupervisorOptions};
pub use workload::{
    ContainerSpec, DesiredState, EnvEntry, MountSpec, PortDecl, PortRef, ProbeAction, ProbeSpec,
    RestartRule, Strategy, VolumeSpec, WorkloadSpec,
};
