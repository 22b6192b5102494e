//! The `lazy` label of a static without `name = "…"` is unique in the program: the module path
//! below the crate root joined with the identifier. Two `static TABLE`s in different modules are
//! two series, two entries in `coldstart::lazy::statics()` and two rows of the report, each with
//! its module. Two statics given the same explicit name are both listed, told apart by module.

mod support;

use coldstart::lazy::Lazy;
use coldstart::{lazy, names};
use serde_json::Value;

/// At the crate root: the bare identifier.
#[lazy]
static TABLE: u8 = 3;

mod orders {
    #[coldstart::lazy]
    pub static TABLE: Vec<u32> = (0..10).collect();

    #[coldstart::lazy(name = "pool")]
    pub static POOL: u8 = 1;
}

mod billing {
    pub mod rates {
        #[coldstart::lazy]
        pub static TABLE: Vec<u32> = (0..20).collect();
    }

    #[coldstart::lazy(name = "pool")]
    pub static POOL: u8 = 2;

    /// Declared in a (generic) function body: named after the function's module.
    pub fn surcharge<T>(_: T) -> usize {
        #[coldstart::lazy]
        static IN_FN: usize = 5;
        *IN_FN
    }
}

mod api {
    use super::{billing, orders, TABLE};
    use coldstart::cold_start_handler;

    #[cold_start_handler]
    pub fn handler() -> usize {
        // Expanded by the handler attribute: named after the handler's module too.
        #[lazy]
        static CLIENT: usize = 4;
        orders::TABLE.len()
            + billing::rates::TABLE.len()
            + usize::from(*TABLE)
            + usize::from(*orders::POOL + *billing::POOL)
            + *CLIENT
            + billing::surcharge("eur")
    }
}

#[test]
fn statics_with_the_same_identifier_in_different_modules_get_different_labels() {
    support::recorder();
    assert_eq!(api::handler(), 10 + 20 + 3 + 3 + 4 + 5);
    let root = module_path!();
    let orders_module = format!("{root}::orders");
    let billing_module = format!("{root}::billing");
    let rates_module = format!("{root}::billing::rates");
    let api_module = format!("{root}::api");

    // The labels, on the statics themselves.
    assert_eq!(Lazy::info(&TABLE).name, "TABLE");
    assert_eq!(Lazy::info(&orders::TABLE).name, "orders::TABLE");
    assert_eq!(
        Lazy::info(&billing::rates::TABLE).name,
        "billing::rates::TABLE"
    );
    assert_eq!(
        Lazy::info(&orders::POOL).name,
        "pool",
        "an explicit name is kept verbatim"
    );

    // In the list of statics, each with its module.
    let statics = coldstart::lazy::statics();
    assert_eq!(statics.lazies.len(), 7, "{statics}");
    for (name, module) in [
        ("TABLE", root),
        ("orders::TABLE", &orders_module),
        ("billing::rates::TABLE", &rates_module),
        ("billing::IN_FN", &billing_module),
        ("api::CLIENT", &api_module),
    ] {
        let info = statics
            .get(name)
            .unwrap_or_else(|| panic!("{name} listed: {statics}"));
        assert_eq!(info.module_path, module, "{name}");
    }
    // Two explicit, equal names: both listed, told apart by module.
    let mut pools: Vec<&str> = statics
        .lazies
        .iter()
        .filter(|l| l.name == "pool")
        .map(|l| l.module_path)
        .collect();
    pools.sort_unstable();
    assert_eq!(pools, [billing_module.as_str(), orders_module.as_str()]);

    // In the metric: one series per default label.
    let recorded = support::Recorded::take();
    let samples = |name: &str| {
        recorded
            .histogram(names::LAZY_INIT_DURATION, &[("lazy", name)])
            .len()
    };
    assert_eq!(samples("TABLE"), 1);
    assert_eq!(samples("orders::TABLE"), 1);
    assert_eq!(samples("billing::rates::TABLE"), 1);
    assert_eq!(samples("billing::IN_FN"), 1);
    assert_eq!(samples("api::CLIENT"), 1);
    assert_eq!(samples("pool"), 2, "explicit equal names share a series");

    // In the report: the JSON line carries every entry's module.
    let report = coldstart::cold_start_report().expect("the first invocation finished");
    let line: Value = serde_json::from_str(&report.to_json()).expect("one JSON object");
    let mut listed: Vec<(String, String)> = line["lazy"]
        .as_array()
        .expect("a list of lazy statics")
        .iter()
        .map(|l| {
            let text = |key: &str| l[key].as_str().expect("a string").to_owned();
            (text("name"), text("module"))
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        ("TABLE".to_owned(), root.to_owned()),
        ("billing::IN_FN".to_owned(), billing_module.clone()),
        ("api::CLIENT".to_owned(), api_module.clone()),
        ("billing::rates::TABLE".to_owned(), rates_module.clone()),
        ("orders::TABLE".to_owned(), orders_module.clone()),
        ("pool".to_owned(), billing_module.clone()),
        ("pool".to_owned(), orders_module.clone()),
    ];
    expected.sort();
    assert_eq!(listed, expected);

    // The table names the module where a label repeats, and only there.
    let table = report.to_string();
    let row = |name: &str| -> Vec<&str> {
        table
            .lines()
            .filter(|line| line.split_whitespace().next() == Some(name))
            .collect()
    };
    let pool_rows = row("pool");
    assert_eq!(pool_rows.len(), 2, "{table}");
    assert!(
        pool_rows
            .iter()
            .any(|r| r.ends_with(&format!("(in {orders_module})"))),
        "{table}"
    );
    assert!(
        pool_rows
            .iter()
            .any(|r| r.ends_with(&format!("(in {billing_module})"))),
        "{table}"
    );
    let tables = row("orders::TABLE");
    assert_eq!(tables.len(), 1, "{table}");
    assert!(!tables[0].contains("(in "), "{table}");
}
