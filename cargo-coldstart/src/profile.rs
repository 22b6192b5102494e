//! What many cold runs add up to: one row per measurement (tool clock, CPU, memory, and every
//! phase and lazy static the coldstart report names), summarized as median, p95 and max.

use std::time::Duration;

use serde_json::{json, Value};

use crate::cpu_model::{proportional_vcpus, CpuModel};
use crate::run::ColdRun;
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
}

impl Row {
    /// Median, p95 and max over the runs that measured it; `None`: unavailable.
    ///
    /// ```
    /// use cargo_coldstart::profile::{Row, Unit};
    /// let row = Row { section: "tool", name: "x".into(), unit: Unit::Ms, values: vec![Some(1.0), None] };
    /// assert_eq!(row.summary().unwrap().n, 1);
    /// ```
    pub fn summary(&self) -> Option<Summary> {
        let present: Vec<f64> = self.values.iter().flatten().copied().collect();
        Summary::of(&present)
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
        },
        Row {
            section: "tool",
            name: "exec → first response".into(),
            unit: Unit::Ms,
            values: runs
                .iter()
                .map(|r| ok(r, r.to_first_response.map(ms)))
                .collect(),
        },
        Row {
            section: "tool",
            name: "INIT CPU time".into(),
            unit: Unit::Ms,
            values: runs.iter().map(|r| ok(r, r.init_cpu.map(ms))).collect(),
        },
        Row {
            section: "tool",
            name: "peak RSS".into(),
            unit: Unit::Mb,
            values: runs
                .iter()
                .map(|r| ok(r, r.peak_rss_bytes.map(|b| b as f64 / 1e6)))
                .collect(),
        },
    ];
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
    /// let size = SizeRuns { memory_mb: 128, limits: Limits::Unavailable("no cgroup".into()), runs: vec![] };
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
    /// millisecond, as Lambda bills it.
    pub fn init_gb_seconds(&self) -> Vec<Option<f64>> {
        self.init_ms()
            .into_iter()
            .map(|init| {
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
    let rows: Vec<Value> = rows(&size.runs)
        .iter()
        .map(|row| {
            json!({
                "section": row.section,
                "name": row.name,
                "unit": row.unit.symbol(),
                "summary": summary_json(&row.values),
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
        "init_gb_seconds": summary_json(&size.init_gb_seconds()),
        "rows": rows,
        "runs": size.runs.iter().map(run_json).collect::<Vec<_>>(),
    })
}

/// A value with its unit, or `unavailable`.
pub(crate) fn fmt_value(value: Option<f64>, unit: Unit) -> String {
    match value {
        None => "unavailable".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0} {}", unit.symbol()),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1} {}", unit.symbol()),
        Some(v) => format!("{v:.2} {}", unit.symbol()),
    }
}

/// The rows of one size as a text table.
pub fn text_table(runs: &[ColdRun]) -> String {
    let rows = rows(runs);
    let total = runs.len();
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
        match row.summary() {
            None => out.push_str(&format!("{name:width$} {:>12}\n", "unavailable")),
            Some(s) => out.push_str(&format!(
                "{name:width$} {:>12} {:>12} {:>12}  {}/{total}\n",
                fmt_value(Some(s.median), row.unit),
                fmt_value(Some(s.p95), row.unit),
                fmt_value(Some(s.max), row.unit),
                s.n,
            )),
        }
    }
    if !runs.iter().any(|r| r.report.is_some()) {
        out.push_str("coldstart report: unavailable (the function printed no report line; phases and lazy statics need `coldstart`)\n");
    }
    out
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
            cost.map_or("unavailable".into(), |s| format!("{:.7}", s.median)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_model::{CpuChoice, InitCpu};
    use crate::run::{InitType, Outcome};

    /// A successful run: INIT `init_wall` ms of wall time and `init_cpu` ms of CPU time, then
    /// a first invocation of `invoke_wall` ms whose report says it used `invoke_cpu` ms of CPU
    /// in `invoke_wall` ms.
    fn run(
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
            runs: vec![run(12.0, 10.0, 3.0, 2.0, &proportional)],
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
            runs: vec![run(12.0, 10.0, 3.0, 2.0, &CpuChoice::default())],
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
            runs: vec![run(12.0, 10.0, 3.0, 2.0, &calibrated)],
        };
        assert!(close(size.init_ms()[0].unwrap(), 40.0));
        assert!(close(size.cold_start_ms()[0].unwrap(), 40.0 + 40.0));
        assert_eq!(size.cpu_model().unwrap().init.vcpus, 0.25);
        // Under a cgroup nothing is projected: the times are what the quota made them.
        let limited = SizeRuns {
            memory_mb: 128,
            limits: Limits::Applied,
            runs: vec![run(12.0, 10.0, 3.0, 2.0, &calibrated)],
        };
        assert!(close(limited.init_ms()[0].unwrap(), 12.0));
        assert!(close(limited.cold_start_ms()[0].unwrap(), 15.0));
    }
}
