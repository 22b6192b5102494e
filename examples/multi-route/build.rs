//! Writes the function's configuration, `config.json` (3.6 MB), into `OUT_DIR`: generated,
//! deterministically, rather than committed. `main.rs` embeds it with `include_str!` and parses
//! it at start, as a function that ships its configuration in the binary does.

use std::fmt::Write as _;

fn main() {
    let mut json = String::with_capacity(3_700_000);
    json.push_str("{\"routes\":[");
    // 2,000 routes, each with a path pattern: the function compiles one regex per route.
    for i in 0..2_000u32 {
        if i > 0 {
            json.push(',');
        }
        let (a, b) = (i % 37, i / 37);
        write!(
            json,
            "{{\"name\":\"route-{i}\",\"pattern\":\"^/v{a}/(orders|users|items)-{b}/([0-9]{{2,8}})/(?:edit|view|r{i})(?:\\\\.json)?$\",\"weight\":{w},\"owner\":\"team-{o}\"}}",
            w = (i * 7919) % 1000,
            o = i % 23,
        )
        .unwrap();
    }
    json.push_str("],\"settings\":{");
    // Feature settings, padding the document to ~3.6 MB as a real configuration grows.
    let mut n = 0u64;
    while json.len() < 3_600_000 {
        if n > 0 {
            json.push(',');
        }
        let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
        write!(
            json,
            "\"flag-{n}\":{{\"enabled\":{},\"rollout\":{},\"segments\":[\"s{}\",\"s{}\"],\"note\":\"setting {n} of the multi-route function\"}}",
            x % 2 == 0,
            x % 100,
            x % 97,
            x % 89,
        )
        .unwrap();
        n += 1;
    }
    json.push_str("}}");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(format!("{out}/config.json"), json).expect("write config.json");
    println!("cargo:rerun-if-changed=build.rs");
}
