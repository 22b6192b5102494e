//! SnapStart: `coldstart::lambda::run` builds the `prewarm` statics inside INIT, before
//! `lambda_runtime` calls `/restore/next` (the snapshot is taken there, so they are in it), and
//! the first invocation after the restore is `snapstart`, not a cold start.

mod support;

use coldstart::lazy::During;
use coldstart::local::LocalRuntimeApi;
use coldstart::{cold_start_handler, lazy, names, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Instant;

static API: OnceLock<LocalRuntimeApi> = OnceLock::new();
/// When the prewarm static was built, and how many `/restore/next` calls had been made then.
static BUILT: OnceLock<(Instant, usize)> = OnceLock::new();

#[lazy(prewarm, name = "model")]
static MODEL: Vec<f32> = {
    let restores = API
        .get()
        .map_or(usize::MAX, LocalRuntimeApi::restore_next_calls);
    BUILT.get_or_init(|| (Instant::now(), restores));
    vec![0.5; 1024]
};

#[cold_start_handler(name = "snap")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(Value::from(
        MODEL.len() as u64 + event.payload.as_u64().unwrap_or(0),
    ))
}

#[test]
fn snapstart_prewarms_before_the_snapshot() {
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start") };
    support::recorder();
    let api = API.get_or_init(|| {
        LocalRuntimeApi::builder()
            .function_name("snapstart")
            .start()
            .expect("local Runtime API")
    });
    // SAFETY: the only test of this binary that runs the loop, before any thread of its own;
    // the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let runtime = support::runtime(1);

    let results = support::serve(
        &runtime,
        api,
        coldstart::lambda::run(service_fn(handler)),
        [Value::from(1)],
    );
    assert_eq!(results[0].json().unwrap(), Value::from(1025));
    assert_eq!(api.restore_next_calls(), 1);
    assert!(api.init_errors().is_empty());

    let (built_at, restores_then) = *BUILT.get().expect("the prewarm static was built");
    assert_eq!(
        restores_then, 0,
        "built before /restore/next, i.e. in the snapshot"
    );
    assert!(built_at < results[0].next_requested_at);
    assert_eq!(
        lazy::statics().get("model").unwrap().during,
        Some(During::Prewarm)
    );

    assert_eq!(
        coldstart::invocation::first_invocation()
            .unwrap()
            .start_kind,
        StartKind::Snapstart
    );
    let recorded = support::Recorded::take();
    assert_eq!(recorded.counter(names::COLDSTARTS, &[]), 0);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[("start", "snapstart")]),
        1
    );
}
