//! `cargo coldstart compare`: A and B run alternately, then their paired differences.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::args::{parse_env, CompareArgs};
use super::budget::{check_budget, BudgetCheck};
use super::build::{build, check_binary};
use super::exit_code;
use super::plan::{cpu_choice, plan, sandbox_for};
use super::render::{failures_text, progress};
use crate::profile::{self, Limits, SizeRuns, Unit};
use crate::run::{run_cold, ColdRun};
use crate::stats::{self, Summary};

pub(super) fn compare_command(args: CompareArgs) -> Result<i32, String> {
    // A calibration that fits nothing is a usage error (exit 2), found before any build.
    if let Err((code, message)) = cpu_choice(&args.runs) {
        eprintln!("cargo coldstart: error: {message}");
        return Ok(code);
    }
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
        [one] if !args.a_env.is_empty() || !args.b_env.is_empty() => (one.clone(), one.clone()),
        [a, b] => (a.clone(), b.clone()),
        _ => {
            return Err(format!(
                "compare needs two binaries A and B (paths, --bin or --example), or one with --a-env/--b-env; got {}",
                binaries.len()
            ))
        }
    };
    if args.runs.memory.len() > 1 {
        return Err("compare runs at one memory size; give --memory once".into());
    }
    if args.runs.html.is_some() {
        return Err("--html is for profile; compare prints tables or --json".into());
    }
    let plan = plan(&args.runs, args.args)?;
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
        config.memory_mb = plan.sizes.first().copied().unwrap_or(128);
    }
    let mut said = false;
    let (sandbox, _limits) = if plan.sizes.is_empty() {
        (None, Limits::NotRequested)
    } else {
        sandbox_for(config_a.memory_mb, &mut said, plan.json)
    };
    let bar = progress(u64::from(plan.runs) * 2, plan.json);
    // One unrecorded round first (page cache, dynamic loader), then A and B alternating with
    // the order rotating every run.
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
    bar.finish_and_clear();
    drop(sandbox);

    let comparison = compare_rows(&runs_a, &runs_b);
    let failed = runs_a
        .iter()
        .chain(&runs_b)
        .filter(|r| !r.outcome.is_ok())
        .count();
    let budget = args.runs.budget.map(|budget| {
        let b_only = SizeRuns {
            memory_mb: config_b.memory_mb,
            limits: Limits::NotRequested,
            runs: runs_b.clone(),
        };
        check_budget(std::slice::from_ref(&b_only), budget, args.runs.percentile)
    });
    if plan.json {
        let document = json!({
            "coldstart_compare": 1,
            "a": { "binary": a.display().to_string(), "env": args.a_env, "runs": runs_a.iter().map(profile::run_json).collect::<Vec<_>>() },
            "b": { "binary": b.display().to_string(), "env": args.b_env, "runs": runs_b.iter().map(profile::run_json).collect::<Vec<_>>() },
            "rows": comparison.iter().map(CompareRow::json).collect::<Vec<_>>(),
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
        println!(
            "{} runs each, alternating (order rotating), at {} MB; B − A paired by run, median and its distribution-free 95 % interval",
            plan.runs, config_a.memory_mb
        );
        println!(
            "{}",
            super::render::compare_cpu_model_line(&config_a, &_limits)
        );
        let failures_a = failures_text(&runs_a);
        let failures_b = failures_text(&runs_b);
        if !failures_a.is_empty() {
            print!("A failed:\n{failures_a}");
        }
        if !failures_b.is_empty() {
            print!("B failed:\n{failures_b}");
        }
        println!();
        let width = comparison
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(20)
            .max(22)
            + 2;
        println!(
            "{:width$} {:>12} {:>12} {:>12}  {:>24}  pairs",
            "", "A median", "B median", "B − A", "95 % interval"
        );
        for row in &comparison {
            println!("{}", row.text(width));
        }
        if let Some(budget) = &budget {
            println!("{} (B)", budget.sentence());
        }
    }
    Ok(exit_code(failed, budget.as_ref()))
}

/// One measurement of `compare`: the medians, and the paired differences B − A.
struct CompareRow {
    name: String,
    unit: Unit,
    a: Option<Summary>,
    b: Option<Summary>,
    diff_median: Option<f64>,
    interval: Option<(f64, f64)>,
    pairs: usize,
}

fn compare_rows(runs_a: &[ColdRun], runs_b: &[ColdRun]) -> Vec<CompareRow> {
    let rows_a = profile::rows(runs_a);
    let rows_b = profile::rows(runs_b);
    let mut out = Vec::new();
    for row_a in &rows_a {
        let Some(row_b) = rows_b
            .iter()
            .find(|r| r.section == row_a.section && r.name == row_a.name)
        else {
            continue;
        };
        let diffs: Vec<f64> = row_a
            .values
            .iter()
            .zip(&row_b.values)
            .filter_map(|(a, b)| Some((*b)? - (*a)?))
            .collect();
        let sorted = stats::sorted(&diffs);
        let name = if row_a.section == "tool" {
            row_a.name.clone()
        } else {
            format!("{}: {}", row_a.section, row_a.name)
        };
        out.push(CompareRow {
            name,
            unit: row_a.unit,
            a: row_a.summary(),
            b: row_b.summary(),
            diff_median: stats::quantile(&sorted, 0.5),
            interval: stats::median_interval(&sorted),
            pairs: sorted.len(),
        });
    }
    out
}

impl CompareRow {
    fn text(&self, width: usize) -> String {
        let v = |x: Option<f64>| profile::fmt_value(x, self.unit);
        let signed = |x: f64| {
            let text = v(Some(x));
            if x >= 0.0 {
                format!("+{text}")
            } else {
                text
            }
        };
        format!(
            "{:width$} {:>12} {:>12} {:>12}  {:>24}  {}",
            self.name,
            v(self.a.map(|s| s.median)),
            v(self.b.map(|s| s.median)),
            self.diff_median.map_or("unavailable".into(), signed),
            self.interval
                .map_or("unavailable".into(), |(lo, hi)| format!(
                    "{} to {}",
                    signed(lo),
                    signed(hi)
                )),
            self.pairs,
        )
    }

    fn json(&self) -> Value {
        let opt = |x: Option<f64>| x.map_or(Value::String("unavailable".into()), Value::from);
        json!({
            "name": self.name,
            "unit": self.unit.symbol(),
            "a_median": opt(self.a.map(|s| s.median)),
            "b_median": opt(self.b.map(|s| s.median)),
            "diff_median": opt(self.diff_median),
            "diff_interval_95": self.interval.map_or(Value::String("unavailable".into()), |(lo, hi)| json!([lo, hi])),
            "pairs": self.pairs,
        })
    }
}
