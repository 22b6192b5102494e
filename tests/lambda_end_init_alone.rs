//! `Coldstart::end_init` without `Coldstart::layer`: nothing would run after the response, so
//! nothing waits for it — the first invocation records its metrics and prints its report when it
//! ends, exactly as without the wrapper.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::{cold_start_handler, names};

#[cold_start_handler(name = "alone")]
fn handler(n: u32) -> Result<u32, &'static str> {
    Ok(n + 1)
}

#[test]
fn without_the_layer_the_first_invocation_records_when_it_ends() {
    support::recorder();
    let runtime = support::runtime(1);
    let prewarmed = runtime.block_on(Coldstart::new().end_init());
    assert!(prewarmed.is_none(), "on demand: nothing prewarmed");
    assert!(coldstart::phases::init_end().is_some());

    assert_eq!(handler(1), Ok(2));
    let recorded = support::Recorded::take();
    assert_eq!(
        recorded.counter(names::COLDSTARTS, &[("handler", "alone")]),
        1
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[("start", "cold")]),
        1
    );
    assert_eq!(recorded.histogram(names::INIT_DURATION, &[]).len(), 1);
}
