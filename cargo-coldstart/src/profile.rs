//! What many cold runs add up to: one row per measurement (tool clock, CPU, memory, and every
//! phase and lazy static the coldstart report names), summarized as median, p95 and max.

use std::time::Duration;

use serde_json::{json, Value};

use crate::cpu_model::{proportional_vcpus, CpuModel};
use crate::run::{ColdRun, InitType};
use crate::stats::Summary;

/// A Lambda memory size's vCPU share baseline: one full vCPU at 1,769 MB.
pub const FULL_VCPU_MB: u32 = 1769;

/// The unit of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Megabytes (10^6 bytes).
    Mb,
    /// Gigabyte-seconds, as Lambda bills duration (memory GB × seconds).
    GbSeconds,
}

impl Unit {
    /// The unit's symbol.
    ///
    /// ```
    /// assert_eq!(cargo_coldstart::profile::Unit::Ms.symbol(), "ms");
    /// ```
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Mb => "MB",
            Unit::GbSeconds => "GB-s",
        }
    }
}

/// One measurement across runs.
#[derive(Debug, Clone)]
pub struct Row {
    /// The group it belongs to (`tool`, `phase`, `named phase`, `lazy`).
    pub section: &'static str,
    /// What was measured.
    pub name: String,
    /// Its unit.
    pub unit: Unit,
    /// One value per run; `None` where that run could not measure it.
    pub values: Vec<Option<f64>>,
    /// Per run: `true` where the run's report lists this lazy static as never built (nothing
    /// needed it before the report; `values` has `None` there). Always `false` outside `lazy`.
    pub not_built: Vec<bool>,
}

impl Row {
    /// Median, p95 and max over the runs that measured it; `None`: unavailable.
    ///
    /// ```
    /// use cargo_coldstart::profile::{Row, Unit};
    /// let row = Row { section: "tool", name: "x".into(), unit: Unit::Ms, values: vec![Some(1.0), None], not_built: vec![false; 2] };
    /// assert_eq!(row.summary().unwrap().n, 1);
    /// ```
    pub fn summary(&self) -> Option<Summary> {
        let present: Vec<f64> = self.values.iter().flatten().copied().collect();
        Summary::of(&present)
    }

    /// For a lazy static some runs never built: how many, of how many runs that reported, and
    /// which (1-based) when not all; `None` when every reporting run built it.
    ///
    /// ```
    /// use cargo_coldstart::profile::{Row, Unit};
    /// let row = Row { section: "lazy", name: "pool".into(), unit: Unit::Ms,
    ///     values: vec![None, Some(3.0), None], not_built: vec![true, false, true] };
    /// assert_eq!(row.not_built_text(3).unwrap(), "not built in 2 of 3 runs (runs 1, 3): nothing needed it before the report");
    /// let all = Row { values: vec![None; 3], not_built: vec![true; 3], ..row };
    /// assert_eq!(all.not_built_text(3).unwrap(), "not built in 3 of 3 runs: the first request did not need it");
    /// ```
    pub fn not_built_text(&self, reporting_runs: usize) -> Option<String> {
        let runs: Vec<usize> = (self.not_built.iter().enumerate())
            .filter(|(_, not_built)| **not_built)
            .map(|(i, _)| i + 1)
            .collect();
        if runs.is_empty() {
            return None;
        }
        let run_word = if reporting_runs == 1 { "run" } else { "runs" };
        Some(if runs.len() == reporting_runs {
            format!(
                "not built in {} of {reporting_runs} {run_word}: the first request did not need it",
                runs.len()
            )
        } else {
            let list: Vec<String> = runs.iter().map(usize::to_string).collect();
            format!(
                "not built in {} of {reporting_runs} {run_word} ({} {}): nothing needed it before the report",
                runs.len(),
                if runs.len() == 1 { "run" } else { "runs" },
                list.join(", ")
            )
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The measurement rows of `runs`: the tool's own (exec → first `/next`, exec → first response,
/// INIT CPU time, peak RSS), then the report's built-in phases, named phases and lazy statics
/// (rows appear in the order the runs first name them). A failed run counts in no row (its
/// partial measurements stay in its own entry): the rows describe cold starts that worked.
///
/// ```
/// let rows = cargo_coldstart::profile::rows(&[]);
/// assert_eq!(rows[0].name, "exec → first /next");
/// assert!(rows[0].summary().is_none());
/// ```
pub fn rows(runs: &[ColdRun]) -> Vec<Row> {
    let ok = |run: &ColdRun, value: Option<f64>| value.filter(|_| run.outcome.is_ok());
    let mut rows = vec![
        Row {
            section: "tool",
            name: "exec → first /next".into(),
            unit: Unit::Ms,
            values: runs
                .iter()
                .map(|r| ok(r, r.to_first_next.map(ms)))
                .collect(),
            not_built: Vec::new(),
        },
        Row {
            section: "tool",
            name: "exec → first response".into(),
            unit: Unit::Ms,
            values: runs
                .iter()
                .map(|r| ok(r, r.to_first_response.map(ms)))
                .collect(),
            not_built: Vec::new(),
        },
        Row {
            section: "tool",
            name: "INIT CPU time".into(),
            unit: Unit::Ms,
            values: runs.iter().map(|r| ok(r, r.init_cpu.map(ms))).collect(),
            not_built: Vec::new(),
        },
        Row {
            section: "tool",
            name: "peak RSS".into(),
            unit: Unit::Mb,
            values: runs
                .iter()
                .map(|r| ok(r, r.peak_rss_bytes.map(|b| b as f64 / 1e6)))
                .collect(),
            not_built: Vec::new(),
        },
    ];
    for row in &mut rows {
        row.not_built = vec![false; runs.len()];
    }
    type Pick = fn(&crate::report::Report) -> &[(String, Option<f64>)];
    let sections: [(&'static str, Pick); 3] = [
        ("phase", |r| &r.phases),
        ("named phase", |r| &r.named_phases),
        ("lazy", |r| &r.lazies),
    ];
    for (section, pick) in sections {
        let mut names: Vec<&str> = Vec::new();
        for report in runs.iter().filter_map(|r| r.report.as_ref()) {
            for (name, _) in pick(report) {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        for name in names {
            rows.push(Row {
                section,
                name: name.to_owned(),
                unit: Unit::Ms,
                values: runs
                    .iter()
                    .map(|r| {
                        let report = r.report.as_ref().filter(|_| r.outcome.is_ok())?;
                        pick(report)
                            .iter()
                            .find(|(n, _)| n == name)
                            .and_then(|(_, v)| *v)
                    })
                    .collect(),
                not_built: runs
                    .iter()
                    .map(|r| {
                        section == "lazy"
                            && r.outcome.is_ok()
                            && r.report.as_ref().is_some_and(|report| {
                                report.lazy_not_built.iter().any(|n| n == name)
                            })
                    })
                    .collect(),
            });
        }
    }
    rows
}

/// Whether a memory size's runs ran under Lambda's CPU and memory limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limits {
    /// No `--memory` was given: the machine's own CPU and memory, nothing projected.
    NotRequested,
    /// In a cgroup with the size's CPU quota and memory limit.
    Applied,
    /// Limits were asked for but cannot be applied here (why, in plain words): cold starts below
    /// one vCPU are projected from CPU time.
    Unavailable(String),
}

impl Limits {
    /// `cgroup`, `none` or `not requested`.
    ///
    /// ```
    /// assert_eq!(cargo_coldstart::profile::Limits::Applied.label(), "cgroup");
    /// ```
    pub fn label(&self) -> &'static str {
        match self {
            Limits::NotRequested => "not requested",
            Limits::Applied => "cgroup",
            Limits::Unavailable(_) => "none",
        }
    }
}

/// The runs of one memory size.
#[derive(Debug, Clone)]
pub struct SizeRuns {
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` of these runs.
    pub memory_mb: u32,
    /// Whether the runs ran under the size's cgroup limits.
    pub limits: Limits,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE` of these runs (whether INIT is billed as duration).
    pub init_type: InitType,
    /// The runs.
    pub runs: Vec<ColdRun>,
}

impl SizeRuns {
    /// The INIT duration of each successful run (`None` for a failed one): measured under limits
    /// or without `--memory`; otherwise projected as
    /// `max(exec → first /next, INIT CPU time / INIT's vCPUs)` for sizes below one vCPU, with the
    /// run's [`CpuModel`] (`memory / 1769` vCPUs without one).
    ///
    /// ```
    /// use cargo_coldstart::profile::SizeRuns;
    /// use cargo_coldstart::profile::Limits;
    /// let size = SizeRuns { memory_mb: 128, limits: Limits::Unavailable("no cgroup".into()),
    ///     init_type: Default::default(), runs: vec![] };
    /// assert!(size.projected());
    /// assert!(size.init_ms().is_empty());
    /// ```
    pub fn init_ms(&self) -> Vec<Option<f64>> {
        self.runs
            .iter()
            .map(|run| {
                if !run.outcome.is_ok() {
                    return None;
                }
                let wall = ms(run.to_first_next?);
                if !self.projected() {
                    return Some(wall);
                }
                let cpu = ms(run.init_cpu?);
                let vcpus = run
                    .cpu_model
                    .as_ref()
                    .map_or_else(|| proportional_vcpus(self.memory_mb), |m| m.init.vcpus);
                Some(if vcpus < 1.0 {
                    wall.max(cpu / vcpus)
                } else {
                    wall
                })
            })
            .collect()
    }

    /// exec → first response per run, with the INIT part replaced by [`init_ms`](Self::init_ms);
    /// `None` for a failed run. When projected, the first invocation is projected too where
    /// the function's report carries its CPU time: it takes at least `CPU time / the
    /// invocations' vCPUs`.
    pub fn cold_start_ms(&self) -> Vec<Option<f64>> {
        self.runs
            .iter()
            .zip(self.init_ms())
            .map(|(run, init)| {
                let invoke = ms(run.to_first_response?) - ms(run.to_first_next?);
                Some(invoke + self.invoke_extra_ms(run) + init?)
            })
            .collect()
    }

    /// How much longer a projected run's first invocation would take at the model's share:
    /// `CPU time / vCPUs − its wall time`, from the report's CPU times (0 when not projected,
    /// at a share of one vCPU or more, or without them).
    fn invoke_extra_ms(&self, run: &ColdRun) -> f64 {
        if !self.projected() {
            return 0.0;
        }
        let vcpus = run
            .cpu_model
            .as_ref()
            .map_or_else(|| proportional_vcpus(self.memory_mb), |m| m.invoke.vcpus);
        match run.report.as_ref().and_then(|r| r.first_invocation_cpu) {
            Some((cpu, wall)) if vcpus < 1.0 => (cpu / vcpus - wall).max(0.0),
            _ => 0.0,
        }
    }

    /// The CPU model these runs were limited or projected with (`None` without `--memory`).
    pub fn cpu_model(&self) -> Option<CpuModel> {
        if self.limits == Limits::NotRequested {
            return None;
        }
        self.runs.iter().find_map(|run| run.cpu_model.clone())
    }

    /// Whether [`init_ms`](Self::init_ms) is projected rather than measured under limits.
    pub fn projected(&self) -> bool {
        matches!(self.limits, Limits::Unavailable(_)) && self.memory_mb < FULL_VCPU_MB
    }

    /// The INIT cost of each run in GB-seconds: memory in GB × INIT duration rounded up to the
    /// millisecond, as Lambda bills it; `None` for every run where INIT is not billed as
    /// duration ([`InitType::init_billed_as_duration`]: provisioned concurrency, SnapStart).
    ///
    /// ```
    /// use cargo_coldstart::profile::{Limits, SizeRuns};
    /// use cargo_coldstart::run::InitType;
    /// let size = SizeRuns { memory_mb: 512, limits: Limits::NotRequested,
    ///     init_type: InitType::ProvisionedConcurrency, runs: vec![] };
    /// assert!(size.init_gb_seconds().is_empty());
    /// assert!(!size.init_type.init_billed_as_duration());
    /// ```
    pub fn init_gb_seconds(&self) -> Vec<Option<f64>> {
        let billed = self.init_type.init_billed_as_duration();
        self.init_ms()
            .into_iter()
            .map(|init| {
                if !billed {
                    return None;
                }
                let init = std::time::Duration::try_from_secs_f64(init? / 1e3).ok()?;
                Some(coldstart_core::report::Billed::new(init, self.memory_mb).gb_seconds)
            })
            .collect()
    }
}

fn summary_json(values: &[Option<f64>]) -> Value {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    match Summary::of(&present) {
        None => Value::String("unavailable".into()),
        Some(s) => json!({ "n": s.n, "median": s.median, "p95": s.p95, "max": s.max }),
    }
}

fn opt(value: Option<f64>) -> Value {
    value.map_or(Value::String("unavailable".into()), Value::from)
}

/// One run as JSON (the `runs` array of `--json`).
pub fn run_json(run: &ColdRun) -> Value {
    json!({
        "outcome": run.outcome.kind(),
        "pid": run.pid,
        "detail": run.outcome.describe(),
        "exec_to_first_next_ms": opt(run.to_first_next.map(ms)),
        "exec_to_first_response_ms": opt(run.to_first_response.map(ms)),
        "init_cpu_ms": opt(run.init_cpu.map(ms)),
        "peak_rss_bytes": run.peak_rss_bytes.map_or(Value::String("unavailable".into()), Value::from),
        "report": run.report.is_some(),
        "start": run.report.as_ref().and_then(|r| r.start.clone()),
        "stderr_tail": if run.outcome.is_ok() { Value::Null } else { Value::String(run.stderr_tail.clone()) },
    })
}

/// One memory size as JSON: its runs, every row's summary, and the size's cold start and INIT
/// cost.
pub fn size_json(size: &SizeRuns) -> Value {
    let reporting = reporting_runs(&size.runs);
    let rows: Vec<Value> = rows(&size.runs)
        .iter()
        .map(|row| {
            let not_built = row.not_built_text(reporting);
            json!({
                "section": row.section,
                "name": row.name,
                "unit": row.unit.symbol(),
                "summary": match (row.summary(), &not_built) {
                    (None, Some(_)) => Value::String("not built".into()),
                    _ => summary_json(&row.values),
                },
                "not_built_runs": row.not_built.iter().filter(|n| **n).count(),
                "not_built": not_built,
            })
        })
        .collect();
    json!({
        "memory_mb": size.memory_mb,
        "limits": size.limits.label(),
        "limits_unavailable": match &size.limits { Limits::Unavailable(why) => Some(why.as_str()), _ => None },
        "projected": size.projected(),
        "cpu_model": size.cpu_model().map(|m| m.json()),
        "runs_ok": size.runs.iter().filter(|r| r.outcome.is_ok()).count(),
        "runs_failed": size.runs.iter().filter(|r| !r.outcome.is_ok()).count(),
        "cold_start_ms": summary_json(&size.cold_start_ms()),
        "init_ms": summary_json(&size.init_ms()),
        "init_billed_as_duration": size.init_type.init_billed_as_duration(),
        "init_gb_seconds": if size.init_type.init_billed_as_duration() {
            summary_json(&size.init_gb_seconds())
        } else {
            Value::String(NOT_BILLED.into())
        },
        "rows": rows,
        "runs": size.runs.iter().map(run_json).collect::<Vec<_>>(),
    })
}

/// What the INIT GB-s cells say where INIT is not billed as duration.
pub(crate) const NOT_BILLED: &str = "not billed as duration";

/// A value with its unit, or `unavailable`.
pub(crate) fn fmt_value(value: Option<f64>, unit: Unit) -> String {
    match value {
        None => "unavailable".into(),
        // Four significant digits: 0.0008750 GB-s, 1.250 GB-s.
        Some(v) if unit == Unit::GbSeconds => {
            let digits = if v == 0.0 {
                4
            } else {
                (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize
            };
            format!("{v:.digits$} GB-s")
        }
        Some(v) if v.abs() >= 100.0 => format!("{v:.0} {}", unit.symbol()),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1} {}", unit.symbol()),
        Some(v) => format!("{v:.2} {}", unit.symbol()),
    }
}

/// The rows of one size as a text table.
pub fn text_table(runs: &[ColdRun]) -> String {
    let rows = rows(runs);
    let total = runs.len();
    let reporting = reporting_runs(runs);
    let width = rows
        .iter()
        .map(|r| r.name.chars().count() + 2)
        .max()
        .unwrap_or(20)
        .max(24);
    let mut out = String::new();
    out.push_str(&format!(
        "{:width$} {:>12} {:>12} {:>12}  runs\n",
        "", "median", "p95", "max"
    ));
    let mut section = "";
    for row in &rows {
        if row.section != section {
            section = row.section;
            let heading = match section {
                "tool" => "measured by cargo coldstart",
                "phase" => "coldstart report: built-in phases",
                "named phase" => "coldstart report: named phases (own time)",
                _ => "coldstart report: lazy statics",
            };
            out.push_str(heading);
            out.push('\n');
        }
        let name = format!("  {}", row.name);
        let not_built = row.not_built_text(reporting);
        match (row.summary(), not_built) {
            (None, Some(not_built)) => out.push_str(&format!("{name:width$} {not_built}\n")),
            (None, None)
                if row.name == "user_facing"
                    && user_facing_note(runs, Duration::ZERO).is_some() =>
            {
                out.push_str(&format!("{name:width$} {:>12}  (see below)\n", "none"))
            }
            (None, None) => out.push_str(&format!("{name:width$} {:>12}\n", "unavailable")),
            (Some(s), not_built) => {
                out.push_str(&format!(
                    "{name:width$} {:>12} {:>12} {:>12}  {}/{total}\n",
                    fmt_value(Some(s.median), row.unit),
                    fmt_value(Some(s.p95), row.unit),
                    fmt_value(Some(s.max), row.unit),
                    s.n,
                ));
                if let Some(not_built) = not_built {
                    out.push_str(&format!("{:width$} {not_built}\n", ""));
                }
            }
        }
    }
    if !runs.iter().any(|r| r.report.is_some()) {
        out.push_str("coldstart report: unavailable (the function printed no report line; phases and lazy statics need `coldstart`)\n");
    }
    out
}

/// How many runs succeeded and printed a report: what a lazy static's "not built in N of M runs"
/// counts against.
pub(crate) fn reporting_runs(runs: &[ColdRun]) -> usize {
    runs.iter()
        .filter(|r| r.outcome.is_ok() && r.report.is_some())
        .count()
}

/// The memory-size table: cold start and INIT cost per size.
pub fn size_table(sizes: &[SizeRuns]) -> String {
    let mut out = format!(
        "{:>7}  {:>13}  {:>24}  {:>24}  {:>18}\n",
        "memory", "limits", "cold start (median)", "INIT (median)", "INIT GB-s (median)"
    );
    for size in sizes {
        let cold = Summary::of(
            &size
                .cold_start_ms()
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        );
        let init = Summary::of(&size.init_ms().into_iter().flatten().collect::<Vec<_>>());
        let cost = Summary::of(
            &size
                .init_gb_seconds()
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        );
        let mark = if size.projected() { " (projected)" } else { "" };
        out.push_str(&format!(
            "{:>4} MB  {:>13}  {:>24}  {:>24}  {:>18}\n",
            size.memory_mb,
            size.limits.label(),
            format!("{}{mark}", fmt_value(cold.map(|s| s.median), Unit::Ms)),
            format!("{}{mark}", fmt_value(init.map(|s| s.median), Unit::Ms)),
            if size.init_type.init_billed_as_duration() {
                cost.map_or("unavailable".into(), |s| format!("{:.7}", s.median))
            } else {
                NOT_BILLED.into()
            },
        ));
    }
    out
}

/// coldstart's default proactive threshold (`coldstart::invocation::DEFAULT_PROACTIVE_THRESHOLD`):
/// an on-demand first event arriving later than this after INIT ended makes the start
/// `proactive`.
const DEFAULT_PROACTIVE_THRESHOLD_MS: f64 = 100.0;

/// A note for under a table when successful runs' reports have no `user_facing` phase: how
/// many, why (the start kind the report gives), and how to avoid it. `None` when every
/// reporting run has one. `delay_first_event` is the wait `--delay-first-event` asked for.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cargo_coldstart::profile::user_facing_note(&[], Duration::ZERO), None);
/// ```
pub fn user_facing_note(runs: &[ColdRun], delay_first_event: Duration) -> Option<String> {
    let reporting: Vec<&crate::report::Report> = runs
        .iter()
        .filter(|r| r.outcome.is_ok())
        .filter_map(|r| r.report.as_ref())
        .collect();
    let phase = |report: &crate::report::Report, name: &str| {
        report
            .phases
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| *v)
    };
    let missing: Vec<&&crate::report::Report> = reporting
        .iter()
        .filter(|report| phase(report, "user_facing").is_none())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let of = reporting.len();
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for report in &missing {
        let kind = report.start.clone().unwrap_or_else(|| "unknown".into());
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    let mut out = String::new();
    for (kind, n) in kinds {
        let runs_word = if of == 1 { "run" } else { "runs" };
        out.push_str(&format!(
            "user_facing: missing in {n} of {of} {runs_word}, started `{kind}`: "
        ));
        match kind.as_str() {
            "proactive" => {
                let waits: Vec<f64> = missing
                    .iter()
                    .filter(|r| r.start.as_deref() == Some("proactive"))
                    .filter_map(|r| phase(r, "wait_for_first_event"))
                    .collect();
                let waits = Summary::of(&waits).map_or(String::new(), |s| {
                    format!(
                        " (wait_for_first_event in those runs: median {}, max {})",
                        fmt_value(Some(s.median), Unit::Ms),
                        fmt_value(Some(s.max), Unit::Ms)
                    )
                });
                out.push_str(&format!(
                    "the first event arrived more than the proactive threshold ({DEFAULT_PROACTIVE_THRESHOLD_MS} ms unless the function sets another) after INIT ended{waits}, so coldstart counts no request as having waited for INIT."
                ));
                if delay_first_event.as_secs_f64() * 1e3 >= DEFAULT_PROACTIVE_THRESHOLD_MS {
                    out.push_str(&format!(
                        " --delay-first-event {} asked for that (proactive init); without it these starts are `cold`.",
                        delay_first_event.as_millis()
                    ));
                } else {
                    out.push_str(" cargo coldstart served the event at once: the function was slow to take it (throttled by a small --memory size's CPU quota, or a busy machine). To avoid it, profile on a quieter machine or at a larger --memory, or raise the threshold in the function (`Coldstart::proactive_threshold`).");
                }
            }
            "provisioned" | "snapstart" => out.push_str(
                "no request waits for this INIT (--init-type), so no cold start is user-facing.",
            ),
            _ => out.push_str(
                "the report left it empty (was INIT's end marked with `coldstart::lambda::run`?).",
            ),
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_model::{CpuChoice, InitCpu};
    use crate::report::Report;
    use crate::run::Outcome;

    fn run(report_line: &str) -> ColdRun {
        ColdRun {
            outcome: Outcome::Ok,
            pid: Some(1),
            to_first_next: Some(Duration::from_millis(20)),
            to_first_response: Some(Duration::from_millis(140)),
            init_cpu: Some(Duration::from_millis(2)),
            peak_rss_bytes: Some(8_000_000),
            report: Report::parse(report_line),
            stderr_tail: String::new(),
            cpu_model: None,
        }
    }

    const COLD: &str = r#"{"coldstart_report":1,"start":"cold","phases_ms":{"init":5.0,"wait_for_first_event":2.0,"user_facing":30.0},"lazy":[{"name":"pool","state":"ready","ms":20.0},{"name":"rules","state":"not initialized","ms":null}]}"#;
    const THROTTLED: &str = r#"{"coldstart_report":1,"start":"proactive","phases_ms":{"init":5.0,"wait_for_first_event":104.5,"user_facing":null},"lazy":[{"name":"pool","state":"ready","ms":20.0},{"name":"rules","state":"not initialized","ms":null}]}"#;

    /// A start classified `proactive` although nothing delayed the event (the function took over
    /// 100 ms to take it): the note counts the runs, gives the wait, and says how to avoid it.
    #[test]
    fn runs_without_user_facing_are_counted_and_explained() {
        let runs = [run(COLD), run(THROTTLED), run(COLD), run(THROTTLED)];
        let note = user_facing_note(&runs, Duration::ZERO).expect("two runs lack user_facing");
        assert!(
            note.starts_with("user_facing: missing in 2 of 4 runs, started `proactive`"),
            "{note}"
        );
        assert!(note.contains("proactive threshold (100 ms"), "{note}");
        assert!(note.contains("median 104 ms"), "{note}");
        assert!(note.contains("served the event at once"), "{note}");
        assert!(note.contains("Coldstart::proactive_threshold"), "{note}");
        // Asked for with --delay-first-event: said so instead of the advice.
        let asked = user_facing_note(&runs, Duration::from_millis(150)).unwrap();
        assert!(
            asked.contains("--delay-first-event 150 asked for that"),
            "{asked}"
        );
        assert!(!asked.contains("served the event at once"), "{asked}");
        assert_eq!(user_facing_note(&runs[..1], Duration::ZERO), None);
        // The table says `none`, pointing at the note, not `unavailable`.
        let table = text_table(&runs[1..2]);
        assert!(table.contains("user_facing"), "{table}");
        assert!(table.contains("none  (see below)"), "{table}");
    }

    /// A lazy static no run built reads "not built in N of M runs", one some runs built lists
    /// those runs; a failed run is in neither count.
    #[test]
    fn lazy_statics_never_built_are_not_unavailable() {
        let mut failed = run(COLD);
        failed.outcome = Outcome::NeverAskedForEvent;
        let runs = [run(COLD), failed, run(THROTTLED)];
        let rows = rows(&runs);
        let rules = rows.iter().find(|r| r.name == "rules").unwrap();
        assert_eq!(rules.not_built, vec![true, false, true]);
        assert_eq!(
            rules.not_built_text(reporting_runs(&runs)).unwrap(),
            "not built in 2 of 2 runs: the first request did not need it"
        );
        let pool = rows.iter().find(|r| r.name == "pool").unwrap();
        assert_eq!(pool.not_built_text(2), None);
        let table = text_table(&runs);
        let line = table.lines().find(|l| l.contains("rules")).unwrap();
        assert!(line.contains("not built in 2 of 2 runs"), "{table}");
        assert!(!line.contains("unavailable"), "{table}");
    }

    #[test]
    fn gb_seconds_keep_four_significant_digits() {
        assert_eq!(fmt_value(Some(0.000875), Unit::GbSeconds), "0.0008750 GB-s");
        assert_eq!(fmt_value(Some(1.25), Unit::GbSeconds), "1.250 GB-s");
        assert_eq!(fmt_value(None, Unit::GbSeconds), "unavailable");
    }

    /// A successful run: INIT `init_wall` ms of wall time and `init_cpu` ms of CPU time, then
    /// a first invocation of `invoke_wall` ms whose report says it used `invoke_cpu` ms of CPU
    /// in `invoke_wall` ms.
    fn modelled_run(
        init_wall: f64,
        init_cpu: f64,
        invoke_wall: f64,
        invoke_cpu: f64,
        model: &CpuChoice,
    ) -> ColdRun {
        let d = |ms: f64| Duration::from_secs_f64(ms / 1e3);
        let line = format!(
            r#"{{"coldstart_report":1,"phases_ms":{{}},"cpu":{{"first_invocation_ms":{invoke_cpu},"first_invocation_wall_ms":{invoke_wall}}}}}"#
        );
        ColdRun {
            outcome: Outcome::Ok,
            pid: Some(1),
            to_first_next: Some(d(init_wall)),
            to_first_response: Some(d(init_wall + invoke_wall)),
            init_cpu: Some(d(init_cpu)),
            peak_rss_bytes: None,
            report: crate::report::Report::parse(&line),
            stderr_tail: String::new(),
            cpu_model: Some(model.model(128, InitType::OnDemand)),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn projected_times_follow_the_model() {
        let unavailable = Limits::Unavailable("no cgroup here".into());
        // The proportional model: INIT's 10 ms of CPU take 10 / (128/1769) ms; the first
        // invocation's 2 ms of CPU in 3 ms of wall time take 2 / (128/1769) ms.
        let proportional = CpuChoice {
            init_cpu: Some(InitCpu::Proportional),
            calibration: None,
        };
        let size = SizeRuns {
            memory_mb: 128,
            limits: unavailable.clone(),
            init_type: InitType::OnDemand,
            runs: vec![modelled_run(12.0, 10.0, 3.0, 2.0, &proportional)],
        };
        let share = 128.0 / 1769.0;
        assert!(close(size.init_ms()[0].unwrap(), 10.0 / share));
        assert!(close(
            size.cold_start_ms()[0].unwrap(),
            10.0 / share + 2.0 / share
        ));
        // The boost: INIT is measured as it ran (a full vCPU is what this machine gave it);
        // the invocation is still projected.
        let boosted = SizeRuns {
            memory_mb: 128,
            limits: unavailable.clone(),
            init_type: InitType::OnDemand,
            runs: vec![modelled_run(12.0, 10.0, 3.0, 2.0, &CpuChoice::default())],
        };
        assert!(close(boosted.init_ms()[0].unwrap(), 12.0));
        assert!(close(
            boosted.cold_start_ms()[0].unwrap(),
            12.0 + 2.0 / share
        ));
        // A calibrated model: INIT at 0.25 vCPU, the invocation at 0.05.
        let calibration = crate::calibrate::Calibration::parse(
            r#"{"coldstart_report":1,"memory_mb":128,"init_type":"on-demand","cpu":{"init_share":0.25,"first_invocation_share":0.05}}"#,
        );
        let calibrated = CpuChoice {
            init_cpu: None,
            calibration: Some(calibration),
        };
        let size = SizeRuns {
            memory_mb: 128,
            limits: unavailable,
            init_type: InitType::OnDemand,
            runs: vec![modelled_run(12.0, 10.0, 3.0, 2.0, &calibrated)],
        };
        assert!(close(size.init_ms()[0].unwrap(), 40.0));
        assert!(close(size.cold_start_ms()[0].unwrap(), 40.0 + 40.0));
        assert_eq!(size.cpu_model().unwrap().init.vcpus, 0.25);
        // Under a cgroup nothing is projected: the times are what the quota made them.
        let limited = SizeRuns {
            memory_mb: 128,
            limits: Limits::Applied,
            init_type: InitType::OnDemand,
            runs: vec![modelled_run(12.0, 10.0, 3.0, 2.0, &calibrated)],
        };
        assert!(close(limited.init_ms()[0].unwrap(), 12.0));
        assert!(close(limited.cold_start_ms()[0].unwrap(), 15.0));
    }
}
