//! Measures process exec → first response through the local Runtime API.
//!
//! ```text
//! cold-driver [--runs N] BASELINE CANDIDATE...
//! cold-driver --once [--linger-ms MS] -- COMMAND [ARGS...]
//! ```
//!
//! `--once` serves one event to one run of `COMMAND` (for example `valgrind --tool=callgrind
//! fn-coldstart`, see `scripts/callgrind.sh`), waits for its response, lets it run `MS` more
//! milliseconds (default 2000: the after-response work), then stops its process group with
//! SIGTERM and prints the API's timestamps.
//!
//! For every run and every binary (the order rotates each run, so no binary always goes first), the
//! driver starts a fresh `LocalRuntimeApi`, queues one event, takes the time, spawns the binary
//! with the API's environment (and nothing else), and waits for the `/response`. Two intervals are
//! read off the server's own timestamps: exec → first `/next` (the function's INIT as the runtime
//! sees it) and exec → `/response` received (what a cold request waits for, minus the sandbox). The
//! child is then killed. One unrecorded warm-up round comes first (page cache, dynamic loader).
//!
//! Prints a Markdown table: median, quartiles and minimum per binary, the ratio of medians to the
//! baseline, and the median of the per-run differences to the baseline (each run pairs the binaries
//! measured back to back, which cancels slow drifts of a shared machine).

use coldstart_local::{LocalEvent, LocalRuntimeApi};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Sample {
    to_next: Duration,
    to_response: Duration,
}

fn measure(binary: &str, rt: &tokio::runtime::Runtime) -> Result<Sample, String> {
    let api = LocalRuntimeApi::start().map_err(|e| format!("local API: {e}"))?;
    api.push(LocalEvent::json(&serde_json::json!({ "hello": "cold" })));
    let exec = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(api.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {binary}: {e}"))?;
    let results = rt.block_on(api.wait_for_results(1, Duration::from_secs(20)));
    let _ = child.kill();
    let _ = child.wait();
    let results = results.map_err(|e| format!("{binary}: {e}"))?;
    let first = &results[0];
    if first.is_error() {
        return Err(format!("{binary} answered with an error: {first:?}"));
    }
    Ok(Sample {
        to_next: first.next_requested_at.saturating_duration_since(exec),
        to_response: first.completed_at.saturating_duration_since(exec),
    })
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    // Linear interpolation between closest ranks.
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A distribution-free 95 % confidence interval for the median of `sorted` (order statistics
/// n/2 ∓ 1.96·√n/2, the normal approximation to the binomial): how precisely the runs pin down
/// the median paired difference.
fn median_interval(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len() as f64;
    let half_width = 0.98 * n.sqrt();
    let low = ((n / 2.0 - half_width).floor().max(1.0) as usize).min(sorted.len()) - 1;
    let high = ((n / 2.0 + half_width).ceil() as usize).clamp(1, sorted.len()) - 1;
    (sorted[low], sorted[high])
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
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
    if binaries.len() < 2 {
        return Err("usage: cold-driver [--runs N] BASELINE CANDIDATE...".into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;

    for binary in &binaries {
        measure(binary, &rt)?; // warm-up, not recorded
    }
    // samples[binary][run]
    let mut samples: Vec<Vec<Sample>> = binaries.iter().map(|_| Vec::new()).collect();
    for run in 0..runs {
        for offset in 0..binaries.len() {
            let i = (run + offset) % binaries.len();
            samples[i].push(measure(&binaries[i], &rt)?);
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
        let base_median = median(&base);
        for (binary, runs) in binaries.iter().zip(&samples) {
            let mut values: Vec<f64> = runs.iter().map(|s| us(pick(s))).collect();
            let mut diffs: Vec<f64> = values.iter().zip(&base).map(|(v, b)| v - b).collect();
            diffs.sort_by(f64::total_cmp);
            values.sort_by(f64::total_cmp);
            let (low, high) = median_interval(&diffs);
            let name = binary.rsplit('/').next().unwrap_or(binary);
            println!(
                "| {name} | {label} | {:.0} | {:.0} | {:.0} | {:.0} | {:.4} | {:+.0} | {low:+.0} to {high:+.0} |",
                quantile(&values, 0.5),
                quantile(&values, 0.25),
                quantile(&values, 0.75),
                values[0],
                quantile(&values, 0.5) / base_median,
                quantile(&diffs, 0.5),
            );
        }
    }
    Ok(())
}
