//! The tool's own overhead per run, paired: `cargo coldstart`'s `run_cold` against the
//! retired `cold-driver`'s measurement (kept here verbatim: spawn with the API's environment
//! and nothing else, the event queued before exec, block until the response), alternating run by
//! run with the order rotating, on the same function binary.
//!
//! ```text
//! cargo run --release -p cargo-coldstart --example overhead -- FUNCTION [RUNS]
//! ```
//!
//! Prints the median of each and the median paired difference (tool − old driver) with its
//! distribution-free 95 % interval, for exec → first `/next` and exec → first response.

use cargo_coldstart::run::{run_cold, RunConfig};
use cargo_coldstart::stats::{median_interval, quantile, sorted};
use coldstart_local::{LocalEvent, LocalRuntimeApi};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The old `cold-driver` measurement, as it was.
fn old_driver(binary: &str, rt: &tokio::runtime::Runtime) -> (Duration, Duration) {
    let api = LocalRuntimeApi::start().expect("local API");
    api.push(LocalEvent::json(&serde_json::json!({ "hello": "cold" })));
    let exec = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(api.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let results = rt.block_on(api.wait_for_results(1, Duration::from_secs(20)));
    let _ = child.kill();
    let _ = child.wait();
    let first = &results.expect("a response")[0];
    (
        first.next_requested_at.saturating_duration_since(exec),
        first.completed_at.saturating_duration_since(exec),
    )
}

fn tool(binary: &str) -> (Duration, Duration) {
    let mut config = RunConfig::new(binary);
    config.events = vec![serde_json::json!({ "hello": "cold" })];
    let run = run_cold(&config, None);
    assert!(run.outcome.is_ok(), "{}", run.outcome.describe());
    (run.to_first_next.unwrap(), run.to_first_response.unwrap())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args.next().expect("usage: overhead FUNCTION [RUNS]");
    let runs: usize = args
        .next()
        .map_or(200, |n| n.parse().expect("RUNS is a number"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _ = (old_driver(&binary, &rt), tool(&binary)); // warm-up
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for run in 0..runs {
        if run % 2 == 0 {
            old.push(old_driver(&binary, &rt));
            new.push(tool(&binary));
        } else {
            new.push(tool(&binary));
            old.push(old_driver(&binary, &rt));
        }
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{runs} pairs in {:.1} s; µs",
        started.elapsed().as_secs_f64()
    );
    println!("| interval | old driver median | cargo coldstart median | median paired diff | its 95 % CI |");
    println!("|---|---|---|---|---|");
    type Pick = fn(&(Duration, Duration)) -> Duration;
    for (label, pick) in [
        (
            "exec → first /next",
            (|s: &(Duration, Duration)| s.0) as Pick,
        ),
        ("exec → first response", |s| s.1),
    ] {
        let a = sorted(&old.iter().map(|s| us(pick(s))).collect::<Vec<_>>());
        let b = sorted(&new.iter().map(|s| us(pick(s))).collect::<Vec<_>>());
        let diffs = sorted(
            &old.iter()
                .zip(&new)
                .map(|(o, n)| us(pick(n)) - us(pick(o)))
                .collect::<Vec<_>>(),
        );
        let (lo, hi) = median_interval(&diffs).unwrap();
        println!(
            "| {label} | {:.0} | {:.0} | {:+.0} | {lo:+.0} to {hi:+.0} |",
            quantile(&a, 0.5).unwrap(),
            quantile(&b, 0.5).unwrap(),
            quantile(&diffs, 0.5).unwrap()
        );
    }
}
