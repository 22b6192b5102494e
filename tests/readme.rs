//! The README and the guide (`docs/`, the `coldstart::guide` pages) say what the crate does: the
//! metric table is `coldstart::names::ALL`, and every dependency block builds, as written, with
//! the code beside it.

mod support;

use coldstart::names::{self, MetricDef};

fn readme_table() -> Vec<Vec<String>> {
    let readme = support::guide("metrics");
    let start = readme
        .find("<!-- metrics-table")
        .expect("the metrics chapter marks its metric table");
    readme[start..]
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .skip(2) // header and separator
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

fn expected_row(def: &MetricDef) -> Vec<String> {
    let labels = def
        .labels
        .iter()
        .map(|label| format!("`{label}`"))
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        format!("`{}`", def.name),
        format!("`{}`", def.prometheus),
        def.kind.as_str().to_owned(),
        def.unit
            .map_or("GB-seconds", |unit| unit.as_str())
            .to_owned(),
        labels,
        def.description.to_owned(),
    ]
}

#[test]
fn readme_metric_table_matches_the_names_module() {
    let table = readme_table();
    let expected: Vec<Vec<String>> = names::ALL.iter().map(expected_row).collect();
    assert_eq!(table, expected);
}

/// Every `toml` block of the README and of the guide's chapters, with the `rust` block right
/// after it: what a user copies together into a new crate.
fn readme_snippets() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut chapters: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    chapters.sort();
    let mut snippets =
        snippets_of(&std::fs::read_to_string(root.join("README.md")).expect("README.md"));
    for chapter in chapters {
        snippets.extend(snippets_of(
            &std::fs::read_to_string(&chapter).expect("a chapter"),
        ));
    }
    snippets
}

/// The `toml` blocks of one markdown text, each with the `rust` block after it.
fn snippets_of(readme: &str) -> Vec<(String, String)> {
    let block = |from: usize, fence: &str| -> Option<(usize, String)> {
        let start = readme[from..].find(fence)? + from + fence.len();
        let start = readme[start..].find('\n')? + start + 1;
        let end = readme[start..].find("\n```")? + start;
        Some((end, readme[start..end].to_owned()))
    };
    let mut snippets = Vec::new();
    let mut at = 0;
    while let Some((end, toml)) = block(at, "```toml") {
        let (after, rust) = block(end, "```rust").expect("a rust block after each toml block");
        snippets.push((toml, rust));
        at = after;
    }
    snippets
}

/// The crates a Rust snippet names at the start of a path (`use x::…`, `x::…`, `#[x::…]`),
/// other than the standard library's.
fn crates_named(rust: &str) -> std::collections::BTreeSet<String> {
    let mut crates = std::collections::BTreeSet::new();
    let bytes = rust.as_bytes();
    for (i, _) in rust.match_indices("::") {
        let start = rust[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |p| p + 1);
        let name = &rust[start..i];
        // Only a path's first segment: not preceded by `::` or `.`, and not a type (`Box::new`).
        let preceded =
            start >= 2 && &rust[start - 2..start] == "::" || start >= 1 && bytes[start - 1] == b'.';
        if name.is_empty()
            || preceded
            || name.starts_with(|c: char| c.is_ascii_uppercase())
            || ["std", "core", "alloc", "crate", "self", "super"].contains(&name)
        {
            continue;
        }
        crates.insert(name.to_owned());
    }
    crates
}

#[test]
fn every_readme_dependency_block_declares_the_crates_of_the_code_beside_it() {
    let snippets = readme_snippets();
    assert!(!snippets.is_empty(), "the README shows its Cargo.toml");
    for (toml, rust) in snippets {
        let declared: Vec<String> = toml
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, _)| name.trim().replace('-', "_"))
            .collect();
        for name in crates_named(&rust) {
            assert!(
                declared.contains(&name),
                "the README's code uses `{name}` but its Cargo.toml does not declare it:\n{toml}"
            );
        }
    }
}

/// Builds each dependency block with the code beside it as a crate of its own, exactly as a user
/// copies them: the README says to clone this repository next to the crate, so the snippet's
/// crate sits beside a `coldstart` link to this checkout and `path = "../coldstart"` resolves as
/// written (the workspace's lock file gives the versions). A cargo build of its own (about a
/// minute): `.ci/run` runs it with `--ignored`.
#[test]
#[ignore = "builds a separate crate (about a minute); run by .ci/run"]
fn every_readme_dependency_block_builds_with_the_code_beside_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target").join("readme-snippets");
    std::fs::create_dir_all(&target).expect("snippets dir");
    let checkout = target.join("coldstart");
    if std::fs::symlink_metadata(&checkout).is_err() {
        std::os::unix::fs::symlink(root, &checkout).expect("a link to the checkout");
    }
    let snippets = readme_snippets();
    assert!(
        snippets
            .iter()
            .any(|(toml, _)| toml.contains(r#"coldstart = { path = "../coldstart""#)),
        "the README's dependency line points at a clone next to the user's crate"
    );
    for (n, (toml, rust)) in snippets.into_iter().enumerate() {
        let dir = target.join(format!("snippet-{n}"));
        std::fs::create_dir_all(dir.join("src")).expect("snippet dir");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"readme-snippet-{n}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n{toml}\n\n[workspace]\n"
            ),
        )
        .expect("Cargo.toml");
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
        std::fs::write(dir.join("src").join("main.rs"), &rust).expect("main.rs");
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target.join("target"))
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "dependency block {n} does not build:\n{toml}\n{rust}"
        );
    }
}

/// The rows of the README's OpenTelemetry table: what `coldstart::otel` exports for each metric.
fn otel_row(def: &MetricDef) -> Vec<String> {
    let labels = def
        .labels
        .iter()
        .map(|label| format!("`{label}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let instrument = match def.kind {
        names::MetricKind::Counter => "`Counter<u64>` (monotonic sum)",
        names::MetricKind::Histogram => "`Histogram<f64>` (explicit buckets)",
        names::MetricKind::Gauge => "`Gauge<f64>`",
    };
    let convention = if def.name.starts_with("faas.") {
        "FaaS semantic conventions"
    } else {
        "coldstart's own"
    };
    vec![
        format!("`{}`", def.name),
        instrument.to_owned(),
        format!("`{}`", coldstart::otel::unit_of(def.name, def.unit)),
        labels,
        convention.to_owned(),
    ]
}

#[test]
fn readme_otel_table_matches_what_the_otel_recorder_exports() {
    let readme = support::guide("opentelemetry");
    let start = readme
        .find("<!-- otel-table")
        .expect("the OpenTelemetry chapter marks its table");
    let table: Vec<Vec<String>> = readme[start..]
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect();
    let expected: Vec<Vec<String>> = names::ALL.iter().map(otel_row).collect();
    assert_eq!(table, expected);
}
