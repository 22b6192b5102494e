//! `crate = "..."` points the expansion at a re-export of coldstart.
mod reexport {
    pub use coldstart as inner;
}

#[coldstart::cold_start_handler(crate = "crate::reexport::inner", name = "renamed", budget = "1.5s")]
fn handler(event: u32) -> Result<u32, String> {
    if event == 0 {
        Err("zero".to_owned())
    } else {
        Ok(event)
    }
}

fn main() {
    assert_eq!(handler(3), Ok(3));
    assert!(handler(0).is_err());
    let first = coldstart::invocation::first_invocation().expect("first invocation recorded");
    assert_eq!(first.handler, "renamed");
    assert_eq!(coldstart::invocation::invocation_count(), 2);
    let first = coldstart::cold_start_report().expect("finished");
    assert_eq!(first.budget.map(|b| b.budget), Some(std::time::Duration::from_millis(1500)));
}
