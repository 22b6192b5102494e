//! [`Sandbox`]: one cgroup with a Lambda size's limits; creating it, putting processes in it,
//! reading what they used, and removing it on drop.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::cleanup::{registry, remove_cgroup};
use super::control::{open_control, write_control};
use super::layout::Layout;
use super::mounts::System;
use super::size::{LambdaSize, MAX_MEMORY_MB, MIN_MEMORY_MB, PERIOD_US};
use super::unavailable::Unavailable;

/// The number in the next sandbox's name, `coldstart-<pid>-<n>`.
static NEXT: AtomicU32 = AtomicU32::new(1);

/// One cgroup with a Lambda size's CPU quota and memory limit.
///
/// Put processes in it with [`Sandbox::pre_exec_hook`] (from their first instruction) or
/// [`Sandbox::add_process`]. Dropping it kills whatever still runs in it and removes the cgroup.
///
/// ```
/// use cargo_coldstart::limits::{LambdaSize, Sandbox};
///
/// match Sandbox::create(LambdaSize { memory_mb: 512 }) {
///     Ok(sandbox) => println!("limited: {sandbox:?}"),
///     Err(reason) => println!("no limits: {reason}"),
/// }
/// ```
#[derive(Debug)]
pub struct Sandbox {
    /// Every cgroup directory created: one per v1 hierarchy, or the one v2 cgroup.
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each directory, opened for writing before any fork.
    procs: Arc<Vec<File>>,
    /// Where the CPU time is read, when the kernel accounts it.
    cpu_usage: Option<CpuUsage>,
    /// Where the peak memory is read.
    memory_peak: Option<PathBuf>,
    /// The CPU quota control, to change the share while processes run (INIT, then the
    /// invocations): v1 `cpu.cfs_quota_us` or v2 `cpu.max`.
    cpu_quota: Option<CpuQuota>,
}

#[derive(Debug)]
enum CpuQuota {
    /// cgroup v1 `cpu.cfs_quota_us`: the quota alone.
    V1(PathBuf),
    /// cgroup v2 `cpu.max`: "quota period".
    V2(PathBuf),
}

#[derive(Debug)]
enum CpuUsage {
    /// cgroup v1 `cpuacct.usage`: nanoseconds.
    CpuacctNanos(PathBuf),
    /// cgroup v2 `cpu.stat`, line `usage_usec`.
    CpuStatMicros(PathBuf),
}

impl Sandbox {
    /// Creates a cgroup with `size`'s CPU quota and memory limit, or says why it cannot.
    ///
    /// cgroup v1 (the `cpu` and `memory` hierarchies, plus `cpuacct` for CPU time) is used when
    /// both controllers are mounted there, cgroup v2 otherwise. The cgroup is named
    /// `coldstart-<pid>-<n>` and nested in this process's own cgroup where possible (v2: where
    /// the `cpu` and `memory` controllers can be enabled for children, else at the top).
    /// On failure nothing is left behind.
    ///
    /// ```
    /// use cargo_coldstart::limits::{LambdaSize, Sandbox};
    ///
    /// if let Err(reason) = Sandbox::create(LambdaSize { memory_mb: 128 }) {
    ///     eprintln!("running without Lambda limits: {reason}");
    /// }
    /// ```
    pub fn create(size: LambdaSize) -> Result<Sandbox, Unavailable> {
        let system = System::current()?;
        Sandbox::create_with(size, &system)
    }

    pub(super) fn create_with(size: LambdaSize, system: &System) -> Result<Sandbox, Unavailable> {
        if !(MIN_MEMORY_MB..=MAX_MEMORY_MB).contains(&size.memory_mb) {
            return Err(Unavailable::InvalidSize {
                memory_mb: size.memory_mb,
            });
        }
        let layout = Layout::discover(system)?;
        let mut attempts = 0;
        loop {
            let name = format!(
                "coldstart-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            match Sandbox::create_named(size, &layout, &name) {
                // Left by an earlier process with this pid that did not clean up: next name.
                Err(Unavailable::Io { error, .. })
                    if error.kind() == io::ErrorKind::AlreadyExists && attempts < 100 =>
                {
                    attempts += 1;
                }
                result => return result,
            }
        }
    }

    fn create_named(size: LambdaSize, layout: &Layout, name: &str) -> Result<Sandbox, Unavailable> {
        // Built before the first mkdir, so that an error half-way drops it and removes what exists.
        let mut sandbox = Sandbox {
            dirs: Vec::new(),
            procs: Arc::new(Vec::new()),
            cpu_usage: None,
            memory_peak: None,
            cpu_quota: None,
        };
        let quota = format!("{}", size.quota_us());
        let memory = format!("{}", size.memory_bytes());
        match layout {
            Layout::V1 {
                cpu,
                memory: memory_parent,
                cpuacct,
            } => {
                let cpu_dir = sandbox.make_dir(cpu, name)?;
                let memory_dir = if memory_parent == cpu {
                    cpu_dir.clone() // one hierarchy with both controllers
                } else {
                    sandbox.make_dir(memory_parent, name)?
                };
                write_control(&cpu_dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
                write_control(&cpu_dir.join("cpu.cfs_quota_us"), &quota)?;
                sandbox.cpu_quota = Some(CpuQuota::V1(cpu_dir.join("cpu.cfs_quota_us")));
                write_control(&memory_dir.join("memory.limit_in_bytes"), &memory)?;
                // Only where the kernel accounts swap: then memory plus swap is capped at the
                // same value, so the limit cannot be dodged by swapping.
                let memsw = memory_dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write_control(&memsw, &memory)?;
                }
                let acct_dir = match cpuacct {
                    Some(parent) if parent == cpu => Some(cpu_dir.clone()),
                    Some(parent) if parent == memory_parent => Some(memory_dir.clone()),
                    Some(parent) => Some(sandbox.make_dir(parent, name)?),
                    None => None,
                };
                sandbox.cpu_usage =
                    acct_dir.map(|dir| CpuUsage::CpuacctNanos(dir.join("cpuacct.usage")));
                sandbox.memory_peak = Some(memory_dir.join("memory.max_usage_in_bytes"));
            }
            Layout::V2 { parent } => {
                let dir = sandbox.make_dir(parent, name)?;
                write_control(&dir.join("cpu.max"), &format!("{quota} {PERIOD_US}"))?;
                sandbox.cpu_quota = Some(CpuQuota::V2(dir.join("cpu.max")));
                write_control(&dir.join("memory.max"), &memory)?;
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write_control(&swap, "0")?;
                }
                sandbox.cpu_usage = Some(CpuUsage::CpuStatMicros(dir.join("cpu.stat")));
                sandbox.memory_peak = Some(dir.join("memory.peak"));
            }
        }
        let procs = sandbox
            .dirs
            .iter()
            .map(|dir| open_control(&dir.join("cgroup.procs")))
            .collect::<Result<Vec<_>, _>>()?;
        sandbox.procs = Arc::new(procs);
        Ok(sandbox)
    }

    /// Creates `parent/name`, records it for removal, and returns it.
    fn make_dir(&mut self, parent: &Path, name: &str) -> Result<PathBuf, Unavailable> {
        let dir = parent.join(name);
        fs::create_dir(&dir).map_err(|error| match error.kind() {
            io::ErrorKind::PermissionDenied => Unavailable::PermissionDenied {
                path: parent.to_path_buf(),
            },
            io::ErrorKind::ReadOnlyFilesystem => Unavailable::ReadOnly {
                path: parent.to_path_buf(),
            },
            _ => Unavailable::Io {
                path: dir.clone(),
                error,
            },
        })?;
        registry().push(dir.clone());
        self.dirs.push(dir.clone());
        Ok(dir)
    }

    /// Changes the CPU quota to `vcpus` of a CPU (at least 1 ms per 100 ms period), effective at
    /// once for the processes inside: how a run gives INIT one share and the invocations another
    /// ([`crate::cpu_model`]). A share above the machine's cores gives all of them.
    ///
    /// ```
    /// use cargo_coldstart::limits::{LambdaSize, Sandbox};
    ///
    /// if let Ok(sandbox) = Sandbox::create(LambdaSize { memory_mb: 128 }) {
    ///     sandbox.set_cpu_share(1.0)?; // INIT with a full vCPU
    ///     sandbox.set_cpu_share(128.0 / 1769.0)?; // then the size's share
    /// }
    /// # Ok::<(), cargo_coldstart::limits::Unavailable>(())
    /// ```
    pub fn set_cpu_share(&self, vcpus: f64) -> Result<(), Unavailable> {
        let quota = LambdaSize::quota_for(vcpus);
        match &self.cpu_quota {
            Some(CpuQuota::V1(path)) => write_control(path, &quota.to_string()),
            Some(CpuQuota::V2(path)) => write_control(path, &format!("{quota} {PERIOD_US}")),
            None => Ok(()),
        }
    }

    /// Moves a running process (all its threads) into the sandbox.
    ///
    /// ```
    /// use cargo_coldstart::limits::{LambdaSize, Sandbox};
    /// use std::process::Command;
    ///
    /// if let Ok(sandbox) = Sandbox::create(LambdaSize { memory_mb: 256 }) {
    ///     let mut child = Command::new("sleep").arg("1").spawn()?;
    ///     sandbox.add_process(child.id())?;
    ///     drop(sandbox); // kills the sleep
    ///     child.wait()?;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_process(&self, pid: u32) -> io::Result<()> {
        let pid = pid.to_string();
        for procs in self.procs.iter() {
            procs.write_at(pid.as_bytes(), 0)?;
        }
        Ok(())
    }

    /// A hook for [`CommandExt::pre_exec`](std::os::unix::process::CommandExt::pre_exec): the
    /// child moves itself into the sandbox before `exec`, so the function is limited from its
    /// first instruction.
    ///
    /// The hook is async-signal-safe: the `cgroup.procs` files were opened by
    /// [`Sandbox::create`] and the child only writes `0` ("this process") to them with
    /// `pwrite(2)`. If a write fails, the spawn fails with that error.
    ///
    /// ```
    /// use cargo_coldstart::limits::{LambdaSize, Sandbox};
    /// use std::os::unix::process::CommandExt;
    /// use std::process::Command;
    ///
    /// if let Ok(sandbox) = Sandbox::create(LambdaSize { memory_mb: 1769 }) {
    ///     let mut command = Command::new("true");
    ///     // SAFETY: the hook only calls pwrite(2) on descriptors opened before the fork.
    ///     unsafe { command.pre_exec(sandbox.pre_exec_hook()) };
    ///     assert!(command.status()?.success());
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pre_exec_hook(&self) -> impl Fn() -> io::Result<()> + Send + Sync + 'static {
        let procs = Arc::clone(&self.procs);
        move || {
            for file in procs.iter() {
                // `0` moves the writing process; write_at is one pwrite(2), no allocation.
                let written = file.write_at(b"0", 0)?;
                if written != 1 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
            }
            Ok(())
        }
    }

    /// CPU time used by everything that ran in the sandbox so far (`cpuacct.usage` on cgroup v1,
    /// `usage_usec` of `cpu.stat` on v2); `None` where the kernel does not account it.
    ///
    /// ```
    /// use cargo_coldstart::limits::{LambdaSize, Sandbox};
    ///
    /// if let Ok(sandbox) = Sandbox::create(LambdaSize { memory_mb: 128 }) {
    ///     assert_eq!(sandbox.cpu_time().unwrap_or_default().as_nanos(), 0);
    /// }
    /// ```
    pub fn cpu_time(&self) -> Option<Duration> {
        match self.cpu_usage.as_ref()? {
            CpuUsage::CpuacctNanos(path) => {
                let nanos = fs::read_to_string(path).ok()?.trim().parse().ok()?;
                Some(Duration::from_nanos(nanos))
            }
            CpuUsage::CpuStatMicros(path) => {
                let stat = fs::read_to_string(path).ok()?;
                let micros = stat
                    .lines()
                    .find_map(|line| line.strip_prefix("usage_usec "))?
                    .trim()
                    .parse()
                    .ok()?;
                Some(Duration::from_micros(micros))
            }
        }
    }

    /// The highest memory use of the sandbox so far, page cache included
    /// (`memory.max_usage_in_bytes` on cgroup v1, `memory.peak` on v2 from Linux 5.19);
    /// `None` where the kernel does not report it.
    ///
    /// ```
    /// use cargo_coldstart::limits::{LambdaSize, Sandbox};
    ///
    /// if let Ok(sandbox) = Sandbox::create(LambdaSize { memory_mb: 128 }) {
    ///     if let Some(peak) = sandbox.memory_peak_bytes() {
    ///         assert!(peak <= 128 * 1024 * 1024);
    ///     }
    /// }
    /// ```
    pub fn memory_peak_bytes(&self) -> Option<u64> {
        let path = self.memory_peak.as_ref()?;
        fs::read_to_string(path).ok()?.trim().parse().ok()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for dir in &self.dirs {
            match remove_cgroup(dir) {
                Ok(()) => registry().retain(|created| created != dir),
                Err(error) => eprintln!(
                    "warning: cannot remove the cgroup {}: {error} (remove it with `rmdir` once its processes are gone)",
                    dir.display()
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::test_support::{system, TempDir, SIZE_128};

    #[test]
    fn sizes_outside_lambdas_range_are_refused_before_anything_is_touched() {
        for memory_mb in [0, 127, 10_241, u32::MAX] {
            let error =
                Sandbox::create_with(LambdaSize { memory_mb }, &system("", "")).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "{memory_mb} MB is not a Lambda memory size: Lambda allows 128 to 10240 MB"
                )
            );
        }
    }

    #[test]
    fn a_directory_that_is_not_a_cgroup_fs_is_named_and_left_as_it_was() {
        let root = TempDir::new();
        for controller in ["cpu", "memory"] {
            fs::create_dir(root.0.join(controller)).unwrap();
        }
        let info = format!(
            "32 31 0:29 / {0}/cpu rw - cgroup cgroup rw,cpu\n35 31 0:32 / {0}/memory rw - cgroup cgroup rw,memory",
            root.0.display()
        );
        let error =
            Sandbox::create_with(SIZE_128, &system(&info, "2:cpu:/\n1:memory:/\n")).unwrap_err();
        let message = error.to_string();
        let (dir, reason) = message.split_once(' ').unwrap();
        let dir = Path::new(dir);
        assert_eq!(
            dir.parent(),
            Some(root.0.join("cpu").as_path()),
            "{message}"
        );
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("coldstart-{}-", std::process::id())),
            "{message}"
        );
        assert_eq!(
            reason,
            "is not a cgroup file system: it has no cpu.cfs_period_us"
        );
        // The two directories made before the failure are gone, nothing was created as a file.
        assert_eq!(root.contents(), ["cpu", "memory"]);
        assert!(registry().iter().all(|dir| !dir.starts_with(&root.0)));
    }

    #[test]
    fn a_name_left_by_an_earlier_process_with_this_pid_is_skipped() {
        let root = TempDir::new();
        for controller in ["cpu", "memory"] {
            fs::create_dir(root.0.join(controller)).unwrap();
        }
        let next = NEXT.load(Ordering::Relaxed);
        let stale: Vec<String> = (next..next + 20)
            .map(|n| format!("cpu/coldstart-{}-{n}", std::process::id()))
            .collect();
        for dir in &stale {
            fs::create_dir(root.0.join(dir)).unwrap();
        }
        let info = format!(
            "32 31 0:29 / {0}/cpu rw - cgroup cgroup rw,cpu\n35 31 0:32 / {0}/memory rw - cgroup cgroup rw,memory",
            root.0.display()
        );
        let error =
            Sandbox::create_with(SIZE_128, &system(&info, "2:cpu:/\n1:memory:/\n")).unwrap_err();
        // Past the stale names to a fresh one, which then turns out not to be a cgroup.
        assert!(
            error.to_string().ends_with("it has no cpu.cfs_period_us"),
            "{error}"
        );
        let mut expected = stale.clone();
        expected.extend(["cpu".to_owned(), "memory".to_owned()]);
        expected.sort();
        assert_eq!(root.contents(), expected);
    }

    #[test]
    fn co_mounted_v1_controllers_share_one_directory() {
        let root = TempDir::new();
        let info = format!(
            "32 31 0:29 / {} rw - cgroup cgroup rw,cpu,cpuacct,memory",
            root.0.display()
        );
        let error =
            Sandbox::create_with(SIZE_128, &system(&info, "1:cpu,cpuacct,memory:/\n")).unwrap_err();
        // One directory, made once: the failure is the missing control file, not "File exists".
        assert!(
            error.to_string().ends_with("it has no cpu.cfs_period_us"),
            "{error}"
        );
        assert!(root.contents().is_empty());
    }
}
