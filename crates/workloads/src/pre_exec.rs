//! What a child process does between fork and exec: the one place Meridian's processes
//! (workloads' replicas, functions' instances) are set up with `unsafe`; and the limit on
//! open files, raised for Meridian and given back to what it starts.
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

/// The soft limit on open files the process started with, when [`raise_open_files`]
/// raised it.
static STARTED_WITH: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Raises this process's soft limit on open files to its hard limit, as a server holding
/// thousands of connections, sealed cache bodies and stores needs (Go's runtime does the same
/// when it starts). Children get the limit the process started with back
/// ([`restore_open_files`]): programs that use `select(2)` fail on descriptors past 1,024.
/// Returns the soft limit now in force.
pub fn raise_open_files() -> io::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= hard {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    let _ = STARTED_WITH.set(soft);
    Ok(hard)
}

/// Gives the child the soft limit on open files this process started with, when
/// [`raise_open_files`] raised it (otherwise the child inherits the limit as it is).
pub fn restore_open_files(cmd: &mut tokio::process::Command) {
    use nix::sys::resource::{Resource, getrlimit};
    let Some(&soft) = STARTED_WITH.get() else {
        return;
    };
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    // SAFETY: `pre_exec` runs the closure in the forked child before `exec`, where only
    // async-signal-safe operations are sound. The closure makes one raw system call,
    // `setrlimit`, which is async-signal-safe; it captures two `u64`s by copy, does not
    // allocate (the error is a tagged integer), takes no lock and touches no shared state.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::resource::setrlimit(Resource::RLIMIT_NOFILE, soft, hard)
                .map_err(|e| io::Error::from_raw_os_error(e as i32))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::resource::{Resource, getrlimit, setrlimit};

    #[tokio::test]
    async fn children_get_the_open_files_limit_the_process_started_with() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        if hard <= 512 {
            return;
        }
        // As a process started with a low soft limit.
        setrlimit(Resource::RLIMIT_NOFILE, 512, hard).expect("setrlimit");
        assert_eq!(raise_open_files().expect("raise"), hard);
        assert_eq!(
            getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit"),
            (hard, hard)
        );
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", "ulimit -Sn; ulimit -Hn"]);
        restore_open_files(&mut cmd);
        let out = cmd.output().await.expect("sh runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("512\n{hard}\n")
        );
    }
}
