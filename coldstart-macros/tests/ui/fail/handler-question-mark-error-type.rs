use coldstart::cold_start_handler;

struct MyError;

// `?` converts into the declared error type; a missing `From` impl is reported on the `?`.
#[cold_start_handler]
async fn handler(input: &str) -> Result<u32, MyError> {
    let n: u32 = input.parse()?;
    Ok(n)
}

fn main() {
    let _ = handler("1");
}
