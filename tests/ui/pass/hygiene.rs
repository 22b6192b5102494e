//! The expansion only uses absolute paths and prefixed names: user items called `core`, `std`,
//! `coldstart`, `Handler` or `Probe`, strict lints and `forbid(unsafe_code)` change nothing.
#![forbid(unsafe_code)]
#![deny(unused_qualifications, unused_imports, unused_variables, unused_mut, warnings)]
#![no_implicit_prelude]

extern crate coldstart as renamed;
extern crate std;

#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
mod coldstart {}
#[allow(dead_code)]
mod std_like {}
#[allow(dead_code)]
struct Handler;
#[allow(dead_code)]
struct Probe;
#[allow(dead_code)]
struct Result;

#[renamed::cold_start_handler]
async fn handler(event: u32) -> ::std::result::Result<u32, ::std::string::String> {
    let __coldstart_invocation = event; // a user local with the macro's local's name
    ::std::result::Result::Ok(__coldstart_invocation + 1)
}

#[renamed::cold_start_handler]
fn sync(event: u32) -> u32 {
    let __coldstart_output = event * 2;
    __coldstart_output
}

fn main() {
    let _ = handler(1);
    ::std::assert_eq!(sync(2), 4);
}
