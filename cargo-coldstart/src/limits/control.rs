//! Writing cgroup control files, and what their errors mean.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::unavailable::Unavailable;

/// Opens an existing control file for writing (never creates one: a missing file means the
/// directory is not a cgroup).
pub(super) fn open_control(path: &Path) -> Result<File, Unavailable> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|error| control_error(path, error))
}

pub(super) fn write_control(path: &Path, value: &str) -> Result<(), Unavailable> {
    open_control(path)?
        .write_at(value.as_bytes(), 0)
        .map(drop)
        .map_err(|error| control_error(path, error))
}

pub(super) fn control_error(path: &Path, error: io::Error) -> Unavailable {
    match error.kind() {
        io::ErrorKind::NotFound => Unavailable::NotACgroup {
            path: path.to_path_buf(),
        },
        io::ErrorKind::PermissionDenied => Unavailable::PermissionDenied {
            path: path.to_path_buf(),
        },
        io::ErrorKind::ReadOnlyFilesystem => Unavailable::ReadOnly {
            path: path.to_path_buf(),
        },
        _ => Unavailable::Io {
            path: path.to_path_buf(),
            error,
        },
    }
}
