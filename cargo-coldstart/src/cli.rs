//! The command line: arguments (clap), building the function, the run loops of `profile` and
//! `compare`, output, and exit codes.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::limits::{LambdaSize, Sandbox};
use crate::profile::{self, Limits, SizeRuns, Unit};
use crate::run::{run_cold, ColdRun, InitType, RunConfig};
use crate::stats::{self, Summary};

/// Exit code: every run succeeded (and the budget, if any, held).
pub const EXIT_OK: i32 = 0;
/// Exit code: the tool could not do its work (bad event file, build failed, binary missing).
pub const EXIT_ERROR: i32 = 1;
/// Exit code: bad command-line arguments (clap's).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: at least one run failed (crashed, init error, timed out, error response).
pub const EXIT_RUNS_FAILED: i32 = 3;
/// Exit code: the `--percentile` of exec → first response exceeded `--budget`.
pub const EXIT_OVER_BUDGET: i32 = 4;

const EXIT_CODES: &str = "Exit codes:
  0  every run succeeded and the budget (if any) held
  1  the tool could not run (bad --event file, build failed, binary not found)
  2  bad arguments
  3  at least one run failed (crashed or exited in INIT, init error, never asked for an event,
     timed out, answered with an error)
  4  the --percentile of exec → first response exceeded --budget";

/// `cargo coldstart`: start a Lambda function cold, many times, on this machine, and say what
/// its cold start costs.
#[derive(Debug, Parser)]
#[command(name = "cargo-coldstart", bin_name = "cargo coldstart", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start one function cold N times: tool clock, INIT CPU, peak RSS, and the coldstart
    /// report's phases and lazy statics.
    Profile(ProfileArgs),
    /// Start two functions cold, alternating run by run: paired differences with a 95 % interval.
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
struct ProfileArgs {
    /// Build and profile this binary target (`cargo build --profile release --bin NAME`).
    #[arg(long, conflicts_with_all = ["example", "binary"])]
    bin: Option<String>,
    /// Build and profile this example (`cargo build --profile release --example NAME`).
    #[arg(long, conflicts_with = "binary")]
    example: Option<String>,
    #[command(flatten)]
    build: BuildArgs,
    /// A function binary to profile, instead of building one.
    binary: Option<PathBuf>,
    #[command(flatten)]
    runs: RunArgs,
    /// Arguments for the function binary.
    #[arg(last = true)]
    args: Vec<OsString>,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The baseline and the candidate binary (or give one and use --a-env/--b-env).
    #[arg(num_args = 0..=2)]
    binaries: Vec<PathBuf>,
    /// Build these binary targets: the first is A, the second B (one: both, with different env).
    #[arg(long, num_args = 1)]
    bin: Vec<String>,
    /// Build these examples: the first is A, the second B (one: both, with different env).
    #[arg(long, num_args = 1)]
    example: Vec<String>,
    #[command(flatten)]
    build: BuildArgs,
    /// An environment variable for A only (KEY=VALUE, repeatable).
    #[arg(long = "a-env", value_name = "KEY=VALUE")]
    a_env: Vec<String>,
    /// An environment variable for B only (KEY=VALUE, repeatable).
    #[arg(long = "b-env", value_name = "KEY=VALUE")]
    b_env: Vec<String>,
    #[command(flatten)]
    runs: RunArgs,
    /// Arguments for both function binaries.
    #[arg(last = true)]
    args: Vec<OsString>,
}

/// How `--bin`/`--example` targets are built (profile and compare alike).
#[derive(Debug, Args)]
struct BuildArgs {
    /// The package of `--bin`/`--example`.
    #[arg(long, short)]
    package: Option<String>,
    /// Features for the build (`cargo build --features`).
    #[arg(long)]
    features: Option<String>,
    /// The cargo profile to build with.
    #[arg(long, value_name = "NAME", default_value = "release")]
    cargo_profile: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InitTypeArg {
    OnDemand,
    ProvisionedConcurrency,
    SnapStart,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Cold starts per binary (and per memory size).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// A JSON event file; repeat to serve several events, in order, to every cold process
    /// (default: one `{}` event).
    #[arg(long, value_name = "FILE")]
    event: Vec<PathBuf>,
    /// AWS_LAMBDA_INITIALIZATION_TYPE.
    #[arg(long, value_enum, default_value = "on-demand")]
    init_type: InitTypeArg,
    /// Wait this long after the first /next before serving the first event (proactive init).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay_first_event: u64,
    /// Limit per run, in seconds, from exec to the last response.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    timeout: f64,
    /// Lambda memory sizes in MB, 128 to 10240 (comma-separated); each size gets --runs runs
    /// [default: 128, not limited, nothing projected].
    #[arg(long, value_name = "MB,...", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(128..=10240))]
    memory: Vec<u32>,
    /// An environment variable for the function (KEY=VALUE, repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Print one JSON document on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML page (waterfall, distributions, memory table).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Fail (exit 4) when the --percentile of exec → first response exceeds this (100ms, 1.5s);
    /// with compare, B's.
    #[arg(long, value_name = "DURATION", value_parser = parse_budget)]
    budget: Option<Duration>,
    /// The percentile --budget applies to.
    #[arg(long, default_value_t = 95.0, value_parser = parse_percentile)]
    percentile: f64,
}

fn parse_budget(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write it like 100ms, 1.5s or 800us"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1e3,
        "s" => number,
        "us" | "µs" => number / 1e6,
        _ => {
            return Err(format!(
                "`{text}`: the unit must be ms, s or us (100ms, 1.5s, 800us)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

fn parse_percentile(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!(
            "`{text}`: a percentile is a number above 0 and at most 100"
        )),
    }
}

fn parse_env(pairs: &[String]) -> Result<Vec<(String, String)>, String> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(format!("`{pair}`: an environment variable is KEY=VALUE")),
        })
        .collect()
}

/// Runs the command line `args` (the process's, with cargo's extra `coldstart` argument
/// removed) and returns the exit code.
pub fn main_with(mut args: Vec<OsString>) -> i32 {
    // `cargo coldstart profile …` runs `cargo-coldstart coldstart profile …`.
    if args.get(1).is_some_and(|a| a == "coldstart") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    crate::children::install_interrupt_handler();
    let result = match cli.command {
        Cmd::Profile(args) => profile_command(args),
        Cmd::Compare(args) => compare_command(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("cargo coldstart: error: {message}");
            EXIT_ERROR
        }
    }
}

/// Shared settings of both commands, checked before any run.
struct Plan {
    template: RunConfig,
    runs: u32,
    sizes: Vec<u32>,
    json: bool,
}

fn plan(runs: &RunArgs, args: Vec<OsString>) -> Result<Plan, String> {
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
    template.timeout = Duration::from_secs_f64(runs.timeout);
    Ok(Plan {
        template,
        runs: runs.runs,
        sizes: runs.memory.clone(),
        json: runs.json,
    })
}

fn progress(total: u64, json: bool) -> ProgressBar {
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

/// Builds a binary or example with cargo and returns the executable's path.
fn build(kind: &str, name: &str, how: &BuildArgs) -> Result<PathBuf, String> {
    let (package, features, cargo_profile) = (
        how.package.as_deref(),
        how.features.as_deref(),
        how.cargo_profile.as_str(),
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--profile",
        cargo_profile,
        "--message-format=json-render-diagnostics",
    ]);
    if let Some(package) = package {
        command.args(["--package", package]);
    }
    if let Some(features) = features {
        command.args(["--features", features]);
    }
    command.args([&format!("--{kind}"), name]);
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let output = command
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build --profile {cargo_profile} --{kind} {name} failed ({})",
            output.status
        ));
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact" && message["target"]["name"] == name {
            if let Some(exe) = message["executable"].as_str() {
                return Ok(relative_to_current_dir(PathBuf::from(exe)));
            }
        }
    }
    Err(format!("cargo built no executable named `{name}`"))
}

/// `target/release/x` rather than the absolute path cargo reports, when the binary is under the
/// current directory: what the tables print reads the same on every machine.
fn relative_to_current_dir(exe: PathBuf) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|dir| exe.strip_prefix(dir).ok().map(Path::to_path_buf))
        .filter(|relative| relative.components().count() > 1)
        .unwrap_or(exe)
}

fn check_binary(path: &Path) -> Result<PathBuf, String> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "{}: no such file (give a function binary, or --bin/--example to build one)",
            path.display()
        ))
    }
}

fn sandbox_for(memory_mb: u32, said: &mut bool, quiet: bool) -> (Option<Sandbox>, Limits) {
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

fn profile_command(args: ProfileArgs) -> Result<i32, String> {
    let binary = match (&args.bin, &args.example, &args.binary) {
        (Some(bin), _, _) => build("bin", bin, &args.build)?,
        (_, Some(example), _) => build("example", example, &args.build)?,
        (_, _, Some(path)) => check_binary(path)?,
        _ => {
            return Err(
                "nothing to profile: give a binary path, --bin NAME or --example NAME".into(),
            )
        }
    };
    let plan = plan(&args.runs, args.args)?;
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
            limits,
            runs,
        });
    }
    bar.finish_and_clear();

    let budget = args
        .runs
        .budget
        .map(|budget| check_budget(&results, budget, args.runs.percentile));
    if let Some(path) = &args.runs.html {
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
    if let Some(path) = &args.runs.html {
        eprintln!("cargo coldstart: wrote {}", path.display());
    }
    Ok(exit_code(failed, budget.as_ref()))
}

/// The exit code of `profile` and `compare`: a failed run first, then the budget.
fn exit_code(failed: usize, budget: Option<&BudgetCheck>) -> i32 {
    if failed > 0 {
        EXIT_RUNS_FAILED
    } else if budget.is_some_and(|b| b.exceeded) {
        EXIT_OVER_BUDGET
    } else {
        EXIT_OK
    }
}

fn failures_text(runs: &[ColdRun]) -> String {
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

fn profile_text(
    binary: &Path,
    template: &RunConfig,
    sizes: &[SizeRuns],
    sizes_given: bool,
) -> String {
    let mut out = String::new();
    for size in sizes {
        let ok = size.runs.iter().filter(|r| r.outcome.is_ok()).count();
        out.push_str(&format!(
            "{}: {} cold runs at {} MB, {}{}: {} ok, {} failed\n",
            binary.display(),
            size.runs.len(),
            size.memory_mb,
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
        out.push_str(&failures_text(&size.runs));
        out.push('\n');
        out.push_str(&profile::text_table(&size.runs));
        out.push('\n');
    }
    if sizes_given {
        out.push_str("per memory size (INIT GB-s = memory GB × INIT rounded up to 1 ms)\n");
        out.push_str(&profile::size_table(sizes));
        if sizes.iter().any(SizeRuns::projected) {
            out.push_str("projected: no CPU limit could be applied; INIT = max(measured, INIT CPU time × 1769 / memory MB)\n");
        }
    }
    out
}

/// The outcome of `--budget`.
struct BudgetCheck {
    budget: Duration,
    percentile: f64,
    /// (memory MB, the percentile's value in ms) per size.
    values: Vec<(u32, Option<f64>)>,
    exceeded: bool,
}

impl BudgetCheck {
    fn sentence(&self) -> String {
        let budget_ms = self.budget.as_secs_f64() * 1e3;
        let parts: Vec<String> = self
            .values
            .iter()
            .map(|(mb, v)| format!("{} at {mb} MB", profile::fmt_value(*v, Unit::Ms)))
            .collect();
        format!(
            "budget: p{} of exec → first response is {}; budget {budget_ms} ms: {}",
            self.percentile,
            parts.join(", "),
            if self.exceeded { "EXCEEDED" } else { "ok" }
        )
    }

    fn json(&self) -> Value {
        json!({
            "budget_ms": self.budget.as_secs_f64() * 1e3,
            "percentile": self.percentile,
            "values": self.values.iter().map(|(mb, v)| json!({
                "memory_mb": mb,
                "ms": v.map_or(Value::String("unavailable".into()), Value::from),
            })).collect::<Vec<_>>(),
            "exceeded": self.exceeded,
        })
    }
}

/// The budget applies to every size's (projected, where it is) exec → first response; a size
/// without a single response cannot be shown within budget, so it counts as exceeding it.
fn check_budget(sizes: &[SizeRuns], budget: Duration, percentile: f64) -> BudgetCheck {
    let budget_ms = budget.as_secs_f64() * 1e3;
    let values: Vec<(u32, Option<f64>)> = sizes
        .iter()
        .map(|size| {
            let sorted = stats::sorted(
                &size
                    .cold_start_ms()
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>(),
            );
            (size.memory_mb, stats::quantile(&sorted, percentile / 100.0))
        })
        .collect();
    let exceeded = values.iter().any(|(_, v)| v.is_none_or(|v| v > budget_ms));
    BudgetCheck {
        budget,
        percentile,
        values,
        exceeded,
    }
}

fn compare_command(args: CompareArgs) -> Result<i32, String> {
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
