//! What `/proc` says about cgroup mounts and this process's own cgroups.

use std::fs;
use std::path::PathBuf;

use super::unavailable::Unavailable;

/// What the kernel says about mounts and this process's cgroups.
pub(super) struct System {
    /// `/proc/self/mountinfo`.
    pub(super) mountinfo: String,
    /// `/proc/self/cgroup`.
    pub(super) own_cgroups: String,
}

impl System {
    pub(super) fn current() -> Result<System, Unavailable> {
        let read = |path: &str| {
            fs::read_to_string(path).map_err(|error| Unavailable::NoCgroupFs {
                detail: format!("cannot read {path}: {error}"),
            })
        };
        Ok(System {
            mountinfo: read("/proc/self/mountinfo")?,
            own_cgroups: read("/proc/self/cgroup")?,
        })
    }

    pub(super) fn mounts(&self) -> Vec<Mount> {
        self.mountinfo.lines().filter_map(Mount::parse).collect()
    }

    /// This process's cgroup path in the v1 hierarchy holding `controller` (`None`: v2).
    pub(super) fn own_path(&self, controller: Option<&str>) -> Option<&str> {
        self.own_cgroups.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let matches = match controller {
                Some(wanted) => controllers.split(',').any(|c| c == wanted),
                None => controllers.is_empty(),
            };
            matches.then_some(path)
        })
    }
}

/// One cgroup mount from `/proc/self/mountinfo`.
#[derive(Debug, PartialEq)]
pub(super) struct Mount {
    /// Where it is mounted.
    pub(super) point: PathBuf,
    /// Which cgroup of the hierarchy appears at `point`.
    pub(super) root: String,
    /// cgroup2, or the v1 controllers of this hierarchy.
    pub(super) kind: MountKind,
}

#[derive(Debug, PartialEq)]
pub(super) enum MountKind {
    V1 { controllers: Vec<String> },
    V2,
}

impl Mount {
    /// `36 25 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`
    pub(super) fn parse(line: &str) -> Option<Mount> {
        let (before, after) = line.split_once(" - ")?;
        let mut before = before.split(' ');
        let root = unescape(before.nth(3)?);
        let point = PathBuf::from(unescape(before.next()?));
        let mut after = after.split(' ');
        let fstype = after.next()?;
        let _source = after.next()?;
        let options = after.next().unwrap_or("");
        let kind = match fstype {
            "cgroup2" => MountKind::V2,
            "cgroup" => MountKind::V1 {
                controllers: options.split(',').map(str::to_owned).collect(),
            },
            _ => return None,
        };
        Some(Mount { point, root, kind })
    }

    pub(super) fn has_controller(&self, controller: &str) -> bool {
        matches!(&self.kind, MountKind::V1 { controllers } if controllers.iter().any(|c| c == controller))
    }

    /// The directory of cgroup `path` (as in `/proc/self/cgroup`) under this mount, if visible.
    pub(super) fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let root = self.root.trim_end_matches('/');
        let relative = path.strip_prefix(root)?;
        if !relative.is_empty() && !relative.starts_with('/') {
            return None;
        }
        let relative = relative.trim_start_matches('/');
        let dir = if relative.is_empty() {
            self.point.clone()
        } else {
            self.point.join(relative)
        };
        dir.is_dir().then_some(dir)
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse_with_escapes_and_optional_fields() {
        let line = r"32 31 0:29 /docker/abc /sys/fs/my\040cgroup/cpu rw,relatime shared:9 master:2 - cgroup cgroup rw,cpu,cpuacct";
        assert_eq!(
            Mount::parse(line),
            Some(Mount {
                point: PathBuf::from("/sys/fs/my cgroup/cpu"),
                root: "/docker/abc".into(),
                kind: MountKind::V1 {
                    controllers: vec!["rw".into(), "cpu".into(), "cpuacct".into()]
                },
            })
        );
        let v2 = "41 31 0:38 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate";
        assert_eq!(Mount::parse(v2).unwrap().kind, MountKind::V2);
        assert_eq!(Mount::parse("22 1 0:21 / /proc rw - proc proc rw"), None);
        assert_eq!(Mount::parse("garbage"), None);
    }
}
