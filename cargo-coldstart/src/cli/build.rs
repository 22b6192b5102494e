//! The cargo build driver: `--bin`/`--example` built with cargo, and a given binary checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::args::BuildArgs;

/// Builds a binary or example with cargo and returns the executable's path.
pub(super) fn build(kind: &str, name: &str, how: &BuildArgs) -> Result<PathBuf, String> {
    let (package, features, cargo_profile) = (
        how.package.as_deref(),
        how.features.as_deref(),
        how.cargo_profile.as_str(),
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--profile",
        cargo_profile,
        "--message-format=json-render-diagnostics",
    ]);
    if let Some(package) = package {
        command.args(["--package", package]);
    }
    if let Some(features) = features {
        command.args(["--features", features]);
    }
    command.args([&format!("--{kind}"), name]);
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let output = command
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build --profile {cargo_profile} --{kind} {name} failed ({})",
            output.status
        ));
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact" && message["target"]["name"] == name {
            if let Some(exe) = message["executable"].as_str() {
                return Ok(relative_to_current_dir(PathBuf::from(exe)));
            }
        }
    }
    Err(format!("cargo built no executable named `{name}`"))
}

/// `target/release/x` rather than the absolute path cargo reports, when the binary is under the
/// current directory: what the tables print reads the same on every machine.
fn relative_to_current_dir(exe: PathBuf) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|dir| exe.strip_prefix(dir).ok().map(Path::to_path_buf))
        .filter(|relative| relative.components().count() > 1)
        .unwrap_or(exe)
}

pub(super) fn check_binary(path: &Path) -> Result<PathBuf, String> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "{}: no such file (give a function binary, or --bin/--example to build one)",
            path.display()
        ))
    }
}
