//! The cold-path table of BENCHMARKS.md, measured by `cargo coldstart`'s library (one
//! implementation of cold-start measurement: `cargo_coldstart::run::run_cold`).
//!
//! ```text
//! cold-driver [--runs N] BASELINE CANDIDATE...
//! cold-driver --once [--linger-ms MS] -- COMMAND [ARGS...]
//! ```
//!
//! `--once` serves one event to one run of `COMMAND` (for example `valgrind --tool=callgrind
//! fn-coldstart`, see `scripts/callgrind.sh`), waits for its response, lets it run `MS` more
//! milliseconds (default 2000: the after-response work), then stops its process group with
//! SIGTERM and prints the API's timestamps. It measures nothing itself.
//!
//! For every run and every binary (the order rotates each run, so no binary always goes first),
//! `run_cold` starts a fresh local Runtime API, spawns the binary with the API's environment,
//! serves one event when the first `/next` arrives, and reads the API's own timestamps: exec →
//! first `/next` (the function's INIT as the runtime sees it) and exec → `/response` received
//! (what a cold request waits for, minus the sandbox). The process group is then killed. One
//! unrecorded warm-up round comes first (page cache, dynamic loader).
//!
//! Prints a Markdown table: median, quartiles and minimum per binary, the ratio of medians to the
//! baseline, and the median of the per-run differences to the baseline with its distribution-free
//! 95 % interval (`cargo_coldstart::stats::median_interval`). For everything else (phases, lazy
//! statics, CPU, memory sizes, budgets), use `cargo coldstart compare`.

use cargo_coldstart::run::{run_cold, RunConfig};
use cargo_coldstart::stats::{median_interval, quantile, sorted};
use coldstart_local::{LocalEvent, LocalRuntimeApi};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Sample {
    to_next: Duration,
    to_response: Duration,
}

fn measure(binary: &str) -> Result<Sample, String> {
    let mut config = RunConfig::new(binary);
    config.events = vec![serde_json::json!({ "hello": "cold" })];
    config.timeout = Duration::from_secs(20);
    let run = run_cold(&config, None);
    match (run.to_first_next, run.to_first_response) {
        (Some(to_next), Some(to_response)) if run.outcome.is_ok() => Ok(Sample {
            to_next,
            to_response,
        }),
        _ => Err(format!(
            "{binary}: {}\n{}",
            run.outcome.describe(),
            run.stderr_tail
        )),
    }
}

fn at(sorted: &[f64], q: f64) -> f64 {
    quantile(sorted, q).unwrap_or(f64::NAN)
}

/// `--once`: one event, one run of `command`, then SIGTERM to its process group.
fn once(command: &[String], linger: Duration, rt: &tokio::runtime::Runtime) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let (program, args) = command.split_first().ok_or("--once needs a command")?;
    let api = LocalRuntimeApi::start().map_err(|e| format!("local API: {e}"))?;
    api.push(LocalEvent::json(&serde_json::json!({ "hello": "cold" })));
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(api.env())
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawn {program}: {e}"))?;
    let results = rt.block_on(api.wait_for_results(1, Duration::from_secs(300)));
    std::thread::sleep(linger);
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    let _ = child.wait();
    let results = results.map_err(|e| format!("{program}: {e}"))?;
    eprintln!("cold-driver: {program} answered: {:?}", results[0]);
    Ok(())
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1).peekable();
    let mut runs = 30usize;
    let mut binaries = Vec::new();
    if args.peek().map(String::as_str) == Some("--once") {
        args.next();
        let mut linger = Duration::from_millis(2000);
        if args.peek().map(String::as_str) == Some("--linger-ms") {
            args.next();
            let ms = args.next().and_then(|n| n.parse().ok());
            linger = Duration::from_millis(ms.ok_or("--linger-ms needs a number")?);
        }
        if args.peek().map(String::as_str) == Some("--") {
            args.next();
        }
        let command: Vec<String> = args.collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        return once(&command, linger, &rt);
    }
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or("--runs needs a number")?;
        } else {
            binaries.push(arg);
        }
    }
    if binaries.len() < 2 || runs == 0 {
        return Err("usage: cold-driver [--runs N] BASELINE CANDIDATE...".into());
    }
    cargo_coldstart::install_interrupt_handler();

    for binary in &binaries {
        measure(binary)?; // warm-up, not recorded
    }
    // samples[binary][run]
    let mut samples: Vec<Vec<Sample>> = binaries.iter().map(|_| Vec::new()).collect();
    for run in 0..runs {
        for offset in 0..binaries.len() {
            let i = (run + offset) % binaries.len();
            samples[i].push(measure(&binaries[i])?);
        }
    }

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("runs: {runs} per binary, alternating; times in µs from exec");
    println!();
    println!(
        "| binary | interval | median | p25 | p75 | min | ratio of medians | median paired diff | its 95 % CI |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (label, pick) in [
        (
            "exec → /response",
            (|s: &Sample| s.to_response) as fn(&Sample) -> Duration,
        ),
        ("exec → first /next", |s: &Sample| s.to_next),
    ] {
        let base: Vec<f64> = samples[0].iter().map(|s| us(pick(s))).collect();
        let base_median = at(&sorted(&base), 0.5);
        for (binary, runs) in binaries.iter().zip(&samples) {
            let values = sorted(&runs.iter().map(|s| us(pick(s))).collect::<Vec<_>>());
            let diffs = sorted(
                &runs
                    .iter()
                    .zip(&base)
                    .map(|(s, b)| us(pick(s)) - b)
                    .collect::<Vec<_>>(),
            );
            let (low, high) = median_interval(&diffs).unwrap_or((f64::NAN, f64::NAN));
            let name = binary.rsplit('/').next().unwrap_or(binary);
            println!(
                "| {name} | {label} | {:.0} | {:.0} | {:.0} | {:.0} | {:.4} | {:+.0} | {low:+.0} to {high:+.0} |",
                at(&values, 0.5),
                at(&values, 0.25),
                at(&values, 0.75),
                values[0],
                at(&values, 0.5) / base_median,
                at(&diffs, 0.5),
            );
        }
    }
    Ok(())
}
