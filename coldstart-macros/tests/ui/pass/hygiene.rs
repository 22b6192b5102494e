//! The expansions only use absolute paths and prefixed names: user items called `core`, `std`,
//! `coldstart`, `Handler`, `Probe`, `Lazy`, `Registration` or `inventory`, strict lints,
//! `no_implicit_prelude` and `forbid(unsafe_code)` change nothing. That includes the link-time
//! registration of `#[lazy]` statics (inventory's constructor), here at module level, in a fn
//! body, in a generic fn and in a handler body.
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
#[allow(dead_code)]
struct Lazy;
#[allow(dead_code)]
struct Registration;
#[allow(dead_code)]
mod inventory {}
#[allow(dead_code)]
fn module_path() {}

#[renamed::lazy]
static TABLE: ::std::vec::Vec<u32> = ::std::vec![1, 2, 3];

#[renamed::lazy(async, prewarm, crate = "renamed")]
static CLIENT: ::std::string::String = async { ::std::string::String::new() };

#[renamed::lazy(fallible)]
static PARSED: ::std::result::Result<u32, ::std::num::ParseIntError> = "7".parse();

#[renamed::lazy(async, fallible)]
static ASYNC_PARSED: ::std::result::Result<u32, ::std::string::String> =
    async { ::std::result::Result::Ok(8) };

fn in_body() -> u32 {
    #[renamed::lazy]
    static IN_BODY: u32 = 4;
    *IN_BODY
}

fn generic<T: ::std::default::Default>() -> (T, u32) {
    #[renamed::lazy]
    static IN_GENERIC: u32 = 5;
    (T::default(), *IN_GENERIC)
}

#[renamed::cold_start_handler(crate = "renamed")]
fn with_lazy(event: u32) -> u32 {
    #[lazy]
    static IN_HANDLER: u32 = 6;
    event + *IN_HANDLER
}

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
    ::std::assert_eq!(TABLE.len(), 3);
    ::std::assert_eq!(PARSED.get(), ::std::result::Result::Ok(&7));
    ::std::assert_eq!(in_body(), 4);
    ::std::assert_eq!(generic::<u8>(), (0, 5));
    ::std::assert_eq!(with_lazy(1), 7);
    let _ = (&CLIENT, &ASYNC_PARSED);
    ::std::assert_eq!(renamed::lazy::statics().lazies.len(), 7);
}
