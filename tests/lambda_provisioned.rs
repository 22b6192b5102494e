//! Provisioned concurrency: INIT is not user-facing, so `coldstart::lambda::run` builds the
//! `prewarm` statics before the runtime loop asks for its first event (attributed to
//! `prewarm`), leaves the others lazy, and the first invocation is `provisioned`, not a cold
//! start.

mod support;

use coldstart::lazy::{During, State};
use coldstart::report::InitBilling;
use coldstart::{cold_start_handler, lazy, names, phases, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Instant;

static BUILT_AT: OnceLock<Instant> = OnceLock::new();

#[lazy(async, prewarm, name = "client")]
static CLIENT: &'static str = async {
    BUILT_AT.get_or_init(Instant::now);
    "client"
};

#[lazy(name = "rarely-used")]
static RARELY_USED: u8 = 1;

#[cold_start_handler(name = "provisioned")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "client": *CLIENT.get().await, "echo": event.payload }))
}

#[test]
fn provisioned_concurrency_prewarms_before_the_first_event() {
    // Before anything reads the environment (it is read once per process).
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency") };
    support::recorder();
    let api = support::local_api("provisioned");
    let runtime = support::runtime(1);

    let results = support::serve(
        &runtime,
        &api,
        coldstart::lambda::run(service_fn(handler)),
        [json!(1), json!(2)],
    );
    assert_eq!(
        results[0].json().unwrap(),
        json!({ "client": "client", "echo": 1 })
    );

    // Built during INIT: before init end, before the first `/next`.
    let built_at = *BUILT_AT.get().expect("the prewarm static was built");
    assert!(built_at < phases::init_end().unwrap());
    assert!(built_at < results[0].next_requested_at);
    let report = lazy::statics();
    assert_eq!(report.get("client").unwrap().during, Some(During::Prewarm));
    assert_eq!(
        report.get("rarely-used").unwrap().state,
        State::NotInitialized
    );
    assert_eq!(*RARELY_USED, 1);

    let first = coldstart::invocation::first_invocation().unwrap();
    assert_eq!(first.start_kind, StartKind::Provisioned);
    let recorded = support::Recorded::take();
    assert_eq!(recorded.counter(names::COLDSTARTS, &[]), 0);
    // Its INIT is labelled as the provisioned one it was, apart from on-demand INITs.
    assert_eq!(
        recorded
            .histogram(
                names::INIT_DURATION,
                &[("init_type", "provisioned-concurrency")]
            )
            .len(),
        1
    );
    // Provisioned INIT is not billed as duration: no INIT cost, in the metric or the report.
    assert!(recorded.series(names::INIT_GIGABYTE_SECONDS).is_empty());
    let cost = coldstart::cold_start_report().unwrap().cost.unwrap();
    assert_eq!(cost.init, InitBilling::NotBilledAsDuration);
    assert_eq!(cost.gb_seconds(), cost.first_invocation.gb_seconds);
    let line = coldstart::cold_start_report().unwrap().to_json();
    assert!(
        line.contains(r#""init":{"billed":false,"why":"provisioned-concurrency INIT is not billed as duration"}"#),
        "{line}"
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[("start", "provisioned")]),
        1
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[("start", "warm")]),
        1
    );
    assert_eq!(
        recorded
            .histogram(
                names::LAZY_INIT_DURATION,
                &[("lazy", "client"), ("during", "prewarm")]
            )
            .len(),
        1
    );
}
