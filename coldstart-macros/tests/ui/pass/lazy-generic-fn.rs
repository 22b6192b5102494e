//! A `#[lazy]` static inside a generic fn: one static for every instantiation, registered once.
use coldstart::lazy;

fn describe<T: std::fmt::Debug>(value: T) -> String {
    #[lazy(name = "prefix")]
    static PREFIX: String = "value: ".to_owned();
    format!("{}{value:?}", *PREFIX)
}

/// Configured out: neither the static nor its registration exist.
#[cfg(any())]
#[lazy]
static GONE: u8 = 0;

fn main() {
    assert_eq!(describe(1), "value: 1");
    assert_eq!(describe("a"), "value: \"a\"");
    let report = coldstart::lazy::statics();
    assert_eq!(report.lazies.len(), 1);
    assert_eq!(report.lazies[0].name, "prefix");
    assert_eq!(report.lazies[0].failures, 0);
}
