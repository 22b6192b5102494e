//! What both commands set up before the first run: the run configuration from the arguments,
//! and a sandbox per memory size.

use std::ffi::OsString;
use std::time::Duration;

use serde_json::{json, Value};

use super::args::{parse_env, InitCpuArg, InitTypeArg, RunArgs};
use crate::calibrate::Calibration;
use crate::cpu_model::{CpuChoice, InitCpu};
use crate::limits::{LambdaSize, Sandbox};
use crate::profile::{self, Limits};
use crate::run::{InitType, RunConfig};

/// Shared settings of both commands, checked before any run.
pub(super) struct Plan {
    pub(super) template: RunConfig,
    pub(super) runs: u32,
    pub(super) sizes: Vec<u32>,
    pub(super) json: bool,
}

pub(super) fn plan(runs: &RunArgs, args: Vec<OsString>) -> Result<Plan, String> {
    let mut events = Vec::new();
    for path in &runs.event {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--event {}: {e}", path.display()))?;
        let event: Value = serde_json::from_str(&text)
            .map_err(|e| format!("--event {}: not JSON: {e}", path.display()))?;
        events.push(event);
    }
    if events.is_empty() {
        events.push(json!({}));
    }
    if !(runs.timeout.is_finite() && runs.timeout > 0.0) {
        return Err(format!(
            "--timeout {}: must be a positive number of seconds",
            runs.timeout
        ));
    }
    let mut template = RunConfig::new("");
    template.args = args;
    template.env = parse_env(&runs.env)?;
    template.events = events;
    template.init_type = match runs.init_type {
        InitTypeArg::OnDemand => InitType::OnDemand,
        InitTypeArg::ProvisionedConcurrency => InitType::ProvisionedConcurrency,
        InitTypeArg::SnapStart => InitType::SnapStart,
    };
    template.delay_first_event = Duration::from_millis(runs.delay_first_event);
    let cpu = cpu_choice(runs).map_err(|(_, message)| message)?;
    if let (Some(calibration), false) = (&cpu.calibration, runs.json) {
        eprint!("{}", calibration.summary());
    }
    let mut sizes = runs.memory.clone();
    if sizes.is_empty() {
        if let Some(calibration) = &cpu.calibration {
            sizes = calibration.sizes();
        }
    }
    template.cpu = Some(cpu);
    template.timeout = Duration::from_secs_f64(runs.timeout);
    Ok(Plan {
        template,
        runs: runs.runs,
        sizes,
        json: runs.json,
    })
}

/// `--init-cpu` and `--calibrate` (read and fitted). Errors carry their exit code: 1 when the file cannot be read, 2 when nothing in it can be
/// fitted.
pub(super) fn cpu_choice(runs: &RunArgs) -> Result<CpuChoice, (i32, String)> {
    let init_cpu = runs.init_cpu.map(|arg| match arg {
        InitCpuArg::Proportional => InitCpu::Proportional,
        InitCpuArg::Full => InitCpu::Full,
    });
    let calibration = match &runs.calibrate {
        None => None,
        Some(path) => {
            let calibration = Calibration::load(path).map_err(|e| (super::EXIT_ERROR, e))?;
            if calibration.is_empty() {
                return Err((
                    super::EXIT_USAGE,
                    format!(
                        "--calibrate {}: nothing to fit. Expected coldstart report lines \
                         ({{\"coldstart_report\":1,…}}) with \"memory_mb\" and a \"cpu\" object, \
                         one per line, raw or as CloudWatch Logs exports them.\n{}",
                        path.display(),
                        calibration.summary().trim_end()
                    ),
                ));
            }
            Some(calibration)
        }
    };
    Ok(CpuChoice {
        init_cpu,
        calibration,
    })
}

pub(super) fn sandbox_for(
    memory_mb: u32,
    said: &mut bool,
    quiet: bool,
) -> (Option<Sandbox>, Limits) {
    match Sandbox::create(LambdaSize { memory_mb }) {
        Ok(sandbox) => (Some(sandbox), Limits::Applied),
        Err(why) => {
            let why = why.to_string();
            if !*said && !quiet {
                eprintln!("cargo coldstart: {why}; cold starts below {} MB are projected from the measured INIT CPU time", profile::FULL_VCPU_MB);
                *said = true;
            }
            (None, Limits::Unavailable(why))
        }
    }
}
