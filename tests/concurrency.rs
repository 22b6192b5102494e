//! 64 threads race the first invocation of the process: exactly one of them is the cold start.

mod support;

use coldstart::{cold_start_handler, names, StartKind};
use std::sync::{Arc, Barrier};

#[cold_start_handler(name = "race")]
fn handle(i: u32) -> Result<u32, String> {
    Ok(i)
}

#[test]
fn exactly_one_of_64_racing_invocations_is_cold() {
    support::recorder();
    const RACERS: u32 = 64;
    let barrier = Arc::new(Barrier::new(RACERS as usize));
    let threads: Vec<_> = (0..RACERS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                handle(i).unwrap()
            })
        })
        .collect();
    let mut returned: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    returned.sort_unstable();
    assert_eq!(returned, (0..RACERS).collect::<Vec<_>>());

    let recorded = support::Recorded::take();
    let race = ("handler", "race");
    assert_eq!(recorded.counter(names::COLDSTARTS, &[race]), 1);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[race, ("start", "cold")]),
        1
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[race, ("start", "warm")]),
        u64::from(RACERS - 1)
    );
    assert_eq!(recorded.counter(names::ERRORS, &[race]), 0);
    assert_eq!(
        recorded.histogram(names::INVOKE_DURATION, &[race]).len(),
        RACERS as usize
    );
    assert_eq!(coldstart::invocation::invocation_count(), u64::from(RACERS));
    let first = coldstart::invocation::first_invocation().expect("a first invocation");
    assert_eq!(first.start_kind, StartKind::Cold);
    assert_eq!(first.handler, "race");
}
