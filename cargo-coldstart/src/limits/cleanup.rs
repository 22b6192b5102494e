//! Removing the cgroups this process created: killing what still runs in them, and the
//! registry that lets a Ctrl-C handler remove them all.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

#[cfg(doc)]
use super::Sandbox;

/// How long dropping a sandbox waits for its killed processes to leave the cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Removes every cgroup this process created and has not removed yet, killing what runs in them;
/// meant for a Ctrl-C handler. A [`Sandbox`] dropped afterwards finds nothing left to do.
///
/// ```
/// use cargo_coldstart::limits::{remove_all_leftovers, LambdaSize, Sandbox};
///
/// let sandbox = Sandbox::create(LambdaSize { memory_mb: 128 });
/// remove_all_leftovers(); // as a Ctrl-C handler would
/// drop(sandbox);
/// ```
pub fn remove_all_leftovers() {
    let created: Vec<PathBuf> = registry().clone();
    for dir in created {
        match remove_cgroup(&dir) {
            Ok(()) => registry().retain(|created| *created != dir),
            Err(error) => eprintln!(
                "warning: cannot remove the cgroup {}: {error}",
                dir.display()
            ),
        }
    }
}

/// Every cgroup directory this process created and has not removed yet.
pub(super) fn registry() -> MutexGuard<'static, Vec<PathBuf>> {
    static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    CREATED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a cgroup directory, killing its processes until the kernel lets it go.
pub(super) fn remove_cgroup(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    let mut pause = Duration::from_micros(250);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                if Instant::now() >= deadline {
                    return Err(error);
                }
                // Busy: processes remain. Kill them (never this process), then try again.
                let own = std::process::id();
                if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                    procs
                        .lines()
                        .filter_map(|line| line.trim().parse::<u32>().ok())
                        .filter(|&pid| pid != own)
                        .for_each(kill);
                }
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

/// Sends SIGKILL to one process.
#[allow(unsafe_code)]
fn kill(pid: u32) {
    // 0 and values that turn negative would address process groups: only plain pids pass.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of this process.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}
