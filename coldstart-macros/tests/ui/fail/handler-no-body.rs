use coldstart::cold_start_handler;

trait Service {
    #[cold_start_handler]
    fn call(&self, event: u32) -> u32;
}

fn main() {}
