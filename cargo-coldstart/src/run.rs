//! One cold run: a fresh local Runtime API, the function spawned with Lambda's environment in a
//! process group of its own, the tool's clock from exec, and the process killed at the end.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use coldstart_local::{LocalEvent, LocalRuntimeApi};
use serde_json::Value;

use crate::children;
use crate::cpu_model::{CpuChoice, CpuModel};
use crate::limits::Sandbox;
use crate::report::{Report, REPORT_PREFIX};

/// How long the function may take, after its last response, to ask for its next event (the
/// report line is printed before that).
const AFTER_RESPONSE_GRACE: Duration = Duration::from_secs(2);
/// How much of the function's stderr a run keeps.
const STDERR_TAIL_BYTES: usize = 2048;
/// How often the tool looks at the API and the process while waiting.
const POLL: Duration = Duration::from_micros(100);

/// `AWS_LAMBDA_INITIALIZATION_TYPE` for the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitType {
    /// `on-demand` (a request waits for INIT).
    #[default]
    OnDemand,
    /// `provisioned-concurrency`.
    ProvisionedConcurrency,
    /// `snap-start`.
    SnapStart,
}

impl InitType {
    /// The value Lambda sets.
    ///
    /// ```
    /// assert_eq!(cargo_coldstart::run::InitType::SnapStart.as_str(), "snap-start");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            InitType::OnDemand => "on-demand",
            InitType::ProvisionedConcurrency => "provisioned-concurrency",
            InitType::SnapStart => "snap-start",
        }
    }

    /// Whether Lambda bills an INIT of this type as duration (GB-seconds): on-demand INIT is
    /// (always for custom runtimes such as Rust's, for every on-demand function since
    /// 1 August 2025); provisioned concurrency and SnapStart pay for INIT otherwise (the
    /// provisioned or cached capacity). The same rule as `coldstart::report::InitBilling`.
    ///
    /// ```
    /// use cargo_coldstart::run::InitType;
    /// assert!(InitType::OnDemand.init_billed_as_duration());
    /// assert!(!InitType::ProvisionedConcurrency.init_billed_as_duration());
    /// ```
    pub fn init_billed_as_duration(self) -> bool {
        matches!(self, InitType::OnDemand)
    }
}

/// What one cold run starts and serves.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The function binary.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables (after Lambda's).
    pub env: Vec<(String, String)>,
    /// The events, served in order to the process (at least one).
    pub events: Vec<Value>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub memory_mb: u32,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`.
    pub init_type: InitType,
    /// Time between the first `/next` and the first event (proactive init).
    pub delay_first_event: Duration,
    /// The whole run's limit, from exec.
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// The CPU model of a limited run: INIT gets its share of the sandbox's CPU, then the quota
    /// changes to the invocations' share at the first `/next` (and a run without limits is
    /// projected with it). `None`: the sandbox's proportional quota throughout, as
    /// [`LambdaSize`](crate::limits::LambdaSize) sets it.
    pub cpu: Option<CpuChoice>,
}

impl RunConfig {
    /// A run of `program` with one `{}` event, 128 MB, on-demand, 10 s timeout.
    ///
    /// ```
    /// let config = cargo_coldstart::run::RunConfig::new("target/release/my-function");
    /// assert_eq!(config.memory_mb, 128);
    /// ```
    pub fn new(program: impl Into<PathBuf>) -> RunConfig {
        let program = program.into();
        let function_name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into());
        RunConfig {
            program,
            args: Vec::new(),
            env: Vec::new(),
            events: vec![Value::Object(Default::default())],
            memory_mb: 128,
            init_type: InitType::OnDemand,
            delay_first_event: Duration::ZERO,
            timeout: Duration::from_secs(10),
            function_name,
            cpu: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every event was answered with a response.
    Ok,
    /// The binary could not be started.
    SpawnFailed(String),
    /// The process exited before asking for an event.
    ExitedInInit(String),
    /// The process posted to `/runtime/init/error`.
    InitError {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// The timeout passed before the process asked for an event.
    NeverAskedForEvent,
    /// The process exited after asking for an event, before answering them all.
    ExitedInInvocation(String),
    /// The timeout passed while events were unanswered.
    TimedOutInInvocation,
    /// An event was answered with an error.
    InvocationError {
        /// `errorType`.
        error_type: String,
    },
}

impl Outcome {
    /// Whether the run succeeded.
    ///
    /// ```
    /// assert!(cargo_coldstart::run::Outcome::Ok.is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        *self == Outcome::Ok
    }

    /// A short machine-readable name (`ok`, `exited_in_init`, …).
    ///
    /// ```
    /// assert_eq!(cargo_coldstart::run::Outcome::NeverAskedForEvent.kind(), "never_asked_for_event");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::SpawnFailed(_) => "spawn_failed",
            Outcome::ExitedInInit(_) => "exited_in_init",
            Outcome::InitError { .. } => "init_error",
            Outcome::NeverAskedForEvent => "never_asked_for_event",
            Outcome::ExitedInInvocation(_) => "exited_in_invocation",
            Outcome::TimedOutInInvocation => "timed_out_in_invocation",
            Outcome::InvocationError { .. } => "invocation_error",
        }
    }

    /// What happened, as a sentence fragment.
    ///
    /// ```
    /// let o = cargo_coldstart::run::Outcome::ExitedInInit("exit status: 3".into());
    /// assert_eq!(o.describe(), "exited during INIT (exit status: 3)");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::SpawnFailed(e) => format!("could not be started: {e}"),
            Outcome::ExitedInInit(s) => format!("exited during INIT ({s})"),
            Outcome::InitError {
                error_type,
                message,
            } => format!("posted an init error: {error_type}: {message}"),
            Outcome::NeverAskedForEvent => {
                "never asked for an event (no /next before the timeout)".into()
            }
            Outcome::ExitedInInvocation(s) => {
                format!("exited before answering its events ({s})")
            }
            Outcome::TimedOutInInvocation => "did not answer its events before the timeout".into(),
            Outcome::InvocationError { error_type } => {
                format!("answered an event with an error: {error_type}")
            }
        }
    }
}

/// What one cold run measured. `None` is a measurement this run could not make, never zero.
#[derive(Debug, Clone)]
pub struct ColdRun {
    /// How the run ended.
    pub outcome: Outcome,
    /// The process id the function had.
    pub pid: Option<u32>,
    /// exec → the first `/next` request reached the API (the function's INIT).
    pub to_first_next: Option<Duration>,
    /// exec → the API had received the first response (what a cold request waits for).
    pub to_first_response: Option<Duration>,
    /// CPU time (user + system) the process had used when its first `/next` arrived.
    pub init_cpu: Option<Duration>,
    /// Peak resident set size (`VmHWM`) at the end of the run.
    pub peak_rss_bytes: Option<u64>,
    /// The coldstart report line, if the function printed one.
    pub report: Option<Report>,
    /// The last bytes of the function's stderr.
    pub stderr_tail: String,
    /// The CPU model the run was limited (or is projected) with, from [`RunConfig::cpu`].
    pub cpu_model: Option<CpuModel>,
}

/// Starts `config.program` cold once and measures it. Never hangs past `config.timeout` (plus
/// a short grace after the last response) and never leaves the process behind.
///
/// ```no_run
/// use cargo_coldstart::run::{run_cold, RunConfig};
/// let run = run_cold(&RunConfig::new("target/release/my-function"), None);
/// println!("{:?} {:?}", run.outcome, run.to_first_response);
/// ```
pub fn run_cold(config: &RunConfig, sandbox: Option<&Sandbox>) -> ColdRun {
    let mut run = ColdRun {
        outcome: Outcome::Ok,
        pid: None,
        to_first_next: None,
        to_first_response: None,
        init_cpu: None,
        peak_rss_bytes: None,
        report: None,
        stderr_tail: String::new(),
        cpu_model: config
            .cpu
            .as_ref()
            .map(|choice| choice.model(config.memory_mb, config.init_type)),
    };
    let api = match LocalRuntimeApi::builder()
        .function_name(config.function_name.clone())
        .memory_mb(config.memory_mb)
        .default_deadline(config.timeout)
        .start()
    {
        Ok(api) => api,
        Err(e) => {
            run.outcome = Outcome::SpawnFailed(format!("local Runtime API: {e}"));
            return run;
        }
    };
    // stdout and stderr go to unlinked temporary files, read after the run: no reader thread
    // competes with the function's start-up, and no full pipe can block it.
    let (stdout, stderr) = match (capture_file("stdout"), capture_file("stderr")) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => {
            run.outcome = Outcome::SpawnFailed(format!("temporary file for the output: {e}"));
            return run;
        }
    };
    let mut command = Command::new(&config.program);
    command
        .args(&config.args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(api.env())
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", config.init_type.as_str())
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .process_group(0);
    match (stdout.try_clone(), stderr.try_clone()) {
        (Ok(out), Ok(err)) => {
            command.stdout(out).stderr(err);
        }
        (Err(e), _) | (_, Err(e)) => {
            run.outcome = Outcome::SpawnFailed(format!("temporary file for the output: {e}"));
            return run;
        }
    }
    if let Some(sandbox) = sandbox {
        let hook = sandbox.pre_exec_hook();
        #[allow(unsafe_code)]
        // SAFETY: the hook (limits.rs) only writes its own pid to a cgroup file with
        // async-signal-safe calls, as `pre_exec` requires between fork and exec.
        unsafe {
            command.pre_exec(hook);
        }
    }
    // INIT's share of the CPU, until the first `/next` (the sandbox serves all runs of a size:
    // each run starts with INIT's share).
    if let (Some(sandbox), Some(model)) = (sandbox, &run.cpu_model) {
        if let Err(e) = sandbox.set_cpu_share(model.init.vcpus) {
            run.outcome = Outcome::SpawnFailed(format!("INIT's CPU quota: {e}"));
            return run;
        }
    }
    // A size's sandbox serves all its runs: its CPU counter is cumulative, so each run reads
    // the difference.
    let cpu_before = sandbox.and_then(Sandbox::cpu_time);
    let exec = Instant::now();
    let mut child = match children::spawn(&mut command) {
        Ok(child) => child,
        Err(e) => {
            run.outcome = Outcome::SpawnFailed(format!("{}: {e}", config.program.display()));
            return run;
        }
    };
    // The parent's copies of the files' descriptors went into `command`; drop them so only
    // the child holds them.
    drop(command);
    let pid = child.id();
    run.pid = Some(pid);
    if let Some(sandbox) = sandbox {
        // Already in the cgroup through the pre-exec hook; this write is idempotent and covers
        // a hook that could not move it.
        let _ = sandbox.add_process(pid);
    }
    let deadline = exec + config.timeout;

    measure(
        config,
        &api,
        &mut child,
        exec,
        deadline,
        sandbox.zip(cpu_before),
        &mut run,
    );

    // The end of every run, whatever happened: the whole group goes.
    children::kill_group(pid);
    let _ = child.kill();
    let _ = child.wait();
    children::unregister(pid);
    run.stderr_tail = tail(stderr, STDERR_TAIL_BYTES);
    run.report = report_line(stdout);
    run
}

/// An unlinked temporary file for a child's output.
fn capture_file(name: &str) -> std::io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "cargo-coldstart-{}-{}-{name}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// The last `bytes` bytes of a captured output, as text.
fn tail(mut file: File, bytes: usize) -> String {
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return String::new();
    };
    let start = len.saturating_sub(bytes as u64);
    let mut buf = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The first coldstart report line of a captured stdout.
fn report_line(mut file: File) -> Option<Report> {
    file.seek(SeekFrom::Start(0)).ok()?;
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with(REPORT_PREFIX))
        .and_then(|line| Report::parse(&line))
}

fn measure(
    config: &RunConfig,
    api: &LocalRuntimeApi,
    child: &mut Child,
    exec: Instant,
    deadline: Instant,
    sandbox: Option<(&Sandbox, Duration)>,
    run: &mut ColdRun,
) {
    let pid = child.id();
    // INIT: until the first `/next`, an init error, an exit, or the timeout.
    let mut polls = 0u32;
    let next_seen = loop {
        polls = polls.wrapping_add(1);
        if api.pending_next_requests() > 0 {
            let seen = Instant::now();
            run.init_cpu = sandbox
                .and_then(|(sandbox, before)| Some(sandbox.cpu_time()?.saturating_sub(before)))
                .or_else(|| process_cpu_time(pid));
            // INIT is over: from here on the invocations' share.
            if let (Some((sandbox, _)), Some(model)) = (sandbox, &run.cpu_model) {
                if model.invoke.vcpus != model.init.vcpus {
                    if let Err(e) = sandbox.set_cpu_share(model.invoke.vcpus) {
                        run.outcome =
                            Outcome::SpawnFailed(format!("the invocations' CPU quota: {e}"));
                        return;
                    }
                }
            }
            break seen;
        }
        // An init error and an exit are rarer: looked for every millisecond.
        if polls % 10 != 0 {
            std::thread::sleep(POLL);
            continue;
        }
        if let Some(outcome) = init_error(api) {
            run.outcome = outcome;
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            run.outcome = init_error(api).unwrap_or(Outcome::ExitedInInit(describe(status)));
            return;
        }
        if Instant::now() >= deadline {
            run.outcome = Outcome::NeverAskedForEvent;
            run.init_cpu = process_cpu_time(pid);
            run.peak_rss_bytes = peak_rss(pid);
            return;
        }
        std::thread::sleep(POLL);
    };
    if !config.delay_first_event.is_zero() {
        std::thread::sleep(config.delay_first_event);
    }
    let events = if config.events.is_empty() {
        vec![Value::Object(Default::default())]
    } else {
        config.events.clone()
    };
    for event in &events {
        api.push(LocalEvent::json(event));
    }
    // Invocations: until every event is answered, the process exits, or the timeout.
    let results = loop {
        let results = api.results();
        if results.len() >= events.len() {
            break results;
        }
        if let Ok(Some(status)) = child.try_wait() {
            run.outcome = Outcome::ExitedInInvocation(describe(status));
            break api.results();
        }
        if Instant::now() >= deadline {
            run.outcome = Outcome::TimedOutInInvocation;
            break results;
        }
        std::thread::sleep(POLL);
    };
    run.to_first_next = Some(
        results
            .first()
            .map_or(next_seen, |first| first.next_requested_at)
            .saturating_duration_since(exec),
    );
    if let Some(first) = results.first() {
        if !first.is_error() {
            run.to_first_response = Some(first.completed_at.saturating_duration_since(exec));
        }
    }
    if let Some(error) = results.iter().find(|r| r.is_error()) {
        if run.outcome.is_ok() {
            run.outcome = Outcome::InvocationError {
                error_type: error.error_type().unwrap_or("Unknown").to_owned(),
            };
        }
    }
    if run.outcome.is_ok() {
        // After the last response the function prints its report, then asks for the next event.
        let grace = (Instant::now() + AFTER_RESPONSE_GRACE).min(deadline.max(Instant::now()));
        while api.pending_next_requests() == 0 && Instant::now() < grace {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(POLL);
        }
    }
    run.peak_rss_bytes = peak_rss(pid);
}

fn init_error(api: &LocalRuntimeApi) -> Option<Outcome> {
    api.init_errors()
        .into_iter()
        .next()
        .map(|e| Outcome::InitError {
            error_type: e.error_type,
            message: e.error_message,
        })
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// CPU time of every thread of `pid`, in nanoseconds from `/proc/PID/task/*/schedstat`
/// (falls back to the clock-tick `utime + stime` of `/proc/PID/stat`).
fn process_cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    let mut any = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            if let Some(ns) = text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            {
                total += ns;
                any = true;
            }
        }
    }
    if any {
        return Some(Duration::from_nanos(total));
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    #[allow(unsafe_code)]
    // SAFETY: sysconf reads a constant of the system; no memory is shared.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|t| *t > 0)?;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / per_second))
}

/// Peak RSS: `VmHWM` of `/proc/PID/status` (the process's own; a size's cgroup serves all its
/// runs, so its peak is not one run's).
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
