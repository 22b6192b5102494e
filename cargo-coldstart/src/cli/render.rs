//! Terminal output shared by the commands: the progress bar, the failed runs, the profile tables.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::profile::{self, SizeRuns};
use crate::run::{ColdRun, InitType, RunConfig};

pub(super) fn progress(total: u64, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} cold runs {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix("cargo coldstart");
    bar
}

pub(super) fn failures_text(runs: &[ColdRun]) -> String {
    let mut out = String::new();
    for (i, run) in runs.iter().enumerate().filter(|(_, r)| !r.outcome.is_ok()) {
        out.push_str(&format!("  run {}: {}\n", i + 1, run.outcome.describe()));
        let tail = run.stderr_tail.trim_end();
        if tail.is_empty() {
            out.push_str("    (nothing on stderr)\n");
        } else {
            let lines: Vec<&str> = tail.lines().collect();
            for line in &lines[lines.len().saturating_sub(8)..] {
                out.push_str(&format!("    stderr | {line}\n"));
            }
        }
    }
    out
}

pub(super) fn profile_text(
    binary: &Path,
    template: &RunConfig,
    sizes: &[SizeRuns],
    sizes_given: bool,
) -> String {
    let mut out = String::new();
    for size in sizes {
        let ok = size.runs.iter().filter(|r| r.outcome.is_ok()).count();
        out.push_str(&format!(
            "{}: {} cold runs at {} MB{}, {}{}: {} ok, {} failed\n",
            binary.display(),
            size.runs.len(),
            size.memory_mb,
            if sizes_given {
                ""
            } else {
                " (the memory size variable only: CPU and memory not limited)"
            },
            template.init_type.as_str(),
            if template.delay_first_event.is_zero() {
                String::new()
            } else {
                format!(
                    ", first event {} ms after /next",
                    template.delay_first_event.as_millis()
                )
            },
            ok,
            size.runs.len() - ok,
        ));
        out.push_str(&cpu_model_line(size));
        out.push_str(&failures_text(&size.runs));
        out.push('\n');
        out.push_str(&profile::text_table(&size.runs));
        if let Some(note) = profile::user_facing_note(&size.runs, template.delay_first_event) {
            out.push_str(&note);
        }
        out.push('\n');
    }
    if sizes_given {
        out.push_str("per memory size (INIT GB-s = memory GB × INIT rounded up to 1 ms)\n");
        for size in sizes {
            out.push_str(&cpu_model_line(size));
        }
        out.push_str(&profile::size_table(sizes));
        if !template.init_type.init_billed_as_duration() {
            out.push_str(&not_billed_note(template.init_type));
        }
        if sizes.iter().any(SizeRuns::projected) {
            out.push_str("projected: no CPU limit could be applied; INIT = max(measured, INIT CPU time / INIT's vCPUs), the first invocation likewise where the report carries its CPU time\n");
        }
    }
    out
}

/// The CPU model a size's runs used, stated in its header (every table says which model its
/// times depend on, and how to see the other).
pub(super) fn cpu_model_line(size: &SizeRuns) -> String {
    match (&size.limits, size.cpu_model()) {
        (profile::Limits::NotRequested, _) | (_, None) => {
            "CPU model: none, this machine's CPU throughout (--memory applies Lambda's)\n".into()
        }
        (profile::Limits::Applied, Some(model)) => {
            format!("CPU model {} [cgroup]\n", model.describe())
        }
        (profile::Limits::Unavailable(_), Some(model)) => {
            format!("CPU model {} [projected]\n", model.describe())
        }
    }
}

/// `compare`'s statement of its CPU model (one size, A's configuration).
pub(super) fn compare_cpu_model_line(config: &RunConfig, limits: &profile::Limits) -> String {
    let model = config
        .cpu
        .as_ref()
        .map(|choice| choice.model(config.memory_mb, config.init_type));
    match (limits, model) {
        (profile::Limits::Applied, Some(model)) => format!("CPU model {} [cgroup]", model.describe()),
        (profile::Limits::Unavailable(_), Some(model)) => format!(
            "CPU model {} [not applied: no CPU limit could be applied, times are this machine's]",
            model.describe()
        ),
        _ => format!(
            "CPU model: none, this machine's CPU throughout (at {} MB is the memory size variable only; --memory applies Lambda's)",
            config.memory_mb
        ),
    }
}

/// Why INIT GB-s are not shown for an init type whose INIT Lambda does not bill as duration.
pub(super) fn not_billed_note(init_type: InitType) -> String {
    format!(
        "INIT GB-s: {} INIT is not billed as duration (you pay for the provisioned or cached capacity instead); no INIT GB-s shown\n",
        init_type.as_str()
    )
}
