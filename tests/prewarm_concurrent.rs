//! `prewarm()` builds the async `prewarm` statics concurrently: four that each await a 20 ms
//! timer all start before any of them finishes (awaited one by one, each would start after the
//! previous one finished).

use coldstart::lazy;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SPANS: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());

async fn connect() -> u8 {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    SPANS.lock().unwrap().push((started, Instant::now()));
    1
}

#[lazy(async, prewarm, name = "conn-0")]
static CONN_0: u8 = async { connect().await };
#[lazy(async, prewarm, name = "conn-1")]
static CONN_1: u8 = async { connect().await };
#[lazy(async, fallible, prewarm, name = "conn-2")]
static CONN_2: Result<u8, String> = async { Ok(connect().await) };
#[lazy(async, prewarm, name = "conn-3")]
static CONN_3: u8 = async { connect().await };

#[lazy(prewarm, name = "sync")]
static SYNC: u8 = 5;

#[test]
fn prewarm_awaits_the_async_statics_concurrently() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let prewarmed = runtime.block_on(coldstart::prewarm());
    assert!(prewarmed.is_ok());
    let mut initialized = prewarmed.initialized.clone();
    initialized.sort_unstable();
    assert_eq!(
        initialized,
        ["conn-0", "conn-1", "conn-2", "conn-3", "sync"]
    );
    let spans = SPANS.lock().unwrap().clone();
    assert_eq!(spans.len(), 4);
    let last_start = spans.iter().map(|span| span.0).max().unwrap();
    let first_end = spans.iter().map(|span| span.1).min().unwrap();
    assert!(last_start < first_end, "not concurrent: {spans:?}");
    let _ = (&CONN_0, &CONN_1, &CONN_2, &CONN_3, &SYNC);
}
