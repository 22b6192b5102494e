//! The command line: arguments (clap), building the function, the run loops of `profile` and
//! `compare`, output, and exit codes.

use std::ffi::OsString;

use clap::Parser;

mod args;
mod budget;
mod build;
mod compare;
mod plan;
mod profile;
mod render;

pub use self::args::Cli;
use self::args::Cmd;
use self::budget::BudgetCheck;
use self::compare::compare_command;
use self::profile::profile_command;

/// Exit code: every run succeeded (and the budget, if any, held).
pub const EXIT_OK: i32 = 0;
/// Exit code: the tool could not do its work (bad event file, build failed, binary missing).
pub const EXIT_ERROR: i32 = 1;
/// Exit code: bad command-line arguments (clap's).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: at least one run failed (crashed, init error, timed out, error response).
pub const EXIT_RUNS_FAILED: i32 = 3;
/// Exit code: the `--percentile` of exec → first response exceeded `--budget`.
pub const EXIT_OVER_BUDGET: i32 = 4;

/// Runs the command line `args` (the process's, with cargo's extra `coldstart` argument
/// removed) and returns the exit code.
pub fn main_with(mut args: Vec<OsString>) -> i32 {
    // `cargo coldstart profile …` runs `cargo-coldstart coldstart profile …`.
    if args.get(1).is_some_and(|a| a == "coldstart") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    crate::children::install_interrupt_handler();
    let result = match cli.command {
        Cmd::Profile(args) => profile_command(args),
        Cmd::Compare(args) => compare_command(args),
    };
    match result {
        Ok(code) => code,
        Err(CliError::Usage { command, message }) => {
            eprintln!("cargo coldstart: error: {message}\n\nFor more information, try 'cargo coldstart {command} --help'.");
            EXIT_USAGE
        }
        Err(CliError::Failed(message)) => {
            eprintln!("cargo coldstart: error: {message}");
            EXIT_ERROR
        }
    }
}

/// Why a command stopped before its runs were done.
#[derive(Debug)]
enum CliError {
    /// The arguments make no sense together (exit 2), found before anything is built.
    Usage {
        command: &'static str,
        message: String,
    },
    /// The tool could not do its work (exit 1).
    Failed(String),
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::Failed(message)
    }
}

/// The exit code of `profile` and `compare`: a failed run first, then the budget.
fn exit_code(failed: usize, budget: Option<&BudgetCheck>) -> i32 {
    if failed > 0 {
        EXIT_RUNS_FAILED
    } else if budget.is_some_and(|b| b.exceeded) {
        EXIT_OVER_BUDGET
    } else {
        EXIT_OK
    }
}
