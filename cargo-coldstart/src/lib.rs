//! `cargo coldstart`: profile a Lambda function's cold start on your machine.
#![deny(missing_docs)]

pub mod limits;
