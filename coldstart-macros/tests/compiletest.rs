//! Compile-time behaviour of the macros: every accepted handler shape compiles and runs
//! (`tests/ui/pass`), every mistake gives one clear, spanned error (`tests/ui/fail/*.stderr`).
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p coldstart-macros --test compiletest` and review the diff.
//!
//! The suite lives in the macro crate so that trybuild builds its cases against this crate's
//! small dev-dependencies (what a user's crate needs) rather than the root package's, which add
//! lambda_http and two exporters: its first build took 49 s instead of 76 s here (2 cores, the
//! workspace's own build already done).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
