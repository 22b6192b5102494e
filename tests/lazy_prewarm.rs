//! `coldstart::prewarm()` forces exactly the `prewarm` statics (async ones awaited), reports
//! failures without panicking, and the report lists the never-touched statics.

mod support;

use coldstart::lazy::{During, State};
use coldstart::{lazy, names, Outcome};
use std::sync::atomic::{AtomicUsize, Ordering};

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[lazy(prewarm, name = "rules")]
static RULES: Vec<&'static str> = {
    RUNS.fetch_add(1, Ordering::SeqCst);
    vec!["allow", "deny"]
};

#[lazy(async, prewarm, name = "client")]
static CLIENT: String = async {
    RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    "client".to_owned()
};

#[lazy(fallible, prewarm, name = "unreachable-db")]
static DB: Result<u8, String> = Err("connection refused".to_owned());

#[lazy(prewarm, name = "panics-when-prewarmed")]
static PANICS: u8 = panic!("cannot build this during INIT");

#[lazy(name = "on-demand")]
static ON_DEMAND: u8 = {
    RUNS.fetch_add(100, Ordering::SeqCst);
    1
};

#[lazy(async, fallible, name = "async-on-demand")]
static ASYNC_ON_DEMAND: Result<u8, String> = async { Ok(2) };

#[test]
fn prewarm_forces_exactly_the_prewarm_statics() {
    support::recorder();
    std::panic::set_hook(Box::new(|_| {}));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let before = coldstart::lazy::statics();
    assert_eq!(before.lazies.len(), 6);
    assert!(before
        .lazies
        .iter()
        .all(|l| l.state == State::NotInitialized));

    let prewarmed = runtime.block_on(coldstart::prewarm());
    let mut initialized = prewarmed.initialized.clone();
    initialized.sort_unstable();
    assert_eq!(initialized, ["client", "rules"]);
    let mut failed = prewarmed.failed.clone();
    failed.sort_unstable_by_key(|(name, _)| *name);
    assert_eq!(
        failed,
        [
            ("panics-when-prewarmed", Outcome::Panic),
            ("unreachable-db", Outcome::Error)
        ]
    );
    assert!(!prewarmed.is_ok());
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        2,
        "on-demand statics were not touched"
    );

    let report = coldstart::lazy::statics();
    for name in ["rules", "client"] {
        let info = report.get(name).unwrap();
        assert_eq!(info.state, State::Ready, "{name}");
        assert_eq!(info.during, Some(During::Prewarm), "{name}");
        assert!(info.prewarm);
    }
    assert_eq!(
        report.get("unreachable-db").unwrap().state,
        State::Failed { failures: 1 }
    );
    assert_eq!(
        report.get("panics-when-prewarmed").unwrap().state,
        State::Failed { failures: 1 }
    );
    for name in ["on-demand", "async-on-demand"] {
        let info = report.get(name).unwrap();
        assert_eq!(info.state, State::NotInitialized, "{name}");
        assert_eq!((info.duration, info.during), (None, None));
        assert!(!info.prewarm);
    }
    let printed = report.to_string();
    assert!(printed.contains("not initialized"), "{printed}");

    // A second call finds them ready and retries only the failed ones.
    let again = runtime.block_on(coldstart::prewarm());
    let mut ready = again.already_ready.clone();
    ready.sort_unstable();
    assert_eq!(ready, ["client", "rules"]);
    assert_eq!(again.failed.len(), 2);
    assert!(again.initialized.is_empty());
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);

    let recorded = support::Recorded::take();
    let prewarm = recorded.histogram(names::LAZY_INIT_DURATION, &[("during", "prewarm")]);
    assert_eq!(
        prewarm.len(),
        2 + 2 + 2,
        "two successes, two failures twice"
    );

    // On-demand statics still work when touched.
    assert_eq!(*ON_DEMAND, 1);
    assert_eq!(runtime.block_on(ASYNC_ON_DEMAND.get()), Ok(&2));
    let _ = (&RULES, &CLIENT, &DB, &PANICS);
}
