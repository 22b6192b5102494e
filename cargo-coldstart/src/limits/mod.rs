//! Run a function under the CPU share and memory limit of a Lambda memory size.
//!
//! Lambda gives a function CPU in proportion to its memory: 1,769 MB is one full vCPU, 128 MB is
//! 128/1,769 ≈ 7.2 % of one. A [`Sandbox`] is one Linux cgroup (v1 or v2) with that CPU quota
//! (`cpu.cfs_quota_us` / `cpu.max`, period 100 ms) and that memory limit (`memory.limit_in_bytes` /
//! `memory.max`, swap included where the kernel accounts it), so a CPU-bound INIT that takes 10 ms
//! on a free core takes ≈ 138 ms in a 128 MB sandbox, as it would on Lambda.
//!
//! A quota cannot give more CPU than the machine has: on a 2-core machine every size from
//! 3,538 MB up runs with both cores, where Lambda would give it more.
//!
//! Creating a cgroup needs write access to the cgroup file system (root, or a delegated cgroup).
//! Where that is missing, [`Sandbox::create`] says why in an [`Unavailable`] and changes nothing.
//! Every cgroup a sandbox creates is removed when it is dropped (its processes are killed first),
//! and [`remove_all_leftovers`] removes them all from a Ctrl-C handler.
//!
//! ```no_run
//! use cargo_coldstart::limits::{LambdaSize, Sandbox};
//! use std::os::unix::process::CommandExt;
//! use std::process::Command;
//!
//! let sandbox = Sandbox::create(LambdaSize { memory_mb: 128 })?;
//! let mut function = Command::new("target/release/bootstrap");
//! // SAFETY: the hook only calls write(2) on descriptors opened before the fork.
//! unsafe { function.pre_exec(sandbox.pre_exec_hook()) };
//! let status = function.status()?;
//! println!("{status}: {:?} of CPU", sandbox.cpu_time());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cleanup;
mod control;
mod layout;
mod mounts;
mod sandbox;
mod size;
#[cfg(test)]
mod test_support;
mod unavailable;

pub use self::cleanup::remove_all_leftovers;
pub use self::sandbox::Sandbox;
pub use self::size::LambdaSize;
pub use self::unavailable::Unavailable;
