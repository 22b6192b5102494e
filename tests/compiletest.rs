//! Compile-time behaviour of the macros: every accepted handler shape compiles and runs
//! (`tests/ui/pass`), every mistake gives one clear, spanned error (`tests/ui/fail/*.stderr`).
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test compiletest` and
//! review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
