//! Pushes to a REAL Prometheus Pushgateway (`.ci/run` installs the Debian package and starts it;
//! set `COLDSTART_PUSHGATEWAY_URL`, e.g. `http://127.0.0.1:9091`). Ignored by a plain
//! `cargo test`; `.ci/run` runs it with `--ignored` once the gateway is up.

use coldstart::cold_start_handler;
use coldstart::prometheus::{self, Pushgateway};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[cold_start_handler(name = "pushed")]
fn handler(n: u32) -> Result<u32, String> {
    if n == 3 {
        Err("three".to_owned())
    } else {
        Ok(n)
    }
}

fn gateway_url() -> String {
    std::env::var("COLDSTART_PUSHGATEWAY_URL").unwrap_or_else(|_| "http://127.0.0.1:9091".into())
}

/// `GET /metrics` from the gateway, as text.
fn scrape(url: &str) -> String {
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("the Pushgateway is reachable");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
#[ignore = "needs a Pushgateway at COLDSTART_PUSHGATEWAY_URL (.ci/run starts one)"]
fn invocations_reach_a_real_pushgateway() {
    let url = gateway_url();
    let handle = prometheus::install().expect("first recorder");
    let instance = format!("test-{}", std::process::id());
    let gateway = Pushgateway::new(&url, "coldstart-test")
        .unwrap()
        .instance(instance.clone());
    for n in 0..5 {
        let _ = handler(n);
        // After every invocation, as the flush hook does on Lambda.
        gateway.push(&handle).expect("push accepted");
    }
    let metrics = scrape(&url);
    let series = |name: &str, labels: &str| {
        format!(r#"{name}{{handler="pushed",instance="{instance}",job="coldstart-test"{labels}}}"#)
    };
    for (line, value) in [
        (series("faas_coldstarts", ""), 1),
        (series("faas_invocations", r#",start="cold""#), 1),
        (series("faas_invocations", r#",start="warm""#), 3),
        (series("faas_errors", r#",outcome="error",start="warm""#), 1),
    ] {
        let found = metrics
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("{line} missing from the gateway:\n{metrics}"));
        assert!(found.ends_with(&format!(" {value}")), "{found}");
    }
    assert_eq!(gateway.failures(), 0);
}
