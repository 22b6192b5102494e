//! With `coldstart::lambda::run`, the cold-start report and its memory sample wait until the first
//! invocation's response has been posted: the request that triggered the cold start does not pay
//! for them. Observed through the memory sample (`faas.mem_usage`), which the report takes, from a
//! flush hook that runs before each response (`FlushAt::BeforeResponse`); with the default,
//! `tests/flush_after_response.rs` checks that the first flush already carries that sample.

mod support;

use coldstart::lambda::{Coldstart, FlushAt};
use coldstart::local::LocalRuntimeApi;
use coldstart::{cold_start_handler, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Mutex;

#[cold_start_handler(name = "deferred")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// For each flush (before each response is posted): how many memory samples had been recorded.
static SAMPLES_AT_FLUSH: Mutex<Vec<usize>> = Mutex::new(Vec::new());

#[test]
fn the_report_waits_for_the_first_response() {
    support::recorder();
    let api = LocalRuntimeApi::start().expect("local Runtime API");
    // SAFETY: the only test of this binary that runs the loop, before any thread of its own;
    // the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let runtime = support::runtime(1);
    support::start(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false) // the line is not what is checked; its memory sample is
            .flush_at(FlushAt::BeforeResponse)
            .on_flush(|_| {
                let recorded = support::Recorded::take();
                let samples = recorded.histogram(names::MEM_USAGE, &[]).len();
                SAMPLES_AT_FLUSH.lock().unwrap().push(samples);
            })
            .run(service_fn(handler)),
        [json!({ "n": 1 })],
    );
    // Not `serve`: the second event is queued as soon as the first response is in, so the
    // function gets it the moment it asks for it, with no idle wait in between that would give
    // work running after `/next` time to land before the second flush.
    runtime
        .block_on(api.wait_for_results(1, support::PATIENCE))
        .expect("the first result");
    support::drive(&runtime, &api, [json!({ "n": 2 })]);

    // Before the first response: the first invocation had finished (its flush runs after the
    // handler), yet nothing was sampled. By the second flush, the sample taken after the first
    // response was there.
    assert_eq!(*SAMPLES_AT_FLUSH.lock().unwrap(), [0, 1]);
    let report = coldstart::cold_start_report().expect("the first invocation finished");
    assert!(report.memory.is_some());
}
