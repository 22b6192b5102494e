//! `#[lazy]` statics inside a `#[cold_start_handler]` body need no import, also in nested blocks.
use coldstart::cold_start_handler;
use coldstart::lazy::{During, State};
use coldstart::StartKind;

#[cold_start_handler]
async fn handler(event: u32) -> Result<u32, String> {
    #[lazy]
    static OFFSET: u32 = 40;

    #[lazy(async, fallible, name = "async-offset")]
    static ASYNC_OFFSET: Result<u32, String> = async { Ok(1) };

    if event > 100 {
        #[lazy(name = "big")]
        static BIG: u32 = 1000;
        return Ok(*BIG);
    }
    Ok(event + *OFFSET + ASYNC_OFFSET.get().await?)
}

#[cold_start_handler]
fn sync_handler(event: u32) -> u32 {
    #[lazy(fallible)]
    static DOUBLE: Result<u32, std::num::ParseIntError> = "2".parse();
    event * DOUBLE.get().copied().unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(handler(1).await, Ok(42));
    assert_eq!(sync_handler(4), 8);
    let report = coldstart::lazy::statics();
    let offset = report.get("OFFSET").unwrap();
    assert_eq!(offset.state, State::Ready);
    assert_eq!(
        offset.during,
        Some(During::Invocation { number: 1, start_kind: StartKind::Cold })
    );
    let double = report.get("DOUBLE").unwrap();
    assert_eq!(double.during.and_then(During::invocation), Some(2));
    assert_eq!(double.during.map(During::as_str), Some("warm"));
    assert_eq!(report.get("big").unwrap().state, State::NotInitialized);
    assert_eq!(report.lazies.len(), 4);
}
