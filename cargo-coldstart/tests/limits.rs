//! The Lambda-size sandbox against the real cgroup file system.
//!
//! These tests need a writable cgroup file system (root). Where `Sandbox::create` is unavailable
//! they print why and pass, unless `COLDSTART_REQUIRE_CGROUPS=1` (set by `.ci/run`, which runs
//! as root) makes that a failure. The work inside a sandbox is done by this test binary itself,
//! re-executed with `COLDSTART_LIMITS_CHILD` naming the work: a test seeing that variable does
//! the work and returns.
#![allow(unsafe_code)] // CommandExt::pre_exec, the way the sandbox is meant to be entered.

use cargo_coldstart::limits::{remove_all_leftovers, LambdaSize, Sandbox};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use std::{env, fs, hint};

const CHILD: &str = "COLDSTART_LIMITS_CHILD";
const MIB: u64 = 1024 * 1024;
/// The CPU cost of the simulated INIT: 120 ms of one core.
const INIT_CPU: Duration = Duration::from_millis(120);

/// One test at a time: the timing tests want the machine to themselves, and
/// `remove_all_leftovers` removes every sandbox of this process.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A sandbox, or `None` (after saying why) where this machine cannot make one.
fn sandbox(memory_mb: u32) -> Option<Sandbox> {
    match Sandbox::create(LambdaSize { memory_mb }) {
        Ok(sandbox) => Some(sandbox),
        Err(reason) if env::var_os("COLDSTART_REQUIRE_CGROUPS").is_some_and(|v| v == "1") => {
            panic!("COLDSTART_REQUIRE_CGROUPS=1 but no sandbox: {reason}")
        }
        Err(reason) => {
            eprintln!("skipped: cgroup limits are unavailable here: {reason}");
            None
        }
    }
}

/// In a re-executed child: does the work named by `COLDSTART_LIMITS_CHILD` and returns true.
fn child_work() -> bool {
    let Ok(work) = env::var(CHILD) else {
        return false;
    };
    match work.split_once('=') {
        Some(("spin_ms", ms)) => spin(Duration::from_millis(ms.parse().unwrap())),
        Some(("touch_mib", mib)) => touch(mib.parse().unwrap()),
        _ => panic!("unknown {CHILD}={work}"),
    }
    true
}

/// Burns `cpu` of this thread's CPU time (not wall time): the known cost of a CPU-bound INIT.
fn spin(cpu: Duration) {
    let end = thread_cpu() + cpu;
    let mut x = 0u64;
    while thread_cpu() < end {
        for i in 0..50_000u64 {
            x = hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
        }
    }
    hint::black_box(x);
}

/// This thread's CPU time, from `/proc/thread-self/schedstat` (nanoseconds on the CPU).
fn thread_cpu() -> Duration {
    let stat = fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    Duration::from_nanos(stat.split_whitespace().next().unwrap().parse().unwrap())
}

/// Allocates `mib` MiB and touches every page, so all of it is resident.
fn touch(mib: u64) {
    let mut memory = vec![0u8; (mib * MIB) as usize];
    for page in memory.chunks_mut(4096) {
        page[0] = 1;
    }
    assert_eq!(
        hint::black_box(&memory).iter().step_by(4096).count() as u64,
        mib * 256
    );
}

/// This test binary, re-executed to run only `test` with `work` to do.
fn child(test: &str, work: &str) -> Command {
    let mut command = Command::new(env::current_exe().unwrap());
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, work)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn in_sandbox(mut command: Command, sandbox: &Sandbox) -> Command {
    // SAFETY: the hook only calls pwrite(2) on descriptors the sandbox opened before the fork.
    unsafe { command.pre_exec(sandbox.pre_exec_hook()) };
    command
}

/// Runs `command` to a successful exit: its wall time from spawn, and its CPU time (user and
/// system, all threads) from `wait4`, which reaps it.
#[allow(clippy::zombie_processes)] // reaped by wait4, not Child::wait
fn run_measured(mut command: Command) -> (Duration, Duration) {
    let start = Instant::now();
    let child = command.spawn().unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is this process's child, not reaped yet (`child` is never waited for);
    // both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let status = ExitStatus::from_raw(status);
    assert!(status.success(), "child failed: {status}");
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (wall, time(usage.ru_utime) + time(usage.ru_stime))
}

/// The cgroup directories `pid` is in that are named `coldstart-<this pid>-…`, from
/// `/proc/<pid>/cgroup` and the mounts (independently of the sandbox's own bookkeeping).
fn sandbox_dirs_of(pid: u32) -> Vec<PathBuf> {
    let ours = format!("/coldstart-{}-", std::process::id());
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut dirs = Vec::new();
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        if !path.contains(&ours) {
            continue;
        }
        let mount = mountinfo
            .lines()
            .find_map(|mount| {
                let (before, after) = mount.split_once(" - ")?;
                let before: Vec<&str> = before.split(' ').collect();
                let after: Vec<&str> = after.split(' ').collect();
                let matches = if controllers.is_empty() {
                    after[0] == "cgroup2"
                } else {
                    after[0] == "cgroup"
                        && controllers
                            .split(',')
                            .all(|c| after[2].split(',').any(|o| o == c))
                };
                matches.then(|| (before[3].to_owned(), before[4].to_owned()))
            })
            .unwrap();
        let (root, point) = mount;
        let relative = path.strip_prefix(root.trim_end_matches('/')).unwrap();
        dirs.push(Path::new(&point).join(relative.trim_start_matches('/')));
    }
    dirs
}

fn wait_killed(child: &mut Child) -> ExitStatus {
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the process was not killed: {status}"
    );
    status
}

#[test]
fn at_128_mb_a_cpu_bound_init_takes_1769_over_128_times_longer() {
    if child_work() {
        return;
    }
    let _serial = serial();
    let Some(sandbox) = sandbox(128) else { return };
    let name = "at_128_mb_a_cpu_bound_init_takes_1769_over_128_times_longer";
    let work = format!("spin_ms={}", INIT_CPU.as_millis());
    // Its cost on a free core is its CPU time: a CPU-bound INIT on an idle core takes as long
    // as it computes. The wall time of a run outside the sandbox equals that only where no
    // other process competes for the core, which a shared machine does not promise (the
    // limited run needs 7 % of a core and gets it either way), so the wall-time ratio is
    // asserted only when the free runs did have their core.
    let free: Vec<(Duration, Duration)> =
        (0..3).map(|_| run_measured(child(name, &work))).collect();
    let free_wall = free.iter().map(|&(wall, _)| wall).min().unwrap();
    let cost = free.iter().map(|&(_, cpu)| cpu).min().unwrap();
    assert!(
        cost >= INIT_CPU,
        "the child computed for {cost:?}, less than its {INIT_CPU:?} of work"
    );
    let limited = (0..2)
        .map(|_| run_measured(in_sandbox(child(name, &work), &sandbox)).0)
        .min()
        .unwrap();
    let expected = 1769.0 / 128.0;
    let ratio = limited.as_secs_f64() / cost.as_secs_f64();
    let wall_ratio = limited.as_secs_f64() / free_wall.as_secs_f64();
    let core_was_free = free_wall.as_secs_f64() <= cost.as_secs_f64() * 1.1;
    eprintln!(
        "INIT of {cost:?} CPU: {free_wall:?} outside, {limited:?} at 128 MB: {ratio:.2}x its cost, \
         {wall_ratio:.2}x the free wall time (expected {expected:.2}x ± 25 %; core free: {core_was_free})"
    );
    assert!(
        (ratio / expected - 1.0).abs() <= 0.25,
        "at 128 MB the INIT took {ratio:.2}x its cost on a free core, expected {expected:.2}x ± 25 % \
         (cost {cost:?}, limited {limited:?})"
    );
    if core_was_free {
        assert!(
            (wall_ratio / expected - 1.0).abs() <= 0.25,
            "at 128 MB the INIT took {wall_ratio:.2}x as long as outside, expected {expected:.2}x ± 25 % \
             (outside {free_wall:?}, limited {limited:?})"
        );
    }
    // Both limited runs were accounted to the sandbox.
    let cpu = sandbox.cpu_time().expect("cgroup CPU accounting");
    assert!(
        cpu >= INIT_CPU * 2,
        "{cpu:?} of CPU in the sandbox, expected at least {:?}",
        INIT_CPU * 2
    );
    assert!(
        cpu < limited * 2,
        "{cpu:?} of CPU in the sandbox, more than it could get in {limited:?} x 2"
    );
}

#[test]
fn at_1769_mb_a_cpu_bound_init_runs_at_full_speed() {
    if child_work() {
        return;
    }
    let _serial = serial();
    let Some(sandbox) = sandbox(1769) else { return };
    let name = "at_1769_mb_a_cpu_bound_init_runs_at_full_speed";
    let work = format!("spin_ms={}", INIT_CPU.as_millis());
    // Interleaved, so both see the same load. One vCPU never slows a single-threaded INIT,
    // so the two wall times match, but only when a core is idle: on a loaded machine both are
    // stretched by the load, unequally from run to run, and the comparison says nothing about
    // the quota. Then it is skipped, with the numbers.
    // The fastest of each: more pairs, up to 12, while the load hides the answer (a quota that
    // really slows the INIT keeps every limited run slow, so more pairs never hide it).
    let (mut free, mut limited, mut cost) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let (mut ratio, mut core_was_free) = (f64::INFINITY, false);
    for pair in 0..12 {
        let (wall, cpu) = run_measured(child(name, &work));
        (free, cost) = (free.min(wall), cost.min(cpu));
        limited = limited.min(run_measured(in_sandbox(child(name, &work), &sandbox)).0);
        ratio = limited.as_secs_f64() / free.as_secs_f64();
        core_was_free = free.as_secs_f64() <= cost.as_secs_f64() * 1.15;
        if pair >= 3 && core_was_free && (ratio - 1.0).abs() <= 0.25 {
            break;
        }
    }
    eprintln!(
        "INIT of {cost:?} CPU: {free:?} outside, {limited:?} at 1769 MB: {ratio:.2}x \
         (expected 1.00x ± 25 %; core free: {core_was_free})"
    );
    if !core_was_free {
        eprintln!("skipped the 1769 MB comparison: no idle core ({free:?} of wall time for {cost:?} of CPU)");
        return;
    }
    assert!(
        (ratio - 1.0).abs() <= 0.25,
        "at 1769 MB (one vCPU) the INIT took {ratio:.2}x as long as on a free core (free {free:?}, limited {limited:?})"
    );
}

#[test]
fn at_128_mb_touching_more_than_128_mib_is_killed_and_64_mib_is_fine() {
    if child_work() {
        return;
    }
    let _serial = serial();
    let Some(sandbox) = sandbox(128) else { return };
    let name = "at_128_mb_touching_more_than_128_mib_is_killed_and_64_mib_is_fine";
    let fits = in_sandbox(child(name, "touch_mib=64"), &sandbox)
        .status()
        .unwrap();
    assert!(fits.success(), "64 MiB in a 128 MB sandbox failed: {fits}");
    let peak = sandbox.memory_peak_bytes().expect("cgroup memory peak");
    assert!(peak >= 64 * MIB, "peak {peak} B after touching 64 MiB");

    let too_much = in_sandbox(child(name, "touch_mib=200"), &sandbox)
        .status()
        .unwrap();
    assert_eq!(
        too_much.signal(),
        Some(9),
        "200 MiB in a 128 MB sandbox was not OOM-killed: {too_much}"
    );
    let peak = sandbox.memory_peak_bytes().unwrap();
    assert!(peak <= 128 * MIB, "peak {peak} B above the 128 MiB limit");
    // The same work outside the sandbox succeeds: it was the limit, not the work.
    let free = child(name, "touch_mib=200").status().unwrap();
    assert!(free.success(), "200 MiB outside the sandbox failed: {free}");
}

#[test]
fn drop_kills_what_runs_inside_and_removes_the_cgroup() {
    if child_work() {
        return;
    }
    let _serial = serial();
    let Some(sandbox) = sandbox(256) else { return };
    let mut sleeper = in_sandbox(Command::new("sleep"), &sandbox)
        .arg("60")
        .spawn()
        .unwrap();
    let dirs = sandbox_dirs_of(sleeper.id());
    // cgroup v1 here: cpu, memory (and cpuacct when mounted apart); v2: one.
    assert!(!dirs.is_empty(), "the sleeper is in no sandbox cgroup");
    for dir in &dirs {
        assert!(dir.is_dir(), "{} missing", dir.display());
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert_eq!(procs.trim(), sleeper.id().to_string(), "{}", dir.display());
    }
    drop(sandbox);
    wait_killed(&mut sleeper);
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn add_process_moves_a_running_process_into_every_hierarchy() {
    if child_work() {
        return;
    }
    let _serial = serial();
    let Some(sandbox) = sandbox(512) else { return };
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    assert!(sandbox_dirs_of(sleeper.id()).is_empty());
    sandbox.add_process(sleeper.id()).unwrap();
    let dirs = sandbox_dirs_of(sleeper.id());
    let cgroups = fs::read_to_string(format!("/proc/{}/cgroup", sleeper.id())).unwrap();
    for line in cgroups.lines() {
        let controllers = line.split(':').nth(1).unwrap();
        let needed = controllers.is_empty() && cgroups.lines().count() == 1
            || controllers.split(',').any(|c| c == "cpu" || c == "memory");
        if needed {
            assert!(
                line.contains(&format!("/coldstart-{}-", std::process::id())),
                "{line}"
            );
        }
    }
    // A pid that does not exist is an error, not a silent no-op.
    let error = sandbox.add_process(u32::MAX / 2).unwrap_err();
    assert!(error.raw_os_error().is_some(), "{error}");
    drop(sandbox);
    wait_killed(&mut sleeper);
    assert!(dirs.iter().all(|dir| !dir.exists()));
}

#[test]
fn remove_all_leftovers_removes_every_sandbox_of_this_process() {
    if child_work() {
        return;
    }
    let _serial = serial();
    let (Some(first), Some(second)) = (sandbox(128), sandbox(3008)) else {
        return;
    };
    let mut sleepers: Vec<Child> = [&first, &second]
        .iter()
        .map(|sandbox| {
            in_sandbox(Command::new("sleep"), sandbox)
                .arg("60")
                .spawn()
                .unwrap()
        })
        .collect();
    let dirs: Vec<PathBuf> = sleepers
        .iter()
        .flat_map(|s| sandbox_dirs_of(s.id()))
        .collect();
    assert!(
        dirs.len() >= 2 && dirs.iter().all(|dir| dir.is_dir()),
        "{dirs:?}"
    );

    remove_all_leftovers();
    for sleeper in &mut sleepers {
        wait_killed(sleeper);
    }
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
        // Nothing else of this process's beside it either.
        let ours = format!("coldstart-{}-", std::process::id());
        let siblings = fs::read_dir(dir.parent().unwrap()).unwrap();
        let left: Vec<_> = siblings
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&ours))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
    // Dropping them afterwards finds nothing to do.
    drop((first, second));
}

#[test]
fn a_sandbox_can_be_entered_by_many_processes_and_reports_their_cpu() {
    if child_work() {
        return;
    }
    let _serial = serial();
    let Some(sandbox) = sandbox(3538) else { return };
    let name = "a_sandbox_can_be_entered_by_many_processes_and_reports_their_cpu";
    assert!(sandbox.cpu_time().is_some_and(|cpu| cpu.is_zero()));
    let hook_command = || in_sandbox(child(name, "spin_ms=30"), &sandbox);
    let mut children: Vec<Child> = (0..3).map(|_| hook_command().spawn().unwrap()).collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    let cpu = sandbox.cpu_time().unwrap();
    assert!(
        cpu >= Duration::from_millis(90),
        "{cpu:?} of CPU for 3 x 30 ms of work"
    );
}
