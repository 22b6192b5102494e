//! Lambda memory sizes on this machine: a cgroup with Lambda's CPU share and memory limit.
//!
//! Placeholder with the agreed interface: `Sandbox::create` always answers
//! [`Unavailable`] until the real implementation (cgroup v1/v2) is merged in its place, so
//! `--memory` projects from measured CPU time.

use std::fmt;
use std::time::Duration;

/// A Lambda memory size in MB (128..=10240).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LambdaSize {
    /// The configured memory in MB.
    pub memory_mb: u32,
}

impl LambdaSize {
    /// The vCPUs Lambda gives this size: `memory_mb / 1769`, at most 6.
    ///
    /// ```
    /// use cargo_coldstart::limits::LambdaSize;
    /// assert_eq!(LambdaSize { memory_mb: 1769 }.cpu_share(), 1.0);
    /// ```
    pub fn cpu_share(&self) -> f64 {
        (f64::from(self.memory_mb) / 1769.0).min(6.0)
    }
}

/// Why limits cannot be applied on this machine.
#[derive(Debug, Clone)]
pub enum Unavailable {
    /// Not implemented in this build.
    NotBuilt(&'static str),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::NotBuilt(why) => {
                write!(
                    f,
                    "memory-size limits are {why} in this build of cargo coldstart"
                )
            }
        }
    }
}

/// One cgroup with a CPU quota and a memory limit; dropping it removes it.
#[derive(Debug)]
pub struct Sandbox {
    _private: (),
}

impl Sandbox {
    /// Creates the cgroup for `size`.
    ///
    /// # Errors
    ///
    /// [`Unavailable`] with a plain reason when the machine does not allow it.
    pub fn create(size: LambdaSize) -> Result<Sandbox, Unavailable> {
        let _ = size;
        Err(Unavailable::NotBuilt("not built yet"))
    }

    /// Moves a process into the cgroup.
    ///
    /// # Errors
    ///
    /// The write to the cgroup's process list failed.
    pub fn add_process(&self, pid: u32) -> std::io::Result<()> {
        let _ = pid;
        Ok(())
    }

    /// CPU time used by the cgroup so far, if readable.
    pub fn cpu_time(&self) -> Option<Duration> {
        None
    }

    /// Peak memory of the cgroup, if readable.
    pub fn memory_peak_bytes(&self) -> Option<u64> {
        None
    }

    /// A hook for `CommandExt::pre_exec` that moves the child into the cgroup before exec.
    pub fn pre_exec_hook(&self) -> impl Fn() -> std::io::Result<()> + Send + Sync + 'static {
        || Ok(())
    }
}

impl Drop for Sandbox {
    /// Removes the cgroup (nothing to remove in this placeholder).
    fn drop(&mut self) {}
}

/// Removes every cgroup this process created (for the Ctrl-C handler).
pub fn remove_all_leftovers() {}
