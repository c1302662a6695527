//! What a child process does between fork and exec: the one place Meridian's processes
//! (workloads' replicas, functions' instances) are set up with `unsafe`.
#![allow(unsafe_code)]

use std::io;

use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getppid};

/// Caps the child's private writable memory (`RLIMIT_DATA`: heap and anonymous
/// mappings) at `bytes`; its children inherit the limit.
pub fn limit_data(cmd: &mut tokio::process::Command, bytes: u64) {
    // SAFETY: `pre_exec` runs the closure in the forked child before `exec`, where only
    // async-signal-safe operations are sound. The closure makes one raw system call,
    // `setrlimit`, which is async-signal-safe; it captures a `u64` by copy, does not
    // allocate (the error is a tagged integer), takes no lock and touches no shared
    // state.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_DATA, bytes, bytes)
                .map_err(|e| io::Error::from_raw_os_error(e as i32))
        });
    }
}

/// Makes the child die with its parent: `PR_SET_PDEATHSIG` with `SIGKILL`, and a child
/// whose parent already died fails to start.
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    let parent: Pid = nix::unistd::getpid();
    // SAFETY: `pre_exec` runs the closure in the forked child before `exec`, where only
    // async-signal-safe operations are sound (the parent's other threads may have held
    // locks, e.g. the allocator's, at the time of the fork). The closure only makes two
    // raw system calls, `prctl(PR_SET_PDEATHSIG)` and `getppid`, both async-signal-safe;
    // it captures a `Pid` (a plain integer) by copy, does not allocate (an
    // `io::Error::from_raw_os_error` is a tagged integer, not a heap value), takes no
    // lock and touches no shared state.
    unsafe {
        cmd.pre_exec(move || {
            prctl::set_pdeathsig(Signal::SIGKILL)
                .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
            // The parent may have died before the prctl took effect; then our parent is
            // now a reaper and nobody would kill us.
            if getppid() != parent {
                return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
}
