//! Which recorder is the global one: handles may be cached for it alone.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

/// A recorder object, told apart from others by its address and size. Zero-sized recorders have
/// no id: any number of them may sit at the same (dangling) address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RecorderId {
    addr: usize,
    size: usize,
}

impl RecorderId {
    fn of(recorder: &dyn metrics::Recorder) -> Option<RecorderId> {
        let size = std::mem::size_of_val(recorder);
        let addr = (recorder as *const dyn metrics::Recorder)
            .cast::<()>()
            .addr();
        (size != 0).then_some(RecorderId { addr, size })
    }
}

/// The global recorder's id, once a probe has seen it. It never changes: `metrics` 0.24 lets the
/// global recorder be set once, never unsets it, and leaks it (`Box::leak`), so it stays at the
/// same address until the process ends and no other object is ever allocated there.
static GLOBAL_RECORDER: OnceLock<RecorderId> = OnceLock::new();

/// The address of the last recorder a probe was started for while no global recorder was known,
/// so that a thread-local recorder used for many invocations is probed once, not every time.
static LAST_PROBED: AtomicUsize = AtomicUsize::new(0);

/// What the recorder `metrics::with_recorder` handed out is, for caching handles.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Current {
    /// The global recorder: its handles may be cached for the rest of the process.
    Global,
    /// `metrics`' no-op recorder (what `with_recorder` hands out when none is installed):
    /// registering with it gives handles that do nothing, so nothing need be registered.
    Noop,
    /// Any other recorder, or one not known to be global yet: look each series up through it.
    Other,
}

/// What `recorder` (the one `metrics::with_recorder` handed out) is: [`Current::Global`] only if
/// it is known to be the global recorder, whose handles may therefore be cached for the rest of
/// the process.
///
/// `metrics` 0.24 does not say whether the current recorder is thread-local or global, and a
/// thread-local recorder's address may be reused by a later one, so an address alone proves
/// nothing. A thread that never installed a local recorder does see the global one, though: a
/// probe asks a new thread once and the global recorder's id is remembered forever; from then on
/// the check is one comparison. An object of nonzero size at the global recorder's address and
/// of its size is that recorder itself (a live object occupies its bytes alone, and the global
/// one is never freed); only unsafe code could make a reference to a same-sized first field of
/// it, since `metrics` hands it out as `&dyn Recorder` only. Any doubt answers
/// [`Current::Other`], which only means the series are looked up through `recorder`, as the
/// `metrics` macros do.
///
/// A zero-sized recorder has no id; it is [`Current::Noop`] when its vtable is
/// `metrics::NoopRecorder`'s (a recorder with that vtable runs `NoopRecorder`'s methods, whose
/// handles do nothing), else [`Current::Other`].
///
/// When the answer is not known yet and `may_probe` is set, a probe is started in the
/// background and this invocation answers [`Current::Other`]; the first invocation of the
/// process passes `false`, so the cold start never pays for the probe.
#[inline]
pub(super) fn current(recorder: &dyn metrics::Recorder, may_probe: bool) -> Current {
    let Some(id) = RecorderId::of(recorder) else {
        return if is_noop(recorder) {
            Current::Noop
        } else {
            Current::Other
        };
    };
    match GLOBAL_RECORDER.get() {
        Some(global) if *global == id => Current::Global,
        Some(_) => Current::Other,
        None => {
            if may_probe {
                start_probe(id);
            }
            Current::Other
        }
    }
}

/// Whether `recorder`'s vtable is `metrics::NoopRecorder`'s (compared as a wide pointer with
/// the addresses made equal). A vtable may exist more than once in a binary, so `false` proves
/// nothing; that only means the series are looked up through the recorder, which answers with
/// no-op handles.
#[inline]
fn is_noop(recorder: &dyn metrics::Recorder) -> bool {
    let noop: *const dyn metrics::Recorder = &metrics::NoopRecorder;
    let current = (recorder as *const dyn metrics::Recorder).with_addr(noop.addr());
    std::ptr::eq(current, noop)
}

/// Starts a thread (which has no thread-local recorder) that runs `metrics::with_recorder` to
/// learn the global recorder's id, without waiting for it: once per process after a global
/// recorder is installed, plus once per distinct recorder seen before that (thread-local ones in
/// tests). The caller pays for starting a thread (microseconds), once.
#[cold]
#[inline(never)]
fn start_probe(id: RecorderId) {
    if LAST_PROBED.load(Relaxed) == id.addr || LAST_PROBED.swap(id.addr, Relaxed) == id.addr {
        return;
    }
    // 15 bytes: the whole name fits in `comm`. If no thread can be started, handles are simply
    // not cached.
    crate::spawn_detached(
        "coldstart-probe",
        Box::new(|| {
            if let Some(global) = metrics::with_recorder(|global| RecorderId::of(global)) {
                let _ = GLOBAL_RECORDER.set(global);
            }
        }),
    );
}
