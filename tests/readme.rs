//! The README's metric table says exactly what `coldstart_core::names::ALL` says.

use coldstart::names::{self, MetricDef};

fn readme_table() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- metrics-table")
        .expect("the README marks its metric table");
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
        def.kind.as_str().to_owned(),
        def.unit.as_str().to_owned(),
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
