//! An environment initialized ahead of demand that no request ever reaches (provisioned
//! concurrency scaled down, a proactive init retired unused) still reports its INIT: it is
//! recorded when INIT ends, since no request waits for it then.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::names;

#[test]
fn an_environment_initialized_ahead_of_demand_records_its_init_at_init_end() {
    support::recorder();
    let _api = support::local_api("never-invoked");
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency") };
    let runtime = support::runtime(1);
    runtime.block_on(Coldstart::new().print_report(false).end_init());

    let recorded = support::Recorded::take();
    let init = recorded.histogram(
        names::INIT_DURATION,
        &[("init_type", "provisioned-concurrency")],
    );
    assert_eq!(init.len(), 1, "{:?}", recorded.series(names::INIT_DURATION));
    assert!(init[0] > 0.0 && init[0] < 60.0, "{init:?}");
    assert_eq!(
        recorded
            .histogram(names::PHASE_DURATION, &[("phase", "init")])
            .len(),
        1
    );
    assert_eq!(
        recorded
            .histogram(
                names::INIT_GIGABYTE_SECONDS,
                &[("init_type", "provisioned-concurrency")]
            )
            .len(),
        0,
        "provisioned INIT is not billed as duration"
    );
    assert_eq!(coldstart::invocation::invocation_count(), 0);
}
