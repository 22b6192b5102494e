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

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The smallest memory size Lambda allows, in MB.
const MIN_MEMORY_MB: u32 = 128;
/// The largest memory size Lambda allows, in MB.
const MAX_MEMORY_MB: u32 = 10_240;
/// The memory size that gets one full vCPU.
const ONE_VCPU_MB: f64 = 1769.0;
/// The most vCPUs Lambda gives a function.
const MAX_VCPUS: f64 = 6.0;
/// The CFS period the quota is a share of.
const PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel accepts is 1 ms.
const MIN_QUOTA_US: u64 = 1_000;
/// The number in the next sandbox's name, `coldstart-<pid>-<n>`.
static NEXT: AtomicU32 = AtomicU32::new(1);
/// How long dropping a sandbox waits for its killed processes to leave the cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A Lambda memory size, in MB (Lambda's MB are MiB): 128 to 10,240.
///
/// ```
/// use cargo_coldstart::limits::LambdaSize;
///
/// let size = LambdaSize { memory_mb: 1769 };
/// assert_eq!(size.cpu_share(), 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LambdaSize {
    /// The function's memory size in MB (MiB), 128..=10240.
    pub memory_mb: u32,
}

impl LambdaSize {
    /// The vCPUs Lambda gives this size: `memory_mb / 1769`, capped at 6.
    ///
    /// This is the proportional rule Lambda documents (1,769 MB is one vCPU); at the top of the
    /// range it gives 5.79 vCPUs for 10,240 MB, where Lambda advertises "up to 6".
    ///
    /// ```
    /// use cargo_coldstart::limits::LambdaSize;
    ///
    /// let share = LambdaSize { memory_mb: 128 }.cpu_share();
    /// assert!((share - 0.0724).abs() < 0.0001);
    /// ```
    pub fn cpu_share(&self) -> f64 {
        (f64::from(self.memory_mb) / ONE_VCPU_MB).min(MAX_VCPUS)
    }

    /// The CFS quota per 100 ms period, in microseconds (at least 1 ms).
    fn quota_us(&self) -> u64 {
        // In range: memory_mb ≤ u32::MAX, so the product is far below u64::MAX.
        let quota = (PERIOD_US as f64 * self.cpu_share()).round() as u64;
        quota.max(MIN_QUOTA_US)
    }

    /// The memory limit in bytes.
    fn memory_bytes(&self) -> u64 {
        u64::from(self.memory_mb) * 1024 * 1024
    }
}

/// Why a [`Sandbox`] cannot be created here; its `Display` is a plain sentence for the user.
///
/// ```
/// use cargo_coldstart::limits::{LambdaSize, Sandbox};
///
/// let reason = Sandbox::create(LambdaSize { memory_mb: 64 }).unwrap_err();
/// assert_eq!(
///     reason.to_string(),
///     "64 MB is not a Lambda memory size: Lambda allows 128 to 10240 MB"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Unavailable {
    /// The size is outside Lambda's 128..=10240 MB.
    InvalidSize {
        /// The size asked for.
        memory_mb: u32,
    },
    /// No cgroup file system is mounted (or `/proc` cannot be read).
    NoCgroupFs {
        /// What was looked at.
        detail: String,
    },
    /// A controller the sandbox needs (`cpu` or `memory`) is not available.
    ControllerMissing {
        /// `cpu` or `memory`.
        controller: &'static str,
        /// Where it was looked for.
        detail: String,
    },
    /// This process may not create a cgroup there (not root, not delegated).
    PermissionDenied {
        /// The directory or file that refused.
        path: PathBuf,
    },
    /// The cgroup file system is mounted read-only (as in most containers).
    ReadOnly {
        /// The directory that refused.
        path: PathBuf,
    },
    /// The directory is not a cgroup file system: a control file is missing.
    NotACgroup {
        /// The control file that is missing.
        path: PathBuf,
    },
    /// Any other failure while setting the cgroup up.
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::InvalidSize { memory_mb } => write!(
                f,
                "{memory_mb} MB is not a Lambda memory size: Lambda allows {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB"
            ),
            Unavailable::NoCgroupFs { detail } => {
                write!(f, "no cgroup file system is available ({detail})")
            }
            Unavailable::ControllerMissing { controller, detail } => {
                write!(f, "the cgroup `{controller}` controller is not available ({detail})")
            }
            Unavailable::PermissionDenied { path } => write!(
                f,
                "not allowed to create a cgroup in {}: CPU and memory limits need root (or a cgroup delegated to this user)",
                path.display()
            ),
            Unavailable::ReadOnly { path } => write!(
                f,
                "{} is mounted read-only (as in most containers), so no cgroup can be created there",
                path.display()
            ),
            Unavailable::NotACgroup { path } => write!(
                f,
                "{} is not a cgroup file system: it has no {}",
                path.parent().unwrap_or(path).display(),
                path.file_name().unwrap_or(path.as_os_str()).to_string_lossy()
            ),
            Unavailable::Io { path, error } => {
                write!(f, "cannot set up the cgroup at {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Unavailable::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

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

    fn create_with(size: LambdaSize, system: &System) -> Result<Sandbox, Unavailable> {
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
fn registry() -> MutexGuard<'static, Vec<PathBuf>> {
    static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    CREATED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a cgroup directory, killing its processes until the kernel lets it go.
fn remove_cgroup(dir: &Path) -> io::Result<()> {
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

/// Opens an existing control file for writing (never creates one: a missing file means the
/// directory is not a cgroup).
fn open_control(path: &Path) -> Result<File, Unavailable> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|error| control_error(path, error))
}

fn write_control(path: &Path, value: &str) -> Result<(), Unavailable> {
    open_control(path)?
        .write_at(value.as_bytes(), 0)
        .map(drop)
        .map_err(|error| control_error(path, error))
}

fn control_error(path: &Path, error: io::Error) -> Unavailable {
    match error.kind() {
        io::ErrorKind::NotFound => Unavailable::NotACgroup {
            path: path.to_path_buf(),
        },
        io::ErrorKind::PermissionDenied => Unavailable::PermissionDenied {
            path: path.to_path_buf(),
        },
        io::ErrorKind::ReadOnlyFilesystem => Unavailable::ReadOnly {
            path: path.to_path_buf(),
        },
        _ => Unavailable::Io {
            path: path.to_path_buf(),
            error,
        },
    }
}

/// What the kernel says about mounts and this process's cgroups.
struct System {
    /// `/proc/self/mountinfo`.
    mountinfo: String,
    /// `/proc/self/cgroup`.
    own_cgroups: String,
}

impl System {
    fn current() -> Result<System, Unavailable> {
        let read = |path: &str| {
            fs::read_to_string(path).map_err(|error| Unavailable::NoCgroupFs {
                detail: format!("cannot read {path}: {error}"),
            })
        };
        Ok(System {
            mountinfo: read("/proc/self/mountinfo")?,
            own_cgroups: read("/proc/self/cgroup")?,
        })
    }

    fn mounts(&self) -> Vec<Mount> {
        self.mountinfo.lines().filter_map(Mount::parse).collect()
    }

    /// This process's cgroup path in the v1 hierarchy holding `controller` (`None`: v2).
    fn own_path(&self, controller: Option<&str>) -> Option<&str> {
        self.own_cgroups.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let matches = match controller {
                Some(wanted) => controllers.split(',').any(|c| c == wanted),
                None => controllers.is_empty(),
            };
            matches.then_some(path)
        })
    }
}

/// One cgroup mount from `/proc/self/mountinfo`.
#[derive(Debug, PartialEq)]
struct Mount {
    /// Where it is mounted.
    point: PathBuf,
    /// Which cgroup of the hierarchy appears at `point`.
    root: String,
    /// cgroup2, or the v1 controllers of this hierarchy.
    kind: MountKind,
}

#[derive(Debug, PartialEq)]
enum MountKind {
    V1 { controllers: Vec<String> },
    V2,
}

impl Mount {
    /// `36 25 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`
    fn parse(line: &str) -> Option<Mount> {
        let (before, after) = line.split_once(" - ")?;
        let mut before = before.split(' ');
        let root = unescape(before.nth(3)?);
        let point = PathBuf::from(unescape(before.next()?));
        let mut after = after.split(' ');
        let fstype = after.next()?;
        let _source = after.next()?;
        let options = after.next().unwrap_or("");
        let kind = match fstype {
            "cgroup2" => MountKind::V2,
            "cgroup" => MountKind::V1 {
                controllers: options.split(',').map(str::to_owned).collect(),
            },
            _ => return None,
        };
        Some(Mount { point, root, kind })
    }

    fn has_controller(&self, controller: &str) -> bool {
        matches!(&self.kind, MountKind::V1 { controllers } if controllers.iter().any(|c| c == controller))
    }

    /// The directory of cgroup `path` (as in `/proc/self/cgroup`) under this mount, if visible.
    fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let root = self.root.trim_end_matches('/');
        let relative = path.strip_prefix(root)?;
        if !relative.is_empty() && !relative.starts_with('/') {
            return None;
        }
        let relative = relative.trim_start_matches('/');
        let dir = if relative.is_empty() {
            self.point.clone()
        } else {
            self.point.join(relative)
        };
        dir.is_dir().then_some(dir)
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the sandbox's cgroup directories go.
#[derive(Debug, PartialEq)]
enum Layout {
    /// Parent directories in the v1 hierarchies (the same one when controllers are co-mounted).
    V1 {
        cpu: PathBuf,
        memory: PathBuf,
        cpuacct: Option<PathBuf>,
    },
    /// The v2 cgroup whose children get the `cpu` and `memory` controllers.
    V2 { parent: PathBuf },
}

impl Layout {
    fn discover(system: &System) -> Result<Layout, Unavailable> {
        let mounts = system.mounts();
        let v1_parent = |controller: &str| {
            let mount = mounts.iter().find(|m| m.has_controller(controller))?;
            let own = system.own_path(Some(controller)).unwrap_or("/");
            Some(mount.dir_of(own).unwrap_or_else(|| mount.point.clone()))
        };
        let (cpu, memory) = (v1_parent("cpu"), v1_parent("memory"));
        if let (Some(cpu), Some(memory)) = (&cpu, &memory) {
            return Ok(Layout::V1 {
                cpu: cpu.clone(),
                memory: memory.clone(),
                cpuacct: v1_parent("cpuacct"),
            });
        }
        if let Some(v2) = mounts.iter().find(|m| m.kind == MountKind::V2) {
            return Layout::discover_v2(v2, system.own_path(None));
        }
        match (cpu, memory) {
            (Some(_), None) => Err(Unavailable::ControllerMissing {
                controller: "memory",
                detail: "cgroup v1 mounts only the `cpu` hierarchy and there is no cgroup v2 mount"
                    .into(),
            }),
            (None, Some(_)) => Err(Unavailable::ControllerMissing {
                controller: "cpu",
                detail:
                    "cgroup v1 mounts only the `memory` hierarchy and there is no cgroup v2 mount"
                        .into(),
            }),
            _ => Err(Unavailable::NoCgroupFs {
                detail: "/proc/self/mountinfo lists no cgroup or cgroup2 mount".into(),
            }),
        }
    }

    /// This process's own cgroup if the controllers are (or can be) enabled for its children,
    /// else the top of the mount.
    fn discover_v2(mount: &Mount, own: Option<&str>) -> Result<Layout, Unavailable> {
        let mut candidates = Vec::new();
        if let Some(dir) = own.and_then(|own| mount.dir_of(own)) {
            candidates.push(dir);
        }
        if !candidates.contains(&mount.point) {
            candidates.push(mount.point.clone());
        }
        let mut last_error = None;
        for parent in candidates {
            match enable_v2_controllers(&parent) {
                Ok(()) => return Ok(Layout::V2 { parent }),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("the mount point is always a candidate"))
    }
}

/// Makes sure children of `parent` get the `cpu` and `memory` controllers.
fn enable_v2_controllers(parent: &Path) -> Result<(), Unavailable> {
    let read = |name: &str| {
        let path = parent.join(name);
        fs::read_to_string(&path).map_err(|error| control_error(&path, error))
    };
    let has = |list: &str, controller: &str| list.split_whitespace().any(|c| c == controller);
    let available = read("cgroup.controllers")?;
    for controller in ["cpu", "memory"] {
        if !has(&available, controller) {
            return Err(Unavailable::ControllerMissing {
                controller,
                detail: format!(
                    "cgroup v2 lists `{}` in {}",
                    available.trim(),
                    parent.join("cgroup.controllers").display()
                ),
            });
        }
    }
    let enabled = read("cgroup.subtree_control")?;
    if has(&enabled, "cpu") && has(&enabled, "memory") {
        return Ok(());
    }
    let subtree = parent.join("cgroup.subtree_control");
    write_control(&subtree, "+cpu +memory").map_err(|error| match error {
        Unavailable::Io { path, error } if error.raw_os_error() == Some(libc::EBUSY) => {
            Unavailable::ControllerMissing {
                controller: "cpu",
                detail: format!(
                    "cannot enable `cpu` and `memory` in {}: the cgroup has processes of its own",
                    path.display()
                ),
            }
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory standing in for a cgroup mount; removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "coldstart-limits-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        /// Everything in the directory (recursively), relative.
        fn contents(&self) -> Vec<String> {
            fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
                for entry in fs::read_dir(dir).unwrap() {
                    let path = entry.unwrap().path();
                    out.push(path.strip_prefix(base).unwrap().display().to_string());
                    if path.is_dir() {
                        walk(&path, base, out);
                    }
                }
            }
            let mut out = Vec::new();
            walk(&self.0, &self.0, &mut out);
            out.sort();
            out
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn system(mountinfo: &str, own_cgroups: &str) -> System {
        System {
            mountinfo: mountinfo.to_owned(),
            own_cgroups: own_cgroups.to_owned(),
        }
    }

    const SIZE_128: LambdaSize = LambdaSize { memory_mb: 128 };

    #[test]
    fn cpu_share_and_quota_follow_lambdas_rule() {
        assert_eq!(LambdaSize { memory_mb: 1769 }.cpu_share(), 1.0);
        assert_eq!(SIZE_128.quota_us(), 7_236);
        assert_eq!(LambdaSize { memory_mb: 512 }.quota_us(), 28_943);
        assert_eq!(LambdaSize { memory_mb: 1769 }.quota_us(), 100_000);
        assert_eq!(LambdaSize { memory_mb: 10_240 }.quota_us(), 578_858);
        assert_eq!(LambdaSize { memory_mb: 20_000 }.cpu_share(), 6.0);
        assert_eq!(LambdaSize { memory_mb: 1 }.quota_us(), MIN_QUOTA_US);
        assert_eq!(SIZE_128.memory_bytes(), 134_217_728);
    }

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
    fn mountinfo_lines_parse_with_escapes_and_optional_fields() {
        let line = r"32 31 0:29 /docker/abc /sys/fs/my\040cgroup/cpu rw,relatime shared:9 master:2 - cgroup cgroup rw,cpu,cpuacct";
        assert_eq!(
            Mount::parse(line),
            Some(Mount {
                point: PathBuf::from("/sys/fs/my cgroup/cpu"),
                root: "/docker/abc".into(),
                kind: MountKind::V1 {
                    controllers: vec!["rw".into(), "cpu".into(), "cpuacct".into()]
                },
            })
        );
        let v2 = "41 31 0:38 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate";
        assert_eq!(Mount::parse(v2).unwrap().kind, MountKind::V2);
        assert_eq!(Mount::parse("22 1 0:21 / /proc rw - proc proc rw"), None);
        assert_eq!(Mount::parse("garbage"), None);
    }

    #[test]
    fn no_cgroup_mount_is_reported_plainly() {
        let info = "22 1 0:21 / /proc rw - proc proc rw\n23 1 8:1 / / rw - ext4 /dev/sda1 rw";
        let error = Sandbox::create_with(SIZE_128, &system(info, "0::/\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no cgroup file system is available (/proc/self/mountinfo lists no cgroup or cgroup2 mount)"
        );
    }

    #[test]
    fn a_v1_cpu_hierarchy_without_memory_is_reported() {
        let root = TempDir::new();
        let info = format!(
            "32 31 0:29 / {}/cpu rw - cgroup cgroup rw,cpu,cpuacct",
            root.0.display()
        );
        let error =
            Sandbox::create_with(SIZE_128, &system(&info, "1:cpu,cpuacct:/\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the cgroup `memory` controller is not available (cgroup v1 mounts only the `cpu` hierarchy and there is no cgroup v2 mount)"
        );
        assert!(root.contents().is_empty());
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
    fn cgroup_v2_without_the_memory_controller_is_reported() {
        let root = TempDir::new();
        fs::write(root.0.join("cgroup.controllers"), "cpuset cpu io pids\n").unwrap();
        fs::write(root.0.join("cgroup.subtree_control"), "").unwrap();
        let info = format!("41 31 0:38 / {} rw - cgroup2 cgroup2 rw", root.0.display());
        let error = Sandbox::create_with(SIZE_128, &system(&info, "0::/\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the cgroup `memory` controller is not available (cgroup v2 lists `cpuset cpu io pids` in {}/cgroup.controllers)",
                root.0.display()
            )
        );
        assert_eq!(
            root.contents(),
            ["cgroup.controllers", "cgroup.subtree_control"]
        );
    }

    #[test]
    fn a_cgroup2_mount_that_is_not_a_cgroup_fs_is_named() {
        let root = TempDir::new();
        let info = format!("41 31 0:38 / {} rw - cgroup2 cgroup2 rw", root.0.display());
        let error = Sandbox::create_with(SIZE_128, &system(&info, "0::/\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{} is not a cgroup file system: it has no cgroup.controllers",
                root.0.display()
            )
        );
        assert!(root.contents().is_empty());
    }

    #[test]
    fn v1_parents_nest_in_the_own_cgroup_when_visible() {
        let root = TempDir::new();
        fs::create_dir_all(root.0.join("memory/process_api/abc")).unwrap();
        fs::create_dir_all(root.0.join("cpu")).unwrap();
        fs::create_dir_all(root.0.join("cpuacct")).unwrap();
        let info = format!(
            "32 31 0:29 / {0}/cpu rw - cgroup cgroup rw,cpu\n33 31 0:30 / {0}/cpuacct rw - cgroup cgroup rw,cpuacct\n35 31 0:32 / {0}/memory rw - cgroup cgroup rw,memory",
            root.0.display()
        );
        // The cpu path is not visible under its mount: the mount point is used.
        let own = "4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/elsewhere\n0::/\n";
        assert_eq!(
            Layout::discover(&system(&info, own)).unwrap(),
            Layout::V1 {
                cpu: root.0.join("cpu"),
                memory: root.0.join("memory/process_api/abc"),
                cpuacct: Some(root.0.join("cpuacct")),
            }
        );
    }

    #[test]
    fn cgroup_v2_prefers_the_own_cgroup_and_falls_back_to_the_top() {
        let root = TempDir::new();
        fs::write(
            root.0.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        fs::write(root.0.join("cgroup.subtree_control"), "cpu memory\n").unwrap();
        let own = root.0.join("user.slice/session-1.scope");
        fs::create_dir_all(&own).unwrap();
        fs::write(own.join("cgroup.controllers"), "cpu memory\n").unwrap();
        let info = format!("41 31 0:38 / {} rw - cgroup2 cgroup2 rw", root.0.display());
        let system = system(&info, "0::/user.slice/session-1.scope\n");
        // The own cgroup cannot delegate (here: it has no cgroup.subtree_control): the top can.
        assert_eq!(
            Layout::discover(&system).unwrap(),
            Layout::V2 {
                parent: root.0.clone()
            }
        );
        fs::write(own.join("cgroup.subtree_control"), "memory cpu\n").unwrap();
        assert_eq!(
            Layout::discover(&system).unwrap(),
            Layout::V2 {
                parent: own.clone()
            }
        );

        // Creating there stops at the first control file a real cgroup would have, and cleans up.
        let error = Sandbox::create_with(SIZE_128, &system)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("{}/coldstart-", own.display())),
            "{error}"
        );
        assert!(
            error.ends_with(" is not a cgroup file system: it has no cpu.max"),
            "{error}"
        );
        assert_eq!(fs::read_dir(&own).unwrap().count(), 2);
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
