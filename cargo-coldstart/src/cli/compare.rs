//! `cargo coldstart compare`: A and B run alternately at each memory size, then every row either
//! side has, their paired differences, their ratio and INIT's cost.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::args::{parse_env, CompareArgs};
use super::budget::{check_budget, BudgetCheck};
use super::build::{build, check_binary};
use super::plan::{cpu_choice, plan, sandbox_for};
use super::render::{failures_text, not_billed_note, progress};
use super::{exit_code, CliError};
use crate::profile::{self, Limits, Row, SizeRuns, Unit, NOT_BILLED};
use crate::run::{run_cold, ColdRun};
use crate::stats::{self, Summary};

/// The runs of A and B at one memory size.
struct SizePair {
    a: SizeRuns,
    b: SizeRuns,
    /// The CPU model this size ran under, as the header states it.
    cpu_model: String,
}

pub(super) fn compare_command(args: CompareArgs) -> Result<i32, CliError> {
    // A calibration that fits nothing is a usage error (exit 2), found before any build.
    if let Err((code, message)) = cpu_choice(&args.runs) {
        eprintln!("cargo coldstart: error: {message}");
        return Ok(code);
    }
    // What compare cannot do is said before anything is built.
    let given = args.binaries.len() + args.bin.len() + args.example.len();
    let one_with_envs = given == 1 && !(args.a_env.is_empty() && args.b_env.is_empty());
    if given != 2 && !one_with_envs {
        return Err(CliError::Usage {
            command: "compare",
            message: format!(
                "compare needs two binaries A and B (paths, --bin or --example), or one with --a-env/--b-env; got {given}"
            ),
        });
    }
    let plan = plan(&args.runs, args.args)?;
    let mut binaries: Vec<PathBuf> = Vec::new();
    for path in &args.binaries {
        binaries.push(check_binary(path)?);
    }
    for bin in &args.bin {
        binaries.push(build("bin", bin, &args.build)?);
    }
    for example in &args.example {
        binaries.push(build("example", example, &args.build)?);
    }
    let (a, b) = match binaries.as_slice() {
        [one] => (one.clone(), one.clone()),
        [a, b, ..] => (a.clone(), b.clone()),
        [] => return Err("compare: no binary".to_owned().into()),
    };
    let mut config_a = plan.template.clone();
    config_a.program = a.clone();
    config_a.env.extend(parse_env(&args.a_env)?);
    let mut config_b = plan.template.clone();
    config_b.program = b.clone();
    config_b.env.extend(parse_env(&args.b_env)?);
    for (config, path) in [(&mut config_a, &a), (&mut config_b, &b)] {
        config.function_name = path
            .file_name()
            .map_or_else(|| "function".into(), |n| n.to_string_lossy().into_owned());
    }
    let sizes_given = !plan.sizes.is_empty();
    let sizes = if sizes_given {
        plan.sizes.clone()
    } else {
        vec![128]
    };
    let bar = progress(u64::from(plan.runs) * 2 * sizes.len() as u64, plan.json);
    let mut said = false;
    let mut results = Vec::new();
    for &memory_mb in &sizes {
        config_a.memory_mb = memory_mb;
        config_b.memory_mb = memory_mb;
        let (sandbox, limits) = if sizes_given {
            sandbox_for(memory_mb, &mut said, plan.json)
        } else {
            (None, Limits::NotRequested)
        };
        // One unrecorded round first (page cache, dynamic loader), then A and B alternating
        // with the order rotating every run.
        let _ = run_cold(&config_a, sandbox.as_ref());
        let _ = run_cold(&config_b, sandbox.as_ref());
        let (mut runs_a, mut runs_b) = (Vec::new(), Vec::new());
        for i in 0..plan.runs {
            if i % 2 == 0 {
                runs_a.push(run_cold(&config_a, sandbox.as_ref()));
                runs_b.push(run_cold(&config_b, sandbox.as_ref()));
            } else {
                runs_b.push(run_cold(&config_b, sandbox.as_ref()));
                runs_a.push(run_cold(&config_a, sandbox.as_ref()));
            }
            bar.inc(2);
        }
        drop(sandbox);
        let size = |runs| SizeRuns {
            memory_mb,
            limits: limits.clone(),
            init_type: plan.template.init_type,
            runs,
        };
        results.push(SizePair {
            a: size(runs_a),
            b: size(runs_b),
            cpu_model: super::render::compare_cpu_model_line(&config_a, &limits),
        });
    }
    bar.finish_and_clear();

    let failed = results
        .iter()
        .flat_map(|s| s.a.runs.iter().chain(&s.b.runs))
        .filter(|r| !r.outcome.is_ok())
        .count();
    let budget = args.runs.budget.map(|budget| {
        let b_sizes: Vec<SizeRuns> = results.iter().map(|s| s.b.clone()).collect();
        check_budget(&b_sizes, budget, args.runs.percentile)
    });
    let compared: Vec<Vec<CompareRow>> = results.iter().map(compare_rows).collect();
    if plan.json {
        let runs_json = |runs: &[ColdRun]| runs.iter().map(profile::run_json).collect::<Vec<_>>();
        let first = &results[0];
        let document = json!({
            "coldstart_compare": 1,
            "init_type": plan.template.init_type.as_str(),
            "a": { "binary": a.display().to_string(), "env": args.a_env, "runs": runs_json(&first.a.runs) },
            "b": { "binary": b.display().to_string(), "env": args.b_env, "runs": runs_json(&first.b.runs) },
            "rows": compared[0].iter().map(CompareRow::json).collect::<Vec<_>>(),
            "sizes": results.iter().zip(&compared).map(|(size, rows)| json!({
                "memory_mb": size.a.memory_mb,
                "cpu_model": size.cpu_model,
                "limits": size.a.limits.label(),
                "projected": size.a.projected(),
                "a_runs": runs_json(&size.a.runs),
                "b_runs": runs_json(&size.b.runs),
                "rows": rows.iter().map(CompareRow::json).collect::<Vec<_>>(),
                "notes": notes(size, plan.template.delay_first_event),
            })).collect::<Vec<_>>(),
            "budget": budget.as_ref().map(BudgetCheck::json),
        });
        println!("{document:#}");
    } else {
        let label = |path: &Path, env: &[String]| {
            let mut label = path.display().to_string();
            if !env.is_empty() {
                label.push_str(&format!(" [{}]", env.join(" ")));
            }
            label
        };
        println!("A: {}", label(&a, &args.a_env));
        println!("B: {}", label(&b, &args.b_env));
        for (size, rows) in results.iter().zip(&compared) {
            print!(
                "{}",
                size_text(size, rows, plan.runs, plan.template.delay_first_event)
            );
        }
        if results.len() > 1 {
            print!("{}", across_sizes(&results, &compared));
        }
        if let Some(budget) = &budget {
            println!("{} (B)", budget.sentence());
        }
    }
    Ok(exit_code(failed, budget.as_ref()))
}

/// One size's block: what ran, failures, the table, notes and the verdict.
fn size_text(
    size: &SizePair,
    rows: &[CompareRow],
    runs: u32,
    delay_first_event: Duration,
) -> String {
    let mut out = format!(
        "\n{} runs each, alternating (order rotating), at {} MB; B − A paired by run, median and its distribution-free 95 % interval\n",
        runs, size.a.memory_mb
    );
    out.push_str(&size.cpu_model);
    out.push('\n');
    for (side, runs) in [("A", &size.a.runs), ("B", &size.b.runs)] {
        let failures = failures_text(runs);
        if !failures.is_empty() {
            out.push_str(&format!("{side} failed:\n{failures}"));
        }
    }
    out.push_str(
        "ratio = A median ÷ B median (19.0× means B takes 1/19 of A's; below 1×, B takes more)\n\n",
    );
    out.push_str(&table(rows));
    out.push('\n');
    for note in notes(size, delay_first_event) {
        out.push_str(&note);
        out.push('\n');
    }
    for row in rows
        .iter()
        .filter(|r| r.name == "exec → first response" || r.name == "INIT GB-s")
    {
        if let Some(verdict) = row.verdict() {
            out.push_str(&verdict);
            out.push('\n');
        }
    }
    out
}

/// The comparison table, columns as wide as their widest cell; under a row, why a side has no
/// value (or not in every run).
fn table(rows: &[CompareRow]) -> String {
    let header = [
        String::new(),
        "A median".into(),
        "B median".into(),
        "B − A".into(),
        "95 % interval".into(),
        "pairs".into(),
        "ratio".into(),
    ];
    let cells: Vec<[String; 7]> = rows.iter().map(CompareRow::cells).collect();
    let mut widths = [0usize; 7];
    for line in std::iter::once(&header).chain(&cells) {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 7]| {
        let mut out = format!("{:w$}", cells[0], w = widths[0]);
        for (cell, width) in cells.iter().zip(widths).skip(1) {
            out.push_str(&format!("  {cell:>width$}"));
        }
        out.push('\n');
        out
    };
    let mut out = line(&header);
    for (row, cells) in rows.iter().zip(&cells) {
        out.push_str(&line(cells));
        for why in [&row.a.why, &row.b.why].into_iter().flatten() {
            out.push_str(&format!("    {why}\n"));
        }
    }
    out
}

/// Notes under a size's table: runs without `user_facing`, unprojected/projected INIT, INIT
/// not billed as duration.
fn notes(size: &SizePair, delay_first_event: Duration) -> Vec<String> {
    let mut notes = Vec::new();
    for (side, runs) in [("A", &size.a), ("B", &size.b)] {
        if profile::reporting_runs(&runs.runs) == 0 && runs.runs.iter().any(|r| r.outcome.is_ok()) {
            notes.push(format!(
                "{side} printed no coldstart report (built without `coldstart`): its phase and lazy-static cells show —; what it builds eagerly, e.g. in main, is part of its INIT"
            ));
        }
    }
    for (side, runs) in [("A", &size.a), ("B", &size.b)] {
        if let Some(note) = profile::user_facing_note(&runs.runs, delay_first_event) {
            for line in note.lines() {
                notes.push(format!("{side}: {line}"));
            }
        }
    }
    if !size.a.init_type.init_billed_as_duration() {
        notes.push(not_billed_note(size.a.init_type).trim_end().to_owned());
    } else if size.a.projected() {
        notes.push("INIT GB-s projected: no CPU limit could be applied; INIT = max(measured, INIT CPU time × 1769 / memory MB)".into());
    }
    notes
}

/// With several sizes: exec → first response and INIT GB-s per size, side by side.
fn across_sizes(results: &[SizePair], compared: &[Vec<CompareRow>]) -> String {
    let mut out = String::from("\nacross memory sizes (medians; ratio = A ÷ B)\n");
    out.push_str(&format!(
        "{:>8}  {:>14} {:>14} {:>8}  {:>16} {:>16} {:>8}\n",
        "memory", "A response", "B response", "ratio", "A INIT GB-s", "B INIT GB-s", "ratio"
    ));
    for (size, rows) in results.iter().zip(compared) {
        let find = |name: &str| rows.iter().find(|r| r.name == name);
        let cells = |row: Option<&CompareRow>| match row {
            Some(row) => (row.a.cell(row.unit), row.b.cell(row.unit), row.ratio_text()),
            None => ("—".into(), "—".into(), "—".into()),
        };
        let (a, b, ratio) = cells(find("exec → first response"));
        let (ga, gb, gratio) = cells(find("INIT GB-s"));
        out.push_str(&format!(
            "{:>5} MB  {a:>14} {b:>14} {ratio:>8}  {ga:>16} {gb:>16} {gratio:>8}\n",
            size.a.memory_mb
        ));
    }
    out
}

/// One side's value of a row, or why it has none.
struct Side {
    summary: Option<Summary>,
    /// What the median cell says without a value (`not built`, `—`, `not billed`, …).
    word: &'static str,
    /// Why the side has no value, or that some runs did not build it.
    why: Option<String>,
}

impl Side {
    fn cell(&self, unit: Unit) -> String {
        match self.summary {
            Some(s) => profile::fmt_value(Some(s.median), unit),
            None => self.word.into(),
        }
    }
}

/// One measurement of `compare`: both sides, and the paired differences B − A.
struct CompareRow {
    name: String,
    unit: Unit,
    a: Side,
    b: Side,
    diff_median: Option<f64>,
    interval: Option<(f64, f64)>,
    pairs: usize,
}

/// What a side says about a row it has no row for.
fn absent(side: &str, runs: &[ColdRun], section: &str) -> Side {
    let reported = profile::reporting_runs(runs) > 0;
    let why = match (reported, section) {
        (false, "lazy") => Some(format!(
            "{side}: no coldstart report, so not a lazy static there (built eagerly, e.g. in main, as part of INIT, or not at all)"
        )),
        // Said once under the table.
        (false, _) => None,
        (true, "lazy") => Some(format!(
            "{side}: not a lazy static (built eagerly, e.g. in main, as part of INIT, or not at all)"
        )),
        (true, _) => Some(format!("{side}: no such phase in its report")),
    };
    Side {
        summary: None,
        word: "—",
        why,
    }
}

fn side(side: &str, row: Option<&Row>, runs: &[ColdRun], section: &str) -> Side {
    let Some(row) = row else {
        return absent(side, runs, section);
    };
    let summary = row.summary();
    let not_built = row.not_built_text(profile::reporting_runs(runs));
    Side {
        summary,
        word: if not_built.is_some() {
            "not built"
        } else if row.name == "user_facing"
            && profile::user_facing_note(runs, Duration::ZERO).is_some()
        {
            // Not a failed measurement: the starts were not user-facing, as the note says.
            "—"
        } else {
            "unavailable"
        },
        why: not_built.map(|text| format!("{side}: {text}")),
    }
}

fn compare_rows(size: &SizePair) -> Vec<CompareRow> {
    let (runs_a, runs_b) = (&size.a.runs, &size.b.runs);
    let rows_a = profile::rows(runs_a);
    let rows_b = profile::rows(runs_b);
    let mut out = Vec::new();
    // Every row of either side, section by section: A's order, then what only B has.
    for section in ["tool", "phase", "named phase", "lazy"] {
        let mut names: Vec<&str> = Vec::new();
        for row in rows_a.iter().chain(&rows_b) {
            if row.section == section && !names.contains(&row.name.as_str()) {
                names.push(&row.name);
            }
        }
        for name in names {
            let find = |rows: &'_ [Row]| -> Option<Row> {
                rows.iter()
                    .find(|r| r.section == section && r.name == name)
                    .cloned()
            };
            let (row_a, row_b) = (find(&rows_a), find(&rows_b));
            let unit = row_a
                .as_ref()
                .or(row_b.as_ref())
                .map_or(Unit::Ms, |r| r.unit);
            let values = |row: &Option<Row>| row.as_ref().map(|r| r.values.clone());
            out.push(paired(
                if section == "tool" {
                    name.to_owned()
                } else {
                    format!("{section}: {name}")
                },
                unit,
                side("A", row_a.as_ref(), runs_a, section),
                side("B", row_b.as_ref(), runs_b, section),
                values(&row_a),
                values(&row_b),
            ));
        }
    }
    // What INIT costs, as Lambda bills it.
    let gb_side = |size: &SizeRuns| {
        let values = size.init_gb_seconds();
        Side {
            summary: Summary::of(&values.iter().flatten().copied().collect::<Vec<_>>()),
            word: if size.init_type.init_billed_as_duration() {
                "unavailable"
            } else {
                "not billed"
            },
            why: None,
        }
    };
    out.push(paired(
        "INIT GB-s".into(),
        Unit::GbSeconds,
        gb_side(&size.a),
        gb_side(&size.b),
        Some(size.a.init_gb_seconds()),
        Some(size.b.init_gb_seconds()),
    ));
    out
}

fn paired(
    name: String,
    unit: Unit,
    a: Side,
    b: Side,
    values_a: Option<Vec<Option<f64>>>,
    values_b: Option<Vec<Option<f64>>>,
) -> CompareRow {
    let diffs: Vec<f64> = match (values_a, values_b) {
        (Some(va), Some(vb)) => va
            .iter()
            .zip(&vb)
            .filter_map(|(a, b)| Some((*b)? - (*a)?))
            .collect(),
        _ => Vec::new(),
    };
    let sorted = stats::sorted(&diffs);
    CompareRow {
        name,
        unit,
        a,
        b,
        diff_median: stats::quantile(&sorted, 0.5),
        interval: stats::median_interval(&sorted),
        pairs: sorted.len(),
    }
}

impl CompareRow {
    /// A median ÷ B median.
    fn ratio(&self) -> Option<f64> {
        let (a, b) = (self.a.summary?.median, self.b.summary?.median);
        (a > 0.0 && b > 0.0).then_some(a / b)
    }

    fn ratio_text(&self) -> String {
        self.ratio().map_or("—".into(), factor)
    }

    /// Neither side has a value (nothing to pair, no interval to show).
    fn missing_word(&self) -> &'static str {
        if self.a.summary.is_none() && self.b.summary.is_none() && self.a.word == self.b.word {
            self.a.word
        } else {
            "—"
        }
    }

    fn signed(&self, x: f64) -> String {
        let text = profile::fmt_value(Some(x), self.unit);
        if x >= 0.0 {
            format!("+{text}")
        } else {
            text
        }
    }

    /// The table cells: name, A, B, B − A, interval, pairs, ratio.
    fn cells(&self) -> [String; 7] {
        let missing = self.missing_word();
        [
            self.name.clone(),
            self.a.cell(self.unit),
            self.b.cell(self.unit),
            self.diff_median.map_or(missing.into(), |d| self.signed(d)),
            self.interval.map_or(missing.into(), |(lo, hi)| {
                format!("{} to {}", self.signed(lo), self.signed(hi))
            }),
            self.pairs.to_string(),
            self.ratio_text(),
        ]
    }

    /// The row's answer in words: which side is lower, by what factor, and whether the paired
    /// differences make it clear.
    fn verdict(&self) -> Option<String> {
        let (a, b) = (self.a.summary?.median, self.b.summary?.median);
        let ratio = self.ratio()?;
        let v = |x: f64| profile::fmt_value(Some(x), self.unit);
        let (lower, higher) = if self.unit == Unit::GbSeconds {
            ("cheaper", "costlier")
        } else {
            ("faster", "slower")
        };
        let clear = self.interval.is_some_and(|(lo, hi)| lo > 0.0 || hi < 0.0);
        let how = if ratio >= 1.0 {
            format!("B is {} {lower} than A", factor(ratio))
        } else {
            format!("B is {} {higher} than A", factor(1.0 / ratio))
        };
        let (lo, hi) = self.interval?;
        Some(if clear {
            format!(
                "{}: {how} (median {} vs {}; B − A {} to {} at 95 %)",
                self.name,
                v(b),
                v(a),
                self.signed(lo),
                self.signed(hi)
            )
        } else {
            format!(
                "{}: no clear difference (median B {} vs A {}, ratio {}; the 95 % interval of B − A, {} to {}, includes 0)",
                self.name,
                v(b),
                v(a),
                self.ratio_text(),
                self.signed(lo),
                self.signed(hi)
            )
        })
    }

    fn json(&self) -> Value {
        let word = |word: &str| {
            Value::String(
                match word {
                    "not billed" => NOT_BILLED,
                    "—" => "absent",
                    other => other,
                }
                .into(),
            )
        };
        let side = |side: &Side| {
            side.summary
                .map_or_else(|| word(side.word), |s| Value::from(s.median))
        };
        let missing = word(self.missing_word());
        json!({
            "name": self.name,
            "unit": self.unit.symbol(),
            "a_median": side(&self.a),
            "b_median": side(&self.b),
            "a_note": self.a.why,
            "b_note": self.b.why,
            "diff_median": self.diff_median.map_or(missing.clone(), Value::from),
            "diff_interval_95": self.interval.map_or(missing, |(lo, hi)| json!([lo, hi])),
            "pairs": self.pairs,
            "ratio_a_over_b": self.ratio(),
        })
    }
}

/// `19.0×`, `1.31×`.
fn factor(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.2}×")
    }
}
