//! Head-of-line blocking under `run_concurrent` (BENCHMARKS.md, "Overlapping invocations and the
//! flush hook"): does invocation B wait for invocation A's flush?
//!
//! ```text
//! flush-overlap [--pairs N]            # runs both modes, each in a fresh process of itself
//! flush-overlap --mode hook|none [--pairs N]
//! ```
//!
//! One environment with `AWS_LAMBDA_MAX_CONCURRENCY=2`, served by the local Runtime API. Each
//! pair: event A is pushed and answered; right after A's response, event B is pushed, and B's
//! dispatch → response (the API's own timestamps: `/next` answered → `/response` received) is
//! what counts. With `--mode hook` the flush hook takes 100 ms, so B always arrives while A's
//! flush runs; with `--mode none` there is no hook. Prints the median and quartiles of B's
//! latency per mode, and the difference of medians.

use coldstart::lambda::Coldstart;
use coldstart_local::{LocalEvent, LocalRuntimeApi};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const HOOK: Duration = Duration::from_millis(100);

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn serve(hook: bool, pairs: usize) {
    let api = LocalRuntimeApi::builder()
        .function_name("flush-overlap")
        .start()
        .expect("local Runtime API");
    // SAFETY: called before this process starts any thread but the emulator's, which never reads
    // the environment.
    unsafe { api.set_env() };
    std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", "2");
    std::env::set_var("COLDSTART_REPORT", "off");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut coldstart = Coldstart::new();
    if hook {
        coldstart = coldstart.on_flush(|_| std::thread::sleep(HOOK));
    }
    let mut latencies = runtime.block_on(async {
        tokio::spawn(coldstart.run_concurrent(service_fn(handler)));
        let mut latencies = Vec::with_capacity(pairs);
        for pair in 0..=pairs {
            api.push(LocalEvent::json(&json!({ "a": pair })));
            api.wait_for_results(2 * pair + 1, Duration::from_secs(30))
                .await
                .expect("A answered");
            api.push(LocalEvent::json(&json!({ "b": pair })));
            let results = api
                .wait_for_results(2 * pair + 2, Duration::from_secs(30))
                .await
                .expect("B answered");
            let b = results.last().expect("B");
            if pair > 0 {
                // Pair 0 is the cold start.
                latencies.push((b.completed_at - b.delivered_at).as_secs_f64() * 1e3);
            }
        }
        latencies
    });
    latencies.sort_by(f64::total_cmp);
    println!(
        "{} {:.3} {:.3} {:.3}",
        latencies.len(),
        quantile(&latencies, 0.25),
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.75)
    );
    std::process::exit(0);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pairs = args
        .iter()
        .position(|arg| arg == "--pairs")
        .and_then(|at| args.get(at + 1))
        .map_or(200, |n| n.parse().expect("--pairs N"));
    if let Some(at) = args.iter().position(|arg| arg == "--mode") {
        serve(args.get(at + 1).map(String::as_str) == Some("hook"), pairs);
        return;
    }
    let me = std::env::current_exe().expect("own path");
    let mut medians = Vec::new();
    println!("| B's dispatch → response | pairs | p25 | median | p75 |\n|---|---|---|---|---|");
    for mode in ["none", "hook"] {
        let out = Command::new(&me)
            .args(["--mode", mode, "--pairs", &pairs.to_string()])
            .output()
            .expect("run a mode");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .map(|field| field.parse().expect("a number"))
            .collect();
        let label = if mode == "hook" {
            "100 ms flush hook running for A"
        } else {
            "no flush hook"
        };
        println!(
            "| {label} | {} | {:.3} ms | {:.3} ms | {:.3} ms |",
            fields[0], fields[1], fields[2], fields[3]
        );
        medians.push(fields[2]);
    }
    println!(
        "\nmedian with the hook − median without: {:+.3} ms",
        medians[1] - medians[0]
    );
}
