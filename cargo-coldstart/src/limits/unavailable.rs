//! Why a sandbox cannot be created: [`Unavailable`], a plain sentence for the user.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::size::{MAX_MEMORY_MB, MIN_MEMORY_MB};
#[cfg(doc)]
use super::Sandbox;

/// Why a [`Sandbox`] cannot be created here; its `Display` is a plain sentence for the user.
///
/// ```
/// use cargo_coldstart::limits::{LambdaSize, Sandbox};
///
/// let reason = Sandbox::create(LambdaSize { memory_mb: 64 }).unwrap_err();
/// assert_eq!(
///     reason.to_string(),
///     "64 MB is not a Lambda memory size: Lambda allows 128 to 10240 MB"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Unavailable {
    /// The size is outside Lambda's 128..=10240 MB.
    InvalidSize {
        /// The size asked for.
        memory_mb: u32,
    },
    /// No cgroup file system is mounted (or `/proc` cannot be read).
    NoCgroupFs {
        /// What was looked at.
        detail: String,
    },
    /// A controller the sandbox needs (`cpu` or `memory`) is not available.
    ControllerMissing {
        /// `cpu` or `memory`.
        controller: &'static str,
        /// Where it was looked for.
        detail: String,
    },
    /// This process may not create a cgroup there (not root, not delegated).
    PermissionDenied {
        /// The directory or file that refused.
        path: PathBuf,
    },
    /// The cgroup file system is mounted read-only (as in most containers).
    ReadOnly {
        /// The directory that refused.
        path: PathBuf,
    },
    /// The directory is not a cgroup file system: a control file is missing.
    NotACgroup {
        /// The control file that is missing.
        path: PathBuf,
    },
    /// Any other failure while setting the cgroup up.
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::InvalidSize { memory_mb } => write!(
                f,
                "{memory_mb} MB is not a Lambda memory size: Lambda allows {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB"
            ),
            Unavailable::NoCgroupFs { detail } => {
                write!(f, "no cgroup file system is available ({detail})")
            }
            Unavailable::ControllerMissing { controller, detail } => {
                write!(f, "the cgroup `{controller}` controller is not available ({detail})")
            }
            Unavailable::PermissionDenied { path } => write!(
                f,
                "not allowed to create a cgroup in {}: CPU and memory limits need root (or a cgroup delegated to this user)",
                path.display()
            ),
            Unavailable::ReadOnly { path } => write!(
                f,
                "{} is mounted read-only (as in most containers), so no cgroup can be created there",
                path.display()
            ),
            Unavailable::NotACgroup { path } => write!(
                f,
                "{} is not a cgroup file system: it has no {}",
                path.parent().unwrap_or(path).display(),
                path.file_name().unwrap_or(path.as_os_str()).to_string_lossy()
            ),
            Unavailable::Io { path, error } => {
                write!(f, "cannot set up the cgroup at {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Unavailable::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}
