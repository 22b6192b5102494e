//! The warm-up after the first response never holds the next event past the first invocation's
//! deadline (minus the timeout margin), whatever `warm_timeout` says: a static that cannot finish
//! is dropped at the deadline's margin, not at the 60 s limit.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::lazy::{AsyncLazy, State};
use coldstart::local::LocalEvent;
use coldstart::{cold_start_handler, lazy};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

/// Never ready: it waits on a server that does not answer.
#[lazy(async, after_first_response, name = "unanswered")]
static UNANSWERED: u8 = async {
    std::future::pending::<()>().await;
    0
};

const DEADLINE: Duration = Duration::from_secs(4);
const MARGIN: Duration = Duration::from_secs(2);

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn the_warm_up_lets_go_of_next_before_the_first_invocations_deadline() {
    support::recorder();
    let api = support::local_api("warm-deadline");
    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .warm_timeout(Duration::from_secs(60))
            .timeout_margin(MARGIN)
            .run(service_fn(handler)),
        [
            LocalEvent::json(&json!({ "n": 1 })).deadline_in(DEADLINE),
            LocalEvent::json(&json!({ "n": 2 })),
        ],
    );
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");
    // The runtime asked for the second event before the first one's deadline: the warm-up held
    // it until the deadline minus the margin at most, not for its 60 s limit.
    let asked = results[1]
        .next_requested_at
        .saturating_duration_since(results[0].delivered_at);
    assert!(
        asked < DEADLINE,
        "asked for the next event {asked:?} after the first one's delivery"
    );
    // And it did hold it while there was time: the static had its chance.
    let held = results[1]
        .next_requested_at
        .saturating_duration_since(results[0].completed_at);
    assert!(held >= Duration::from_millis(500), "held only {held:?}");
    // The static was dropped unfinished, to be built on its next access.
    assert_eq!(
        AsyncLazy::info(&UNANSWERED).state,
        State::Failed { failures: 1 }
    );
}
