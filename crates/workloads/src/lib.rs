//! The process supervisor: Deployment and Compose replicas as supervised processes, with
//! probes, restarts, placement and rolling updates.
