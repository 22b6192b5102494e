//! What the unit tests of the sandbox share: a stand-in cgroup mount and a made-up `/proc`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::mounts::System;
use super::size::LambdaSize;

/// A temporary directory standing in for a cgroup mount; removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "coldstart-limits-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Everything in the directory (recursively), relative.
    pub(super) fn contents(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(base).unwrap().display().to_string());
                if path.is_dir() {
                    walk(&path, base, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &self.0, &mut out);
        out.sort();
        out
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(super) fn system(mountinfo: &str, own_cgroups: &str) -> System {
    System {
        mountinfo: mountinfo.to_owned(),
        own_cgroups: own_cgroups.to_owned(),
    }
}

pub(super) const SIZE_128: LambdaSize = LambdaSize { memory_mb: 128 };
