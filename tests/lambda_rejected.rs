//! A first event whose payload the handler's type rejects is the environment's first invocation:
//! it takes the cold start (counted in `faas.coldstarts` and in `faas.errors{outcome="rejected"}`,
//! with no `handler` label since it never reached one), and a valid request arriving later is
//! `warm` — it did not wait for INIT, so no report, phase or budget may say it did.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::LocalEvent;
use coldstart::{cold_start_handler, invocation, names, Outcome, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Deserialize)]
struct Order {
    id: u64,
}

#[cold_start_handler(name = "orders")]
async fn handler(event: LambdaEvent<Order>) -> Result<Value, Error> {
    Ok(json!({ "id": event.payload.id }))
}

static FLUSHED: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());

#[test]
fn a_rejected_first_event_takes_the_cold_start_and_the_next_request_is_warm() {
    support::recorder();
    let api = support::local_api("rejected-first");
    let runtime = support::runtime(1);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            // A budget the valid request would blow if it were charged for the wait below.
            .cold_start_budget(Duration::from_millis(400))
            .print_report(false)
            .on_flush(|outcome| FLUSHED.lock().unwrap().push(outcome))
            .run(service_fn(handler)),
        [
            LocalEvent::new("not json"),
            LocalEvent::json(&json!({ "id": 5 })).delay(Duration::from_millis(500)),
            LocalEvent::json(&json!({ "id": 6 })),
        ],
    );
    assert!(results[0].is_error(), "{:?}", results[0]);
    assert!(!results[1].is_error() && !results[2].is_error());
    assert_eq!(
        *FLUSHED.lock().unwrap(),
        [Outcome::Rejected, Outcome::Ok, Outcome::Ok]
    );

    let first = invocation::first_invocation().expect("the rejected event began");
    assert_eq!(first.handler, invocation::REJECTED_HANDLER);
    assert_eq!(first.start_kind, StartKind::Cold);
    assert!(first.rejected && !first.warmup);
    assert_eq!(invocation::invocation_count(), 3);

    let recorded = support::Recorded::take();
    let orders = ("handler", "orders");
    // The rejected request waited for INIT: that cold start happened, once.
    assert_eq!(recorded.counter(names::COLDSTARTS, &[]), 1);
    assert_eq!(recorded.counter(names::COLDSTARTS, &[orders]), 0);
    assert_eq!(
        recorded.counter(names::ERRORS, &[("start", "cold"), ("outcome", "rejected")]),
        1,
        "{:?}",
        recorded.series(names::ERRORS)
    );
    // Both valid requests are warm, and none is charged to a cold start.
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[orders, ("start", "warm")]),
        2
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[("start", "cold")]),
        0
    );
    assert_eq!(
        recorded
            .histogram(names::INVOKE_DURATION, &[orders, ("start", "warm")])
            .len(),
        2
    );
    assert!(recorded
        .histogram(names::INVOKE_DURATION, &[("start", "cold")])
        .is_empty());
    assert_eq!(recorded.histogram(names::INIT_DURATION, &[]).len(), 1);
    assert_eq!(recorded.counter(names::BUDGET_EXCEEDED, &[]), 0);
    // The phases belong to the first event: it arrived right after INIT.
    let to_first = recorded.histogram(
        names::PHASE_DURATION,
        &[("phase", names::PHASE_TO_FIRST_INVOCATION)],
    );
    assert_eq!(to_first.len(), 1);
    let (process_start, _) = coldstart::phases::process_start();
    let to_rejected = first.started_at.saturating_duration_since(process_start);
    assert!(
        (to_first[0] - to_rejected.as_secs_f64()).abs() < 1e-6,
        "{to_first:?} {to_rejected:?}"
    );
    assert!(
        first.started_at < results[1].delivered_at,
        "the rejected event began before the valid one was even handed out"
    );

    let report = coldstart::cold_start_report().expect("the first valid request finished");
    assert_eq!(report.start_kind, StartKind::Warm);
    assert!(report.first_event_rejected);
    assert_eq!(report.user_facing, None);
    assert_eq!(report.budget, None);
    assert!(report.to_json().contains(r#""first_event_rejected":true"#));
}
