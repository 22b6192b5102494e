//! The function processes this tool started: each in a process group of its own, registered
//! until it is reaped, so a Ctrl-C (or any early return) never leaves one behind.

use std::collections::HashSet;
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};

fn groups() -> &'static Mutex<HashSet<u32>> {
    static GROUPS: OnceLock<Mutex<HashSet<u32>>> = OnceLock::new();
    GROUPS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Spawns `command` (which must lead its own process group: `process_group(0)`) and remembers
/// the child, both under the registry's lock: a Ctrl-C that arrives while the child is being
/// spawned waits in [`kill_all`] until the child is registered, then kills it too.
pub(crate) fn spawn(command: &mut Command) -> std::io::Result<Child> {
    let mut groups = groups().lock().unwrap_or_else(|e| e.into_inner());
    let child = command.spawn()?;
    groups.insert(child.id());
    Ok(child)
}

/// Forgets a child once it has been killed and reaped.
pub(crate) fn unregister(pid: u32) {
    groups()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pid);
}

/// Sends SIGKILL to the whole process group led by `pid` (the function and anything it forked).
pub(crate) fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    #[allow(unsafe_code)]
    // SAFETY: kill(2) takes plain integers and touches no memory of this process; a negative pid
    // addresses the process group, which this tool created for the child (never 0 or -1 here,
    // since `pgid` is a child's pid, > 1).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Kills every registered process group; for the Ctrl-C handler.
pub(crate) fn kill_all() {
    let pids: Vec<u32> = groups()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .collect();
    for pid in &pids {
        kill_group(*pid);
    }
    // SIGKILL is delivered asynchronously: reap each child, so that it is gone (not merely
    // doomed) when the tool says so and exits. A child the main thread reaps first makes this
    // return at once (ECHILD).
    for pid in pids {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            continue;
        };
        let mut status = 0;
        #[allow(unsafe_code)]
        // SAFETY: waitpid(2) writes only to `status`, a live local; `pid` is a child of this
        // process (> 1).
        unsafe {
            libc::waitpid(pid, &mut status, 0);
        }
    }
}

/// Installs the Ctrl-C (SIGINT/SIGTERM) handler: kill every function process group, remove every
/// cgroup this process created, and exit with 130. Installing twice is harmless.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        kill_all();
        crate::limits::remove_all_leftovers();
        eprintln!("cargo coldstart: interrupted; every function process was killed");
        std::process::exit(130);
    });
}
