//! The command-line arguments (clap) and their help text, and the parsers of their values.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "Exit codes:
  0  every run succeeded and the budget (if any) held
  1  the tool could not run (bad --event file, build failed, binary not found)
  2  bad arguments (checked before anything is built)
  3  at least one run failed (crashed or exited in INIT, init error, never asked for an event,
     timed out, answered with an error)
  4  the --percentile of exec → first response exceeded --budget";

/// `cargo coldstart`: start a Lambda function cold, many times, on this machine, and say what
/// its cold start costs.
#[derive(Debug, Parser)]
#[command(name = "cargo-coldstart", bin_name = "cargo coldstart", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub(super) command: Cmd,
}

#[derive(Debug, Subcommand)]
pub(super) enum Cmd {
    /// Start one function cold N times: tool clock, INIT CPU, peak RSS, and the coldstart
    /// report's phases and lazy statics.
    Profile(ProfileArgs),
    /// Start two functions cold, alternating run by run, at each memory size: every row of
    /// either, paired differences with a 95 % interval, ratio, INIT GB-s.
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
pub(super) struct ProfileArgs {
    /// Build and profile this binary target (`cargo build --profile release --bin NAME`).
    #[arg(long, conflicts_with_all = ["example", "binary"])]
    pub(super) bin: Option<String>,
    /// Build and profile this example (`cargo build --profile release --example NAME`).
    #[arg(long, conflicts_with = "binary")]
    pub(super) example: Option<String>,
    #[command(flatten)]
    pub(super) build: BuildArgs,
    /// A function binary to profile, instead of building one.
    pub(super) binary: Option<PathBuf>,
    #[command(flatten)]
    pub(super) runs: RunArgs,
    /// Write a self-contained HTML page (waterfall, distributions, memory table).
    #[arg(long, value_name = "FILE")]
    pub(super) html: Option<PathBuf>,
    /// Arguments for the function binary.
    #[arg(last = true)]
    pub(super) args: Vec<OsString>,
}

#[derive(Debug, Args)]
pub(super) struct CompareArgs {
    /// The baseline and the candidate binary (or give one and use --a-env/--b-env).
    #[arg(num_args = 0..=2)]
    pub(super) binaries: Vec<PathBuf>,
    /// Build these binary targets: the first is A, the second B (one: both, with different env).
    #[arg(long, num_args = 1)]
    pub(super) bin: Vec<String>,
    /// Build these examples: the first is A, the second B (one: both, with different env).
    #[arg(long, num_args = 1)]
    pub(super) example: Vec<String>,
    #[command(flatten)]
    pub(super) build: BuildArgs,
    /// An environment variable for A only (KEY=VALUE, repeatable).
    #[arg(long = "a-env", value_name = "KEY=VALUE", value_parser = check_env_pair)]
    pub(super) a_env: Vec<String>,
    /// An environment variable for B only (KEY=VALUE, repeatable).
    #[arg(long = "b-env", value_name = "KEY=VALUE", value_parser = check_env_pair)]
    pub(super) b_env: Vec<String>,
    #[command(flatten)]
    pub(super) runs: RunArgs,
    /// Arguments for both function binaries.
    #[arg(last = true)]
    pub(super) args: Vec<OsString>,
}

/// How `--bin`/`--example` targets are built (profile and compare alike).
#[derive(Debug, Args)]
pub(super) struct BuildArgs {
    /// The package of `--bin`/`--example`.
    #[arg(long, short)]
    pub(super) package: Option<String>,
    /// Features for the build (`cargo build --features`).
    #[arg(long)]
    pub(super) features: Option<String>,
    /// The cargo profile to build with.
    #[arg(long, value_name = "NAME", default_value = "release")]
    pub(super) cargo_profile: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum InitTypeArg {
    OnDemand,
    ProvisionedConcurrency,
    SnapStart,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum InitCpuArg {
    /// memory/1769 of a vCPU, like the invocations (Lambda's documented rule).
    Proportional,
    /// At least one full vCPU (the boost an on-demand INIT is reported to get).
    Full,
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Cold starts per binary (and per memory size).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) runs: u32,
    /// A JSON event file; repeat to serve several events, in order, to every cold process
    /// (default: one `{}` event).
    #[arg(long, value_name = "FILE")]
    pub(super) event: Vec<PathBuf>,
    /// AWS_LAMBDA_INITIALIZATION_TYPE.
    #[arg(long, value_enum, default_value = "on-demand")]
    pub(super) init_type: InitTypeArg,
    /// Wait this long after the first /next before serving the first event (proactive init).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub(super) delay_first_event: u64,
    /// Limit per run, in seconds, from exec to the last response.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub(super) timeout: f64,
    /// Lambda memory sizes in MB, 128 to 10240 (comma-separated); each size gets --runs runs
    /// [default: 128, not limited, nothing projected].
    #[arg(long, value_name = "MB,...", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(128..=10240))]
    pub(super) memory: Vec<u32>,
    /// The CPU INIT gets under --memory (the invocations get memory/1769 of a vCPU); every
    /// table states the model it used [default: full for on-demand, proportional for the
    /// other init types].
    #[arg(long, value_enum, value_name = "MODEL")]
    pub(super) init_cpu: Option<InitCpuArg>,
    /// Cold-start report lines from CloudWatch Logs (raw, prefixed, CSV or `aws logs` JSON):
    /// fit INIT's and the first invocation's CPU share per memory size from them and use
    /// those for --memory runs (--memory defaults to the file's sizes).
    #[arg(long, value_name = "FILE")]
    pub(super) calibrate: Option<PathBuf>,
    /// An environment variable for the function (KEY=VALUE, repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = check_env_pair)]
    pub(super) env: Vec<String>,
    /// Print one JSON document on stdout instead of tables.
    #[arg(long)]
    pub(super) json: bool,
    /// Fail (exit 4) when the --percentile of exec → first response exceeds this (100ms, 1.5s):
    /// with profile, the function's at every --memory size; with compare, B's (the candidate)
    /// at every size, whatever A's is.
    #[arg(long, value_name = "DURATION", value_parser = parse_budget)]
    pub(super) budget: Option<Duration>,
    /// The percentile --budget applies to.
    #[arg(long, default_value_t = 95.0, value_parser = parse_percentile)]
    pub(super) percentile: f64,
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

/// `--env`, `--a-env`, `--b-env`: checked by clap, so a bad pair is a usage error (exit 2)
/// before anything is built.
fn check_env_pair(pair: &str) -> Result<String, String> {
    parse_env(&[pair.to_owned()]).map(|_| pair.to_owned())
}

pub(super) fn parse_env(pairs: &[String]) -> Result<Vec<(String, String)>, String> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(format!("`{pair}`: an environment variable is KEY=VALUE")),
        })
        .collect()
}
