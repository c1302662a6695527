//! End-to-end tests of the supervisor with real processes: the test binary re-executes
//! itself as the demo app (see `support::run_role`), so every replica is a real process
//! listening on a real port.

mod orphans;
mod placement;
mod probes;
mod restarts;
mod rollout;
mod running;
mod support;

/// Not a test: the entry point of replicas (see `support::run_role`). Passes trivially when
/// run as a test.
#[test]
fn role() {
    support::run_role();
}
