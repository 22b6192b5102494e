//! The metric keys of one handler and the handles registered under them: built on first use,
//! cached for the global recorder only, so that a warm invocation allocates nothing.

use std::sync::OnceLock;

use metrics::{Key, Label, Level, Metadata};

use super::handler::Handler;
use super::kinds::{Outcome, StartKind};
use crate::names;

/// Applies `op` to the handle in `slot` (registering it first if needed) when `cache` says the
/// current recorder is the global one, else to a handle looked up now.
#[inline(always)]
pub(super) fn with_handle<H>(
    cache: bool,
    slot: &OnceLock<H>,
    register: impl FnOnce() -> H,
    op: impl FnOnce(&H),
) {
    if cache {
        match slot.get() {
            Some(handle) => op(handle),
            None => op(fill(slot, register)),
        }
    } else {
        op(&register());
    }
}

/// Registers the handle of an empty `slot`: once per series and process, so out of line (the
/// closure that registers it is built only here, not on every invocation).
#[cold]
#[inline(never)]
fn fill<H>(slot: &OnceLock<H>, register: impl FnOnce() -> H) -> &H {
    slot.get_or_init(register)
}

pub(super) static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The metric keys of one handler, each built the first time it is needed, and the handles
/// registered under them with the global recorder.
///
/// The first invocation builds only the few keys it records (building all of them costs ~15 000
/// instructions, measurable on the cold path); the rest are built with the cold-start report
/// ([`Handler::build_all_keys`]), after the first response when `coldstart::lambda` runs the
/// function, so that later invocations allocate nothing.
pub(super) struct Keys {
    coldstarts: OnceLock<Key>,
    invocations: [OnceLock<Key>; StartKind::COUNT],
    errors: [[OnceLock<Key>; Outcome::FAILURES]; StartKind::COUNT],
    duration: [OnceLock<Key>; StartKind::COUNT],
    idle: OnceLock<Key>,
    age: OnceLock<Key>,
    budget_exceeded: OnceLock<Key>,
    pub(super) handles: Handles,
}

/// One slot per key of [`Keys`]: the handle registered under that key with the global recorder,
/// filled the first time an invocation needs it while the current recorder is the global one (see
/// [`current`](super::recorder::current)). A slot is never filled from another recorder, so a handle is never
/// a no-op registered before the recorder was installed, nor a thread-local recorder's handle;
/// series are registered only when first used, exactly as without the cache.
pub(super) struct Handles {
    pub(super) coldstarts: OnceLock<metrics::Counter>,
    pub(super) invocations: [OnceLock<metrics::Counter>; StartKind::COUNT],
    pub(super) errors: [[OnceLock<metrics::Counter>; Outcome::FAILURES]; StartKind::COUNT],
    pub(super) duration: [OnceLock<metrics::Histogram>; StartKind::COUNT],
    pub(super) idle: OnceLock<metrics::Gauge>,
    pub(super) age: OnceLock<metrics::Gauge>,
}

impl Handles {
    const fn new() -> Handles {
        Handles {
            coldstarts: OnceLock::new(),
            invocations: [const { OnceLock::new() }; StartKind::COUNT],
            errors: [const { [const { OnceLock::new() }; Outcome::FAILURES] }; StartKind::COUNT],
            duration: [const { OnceLock::new() }; StartKind::COUNT],
            idle: OnceLock::new(),
            age: OnceLock::new(),
        }
    }
}

impl Keys {
    pub(super) const fn new() -> Keys {
        Keys {
            coldstarts: OnceLock::new(),
            invocations: [const { OnceLock::new() }; StartKind::COUNT],
            errors: [const { [const { OnceLock::new() }; Outcome::FAILURES] }; StartKind::COUNT],
            duration: [const { OnceLock::new() }; StartKind::COUNT],
            idle: OnceLock::new(),
            age: OnceLock::new(),
            budget_exceeded: OnceLock::new(),
            handles: Handles::new(),
        }
    }
}

/// A key labelled `handler`, then `start` and `outcome` when given.
fn key(
    name: &'static str,
    handler: &'static str,
    start: Option<StartKind>,
    outcome: Option<Outcome>,
) -> Key {
    let mut labels = Vec::with_capacity(3);
    labels.push(Label::new(names::LABEL_HANDLER, handler));
    if let Some(start) = start {
        labels.push(Label::new(names::LABEL_START, start.as_str()));
    }
    if let Some(outcome) = outcome {
        labels.push(Label::new(names::LABEL_OUTCOME, outcome.as_str()));
    }
    Key::from_parts(name, labels)
}

impl Handler {
    /// The key in `slot`, built on first use. One function for every slot, so that the
    /// `OnceLock` initialization code exists once in the binary.
    fn key_in<'a>(
        &self,
        slot: &'a OnceLock<Key>,
        name: &'static str,
        start: Option<StartKind>,
        outcome: Option<Outcome>,
    ) -> &'a Key {
        slot.get_or_init(|| key(name, self.name, start, outcome))
    }

    pub(super) fn coldstarts_key(&self) -> &Key {
        self.key_in(&self.keys.coldstarts, names::COLDSTARTS, None, None)
    }

    pub(super) fn count_key(&self, kind: usize, failure: Option<usize>) -> &Key {
        let start = Some(StartKind::ALL[kind]);
        match failure {
            None => self.key_in(
                &self.keys.invocations[kind],
                names::INVOCATIONS,
                start,
                None,
            ),
            Some(failure) => self.key_in(
                &self.keys.errors[kind][failure],
                names::ERRORS,
                start,
                Some(Outcome::FAILED[failure]),
            ),
        }
    }

    pub(super) fn duration_key(&self, kind: usize) -> &Key {
        let start = Some(StartKind::ALL[kind]);
        self.key_in(
            &self.keys.duration[kind],
            names::INVOKE_DURATION,
            start,
            None,
        )
    }

    pub(super) fn idle_key(&self) -> &Key {
        self.key_in(&self.keys.idle, names::IDLE_DURATION, None, None)
    }

    pub(super) fn age_key(&self) -> &Key {
        self.key_in(&self.keys.age, names::ENVIRONMENT_AGE, None, None)
    }

    pub(super) fn budget_exceeded_key(&self) -> &Key {
        self.key_in(
            &self.keys.budget_exceeded,
            names::BUDGET_EXCEEDED,
            None,
            None,
        )
    }

    /// Builds every metric key of this handler that is not built yet, so that no later
    /// invocation allocates one. Called with the cold-start report.
    pub(crate) fn build_all_keys(&self) {
        self.coldstarts_key();
        for kind in 0..StartKind::COUNT {
            self.count_key(kind, None);
            for failure in 0..Outcome::FAILURES {
                self.count_key(kind, Some(failure));
            }
            self.duration_key(kind);
        }
        self.idle_key();
        self.age_key();
        self.budget_exceeded_key();
    }
}
