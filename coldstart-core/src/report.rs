//! The cold-start report: once per execution environment, after its first real invocation, what
//! kind of start it was, how long every phase took, which lazy static cost what and where it ran,
//! memory against the configured size, and whether the start stayed within its budget.
//!
//! It is printed as **one JSON line** on stdout (so CloudWatch Logs Insights can query it:
//! `filter ispresent(coldstart_report)`), available as a value ([`cold_start_report`]), and
//! readable as a table (its `Display`, which the quickstart prints). Turn the line off with
//! [`set_enabled`]`(false)`, `Coldstart::report(false)`, or `COLDSTART_REPORT=off` in the
//! function's environment.
//!
//! Building and printing it takes a fraction of a millisecond (it reads `/proc`, walks the lazy
//! registry and writes one line). With `coldstart::lambda::run` that happens right after the first
//! real invocation's response is posted (before the runtime asks for the next event), so no
//! request waits for it; with the handler attribute alone there is no such moment, and it happens
//! at the end of the first invocation. Every later invocation pays one atomic load.
//!
//! ```
//! use coldstart_core::report::cold_start_report;
//! use coldstart_core::tracker::{Handler, Outcome};
//!
//! coldstart_core::report::set_enabled(false); // keep the doc test's output clean
//! static API: Handler = Handler::new("api");
//! API.begin().finish(Outcome::Ok);
//!
//! let report = cold_start_report().unwrap();
//! assert_eq!(report.start_kind.as_str(), "cold");
//! assert!(report.to_json().contains(r#""handler":"api""#));
//! println!("{report}");
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use crate::environment::Environment;
use crate::lazy::{self, During, LazyInfo};
use crate::memory::{self, MemoryUsage};
use crate::phases::{self, StartSource};
use crate::tracker::{self, Outcome, StartKind};

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
    /// How the first real invocation ended.
    pub outcome: Outcome,
    /// Where the process start instant came from.
    pub process_start_source: StartSource,
    /// Process start to init end, when init end was marked.
    pub init: Option<Duration>,
    /// Init end to the arrival of the first event, when init end was marked.
    pub wait_for_first_event: Option<Duration>,
    /// Process start to the start of the first real invocation.
    pub to_first_invocation: Duration,
    /// The first real invocation's own duration.
    pub first_invocation: Duration,
    /// For a user-facing cold start: process start to the end of the first invocation.
    pub user_facing: Option<Duration>,
    /// Every lazy static, most expensive first.
    pub lazies: Vec<LazyInfo>,
    /// Memory after the first invocation, if `/proc` could be read.
    pub memory: Option<MemoryUsage>,
    /// The cold-start budget and its verdict, when a budget applies to a user-facing cold start.
    pub budget: Option<Budget>,
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
    /// What the time went to, largest first: the phases, and the lazy statics a request or INIT
    /// paid for (a lazy static's time is part of the phase it ran in).
    pub dominant: Vec<(String, Duration)>,
}

const DEFAULT: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;
static ENABLED: AtomicU8 = AtomicU8::new(DEFAULT);

/// Turns the report line on or off for this process (default: on, unless the environment
/// variable `COLDSTART_REPORT` is `off`, `0` or `false`). The value from [`cold_start_report`] is
/// available either way.
///
/// ```
/// coldstart_core::report::set_enabled(false);
/// assert!(!coldstart_core::report::is_enabled());
/// ```
pub fn set_enabled(enabled: bool) {
    ENABLED.store(if enabled { ON } else { OFF }, Ordering::Relaxed);
}

/// Whether the report line will be printed (see [`set_enabled`]).
pub fn is_enabled() -> bool {
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
pub fn cold_start_report() -> Option<ColdStartReport> {
    build(memory::current())
}

fn build(memory: Option<MemoryUsage>) -> Option<ColdStartReport> {
    let first = tracker::first_real_invocation()?;
    let (process_start, process_start_source) = phases::process_start();
    let environment = Environment::current().clone();
    let init_end = phases::init_end();
    let init = init_end.map(|end| end.saturating_duration_since(process_start));
    let wait_for_first_event = init_end.map(|end| {
        phases::first_event()
            .or_else(|| tracker::first_invocation().map(|f| f.started_at))
            .unwrap_or(first.started_at)
            .saturating_duration_since(end)
    });
    let to_first_invocation = first.started_at.saturating_duration_since(process_start);
    let lazies = lazy::report().lazies;
    let user_facing = first.user_facing_cold_start();
    let budget = match (first.budget, user_facing) {
        (Some(budget), Some(took)) => Some(Budget {
            budget,
            took,
            exceeded_by: first.exceeded_budget(),
            dominant: dominant(
                init,
                wait_for_first_event,
                to_first_invocation,
                first.duration(),
                &lazies,
            ),
        }),
        _ => None,
    };
    Some(ColdStartReport {
        environment,
        handler: first.handler,
        start_kind: first.start_kind,
        warmed_by_ping: tracker::first_invocation().is_some_and(|f| f.warmup),
        outcome: first.outcome,
        process_start_source,
        init,
        wait_for_first_event,
        to_first_invocation,
        first_invocation: first.duration(),
        user_facing,
        lazies,
        memory,
        budget,
    })
}

/// The phases of a user-facing cold start and the lazy statics it paid for, largest first.
fn dominant(
    init: Option<Duration>,
    wait_for_first_event: Option<Duration>,
    to_first_invocation: Duration,
    first_invocation: Duration,
    lazies: &[LazyInfo],
) -> Vec<(String, Duration)> {
    let mut parts: Vec<(String, Duration)> = Vec::new();
    match (init, wait_for_first_event) {
        (Some(init), Some(wait)) => {
            parts.push(("phase init".to_owned(), init));
            parts.push(("phase wait for the first event".to_owned(), wait));
            // Reading the event, deserializing it, reaching the handler.
            parts.push((
                "runtime: event to handler".to_owned(),
                to_first_invocation.saturating_sub(init + wait),
            ));
        }
        _ => parts.push(("phase to first invocation".to_owned(), to_first_invocation)),
    }
    parts.push(("phase first invocation".to_owned(), first_invocation));
    for info in lazies {
        let paid = match info.during {
            Some(During::Init | During::Prewarm) => "INIT",
            Some(During::Invocation { number: 1, .. }) => "the first invocation",
            _ => continue,
        };
        if let Some(duration) = info.duration {
            parts.push((format!("lazy `{}` (during {paid})", info.name), duration));
        }
    }
    parts.retain(|(_, duration)| !duration.is_zero());
    crate::sort::sort_by(&mut parts, |a, b| {
        b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)).is_lt()
    });
    parts.truncate(5);
    parts
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

impl ColdStartReport {
    /// The report as one JSON object, `{"coldstart_report":1,...}`, durations in milliseconds.
    ///
    /// Written by hand rather than through `serde_json::json!`, whose expansion would add
    /// kilobytes of code to every function binary for a line printed once.
    pub fn to_json(&self) -> String {
        let env = &self.environment;
        let mut json = Json(String::with_capacity(1024));
        json.0.push_str("{\"coldstart_report\":1");
        json.key("function").opt_str(env.function_name());
        json.key("version").opt_str(env.function_version());
        json.key("region").opt_str(env.region());
        json.key("log_stream").opt_str(env.log_stream_name());
        json.key("memory_mb")
            .opt_uint(env.memory_size_mb().map(u64::from));
        json.key("init_type").str(env.init_type().as_str());
        json.key("handler").str(self.handler);
        json.key("start").str(self.start_kind.as_str());
        json.key("warmed_by_ping").bool(self.warmed_by_ping);
        json.key("outcome").str(self.outcome.as_str());
        json.key("process_start")
            .str(match self.process_start_source {
                StartSource::Constructor => "constructor",
                StartSource::FirstUse => "first_use",
            });
        json.key("phases_ms").open('{');
        json.first_key("init").opt_ms(self.init);
        json.key("wait_for_first_event")
            .opt_ms(self.wait_for_first_event);
        json.key("to_first_invocation").ms(self.to_first_invocation);
        json.key("first_invocation").ms(self.first_invocation);
        json.key("user_facing").opt_ms(self.user_facing);
        json.close('}');
        json.key("lazy").open('[');
        for (i, info) in self.lazies.iter().enumerate() {
            if i > 0 {
                json.0.push(',');
            }
            json.open('{');
            json.first_key("name").str(info.name);
            json.key("module").str(info.module_path);
            json.key("state").str(&info.state.to_string());
            json.key("ms").opt_ms(info.duration);
            json.key("spent_ms").ms(info.spent);
            json.key("during").opt_str(info.during.map(During::as_str));
            json.key("invocation")
                .opt_uint(info.during.and_then(During::invocation));
            json.key("prewarm").bool(info.prewarm);
            json.key("failures")
                .opt_uint(Some(u64::from(info.failures)));
            json.close('}');
        }
        json.close(']');
        json.key("memory");
        match &self.memory {
            None => json.null(),
            Some(m) => {
                json.open('{');
                json.first_key("resident_bytes")
                    .opt_uint(Some(m.resident_bytes));
                json.key("peak_bytes").opt_uint(Some(m.peak_resident_bytes));
                json.key("hint").str(&m.sizing_hint(env.memory_size_mb()));
                json.close('}');
            }
        }
        json.key("budget");
        match &self.budget {
            None => json.null(),
            Some(b) => {
                json.open('{');
                json.first_key("budget_ms").ms(b.budget);
                json.key("took_ms").ms(b.took);
                json.key("exceeded_by_ms").opt_ms(b.exceeded_by);
                json.key("dominant").open('[');
                for (i, (what, duration)) in b.dominant.iter().enumerate() {
                    if i > 0 {
                        json.0.push(',');
                    }
                    json.open('{');
                    json.first_key("what").str(what);
                    json.key("ms").ms(*duration);
                    json.close('}');
                }
                json.close(']');
                json.close('}');
            }
        }
        json.close('}');
        json.0
    }
}

/// A JSON text written field by field: one small function per kind of value, instead of a
/// `format!` per object, keeps the report's code small in every function binary.
struct Json(String);

impl Json {
    /// `,"name":` — the key of a field that follows another.
    #[inline(never)]
    fn key(&mut self, name: &str) -> &mut Self {
        self.0.push(',');
        self.first_key(name)
    }

    /// `"name":` — the first key of an object.
    #[inline(never)]
    fn first_key(&mut self, name: &str) -> &mut Self {
        push_str(&mut self.0, name);
        self.0.push(':');
        self
    }

    fn open(&mut self, bracket: char) {
        self.0.push(bracket);
    }

    fn close(&mut self, bracket: char) {
        self.0.push(bracket);
    }

    #[inline(never)]
    fn null(&mut self) {
        self.0.push_str("null");
    }

    #[inline(never)]
    fn str(&mut self, value: &str) {
        push_str(&mut self.0, value);
    }

    #[inline(never)]
    fn opt_str(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.str(value),
            None => self.null(),
        }
    }

    #[inline(never)]
    fn bool(&mut self, value: bool) {
        self.0.push_str(if value { "true" } else { "false" });
    }

    #[inline(never)]
    fn opt_uint(&mut self, value: Option<u64>) {
        use fmt::Write;
        match value {
            Some(value) => {
                let _ = write!(self.0, "{value}");
            }
            None => self.null(),
        }
    }

    /// A duration in milliseconds, rounded to the microsecond.
    #[inline(never)]
    fn ms(&mut self, duration: Duration) {
        use fmt::Write;
        let value = ms(duration);
        if value.is_finite() {
            let _ = write!(self.0, "{value}");
        } else {
            self.null();
        }
    }

    #[inline(never)]
    fn opt_ms(&mut self, duration: Option<Duration>) {
        match duration {
            Some(duration) => self.ms(duration),
            None => self.null(),
        }
    }
}

fn push_str(out: &mut String, value: &str) {
    use fmt::Write;
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for ColdStartReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = &self.environment;
        let row = |f: &mut fmt::Formatter<'_>, what: &str, value: Option<Duration>| match value {
            Some(value) => writeln!(f, "  {what:<28} {:>10.3} ms", ms(value)),
            None => writeln!(f, "  {what:<28} {:>13}", "-"),
        };
        writeln!(
            f,
            "cold-start report: {} ({} start, init type {}, handler {})",
            env.function_name().unwrap_or("(unnamed function)"),
            self.start_kind,
            env.init_type(),
            self.handler
        )?;
        if self.warmed_by_ping {
            writeln!(f, "  (a warm-up ping was this environment's first event)")?;
        }
        row(f, "init", self.init)?;
        row(f, "wait for the first event", self.wait_for_first_event)?;
        row(
            f,
            "process start -> first call",
            Some(self.to_first_invocation),
        )?;
        row(f, "first invocation", Some(self.first_invocation))?;
        row(f, "user-facing cold start", self.user_facing)?;
        if let Some(budget) = &self.budget {
            match budget.exceeded_by {
                Some(over) => {
                    writeln!(
                        f,
                        "  over budget: {:.3} ms against {:.3} ms (+{:.3} ms); the time went to:",
                        ms(budget.took),
                        ms(budget.budget),
                        ms(over)
                    )?;
                    for (what, duration) in &budget.dominant {
                        writeln!(f, "    {what:<40} {:>10.3} ms", ms(*duration))?;
                    }
                }
                None => writeln!(
                    f,
                    "  within budget: {:.3} ms of {:.3} ms",
                    ms(budget.took),
                    ms(budget.budget)
                )?,
            }
        }
        if !self.lazies.is_empty() {
            writeln!(f, "  lazy statics, most expensive first:")?;
            for info in &self.lazies {
                let cost = info
                    .duration
                    .map_or_else(|| format!("{:>13}", "-"), |d| format!("{:>10.3} ms", ms(d)));
                let during = info
                    .during
                    .map_or_else(|| "never".to_owned(), |d| d.to_string());
                writeln!(f, "    {:<24} {cost}  {during}", info.name)?;
            }
        }
        if let Some(memory) = &self.memory {
            writeln!(f, "  memory: {}", memory.sizing_hint(env.memory_size_mb()))?;
        }
        Ok(())
    }
}

static PENDING: AtomicBool = AtomicBool::new(false);

/// Called once, when the first real invocation of the process has finished.
pub(crate) fn first_real_invocation_finished() {
    // With `crate::deferred` enabled it waits for the response (and so does its memory sample).
    if crate::deferred::enabled() {
        PENDING.store(true, Ordering::Release);
    } else {
        emit();
    }
}

/// Called by `coldstart::lambda` after every response has been posted: emits the report if the
/// first real invocation's is waiting. One atomic load otherwise.
#[cfg(feature = "lambda")]
#[inline]
pub(crate) fn after_response() {
    if PENDING.load(Ordering::Relaxed) && PENDING.swap(false, Ordering::Acquire) {
        emit();
    }
}

/// Samples memory for `faas.mem_usage` and prints the report line if enabled. Never panics into
/// the invocation: a failure to write is ignored.
#[cold]
#[inline(never)]
fn emit() {
    tracker::build_first_handler_keys();
    let memory = memory::sample_now();
    if !is_enabled() {
        return;
    }
    if let Some(report) = build(memory) {
        use std::io::Write;
        let line = report.to_json();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}
