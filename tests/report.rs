//! The cold-start report, the budget, the idle gap, the environment age, memory sampling and the
//! current invocation, through the real runtime loop and `coldstart::lambda::run`.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::{LocalEvent, LocalRuntimeApi};
use coldstart::{cold_start_handler, lazy, names, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

/// Built on the first request that needs it: 30 ms a user waits for.
#[lazy(name = "slow-client")]
static CLIENT: u64 = {
    std::thread::sleep(Duration::from_millis(30));
    7
};

/// What handler code saw of the invocation in progress: (number, cold?, idle).
static SEEN: Mutex<Vec<(u64, bool, Option<Duration>)>> = Mutex::new(Vec::new());

#[cold_start_handler(name = "reported")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let current = coldstart::current_invocation().expect("inside an invocation");
    SEEN.lock()
        .unwrap()
        .push((current.number, current.is_cold(), current.idle));
    Ok(json!({ "client": *CLIENT, "n": event.payload["n"] }))
}

#[test]
fn report_budget_idle_gap_age_memory_and_current_invocation() {
    support::recorder();
    let api = LocalRuntimeApi::builder()
        .function_name("reported-fn")
        .memory_mb(256)
        .start()
        .expect("local Runtime API");
    // SAFETY: the only test of this binary that runs the loop, before any thread of its own;
    // the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    // INIT work a request waits for on a cold start.
    std::thread::sleep(Duration::from_millis(40));
    let runtime = support::runtime(1);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .cold_start_budget(Duration::from_millis(20))
            .print_report(false) // the value is checked below; keep the test output clean
            .run(service_fn(handler)),
        [
            LocalEvent::json(&json!({ "n": 1 })),
            // The environment sits idle 80 ms before each of the next two events.
            LocalEvent::json(&json!({ "n": 2 })).delay(Duration::from_millis(80)),
            LocalEvent::json(&json!({ "n": 3 })).delay(Duration::from_millis(80)),
        ],
    );
    assert!(results.iter().all(|r| !r.is_error()));

    // Handler code could read the invocation in progress.
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(
        seen.iter()
            .map(|(n, cold, _)| (*n, *cold))
            .collect::<Vec<_>>(),
        [(1, true), (2, false), (3, false)]
    );
    assert_eq!(
        seen[0].2, None,
        "nothing finished before the first invocation"
    );
    for (_, _, idle) in &seen[1..] {
        let idle = idle.expect("an idle gap before a warm invocation");
        assert!(idle >= Duration::from_millis(80), "{idle:?}");
    }

    // The report, as a value.
    let report = coldstart::cold_start_report().expect("the first invocation finished");
    assert_eq!(report.start_kind, StartKind::Cold);
    assert_eq!(report.handler, "reported");
    assert_eq!(report.environment.function_name(), Some("reported-fn"));
    let init = report.init.expect("the wrapper marked init end");
    assert!(init >= Duration::from_millis(40), "{init:?}");
    assert!(report.first_invocation >= Duration::from_millis(30));
    let user_facing = report.user_facing.expect("a user-facing cold start");
    assert!(user_facing >= init + report.first_invocation);
    let slow = report
        .lazies
        .iter()
        .find(|l| l.name == "slow-client")
        .expect("the lazy static is listed");
    assert_eq!(slow.during.and_then(lazy::During::invocation), Some(1));

    // The budget (20 ms) was exceeded, by exactly the difference, and the report says why.
    let budget = report.budget.as_ref().expect("a budget applied");
    assert_eq!(budget.budget, Duration::from_millis(20));
    assert_eq!(budget.took, user_facing);
    assert_eq!(budget.exceeded_by, Some(user_facing - budget.budget));
    let what: Vec<&str> = budget.dominant.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(what[0], "init", "{what:?}");
    assert!(
        what.contains(&"lazy `slow-client` (during the first invocation)"),
        "{what:?}"
    );
    assert!(budget.dominant.windows(2).all(|w| w[0].1 >= w[1].1));

    // As a JSON line and as a table.
    let line: Value = serde_json::from_str(&report.to_json()).expect("one JSON object");
    assert_eq!(line["coldstart_report"], 1);
    assert_eq!(line["start"], "cold");
    assert_eq!(line["memory_mb"], 256);
    assert!(line["budget"]["exceeded_by_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(line["lazy"][0]["name"], "slow-client");
    let table = report.to_string();
    assert!(table.contains("over budget"), "{table}");
    assert!(table.contains("slow-client"), "{table}");

    // The metrics.
    let recorded = support::Recorded::take();
    let reported = ("handler", "reported");
    assert_eq!(recorded.counter(names::BUDGET_EXCEEDED, &[reported]), 1);
    let idle = recorded
        .gauge(names::IDLE_DURATION, &[reported])
        .expect("the idle-gap gauge");
    assert!(
        idle >= 0.080,
        "the latest invocation followed an 80 ms gap: {idle}"
    );
    let age = recorded
        .gauge(names::ENVIRONMENT_AGE, &[reported])
        .expect("the environment age gauge");
    assert!(age >= 0.160, "two 80 ms gaps since init end: {age}");
    assert!(age < coldstart::environment_age().as_secs_f64());
    let memory = recorded.histogram(names::MEM_USAGE, &[]);
    assert!(!memory.is_empty(), "sampled after the first invocation");
    assert!(memory.iter().all(|bytes| *bytes > 1e6), "{memory:?}");
}
