//! `cargo coldstart`: start a Lambda function cold many times on this machine, through a local
//! Runtime API (`coldstart-local`), and say what its cold start costs: exec → first `/next`,
//! exec → first response, INIT CPU time, peak RSS, and (for functions built with `coldstart`)
//! every phase and lazy static of its cold-start report.
//!
//! The binary is the command-line tool; this library is what it is made of, so other harnesses
//! (the benchmark workspace's `cold-driver`) measure cold starts the same way:
//!
//! ```no_run
//! use cargo_coldstart::run::{run_cold, RunConfig};
//! use cargo_coldstart::stats::Summary;
//!
//! let config = RunConfig::new("target/release/my-function");
//! let runs: Vec<_> = (0..20).map(|_| run_cold(&config, None)).collect();
//! let ms: Vec<f64> = runs
//!     .iter()
//!     .filter_map(|r| r.to_first_response)
//!     .map(|d| d.as_secs_f64() * 1e3)
//!     .collect();
//! println!("{:?}", Summary::of(&ms));
//! ```
#![deny(missing_docs)]

pub mod calibrate;
mod children;
pub mod cli;
pub mod cpu_model;
pub mod html;
pub mod limits;
pub mod profile;
pub mod report;
pub mod run;
pub mod stats;

pub use self::children::install_interrupt_handler;
