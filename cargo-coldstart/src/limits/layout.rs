//! Where a sandbox's cgroups go: the cgroup v1 hierarchies holding `cpu` and `memory`, or the
//! cgroup v2 cgroup whose children get both controllers.

use std::fs;
use std::path::{Path, PathBuf};

use super::control::{control_error, write_control};
use super::mounts::{Mount, MountKind, System};
use super::unavailable::Unavailable;

/// Where the sandbox's cgroup directories go.
#[derive(Debug, PartialEq)]
pub(super) enum Layout {
    /// Parent directories in the v1 hierarchies (the same one when controllers are co-mounted).
    V1 {
        cpu: PathBuf,
        memory: PathBuf,
        cpuacct: Option<PathBuf>,
    },
    /// The v2 cgroup whose children get the `cpu` and `memory` controllers.
    V2 { parent: PathBuf },
}

impl Layout {
    pub(super) fn discover(system: &System) -> Result<Layout, Unavailable> {
        let mounts = system.mounts();
        let v1_parent = |controller: &str| {
            let mount = mounts.iter().find(|m| m.has_controller(controller))?;
            let own = system.own_path(Some(controller)).unwrap_or("/");
            Some(mount.dir_of(own).unwrap_or_else(|| mount.point.clone()))
        };
        let (cpu, memory) = (v1_parent("cpu"), v1_parent("memory"));
        if let (Some(cpu), Some(memory)) = (&cpu, &memory) {
            return Ok(Layout::V1 {
                cpu: cpu.clone(),
                memory: memory.clone(),
                cpuacct: v1_parent("cpuacct"),
            });
        }
        if let Some(v2) = mounts.iter().find(|m| m.kind == MountKind::V2) {
            return Layout::discover_v2(v2, system.own_path(None));
        }
        match (cpu, memory) {
            (Some(_), None) => Err(Unavailable::ControllerMissing {
                controller: "memory",
                detail: "cgroup v1 mounts only the `cpu` hierarchy and there is no cgroup v2 mount"
                    .into(),
            }),
            (None, Some(_)) => Err(Unavailable::ControllerMissing {
                controller: "cpu",
                detail:
                    "cgroup v1 mounts only the `memory` hierarchy and there is no cgroup v2 mount"
                        .into(),
            }),
            _ => Err(Unavailable::NoCgroupFs {
                detail: "/proc/self/mountinfo lists no cgroup or cgroup2 mount".into(),
            }),
        }
    }

    /// This process's own cgroup if the controllers are (or can be) enabled for its children,
    /// else the top of the mount.
    fn discover_v2(mount: &Mount, own: Option<&str>) -> Result<Layout, Unavailable> {
        let mut candidates = Vec::new();
        if let Some(dir) = own.and_then(|own| mount.dir_of(own)) {
            candidates.push(dir);
        }
        if !candidates.contains(&mount.point) {
            candidates.push(mount.point.clone());
        }
        let mut last_error = None;
        for parent in candidates {
            match enable_v2_controllers(&parent) {
                Ok(()) => return Ok(Layout::V2 { parent }),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("the mount point is always a candidate"))
    }
}

/// Makes sure children of `parent` get the `cpu` and `memory` controllers.
fn enable_v2_controllers(parent: &Path) -> Result<(), Unavailable> {
    let read = |name: &str| {
        let path = parent.join(name);
        fs::read_to_string(&path).map_err(|error| control_error(&path, error))
    };
    let has = |list: &str, controller: &str| list.split_whitespace().any(|c| c == controller);
    let available = read("cgroup.controllers")?;
    for controller in ["cpu", "memory"] {
        if !has(&available, controller) {
            return Err(Unavailable::ControllerMissing {
                controller,
                detail: format!(
                    "cgroup v2 lists `{}` in {}",
                    available.trim(),
                    parent.join("cgroup.controllers").display()
                ),
            });
        }
    }
    let enabled = read("cgroup.subtree_control")?;
    if has(&enabled, "cpu") && has(&enabled, "memory") {
        return Ok(());
    }
    let subtree = parent.join("cgroup.subtree_control");
    write_control(&subtree, "+cpu +memory").map_err(|error| match error {
        Unavailable::Io { path, error } if error.raw_os_error() == Some(libc::EBUSY) => {
            Unavailable::ControllerMissing {
                controller: "cpu",
                detail: format!(
                    "cannot enable `cpu` and `memory` in {}: the cgroup has processes of its own",
                    path.display()
                ),
            }
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::test_support::{system, TempDir, SIZE_128};
    use crate::limits::Sandbox;

    #[test]
    fn no_cgroup_mount_is_reported_plainly() {
        let info = "22 1 0:21 / /proc rw - proc proc rw\n23 1 8:1 / / rw - ext4 /dev/sda1 rw";
        let error = Sandbox::create_with(SIZE_128, &system(info, "0::/\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no cgroup file system is available (/proc/self/mountinfo lists no cgroup or cgroup2 mount)"
        );
    }

    #[test]
    fn a_v1_cpu_hierarchy_without_memory_is_reported() {
        let root = TempDir::new();
        let info = format!(
            "32 31 0:29 / {}/cpu rw - cgroup cgroup rw,cpu,cpuacct",
            root.0.display()
        );
        let error =
            Sandbox::create_with(SIZE_128, &system(&info, "1:cpu,cpuacct:/\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the cgroup `memory` controller is not available (cgroup v1 mounts only the `cpu` hierarchy and there is no cgroup v2 mount)"
        );
        assert!(root.contents().is_empty());
    }

    #[test]
    fn cgroup_v2_without_the_memory_controller_is_reported() {
        let root = TempDir::new();
        fs::write(root.0.join("cgroup.controllers"), "cpuset cpu io pids\n").unwrap();
        fs::write(root.0.join("cgroup.subtree_control"), "").unwrap();
        let info = format!("41 31 0:38 / {} rw - cgroup2 cgroup2 rw", root.0.display());
        let error = Sandbox::create_with(SIZE_128, &system(&info, "0::/\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the cgroup `memory` controller is not available (cgroup v2 lists `cpuset cpu io pids` in {}/cgroup.controllers)",
                root.0.display()
            )
        );
        assert_eq!(
            root.contents(),
            ["cgroup.controllers", "cgroup.subtree_control"]
        );
    }

    #[test]
    fn a_cgroup2_mount_that_is_not_a_cgroup_fs_is_named() {
        let root = TempDir::new();
        let info = format!("41 31 0:38 / {} rw - cgroup2 cgroup2 rw", root.0.display());
        let error = Sandbox::create_with(SIZE_128, &system(&info, "0::/\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{} is not a cgroup file system: it has no cgroup.controllers",
                root.0.display()
            )
        );
        assert!(root.contents().is_empty());
    }

    #[test]
    fn v1_parents_nest_in_the_own_cgroup_when_visible() {
        let root = TempDir::new();
        fs::create_dir_all(root.0.join("memory/process_api/abc")).unwrap();
        fs::create_dir_all(root.0.join("cpu")).unwrap();
        fs::create_dir_all(root.0.join("cpuacct")).unwrap();
        let info = format!(
            "32 31 0:29 / {0}/cpu rw - cgroup cgroup rw,cpu\n33 31 0:30 / {0}/cpuacct rw - cgroup cgroup rw,cpuacct\n35 31 0:32 / {0}/memory rw - cgroup cgroup rw,memory",
            root.0.display()
        );
        // The cpu path is not visible under its mount: the mount point is used.
        let own = "4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/elsewhere\n0::/\n";
        assert_eq!(
            Layout::discover(&system(&info, own)).unwrap(),
            Layout::V1 {
                cpu: root.0.join("cpu"),
                memory: root.0.join("memory/process_api/abc"),
                cpuacct: Some(root.0.join("cpuacct")),
            }
        );
    }

    #[test]
    fn cgroup_v2_prefers_the_own_cgroup_and_falls_back_to_the_top() {
        let root = TempDir::new();
        fs::write(
            root.0.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        fs::write(root.0.join("cgroup.subtree_control"), "cpu memory\n").unwrap();
        let own = root.0.join("user.slice/session-1.scope");
        fs::create_dir_all(&own).unwrap();
        fs::write(own.join("cgroup.controllers"), "cpu memory\n").unwrap();
        let info = format!("41 31 0:38 / {} rw - cgroup2 cgroup2 rw", root.0.display());
        let system = system(&info, "0::/user.slice/session-1.scope\n");
        // The own cgroup cannot delegate (here: it has no cgroup.subtree_control): the top can.
        assert_eq!(
            Layout::discover(&system).unwrap(),
            Layout::V2 {
                parent: root.0.clone()
            }
        );
        fs::write(own.join("cgroup.subtree_control"), "memory cpu\n").unwrap();
        assert_eq!(
            Layout::discover(&system).unwrap(),
            Layout::V2 {
                parent: own.clone()
            }
        );

        // Creating there stops at the first control file a real cgroup would have, and cleans up.
        let error = Sandbox::create_with(SIZE_128, &system)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("{}/coldstart-", own.display())),
            "{error}"
        );
        assert!(
            error.ends_with(" is not a cgroup file system: it has no cpu.max"),
            "{error}"
        );
        assert_eq!(fs::read_dir(&own).unwrap().count(), 2);
    }
}
