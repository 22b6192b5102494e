//! Under `run_concurrent`, a flush hook that renders the Prometheus exposition while other
//! invocations record must not lose coldstart's histogram samples (metrics-util 0.20's
//! `AtomicBucket::push` racing the `clear_with` that `render()` does; see the README's limit).
//! Every sample coldstart records is counted: the invocations' durations against
//! `faas.invocations`, and the named phases each invocation runs against the number it ran.
#![cfg(feature = "concurrent")]

mod support;

use coldstart::cold_start_handler;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Named phases each invocation runs: each one is a `coldstart.phase_duration` sample.
const PHASES_PER_INVOCATION: u64 = 400;
const EVENTS: u64 = 3_000;
const RENDERS_PER_FLUSH: u64 = 4;

static RENDERS: AtomicU64 = AtomicU64::new(0);

#[cold_start_handler(name = "race")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    for _ in 0..PHASES_PER_INVOCATION {
        coldstart::phase("tick", || ());
        tokio::task::yield_now().await;
    }
    Ok(event.payload)
}

/// Sums the value of every series of `name` whose line contains `having` in the exposition.
fn total(exposition: &str, name: &str, having: &str) -> u64 {
    exposition
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && line.contains(having)
        })
        .map(|line| {
            let value = line.rsplit(' ').next().expect("a value");
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("a number in {line:?}")) as u64
        })
        .sum()
}

#[test]
fn a_rendering_flush_hook_loses_no_histogram_sample() {
    let handle = coldstart::prometheus::install().expect("the only global recorder");
    let api = support::local_api("render-race");
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", "16") };
    let runtime = support::runtime(2);

    let hook_handle = handle.clone();
    let results = support::serve(
        &runtime,
        &api,
        coldstart::lambda::Coldstart::new()
            .on_flush(move |_| {
                // Several renders per flush: more chances to meet a record in flight.
                for _ in 0..RENDERS_PER_FLUSH {
                    let text = coldstart::prometheus::render(&hook_handle);
                    assert!(!text.is_empty());
                    RENDERS.fetch_add(1, Ordering::Relaxed);
                }
            })
            .run_concurrent(service_fn(handler)),
        (0..EVENTS).map(|n| json!({ "n": n })),
    );
    assert_eq!(results.len() as u64, EVENTS);
    assert!(results.iter().all(|r| !r.is_error()));
    let renders = RENDERS.load(Ordering::Relaxed);
    assert!(
        renders > 100,
        "the hook rendered while invocations ran ({renders} renders)"
    );

    let text = coldstart::prometheus::render(&handle);
    let invocations = total(&text, "faas_invocations_total", "");
    assert_eq!(invocations, EVENTS, "every invocation counted");
    let durations = total(&text, "faas_invoke_duration_seconds_count", "");
    let phases = total(
        &text,
        "coldstart_phase_duration_seconds_count",
        r#"phase="tick""#,
    );
    println!("{renders} renders; invoke_duration samples {durations} of {invocations}; phase samples {phases} of {}", EVENTS * PHASES_PER_INVOCATION);
    assert_eq!(durations, invocations, "one duration sample per invocation");
    assert_eq!(
        phases,
        EVENTS * PHASES_PER_INVOCATION,
        "one phase_duration sample per named phase run"
    );
}
