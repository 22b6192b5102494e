//! `run_concurrent` with a flush hook that takes a while, against a real Prometheus exporter:
//! a burst of 100 overlapping invocations. The flushes of overlapping invocations are coalesced,
//! never skipped: the hook never runs twice at once, runs fewer times than there were
//! invocations, and its last rendering holds every invocation. The report still describes the
//! cold invocation, which here is the slowest of all.
#![cfg(feature = "concurrent")]

mod support;

use coldstart::lambda::Coldstart;
use coldstart::{cold_start_handler, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EVENTS: u64 = 100;
/// How long the cold invocation takes: far longer than the whole burst of warm ones.
const COLD_MS: u64 = 700;

static COLD_STARTED: AtomicBool = AtomicBool::new(false);

#[cold_start_handler(name = "burst")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload["cold"] == true {
        COLD_STARTED.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(COLD_MS)).await;
    } else {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(event.payload)
}

/// `faas_invocations_total` summed over its series in a Prometheus rendering.
fn invocations_in(rendered: &str) -> u64 {
    rendered
        .lines()
        .filter(|line| line.starts_with("faas_invocations_total{"))
        .map(|line| {
            let value = line.rsplit(' ').next().expect("a value");
            value.parse::<f64>().expect("a number") as u64
        })
        .sum()
}

#[test]
fn a_burst_is_flushed_by_coalesced_runs_and_the_report_describes_the_cold_invocation() {
    let handle = coldstart::prometheus::install().expect("the first recorder");
    let api = support::local_api("burst");
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", "16") };
    let runtime = support::runtime(2);

    // What each run of the hook saw, and whether two ever ran at once.
    let renderings = Arc::new(Mutex::new(Vec::<u64>::new()));
    let running = Arc::new(AtomicUsize::new(0));
    let overlapped = Arc::new(AtomicBool::new(false));
    let coldstart = {
        let (renderings, running, overlapped, handle) = (
            renderings.clone(),
            running.clone(),
            overlapped.clone(),
            handle.clone(),
        );
        Coldstart::new()
            .print_report(false)
            .cold_start_budget(Duration::from_millis(50))
            .on_flush(move |_| {
                if running.fetch_add(1, Ordering::SeqCst) > 0 {
                    overlapped.store(true, Ordering::SeqCst);
                }
                let rendered = coldstart::prometheus::render(&handle);
                // A slow exporter: a push to a gateway answering in 20 ms.
                std::thread::sleep(Duration::from_millis(20));
                renderings.lock().unwrap().push(invocations_in(&rendered));
                running.fetch_sub(1, Ordering::SeqCst);
            })
    };

    // The cold event first, alone, so that it takes invocation number 1; the burst once it runs.
    support::start(
        &runtime,
        &api,
        coldstart.run_concurrent(service_fn(handler)),
        [json!({ "cold": true })],
    );
    support::wait_until("the cold invocation runs", || {
        COLD_STARTED.load(Ordering::SeqCst)
    });
    let results = support::drive(&runtime, &api, (1..EVENTS).map(|n| json!({ "n": n })));
    assert!(results.iter().all(|result| !result.is_error()));

    // The last response is in; its flush follows. Wait for the state the test needs, not for a
    // time: a rendering that holds every invocation.
    support::wait_until("a rendering of every invocation", || {
        renderings.lock().unwrap().last().copied() == Some(EVENTS)
    });
    let renderings = renderings.lock().unwrap().clone();
    assert_eq!(
        renderings.last().copied(),
        Some(EVENTS),
        "the last rendering holds every invocation (renderings: {renderings:?})"
    );
    assert!(
        !overlapped.load(Ordering::SeqCst),
        "the hook never runs twice at once"
    );
    assert!(
        (renderings.len() as u64) < EVENTS,
        "overlapping flushes were coalesced: {} runs for {EVENTS} invocations",
        renderings.len()
    );
    assert!(
        renderings.windows(2).all(|pair| pair[0] <= pair[1]),
        "renderings only grow: {renderings:?}"
    );

    // The report describes the invocation that waited for INIT, although 99 warm ones finished
    // before it.
    let report = coldstart::cold_start_report().expect("a report");
    assert_eq!(report.start_kind, StartKind::Cold);
    let first = report.first_invocation;
    assert!(
        first >= Duration::from_millis(COLD_MS),
        "the report's first invocation is the cold one ({first:?})"
    );
    let user_facing = report.user_facing.expect("a user-facing cold start");
    assert!(user_facing >= first);
    // It ended before now; it began at process start.
    assert!(user_facing <= coldstart::phases::process_start().0.elapsed());
    let budget = report.budget.expect("a budget verdict");
    assert!(budget.exceeded_by.is_some(), "{budget:?}");
    let rendered = coldstart::prometheus::render(&handle);
    let line = |name: &str| {
        rendered
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{rendered}"))
            .to_owned()
    };
    assert_eq!(
        line("faas_coldstarts_total"),
        r#"faas_coldstarts_total{handler="burst"} 1"#
    );
    assert_eq!(
        line("coldstart_budget_exceeded_total"),
        r#"coldstart_budget_exceeded_total{handler="burst"} 1"#
    );
}
