use coldstart::lazy;

struct Client;

impl Client {
    fn new() -> Client {
        Client
    }
}

#[lazy(async)]
static CLIENT: Client = Client::new();

fn main() {
    let _ = CLIENT.get();
}
