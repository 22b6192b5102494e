//! Measures process exec → first response through the local Runtime API.
//!
//! ```text
//! cold-driver [--runs N] BASELINE CANDIDATE...
//! ```
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

use coldstart_core::local::{LocalEvent, LocalRuntimeApi};
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

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1).peekable();
    let mut runs = 30usize;
    let mut binaries = Vec::new();
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
        "| binary | interval | median | p25 | p75 | min | ratio of medians | median paired diff |"
    );
    println!("|---|---|---|---|---|---|---|---|");
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
            let diffs: Vec<f64> = values.iter().zip(&base).map(|(v, b)| v - b).collect();
            values.sort_by(f64::total_cmp);
            let name = binary.rsplit('/').next().unwrap_or(binary);
            println!(
                "| {name} | {label} | {:.0} | {:.0} | {:.0} | {:.0} | {:.4} | {:+.0} |",
                quantile(&values, 0.5),
                quantile(&values, 0.25),
                quantile(&values, 0.75),
                values[0],
                quantile(&values, 0.5) / base_median,
                median(&diffs),
            );
        }
    }
    Ok(())
}
