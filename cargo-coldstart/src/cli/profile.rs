//! `cargo coldstart profile`: the run loop over memory sizes, then the tables, JSON or HTML.

use serde_json::json;

use super::args::ProfileArgs;
use super::budget::{check_budget, BudgetCheck};
use super::build::{build, check_binary};
use super::plan::{cpu_choice, plan, sandbox_for};
use super::render::{profile_text, progress};
use super::{exit_code, CliError};
use crate::profile::{self, Limits, SizeRuns};
use crate::run::{run_cold, ColdRun};

pub(super) fn profile_command(args: ProfileArgs) -> Result<i32, CliError> {
    // A calibration that fits nothing is a usage error (exit 2), found before any build.
    if let Err((code, message)) = cpu_choice(&args.runs) {
        eprintln!("cargo coldstart: error: {message}");
        return Ok(code);
    }
    // Events and settings first: a mistake there is found before a long build.
    let plan = plan(&args.runs, args.args)?;
    let binary = match (&args.bin, &args.example, &args.binary) {
        (Some(bin), _, _) => build("bin", bin, &args.build)?,
        (_, Some(example), _) => build("example", example, &args.build)?,
        (_, _, Some(path)) => check_binary(path)?,
        _ => {
            return Err(CliError::Usage {
                command: "profile",
                message: "nothing to profile: give a binary path, --bin NAME or --example NAME"
                    .into(),
            })
        }
    };
    let mut template = plan.template.clone();
    template.function_name = binary
        .file_name()
        .map_or_else(|| "function".into(), |n| n.to_string_lossy().into_owned());
    template.program = binary.clone();
    let sizes_given = !plan.sizes.is_empty();
    let sizes = if sizes_given {
        plan.sizes.clone()
    } else {
        vec![128]
    };
    let bar = progress(u64::from(plan.runs) * sizes.len() as u64, plan.json);
    let mut said = false;
    let mut results = Vec::new();
    for &memory_mb in &sizes {
        let (sandbox, limits) = if sizes_given {
            sandbox_for(memory_mb, &mut said, plan.json)
        } else {
            (None, Limits::NotRequested)
        };
        let mut config = template.clone();
        config.memory_mb = memory_mb;
        let mut runs = Vec::new();
        for _ in 0..plan.runs {
            let run = run_cold(&config, sandbox.as_ref());
            bar.inc(1);
            if !run.outcome.is_ok() {
                bar.set_message(format!(
                    "({} failed)",
                    runs.iter()
                        .filter(|r: &&ColdRun| !r.outcome.is_ok())
                        .count()
                        + 1
                ));
            }
            runs.push(run);
        }
        drop(sandbox);
        results.push(SizeRuns {
            memory_mb,
            init_type: template.init_type,
            limits,
            runs,
        });
    }
    bar.finish_and_clear();

    let budget = args
        .runs
        .budget
        .map(|budget| check_budget(&results, budget, args.runs.percentile));
    if let Some(path) = &args.html {
        let page = crate::html::page(&binary.display().to_string(), &results, sizes_given);
        std::fs::write(path, page).map_err(|e| format!("--html {}: {e}", path.display()))?;
    }
    let failed = results
        .iter()
        .flat_map(|s| &s.runs)
        .filter(|r| !r.outcome.is_ok())
        .count();
    if plan.json {
        let document = json!({
            "coldstart_profile": 1,
            "binary": binary.display().to_string(),
            "runs_per_size": plan.runs,
            "init_type": template.init_type.as_str(),
            "delay_first_event_ms": args.runs.delay_first_event,
            "events": template.events.len(),
            "calibration": template.cpu.as_ref().and_then(|c| c.calibration.as_ref()).map(|c| c.json()),
            "sizes": results.iter().map(profile::size_json).collect::<Vec<_>>(),
            "budget": budget.as_ref().map(BudgetCheck::json),
        });
        println!("{document:#}");
    } else {
        print!(
            "{}",
            profile_text(&binary, &template, &results, sizes_given)
        );
        if let Some(budget) = &budget {
            println!("{}", budget.sentence());
        }
    }
    if let Some(path) = &args.html {
        eprintln!("cargo coldstart: wrote {}", path.display());
    }
    Ok(exit_code(failed, budget.as_ref()))
}
