//! Procedural macros for [`coldstart`](https://docs.rs/coldstart). Depend on `coldstart`, not on
//! this crate: the expansions name `::coldstart::__private`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod args;
mod diagnostics;
mod handler;
mod lazy;
mod path;

use proc_macro::TokenStream;

/// Instruments a Lambda handler: detects the first invocation of the process, classifies its
/// start kind, and records the invocation's duration and outcome through the `metrics` facade.
///
/// See the `coldstart` crate documentation for the full description and examples.
#[proc_macro_attribute]
pub fn cold_start_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::expand(args.into(), item.into()).into()
}

/// Turns `static NAME: T = expr;` into a lazily initialized static that times its initializer,
/// records where it ran (INIT, prewarm, or which invocation), and registers itself for the report.
///
/// Forms: `#[lazy]`, `#[lazy(async)]`, `#[lazy(fallible)]`, `#[lazy(async, fallible)]`; options
/// `name = "..."`, `prewarm`, `after_first_response` (built after the first response by
/// `coldstart::lambda`), `crate = "..."`. See the `coldstart` crate documentation.
#[proc_macro_attribute]
pub fn lazy(args: TokenStream, item: TokenStream) -> TokenStream {
    lazy::expand(args.into(), item.into()).into()
}
