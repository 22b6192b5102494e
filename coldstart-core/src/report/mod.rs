//! The cold-start report: once per execution environment, after its first real invocation, what
//! kind of start it was, how long every phase took, which lazy static cost what and where it ran,
//! memory against the configured size, and whether the start stayed within its budget.
//!
//! It is printed as **one JSON line** on stdout (so CloudWatch Logs Insights can query it:
//! `filter ispresent(coldstart_report)`), available as a value ([`cold_start_report`]), and
//! readable as a table (its `Display`, which the quickstart prints). Turn the line off with
//! `COLDSTART_REPORT=off` in the function's environment, or
//! `coldstart::lambda::Coldstart::print_report(false)`; the value is there either way.
//!
//! Building and printing it takes a fraction of a millisecond (it reads `/proc`, walks the lazy
//! registry and writes one line). With `coldstart::lambda::run` that happens right after the first
//! real invocation's response is posted (before the runtime asks for the next event), so no
//! request waits for it; with the handler attribute alone there is no such moment, and it happens
//! at the end of the first invocation, after its metrics and a memory sample. Every later
//! invocation pays one atomic load.
//!
//! ```
//! use coldstart::cold_start_report;
//!
//! #[coldstart::cold_start_handler(name = "api")]
//! fn handler(event: u32) -> u32 {
//!     event
//! }
//!
//! handler(1); // prints the JSON line
//! let report = cold_start_report().unwrap();
//! assert_eq!(report.start_kind.as_str(), "cold");
//! assert!(report.to_json().contains(r#""handler":"api""#));
//! println!("{report}");
//! ```

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::environment::Environment;
use crate::invocation::{self, FirstRealInvocation, Outcome, StartKind};
use crate::lazy::{self, During, LazyInfo};
use crate::memory::{self, MemoryUsage};
use crate::named_phases::{self, PhaseRun};
use crate::phases::{self, StartSource};

mod cost;
mod json;
mod table;

#[cfg(feature = "lambda")]
pub(crate) use self::cost::set_price_per_gb_second;
pub use self::cost::{Cost, CostError, InitBilling};
pub use crate::billing::Billed;

/// Everything known about this environment's start, after its first real invocation.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ColdStartReport {
    /// The environment (function name, version, memory size, region, log stream, init type).
    pub environment: Environment,
    /// The handler that served the first real invocation.
    pub handler: &'static str,
    /// The start kind of the first real invocation ([`StartKind::Warm`] when a warm-up ping
    /// came first and took the environment's coldness).
    pub start_kind: StartKind,
    /// `true` when the environment's first event was a warm-up ping.
    pub warmed_by_ping: bool,
    /// `true` when the environment's first event was a payload rejected before it reached the
    /// handler (its request took the cold start; see
    /// [`FirstInvocation::rejected`](crate::invocation::FirstInvocation::rejected)).
    pub first_event_rejected: bool,
    /// `Some` when this process is a re-init: Lambda restarted the runtime inside this
    /// environment after the previous process ended (a timeout, a crash, out of memory), and
    /// this INIT ran during the request that waited for it. See [`crate::reinit`].
    pub reinit: Option<crate::reinit::ReinitCause>,
    /// How the first real invocation ended.
    pub outcome: Outcome,
    /// Where the process start instant came from.
    pub process_start_source: StartSource,
    /// Process start to init end, when init end was marked.
    pub init: Option<Duration>,
    /// Init end to the arrival of the first event, when init end was marked.
    pub wait_for_first_event: Option<Duration>,
    /// The first event's arrival to the start of the handler (reading the event, deserializing
    /// it), when the first real invocation was the environment's first event and its arrival was
    /// noted (`coldstart::lambda::run`).
    pub event_to_handler: Option<Duration>,
    /// Process start to the start of the environment's first invocation (its first event: a
    /// warm-up ping or a rejected payload too), as `coldstart.phase_duration{phase="to_first_invocation"}`
    /// measures it.
    pub to_first_invocation: Duration,
    /// The first real invocation's own duration.
    pub first_invocation: Duration,
    /// For a user-facing cold start: process start to the end of the first invocation.
    pub user_facing: Option<Duration>,
    /// Every lazy static, most expensive first.
    pub lazies: Vec<LazyInfo>,
    /// The start-up timeline: every run of a [named phase](crate::named_phases) (the first
    /// [`KEPT_RUNS`](named_phases::KEPT_RUNS)) and every lazy static's last initialization, in
    /// the order they started. Work that ran concurrently overlaps here as it did.
    pub timeline: Vec<TimelineEntry>,
    /// Memory after the first invocation, if `/proc` could be read.
    pub memory: Option<MemoryUsage>,
    /// The CPU time INIT and the first invocation used, against their wall time: the share of a
    /// vCPU each actually got (see [`CpuUse`]). `None` where CPU time cannot be read.
    pub cpu: Option<CpuUse>,
    /// The cold-start budget and its verdict, when a budget applies to a user-facing cold start.
    pub budget: Option<Budget>,
    /// What INIT and the first real invocation cost in GB-seconds (see [`Cost`]), or why that
    /// cannot be said (the memory size variable missing or unreadable).
    pub cost: Result<Cost, CostError>,
}

/// The CPU time (user + system, every thread) INIT and the first real invocation used, and the
/// wall time each took: on Lambda, `cpu / wall` is the share of a vCPU the phase got (about
/// `memory_mb / 1769` when the platform throttles it in proportion to memory, up to the number of
/// vCPUs when it does not). Read with one `getrusage` at each end (see [`crate::cpu`]).
///
/// In the JSON line: `"cpu":{"init_ms":…,"init_wall_ms":…,"init_share":…,
/// "first_invocation_ms":…,"first_invocation_wall_ms":…,"first_invocation_share":…}`, `null`
/// where CPU time cannot be read; `cargo coldstart profile --calibrate` fits its CPU model from
/// these.
///
/// ```
/// #[coldstart::cold_start_handler]
/// fn handler(event: u32) -> u32 {
///     event
/// }
///
/// // INIT work that keeps the CPU busy.
/// let start = std::time::Instant::now();
/// while start.elapsed() < std::time::Duration::from_millis(20) {
///     std::hint::black_box(start.elapsed());
/// }
/// coldstart::mark_init_end();
/// handler(1);
/// let report = coldstart::cold_start_report().unwrap();
/// # #[cfg(unix)]
/// # {
/// let cpu = report.cpu.unwrap();
/// assert!(cpu.init > std::time::Duration::ZERO);
/// assert!(cpu.init_share().unwrap() > 0.0);
/// assert!(report.to_json().contains(r#""cpu":{"init_ms":"#));
/// println!("INIT got {:.2} vCPU", cpu.init_share().unwrap());
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuUse {
    /// CPU time from `exec` to INIT end (to the first invocation's start when init end was not
    /// marked).
    pub init: Duration,
    /// The wall time of the same span: [`ColdStartReport::init`], else
    /// [`ColdStartReport::to_first_invocation`].
    pub init_wall: Duration,
    /// CPU time from INIT end to the end of the first real invocation (the event's
    /// deserialization included); `None` when that invocation was not the environment's first
    /// event (a warm-up ping or a rejected payload came first, whose work would be mixed in).
    pub first_invocation: Option<Duration>,
    /// The wall time of the same span, from the first event's arrival (its start, when the
    /// arrival was not noted or init end was not marked) to the invocation's end.
    pub first_invocation_wall: Option<Duration>,
}

impl CpuUse {
    /// The share of a vCPU INIT got: CPU time over wall time (`None` for a zero wall time).
    ///
    /// ```
    /// # use coldstart::report::CpuUse;
    /// # fn shares(cpu: CpuUse) {
    /// if let Some(share) = cpu.init_share() {
    ///     println!("INIT ran at {share:.2} vCPU");
    /// }
    /// # }
    /// ```
    pub fn init_share(&self) -> Option<f64> {
        share(self.init, self.init_wall)
    }

    /// The share of a vCPU the first invocation got (`None` when unknown or for a zero wall
    /// time).
    ///
    /// ```
    /// # use coldstart::report::CpuUse;
    /// # fn shares(cpu: CpuUse) {
    /// if let Some(share) = cpu.first_invocation_share() {
    ///     println!("the first invocation ran at {share:.2} vCPU");
    /// }
    /// # }
    /// ```
    pub fn first_invocation_share(&self) -> Option<f64> {
        share(self.first_invocation?, self.first_invocation_wall?)
    }
}

fn share(cpu: Duration, wall: Duration) -> Option<f64> {
    (!wall.is_zero()).then(|| cpu.as_secs_f64() / wall.as_secs_f64())
}

/// What a [`TimelineEntry`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimelineKind {
    /// A run of a [named phase](crate::named_phases).
    Phase,
    /// A lazy static's last finished initialization.
    Lazy,
}

impl TimelineKind {
    /// `phase` or `lazy`, as the JSON line writes it.
    ///
    /// ```
    /// assert_eq!(coldstart::report::TimelineKind::Phase.as_str(), "phase");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Phase => "phase",
            TimelineKind::Lazy => "lazy",
        }
    }
}

/// One row of the start-up timeline: where some work started and what it cost.
///
/// ```
/// use coldstart::report::{TimelineEntry, TimelineKind};
///
/// #[coldstart::cold_start_handler]
/// fn handler(event: u32) -> u32 {
///     event
/// }
///
/// coldstart::phase("load config", || ());
/// handler(1);
/// let report = coldstart::cold_start_report().unwrap();
/// let entry: &TimelineEntry = &report.timeline[0];
/// assert_eq!((entry.kind, entry.name), (TimelineKind::Phase, "load config"));
/// assert!(entry.duration.is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimelineEntry {
    /// A named phase or a lazy static.
    pub kind: TimelineKind,
    /// The phase's or the static's name.
    pub name: &'static str,
    /// When it started, since [`process_start`](crate::phases::process_start).
    pub started: Duration,
    /// How many phases and lazy initializers enclosed it on its thread (0: none).
    pub depth: u32,
    /// Where it ran: [`During::Init`] before any invocation, otherwise after INIT (see
    /// [`During`]).
    pub during: During,
    /// Its exclusive duration (nested phases and lazy statics subtracted); `None` for a phase
    /// still open (running, or a leaked guard).
    pub duration: Option<Duration>,
    /// Its inclusive duration; `None` for a phase still open.
    pub inclusive: Option<Duration>,
    /// How a phase's run ended; `None` while open, and for a lazy static (its state is in
    /// [`ColdStartReport::lazies`]).
    pub outcome: Option<Outcome>,
}

impl TimelineEntry {
    fn phase(run: PhaseRun) -> TimelineEntry {
        TimelineEntry {
            kind: TimelineKind::Phase,
            name: run.name,
            started: run.started,
            depth: run.depth,
            during: run.during,
            duration: run.duration,
            inclusive: run.inclusive,
            outcome: run.outcome,
        }
    }

    fn lazy(info: &LazyInfo) -> Option<TimelineEntry> {
        Some(TimelineEntry {
            kind: TimelineKind::Lazy,
            name: info.name,
            started: info.started?,
            depth: info.depth,
            during: info.during?,
            duration: info.duration,
            inclusive: info.inclusive,
            outcome: None,
        })
    }
}

/// Every named phase's run and every lazy static's last initialization, in the order they
/// started (an enclosing one before what it encloses).
fn timeline(lazies: &[LazyInfo]) -> Vec<TimelineEntry> {
    // Two plain loops rather than one `collect` of a chained iterator: the same entries, in a
    // fraction of the code.
    let runs = named_phases::runs();
    let mut entries: Vec<TimelineEntry> = Vec::with_capacity(runs.len() + lazies.len());
    for run in runs {
        entries.push(TimelineEntry::phase(run));
    }
    for info in lazies {
        if let Some(entry) = TimelineEntry::lazy(info) {
            entries.push(entry);
        }
    }
    crate::sort::sort_by(&mut entries, |a, b| {
        (a.started, a.depth, a.name) < (b.started, b.depth, b.name)
    });
    entries
}

/// A cold-start budget and how a user-facing cold start measured up.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Budget {
    /// The budget.
    pub budget: Duration,
    /// The user-facing cold start it is compared with.
    pub took: Duration,
    /// By how much it was exceeded; `None` when within budget.
    pub exceeded_by: Option<Duration>,
    /// What the time went to, largest first: the phases, and the lazy statics and named phases a
    /// request or INIT paid for (their time is part of the built-in phase they ran in).
    pub dominant: Vec<(String, Duration)>,
}

const DEFAULT: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;
static ENABLED: AtomicU8 = AtomicU8::new(DEFAULT);

/// Turns the report line on or off for this process (`Coldstart::print_report`; default: on,
/// unless the environment variable `COLDSTART_REPORT` is `off`, `0` or `false`).
#[cfg(feature = "lambda")]
pub(crate) fn set_enabled(enabled: bool) {
    ENABLED.store(if enabled { ON } else { OFF }, Ordering::Relaxed);
}

/// Whether the report line will be printed.
fn is_enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => !matches!(
            std::env::var("COLDSTART_REPORT").as_deref().map(str::trim),
            Ok("off" | "0" | "false" | "OFF" | "False" | "FALSE")
        ),
    }
}

/// The report, once the first real invocation of the process has finished.
///
/// ```
/// assert!(coldstart::cold_start_report().is_none()); // no invocation yet
/// ```
pub fn cold_start_report() -> Option<ColdStartReport> {
    build(memory::current())
}

fn build(memory: Option<MemoryUsage>) -> Option<ColdStartReport> {
    let first = FirstRealInvocation::get()?;
    let (process_start, process_start_source) = phases::process_start();
    let environment = Environment::current().clone();
    let init_end = phases::init_end();
    let init = init_end.map(|end| end.saturating_duration_since(process_start));
    let wait_for_first_event = init_end.map(|end| {
        phases::first_event()
            .or_else(|| invocation::first_invocation().map(|f| f.started_at))
            .unwrap_or(first.started_at)
            .saturating_duration_since(end)
    });
    // The environment's first invocation, as the `to_first_invocation` phase metric measures it.
    let to_first_invocation = invocation::first_invocation()
        .map_or(first.started_at, |f| f.started_at)
        .saturating_duration_since(process_start);
    let first_event_was_real =
        invocation::first_invocation().is_some_and(|f| !f.warmup && !f.rejected);
    let event_to_handler = phases::first_event()
        .filter(|_| first_event_was_real)
        .map(|arrived| first.started_at.saturating_duration_since(arrived));
    let lazies = lazy::statics().lazies;
    let timeline = timeline(&lazies);
    let user_facing = first.user_facing_cold_start();
    let budget = match (first.budget, user_facing) {
        (Some(budget), Some(took)) => Some(Budget {
            budget,
            took,
            exceeded_by: first.exceeded_budget(),
            dominant: dominant(
                Phases {
                    init,
                    wait_for_first_event,
                    event_to_handler,
                    to_first_invocation,
                    first_invocation: first.duration(),
                },
                &lazies,
                &timeline,
            ),
        }),
        _ => None,
    };
    // Billed from the first event's arrival when it was this invocation's, else its own run.
    let first_billed = event_to_handler.unwrap_or_default() + first.duration();
    let cost = cost::cost(&environment, init, first_billed);
    let cpu = crate::cpu::at_init_end().map(|at_init_end| {
        // The first invocation's CPU and wall time span the same interval: from the first
        // event's arrival when the layer marked it (both taken there), else from the first
        // invocation's start (INIT's CPU read there or before it: the idle wait for the event
        // costs no CPU).
        let (cpu_from, from) = match (crate::cpu::at_first_event(), phases::first_event()) {
            (Some(cpu), Some(arrived)) => (cpu, arrived),
            _ => (at_init_end, first.started_at),
        };
        let first_invocation = crate::cpu::at_first_invocation_end()
            .filter(|_| first_event_was_real)
            .map(|at_end| at_end.saturating_sub(cpu_from));
        CpuUse {
            init: at_init_end,
            init_wall: init.unwrap_or(to_first_invocation),
            first_invocation,
            first_invocation_wall: first_invocation
                .map(|_| first.finished_at.saturating_duration_since(from)),
        }
    });
    Some(ColdStartReport {
        cost,
        environment,
        handler: first.handler,
        start_kind: first.start_kind,
        warmed_by_ping: invocation::first_invocation().is_some_and(|f| f.warmup),
        first_event_rejected: invocation::first_invocation().is_some_and(|f| f.rejected),
        reinit: crate::reinit::reinit(),
        outcome: first.outcome,
        process_start_source,
        init,
        wait_for_first_event,
        event_to_handler,
        to_first_invocation,
        first_invocation: first.duration(),
        user_facing,
        lazies,
        timeline,
        memory,
        cpu,
        budget,
    })
}

/// The phases of a cold start, as the report names them.
struct Phases {
    init: Option<Duration>,
    wait_for_first_event: Option<Duration>,
    event_to_handler: Option<Duration>,
    to_first_invocation: Duration,
    first_invocation: Duration,
}

/// The phases of a user-facing cold start and the lazy statics it paid for, largest first, named
/// as the report's rows and the `phase` label name them.
fn dominant(
    phases: Phases,
    lazies: &[LazyInfo],
    timeline: &[TimelineEntry],
) -> Vec<(String, Duration)> {
    let mut parts: Vec<(String, Duration)> = Vec::new();
    match (phases.init, phases.wait_for_first_event) {
        (Some(init), Some(wait)) => {
            push_part(&mut parts, "init", init);
            push_part(&mut parts, "wait_for_first_event", wait);
            let to_handler = phases
                .event_to_handler
                .unwrap_or_else(|| phases.to_first_invocation.saturating_sub(init + wait));
            push_part(&mut parts, "event_to_handler", to_handler);
        }
        _ => push_part(
            &mut parts,
            "to_first_invocation",
            phases.to_first_invocation,
        ),
    }
    push_part(&mut parts, "first_invocation", phases.first_invocation);
    for info in lazies {
        let paid = match info.during {
            Some(During::Init | During::Prewarm) => "INIT",
            Some(During::Invocation { number: 1, .. }) => "the first invocation",
            _ => continue,
        };
        if let Some(duration) = info.duration {
            let what = match module_if_name_repeats(info, lazies) {
                Some(module) => format!("lazy `{}` in {module} (during {paid})", info.name),
                None => format!("lazy `{}` (during {paid})", info.name),
            };
            parts.push((what, duration));
        }
    }
    // Named phases, exclusive of what they enclose, as lazy statics are.
    for entry in timeline.iter().filter(|e| e.kind == TimelineKind::Phase) {
        let paid = match entry.during {
            During::Init | During::Prewarm => "INIT",
            During::Invocation { number: 1, .. } => "the first invocation",
            _ => continue,
        };
        if let Some(duration) = entry.duration {
            parts.push((format!("phase `{}` (during {paid})", entry.name), duration));
        }
    }
    parts.retain(|(_, duration)| !duration.is_zero());
    crate::sort::sort_by(&mut parts, |a, b| {
        b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)).is_lt()
    });
    parts.truncate(5);
    parts
}

/// Adds the part `what` to [`dominant`]'s list: one call per built-in phase rather than an
/// inlined `to_owned` and `push` each.
#[inline(never)]
fn push_part(parts: &mut Vec<(String, Duration)>, what: &str, duration: Duration) {
    parts.push((what.to_owned(), duration));
}

/// The module `info` is declared in, when another static in `lazies` has the same label (two
/// explicit `name = "…"`s): what tells them apart in the table and the budget explanation. The
/// JSON line always carries the module.
fn module_if_name_repeats(info: &LazyInfo, lazies: &[LazyInfo]) -> Option<&'static str> {
    let same_name = lazies.iter().filter(|other| other.name == info.name);
    (same_name.count() > 1).then_some(info.module_path)
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// Prints the report line, if enabled. Never panics into the invocation: a failure to write is
/// ignored. Called once, by [`crate::after_response`], with the memory sample it took.
pub(crate) fn print_line(memory: Option<MemoryUsage>) {
    if !is_enabled() {
        return;
    }
    if let Some(report) = build(memory) {
        use std::io::Write;
        // The newline appended and the bytes written as they are: `writeln!` would compile
        // `fmt::Write` adapters for the lock into every function binary (~1.5 KiB) to print
        // the same line.
        let mut line = report.to_json();
        line.push('\n');
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(line.as_bytes());
        let _ = stdout.flush();
    }
}
